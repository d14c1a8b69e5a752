//! Every route this crate serves, in one table. The router is built from it and from
//! nothing else, and the tests below check each entry against `openapi.json` (a route
//! missing from the document fails them, and so does a route added anywhere else in
//! this crate). To add a route: add it to [`table`] and describe it in `openapi.json`.

use axum::handler::Handler;
use axum::middleware;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;

use crate::{
    auth, backup, connections, credentials, dead_letters, deliveries, destinations, developers,
    health, history, integrations, keys, log_level, push_urls, require_token, resend, sdk_tokens,
    topics, ui, AdminState,
};

pub(crate) struct Route {
    pub method: &'static str,
    pub path: &'static str,
    /// Served without the admin token (it must hold no secrets).
    pub public: bool,
    /// The handler, for `method` only.
    pub handler: MethodRouter<AdminState>,
}

fn route<H, T>(method: &'static str, path: &'static str, public: bool, handler: H) -> Route
where
    H: Handler<T, AdminState>,
    T: 'static,
{
    let filter = match method {
        "GET" => MethodFilter::GET,
        "POST" => MethodFilter::POST,
        "PUT" => MethodFilter::PUT,
        "PATCH" => MethodFilter::PATCH,
        "DELETE" => MethodFilter::DELETE,
        other => panic!("routes::table: unsupported method {other}"),
    };
    Route {
        method,
        path,
        public,
        handler: on(filter, handler),
    }
}

/// A route behind the admin token.
fn admin<H, T>(method: &'static str, path: &'static str, handler: H) -> Route
where
    H: Handler<T, AdminState>,
    T: 'static,
{
    route(method, path, false, handler)
}

/// A route served without the token.
fn public<H, T>(method: &'static str, path: &'static str, handler: H) -> Route
where
    H: Handler<T, AdminState>,
    T: 'static,
{
    route(method, path, true, handler)
}

pub(crate) fn table() -> Vec<Route> {
    const CONNECTION: &str = "/v1/admin/connections/{user_id}";
    const SDK_TOKENS: &str = "/v1/admin/connections/{user_id}/sdk-tokens";
    const DESTINATION: &str = "/v1/admin/destinations/{id}";
    const INTEGRATION: &str = "/v1/admin/integrations/{provider}";
    const CREDENTIALS: &str = "/v1/admin/integrations/{provider}/credentials";
    const PUSH_URL: &str = "/v1/admin/integrations/{provider}/push-url";
    vec![
        admin("GET", "/v1/admin/connections", connections::list),
        admin("POST", "/v1/admin/connections", connections::create),
        admin("GET", CONNECTION, connections::get_one),
        admin("DELETE", CONNECTION, connections::delete),
        admin("GET", SDK_TOKENS, sdk_tokens::list),
        admin("POST", SDK_TOKENS, sdk_tokens::issue),
        admin(
            "DELETE",
            "/v1/admin/sdk-tokens/{token_id}",
            sdk_tokens::revoke,
        ),
        admin("GET", "/v1/admin/destinations", destinations::list),
        admin("POST", "/v1/admin/destinations", destinations::create),
        admin("GET", DESTINATION, destinations::get_one),
        admin("PUT", DESTINATION, destinations::update),
        admin("DELETE", DESTINATION, destinations::delete),
        admin(
            "POST",
            "/v1/admin/destinations/{id}/pause",
            destinations::pause,
        ),
        admin(
            "POST",
            "/v1/admin/destinations/{id}/resume",
            destinations::resume,
        ),
        admin(
            "POST",
            "/v1/admin/destinations/{id}/rotate-secret",
            destinations::rotate_secret,
        ),
        admin("POST", "/v1/admin/auth/{provider}", auth::start),
        admin("GET", "/v1/admin/developers", developers::list),
        admin("POST", "/v1/admin/developers", developers::create),
        admin(
            "DELETE",
            "/v1/admin/developers/{dev_id}",
            developers::delete,
        ),
        admin("GET", "/v1/admin/integrations", integrations::list),
        admin("GET", INTEGRATION, integrations::get_one),
        admin("PUT", INTEGRATION, integrations::put),
        admin("GET", CREDENTIALS, credentials::get),
        admin("PUT", CREDENTIALS, credentials::put),
        admin("GET", PUSH_URL, push_urls::get),
        admin(
            "POST",
            "/v1/admin/integrations/{provider}/push-url/rotate",
            push_urls::rotate,
        ),
        admin("GET", "/v1/admin/dead-letters", dead_letters::list),
        admin(
            "POST",
            "/v1/admin/dead-letters/replay",
            dead_letters::replay,
        ),
        admin("GET", DELIVERIES, deliveries::list),
        admin("POST", "/v1/admin/deliveries/resend", resend::resend),
        admin("GET", "/v1/admin/deliveries/history", history::search),
        admin("GET", "/v1/admin/destinations-health", health::report),
        admin("GET", "/v1/admin/topics", topics::describe),
        admin("GET", LOG_LEVEL, log_level::get),
        admin("PUT", LOG_LEVEL, log_level::put),
        admin("POST", "/v1/admin/backup", backup::backup),
        admin("POST", "/v1/admin/keys/rotate", keys::rotate),
        public("GET", "/v1/admin/openapi.json", ui::openapi),
        public("GET", "/dashboard", ui::dashboard),
        public("GET", "/dashboard/{file}", ui::dashboard_file),
    ]
}

pub(crate) const DELIVERIES: &str = "/v1/admin/deliveries";
/// This process's log filter: served by every process with an admin listener.
pub(crate) const LOG_LEVEL: &str = "/v1/admin/log-level";

/// The routes `keep` selects, the private ones behind the admin token. Routes of the
/// same path with different methods merge.
pub(crate) fn build(s: AdminState, keep: impl Fn(&Route) -> bool) -> Router {
    let (protected, open) = unstated(keep);
    protected
        .layer(middleware::from_fn_with_state(s.clone(), require_token))
        .merge(open)
        .with_state(s)
}

fn unstated(keep: impl Fn(&Route) -> bool) -> (Router<AdminState>, Router<AdminState>) {
    let (mut protected, mut open) = (Router::new(), Router::new());
    for r in table().into_iter().filter(|r| keep(r)) {
        if r.public {
            open = open.route(r.path, r.handler);
        } else {
            protected = protected.route(r.path, r.handler);
        }
    }
    (protected, open)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;

    fn doc() -> Value {
        serde_json::from_str(&ui::OPENAPI).expect("openapi.json is JSON")
    }

    /// Resolves a local `$ref` (`#/components/...`).
    fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let pointer = r.strip_prefix('#').expect("only local $refs");
                doc.pointer(pointer)
                    .unwrap_or_else(|| panic!("$ref {r} resolves to nothing"))
            }
            None => v,
        }
    }

    #[test]
    fn the_table_builds_a_router() {
        // Overlapping routes (the same method twice on a path) panic here.
        let (_protected, _open) = unstated(|_| true);
        let mut seen = BTreeSet::new();
        for r in table() {
            assert!(
                seen.insert((r.path, r.method)),
                "{} {} twice",
                r.method,
                r.path
            );
            assert!(
                ["GET", "POST", "PUT", "DELETE", "PATCH"].contains(&r.method),
                "{}",
                r.method
            );
        }
        assert!(table().iter().any(|r| r.path == DELIVERIES && !r.public));
    }

    #[test]
    fn document_is_openapi_3_1_with_bearer_security() {
        let doc = doc();
        assert!(
            doc["openapi"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.1.")),
            "openapi: {}",
            doc["openapi"]
        );
        assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
        assert!(doc["paths"].as_object().is_some_and(|p| !p.is_empty()));
        let components = doc["components"].as_object().expect("components");
        let bearer = &components["securitySchemes"]["adminToken"];
        assert_eq!(bearer["type"], "http");
        assert_eq!(bearer["scheme"], "bearer");
        assert_eq!(doc["security"], serde_json::json!([{"adminToken": []}]));
        let error = &components["schemas"]["Error"];
        assert_eq!(error["required"], serde_json::json!(["error"]));
        assert_eq!(error["properties"]["error"]["type"], "string");
        // Every $ref anywhere resolves.
        fn walk(doc: &Value, v: &Value) {
            match v {
                Value::Object(m) => {
                    if m.contains_key("$ref") {
                        resolve(doc, v);
                    }
                    m.values().for_each(|x| walk(doc, x));
                }
                Value::Array(a) => a.iter().for_each(|x| walk(doc, x)),
                _ => {}
            }
        }
        walk(&doc, &doc);
    }

    #[test]
    fn every_route_is_documented_with_its_auth() {
        let doc = doc();
        for r in table() {
            let path = &doc["paths"][r.path];
            let op = &path[r.method.to_ascii_lowercase()];
            assert!(
                op.is_object(),
                "{} {} is served but not in openapi.json",
                r.method,
                r.path
            );
            let responses = op["responses"].as_object().expect("responses");
            assert!(!responses.is_empty());
            if r.public {
                assert_eq!(
                    op["security"],
                    serde_json::json!([]),
                    "{} {} is served without a token: document `security: []`",
                    r.method,
                    r.path
                );
            } else {
                assert!(
                    op.get("security").is_none(),
                    "{} {} needs the admin token (the document's default)",
                    r.method,
                    r.path
                );
                assert!(
                    responses.contains_key("401"),
                    "{} {}: 401",
                    r.method,
                    r.path
                );
            }
            // Error answers are `{"error": "..."}`.
            for (code, resp) in responses {
                let resp = resolve(&doc, resp);
                if code.starts_with('4') || code.starts_with('5') {
                    if let Some(schema) = resp.pointer("/content/application~1json/schema") {
                        assert_eq!(
                            schema["$ref"], "#/components/schemas/Error",
                            "{} {} {code}",
                            r.method, r.path
                        );
                    }
                }
            }
            // Every `{param}` of the path is declared as a path parameter.
            let mut declared = BTreeSet::new();
            for p in [&path["parameters"], &op["parameters"]] {
                for p in p.as_array().into_iter().flatten() {
                    let p = resolve(&doc, p);
                    if p["in"] == "path" {
                        assert_eq!(p["required"], true);
                        declared.insert(p["name"].as_str().unwrap().to_string());
                    }
                }
            }
            let wanted: BTreeSet<String> = r
                .path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                .map(str::to_string)
                .collect();
            assert_eq!(declared, wanted, "path parameters of {}", r.path);
        }
    }

    #[test]
    fn every_documented_admin_route_is_served() {
        let doc = doc();
        let served: BTreeSet<(String, String)> = table()
            .iter()
            .map(|r| (r.path.to_string(), r.method.to_ascii_lowercase()))
            .collect();
        for (path, item) in doc["paths"].as_object().unwrap() {
            if !(path.starts_with("/v1/admin/") || path.starts_with("/dashboard")) {
                continue;
            }
            for method in item.as_object().unwrap().keys() {
                if method == "parameters" {
                    continue;
                }
                assert!(
                    served.contains(&(path.clone(), method.clone())),
                    "openapi.json describes {method} {path}, which is not served"
                );
            }
        }
    }

    /// Routes come only from [`table`]: a `.route("…")` anywhere else in this crate
    /// would escape the document check.
    #[test]
    fn routes_are_added_only_through_the_table() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = vec![dir];
        let mut checked = 0;
        while let Some(p) = files.pop() {
            if p.is_dir() {
                files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            if p.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            // Unit tests (this one included) serve nothing.
            let text = text.split("#[cfg(test)]").next().unwrap_or_default();
            checked += 1;
            for call in [".route(", ".route_service(", ".nest(", ".nest_service("] {
                for (at, _) in text.match_indices(call) {
                    let arg = text[at + call.len()..].trim_start();
                    let in_builder = p.ends_with("routes.rs") && arg.starts_with("r.path");
                    assert!(
                        in_builder,
                        "{}: `{call}` outside routes::table; add the route to the table \
                         and to openapi.json",
                        p.display()
                    );
                }
            }
        }
        assert!(checked >= 5, "read the crate's sources ({checked} files)");
    }
}

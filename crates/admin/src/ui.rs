//! What is served without the admin token, because it holds no secrets: the OpenAPI
//! description of the HTTP API and the operator dashboard (a static page that asks the
//! operator for the admin token and calls `/v1/admin/*` with it from the browser).
//! Everything is compiled in: no build step, no files at run time, no external resource.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error;

/// `openapi.json` as written: where a schema lists providers it says
/// `"x-providers": "slug" | "wire" | "terra" | "sdk"` instead of an `enum`.
const OPENAPI_TEMPLATE: &str = include_str!("openapi.json");

/// The served OpenAPI document: the template with every provider `enum` filled from the
/// registry, so a new provider appears here with its registry line and nothing else.
pub(crate) static OPENAPI: LazyLock<String> = LazyLock::new(|| {
    let mut doc: serde_json::Value =
        serde_json::from_str(OPENAPI_TEMPLATE).expect("openapi.json is JSON (tested)");
    fill_provider_enums(&mut doc);
    serde_json::to_string_pretty(&doc).expect("a JSON value serializes")
});

/// The registry's providers as one of the template's `x-providers` kinds lists them.
fn provider_enum(kind: &str) -> Option<Vec<serde_json::Value>> {
    use pulsegate_provider::PushMode;
    let all = pulsegate_providers::descriptors();
    let list: Vec<serde_json::Value> = match kind {
        "slug" => all.map(|d| d.id.slug().into()).collect(),
        // As `Connection.provider` is written (`APPLE_HEALTH`).
        "wire" => all
            .map(|d| serde_json::to_value(d.id).unwrap_or_default())
            .collect(),
        // As webhooks carry it (`user.provider`: `APPLE`).
        "terra" => all.map(|d| d.id.terra_name().into()).collect(),
        "sdk" => all
            .filter(|d| d.push == PushMode::SdkUpload)
            .map(|d| d.id.slug().into())
            .collect(),
        _ => return None,
    };
    Some(list)
}

fn fill_provider_enums(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            let kind = m
                .get("x-providers")
                .and_then(|k| k.as_str())
                .map(str::to_string);
            if let Some(list) = kind.as_deref().and_then(provider_enum) {
                m.insert("enum".into(), list.into());
            }
            m.values_mut().for_each(fill_provider_enums);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(fill_provider_enums),
        _ => {}
    }
}
const INDEX: &str = include_str!("dashboard/index.html");
const APP_JS: &str = include_str!("dashboard/app.js");
const STYLE: &str = include_str!("dashboard/style.css");
const HEALTH_JS: &str = include_str!("dashboard/health.js");
// uPlot (MIT, dashboard/vendor/uPlot-LICENSE), vendored so the page loads nothing from
// elsewhere. The version is in the name, so the files can be cached for good.
const UPLOT_JS: &str = include_str!("dashboard/vendor/uPlot-1.6.32.iife.min.js");
const UPLOT_CSS: &str = include_str!("dashboard/vendor/uPlot-1.6.32.min.css");
const UPLOT_LICENSE: &str = include_str!("dashboard/vendor/uPlot-LICENSE");

/// Only this origin's script, style and API; no framing, no inline code.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

pub(crate) async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        OPENAPI.as_str(),
    )
        .into_response()
}

pub(crate) async fn dashboard() -> Response {
    page("text/html; charset=utf-8", INDEX)
}

pub(crate) async fn dashboard_file(Path(file): Path<String>) -> Response {
    match file.as_str() {
        "app.js" => page("text/javascript; charset=utf-8", APP_JS),
        "style.css" => page("text/css; charset=utf-8", STYLE),
        "health.js" => page("text/javascript; charset=utf-8", HEALTH_JS),
        "uPlot-1.6.32.iife.min.js" => immutable(page("text/javascript; charset=utf-8", UPLOT_JS)),
        "uPlot-1.6.32.min.css" => immutable(page("text/css; charset=utf-8", UPLOT_CSS)),
        "uPlot-LICENSE.txt" => page("text/plain; charset=utf-8", UPLOT_LICENSE),
        _ => error(StatusCode::NOT_FOUND, "no such file"),
    }
}

/// A versioned vendored file: it never changes under its name, so browsers keep it.
fn immutable(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    resp
}

fn page(content_type: &'static str, body: &'static str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `enum` in `v` with its JSON path.
    fn enums(v: &serde_json::Value, path: &str, out: &mut Vec<(String, serde_json::Value)>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(e) = m.get("enum") {
                    out.push((path.to_string(), e.clone()));
                }
                for (k, v) in m {
                    enums(v, &format!("{path}/{k}"), out);
                }
            }
            serde_json::Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    enums(v, &format!("{path}/{i}"), out);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn provider_enums_come_from_the_registry() {
        let template: serde_json::Value = serde_json::from_str(OPENAPI_TEMPLATE).unwrap();
        let served: serde_json::Value = serde_json::from_str(&OPENAPI).unwrap();
        let mut found = Vec::new();
        enums(&served, "", &mut found);
        let strava = serde_json::json!("strava");
        let filled: Vec<_> = found
            .iter()
            .filter(|(_, e)| {
                e.as_array().is_some_and(|a| {
                    a.contains(&strava)
                        || a.contains(&"STRAVA".into())
                        || a.contains(&"apple".into())
                })
            })
            .collect();
        // The provider path parameter, NewConnection, Integration, Credentials,
        // Connection, the SDK route, and a destination's providers (view and input).
        assert_eq!(filled.len(), 8, "{found:?}");
        let slugs: Vec<serde_json::Value> = pulsegate_providers::descriptors()
            .map(|d| d.id.slug().into())
            .collect();
        let provider = &served["components"]["parameters"]["Provider"]["schema"]["enum"];
        assert_eq!(provider, &serde_json::Value::from(slugs.clone()));
        assert!(provider.as_array().unwrap().contains(&"ultrahuman".into()));
        assert_eq!(
            served["components"]["schemas"]["Connection"]["properties"]["provider"]["enum"][11],
            "GOOGLE_HEALTH"
        );
        assert_eq!(
            served["paths"]["/v1/ingest/sdk/{provider}"]["parameters"][0]["schema"]["enum"],
            serde_json::json!(["apple", "samsung", "health_connect"])
        );
        // Nothing in the template lists providers by hand.
        let mut by_hand = Vec::new();
        enums(&template, "", &mut by_hand);
        assert!(
            by_hand
                .iter()
                .all(|(_, e)| !e.as_array().is_some_and(|a| a.contains(&strava))),
            "{by_hand:?}"
        );
    }
}

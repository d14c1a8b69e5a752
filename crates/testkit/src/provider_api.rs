//! A scriptable mock of a provider's REST API on 127.0.0.1, for any provider: canned
//! JSON per `METHOD path` (query ignored, or matched exactly when the route has one),
//! bearer-token checks, an OAuth2 token endpoint that issues and rotates tokens, one-off
//! failures, and a record of every request. Provider tests script it with the
//! provider's documented example responses.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// How the token endpoint answers (providers wrap the standard fields differently).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenStyle {
    /// `{"access_token","refresh_token","expires_in","token_type"}`.
    Standard,
    /// Withings: `{"status":0,"body":{…standard fields…, "userid"}}`.
    Withings,
}

/// One request the mock received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The bearer token sent, if any.
    pub fn bearer(&self) -> Option<&str> {
        self.header("authorization")?.strip_prefix("Bearer ")
    }
}

struct Route {
    method: Method,
    path: String,
    query: Option<String>,
    status: u16,
    body: String,
}

#[derive(Default)]
struct MockState {
    routes: Vec<Route>,
    requests: Vec<Recorded>,
    /// Tokens the API accepts; empty = any bearer token is accepted.
    valid_tokens: HashSet<String>,
    /// refresh token → still valid.
    refresh_tokens: HashSet<String>,
    token_path: Option<String>,
    token_style: Option<TokenStyle>,
    token_lifetime_secs: u64,
    failures: VecDeque<u16>,
    issued: u64,
    /// Extra fields merged into every grant answer (e.g. Strava's `athlete`).
    token_extra: serde_json::Map<String, Value>,
    /// The user withdrew the application: every bearer token gets 401 and every refresh
    /// grant is refused.
    all_revoked: bool,
}

/// The mock server; serves until dropped.
pub struct MockApi {
    addr: SocketAddr,
    state: Arc<Mutex<MockState>>,
    _stop: oneshot::Sender<()>,
}

impl MockApi {
    /// Binds 127.0.0.1 on a free port.
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(MockState {
            token_lifetime_secs: 3600,
            ..MockState::default()
        }));
        let (addr, stop) =
            crate::ports::serve_local(Router::new().fallback(handle).with_state(state.clone()))
                .await;
        Self {
            addr,
            state,
            _stop: stop,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MockState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Answers `method path` (query ignored) with 200 and `body`. A later route for the
    /// same method and path replaces the earlier one.
    pub fn json(&self, method: &str, path: &str, body: Value) -> &Self {
        self.respond(method, path, 200, &body.to_string())
    }

    /// Answers `method path` with `status` and a raw body. `path` may carry a query
    /// (`/x?a=1`): then only requests with exactly that query match it.
    pub fn respond(&self, method: &str, path: &str, status: u16, body: &str) -> &Self {
        let (path, query) = match path.split_once('?') {
            Some((p, q)) => (p.to_string(), Some(q.to_string())),
            None => (path.to_string(), None),
        };
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let mut s = self.lock();
        s.routes
            .retain(|r| !(r.method == method && r.path == path && r.query == query));
        s.routes.push(Route {
            method,
            path,
            query,
            status,
            body: body.to_string(),
        });
        drop(s);
        self
    }

    /// Accept only these bearer tokens on data routes (401 otherwise).
    pub fn accept_token(&self, token: &str) -> &Self {
        self.lock().valid_tokens.insert(token.to_string());
        self
    }

    /// Stop accepting a bearer token (the next call with it gets 401).
    pub fn revoke_token(&self, token: &str) {
        self.lock().valid_tokens.remove(token);
    }

    /// The user withdraws the application (deregisters), as at the provider: from now on
    /// every bearer token gets 401 on routes and every refresh grant is refused.
    pub fn revoke_all(&self) {
        self.lock().all_revoked = true;
    }

    /// Serves an OAuth2 token endpoint at `path` (`grant_type=refresh_token` and
    /// `authorization_code`): each grant issues `access-N`/`refresh-N`, makes the
    /// access token valid and the used refresh token invalid.
    pub fn token_endpoint(&self, path: &str, style: TokenStyle) -> &Self {
        let mut s = self.lock();
        s.token_path = Some(path.to_string());
        s.token_style = Some(style);
        drop(s);
        self
    }

    /// Adds fields to every grant answer (`{"athlete": {"id": 7}}`, `{"user_id": …}`).
    pub fn token_extra(&self, extra: Value) -> &Self {
        if let Value::Object(m) = extra {
            self.lock().token_extra.extend(m);
        }
        self
    }

    /// A refresh token the token endpoint will accept once.
    pub fn accept_refresh_token(&self, token: &str) -> &Self {
        self.lock().refresh_tokens.insert(token.to_string());
        self
    }

    /// The next `n` requests (any route) answer `status`.
    pub fn fail_next(&self, n: usize, status: u16) {
        let mut s = self.lock();
        for _ in 0..n {
            s.failures.push_back(status);
        }
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// Requests received for `path` (query ignored).
    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}

async fn handle(State(state): State<Arc<Mutex<MockState>>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 64 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let recorded = Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        headers: parts.headers.clone(),
        body,
    };
    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
    s.requests.push(recorded.clone());
    if let Some(status) = s.failures.pop_front() {
        return status_body(status, r#"{"error":"injected failure"}"#.to_string());
    }
    if s.token_path.as_deref() == Some(recorded.path.as_str()) && parts.method == Method::POST {
        return token_grant(&mut s, &recorded);
    }
    let bearer_ok = !s.all_revoked
        && (s.valid_tokens.is_empty()
            || recorded
                .bearer()
                .is_some_and(|t| s.valid_tokens.contains(t)));
    let route = s
        .routes
        .iter()
        .filter(|r| r.method == parts.method && r.path == recorded.path)
        .find(|r| r.query.is_none() || r.query == recorded.query)
        .map(|r| (r.status, r.body.clone()));
    match route {
        Some(_) if !bearer_ok => {
            status_body(401, r#"{"error":"invalid or expired token"}"#.to_string())
        }
        Some((status, body)) => status_body(status, body),
        None => status_body(404, r#"{"error":"not found"}"#.to_string()),
    }
}

fn token_grant(s: &mut MockState, req: &Recorded) -> Response {
    let form: HashMap<String, String> = form_pairs(std::str::from_utf8(&req.body).unwrap_or(""));
    let grant = form.get("grant_type").map(String::as_str);
    let ok = match grant {
        Some("refresh_token") => {
            !s.all_revoked
                && form
                    .get("refresh_token")
                    .is_some_and(|t| s.refresh_tokens.remove(t))
        }
        Some("authorization_code") => form.get("code").is_some_and(|c| !c.is_empty()),
        _ => false,
    };
    let style = s.token_style.unwrap_or(TokenStyle::Standard);
    if !ok {
        return match style {
            TokenStyle::Standard => status_body(400, r#"{"error":"invalid_grant"}"#.to_string()),
            TokenStyle::Withings => status_body(
                200,
                r#"{"status":503,"error":"Invalid Params: invalid refresh_token"}"#.to_string(),
            ),
        };
    }
    s.issued += 1;
    let (access, refresh) = (
        format!("access-{}", s.issued),
        format!("refresh-{}", s.issued),
    );
    s.valid_tokens.insert(access.clone());
    s.refresh_tokens.insert(refresh.clone());
    let mut fields = json!({
        "access_token": access,
        "refresh_token": refresh,
        "expires_in": s.token_lifetime_secs,
        "token_type": "Bearer",
        "scope": form.get("scope").cloned().unwrap_or_default(),
    });
    if let Value::Object(m) = &mut fields {
        m.extend(s.token_extra.clone());
    }
    let body = match style {
        TokenStyle::Standard => fields,
        TokenStyle::Withings => json!({"status": 0, "body": fields}),
    };
    status_body(200, body.to_string())
}

fn status_body(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [("content-type", "application/json")], body).into_response()
}

/// `application/x-www-form-urlencoded` pairs, percent-decoded.
pub fn form_pairs(s: &str) -> HashMap<String, String> {
    pulsegate_schema::form::pairs(s).into_iter().collect()
}

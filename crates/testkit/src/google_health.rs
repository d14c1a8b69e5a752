//! A mock of the Google Health API and Google's OAuth2 token endpoint on 127.0.0.1, as
//! docs/providers/google-health.md describes them: `GET /v4/users/me/identity` and
//! `/settings`, `GET /v4/users/me/dataTypes/{type}/dataPoints` (pages chained with
//! `pageToken`/`nextPageToken`), `POST …/dataPoints:dailyRollUp` (refuses the flat date
//! shape Google refuses), per-type error injection (e.g. 403
//! `ACCESS_TOKEN_SCOPE_INSUFFICIENT`), and `POST /token` (authorization code and refresh
//! grants; a refresh answers no new refresh token, as Google's; a revoked user's refresh
//! gets `400 invalid_grant`). Tests script it with the research fixtures.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::oneshot;

use crate::provider_api::{form_pairs, Recorded};

#[derive(Default)]
struct Mock {
    identity: Value,
    settings: Option<Value>,
    /// Data type (kebab case) → pages of its list answer.
    lists: HashMap<String, Vec<Value>>,
    /// Data type → the `dailyRollUp` answer.
    rollups: HashMap<String, Value>,
    /// Data type → a forced error answer.
    errors: HashMap<String, (u16, Value)>,
    /// Bearer tokens the API accepts; empty = any.
    access: HashSet<String>,
    refresh: HashSet<String>,
    issued: u64,
    /// What the token endpoint reports as granted (`scope`).
    granted: String,
    /// The user revoked the application: bearer tokens get 401, refresh grants
    /// `invalid_grant`.
    revoked: bool,
    requests: Vec<Recorded>,
}

/// The mock; serves until dropped.
pub struct GoogleHealthMock {
    addr: SocketAddr,
    state: Arc<Mutex<Mock>>,
    _stop: oneshot::Sender<()>,
}

impl GoogleHealthMock {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(Mock {
            identity: json!({"name": "users/me/identity", "healthUserId": "7391827465019283746"}),
            ..Mock::default()
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

    /// `http://127.0.0.1:<port>` (the API base; the token endpoint is `{base}/token`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mock> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The `users.getIdentity` answer.
    pub fn identity(&self, v: Value) -> &Self {
        self.lock().identity = v;
        self
    }

    pub fn settings(&self, v: Value) -> &Self {
        self.lock().settings = Some(v);
        self
    }

    /// The list answer of `data_type`, in pages (each a `{"dataPoints": […]}`); the
    /// mock chains them with `nextPageToken`.
    pub fn list(&self, data_type: &str, pages: Vec<Value>) -> &Self {
        self.lock().lists.insert(data_type.to_string(), pages);
        self
    }

    /// The `dailyRollUp` answer of `data_type`.
    pub fn rollup(&self, data_type: &str, body: Value) -> &Self {
        self.lock().rollups.insert(data_type.to_string(), body);
        self
    }

    /// Every call for `data_type` answers `status` with `body` (a Google error).
    pub fn fail(&self, data_type: &str, status: u16, body: Value) -> &Self {
        self.lock()
            .errors
            .insert(data_type.to_string(), (status, body));
        self
    }

    /// Accept only these bearer tokens (and those the token endpoint issues).
    pub fn accept_token(&self, token: &str) -> &Self {
        self.lock().access.insert(token.to_string());
        self
    }

    /// A refresh token the token endpoint accepts.
    pub fn accept_refresh_token(&self, token: &str) -> &Self {
        self.lock().refresh.insert(token.to_string());
        self
    }

    /// The scopes the token endpoint reports as granted (space-separated).
    pub fn granted_scopes(&self, scopes: &str) -> &Self {
        self.lock().granted = scopes.to_string();
        self
    }

    /// The user withdraws the application in their Google account.
    pub fn revoke_all(&self) {
        self.lock().revoked = true;
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// Requests for `path` (query ignored).
    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// The `filter`s list calls of `data_type` carried.
    pub fn filters(&self, data_type: &str) -> Vec<String> {
        self.requests_to(&format!("/v4/users/me/dataTypes/{data_type}/dataPoints"))
            .iter()
            .filter_map(|r| form_pairs(r.query.as_deref().unwrap_or("")).remove("filter"))
            .collect()
    }
}

fn answer(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn google_error(code: u16, status: &str, message: &str) -> Response {
    answer(
        code,
        json!({"error": {"code": code, "message": message, "status": status}}),
    )
}

async fn handle(State(state): State<Arc<Mutex<Mock>>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 16 * 1024 * 1024)
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
    let path = recorded.path.as_str();
    if parts.method == Method::POST && path == "/token" {
        return token(&mut s, &recorded);
    }
    if parts.method == Method::POST && path == "/revoke" {
        return answer(200, json!({}));
    }
    let bearer_ok = !s.revoked
        && recorded
            .bearer()
            .is_some_and(|t| !t.is_empty() && (s.access.is_empty() || s.access.contains(t)));
    if !bearer_ok {
        return google_error(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
        );
    }
    match (&parts.method, path) {
        (&Method::GET, "/v4/users/me/identity") => return answer(200, s.identity.clone()),
        (&Method::GET, "/v4/users/me/settings") => {
            return match &s.settings {
                Some(v) => answer(200, v.clone()),
                None => google_error(404, "NOT_FOUND", "not found"),
            }
        }
        _ => {}
    }
    let Some(rest) = path.strip_prefix("/v4/users/me/dataTypes/") else {
        return google_error(404, "NOT_FOUND", "not found");
    };
    let Some((data_type, method)) = rest.split_once('/') else {
        return google_error(404, "NOT_FOUND", "not found");
    };
    if let Some((status, body)) = s.errors.get(data_type) {
        return answer(*status, body.clone());
    }
    match (&parts.method, method) {
        (&Method::GET, "dataPoints") => {
            let q = form_pairs(recorded.query.as_deref().unwrap_or(""));
            if q.get("filter").is_none_or(|f| f.is_empty()) {
                return google_error(400, "INVALID_ARGUMENT", "filter is required by this mock");
            }
            let page = match q.get("pageToken") {
                None => 0,
                Some(t) => match t
                    .strip_prefix("page-")
                    .and_then(|n| n.parse::<usize>().ok())
                {
                    Some(n) => n,
                    None => return google_error(400, "INVALID_ARGUMENT", "invalid page token"),
                },
            };
            let pages = s.lists.get(data_type).cloned().unwrap_or_default();
            let mut v = pages.get(page).cloned().unwrap_or_else(|| json!({}));
            if let Value::Object(m) = &mut v {
                m.remove("nextPageToken");
                if page + 1 < pages.len() {
                    m.insert("nextPageToken".into(), json!(format!("page-{}", page + 1)));
                }
            }
            answer(200, v)
        }
        (&Method::POST, "dataPoints:dailyRollUp") => {
            let req: Value = serde_json::from_slice(&recorded.body).unwrap_or(Value::Null);
            let date_ok = |end: &str| {
                let d = &req["range"][end]["date"];
                ["year", "month", "day"].iter().all(|k| d[*k].is_u64())
            };
            if req["range"]["start"].get("year").is_some() {
                return google_error(
                    400,
                    "INVALID_ARGUMENT",
                    "Invalid JSON payload received. Unknown name \"year\" at 'range.start': Cannot find field.",
                );
            }
            if !date_ok("start") || !date_ok("end") || req["windowSizeDays"] != json!(1) {
                return google_error(400, "INVALID_ARGUMENT", "invalid dailyRollUp request");
            }
            answer(
                200,
                s.rollups
                    .get(data_type)
                    .cloned()
                    .unwrap_or_else(|| json!({})),
            )
        }
        _ => google_error(404, "NOT_FOUND", "not found"),
    }
}

fn token(s: &mut Mock, req: &Recorded) -> Response {
    let form = form_pairs(std::str::from_utf8(&req.body).unwrap_or(""));
    let refused = || {
        answer(
            400,
            json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}),
        )
    };
    let (issue_refresh, ok) = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => (true, form.get("code").is_some_and(|c| !c.is_empty())),
        Some("refresh_token") => (
            false,
            !s.revoked
                && form
                    .get("refresh_token")
                    .is_some_and(|t| s.refresh.contains(t)),
        ),
        _ => (false, false),
    };
    if !ok {
        return refused();
    }
    s.issued += 1;
    let access = format!("ya29.mock-access-{}", s.issued);
    s.access.insert(access.clone());
    let mut body = json!({
        "access_token": access,
        "expires_in": 3599,
        "scope": s.granted,
        "token_type": "Bearer",
    });
    if issue_refresh {
        let refresh = format!("1//mock-refresh-{}", s.issued);
        s.refresh.insert(refresh.clone());
        body["refresh_token"] = json!(refresh);
    }
    answer(200, body)
}

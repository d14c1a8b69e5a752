//! `/v2/auth/*` (terra-python's `authentication` client).

use axum::body::Bytes;
use axum::extract::{Extension, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use pulsegate_connect::{ConnectError, DeauthError, StartRequest};
use pulsegate_schema::{api_key_hash, now_ms, AuthToken, Provider, WidgetSession};
use serde::Deserialize;
use serde_json::json;

use crate::auth::DevId;
use crate::{json_body, state_error, terra_error, Api, Query};

/// Expired widget sessions and auth tokens deleted per new one (so they do not pile up).
const PURGE_PER_CALL: usize = 16;

/// The body of authenticateUser and generateWidgetSession.
#[derive(Deserialize, Default)]
#[serde(default)]
struct AuthBody {
    /// generateWidgetSession: comma-separated Terra names (a JSON list is accepted too).
    providers: Option<Providers>,
    language: Option<String>,
    reference_id: Option<String>,
    auth_success_redirect_url: Option<String>,
    auth_failure_redirect_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Providers {
    Csv(String),
    List(Vec<String>),
}

fn absolute(url: &Option<String>, field: &str) -> Result<(), Response> {
    match url {
        Some(u) if !(u.starts_with("https://") || u.starts_with("http://")) => Err(terra_error(
            StatusCode::BAD_REQUEST,
            format!("{field} must be an absolute http(s) URL"),
        )),
        _ => Ok(()),
    }
}

/// Empty strings are absent (clients send `""` for "not set").
fn some(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

/// `POST /v2/auth/authenticateUser?resource=STRAVA`: starts the OAuth2 flow
/// (`ConnectService::start`); `{"status":"success","user_id","auth_url"}`.
pub(crate) async fn authenticate_user(
    State(api): State<Api>,
    Extension(dev): Extension<DevId>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let q = Query::parse(q.as_deref());
    let Some(resource) = q.get("resource") else {
        return terra_error(StatusCode::BAD_REQUEST, "resource is required");
    };
    let Some(p) = Provider::from_slug(resource) else {
        return terra_error(
            StatusCode::BAD_REQUEST,
            format!("unknown resource {resource:?}; see GET /v2/integrations"),
        );
    };
    let b: AuthBody = match json_body(&body) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let req = StartRequest {
        reference_id: some(b.reference_id),
        success_url: some(b.auth_success_redirect_url),
        failure_url: some(b.auth_failure_redirect_url),
        scopes: None,
        widget_session_id: None,
        dev_id: Some(dev.0),
    };
    match api.connect.start(p, req) {
        Ok(r) => Json(json!({
            "status": "success",
            "user_id": r.user_id,
            "auth_url": r.auth_url,
        }))
        .into_response(),
        Err(e) => start_error(p, e),
    }
}

/// Terra's answer for a flow that cannot start.
pub(crate) fn start_error(p: Provider, e: ConnectError) -> Response {
    match e {
        ConnectError::NoOAuth(_) => terra_error(
            StatusCode::BAD_REQUEST,
            format!(
                "{} data is uploaded by a mobile app: use generateAuthToken",
                p.terra_name()
            ),
        ),
        ConnectError::Invalid(m) => terra_error(StatusCode::BAD_REQUEST, m),
        ConnectError::Disabled(_) => terra_error(
            StatusCode::NOT_FOUND,
            format!("the {} integration is not enabled", p.terra_name()),
        ),
        ConnectError::NotConfigured(_) => terra_error(
            StatusCode::CONFLICT,
            format!(
                "the {} integration has no client credentials configured",
                p.terra_name()
            ),
        ),
        ConnectError::Http(_) => terra_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the connect flow could not be prepared",
        ),
    }
}

/// `POST /v2/auth/generateWidgetSession`: a session on the state topic, opened at
/// `{connect.public_url}/widget/{session_id}` until it expires.
pub(crate) async fn generate_widget_session(
    State(api): State<Api>,
    Extension(dev): Extension<DevId>,
    body: Bytes,
) -> Response {
    let b: AuthBody = match json_body(&body) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let names: Vec<String> = match b.providers {
        None => vec![],
        Some(Providers::Csv(s)) => s.split(',').map(str::to_string).collect(),
        Some(Providers::List(v)) => v,
    };
    let mut providers = Vec::new();
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        match Provider::from_slug(name) {
            Some(p) if !providers.contains(&p) => providers.push(p),
            Some(_) => {}
            None => {
                return terra_error(
                    StatusCode::BAD_REQUEST,
                    format!("providers: unknown provider {name:?}; see GET /v2/integrations"),
                )
            }
        }
    }
    let (success_url, failure_url) = (
        some(b.auth_success_redirect_url),
        some(b.auth_failure_redirect_url),
    );
    if let Err(resp) = absolute(&success_url, "auth_success_redirect_url")
        .and_then(|_| absolute(&failure_url, "auth_failure_redirect_url"))
    {
        return resp;
    }
    let now = now_ms();
    let ttl = api.config.widget_session_ttl;
    let session = WidgetSession {
        session_id: uuid::Uuid::new_v4().simple().to_string(),
        dev_id: dev.0,
        reference_id: some(b.reference_id),
        success_url,
        failure_url,
        providers,
        language: some(b.language),
        expires_at_ms: now + ttl.as_millis() as u64,
        created_at_ms: now,
    };
    if let Err(e) = purge(&api, now).await {
        return state_error(e);
    }
    if let Err(e) = api.state.put_widget_session(&session).await {
        return state_error(e);
    }
    tracing::info!(session_id = %session.session_id, "widget session created");
    Json(json!({
        "session_id": session.session_id,
        "url": format!("{}/widget/{}", api.connect.public_url(), session.session_id),
        "status": "success",
        "expires_in": ttl.as_secs(),
    }))
    .into_response()
}

async fn purge(api: &Api, now: u64) -> Result<(), pulsegate_state::StateError> {
    let n = api
        .state
        .purge_expired_customer_records(now, PURGE_PER_CALL)
        .await?;
    if n > 0 {
        tracing::debug!(n, "expired widget sessions / auth tokens deleted");
    }
    Ok(())
}

/// `DELETE /v2/auth/deauthenticateUser?user_id=`: tokens destroyed, `deauth` emitted,
/// connection deleted (`ConnectService::deauthorize`, as the admin API's DELETE).
pub(crate) async fn deauthenticate_user(
    State(api): State<Api>,
    Extension(dev): Extension<DevId>,
    RawQuery(q): RawQuery,
) -> Response {
    let q = Query::parse(q.as_deref());
    let Some(user_id) = q.get("user_id") else {
        return terra_error(StatusCode::BAD_REQUEST, "user_id is required");
    };
    // Another developer's (or the operator's) user is not found, and left alone.
    if dev.user(&api, user_id).is_none() {
        return terra_error(StatusCode::NOT_FOUND, "user not found");
    }
    match api.connect.deauthorize(user_id, "v2-deauthenticate").await {
        Ok(_) => Json(json!({ "status": "success" })).into_response(),
        Err(DeauthError::NotFound) => terra_error(StatusCode::NOT_FOUND, "user not found"),
        Err(DeauthError::State(e)) => state_error(e),
        Err(DeauthError::Bus(_)) => terra_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "bus unavailable; the user's access is revoked, call again to finish",
        ),
    }
}

/// `POST /v2/auth/generateAuthToken`: a single-use token (stored hashed) that an app
/// exchanges at `POST /v1/sdk/{provider}/connect` for an on-device connection and its
/// SDK upload token.
pub(crate) async fn generate_auth_token(
    State(api): State<Api>,
    Extension(dev): Extension<DevId>,
) -> Response {
    let token = format!(
        "pgat_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let now = now_ms();
    let ttl = api.config.auth_token_ttl;
    let record = AuthToken {
        dev_id: dev.0,
        expires_at_ms: now + ttl.as_millis() as u64,
        created_at_ms: now,
    };
    if let Err(e) = purge(&api, now).await {
        return state_error(e);
    }
    if let Err(e) = api
        .state
        .put_auth_token(&api_key_hash(&token), &record)
        .await
    {
        return state_error(e);
    }
    Json(json!({ "status": "success", "token": token, "expires_in": ttl.as_secs() }))
        .into_response()
}

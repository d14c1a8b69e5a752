//! `/v1/admin/*`: the operator API, guarded by a bearer token.
//!
//! Writes go to the `state` topic through [`StateStore`], so every process running
//! pulsegate (one or many machines) sees them. Tokens and secrets are never returned in
//! full, except a destination's signing secret once, in the answer that created it.

mod auth;
mod connections;
mod dead_letters;
mod destinations;
mod integrations;
mod sdk_tokens;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use pulsegate_bus::Bus;
use pulsegate_schema::Secret;
use pulsegate_state::StateStore;

/// Settings of the admin API.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Bearer token for `/v1/admin/*`. Empty disables the admin API (every call 401).
    pub token: Secret,
    /// Let destinations point at loopback/private addresses (local development, tests).
    /// The dispatcher enforces the same flag when it connects.
    #[serde(skip)]
    pub allow_private_networks: bool,
}

#[derive(Clone)]
pub(crate) struct AdminState {
    pub(crate) state: Arc<StateStore>,
    pub(crate) bus: Arc<dyn Bus>,
    pub(crate) config: Arc<AdminConfig>,
    pub(crate) connect: Arc<pulsegate_connect::ConnectService>,
}

pub fn router(
    state: Arc<StateStore>,
    bus: Arc<dyn Bus>,
    config: AdminConfig,
    connect: Arc<pulsegate_connect::ConnectService>,
) -> Router {
    let s = AdminState {
        state,
        bus,
        config: Arc::new(config),
        connect,
    };
    Router::new()
        .route(
            "/v1/admin/connections",
            get(connections::list).post(connections::create),
        )
        .route(
            "/v1/admin/connections/{user_id}",
            get(connections::get_one).delete(connections::delete),
        )
        .route(
            "/v1/admin/destinations",
            get(destinations::list).post(destinations::create),
        )
        .route(
            "/v1/admin/destinations/{id}",
            get(destinations::get_one)
                .put(destinations::update)
                .delete(destinations::delete),
        )
        .route(
            "/v1/admin/connections/{user_id}/sdk-tokens",
            get(sdk_tokens::list).post(sdk_tokens::issue),
        )
        .route(
            "/v1/admin/sdk-tokens/{token_id}",
            axum::routing::delete(sdk_tokens::revoke),
        )
        .route(
            "/v1/admin/auth/{provider}",
            axum::routing::post(auth::start),
        )
        .route("/v1/admin/integrations", get(integrations::list))
        .route(
            "/v1/admin/integrations/{provider}",
            get(integrations::get_one).put(integrations::put),
        )
        .route("/v1/admin/dead-letters", get(dead_letters::list))
        .route(
            "/v1/admin/dead-letters/replay",
            axum::routing::post(dead_letters::replay),
        )
        .layer(middleware::from_fn_with_state(s.clone(), require_token))
        .with_state(s)
}

async fn require_token(State(s): State<AdminState>, req: Request, next: Next) -> Response {
    use subtle::ConstantTimeEq;
    let expected = s.config.token.expose().as_bytes();
    let presented = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .as_bytes();
    let ok = !expected.is_empty()
        && presented.len() == expected.len()
        && bool::from(presented.ct_eq(expected));
    if !ok {
        return error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong admin bearer token",
        );
    }
    next.run(req).await
}

pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

pub(crate) fn state_error(e: pulsegate_state::StateError) -> Response {
    tracing::error!(error = %e, "state write failed");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "state store unavailable; try again",
    )
}

//! `/v1/admin/*`: the operator API, guarded by a bearer token.
//!
//! Writes go to the `state` topic through [`StateStore`], so every process running
//! pulsegate (one or many machines) sees them. Tokens and secrets are never returned in
//! full, except a destination's signing secret once, in the answer that created it.

mod auth;
mod connections;
mod credentials;
mod dead_letters;
mod deliveries;
mod destinations;
mod developers;
mod integrations;
mod push_urls;
mod routes;
mod sdk_tokens;
mod ui;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
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
    pub(crate) recent: pulsegate_dispatcher::RecentDeliveries,
}

/// The admin API (`/v1/admin/*`, behind the token), its OpenAPI description and the
/// dashboard (both without the token: they hold no secrets). Built from
/// [`routes::table`]. `recent` is this process's ring of delivery attempts: empty
/// unless the dispatcher runs here.
pub fn router(
    state: Arc<StateStore>,
    bus: Arc<dyn Bus>,
    config: AdminConfig,
    connect: Arc<pulsegate_connect::ConnectService>,
    recent: pulsegate_dispatcher::RecentDeliveries,
) -> Router {
    let s = admin_state(state, bus, config, connect, recent);
    routes::build(s, |_| true)
}

/// What a process that dispatches but does not serve the admin API answers on its own
/// port: `GET /v1/admin/deliveries` (behind the token), its recent attempts.
pub fn deliveries_router(
    state: Arc<StateStore>,
    bus: Arc<dyn Bus>,
    config: AdminConfig,
    connect: Arc<pulsegate_connect::ConnectService>,
    recent: pulsegate_dispatcher::RecentDeliveries,
) -> Router {
    let s = admin_state(state, bus, config, connect, recent);
    routes::build(s, |r| r.method == "GET" && r.path == routes::DELIVERIES)
}

fn admin_state(
    state: Arc<StateStore>,
    bus: Arc<dyn Bus>,
    config: AdminConfig,
    connect: Arc<pulsegate_connect::ConnectService>,
    recent: pulsegate_dispatcher::RecentDeliveries,
) -> AdminState {
    AdminState {
        state,
        bus,
        config: Arc::new(config),
        connect,
        recent,
    }
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

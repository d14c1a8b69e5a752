//! `/v1/admin/*`: the operator API, guarded by a bearer token.
//!
//! Writes go to the `state` topic through [`StateStore`], so every process running
//! pulsegate (one or many machines) sees them. Tokens and secrets are never returned in
//! full, except a destination's signing secret once, in the answer that created it.

#![allow(
    clippy::result_large_err,
    reason = "handlers' helpers answer errors as ready `Response`s for `?` (as terra-api's do)"
)]

mod auth;
mod backup;
mod connections;
mod credentials;
mod dead_letters;
mod deliveries;
mod destinations;
mod developers;
mod health;
mod history;
mod integrations;
mod keys;
mod log_level;
mod ports;
mod push_urls;
mod resend;
mod routes;
mod sdk_tokens;
mod throttle;
mod topics;
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

pub use health::HealthSampler;
pub use ports::{
    AdminPorts, DeliveryLog, DeliveryMetrics, DeliveryReading, DestinationGuard, GroupReading,
    IngestActivity, LogLevel, PushReport, TopicOffsets, TopicReading,
};

/// Settings of the admin API.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Bearer token for `/v1/admin/*` (at least 32 characters). Empty: pulsegate
    /// generates one into a file at start and logs where.
    pub token: Secret,
    /// The admin listener: `/v1/admin/*`, the dashboard, `/metrics`. Keep it private.
    pub listen: std::net::SocketAddr,
    /// Open connections on the admin listener.
    pub max_connections: usize,
    /// Failed authentications from one address within `auth_failure_window` before
    /// further calls from it get 429 (without checking the token) until the window ends.
    pub max_auth_failures: u32,
    #[serde(with = "humantime_serde")]
    pub auth_failure_window: std::time::Duration,
    /// `[admin.tls]`: serve the admin listener over TLS (the binary terminates it).
    pub tls: Option<ListenerTls>,
    /// Let destinations point at loopback/private addresses (local development, tests).
    /// The dispatcher enforces the same flag when it connects.
    #[serde(skip)]
    pub allow_private_networks: bool,
    /// Ids of the destinations defined in the config file (`[[destinations]]`): the API
    /// refuses to delete them (409), since the next start would create them again.
    #[serde(skip)]
    pub file_destinations: std::collections::BTreeSet<String>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            token: Secret::default(),
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 9091)),
            max_connections: 64,
            max_auth_failures: 10,
            auth_failure_window: std::time::Duration::from_secs(60),
            tls: None,
            allow_private_networks: false,
            file_destinations: std::collections::BTreeSet::new(),
        }
    }
}

/// TLS on a listener (`[server.tls]`, `[admin.tls]`): the certificate chain and its key
/// as PEM files, read at start (a missing, unreadable or mismatched pair refuses the
/// start) and again on `SIGHUP` or when the files change; a pair that fails to load is
/// logged and the one in use stays.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerTls {
    /// PEM certificate chain, the server's certificate first.
    pub cert_file: std::path::PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of the first certificate.
    pub key_file: std::path::PathBuf,
    /// How often the files are checked for a change (modification time, size); 0: only
    /// on `SIGHUP`.
    #[serde(
        with = "humantime_serde",
        default = "ListenerTls::default_reload_interval"
    )]
    pub reload_interval: std::time::Duration,
}

impl ListenerTls {
    pub const DEFAULT_RELOAD_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

    fn default_reload_interval() -> std::time::Duration {
        Self::DEFAULT_RELOAD_INTERVAL
    }
}

#[derive(Clone)]
pub(crate) struct AdminState {
    pub(crate) state: Arc<StateStore>,
    pub(crate) bus: Arc<dyn Bus>,
    pub(crate) config: Arc<AdminConfig>,
    pub(crate) connect: Arc<pulsegate_connect::ConnectService>,
    pub(crate) ports: AdminPorts,
    pub(crate) throttle: Arc<throttle::AuthThrottle>,
}

/// The admin API (`/v1/admin/*`, behind the token), its OpenAPI description and the
/// dashboard (both without the token: they hold no secrets). Built from
/// [`routes::table`]. `ports.deliveries` is this process's log of delivery attempts:
/// empty unless the dispatcher runs here.
pub fn router(
    state: Arc<StateStore>,
    bus: Arc<dyn Bus>,
    config: AdminConfig,
    connect: Arc<pulsegate_connect::ConnectService>,
    ports: AdminPorts,
) -> Router {
    let s = admin_state(state, bus, config, connect, ports);
    routes::build(s, |_| true)
}

/// What a process that dispatches but does not serve the admin API answers on its own
/// port: `GET /v1/admin/deliveries` (behind the token), its recent attempts, and its
/// log filter (`/v1/admin/log-level`).
pub fn deliveries_router(
    state: Arc<StateStore>,
    bus: Arc<dyn Bus>,
    config: AdminConfig,
    connect: Arc<pulsegate_connect::ConnectService>,
    ports: AdminPorts,
) -> Router {
    let s = admin_state(state, bus, config, connect, ports);
    routes::build(s, |r| {
        (r.method == "GET" && r.path == routes::DELIVERIES) || r.path == routes::LOG_LEVEL
    })
}

fn admin_state(
    state: Arc<StateStore>,
    bus: Arc<dyn Bus>,
    config: AdminConfig,
    connect: Arc<pulsegate_connect::ConnectService>,
    ports: AdminPorts,
) -> AdminState {
    let throttle = Arc::new(throttle::AuthThrottle::new(
        config.max_auth_failures,
        config.auth_failure_window,
    ));
    AdminState {
        state,
        bus,
        config: Arc::new(config),
        connect,
        ports,
        throttle,
    }
}

async fn require_token(State(s): State<AdminState>, req: Request, next: Next) -> Response {
    use subtle::ConstantTimeEq;
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    // Too many failures from this address: refused without even comparing the token.
    if let Some(retry_after) = s.throttle.blocked(peer) {
        metrics::counter!("pulsegate_admin_auth_throttled_total").increment(1);
        let mut r = error(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed admin authentications; try again later",
        );
        r.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(retry_after.as_secs().max(1)),
        );
        return r;
    }
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
        metrics::counter!("pulsegate_admin_auth_failures_total").increment(1);
        s.throttle.failed(peer);
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

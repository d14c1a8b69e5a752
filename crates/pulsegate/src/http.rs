//! Routes of both listeners that belong to no component: health and metrics.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use pulsegate_bus::Bus;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
struct OpsState {
    metrics: PrometheusHandle,
    bus: Arc<dyn Bus>,
    stopping: CancellationToken,
}

/// `/healthz` (the process answers) and `/readyz` (it can take work: the bus accepts
/// writes, and it is not shutting down: `stopping` not fired), on both listeners;
/// `/metrics` only when `with_metrics` (the admin listener).
pub fn ops_router(
    metrics: PrometheusHandle,
    bus: Arc<dyn Bus>,
    stopping: CancellationToken,
    with_metrics: bool,
) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready));
    if with_metrics {
        router = router.route("/metrics", get(render_metrics));
    }
    router.with_state(OpsState {
        metrics,
        bus,
        stopping,
    })
}

async fn render_metrics(State(s): State<OpsState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
        .into_response()
}

async fn ready(State(s): State<OpsState>) -> Response {
    if s.stopping.is_cancelled() {
        // First sign of a graceful shutdown: a load balancer stops sending here while
        // the listeners still serve (`server.shutdown_delay_secs`).
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response()
    } else if s.bus.is_healthy() {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "bus unavailable").into_response()
    }
}

/// Everything unknown: a JSON 404, like the other errors.
pub async fn not_found() -> Response {
    json_error(StatusCode::NOT_FOUND, "no such route")
}

/// `{"error": message}` with the given status.
pub fn json_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

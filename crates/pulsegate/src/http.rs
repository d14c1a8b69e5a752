//! The one HTTP listener: provider ingest, admin API, metrics and health.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use pulsegate_bus::Bus;

#[derive(Clone)]
struct OpsState {
    metrics: PrometheusHandle,
    bus: Arc<dyn Bus>,
}

/// `/metrics`, `/healthz` (the process answers) and `/readyz` (it can take work: the
/// bus accepts writes).
pub fn ops_router(metrics: PrometheusHandle, bus: Arc<dyn Bus>) -> Router {
    Router::new()
        .route("/metrics", get(render_metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(OpsState { metrics, bus })
}

async fn render_metrics(State(s): State<OpsState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
        .into_response()
}

async fn ready(State(s): State<OpsState>) -> Response {
    if s.bus.is_healthy() {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "bus unavailable").into_response()
    }
}

/// Everything unknown: a JSON 404, like the other errors.
pub async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({ "error": "no such route" })),
    )
        .into_response()
}

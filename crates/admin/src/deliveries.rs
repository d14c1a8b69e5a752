//! `GET /v1/admin/deliveries`: the last delivery attempts of this process (the
//! [`DeliveryLog`](crate::DeliveryLog) port). A process that does not dispatch has
//! none (`recording: false`): in a scaled-out deployment ask a dispatch process (it
//! serves this route on its own port) or read the metrics.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use crate::{error, AdminState};

#[derive(Deserialize)]
pub(crate) struct Filter {
    destination: Option<String>,
    limit: Option<usize>,
}

pub(crate) async fn list(
    State(s): State<AdminState>,
    query: Result<Query<Filter>, QueryRejection>,
) -> Response {
    let Query(f) = match query {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.body_text()),
    };
    let log = &s.ports.deliveries;
    let limit = f.limit.unwrap_or(100).clamp(1, log.capacity().max(1));
    Json(serde_json::json!({
        "deliveries": log.latest(f.destination.as_deref(), limit),
        "recording": log.is_recording(),
        "capacity": log.capacity(),
    }))
    .into_response()
}

//! `GET /v1/admin/deliveries`: the last delivery attempts of this process (see
//! `pulsegate_dispatcher::RecentDeliveries`). A process that does not dispatch has
//! none (`recording: false`): in a scaled-out deployment ask a dispatch process (it
//! serves this route on its own port) or read the metrics.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use pulsegate_dispatcher::RecentDeliveries;
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
    let limit = f.limit.unwrap_or(100).clamp(1, RecentDeliveries::CAPACITY);
    Json(serde_json::json!({
        "deliveries": s.recent.latest(f.destination.as_deref(), limit),
        "recording": s.recent.is_recording(),
        "capacity": s.recent.capacity(),
    }))
    .into_response()
}

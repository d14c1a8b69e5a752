//! `POST /v1/admin/keys/rotate`: re-seals every record of the `state` topic sealed with
//! a previous deployment key under the current one (`StateStore::reseal_state`), so the
//! previous key can leave the state topic's key list. Safe while serving.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use pulsegate_state::StateError;

use crate::{error, AdminState};

pub(crate) async fn rotate(State(s): State<AdminState>) -> Response {
    match s.state.reseal_state().await {
        Ok(report) => {
            let note = if report.remaining_under_previous_keys == 0 && report.unreadable == 0 {
                "the state topic no longer needs the previous keys; the pipeline topics \
                 (raw, events, retry_*, dead_letters, backfill, replay_*, delivery_history) \
                 still need them until bus.retention (or their own retention) has passed"
            } else if !report.compacted {
                "superseded records under previous keys stay until the broker compacts the \
                 state topic: keep the previous keys listed until then, and run this again"
            } else {
                "records under previous keys remain (see unreadable): keep the previous keys"
            };
            let mut body = serde_json::to_value(&report).unwrap_or_default();
            body["note"] = note.into();
            Json(body).into_response()
        }
        Err(StateError::Unsupported(m)) => error(StatusCode::CONFLICT, &m),
        Err(e) => {
            tracing::error!(error = %e, "re-sealing the state topic failed");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("re-sealing failed: {e}"),
            )
        }
    }
}

use std::collections::VecDeque;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use pulsegate_schema::{topics, DeadLetter, NormalizedEvent};
use serde::Deserialize;

use crate::{error, AdminState};

#[derive(Deserialize)]
pub(crate) struct Filter {
    destination: Option<String>,
    limit: Option<usize>,
}

/// The most recent dead letters (newest last), optionally for one destination.
/// Reads the dead-letter topic from its start: fine for the volumes retention keeps.
pub(crate) async fn list(State(s): State<AdminState>, Query(f): Query<Filter>) -> Response {
    let limit = f.limit.unwrap_or(100).clamp(1, 1000);
    let mut reader = match s.bus.read_from_start(topics::DEAD_LETTERS).await {
        Ok(r) => r,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    let mut latest: VecDeque<serde_json::Value> = VecDeque::with_capacity(limit);
    while !reader.caught_up() {
        let records = match reader.poll(1024, Duration::from_millis(200)).await {
            Ok(r) => r,
            Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        };
        for r in records {
            let Ok(dl) = serde_json::from_slice::<DeadLetter>(&r.payload) else {
                continue;
            };
            if f.destination
                .as_deref()
                .is_some_and(|d| d != dl.destination_id)
            {
                continue;
            }
            let event: Option<NormalizedEvent> = serde_json::from_str(dl.event.get()).ok();
            if latest.len() == limit {
                latest.pop_front();
            }
            latest.push_back(serde_json::json!({
                "destination_id": dl.destination_id,
                "attempts": dl.attempts,
                "last_error": dl.last_error,
                "failed_at_ms": dl.failed_at_ms,
                "event_id": event.as_ref().map(|e| e.event_id.clone()),
                "type": event.as_ref().map(|e| e.event_type.as_str()),
                "user_id": event.as_ref().map(|e| e.user_id.clone()),
                "partition": r.partition,
                "offset": r.offset,
            }));
        }
    }
    Json(serde_json::json!({ "dead_letters": latest })).into_response()
}

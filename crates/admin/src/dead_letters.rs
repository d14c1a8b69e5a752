use std::collections::VecDeque;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use pulsegate_bus::Outgoing;
use pulsegate_schema::{now_ms, topics, DeadLetter, NormalizedEvent, RetryTask};
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

/// `POST /v1/admin/dead-letters/replay`: which dead letters to deliver again. At least
/// one filter is required; all given filters must match.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReplayRequest {
    destination_id: Option<String>,
    /// Dead-lettered at or after (ms since epoch).
    from_ms: Option<u64>,
    /// Dead-lettered before (ms since epoch).
    to_ms: Option<u64>,
    event_ids: Option<Vec<String>>,
}

/// Puts matching dead letters back on the first retry tier (due at once), so the
/// dispatcher delivers them to the destination's current URL with the same
/// `webhook-id`, through the usual retries. Each dead letter is replayed once: a second
/// replay of the same letters does nothing. The retry task is appended before the letter
/// is marked replayed, so a crash in between replays it again (at worst a duplicate with
/// the same `webhook-id`), never not at all.
pub(crate) async fn replay(
    State(s): State<AdminState>,
    body: Result<Json<ReplayRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.body_text()),
    };
    if req.destination_id.is_none()
        && req.from_ms.is_none()
        && req.to_ms.is_none()
        && req.event_ids.is_none()
    {
        return error(
            StatusCode::BAD_REQUEST,
            "give destination_id, from_ms/to_ms or event_ids",
        );
    }
    let ids: Option<std::collections::HashSet<&str>> = req
        .event_ids
        .as_ref()
        .map(|v| v.iter().map(String::as_str).collect());
    let mut reader = match s.bus.read_from_start(topics::DEAD_LETTERS).await {
        Ok(r) => r,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    let (mut matched, mut replayed, mut already) = (0u64, 0u64, 0u64);
    while !reader.caught_up() {
        let records = match reader.poll(1024, Duration::from_millis(200)).await {
            Ok(r) => r,
            Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        };
        for r in records {
            let Ok(dl) = serde_json::from_slice::<DeadLetter>(&r.payload) else {
                continue;
            };
            if req
                .destination_id
                .as_deref()
                .is_some_and(|d| d != dl.destination_id)
                || req.from_ms.is_some_and(|t| dl.failed_at_ms < t)
                || req.to_ms.is_some_and(|t| dl.failed_at_ms >= t)
            {
                continue;
            }
            if let Some(ids) = &ids {
                let event_id = serde_json::from_str::<NormalizedEvent>(dl.event.get())
                    .map(|e| e.event_id)
                    .unwrap_or_default();
                if !ids.contains(event_id.as_str()) {
                    continue;
                }
            }
            matched += 1;
            let letter = format!("{}:{}", r.partition, r.offset);
            if s.state.was_replayed(&letter) {
                already += 1;
                continue;
            }
            let task = RetryTask {
                destination_id: dl.destination_id.clone(),
                attempts: dl.attempts,
                not_before_ms: now_ms(),
                last_error: format!("replayed: {}", dl.last_error),
                event: dl.event,
            };
            let payload = serde_json::to_vec(&task).expect("a retry task serialises");
            if let Err(e) = s
                .bus
                .append(
                    &topics::retry(0),
                    Outgoing::new(dl.destination_id.clone(), payload),
                )
                .await
            {
                return error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string());
            }
            if let Err(e) = s.state.mark_replayed(&letter).await {
                return error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string());
            }
            replayed += 1;
        }
    }
    tracing::info!(matched, replayed, already, "dead letters replayed");
    Json(serde_json::json!({
        "matched": matched,
        "replayed": replayed,
        "already_replayed": already,
    }))
    .into_response()
}

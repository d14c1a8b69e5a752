//! `POST /v1/admin/deliveries/resend`: sends events again to one destination, as Svix
//! and Junction ("recover since") do: given events by id, or every event received in
//! `[since_ms, until_ms)` (optionally of one user). The matching records of the `events`
//! topic (kept `bus.retention`) are put on the first retry tier, due at once, so the
//! dispatcher delivers them with their original `webhook-id` through the usual retries
//! and dead letters. Events the destination does not take (its event types, providers,
//! owner) are skipped. The topic is read from its start: a scan, bounded by retention.

use std::collections::HashSet;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use pulsegate_bus::Outgoing;
use pulsegate_schema::{now_ms, topics, RetryTask};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::{error, AdminState};

/// Most events one request resends (ask again with a later `since_ms` for more).
const MAX_RESEND: u64 = 100_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResendRequest {
    destination_id: String,
    #[serde(default)]
    event_ids: Option<Vec<String>>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    since_ms: Option<u64>,
    #[serde(default)]
    until_ms: Option<u64>,
}

/// The fields of an `events` record resend looks at.
#[derive(Deserialize)]
struct EventHead<'a> {
    #[serde(borrow)]
    event_id: &'a str,
    #[serde(rename = "type", borrow)]
    event_type: &'a str,
    #[serde(borrow)]
    user_id: &'a str,
    #[serde(default)]
    received_at_ms: u64,
    #[serde(default, borrow)]
    dev_id: Option<&'a str>,
    #[serde(borrow)]
    body: &'a RawValue,
}

pub(crate) async fn resend(
    State(s): State<AdminState>,
    body: Result<Json<ResendRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.body_text()),
    };
    let Some(dest) = s.state.destination(&req.destination_id) else {
        return error(StatusCode::NOT_FOUND, "no such destination");
    };
    if req.event_ids.is_none() && req.since_ms.is_none() {
        return error(StatusCode::BAD_REQUEST, "give event_ids or since_ms");
    }
    if req
        .since_ms
        .zip(req.until_ms)
        .is_some_and(|(since, until)| until <= since)
    {
        return error(StatusCode::BAD_REQUEST, "until_ms must be after since_ms");
    }
    let ids: Option<HashSet<&str>> = req
        .event_ids
        .as_ref()
        .map(|v| v.iter().map(String::as_str).collect());
    let mut reader = match s.bus.read_from_start(topics::EVENTS).await {
        Ok(r) => r,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    let (mut resent, mut skipped) = (0u64, 0u64);
    let mut batch = Vec::new();
    while !reader.caught_up() && resent < MAX_RESEND {
        let records = match reader.poll(1024, Duration::from_millis(200)).await {
            Ok(r) => r,
            Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        };
        for r in records {
            let Ok(e) = serde_json::from_slice::<EventHead<'_>>(&r.payload) else {
                continue;
            };
            let wanted = ids.as_ref().is_none_or(|ids| ids.contains(e.event_id))
                && req.since_ms.is_none_or(|t| e.received_at_ms >= t)
                && req.until_ms.is_none_or(|t| e.received_at_ms < t)
                && req.user_id.as_deref().is_none_or(|u| u == e.user_id);
            if !wanted {
                continue;
            }
            if !dest.takes(e.event_type, e.dev_id, e.body.get()) {
                skipped += 1;
                continue;
            }
            let Ok(event) = serde_json::from_slice::<Box<RawValue>>(&r.payload) else {
                continue;
            };
            let task = RetryTask {
                destination_id: dest.id.clone(),
                attempts: 0,
                not_before_ms: now_ms(),
                last_error: "resent by an operator".into(),
                event,
            };
            let payload = serde_json::to_vec(&task).expect("a retry task serialises");
            batch.push(Outgoing::new(dest.id.clone(), payload));
            resent += 1;
        }
        if !batch.is_empty() {
            let out = std::mem::take(&mut batch);
            if let Err(e) = s.bus.append_batch(&topics::retry(0), out).await {
                return error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string());
            }
        }
    }
    tracing::info!(destination = %dest.id, resent, skipped, "events resent");
    Json(serde_json::json!({
        "resent": resent,
        "skipped_not_subscribed": skipped,
        "complete": resent < MAX_RESEND,
    }))
    .into_response()
}

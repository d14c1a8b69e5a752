//! Terra's notices and payloads of a historical request (`large_request_processing`,
//! `large_request_sending`, the window's data, `connection_error`, `rate_limit_hit`),
//! with ids that are the same every time a window is processed.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use pulsegate_bus::Outgoing;
use pulsegate_schema::terra::{DataEvent, StatusEvent, User};
use pulsegate_schema::{
    stable_id, BackfillTask, Connection, EventType, NormalizedEvent, PAYLOAD_VERSION,
};
use serde::Serialize;
use serde_json::Value;

use super::chunk::split_by_size;
use super::time::{terra_midnight, terra_time};
use super::BackfillError;
use crate::events::terra_user;
use crate::{BackfillConfig, NormalizeError};

/// Terra's `LargeRequestProcessingEvent`.
#[derive(Debug, Serialize)]
pub struct LargeRequestProcessingEvent<'a> {
    #[serde(rename = "type")]
    pub event_type: &'a str,
    pub status: &'a str,
    pub message: &'a str,
    pub user: &'a User,
    pub reference: &'a str,
}

/// Terra's `LargeRequestSendingEvent`.
#[derive(Debug, Serialize)]
pub struct LargeRequestSendingEvent<'a> {
    #[serde(rename = "type")]
    pub event_type: &'a str,
    pub user: &'a User,
    pub reference: &'a str,
    pub message: &'a str,
    pub expected_payloads: u32,
}

/// Terra's `RateLimitHitEvent`.
#[derive(Debug, Serialize)]
pub struct RateLimitHitEvent<'a> {
    #[serde(rename = "type")]
    pub event_type: &'a str,
    pub user: &'a User,
    pub start_date: String,
    pub end_date: String,
    pub retrying_at: String,
    pub message: String,
}

pub(super) fn event(
    id: String,
    event_type: EventType,
    conn: &Connection,
    task: &BackfillTask,
    body: &impl Serialize,
) -> Result<NormalizedEvent, NormalizeError> {
    let body =
        serde_json::value::to_raw_value(body).map_err(|e| NormalizeError::Encode(e.to_string()))?;
    Ok(NormalizedEvent {
        event_id: id,
        event_type,
        user_id: conn.user_id.clone(),
        reference: task.reference.clone(),
        received_at_ms: task.requested_at_ms,
        body,
        dev_id: conn.dev_id.clone(),
    })
}

/// The id of a request's `kind` event (`window` for per-window ones): the same every
/// time the request's window is processed.
pub fn event_id(reference: &str, kind: &str, window: Option<u32>) -> String {
    match window {
        Some(w) => stable_id(&["backfill", reference, kind, &w.to_string()]),
        None => stable_id(&["backfill", reference, kind]),
    }
}

pub(super) fn large_request_processing(
    conn: &Connection,
    task: &BackfillTask,
) -> Result<NormalizedEvent, NormalizeError> {
    let user = terra_user(conn);
    let body = LargeRequestProcessingEvent {
        event_type: EventType::LargeRequestProcessing.as_str(),
        status: "processing",
        message: "Large request is being processed: the data will be sent in several payloads with this reference",
        user: &user,
        reference: &task.reference,
    };
    event(
        event_id(&task.reference, "large_request_processing", None),
        EventType::LargeRequestProcessing,
        conn,
        task,
        &body,
    )
}

/// The events of one fetched window: `large_request_sending` first when this is the
/// first window of a large request, then the data payload (one per window, also when
/// the window has no data), split into chunks of at most `max_payload_bytes`
/// ([`split_by_size`]).
///
/// `expected_payloads` counts windows, not chunks, so it is a lower bound when a window
/// is split: it is sent before the first window's data, when the later windows have not
/// been fetched and their sizes cannot be known (fetching the whole range first would
/// hold every window in memory and delay the first data until the last window).
pub(super) fn window_events(
    conn: &Connection,
    task: &BackfillTask,
    cfg: &BackfillConfig,
    objects: Vec<Value>,
) -> Result<Vec<NormalizedEvent>, NormalizeError> {
    let user = terra_user(conn);
    let mut out = Vec::with_capacity(2);
    if task.index == 0 && task.total > cfg.large_request_windows {
        let body = LargeRequestSendingEvent {
            event_type: EventType::LargeRequestSending.as_str(),
            user: &user,
            reference: &task.reference,
            message: "Large request is being sent",
            expected_payloads: task.total,
        };
        out.push(event(
            event_id(&task.reference, "large_request_sending", None),
            EventType::LargeRequestSending,
            conn,
            task,
            &body,
        )?);
    }
    let body = DataEvent {
        event_type: task.data_type.as_str(),
        user: &user,
        data: objects,
        version: PAYLOAD_VERSION,
    };
    let data = event(
        event_id(&task.reference, task.data_type.as_str(), Some(task.index)),
        task.data_type,
        conn,
        task,
        &body,
    )?;
    out.extend(split_by_size(data, cfg.max_payload_bytes)?);
    Ok(out)
}

pub(super) fn connection_error(
    conn: &Connection,
    task: &BackfillTask,
    message: &str,
) -> Result<NormalizedEvent, NormalizeError> {
    let user = terra_user(conn);
    let body = StatusEvent {
        event_type: EventType::ConnectionError.as_str(),
        user: &user,
        status: "warning",
        message,
    };
    event(
        event_id(&task.reference, "connection_error", None),
        EventType::ConnectionError,
        conn,
        task,
        &body,
    )
}

pub(super) fn rate_limit_hit(
    conn: &Connection,
    task: &BackfillTask,
    retry_at_ms: u64,
) -> Result<NormalizedEvent, NormalizeError> {
    let user = terra_user(conn);
    let retrying_at = DateTime::<Utc>::from_timestamp_millis(retry_at_ms as i64)
        .map(terra_time)
        .unwrap_or_default();
    let body = RateLimitHitEvent {
        event_type: EventType::RateLimitHit.as_str(),
        user: &user,
        start_date: terra_midnight(&task.start_date),
        end_date: terra_midnight(&task.end_date),
        retrying_at,
        message: format!(
            "{} rate limit reached; the request will be retried",
            conn.provider.terra_name()
        ),
    };
    event(
        stable_id(&[
            "backfill",
            &task.reference,
            "rate_limit_hit",
            &task.index.to_string(),
            &retry_at_ms.to_string(),
        ]),
        EventType::RateLimitHit,
        conn,
        task,
        &body,
    )
}

pub(super) fn outgoing(e: &NormalizedEvent) -> Result<Outgoing, BackfillError> {
    let payload = serde_json::to_vec(e).map_err(|e| BackfillError::Provider(e.to_string()))?;
    Ok(Outgoing::new(Bytes::from(e.user_id.clone()), payload))
}

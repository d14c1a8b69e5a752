//! Building [`NormalizedEvent`]s from Terra-shaped bodies.

use pulsegate_schema::terra::User;
use pulsegate_schema::{Connection, EventType, NormalizedEvent, RawNotification};
use serde::Serialize;

use crate::NormalizeError;

/// Terra's `user` object for a connection, in a webhook being built now:
/// `last_webhook_update` is this webhook's time (the user's latest webhook update; a
/// clock read, nothing looked up), `created_at` the connection's.
pub fn terra_user(conn: &Connection) -> User {
    User {
        user_id: conn.user_id.clone(),
        provider: conn.provider.terra_name().to_string(),
        reference_id: conn.reference_id.clone(),
        scopes: conn.scopes.clone(),
        active: None,
        last_webhook_update: Some(pulsegate_schema::terra_timestamp(pulsegate_schema::now_ms())),
        created_at: created_at(conn),
    }
}

/// Terra's `created_at` for a connection: when it was made; `None` for records stored
/// before pulsegate kept that time (`created_at_ms` 0).
pub fn created_at(conn: &Connection) -> Option<String> {
    (conn.created_at_ms > 0).then(|| pulsegate_schema::terra_timestamp(conn.created_at_ms))
}

/// Wraps a customer-facing `body` into the `events` record caused by `raw`.
pub fn build_event(
    event_id: String,
    event_type: EventType,
    conn: &Connection,
    raw: &RawNotification,
    body: &impl Serialize,
) -> Result<NormalizedEvent, NormalizeError> {
    let body =
        serde_json::value::to_raw_value(body).map_err(|e| NormalizeError::Encode(e.to_string()))?;
    Ok(NormalizedEvent {
        event_id,
        event_type,
        user_id: conn.user_id.clone(),
        reference: raw.id.clone(),
        received_at_ms: raw.received_at_ms,
        body,
        dev_id: conn.dev_id.clone(),
    })
}

/// A top-level field of a notification body as text (strings as-is, numbers printed),
/// for cheap routing decisions before any fetch.
pub fn body_field(raw: &RawNotification, key: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(raw.body.get()).ok()?;
    match v.get(key)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The `connection_error` a provider's refusal of the connection's credentials causes
/// (its id derives from the notification's `key`, so a redelivery yields the same id).
/// `provider` names who refused, for the log line; the message names no secret.
pub fn connection_error(
    provider: &'static str,
    key: &str,
    conn: &Connection,
    raw: &RawNotification,
    message: &str,
) -> Result<NormalizedEvent, NormalizeError> {
    tracing::warn!(
        provider,
        message,
        "the provider refused the connection's credentials"
    );
    let user = terra_user(conn);
    let body = pulsegate_schema::terra::StatusEvent {
        event_type: EventType::ConnectionError.as_str(),
        user: &user,
        status: "warning",
        message,
    };
    let id = pulsegate_schema::stable_id(&[key, EventType::ConnectionError.as_str()]);
    build_event(id, EventType::ConnectionError, conn, raw, &body)
}

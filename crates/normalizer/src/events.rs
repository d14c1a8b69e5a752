//! Building [`NormalizedEvent`]s from Terra-shaped bodies.

use pulsegate_schema::terra::User;
use pulsegate_schema::{Connection, EventType, NormalizedEvent, RawNotification};
use serde::Serialize;

use crate::NormalizeError;

/// Terra's `user` object for a connection.
pub fn terra_user(conn: &Connection) -> User {
    User {
        user_id: conn.user_id.clone(),
        provider: conn.provider.terra_name().to_string(),
        reference_id: conn.reference_id.clone(),
        scopes: conn.scopes.clone(),
        active: None,
        last_webhook_update: None,
    }
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

//! Lifecycle events (`auth`, `deauth`, `user_reauth`…) and Terra's `user` object.

use pulsegate_bus::Outgoing;
use pulsegate_schema::terra::User;
use pulsegate_schema::{
    now_ms, stable_id, topics, Connection, ConnectionStatus, EventType, NormalizedEvent,
};
use serde_json::Value;

/// The `message` of a successful `auth` event (Terra's words).
pub const AUTH_SUCCESS_MESSAGE: &str = "User has successfully authenticated";

/// Terra's `user` object for a connection, with `active` and `created_at` (when the
/// connection was made; absent for connections stored before pulsegate kept that
/// time). `last_webhook_update` is left out: [`emit_lifecycle`] stamps it on the users
/// of the lifecycle webhooks it appends (not on `auth`: a new user has had no update).
pub fn user(c: &Connection) -> User {
    User {
        user_id: c.user_id.clone(),
        provider: c.provider.terra_name().to_string(),
        reference_id: c.reference_id.clone(),
        scopes: c.scopes.clone(),
        active: Some(c.status == ConnectionStatus::Active),
        last_webhook_update: None,
        created_at: (c.created_at_ms > 0)
            .then(|| pulsegate_schema::terra_timestamp(c.created_at_ms)),
    }
}

/// Sets `last_webhook_update` (the time of this webhook) on the user objects of a
/// lifecycle body other than `auth`.
fn stamp_webhook_update(body: &mut Value, at_ms: u64) {
    if body.get("type").and_then(Value::as_str) == Some(EventType::Auth.as_str()) {
        return;
    }
    let at = pulsegate_schema::terra_timestamp(at_ms);
    for key in ["user", "new_user", "old_user"] {
        if let Some(u) = body.get_mut(key).and_then(Value::as_object_mut) {
            u.insert("last_webhook_update".into(), Value::String(at.clone()));
        }
    }
}

/// Appends a lifecycle event (`auth`, `deauth`, `user_reauth`…) for `conn` to `events`,
/// with an id stable for (`type`, user, `discriminator`, the body's `status`): an
/// `auth` error and an `auth` success of one flow are two events with two ids (a
/// receiver de-duplicating by `webhook-id` must not drop the success).
pub async fn emit_lifecycle(
    bus: &dyn pulsegate_bus::Bus,
    conn: &Connection,
    event_type: EventType,
    discriminator: &str,
    mut body: Value,
) -> Result<(), String> {
    let now = now_ms();
    stamp_webhook_update(&mut body, now);
    let outcome = body.get("status").and_then(Value::as_str).unwrap_or("");
    let event = NormalizedEvent {
        event_id: stable_id(&[
            "connect",
            event_type.as_str(),
            &conn.user_id,
            discriminator,
            outcome,
        ]),
        event_type,
        user_id: conn.user_id.clone(),
        reference: discriminator.to_string(),
        received_at_ms: now,
        body: serde_json::value::to_raw_value(&body).map_err(|e| e.to_string())?,
        dev_id: conn.dev_id.clone(),
    };
    let payload = serde_json::to_vec(&event).map_err(|e| e.to_string())?;
    bus.append(topics::EVENTS, Outgoing::new(conn.user_id.clone(), payload))
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

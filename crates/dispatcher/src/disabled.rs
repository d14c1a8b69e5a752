//! Telling that the dispatcher disabled a destination (failing too long, or 410 Gone).
//! The operator: a WARN line (the destination's id and the reason; never its URL, whose
//! query may hold a token, nor its secret), `pulsegate_destinations_disabled_total
//! {destination,reason}` and the `PulsegateDestinationDisabled` alert
//! (deploy/prometheus/alerts.yml). The customer: a `destination_disabled` event on
//! `events`, owned like the destination, so it reaches the owner's other destinations
//! that take that type (signed, retried and in the delivery history like any event);
//! the admin API shows `disabled_reason` on the destination itself.

use bytes::Bytes;
use pulsegate_bus::Outgoing;
use pulsegate_schema::{stable_id, topics, Destination, EventType, NormalizedEvent};
use serde_json::value::RawValue;

use crate::context::Shared;

/// Why a destination was disabled (the metric's `reason` label).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Cause {
    /// Every attempt failed for `disable_after_failing`.
    Failing,
    /// The receiver answered 410 Gone.
    Gone,
}

impl Cause {
    fn as_str(self) -> &'static str {
        match self {
            Cause::Failing => "failing",
            Cause::Gone => "gone",
        }
    }
}

/// The customer's event body: what was disabled, when, and why (no URL, no secret).
pub(crate) fn body(dest: &Destination, cause: Cause, reason: &str, now_ms: u64) -> String {
    let at = |ms: u64| {
        chrono::DateTime::from_timestamp_millis(ms as i64)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    serde_json::json!({
        "type": EventType::DestinationDisabled.as_str(),
        "destination_id": dest.id,
        "cause": cause.as_str(),
        "reason": reason,
        "failing_since": dest.failing_since_ms.map(at),
        "disabled_at": at(now_ms),
        "message": "this destination was disabled and receives nothing until it is re-enabled; undelivered events wait on its cursor",
    })
    .to_string()
}

/// Whether `body` (a `destination_disabled` event's) is about `destination_id`: a
/// destination is not told about itself (when re-enabled, it would read its own notice).
pub(crate) fn is_about(body: &str, destination_id: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct About<'a> {
        #[serde(borrow)]
        destination_id: std::borrow::Cow<'a, str>,
    }
    serde_json::from_str::<About<'_>>(body).is_ok_and(|a| a.destination_id == destination_id)
}

impl Shared {
    /// `dest` (its record before it was disabled) has just been disabled for `cause`.
    pub(crate) async fn announce_disabled(&self, dest: &Destination, cause: Cause, reason: &str) {
        metrics::counter!("pulsegate_destinations_disabled_total",
            "destination" => dest.id.clone(), "reason" => cause.as_str())
        .increment(1);
        tracing::warn!(destination = %dest.id, cause = cause.as_str(), %reason,
            "destination disabled by the dispatcher; its owner is sent destination_disabled");
        let now = pulsegate_schema::now_ms();
        let Ok(body) = RawValue::from_string(body(dest, cause, reason, now)) else {
            return;
        };
        let event_id = stable_id(&["destination_disabled", &dest.id, &now.to_string()]);
        let event = NormalizedEvent {
            reference: event_id.clone(),
            event_id,
            event_type: EventType::DestinationDisabled,
            user_id: String::new(),
            received_at_ms: now,
            body,
            dev_id: dest.dev_id.clone(),
        };
        let Ok(payload) = serde_json::to_vec(&event) else {
            return;
        };
        let record = Outgoing::new(Bytes::from(dest.id.clone()), payload);
        // Best effort, once: the destination is disabled either way, and the operator
        // has the log line, the metric and the alert.
        if let Err(e) = self.bus.append(topics::EVENTS, record).await {
            tracing::warn!(destination = %dest.id, error = %e,
                "destination_disabled event not written");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_names_the_destination_and_reason_not_its_url() {
        let dest: Destination = serde_json::from_value(serde_json::json!({
            "id": "d1", "url": "https://example.com/hook?token=SECRET-IN-URL",
            "secret": "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0", "dev_id": "acme",
            "failing_since_ms": 1_780_000_000_000u64,
        }))
        .unwrap();
        let b = body(&dest, Cause::Failing, "failing since …", 1_780_000_500_000);
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v["type"], "destination_disabled");
        assert_eq!(v["destination_id"], "d1");
        assert_eq!(v["cause"], "failing");
        assert_eq!(v["failing_since"], "2026-05-28T20:26:40.000Z");
        assert!(!b.contains("SECRET-IN-URL") && !b.contains("whsec_"));
        assert!(is_about(&b, "d1"));
        assert!(!is_about(&b, "d2"));
        assert!(!is_about("{}", "d1"));
    }
}

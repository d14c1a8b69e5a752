//! One delivery attempt as operators see it (`GET /v1/admin/deliveries`, the dashboard):
//! recorded by the dispatcher, read by the admin API through its `DeliveryLog` port.
//! Nothing secret: no URL, no body, no error text; only the status or the error kind.

use serde::Serialize;

/// How an attempt ended for the event and destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// 2xx: delivered.
    Ok,
    /// Failed; a retry is scheduled on a retry tier.
    Retry,
    /// Failed for the last time; the event is on the dead-letter topic.
    DeadLetter,
    /// 410 Gone: the destination was disabled.
    Gone,
}

/// One delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeliveryRecord {
    /// When the attempt's answer (or error) came, ms since the epoch.
    pub at_ms: u64,
    pub destination_id: String,
    pub event_id: String,
    /// The event's user (empty for destination-level events such as `healthcheck`).
    #[serde(default)]
    pub user_id: String,
    /// The `webhook-id` the attempt carried (the same on every attempt and resend).
    #[serde(default)]
    pub webhook_id: String,
    /// The `terra-reference` it carried.
    #[serde(default)]
    pub reference: String,
    /// The event type (`activity`, `sleep`, …).
    #[serde(rename = "type")]
    pub event_type: String,
    /// 1 for the first attempt, then 2, 3… through the retry tiers (and on replay).
    pub attempt: u32,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Why a failed attempt failed: `failed` (a non-2xx answer), `timeout`,
    /// `connection_error`, `blocked` (SSRF guard), `invalid`. `None` when delivered.
    pub error_kind: Option<&'static str>,
    /// How long the exchange took.
    pub latency_ms: u64,
    pub outcome: DeliveryOutcome,
    /// The first 1 KiB of the receiver's answer body (HTTP destinations that answered;
    /// invalid UTF-8 replaced). Kept in the delivery history only, never logged: it is
    /// the customer's answer, which may echo anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
}

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Event types pulsegate emits (Terra's names plus `activity_deleted` and
/// `destination_disabled`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    Activity,
    Sleep,
    Body,
    Daily,
    Athlete,
    Nutrition,
    Menstruation,
    Auth,
    Deauth,
    UserReauth,
    AccessRevoked,
    PermissionChange,
    ConnectionError,
    Processing,
    RateLimitHit,
    LargeRequestProcessing,
    LargeRequestSending,
    Healthcheck,
    /// A Google Health account with no data source (no Google Health profile).
    GoogleNoDatasource,
    ActivityDeleted,
    /// One of the owner's destinations was disabled by the dispatcher (not a user event).
    DestinationDisabled,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Activity => "activity",
            EventType::Sleep => "sleep",
            EventType::Body => "body",
            EventType::Daily => "daily",
            EventType::Athlete => "athlete",
            EventType::Nutrition => "nutrition",
            EventType::Menstruation => "menstruation",
            EventType::Auth => "auth",
            EventType::Deauth => "deauth",
            EventType::UserReauth => "user_reauth",
            EventType::AccessRevoked => "access_revoked",
            EventType::PermissionChange => "permission_change",
            EventType::ConnectionError => "connection_error",
            EventType::Processing => "processing",
            EventType::RateLimitHit => "rate_limit_hit",
            EventType::LargeRequestProcessing => "large_request_processing",
            EventType::LargeRequestSending => "large_request_sending",
            EventType::Healthcheck => "healthcheck",
            EventType::GoogleNoDatasource => "google_no_datasource",
            EventType::ActivityDeleted => "activity_deleted",
            EventType::DestinationDisabled => "destination_disabled",
        }
    }
}

/// A normalized event on the `events` topic: routing metadata plus the exact JSON body
/// customers receive (already in Terra's shape), so the dispatcher only signs and sends.
#[derive(Debug, Serialize, Deserialize)]
pub struct NormalizedEvent {
    /// Stable for the same provider object/version: reprocessing yields the same id.
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub user_id: String,
    /// Id of the notification or request that caused it (`terra-reference` header).
    pub reference: String,
    /// When pulsegate received the notification (for end-to-end latency).
    pub received_at_ms: u64,
    /// The customer-facing payload: `{"type", "user", "data", "version"}` or a lifecycle event.
    pub body: Box<RawValue>,
    /// The developer account owning the user when the event was made (`None` =
    /// operator-owned): a developer's destination receives only its own users' events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev_id: Option<String>,
}

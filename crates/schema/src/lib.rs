//! The shared language of pulsegate's components.
//!
//! Ingest, normalizer and dispatcher never import each other; they agree on the
//! records defined here, which travel on the bus as JSON bytes.

mod backfill;
mod customer_api;
mod deliveries;
mod events;
pub mod form;
mod records;
pub mod sdk;
mod secret;
pub mod terra;
mod write;

pub use backfill::BackfillTask;
pub use customer_api::{api_key_hash, AuthToken, Developer, OAuthStateClaim, WidgetSession};
pub use deliveries::{DeliveryOutcome, DeliveryRecord};
pub use events::{EventType, NormalizedEvent};
pub use records::{
    ClaimCheck, Connection, ConnectionStatus, DeadLetter, Destination, Integration, KafkaAuth,
    Provider, ProviderCredentials, RawNotification, RetryTask, SdkToken, StateKey, DATA_TYPES,
};
pub use secret::Secret;
pub use write::{WriteOp, WriteResult};

/// Topic names and their roles.
pub mod topics {
    /// Raw provider notifications, keyed by `provider:provider_user_id`.
    pub const RAW: &str = "raw";
    /// Normalized events, keyed by `user_id`.
    pub const EVENTS: &str = "events";
    /// Keyed state (connections, destinations): last value per key wins, empty = deleted.
    pub const STATE: &str = "state";
    /// Deliveries that exhausted their retries.
    pub const DEAD_LETTERS: &str = "dead_letters";
    /// Windows of historical data requests ([`BackfillTask`](crate::BackfillTask)),
    /// keyed by `user_id`.
    pub const BACKFILL: &str = "backfill";
    /// Every delivery attempt ([`DeliveryRecord`](crate::DeliveryRecord)), keyed by
    /// destination id, kept `dispatcher.history_retention`.
    pub const DELIVERY_HISTORY: &str = "delivery_history";

    /// The delayed topic for retry tier `n` (0-based).
    pub fn retry(tier: usize) -> String {
        format!("retry_{tier}")
    }
}

/// Payload version customers see in every delivery (Terra's current API version).
pub const PAYLOAD_VERSION: &str = "2022-03-16";

/// Unix milliseconds as Terra writes times in `TerraUser`:
/// `2024-10-07T03:45:00.123000+00:00` (UTC, microseconds, `+00:00`).
pub fn terra_timestamp(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        (ms % 1000) * 1000
    )
}

/// Milliseconds since the Unix epoch.
/// An error and its sources, joined with ": " (a client's top-level message, such as
/// "error sending request", alone does not say that a certificate was refused or a
/// port closed).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A short, stable, hex id derived from parts (used for event ids and webhook ids so that
/// a notification processed twice yields the same ids).
pub fn stable_id(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// How an SDK upload token is stored and looked up: hex SHA-256 of the token. The
/// tokens are 244 random bits, so a fast unsalted hash is enough (no guessing to slow).
pub fn sdk_token_hash(token: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod terra_timestamp_tests {
    use super::terra_timestamp;

    #[test]
    fn formats_like_terra() {
        assert_eq!(terra_timestamp(0), "1970-01-01T00:00:00.000000+00:00");
        // Terra's docs' example time.
        assert_eq!(
            terra_timestamp(1_728_272_700_000),
            "2024-10-07T03:45:00.000000+00:00"
        );
        assert_eq!(
            terra_timestamp(1_709_708_760_123),
            "2024-03-06T07:06:00.123000+00:00"
        );
        // A leap day and the end of a year.
        assert_eq!(
            terra_timestamp(1_709_251_199_999),
            "2024-02-29T23:59:59.999000+00:00"
        );
        assert_eq!(
            terra_timestamp(1_735_689_599_000),
            "2024-12-31T23:59:59.000000+00:00"
        );
    }
}

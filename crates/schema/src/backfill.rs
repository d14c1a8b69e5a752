//! Historical data requests ("backfill") on the `backfill` topic.

use serde::{Deserialize, Serialize};

use crate::{EventType, Provider};

/// One window of a historical data request, on the `backfill` topic keyed by `user_id`
/// (so one user's windows stay in order on one partition). A request of `total` windows
/// is appended as `total` records at once; each is committed only after its events are
/// durable on the `events` topic, so a restart resumes at the first uncommitted window.
///
/// Dates are UTC calendar days, `YYYY-MM-DD`; every range is `[start, end)`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BackfillTask {
    /// The request's reference: the `terra-reference` of every event it causes.
    pub reference: String,
    /// pulsegate's (Terra's) user id of the connection.
    pub user_id: String,
    pub provider: Provider,
    /// The data type requested (`activity`, `sleep`, `daily`, `body`, …).
    pub data_type: EventType,
    /// The whole request's range.
    pub start_date: String,
    pub end_date: String,
    /// This window's range (inside the request's).
    pub window_start: String,
    pub window_end: String,
    /// 0-based position of this window in the request.
    pub index: u32,
    /// Windows in the request.
    pub total: u32,
    /// Keep sample/time-series lists in the data (`with_samples`).
    pub with_samples: bool,
    /// When the request was accepted (ms since the Unix epoch).
    pub requested_at_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_terras_names() {
        let t = BackfillTask {
            reference: "r".into(),
            user_id: "u".into(),
            provider: Provider::Strava,
            data_type: EventType::Activity,
            start_date: "2024-01-01".into(),
            end_date: "2024-02-01".into(),
            window_start: "2024-01-08".into(),
            window_end: "2024-01-15".into(),
            index: 1,
            total: 5,
            with_samples: false,
            requested_at_ms: 7,
        };
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["provider"], "STRAVA");
        assert_eq!(v["data_type"], "activity");
        assert_eq!(serde_json::from_value::<BackfillTask>(v).unwrap(), t);
    }
}

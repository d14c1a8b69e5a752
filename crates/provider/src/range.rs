//! What the providers' [`fetch_range`](crate::ProviderNormalizer::fetch_range)
//! implementations share: UTC day arithmetic and turning mapped Terra objects into JSON.

use chrono::{DateTime, Days, NaiveDate, Utc};
use pulsegate_schema::EventType;
use serde::Serialize;
use serde_json::Value;

use crate::NormalizeError;

/// Pages followed for one window at most (a provider that keeps answering "more" is
/// not followed forever).
pub const MAX_PAGES: u32 = 500;

/// Unix seconds of `day`'s 00:00 UTC.
pub fn utc_midnight(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp())
        .unwrap_or(0)
}

/// The days `[start, end)`.
pub fn days(start: NaiveDate, end: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    let mut d = start;
    std::iter::from_fn(move || {
        if d >= end {
            return None;
        }
        let now = d;
        d = d.checked_add_days(Days::new(1))?;
        Some(now)
    })
}

/// The day after `d` (`d` itself at the end of the calendar).
pub fn next_day(d: NaiveDate) -> NaiveDate {
    d.checked_add_days(Days::new(1)).unwrap_or(d)
}

/// The day before `d`.
pub fn prev_day(d: NaiveDate) -> NaiveDate {
    d.pred_opt().unwrap_or(d)
}

/// `YYYY-MM-DD`.
pub fn ymd(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// True when the RFC 3339 time `t` falls on a UTC day in `[start, end)`.
pub fn starts_within(t: Option<&str>, start: NaiveDate, end: NaiveDate) -> bool {
    t.and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc).date_naive())
        .is_some_and(|d| d >= start && d < end)
}

/// True when the `YYYY-MM-DD` day `day` is in `[start, end)`.
pub fn day_within(day: Option<&str>, start: NaiveDate, end: NaiveDate) -> bool {
    day.and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .is_some_and(|d| d >= start && d < end)
}

/// A mapped Terra object as JSON.
pub fn to_value<T: Serialize>(t: &T) -> Result<Value, NormalizeError> {
    serde_json::to_value(t).map_err(|e| NormalizeError::Encode(e.to_string()))
}

/// The error a provider answers for a data type it cannot fetch by range.
pub fn unsupported(provider: &str, data_type: EventType) -> NormalizeError {
    NormalizeError::dropped(
        "unsupported",
        format!(
            "{provider} {} data cannot be fetched by date range",
            data_type.as_str()
        ),
    )
}

/// One object that could not be mapped is skipped (logged), not the whole window.
pub fn skip_unmapped<T>(r: Result<T, NormalizeError>, what: &str) -> Option<T> {
    match r {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::info!(error = %e, what, "historical object skipped");
            None
        }
    }
}

/// What the providers' range tests share: a state store on an embedded bus in a
/// tempdir, and a connection whose token does not need refreshing (feature `testing`,
/// for the providers' tests).
#[cfg(any(test, feature = "testing"))]
#[allow(clippy::unwrap_used, reason = "test helpers: a failure is the test's")]
pub mod testing {
    use std::sync::Arc;

    use pulsegate_bus::embedded::{EmbeddedBus, EmbeddedConfig};
    use pulsegate_bus::Bus;
    use pulsegate_schema::{Connection, ConnectionStatus, Provider, Secret};
    use pulsegate_state::StateStore;
    use tokio_util::sync::CancellationToken;

    use crate::{Ctx, Lane};

    pub struct Env {
        _dir: tempfile::TempDir,
        pub ctx: Ctx,
        pub conn: Connection,
        _stop: tokio_util::sync::DropGuard,
    }

    pub async fn env(provider: Provider, provider_user_id: &str, token: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let bus: Arc<dyn Bus> =
            Arc::new(EmbeddedBus::open(EmbeddedConfig::new(dir.path())).unwrap());
        let stop = CancellationToken::new();
        let state = StateStore::start(bus, stop.clone()).await.unwrap();
        let conn = Connection {
            user_id: format!("user-{provider_user_id}"),
            provider,
            provider_user_id: provider_user_id.into(),
            reference_id: None,
            access_token: Secret::new(token),
            refresh_token: Secret::new("refresh"),
            expires_at: 0,
            scopes: None,
            status: ConnectionStatus::Active,
            created_at_ms: 1,
            dev_id: None,
            metadata: Default::default(),
        };
        state.put_connection(&conn).await.unwrap();
        Env {
            _dir: dir,
            ctx: Ctx {
                state,
                lane: Lane::Backfill,
            },
            conn,
            _stop: stop.drop_guard(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn day_helpers() {
        assert_eq!(utc_midnight(d("2024-01-01")), 1_704_067_200);
        let all: Vec<_> = days(d("2024-02-27"), d("2024-03-02")).map(ymd).collect();
        assert_eq!(
            all,
            ["2024-02-27", "2024-02-28", "2024-02-29", "2024-03-01"]
        );
        assert_eq!(days(d("2024-01-02"), d("2024-01-01")).count(), 0);
        assert!(starts_within(
            Some("2024-01-01T23:30:00-05:00"),
            d("2024-01-02"),
            d("2024-01-03")
        ));
        assert!(!starts_within(
            Some("2024-01-03T00:00:00Z"),
            d("2024-01-02"),
            d("2024-01-03")
        ));
        assert!(!starts_within(None, d("2024-01-02"), d("2024-01-03")));
        assert!(day_within(
            Some("2024-01-02"),
            d("2024-01-02"),
            d("2024-01-03")
        ));
        assert!(!day_within(
            Some("2024-01-03"),
            d("2024-01-02"),
            d("2024-01-03")
        ));
    }
}

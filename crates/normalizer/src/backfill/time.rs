//! Dates and times as requests carry them and as Terra writes them.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

pub(super) fn parse_ymd(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

pub(super) fn ymd(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// A day's midnight UTC as Terra writes times (`2024-01-01T00:00:00.000000+00:00`).
pub(super) fn terra_midnight(day: &str) -> String {
    parse_ymd(day)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| terra_time(t.and_utc()))
        .unwrap_or_else(|| day.to_string())
}

pub(super) fn terra_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, false)
}

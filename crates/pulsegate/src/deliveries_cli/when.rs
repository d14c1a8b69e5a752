//! `--since` / `--until`: an instant as an operator types it.

use chrono::{DateTime, NaiveDate, Utc};

/// Milliseconds since the epoch for `v`: RFC 3339 (`2026-12-06T10:00:00Z`), a date
/// (`2026-12-06`, 00:00 UTC), unix milliseconds, or a duration ago (`2h`, `3d`, `90m`).
pub fn parse_instant(v: &str, now_ms: u64) -> Result<u64, String> {
    let v = v.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return u64::try_from(t.timestamp_millis()).map_err(|_| format!("{v:?} is before 1970"));
    }
    if let Ok(d) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        let t = d
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        return u64::try_from(t.timestamp_millis()).map_err(|_| format!("{v:?} is before 1970"));
    }
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse().map_err(|_| format!("{v:?}: number too large"));
    }
    if let Ok(ago) = humantime::parse_duration(v) {
        return Ok(now_ms.saturating_sub(u64::try_from(ago.as_millis()).unwrap_or(u64::MAX)));
    }
    Err(format!(
        "{v:?}: expected RFC 3339 (2026-12-06T10:00:00Z), a date (2026-12-06), unix \
         milliseconds, or a duration ago (2h, 3d)"
    ))
}

/// An RFC 3339 time for a table (milliseconds, UTC).
pub fn show(ms: u64) -> String {
    DateTime::from_timestamp_millis(ms as i64)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let now = 1_780_000_000_000;
        assert_eq!(
            parse_instant("2026-12-06T10:00:00Z", now).unwrap(),
            1_796_551_200_000
        );
        assert_eq!(parse_instant("2026-12-06", now).unwrap(), 1_796_515_200_000);
        assert_eq!(
            parse_instant("1700000000123", now).unwrap(),
            1_700_000_000_123
        );
        assert_eq!(parse_instant("2h", now).unwrap(), now - 7_200_000);
        assert!(parse_instant("yesterday", now).is_err());
        assert_eq!(show(1_796_551_200_000), "2026-12-06T10:00:00.000Z");
    }
}

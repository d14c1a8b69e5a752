//! Writes to providers: what the `/v2` write endpoints (`POST`/`DELETE` `/v2/activity`,
//! `/v2/body`, `/v2/nutrition`) ask a provider to do ([`WriteOp`]), what came of it
//! ([`WriteResult`]), and the helpers the providers' `write.rs` modules share to read
//! Terra objects sent by a customer (JSON as terra-python sends it: numbers may be
//! floats, unknown fields are ignored).
//!
//! A provider that cannot do an operation answers
//! `NormalizeError::Dropped { reason: "unsupported", .. }` (the `/v2` API: 501, naming
//! the provider and the operation); an object it cannot write answers
//! [`INVALID`] (400). Writes run in [`Lane::Write`](crate::Lane::Write): never retried
//! after a transient failure, so a provider that did create the object before failing
//! is not asked twice.

use chrono::{DateTime, FixedOffset};
use pulsegate_schema::Provider;
/// The request and its outcome: plain data in `pulsegate-schema`, shared with the `/v2`
/// front door.
pub use pulsegate_schema::{WriteOp, WriteResult};
use serde_json::Value;

use crate::NormalizeError;

/// `Dropped` reason of a request the provider cannot do: 501.
pub const UNSUPPORTED: &str = "unsupported";
/// `Dropped` reason of an object that cannot be written (missing or bad fields): 400.
pub const INVALID: &str = "invalid_request";
/// `Dropped` reason of a write that failed after some objects were written: 502, the
/// message lists the ids written.
pub const PARTIAL: &str = "partial_write";

/// The default answer: `provider` cannot do `op` through pulsegate.
pub fn unsupported(provider: Provider, op: &WriteOp, why: &str) -> NormalizeError {
    NormalizeError::dropped(
        UNSUPPORTED,
        format!(
            "{} {} data at {} is not supported by pulsegate{}",
            op.verb(),
            op.data_type().as_str(),
            provider.terra_name(),
            if why.is_empty() {
                String::new()
            } else {
                format!(": {why}")
            }
        ),
    )
}

/// An object (index `i` of the request's `data`) that cannot be written.
pub fn invalid(i: usize, why: impl std::fmt::Display) -> NormalizeError {
    NormalizeError::dropped(INVALID, format!("data[{i}]: {why}"))
}

/// A failure after `done` objects were written: those are not undone, so the caller
/// learns their ids (retrying the whole request would write them twice).
pub fn after_partial(e: NormalizeError, done: &[String]) -> NormalizeError {
    if done.is_empty() {
        return e;
    }
    let why = match e {
        NormalizeError::Dropped { detail, .. } => detail,
        other => other.to_string(),
    };
    NormalizeError::dropped(
        PARTIAL,
        format!(
            "{why}; written before the failure (log_ids, in order): [{}]",
            done.join(", ")
        ),
    )
}

/// `v[path...]`.
pub fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

/// A finite number at `path` (`8`, `8.0` and `"8"` alike).
pub fn number(v: &Value, path: &[&str]) -> Option<f64> {
    let n = match at(v, path)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }?;
    n.is_finite().then_some(n)
}

/// A non-empty string at `path`.
pub fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path)?
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// An ISO 8601 time with its offset (`2026-01-02T07:30:00+01:00`); one without an
/// offset is taken as UTC.
pub fn time(v: &Value, path: &[&str]) -> Option<DateTime<FixedOffset>> {
    let s = text(v, path)?;
    DateTime::parse_from_rfc3339(s).ok().or_else(|| {
        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()
            .map(|n| n.and_utc().fixed_offset())
    })
}

/// A number as a provider's form field: integers without a fraction, others with at
/// most 3 decimals.
pub fn num_field(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        let s = format!("{n:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_terra_objects_as_clients_send_them() {
        let v = json!({"metadata": {"type": 8.0, "name": " Run ", "start_time": "2026-01-02T07:30:00+01:00",
            "end_time": "2026-01-02T08:00:00"}, "x": {"n": "12.5"}});
        assert_eq!(number(&v, &["metadata", "type"]), Some(8.0));
        assert_eq!(number(&v, &["x", "n"]), Some(12.5));
        assert_eq!(number(&v, &["metadata", "missing"]), None);
        assert_eq!(text(&v, &["metadata", "name"]), Some("Run"));
        let t = time(&v, &["metadata", "start_time"]).unwrap();
        assert_eq!(t.offset().local_minus_utc(), 3600);
        let utc = time(&v, &["metadata", "end_time"]).unwrap();
        assert_eq!(utc.offset().local_minus_utc(), 0);
        assert_eq!(time(&v, &["metadata", "name"]), None);
    }

    #[test]
    fn numbers_as_form_fields() {
        assert_eq!(num_field(5000.0), "5000");
        assert_eq!(num_field(72.5), "72.5");
        assert_eq!(num_field(14.123456), "14.123");
        assert_eq!(num_field(0.1 + 0.2), "0.3");
    }

    #[test]
    fn partial_failures_name_what_was_written() {
        let e = NormalizeError::dropped("api_rejected", "Strava answered HTTP 400");
        let same = after_partial(e, &[]);
        assert!(matches!(
            same,
            NormalizeError::Dropped {
                reason: "api_rejected",
                ..
            }
        ));
        let e = NormalizeError::dropped("api_rejected", "Strava answered HTTP 400");
        let p = after_partial(e, &["1".into(), "2".into()]);
        assert!(matches!(
            p,
            NormalizeError::Dropped {
                reason: PARTIAL,
                ..
            }
        ));
        let NormalizeError::Dropped { detail, .. } = p else {
            unreachable!()
        };
        assert_eq!(
            detail,
            "Strava answered HTTP 400; written before the failure (log_ids, in order): [1, 2]"
        );
    }
}

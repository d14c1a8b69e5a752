//! Dexcom estimated glucose values (`GET /v3/users/self/egvs`) into Terra's `body`: one
//! object per UTC day with the day's readings as `glucose_data.blood_glucose_samples`
//! (mg/dL), their average, the share of readings in 70–180 mg/dL and their count.
//!
//! Records are read field by field from JSON: a record whose `value` is null (Dexcom
//! sends null for readings it could not compute), not a number, not positive, whose
//! `unit` is not `mg/dL` or `mmol/L`, or whose `systemTime` does not parse is skipped,
//! never an error. See docs/providers/dexcom.md.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use pulsegate_schema::terra::{Body, BodyMetadata, GlucoseData, GlucoseDataSample};
use serde_json::Value;

/// mg/dL per mmol/L of glucose (molar mass 180.16 g/mol).
pub const MG_PER_DL_PER_MMOL_PER_L: f64 = 18.0182;
/// The consensus target range for CGM time in range, inclusive, in mg/dL.
pub const RANGE_LOW_MG_PER_DL: f64 = 70.0;
pub const RANGE_HIGH_MG_PER_DL: f64 = 180.0;

/// One usable reading.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    /// `systemTime`: the device's clock, nominally UTC.
    pub at: DateTime<Utc>,
    pub mg_per_dl: f64,
    /// `recordId` (a UUID per record and client), for duplicates across calls.
    pub record_id: Option<String>,
}

/// The usable readings of an egvs answer (`{"recordType":"egv", "records":[…]}`).
/// Anything else (no `records`, not an array, odd records) yields what is usable.
pub fn readings(answer: &Value) -> Vec<Reading> {
    answer
        .get("records")
        .and_then(Value::as_array)
        .map(|records| records.iter().filter_map(reading).collect())
        .unwrap_or_default()
}

fn reading(record: &Value) -> Option<Reading> {
    let at = parse_time(record.get("systemTime")?.as_str()?)?;
    let value = record
        .get("value")?
        .as_f64()
        .filter(|v| v.is_finite() && *v > 0.0)?;
    let unit = record.get("unit")?.as_str()?;
    let mg_per_dl = if unit.eq_ignore_ascii_case("mg/dL") {
        value
    } else if unit.eq_ignore_ascii_case("mmol/L") {
        value * MG_PER_DL_PER_MMOL_PER_L
    } else {
        // "unknown" (or anything undocumented): no honest number.
        return None;
    };
    Some(Reading {
        at,
        mg_per_dl,
        record_id: record
            .get("recordId")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
    })
}

/// A Dexcom time: ISO 8601 with an offset (records from the mobile apps) or without one
/// (records from receivers, and the examples: then UTC, as `systemTime` is).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

/// `YYYY-MM-DDT00:00:00` of `day`: how Dexcom's `startDate`/`endDate` are written.
pub fn query_time(day: NaiveDate) -> String {
    format!("{}T00:00:00", crate::range::ymd(day))
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

fn one_decimal(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// One `Body` per UTC day of `[start, end)` that has readings, in day order. A record
/// seen twice (same `recordId`) counts once.
pub fn map_days(readings: &[Reading], start: NaiveDate, end: NaiveDate) -> Vec<Body> {
    let mut seen = HashSet::new();
    let mut by_day: BTreeMap<NaiveDate, Vec<&Reading>> = BTreeMap::new();
    for r in readings {
        if let Some(id) = &r.record_id {
            if !seen.insert(id.as_str()) {
                continue;
            }
        }
        let day = r.at.date_naive();
        if day >= start && day < end {
            by_day.entry(day).or_default().push(r);
        }
    }
    by_day
        .into_iter()
        .filter_map(|(day, mut rs)| {
            rs.sort_by_key(|r| r.at);
            map_day(day, &rs)
        })
        .collect()
}

/// The day's readings (UTC day `day`, in time order) as one `Body`; `None` without any.
pub fn map_day(day: NaiveDate, readings: &[&Reading]) -> Option<Body> {
    if readings.is_empty() {
        return None;
    }
    let n = readings.len() as f64;
    let mean = readings.iter().map(|r| r.mg_per_dl).sum::<f64>() / n;
    let in_range = readings
        .iter()
        .filter(|r| (RANGE_LOW_MG_PER_DL..=RANGE_HIGH_MG_PER_DL).contains(&r.mg_per_dl))
        .count() as f64;
    let start = crate::range::utc_midnight(day);
    let bound = |secs: i64| {
        DateTime::from_timestamp(secs, 0)
            .map(rfc3339)
            .unwrap_or_default()
    };
    Some(Body {
        metadata: BodyMetadata {
            start_time: bound(start),
            end_time: bound(start + 86_400),
            timestamp_localization: Some(0),
        },
        glucose_data: Some(GlucoseData {
            blood_glucose_samples: readings
                .iter()
                .map(|r| GlucoseDataSample {
                    timestamp: Some(rfc3339(r.at)),
                    blood_glucose_mg_per_dl: Some(r.mg_per_dl.round() as i64),
                    ..GlucoseDataSample::default()
                })
                .collect(),
            day_avg_blood_glucose_mg_per_dl: Some(one_decimal(mean)),
            // Percent of the day's readings within 70–180 mg/dL.
            time_in_range: Some(one_decimal(100.0 * in_range / n)),
            sensor_usage: Some(readings.len() as i64),
            ..GlucoseData::default()
        }),
        ..Body::default()
    })
}

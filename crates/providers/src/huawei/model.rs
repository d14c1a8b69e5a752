//! The parts of Huawei Health Kit's REST responses pulsegate reads: activity records
//! (`GET /healthkit/v2/activityRecords`), health records (`GET /healthkit/v2/healthRecords`)
//! and sampling statistics (`POST /healthkit/v2/sampleSet:polymerize`). Values are typed
//! per field (`{"fieldName", "integerValue"|"longValue"|"floatValue"|"stringValue"}`);
//! numbers that arrive as strings are accepted; unknown fields are ignored.

use chrono::{DateTime, FixedOffset, SecondsFormat};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && f.abs() < 9.0e18)
                .map(|f| f as i64)
        }),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_f64().filter(|f| f.is_finite()),
        Some(Value::String(s)) => s.trim().parse().ok().filter(|f: &f64| f.is_finite()),
        _ => None,
    })
}

fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// One typed field value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FieldValue {
    pub field_name: String,
    #[serde(deserialize_with = "opt_i64")]
    pub integer_value: Option<i64>,
    #[serde(deserialize_with = "opt_i64")]
    pub long_value: Option<i64>,
    #[serde(deserialize_with = "opt_f64")]
    pub float_value: Option<f64>,
    #[serde(deserialize_with = "opt_string")]
    pub string_value: Option<String>,
}

impl FieldValue {
    pub fn number(&self) -> Option<f64> {
        self.float_value
            .or(self.integer_value.map(|v| v as f64))
            .or(self.long_value.map(|v| v as f64))
    }
}

/// A sampling point (and the statistics entries of an activity summary).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SamplePoint {
    /// Nanoseconds.
    #[serde(deserialize_with = "opt_i64")]
    pub start_time: Option<i64>,
    /// Nanoseconds.
    #[serde(deserialize_with = "opt_i64")]
    pub end_time: Option<i64>,
    pub data_type_name: String,
    pub value: Vec<FieldValue>,
}

impl SamplePoint {
    pub fn field(&self, name: &str) -> Option<f64> {
        self.value
            .iter()
            .find(|v| v.field_name == name)
            .and_then(FieldValue::number)
    }
}

/// The value of `field` in the first point of `data_type`.
pub fn find_field(points: &[SamplePoint], data_type: &str, field: &str) -> Option<f64> {
    points
        .iter()
        .filter(|p| p.data_type_name == data_type)
        .find_map(|p| p.field(field))
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AppInfo {
    pub app_name: Option<String>,
    pub package_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ActivitySummary {
    pub data_summary: Vec<SamplePoint>,
}

/// An activity (workout) record.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ActivityRecord {
    #[serde(deserialize_with = "opt_string")]
    pub id: Option<String>,
    pub name: Option<String>,
    pub desc: Option<String>,
    /// Milliseconds.
    #[serde(deserialize_with = "opt_i64")]
    pub start_time: Option<i64>,
    /// Milliseconds.
    #[serde(deserialize_with = "opt_i64")]
    pub end_time: Option<i64>,
    /// `+0800`.
    pub time_zone: Option<String>,
    #[serde(deserialize_with = "opt_i64")]
    pub activity_type: Option<i64>,
    /// Milliseconds of activity.
    #[serde(deserialize_with = "opt_i64")]
    pub active_time: Option<i64>,
    pub activity_summary: Option<ActivitySummary>,
    pub app_info: Option<AppInfo>,
}

/// `GET /healthkit/v2/activityRecords`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ActivityRecords {
    pub activity_record: Vec<ActivityRecord>,
    /// Records deleted in the range: objects with an `id` (or bare ids).
    pub deleted_activity_record: Vec<Value>,
    pub has_more_data: bool,
    #[serde(deserialize_with = "opt_string")]
    pub cursor: Option<String>,
}

impl ActivityRecords {
    /// The ids of the deleted records.
    pub fn deleted_ids(&self) -> Vec<String> {
        self.deleted_activity_record
            .iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Object(o) => match o.get("id") {
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(Value::Number(n)) => Some(n.to_string()),
                    _ => None,
                },
                _ => None,
            })
            .filter(|s| !s.is_empty())
            .collect()
    }
}

/// A health record (sleep, …).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HealthRecord {
    #[serde(deserialize_with = "opt_string")]
    pub id: Option<String>,
    /// Nanoseconds.
    #[serde(deserialize_with = "opt_i64")]
    pub start_time: Option<i64>,
    /// Nanoseconds.
    #[serde(deserialize_with = "opt_i64")]
    pub end_time: Option<i64>,
    pub data_type_name: String,
    pub time_zone: Option<String>,
    pub value: Vec<FieldValue>,
    /// Detail sampling data (sleep fragments); its exact nesting is not documented, so
    /// it is searched for points of a given type.
    pub sub_data: Value,
}

impl HealthRecord {
    pub fn field(&self, name: &str) -> Option<f64> {
        self.value
            .iter()
            .find(|v| v.field_name == name)
            .and_then(FieldValue::number)
    }

    /// Every sampling point of `data_type` anywhere under `subData`.
    pub fn sub_points(&self, data_type: &str) -> Vec<SamplePoint> {
        fn walk(v: &Value, data_type: &str, out: &mut Vec<SamplePoint>, depth: usize) {
            if depth > 8 {
                return;
            }
            match v {
                Value::Object(o) => {
                    if o.get("dataTypeName").and_then(Value::as_str) == Some(data_type)
                        && o.contains_key("value")
                    {
                        if let Ok(p) = serde_json::from_value::<SamplePoint>(v.clone()) {
                            out.push(p);
                            return;
                        }
                    }
                    for child in o.values() {
                        walk(child, data_type, out, depth + 1);
                    }
                }
                Value::Array(items) => {
                    for child in items {
                        walk(child, data_type, out, depth + 1);
                    }
                }
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(&self.sub_data, data_type, &mut out, 0);
        out.sort_by_key(|p| p.start_time);
        out
    }
}

/// `GET /healthkit/v2/healthRecords`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HealthRecords {
    pub health_records: Vec<HealthRecord>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SampleSet {
    pub data_collector_id: Option<String>,
    pub sample_points: Vec<SamplePoint>,
}

/// One time bucket of a polymerize answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Group {
    /// Milliseconds.
    #[serde(deserialize_with = "opt_i64")]
    pub start_time: Option<i64>,
    /// Milliseconds.
    #[serde(deserialize_with = "opt_i64")]
    pub end_time: Option<i64>,
    pub sample_set: Vec<SampleSet>,
}

/// `POST /healthkit/v2/sampleSet:polymerize`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Polymerized {
    pub group: Vec<Group>,
}

/// `+0800`, `+08:00`, `-0530`, `UTC+8`, `GMT+08:00` → offset. Anything else → `None`.
pub fn parse_offset(tz: &str) -> Option<FixedOffset> {
    let tz = tz.trim();
    let tz = tz
        .strip_prefix("UTC")
        .or_else(|| tz.strip_prefix("GMT"))
        .unwrap_or(tz);
    if tz.is_empty() || tz == "Z" {
        return FixedOffset::east_opt(0);
    }
    let sign = match tz.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let rest = tz.get(1..)?.replace(':', "");
    if rest.is_empty() || rest.len() > 4 || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (i32, i32) = match rest.len() {
        1 | 2 => (rest.parse().ok()?, 0),
        3 => (rest[..1].parse().ok()?, rest[1..].parse().ok()?),
        _ => (rest[..2].parse().ok()?, rest[2..].parse().ok()?),
    };
    if h > 14 || m >= 60 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

pub fn utc() -> FixedOffset {
    FixedOffset::east_opt(0).expect("UTC")
}

/// ms since the epoch → ISO-8601 with the offset, ms precision.
pub fn format_ms(ms: i64, offset: FixedOffset) -> Option<String> {
    let t = DateTime::from_timestamp_millis(ms)?;
    Some(
        t.with_timezone(&offset)
            .to_rfc3339_opts(SecondsFormat::Millis, false),
    )
}

/// ns since the epoch → ms.
pub fn ns_to_ms(ns: i64) -> i64 {
    ns.div_euclid(1_000_000)
}

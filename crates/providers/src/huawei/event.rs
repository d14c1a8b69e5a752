//! Huawei's subscription notification (`openId`, `eventType`, `eventTime`, `metaData`)
//! and what it asks for. See docs/providers/huawei.md.

use std::collections::BTreeMap;

use pulsegate_schema::stable_id;
use serde_json::Value;

/// The longest range Huawei's query APIs accept (31 days), in ms.
pub const MAX_RANGE_MS: i64 = 31 * 24 * 3600 * 1000;
/// The range fetched when `metaData` carries no time range: the day before `eventTime`.
pub const FALLBACK_RANGE_MS: i64 = 24 * 3600 * 1000;

/// One notification, as pulsegate reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HuaweiEvent {
    pub open_id: String,
    /// `type$subType` or `type$subType$dataTypeName`.
    pub event_type: String,
    /// As received (the digits that were signed).
    pub event_time: String,
    /// `metaData`, flattened to text values (`startTime`, `endTime`, `activityType`,
    /// `timeZone`, …).
    pub meta: BTreeMap<String, String>,
}

/// What a notification announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `USER_EVENT$REVOKE_ALL`: the user withdrew the app's authorization.
    RevokeAll,
    /// `USER_EVENT$DELETE_USER`: the user deleted their account.
    DeleteUser,
    /// `USER_EVENT$REFRESH_TOKEN_INVALID`.
    RefreshTokenInvalid,
    /// `ACTIVITY_RECORD_EVENT$UPDATE`.
    ActivityUpdate,
    /// `ACTIVITY_RECORD_EVENT$DELETE`.
    ActivityDelete,
    /// `SAMPLESET_EVENT$UPDATE|DELETE$<dataType>`.
    SampleSet {
        update: bool,
        data_type: String,
    },
    /// `HEALTH_RECORD_EVENT$UPDATE|DELETE$<dataType>`.
    HealthRecord {
        update: bool,
        data_type: String,
    },
    Other,
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `metaData` as an object of values, a list of `{metaKey|key, metaValue|value}`, or
/// either of those encoded as a JSON string (the exact shape is not documented).
fn flatten_meta(v: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    match v {
        Value::Object(o) => {
            for (k, v) in o {
                if let Some(t) = text(v) {
                    out.insert(k.clone(), t);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                let key = item.get("metaKey").or_else(|| item.get("key"));
                let val = item.get("metaValue").or_else(|| item.get("value"));
                if let (Some(Value::String(k)), Some(v)) = (key, val) {
                    if let Some(t) = text(v) {
                        out.insert(k.clone(), t);
                    }
                }
            }
        }
        Value::String(s) => {
            if let Ok(inner @ (Value::Object(_) | Value::Array(_))) = serde_json::from_str(s) {
                return flatten_meta(&inner);
            }
        }
        _ => {}
    }
    out
}

impl HuaweiEvent {
    /// Parses a notification body. `None` unless `openId`, `eventType` and `eventTime`
    /// are there (ingest checked the signature over them).
    pub fn parse(body: &[u8]) -> Option<Self> {
        let v: Value = serde_json::from_slice(body).ok()?;
        let o = v.as_object()?;
        let open_id = o.get("openId")?.as_str()?.to_string();
        let event_type = o.get("eventType")?.as_str()?.to_string();
        let event_time = match o.get("eventTime")? {
            Value::Number(n) => n.as_u64()?.to_string(),
            Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.clone(),
            _ => return None,
        };
        if open_id.is_empty() || event_type.is_empty() {
            return None;
        }
        let meta = o.get("metaData").map(flatten_meta).unwrap_or_default();
        Some(Self {
            open_id,
            event_type,
            event_time,
            meta,
        })
    }

    /// Deterministic id of the change: the signed triple.
    pub fn key(&self) -> String {
        stable_id(&["huawei", &self.open_id, &self.event_type, &self.event_time])
    }

    pub fn kind(&self) -> Kind {
        let mut parts = self.event_type.splitn(3, '$');
        let (category, sub, data_type) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        let data = |update: bool| (update, data_type.to_string());
        match (category, sub) {
            ("USER_EVENT", "REVOKE_ALL") => Kind::RevokeAll,
            ("USER_EVENT", "DELETE_USER") => Kind::DeleteUser,
            ("USER_EVENT", "REFRESH_TOKEN_INVALID") => Kind::RefreshTokenInvalid,
            ("ACTIVITY_RECORD_EVENT", "UPDATE") => Kind::ActivityUpdate,
            ("ACTIVITY_RECORD_EVENT", "DELETE") => Kind::ActivityDelete,
            ("SAMPLESET_EVENT", "UPDATE" | "DELETE") if !data_type.is_empty() => {
                let (update, data_type) = data(sub == "UPDATE");
                Kind::SampleSet { update, data_type }
            }
            ("HEALTH_RECORD_EVENT", "UPDATE" | "DELETE") if !data_type.is_empty() => {
                let (update, data_type) = data(sub == "UPDATE");
                Kind::HealthRecord { update, data_type }
            }
            _ => Kind::Other,
        }
    }

    /// True for the notifications that end the connection.
    pub fn is_revocation(&self) -> bool {
        matches!(self.kind(), Kind::RevokeAll | Kind::DeleteUser)
    }

    /// `eventTime` in ms (≥ 10^11 = ms, below = s, as ingest reads it).
    pub fn event_time_ms(&self) -> Option<i64> {
        self.event_time.parse::<i64>().ok().map(to_ms)
    }

    /// The `metaData` time zone (`+0800`), if any.
    pub fn time_zone(&self) -> Option<&str> {
        self.meta.get("timeZone").map(String::as_str)
    }

    /// The changed time range in ms: `metaData` `startTime`/`endTime` (read as s, ms or
    /// ns by magnitude), else the day before `eventTime`; at most the last 31 days of
    /// it (the most Huawei's query APIs accept). `None` if there is nothing to go on.
    pub fn range_ms(&self) -> Option<(i64, i64)> {
        let meta = |k: &str| self.meta.get(k).and_then(|v| v.trim().parse::<i64>().ok());
        let (start, end) = match (meta("startTime"), meta("endTime")) {
            (Some(s), Some(e)) => (to_ms(s), to_ms(e)),
            (Some(s), None) => (to_ms(s), to_ms(s)),
            _ => {
                let t = self.event_time_ms()?;
                (t.saturating_sub(FALLBACK_RANGE_MS), t)
            }
        };
        if start < 0 || end < start {
            return None;
        }
        Some((start.max(end - MAX_RANGE_MS), end))
    }
}

/// A timestamp in s, ms or ns (by magnitude) → ms.
pub fn to_ms(v: i64) -> i64 {
    if v >= 100_000_000_000_000_000 || v <= -100_000_000_000_000_000 {
        v / 1_000_000
    } else if v.abs() >= 100_000_000_000 {
        v
    } else {
        v.saturating_mul(1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"{"subscriberId":"sub-1","openId":"MDFAMTAx","eventType":"ACTIVITY_RECORD_EVENT$UPDATE","eventTime":1592911122916,"metaData":{"startTime":"1592905552721","endTime":1592906207222,"activityType":"5","timeZone":"+0800"}}"#;

    #[test]
    fn parses_a_notification() {
        let ev = HuaweiEvent::parse(BODY.as_bytes()).unwrap();
        assert_eq!(ev.open_id, "MDFAMTAx");
        assert_eq!(ev.kind(), Kind::ActivityUpdate);
        assert_eq!(ev.range_ms(), Some((1592905552721, 1592906207222)));
        assert_eq!(ev.time_zone(), Some("+0800"));
        assert_eq!(
            ev.key(),
            stable_id(&[
                "huawei",
                "MDFAMTAx",
                "ACTIVITY_RECORD_EVENT$UPDATE",
                "1592911122916"
            ])
        );
        // Same signed triple, other metaData and field order: same key.
        let again = HuaweiEvent::parse(
            br#"{"eventTime":"1592911122916","eventType":"ACTIVITY_RECORD_EVENT$UPDATE","openId":"MDFAMTAx"}"#,
        )
        .unwrap();
        assert_eq!(again.key(), ev.key());
        // No metaData range: the day before eventTime.
        assert_eq!(
            again.range_ms(),
            Some((1592911122916 - FALLBACK_RANGE_MS, 1592911122916))
        );
    }

    #[test]
    fn meta_data_shapes_and_units() {
        let list = HuaweiEvent::parse(
            br#"{"openId":"u","eventType":"X$Y","eventTime":1,"metaData":[{"metaKey":"startTime","metaValue":1592905552},{"key":"endTime","value":"1592906207"}]}"#,
        )
        .unwrap();
        assert_eq!(list.range_ms(), Some((1592905552000, 1592906207000)));
        let nested = HuaweiEvent::parse(
            br#"{"openId":"u","eventType":"X$Y","eventTime":1,"metaData":"{\"startTime\":1592905552721000000,\"endTime\":1592906207222000000}"}"#,
        )
        .unwrap();
        assert_eq!(nested.range_ms(), Some((1592905552721, 1592906207222)));
        let huge = HuaweiEvent::parse(
            br#"{"openId":"u","eventType":"X$Y","eventTime":1,"metaData":{"startTime":0,"endTime":1592906207222}}"#,
        )
        .unwrap();
        assert_eq!(
            huge.range_ms(),
            Some((1592906207222 - MAX_RANGE_MS, 1592906207222))
        );
        let backwards = HuaweiEvent::parse(
            br#"{"openId":"u","eventType":"X$Y","eventTime":1,"metaData":{"startTime":1592906207222,"endTime":1592905552721}}"#,
        )
        .unwrap();
        assert_eq!(backwards.range_ms(), None);
    }

    #[test]
    fn kinds() {
        let kind = |t: &str| {
            HuaweiEvent::parse(
                format!(r#"{{"openId":"u","eventType":"{t}","eventTime":1}}"#).as_bytes(),
            )
            .unwrap()
            .kind()
        };
        assert_eq!(kind("USER_EVENT$REVOKE_ALL"), Kind::RevokeAll);
        assert_eq!(kind("USER_EVENT$DELETE_USER"), Kind::DeleteUser);
        assert_eq!(
            kind("USER_EVENT$REFRESH_TOKEN_INVALID"),
            Kind::RefreshTokenInvalid
        );
        assert_eq!(kind("ACTIVITY_RECORD_EVENT$DELETE"), Kind::ActivityDelete);
        assert_eq!(
            kind("SAMPLESET_EVENT$UPDATE$com.huawei.continuous.steps.delta"),
            Kind::SampleSet {
                update: true,
                data_type: "com.huawei.continuous.steps.delta".into()
            }
        );
        assert_eq!(
            kind("HEALTH_RECORD_EVENT$DELETE$com.huawei.health.record.sleep"),
            Kind::HealthRecord {
                update: false,
                data_type: "com.huawei.health.record.sleep".into()
            }
        );
        assert_eq!(kind("SAMPLESET_EVENT$UPDATE"), Kind::Other);
        assert_eq!(kind("SCENARIO_GOAL_EVENT$ACHIEVE"), Kind::Other);
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            if let Some(ev) = HuaweiEvent::parse(&bytes) {
                let _ = (ev.kind(), ev.key(), ev.range_ms(), ev.event_time_ms());
            }
        }

        #[test]
        fn arbitrary_meta_never_panics(start in proptest::num::i64::ANY, end in proptest::num::i64::ANY, t in proptest::num::u64::ANY) {
            let body = format!(r#"{{"openId":"u","eventType":"SAMPLESET_EVENT$UPDATE$x","eventTime":{t},"metaData":{{"startTime":{start},"endTime":{end}}}}}"#);
            let ev = HuaweiEvent::parse(body.as_bytes()).unwrap();
            if let Some((s, e)) = ev.range_ms() {
                proptest::prop_assert!(s <= e && e - s <= MAX_RANGE_MS);
            }
        }
    }
}

//! What a poll fetches and what it sends: pure functions of the cursor, the day and
//! the objects the provider answered.
//!
//! The providers' range fetches work on UTC days `[start, end)`, and a day's data grows
//! while the day lasts (and a little after: late syncs). So a cursor says
//!
//! * `done_before`: days before it are delivered and closed, never fetched again;
//! * per open day (from `done_before` through today), the content hashes of the objects
//!   of that day already delivered.
//!
//! Each poll fetches `[done_before, today]` (a new cursor: `lookback_days` before
//! today), in the provider's windows, never further back than the provider keeps. Of
//! each day's objects only those whose hash was not delivered yet (new objects, or
//! objects that changed) are sent, as one data payload per day; the event id derives
//! from the user, provider, type, day and those hashes, so a poll repeated after a
//! crash (events appended, cursor not committed) sends the same ids again. Days older
//! than `open_days` before today are closed once fetched.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Days, NaiveDate};
use pulsegate_schema::stable_id;
use serde_json::Value;

/// `YYYY-MM-DD`.
pub fn ymd(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

pub fn parse_ymd(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

fn minus(d: NaiveDate, days: u32) -> NaiveDate {
    d.checked_sub_days(Days::new(u64::from(days))).unwrap_or(d)
}

/// The UTC days `[start, end)` a poll fetches on `today`: from the cursor's first open
/// day (`done_before`; `None`: a new cursor, `lookback_days` before today) through
/// today, but not before the provider's `history_days`.
pub fn fetch_range(
    done_before: Option<NaiveDate>,
    today: NaiveDate,
    lookback_days: u32,
    history_days: Option<u32>,
) -> (NaiveDate, NaiveDate) {
    let mut start = done_before
        .unwrap_or_else(|| minus(today, lookback_days))
        .min(today);
    if let Some(h) = history_days {
        start = start.max(minus(today, h));
    }
    let end = today.succ_opt().unwrap_or(today);
    (start, end)
}

/// `[start, end)` cut into consecutive windows of at most `days` days.
pub fn windows(start: NaiveDate, end: NaiveDate, days: u32) -> Vec<(NaiveDate, NaiveDate)> {
    let mut out = Vec::new();
    let mut s = start;
    while s < end {
        let e = s
            .checked_add_days(Days::new(u64::from(days.max(1))))
            .map_or(end, |e| e.min(end));
        out.push((s, e));
        s = e;
    }
    out
}

/// The day an object belongs to: the date its `metadata.start_time` is written with
/// (else `end_time`), as the provider wrote it.
fn day_of(object: &Value) -> Option<NaiveDate> {
    let metadata = object.get("metadata")?;
    ["start_time", "end_time"]
        .iter()
        .filter_map(|k| metadata.get(*k)?.as_str())
        .find_map(|t| parse_ymd(t.get(..10)?))
}

/// The objects of a window `[start, end)` by day; an object dated outside the window
/// (or not at all) belongs to its nearest day inside (the provider returned it for this
/// window). Every day of the window is present.
pub fn by_day(
    objects: Vec<Value>,
    start: NaiveDate,
    end: NaiveDate,
) -> BTreeMap<NaiveDate, Vec<Value>> {
    let last = end.pred_opt().unwrap_or(start).max(start);
    let mut out: BTreeMap<NaiveDate, Vec<Value>> = windows(start, end, 1)
        .into_iter()
        .map(|(d, _)| (d, Vec::new()))
        .collect();
    for o in objects {
        let day = day_of(&o).unwrap_or(start).clamp(start, last);
        out.entry(day).or_default().push(o);
    }
    out
}

/// A content hash of one object, independent of its keys' order.
pub fn object_hash(object: &Value) -> String {
    let mut canonical = String::new();
    write_canonical(object, &mut canonical);
    stable_id(&["poll-object", &canonical])
}

/// JSON with every object's keys sorted. (`serde_json`'s map already iterates sorted
/// unless its `preserve_order` feature is on somewhere in the build; then this holds.)
fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Objects of one day to send, with their hashes (sorted).
#[derive(Debug)]
pub struct DaySend {
    pub day: NaiveDate,
    pub hashes: Vec<String>,
    pub objects: Vec<Value>,
}

/// A cursor's position in dates (see the module comment).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    pub done_before: NaiveDate,
    pub open: BTreeMap<NaiveDate, BTreeSet<String>>,
}

impl Progress {
    /// A new cursor at `start`.
    pub fn new(start: NaiveDate) -> Self {
        Self {
            done_before: start,
            open: BTreeMap::new(),
        }
    }

    /// One fetched window: the objects to send (per day, in day order), and `self`
    /// moved to where it is once they are delivered. Days before `close_before` are
    /// closed.
    pub fn apply(
        &mut self,
        days: BTreeMap<NaiveDate, Vec<Value>>,
        window_end: NaiveDate,
        close_before: NaiveDate,
    ) -> Vec<DaySend> {
        let mut out = Vec::new();
        for (day, objects) in days {
            if day < self.done_before {
                continue;
            }
            if objects.is_empty() {
                // No answer for a day is no news: what was delivered stays delivered.
                continue;
            }
            let hashes: Vec<String> = objects.iter().map(object_hash).collect();
            let delivered = self.open.get(&day);
            let mut send: Vec<(String, Value)> = hashes
                .iter()
                .zip(objects)
                .filter(|(h, _)| !delivered.is_some_and(|d| d.contains(*h)))
                .map(|(h, o)| (h.clone(), o))
                .collect();
            // The day's current objects are what is delivered now (a changed object's
            // old hash goes).
            self.open.insert(day, hashes.into_iter().collect());
            if send.is_empty() {
                continue;
            }
            send.sort_by(|a, b| a.0.cmp(&b.0));
            send.dedup_by(|a, b| a.0 == b.0);
            let (hashes, objects) = send.into_iter().unzip();
            out.push(DaySend {
                day,
                hashes,
                objects,
            });
        }
        self.done_before = self.done_before.max(window_end.min(close_before));
        let keep_from = self.done_before;
        self.open.retain(|d, _| *d >= keep_from);
        out
    }
}

/// The day before which days are closed on `today`.
pub fn close_before(today: NaiveDate, open_days: u32) -> NaiveDate {
    minus(today, open_days)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(s: &str) -> NaiveDate {
        parse_ymd(s).unwrap()
    }

    fn obj(day: &str, v: u32) -> Value {
        json!({"metadata": {"start_time": format!("{day}T08:00:00.000000+09:00"), "end_time": format!("{day}T09:00:00+09:00")}, "v": v})
    }

    #[test]
    fn ranges_from_the_cursor_or_the_lookback_within_history() {
        let today = d("2024-03-10");
        assert_eq!(
            fetch_range(None, today, 1, None),
            (d("2024-03-09"), d("2024-03-11"))
        );
        assert_eq!(
            fetch_range(Some(d("2024-03-06")), today, 1, None),
            (d("2024-03-06"), d("2024-03-11"))
        );
        // The provider keeps two days: no further back.
        assert_eq!(
            fetch_range(Some(d("2024-03-01")), today, 1, Some(2)),
            (d("2024-03-08"), d("2024-03-11"))
        );
        // A cursor ahead of the clock: today only.
        assert_eq!(
            fetch_range(Some(d("2024-03-12")), today, 1, None),
            (today, d("2024-03-11"))
        );
    }

    #[test]
    fn objects_are_filed_under_their_written_day_within_the_window() {
        let days = by_day(
            vec![
                obj("2024-03-09", 1),
                obj("2024-03-01", 2),
                json!({"x": 1}),
                obj("2024-03-10", 3),
            ],
            d("2024-03-09"),
            d("2024-03-11"),
        );
        assert_eq!(days.len(), 2);
        assert_eq!(
            days[&d("2024-03-09")].len(),
            3,
            "its own, the older one, the undated one"
        );
        assert_eq!(days[&d("2024-03-10")].len(), 1);
    }

    #[test]
    fn hashes_ignore_key_order() {
        let a: Value =
            serde_json::from_str(r#"{"a": 1, "b": {"c": [1, {"d": 2, "e": 3}]}}"#).unwrap();
        let b: Value =
            serde_json::from_str(r#"{"b": {"c": [1, {"e": 3, "d": 2}]}, "a": 1}"#).unwrap();
        assert_eq!(object_hash(&a), object_hash(&b));
        assert_ne!(object_hash(&a), object_hash(&json!({"a": 2})));
    }

    #[test]
    fn only_new_or_changed_objects_are_sent_and_old_days_close() {
        let (d9, d10, d11) = (d("2024-03-09"), d("2024-03-10"), d("2024-03-11"));
        let mut p = Progress::new(d9);
        let sent = p.apply(
            by_day(vec![obj("2024-03-09", 1), obj("2024-03-10", 2)], d9, d11),
            d11,
            close_before(d10, 1),
        );
        assert_eq!(sent.len(), 2);
        assert_eq!(p.done_before, d9, "yesterday stays open");
        // The same answer: nothing to send.
        let mut again = p.clone();
        assert!(again
            .apply(
                by_day(vec![obj("2024-03-10", 2), obj("2024-03-09", 1)], d9, d11),
                d11,
                d9
            )
            .is_empty());
        assert_eq!(again, p);
        // A new object today: only it is sent.
        let sent = p.apply(
            by_day(
                vec![
                    obj("2024-03-09", 1),
                    obj("2024-03-10", 2),
                    obj("2024-03-10", 3),
                ],
                d9,
                d11,
            ),
            d11,
            d9,
        );
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].day, d10);
        assert_eq!(sent[0].objects, vec![obj("2024-03-10", 3)]);
        // A day later the 9th closes; its hashes go.
        let d12 = d("2024-03-12");
        let sent = p.apply(by_day(vec![obj("2024-03-10", 2)], d9, d12), d12, d10);
        assert!(sent.is_empty());
        assert_eq!(p.done_before, d10);
        assert!(!p.open.contains_key(&d9));
        // Object 3 is gone from the 10th: only what the day holds now is remembered.
        assert_eq!(p.open[&d10].len(), 1);
        // An empty answer for a day keeps what was delivered.
        p.apply(by_day(vec![], d10, d12), d12, d10);
        assert_eq!(p.open[&d10].len(), 1);
    }

    #[test]
    fn windows_cover_the_range() {
        let w = windows(d("2024-03-06"), d("2024-03-11"), 2);
        assert_eq!(
            w,
            vec![
                (d("2024-03-06"), d("2024-03-08")),
                (d("2024-03-08"), d("2024-03-10")),
                (d("2024-03-10"), d("2024-03-11")),
            ]
        );
        assert!(windows(d("2024-03-06"), d("2024-03-06"), 2).is_empty());
    }
}

//! Planning a notification: which Terra kinds on which local days a batch of Google
//! Health pointers asks to rebuild (the half of the normalizer that makes no API call).

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Utc};
use pulsegate_schema::EventType;

use super::range;
use super::types::{Notification, NotificationData, NotificationInterval};

/// Which Terra data a notified Google data type changes (`None`: not mapped). Types
/// are matched in kebab case (`daily-resting-heart-rate`); snake and upper case are
/// accepted too, since Google documents kebab case for one type only.
pub fn kinds_of(data_type: &str) -> &'static [EventType] {
    use EventType::*;
    let t = data_type.trim().to_ascii_lowercase().replace('_', "-");
    match t.as_str() {
        "steps"
        | "distance"
        | "floors"
        | "altitude"
        | "total-calories"
        | "active-energy-burned"
        | "active-minutes"
        | "active-zone-minutes"
        | "activity-level"
        | "sedentary-period"
        | "heart-rate"
        | "time-in-heart-rate-zone"
        | "calories-in-heart-rate-zone"
        | "daily-resting-heart-rate"
        | "daily-heart-rate-zones"
        | "daily-vo2-max"
        | "vo2-max"
        | "run-vo2-max" => &[Daily],
        // Daily summaries the night's main sleep carries too.
        "daily-heart-rate-variability" | "daily-oxygen-saturation" => &[Daily, Sleep],
        "sleep"
        | "daily-respiratory-rate"
        | "respiratory-rate-sleep-summary"
        | "daily-sleep-temperature-derivations" => &[Sleep],
        "weight" | "body-fat" | "height" | "heart-rate-variability" | "oxygen-saturation" => {
            &[Body]
        }
        "exercise" => &[Activity],
        _ => &[],
    }
}

/// One rebuild: a kind of Terra data for one local day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Work {
    pub kind: Kind,
    pub day: NaiveDate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Kind {
    Daily,
    Sleep,
    Body,
    Activity,
}

impl Kind {
    fn of(t: EventType) -> Option<Kind> {
        Some(match t {
            EventType::Daily => Kind::Daily,
            EventType::Sleep => Kind::Sleep,
            EventType::Body => Kind::Body,
            EventType::Activity => Kind::Activity,
            _ => return None,
        })
    }

    pub fn event_type(self) -> EventType {
        match self {
            Kind::Daily => EventType::Daily,
            Kind::Sleep => EventType::Sleep,
            Kind::Body => EventType::Body,
            Kind::Activity => EventType::Activity,
        }
    }
}

/// A notified interval in local civil time, with the offset it implies.
#[derive(Clone, Copy, Debug)]
struct Span {
    start: NaiveDateTime,
    end: NaiveDateTime,
    physical: Option<(DateTime<Utc>, DateTime<Utc>)>,
    offset: Option<FixedOffset>,
}

impl Span {
    /// The local days the span touches (an end at exactly midnight is exclusive).
    fn days(&self) -> Vec<NaiveDate> {
        let first = self.start.date();
        let last = if self.end > self.start {
            (self.end - chrono::Duration::nanoseconds(1)).date()
        } else {
            first
        };
        range::days(first, range::next_day(last.max(first))).collect()
    }
}

fn naive(s: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%dT%H:%M:%S%.f").ok()
}

fn utc(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The spans of a notification: civil times from `civilIso8601TimeInterval` (in
/// `intervals[]` or under `data`), else `civilDateTimeInterval` dates, else the
/// physical interval shown in UTC.
fn spans(d: &NotificationData) -> Vec<Span> {
    let mut out = Vec::new();
    let top = d.civil_iso8601_time_interval.as_ref();
    let fallback = NotificationInterval {
        civil_iso8601_time_interval: top.cloned(),
        ..Default::default()
    };
    let items: Vec<&NotificationInterval> = if d.intervals.is_empty() {
        vec![&fallback]
    } else {
        d.intervals.iter().collect()
    };
    for i in items {
        let physical = i
            .physical_time_interval
            .as_ref()
            .and_then(|p| Some((utc(p.start_time.as_deref()?)?, utc(p.end_time.as_deref()?)?)));
        let iso = i.civil_iso8601_time_interval.as_ref().or(top);
        let civil = iso
            .and_then(|c| {
                Some((
                    naive(c.start_time.as_deref()?)?,
                    naive(c.end_time.as_deref()?)?,
                ))
            })
            .or_else(|| {
                let c = i.civil_date_time_interval.as_ref()?;
                let s = c.start_date_time.as_ref()?.date?.date()?;
                let e = c.end_date_time.as_ref()?.date?.date()?;
                Some((s.and_hms_opt(0, 0, 0)?, e.and_hms_opt(0, 0, 0)?))
            });
        let Some((start, end)) =
            civil.or_else(|| physical.map(|(s, e)| (s.naive_utc(), e.naive_utc())))
        else {
            continue;
        };
        // The offset in force: civil minus physical (whole minutes, ±14 h).
        let offset = match (iso, physical) {
            (Some(_), Some((ps, _))) => {
                let secs = (start - ps.naive_utc()).num_seconds();
                (secs.abs() <= 14 * 3600 && secs % 60 == 0)
                    .then(|| FixedOffset::east_opt(secs as i32))
                    .flatten()
            }
            _ => None,
        };
        out.push(Span {
            start,
            end: end.max(start),
            physical,
            offset,
        });
    }
    out
}

/// What a notification asks for.
#[derive(Default)]
pub(super) struct Plan {
    pub works: BTreeMap<Work, Option<FixedOffset>>,
    /// Physical intervals of notified exercise changes (to pick the sessions).
    pub exercise: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    pub unsupported: Vec<String>,
    pub deletes_dropped: usize,
    /// Entries without a usable interval.
    pub no_interval: usize,
}

pub(super) fn plan(entries: &[Notification], max_days: u32) -> Plan {
    let mut p = Plan::default();
    for e in entries {
        let d = &e.data;
        let kinds: Vec<Kind> = kinds_of(&d.data_type)
            .iter()
            .filter_map(|t| Kind::of(*t))
            .collect();
        if kinds.is_empty() {
            p.unsupported.push(d.data_type.clone());
            continue;
        }
        let sessions_only = kinds
            .iter()
            .all(|k| matches!(k, Kind::Sleep | Kind::Activity));
        if d.is_delete() && sessions_only {
            // No data-point id in a DELETE: what was deleted cannot be told.
            p.deletes_dropped += 1;
            continue;
        }
        let spans = spans(d);
        if spans.is_empty() {
            p.no_interval += 1;
            continue;
        }
        for s in &spans {
            let mut days = s.days();
            if days.len() > max_days.max(1) as usize {
                days.drain(..days.len() - max_days.max(1) as usize);
            }
            for kind in &kinds {
                let chosen: Vec<NaiveDate> = match kind {
                    // Sessions are found by the day they end (sleep) / start (exercise).
                    Kind::Sleep if d.is_delete() => continue,
                    Kind::Sleep => days.last().copied().into_iter().collect(),
                    Kind::Activity => {
                        if let Some(ph) = s.physical {
                            p.exercise.push(ph);
                        }
                        days.first().copied().into_iter().collect()
                    }
                    Kind::Daily | Kind::Body => days.clone(),
                };
                for day in chosen {
                    p.works.entry(Work { kind: *kind, day }).or_insert(s.offset);
                }
            }
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(text: &str) -> Vec<Notification> {
        serde_json::from_str(text).unwrap()
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    const BATCH: &str = include_str!(
        "verify_fixtures/notification_batch_mixed.json"
    );
    const DELETE: &str = include_str!(
        "verify_fixtures/notification_delete_exercise.json"
    );
    const DOCUMENTED: &str = include_str!(
        "verify_fixtures/notification_upsert_steps.json"
    );

    #[test]
    fn the_mixed_batch_plans_one_rebuild_per_kind_and_day() {
        let p = plan(&entries(BATCH), 7);
        let works: Vec<(Kind, NaiveDate)> = p.works.keys().map(|w| (w.kind, w.day)).collect();
        assert_eq!(
            works,
            [
                (Kind::Daily, d("2026-11-10")),
                (Kind::Sleep, d("2026-11-10")),
                (Kind::Body, d("2026-11-10")),
                (Kind::Activity, d("2026-11-10")),
            ],
            "steps and resting HR share the day; the night ends on the 10th"
        );
        let pst = FixedOffset::west_opt(8 * 3600).unwrap();
        assert!(p.works.values().all(|o| *o == Some(pst)), "{:?}", p.works);
        assert_eq!(p.exercise.len(), 1);
        assert!(p.unsupported.is_empty());
    }

    #[test]
    fn the_documented_example_and_its_variants_plan_the_local_day() {
        // Google's own example: 01:29Z on March 8th is 17:29 on the 7th locally.
        let p = plan(&entries(DOCUMENTED), 7);
        let w: Vec<_> = p.works.keys().map(|w| (w.kind, w.day)).collect();
        assert_eq!(w, [(Kind::Daily, d("2026-03-07"))]);
        // The civil interval under `data` (as one client library has it), upper-case
        // and snake-case type names.
        let alt = r#"[{"data": {"healthUserId": "u", "dataType": "DAILY_RESTING_HEART_RATE",
            "operation": "UPSERT", "civilIso8601TimeInterval":
            {"startTime": "2026-03-07T00:00:00", "endTime": "2026-03-08T00:00:00"}}}]"#;
        let p = plan(&entries(alt), 7);
        let w: Vec<_> = p.works.keys().map(|w| (w.kind, w.day)).collect();
        assert_eq!(
            w,
            [(Kind::Daily, d("2026-03-07"))],
            "midnight end is exclusive"
        );
        // Only the physical interval: UTC days.
        let phys = r#"[{"data": {"healthUserId": "u", "dataType": "weight", "intervals":
            [{"physicalTimeInterval": {"startTime": "2026-03-08T01:00:00Z", "endTime": "2026-03-08T01:00:00Z"}}]}}]"#;
        let p = plan(&entries(phys), 7);
        assert_eq!(p.works.keys().next().unwrap().day, d("2026-03-08"));
        assert_eq!(*p.works.values().next().unwrap(), None);
        // A long interval is cut to the latest days.
        let long = r#"[{"data": {"healthUserId": "u", "dataType": "steps", "intervals":
            [{"civilIso8601TimeInterval": {"startTime": "2026-01-01T00:00:00", "endTime": "2026-03-01T00:00:00"}}]}}]"#;
        let p = plan(&entries(long), 3);
        let days: Vec<_> = p.works.keys().map(|w| w.day).collect();
        assert_eq!(days, [d("2026-02-26"), d("2026-02-27"), d("2026-02-28")]);
    }

    #[test]
    fn deletes_of_sessions_are_dropped_and_of_aggregates_rebuild_the_day() {
        let p = plan(&entries(DELETE), 7);
        assert!(p.works.is_empty());
        assert_eq!(p.deletes_dropped, 1);
        let weight = DELETE.replace("\"exercise\"", "\"weight\"");
        let p = plan(&entries(&weight), 7);
        let w: Vec<_> = p.works.keys().map(|w| (w.kind, w.day)).collect();
        assert_eq!(w, [(Kind::Body, d("2026-11-08"))]);
        let hrv = DELETE.replace("\"exercise\"", "\"daily-heart-rate-variability\"");
        let p = plan(&entries(&hrv), 7);
        let w: Vec<_> = p.works.keys().map(|w| (w.kind, w.day)).collect();
        assert_eq!(
            w,
            [(Kind::Daily, d("2026-11-08"))],
            "no sleep rebuild for a delete"
        );
        let food = DELETE.replace("\"exercise\"", "\"nutrition-log\"");
        assert_eq!(plan(&entries(&food), 7).unsupported, ["nutrition-log"]);
    }

    #[test]
    fn types_route_to_terra_data() {
        assert_eq!(kinds_of("steps"), [EventType::Daily]);
        assert_eq!(
            kinds_of("daily_oxygen_saturation"),
            [EventType::Daily, EventType::Sleep]
        );
        assert_eq!(kinds_of("SLEEP"), [EventType::Sleep]);
        assert_eq!(kinds_of("body-fat"), [EventType::Body]);
        assert_eq!(kinds_of("exercise"), [EventType::Activity]);
        assert!(kinds_of("nutrition-log").is_empty());
        assert!(kinds_of("electrocardiogram").is_empty());
    }

    proptest::proptest! {
        #[test]
        fn planning_never_panics(
            ty in ".{0,30}",
            start in ".{0,25}",
            end in ".{0,25}",
            op in proptest::option::of(".{0,8}"),
        ) {
            let body = serde_json::json!([{"data": {"healthUserId": "u", "dataType": ty,
                "operation": op, "intervals": [{"civilIso8601TimeInterval":
                    {"startTime": start, "endTime": end},
                    "physicalTimeInterval": {"startTime": start, "endTime": end}}]}}]);
            if let Ok(e) = serde_json::from_value::<Vec<Notification>>(body) {
                let _ = plan(&e, 7);
            }
        }
    }
}

//! Each provider's notification parser and response mapping in crates/providers: the
//! first byte picks the provider and document kind, the rest is the JSON an API (or a
//! push) would send. Parse, then map whatever parsed. Must never panic.
#![no_main]

use chrono::{FixedOffset, NaiveDate};
use libfuzzer_sys::fuzz_target;
use pulsegate_providers::{
    fitbit, garmin, google_health, huawei, oura, polar, strava, whoop, withings,
};
use pulsegate_schema::RawNotification;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn parse<T: DeserializeOwned>(b: &[u8]) -> Option<T> {
    serde_json::from_slice(b).ok()
}

fn date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 10).unwrap()
}

fn offsets() -> [FixedOffset; 3] {
    [
        FixedOffset::east_opt(0).unwrap(),
        FixedOffset::east_opt(14 * 3600).unwrap(),
        FixedOffset::west_opt(12 * 3600).unwrap(),
    ]
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, b)) = data.split_first() else {
        return;
    };
    match which % 26 {
        0 => {
            let _ = serde_json::from_slice::<RawNotification>(b);
        }
        // Strava: the webhook event, then a DetailedActivity.
        1 => {
            if let Ok(e) = strava::StravaEvent::parse(b) {
                let _ = (e.key(), e.is_deauthorization());
            }
        }
        2 => {
            if let Some(a) = parse::<strava::mapping::DetailedActivity>(b) {
                let _ = strava::mapping::map_activity(&a, 1);
            }
        }
        // Garmin: a push/ping body, then each summary type's record.
        3 => {
            if let Ok(body) = garmin::parse(b) {
                for (t, rs) in &body {
                    let _ = garmin::is_mapped(t);
                    for r in rs {
                        let _ = garmin::record_id(t, r);
                    }
                }
            }
        }
        4 => {
            if let Some(a) = parse(b) {
                let _ = garmin::mapping::map_activity(&a);
            }
        }
        5 => {
            if let Some(d) = parse(b) {
                let _ = garmin::mapping::map_daily(&d);
            }
        }
        6 => {
            if let Some(s) = parse(b) {
                let _ = garmin::mapping::map_sleep(&s);
            }
            if let Some(s) = parse(b) {
                let _ = garmin::mapping::map_body_comp(&s);
            }
            if let Some(s) = parse(b) {
                let _ = garmin::mapping::map_user_metrics(&s);
            }
        }
        // Huawei: the notification, activity records, sleep records, daily groups.
        7 => {
            let _ = huawei::event::HuaweiEvent::parse(b);
        }
        8 => {
            if let Some(rs) = parse::<huawei::model::ActivityRecords>(b) {
                let _ = format!("{rs:?}");
            }
            if let Some(r) = parse::<huawei::model::ActivityRecord>(b) {
                let _ = huawei::mapping::map_activity(&r, Some("+08:00"));
                let _ = huawei::mapping::map_activity(&r, None);
            }
        }
        9 => {
            if let Some(r) = parse::<huawei::model::HealthRecord>(b) {
                let _ = huawei::mapping::map_sleep(&r, Some("+08:00"));
                let _ = huawei::mapping::map_sleep(&r, None);
            }
        }
        10 => {
            if let Some(g) = parse::<huawei::model::Group>(b) {
                for o in offsets() {
                    let _ = huawei::mapping::map_daily(&g, o);
                }
            }
        }
        // Fitbit: the notification batch, daily summary, activity log, sleep, weight.
        11 => {
            let _ = fitbit::FitbitEntry::parse_all(b);
        }
        12 => {
            if let Some(s) =
                parse::<fitbit::mapping::DailyActivityResponse>(b).and_then(|r| r.summary)
            {
                for o in offsets() {
                    let _ = fitbit::mapping::map_daily(&s, date(), o);
                }
            }
            if let Some(l) = parse::<fitbit::mapping::ActivityLogList>(b) {
                for a in &l.activities {
                    let _ = fitbit::mapping::map_activity_log(a);
                }
            }
        }
        13 => {
            if let Some(r) = parse::<fitbit::mapping::SleepResponse>(b) {
                for s in &r.sleep {
                    for o in offsets() {
                        let _ = fitbit::mapping::map_sleep(s, o);
                    }
                }
            }
            if let Some(r) = parse::<fitbit::mapping::WeightResponse>(b) {
                let _ = fitbit::mapping::map_body(&r.weight, date(), offsets()[1]);
            }
        }
        // Oura: the event, workout, sleep, daily activity and scores.
        14 => {
            let _ = oura::OuraEvent::parse(b);
            if let Some(w) = parse(b) {
                let _ = oura::mapping::map_workout(&w, "id");
            }
        }
        15 => {
            if let Some(s) = parse(b) {
                let _ = oura::mapping::map_sleep(&s, "id");
            }
            if let Some(d) = parse(b) {
                let _ = oura::mapping::map_daily_activity(&d);
            }
            if let Some(d) = parse::<oura::mapping::DailyScore>(b) {
                let _ = oura::mapping::map_daily_score(&d, oura::mapping::DailyKind::Sleep);
                let _ = oura::mapping::map_daily_score(&d, oura::mapping::DailyKind::Readiness);
            }
        }
        // Polar: the event, exercise, sleep, daily activity, continuous heart rate.
        16 => {
            let _ = polar::PolarEvent::parse(b);
            if let Some(e) = parse(b) {
                let _ = polar::mapping::map_exercise(&e, "id");
            }
        }
        17 => {
            if let Some(s) = parse(b) {
                let _ = polar::mapping::map_sleep(&s, "2026-01-10");
            }
            if let Some(a) = parse(b) {
                let _ = polar::mapping::map_activity_summary(&a, "2026-01-10");
            }
            if let Some(c) = parse(b) {
                let _ = polar::mapping::map_continuous_hr(&c, "2026-01-10");
            }
            if let Ok(s) = std::str::from_utf8(b) {
                let _ = polar::mapping::parse_iso_duration_secs(s);
            }
        }
        // WHOOP: the event, workout, sleep, recovery with its cycle.
        18 => {
            let _ = whoop::WhoopEvent::parse(b);
            if let Some(w) = parse(b) {
                let _ = whoop::mapping::map_workout(&w, "id");
            }
        }
        19 => {
            if let Some(s) = parse(b) {
                let _ = whoop::mapping::map_sleep(&s, "id");
            }
            if let Some((r, c)) = parse::<(Value, Value)>(b) {
                if let (Ok(r), Ok(c)) = (serde_json::from_value(r), serde_json::from_value(c)) {
                    let _ = whoop::mapping::map_recovery(&r, &c);
                }
            }
        }
        // Withings: the notification, getmeas, getactivity, sleep summary.
        20 => {
            let _ = withings::WithingsNotification::parse(b);
            if let Some(m) = parse::<withings::mapping::MeasureBody>(b) {
                let _ = withings::mapping::map_body(&m.measuregrps, 0, i64::MAX);
            }
        }
        21 => {
            if let Some(a) = parse::<withings::mapping::ActivityBody>(b) {
                for d in &a.activities {
                    let _ = withings::mapping::map_daily(d);
                }
            }
            if let Some(s) = parse::<withings::mapping::SleepBody>(b) {
                for x in &s.series {
                    let _ = withings::mapping::map_sleep(x);
                }
            }
        }
        // Time helpers fed from untrusted strings.
        22 => {
            if let Ok(s) = std::str::from_utf8(b) {
                let _ = strava::mapping::parse_gmt_offset(s);
                let _ = oura::mapping::parse_time(s);
                let _ = whoop::mapping::parse_offset(Some(s));
                let _ = huawei::model::parse_offset(s);
            }
        }
        // Google Health: a user's notification batch, then list and rollup answers.
        24 => {
            if let Some(ns) = parse::<Vec<google_health::types::Notification>>(b) {
                for n in &ns {
                    let _ = (google_health::kinds_of(&n.data.data_type), n.data.is_delete());
                }
            }
        }
        25 => {
            use google_health::mapping as m;
            if let Some(l) = parse::<google_health::types::ListResponse>(b) {
                let points = &l.data_points;
                for p in points {
                    let _ = m::map_sleep(p, points, points);
                    let _ = m::map_exercise(p);
                    let _ = m::daily_date(p);
                }
                let _ = m::unique_sessions(points);
                for o in offsets() {
                    let _ = m::map_body(date(), o, points, points.first(), points);
                    let _ = m::map_daily(date(), o, &[], points);
                }
            }
            if let Some(r) = parse::<google_health::types::RollupResponse>(b) {
                for o in offsets() {
                    let _ = m::map_daily(date(), o, &r.rollup_data_points, &[]);
                }
            }
        }
        _ => {
            if let Ok(s) = std::str::from_utf8(b) {
                if let Some(t) = oura::mapping::parse_time(s) {
                    let _ = oura::mapping::hypnogram(s, t);
                }
            }
        }
    }
});

//! Mapping tests. `activity_records_example.json` is the response of Huawei's guide
//! "篮球运动记录 / 读取篮球活动数据" (GET /healthkit/v2/activityRecords); the sleep and
//! polymerize examples are built from the fields and shapes Huawei documents for
//! `com.huawei.health.record.sleep` and `sampleSet:polymerize` (no complete official
//! example was found; see docs/providers/huawei.md).

use super::*;
use crate::huawei::model::{self, ActivityRecords, HealthRecords, Polymerized};

const ACTIVITY: &str = include_str!("activity_records_example.json");
const SLEEP: &str = include_str!("health_records_sleep_example.json");
const DAILY: &str = include_str!("polymerize_daily_example.json");

#[test]
fn huaweis_basketball_record() {
    let records: ActivityRecords = serde_json::from_str(ACTIVITY).unwrap();
    assert_eq!(records.activity_record.len(), 1);
    assert!(records.deleted_ids().is_empty());
    let a = map_activity(&records.activity_record[0], None).unwrap();
    assert_eq!(a.metadata.summary_id, "1592905552721");
    assert_eq!(a.metadata.start_time, "2020-06-23T17:45:52.721+08:00");
    assert_eq!(a.metadata.end_time, "2020-06-23T17:56:47.222+08:00");
    assert_eq!(a.metadata.activity_type, 12, "BASKETBALL");
    assert_eq!(a.metadata.upload_type, UPLOAD_UNKNOWN);
    assert_eq!(a.metadata.name.as_deref(), Some("basketball"));
    assert_eq!(a.calories_data.unwrap().total_burned_calories, Some(16));
    let hr = a.heart_rate_data.unwrap().summary.unwrap();
    assert_eq!((hr.avg_hr_bpm, hr.max_hr_bpm), (Some(120.0), Some(120.0)));
    let d = a.active_durations_data.unwrap();
    assert_eq!(d.activity_seconds, Some(654.501));
    // Elapsed 654.501 s = active: no rest.
    assert_eq!(d.rest_seconds, Some(0.0));
    assert_eq!(a.device_data.unwrap().name.as_deref(), Some("app9"));
    assert!(a.distance_data.is_none() && a.movement_data.is_none());
    // Terra field names on the wire.
    let json =
        serde_json::to_value(map_activity(&records.activity_record[0], None).unwrap()).unwrap();
    assert_eq!(json["metadata"]["type"], 12);
    assert_eq!(json["calories_data"]["total_burned_calories"], 16);
}

#[test]
fn walking_record_with_distance_steps_speed_and_cadence() {
    let body = r#"{"activityRecord":[{"id":"w1","name":"Evening walk","startTime":"1592924400000","endTime":1592928000000,
        "activityType":90,"activeTime":3300000,"activitySummary":{"dataSummary":[
        {"dataTypeName":"com.huawei.continuous.distance.total","value":[{"fieldName":"distance","floatValue":4020.4}]},
        {"dataTypeName":"com.huawei.continuous.steps.total","value":[{"fieldName":"steps","integerValue":5400}]},
        {"dataTypeName":"com.huawei.continuous.speed.statistics","value":[{"fieldName":"avg","floatValue":1.22},{"fieldName":"max","floatValue":1.9}]},
        {"dataTypeName":"com.huawei.continuous.steps.rate.statistics","value":[{"fieldName":"avg","floatValue":98.0}]}]}}],
        "deletedActivityRecord":[{"id":"gone-1"},"gone-2"]}"#;
    let records: ActivityRecords = serde_json::from_str(body).unwrap();
    assert_eq!(records.deleted_ids(), vec!["gone-1", "gone-2"]);
    // No timeZone on the record: the notification's is used.
    let a = map_activity(&records.activity_record[0], Some("+05:30")).unwrap();
    assert_eq!(a.metadata.start_time, "2020-06-23T20:30:00.000+05:30");
    assert_eq!(a.metadata.activity_type, 7, "WALKING");
    assert_eq!(a.metadata.name.as_deref(), Some("Evening walk"));
    let dist = a.distance_data.unwrap().summary.unwrap();
    assert_eq!((dist.distance_meters, dist.steps), (Some(4020), Some(5400)));
    let m = a.movement_data.unwrap();
    assert_eq!(m.avg_speed_meters_per_second, Some(1.22));
    assert_eq!(m.max_speed_meters_per_second, Some(1.9));
    assert_eq!(m.avg_cadence_rpm, Some(98.0));
    let d = a.active_durations_data.unwrap();
    assert_eq!(
        (d.activity_seconds, d.rest_seconds),
        (Some(3300.0), Some(300.0))
    );
    // Unknown activity codes are OTHER; no timezone at all is UTC.
    let mut other = records.activity_record[0].clone();
    other.activity_type = Some(9999);
    let a = map_activity(&other, None).unwrap();
    assert_eq!(a.metadata.activity_type, TERRA_OTHER);
    assert!(a.metadata.start_time.ends_with("+00:00"));
}

#[test]
fn records_without_id_or_start_are_skipped() {
    let records: ActivityRecords = serde_json::from_str(
        r#"{"activityRecord":[{"startTime":1},{"id":"x"},{"id":"","startTime":1}]}"#,
    )
    .unwrap();
    assert!(records
        .activity_record
        .iter()
        .all(|r| map_activity(r, None).is_none()));
}

#[test]
fn polymerized_day() {
    let p: Polymerized = serde_json::from_str(DAILY).unwrap();
    let cst = model::parse_offset("+0800").unwrap();
    let days: Vec<_> = p.group.iter().filter_map(|g| map_daily(g, cst)).collect();
    assert_eq!(days.len(), 1, "the empty second day is skipped");
    let d = &days[0];
    assert_eq!(d.metadata.start_time, "2020-06-23T00:00:00.000+08:00");
    assert_eq!(d.metadata.end_time, "2020-06-23T23:59:59.999+08:00");
    let dist = d.distance_data.as_ref().unwrap();
    assert_eq!((dist.steps, dist.distance_meters), (Some(7118), Some(5121)));
    assert_eq!(
        d.calories_data.as_ref().unwrap().total_burned_calories,
        Some(2140)
    );
    let hr = d
        .heart_rate_data
        .as_ref()
        .unwrap()
        .summary
        .as_ref()
        .unwrap();
    assert_eq!(
        (hr.avg_hr_bpm, hr.max_hr_bpm, hr.min_hr_bpm),
        (Some(72.5), Some(151.0), Some(52.0))
    );
    let json = serde_json::to_value(d).unwrap();
    assert_eq!(json["distance_data"]["steps"], 7118);
    assert_eq!(json["metadata"]["upload_type"], 0);
}

#[test]
fn sleep_record() {
    let r: HealthRecords = serde_json::from_str(SLEEP).unwrap();
    let s = map_sleep(&r.health_records[0], None).unwrap();
    assert_eq!(
        s.metadata.summary_id.as_deref(),
        Some("sleep-1592839800000")
    );
    assert_eq!(s.metadata.start_time, "2020-06-23T00:00:00.000+08:00");
    assert_eq!(s.metadata.end_time, "2020-06-23T07:00:00.000+08:00");
    let d = s.sleep_durations_data.as_ref().unwrap();
    let asleep = d.asleep.as_ref().unwrap();
    assert_eq!(asleep.duration_asleep_state_seconds, Some(410.0 * 60.0));
    assert_eq!(
        asleep.duration_light_sleep_state_seconds,
        Some(210.0 * 60.0)
    );
    assert_eq!(asleep.duration_deep_sleep_state_seconds, Some(110.0 * 60.0));
    assert_eq!(asleep.duration_rem_sleep_state_seconds, Some(90.0 * 60.0));
    let awake = d.awake.as_ref().unwrap();
    assert_eq!(awake.duration_awake_state_seconds, Some(600.0));
    assert_eq!(awake.num_wakeup_events, Some(2));
    assert_eq!(
        d.other.as_ref().unwrap().duration_in_bed_seconds,
        Some(8.0 * 3600.0)
    );
    assert_eq!(d.sleep_efficiency, Some(91.0));
    let levels: Vec<_> = d
        .hypnogram_samples
        .iter()
        .map(|h| h.level.unwrap())
        .collect();
    assert_eq!(levels, vec![4, 5, 6, 1], "light, deep, REM, awake");
    assert_eq!(
        d.hypnogram_samples[0].timestamp.as_deref(),
        Some("2020-06-23T00:00:00.000+08:00")
    );
    assert_eq!(s.scores.as_ref().unwrap().sleep_score, Some(82.0));
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(
        json["sleep_durations_data"]["asleep"]["duration_REM_sleep_state_seconds"],
        5400.0
    );
}

#[test]
fn sleep_record_with_only_its_interval() {
    let r: HealthRecords = serde_json::from_str(
        r#"{"healthRecords":[{"startTime":"1592841600000000000","endTime":1592866800000000000,"value":[]}]}"#,
    )
    .unwrap();
    let s = map_sleep(&r.health_records[0], Some("+0800")).unwrap();
    assert_eq!(s.metadata.start_time, "2020-06-23T00:00:00.000+08:00");
    assert!(s.sleep_durations_data.is_none());
    // Deterministic id from the interval.
    assert_eq!(
        s.metadata.summary_id,
        map_sleep(&r.health_records[0], None)
            .unwrap()
            .metadata
            .summary_id
    );
}

#[test]
fn offsets() {
    for (tz, secs) in [
        ("+0800", 8 * 3600),
        ("+08:00", 8 * 3600),
        ("-0530", -(5 * 3600 + 1800)),
        ("UTC+8", 8 * 3600),
        ("GMT-03:00", -3 * 3600),
        ("Z", 0),
    ] {
        assert_eq!(
            model::parse_offset(tz).map(|o| o.local_minus_utc()),
            Some(secs),
            "{tz}"
        );
    }
    for bad in ["+", "+2500", "Asia/Shanghai", "+08:60", "+123456", "08:00"] {
        assert!(model::parse_offset(bad).is_none(), "{bad}");
    }
    // Empty means UTC.
    assert_eq!(
        model::parse_offset("").map(|o| o.local_minus_utc()),
        Some(0)
    );
}

proptest::proptest! {
    #[test]
    fn mapping_never_panics(
        start in proptest::num::i64::ANY,
        end in proptest::num::i64::ANY,
        active in proptest::num::i64::ANY,
        tz in ".{0,8}",
        v in proptest::num::f64::ANY,
    ) {
        let body = serde_json::json!({"activityRecord":[{"id":"x","startTime":start,"endTime":end,"activeTime":active,"timeZone":tz,
            "activitySummary":{"dataSummary":[{"dataTypeName":DT_DISTANCE_TOTAL,"value":[{"fieldName":"distance","floatValue":v}]}]}}]});
        if let Ok(r) = serde_json::from_value::<ActivityRecords>(body) {
            let _ = map_activity(&r.activity_record[0], Some(&tz));
        }
        let body = serde_json::json!({"healthRecords":[{"startTime":start,"endTime":end,"timeZone":tz,
            "value":[{"fieldName":"all_sleep_time","floatValue":v},{"fieldName":"fall_asleep_time","longValue":start}]}]});
        if let Ok(r) = serde_json::from_value::<HealthRecords>(body) {
            let _ = map_sleep(&r.health_records[0], None);
        }
        let g = serde_json::json!({"startTime":start,"endTime":end,"sampleSet":[{"samplePoints":[{"dataTypeName":DT_STEPS_TOTAL,"value":[{"fieldName":"steps","floatValue":v}]}]}]});
        if let Ok(g) = serde_json::from_value::<model::Group>(g) {
            let _ = map_daily(&g, model::utc());
        }
    }
}

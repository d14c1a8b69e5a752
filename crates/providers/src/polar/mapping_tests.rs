//! Mapping tests from the example responses of Polar's AccessLink API reference
//! (the schema examples of `GET /v3/exercises/{id}`, `/v3/users/sleep/{date}`,
//! `/v3/users/activities/{date}`, `/v3/users/continuous-heart-rate/{date}`).

use serde_json::{json, Value};

use super::mapping::*;

const EXERCISE: &str = include_str!("exercise_example.json");
const SLEEP: &str = include_str!("sleep_example.json");
const ACTIVITY: &str = include_str!("activity_summary_example.json");
const CHR: &str = include_str!("continuous_heart_rate_example.json");

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap()
}

#[test]
fn exercise_example() {
    let e: Exercise = serde_json::from_str(EXERCISE).unwrap();
    let v = to_json(&map_exercise(&e, "aQlC83").unwrap());
    let m = &v["metadata"];
    assert_eq!(m["summary_id"], "2AC312F");
    // Local 10:40:02 at UTC+180 min; PT2H44M later.
    assert_eq!(m["start_time"], "2008-10-13T10:40:02+03:00");
    assert_eq!(m["end_time"], "2008-10-13T13:24:02+03:00");
    assert_eq!(m["type"], 108, "WATERSPORTS_WATERSKI → OTHER");
    assert_eq!(m["upload_type"], 1);
    assert_eq!(v["calories_data"]["total_burned_calories"], 530);
    assert_eq!(v["distance_data"]["summary"]["distance_meters"], 1600);
    assert_eq!(v["heart_rate_data"]["summary"]["avg_hr_bpm"], 129.0);
    assert_eq!(v["heart_rate_data"]["summary"]["max_hr_bpm"], 147.0);
    assert_eq!(v["active_durations_data"]["activity_seconds"], 9840.0);
    assert_eq!(v["device_data"]["name"], "Polar M400");
    assert!(v.get("movement_data").is_none());
}

#[test]
fn exercise_sport_and_missing_fields() {
    let e: Exercise = serde_json::from_value(json!({
        "start_time": "2024-03-01T07:00:00.000",
        "start_time_utc_offset": -300,
        "sport": "RUNNING",
        "detailed_sport_info": "TRAIL_RUNNING"
    }))
    .unwrap();
    let v = to_json(&map_exercise(&e, "abc").unwrap());
    assert_eq!(v["metadata"]["summary_id"], "abc");
    assert_eq!(v["metadata"]["type"], 8);
    assert_eq!(v["metadata"]["start_time"], "2024-03-01T07:00:00-05:00");
    assert_eq!(v["metadata"]["end_time"], "2024-03-01T07:00:00-05:00");
    assert!(v.get("calories_data").is_none());
    assert!(v.get("heart_rate_data").is_none());
    let none: Exercise = serde_json::from_value(json!({"id": "x"})).unwrap();
    assert!(map_exercise(&none, "x").is_err());
}

#[test]
fn sleep_example() {
    let s: PolarSleep = serde_json::from_str(SLEEP).unwrap();
    let v = to_json(&map_sleep(&s, "2020-01-01").unwrap());
    let m = &v["metadata"];
    assert_eq!(m["start_time"], "2020-01-01T00:39:07+03:00");
    assert_eq!(m["end_time"], "2020-01-01T09:19:37+03:00");
    assert_eq!(m["summary_id"], "2020-01-01");
    assert_eq!(m["upload_type"], 1);
    let d = &v["sleep_durations_data"];
    assert_eq!(d["asleep"]["duration_asleep_state_seconds"], 4000.0);
    assert_eq!(d["asleep"]["duration_light_sleep_state_seconds"], 1000.0);
    assert_eq!(d["asleep"]["duration_deep_sleep_state_seconds"], 1000.0);
    assert_eq!(d["asleep"]["duration_REM_sleep_state_seconds"], 1000.0);
    assert_eq!(d["awake"]["duration_awake_state_seconds"], 1000.0);
    assert_eq!(d["awake"]["duration_short_interruption_seconds"], 500.0);
    assert_eq!(d["awake"]["duration_long_interruption_seconds"], 300.0);
    assert_eq!(d["other"]["duration_in_bed_seconds"], 31230.0);
    assert_eq!(d["other"]["duration_unmeasurable_sleep_seconds"], 1000.0);
    assert_eq!(
        d["hypnogram_samples"],
        json!([
            {"timestamp": "2020-01-01T00:39:00+03:00", "level": 4},
            {"timestamp": "2020-01-01T00:50:00+03:00", "level": 4},
            {"timestamp": "2020-01-01T01:23:00+03:00", "level": 0}
        ])
    );
    let hr = &v["heart_rate_data"]["detailed"]["hr_samples"];
    assert_eq!(hr.as_array().unwrap().len(), 3);
    assert_eq!(
        hr[0],
        json!({"timestamp": "2020-01-01T00:41:00+03:00", "bpm": 76.0})
    );
    assert_eq!(v["scores"]["sleep_score"], 80.0);
}

#[test]
fn sleep_clock_times_cross_midnight() {
    let s: PolarSleep = serde_json::from_value(json!({
        "sleep_start_time": "2020-01-01T23:10:00+02:00",
        "sleep_end_time": "2020-01-02T07:00:00+02:00",
        "hypnogram": {"00:30": 4, "23:10": 0, "03:00": 1}
    }))
    .unwrap();
    let v = to_json(&map_sleep(&s, "2020-01-02").unwrap());
    assert_eq!(
        v["sleep_durations_data"]["hypnogram_samples"],
        json!([
            {"timestamp": "2020-01-01T23:10:00+02:00", "level": 1},
            {"timestamp": "2020-01-02T00:30:00+02:00", "level": 5},
            {"timestamp": "2020-01-02T03:00:00+02:00", "level": 6}
        ])
    );
    assert_eq!(v["metadata"]["summary_id"], "2020-01-02");
    assert!(v.get("heart_rate_data").is_none());
}

#[test]
fn activity_summary_example() {
    let a: ActivitySummary = serde_json::from_str(ACTIVITY).unwrap();
    let v = to_json(&map_activity_summary(&a, "2025-08-13").unwrap());
    assert_eq!(v["metadata"]["start_time"], "2025-08-13T08:15:30+00:00");
    assert_eq!(v["metadata"]["end_time"], "2025-08-13T23:59:59+00:00");
    assert_eq!(v["metadata"]["timestamp_localization"], 0);
    assert_eq!(v["calories_data"]["total_burned_calories"], 2500);
    assert_eq!(v["calories_data"]["net_activity_calories"], 1500);
    assert_eq!(v["calories_data"]["BMR_calories"], 1000);
    assert_eq!(v["distance_data"]["steps"], 8823);
    assert_eq!(v["distance_data"]["distance_meters"], 4591);
    assert_eq!(v["active_durations_data"]["activity_seconds"], 11460.0);
    assert_eq!(v["active_durations_data"]["inactivity_seconds"], 66210.0);
    assert_eq!(v["scores"]["activity"], 89.1);
    // Without start/end: the calendar day, local.
    let bare: ActivitySummary = serde_json::from_value(json!({"steps": 5})).unwrap();
    let v = to_json(&map_activity_summary(&bare, "2025-08-13").unwrap());
    assert_eq!(v["metadata"]["start_time"], "2025-08-13T00:00:00");
    assert_eq!(v["metadata"]["timestamp_localization"], 1);
    assert!(v.get("calories_data").is_none());
}

#[test]
fn continuous_heart_rate_example() {
    let c: ContinuousHeartRate = serde_json::from_str(CHR).unwrap();
    let v = to_json(&map_continuous_hr(&c, "2022-09-12").unwrap());
    assert_eq!(v["metadata"]["start_time"], "2022-09-12T00:00:00");
    assert_eq!(v["metadata"]["end_time"], "2022-09-13T00:00:00");
    assert_eq!(v["metadata"]["timestamp_localization"], 1);
    assert_eq!(
        v["heart_rate_data"]["detailed"]["hr_samples"],
        json!([
            {"timestamp": "2022-09-12T00:02:08", "bpm": 63.0},
            {"timestamp": "2022-09-12T00:07:08", "bpm": 62.0}
        ])
    );
    let empty: ContinuousHeartRate = serde_json::from_value(json!({"date": "2022-09-12"})).unwrap();
    assert!(map_continuous_hr(&empty, "2022-09-12").is_err());
}

#[test]
fn iso_durations_and_levels() {
    assert_eq!(parse_iso_duration_secs("PT2H44M"), Some(9840.0));
    assert_eq!(parse_iso_duration_secs("PT18H23M30S"), Some(66210.0));
    assert_eq!(parse_iso_duration_secs("PT0.5S"), Some(0.5));
    assert_eq!(parse_iso_duration_secs("P1DT1S"), Some(86401.0));
    for bad in ["", "P", "PT", "2H", "PT5X", "PT5", "PTH"] {
        assert_eq!(parse_iso_duration_secs(bad), None, "{bad}");
    }
    assert_eq!(
        (0..=5).map(terra_sleep_level).collect::<Vec<_>>(),
        vec![1, 6, 4, 4, 5, 0]
    );
}

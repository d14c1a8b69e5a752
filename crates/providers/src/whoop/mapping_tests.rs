//! The example JSON files are WHOOP's documented example responses (developer.whoop.com,
//! "User Data": Workout, Sleep, Recovery, Cycle; v2 models).

use super::*;
use serde_json::{json, Value};

fn load<T: serde::de::DeserializeOwned>(text: &str) -> T {
    serde_json::from_str(text).expect("WHOOP's example parses")
}

fn to_json(v: &impl serde::Serialize) -> Value {
    let v = serde_json::to_value(v).unwrap();
    assert!(!v.to_string().contains("null"), "no nulls: {v}");
    v
}

fn approx(v: &Value, expected: f64) {
    let got = v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"));
    assert!((got - expected).abs() < 1e-6, "{got} != {expected}");
}

#[test]
fn maps_whoops_workout_example() {
    let w: Workout = load(include_str!("workout_example.json"));
    let v = to_json(&map_workout(&w, "x").unwrap());
    let m = &v["metadata"];
    assert_eq!(m["summary_id"], "ecfc6a15-4661-442f-a9a4-f160dd7afae8");
    // UTC times shown in the member's offset (-05:00).
    assert_eq!(m["start_time"], "2022-04-23T21:25:44.774-05:00");
    assert_eq!(m["end_time"], "2022-04-24T05:25:44.774-05:00");
    assert_eq!(m["type"], 8, "running → RUNNING");
    assert_eq!(m["upload_type"], 1);
    // 1569.34 kJ / 4.184 = 375.08 kcal.
    assert_eq!(v["calories_data"]["total_burned_calories"], 375);
    let d = &v["distance_data"]["summary"];
    assert_eq!(d["distance_meters"], 1773);
    approx(&d["elevation"]["gain_actual_meters"], 46.64384460449);
    assert_eq!(
        v["heart_rate_data"]["summary"],
        json!({"avg_hr_bpm": 123.0, "max_hr_bpm": 146.0})
    );
    assert!(
        v.get("work_data").is_none(),
        "kJ expended is not mechanical work"
    );
}

#[test]
fn unscored_workouts_keep_their_metadata() {
    let mut raw: Value = serde_json::from_str(include_str!("workout_example.json")).unwrap();
    raw["score_state"] = json!("PENDING_SCORE");
    raw.as_object_mut().unwrap().remove("score");
    raw["sport_name"] = json!("Something-New");
    raw["timezone_offset"] = json!("Z");
    let w: Workout = serde_json::from_value(raw.clone()).unwrap();
    let v = to_json(&map_workout(&w, "x").unwrap());
    assert_eq!(v["metadata"]["type"], 108);
    assert_eq!(v["metadata"]["start_time"], "2022-04-24T02:25:44.774+00:00");
    assert!(v.get("calories_data").is_none());
    assert!(v.get("heart_rate_data").is_none());
    raw.as_object_mut().unwrap().remove("end");
    let w: Workout = serde_json::from_value(raw).unwrap();
    assert!(map_workout(&w, "x").is_err());
}

#[test]
fn maps_whoops_sleep_example() {
    let s: SleepActivity = load(include_str!("sleep_example.json"));
    let v = to_json(&map_sleep(&s, "x").unwrap());
    let m = &v["metadata"];
    assert_eq!(m["summary_id"], "ecfc6a15-4661-442f-a9a4-f160dd7afae8");
    assert_eq!(m["is_nap"], false);
    assert_eq!(m["start_time"], "2022-04-23T21:25:44.774-05:00");
    let d = &v["sleep_durations_data"];
    approx(
        &d["asleep"]["duration_light_sleep_state_seconds"],
        14905.851,
    );
    approx(&d["asleep"]["duration_deep_sleep_state_seconds"], 6630.37);
    approx(&d["asleep"]["duration_REM_sleep_state_seconds"], 5879.573);
    approx(&d["asleep"]["duration_asleep_state_seconds"], 27415.794);
    assert_eq!(d["asleep"]["num_REM_events"], 3);
    approx(&d["awake"]["duration_awake_state_seconds"], 1403.507);
    assert_eq!(d["awake"]["num_wakeup_events"], 12);
    approx(&d["other"]["duration_in_bed_seconds"], 30272.735);
    approx(&d["other"]["duration_unmeasurable_sleep_seconds"], 0.0);
    approx(&d["sleep_efficiency"], 91.69533848);
    approx(
        &v["respiration_data"]["breaths_data"]["avg_breaths_per_min"],
        16.11328125,
    );
    assert_eq!(v["scores"]["sleep_score"], 98.0);
}

#[test]
fn maps_whoops_recovery_and_cycle_examples() {
    let r: Recovery = load(include_str!("recovery_example.json"));
    let c: Cycle = load(include_str!("cycle_example.json"));
    let v = to_json(&map_recovery(&r, &c).unwrap());
    assert_eq!(v["metadata"]["start_time"], "2022-04-23T21:25:44.774-05:00");
    assert_eq!(v["metadata"]["end_time"], "2022-04-24T05:25:44.774-05:00");
    assert_eq!(v["scores"], json!({"recovery": 44.0}));
    let hr = &v["heart_rate_data"]["summary"];
    assert_eq!(hr["resting_hr_bpm"], 64.0);
    approx(&hr["avg_hrv_rmssd"], 31.813562);
    assert_eq!(hr["avg_hr_bpm"], 68.0);
    assert_eq!(hr["max_hr_bpm"], 141.0);
    approx(&v["oxygen_data"]["avg_saturation_percentage"], 95.6875);
    approx(&v["strain_data"]["strain_level"], 5.2951527);
    // 8288.297 kJ / 4.184 = 1980.95 kcal.
    assert_eq!(v["calories_data"]["total_burned_calories"], 1981);
}

#[test]
fn recovery_without_score_is_dropped_and_open_cycles_last_a_day() {
    let c: Cycle = load(include_str!("cycle_example.json"));
    let mut raw: Value = serde_json::from_str(include_str!("recovery_example.json")).unwrap();
    raw["score_state"] = json!("PENDING_SCORE");
    let r: Recovery = serde_json::from_value(raw.clone()).unwrap();
    assert!(matches!(
        map_recovery(&r, &c),
        Err(NormalizeError::Dropped {
            reason: "not_scored",
            ..
        })
    ));
    raw["score_state"] = json!("SCORED");
    let r: Recovery = serde_json::from_value(raw).unwrap();
    let mut open: Value = serde_json::from_str(include_str!("cycle_example.json")).unwrap();
    open.as_object_mut().unwrap().remove("end");
    let open: Cycle = serde_json::from_value(open).unwrap();
    let v = to_json(&map_recovery(&r, &open).unwrap());
    assert_eq!(v["metadata"]["end_time"], "2022-04-24T21:25:44.774-05:00");
}

#[test]
fn offsets_and_sports() {
    assert_eq!(parse_offset(Some("-05:00")).local_minus_utc(), -5 * 3600);
    assert_eq!(
        parse_offset(Some("+05:30")).local_minus_utc(),
        5 * 3600 + 1800
    );
    assert_eq!(parse_offset(Some("Z")).local_minus_utc(), 0);
    assert_eq!(parse_offset(Some("bogus")).local_minus_utc(), 0);
    assert_eq!(parse_offset(Some("+99:00")).local_minus_utc(), 0);
    assert_eq!(parse_offset(None).local_minus_utc(), 0);
    assert_eq!(terra_activity_type(Some("Cycling")), 1);
    assert_eq!(terra_activity_type(Some("hiking/rucking")), 35);
    assert_eq!(terra_activity_type(None), 108);
}

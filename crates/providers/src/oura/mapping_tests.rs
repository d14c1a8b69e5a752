//! The example JSON files are Oura's documented example responses of the single-document
//! routes (`GET /v2/usercollection/{type}/{document_id}`); where the documentation elides
//! a series (`"items": [None, 50, 46, ...]`, `"<long sequence of 1|2|3|4>"`), the file
//! carries the shown items or a short concrete sequence.

use super::*;
use serde_json::{json, Value};

fn load<T: serde::de::DeserializeOwned>(text: &str) -> T {
    serde_json::from_str(text).expect("Oura's example parses")
}

fn to_json(v: &impl serde::Serialize) -> Value {
    let v = serde_json::to_value(v).unwrap();
    assert_no_nulls("", &v);
    v
}

fn assert_no_nulls(path: &str, v: &Value) {
    match v {
        Value::Null => panic!("`{path}` is null"),
        Value::Object(m) => m
            .iter()
            .for_each(|(k, c)| assert_no_nulls(&format!("{path}.{k}"), c)),
        Value::Array(a) => a.iter().for_each(|c| assert_no_nulls(path, c)),
        _ => {}
    }
}

#[test]
fn maps_ouras_workout_example() {
    let w: Workout = load(include_str!("workout_example.json"));
    let v = to_json(&map_workout(&w, "x").unwrap());
    let m = &v["metadata"];
    assert_eq!(m["summary_id"], "8f9a5221-639e-4a85-81cb-4065ef23f979");
    // The documented example ends (01:00) before it starts (01:30): ordered.
    assert_eq!(m["start_time"], "2021-01-01T01:00:00+00:00");
    assert_eq!(m["end_time"], "2021-01-01T01:30:00+00:00");
    assert_eq!(m["type"], 1, "cycling → BIKING");
    assert_eq!(m["upload_type"], 2, "source manual → MANUAL");
    assert!(m.get("name").is_none(), "label null is not sent");
    assert_eq!(v["distance_data"]["summary"]["distance_meters"], 13501);
    assert_eq!(v["calories_data"]["total_burned_calories"], 300);
    assert!(v.get("heart_rate_data").is_none());
}

#[test]
fn workout_types_labels_and_missing_times() {
    let mut raw: Value = serde_json::from_str(include_str!("workout_example.json")).unwrap();
    raw["activity"] = json!("Running");
    raw["source"] = json!("autodetected");
    raw["label"] = json!("Morning run");
    raw["distance"] = Value::Null;
    let w: Workout = serde_json::from_value(raw.clone()).unwrap();
    let v = to_json(&map_workout(&w, "x").unwrap());
    assert_eq!(v["metadata"]["type"], 8);
    assert_eq!(v["metadata"]["upload_type"], 1);
    assert_eq!(v["metadata"]["name"], "Morning run");
    assert!(v.get("distance_data").is_none());
    assert_eq!(terra_activity_type(Some("underwater_basket_weaving")), 108);
    assert_eq!(terra_activity_type(None), 108);
    raw["start_datetime"] = json!("yesterday");
    let w: Workout = serde_json::from_value(raw).unwrap();
    assert!(matches!(
        map_workout(&w, "x"),
        Err(NormalizeError::Dropped {
            reason: "bad_response",
            ..
        })
    ));
}

#[test]
fn maps_ouras_sleep_example() {
    let s: SleepPeriod = load(include_str!("sleep_example.json"));
    let v = to_json(&map_sleep(&s, "x").unwrap());
    let m = &v["metadata"];
    assert_eq!(m["start_time"], "2022-07-12T01:05:14-07:00");
    assert_eq!(m["end_time"], "2022-07-12T09:25:14-07:00");
    assert_eq!(m["is_nap"], false);
    assert_eq!(m["summary_id"], "8f9a5221-639e-4a85-81cb-4065ef23f979");
    assert_eq!(m["upload_type"], 1);

    let d = &v["sleep_durations_data"];
    // total_sleep_duration is null: deep + light + REM.
    assert_eq!(d["asleep"]["duration_asleep_state_seconds"], 25200.0);
    assert_eq!(d["asleep"]["duration_deep_sleep_state_seconds"], 4170.0);
    assert_eq!(d["asleep"]["duration_light_sleep_state_seconds"], 18750.0);
    assert_eq!(d["asleep"]["duration_REM_sleep_state_seconds"], 2280.0);
    assert_eq!(d["awake"]["duration_awake_state_seconds"], 4800.0);
    assert_eq!(d["awake"]["sleep_latency_seconds"], 540.0);
    assert_eq!(d["other"]["duration_in_bed_seconds"], 30000.0);
    assert_eq!(d["sleep_efficiency"], 84.0);
    let hyp = d["hypnogram_samples"].as_array().unwrap();
    let levels: Vec<i64> = hyp.iter().map(|s| s["level"].as_i64().unwrap()).collect();
    // "4211234": awake, light, deep, deep, light, REM, awake.
    assert_eq!(levels, vec![1, 4, 5, 5, 4, 6, 1]);
    assert_eq!(hyp[1]["timestamp"], "2022-07-12T01:10:14-07:00");

    let hr = &v["heart_rate_data"];
    assert_eq!(hr["summary"]["avg_hr_bpm"], 4.25);
    assert_eq!(hr["summary"]["min_hr_bpm"], 48.0);
    assert_eq!(hr["summary"]["avg_hrv_rmssd"], 117.0);
    let samples = hr["detailed"]["hr_samples"].as_array().unwrap();
    assert_eq!(samples.len(), 2, "the null item is skipped");
    assert_eq!(samples[0]["timestamp"], "2022-07-12T01:10:14-07:00");
    assert_eq!(samples[0]["bpm"], 50.0);
    assert_eq!(samples[1]["timestamp"], "2022-07-12T01:15:14-07:00");
    // The example's negative HRV items are not RMSSD values: not sent.
    assert!(hr["detailed"].get("hrv_samples_rmssd").is_none());
    assert_eq!(
        v["respiration_data"]["breaths_data"]["avg_breaths_per_min"],
        12.625
    );
    assert!(v.get("readiness_data").is_none());
}

#[test]
fn sleep_readiness_naps_and_totals() {
    let mut raw: Value = serde_json::from_str(include_str!("sleep_example.json")).unwrap();
    raw["type"] = json!("late_nap");
    raw["total_sleep_duration"] = json!(25000);
    raw["readiness"] = json!({"contributors": {}, "score": 78, "temperature_deviation": -0.25});
    let s: SleepPeriod = serde_json::from_value(raw).unwrap();
    let v = to_json(&map_sleep(&s, "x").unwrap());
    assert_eq!(v["metadata"]["is_nap"], true);
    assert_eq!(
        v["sleep_durations_data"]["asleep"]["duration_asleep_state_seconds"],
        25000.0
    );
    assert_eq!(v["readiness_data"]["readiness"], 78);
    assert_eq!(v["temperature_data"]["delta"], -0.25);
}

#[test]
fn maps_ouras_daily_activity_example() {
    let d: DailyActivity = load(include_str!("daily_activity_example.json"));
    let v = to_json(&map_daily_activity(&d).unwrap());
    assert_eq!(v["metadata"]["start_time"], "2021-11-26T04:00:00-08:00");
    assert_eq!(v["metadata"]["end_time"], "2021-11-27T04:00:00-08:00");
    assert_eq!(v["metadata"]["upload_type"], 1);
    assert_eq!(v["scores"]["activity"], 82.0);
    let a = &v["active_durations_data"];
    assert_eq!(a["vigorous_intensity_seconds"], 3000.0);
    assert_eq!(a["moderate_intensity_seconds"], 6060.0);
    assert_eq!(a["low_intensity_seconds"], 10020.0);
    assert_eq!(a["activity_seconds"], 19080.0);
    assert_eq!(a["inactivity_seconds"], 21000.0);
    assert_eq!(a["rest_seconds"], 18840.0);
    assert_eq!(v["calories_data"]["total_burned_calories"], 3446);
    assert_eq!(v["calories_data"]["net_activity_calories"], 1222);
    assert_eq!(v["distance_data"]["steps"], 18430);
    assert_eq!(v["distance_data"]["distance_meters"], 20122);
    let met = &v["MET_data"];
    assert_eq!(met["avg_level"], 1.90625);
    assert_eq!(met["num_high_intensity_minutes"], 50.0);
    assert_eq!(met["num_moderate_intensity_minutes"], 101.0);
    assert_eq!(met["num_low_intensity_minutes"], 167.0);
    assert_eq!(met["num_inactive_minutes"], 350.0);
    let samples = met["MET_samples"].as_array().unwrap();
    assert_eq!(samples.len(), 3);
    assert_eq!(samples[2]["timestamp"], "2021-11-26T04:02:00-08:00");
    assert_eq!(samples[2]["level"], 1.2);
}

#[test]
fn maps_ouras_daily_sleep_and_readiness_examples() {
    let d: DailyScore = load(include_str!("daily_sleep_example.json"));
    let v = to_json(&map_daily_score(&d, DailyKind::Sleep).unwrap());
    assert_eq!(v["metadata"]["start_time"], "2022-07-14T00:00:00+00:00");
    assert_eq!(v["metadata"]["end_time"], "2022-07-15T00:00:00+00:00");
    assert_eq!(v["scores"], json!({"sleep": 63.0}));
    assert!(v.get("data_enrichment").is_none());

    let d: DailyScore = load(include_str!("daily_readiness_example.json"));
    let v = to_json(&map_daily_score(&d, DailyKind::Readiness).unwrap());
    assert_eq!(v["metadata"]["start_time"], "2021-10-27T00:00:00+00:00");
    assert_eq!(v["scores"], json!({"recovery": 66.0}));
    let e = &v["data_enrichment"];
    assert_eq!(e["readiness_score"], 66.0);
    let c = e["readiness_contributors"].as_array().unwrap();
    assert_eq!(c.len(), 7, "previous_day_activity is null: left out");
    assert_eq!(
        c[0],
        json!({"contributor_name": "activity_balance", "contributor_score": 56.0})
    );
    assert_eq!(
        c[6],
        json!({"contributor_name": "sleep_balance", "contributor_score": 73.0})
    );
}

#[test]
fn daily_falls_back_to_the_day_and_needs_one() {
    let d: DailyScore =
        serde_json::from_value(json!({"id": "a", "day": "2024-03-01", "score": 70})).unwrap();
    let v = to_json(&map_daily_score(&d, DailyKind::Sleep).unwrap());
    assert_eq!(v["metadata"]["start_time"], "2024-03-01T00:00:00+00:00");
    let d: DailyScore = serde_json::from_value(json!({"id": "a", "score": 70})).unwrap();
    assert!(map_daily_score(&d, DailyKind::Sleep).is_err());
}

//! Mapping tests from a push body built from the summary examples of Garmin's Health /
//! Activity API specifications (`push_example.json`).

use serde_json::{json, Value};

use super::mapping::*;

const PUSH: &str = include_str!("push_example.json");

fn first(kind: &str) -> Value {
    let v: Value = serde_json::from_str(PUSH).unwrap();
    v[kind][0].clone()
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap()
}

#[test]
fn activity_example() {
    let a: GarminActivity = serde_json::from_value(first("activities")).unwrap();
    let v = to_json(&map_activity(&a).unwrap());
    let m = &v["metadata"];
    assert_eq!(m["summary_id"], "5001968355");
    assert_eq!(m["name"], "Calgary Running");
    assert_eq!(m["start_time"], "2017-12-02T10:02:06-07:00");
    assert_eq!(m["end_time"], "2017-12-02T10:31:55-07:00");
    assert_eq!(m["type"], 8);
    assert_eq!(m["upload_type"], 1);
    let d = &v["distance_data"]["summary"];
    assert_eq!(d["distance_meters"], 5099);
    assert_eq!(d["steps"], 5022);
    assert_eq!(d["elevation"]["gain_actual_meters"], 16.0);
    assert_eq!(v["calories_data"]["total_burned_calories"], 367);
    assert_eq!(v["heart_rate_data"]["summary"]["avg_hr_bpm"], 148.0);
    assert_eq!(v["heart_rate_data"]["summary"]["max_hr_bpm"], 173.0);
    assert_eq!(v["movement_data"]["avg_speed_meters_per_second"], 2.888);
    assert_eq!(v["movement_data"]["max_speed_meters_per_second"], 3.9);
    assert_eq!(v["movement_data"]["avg_cadence_rpm"], 151.0);
    assert_eq!(v["active_durations_data"]["activity_seconds"], 1789.0);
    assert_eq!(v["device_data"]["name"], "forerunner935");
}

#[test]
fn manual_activity_without_summary_id() {
    let a: GarminActivity = serde_json::from_value(json!({
        "activityId": 77, "activityType": "LAP_SWIMMING", "manual": true,
        "startTimeInSeconds": 0
    }))
    .unwrap();
    let v = to_json(&map_activity(&a).unwrap());
    assert_eq!(v["metadata"]["summary_id"], "77");
    assert_eq!(v["metadata"]["upload_type"], 2);
    assert_eq!(v["metadata"]["type"], 83);
    assert_eq!(v["metadata"]["start_time"], "1970-01-01T00:00:00+00:00");
    assert!(v.get("movement_data").is_none());
    let none: GarminActivity = serde_json::from_value(json!({"summaryId": "x"})).unwrap();
    assert!(map_activity(&none).is_err());
}

#[test]
fn daily_example() {
    let d: GarminDaily = serde_json::from_value(first("dailies")).unwrap();
    let v = to_json(&map_daily(&d).unwrap());
    assert_eq!(v["metadata"]["start_time"], "2016-01-11T01:00:00+01:00");
    assert_eq!(v["metadata"]["end_time"], "2016-01-12T01:00:00+01:00");
    assert_eq!(v["metadata"]["upload_type"], 1);
    let c = &v["calories_data"];
    assert_eq!(c["total_burned_calories"], 2052);
    assert_eq!(c["net_activity_calories"], 321);
    assert_eq!(c["BMR_calories"], 1731);
    assert_eq!(v["distance_data"]["steps"], 4210);
    assert_eq!(v["distance_data"]["distance_meters"], 3147);
    assert_eq!(v["distance_data"]["floors_climbed"], 8);
    let a = &v["active_durations_data"];
    assert_eq!(a["activity_seconds"], 12240.0);
    assert_eq!(a["moderate_intensity_seconds"], 81870.0);
    assert_eq!(a["vigorous_intensity_seconds"], 4530.0);
    let hr = &v["heart_rate_data"];
    assert_eq!(hr["summary"]["min_hr_bpm"], 59.0);
    assert_eq!(hr["summary"]["avg_hr_bpm"], 64.0);
    assert_eq!(hr["summary"]["max_hr_bpm"], 112.0);
    assert_eq!(hr["summary"]["resting_hr_bpm"], 64.0);
    let samples = hr["detailed"]["hr_samples"].as_array().unwrap();
    assert_eq!(samples.len(), 5);
    assert_eq!(
        samples[0],
        json!({"timestamp": "2016-01-11T01:00:15+01:00", "bpm": 75.0})
    );
    // Sorted numerically, not as text ("3180" after "30").
    assert_eq!(samples[2]["timestamp"], "2016-01-11T01:53:00+01:00");
    let s = &v["stress_data"];
    assert_eq!(s["avg_stress_level"], 43.0);
    assert_eq!(s["max_stress_level"], 87.0);
    assert_eq!(s["stress_duration_seconds"], 13620.0);
    assert_eq!(s["rest_stress_duration_seconds"], 7600.0);
    assert_eq!(s["activity_stress_duration_seconds"], 3450.0);
    assert_eq!(s["low_stress_duration_seconds"], 6700.0);
    assert_eq!(s["medium_stress_duration_seconds"], 4350.0);
    assert_eq!(s["high_stress_duration_seconds"], 108000.0);
}

#[test]
fn daily_stress_placeholders_are_dropped() {
    let d: GarminDaily = serde_json::from_value(json!({
        "startTimeInSeconds": 1452470400, "averageStressLevel": -1, "maxStressLevel": -2
    }))
    .unwrap();
    let v = to_json(&map_daily(&d).unwrap());
    assert!(v.get("stress_data").is_none());
    assert!(v.get("calories_data").is_none());
    assert!(v.get("heart_rate_data").is_none());
}

#[test]
fn sleep_example() {
    let s: GarminSleep = serde_json::from_value(first("sleeps")).unwrap();
    let v = to_json(&map_sleep(&s).unwrap());
    let m = &v["metadata"];
    assert_eq!(m["summary_id"], "EXAMPLE_567890");
    assert_eq!(m["start_time"], "2016-01-10T11:53:01+02:00");
    assert_eq!(m["end_time"], "2016-01-10T16:07:25+02:00");
    assert_eq!(m["upload_type"], 1);
    let d = &v["sleep_durations_data"];
    assert_eq!(d["asleep"]["duration_asleep_state_seconds"], 14772.0);
    assert_eq!(d["asleep"]["duration_deep_sleep_state_seconds"], 11231.0);
    assert_eq!(d["asleep"]["duration_light_sleep_state_seconds"], 3541.0);
    assert_eq!(d["asleep"]["duration_REM_sleep_state_seconds"], 0.0);
    assert_eq!(d["awake"]["duration_awake_state_seconds"], 492.0);
    assert_eq!(d["other"]["duration_in_bed_seconds"], 15264.0);
    assert_eq!(d["other"]["duration_unmeasurable_sleep_seconds"], 0.0);
    let levels: Vec<i64> = d["hypnogram_samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["level"].as_i64().unwrap())
        .collect();
    assert_eq!(
        levels,
        vec![5, 4, 1, 4],
        "deep, light, awake, light in time order"
    );
    assert_eq!(
        d["hypnogram_samples"][1]["timestamp"],
        "2016-01-11T04:18:45+02:00"
    );
    let r = &v["respiration_data"];
    assert_eq!(
        r["oxygen_saturation_data"]["samples"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        r["oxygen_saturation_data"]["samples"][0],
        json!({"timestamp": "2016-01-10T11:53:01+02:00", "percentage": 95.0})
    );
    assert_eq!(r["breaths_data"]["samples"][1]["breaths_per_min"], 14.58);
    assert_eq!(v["scores"]["sleep_score"], 87.0);
}

#[test]
fn body_comp_example() {
    let b: GarminBodyComp = serde_json::from_value(first("bodyComps")).unwrap();
    let v = to_json(&map_body_comp(&b).unwrap());
    assert_eq!(v["metadata"]["start_time"], "2015-08-16T16:05:30+00:00");
    let m = &v["measurements_data"]["measurements"][0];
    assert_eq!(m["measurement_time"], "2015-08-16T16:05:30+00:00");
    assert_eq!(m["weight_kg"], 75.45);
    assert_eq!(m["BMI"], 23.2);
    assert_eq!(m["bodyfat_percentage"], 17.1);
    assert_eq!(m["water_percentage"], 59.4);
    assert_eq!(m["muscle_mass_g"], 25478.0);
    assert_eq!(m["bone_mass_g"], 2437.0);
}

#[test]
fn user_metrics_example() {
    let u: GarminUserMetrics = serde_json::from_value(first("userMetrics")).unwrap();
    let v = to_json(&map_user_metrics(&u).unwrap());
    assert_eq!(v["metadata"]["start_time"], "2017-03-23T00:00:00");
    assert_eq!(v["metadata"]["end_time"], "2017-03-24T00:00:00");
    assert_eq!(v["metadata"]["timestamp_localization"], 1);
    assert_eq!(v["oxygen_data"]["vo2max_ml_per_min_per_kg"], 48.0);
    assert_eq!(
        v["oxygen_data"]["vo2_samples"],
        json!([{"timestamp": "2017-03-23T00:00:00", "vo2max_ml_per_min_per_kg": 48.0}])
    );
    assert_eq!(
        v["measurements_data"]["measurements"][0]["estimated_fitness_age"],
        "32"
    );
    let empty: GarminUserMetrics =
        serde_json::from_value(json!({"calendarDate": "2017-03-23"})).unwrap();
    assert!(map_user_metrics(&empty).is_err());
}

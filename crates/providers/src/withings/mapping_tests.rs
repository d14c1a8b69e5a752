use super::*;
use serde_json::{json, Value};

// Example responses shaped as Withings' API reference documents them ("Measure -
// Getmeas", "Measure v2 - Getactivity", "Sleep v2 - Getsummary"), envelope included.
const GETMEAS: &str = include_str!("getmeas_example.json");
const GETACTIVITY: &str = include_str!("getactivity_example.json");
const SLEEP: &str = include_str!("sleep_summary_example.json");

fn body<T: serde::de::DeserializeOwned>(envelope: &str) -> T {
    let v: Value = serde_json::from_str(envelope).unwrap();
    assert_eq!(v["status"], 0);
    serde_json::from_value(v["body"].clone()).unwrap()
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap()
}

#[test]
fn maps_weight_and_blood_pressure_groups() {
    let m: MeasureBody = body(GETMEAS);
    assert!(!has_more(&m.more));
    let v = to_json(&map_body(&m.measuregrps, 1594245000, 1594250000).unwrap());
    assert_eq!(v["metadata"]["start_time"], "2020-07-08T21:50:00+00:00");
    assert_eq!(v["metadata"]["end_time"], "2020-07-08T23:13:20+00:00");
    let ms = v["measurements_data"]["measurements"].as_array().unwrap();
    assert_eq!(ms.len(), 1, "the BP group has no body measurement");
    let w = &ms[0];
    assert_eq!(w["measurement_time"], "2020-07-08T22:00:00+00:00");
    // value × 10^unit: 65750e-3 kg; kg → g for the masses.
    assert_eq!(w["weight_kg"], 65.75);
    assert_eq!(w["bodyfat_percentage"], 18.12);
    assert!((w["lean_mass_g"].as_f64().unwrap() - 53831.0).abs() < 1e-6);
    assert!((w["muscle_mass_g"].as_f64().unwrap() - 50980.0).abs() < 1e-6);
    assert!((w["bone_mass_g"].as_f64().unwrap() - 2851.0).abs() < 1e-6);
    assert_eq!(
        v["hydration_data"]["hydration_amount_samples"][0]["hydration_kg"],
        37.1
    );
    let bp = &v["blood_pressure_data"]["blood_pressure_samples"];
    assert_eq!(
        bp[0],
        json!({"timestamp": "2020-07-08T23:00:00+00:00", "diastolic_bp": 82.0, "systolic_bp": 128.0})
    );
    let hr = v["heart_data"]["heart_rate_data"]["detailed"]["hr_samples"]
        .as_array()
        .unwrap();
    assert_eq!(hr.len(), 2);
    assert_eq!(hr[1]["bpm"], 64.0);
    assert!(v.get("temperature_data").is_none());
    assert!(v.get("oxygen_data").is_none());
}

#[test]
fn other_measure_types_and_empty_groups() {
    let groups: Vec<MeasureGroup> = serde_json::from_value(json!([
        {"date": 1700000000, "measures": [
            {"value": 3712, "type": 71, "unit": -2}, {"value": 341, "type": 73, "unit": -1},
            {"value": 97, "type": 54, "unit": 0}, {"value": 452, "type": 123, "unit": -1},
            {"value": 78, "type": 91, "unit": -1}, {"value": 183, "type": 4, "unit": -2},
            {"value": 1, "type": 999, "unit": 0}, {"value": 5, "type": 1, "unit": 400}]}
    ]))
    .unwrap();
    let v = to_json(&map_body(&groups, 1700000000, 1700000000).unwrap());
    assert_eq!(
        v["temperature_data"]["body_temperature_samples"][0]["temperature_celsius"],
        37.12
    );
    assert_eq!(
        v["temperature_data"]["skin_temperature_samples"][0]["temperature_celsius"],
        34.1
    );
    assert_eq!(
        v["oxygen_data"]["saturation_samples"][0]["percentage"],
        97.0
    );
    assert_eq!(
        v["oxygen_data"]["vo2_samples"][0]["vo2max_ml_per_min_per_kg"],
        45.2
    );
    assert_eq!(
        v["heart_data"]["pulse_wave_velocity_samples"][0]["pulse_wave_velocity_meters_per_second"],
        7.8
    );
    assert_eq!(
        v["measurements_data"]["measurements"][0]["height_cm"],
        183.0
    );
    // Absurd exponent: ignored, not inf.
    assert!(v["measurements_data"]["measurements"][0]
        .get("weight_kg")
        .is_none());
    let nothing: Vec<MeasureGroup> = serde_json::from_value(
        json!([{"date": 1, "measures": [{"value": 1, "type": 999, "unit": 0}]}]),
    )
    .unwrap();
    assert!(map_body(&nothing, 0, 1).is_none());
    assert!(map_body(&[], 0, 1).is_none());
}

#[test]
fn maps_an_activity_day() {
    let a: ActivityBody = body(GETACTIVITY);
    let v = to_json(&map_daily(&a.activities[0]).unwrap());
    assert_eq!(
        v["metadata"],
        json!({"start_time": "2020-07-08T00:00:00+00:00", "end_time": "2020-07-09T00:00:00+00:00",
            "upload_type": 1})
    );
    assert_eq!(v["distance_data"]["steps"], 8046);
    assert_eq!(v["distance_data"]["distance_meters"], 6436);
    assert_eq!(v["distance_data"]["floors_climbed"], 5);
    assert_eq!(v["calories_data"]["total_burned_calories"], 2302);
    assert_eq!(v["calories_data"]["net_activity_calories"], 403);
    let d = &v["active_durations_data"];
    assert_eq!(d["activity_seconds"], 1860.0);
    assert_eq!(d["low_intensity_seconds"], 4560.0);
    assert_eq!(d["moderate_intensity_seconds"], 1320.0);
    assert_eq!(d["vigorous_intensity_seconds"], 540.0);
    let hr = &v["heart_rate_data"]["summary"];
    assert_eq!(hr["avg_hr_bpm"], 72.0);
    assert_eq!(hr["min_hr_bpm"], 51.0);
    assert_eq!(hr["max_hr_bpm"], 148.0);
    assert_eq!(
        hr["hr_zone_data"][3],
        json!({"zone": 3, "duration_seconds": 120.0})
    );
    let bare: WithingsActivity =
        serde_json::from_value(json!({"date": "2024-02-29", "moderate": 60, "intense": 30}))
            .unwrap();
    let v = to_json(&map_daily(&bare).unwrap());
    assert_eq!(v["active_durations_data"]["activity_seconds"], 90.0);
    assert!(v.get("heart_rate_data").is_none());
    let no_date: WithingsActivity = serde_json::from_value(json!({"steps": 1})).unwrap();
    assert!(map_daily(&no_date).is_none());
}

#[test]
fn maps_a_night() {
    let s: SleepBody = body(SLEEP);
    let v = to_json(&map_sleep(&s.series[0]).unwrap());
    let m = &v["metadata"];
    assert_eq!(m["start_time"], "2020-07-07T22:00:00+00:00");
    assert_eq!(m["end_time"], "2020-07-08T06:00:00+00:00");
    assert_eq!(m["summary_id"], "2081804");
    assert_eq!(m["upload_type"], 1);
    let d = &v["sleep_durations_data"];
    assert_eq!(d["asleep"]["duration_asleep_state_seconds"], 25920.0);
    assert_eq!(d["asleep"]["duration_light_sleep_state_seconds"], 13440.0);
    assert_eq!(d["asleep"]["duration_deep_sleep_state_seconds"], 6720.0);
    assert_eq!(d["asleep"]["duration_REM_sleep_state_seconds"], 5760.0);
    assert_eq!(d["asleep"]["num_REM_events"], 4);
    assert_eq!(d["awake"]["duration_awake_state_seconds"], 1380.0);
    assert_eq!(d["awake"]["num_wakeup_events"], 2);
    assert_eq!(d["awake"]["num_out_of_bed_events"], 1);
    assert_eq!(d["awake"]["sleep_latency_seconds"], 900.0);
    assert_eq!(d["awake"]["wake_up_latency_seconds"], 600.0);
    assert_eq!(d["other"]["duration_in_bed_seconds"], 28800.0);
    assert_eq!(d["sleep_efficiency"], 90.0);
    assert_eq!(v["heart_rate_data"]["summary"]["avg_hr_bpm"], 58.0);
    assert_eq!(
        v["respiration_data"]["breaths_data"],
        json!({"avg_breaths_per_min": 14.0, "max_breaths_per_min": 19.0, "min_breaths_per_min": 11.0})
    );
    assert_eq!(
        v["respiration_data"]["snoring_data"],
        json!({"num_snoring_events": 6, "total_snoring_duration_seconds": 540.0})
    );
    assert_eq!(v["scores"]["sleep_score"], 82.0);
    let no_dates: SleepSeries = serde_json::from_value(json!({"id": 1})).unwrap();
    assert!(map_sleep(&no_dates).is_none());
    let huge: SleepSeries =
        serde_json::from_value(json!({"startdate": i64::MAX, "enddate": i64::MAX})).unwrap();
    assert!(map_sleep(&huge).is_none());
}

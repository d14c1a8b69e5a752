//! `workout_created_example.json` is Suunto's documented `WORKOUT_CREATED` notification
//! (apizone.suunto.com/webhooks). `workout_summary_example.json` is the documented
//! answer shape of "Get workout summary as JSON" (`{"error","metadata","payload"}`,
//! apizone.suunto.com/docs/services/workout-api) filled with the same workout's values.

use super::mapping::*;
use serde_json::{json, Value};

fn summary() -> Workout {
    let a: WorkoutAnswer = serde_json::from_str(include_str!("workout_summary_example.json"))
        .expect("the example parses");
    a.payload.expect("payload")
}

fn to_json(v: &impl serde::Serialize) -> Value {
    let v = serde_json::to_value(v).unwrap();
    assert!(!v.to_string().contains("null"), "no nulls: {v}");
    v
}

#[test]
fn maps_the_workout_summary() {
    let v = to_json(&map_workout(&summary(), "x", Some("Suunto Vertical")).unwrap());
    let m = &v["metadata"];
    assert_eq!(m["summary_id"], "67604889401b942184624cb8");
    // 1702729200000 ms = 2023-12-16T12:20:00Z, shown at +120 min.
    assert_eq!(m["start_time"], "2023-12-16T14:20:00+02:00");
    assert_eq!(m["end_time"], "2023-12-16T15:20:00+02:00");
    assert_eq!(m["type"], 67, "activityId 3 → CROSS_COUNTRY_SKIING");
    assert_eq!(m["upload_type"], 1);
    let d = &v["distance_data"]["summary"];
    assert_eq!(d["distance_meters"], 10000);
    assert_eq!(d["steps"], 8500);
    assert_eq!(
        d["elevation"],
        json!({"gain_actual_meters": 120.5, "max_meters": 212.0, "min_meters": 98.5})
    );
    assert_eq!(v["calories_data"]["total_burned_calories"], 500);
    assert_eq!(
        v["heart_rate_data"]["summary"],
        json!({"avg_hr_bpm": 145.0, "max_hr_bpm": 175.0})
    );
    assert_eq!(
        v["movement_data"],
        json!({"avg_speed_meters_per_second": 2.78, "max_speed_meters_per_second": 6.0})
    );
    assert_eq!(v["active_durations_data"]["activity_seconds"], 3600.0);
    assert_eq!(v["device_data"]["name"], "Suunto Vertical");
}

#[test]
fn the_notifications_own_summary_maps_the_same_way() {
    // The workout object inside the documented notification has the summary's fields.
    let n: Value = serde_json::from_str(include_str!("workout_created_example.json")).unwrap();
    let w: Workout = serde_json::from_value(n["workout"].clone()).unwrap();
    let a = to_json(&map_workout(&w, "k", None).unwrap());
    let b = to_json(&map_workout(&summary(), "k", None).unwrap());
    assert_eq!(a["metadata"], b["metadata"], "stopTime or totalTime: same end");
    assert_eq!(a["calories_data"], b["calories_data"]);
    assert_eq!(a["heart_rate_data"], b["heart_rate_data"]);
    assert_eq!(a["heart_rate_data"]["summary"]["max_hr_bpm"], 175.0);
    assert!(a.get("device_data").is_none());
}

#[test]
fn sparse_and_odd_summaries_keep_what_they_can() {
    let w: Workout = serde_json::from_value(json!({
        "startTime": 1702729200123u64,
        "activityId": 9999,
        "totalDistance": -5,
        "energyConsumption": 1e300,
        "hrdata": {"workoutAvgHR": 0},
        "timeOffsetInMinutes": 100000
    }))
    .unwrap();
    let v = to_json(&map_workout(&w, "the-key", Some("  ")).unwrap());
    assert_eq!(v["metadata"]["summary_id"], "the-key");
    assert_eq!(v["metadata"]["type"], 108, "unknown activityId → OTHER");
    // No usable offset: UTC; no stop and no duration: ends at its start.
    assert_eq!(v["metadata"]["start_time"], "2023-12-16T12:20:00.123+00:00");
    assert_eq!(v["metadata"]["end_time"], v["metadata"]["start_time"]);
    for absent in [
        "distance_data",
        "calories_data",
        "heart_rate_data",
        "movement_data",
        "device_data",
        "active_durations_data",
    ] {
        assert!(v.get(absent).is_none(), "{absent}: {v}");
    }
}

#[test]
fn a_workout_without_a_start_is_dropped() {
    for w in [
        json!({}),
        json!({"startTime": -1}),
        json!({"startTime": 1e20}),
        json!({"startTime": null, "totalTime": 5}),
    ] {
        let w: Workout = serde_json::from_value(w).unwrap();
        assert!(matches!(
            map_workout(&w, "k", None),
            Err(crate::NormalizeError::Dropped { .. })
        ));
    }
}

#[test]
fn activity_ids_map_to_terra_codes() {
    assert_eq!(terra_activity_type(Some(0)), 7);
    assert_eq!(terra_activity_type(Some(1)), 8);
    assert_eq!(terra_activity_type(Some(2)), 1);
    assert_eq!(terra_activity_type(Some(21)), 82);
    assert_eq!(terra_activity_type(Some(4)), 108, "Other 1");
    assert_eq!(terra_activity_type(None), 108);
    assert_eq!(terra_activity_type(Some(-1)), 108);
}

proptest::proptest! {
    #[test]
    fn arbitrary_summaries_never_panic(
        start in proptest::num::f64::ANY,
        stop in proptest::option::of(proptest::num::f64::ANY),
        total in proptest::option::of(proptest::num::f64::ANY),
        offset in proptest::option::of(proptest::num::f64::ANY),
        n in proptest::option::of(proptest::num::f64::ANY),
        id in proptest::option::of(proptest::num::i64::ANY),
    ) {
        let w = Workout {
            start_time: Some(start),
            stop_time: stop,
            total_time: total,
            time_offset_in_minutes: offset,
            total_distance: n,
            step_count: n,
            energy_consumption: n,
            avg_speed: n,
            max_altitude: n,
            activity_id: id,
            ..Workout::default()
        };
        let _ = map_workout(&w, "k", Some("x"));
    }
}

#[test]
fn mapped_examples_validate_against_terra_python() {
    use crate::terra_check::{validate, with_event};
    let n: Value = serde_json::from_str(include_str!("workout_created_example.json")).unwrap();
    let w: Workout = serde_json::from_value(n["workout"].clone()).unwrap();
    let mut files = Vec::new();
    for (w, device) in [(summary(), Some("Suunto Vertical")), (w, None)] {
        let v = to_json(&map_workout(&w, "k", device).unwrap());
        files.extend(with_event("activity", "Activity", "SUUNTO", v));
    }
    validate(&files);
}

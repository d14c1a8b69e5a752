//! The research fixtures (one user in America/Los_Angeles, 2026-11-10) mapped field by
//! field, and the results validated against terra-python's models.


use chrono::{FixedOffset, NaiveDate};
use serde_json::{json, Value};

use super::*;
use crate::google_health::types::{self, ListResponse, RollupResponse};

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn pst() -> FixedOffset {
    FixedOffset::west_opt(8 * 3600).unwrap()
}

fn list(text: &str) -> Vec<DataPoint> {
    serde_json::from_str::<ListResponse>(text)
        .unwrap()
        .data_points
}

fn rollups() -> Vec<RollupPoint> {
    [
        include_str!("fixtures/daily_rollup_steps.json"),
        include_str!("fixtures/daily_rollup_distance.json"),
        include_str!("fixtures/daily_rollup_floors.json"),
        include_str!("fixtures/daily_rollup_altitude.json"),
        include_str!("fixtures/daily_rollup_total_calories.json"),
        include_str!("fixtures/daily_rollup_active_energy_burned.json"),
        include_str!("fixtures/daily_rollup_active_minutes.json"),
        include_str!("fixtures/daily_rollup_sedentary_period.json"),
        include_str!("fixtures/daily_rollup_heart_rate.json"),
        include_str!("fixtures/daily_rollup_time_in_heart_rate_zone.json"),
        // Not mapped (Terra has no field), must not disturb the rest.
        include_str!("fixtures/daily_rollup_active_zone_minutes.json"),
    ]
    .iter()
    .flat_map(|t| {
        serde_json::from_str::<RollupResponse>(t)
            .unwrap()
            .rollup_data_points
    })
    .collect()
}

fn daily_summaries() -> Vec<DataPoint> {
    [
        include_str!("fixtures/daily_resting_heart_rate_list.json"),
        include_str!("fixtures/daily_heart_rate_variability_list.json"),
        include_str!("fixtures/daily_oxygen_saturation_list.json"),
        include_str!("fixtures/daily_vo2_max_list.json"),
        include_str!("fixtures/daily_respiratory_rate_list.json"),
        include_str!("fixtures/daily_sleep_temperature_derivations_list.json"),
    ]
    .iter()
    .flat_map(|t| list(t))
    .collect()
}

fn daily() -> Daily {
    map_daily(d("2026-11-10"), pst(), &rollups(), &daily_summaries()).unwrap()
}

fn sleeps() -> Vec<Sleep> {
    let sessions = list(include_str!("fixtures/sleep_list.json"));
    let breathing = list(include_str!(
        "fixtures/respiratory_rate_sleep_summary_list.json"
    ));
    sessions
        .iter()
        .map(|s| map_sleep(s, &daily_summaries(), &breathing).unwrap())
        .collect()
}

fn activities() -> Vec<Activity> {
    list(include_str!("fixtures/exercise_list.json"))
        .iter()
        .map(|e| map_exercise(e).unwrap())
        .collect()
}

fn body_samples() -> Vec<DataPoint> {
    [
        include_str!("fixtures/weight_list.json"),
        include_str!("fixtures/body_fat_list.json"),
        include_str!("fixtures/heart_rate_variability_list.json"),
        include_str!("fixtures/oxygen_saturation_list.json"),
    ]
    .iter()
    .flat_map(|t| list(t))
    .collect()
}

fn body() -> Body {
    let height = list(include_str!("fixtures/height_list.json"));
    map_body(
        d("2026-11-10"),
        pst(),
        &body_samples(),
        height.first(),
        &daily_summaries(),
    )
    .unwrap()
}

#[test]
fn daily_from_rollups_and_summaries() {
    let v = serde_json::to_value(daily()).unwrap();
    assert_eq!(v["metadata"]["start_time"], "2026-11-10T00:00:00-08:00");
    assert_eq!(v["metadata"]["end_time"], "2026-11-11T00:00:00-08:00");
    assert_eq!(v["metadata"]["upload_type"], 1);
    let dist = &v["distance_data"];
    assert_eq!(dist["steps"], 10432);
    assert_eq!(dist["distance_meters"], 8123, "8,123,450 mm");
    assert_eq!(dist["floors_climbed"], 9);
    assert_eq!(dist["elevation"]["gain_actual_meters"], 27.432);
    let cal = &v["calories_data"];
    assert_eq!(cal["total_burned_calories"], 2542);
    assert_eq!(cal["net_activity_calories"], 812);
    assert_eq!(cal["BMR_calories"], 1729, "total − active");
    let act = &v["active_durations_data"];
    assert_eq!(act["low_intensity_seconds"], 183.0 * 60.0);
    assert_eq!(act["moderate_intensity_seconds"], 22.0 * 60.0);
    assert_eq!(act["vigorous_intensity_seconds"], 41.0 * 60.0);
    assert_eq!(act["activity_seconds"], 246.0 * 60.0);
    assert_eq!(act["inactivity_seconds"], 34560.0);
    let hr = &v["heart_rate_data"]["summary"];
    assert_eq!(hr["avg_hr_bpm"], 71.4);
    assert_eq!(hr["max_hr_bpm"], 171.0);
    assert_eq!(hr["min_hr_bpm"], 49.0);
    assert_eq!(hr["resting_hr_bpm"], 57.0, "the 10th's, not the 9th's 58");
    assert_eq!(hr["avg_hrv_rmssd"], 39.8);
    assert_eq!(
        hr["hr_zone_data"],
        json!([
            {"zone": 1, "name": "LIGHT", "duration_seconds": 5460.0},
            {"zone": 2, "name": "MODERATE", "duration_seconds": 1320.0},
            {"zone": 3, "name": "VIGOROUS", "duration_seconds": 2280.0},
            {"zone": 4, "name": "PEAK", "duration_seconds": 360.0}
        ])
    );
    assert_eq!(v["oxygen_data"]["avg_saturation_percentage"], 95.9);
    assert_eq!(v["oxygen_data"]["vo2max_ml_per_min_per_kg"], 46.8);
    // Another day of the same buckets: nothing.
    assert!(map_daily(d("2026-11-09"), pst(), &rollups(), &[]).is_none());
    assert!(map_daily(d("2026-11-10"), pst(), &[], &[]).is_none());
}

#[test]
fn sleep_sessions_with_stages_and_the_nights_summaries() {
    let s = sleeps();
    assert_eq!(s.len(), 2);
    let main = serde_json::to_value(&s[0]).unwrap();
    let m = &main["metadata"];
    assert_eq!(
        m["summary_id"], "8423783966740345544",
        "64-bit id kept as text"
    );
    assert_eq!(m["start_time"], "2026-11-09T23:12:00-08:00");
    assert_eq!(m["end_time"], "2026-11-10T06:21:30-08:00");
    assert_eq!(m["is_nap"], false);
    assert_eq!(m["upload_type"], 1);
    let dur = &main["sleep_durations_data"];
    assert_eq!(dur["asleep"]["duration_asleep_state_seconds"], 412.0 * 60.0);
    assert_eq!(
        dur["asleep"]["duration_light_sleep_state_seconds"],
        270.0 * 60.0
    );
    assert_eq!(
        dur["asleep"]["duration_deep_sleep_state_seconds"],
        65.0 * 60.0
    );
    assert_eq!(
        dur["asleep"]["duration_REM_sleep_state_seconds"],
        78.0 * 60.0
    );
    assert_eq!(dur["asleep"]["num_REM_events"], 3);
    assert_eq!(dur["awake"]["duration_awake_state_seconds"], 17.0 * 60.0);
    assert_eq!(dur["awake"]["num_wakeup_events"], 3);
    assert_eq!(dur["awake"]["sleep_latency_seconds"], 360.0);
    assert_eq!(dur["awake"]["wake_up_latency_seconds"], 0.0);
    assert_eq!(dur["awake"]["num_out_of_bed_events"], 1);
    assert_eq!(dur["awake"]["duration_short_interruption_seconds"], 90.0);
    assert_eq!(dur["other"]["duration_in_bed_seconds"], 429.0 * 60.0);
    assert_eq!(dur["sleep_efficiency"], 96.0, "412 / 429 minutes");
    let hyp = dur["hypnogram_samples"].as_array().unwrap();
    assert_eq!(
        hyp[0],
        json!({"timestamp": "2026-11-09T23:12:00-08:00", "level": 1})
    );
    assert_eq!(hyp[1]["level"], 4);
    assert_eq!(hyp[2]["level"], 5);
    assert_eq!(hyp[4]["level"], 6);
    let r = &main["respiration_data"];
    assert_eq!(r["breaths_data"]["avg_breaths_per_min"], 14.6);
    assert_eq!(
        r["oxygen_saturation_data"]["avg_saturation_percentage"],
        95.9
    );
    assert_eq!(main["heart_rate_data"]["summary"]["avg_hrv_rmssd"], 39.8);
    assert_eq!(main["temperature_data"]["delta"], 0.21);

    let nap = serde_json::to_value(&s[1]).unwrap();
    assert_eq!(nap["metadata"]["is_nap"], true);
    assert_eq!(nap["metadata"]["start_time"], "2026-11-08T14:20:00-08:00");
    let levels: Vec<i64> = nap["sleep_durations_data"]["hypnogram_samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["level"].as_i64().unwrap())
        .collect();
    assert_eq!(levels, [2, 1, 2, 1], "ASLEEP, RESTLESS, ASLEEP, AWAKE");
    assert!(
        nap.get("respiration_data").is_none(),
        "a nap takes no night summary"
    );
    assert!(nap.get("temperature_data").is_none());
}

#[test]
fn mirrored_sleep_copies_are_sent_once() {
    let mut sessions = list(include_str!("fixtures/sleep_list.json"));
    let mut copy = sessions[0].clone();
    copy.name = Some("users/u/dataTypes/sleep/dataPoints/mirror-from-health-kit".into());
    sessions.insert(1, copy);
    let unique = unique_sessions(&sessions);
    assert_eq!(unique.len(), 2);
    assert_eq!(unique[0].id(), Some("8423783966740345544"));
}

#[test]
fn exercise_sessions() {
    let a = activities();
    let run = serde_json::to_value(&a[0]).unwrap();
    assert_eq!(
        run["metadata"],
        json!({"summary_id": "2026443605080188808", "start_time": "2026-11-10T09:05:00-08:00",
            "end_time": "2026-11-10T09:52:10-08:00", "type": 8, "upload_type": 1, "name": "Run"})
    );
    assert_eq!(
        run["distance_data"]["summary"],
        json!({"distance_meters": 8021, "steps": 7420, "elevation": {"gain_actual_meters": 41.2}})
    );
    assert_eq!(run["calories_data"]["total_burned_calories"], 512);
    assert_eq!(run["heart_rate_data"]["summary"]["avg_hr_bpm"], 149.0);
    assert_eq!(run["movement_data"]["avg_speed_meters_per_second"], 2.9248);
    assert_eq!(run["active_durations_data"]["activity_seconds"], 2742.5);
    assert_eq!(
        run["active_durations_data"]["rest_seconds"], 87.5,
        "2830 s elapsed"
    );
    assert_eq!(run["device_data"]["name"], "Pixel Watch 4");
    let walk = serde_json::to_value(&a[1]).unwrap();
    assert_eq!(walk["metadata"]["type"], 7);
    assert_eq!(walk["metadata"]["upload_type"], 2, "logged by hand");
    assert_eq!(walk["metadata"]["start_time"], "2026-11-09T17:30:00-08:00");
    assert!(walk.get("heart_rate_data").is_none());
    assert_eq!(activity_type(Some("YOGA_FLOW")), 100);
    assert_eq!(activity_type(Some("CURLING")), 108);
    assert_eq!(activity_type(None), 108);
}

#[test]
fn body_measurements_and_samples_of_the_day() {
    let v = serde_json::to_value(body()).unwrap();
    assert_eq!(v["metadata"]["start_time"], "2026-11-10T00:00:00-08:00");
    assert_eq!(
        v["measurements_data"]["measurements"],
        json!([{"measurement_time": "2026-11-10T07:02:11-08:00", "weight_kg": 78.45,
            "bodyfat_percentage": 21.3, "height_cm": 179.0}]),
        "weight and body fat of one weighing are one measurement; the 8th's weight is not this day's"
    );
    let hr = &v["heart_data"]["heart_rate_data"];
    assert_eq!(hr["summary"]["avg_hrv_rmssd"], 39.8);
    assert_eq!(
        hr["detailed"]["hrv_samples_rmssd"],
        json!([{"timestamp": "2026-11-10T03:05:00-08:00", "hrv_rmssd": 38.2},
               {"timestamp": "2026-11-10T03:10:00-08:00", "hrv_rmssd": 41.7}])
    );
    assert_eq!(
        hr["detailed"]["hrv_samples_sdnn"],
        json!([{"timestamp": "2026-11-10T03:10:00-08:00", "hrv_sdnn": 52.3}])
    );
    assert_eq!(v["oxygen_data"]["avg_saturation_percentage"], 95.9);
    assert_eq!(
        v["oxygen_data"]["saturation_samples"],
        json!([{"timestamp": "2026-11-10T03:10:00-08:00", "percentage": 95.8},
               {"timestamp": "2026-11-10T03:11:00-08:00", "percentage": 96.4}])
    );
    assert_eq!(
        v["device_data"],
        json!({"name": "Aria Air", "manufacturer": "Fitbit"})
    );
    // The 8th: the manual weight with its note, no height known then.
    let samples = body_samples();
    let b = serde_json::to_value(map_body(d("2026-11-08"), pst(), &samples, None, &[]).unwrap())
        .unwrap();
    assert_eq!(
        b["measurements_data"]["measurements"],
        json!([{"measurement_time": "2026-11-08T08:30:00-08:00", "weight_kg": 78.9,
            "user_notes": "after breakfast"}])
    );
    assert!(map_body(d("2026-11-09"), pst(), &samples, None, &[]).is_none());
}

#[test]
fn int64_strings_numbers_and_nonsense_all_parse() {
    let p: DataPoint = serde_json::from_value(json!({
        "weight": {"weightGrams": "70000", "sampleTime": {"physicalTime": "2026-01-01T00:00:00Z"}},
        "exercise": {"metricsSummary": {"steps": 12, "caloriesKcal": "NaN", "distanceMillimeters": {"x": 1}},
            "interval": {}}
    }))
    .unwrap();
    assert_eq!(p.weight.unwrap().weight_grams, Some(70000.0));
    let m = p.exercise.unwrap().metrics_summary.unwrap();
    assert_eq!(m.steps, Some(12.0));
    assert_eq!(m.calories_kcal, None);
    assert_eq!(m.distance_millimeters, None);
    assert_eq!(types::seconds("3633.600s"), Some(3633.6));
    assert_eq!(types::seconds("12"), None);
    assert_eq!(types::offset("-25200s"), FixedOffset::west_opt(7 * 3600));
    assert_eq!(types::offset("50401s"), None);
    assert_eq!(types::offset("30s"), None);
}

#[test]
fn mapped_fixtures_validate_against_terra_python() {
    let user = json!({"user_id": "0b9c3f1e-6a59-4a8e-9d1c-4d3c2b1a0f9e",
        "provider": "GOOGLE_HEALTH", "reference_id": "customer-42"});
    let event = |kind: &str, data: Value| json!({"type": kind, "user": user, "data": [data], "version": pulsegate_schema::PAYLOAD_VERSION});
    let (daily, sleeps, acts, body) = (
        serde_json::to_value(daily()).unwrap(),
        sleeps(),
        activities(),
        serde_json::to_value(body()).unwrap(),
    );
    let mut files: Vec<(&str, &str, Value)> = vec![
        ("daily", "Daily", daily.clone()),
        ("daily_event", "DailyEvent", event("daily", daily)),
        ("body", "Body", body.clone()),
        ("body_event", "BodyEvent", event("body", body)),
    ];
    for s in &sleeps {
        let v = serde_json::to_value(s).unwrap();
        files.push(("sleep", "Sleep", v.clone()));
        files.push(("sleep_event", "SleepEvent", event("sleep", v)));
    }
    for a in &acts {
        let v = serde_json::to_value(a).unwrap();
        files.push(("activity", "Activity", v.clone()));
        files.push(("activity_event", "ActivityEvent", event("activity", v)));
    }
    crate::terra_check::validate(&files);
}

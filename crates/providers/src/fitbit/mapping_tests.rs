use super::*;
use serde_json::{json, Value};

// Example responses modelled on Fitbit's Web API reference examples ("Get Daily Activity
// Summary", "Get Activity Log List", "Get Sleep Log by Date" v1.2, "Get Weight Logs").
const DAILY: &str = include_str!("daily_activity_example.json");
const LOGS: &str = include_str!("activity_log_list_example.json");
const SLEEP: &str = include_str!("sleep_example.json");
const WEIGHT: &str = include_str!("weight_example.json");

fn pst() -> FixedOffset {
    FixedOffset::west_opt(8 * 3600).unwrap()
}

fn date(s: &str) -> NaiveDate {
    parse_date(s).unwrap()
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap()
}

#[test]
fn maps_the_daily_activity_summary() {
    let r: DailyActivityResponse = serde_json::from_str(DAILY).unwrap();
    let d = map_daily(r.summary.as_ref().unwrap(), date("2019-01-03"), pst());
    let v = to_json(&d);
    assert_eq!(v["metadata"]["start_time"], "2019-01-03T00:00:00-08:00");
    assert_eq!(v["metadata"]["end_time"], "2019-01-04T00:00:00-08:00");
    assert_eq!(v["metadata"]["upload_type"], 1);
    // distances "total" 1.26 km → 1260 m; steps, floors, elevation (m).
    assert_eq!(v["distance_data"]["distance_meters"], 1260);
    assert_eq!(v["distance_data"]["steps"], 2771);
    assert_eq!(v["distance_data"]["floors_climbed"], 1);
    assert_eq!(v["distance_data"]["elevation"]["gain_actual_meters"], 3.05);
    assert_eq!(v["calories_data"]["total_burned_calories"], 2628);
    assert_eq!(v["calories_data"]["BMR_calories"], 1973);
    assert_eq!(v["calories_data"]["net_activity_calories"], 525);
    // Minutes → seconds.
    let a = &v["active_durations_data"];
    assert_eq!(a["low_intensity_seconds"], 6600.0);
    assert_eq!(a["moderate_intensity_seconds"], 660.0);
    assert_eq!(a["vigorous_intensity_seconds"], 240.0);
    assert_eq!(a["activity_seconds"], 7500.0);
    assert_eq!(a["inactivity_seconds"], 48120.0);
    let hr = &v["heart_rate_data"]["summary"];
    assert_eq!(hr["resting_hr_bpm"], 77.0);
    assert_eq!(hr["hr_zone_data"][1]["name"], "Fat Burn");
    assert_eq!(hr["hr_zone_data"][1]["zone"], 1);
    assert_eq!(hr["hr_zone_data"][1]["duration_seconds"], 5700.0);
    assert_eq!(hr["hr_zone_data"].as_array().unwrap().len(), 4);
    // Only Terra names.
    assert!(v.get("summary").is_none());
}

#[test]
fn empty_summary_has_only_metadata() {
    let d = map_daily(&ActivitySummary::default(), date("2024-02-29"), pst());
    assert_eq!(
        to_json(&d),
        json!({"metadata": {"start_time": "2024-02-29T00:00:00-08:00",
            "end_time": "2024-03-01T00:00:00-08:00", "upload_type": 1}})
    );
}

#[test]
fn maps_activity_logs() {
    let r: ActivityLogList = serde_json::from_str(LOGS).unwrap();
    let walk = to_json(&map_activity_log(&r.activities[0]).unwrap());
    let m = &walk["metadata"];
    assert_eq!(m["summary_id"], "19018673358");
    assert_eq!(m["name"], "Walk");
    assert_eq!(m["type"], 7);
    assert_eq!(m["upload_type"], 1);
    assert_eq!(m["start_time"], "2019-01-03T12:08:23-08:00");
    // duration 1 536 000 ms = 25 min 36 s.
    assert_eq!(m["end_time"], "2019-01-03T12:33:59-08:00");
    assert_eq!(walk["distance_data"]["summary"]["distance_meters"], 1771);
    assert_eq!(walk["distance_data"]["summary"]["steps"], 1799);
    assert_eq!(
        walk["distance_data"]["summary"]["elevation"]["gain_actual_meters"],
        9.144
    );
    assert_eq!(walk["calories_data"]["total_burned_calories"], 204);
    assert_eq!(walk["heart_rate_data"]["summary"]["avg_hr_bpm"], 106.0);
    assert_eq!(walk["active_durations_data"]["activity_seconds"], 1536.0);
    assert_eq!(walk["active_durations_data"]["rest_seconds"], 0.0);
    assert_eq!(walk["device_data"]["name"], "Charge 3");

    let bike = to_json(&map_activity_log(&r.activities[1]).unwrap());
    assert_eq!(bike["metadata"]["type"], 1);
    assert_eq!(bike["metadata"]["upload_type"], 2, "logType manual");
    assert_eq!(bike["active_durations_data"]["rest_seconds"], 180.0);
    assert!(bike.get("heart_rate_data").is_none());
    assert!(bike.get("device_data").is_none());

    // Miles are converted; no start time or id → not mapped.
    let miles: ActivityLog = serde_json::from_value(json!({"logId": 1,
        "startTime": "2024-01-01T08:00:00.000+01:00", "distance": 2.0, "distanceUnit": "Mile"}))
    .unwrap();
    assert_eq!(
        to_json(&map_activity_log(&miles).unwrap())["distance_data"]["summary"]["distance_meters"],
        3219
    );
    let none: ActivityLog = serde_json::from_value(json!({"logId": 1})).unwrap();
    assert!(map_activity_log(&none).is_none());
    assert_eq!(activity_type(Some("Yoga")), 100);
    assert_eq!(activity_type(Some("Sport")), 108);
    assert_eq!(activity_type(None), 108);
}

#[test]
fn maps_a_stages_sleep_log() {
    let r: SleepResponse = serde_json::from_str(SLEEP).unwrap();
    let v = to_json(&map_sleep(&r.sleep[0], pst()).unwrap());
    let m = &v["metadata"];
    assert_eq!(m["start_time"], "2020-02-20T23:21:30-08:00");
    assert_eq!(m["end_time"], "2020-02-21T07:03:30-08:00");
    assert_eq!(m["summary_id"], "26013218219");
    assert_eq!(m["is_nap"], false);
    assert_eq!(m["upload_type"], 1);
    let d = &v["sleep_durations_data"];
    assert_eq!(d["asleep"]["duration_asleep_state_seconds"], 23040.0);
    assert_eq!(d["asleep"]["duration_deep_sleep_state_seconds"], 6240.0);
    assert_eq!(d["asleep"]["duration_light_sleep_state_seconds"], 12300.0);
    assert_eq!(d["asleep"]["duration_REM_sleep_state_seconds"], 4500.0);
    assert_eq!(d["asleep"]["num_REM_events"], 11);
    assert_eq!(d["awake"]["duration_awake_state_seconds"], 4680.0);
    assert_eq!(d["awake"]["num_wakeup_events"], 30);
    assert_eq!(d["awake"]["sleep_latency_seconds"], 0.0);
    assert_eq!(d["other"]["duration_in_bed_seconds"], 27720.0);
    assert_eq!(d["sleep_efficiency"], 96.0);
    let h = d["hypnogram_samples"].as_array().unwrap();
    assert_eq!(h.len(), 5);
    assert_eq!(
        h[0],
        json!({"timestamp": "2020-02-20T23:21:30-08:00", "level": 1})
    );
    assert_eq!(h[1]["level"], 4);
    assert_eq!(h[2]["level"], 5);
    assert_eq!(h[3]["level"], 6);
}

#[test]
fn classic_and_partial_sleep_logs() {
    let classic: SleepLog = serde_json::from_value(json!({
        "logId": 9, "startTime": "2024-01-01T13:00:00.000", "endTime": "2024-01-01T13:40:00.000",
        "isMainSleep": false, "logType": "manual", "type": "classic", "minutesAsleep": 35,
        "levels": {"data": [{"dateTime": "2024-01-01T13:00:00.000", "level": "asleep", "seconds": 60},
                             {"dateTime": "2024-01-01T13:01:00.000", "level": "restless", "seconds": 60},
                             {"dateTime": "2024-01-01T13:02:00.000", "level": "weird", "seconds": 60}],
                   "summary": {"asleep": {"count": 0, "minutes": 35}, "awake": {"count": 2, "minutes": 1},
                               "restless": {"count": 3, "minutes": 4}}}
    }))
    .unwrap();
    let v = to_json(&map_sleep(&classic, FixedOffset::east_opt(0).unwrap()).unwrap());
    assert_eq!(v["metadata"]["is_nap"], true);
    assert_eq!(v["metadata"]["upload_type"], 2);
    assert_eq!(v["metadata"]["start_time"], "2024-01-01T13:00:00+00:00");
    assert_eq!(v["sleep_durations_data"]["awake"]["num_wakeup_events"], 2);
    let levels: Vec<i64> = v["sleep_durations_data"]["hypnogram_samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["level"].as_i64().unwrap())
        .collect();
    assert_eq!(levels, vec![2, 1, 0]);
    assert!(v["sleep_durations_data"]["asleep"]
        .get("duration_deep_sleep_state_seconds")
        .is_none());
    let no_times: SleepLog = serde_json::from_value(json!({"logId": 1})).unwrap();
    assert!(map_sleep(&no_times, pst()).is_none());
}

#[test]
fn maps_weight_logs() {
    let r: WeightResponse = serde_json::from_str(WEIGHT).unwrap();
    let v = to_json(&map_body(&r.weight, date("2019-03-01"), pst()).unwrap());
    assert_eq!(v["metadata"]["start_time"], "2019-03-01T00:00:00-08:00");
    assert_eq!(v["metadata"]["end_time"], "2019-03-02T00:00:00-08:00");
    let ms = v["measurements_data"]["measurements"].as_array().unwrap();
    assert_eq!(ms.len(), 2);
    assert_eq!(
        ms[0],
        json!({"measurement_time": "2019-03-01T07:58:14-08:00", "BMI": 23.57,
            "bodyfat_percentage": 14.5, "weight_kg": 72.5})
    );
    assert_eq!(ms[1]["weight_kg"], 72.6);
    assert!(ms[1].get("bodyfat_percentage").is_none());
    assert!(map_body(&[], date("2019-03-01"), pst()).is_none());
}

#[test]
fn offsets_and_times() {
    assert_eq!(offset_from_millis(-28_800_000.0), pst());
    assert_eq!(offset_from_millis(19_800_000.0).local_minus_utc(), 19800);
    // Nonsense → UTC.
    for bad in [f64::NAN, 1e15, 1234.0] {
        assert_eq!(offset_from_millis(bad).local_minus_utc(), 0);
    }
    assert_eq!(
        format_time(local_time("2020-02-20T23:21:30", pst()).unwrap()),
        "2020-02-20T23:21:30-08:00"
    );
    assert!(local_time("2020-02-20", pst()).is_none());
    assert!(parse_date("2020-02-30").is_none());
}

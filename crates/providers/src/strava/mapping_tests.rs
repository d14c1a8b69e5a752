use super::*;
use serde_json::{json, Value};

/// Strava's own example response of `GET /api/v3/activities/{id}` (API reference,
/// `getActivityById`), verbatim.
const EXAMPLE: &str = include_str!("detailed_activity_example.json");

fn example() -> DetailedActivity {
    serde_json::from_str(EXAMPLE).expect("Strava's example parses")
}

fn to_json(a: &Activity) -> Value {
    serde_json::to_value(a).unwrap()
}

#[test]
fn maps_stravas_documented_example() {
    let a = map_activity(&example(), 1).unwrap();
    let v = to_json(&a);
    let m = &v["metadata"];
    assert_eq!(m["summary_id"], "12345678987654321");
    assert_eq!(m["name"], "Happy Friday");
    // start_date 14:52:54Z, utc_offset -28800; elapsed 4410 s = 1:13:30.
    assert_eq!(m["start_time"], "2018-02-16T06:52:54-08:00");
    assert_eq!(m["end_time"], "2018-02-16T08:06:24-08:00");
    assert_eq!(m["type"], 15, "MountainBikeRide → MOUNTAIN_BIKING");
    assert_eq!(m["upload_type"], 1, "manual: false → AUTOMATIC");

    let d = &v["distance_data"]["summary"];
    assert_eq!(d["distance_meters"], 28099);
    assert_eq!(d["elevation"]["gain_actual_meters"], 516.0);
    assert_eq!(d["elevation"]["max_meters"], 446.6);
    assert_eq!(d["elevation"]["min_meters"], 17.2);

    assert_eq!(v["calories_data"]["total_burned_calories"], 870);
    assert_eq!(v["movement_data"]["avg_speed_meters_per_second"], 6.679);
    assert_eq!(v["movement_data"]["max_speed_meters_per_second"], 18.5);
    assert_eq!(v["movement_data"]["avg_cadence_rpm"], 78.5);
    assert_eq!(v["active_durations_data"]["activity_seconds"], 4207.0);
    assert_eq!(v["active_durations_data"]["rest_seconds"], 203.0);
    assert_eq!(v["power_data"]["avg_watts"], 185.5);
    assert_eq!(v["power_data"]["max_watts"], 743.0);
    assert_eq!(v["work_data"]["work_kilojoules"], 780.5);
    assert_eq!(v["device_data"]["name"], "Garmin Edge 1030");
    let poly = v["polyline_map_data"]["summary_polyline"].as_str().unwrap();
    assert!(poly.starts_with("ki{eFvqfiVsBmA`Feh@qg@iX`B}JeCcCqGjIq~@kf@cM{KeHeX"));
    assert!(poly.ends_with("HnCvBdA"));
    // has_heartrate: false and no heart rate fields: nothing invented.
    assert!(v.get("heart_rate_data").is_none());
    assert_only_terra_fields(&v);
}

#[test]
fn heart_rate_manual_and_calorie_fallback() {
    let mut raw: Value = serde_json::from_str(EXAMPLE).unwrap();
    raw["average_heartrate"] = json!(151.2);
    raw["max_heartrate"] = json!(178);
    raw["manual"] = json!(true);
    raw["calories"] = json!(0);
    raw["sport_type"] = json!("Run");
    raw["type"] = json!("Run");
    raw["device_name"] = json!("");
    raw["location_city"] = json!("Oakland");
    let a: DetailedActivity = serde_json::from_value(raw).unwrap();
    let v = to_json(&map_activity(&a, 1).unwrap());
    assert_eq!(v["heart_rate_data"]["summary"]["avg_hr_bpm"], 151.2);
    assert_eq!(v["heart_rate_data"]["summary"]["max_hr_bpm"], 178.0);
    assert_eq!(v["metadata"]["upload_type"], 2);
    assert_eq!(v["metadata"]["type"], 8);
    assert_eq!(v["metadata"]["city"], "Oakland");
    // calories 0 → kilojoules 780.5 taken 1:1 as kcal.
    assert_eq!(v["calories_data"]["total_burned_calories"], 781);
    assert!(
        v.get("device_data").is_none(),
        "empty device name is not sent"
    );
    assert_only_terra_fields(&v);
}

#[test]
fn minimal_activity_has_only_metadata() {
    let a: DetailedActivity = serde_json::from_value(json!({
        "id": 7, "start_date": "2026-11-20T06:01:02Z", "utc_offset": 3600.0,
        "elapsed_time": 60, "sport_type": "Swim"
    }))
    .unwrap();
    let v = to_json(&map_activity(&a, 99).unwrap());
    assert_eq!(
        v,
        json!({"metadata": {"summary_id": "7", "start_time": "2026-11-20T07:01:02+01:00",
            "end_time": "2026-11-20T07:02:02+01:00", "type": 82, "upload_type": 1}})
    );
    // Without an id the notification's object id is used; without start_date: dropped.
    let a: DetailedActivity =
        serde_json::from_value(json!({"start_date": "2026-11-20T06:01:02Z"})).unwrap();
    assert_eq!(
        to_json(&map_activity(&a, 99).unwrap())["metadata"]["summary_id"],
        "99"
    );
    let a: DetailedActivity = serde_json::from_value(json!({"id": 1})).unwrap();
    assert!(matches!(
        map_activity(&a, 1),
        Err(NormalizeError::Dropped {
            reason: "bad_response",
            ..
        })
    ));
}

#[test]
fn time_zone_offsets() {
    let start = parse_utc("2026-11-20T06:01:02Z").unwrap();
    let off = |v: Value| {
        let a: DetailedActivity = serde_json::from_value(v).unwrap();
        format_time(start, activity_offset(&a, start))
    };
    // utc_offset wins (it carries daylight saving; the timezone label does not).
    assert_eq!(
        off(json!({"utc_offset": -25200, "timezone": "(GMT-08:00) America/Los_Angeles"})),
        "2026-11-19T23:01:02-07:00"
    );
    assert_eq!(
        off(json!({"utc_offset": 19800})),
        "2026-11-20T11:31:02+05:30"
    );
    assert_eq!(
        off(json!({"utc_offset": 20700})),
        "2026-11-20T11:46:02+05:45"
    );
    assert_eq!(off(json!({"utc_offset": 0})), "2026-11-20T06:01:02+00:00");
    // Then start_date_local − start_date.
    assert_eq!(
        off(json!({"start_date_local": "2026-11-20T07:01:02Z"})),
        "2026-11-20T07:01:02+01:00"
    );
    // Then the GMT label.
    assert_eq!(
        off(json!({"timezone": "(GMT+09:30) Australia/Darwin"})),
        "2026-11-20T15:31:02+09:30"
    );
    // Nonsense offsets fall through to the next source, finally UTC.
    assert_eq!(
        off(json!({"utc_offset": 999999, "timezone": "(GMT-03:00) America/Sao_Paulo"})),
        "2026-11-20T03:01:02-03:00"
    );
    assert_eq!(
        off(json!({"timezone": "Europe/Paris"})),
        "2026-11-20T06:01:02+00:00"
    );
    assert_eq!(
        parse_gmt_offset("(GMT+00:00) Europe/London")
            .unwrap()
            .local_minus_utc(),
        0
    );
    assert_eq!(
        parse_gmt_offset("(GMT-08:00) America/Los_Angeles")
            .unwrap()
            .local_minus_utc(),
        -28800
    );
    assert!(parse_gmt_offset("(GMT+5) x").is_none());
    assert!(parse_gmt_offset("(GMT+05:99) x").is_none());
    assert!(parse_gmt_offset("GMT").is_none());
}

#[test]
fn extreme_numbers_do_not_panic() {
    let a: DetailedActivity = serde_json::from_value(json!({
        "start_date": "2026-11-20T06:01:02Z", "elapsed_time": 1e300, "moving_time": -5,
        "distance": 1e300, "calories": -1, "kilojoules": -2, "utc_offset": -1e300
    }))
    .unwrap();
    let v = to_json(&map_activity(&a, 1).unwrap());
    assert_eq!(v["active_durations_data"]["activity_seconds"], 0.0);
    assert!(v.get("calories_data").is_none());
}

/// Terra's model fields (terra-python `terra/types`) for every object the mapping emits.
fn terra_fields(path: &str) -> &'static [&'static str] {
    match path {
        "" => &[
            "active_durations_data",
            "calories_data",
            "cheat_detection",
            "data_enrichment",
            "device_data",
            "distance_data",
            "energy_data",
            "heart_rate_data",
            "lap_data",
            "MET_data",
            "metadata",
            "movement_data",
            "oxygen_data",
            "polyline_map_data",
            "position_data",
            "power_data",
            "strain_data",
            "TSS_data",
            "work_data",
        ],
        "metadata" => &[
            "city",
            "country",
            "end_time",
            "name",
            "start_time",
            "state",
            "summary_id",
            "timestamp_localization",
            "type",
            "upload_type",
        ],
        "distance_data" | "heart_rate_data" => &["detailed", "summary"],
        "distance_data.summary" => &[
            "distance_meters",
            "elevation",
            "floors_climbed",
            "steps",
            "swimming",
        ],
        "distance_data.summary.elevation" => &[
            "avg_meters",
            "gain_actual_meters",
            "gain_planned_meters",
            "loss_actual_meters",
            "max_meters",
            "min_meters",
        ],
        "calories_data" => &[
            "BMR_calories",
            "calorie_samples",
            "net_activity_calories",
            "net_intake_calories",
            "total_burned_calories",
        ],
        "heart_rate_data.summary" => &[
            "avg_hr_bpm",
            "avg_hrv_rmssd",
            "avg_hrv_sdnn",
            "hr_zone_data",
            "max_hr_bpm",
            "min_hr_bpm",
            "resting_hr_bpm",
            "user_max_hr_bpm",
        ],
        "movement_data" => &[
            "adjusted_max_speed_meters_per_second",
            "avg_cadence_rpm",
            "avg_pace_minutes_per_kilometer",
            "avg_speed_meters_per_second",
            "avg_torque_newton_meters",
            "avg_velocity_meters_per_second",
            "cadence_samples",
            "max_cadence_rpm",
            "max_pace_minutes_per_kilometer",
            "max_speed_meters_per_second",
            "max_torque_newton_meters",
            "max_velocity_meters_per_second",
            "normalized_speed_meters_per_second",
            "speed_samples",
            "torque_samples",
        ],
        "active_durations_data" => &[
            "activity_levels_samples",
            "activity_seconds",
            "inactivity_seconds",
            "low_intensity_seconds",
            "moderate_intensity_seconds",
            "num_continuous_inactive_periods",
            "rest_seconds",
            "vigorous_intensity_seconds",
            "standing_hours_count",
            "standing_seconds",
        ],
        "power_data" => &["avg_watts", "max_watts", "power_samples"],
        "device_data" => &[
            "activation_timestamp",
            "data_provided",
            "hardware_version",
            "last_upload_date",
            "manufacturer",
            "name",
            "other_devices",
            "sensor_state",
            "serial_number",
            "software_version",
        ],
        "polyline_map_data" => &["summary_polyline"],
        "work_data" => &["work_kilojoules"],
        _ => &[],
    }
}

/// Integer-typed Terra fields (pydantic `int`): they must serialise without a fraction.
const TERRA_INTS: &[&str] = &["distance_meters", "total_burned_calories", "steps"];

fn assert_only_terra_fields(v: &Value) {
    fn walk(path: &str, v: &Value) {
        let Value::Object(map) = v else { return };
        let allowed = terra_fields(path);
        for (k, child) in map {
            assert!(
                allowed.contains(&k.as_str()),
                "`{k}` is not a field of Terra's model at `{path}`"
            );
            assert!(!child.is_null(), "`{path}.{k}` is null");
            if TERRA_INTS.contains(&k.as_str()) {
                assert!(child.is_i64(), "`{k}` must be an integer, got {child}");
            }
            let sub = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            walk(&sub, child);
        }
    }
    walk("", v);
}

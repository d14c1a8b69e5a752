//! The Terra models serialize to exactly the wire names of terra-python 1.1.0's pydantic
//! models (`terra/types`), deserialize back, and, when terra-python is importable, validate
//! against those models.
//!
//! The `full_*` examples set every field (exhaustive struct literals, so a new field fails to
//! compile here until it is filled); the `*_PATHS` lists are every wire path of Terra's model,
//! so a fully filled example must produce exactly those paths.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use super::*;

/// Every key path in `v` (`a.b`, list elements as `a[].b`).
fn wire_paths(v: &Value) -> BTreeSet<String> {
    fn walk(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(map) => {
                for (k, x) in map {
                    let p = format!("{prefix}{k}");
                    out.insert(p.clone());
                    match x {
                        Value::Object(_) => walk(x, &format!("{p}."), out),
                        Value::Array(items) => {
                            for item in items.iter().filter(|i| i.is_object()) {
                                walk(item, &format!("{p}[]."), out);
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => panic!("not an object: {v}"),
        }
    }
    let mut out = BTreeSet::new();
    walk(v, "", &mut out);
    out
}

fn assert_exact_paths(model: &str, v: &Value, expected: &[&str]) {
    let actual = wire_paths(v);
    let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
    let missing: Vec<_> = expected.difference(&actual).collect();
    let unknown: Vec<_> = actual.difference(&expected).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "{model}: missing Terra fields {missing:?}; fields Terra does not know {unknown:?}"
    );
}

fn to_value<T: serde::Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap()
}

#[test]
fn full_sleep_has_exactly_terras_fields() {
    let v = to_value(&full_sleep());
    assert_exact_paths("Sleep", &v, SLEEP_PATHS);
    assert_eq!(
        v["metadata"],
        json!({
            "end_time": "2024-03-06T07:05:00.000000+01:00",
            "is_nap": false,
            "start_time": "2024-03-05T23:10:00.000000+01:00",
            "summary_id": "sleep-2024-03-05",
            "timestamp_localization": 0,
            "upload_type": 1,
        })
    );
    let asleep = &v["sleep_durations_data"]["asleep"];
    assert_eq!(asleep["duration_REM_sleep_state_seconds"], json!(5400.0));
    assert_eq!(asleep["num_REM_events"], json!(4));
    assert_eq!(
        v["heart_rate_data"]["summary"]["resting_hr_bpm"],
        json!(49.0)
    );
    assert_eq!(
        v["heart_rate_data"]["detailed"]["hr_samples"][0]["bpm"],
        json!(57.0)
    );
    assert_eq!(
        v["readiness_data"],
        json!({"readiness": 78, "recovery_level": 4})
    );
    assert_eq!(v["temperature_data"], json!({"delta": -0.3}));
    assert_eq!(
        v["respiration_data"]["oxygen_saturation_data"]["samples"][0]["type"],
        json!(0)
    );
}

#[test]
fn full_body_has_exactly_terras_fields() {
    let v = to_value(&full_body());
    assert_exact_paths("Body", &v, BODY_PATHS);
    assert_eq!(
        v["metadata"],
        json!({
            "end_time": "2024-03-06T07:05:00.000000+01:00",
            "start_time": "2024-03-05T23:10:00.000000+01:00",
            "timestamp_localization": 0,
        })
    );
    let m = &v["measurements_data"]["measurements"][0];
    assert_eq!(m["weight_kg"], json!(72.4));
    assert_eq!(m["height_cm"], json!(178.0));
    assert_eq!(m["BMI"], json!(22.8));
    assert_eq!(m["bodyfat_percentage"], json!(17.2));
    assert_eq!(
        v["blood_pressure_data"]["blood_pressure_samples"][0],
        json!({
            "timestamp": "2024-03-05T23:10:00.000000+01:00",
            "diastolic_bp": 76.0,
            "systolic_bp": 118.0,
        })
    );
    assert_eq!(v["oxygen_data"]["vo2max_ml_per_min_per_kg"], json!(51.0));
    assert_eq!(
        v["glucose_data"]["blood_glucose_samples"][0]["blood_glucose_mg_per_dL"],
        json!(96)
    );
}

#[test]
fn full_daily_has_exactly_terras_fields() {
    let v = to_value(&full_daily());
    assert_exact_paths("Daily", &v, DAILY_PATHS);
    assert_eq!(
        v["metadata"],
        json!({
            "end_time": "2024-03-06T07:05:00.000000+01:00",
            "start_time": "2024-03-05T23:10:00.000000+01:00",
            "timestamp_localization": 0,
            "upload_type": 1,
        })
    );
    assert_eq!(v["distance_data"]["steps"], json!(9120));
    assert_eq!(v["distance_data"]["distance_meters"], json!(7340));
    assert_eq!(v["calories_data"]["total_burned_calories"], json!(2450));
    assert_eq!(v["calories_data"]["BMR_calories"], json!(1650));
    assert_eq!(v["MET_data"]["MET_samples"][0]["level"], json!(3.5));
    assert_eq!(
        v["scores"],
        json!({"activity": 71.0, "recovery": 66.0, "sleep": 84.0})
    );
}

#[test]
fn full_athlete_has_exactly_terras_fields() {
    let v = to_value(&full_athlete());
    assert_exact_paths("Athlete", &v, ATHLETE_PATHS);
    assert_eq!(v["first_name"], json!("Ada"));
    assert_eq!(v["date_of_birth"], json!("1990-04-12"));
    assert_eq!(v["devices"][0]["manufacturer"], json!("Garmin"));
}

#[test]
fn full_models_round_trip() {
    fn round_trip<T>(t: T)
    where
        T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<T>(&json).unwrap(), t);
    }
    round_trip(full_sleep());
    round_trip(full_body());
    round_trip(full_daily());
    round_trip(full_athlete());
    round_trip(example_activity());
}

#[test]
fn absent_fields_are_skipped_and_deserialize_as_none() {
    let sleep = Sleep {
        metadata: SleepMetadata {
            start_time: "2024-03-05T23:10:00+01:00".into(),
            end_time: "2024-03-06T07:05:00+01:00".into(),
            upload_type: 1,
            ..Default::default()
        },
        ..Default::default()
    };
    let v = to_value(&sleep);
    assert_eq!(
        v,
        json!({"metadata": {
            "start_time": "2024-03-05T23:10:00+01:00",
            "end_time": "2024-03-06T07:05:00+01:00",
            "upload_type": 1,
        }})
    );
    assert_eq!(serde_json::from_value::<Sleep>(v).unwrap(), sleep);

    let body: Body = serde_json::from_value(json!({
        "metadata": {
            "start_time": "2024-03-05T00:00:00+01:00",
            "end_time": "2024-03-06T00:00:00+01:00",
        },
        "measurements_data": {"measurements": [{"weight_kg": 72.4}]},
    }))
    .unwrap();
    let m = &body.measurements_data.as_ref().unwrap().measurements[0];
    assert_eq!(m.weight_kg, Some(72.4));
    assert_eq!(m.bmi, None);
    assert!(body.heart_data.is_none());

    assert_eq!(to_value(&Athlete::default()), json!({}));
    assert_eq!(to_value(&FullHeartRateData::default()), json!({}));
}

#[test]
fn required_fields_are_required() {
    assert!(serde_json::from_value::<Sleep>(json!({})).is_err());
    assert!(
        serde_json::from_value::<Daily>(json!({
            "metadata": {
                "start_time": "2024-03-05T00:00:00+01:00",
                "end_time": "2024-03-06T00:00:00+01:00",
            }
        }))
        .is_err(),
        "Daily metadata.upload_type is required"
    );
    assert!(
        serde_json::from_value::<TagEntry>(json!({"timestamp": "t", "tag_name": "x"})).is_err()
    );
}

#[test]
fn athlete_event_carries_one_athlete() {
    let user = example_user();
    let athlete = full_athlete();
    let v = to_value(&AthleteEvent {
        event_type: "athlete",
        athlete: &athlete,
        user: &user,
        version: crate::PAYLOAD_VERSION,
    });
    let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["athlete", "type", "user", "version"]);
    assert_eq!(v["athlete"]["last_name"], json!("Lovelace"));
}

fn example_user() -> User {
    User {
        user_id: "6c4b7d0e-1f0a-4a55-9a3e-2b9d1f4c8e21".into(),
        provider: "GARMIN".into(),
        reference_id: Some("customer-42".into()),
        scopes: Some("activity,sleep".into()),
        active: Some(true),
        last_webhook_update: Some("2024-03-06T07:06:00.000000+00:00".into()),
        created_at: Some("2024-03-01T09:30:00.000000+00:00".into()),
    }
}

fn example_activity() -> Activity {
    Activity {
        metadata: ActivityMetadata {
            summary_id: "strava-1".into(),
            start_time: "2024-03-05T07:00:00+01:00".into(),
            end_time: "2024-03-05T08:00:00+01:00".into(),
            activity_type: 1,
            upload_type: 1,
            name: Some("Morning Ride".into()),
            city: Some("London".into()),
            state: Some("England".into()),
            country: Some("GB".into()),
        },
        distance_data: Some(DistanceData {
            summary: Some(DistanceSummary {
                distance_meters: Some(30120),
                steps: Some(0),
                elevation: Some(ElevationData {
                    gain_actual_meters: Some(210.0),
                    max_meters: Some(96.0),
                    min_meters: Some(12.0),
                }),
            }),
        }),
        calories_data: Some(CaloriesData {
            total_burned_calories: Some(780),
        }),
        heart_rate_data: Some(HeartRateData {
            summary: Some(HeartRateSummary {
                avg_hr_bpm: Some(141.0),
                max_hr_bpm: Some(172.0),
            }),
        }),
        movement_data: Some(MovementData {
            avg_speed_meters_per_second: Some(8.4),
            max_speed_meters_per_second: Some(15.2),
            avg_cadence_rpm: Some(86.0),
        }),
        active_durations_data: Some(ActiveDurationsData {
            activity_seconds: Some(3580.0),
            rest_seconds: Some(20.0),
        }),
        power_data: Some(PowerData {
            avg_watts: Some(212.0),
            max_watts: Some(690.0),
        }),
        device_data: Some(DeviceData {
            name: Some("Edge 540".into()),
        }),
        polyline_map_data: Some(PolylineMapData {
            summary_polyline: Some("_p~iF~ps|U_ulLnnqC".into()),
        }),
        work_data: Some(WorkData {
            work_kilojoules: Some(763.0),
        }),
    }
}

/// Extra PYTHONPATH for terra-python (unset: it must be installed, as `.ci/run` does with
/// `pip install terra-python==1.1.0`).
const TERRA_PYTHONPATH_ENV: &str = "PULSEGATE_TERRA_PYTHONPATH";

fn terra_pythonpath() -> Option<String> {
    let path = std::env::var(TERRA_PYTHONPATH_ENV).unwrap_or_default();
    let ok = Command::new("python3")
        .env("PYTHONPATH", &path)
        .args(["-c", "import terra, pydantic"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    ok.then_some(path)
}

fn temp_dir() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!(
        "pulsegate-terra-models-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_json<T: serde::Serialize>(dir: &Path, name: &str, t: &T) {
    std::fs::write(dir.join(name), serde_json::to_vec_pretty(t).unwrap()).unwrap();
}

/// Validates each JSON file against terra-python's pydantic model (strict types), after
/// Terra's own alias handling, and rejects any key the model does not know: the models
/// themselves allow extras, so unknown keys are found by walking the wire names (what
/// `extra="forbid"` would reject) and by checking pydantic stored no extras. Wire names are
/// checked as Terra spells them (`BMI`, not `bmi`).
const TERRA_CHECK_PY: &str = r#"
import importlib, json, sys, typing
import pydantic
from terra.core.serialization import convert_and_respect_annotation_metadata, get_field_to_alias_mapping

def strip(ann):
    while True:
        origin = typing.get_origin(ann)
        if origin is typing.Annotated:
            ann = typing.get_args(ann)[0]
        elif origin is typing.Union and type(None) in typing.get_args(ann):
            rest = [a for a in typing.get_args(ann) if a is not type(None)]
            if len(rest) != 1:
                return ann
            ann = rest[0]
        else:
            return ann

def is_model(t):
    return isinstance(t, type) and issubclass(t, pydantic.BaseModel)

def unknown_keys(obj, ann, path, out):
    ann = strip(ann)
    if typing.get_origin(ann) in (list, typing.List):
        if isinstance(obj, list):
            for i, x in enumerate(obj):
                unknown_keys(x, typing.get_args(ann)[0], f"{path}[{i}]", out)
    elif is_model(ann) and isinstance(obj, dict):
        hints = typing.get_type_hints(ann, include_extras=True)
        aliases = get_field_to_alias_mapping(ann)
        wire = {aliases.get(n, n): n for n in ann.model_fields}
        for k, v in obj.items():
            if k in wire:
                unknown_keys(v, hints[wire[k]], f"{path}.{k}", out)
            elif k in TERRA_EXTRAS.get(ann.__name__, ()) and isinstance(v, (str, type(None))):
                pass
            else:
                out.append(f"{path}.{k}")

# Fields Terra sends (its payloads and docs) that terra-python 1.1.0's models lack:
# allowed (text or null) on these models only.
TERRA_EXTRAS = {"TerraUser": {"created_at"}}

def stored_extras(m, path, out):
    if isinstance(m, pydantic.BaseModel):
        allowed = TERRA_EXTRAS.get(type(m).__name__, ())
        out.extend(f"{path}.{k}" for k in (m.model_extra or {}) if k not in allowed)
        for n in type(m).model_fields:
            stored_extras(getattr(m, n), f"{path}.{n}", out)
    elif isinstance(m, (list, tuple)):
        for i, x in enumerate(m):
            stored_extras(x, f"{path}[{i}]", out)

failures = 0
manifest = json.load(open(sys.argv[1]))
for file, module, cls_name in manifest:
    cls = getattr(importlib.import_module(f"terra.types.{module}"), cls_name)
    data = json.load(open(file))
    problems = []
    unknown_keys(data, cls, cls_name, problems)
    problems = [f"unknown field {p}" for p in problems]
    try:
        obj = convert_and_respect_annotation_metadata(object_=data, annotation=cls, direction="read")
        inst = cls.model_validate(obj, strict=True)
        extras = []
        stored_extras(inst, cls_name, extras)
        problems += [f"pydantic extra {p}" for p in extras]
    except pydantic.ValidationError as e:
        problems.append(f"validation error: {e}")
    status = "ok" if not problems else "FAILED"
    print(f"{status}: {cls_name} ({file.rsplit('/', 1)[-1]})")
    for p in problems:
        print(f"    {p}")
    failures += bool(problems)
sys.exit(1 if failures else 0)
"#;

#[test]
fn models_validate_against_terra_python() {
    // The contract is terra-python itself: without it this test fails, it never skips.
    let pythonpath = terra_pythonpath().unwrap_or_else(|| {
        panic!(
            "terra-python is not importable: `python3 -m pip install terra-python==1.1.0` \
             (or set {TERRA_PYTHONPATH_ENV} to an unpacked wheel)"
        )
    });
    let dir = temp_dir();
    let user = example_user();
    let (sleep, body, daily, athlete) = (full_sleep(), full_body(), full_daily(), full_athlete());
    let activity = example_activity();
    let minimal_daily = Daily {
        metadata: DailyMetadata {
            start_time: "2024-03-05T00:00:00+01:00".into(),
            end_time: "2024-03-06T00:00:00+01:00".into(),
            upload_type: 1,
            ..Default::default()
        },
        ..Default::default()
    };
    let event = |kind: &'static str, data: Value| {
        json!({
            "type": kind,
            "user": &user,
            "data": [data],
            "version": crate::PAYLOAD_VERSION,
        })
    };
    let files: Vec<(&str, &str, &str, Value)> = vec![
        ("sleep.json", "sleep", "Sleep", to_value(&sleep)),
        ("body.json", "body", "Body", to_value(&body)),
        ("daily.json", "daily", "Daily", to_value(&daily)),
        (
            "daily_minimal.json",
            "daily",
            "Daily",
            to_value(&minimal_daily),
        ),
        ("athlete.json", "athlete", "Athlete", to_value(&athlete)),
        ("activity.json", "activity", "Activity", to_value(&activity)),
        (
            "sleep_event.json",
            "sleep_event",
            "SleepEvent",
            to_value(&DataEvent {
                event_type: "sleep",
                user: &user,
                data: vec![sleep.clone()],
                version: crate::PAYLOAD_VERSION,
            }),
        ),
        (
            "body_event.json",
            "body_event",
            "BodyEvent",
            event("body", to_value(&body)),
        ),
        (
            "daily_event.json",
            "daily_event",
            "DailyEvent",
            event("daily", to_value(&daily)),
        ),
        (
            "athlete_event.json",
            "athlete_event",
            "AthleteEvent",
            to_value(&AthleteEvent {
                event_type: "athlete",
                athlete: &athlete,
                user: &user,
                version: crate::PAYLOAD_VERSION,
            }),
        ),
    ];
    let mut manifest = Vec::new();
    for (file, module, class, value) in &files {
        write_json(&dir, file, value);
        manifest.push(json!([dir.join(file), module, class]));
    }
    write_json(&dir, "manifest.json", &manifest);
    std::fs::write(dir.join("terra_check.py"), TERRA_CHECK_PY).unwrap();

    let out = Command::new("python3")
        .env("PYTHONPATH", &pythonpath)
        .arg(dir.join("terra_check.py"))
        .arg(dir.join("manifest.json"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "terra-python rejected pulsegate's models:\n{stdout}{stderr}"
    );
    assert_eq!(stdout.matches("ok: ").count(), files.len(), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- fully filled examples and Terra's wire paths (generated from terra-python 1.1.0) ----

fn full_sleep() -> Sleep {
    Sleep {
        data_enrichment: Some(SleepDataEnrichment {
            sleep_contributors: vec![DataContributor {
                contributor_name: "hrv_balance".into(),
                contributor_score: 81.0,
            }],
            sleep_score: Some(84.0),
        }),
        device_data: Some(FullDeviceData {
            activation_timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
            data_provided: vec!["HEART_RATE".into(), "STEPS".into()],
            hardware_version: Some("1.2".into()),
            last_upload_date: Some("2024-03-05T23:10:00.000000+01:00".into()),
            manufacturer: Some("Garmin".into()),
            name: Some("Forerunner 965".into()),
            other_devices: vec![OtherDeviceData {
                manufacturer: Some("Garmin".into()),
                hardware_version: Some("1.2".into()),
                serial_number: Some("3391220011".into()),
                name: Some("Forerunner 965".into()),
                software_version: Some("19.18".into()),
                activation_timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                data_provided: vec!["HEART_RATE".into(), "STEPS".into()],
                last_upload_date: Some("2024-03-05T23:10:00.000000+01:00".into()),
            }],
            sensor_state: Some("ACTIVE".into()),
            serial_number: Some("3391220011".into()),
            software_version: Some("19.18".into()),
        }),
        heart_rate_data: Some(FullHeartRateData {
            detailed: Some(HeartRateDataDetailed {
                hr_samples: vec![HeartRateDataSample {
                    timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                    bpm: Some(57.0),
                    timer_duration_seconds: Some(60.0),
                    context: Some(1),
                }],
                hrv_samples_rmssd: vec![HeartRateVariabilityDataSampleRmssd {
                    timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                    hrv_rmssd: Some(64.0),
                }],
                hrv_samples_sdnn: vec![HeartRateVariabilityDataSampleSdnn {
                    timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                    hrv_sdnn: Some(70.0),
                }],
            }),
            summary: Some(HeartRateDataSummary {
                avg_hr_bpm: Some(58.0),
                avg_hrv_rmssd: Some(62.5),
                avg_hrv_sdnn: Some(71.0),
                hr_zone_data: vec![HeartRateZoneData {
                    zone: Some(2),
                    start_percentage: Some(60.0),
                    end_percentage: Some(70.0),
                    name: Some("zone 2".into()),
                    duration_seconds: Some(1800.0),
                }],
                max_hr_bpm: Some(131.0),
                min_hr_bpm: Some(44.0),
                resting_hr_bpm: Some(49.0),
                user_max_hr_bpm: Some(186.0),
            }),
        }),
        metadata: SleepMetadata {
            end_time: "2024-03-06T07:05:00.000000+01:00".into(),
            is_nap: Some(false),
            start_time: "2024-03-05T23:10:00.000000+01:00".into(),
            summary_id: Some("sleep-2024-03-05".into()),
            timestamp_localization: Some(0),
            upload_type: 1,
        },
        readiness_data: Some(ReadinessData {
            readiness: Some(78),
            recovery_level: Some(4),
        }),
        respiration_data: Some(RespirationData {
            breaths_data: Some(BreathsData {
                avg_breaths_per_min: Some(14.2),
                max_breaths_per_min: Some(18.0),
                min_breaths_per_min: Some(11.0),
                on_demand_reading: Some(true),
                samples: vec![BreathSample {
                    timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                    breaths_per_min: Some(14.0),
                }],
                start_time: Some("2024-03-05T23:10:00.000000+01:00".into()),
                end_time: Some("2024-03-06T07:05:00.000000+01:00".into()),
            }),
            oxygen_saturation_data: Some(OxygenSaturationData {
                avg_saturation_percentage: Some(96.5),
                end_time: Some("2024-03-06T07:05:00.000000+01:00".into()),
                samples: vec![OxygenSaturationSample {
                    timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                    percentage: Some(97.0),
                    saturation_type: Some(0),
                }],
                start_time: Some("2024-03-05T23:10:00.000000+01:00".into()),
            }),
            snoring_data: Some(SnoringData {
                start_time: Some("2024-03-05T23:10:00.000000+01:00".into()),
                end_time: Some("2024-03-06T07:05:00.000000+01:00".into()),
                num_snoring_events: Some(6),
                samples: vec![SnoringSample {
                    timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                    duration_seconds: Some(1800.0),
                }],
                total_snoring_duration_seconds: Some(420.0),
            }),
        }),
        scores: Some(SleepScores {
            sleep_score: Some(84.0),
        }),
        sleep_durations_data: Some(SleepDurationsData {
            asleep: Some(AsleepDurations {
                duration_asleep_state_seconds: Some(25200.0),
                duration_deep_sleep_state_seconds: Some(5400.0),
                duration_light_sleep_state_seconds: Some(14400.0),
                duration_rem_sleep_state_seconds: Some(5400.0),
                num_rem_events: Some(4),
            }),
            awake: Some(AwakeDurations {
                duration_awake_state_seconds: Some(1800.0),
                duration_long_interruption_seconds: Some(600.0),
                duration_short_interruption_seconds: Some(240.0),
                num_out_of_bed_events: Some(1),
                num_wakeup_events: Some(3),
                sleep_latency_seconds: Some(540.0),
                wake_up_latency_seconds: Some(300.0),
            }),
            hypnogram_samples: vec![SleepHypnogramSample {
                timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                level: Some(3),
            }],
            other: Some(OtherSleepDurations {
                duration_in_bed_seconds: Some(28500.0),
                duration_unmeasurable_sleep_seconds: Some(0.0),
            }),
            sleep_efficiency: Some(0.93),
        }),
        temperature_data: Some(SleepTemperatureData { delta: Some(-0.3) }),
    }
}

fn full_body() -> Body {
    Body {
        blood_pressure_data: Some(BloodPressureData {
            blood_pressure_samples: vec![BloodPressureSample {
                timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                diastolic_bp: Some(76.0),
                systolic_bp: Some(118.0),
            }],
        }),
        device_data: Some(FullDeviceData {
            activation_timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
            data_provided: vec!["HEART_RATE".into(), "STEPS".into()],
            hardware_version: Some("1.2".into()),
            last_upload_date: Some("2024-03-05T23:10:00.000000+01:00".into()),
            manufacturer: Some("Garmin".into()),
            name: Some("Forerunner 965".into()),
            other_devices: vec![OtherDeviceData {
                manufacturer: Some("Garmin".into()),
                hardware_version: Some("1.2".into()),
                serial_number: Some("3391220011".into()),
                name: Some("Forerunner 965".into()),
                software_version: Some("19.18".into()),
                activation_timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                data_provided: vec!["HEART_RATE".into(), "STEPS".into()],
                last_upload_date: Some("2024-03-05T23:10:00.000000+01:00".into()),
            }],
            sensor_state: Some("ACTIVE".into()),
            serial_number: Some("3391220011".into()),
            software_version: Some("19.18".into()),
        }),
        heart_data: Some(HeartData {
            afib_classification_samples: vec![AFibClassificationSample {
                timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                afib_classification: Some(0),
            }],
            ecg_signal: vec![EcgReading {
                start_timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                avg_hr_bpm: Some(58.0),
                afib_classification: Some(0),
                raw_signal: vec![RawEcgSample {
                    potential_uv: Some(310.0),
                    timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                }],
            }],
            heart_rate_data: Some(FullHeartRateData {
                detailed: Some(HeartRateDataDetailed {
                    hr_samples: vec![HeartRateDataSample {
                        timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                        bpm: Some(57.0),
                        timer_duration_seconds: Some(60.0),
                        context: Some(1),
                    }],
                    hrv_samples_rmssd: vec![HeartRateVariabilityDataSampleRmssd {
                        timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                        hrv_rmssd: Some(64.0),
                    }],
                    hrv_samples_sdnn: vec![HeartRateVariabilityDataSampleSdnn {
                        timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                        hrv_sdnn: Some(70.0),
                    }],
                }),
                summary: Some(HeartRateDataSummary {
                    avg_hr_bpm: Some(58.0),
                    avg_hrv_rmssd: Some(62.5),
                    avg_hrv_sdnn: Some(71.0),
                    hr_zone_data: vec![HeartRateZoneData {
                        zone: Some(2),
                        start_percentage: Some(60.0),
                        end_percentage: Some(70.0),
                        name: Some("zone 2".into()),
                        duration_seconds: Some(1800.0),
                    }],
                    max_hr_bpm: Some(131.0),
                    min_hr_bpm: Some(44.0),
                    resting_hr_bpm: Some(49.0),
                    user_max_hr_bpm: Some(186.0),
                }),
            }),
            pulse_wave_velocity_samples: vec![PulseVelocitySample {
                timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                pulse_wave_velocity_meters_per_second: Some(7.9),
            }],
            rr_interval_samples: vec![RrIntervalSample {
                rr_interval_ms: Some(1052.0),
                timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                hr_bpm: Some(57.0),
            }],
        }),
        hydration_data: Some(HydrationData {
            day_total_water_consumption_ml: Some(2100.0),
            hydration_amount_samples: vec![HydrationMeasurementSample {
                timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                hydration_kg: Some(42.1),
            }],
        }),
        ketone_data: Some(KetoneData {
            ketone_samples: vec![KetoneSample {
                timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                ketone_mg_per_dl: Some(1.2),
                sample_type: Some(1),
            }],
        }),
        measurements_data: Some(MeasurementsData {
            measurements: vec![MeasurementDataSample {
                measurement_time: Some("2024-03-05T23:10:00.000000+01:00".into()),
                bmi: Some(22.8),
                bmr: Some(1650.0),
                rmr: Some(1700.0),
                estimated_fitness_age: Some("31".into()),
                skin_fold_mm: Some(11.5),
                bodyfat_percentage: Some(17.2),
                weight_kg: Some(72.4),
                height_cm: Some(178.0),
                bone_mass_g: Some(3100.0),
                muscle_mass_g: Some(33500.0),
                lean_mass_g: Some(59900.0),
                water_percentage: Some(58.5),
                insulin_units: Some(4.0),
                insulin_type: Some("rapid".into()),
                urine_color: Some("pale".into()),
                user_notes: Some("morning".into()),
            }],
        }),
        metadata: BodyMetadata {
            end_time: "2024-03-06T07:05:00.000000+01:00".into(),
            start_time: "2024-03-05T23:10:00.000000+01:00".into(),
            timestamp_localization: Some(0),
        },
        oxygen_data: Some(OxygenData {
            avg_saturation_percentage: Some(96.5),
            saturation_samples: vec![OxygenSaturationSample {
                timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                percentage: Some(97.0),
                saturation_type: Some(0),
            }],
            vo2_samples: vec![Vo2MaxSample {
                timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                vo2max_ml_per_min_per_kg: Some(51.0),
            }],
            vo2max_ml_per_min_per_kg: Some(51.0),
        }),
        temperature_data: Some(TemperatureData {
            ambient_temperature_samples: vec![TemperatureSample {
                timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                temperature_celsius: Some(36.6),
            }],
            body_temperature_samples: vec![TemperatureSample {
                timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                temperature_celsius: Some(36.6),
            }],
            skin_temperature_samples: vec![TemperatureSample {
                timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                temperature_celsius: Some(36.6),
            }],
        }),
        glucose_data: Some(GlucoseData {
            blood_glucose_samples: vec![GlucoseDataSample {
                timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                blood_glucose_mg_per_dl: Some(96),
                glucose_level_flag: Some(0),
                trend_arrow: Some(3),
            }],
            detailed_blood_glucose_samples: vec![GlucoseDataSample {
                timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                blood_glucose_mg_per_dl: Some(96),
                glucose_level_flag: Some(0),
                trend_arrow: Some(3),
            }],
            day_avg_blood_glucose_mg_per_dl: Some(101.5),
            gmi: Some(5.6),
            time_in_range: Some(0.94),
            sensor_usage: Some(288),
            daily_patterns: vec![DailyPatternSample {
                time_from_midnight: Some(3600),
                percentile_5: Some(78),
                percentile_25: Some(88),
                percentile_50: Some(97),
                percentile_75: Some(108),
                percentile_95: Some(131),
            }],
        }),
    }
}

fn full_daily() -> Daily {
    Daily {
        active_durations_data: Some(FullActiveDurationsData {
            activity_levels_samples: vec![ActivityLevelSample {
                timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                level: Some(3),
            }],
            activity_seconds: Some(5400.0),
            inactivity_seconds: Some(39600.0),
            low_intensity_seconds: Some(3600.0),
            moderate_intensity_seconds: Some(1500.0),
            num_continuous_inactive_periods: Some(5),
            rest_seconds: Some(28800.0),
            vigorous_intensity_seconds: Some(900.0),
            standing_hours_count: Some(11.0),
            standing_seconds: Some(2700.0),
        }),
        calories_data: Some(FullCaloriesData {
            bmr_calories: Some(1650),
            calorie_samples: vec![CalorieSample {
                timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                calories: Some(4.5),
                timer_duration_seconds: Some(60.0),
            }],
            net_activity_calories: Some(800),
            net_intake_calories: Some(2100),
            total_burned_calories: Some(2450),
        }),
        data_enrichment: Some(DailyDataEnrichment {
            cardiovascular_contributors: vec![DataContributor {
                contributor_name: "hrv_balance".into(),
                contributor_score: 81.0,
            }],
            cardiovascular_score: Some(72.0),
            immune_contributors: vec![DataContributor {
                contributor_name: "hrv_balance".into(),
                contributor_score: 81.0,
            }],
            immune_index: Some(0.8),
            readiness_contributors: vec![DataContributor {
                contributor_name: "hrv_balance".into(),
                contributor_score: 81.0,
            }],
            readiness_score: Some(78.0),
            respiratory_contributors: vec![DataContributor {
                contributor_name: "hrv_balance".into(),
                contributor_score: 81.0,
            }],
            respiratory_score: Some(88.0),
            start_time: Some("2024-03-05T23:10:00.000000+01:00".into()),
            stress_contributors: vec![DataContributor {
                contributor_name: "hrv_balance".into(),
                contributor_score: 81.0,
            }],
            total_stress_score: Some(31.0),
        }),
        device_data: Some(FullDeviceData {
            activation_timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
            data_provided: vec!["HEART_RATE".into(), "STEPS".into()],
            hardware_version: Some("1.2".into()),
            last_upload_date: Some("2024-03-05T23:10:00.000000+01:00".into()),
            manufacturer: Some("Garmin".into()),
            name: Some("Forerunner 965".into()),
            other_devices: vec![OtherDeviceData {
                manufacturer: Some("Garmin".into()),
                hardware_version: Some("1.2".into()),
                serial_number: Some("3391220011".into()),
                name: Some("Forerunner 965".into()),
                software_version: Some("19.18".into()),
                activation_timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                data_provided: vec!["HEART_RATE".into(), "STEPS".into()],
                last_upload_date: Some("2024-03-05T23:10:00.000000+01:00".into()),
            }],
            sensor_state: Some("ACTIVE".into()),
            serial_number: Some("3391220011".into()),
            software_version: Some("19.18".into()),
        }),
        distance_data: Some(DailyDistanceData {
            detailed: Some(DistanceDataDetailed {
                distance_samples: vec![DistanceSample {
                    timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                    distance_meters: Some(80.0),
                    timer_duration_seconds: Some(60.0),
                }],
                elevation_samples: vec![ElevationSample {
                    timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                    elev_meters: Some(41.0),
                    timer_duration_seconds: Some(60.0),
                }],
                floors_climbed_samples: vec![FloorsClimbedSample {
                    timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                    floors_climbed: Some(1),
                    timer_duration_seconds: Some(60.0),
                }],
                step_samples: vec![StepSample {
                    timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                    steps: Some(96),
                    timer_duration_seconds: Some(60.0),
                }],
            }),
            distance_meters: Some(7340),
            elevation: Some(FullElevationData {
                avg_meters: Some(38.0),
                gain_actual_meters: Some(120.0),
                gain_planned_meters: Some(100.0),
                loss_actual_meters: Some(118.0),
                max_meters: Some(96.0),
                min_meters: Some(12.0),
            }),
            floors_climbed: Some(12),
            steps: Some(9120),
            swimming: Some(SwimmingData {
                num_laps: Some(20),
                num_strokes: Some(640),
                pool_length_meters: Some(25),
            }),
        }),
        heart_rate_data: Some(FullHeartRateData {
            detailed: Some(HeartRateDataDetailed {
                hr_samples: vec![HeartRateDataSample {
                    timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                    bpm: Some(57.0),
                    timer_duration_seconds: Some(60.0),
                    context: Some(1),
                }],
                hrv_samples_rmssd: vec![HeartRateVariabilityDataSampleRmssd {
                    timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                    hrv_rmssd: Some(64.0),
                }],
                hrv_samples_sdnn: vec![HeartRateVariabilityDataSampleSdnn {
                    timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                    hrv_sdnn: Some(70.0),
                }],
            }),
            summary: Some(HeartRateDataSummary {
                avg_hr_bpm: Some(58.0),
                avg_hrv_rmssd: Some(62.5),
                avg_hrv_sdnn: Some(71.0),
                hr_zone_data: vec![HeartRateZoneData {
                    zone: Some(2),
                    start_percentage: Some(60.0),
                    end_percentage: Some(70.0),
                    name: Some("zone 2".into()),
                    duration_seconds: Some(1800.0),
                }],
                max_hr_bpm: Some(131.0),
                min_hr_bpm: Some(44.0),
                resting_hr_bpm: Some(49.0),
                user_max_hr_bpm: Some(186.0),
            }),
        }),
        met_data: Some(MetData {
            met_samples: vec![MetSample {
                timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                level: Some(3.5),
            }],
            avg_level: Some(1.6),
            num_high_intensity_minutes: Some(15.0),
            num_inactive_minutes: Some(610.0),
            num_low_intensity_minutes: Some(240.0),
            num_moderate_intensity_minutes: Some(45.0),
        }),
        metadata: DailyMetadata {
            end_time: "2024-03-06T07:05:00.000000+01:00".into(),
            start_time: "2024-03-05T23:10:00.000000+01:00".into(),
            timestamp_localization: Some(0),
            upload_type: 1,
        },
        oxygen_data: Some(OxygenData {
            avg_saturation_percentage: Some(96.5),
            saturation_samples: vec![OxygenSaturationSample {
                timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                percentage: Some(97.0),
                saturation_type: Some(0),
            }],
            vo2_samples: vec![Vo2MaxSample {
                timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                vo2max_ml_per_min_per_kg: Some(51.0),
            }],
            vo2max_ml_per_min_per_kg: Some(51.0),
        }),
        scores: Some(ScoresData {
            activity: Some(71.0),
            recovery: Some(66.0),
            sleep: Some(84.0),
        }),
        strain_data: Some(StrainData {
            strain_level: Some(11.4),
        }),
        stress_data: Some(StressData {
            avg_stress_level: Some(31.0),
            activity_stress_duration_seconds: Some(3600.0),
            low_stress_duration_seconds: Some(14400.0),
            max_stress_level: Some(88.0),
            medium_stress_duration_seconds: Some(5400.0),
            samples: vec![StressSample {
                timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                level: Some(42.0),
            }],
            rest_stress_duration_seconds: Some(21600.0),
            high_stress_duration_seconds: Some(1200.0),
            stress_duration_seconds: Some(20700.0),
            stress_rating: Some(2),
            body_battery_samples: vec![BodyBatterySample {
                timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                level: Some(42.0),
            }],
        }),
        tag_data: Some(TagData {
            tags: vec![TagEntry {
                timestamp: "2024-03-05T23:10:00.000000+01:00".into(),
                tag_name: "caffeine".into(),
                notes: "two espressos".into(),
            }],
        }),
    }
}

fn full_athlete() -> Athlete {
    Athlete {
        age: Some(34),
        country: Some("GB".into()),
        bio: Some("Trail runner.".into()),
        state: Some("England".into()),
        last_name: Some("Lovelace".into()),
        sex: Some("female".into()),
        city: Some("London".into()),
        email: Some("ada@example.com".into()),
        date_of_birth: Some("1990-04-12".into()),
        first_name: Some("Ada".into()),
        gender: Some("female".into()),
        joined_provider: Some("2024-03-05T23:10:00.000000+01:00".into()),
        devices: vec![FullDeviceData {
            activation_timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
            data_provided: vec!["HEART_RATE".into(), "STEPS".into()],
            hardware_version: Some("1.2".into()),
            last_upload_date: Some("2024-03-05T23:10:00.000000+01:00".into()),
            manufacturer: Some("Garmin".into()),
            name: Some("Forerunner 965".into()),
            other_devices: vec![OtherDeviceData {
                manufacturer: Some("Garmin".into()),
                hardware_version: Some("1.2".into()),
                serial_number: Some("3391220011".into()),
                name: Some("Forerunner 965".into()),
                software_version: Some("19.18".into()),
                activation_timestamp: Some("2024-03-05T23:10:00.000000+01:00".into()),
                data_provided: vec!["HEART_RATE".into(), "STEPS".into()],
                last_upload_date: Some("2024-03-05T23:10:00.000000+01:00".into()),
            }],
            sensor_state: Some("ACTIVE".into()),
            serial_number: Some("3391220011".into()),
            software_version: Some("19.18".into()),
        }],
    }
}

/// Every wire path of terra-python 1.1.0 `Sleep` (`[]` = each list element).
const SLEEP_PATHS: &[&str] = &[
    "data_enrichment",
    "data_enrichment.sleep_contributors",
    "data_enrichment.sleep_contributors[].contributor_name",
    "data_enrichment.sleep_contributors[].contributor_score",
    "data_enrichment.sleep_score",
    "device_data",
    "device_data.activation_timestamp",
    "device_data.data_provided",
    "device_data.hardware_version",
    "device_data.last_upload_date",
    "device_data.manufacturer",
    "device_data.name",
    "device_data.other_devices",
    "device_data.other_devices[].manufacturer",
    "device_data.other_devices[].hardware_version",
    "device_data.other_devices[].serial_number",
    "device_data.other_devices[].name",
    "device_data.other_devices[].software_version",
    "device_data.other_devices[].activation_timestamp",
    "device_data.other_devices[].data_provided",
    "device_data.other_devices[].last_upload_date",
    "device_data.sensor_state",
    "device_data.serial_number",
    "device_data.software_version",
    "heart_rate_data",
    "heart_rate_data.detailed",
    "heart_rate_data.detailed.hr_samples",
    "heart_rate_data.detailed.hr_samples[].timestamp",
    "heart_rate_data.detailed.hr_samples[].bpm",
    "heart_rate_data.detailed.hr_samples[].timer_duration_seconds",
    "heart_rate_data.detailed.hr_samples[].context",
    "heart_rate_data.detailed.hrv_samples_rmssd",
    "heart_rate_data.detailed.hrv_samples_rmssd[].timestamp",
    "heart_rate_data.detailed.hrv_samples_rmssd[].hrv_rmssd",
    "heart_rate_data.detailed.hrv_samples_sdnn",
    "heart_rate_data.detailed.hrv_samples_sdnn[].timestamp",
    "heart_rate_data.detailed.hrv_samples_sdnn[].hrv_sdnn",
    "heart_rate_data.summary",
    "heart_rate_data.summary.avg_hr_bpm",
    "heart_rate_data.summary.avg_hrv_rmssd",
    "heart_rate_data.summary.avg_hrv_sdnn",
    "heart_rate_data.summary.hr_zone_data",
    "heart_rate_data.summary.hr_zone_data[].zone",
    "heart_rate_data.summary.hr_zone_data[].start_percentage",
    "heart_rate_data.summary.hr_zone_data[].end_percentage",
    "heart_rate_data.summary.hr_zone_data[].name",
    "heart_rate_data.summary.hr_zone_data[].duration_seconds",
    "heart_rate_data.summary.max_hr_bpm",
    "heart_rate_data.summary.min_hr_bpm",
    "heart_rate_data.summary.resting_hr_bpm",
    "heart_rate_data.summary.user_max_hr_bpm",
    "metadata",
    "metadata.end_time",
    "metadata.is_nap",
    "metadata.start_time",
    "metadata.summary_id",
    "metadata.timestamp_localization",
    "metadata.upload_type",
    "readiness_data",
    "readiness_data.readiness",
    "readiness_data.recovery_level",
    "respiration_data",
    "respiration_data.breaths_data",
    "respiration_data.breaths_data.avg_breaths_per_min",
    "respiration_data.breaths_data.max_breaths_per_min",
    "respiration_data.breaths_data.min_breaths_per_min",
    "respiration_data.breaths_data.on_demand_reading",
    "respiration_data.breaths_data.samples",
    "respiration_data.breaths_data.samples[].timestamp",
    "respiration_data.breaths_data.samples[].breaths_per_min",
    "respiration_data.breaths_data.start_time",
    "respiration_data.breaths_data.end_time",
    "respiration_data.oxygen_saturation_data",
    "respiration_data.oxygen_saturation_data.avg_saturation_percentage",
    "respiration_data.oxygen_saturation_data.end_time",
    "respiration_data.oxygen_saturation_data.samples",
    "respiration_data.oxygen_saturation_data.samples[].timestamp",
    "respiration_data.oxygen_saturation_data.samples[].percentage",
    "respiration_data.oxygen_saturation_data.samples[].type",
    "respiration_data.oxygen_saturation_data.start_time",
    "respiration_data.snoring_data",
    "respiration_data.snoring_data.start_time",
    "respiration_data.snoring_data.end_time",
    "respiration_data.snoring_data.num_snoring_events",
    "respiration_data.snoring_data.samples",
    "respiration_data.snoring_data.samples[].timestamp",
    "respiration_data.snoring_data.samples[].duration_seconds",
    "respiration_data.snoring_data.total_snoring_duration_seconds",
    "scores",
    "scores.sleep_score",
    "sleep_durations_data",
    "sleep_durations_data.asleep",
    "sleep_durations_data.asleep.duration_asleep_state_seconds",
    "sleep_durations_data.asleep.duration_deep_sleep_state_seconds",
    "sleep_durations_data.asleep.duration_light_sleep_state_seconds",
    "sleep_durations_data.asleep.duration_REM_sleep_state_seconds",
    "sleep_durations_data.asleep.num_REM_events",
    "sleep_durations_data.awake",
    "sleep_durations_data.awake.duration_awake_state_seconds",
    "sleep_durations_data.awake.duration_long_interruption_seconds",
    "sleep_durations_data.awake.duration_short_interruption_seconds",
    "sleep_durations_data.awake.num_out_of_bed_events",
    "sleep_durations_data.awake.num_wakeup_events",
    "sleep_durations_data.awake.sleep_latency_seconds",
    "sleep_durations_data.awake.wake_up_latency_seconds",
    "sleep_durations_data.hypnogram_samples",
    "sleep_durations_data.hypnogram_samples[].timestamp",
    "sleep_durations_data.hypnogram_samples[].level",
    "sleep_durations_data.other",
    "sleep_durations_data.other.duration_in_bed_seconds",
    "sleep_durations_data.other.duration_unmeasurable_sleep_seconds",
    "sleep_durations_data.sleep_efficiency",
    "temperature_data",
    "temperature_data.delta",
];

/// Every wire path of terra-python 1.1.0 `Body` (`[]` = each list element).
const BODY_PATHS: &[&str] = &[
    "blood_pressure_data",
    "blood_pressure_data.blood_pressure_samples",
    "blood_pressure_data.blood_pressure_samples[].timestamp",
    "blood_pressure_data.blood_pressure_samples[].diastolic_bp",
    "blood_pressure_data.blood_pressure_samples[].systolic_bp",
    "device_data",
    "device_data.activation_timestamp",
    "device_data.data_provided",
    "device_data.hardware_version",
    "device_data.last_upload_date",
    "device_data.manufacturer",
    "device_data.name",
    "device_data.other_devices",
    "device_data.other_devices[].manufacturer",
    "device_data.other_devices[].hardware_version",
    "device_data.other_devices[].serial_number",
    "device_data.other_devices[].name",
    "device_data.other_devices[].software_version",
    "device_data.other_devices[].activation_timestamp",
    "device_data.other_devices[].data_provided",
    "device_data.other_devices[].last_upload_date",
    "device_data.sensor_state",
    "device_data.serial_number",
    "device_data.software_version",
    "heart_data",
    "heart_data.afib_classification_samples",
    "heart_data.afib_classification_samples[].timestamp",
    "heart_data.afib_classification_samples[].afib_classification",
    "heart_data.ecg_signal",
    "heart_data.ecg_signal[].start_timestamp",
    "heart_data.ecg_signal[].avg_hr_bpm",
    "heart_data.ecg_signal[].afib_classification",
    "heart_data.ecg_signal[].raw_signal",
    "heart_data.ecg_signal[].raw_signal[].potential_uV",
    "heart_data.ecg_signal[].raw_signal[].timestamp",
    "heart_data.heart_rate_data",
    "heart_data.heart_rate_data.detailed",
    "heart_data.heart_rate_data.detailed.hr_samples",
    "heart_data.heart_rate_data.detailed.hr_samples[].timestamp",
    "heart_data.heart_rate_data.detailed.hr_samples[].bpm",
    "heart_data.heart_rate_data.detailed.hr_samples[].timer_duration_seconds",
    "heart_data.heart_rate_data.detailed.hr_samples[].context",
    "heart_data.heart_rate_data.detailed.hrv_samples_rmssd",
    "heart_data.heart_rate_data.detailed.hrv_samples_rmssd[].timestamp",
    "heart_data.heart_rate_data.detailed.hrv_samples_rmssd[].hrv_rmssd",
    "heart_data.heart_rate_data.detailed.hrv_samples_sdnn",
    "heart_data.heart_rate_data.detailed.hrv_samples_sdnn[].timestamp",
    "heart_data.heart_rate_data.detailed.hrv_samples_sdnn[].hrv_sdnn",
    "heart_data.heart_rate_data.summary",
    "heart_data.heart_rate_data.summary.avg_hr_bpm",
    "heart_data.heart_rate_data.summary.avg_hrv_rmssd",
    "heart_data.heart_rate_data.summary.avg_hrv_sdnn",
    "heart_data.heart_rate_data.summary.hr_zone_data",
    "heart_data.heart_rate_data.summary.hr_zone_data[].zone",
    "heart_data.heart_rate_data.summary.hr_zone_data[].start_percentage",
    "heart_data.heart_rate_data.summary.hr_zone_data[].end_percentage",
    "heart_data.heart_rate_data.summary.hr_zone_data[].name",
    "heart_data.heart_rate_data.summary.hr_zone_data[].duration_seconds",
    "heart_data.heart_rate_data.summary.max_hr_bpm",
    "heart_data.heart_rate_data.summary.min_hr_bpm",
    "heart_data.heart_rate_data.summary.resting_hr_bpm",
    "heart_data.heart_rate_data.summary.user_max_hr_bpm",
    "heart_data.pulse_wave_velocity_samples",
    "heart_data.pulse_wave_velocity_samples[].timestamp",
    "heart_data.pulse_wave_velocity_samples[].pulse_wave_velocity_meters_per_second",
    "heart_data.rr_interval_samples",
    "heart_data.rr_interval_samples[].rr_interval_ms",
    "heart_data.rr_interval_samples[].timestamp",
    "heart_data.rr_interval_samples[].hr_bpm",
    "hydration_data",
    "hydration_data.day_total_water_consumption_ml",
    "hydration_data.hydration_amount_samples",
    "hydration_data.hydration_amount_samples[].timestamp",
    "hydration_data.hydration_amount_samples[].hydration_kg",
    "ketone_data",
    "ketone_data.ketone_samples",
    "ketone_data.ketone_samples[].timestamp",
    "ketone_data.ketone_samples[].ketone_mg_per_dL",
    "ketone_data.ketone_samples[].sample_type",
    "measurements_data",
    "measurements_data.measurements",
    "measurements_data.measurements[].measurement_time",
    "measurements_data.measurements[].BMI",
    "measurements_data.measurements[].BMR",
    "measurements_data.measurements[].RMR",
    "measurements_data.measurements[].estimated_fitness_age",
    "measurements_data.measurements[].skin_fold_mm",
    "measurements_data.measurements[].bodyfat_percentage",
    "measurements_data.measurements[].weight_kg",
    "measurements_data.measurements[].height_cm",
    "measurements_data.measurements[].bone_mass_g",
    "measurements_data.measurements[].muscle_mass_g",
    "measurements_data.measurements[].lean_mass_g",
    "measurements_data.measurements[].water_percentage",
    "measurements_data.measurements[].insulin_units",
    "measurements_data.measurements[].insulin_type",
    "measurements_data.measurements[].urine_color",
    "measurements_data.measurements[].user_notes",
    "metadata",
    "metadata.end_time",
    "metadata.start_time",
    "metadata.timestamp_localization",
    "oxygen_data",
    "oxygen_data.avg_saturation_percentage",
    "oxygen_data.saturation_samples",
    "oxygen_data.saturation_samples[].timestamp",
    "oxygen_data.saturation_samples[].percentage",
    "oxygen_data.saturation_samples[].type",
    "oxygen_data.vo2_samples",
    "oxygen_data.vo2_samples[].timestamp",
    "oxygen_data.vo2_samples[].vo2max_ml_per_min_per_kg",
    "oxygen_data.vo2max_ml_per_min_per_kg",
    "temperature_data",
    "temperature_data.ambient_temperature_samples",
    "temperature_data.ambient_temperature_samples[].timestamp",
    "temperature_data.ambient_temperature_samples[].temperature_celsius",
    "temperature_data.body_temperature_samples",
    "temperature_data.body_temperature_samples[].timestamp",
    "temperature_data.body_temperature_samples[].temperature_celsius",
    "temperature_data.skin_temperature_samples",
    "temperature_data.skin_temperature_samples[].timestamp",
    "temperature_data.skin_temperature_samples[].temperature_celsius",
    "glucose_data",
    "glucose_data.blood_glucose_samples",
    "glucose_data.blood_glucose_samples[].timestamp",
    "glucose_data.blood_glucose_samples[].blood_glucose_mg_per_dL",
    "glucose_data.blood_glucose_samples[].glucose_level_flag",
    "glucose_data.blood_glucose_samples[].trend_arrow",
    "glucose_data.detailed_blood_glucose_samples",
    "glucose_data.detailed_blood_glucose_samples[].timestamp",
    "glucose_data.detailed_blood_glucose_samples[].blood_glucose_mg_per_dL",
    "glucose_data.detailed_blood_glucose_samples[].glucose_level_flag",
    "glucose_data.detailed_blood_glucose_samples[].trend_arrow",
    "glucose_data.day_avg_blood_glucose_mg_per_dL",
    "glucose_data.gmi",
    "glucose_data.time_in_range",
    "glucose_data.sensor_usage",
    "glucose_data.daily_patterns",
    "glucose_data.daily_patterns[].time_from_midnight",
    "glucose_data.daily_patterns[].percentile_5",
    "glucose_data.daily_patterns[].percentile_25",
    "glucose_data.daily_patterns[].percentile_50",
    "glucose_data.daily_patterns[].percentile_75",
    "glucose_data.daily_patterns[].percentile_95",
];

/// Every wire path of terra-python 1.1.0 `Daily` (`[]` = each list element).
const DAILY_PATHS: &[&str] = &[
    "active_durations_data",
    "active_durations_data.activity_levels_samples",
    "active_durations_data.activity_levels_samples[].timestamp",
    "active_durations_data.activity_levels_samples[].level",
    "active_durations_data.activity_seconds",
    "active_durations_data.inactivity_seconds",
    "active_durations_data.low_intensity_seconds",
    "active_durations_data.moderate_intensity_seconds",
    "active_durations_data.num_continuous_inactive_periods",
    "active_durations_data.rest_seconds",
    "active_durations_data.vigorous_intensity_seconds",
    "active_durations_data.standing_hours_count",
    "active_durations_data.standing_seconds",
    "calories_data",
    "calories_data.BMR_calories",
    "calories_data.calorie_samples",
    "calories_data.calorie_samples[].timestamp",
    "calories_data.calorie_samples[].calories",
    "calories_data.calorie_samples[].timer_duration_seconds",
    "calories_data.net_activity_calories",
    "calories_data.net_intake_calories",
    "calories_data.total_burned_calories",
    "data_enrichment",
    "data_enrichment.cardiovascular_contributors",
    "data_enrichment.cardiovascular_contributors[].contributor_name",
    "data_enrichment.cardiovascular_contributors[].contributor_score",
    "data_enrichment.cardiovascular_score",
    "data_enrichment.immune_contributors",
    "data_enrichment.immune_contributors[].contributor_name",
    "data_enrichment.immune_contributors[].contributor_score",
    "data_enrichment.immune_index",
    "data_enrichment.readiness_contributors",
    "data_enrichment.readiness_contributors[].contributor_name",
    "data_enrichment.readiness_contributors[].contributor_score",
    "data_enrichment.readiness_score",
    "data_enrichment.respiratory_contributors",
    "data_enrichment.respiratory_contributors[].contributor_name",
    "data_enrichment.respiratory_contributors[].contributor_score",
    "data_enrichment.respiratory_score",
    "data_enrichment.start_time",
    "data_enrichment.stress_contributors",
    "data_enrichment.stress_contributors[].contributor_name",
    "data_enrichment.stress_contributors[].contributor_score",
    "data_enrichment.total_stress_score",
    "device_data",
    "device_data.activation_timestamp",
    "device_data.data_provided",
    "device_data.hardware_version",
    "device_data.last_upload_date",
    "device_data.manufacturer",
    "device_data.name",
    "device_data.other_devices",
    "device_data.other_devices[].manufacturer",
    "device_data.other_devices[].hardware_version",
    "device_data.other_devices[].serial_number",
    "device_data.other_devices[].name",
    "device_data.other_devices[].software_version",
    "device_data.other_devices[].activation_timestamp",
    "device_data.other_devices[].data_provided",
    "device_data.other_devices[].last_upload_date",
    "device_data.sensor_state",
    "device_data.serial_number",
    "device_data.software_version",
    "distance_data",
    "distance_data.detailed",
    "distance_data.detailed.distance_samples",
    "distance_data.detailed.distance_samples[].timestamp",
    "distance_data.detailed.distance_samples[].distance_meters",
    "distance_data.detailed.distance_samples[].timer_duration_seconds",
    "distance_data.detailed.elevation_samples",
    "distance_data.detailed.elevation_samples[].timestamp",
    "distance_data.detailed.elevation_samples[].elev_meters",
    "distance_data.detailed.elevation_samples[].timer_duration_seconds",
    "distance_data.detailed.floors_climbed_samples",
    "distance_data.detailed.floors_climbed_samples[].timestamp",
    "distance_data.detailed.floors_climbed_samples[].floors_climbed",
    "distance_data.detailed.floors_climbed_samples[].timer_duration_seconds",
    "distance_data.detailed.step_samples",
    "distance_data.detailed.step_samples[].timestamp",
    "distance_data.detailed.step_samples[].steps",
    "distance_data.detailed.step_samples[].timer_duration_seconds",
    "distance_data.distance_meters",
    "distance_data.elevation",
    "distance_data.elevation.avg_meters",
    "distance_data.elevation.gain_actual_meters",
    "distance_data.elevation.gain_planned_meters",
    "distance_data.elevation.loss_actual_meters",
    "distance_data.elevation.max_meters",
    "distance_data.elevation.min_meters",
    "distance_data.floors_climbed",
    "distance_data.steps",
    "distance_data.swimming",
    "distance_data.swimming.num_laps",
    "distance_data.swimming.num_strokes",
    "distance_data.swimming.pool_length_meters",
    "heart_rate_data",
    "heart_rate_data.detailed",
    "heart_rate_data.detailed.hr_samples",
    "heart_rate_data.detailed.hr_samples[].timestamp",
    "heart_rate_data.detailed.hr_samples[].bpm",
    "heart_rate_data.detailed.hr_samples[].timer_duration_seconds",
    "heart_rate_data.detailed.hr_samples[].context",
    "heart_rate_data.detailed.hrv_samples_rmssd",
    "heart_rate_data.detailed.hrv_samples_rmssd[].timestamp",
    "heart_rate_data.detailed.hrv_samples_rmssd[].hrv_rmssd",
    "heart_rate_data.detailed.hrv_samples_sdnn",
    "heart_rate_data.detailed.hrv_samples_sdnn[].timestamp",
    "heart_rate_data.detailed.hrv_samples_sdnn[].hrv_sdnn",
    "heart_rate_data.summary",
    "heart_rate_data.summary.avg_hr_bpm",
    "heart_rate_data.summary.avg_hrv_rmssd",
    "heart_rate_data.summary.avg_hrv_sdnn",
    "heart_rate_data.summary.hr_zone_data",
    "heart_rate_data.summary.hr_zone_data[].zone",
    "heart_rate_data.summary.hr_zone_data[].start_percentage",
    "heart_rate_data.summary.hr_zone_data[].end_percentage",
    "heart_rate_data.summary.hr_zone_data[].name",
    "heart_rate_data.summary.hr_zone_data[].duration_seconds",
    "heart_rate_data.summary.max_hr_bpm",
    "heart_rate_data.summary.min_hr_bpm",
    "heart_rate_data.summary.resting_hr_bpm",
    "heart_rate_data.summary.user_max_hr_bpm",
    "MET_data",
    "MET_data.MET_samples",
    "MET_data.MET_samples[].timestamp",
    "MET_data.MET_samples[].level",
    "MET_data.avg_level",
    "MET_data.num_high_intensity_minutes",
    "MET_data.num_inactive_minutes",
    "MET_data.num_low_intensity_minutes",
    "MET_data.num_moderate_intensity_minutes",
    "metadata",
    "metadata.end_time",
    "metadata.start_time",
    "metadata.timestamp_localization",
    "metadata.upload_type",
    "oxygen_data",
    "oxygen_data.avg_saturation_percentage",
    "oxygen_data.saturation_samples",
    "oxygen_data.saturation_samples[].timestamp",
    "oxygen_data.saturation_samples[].percentage",
    "oxygen_data.saturation_samples[].type",
    "oxygen_data.vo2_samples",
    "oxygen_data.vo2_samples[].timestamp",
    "oxygen_data.vo2_samples[].vo2max_ml_per_min_per_kg",
    "oxygen_data.vo2max_ml_per_min_per_kg",
    "scores",
    "scores.activity",
    "scores.recovery",
    "scores.sleep",
    "strain_data",
    "strain_data.strain_level",
    "stress_data",
    "stress_data.avg_stress_level",
    "stress_data.activity_stress_duration_seconds",
    "stress_data.low_stress_duration_seconds",
    "stress_data.max_stress_level",
    "stress_data.medium_stress_duration_seconds",
    "stress_data.samples",
    "stress_data.samples[].timestamp",
    "stress_data.samples[].level",
    "stress_data.rest_stress_duration_seconds",
    "stress_data.high_stress_duration_seconds",
    "stress_data.stress_duration_seconds",
    "stress_data.stress_rating",
    "stress_data.body_battery_samples",
    "stress_data.body_battery_samples[].timestamp",
    "stress_data.body_battery_samples[].level",
    "tag_data",
    "tag_data.tags",
    "tag_data.tags[].timestamp",
    "tag_data.tags[].tag_name",
    "tag_data.tags[].notes",
];

/// Every wire path of terra-python 1.1.0 `Athlete` (`[]` = each list element).
const ATHLETE_PATHS: &[&str] = &[
    "age",
    "country",
    "bio",
    "state",
    "last_name",
    "sex",
    "city",
    "email",
    "date_of_birth",
    "first_name",
    "gender",
    "joined_provider",
    "devices",
    "devices[].activation_timestamp",
    "devices[].data_provided",
    "devices[].hardware_version",
    "devices[].last_upload_date",
    "devices[].manufacturer",
    "devices[].name",
    "devices[].other_devices",
    "devices[].other_devices[].manufacturer",
    "devices[].other_devices[].hardware_version",
    "devices[].other_devices[].serial_number",
    "devices[].other_devices[].name",
    "devices[].other_devices[].software_version",
    "devices[].other_devices[].activation_timestamp",
    "devices[].other_devices[].data_provided",
    "devices[].other_devices[].last_upload_date",
    "devices[].sensor_state",
    "devices[].serial_number",
    "devices[].software_version",
];

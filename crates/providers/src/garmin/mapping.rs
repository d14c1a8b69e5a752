//! Garmin Health / Activity API summaries → Terra models: `activities` → `Activity`,
//! `dailies` → `Daily`, `sleeps` → `Sleep`, `bodyComps` and `userMetrics` → `Body`.
//! Times: `…InSeconds` are UTC epoch seconds and `…OffsetInSeconds` the user's offset,
//! so every time is written as ISO-8601 in the user's local offset.

use std::collections::BTreeMap;

use super::sport::terra_activity_type;
pub use super::summaries::*;
use crate::NormalizeError;
use chrono::{DateTime, Duration, FixedOffset, NaiveDate, SecondsFormat};
use pulsegate_schema::terra::{
    ActiveDurationsData, Activity, ActivityMetadata, AsleepDurations, AwakeDurations, Body,
    BodyMetadata, BreathSample, BreathsData, CaloriesData, Daily, DailyDistanceData, DailyMetadata,
    DeviceData, DistanceData, DistanceSummary, ElevationData, FullActiveDurationsData,
    FullCaloriesData, FullHeartRateData, HeartRateData, HeartRateDataDetailed, HeartRateDataSample,
    HeartRateDataSummary, HeartRateSummary, MeasurementDataSample, MeasurementsData, MovementData,
    OtherSleepDurations, OxygenData, OxygenSaturationData, OxygenSaturationSample, RespirationData,
    Sleep, SleepDurationsData, SleepHypnogramSample, SleepMetadata, SleepScores, StressData,
    Vo2MaxSample,
};

const UPLOAD_AUTOMATIC: i64 = 1;
const UPLOAD_MANUAL: i64 = 2;
/// Terra `TimestampLocalization` LOCAL (date-only records: local calendar day).
const LOCALIZATION_LOCAL: i64 = 1;

fn bad(detail: &str) -> NormalizeError {
    NormalizeError::dropped("bad_response", detail.to_string())
}

/// UTC epoch seconds shown at the user's offset (offsets beyond ±14 h are ignored).
pub fn local_time(epoch: i64, offset: Option<i64>) -> Option<DateTime<FixedOffset>> {
    let off = offset
        .filter(|o| o.unsigned_abs() <= 14 * 3600)
        .and_then(|o| FixedOffset::east_opt(o as i32))
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("UTC"));
    Some(DateTime::from_timestamp(epoch, 0)?.with_timezone(&off))
}

pub fn iso(t: DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

fn plus_secs(t: DateTime<FixedOffset>, secs: Option<f64>) -> DateTime<FixedOffset> {
    let s = secs.filter(|s| s.is_finite() && *s >= 0.0).unwrap_or(0.0);
    t.checked_add_signed(Duration::seconds(s.min(1e9) as i64))
        .unwrap_or(t)
}

fn start_of(
    epoch: Option<i64>,
    offset: Option<i64>,
    what: &str,
) -> Result<DateTime<FixedOffset>, NormalizeError> {
    epoch
        .and_then(|e| local_time(e, offset))
        .ok_or_else(|| bad(&format!("{what} has no valid start time")))
}

pub fn map_activity(a: &GarminActivity) -> Result<Activity, NormalizeError> {
    let start = start_of(
        a.start_time_in_seconds,
        a.start_time_offset_in_seconds,
        "activity",
    )?;
    let duration = finite(a.duration_in_seconds);
    let summary_id = a
        .summary_id
        .clone()
        .or_else(|| a.activity_id.as_ref().map(|n| n.to_string()))
        .ok_or_else(|| bad("activity has no summaryId"))?;
    let gain = finite(a.total_elevation_gain_in_meters);
    let distance = DistanceSummary {
        distance_meters: finite(a.distance_in_meters).map(round),
        steps: finite(a.steps).map(round),
        elevation: gain.map(|g| ElevationData {
            gain_actual_meters: Some(g),
            ..Default::default()
        }),
    };
    let has_distance = distance.distance_meters.is_some()
        || distance.steps.is_some()
        || distance.elevation.is_some();
    let hr = HeartRateSummary {
        avg_hr_bpm: finite(a.average_heart_rate_in_beats_per_minute),
        max_hr_bpm: finite(a.max_heart_rate_in_beats_per_minute),
    };
    let has_hr = hr.avg_hr_bpm.is_some() || hr.max_hr_bpm.is_some();
    let movement = MovementData {
        avg_speed_meters_per_second: finite(a.average_speed_in_meters_per_second),
        max_speed_meters_per_second: finite(a.max_speed_in_meters_per_second),
        avg_cadence_rpm: finite(a.average_run_cadence_in_steps_per_minute)
            .or(finite(a.average_bike_cadence_in_rounds_per_minute)),
    };
    let has_movement = movement.avg_speed_meters_per_second.is_some()
        || movement.max_speed_meters_per_second.is_some()
        || movement.avg_cadence_rpm.is_some();
    Ok(Activity {
        metadata: ActivityMetadata {
            summary_id,
            start_time: iso(start),
            end_time: iso(plus_secs(start, duration)),
            activity_type: terra_activity_type(a.activity_type.as_deref()),
            upload_type: if a.manual == Some(true) {
                UPLOAD_MANUAL
            } else {
                UPLOAD_AUTOMATIC
            },
            name: non_empty(&a.activity_name),
            city: None,
            state: None,
            country: None,
        },
        distance_data: has_distance.then_some(DistanceData {
            summary: Some(distance),
        }),
        calories_data: finite(a.active_kilocalories).map(|c| CaloriesData {
            total_burned_calories: Some(round(c)),
        }),
        heart_rate_data: has_hr.then_some(HeartRateData { summary: Some(hr) }),
        movement_data: has_movement.then_some(movement),
        active_durations_data: duration.map(|d| ActiveDurationsData {
            activity_seconds: Some(d),
            rest_seconds: None,
        }),
        power_data: None,
        device_data: non_empty(&a.device_name).map(|n| DeviceData { name: Some(n) }),
        polyline_map_data: None,
        work_data: None,
    })
}

pub fn map_daily(d: &GarminDaily) -> Result<Daily, NormalizeError> {
    let start = start_of(
        d.start_time_in_seconds,
        d.start_time_offset_in_seconds,
        "daily",
    )?;
    let end = plus_secs(start, finite(d.duration_in_seconds).or(Some(86_400.0)));
    let active = finite(d.active_kilocalories);
    let bmr = finite(d.bmr_kilocalories);
    let total = match (active, bmr) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
    };
    let hr_samples: Vec<HeartRateDataSample> =
        offset_samples(&d.time_offset_heart_rate_samples, start)
            .into_iter()
            .map(|(t, bpm)| HeartRateDataSample {
                timestamp: Some(iso(t)),
                bpm: Some(bpm),
                ..Default::default()
            })
            .collect();
    let hr_summary = HeartRateDataSummary {
        avg_hr_bpm: finite(d.average_heart_rate_in_beats_per_minute),
        max_hr_bpm: finite(d.max_heart_rate_in_beats_per_minute),
        min_hr_bpm: finite(d.min_heart_rate_in_beats_per_minute),
        resting_hr_bpm: finite(d.resting_heart_rate_in_beats_per_minute),
        ..Default::default()
    };
    let has_hr_summary = hr_summary != HeartRateDataSummary::default();
    // Garmin writes -1 (and -2) for "not enough data" in stress levels.
    let level = |v: Option<f64>| finite(v).filter(|l| *l >= 0.0);
    let stress = StressData {
        avg_stress_level: level(d.average_stress_level),
        max_stress_level: level(d.max_stress_level),
        stress_duration_seconds: finite(d.stress_duration),
        rest_stress_duration_seconds: finite(d.rest_stress_duration),
        activity_stress_duration_seconds: finite(d.activity_stress_duration),
        low_stress_duration_seconds: finite(d.low_stress_duration),
        medium_stress_duration_seconds: finite(d.medium_stress_duration),
        high_stress_duration_seconds: finite(d.high_stress_duration),
        ..Default::default()
    };
    let durations = FullActiveDurationsData {
        activity_seconds: finite(d.active_time_in_seconds),
        moderate_intensity_seconds: finite(d.moderate_intensity_duration_in_seconds),
        vigorous_intensity_seconds: finite(d.vigorous_intensity_duration_in_seconds),
        ..Default::default()
    };
    let distance = DailyDistanceData {
        steps: finite(d.steps).map(round),
        distance_meters: finite(d.distance_in_meters).map(round),
        floors_climbed: finite(d.floors_climbed).map(round),
        ..Default::default()
    };
    Ok(Daily {
        metadata: DailyMetadata {
            start_time: iso(start),
            end_time: iso(end),
            timestamp_localization: None,
            upload_type: UPLOAD_AUTOMATIC,
        },
        calories_data: total.map(|t| FullCaloriesData {
            total_burned_calories: Some(round(t)),
            net_activity_calories: active.map(round),
            bmr_calories: bmr.map(round),
            ..Default::default()
        }),
        distance_data: (distance != DailyDistanceData::default()).then_some(distance),
        active_durations_data: (durations != FullActiveDurationsData::default())
            .then_some(durations),
        heart_rate_data: (has_hr_summary || !hr_samples.is_empty()).then(|| FullHeartRateData {
            summary: has_hr_summary.then_some(hr_summary),
            detailed: (!hr_samples.is_empty()).then(|| HeartRateDataDetailed {
                hr_samples,
                ..Default::default()
            }),
        }),
        stress_data: (stress != StressData::default()).then_some(stress),
        ..Default::default()
    })
}

/// Terra `SleepLevel` for Garmin's level names (1 Awake, 4 Light, 5 Deep, 6 REM).
fn sleep_level(name: &str) -> Option<i64> {
    match name {
        "awake" => Some(1),
        "light" => Some(4),
        "deep" => Some(5),
        "rem" => Some(6),
        _ => None,
    }
}

pub fn map_sleep(s: &GarminSleep) -> Result<Sleep, NormalizeError> {
    let start = start_of(
        s.start_time_in_seconds,
        s.start_time_offset_in_seconds,
        "sleep",
    )?;
    let offset = *start.offset();
    let end = plus_secs(start, finite(s.duration_in_seconds));
    let (deep, light, rem) = (
        finite(s.deep_sleep_duration_in_seconds),
        finite(s.light_sleep_duration_in_seconds),
        finite(s.rem_sleep_in_seconds),
    );
    let stages = [deep, light, rem];
    let asleep = stages
        .iter()
        .any(Option::is_some)
        .then(|| stages.iter().flatten().sum::<f64>());
    let mut levels: Vec<(i64, i64)> = Vec::new();
    for (name, spans) in s.sleep_levels_map.iter().flatten() {
        let Some(level) = sleep_level(name) else {
            continue;
        };
        levels.extend(
            spans
                .iter()
                .filter_map(|sp| Some((sp.start_time_in_seconds?, level))),
        );
    }
    levels.sort();
    let hypnogram = levels
        .into_iter()
        .filter_map(|(t, level)| {
            Some(SleepHypnogramSample {
                timestamp: Some(iso(local_time(t, Some(offset.local_minus_utc() as i64))?)),
                level: Some(level),
            })
        })
        .collect();
    let spo2: Vec<OxygenSaturationSample> = offset_samples(&s.time_offset_sleep_spo2, start)
        .into_iter()
        .map(|(t, p)| OxygenSaturationSample {
            timestamp: Some(iso(t)),
            percentage: Some(p),
            ..Default::default()
        })
        .collect();
    let breaths: Vec<BreathSample> = offset_samples(&s.time_offset_sleep_respiration, start)
        .into_iter()
        .map(|(t, b)| BreathSample {
            timestamp: Some(iso(t)),
            breaths_per_min: Some(b),
        })
        .collect();
    let respiration = (!spo2.is_empty() || !breaths.is_empty()).then(|| RespirationData {
        oxygen_saturation_data: (!spo2.is_empty()).then(|| OxygenSaturationData {
            samples: spo2,
            ..Default::default()
        }),
        breaths_data: (!breaths.is_empty()).then(|| BreathsData {
            samples: breaths,
            ..Default::default()
        }),
        snoring_data: None,
    });
    let manual = s
        .validation
        .as_deref()
        .is_some_and(|v| v.eq_ignore_ascii_case("MANUAL"));
    Ok(Sleep {
        metadata: SleepMetadata {
            start_time: iso(start),
            end_time: iso(end),
            is_nap: None,
            summary_id: s.summary_id.clone(),
            timestamp_localization: None,
            upload_type: if manual {
                UPLOAD_MANUAL
            } else {
                UPLOAD_AUTOMATIC
            },
        },
        sleep_durations_data: Some(SleepDurationsData {
            asleep: Some(AsleepDurations {
                duration_asleep_state_seconds: asleep,
                duration_deep_sleep_state_seconds: deep,
                duration_light_sleep_state_seconds: light,
                duration_rem_sleep_state_seconds: rem,
                num_rem_events: None,
            }),
            awake: Some(AwakeDurations {
                duration_awake_state_seconds: finite(s.awake_duration_in_seconds),
                ..Default::default()
            }),
            hypnogram_samples: hypnogram,
            other: Some(OtherSleepDurations {
                duration_in_bed_seconds: finite(s.duration_in_seconds),
                duration_unmeasurable_sleep_seconds: finite(s.unmeasurable_sleep_in_seconds),
            }),
            sleep_efficiency: None,
        }),
        respiration_data: respiration,
        scores: s
            .overall_sleep_score
            .as_ref()
            .and_then(|sc| finite(sc.value))
            .map(|v| SleepScores {
                sleep_score: Some(v),
            }),
        ..Default::default()
    })
}

pub fn map_body_comp(b: &GarminBodyComp) -> Result<Body, NormalizeError> {
    let at = start_of(
        b.measurement_time_in_seconds,
        b.measurement_time_offset_in_seconds,
        "body composition",
    )?;
    let sample = MeasurementDataSample {
        measurement_time: Some(iso(at)),
        weight_kg: finite(b.weight_in_grams).map(|g| g / 1000.0),
        bmi: finite(b.body_mass_index),
        bodyfat_percentage: finite(b.body_fat_in_percent),
        water_percentage: finite(b.body_water_in_percent),
        muscle_mass_g: finite(b.muscle_mass_in_grams),
        bone_mass_g: finite(b.bone_mass_in_grams),
        ..Default::default()
    };
    Ok(Body {
        metadata: BodyMetadata {
            start_time: iso(at),
            end_time: iso(at),
            timestamp_localization: None,
        },
        measurements_data: Some(MeasurementsData {
            measurements: vec![sample],
        }),
        ..Default::default()
    })
}

/// `userMetrics` has only a calendar date: the local day, `timestamp_localization` LOCAL.
pub fn map_user_metrics(m: &GarminUserMetrics) -> Result<Body, NormalizeError> {
    let day = m
        .calendar_date
        .as_deref()
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .ok_or_else(|| bad("userMetrics has no valid calendarDate"))?;
    let start = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    let fmt = |t: chrono::NaiveDateTime| t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let vo2 = finite(m.vo2_max);
    let age = finite(m.fitness_age);
    if vo2.is_none() && age.is_none() {
        return Err(NormalizeError::dropped(
            "no_data",
            "userMetrics without values",
        ));
    }
    Ok(Body {
        metadata: BodyMetadata {
            start_time: fmt(start),
            end_time: fmt(start + Duration::days(1)),
            timestamp_localization: Some(LOCALIZATION_LOCAL),
        },
        oxygen_data: vo2.map(|v| OxygenData {
            vo2max_ml_per_min_per_kg: Some(v),
            vo2_samples: vec![Vo2MaxSample {
                timestamp: Some(fmt(start)),
                vo2max_ml_per_min_per_kg: Some(v),
            }],
            ..Default::default()
        }),
        measurements_data: age.map(|a| MeasurementsData {
            measurements: vec![MeasurementDataSample {
                measurement_time: Some(fmt(start)),
                estimated_fitness_age: Some(format!("{}", a.round() as i64)),
                ..Default::default()
            }],
        }),
        ..Default::default()
    })
}

/// `{"<seconds after start>": value}` → sorted absolute samples.
fn offset_samples(
    m: &Option<BTreeMap<String, f64>>,
    start: DateTime<FixedOffset>,
) -> Vec<(DateTime<FixedOffset>, f64)> {
    let mut out: Vec<_> = m
        .iter()
        .flatten()
        .filter_map(|(k, v)| {
            let secs: i64 = k
                .trim()
                .parse()
                .ok()
                .filter(|s| (0..=7 * 86_400).contains(s))?;
            v.is_finite().then(|| (start + Duration::seconds(secs), *v))
        })
        .collect();
    out.sort_by_key(|a| a.0);
    out
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

fn round(v: f64) -> i64 {
    v.round() as i64
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

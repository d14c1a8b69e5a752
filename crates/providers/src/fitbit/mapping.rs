//! Fitbit Web API responses → Terra `Daily`, `Activity`, `Sleep` and `Body`.
//!
//! Units: requests carry no `Accept-Language`, so Fitbit answers in the metric system
//! (distances in km, elevation in m, weight in kg). Fitbit's local times carry no
//! offset; the user's `offsetFromUTCMillis` (profile) is attached.

use chrono::{DateTime, Duration as ChronoDuration, FixedOffset, NaiveDate, NaiveDateTime};
use pulsegate_schema::terra::{
    ActiveDurationsData, Activity, ActivityMetadata, AsleepDurations, AwakeDurations, Body,
    BodyMetadata, CaloriesData, Daily, DailyDistanceData, DailyMetadata, DeviceData, DistanceData,
    DistanceSummary, ElevationData, FullActiveDurationsData, FullCaloriesData, FullElevationData,
    FullHeartRateData, HeartRateData, HeartRateDataSummary, HeartRateSummary, HeartRateZoneData,
    MeasurementDataSample, MeasurementsData, OtherSleepDurations, Sleep, SleepDurationsData,
    SleepHypnogramSample, SleepMetadata,
};
use serde::Deserialize;

use crate::strava::sport::{TERRA_OTHER, UPLOAD_AUTOMATIC, UPLOAD_MANUAL};

/// Terra `SleepLevel` codes.
pub const SLEEP_UNKNOWN: i64 = 0;
pub const SLEEP_AWAKE: i64 = 1;
pub const SLEEP_SLEEPING: i64 = 2;
pub const SLEEP_LIGHT: i64 = 4;
pub const SLEEP_DEEP: i64 = 5;
pub const SLEEP_REM: i64 = 6;

// ---- GET /1/user/{id}/activities/date/{date}.json ------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DailyActivityResponse {
    pub summary: Option<ActivitySummary>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ActivitySummary {
    pub steps: Option<f64>,
    /// kcal, BMR included.
    pub calories_out: Option<f64>,
    #[serde(rename = "caloriesBMR")]
    pub calories_bmr: Option<f64>,
    pub activity_calories: Option<f64>,
    /// `{activity: "total" | "tracker" | "loggedActivities" | …, distance: km}`.
    pub distances: Vec<FitbitDistance>,
    /// Meters.
    pub elevation: Option<f64>,
    pub floors: Option<f64>,
    pub sedentary_minutes: Option<f64>,
    pub lightly_active_minutes: Option<f64>,
    pub fairly_active_minutes: Option<f64>,
    pub very_active_minutes: Option<f64>,
    pub resting_heart_rate: Option<f64>,
    pub heart_rate_zones: Vec<FitbitHrZone>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct FitbitDistance {
    pub activity: String,
    pub distance: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FitbitHrZone {
    pub name: Option<String>,
    pub minutes: Option<f64>,
}

/// The day's summary. `offset` is the user's UTC offset; the day runs from local
/// midnight to the next.
pub fn map_daily(s: &ActivitySummary, date: NaiveDate, offset: FixedOffset) -> Daily {
    let total_km = s
        .distances
        .iter()
        .find(|d| d.activity == "total")
        .and_then(|d| finite(d.distance));
    let elevation = finite(s.elevation).map(|m| FullElevationData {
        gain_actual_meters: Some(m),
        ..Default::default()
    });
    let distance = DailyDistanceData {
        distance_meters: total_km.map(|km| round(km * 1000.0)),
        steps: finite(s.steps).map(round),
        floors_climbed: finite(s.floors).map(round),
        elevation,
        ..Default::default()
    };
    let has_distance = distance.distance_meters.is_some()
        || distance.steps.is_some()
        || distance.floors_climbed.is_some()
        || distance.elevation.is_some();

    let calories = FullCaloriesData {
        total_burned_calories: finite(s.calories_out).map(round),
        bmr_calories: finite(s.calories_bmr).map(round),
        net_activity_calories: finite(s.activity_calories).map(round),
        ..Default::default()
    };
    let has_calories = calories.total_burned_calories.is_some()
        || calories.bmr_calories.is_some()
        || calories.net_activity_calories.is_some();

    let secs = |m: Option<f64>| finite(m).map(|m| m.max(0.0) * 60.0);
    let (light, moderate, vigorous) = (
        secs(s.lightly_active_minutes),
        secs(s.fairly_active_minutes),
        secs(s.very_active_minutes),
    );
    let active = [light, moderate, vigorous]
        .iter()
        .flatten()
        .copied()
        .reduce(|a, b| a + b);
    let durations = FullActiveDurationsData {
        activity_seconds: active,
        low_intensity_seconds: light,
        moderate_intensity_seconds: moderate,
        vigorous_intensity_seconds: vigorous,
        inactivity_seconds: secs(s.sedentary_minutes),
        ..Default::default()
    };
    let has_durations =
        durations.activity_seconds.is_some() || durations.inactivity_seconds.is_some();

    let zones: Vec<HeartRateZoneData> = s
        .heart_rate_zones
        .iter()
        .enumerate()
        .map(|(i, z)| HeartRateZoneData {
            zone: Some(i as i64),
            name: z.name.clone().filter(|n| !n.is_empty()),
            duration_seconds: secs(z.minutes),
            ..Default::default()
        })
        .collect();
    let resting = finite(s.resting_heart_rate).filter(|r| *r > 0.0);
    let heart = (resting.is_some() || !zones.is_empty()).then(|| FullHeartRateData {
        summary: Some(HeartRateDataSummary {
            resting_hr_bpm: resting,
            hr_zone_data: zones,
            ..Default::default()
        }),
        detailed: None,
    });

    Daily {
        metadata: DailyMetadata {
            start_time: day_start(date, offset),
            end_time: day_start(date.succ_opt().unwrap_or(date), offset),
            timestamp_localization: None,
            upload_type: UPLOAD_AUTOMATIC,
        },
        distance_data: has_distance.then_some(distance),
        calories_data: has_calories.then_some(calories),
        active_durations_data: has_durations.then_some(durations),
        heart_rate_data: heart,
        ..Default::default()
    }
}

// ---- GET /1/user/-/activities/list.json ---------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ActivityLogList {
    pub activities: Vec<ActivityLog>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ActivityLog {
    pub log_id: Option<u64>,
    pub activity_name: Option<String>,
    /// With offset: `2019-01-03T12:08:23.000-08:00`.
    pub start_time: Option<String>,
    /// Milliseconds.
    pub duration: Option<f64>,
    /// Milliseconds.
    pub active_duration: Option<f64>,
    /// kcal.
    pub calories: Option<f64>,
    pub distance: Option<f64>,
    /// `Kilometer`, `Mile`, `Meter`…
    pub distance_unit: Option<String>,
    pub steps: Option<f64>,
    pub average_heart_rate: Option<f64>,
    /// Meters (metric).
    pub elevation_gain: Option<f64>,
    /// `auto_detected`, `manual`, `mobile_run`, `tracker`.
    pub log_type: Option<String>,
    pub source: Option<LogSource>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LogSource {
    pub name: Option<String>,
}

impl ActivityLog {
    pub fn start(&self) -> Option<DateTime<FixedOffset>> {
        DateTime::parse_from_rfc3339(self.start_time.as_deref()?).ok()
    }
}

/// One logged exercise; `None` without a log id or a start time.
pub fn map_activity_log(a: &ActivityLog) -> Option<Activity> {
    let start = a.start()?;
    let log_id = a.log_id?;
    let duration_s = finite(a.duration).map(|ms| (ms / 1000.0).max(0.0));
    let end = start
        .checked_add_signed(ChronoDuration::seconds(
            duration_s.unwrap_or(0.0).min(i32::MAX as f64) as i64,
        ))
        .unwrap_or(start);
    let meters = finite(a.distance).and_then(|d| {
        let per_unit = match a.distance_unit.as_deref().unwrap_or("Kilometer") {
            "Kilometer" | "Kilometers" | "km" => 1000.0,
            "Mile" | "Miles" | "mi" => 1609.344,
            "Meter" | "Meters" | "m" => 1.0,
            _ => return None,
        };
        Some(round(d * per_unit))
    });
    let elevation = finite(a.elevation_gain).map(|g| ElevationData {
        gain_actual_meters: Some(g),
        max_meters: None,
        min_meters: None,
    });
    let steps = finite(a.steps).map(round);
    let distance_data =
        (meters.is_some() || steps.is_some() || elevation.is_some()).then_some(DistanceData {
            summary: Some(DistanceSummary {
                distance_meters: meters,
                steps,
                elevation,
            }),
        });
    let active_s = finite(a.active_duration).map(|ms| (ms / 1000.0).max(0.0));
    Some(Activity {
        metadata: ActivityMetadata {
            summary_id: log_id.to_string(),
            start_time: format_time(start),
            end_time: format_time(end),
            activity_type: activity_type(a.activity_name.as_deref()),
            upload_type: if a.log_type.as_deref() == Some("manual") {
                UPLOAD_MANUAL
            } else {
                UPLOAD_AUTOMATIC
            },
            name: non_empty(&a.activity_name),
            city: None,
            state: None,
            country: None,
        },
        distance_data,
        calories_data: finite(a.calories).map(|c| CaloriesData {
            total_burned_calories: Some(round(c)),
        }),
        heart_rate_data: finite(a.average_heart_rate)
            .filter(|h| *h > 0.0)
            .map(|h| HeartRateData {
                summary: Some(HeartRateSummary {
                    avg_hr_bpm: Some(h),
                    max_hr_bpm: None,
                }),
            }),
        movement_data: None,
        active_durations_data: active_s.map(|act| ActiveDurationsData {
            activity_seconds: Some(act),
            rest_seconds: duration_s.map(|d| (d - act).max(0.0)),
        }),
        power_data: None,
        device_data: a
            .source
            .as_ref()
            .and_then(|s| non_empty(&s.name))
            .map(|name| DeviceData { name: Some(name) }),
        polyline_map_data: None,
        work_data: None,
    })
}

/// Fitbit activity names (lower case) and their Terra `ActivityType` codes; writes
/// name an activity by the first name listed with its code.
pub const ACTIVITY_TYPES: &[(&str, i64)] = &[
    ("walk", 7),
    ("run", 8),
    ("treadmill", 58),
    ("bike", 1),
    ("outdoor bike", 1),
    ("spinning", 18),
    ("hike", 35),
    ("swim", 82),
    ("elliptical", 25),
    ("yoga", 100),
    ("pilates", 49),
    ("weights", 80),
    ("interval workout", 114),
    ("tennis", 87),
    ("golf", 32),
    ("rowing machine", 54),
    ("stairclimber", 78),
    ("kayaking", 40),
    ("dancing", 24),
];

/// Fitbit activity name → Terra `ActivityType` code (unknown → OTHER, 108).
pub fn activity_type(name: Option<&str>) -> i64 {
    const TYPES: &[(&str, i64)] = ACTIVITY_TYPES;
    let Some(name) = name else {
        return TERRA_OTHER;
    };
    let name = name.trim().to_ascii_lowercase();
    TYPES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, c)| *c)
        .unwrap_or(TERRA_OTHER)
}

// ---- GET /1.2/user/-/sleep/date/{date}.json ------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SleepResponse {
    pub sleep: Vec<SleepLog>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SleepLog {
    pub log_id: Option<u64>,
    /// Local, no offset: `2020-02-20T23:21:30.000`.
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub is_main_sleep: Option<bool>,
    /// 0–100.
    pub efficiency: Option<f64>,
    pub minutes_asleep: Option<f64>,
    pub minutes_awake: Option<f64>,
    pub minutes_to_fall_asleep: Option<f64>,
    pub minutes_after_wakeup: Option<f64>,
    pub time_in_bed: Option<f64>,
    /// `auto_detected` or `manual`.
    pub log_type: Option<String>,
    /// `stages` or `classic`.
    #[serde(rename = "type")]
    pub sleep_type: Option<String>,
    pub levels: Option<SleepLevels>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SleepLevels {
    pub data: Vec<LevelData>,
    pub summary: Option<LevelSummary>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LevelData {
    pub date_time: Option<String>,
    pub level: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LevelSummary {
    pub deep: Option<LevelTotal>,
    pub light: Option<LevelTotal>,
    pub rem: Option<LevelTotal>,
    pub wake: Option<LevelTotal>,
    pub awake: Option<LevelTotal>,
    pub restless: Option<LevelTotal>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LevelTotal {
    pub count: Option<f64>,
    pub minutes: Option<f64>,
}

/// One sleep log; `None` without a start and end.
pub fn map_sleep(s: &SleepLog, offset: FixedOffset) -> Option<Sleep> {
    let start = local_time(s.start_time.as_deref()?, offset)?;
    let end = local_time(s.end_time.as_deref()?, offset)?;
    let secs = |m: Option<f64>| finite(m).map(|m| m.max(0.0) * 60.0);
    let summary = s.levels.as_ref().and_then(|l| l.summary.as_ref());
    let level = |f: fn(&LevelSummary) -> &Option<LevelTotal>| summary.and_then(|s| f(s).as_ref());
    let asleep = AsleepDurations {
        duration_asleep_state_seconds: secs(s.minutes_asleep),
        duration_deep_sleep_state_seconds: level(|s| &s.deep).and_then(|t| secs(t.minutes)),
        duration_light_sleep_state_seconds: level(|s| &s.light).and_then(|t| secs(t.minutes)),
        duration_rem_sleep_state_seconds: level(|s| &s.rem).and_then(|t| secs(t.minutes)),
        num_rem_events: level(|s| &s.rem).and_then(|t| finite(t.count)).map(round),
    };
    let wake = level(|s| &s.wake).or(level(|s| &s.awake));
    let awake = AwakeDurations {
        duration_awake_state_seconds: secs(s.minutes_awake),
        num_wakeup_events: wake.and_then(|t| finite(t.count)).map(round),
        sleep_latency_seconds: secs(s.minutes_to_fall_asleep),
        wake_up_latency_seconds: secs(s.minutes_after_wakeup),
        ..Default::default()
    };
    let hypnogram: Vec<SleepHypnogramSample> = s
        .levels
        .iter()
        .flat_map(|l| l.data.iter())
        .filter_map(|d| {
            Some(SleepHypnogramSample {
                timestamp: Some(format_time(local_time(d.date_time.as_deref()?, offset)?)),
                level: Some(sleep_level(d.level.as_deref())),
            })
        })
        .collect();
    Some(Sleep {
        metadata: SleepMetadata {
            start_time: format_time(start),
            end_time: format_time(end),
            is_nap: s.is_main_sleep.map(|m| !m),
            summary_id: s.log_id.map(|id| id.to_string()),
            timestamp_localization: None,
            upload_type: if s.log_type.as_deref() == Some("manual") {
                UPLOAD_MANUAL
            } else {
                UPLOAD_AUTOMATIC
            },
        },
        sleep_durations_data: Some(SleepDurationsData {
            asleep: Some(asleep),
            awake: Some(awake),
            hypnogram_samples: hypnogram,
            other: secs(s.time_in_bed).map(|b| OtherSleepDurations {
                duration_in_bed_seconds: Some(b),
                duration_unmeasurable_sleep_seconds: None,
            }),
            sleep_efficiency: finite(s.efficiency),
        }),
        ..Default::default()
    })
}

/// Fitbit's stage name → Terra `SleepLevel`. Classic logs' `restless` counts as awake.
pub fn sleep_level(level: Option<&str>) -> i64 {
    match level {
        Some("wake" | "awake" | "restless") => SLEEP_AWAKE,
        Some("asleep") => SLEEP_SLEEPING,
        Some("light") => SLEEP_LIGHT,
        Some("deep") => SLEEP_DEEP,
        Some("rem") => SLEEP_REM,
        _ => SLEEP_UNKNOWN,
    }
}

// ---- GET /1/user/-/body/log/weight/date/{date}.json ----------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WeightResponse {
    pub weight: Vec<WeightLog>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct WeightLog {
    pub log_id: Option<u64>,
    pub date: Option<String>,
    /// `HH:mm:ss`, local.
    pub time: Option<String>,
    /// kg (metric).
    pub weight: Option<f64>,
    pub bmi: Option<f64>,
    /// Body fat, %.
    pub fat: Option<f64>,
}

/// The day's weight logs as one `Body`; `None` when there is none with a weight.
pub fn map_body(logs: &[WeightLog], date: NaiveDate, offset: FixedOffset) -> Option<Body> {
    let measurements: Vec<MeasurementDataSample> = logs
        .iter()
        .filter(|l| finite(l.weight).is_some() || finite(l.bmi).is_some())
        .map(|l| {
            let at = match (l.date.as_deref(), l.time.as_deref()) {
                (Some(d), Some(t)) => local_time(&format!("{d}T{t}"), offset).map(format_time),
                _ => None,
            };
            MeasurementDataSample {
                measurement_time: at,
                weight_kg: finite(l.weight),
                bmi: finite(l.bmi),
                bodyfat_percentage: finite(l.fat),
                ..Default::default()
            }
        })
        .collect();
    if measurements.is_empty() {
        return None;
    }
    Some(Body {
        metadata: BodyMetadata {
            start_time: day_start(date, offset),
            end_time: day_start(date.succ_opt().unwrap_or(date), offset),
            timestamp_localization: None,
        },
        measurements_data: Some(MeasurementsData { measurements }),
        ..Default::default()
    })
}

// ---- helpers -------------------------------------------------------------------------

/// A UTC offset from Fitbit's `offsetFromUTCMillis` (±14 h, whole minutes; else UTC).
pub fn offset_from_millis(ms: f64) -> FixedOffset {
    let utc = FixedOffset::east_opt(0).expect("UTC");
    if !ms.is_finite() || ms.abs() > 14.0 * 3_600_000.0 {
        return utc;
    }
    let secs = (ms / 1000.0).round() as i32;
    if secs % 60 != 0 {
        return utc;
    }
    FixedOffset::east_opt(secs).unwrap_or(utc)
}

/// Fitbit's offset-less local time (`2020-02-20T23:21:30.000` or without fraction).
pub fn local_time(s: &str, offset: FixedOffset) -> Option<DateTime<FixedOffset>> {
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
    naive.and_local_timezone(offset).single()
}

pub fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

fn day_start(date: NaiveDate, offset: FixedOffset) -> String {
    date.and_hms_opt(0, 0, 0)
        .and_then(|n| n.and_local_timezone(offset).single())
        .map(format_time)
        .unwrap_or_default()
}

/// ISO-8601 with offset, seconds precision.
pub fn format_time(t: DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

fn round(v: f64) -> i64 {
    v.round() as i64
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_ref().filter(|s| !s.trim().is_empty()).cloned()
}

#[cfg(test)]
#[path = "mapping_tests.rs"]
mod tests;

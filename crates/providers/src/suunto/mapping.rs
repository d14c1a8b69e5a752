//! Suunto workout summary (`GET /v2/workouts/{workoutKey}`, `payload`) → Terra
//! `Activity`. Suunto's times are ms since the epoch (UTC) with the workout's
//! `timeOffsetInMinutes`; durations are seconds, distances and altitudes metres, speeds
//! m/s, energy kcal. docs/providers/suunto.md has the table.

use chrono::{DateTime, Duration as ChronoDuration, FixedOffset, SecondsFormat};
use pulsegate_schema::terra::{
    ActiveDurationsData, Activity, ActivityMetadata, CaloriesData, DeviceData, DistanceData,
    DistanceSummary, ElevationData, HeartRateData, HeartRateSummary, MovementData,
};
use serde::Deserialize;

use crate::strava::sport::{TERRA_OTHER, UPLOAD_AUTOMATIC};
use crate::NormalizeError;

/// The answer of `GET /v2/workouts/{workoutKey}`: `{"error", "metadata", "payload"}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WorkoutAnswer {
    pub error: Option<serde_json::Value>,
    pub payload: Option<Workout>,
}

/// Suunto's workout summary (the fields pulsegate maps; the rest is ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Workout {
    pub workout_key: Option<String>,
    pub key: Option<String>,
    pub activity_id: Option<i64>,
    /// ms since the epoch.
    pub start_time: Option<f64>,
    /// ms since the epoch.
    pub stop_time: Option<f64>,
    /// Seconds.
    pub total_time: Option<f64>,
    /// Metres.
    pub total_distance: Option<f64>,
    pub total_ascent: Option<f64>,
    pub total_descent: Option<f64>,
    pub max_altitude: Option<f64>,
    pub min_altitude: Option<f64>,
    /// kcal.
    pub energy_consumption: Option<f64>,
    pub step_count: Option<f64>,
    /// m/s.
    pub avg_speed: Option<f64>,
    pub max_speed: Option<f64>,
    pub hrdata: Option<HrData>,
    pub time_offset_in_minutes: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct HrData {
    #[serde(rename = "workoutAvgHR")]
    pub workout_avg_hr: Option<f64>,
    #[serde(rename = "workoutMaxHR")]
    pub workout_max_hr: Option<f64>,
}

/// (Suunto `activityId`, Terra code, Terra name). Ids not listed map to OTHER (108).
pub const ACTIVITIES: &[(i64, i64, &str)] = &[
    (0, 7, "WALKING"),
    (1, 8, "RUNNING"),
    (2, 1, "BIKING"),
    (3, 67, "CROSS_COUNTRY_SKIING"),
    (10, 15, "MOUNTAIN_BIKING"),
    (11, 35, "HIKING"),
    (12, 62, "SKATING"),
    (13, 68, "DOWNHILL_SKIING"),
    (14, 40, "KAYAKING"),
    (15, 53, "ROWING"),
    (16, 32, "GOLF"),
    (21, 82, "SWIMMING"),
    (22, 8, "RUNNING"),
    (23, 80, "STRENGTH_TRAINING"),
    (24, 94, "NORDIC_WALKING"),
    (27, 61, "SKATEBOARDING"),
    (29, 52, "ROCK_CLIMBING"),
    (30, 73, "SNOWBOARDING"),
    (31, 66, "BACK_COUNTRY_SKIING"),
    (32, 9, "AEROBICS"),
    (33, 29, "ENGLISH_FOOTBALL"),
    (34, 87, "TENNIS"),
    (35, 12, "BASKETBALL"),
    (36, 10, "BADMINTON"),
    (38, 89, "VOLLEYBALL"),
    (39, 27, "AMERICAN_FOOTBALL"),
    (40, 85, "TABLE_TENNIS"),
    (41, 51, "RACQUETBALL"),
    (42, 76, "SQUASH"),
    (43, 36, "HOCKEY"),
    (44, 34, "HANDBALL"),
    (48, 55, "RUGBY"),
    (49, 104, "ICE_SKATING"),
    (50, 36, "HOCKEY"),
    (51, 100, "YOGA"),
];

/// Terra's activity type for a Suunto `activityId`; OTHER when unknown.
pub fn terra_activity_type(activity_id: Option<i64>) -> i64 {
    activity_id
        .and_then(|id| ACTIVITIES.iter().find(|(s, _, _)| *s == id))
        .map(|(_, code, _)| *code)
        .unwrap_or(TERRA_OTHER)
}

/// The workout → Terra `Activity`. `key`: the notification's `workoutKey` (the summary
/// id when the answer names none); `device`: the notification's `gear.name`.
pub fn map_workout(
    w: &Workout,
    key: &str,
    device: Option<&str>,
) -> Result<Activity, NormalizeError> {
    let offset = offset(w.time_offset_in_minutes);
    let start = w
        .start_time
        .and_then(|ms| from_ms(ms, offset))
        .ok_or_else(|| NormalizeError::dropped("bad_response", "workout has no valid startTime"))?;
    let total = finite_non_negative(w.total_time);
    let end = w
        .stop_time
        .and_then(|ms| from_ms(ms, offset))
        .filter(|e| *e >= start)
        .or_else(|| {
            let ms = (total? * 1000.0).round();
            (ms <= 1e12).then(|| start + ChronoDuration::milliseconds(ms as i64))
        })
        .unwrap_or(start);

    let elevation = ElevationData {
        gain_actual_meters: finite_non_negative(w.total_ascent),
        max_meters: finite(w.max_altitude),
        min_meters: finite(w.min_altitude),
    };
    let elevation = (elevation != ElevationData::default()).then_some(elevation);
    let summary = DistanceSummary {
        distance_meters: finite_non_negative(w.total_distance).and_then(whole),
        steps: finite_non_negative(w.step_count).and_then(whole),
        elevation,
    };
    let hr = w.hrdata.as_ref();
    let hr = HeartRateSummary {
        avg_hr_bpm: finite_positive(hr.and_then(|h| h.workout_avg_hr)),
        max_hr_bpm: finite_positive(hr.and_then(|h| h.workout_max_hr)),
    };
    let movement = MovementData {
        avg_speed_meters_per_second: finite_non_negative(w.avg_speed),
        max_speed_meters_per_second: finite_non_negative(w.max_speed),
        avg_cadence_rpm: None,
    };
    let summary_id = [&w.workout_key, &w.key]
        .into_iter()
        .flatten()
        .find(|k| !k.trim().is_empty())
        .cloned()
        .unwrap_or_else(|| key.to_string());
    Ok(Activity {
        metadata: ActivityMetadata {
            summary_id,
            start_time: format_time(start),
            end_time: format_time(end),
            activity_type: terra_activity_type(w.activity_id),
            upload_type: UPLOAD_AUTOMATIC,
            name: None,
            city: None,
            state: None,
            country: None,
        },
        distance_data: (summary != DistanceSummary::default()).then_some(DistanceData {
            summary: Some(summary),
        }),
        calories_data: finite_non_negative(w.energy_consumption)
            .and_then(whole)
            .map(|kcal| CaloriesData {
                total_burned_calories: Some(kcal),
            }),
        heart_rate_data: (hr != HeartRateSummary::default())
            .then_some(HeartRateData { summary: Some(hr) }),
        movement_data: (movement != MovementData::default()).then_some(movement),
        active_durations_data: total.map(|t| ActiveDurationsData {
            activity_seconds: Some(t),
            rest_seconds: None,
        }),
        device_data: device
            .map(str::trim)
            .filter(|d| !d.is_empty() && d.len() <= 256)
            .map(|d| DeviceData {
                name: Some(d.to_string()),
            }),
        ..Activity::default()
    })
}

/// The workout's UTC offset; UTC when absent or not a real offset.
fn offset(minutes: Option<f64>) -> FixedOffset {
    let utc = FixedOffset::east_opt(0).expect("UTC");
    minutes
        .filter(|m| m.is_finite() && m.abs() <= 18.0 * 60.0)
        .and_then(|m| FixedOffset::east_opt((m.round() as i32) * 60))
        .unwrap_or(utc)
}

/// ms since the epoch → the time in `offset`; `None` outside years 1970–9999.
fn from_ms(ms: f64, offset: FixedOffset) -> Option<DateTime<FixedOffset>> {
    if !ms.is_finite() || !(0.0..=253_402_300_799_000.0).contains(&ms) {
        return None;
    }
    DateTime::from_timestamp_millis(ms.round() as i64).map(|t| t.with_timezone(&offset))
}

/// ISO-8601 in the workout's offset; fractional seconds only when present.
pub fn format_time(t: DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

fn finite_non_negative(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite() && *x >= 0.0)
}

fn finite_positive(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite() && *x > 0.0)
}

/// A non-negative count or measure, rounded, when it fits an i64 comfortably.
fn whole(v: f64) -> Option<i64> {
    (v <= 1e15).then(|| v.round() as i64)
}

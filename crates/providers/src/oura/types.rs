//! Oura v2 response documents (the fields pulsegate maps; numbers read as floats, unknown
//! fields ignored, every field optional so a partial document still parses).

use serde::Deserialize;
use serde_json::{Map, Value};

/// Oura `PublicWorkout`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Workout {
    pub id: Option<String>,
    /// The day the workout counts for (`YYYY-MM-DD`).
    pub day: Option<String>,
    pub activity: Option<String>,
    /// Kilocalories.
    pub calories: Option<f64>,
    /// Meters.
    pub distance: Option<f64>,
    pub start_datetime: Option<String>,
    pub end_datetime: Option<String>,
    pub intensity: Option<String>,
    pub label: Option<String>,
    /// `manual`, `autodetected`, `confirmed`, `workout_heart_rate`.
    pub source: Option<String>,
}

/// Oura `PublicSample`: `items[i]` was recorded at `timestamp + i × interval` seconds.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Sample {
    pub interval: Option<f64>,
    pub items: Vec<Option<f64>>,
    pub timestamp: Option<String>,
}

/// Oura `PublicReadiness` (inside a sleep period).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Readiness {
    pub score: Option<f64>,
    pub temperature_deviation: Option<f64>,
}

/// Oura sleep period (`PublicModifiedSleepModel`). Durations in seconds.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SleepPeriod {
    pub id: Option<String>,
    /// The day the sleep counts for (`YYYY-MM-DD`).
    pub day: Option<String>,
    pub average_breath: Option<f64>,
    pub average_heart_rate: Option<f64>,
    pub average_hrv: Option<f64>,
    pub awake_time: Option<f64>,
    pub bedtime_start: Option<String>,
    pub bedtime_end: Option<String>,
    pub deep_sleep_duration: Option<f64>,
    /// Percent, 1–100.
    pub efficiency: Option<f64>,
    pub heart_rate: Option<Sample>,
    pub hrv: Option<Sample>,
    pub latency: Option<f64>,
    pub light_sleep_duration: Option<f64>,
    pub lowest_heart_rate: Option<f64>,
    pub readiness: Option<Readiness>,
    pub rem_sleep_duration: Option<f64>,
    pub sleep_phase_5_min: Option<String>,
    pub time_in_bed: Option<f64>,
    pub total_sleep_duration: Option<f64>,
    /// `deleted`, `sleep`, `long_sleep`, `late_nap`, `rest`.
    #[serde(rename = "type")]
    pub sleep_type: Option<String>,
}

/// Oura `PublicDailyActivity` (a day from 4 a.m. local time).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DailyActivity {
    pub id: Option<String>,
    pub day: Option<String>,
    pub timestamp: Option<String>,
    pub score: Option<f64>,
    pub active_calories: Option<f64>,
    pub total_calories: Option<f64>,
    pub steps: Option<f64>,
    pub equivalent_walking_distance: Option<f64>,
    pub average_met_minutes: Option<f64>,
    pub high_activity_time: Option<f64>,
    pub medium_activity_time: Option<f64>,
    pub low_activity_time: Option<f64>,
    pub sedentary_time: Option<f64>,
    pub resting_time: Option<f64>,
    pub met: Option<Sample>,
}

/// Oura `PublicDailySleep` and `PublicDailyReadiness` (scores with contributors).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DailyScore {
    pub id: Option<String>,
    pub day: Option<String>,
    pub timestamp: Option<String>,
    pub score: Option<f64>,
    pub contributors: Option<Map<String, Value>>,
    pub temperature_deviation: Option<f64>,
}

/// One page of a collection route (`GET /v2/usercollection/{type}?start_date=…`).
#[derive(Debug, Deserialize)]
#[serde(bound = "T: serde::de::DeserializeOwned")]
pub struct Page<T> {
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
    #[serde(default)]
    pub next_token: Option<String>,
}

//! The Garmin summaries pulsegate maps, as Garmin's Health / Activity API sends them
//! (camelCase fields; unknown fields ignored; every field optional).

use std::collections::BTreeMap;

use serde::Deserialize;

/// Activity summary (`activities`, `manuallyUpdatedActivities`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct GarminActivity {
    pub summary_id: Option<String>,
    pub activity_id: Option<serde_json::Number>,
    pub activity_name: Option<String>,
    pub activity_type: Option<String>,
    pub start_time_in_seconds: Option<i64>,
    pub start_time_offset_in_seconds: Option<i64>,
    pub duration_in_seconds: Option<f64>,
    pub distance_in_meters: Option<f64>,
    pub steps: Option<f64>,
    pub active_kilocalories: Option<f64>,
    pub average_heart_rate_in_beats_per_minute: Option<f64>,
    pub max_heart_rate_in_beats_per_minute: Option<f64>,
    pub average_speed_in_meters_per_second: Option<f64>,
    pub max_speed_in_meters_per_second: Option<f64>,
    pub average_run_cadence_in_steps_per_minute: Option<f64>,
    pub average_bike_cadence_in_rounds_per_minute: Option<f64>,
    pub total_elevation_gain_in_meters: Option<f64>,
    pub device_name: Option<String>,
    pub manual: Option<bool>,
}

/// Daily summary (`dailies`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct GarminDaily {
    pub calendar_date: Option<String>,
    pub start_time_in_seconds: Option<i64>,
    pub start_time_offset_in_seconds: Option<i64>,
    pub duration_in_seconds: Option<f64>,
    pub steps: Option<f64>,
    pub distance_in_meters: Option<f64>,
    pub floors_climbed: Option<f64>,
    pub active_kilocalories: Option<f64>,
    pub bmr_kilocalories: Option<f64>,
    pub active_time_in_seconds: Option<f64>,
    pub moderate_intensity_duration_in_seconds: Option<f64>,
    pub vigorous_intensity_duration_in_seconds: Option<f64>,
    pub min_heart_rate_in_beats_per_minute: Option<f64>,
    pub average_heart_rate_in_beats_per_minute: Option<f64>,
    pub max_heart_rate_in_beats_per_minute: Option<f64>,
    pub resting_heart_rate_in_beats_per_minute: Option<f64>,
    /// Seconds after the start → bpm.
    pub time_offset_heart_rate_samples: Option<BTreeMap<String, f64>>,
    pub average_stress_level: Option<f64>,
    pub max_stress_level: Option<f64>,
    pub stress_duration: Option<f64>,
    pub rest_stress_duration: Option<f64>,
    pub activity_stress_duration: Option<f64>,
    pub low_stress_duration: Option<f64>,
    pub medium_stress_duration: Option<f64>,
    pub high_stress_duration: Option<f64>,
}

/// Sleep summary (`sleeps`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct GarminSleep {
    pub summary_id: Option<String>,
    pub start_time_in_seconds: Option<i64>,
    pub start_time_offset_in_seconds: Option<i64>,
    pub duration_in_seconds: Option<f64>,
    pub unmeasurable_sleep_in_seconds: Option<f64>,
    pub deep_sleep_duration_in_seconds: Option<f64>,
    pub light_sleep_duration_in_seconds: Option<f64>,
    pub rem_sleep_in_seconds: Option<f64>,
    pub awake_duration_in_seconds: Option<f64>,
    /// `deep` / `light` / `rem` / `awake` → `[{startTimeInSeconds, endTimeInSeconds}]`.
    pub sleep_levels_map: Option<BTreeMap<String, Vec<LevelSpan>>>,
    /// `MANUAL`, `DEVICE`, `AUTO_…`, `ENHANCED_…`.
    pub validation: Option<String>,
    pub time_offset_sleep_spo2: Option<BTreeMap<String, f64>>,
    pub time_offset_sleep_respiration: Option<BTreeMap<String, f64>>,
    pub overall_sleep_score: Option<SleepScore>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LevelSpan {
    pub start_time_in_seconds: Option<i64>,
    pub end_time_in_seconds: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SleepScore {
    pub value: Option<f64>,
}

/// Body composition (`bodyComps`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct GarminBodyComp {
    pub measurement_time_in_seconds: Option<i64>,
    pub measurement_time_offset_in_seconds: Option<i64>,
    pub muscle_mass_in_grams: Option<f64>,
    pub bone_mass_in_grams: Option<f64>,
    pub body_water_in_percent: Option<f64>,
    pub body_fat_in_percent: Option<f64>,
    pub body_mass_index: Option<f64>,
    pub weight_in_grams: Option<f64>,
}

/// User metrics (`userMetrics`): VO2 max and fitness age for a calendar day.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct GarminUserMetrics {
    pub calendar_date: Option<String>,
    pub vo2_max: Option<f64>,
    pub fitness_age: Option<f64>,
}

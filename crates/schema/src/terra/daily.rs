//! Terra `Daily` and its sub-models.

use serde::{Deserialize, Serialize};

use super::common::*;
use super::samples::{BodyBatterySample, StressSample};

/// Terra `Daily`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Daily {
    /// Object containing information related to the time spent in different activity
    /// intensities during over the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_durations_data: Option<FullActiveDurationsData>,
    /// Object containing calorie-related information for the user during the specific day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calories_data: Option<FullCaloriesData>,
    /// Object containing additional enrichment data for the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_enrichment: Option<DailyDataEnrichment>,
    /// Object containing information on the device which recorded data for the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_data: Option<FullDeviceData>,
    /// Object containing information related to distance covered during the associated day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance_data: Option<DailyDistanceData>,
    /// Object containing heartrate-related information for the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heart_rate_data: Option<FullHeartRateData>,
    /// Object containing information on the Metabolic Equivalent of Task for the day.
    #[serde(rename = "MET_data", default, skip_serializing_if = "Option::is_none")]
    pub met_data: Option<MetData>,
    /// Object containing daily summary metadata.
    pub metadata: DailyMetadata,
    /// Object containing information on oxygen-related metrics for the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oxygen_data: Option<OxygenData>,
    /// Scores for the user's performance on different metrics for the given day, as calculated
    /// by the fitness data provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scores: Option<ScoresData>,
    /// Object containing information on the strain put on the user's body over a day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strain_data: Option<StrainData>,
    /// Object containing information on the stress put on the user over a day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stress_data: Option<StressData>,
    /// Object containing all user-entered or automatically tagged events in the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_data: Option<TagData>,
}

/// Terra `DailyMetadata`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DailyMetadata {
    /// The end time of the associated day, ISO-8601.
    pub end_time: String,
    /// The start time of the associated day, ISO-8601.
    pub start_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_localization: Option<i64>,
    /// The upload type for data in the associated day, providing information on whether data
    /// was automatically uploaded or user-entered.
    pub upload_type: i64,
}

/// Terra `DailyDataEnrichment`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DailyDataEnrichment {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cardiovascular_contributors: Vec<DataContributor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cardiovascular_score: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub immune_contributors: Vec<DataContributor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immune_index: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub readiness_contributors: Vec<DataContributor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_score: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub respiratory_contributors: Vec<DataContributor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub respiratory_score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stress_contributors: Vec<DataContributor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_stress_score: Option<f64>,
}

/// Terra `DailyDistanceData`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DailyDistanceData {
    /// Object containing detailed distance information - this may include second-by-second
    /// samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detailed: Option<DistanceDataDetailed>,
    /// Total distance covered by the user throughout the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance_meters: Option<i64>,
    /// Average elevation of the user throughout the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elevation: Option<FullElevationData>,
    /// Total number of elevation gain in floors climbed equivalent throughout the day, as
    /// determined by the fitness data provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floors_climbed: Option<i64>,
    /// Total number of steps performed during the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<i64>,
    /// Summary information of the user's swimming statistics for the day, if applicable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swimming: Option<SwimmingData>,
}

/// Terra `ScoresData`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScoresData {
    /// Activity score for the given day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity: Option<f64>,
    /// Recovery score for the given day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<f64>,
    /// Sleep score for the given day, pertaining to the previous night's sleep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sleep: Option<f64>,
}

/// Terra `StressData`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StressData {
    /// Average stress level for the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avg_stress_level: Option<f64>,
    /// Total number of seconds spent in a stressed state while active during the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_stress_duration_seconds: Option<f64>,
    /// Total number of seconds spent in a state of low stress during the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low_stress_duration_seconds: Option<f64>,
    /// Maximum stress level recorded during the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_stress_level: Option<f64>,
    /// Total number of seconds spent in a state of medium stress during the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium_stress_duration_seconds: Option<f64>,
    /// Array of stress level data points sampled throughout the day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<StressSample>,
    /// Total number of seconds spent in a stressed state while at rest during the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rest_stress_duration_seconds: Option<f64>,
    /// Total number of seconds spent in a state of high stress during the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_stress_duration_seconds: Option<f64>,
    /// Total number of seconds spent in a stressed state while at rest during the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stress_duration_seconds: Option<f64>,
    /// Stress rating for the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stress_rating: Option<i64>,
    /// Array of Body Battery data points sampled throughout the day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub body_battery_samples: Vec<BodyBatterySample>,
}

/// Terra `TagData`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TagData {
    /// Array of user-entered tags for the day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<TagEntry>,
}

/// Terra `TagEntry`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TagEntry {
    /// Time with which the tag is associated, ISO-8601.
    pub timestamp: String,
    /// Tag name, representing a certain event associated with the user's day.
    pub tag_name: String,
    /// User-input notes associated with the given tag.
    pub notes: String,
}

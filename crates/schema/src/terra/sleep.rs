//! Terra `Sleep` and its sub-models.

use serde::{Deserialize, Serialize};

use super::common::{DataContributor, FullDeviceData, FullHeartRateData};
use super::samples::{BreathSample, OxygenSaturationSample, SleepHypnogramSample, SnoringSample};

/// Terra `Sleep`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sleep {
    /// Object containing additional enrichment data for the sleep session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_enrichment: Option<SleepDataEnrichment>,
    /// Object containing information on the device which recorded data for the payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_data: Option<FullDeviceData>,
    /// Object containing information on the user's heart rate during the sleep session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heart_rate_data: Option<FullHeartRateData>,
    /// Object containing daily summary metadata.
    pub metadata: SleepMetadata,
    /// Object containing information on the user's readiness for the day, based off the quality
    /// and duration of their sleep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_data: Option<ReadinessData>,
    /// Object containing information on the user's respiration throughout the sleep session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub respiration_data: Option<RespirationData>,
    /// User's sleep score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scores: Option<SleepScores>,
    /// Object containing information on the user's duration spent in various sleep stages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sleep_durations_data: Option<SleepDurationsData>,
    /// Object containing body temperature information of the user during the sleep recording
    /// session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature_data: Option<SleepTemperatureData>,
}

/// Terra `SleepMetadata`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SleepMetadata {
    /// The end time of the associated sleep session, ISO-8601.
    pub end_time: String,
    /// Flag indicating whether the sleep session was a nap, or the user's main sleep session
    /// for the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_nap: Option<bool>,
    /// The start time of the associated sleep session, ISO-8601.
    pub start_time: String,
    /// A unique identifier for the sleep session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_localization: Option<i64>,
    /// The upload type for the associated sleep session, providing information on whether this
    /// was an automatic sleep or user-entered.
    pub upload_type: i64,
}

/// Terra `SleepDataEnrichment`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SleepDataEnrichment {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sleep_contributors: Vec<DataContributor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sleep_score: Option<f64>,
}

/// Terra `SleepDurationsData`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SleepDurationsData {
    /// Object containing information on the duration the user spent asleep during the sleep
    /// recording session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asleep: Option<AsleepDurations>,
    /// Object containing information on the duration the user spent awake during the sleep
    /// recording session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub awake: Option<AwakeDurations>,
    /// List of sleep stage (Hypnogram) samples recorded during the user's sleep session.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hypnogram_samples: Vec<SleepHypnogramSample>,
    /// Object containing information on the miscellaneous duration data for the sleep recording
    /// session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other: Option<OtherSleepDurations>,
    /// Sleep efficiency of the user given as a percentage, measured as time spent asleep
    /// divided by time spent in bed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sleep_efficiency: Option<f64>,
}

/// Terra `AsleepDurations`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AsleepDurations {
    /// Total duration for which the user was asleep, in any state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_asleep_state_seconds: Option<f64>,
    /// Total duration for which the user was in a state of deep sleep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_deep_sleep_state_seconds: Option<f64>,
    /// Total duration for which the user was in a state of light sleep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_light_sleep_state_seconds: Option<f64>,
    /// Total duration for which the user was in a state of REM sleep.
    #[serde(
        rename = "duration_REM_sleep_state_seconds",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub duration_rem_sleep_state_seconds: Option<f64>,
    /// Number of periods of REM sleep captured during the sleep session.
    #[serde(
        rename = "num_REM_events",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub num_rem_events: Option<i64>,
}

/// Terra `AwakeDurations`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AwakeDurations {
    /// Total duration for which the user was awake during the sleep session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_awake_state_seconds: Option<f64>,
    /// Total duration for which the user was awake during the sleep session, when the
    /// interruption of their sleep was greater than 90 seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_long_interruption_seconds: Option<f64>,
    /// Total duration for which the user was awake during the sleep session, when the
    /// interruption of their sleep was less than 90 seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_short_interruption_seconds: Option<f64>,
    /// Number of times the user got out of bed during the sleep session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_out_of_bed_events: Option<i64>,
    /// Number of times the user woke up during the sleep session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_wakeup_events: Option<i64>,
    /// Sleep latency, defined as time between the moment the user lays in bed with the
    /// intention to sleep and the moment they actually fall asleep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sleep_latency_seconds: Option<f64>,
    /// Wake up latency, defined as time between the moment the user wakes up and the moment
    /// they get out of bed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake_up_latency_seconds: Option<f64>,
}

/// Terra `OtherSleepDurations`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OtherSleepDurations {
    /// Total duration of time spent in bed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_in_bed_seconds: Option<f64>,
    /// Total duration during which the user's state (awake, asleep, REM, etc) was unmeasurable
    /// during the sleep session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_unmeasurable_sleep_seconds: Option<f64>,
}

/// Terra `ReadinessData`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReadinessData {
    /// User's readiness score for a given day, resulting from the sleep session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness: Option<i64>,
    /// User's recovery score for a given day, resulting from the sleep session - takes Enum
    /// value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_level: Option<i64>,
}

/// Terra `RespirationData`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RespirationData {
    /// Object containing information on breathing rate for the sleep session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaths_data: Option<BreathsData>,
    /// Object containing information on saturation metrics for the sleep session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oxygen_saturation_data: Option<OxygenSaturationData>,
    /// Object containing information on snoring metrics for the sleep session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snoring_data: Option<SnoringData>,
}

/// Terra `BreathsData`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BreathsData {
    /// Average breathing rate of the user during the sleep session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avg_breaths_per_min: Option<f64>,
    /// Maximum breathing rate of the user during the sleep session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_breaths_per_min: Option<f64>,
    /// Minimum breathing rate of the user during the sleep session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_breaths_per_min: Option<f64>,
    /// Flag indicating if the reading was performed on demand, or if it was automatically
    /// captured by the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_demand_reading: Option<bool>,
    /// List of breathing rate information sampled throughout the sleep session.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<BreathSample>,
    /// The start time of the recording of breathing rate data, ISO-8601.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// The end time of the recording of breathing rate data, ISO-8601.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
}

/// Terra `OxygenSaturationData`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OxygenSaturationData {
    /// Average Oxygen Saturation percentage of the user during the sleep session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avg_saturation_percentage: Option<f64>,
    /// The end time of the recording of oxygen saturation, ISO-8601.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// Array of Oxygen Saturation percentage datapoints sampled throughout the sleep session.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<OxygenSaturationSample>,
    /// The start time of the recording of oxygen saturation, ISO-8601.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
}

/// Terra `SnoringData`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SnoringData {
    /// The start time of the recording of snoring data, ISO-8601.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// The end time of the recording of snoring data, ISO-8601.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// Number of times over the sleep period when the user started snoring, as determined by
    /// the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_snoring_events: Option<i64>,
    /// List of snoring information data points sampled throughout the sleep session.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<SnoringSample>,
    /// Total duration for which the user was snoring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_snoring_duration_seconds: Option<f64>,
}

/// Terra `SleepScores`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SleepScores {
    /// User's sleep score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sleep_score: Option<f64>,
}

/// Terra `SleepTemperatureData`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SleepTemperatureData {
    /// Variation in user's skin temperature from their baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<f64>,
}

//! Sub-models Terra shares between several data types (heart rate, device, oxygen, calories,
//! active durations, distance, MET, strain).
//!
//! Terra's `HeartRateData`, `DeviceData`, `ActiveDurationsData`, `CaloriesData` and
//! `ElevationData` appear here in full as `Full…`: the unprefixed names are the subsets
//! [`Activity`](super::Activity) carries, which callers build with exhaustive struct literals.

use serde::{Deserialize, Serialize};

use super::samples::*;

/// Terra `HeartRateData`, every field.
/// [`HeartRateData`](super::HeartRateData) is the subset `Activity` carries.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FullHeartRateData {
    /// Object containing detailed heart rate information for the associated workout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detailed: Option<HeartRateDataDetailed>,
    /// Object containing summary heart rate information for the associated workout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<HeartRateDataSummary>,
}

/// Terra `HeartRateDataSummary`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HeartRateDataSummary {
    /// Average HeartRate of the user during the workout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avg_hr_bpm: Option<f64>,
    /// Average HeartRate Variability of the user during the workout, computed using RMSSD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avg_hrv_rmssd: Option<f64>,
    /// Average HeartRate Variability of the user during the workout, computed using SDNN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avg_hrv_sdnn: Option<f64>,
    /// Array of time spent in various HR zones throughout the workout.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hr_zone_data: Vec<HeartRateZoneData>,
    /// Maximum HeartRate of the user during the workout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_hr_bpm: Option<f64>,
    /// Minimum HeartRate of the user during the workout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_hr_bpm: Option<f64>,
    /// Resting HeartRate of the user, as determined by the fitness data provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resting_hr_bpm: Option<f64>,
    /// User's maximum HeartRate based on their age, and other factors as determined by the
    /// fitness data provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_max_hr_bpm: Option<f64>,
}

/// Terra `HeartRateDataDetailed`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HeartRateDataDetailed {
    /// Array of HeartRate data samples recorded for the user during the workout.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hr_samples: Vec<HeartRateDataSample>,
    /// Array of HeartRate Variability data samples recorded for the user during the workout,
    /// computed using RMSSD.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hrv_samples_rmssd: Vec<HeartRateVariabilityDataSampleRmssd>,
    /// Array of HeartRate Variability data samples recorded for the user during the workout,
    /// computed using SDNN.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hrv_samples_sdnn: Vec<HeartRateVariabilityDataSampleSdnn>,
}

/// Terra `HeartRateZoneData`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HeartRateZoneData {
    /// Heart rate zone designation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<i64>,
    /// Start percentage (based off user's max HR) of the HR zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_percentage: Option<f64>,
    /// End percentage (based off user's max HR) of the HR zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_percentage: Option<f64>,
    /// Name of the associated heart rate zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Duration spent in the heart rate zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
}

/// Terra `DeviceData`, every field.
/// [`DeviceData`](super::DeviceData) is the subset `Activity` carries.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FullDeviceData {
    /// Activation timestamp of the device, if applicable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation_timestamp: Option<String>,
    /// Data provided by the device, as enumerated types.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_provided: Vec<String>,
    /// Hardware version of the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_version: Option<String>,
    /// Last upload date from the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_upload_date: Option<String>,
    /// Device manufacturer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    /// Device name - note that this can also be the name of the application/package which the
    /// data comes from, if coming from a data aggregator such as Google Fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Data pertaining to other devices which may have contributed data for this workout.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_devices: Vec<OtherDeviceData>,
    /// Sensor state of the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensor_state: Option<String>,
    /// Device Serial Number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// Device Software Version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,
}

/// Terra `OtherDeviceData`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OtherDeviceData {
    /// Device manufacturer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    /// Hardware version of the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_version: Option<String>,
    /// Device Serial Number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// Device name - note that this can also be the name of the application/package which the
    /// data comes from, if coming from a data aggregator such as Google Fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Device Software Version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_provided: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_upload_date: Option<String>,
}

/// Terra `OxygenData`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OxygenData {
    /// Average Oxygen Saturation percentage of the user during the day (SpO2 or SmO2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avg_saturation_percentage: Option<f64>,
    /// Array of Oxygen Saturation percentage datapoints sampled throughout the day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub saturation_samples: Vec<OxygenSaturationSample>,
    /// Array of VO2 datapoints sampled throughout the day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vo2_samples: Vec<Vo2MaxSample>,
    /// VO2Max for the given user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vo2max_ml_per_min_per_kg: Option<f64>,
}

/// Terra `DataContributor`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DataContributor {
    pub contributor_name: String,
    pub contributor_score: f64,
}

/// Terra `ActiveDurationsData`, every field.
/// [`ActiveDurationsData`](super::ActiveDurationsData) is the subset `Activity` carries.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FullActiveDurationsData {
    /// Array of detailed samples of the intensity the user was in at various points during the
    /// workout.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub activity_levels_samples: Vec<ActivityLevelSample>,
    /// Total number of seconds spent in an active state during the workout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_seconds: Option<f64>,
    /// Total number of seconds spent in an inactive state during the workout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inactivity_seconds: Option<f64>,
    /// Total number of seconds spent in a low intensity state during the workout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low_intensity_seconds: Option<f64>,
    /// Total number of seconds spent in a moderate intensity state during the workout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderate_intensity_seconds: Option<f64>,
    /// Maximum number of continuous periods spent in an inactive state during the workout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_continuous_inactive_periods: Option<i64>,
    /// Total number of seconds spent resting during the workout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rest_seconds: Option<f64>,
    /// Total number of seconds spent in a state of vigorous intensity during the workout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vigorous_intensity_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standing_hours_count: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standing_seconds: Option<f64>,
}

/// Terra `CaloriesData`, every field.
/// [`CaloriesData`](super::CaloriesData) is the subset `Activity` carries.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FullCaloriesData {
    #[serde(
        rename = "BMR_calories",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub bmr_calories: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calorie_samples: Vec<CalorieSample>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_activity_calories: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_intake_calories: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_burned_calories: Option<i64>,
}

/// Terra `ElevationData`, every field.
/// [`ElevationData`](super::ElevationData) is the subset `Activity` carries.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FullElevationData {
    /// Average elevation of the user throughout the workout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avg_meters: Option<f64>,
    /// Elevation gain of the user throughout the workout - this includes all elevation gain,
    /// and does _not_ represent net gain. (Terra's docstrings for this field and
    /// `gain_planned_meters` are swapped; this is what the names mean.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gain_actual_meters: Option<f64>,
    /// Planned elevation gain for the workout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gain_planned_meters: Option<f64>,
    /// Elevation loss of the user throughout the workout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_actual_meters: Option<f64>,
    /// Maximum elevation of the user during the workout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_meters: Option<f64>,
    /// Minimum elevation of the user during the workout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_meters: Option<f64>,
}

/// Terra `SwimmingData`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SwimmingData {
    /// Total number of swimming laps performed during the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_laps: Option<i64>,
    /// Total number of swimming strokes performed during the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_strokes: Option<i64>,
    /// Pool length for associated with the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_length_meters: Option<i64>,
}

/// Terra `DistanceDataDetailed`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DistanceDataDetailed {
    /// Array of detailed samples of distance covered throughout the workout.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub distance_samples: Vec<DistanceSample>,
    /// Array of detailed samples of elevation throughout the workout.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub elevation_samples: Vec<ElevationSample>,
    /// Array of detailed samples of floors climbed throughout the workout, as determined by the
    /// fitness data provider.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub floors_climbed_samples: Vec<FloorsClimbedSample>,
    /// Array of detailed samples of steps performed throughout the workout.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub step_samples: Vec<StepSample>,
}

/// Terra `MetData`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetData {
    /// An array of Metabolic Equivalent Time samples, as calculated by the user's wearable.
    #[serde(rename = "MET_samples", default, skip_serializing_if = "Vec::is_empty")]
    pub met_samples: Vec<MetSample>,
    /// The average MET level of the activity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avg_level: Option<f64>,
    /// Number of minutes spent in High Intensity during the workout - based off MET scale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_high_intensity_minutes: Option<f64>,
    /// Number of minutes spent in state of Inactivity during the workout - based off MET scale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_inactive_minutes: Option<f64>,
    /// Number of minutes spent in Low Intensity during the workout - based off MET scale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_low_intensity_minutes: Option<f64>,
    /// Number of minutes spent in Moderate Intensity during the workout - based off MET scale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_moderate_intensity_minutes: Option<f64>,
}

/// Terra `StrainData`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StrainData {
    /// Level of cardiovascular strain imposed on the user during the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strain_level: Option<f64>,
}

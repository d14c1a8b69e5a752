//! Terra `Activity`: the subset pulsegate fills today. Several of these sub-structs are
//! subsets of models Terra shares with other data types; the full versions live in `common`
//! (`Full…`), because callers build these with exhaustive struct literals.

use serde::{Deserialize, Serialize};

/// Terra `Activity` (subset pulsegate fills today; every name is Terra's).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    pub metadata: ActivityMetadata,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_data: Option<DistanceData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calories_data: Option<CaloriesData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heart_rate_data: Option<HeartRateData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub movement_data: Option<MovementData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_durations_data: Option<ActiveDurationsData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub power_data: Option<PowerData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_data: Option<DeviceData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub polyline_map_data: Option<PolylineMapData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub work_data: Option<WorkData>,
}

/// Terra `ActivityMetadata` (subset). `type` is Terra's activity type code; `upload_type`
/// its upload code.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ActivityMetadata {
    pub summary_id: String,
    pub start_time: String,
    pub end_time: String,
    #[serde(rename = "type")]
    pub activity_type: i64,
    pub upload_type: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// Terra `DistanceData`, subset: `summary`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DistanceData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<DistanceSummary>,
}

/// Terra `DistanceDataSummary` (subset).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DistanceSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_meters: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elevation: Option<ElevationData>,
}

/// Terra `ElevationData`, subset.
/// Every field: [`FullElevationData`](super::FullElevationData).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ElevationData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gain_actual_meters: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_meters: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_meters: Option<f64>,
}

/// Terra `CaloriesData`, subset.
/// Every field: [`FullCaloriesData`](super::FullCaloriesData).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CaloriesData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_burned_calories: Option<i64>,
}

/// Terra `HeartRateData`, subset: `summary`.
/// Every field: [`FullHeartRateData`](super::FullHeartRateData).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HeartRateData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<HeartRateSummary>,
}

/// Terra `HeartRateDataSummary`, subset.
/// Every field: [`HeartRateDataSummary`](super::HeartRateDataSummary).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HeartRateSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avg_hr_bpm: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_hr_bpm: Option<f64>,
}

/// Terra `MovementData` (subset).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MovementData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avg_speed_meters_per_second: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_speed_meters_per_second: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avg_cadence_rpm: Option<f64>,
}

/// Terra `ActiveDurationsData`, subset.
/// Every field: [`FullActiveDurationsData`](super::FullActiveDurationsData).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ActiveDurationsData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rest_seconds: Option<f64>,
}

/// Terra `PowerData` (subset).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PowerData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avg_watts: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_watts: Option<f64>,
}

/// Terra `DeviceData`, subset: `name`.
/// Every field: [`FullDeviceData`](super::FullDeviceData).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Terra `PolylineMapData`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PolylineMapData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary_polyline: Option<String>,
}

/// Terra `WorkData`: mechanical work output of the workout.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub work_kilojoules: Option<f64>,
}

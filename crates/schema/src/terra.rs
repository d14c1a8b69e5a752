//! Customer-facing payloads, field for field as in Terra's data models (`terra-python`'s
//! `terra/types`). Optional fields are skipped when absent, so bodies carry no nulls and
//! no field Terra's models do not know.

use serde::Serialize;

/// `TerraUser`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct User {
    pub user_id: String,
    pub provider: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_webhook_update: Option<String>,
}

/// A data event: `ActivityEvent`, `SleepEvent`, … (`{"type","user","data","version"}`).
#[derive(Debug, Serialize)]
pub struct DataEvent<'a, T: Serialize> {
    #[serde(rename = "type")]
    pub event_type: &'a str,
    pub user: &'a User,
    pub data: Vec<T>,
    pub version: &'a str,
}

/// Lifecycle events with a status and message: `DeauthEvent`, `AccessRevokedEvent`,
/// `ConnectionErrorEvent`. Terra's models for these carry no `version`.
#[derive(Debug, Serialize)]
pub struct StatusEvent<'a> {
    #[serde(rename = "type")]
    pub event_type: &'a str,
    pub user: &'a User,
    pub status: &'a str,
    pub message: &'a str,
}

/// pulsegate's `activity_deleted`: the provider deleted an activity summary.
#[derive(Debug, Serialize)]
pub struct ActivityDeletedEvent<'a> {
    #[serde(rename = "type")]
    pub event_type: &'a str,
    pub user: &'a User,
    pub data: Vec<DeletedSummary>,
    pub version: &'a str,
}

#[derive(Debug, Serialize)]
pub struct DeletedSummary {
    pub summary_id: String,
}

/// `Activity` (subset pulsegate fills today; every name is Terra's).
#[derive(Debug, Serialize, Default)]
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

/// `ActivityMetadata`. `type` is Terra's activity type code; `upload_type` its upload code.
#[derive(Debug, Serialize, Default)]
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

#[derive(Debug, Serialize, Default)]
pub struct DistanceData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<DistanceSummary>,
}

#[derive(Debug, Serialize, Default)]
pub struct DistanceSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_meters: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elevation: Option<ElevationData>,
}

#[derive(Debug, Serialize, Default)]
pub struct ElevationData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gain_actual_meters: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_meters: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_meters: Option<f64>,
}

#[derive(Debug, Serialize, Default)]
pub struct CaloriesData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_burned_calories: Option<i64>,
}

#[derive(Debug, Serialize, Default)]
pub struct HeartRateData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<HeartRateSummary>,
}

#[derive(Debug, Serialize, Default)]
pub struct HeartRateSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avg_hr_bpm: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_hr_bpm: Option<f64>,
}

#[derive(Debug, Serialize, Default)]
pub struct MovementData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avg_speed_meters_per_second: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_speed_meters_per_second: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avg_cadence_rpm: Option<f64>,
}

#[derive(Debug, Serialize, Default)]
pub struct ActiveDurationsData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rest_seconds: Option<f64>,
}

#[derive(Debug, Serialize, Default)]
pub struct PowerData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avg_watts: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_watts: Option<f64>,
}

#[derive(Debug, Serialize, Default)]
pub struct DeviceData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Serialize, Default)]
pub struct PolylineMapData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary_polyline: Option<String>,
}

/// `WorkData`: mechanical work output of the workout.
#[derive(Debug, Serialize, Default)]
pub struct WorkData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub work_kilojoules: Option<f64>,
}

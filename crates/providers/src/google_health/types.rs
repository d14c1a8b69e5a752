//! The Google Health API's wire types (`health:v4`, discovery revision 20261002), only
//! the members pulsegate maps. Every field is optional: Google omits zero values, and an
//! unexpected shape must drop one value, not the notification.
//!
//! Conventions (docs/providers/google-health.md, "Wire conventions"): int64 values are
//! JSON strings (`"count": "112"`), doubles numbers — [`num`] takes either; instants are
//! RFC 3339 (`Z`), offsets and durations `"<seconds>s"` strings ([`seconds`]); civil
//! dates are `{year, month, day}`.

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Deserializer};

/// A number sent as a JSON number or as a decimal string (int64 fields); anything else
/// (or a non-finite value) is `None`.
pub fn num<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        F(f64),
        S(String),
        Other(serde::de::IgnoredAny),
    }
    Ok(match Option::<N>::deserialize(d)? {
        Some(N::F(f)) => Some(f),
        Some(N::S(s)) => s.trim().parse::<f64>().ok(),
        Some(N::Other(_)) | None => None,
    }
    .filter(|f| f.is_finite()))
}

/// A `google-duration` (`"3633.600s"`, `"-28800s"`) in seconds.
pub fn seconds(s: &str) -> Option<f64> {
    s.trim()
        .strip_suffix('s')?
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
}

/// A UTC offset from a `google-duration` (±14 h, whole minutes).
pub fn offset(s: &str) -> Option<FixedOffset> {
    let secs = seconds(s)?;
    if secs.abs() > 14.0 * 3600.0 || secs.fract() != 0.0 || (secs as i64) % 60 != 0 {
        return None;
    }
    FixedOffset::east_opt(secs as i32)
}

/// `{year, month, day}`.
#[derive(Debug, Default, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct CivilDate {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

impl CivilDate {
    pub fn date(&self) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(self.year, self.month, self.day)
    }

    pub fn of(d: NaiveDate) -> Self {
        use chrono::Datelike;
        Self {
            year: d.year(),
            month: d.month(),
            day: d.day(),
        }
    }
}

/// `CivilDateTime`: `{date, time}` (time fields omitted when zero).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct CivilDateTime {
    pub date: Option<CivilDate>,
}

/// `ObservationTimeInterval` / `SessionTimeInterval`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Interval {
    pub start_time: Option<String>,
    pub start_utc_offset: Option<String>,
    pub end_time: Option<String>,
    pub end_utc_offset: Option<String>,
    pub civil_start_time: Option<CivilDateTime>,
    pub civil_end_time: Option<CivilDateTime>,
}

impl Interval {
    /// The start in the user's local time (`startTime` + `startUtcOffset`; UTC without
    /// an offset).
    pub fn start(&self) -> Option<DateTime<FixedOffset>> {
        local(
            self.start_time.as_deref()?,
            self.start_utc_offset.as_deref(),
        )
    }

    pub fn end(&self) -> Option<DateTime<FixedOffset>> {
        local(self.end_time.as_deref()?, self.end_utc_offset.as_deref())
    }
}

/// `ObservationSampleTime`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SampleTime {
    pub physical_time: Option<String>,
    pub utc_offset: Option<String>,
    pub civil_time: Option<CivilDateTime>,
}

impl SampleTime {
    pub fn local(&self) -> Option<DateTime<FixedOffset>> {
        local(self.physical_time.as_deref()?, self.utc_offset.as_deref())
    }
}

/// An RFC 3339 instant shown at `utc_offset` (a `google-duration`; UTC when absent or
/// invalid).
pub fn local(instant: &str, utc_offset: Option<&str>) -> Option<DateTime<FixedOffset>> {
    let t = DateTime::parse_from_rfc3339(instant).ok()?;
    let off = utc_offset
        .and_then(offset)
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("UTC"));
    Some(t.with_timezone(&off))
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DataSource {
    /// `MANUAL`, `PASSIVELY_MEASURED`, `DERIVED`, `ACTIVELY_MEASURED`, `UNKNOWN`.
    pub recording_method: Option<String>,
    pub device: Option<Device>,
    /// `FITBIT`, `HEALTH_CONNECT`, `HEALTH_KIT`, …
    pub platform: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Device {
    pub display_name: Option<String>,
    pub manufacturer: Option<String>,
}

// ---- dataPoints.list ------------------------------------------------------------------

/// `ListDataPointsResponse` (and `ReconcileDataPointsResponse`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ListResponse {
    pub data_points: Vec<DataPoint>,
    pub next_page_token: Option<String>,
}

/// A `DataPoint`: its name, source and the one member of its type.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DataPoint {
    /// `users/{user}/dataTypes/{type}/dataPoints/{id}` (identifiable types).
    pub name: Option<String>,
    /// The same, for reconciled data points.
    pub data_point_name: Option<String>,
    pub data_source: Option<DataSource>,
    pub sleep: Option<SleepSession>,
    pub exercise: Option<Exercise>,
    pub weight: Option<Weight>,
    pub body_fat: Option<BodyFat>,
    pub height: Option<Height>,
    pub heart_rate_variability: Option<HeartRateVariability>,
    pub oxygen_saturation: Option<OxygenSaturation>,
    pub respiratory_rate_sleep_summary: Option<RespiratoryRateSleepSummary>,
    pub daily_resting_heart_rate: Option<DailyRestingHeartRate>,
    pub daily_heart_rate_variability: Option<DailyHeartRateVariability>,
    pub daily_oxygen_saturation: Option<DailyOxygenSaturation>,
    pub daily_respiratory_rate: Option<DailyRespiratoryRate>,
    pub daily_sleep_temperature_derivations: Option<DailySleepTemperatureDerivations>,
    pub daily_vo2_max: Option<DailyVo2Max>,
}

impl DataPoint {
    /// The data point's id: the last segment of its resource name.
    pub fn id(&self) -> Option<&str> {
        let name = self.name.as_deref().or(self.data_point_name.as_deref())?;
        name.rsplit('/').next().filter(|s| !s.is_empty())
    }

    /// `recordingMethod` is `MANUAL`.
    pub fn manual(&self) -> bool {
        self.data_source
            .as_ref()
            .and_then(|s| s.recording_method.as_deref())
            == Some("MANUAL")
    }

    pub fn device(&self) -> Option<&Device> {
        self.data_source.as_ref()?.device.as_ref()
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SleepSession {
    pub interval: Interval,
    /// `STAGES` or `CLASSIC`.
    #[serde(rename = "type")]
    pub sleep_type: Option<String>,
    pub stages: Vec<SleepStage>,
    pub short_awakenings: Vec<SleepStage>,
    pub out_of_bed_segments: Vec<SleepStage>,
    pub metadata: Option<SleepMetadata>,
    pub summary: Option<SleepSummary>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SleepStage {
    /// `AWAKE`, `LIGHT`, `DEEP`, `REM`, `ASLEEP`, `RESTLESS`.
    #[serde(rename = "type")]
    pub stage: Option<String>,
    pub start_time: Option<String>,
    pub start_utc_offset: Option<String>,
    pub end_time: Option<String>,
    pub end_utc_offset: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SleepMetadata {
    pub main_sleep: Option<bool>,
    pub nap: Option<bool>,
    pub manually_edited: Option<bool>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SleepSummary {
    #[serde(deserialize_with = "num")]
    pub minutes_in_sleep_period: Option<f64>,
    #[serde(deserialize_with = "num")]
    pub minutes_asleep: Option<f64>,
    #[serde(deserialize_with = "num")]
    pub minutes_awake: Option<f64>,
    #[serde(deserialize_with = "num")]
    pub minutes_to_fall_asleep: Option<f64>,
    #[serde(deserialize_with = "num")]
    pub minutes_after_wake_up: Option<f64>,
    pub stages_summary: Vec<StageSummary>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct StageSummary {
    #[serde(rename = "type")]
    pub stage: Option<String>,
    #[serde(deserialize_with = "num")]
    pub count: Option<f64>,
    #[serde(deserialize_with = "num")]
    pub minutes: Option<f64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Exercise {
    pub interval: Interval,
    pub exercise_type: Option<String>,
    pub display_name: Option<String>,
    /// A duration (`"2742.500s"`).
    pub active_duration: Option<String>,
    pub metrics_summary: Option<MetricsSummary>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct MetricsSummary {
    #[serde(deserialize_with = "num")]
    pub calories_kcal: Option<f64>,
    #[serde(deserialize_with = "num")]
    pub distance_millimeters: Option<f64>,
    #[serde(deserialize_with = "num")]
    pub steps: Option<f64>,
    #[serde(deserialize_with = "num")]
    pub average_heart_rate_beats_per_minute: Option<f64>,
    #[serde(deserialize_with = "num")]
    pub average_speed_millimeters_per_second: Option<f64>,
    #[serde(deserialize_with = "num")]
    pub elevation_gain_millimeters: Option<f64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Weight {
    #[serde(deserialize_with = "num")]
    pub weight_grams: Option<f64>,
    pub notes: Option<String>,
    pub sample_time: SampleTime,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BodyFat {
    #[serde(deserialize_with = "num")]
    pub percentage: Option<f64>,
    pub sample_time: SampleTime,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Height {
    #[serde(deserialize_with = "num")]
    pub height_millimeters: Option<f64>,
    pub sample_time: SampleTime,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HeartRateVariability {
    #[serde(deserialize_with = "num")]
    pub root_mean_square_of_successive_differences_milliseconds: Option<f64>,
    #[serde(deserialize_with = "num")]
    pub standard_deviation_milliseconds: Option<f64>,
    pub sample_time: SampleTime,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OxygenSaturation {
    #[serde(deserialize_with = "num")]
    pub percentage: Option<f64>,
    pub sample_time: SampleTime,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RespiratoryRateSleepSummary {
    pub sample_time: SampleTime,
    pub full_sleep_stats: Option<BreathStats>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BreathStats {
    #[serde(deserialize_with = "num")]
    pub breaths_per_minute: Option<f64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DailyRestingHeartRate {
    pub date: Option<CivilDate>,
    #[serde(deserialize_with = "num")]
    pub beats_per_minute: Option<f64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DailyHeartRateVariability {
    pub date: Option<CivilDate>,
    /// RMSSD.
    #[serde(deserialize_with = "num")]
    pub average_heart_rate_variability_milliseconds: Option<f64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DailyOxygenSaturation {
    pub date: Option<CivilDate>,
    #[serde(deserialize_with = "num")]
    pub average_percentage: Option<f64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DailyRespiratoryRate {
    pub date: Option<CivilDate>,
    #[serde(deserialize_with = "num")]
    pub breaths_per_minute: Option<f64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DailySleepTemperatureDerivations {
    pub date: Option<CivilDate>,
    #[serde(deserialize_with = "num")]
    pub nightly_temperature_celsius: Option<f64>,
    #[serde(deserialize_with = "num")]
    pub baseline_temperature_celsius: Option<f64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DailyVo2Max {
    pub date: Option<CivilDate>,
    #[serde(deserialize_with = "num")]
    pub vo2_max: Option<f64>,
}

// ---- dataPoints:dailyRollUp -----------------------------------------------------------

/// `DailyRollUpDataPointsResponse`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RollupResponse {
    pub rollup_data_points: Vec<RollupPoint>,
    pub next_page_token: Option<String>,
}

/// A `DailyRollupDataPoint`: its civil day and the one value of its type.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RollupPoint {
    pub civil_start_time: Option<CivilDateTime>,
    pub steps: Option<CountSum>,
    pub floors: Option<CountSum>,
    pub distance: Option<DistanceSum>,
    pub altitude: Option<AltitudeSum>,
    pub total_calories: Option<KcalSum>,
    pub active_energy_burned: Option<KcalSum>,
    pub active_minutes: Option<ActiveMinutesRollup>,
    pub sedentary_period: Option<DurationSum>,
    pub heart_rate: Option<HeartRateRollup>,
    pub time_in_heart_rate_zone: Option<TimeInZonesRollup>,
}

impl RollupPoint {
    /// The civil day the bucket starts on (buckets come newest first: key by this,
    /// never by position).
    pub fn day(&self) -> Option<NaiveDate> {
        self.civil_start_time.as_ref()?.date?.date()
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CountSum {
    #[serde(deserialize_with = "num")]
    pub count_sum: Option<f64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DistanceSum {
    #[serde(deserialize_with = "num")]
    pub millimeters_sum: Option<f64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AltitudeSum {
    #[serde(deserialize_with = "num")]
    pub gain_millimeters_sum: Option<f64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct KcalSum {
    #[serde(deserialize_with = "num")]
    pub kcal_sum: Option<f64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DurationSum {
    /// A duration (`"34560s"`).
    pub duration_sum: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ActiveMinutesRollup {
    pub active_minutes_rollup_by_activity_level: Vec<ActiveMinutesLevel>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ActiveMinutesLevel {
    /// `LIGHT`, `MODERATE`, `VIGOROUS`.
    pub activity_level: Option<String>,
    #[serde(deserialize_with = "num")]
    pub active_minutes_sum: Option<f64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HeartRateRollup {
    #[serde(deserialize_with = "num")]
    pub beats_per_minute_avg: Option<f64>,
    #[serde(deserialize_with = "num")]
    pub beats_per_minute_max: Option<f64>,
    #[serde(deserialize_with = "num")]
    pub beats_per_minute_min: Option<f64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TimeInZonesRollup {
    pub time_in_heart_rate_zones: Vec<TimeInZone>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TimeInZone {
    /// `LIGHT`, `MODERATE`, `VIGOROUS`, `PEAK`.
    pub heart_rate_zone: Option<String>,
    /// A duration.
    pub duration: Option<String>,
}

// ---- errors ---------------------------------------------------------------------------

/// `google.rpc.Status` in Google's error envelope: only the `ErrorInfo` reasons.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ErrorEnvelope {
    pub error: ErrorStatus,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ErrorStatus {
    pub details: Vec<ErrorDetail>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ErrorDetail {
    pub reason: Option<String>,
}

/// The `ErrorInfo.reason`s of an error body (`ACCESS_TOKEN_SCOPE_INSUFFICIENT`, …).
pub fn error_reasons(body: &[u8]) -> Vec<String> {
    serde_json::from_slice::<ErrorEnvelope>(body)
        .map(|e| {
            e.error
                .details
                .into_iter()
                .filter_map(|d| d.reason)
                .collect()
        })
        .unwrap_or_default()
}

// ---- notifications --------------------------------------------------------------------

/// One notification of a user's batch, as ingest stored it.
#[derive(Debug, Clone, Deserialize)]
pub struct Notification {
    pub data: NotificationData,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationData {
    pub health_user_id: String,
    pub data_type: String,
    /// `UPSERT` or `DELETE` (anything else is taken as an upsert).
    #[serde(default)]
    pub operation: Option<String>,
    #[serde(default)]
    pub intervals: Vec<NotificationInterval>,
    /// Where one integration (allenporter/python-google-health-api) puts the civil
    /// interval: directly under `data`.
    #[serde(default)]
    pub civil_iso8601_time_interval: Option<CivilIsoInterval>,
}

impl NotificationData {
    pub fn is_delete(&self) -> bool {
        self.operation
            .as_deref()
            .is_some_and(|o| o.eq_ignore_ascii_case("DELETE"))
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NotificationInterval {
    pub physical_time_interval: Option<PhysicalInterval>,
    pub civil_date_time_interval: Option<CivilInterval>,
    pub civil_iso8601_time_interval: Option<CivilIsoInterval>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PhysicalInterval {
    pub start_time: Option<String>,
    pub end_time: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CivilInterval {
    pub start_date_time: Option<CivilDateTime>,
    pub end_date_time: Option<CivilDateTime>,
}

/// Local civil times without an offset (`2026-11-10T09:00:00`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CivilIsoInterval {
    pub start_time: Option<String>,
    pub end_time: Option<String>,
}

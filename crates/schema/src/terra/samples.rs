//! Terra's timestamped sample records, shared by the sleep, body and daily models.

use serde::{Deserialize, Serialize};

/// Terra `HeartRateDataSample`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HeartRateDataSample {
    /// Time of the record, ISO-8601 (with offset when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// User's heart rate in bpm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpm: Option<f64>,
    /// Time elapsed since the start of the workout, subtracting time during which the recording
    /// was paused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timer_duration_seconds: Option<f64>,
    /// Represents the context in which heart rate was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<i64>,
}

/// Terra `HeartRateVariabilityDataSampleRmssd`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HeartRateVariabilityDataSampleRmssd {
    /// Time of the record, ISO-8601 (with offset when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// User's Heart Rate Variability, computed using RMSSD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hrv_rmssd: Option<f64>,
}

/// Terra `HeartRateVariabilityDataSampleSdnn`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HeartRateVariabilityDataSampleSdnn {
    /// Time of the record, ISO-8601 (with offset when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// User's Heart Rate Variability, computed using SDNN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hrv_sdnn: Option<f64>,
}

/// Terra `OxygenSaturationSample`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OxygenSaturationSample {
    /// Time of the record, ISO-8601 (with offset when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// User's oxygen saturation percentage - referring to either SpO2 or SmO2, based on the
    /// `type` field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentage: Option<f64>,
    /// Type of oxygen saturation measurement (i.e. blood vs muscle).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub saturation_type: Option<i64>,
}

/// Terra `Vo2MaxSample`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Vo2MaxSample {
    /// Time of the record, ISO-8601 (with offset when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// User's VO2Max - maximum amount of oxygen the user's body can utilize during exercise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vo2max_ml_per_min_per_kg: Option<f64>,
}

/// Terra `TemperatureSample`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TemperatureSample {
    /// Time of the record, ISO-8601 (with offset when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Temperature value in degrees Celsius.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature_celsius: Option<f64>,
}

/// Terra `BreathSample`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BreathSample {
    /// Time of the record, ISO-8601 (with offset when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// User's respiration rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaths_per_min: Option<f64>,
}

/// Terra `SnoringSample`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SnoringSample {
    /// Time of the record, ISO-8601 (with offset when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Duration of snoring episode, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
}

/// Terra `SleepHypnogramSample`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SleepHypnogramSample {
    /// Time of the record, ISO-8601 (with offset when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<i64>,
}

/// Terra `BloodPressureSample`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BloodPressureSample {
    /// Time of the record, ISO-8601 (with offset when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// User's diastolic blood pressure, in mmHg.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diastolic_bp: Option<f64>,
    /// User's systolic blood pressure, in mmHg.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systolic_bp: Option<f64>,
}

/// Terra `GlucoseDataSample`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GlucoseDataSample {
    /// Time of the record, ISO-8601 (with offset when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// User's blood glucose reading.
    #[serde(
        rename = "blood_glucose_mg_per_dL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub blood_glucose_mg_per_dl: Option<i64>,
    /// Flag indicating state of user's blood glucose level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glucose_level_flag: Option<i64>,
    /// Flag indicating the current trend in the user's blood glucose level (e.g. rising,
    /// constant, falling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trend_arrow: Option<i64>,
}

/// Terra `DailyPatternSample`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DailyPatternSample {
    /// Hour of the day, represented as an integer from 0 to 23, where 0 is midnight and 23 is
    /// the hour before the next midnight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_from_midnight: Option<i64>,
    /// Percentile 5 of the glucose level at the given time of day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentile_5: Option<i64>,
    /// Percentile 25 of the glucose level at the given time of day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentile_25: Option<i64>,
    /// Percentile 50 of the glucose level at the given time of day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentile_50: Option<i64>,
    /// Percentile 75 of the glucose level at the given time of day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentile_75: Option<i64>,
    /// Percentile 95 of the glucose level at the given time of day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentile_95: Option<i64>,
}

/// Terra `HydrationMeasurementSample`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HydrationMeasurementSample {
    /// Time of the record, ISO-8601 (with offset when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Total body water composition of the user, in kilograms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hydration_kg: Option<f64>,
}

/// Terra `KetoneSample`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KetoneSample {
    /// Time of the record, ISO-8601 (with offset when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Ketone in mg per dL.
    #[serde(
        rename = "ketone_mg_per_dL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ketone_mg_per_dl: Option<f64>,
    /// Flag indicating the ketone sample type (e.g. blood, breath, urine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_type: Option<i64>,
}

/// Terra `AFibClassificationSample`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AFibClassificationSample {
    /// Time of the record, ISO-8601 (with offset when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Flag indicating the atrial fibrillation classification of the individual.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub afib_classification: Option<i64>,
}

/// Terra `RawEcgSample`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RawEcgSample {
    /// Potential uV in the RawECG Sample.
    #[serde(
        rename = "potential_uV",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub potential_uv: Option<f64>,
    /// Time of the record, ISO-8601 (with offset when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
}

/// Terra `PulseVelocitySample`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PulseVelocitySample {
    /// Time of the record, ISO-8601 (with offset when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// User's Pulse Wave Velocity measurement - velocity at which the blood pressure pulse
    /// propagates through the circulatory system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pulse_wave_velocity_meters_per_second: Option<f64>,
}

/// Terra `RrIntervalSample`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RrIntervalSample {
    /// User's RR Interval for a specific heart beat in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rr_interval_ms: Option<f64>,
    /// Time of the record, ISO-8601 (with offset when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// The heart beat value at that specific instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hr_bpm: Option<f64>,
}

/// Terra `ActivityLevelSample`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ActivityLevelSample {
    /// Time of the record, ISO-8601 (with offset when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<i64>,
}

/// Terra `CalorieSample`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CalorieSample {
    /// Time of the record, ISO-8601 (with offset when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calories: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timer_duration_seconds: Option<f64>,
}

/// Terra `DistanceSample`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DistanceSample {
    /// Time of the record, ISO-8601 (with offset when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Cumulative distance covered up to associated timestamp, since the start of the payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance_meters: Option<f64>,
    /// Time elapsed since the start of the workout, subtracting time during which the recording
    /// was paused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timer_duration_seconds: Option<f64>,
}

/// Terra `ElevationSample`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ElevationSample {
    /// Time of the record, ISO-8601 (with offset when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// User's altitude at a given point in time, in meters above sea level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elev_meters: Option<f64>,
    /// Time elapsed since the start of the workout, subtracting time during which the recording
    /// was paused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timer_duration_seconds: Option<f64>,
}

/// Terra `FloorsClimbedSample`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FloorsClimbedSample {
    /// Time of the record, ISO-8601 (with offset when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Cumulative number of elevation gain measured in floors climbed up to associated
    /// timestamp, since the start of the payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floors_climbed: Option<i64>,
    /// Time elapsed since the start of the workout, subtracting time during which the recording
    /// was paused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timer_duration_seconds: Option<f64>,
}

/// Terra `StepSample`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StepSample {
    /// Time of the record, ISO-8601 (with offset when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timer_duration_seconds: Option<f64>,
}

/// Terra `MetSample`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetSample {
    /// Time of the record, ISO-8601 (with offset when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<f64>,
}

/// Terra `StressSample`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StressSample {
    /// Time of the record, ISO-8601 (with offset when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<f64>,
}

/// Terra `BodyBatterySample`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BodyBatterySample {
    /// Time of the record, ISO-8601 (with offset when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<f64>,
}

//! Terra `Body` and its sub-models.

use serde::{Deserialize, Serialize};

use super::common::{FullDeviceData, FullHeartRateData, OxygenData};
use super::samples::*;

/// Terra `Body`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Body {
    /// Object containing information on user's Blood Pressure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blood_pressure_data: Option<BloodPressureData>,
    /// Object containing information on the device which recorded data for the payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_data: Option<FullDeviceData>,
    /// Object containing information on user's heart metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heart_data: Option<HeartData>,
    /// Object containing information on user's hydration (both internal & consumption of water)
    /// for the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hydration_data: Option<HydrationData>,
    /// Object containing information on user's ketone data for the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ketone_data: Option<KetoneData>,
    /// Object containing information on body measurements for the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measurements_data: Option<MeasurementsData>,
    /// Object containing daily summary metadata.
    pub metadata: BodyMetadata,
    /// Object containing information on user's oxygen-related data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oxygen_data: Option<OxygenData>,
    /// Object containing temperature information (core, skin, ambient) during the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature_data: Option<TemperatureData>,
    /// Object containing information on user's blood glucose for the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glucose_data: Option<GlucoseData>,
}

/// Terra `BodyMetadata`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BodyMetadata {
    /// The end time of the associated day, ISO-8601.
    pub end_time: String,
    /// The start time of the associated day, ISO-8601.
    pub start_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_localization: Option<i64>,
}

/// Terra `BloodPressureData`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BloodPressureData {
    /// List of Blood Pressure measurements sampled throughout the day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blood_pressure_samples: Vec<BloodPressureSample>,
}

/// Terra `HeartData`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HeartData {
    /// List of Atrial Fibrillation classification measurements sampled through the day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub afib_classification_samples: Vec<AFibClassificationSample>,
    /// List of ECGReadings sampled through the day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ecg_signal: Vec<EcgReading>,
    /// Object containing heart rate data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heart_rate_data: Option<FullHeartRateData>,
    /// List of Pulse Wave Velocity measurements sampled throughout the day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pulse_wave_velocity_samples: Vec<PulseVelocitySample>,
    /// List of RR Interval samples throughout the day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rr_interval_samples: Vec<RrIntervalSample>,
}

/// Terra `EcgReading`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EcgReading {
    /// Time of the record, ISO-8601 (with offset when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_timestamp: Option<String>,
    /// User's average heart rate throughout the day, in beats per minute (bpm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avg_hr_bpm: Option<f64>,
    /// User's afib classification throught the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub afib_classification: Option<i64>,
    /// List of raw ECG readings sampled through the day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub raw_signal: Vec<RawEcgSample>,
}

/// Terra `HydrationData`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HydrationData {
    /// User's total water consumption throughout the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day_total_water_consumption_ml: Option<f64>,
    /// User's hydration level samples throughout the day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hydration_amount_samples: Vec<HydrationMeasurementSample>,
}

/// Terra `KetoneData`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KetoneData {
    /// List of ketone data sampled through the day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ketone_samples: Vec<KetoneSample>,
}

/// Terra `MeasurementsData`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MeasurementsData {
    /// List of body metrics & measurements taken throughout the associated day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurements: Vec<MeasurementDataSample>,
}

/// Terra `MeasurementDataSample`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MeasurementDataSample {
    /// Time of the record, ISO-8601 (with offset when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measurement_time: Option<String>,
    /// User's Body Mass Index (BMI).
    #[serde(rename = "BMI", default, skip_serializing_if = "Option::is_none")]
    pub bmi: Option<f64>,
    /// User's Basal Metabolic Rate - minimum amount of calories that a person's body needs to
    /// perform necessary functions.
    #[serde(rename = "BMR", default, skip_serializing_if = "Option::is_none")]
    pub bmr: Option<f64>,
    /// User's Resting Metabolic Rate - amount of energy that a person's body needs to function
    /// while at rest.
    #[serde(rename = "RMR", default, skip_serializing_if = "Option::is_none")]
    pub rmr: Option<f64>,
    /// Estimate of how fit the user is compared to their actual age, as measured by the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_fitness_age: Option<String>,
    /// User's skin fold measurement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skin_fold_mm: Option<f64>,
    /// User's body fat percentage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bodyfat_percentage: Option<f64>,
    /// User's body weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_kg: Option<f64>,
    /// User's height.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height_cm: Option<f64>,
    /// User's total bone mass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bone_mass_g: Option<f64>,
    /// User's total muscle mass (i.e. skeletal muscle mass).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub muscle_mass_g: Option<f64>,
    /// Total lean mass of the user - calculated as the difference between total body weight and
    /// body fat weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lean_mass_g: Option<f64>,
    /// Total amount of fluid in the user's body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub water_percentage: Option<f64>,
    /// Quantity of insulin administered to the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insulin_units: Option<f64>,
    /// Type of insulin administered to the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insulin_type: Option<String>,
    /// Color of the user's urine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urine_color: Option<String>,
    /// User notes associated with the measurement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_notes: Option<String>,
}

/// Terra `TemperatureData`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TemperatureData {
    /// List of ambient temperature measurements sampled throughout the day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ambient_temperature_samples: Vec<TemperatureSample>,
    /// List of body temperature measurements sampled throughout the day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub body_temperature_samples: Vec<TemperatureSample>,
    /// List of skin temperature measurements sampled throughout the day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skin_temperature_samples: Vec<TemperatureSample>,
}

/// Terra `GlucoseData`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GlucoseData {
    /// List of blood glucose readings sampled throughout the day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blood_glucose_samples: Vec<GlucoseDataSample>,
    /// List of blood glucose readings sampled throughout the day - this represents additional
    /// data points, potentially at higher frequency from the ones in blood_glucose_samples,
    /// which may come at a cost of reduced accuracy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detailed_blood_glucose_samples: Vec<GlucoseDataSample>,
    /// User's average glucose level throughout the day.
    #[serde(
        rename = "day_avg_blood_glucose_mg_per_dL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub day_avg_blood_glucose_mg_per_dl: Option<f64>,
    /// GMI (Glucose Management Indicator) is a metric derived from continuous glucose
    /// monitoring (CGM) data that estimates average glucose levels to help guide diabetes
    /// management, without implying a precise match to laboratory A1C.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gmi: Option<f64>,
    /// Time that the user's glucose is within acceptable range (not hyper or hypoglycemic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_in_range: Option<f64>,
    /// Number of data points recorded by the sensor throughout the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensor_usage: Option<i64>,
    /// List of glucose percentile samples throughout the day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub daily_patterns: Vec<DailyPatternSample>,
}

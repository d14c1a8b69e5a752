//! Withings API bodies (inside `{"status":0,"body":…}`) → Terra `Body`, `Daily`, `Sleep`.
//!
//! Withings gives times as Unix seconds and zones as IANA names (`Europe/Paris`);
//! without a time-zone database the times are written in UTC (`+00:00`), and a day's
//! boundaries (activity `date`) are UTC midnights.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use pulsegate_schema::terra::{
    AsleepDurations, AwakeDurations, BloodPressureData, BloodPressureSample, Body, BodyMetadata,
    BreathsData, Daily, DailyDistanceData, DailyMetadata, FullActiveDurationsData,
    FullCaloriesData, FullHeartRateData, HeartData, HeartRateDataDetailed, HeartRateDataSample,
    HeartRateDataSummary, HeartRateZoneData, HydrationData, HydrationMeasurementSample,
    MeasurementDataSample, MeasurementsData, OtherSleepDurations, OxygenData,
    OxygenSaturationSample, PulseVelocitySample, RespirationData, Sleep, SleepDurationsData,
    SleepMetadata, SleepScores, SnoringData, TemperatureData, TemperatureSample, Vo2MaxSample,
};
use serde::Deserialize;

use crate::strava::sport::UPLOAD_AUTOMATIC;

// ---- measure / getmeas -----------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MeasureBody {
    pub measuregrps: Vec<MeasureGroup>,
    /// 1 (or true) when another page follows at `offset`.
    pub more: Option<serde_json::Value>,
    pub offset: Option<i64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct MeasureGroup {
    pub grpid: Option<i64>,
    /// Unix seconds.
    pub date: Option<i64>,
    pub modified: Option<i64>,
    pub measures: Vec<Measure>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Measure {
    /// Real value = value × 10^unit.
    pub value: Option<f64>,
    #[serde(rename = "type")]
    pub measure_type: Option<i64>,
    pub unit: Option<i64>,
}

impl Measure {
    pub fn real(&self) -> Option<f64> {
        let (v, u) = (self.value?, self.unit?);
        if !(-20..=20).contains(&u) {
            return None;
        }
        // Dividing for negative exponents keeps 78e-1 at 7.8 (not 7.800000000000001).
        let real = if u < 0 {
            v / 10f64.powi(-u as i32)
        } else {
            v * 10f64.powi(u as i32)
        };
        Some(real).filter(|x| x.is_finite())
    }
}

/// More pages follow (`more` is 1 or true).
pub fn has_more(more: &Option<serde_json::Value>) -> bool {
    match more {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::Number(n)) => n.as_i64().is_some_and(|n| n != 0),
        _ => false,
    }
}

/// Measure groups → one Terra `Body` spanning `[start, end]` (Unix seconds); `None`
/// when no measure maps.
pub fn map_body(groups: &[MeasureGroup], start: i64, end: i64) -> Option<Body> {
    let mut b = Body {
        metadata: BodyMetadata {
            start_time: ts(start)?,
            end_time: ts(end)?,
            timestamp_localization: None,
        },
        ..Default::default()
    };
    let mut measurements = Vec::new();
    let mut bp = Vec::new();
    let mut hr = Vec::new();
    let mut pwv = Vec::new();
    let mut hydration = Vec::new();
    let mut body_temp = Vec::new();
    let mut skin_temp = Vec::new();
    let mut spo2 = Vec::new();
    let mut vo2 = Vec::new();
    for g in groups {
        let Some(at) = g.date.and_then(ts) else {
            continue;
        };
        let get = |t: i64| {
            g.measures
                .iter()
                .find(|m| m.measure_type == Some(t))
                .and_then(Measure::real)
        };
        let sample = MeasurementDataSample {
            measurement_time: Some(at.clone()),
            weight_kg: get(1),
            height_cm: get(4).map(|m| m * 100.0),
            lean_mass_g: get(5).map(|kg| kg * 1000.0),
            bodyfat_percentage: get(6),
            muscle_mass_g: get(76).map(|kg| kg * 1000.0),
            bone_mass_g: get(88).map(|kg| kg * 1000.0),
            ..Default::default()
        };
        if sample
            != (MeasurementDataSample {
                measurement_time: Some(at.clone()),
                ..Default::default()
            })
        {
            measurements.push(sample);
        }
        let (dia, sys) = (get(9), get(10));
        if dia.is_some() || sys.is_some() {
            bp.push(BloodPressureSample {
                timestamp: Some(at.clone()),
                diastolic_bp: dia,
                systolic_bp: sys,
            });
        }
        if let Some(bpm) = get(11) {
            hr.push(HeartRateDataSample {
                timestamp: Some(at.clone()),
                bpm: Some(bpm),
                ..Default::default()
            });
        }
        if let Some(v) = get(91) {
            pwv.push(PulseVelocitySample {
                timestamp: Some(at.clone()),
                pulse_wave_velocity_meters_per_second: Some(v),
            });
        }
        if let Some(kg) = get(77) {
            hydration.push(HydrationMeasurementSample {
                timestamp: Some(at.clone()),
                hydration_kg: Some(kg),
            });
        }
        for (t, skin) in [(12, false), (71, false), (73, true)] {
            if let Some(c) = get(t) {
                let sample = TemperatureSample {
                    timestamp: Some(at.clone()),
                    temperature_celsius: Some(c),
                };
                if skin {
                    skin_temp.push(sample);
                } else {
                    body_temp.push(sample);
                }
            }
        }
        if let Some(p) = get(54) {
            spo2.push(OxygenSaturationSample {
                timestamp: Some(at.clone()),
                percentage: Some(p),
                saturation_type: None,
            });
        }
        if let Some(v) = get(123) {
            vo2.push(Vo2MaxSample {
                timestamp: Some(at.clone()),
                vo2max_ml_per_min_per_kg: Some(v),
            });
        }
    }
    if !measurements.is_empty() {
        b.measurements_data = Some(MeasurementsData { measurements });
    }
    if !bp.is_empty() {
        b.blood_pressure_data = Some(BloodPressureData {
            blood_pressure_samples: bp,
        });
    }
    if !hr.is_empty() || !pwv.is_empty() {
        b.heart_data = Some(HeartData {
            heart_rate_data: (!hr.is_empty()).then(|| FullHeartRateData {
                detailed: Some(HeartRateDataDetailed {
                    hr_samples: hr,
                    ..Default::default()
                }),
                summary: None,
            }),
            pulse_wave_velocity_samples: pwv,
            ..Default::default()
        });
    }
    if !hydration.is_empty() {
        b.hydration_data = Some(HydrationData {
            hydration_amount_samples: hydration,
            day_total_water_consumption_ml: None,
        });
    }
    if !body_temp.is_empty() || !skin_temp.is_empty() {
        b.temperature_data = Some(TemperatureData {
            body_temperature_samples: body_temp,
            skin_temperature_samples: skin_temp,
            ambient_temperature_samples: Vec::new(),
        });
    }
    if !spo2.is_empty() || !vo2.is_empty() {
        b.oxygen_data = Some(OxygenData {
            saturation_samples: spo2,
            vo2_samples: vo2,
            ..Default::default()
        });
    }
    let empty = b.measurements_data.is_none()
        && b.blood_pressure_data.is_none()
        && b.heart_data.is_none()
        && b.hydration_data.is_none()
        && b.temperature_data.is_none()
        && b.oxygen_data.is_none();
    (!empty).then_some(b)
}

// ---- v2/measure getactivity ---------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ActivityBody {
    pub activities: Vec<WithingsActivity>,
    pub more: Option<serde_json::Value>,
    pub offset: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WithingsActivity {
    /// `YYYY-MM-DD`.
    pub date: Option<String>,
    pub steps: Option<f64>,
    /// Meters.
    pub distance: Option<f64>,
    /// Floors climbed.
    pub elevation: Option<f64>,
    /// Seconds of soft / moderate / intense activity; `active` = moderate + intense.
    pub soft: Option<f64>,
    pub moderate: Option<f64>,
    pub intense: Option<f64>,
    pub active: Option<f64>,
    /// Active kcal.
    pub calories: Option<f64>,
    /// Total kcal.
    pub totalcalories: Option<f64>,
    pub hr_average: Option<f64>,
    pub hr_min: Option<f64>,
    pub hr_max: Option<f64>,
    pub hr_zone_0: Option<f64>,
    pub hr_zone_1: Option<f64>,
    pub hr_zone_2: Option<f64>,
    pub hr_zone_3: Option<f64>,
}

/// One day of activity; `None` without a valid `date`.
pub fn map_daily(a: &WithingsActivity) -> Option<Daily> {
    let day = NaiveDate::parse_from_str(a.date.as_deref()?, "%Y-%m-%d").ok()?;
    let midnight = |d: NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .map(|n| n.and_utc().to_rfc3339_opts(SecondsFormat::Secs, false))
    };
    let distance = DailyDistanceData {
        steps: finite(a.steps).map(round),
        distance_meters: finite(a.distance).map(round),
        floors_climbed: finite(a.elevation).map(round),
        ..Default::default()
    };
    let has_distance = distance.steps.is_some()
        || distance.distance_meters.is_some()
        || distance.floors_climbed.is_some();
    let calories = FullCaloriesData {
        total_burned_calories: finite(a.totalcalories).map(round),
        net_activity_calories: finite(a.calories).map(round),
        ..Default::default()
    };
    let has_calories =
        calories.total_burned_calories.is_some() || calories.net_activity_calories.is_some();
    let (soft, moderate, intense) = (finite(a.soft), finite(a.moderate), finite(a.intense));
    let active = finite(a.active).or_else(|| match (moderate, intense) {
        (None, None) => None,
        (m, i) => Some(m.unwrap_or(0.0) + i.unwrap_or(0.0)),
    });
    let durations = FullActiveDurationsData {
        activity_seconds: active,
        low_intensity_seconds: soft,
        moderate_intensity_seconds: moderate,
        vigorous_intensity_seconds: intense,
        ..Default::default()
    };
    let has_durations = active.is_some() || soft.is_some();
    let zones: Vec<HeartRateZoneData> = [a.hr_zone_0, a.hr_zone_1, a.hr_zone_2, a.hr_zone_3]
        .iter()
        .enumerate()
        .filter_map(|(i, z)| {
            finite(*z).map(|s| HeartRateZoneData {
                zone: Some(i as i64),
                duration_seconds: Some(s),
                ..Default::default()
            })
        })
        .collect();
    let summary = HeartRateDataSummary {
        avg_hr_bpm: positive(a.hr_average),
        min_hr_bpm: positive(a.hr_min),
        max_hr_bpm: positive(a.hr_max),
        hr_zone_data: zones,
        ..Default::default()
    };
    let has_hr = summary.avg_hr_bpm.is_some()
        || summary.min_hr_bpm.is_some()
        || summary.max_hr_bpm.is_some()
        || !summary.hr_zone_data.is_empty();
    Some(Daily {
        metadata: DailyMetadata {
            start_time: midnight(day)?,
            end_time: midnight(day.succ_opt()?)?,
            timestamp_localization: None,
            upload_type: UPLOAD_AUTOMATIC,
        },
        distance_data: has_distance.then_some(distance),
        calories_data: has_calories.then_some(calories),
        active_durations_data: has_durations.then_some(durations),
        heart_rate_data: has_hr.then_some(FullHeartRateData {
            summary: Some(summary),
            detailed: None,
        }),
        ..Default::default()
    })
}

// ---- v2/sleep getsummary --------------------------------------------------------------

/// The sleep summary fields requested (`data_fields`).
pub const SLEEP_FIELDS: &str = "total_timeinbed,total_sleep_time,sleep_efficiency,sleep_latency,\
wakeup_latency,wakeupduration,wakeupcount,waso,nb_rem_episodes,out_of_bed_count,\
lightsleepduration,deepsleepduration,remsleepduration,hr_average,hr_min,hr_max,\
rr_average,rr_min,rr_max,snoring,snoringepisodecount,sleep_score";

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SleepBody {
    pub series: Vec<SleepSeries>,
    pub more: Option<serde_json::Value>,
    pub offset: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SleepSeries {
    pub id: Option<i64>,
    pub startdate: Option<i64>,
    pub enddate: Option<i64>,
    pub modified: Option<i64>,
    pub data: SleepData,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SleepData {
    pub total_timeinbed: Option<f64>,
    pub total_sleep_time: Option<f64>,
    /// Ratio 0–1.
    pub sleep_efficiency: Option<f64>,
    pub sleep_latency: Option<f64>,
    pub wakeup_latency: Option<f64>,
    pub wakeupduration: Option<f64>,
    pub wakeupcount: Option<f64>,
    pub nb_rem_episodes: Option<f64>,
    pub out_of_bed_count: Option<f64>,
    pub lightsleepduration: Option<f64>,
    pub deepsleepduration: Option<f64>,
    pub remsleepduration: Option<f64>,
    pub hr_average: Option<f64>,
    pub hr_min: Option<f64>,
    pub hr_max: Option<f64>,
    pub rr_average: Option<f64>,
    pub rr_min: Option<f64>,
    pub rr_max: Option<f64>,
    /// Seconds.
    pub snoring: Option<f64>,
    pub snoringepisodecount: Option<f64>,
    pub sleep_score: Option<f64>,
}

/// One night; `None` without valid start and end dates.
pub fn map_sleep(s: &SleepSeries) -> Option<Sleep> {
    let d = &s.data;
    let asleep = AsleepDurations {
        duration_asleep_state_seconds: finite(d.total_sleep_time),
        duration_deep_sleep_state_seconds: finite(d.deepsleepduration),
        duration_light_sleep_state_seconds: finite(d.lightsleepduration),
        duration_rem_sleep_state_seconds: finite(d.remsleepduration),
        num_rem_events: finite(d.nb_rem_episodes).map(round),
    };
    let awake = AwakeDurations {
        duration_awake_state_seconds: finite(d.wakeupduration),
        num_wakeup_events: finite(d.wakeupcount).map(round),
        num_out_of_bed_events: finite(d.out_of_bed_count).map(round),
        sleep_latency_seconds: finite(d.sleep_latency),
        wake_up_latency_seconds: finite(d.wakeup_latency),
        ..Default::default()
    };
    let heart = HeartRateDataSummary {
        avg_hr_bpm: positive(d.hr_average),
        min_hr_bpm: positive(d.hr_min),
        max_hr_bpm: positive(d.hr_max),
        ..Default::default()
    };
    let has_heart =
        heart.avg_hr_bpm.is_some() || heart.min_hr_bpm.is_some() || heart.max_hr_bpm.is_some();
    let breaths = BreathsData {
        avg_breaths_per_min: positive(d.rr_average),
        min_breaths_per_min: positive(d.rr_min),
        max_breaths_per_min: positive(d.rr_max),
        ..Default::default()
    };
    let has_breaths = breaths.avg_breaths_per_min.is_some()
        || breaths.min_breaths_per_min.is_some()
        || breaths.max_breaths_per_min.is_some();
    let snoring = SnoringData {
        total_snoring_duration_seconds: finite(d.snoring),
        num_snoring_events: finite(d.snoringepisodecount).map(round),
        ..Default::default()
    };
    let has_snoring =
        snoring.total_snoring_duration_seconds.is_some() || snoring.num_snoring_events.is_some();
    Some(Sleep {
        metadata: SleepMetadata {
            start_time: ts(s.startdate?)?,
            end_time: ts(s.enddate?)?,
            is_nap: None,
            summary_id: s.id.or(s.startdate).map(|i| i.to_string()),
            timestamp_localization: None,
            upload_type: UPLOAD_AUTOMATIC,
        },
        sleep_durations_data: Some(SleepDurationsData {
            asleep: Some(asleep),
            awake: Some(awake),
            other: finite(d.total_timeinbed).map(|b| OtherSleepDurations {
                duration_in_bed_seconds: Some(b),
                duration_unmeasurable_sleep_seconds: None,
            }),
            // Withings' ratio as a percentage.
            sleep_efficiency: finite(d.sleep_efficiency).map(|r| r * 100.0),
            hypnogram_samples: Vec::new(),
        }),
        heart_rate_data: has_heart.then_some(FullHeartRateData {
            summary: Some(heart),
            detailed: None,
        }),
        respiration_data: (has_breaths || has_snoring).then(|| RespirationData {
            breaths_data: has_breaths.then_some(breaths),
            snoring_data: has_snoring.then_some(snoring),
            oxygen_saturation_data: None,
        }),
        scores: finite(d.sleep_score).map(|s| SleepScores {
            sleep_score: Some(s),
        }),
        ..Default::default()
    })
}

// ---- helpers ---------------------------------------------------------------------------

/// Unix seconds → ISO-8601 UTC with offset (`2020-07-08T05:20:00+00:00`).
pub fn ts(secs: i64) -> Option<String> {
    DateTime::<Utc>::from_timestamp(secs, 0).map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, false))
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

fn positive(v: Option<f64>) -> Option<f64> {
    finite(v).filter(|x| *x > 0.0)
}

fn round(v: f64) -> i64 {
    v.round() as i64
}

#[cfg(test)]
#[path = "mapping_tests.rs"]
mod tests;

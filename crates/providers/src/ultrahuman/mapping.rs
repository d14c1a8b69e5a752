//! One Ultrahuman day (`/user_data/metrics?date=`) into Terra's `sleep`, `daily` and
//! `body`. The answer is a list of `{type, object}` metrics; times are epoch seconds.
//! Field names come from third-party clients (docs/providers/ultrahuman.md): anything
//! unexpected is skipped, never an error, and a day without data maps to nothing.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, SecondsFormat};
use pulsegate_schema::terra::{
    AsleepDurations, AwakeDurations, Body, BodyMetadata, Daily, DailyDistanceData,
    DailyMetadata, DistanceDataDetailed, FullActiveDurationsData, FullHeartRateData,
    GlucoseData, GlucoseDataSample, HeartData, HeartRateDataDetailed, HeartRateDataSample,
    HeartRateDataSummary, HeartRateVariabilityDataSampleRmssd, OtherSleepDurations,
    OxygenData, OxygenSaturationData, ReadinessData, RespirationData, ScoresData, Sleep,
    SleepDurationsData, SleepMetadata, StepSample, TemperatureData, TemperatureSample,
};
use serde::Deserialize;
use serde_json::Value;

use crate::strava::sport::UPLOAD_AUTOMATIC;

/// The metrics answer: `{"data": {"metric_data": [{type, object}, …]}}`; one client
/// reads `data.metrics` as `{date: [{type, object}]}`, so both are accepted.
#[derive(Debug, Default, Deserialize)]
pub struct MetricsResponse {
    #[serde(default)]
    data: Option<MetricsData>,
}

#[derive(Debug, Default, Deserialize)]
struct MetricsData {
    #[serde(default)]
    metric_data: Option<Vec<Metric>>,
    #[serde(default)]
    metrics: Option<BTreeMap<String, Vec<Metric>>>,
}

#[derive(Debug, Deserialize)]
struct Metric {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    object: Value,
}

/// One day's metrics by type (lower-case: `Sleep` and `sleep` are the same).
#[derive(Debug, Default)]
pub struct DayMetrics(BTreeMap<String, Value>);

impl MetricsResponse {
    pub fn into_day(self) -> DayMetrics {
        let data = self.data.unwrap_or_default();
        let list = data
            .metric_data
            .or_else(|| data.metrics.map(|m| m.into_values().flatten().collect()))
            .unwrap_or_default();
        DayMetrics(
            list.into_iter()
                .filter(|m| m.object.is_object())
                .map(|m| (m.kind.to_ascii_lowercase(), m.object))
                .collect(),
        )
    }
}

impl DayMetrics {
    fn get(&self, kind: &str) -> Option<&Value> {
        self.0.get(kind)
    }

    /// `{value}` of a single-number metric.
    fn value(&self, kind: &str) -> Option<f64> {
        number(self.get(kind)?.get("value")?)
    }

    /// `values[{value, timestamp}]` of a series metric, finite values only.
    fn series(&self, kind: &str) -> Vec<(String, f64)> {
        let Some(values) = self.get(kind).and_then(|o| o.get("values")?.as_array().cloned())
        else {
            return Vec::new();
        };
        values
            .iter()
            .filter_map(|v| Some((time(v.get("timestamp")?)?, number(v.get("value")?)?)))
            .collect()
    }
}

fn number(v: &Value) -> Option<f64> {
    v.as_f64().filter(|x| x.is_finite())
}

/// Epoch seconds → RFC 3339 (UTC).
fn time(v: &Value) -> Option<String> {
    let secs = v.as_i64()?;
    DateTime::from_timestamp(secs, 0).map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, false))
}

fn day_bounds(date: NaiveDate) -> (String, String) {
    let start = crate::range::utc_midnight(date);
    let fmt = |s: i64| time(&Value::from(s)).unwrap_or_default();
    (fmt(start), fmt(start + 86_400))
}

fn summary(samples: &[(String, f64)]) -> HeartRateDataSummary {
    let values = samples.iter().map(|(_, v)| *v);
    let n = samples.len() as f64;
    HeartRateDataSummary {
        avg_hr_bpm: (!samples.is_empty()).then(|| values.clone().sum::<f64>() / n),
        min_hr_bpm: values.clone().reduce(f64::min),
        max_hr_bpm: values.reduce(f64::max),
        ..HeartRateDataSummary::default()
    }
}

fn hr_samples(samples: &[(String, f64)]) -> Vec<HeartRateDataSample> {
    samples
        .iter()
        .filter(|(_, bpm)| *bpm > 0.0)
        .map(|(t, bpm)| HeartRateDataSample {
            timestamp: Some(t.clone()),
            bpm: Some(*bpm),
            ..HeartRateDataSample::default()
        })
        .collect()
}

/// The day's heart rate (series, average/min/max, resting, HRV).
fn heart_rate(day: &DayMetrics) -> Option<FullHeartRateData> {
    let hr = day.series("hr");
    let hrv = day.series("hrv");
    let mut s = summary(&hr);
    s.resting_hr_bpm = day
        .value("sleep_rhr")
        .or_else(|| day.get("night_rhr").and_then(|o| number(o.get("avg")?)));
    s.avg_hrv_rmssd = day.get("hrv").and_then(|o| number(o.get("avg")?));
    let detailed = HeartRateDataDetailed {
        hr_samples: hr_samples(&hr),
        hrv_samples_rmssd: hrv
            .iter()
            .map(|(t, v)| HeartRateVariabilityDataSampleRmssd {
                timestamp: Some(t.clone()),
                hrv_rmssd: Some(*v),
            })
            .collect(),
        hrv_samples_sdnn: Vec::new(),
    };
    let data = FullHeartRateData {
        summary: (s != HeartRateDataSummary::default()).then_some(s),
        detailed: (detailed != HeartRateDataDetailed::default()).then_some(detailed),
    };
    (data != FullHeartRateData::default()).then_some(data)
}

/// The night that ended on this day, when the ring recorded one.
pub fn map_sleep(day: &DayMetrics) -> Option<Sleep> {
    let o = day.get("sleep")?;
    // Older answers nest the fields under `details`.
    let o = if o.get("bedtime_start").is_none() {
        o.get("details").unwrap_or(o)
    } else {
        o
    };
    let start_secs = o.get("bedtime_start")?.as_i64()?;
    let start = time(o.get("bedtime_start")?)?;
    let end = time(o.get("bedtime_end")?)?;
    let quick = |kind: &str| -> Option<f64> {
        o.get("quick_metrics")?
            .as_array()?
            .iter()
            .find(|m| m.get("type").and_then(Value::as_str) == Some(kind))
            .and_then(|m| number(m.get("value")?))
    };
    let stage = |kind: &str| -> Option<f64> {
        o.get("sleep_stages")?
            .as_array()?
            .iter()
            .find(|m| m.get("type").and_then(Value::as_str) == Some(kind))
            .and_then(|m| number(m.get("stage_time")?))
            .filter(|s| *s >= 0.0)
    };
    let (deep, light, rem) = (stage("deep_sleep"), stage("light_sleep"), stage("rem_sleep"));
    let asleep = AsleepDurations {
        duration_asleep_state_seconds: quick("total_sleep").or_else(|| {
            let parts = [deep, light, rem];
            parts
                .iter()
                .all(Option::is_some)
                .then(|| parts.iter().flatten().sum())
        }),
        duration_deep_sleep_state_seconds: deep,
        duration_light_sleep_state_seconds: light,
        duration_rem_sleep_state_seconds: rem,
        num_rem_events: None,
    };
    let awake = AwakeDurations {
        duration_awake_state_seconds: stage("awake"),
        ..AwakeDurations::default()
    };
    let durations = SleepDurationsData {
        asleep: (asleep != AsleepDurations::default()).then_some(asleep),
        awake: (awake != AwakeDurations::default()).then_some(awake),
        other: quick("time_in_bed").map(|t| OtherSleepDurations {
            duration_in_bed_seconds: Some(t),
            duration_unmeasurable_sleep_seconds: None,
        }),
        sleep_efficiency: quick("sleep_efic"),
        ..SleepDurationsData::default()
    };
    let summary = HeartRateDataSummary {
        avg_hr_bpm: quick("avg_hr"),
        avg_hrv_rmssd: quick("avg_hrv").or_else(|| day.value("avg_sleep_hrv")),
        resting_hr_bpm: day
            .value("sleep_rhr")
            .or_else(|| day.get("night_rhr").and_then(|o| number(o.get("avg")?))),
        ..HeartRateDataSummary::default()
    };
    let spo2 = o.get("spo2").and_then(|s| number(s.get("value")?));
    Some(Sleep {
        metadata: SleepMetadata {
            start_time: start,
            end_time: end,
            is_nap: Some(false),
            summary_id: Some(format!("uh-sleep-{start_secs}")),
            timestamp_localization: Some(0),
            upload_type: UPLOAD_AUTOMATIC,
        },
        sleep_durations_data: (durations != SleepDurationsData::default()).then_some(durations),
        heart_rate_data: (summary != HeartRateDataSummary::default()).then_some(
            FullHeartRateData {
                summary: Some(summary),
                detailed: None,
            },
        ),
        respiration_data: spo2.map(|p| RespirationData {
            oxygen_saturation_data: Some(OxygenSaturationData {
                avg_saturation_percentage: Some(p),
                ..OxygenSaturationData::default()
            }),
            ..RespirationData::default()
        }),
        readiness_data: day.value("recovery_index").map(|r| ReadinessData {
            readiness: Some(r.round() as i64),
            recovery_level: None,
        }),
        ..Sleep::default()
    })
}

/// The day's activity: steps, heart rate, VO2 max, indexes, active minutes. `None` for
/// a day with none of them.
pub fn map_daily(day: &DayMetrics, date: NaiveDate) -> Option<Daily> {
    let steps_total = day
        .get("steps")
        .and_then(|o| number(o.get("total")?))
        .map(|s| s.round() as i64);
    let step_samples: Vec<StepSample> = day
        .series("steps")
        .into_iter()
        .map(|(t, s)| StepSample {
            timestamp: Some(t),
            steps: Some(s.round() as i64),
            ..StepSample::default()
        })
        .collect();
    let distance = (steps_total.is_some() || !step_samples.is_empty()).then(|| DailyDistanceData {
        steps: steps_total,
        detailed: (!step_samples.is_empty()).then(|| DistanceDataDetailed {
            step_samples,
            ..DistanceDataDetailed::default()
        }),
        ..DailyDistanceData::default()
    });
    let scores = ScoresData {
        recovery: day.value("recovery_index"),
        activity: day.value("movement_index"),
        ..ScoresData::default()
    };
    let active = day.value("active_minutes").map(|m| FullActiveDurationsData {
        activity_seconds: Some(m * 60.0),
        ..FullActiveDurationsData::default()
    });
    let oxygen = day.value("vo2_max").map(|v| OxygenData {
        vo2max_ml_per_min_per_kg: Some(v),
        ..OxygenData::default()
    });
    let heart = heart_rate(day);
    if distance.is_none()
        && scores == ScoresData::default()
        && active.is_none()
        && oxygen.is_none()
        && heart.is_none()
    {
        return None;
    }
    let (start_time, end_time) = day_bounds(date);
    Some(Daily {
        metadata: DailyMetadata {
            start_time,
            end_time,
            timestamp_localization: Some(0),
            upload_type: UPLOAD_AUTOMATIC,
        },
        distance_data: distance,
        heart_rate_data: heart,
        scores: (scores != ScoresData::default()).then_some(scores),
        active_durations_data: active,
        oxygen_data: oxygen,
        ..Daily::default()
    })
}

/// The day's body signals: glucose (M1 CGM) and skin temperature. `None` without them.
pub fn map_body(day: &DayMetrics, date: NaiveDate) -> Option<Body> {
    let glucose_samples: Vec<GlucoseDataSample> = day
        .series("glucose")
        .into_iter()
        .filter(|(_, v)| *v > 0.0)
        .map(|(t, v)| GlucoseDataSample {
            timestamp: Some(t),
            blood_glucose_mg_per_dl: Some(v.round() as i64),
            ..GlucoseDataSample::default()
        })
        .collect();
    let glucose = GlucoseData {
        blood_glucose_samples: glucose_samples,
        day_avg_blood_glucose_mg_per_dl: day.value("average_glucose"),
        // Ultrahuman's CGM-estimated HbA1c is what Terra calls GMI.
        gmi: day.value("hba1c"),
        time_in_range: day.value("time_in_target"),
        ..GlucoseData::default()
    };
    let skin: Vec<TemperatureSample> = day
        .series("temp")
        .into_iter()
        .map(|(t, c)| TemperatureSample {
            timestamp: Some(t),
            temperature_celsius: Some(c),
        })
        .collect();
    let has_glucose = glucose != GlucoseData::default();
    if !has_glucose && skin.is_empty() {
        return None;
    }
    let (start_time, end_time) = day_bounds(date);
    Some(Body {
        metadata: BodyMetadata {
            start_time,
            end_time,
            timestamp_localization: Some(0),
        },
        glucose_data: has_glucose.then_some(glucose),
        temperature_data: (!skin.is_empty()).then(|| TemperatureData {
            skin_temperature_samples: skin,
            ..TemperatureData::default()
        }),
        heart_data: heart_rate(day).map(|h| HeartData {
            heart_rate_data: Some(h),
            ..HeartData::default()
        }),
        ..Body::default()
    })
}

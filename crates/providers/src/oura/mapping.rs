//! Oura v2 documents → Terra: `workout` → `Activity`, `sleep` → `Sleep`,
//! `daily_activity` / `daily_sleep` / `daily_readiness` → `Daily`.

use chrono::{DateTime, Duration as ChronoDuration, FixedOffset, SecondsFormat};
use pulsegate_schema::terra::{
    Activity, ActivityMetadata, AsleepDurations, AwakeDurations, BreathsData, CaloriesData, Daily,
    DailyDataEnrichment, DailyDistanceData, DailyMetadata, DataContributor, DistanceData,
    DistanceSummary, FullActiveDurationsData, FullCaloriesData, FullHeartRateData,
    HeartRateDataDetailed, HeartRateDataSample, HeartRateDataSummary,
    HeartRateVariabilityDataSampleRmssd, MetData, MetSample, OtherSleepDurations, ReadinessData,
    RespirationData, ScoresData, Sleep, SleepDurationsData, SleepHypnogramSample, SleepMetadata,
    SleepTemperatureData,
};
use serde_json::{Map, Value};

use crate::strava::sport::{TERRA_OTHER, UPLOAD_AUTOMATIC, UPLOAD_MANUAL};
use crate::NormalizeError;

pub use super::types::*;

/// Which daily score document a [`DailyScore`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DailyKind {
    Sleep,
    Readiness,
}

/// Terra `SleepLevel` codes.
pub const SLEEP_UNKNOWN: i64 = 0;
pub const SLEEP_AWAKE: i64 = 1;
pub const SLEEP_LIGHT: i64 = 4;
pub const SLEEP_DEEP: i64 = 5;
pub const SLEEP_REM: i64 = 6;

pub fn map_workout(w: &Workout, object_id: &str) -> Result<Activity, NormalizeError> {
    let a = w.start_datetime.as_deref().and_then(parse_time);
    let b = w.end_datetime.as_deref().and_then(parse_time);
    let (Some(a), Some(b)) = (a, b) else {
        return Err(NormalizeError::dropped(
            "bad_response",
            "workout has no valid start_datetime/end_datetime",
        ));
    };
    // Oura's own documented example has the end before the start: order them.
    let (start, end) = if b < a { (b, a) } else { (a, b) };
    let distance = finite(w.distance)
        .filter(|d| *d >= 0.0)
        .map(|d| DistanceData {
            summary: Some(DistanceSummary {
                distance_meters: Some(d.round() as i64),
                steps: None,
                elevation: None,
            }),
        });
    let calories = finite(w.calories)
        .filter(|c| *c >= 0.0)
        .map(|c| CaloriesData {
            total_burned_calories: Some(c.round() as i64),
        });
    Ok(Activity {
        metadata: ActivityMetadata {
            summary_id: non_empty(&w.id).unwrap_or_else(|| object_id.to_string()),
            start_time: format_time(start),
            end_time: format_time(end),
            activity_type: terra_activity_type(w.activity.as_deref()),
            upload_type: if w.source.as_deref() == Some("manual") {
                UPLOAD_MANUAL
            } else {
                UPLOAD_AUTOMATIC
            },
            name: non_empty(&w.label),
            city: None,
            state: None,
            country: None,
        },
        distance_data: distance,
        calories_data: calories,
        ..Activity::default()
    })
}

pub fn map_sleep(s: &SleepPeriod, object_id: &str) -> Result<Sleep, NormalizeError> {
    let start = s.bedtime_start.as_deref().and_then(parse_time);
    let end = s.bedtime_end.as_deref().and_then(parse_time);
    let (Some(start), Some(end)) = (start, end) else {
        return Err(NormalizeError::dropped(
            "bad_response",
            "sleep has no valid bedtime_start/bedtime_end",
        ));
    };
    let asleep = AsleepDurations {
        duration_asleep_state_seconds: non_neg(s.total_sleep_duration).or_else(|| {
            let parts = [
                non_neg(s.deep_sleep_duration),
                non_neg(s.light_sleep_duration),
                non_neg(s.rem_sleep_duration),
            ];
            parts
                .iter()
                .all(Option::is_some)
                .then(|| parts.iter().flatten().sum())
        }),
        duration_deep_sleep_state_seconds: non_neg(s.deep_sleep_duration),
        duration_light_sleep_state_seconds: non_neg(s.light_sleep_duration),
        duration_rem_sleep_state_seconds: non_neg(s.rem_sleep_duration),
        num_rem_events: None,
    };
    let awake = AwakeDurations {
        duration_awake_state_seconds: non_neg(s.awake_time),
        sleep_latency_seconds: non_neg(s.latency),
        ..AwakeDurations::default()
    };
    let hypnogram = s
        .sleep_phase_5_min
        .as_deref()
        .map(|p| hypnogram(p, start))
        .unwrap_or_default();
    let durations = SleepDurationsData {
        asleep: some_if(asleep, |a| *a != AsleepDurations::default()),
        awake: some_if(awake, |a| *a != AwakeDurations::default()),
        hypnogram_samples: hypnogram,
        other: non_neg(s.time_in_bed).map(|t| OtherSleepDurations {
            duration_in_bed_seconds: Some(t),
            duration_unmeasurable_sleep_seconds: None,
        }),
        sleep_efficiency: finite(s.efficiency),
    };
    let hr_samples: Vec<HeartRateDataSample> = samples(s.heart_rate.as_ref())
        .into_iter()
        .filter(|(_, v)| *v > 0.0)
        .map(|(t, bpm)| HeartRateDataSample {
            timestamp: Some(t),
            bpm: Some(bpm),
            ..HeartRateDataSample::default()
        })
        .collect();
    let hrv_samples: Vec<HeartRateVariabilityDataSampleRmssd> = samples(s.hrv.as_ref())
        .into_iter()
        .filter(|(_, v)| *v >= 0.0)
        .map(|(t, v)| HeartRateVariabilityDataSampleRmssd {
            timestamp: Some(t),
            hrv_rmssd: Some(v),
        })
        .collect();
    let summary = HeartRateDataSummary {
        avg_hr_bpm: finite(s.average_heart_rate),
        min_hr_bpm: finite(s.lowest_heart_rate),
        avg_hrv_rmssd: finite(s.average_hrv),
        ..HeartRateDataSummary::default()
    };
    let detailed = HeartRateDataDetailed {
        hr_samples,
        hrv_samples_rmssd: hrv_samples,
        hrv_samples_sdnn: Vec::new(),
    };
    let heart_rate = FullHeartRateData {
        summary: some_if(summary, |x| *x != HeartRateDataSummary::default()),
        detailed: some_if(detailed, |x| *x != HeartRateDataDetailed::default()),
    };
    let readiness = s.readiness.as_ref();
    Ok(Sleep {
        metadata: SleepMetadata {
            start_time: format_time(start),
            end_time: format_time(end),
            is_nap: s.sleep_type.as_deref().map(|t| t != "long_sleep"),
            summary_id: Some(non_empty(&s.id).unwrap_or_else(|| object_id.to_string())),
            timestamp_localization: None,
            upload_type: UPLOAD_AUTOMATIC,
        },
        sleep_durations_data: some_if(durations, |d| *d != SleepDurationsData::default()),
        heart_rate_data: some_if(heart_rate, |h| *h != FullHeartRateData::default()),
        respiration_data: finite(s.average_breath).map(|b| RespirationData {
            breaths_data: Some(BreathsData {
                avg_breaths_per_min: Some(b),
                ..BreathsData::default()
            }),
            ..RespirationData::default()
        }),
        readiness_data: readiness
            .and_then(|r| finite(r.score))
            .map(|score| ReadinessData {
                readiness: Some(score.round() as i64),
                recovery_level: None,
            }),
        temperature_data: readiness
            .and_then(|r| finite(r.temperature_deviation))
            .map(|d| SleepTemperatureData { delta: Some(d) }),
        ..Sleep::default()
    })
}

pub fn map_daily_activity(d: &DailyActivity) -> Result<Daily, NormalizeError> {
    let metadata = day_metadata(d.timestamp.as_deref(), d.day.as_deref())?;
    let durations = FullActiveDurationsData {
        vigorous_intensity_seconds: non_neg(d.high_activity_time),
        moderate_intensity_seconds: non_neg(d.medium_activity_time),
        low_intensity_seconds: non_neg(d.low_activity_time),
        inactivity_seconds: non_neg(d.sedentary_time),
        rest_seconds: non_neg(d.resting_time),
        activity_seconds: match (
            non_neg(d.high_activity_time),
            non_neg(d.medium_activity_time),
            non_neg(d.low_activity_time),
        ) {
            (Some(h), Some(m), Some(l)) => Some(h + m + l),
            _ => None,
        },
        ..FullActiveDurationsData::default()
    };
    let calories = FullCaloriesData {
        total_burned_calories: non_neg(d.total_calories).map(|c| c.round() as i64),
        net_activity_calories: non_neg(d.active_calories).map(|c| c.round() as i64),
        ..FullCaloriesData::default()
    };
    let distance = DailyDistanceData {
        steps: non_neg(d.steps).map(|s| s.round() as i64),
        distance_meters: non_neg(d.equivalent_walking_distance).map(|m| m.round() as i64),
        ..DailyDistanceData::default()
    };
    let met = MetData {
        met_samples: samples(d.met.as_ref())
            .into_iter()
            .map(|(t, level)| MetSample {
                timestamp: Some(t),
                level: Some(level),
            })
            .collect(),
        avg_level: finite(d.average_met_minutes),
        num_high_intensity_minutes: non_neg(d.high_activity_time).map(|s| s / 60.0),
        num_moderate_intensity_minutes: non_neg(d.medium_activity_time).map(|s| s / 60.0),
        num_low_intensity_minutes: non_neg(d.low_activity_time).map(|s| s / 60.0),
        num_inactive_minutes: non_neg(d.sedentary_time).map(|s| s / 60.0),
    };
    Ok(Daily {
        metadata,
        active_durations_data: some_if(durations, |x| *x != FullActiveDurationsData::default()),
        calories_data: some_if(calories, |x| *x != FullCaloriesData::default()),
        distance_data: some_if(distance, |x| *x != DailyDistanceData::default()),
        met_data: some_if(met, |x| *x != MetData::default()),
        scores: finite(d.score).map(|s| ScoresData {
            activity: Some(s),
            ..ScoresData::default()
        }),
        ..Daily::default()
    })
}

/// `daily_sleep` → `scores.sleep`; `daily_readiness` → `scores.recovery` and
/// `data_enrichment.readiness_score` with its contributors.
pub fn map_daily_score(d: &DailyScore, kind: DailyKind) -> Result<Daily, NormalizeError> {
    let metadata = day_metadata(d.timestamp.as_deref(), d.day.as_deref())?;
    let score = finite(d.score);
    let mut daily = Daily {
        metadata,
        ..Daily::default()
    };
    match kind {
        DailyKind::Sleep => {
            daily.scores = score.map(|s| ScoresData {
                sleep: Some(s),
                ..ScoresData::default()
            });
        }
        DailyKind::Readiness => {
            daily.scores = score.map(|s| ScoresData {
                recovery: Some(s),
                ..ScoresData::default()
            });
            let enrichment = DailyDataEnrichment {
                readiness_score: score,
                readiness_contributors: contributors(d.contributors.as_ref()),
                ..DailyDataEnrichment::default()
            };
            daily.data_enrichment = some_if(enrichment, |e| *e != DailyDataEnrichment::default());
        }
    }
    Ok(daily)
}

fn contributors(c: Option<&Map<String, Value>>) -> Vec<DataContributor> {
    let mut out: Vec<DataContributor> = c
        .into_iter()
        .flatten()
        .filter_map(|(name, v)| {
            let score = v.as_f64().filter(|s| s.is_finite())?;
            Some(DataContributor {
                contributor_name: name.clone(),
                contributor_score: score,
            })
        })
        .collect();
    out.sort_by(|a, b| a.contributor_name.cmp(&b.contributor_name));
    out
}

/// The day a daily document covers: `timestamp` (Oura's day start, with offset) to 24 h
/// later; `day` at 00:00 UTC when there is no usable timestamp.
fn day_metadata(
    timestamp: Option<&str>,
    day: Option<&str>,
) -> Result<DailyMetadata, NormalizeError> {
    let start = timestamp.and_then(parse_time).or_else(|| {
        let d = chrono::NaiveDate::parse_from_str(day?, "%Y-%m-%d").ok()?;
        Some(d.and_hms_opt(0, 0, 0)?.and_utc().fixed_offset())
    });
    let start = start.ok_or_else(|| {
        NormalizeError::dropped(
            "bad_response",
            "daily document has no valid timestamp or day",
        )
    })?;
    let end = start + ChronoDuration::days(1);
    Ok(DailyMetadata {
        start_time: format_time(start),
        end_time: format_time(end),
        timestamp_localization: None,
        upload_type: UPLOAD_AUTOMATIC,
    })
}

/// `sleep_phase_5_min` ('1' deep, '2' light, '3' REM, '4' awake) → one Terra hypnogram
/// sample per 5 minutes from `start`.
pub fn hypnogram(phases: &str, start: DateTime<FixedOffset>) -> Vec<SleepHypnogramSample> {
    phases
        .chars()
        .take(2 * 24 * 12)
        .enumerate()
        .map(|(i, c)| SleepHypnogramSample {
            timestamp: Some(format_time(start + ChronoDuration::minutes(5 * i as i64))),
            level: Some(match c {
                '1' => SLEEP_DEEP,
                '2' => SLEEP_LIGHT,
                '3' => SLEEP_REM,
                '4' => SLEEP_AWAKE,
                _ => SLEEP_UNKNOWN,
            }),
        })
        .collect()
}

/// The non-null, finite items of a sample with their timestamps.
fn samples(s: Option<&Sample>) -> Vec<(String, f64)> {
    let Some(s) = s else { return Vec::new() };
    let (Some(start), Some(interval)) = (
        s.timestamp.as_deref().and_then(parse_time),
        finite(s.interval).filter(|i| *i > 0.0 && *i <= 86_400.0),
    ) else {
        return Vec::new();
    };
    s.items
        .iter()
        .take(100_000)
        .enumerate()
        .filter_map(|(i, v)| {
            let v = finite(*v)?;
            let at = start + ChronoDuration::milliseconds((i as f64 * interval * 1000.0) as i64);
            Some((format_time(at), v))
        })
        .collect()
}

/// Oura `activity` (lower-case, e.g. `cycling`) → Terra activity code; 108 (OTHER) when
/// unknown.
pub fn terra_activity_type(activity: Option<&str>) -> i64 {
    let a = activity.unwrap_or("").trim().to_ascii_lowercase();
    ACTIVITIES
        .iter()
        .find(|(name, _)| *name == a)
        .map(|(_, code)| *code)
        .unwrap_or(TERRA_OTHER)
}

/// (Oura activity, Terra code). docs/providers/oura.md shows the same table.
pub const ACTIVITIES: &[(&str, i64)] = &[
    ("walking", 7),
    ("running", 8),
    ("cycling", 1),
    ("mountain_biking", 15),
    ("indoor_cycling", 18),
    ("hiking", 35),
    ("swimming", 82),
    ("yoga", 100),
    ("pilates", 49),
    ("strength_training", 80),
    ("weight_training", 80),
    ("hiit", 114),
    ("crossfit", 113),
    ("elliptical", 25),
    ("rowing", 53),
    ("rowing_machine", 54),
    ("stair_climbing", 77),
    ("dancing", 24),
    ("basketball", 12),
    ("badminton", 10),
    ("tennis", 87),
    ("table_tennis", 85),
    ("squash", 76),
    ("golf", 32),
    ("soccer", 29),
    ("football", 29),
    ("boxing", 20),
    ("martial_arts", 44),
    ("downhill_skiing", 68),
    ("cross_country_skiing", 67),
    ("snowboarding", 73),
    ("ice_skating", 104),
    ("surfing", 81),
    ("kayaking", 40),
    ("rock_climbing", 52),
    ("meditation", 45),
];

pub fn parse_time(s: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s.trim()).ok()
}

/// ISO-8601 with the provider's offset; fractional seconds only when present.
pub fn format_time(t: DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

fn non_neg(v: Option<f64>) -> Option<f64> {
    finite(v).filter(|x| *x >= 0.0)
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_ref().filter(|s| !s.trim().is_empty()).cloned()
}

fn some_if<T>(v: T, keep: impl FnOnce(&T) -> bool) -> Option<T> {
    keep(&v).then_some(v)
}

#[cfg(test)]
#[path = "mapping_tests.rs"]
mod tests;

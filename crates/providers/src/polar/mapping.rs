//! Polar AccessLink responses → Terra models: exercise → `Activity`, sleep → `Sleep`,
//! daily activity summary and continuous heart rate → `Daily`.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat};
use pulsegate_schema::terra::{
    ActiveDurationsData, Activity, ActivityMetadata, AsleepDurations, AwakeDurations, CaloriesData,
    Daily, DailyDistanceData, DailyMetadata, DeviceData, DistanceData, DistanceSummary,
    FullActiveDurationsData, FullCaloriesData, FullHeartRateData, HeartRateData,
    HeartRateDataDetailed, HeartRateDataSample, HeartRateSummary, OtherSleepDurations, ScoresData,
    Sleep, SleepDurationsData, SleepHypnogramSample, SleepMetadata, SleepScores,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::sport::terra_activity_type;
use crate::NormalizeError;

const UPLOAD_AUTOMATIC: i64 = 1;
/// Terra `TimestampLocalization`: 0 = UTC, 1 = LOCAL.
const LOCALIZATION_UTC: i64 = 0;
const LOCALIZATION_LOCAL: i64 = 1;

/// `GET /v3/exercises/{id}` (the fields mapped; unknown ones ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Exercise {
    pub id: Option<String>,
    pub device: Option<String>,
    /// Local time without offset, e.g. `2008-10-13T10:40:02`.
    pub start_time: Option<String>,
    /// Minutes east of UTC at the start.
    pub start_time_utc_offset: Option<i64>,
    /// ISO-8601 duration, e.g. `PT2H44M`.
    pub duration: Option<String>,
    /// kcal.
    pub calories: Option<f64>,
    /// Meters.
    pub distance: Option<f64>,
    pub heart_rate: Option<ExerciseHeartRate>,
    pub sport: Option<String>,
    pub detailed_sport_info: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ExerciseHeartRate {
    pub average: Option<f64>,
    pub maximum: Option<f64>,
}

/// `GET /v3/users/sleep/{date}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PolarSleep {
    pub date: Option<String>,
    pub sleep_start_time: Option<String>,
    pub sleep_end_time: Option<String>,
    pub light_sleep: Option<f64>,
    pub deep_sleep: Option<f64>,
    pub rem_sleep: Option<f64>,
    pub unrecognized_sleep_stage: Option<f64>,
    pub sleep_score: Option<f64>,
    pub total_interruption_duration: Option<f64>,
    pub short_interruption_duration: Option<f64>,
    pub long_interruption_duration: Option<f64>,
    /// `"HH:MM"` → 0 WAKE, 1 REM, 2 LIGHTER NON-REM, 3 LIGHT NON-REM, 4 DEEP NON-REM, 5 UNKNOWN.
    pub hypnogram: Option<Map<String, Value>>,
    /// `"HH:MM"` → bpm (5-minute averages).
    pub heart_rate_samples: Option<Map<String, Value>>,
}

/// `GET /v3/users/activities/{date}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ActivitySummary {
    /// UTC without offset, e.g. `2025-08-13T08:15:30`.
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub active_duration: Option<String>,
    pub inactive_duration: Option<String>,
    pub daily_activity: Option<f64>,
    pub calories: Option<f64>,
    pub active_calories: Option<f64>,
    pub steps: Option<f64>,
    pub distance_from_steps: Option<f64>,
}

/// `GET /v3/users/continuous-heart-rate/{date}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ContinuousHeartRate {
    pub date: Option<String>,
    pub heart_rate_samples: Vec<ChrSample>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ChrSample {
    pub heart_rate: Option<f64>,
    /// `HH:mm:ss`, device (local) time.
    pub sample_time: Option<String>,
}

fn bad(detail: &str) -> NormalizeError {
    NormalizeError::dropped("bad_response", detail.to_string())
}

pub fn map_exercise(e: &Exercise, entity_id: &str) -> Result<Activity, NormalizeError> {
    let local = e
        .start_time
        .as_deref()
        .and_then(parse_naive)
        .ok_or_else(|| bad("exercise has no valid start_time"))?;
    let offset = e
        .start_time_utc_offset
        .and_then(|m| m.checked_mul(60))
        .filter(|s| s.unsigned_abs() <= 14 * 3600)
        .and_then(|s| FixedOffset::east_opt(s as i32))
        .unwrap_or_else(utc);
    let start = local
        .and_local_timezone(offset)
        .single()
        .ok_or_else(|| bad("exercise start_time is not a valid local time"))?;
    let secs = e.duration.as_deref().and_then(parse_iso_duration_secs);
    let end = start + Duration::milliseconds((secs.unwrap_or(0.0) * 1000.0) as i64);
    let distance = finite(e.distance).map(|d| DistanceData {
        summary: Some(DistanceSummary {
            distance_meters: Some(d.round() as i64),
            steps: None,
            elevation: None,
        }),
    });
    let hr = e.heart_rate.as_ref().and_then(|h| {
        let s = HeartRateSummary {
            avg_hr_bpm: finite(h.average),
            max_hr_bpm: finite(h.maximum),
        };
        (s.avg_hr_bpm.is_some() || s.max_hr_bpm.is_some())
            .then_some(HeartRateData { summary: Some(s) })
    });
    Ok(Activity {
        metadata: ActivityMetadata {
            summary_id: e.id.clone().unwrap_or_else(|| entity_id.to_string()),
            start_time: iso(start),
            end_time: iso(end),
            activity_type: terra_activity_type(
                e.detailed_sport_info.as_deref(),
                e.sport.as_deref(),
            ),
            upload_type: UPLOAD_AUTOMATIC,
            name: None,
            city: None,
            state: None,
            country: None,
        },
        distance_data: distance,
        calories_data: finite(e.calories).map(|c| CaloriesData {
            total_burned_calories: Some(c.round() as i64),
        }),
        heart_rate_data: hr,
        movement_data: None,
        active_durations_data: secs.map(|s| ActiveDurationsData {
            activity_seconds: Some(s),
            rest_seconds: None,
        }),
        power_data: None,
        device_data: non_empty(&e.device).map(|name| DeviceData { name: Some(name) }),
        polyline_map_data: None,
        work_data: None,
    })
}

pub fn map_sleep(s: &PolarSleep, date: &str) -> Result<Sleep, NormalizeError> {
    let start = s
        .sleep_start_time
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .ok_or_else(|| bad("sleep has no valid sleep_start_time"))?;
    let end = s
        .sleep_end_time
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .ok_or_else(|| bad("sleep has no valid sleep_end_time"))?;
    let (light, deep, rem, unknown) = (
        finite(s.light_sleep),
        finite(s.deep_sleep),
        finite(s.rem_sleep),
        finite(s.unrecognized_sleep_stage),
    );
    let stages = [light, deep, rem, unknown];
    let asleep = stages
        .iter()
        .any(Option::is_some)
        .then(|| stages.iter().flatten().sum::<f64>());
    let mut hypnogram: Vec<SleepHypnogramSample> = clock_samples(&s.hypnogram, start)
        .into_iter()
        .filter_map(|(t, v)| {
            Some(SleepHypnogramSample {
                timestamp: Some(iso(t)),
                level: Some(terra_sleep_level(v.as_i64()?)),
            })
        })
        .collect();
    hypnogram.dedup();
    let hr_samples: Vec<HeartRateDataSample> = clock_samples(&s.heart_rate_samples, start)
        .into_iter()
        .filter_map(|(t, v)| {
            Some(HeartRateDataSample {
                timestamp: Some(iso(t)),
                bpm: Some(v.as_f64().filter(|b| b.is_finite())?),
                ..Default::default()
            })
        })
        .collect();
    Ok(Sleep {
        metadata: SleepMetadata {
            start_time: iso(start),
            end_time: iso(end),
            is_nap: None,
            summary_id: Some(s.date.clone().unwrap_or_else(|| date.to_string())),
            timestamp_localization: None,
            upload_type: UPLOAD_AUTOMATIC,
        },
        sleep_durations_data: Some(SleepDurationsData {
            asleep: Some(AsleepDurations {
                duration_asleep_state_seconds: asleep,
                duration_deep_sleep_state_seconds: deep,
                duration_light_sleep_state_seconds: light,
                duration_rem_sleep_state_seconds: rem,
                num_rem_events: None,
            }),
            awake: Some(AwakeDurations {
                duration_awake_state_seconds: finite(s.total_interruption_duration),
                duration_short_interruption_seconds: finite(s.short_interruption_duration),
                duration_long_interruption_seconds: finite(s.long_interruption_duration),
                ..Default::default()
            }),
            hypnogram_samples: hypnogram,
            other: Some(OtherSleepDurations {
                duration_in_bed_seconds: Some((end - start).num_seconds().max(0) as f64),
                duration_unmeasurable_sleep_seconds: unknown,
            }),
            sleep_efficiency: None,
        }),
        heart_rate_data: (!hr_samples.is_empty()).then(|| FullHeartRateData {
            detailed: Some(HeartRateDataDetailed {
                hr_samples,
                ..Default::default()
            }),
            summary: None,
        }),
        scores: finite(s.sleep_score).map(|v| SleepScores {
            sleep_score: Some(v),
        }),
        ..Default::default()
    })
}

pub fn map_activity_summary(a: &ActivitySummary, date: &str) -> Result<Daily, NormalizeError> {
    let day = NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(|_| bad("invalid date"))?;
    // Polar documents start/end as UTC; without them, the calendar day (local).
    let utc_times = a
        .start_time
        .as_deref()
        .and_then(parse_naive)
        .zip(a.end_time.as_deref().and_then(parse_naive));
    let (start_time, end_time, localization) = match utc_times {
        Some((s, e)) => (
            iso(s.and_utc().fixed_offset()),
            iso(e.and_utc().fixed_offset()),
            LOCALIZATION_UTC,
        ),
        None => {
            let (s, e) = day_bounds(day);
            (s, e, LOCALIZATION_LOCAL)
        }
    };
    let total = finite(a.calories);
    let active = finite(a.active_calories);
    let bmr = total.zip(active).map(|(t, a)| t - a).filter(|b| *b >= 0.0);
    Ok(Daily {
        metadata: DailyMetadata {
            start_time,
            end_time,
            timestamp_localization: Some(localization),
            upload_type: UPLOAD_AUTOMATIC,
        },
        calories_data: (total.is_some() || active.is_some()).then(|| FullCaloriesData {
            total_burned_calories: total.map(|v| v.round() as i64),
            net_activity_calories: active.map(|v| v.round() as i64),
            bmr_calories: bmr.map(|v| v.round() as i64),
            ..Default::default()
        }),
        distance_data: (a.steps.is_some() || a.distance_from_steps.is_some()).then(|| {
            DailyDistanceData {
                steps: finite(a.steps).map(|v| v.round() as i64),
                distance_meters: finite(a.distance_from_steps).map(|v| v.round() as i64),
                ..Default::default()
            }
        }),
        active_durations_data: {
            let act = a
                .active_duration
                .as_deref()
                .and_then(parse_iso_duration_secs);
            let inact = a
                .inactive_duration
                .as_deref()
                .and_then(parse_iso_duration_secs);
            (act.is_some() || inact.is_some()).then(|| FullActiveDurationsData {
                activity_seconds: act,
                inactivity_seconds: inact,
                ..Default::default()
            })
        },
        scores: finite(a.daily_activity).map(|v| ScoresData {
            activity: Some(v),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// Continuous heart rate: device-local times without an offset, so the day and the
/// samples are written as local wall time (`timestamp_localization` = LOCAL).
pub fn map_continuous_hr(c: &ContinuousHeartRate, date: &str) -> Result<Daily, NormalizeError> {
    let day_text = c.date.as_deref().unwrap_or(date);
    let day = NaiveDate::parse_from_str(day_text, "%Y-%m-%d").map_err(|_| bad("invalid date"))?;
    let mut samples: Vec<(NaiveDateTime, f64)> = c
        .heart_rate_samples
        .iter()
        .filter_map(|s| {
            let t = NaiveTime::parse_from_str(s.sample_time.as_deref()?, "%H:%M:%S").ok()?;
            Some((day.and_time(t), finite(s.heart_rate)?))
        })
        .collect();
    samples.sort_by_key(|a| a.0);
    if samples.is_empty() {
        return Err(NormalizeError::dropped(
            "no_data",
            "Polar returned no continuous heart rate samples",
        ));
    }
    let (start_time, end_time) = day_bounds(day);
    Ok(Daily {
        metadata: DailyMetadata {
            start_time,
            end_time,
            timestamp_localization: Some(LOCALIZATION_LOCAL),
            upload_type: UPLOAD_AUTOMATIC,
        },
        heart_rate_data: Some(FullHeartRateData {
            detailed: Some(HeartRateDataDetailed {
                hr_samples: samples
                    .into_iter()
                    .map(|(t, bpm)| HeartRateDataSample {
                        timestamp: Some(t.format("%Y-%m-%dT%H:%M:%S").to_string()),
                        bpm: Some(bpm),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }),
            summary: None,
        }),
        ..Default::default()
    })
}

/// Polar's hypnogram code → Terra `SleepLevel` (0 Unknown, 1 Awake, 4 Light, 5 Deep, 6 REM).
pub fn terra_sleep_level(polar: i64) -> i64 {
    match polar {
        0 => 1,
        1 => 6,
        2 | 3 => 4,
        4 => 5,
        _ => 0,
    }
}

/// `{"HH:MM": v}` clock times of a night starting at `start` → absolute times (a clock
/// time earlier than the start's belongs to the next day), sorted.
fn clock_samples(
    m: &Option<Map<String, Value>>,
    start: DateTime<FixedOffset>,
) -> Vec<(DateTime<FixedOffset>, Value)> {
    let Some(m) = m else { return Vec::new() };
    let start_local = start.naive_local();
    let mut out: Vec<_> = m
        .iter()
        .filter_map(|(k, v)| {
            let t = NaiveTime::parse_from_str(k, "%H:%M")
                .or_else(|_| NaiveTime::parse_from_str(k, "%H:%M:%S"))
                .ok()?;
            let mut at = start_local.date().and_time(t);
            // Samples are minute-rounded: allow the first to precede the start slightly.
            if at + Duration::minutes(1) < start_local {
                at += Duration::days(1);
            }
            let at = at.and_local_timezone(*start.offset()).single()?;
            Some((at, v.clone()))
        })
        .collect();
    out.sort_by_key(|a| a.0);
    out
}

/// `PT2H44M`, `PT18H23M30S`, `P1DT2H`, `PT0.5S` → seconds.
pub fn parse_iso_duration_secs(s: &str) -> Option<f64> {
    let s = s.trim();
    let rest = s.strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut total = 0.0;
    let mut any = false;
    let mut eat = |part: &str, units: &[(char, f64)]| -> Option<()> {
        let mut num = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                num.push(c);
            } else {
                let (_, mult) = units.iter().find(|(u, _)| *u == c)?;
                let v: f64 = num.parse().ok()?;
                total += v * mult;
                any = true;
                num.clear();
            }
        }
        num.is_empty().then_some(())
    };
    eat(date, &[('W', 604_800.0), ('D', 86_400.0)])?;
    if let Some(t) = time {
        if t.is_empty() {
            return None;
        }
        eat(t, &[('H', 3600.0), ('M', 60.0), ('S', 1.0)])?;
    }
    (any && total.is_finite()).then_some(total)
}

fn parse_naive(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim().trim_end_matches('Z');
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M"))
        .ok()
}

fn day_bounds(day: NaiveDate) -> (String, String) {
    let start = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    let end = start + Duration::days(1);
    (
        start.format("%Y-%m-%dT%H:%M:%S").to_string(),
        end.format("%Y-%m-%dT%H:%M:%S").to_string(),
    )
}

fn utc() -> FixedOffset {
    FixedOffset::east_opt(0).expect("UTC")
}

/// ISO-8601 with offset, seconds precision.
pub fn iso(t: DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

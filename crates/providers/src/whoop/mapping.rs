//! WHOOP v2 → Terra: workout → `Activity`, sleep → `Sleep`, recovery (with its cycle)
//! → `Daily`. WHOOP times are UTC with a separate `timezone_offset`; durations are in ms.

use chrono::{DateTime, Duration as ChronoDuration, FixedOffset, SecondsFormat};
use pulsegate_schema::terra::{
    Activity, ActivityMetadata, AsleepDurations, AwakeDurations, BreathsData, CaloriesData, Daily,
    DailyMetadata, DistanceData, DistanceSummary, ElevationData, FullCaloriesData,
    FullHeartRateData, HeartRateData, HeartRateDataSummary, HeartRateSummary, OtherSleepDurations,
    OxygenData, RespirationData, ScoresData, Sleep, SleepDurationsData, SleepMetadata, SleepScores,
    StrainData,
};
use serde::Deserialize;

use crate::strava::sport::{TERRA_OTHER, UPLOAD_AUTOMATIC};
use crate::NormalizeError;

/// Kilojoules per kilocalorie.
pub const KJ_PER_KCAL: f64 = 4.184;

/// WHOOP `WorkoutV2`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Workout {
    pub id: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub timezone_offset: Option<String>,
    pub sport_name: Option<String>,
    pub score_state: Option<String>,
    pub score: Option<WorkoutScore>,
}

/// WHOOP `WorkoutScore` (only when `score_state` is `SCORED`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WorkoutScore {
    /// 0–21.
    pub strain: Option<f64>,
    pub average_heart_rate: Option<f64>,
    pub max_heart_rate: Option<f64>,
    /// Energy expended, kJ.
    pub kilojoule: Option<f64>,
    pub percent_recorded: Option<f64>,
    pub distance_meter: Option<f64>,
    pub altitude_gain_meter: Option<f64>,
    pub altitude_change_meter: Option<f64>,
}

/// WHOOP `Sleep` (v2).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SleepActivity {
    pub id: Option<String>,
    pub cycle_id: Option<i64>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub timezone_offset: Option<String>,
    pub nap: Option<bool>,
    pub score_state: Option<String>,
    pub score: Option<SleepScore>,
}

/// WHOOP `SleepScore`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SleepScore {
    pub stage_summary: Option<StageSummary>,
    pub respiratory_rate: Option<f64>,
    pub sleep_performance_percentage: Option<f64>,
    pub sleep_consistency_percentage: Option<f64>,
    pub sleep_efficiency_percentage: Option<f64>,
}

/// WHOOP `SleepStageSummary` (milliseconds).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StageSummary {
    pub total_in_bed_time_milli: Option<f64>,
    pub total_awake_time_milli: Option<f64>,
    pub total_no_data_time_milli: Option<f64>,
    pub total_light_sleep_time_milli: Option<f64>,
    pub total_slow_wave_sleep_time_milli: Option<f64>,
    pub total_rem_sleep_time_milli: Option<f64>,
    pub sleep_cycle_count: Option<i64>,
    pub disturbance_count: Option<i64>,
}

/// WHOOP `Recovery`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Recovery {
    pub cycle_id: Option<i64>,
    pub sleep_id: Option<String>,
    pub score_state: Option<String>,
    pub score: Option<RecoveryScore>,
}

/// WHOOP `RecoveryScore`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RecoveryScore {
    pub user_calibrating: Option<bool>,
    /// 0–100 %.
    pub recovery_score: Option<f64>,
    pub resting_heart_rate: Option<f64>,
    pub hrv_rmssd_milli: Option<f64>,
    pub spo2_percentage: Option<f64>,
    pub skin_temp_celsius: Option<f64>,
}

/// WHOOP `Cycle` (a physiological day).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Cycle {
    pub id: Option<i64>,
    pub start: Option<String>,
    /// Absent while the cycle is in progress.
    pub end: Option<String>,
    pub timezone_offset: Option<String>,
    pub score_state: Option<String>,
    pub score: Option<CycleScore>,
}

/// WHOOP `CycleScore`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CycleScore {
    pub strain: Option<f64>,
    pub kilojoule: Option<f64>,
    pub average_heart_rate: Option<f64>,
    pub max_heart_rate: Option<f64>,
}

pub fn map_workout(w: &Workout, object_id: &str) -> Result<Activity, NormalizeError> {
    let (start, end) = bounds(&w.start, &w.end, &w.timezone_offset, "workout")?;
    let s = w.score.as_ref();
    let get = |f: fn(&WorkoutScore) -> Option<f64>| s.and_then(f).filter(|v| v.is_finite());
    let elevation = get(|s| s.altitude_gain_meter).map(|g| ElevationData {
        gain_actual_meters: Some(g),
        max_meters: None,
        min_meters: None,
    });
    let distance = get(|s| s.distance_meter).filter(|d| *d >= 0.0);
    let distance_data = (distance.is_some() || elevation.is_some()).then(|| DistanceData {
        summary: Some(DistanceSummary {
            distance_meters: distance.map(|d| d.round() as i64),
            steps: None,
            elevation,
        }),
    });
    let hr = HeartRateSummary {
        avg_hr_bpm: get(|s| s.average_heart_rate),
        max_hr_bpm: get(|s| s.max_heart_rate),
    };
    Ok(Activity {
        metadata: ActivityMetadata {
            summary_id: non_empty(&w.id).unwrap_or_else(|| object_id.to_string()),
            start_time: format_time(start),
            end_time: format_time(end),
            activity_type: terra_activity_type(w.sport_name.as_deref()),
            upload_type: UPLOAD_AUTOMATIC,
            name: None,
            city: None,
            state: None,
            country: None,
        },
        distance_data,
        calories_data: get(|s| s.kilojoule)
            .filter(|k| *k >= 0.0)
            .map(|kj| CaloriesData {
                total_burned_calories: Some(kcal(kj)),
            }),
        heart_rate_data: (hr.avg_hr_bpm.is_some() || hr.max_hr_bpm.is_some())
            .then_some(HeartRateData { summary: Some(hr) }),
        ..Activity::default()
    })
}

pub fn map_sleep(s: &SleepActivity, object_id: &str) -> Result<Sleep, NormalizeError> {
    let (start, end) = bounds(&s.start, &s.end, &s.timezone_offset, "sleep")?;
    let score = s.score.as_ref();
    let st = score.and_then(|x| x.stage_summary.as_ref());
    let secs = |f: fn(&StageSummary) -> Option<f64>| {
        st.and_then(f)
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(|ms| ms / 1000.0)
    };
    let (light, deep, rem) = (
        secs(|x| x.total_light_sleep_time_milli),
        secs(|x| x.total_slow_wave_sleep_time_milli),
        secs(|x| x.total_rem_sleep_time_milli),
    );
    let asleep = AsleepDurations {
        duration_asleep_state_seconds: match (light, deep, rem) {
            (Some(l), Some(d), Some(r)) => Some(l + d + r),
            _ => None,
        },
        duration_light_sleep_state_seconds: light,
        duration_deep_sleep_state_seconds: deep,
        duration_rem_sleep_state_seconds: rem,
        num_rem_events: st.and_then(|x| x.sleep_cycle_count).filter(|c| *c >= 0),
    };
    let awake = AwakeDurations {
        duration_awake_state_seconds: secs(|x| x.total_awake_time_milli),
        num_wakeup_events: st.and_then(|x| x.disturbance_count).filter(|c| *c >= 0),
        ..AwakeDurations::default()
    };
    let other = OtherSleepDurations {
        duration_in_bed_seconds: secs(|x| x.total_in_bed_time_milli),
        duration_unmeasurable_sleep_seconds: secs(|x| x.total_no_data_time_milli),
    };
    let durations = SleepDurationsData {
        asleep: (asleep != AsleepDurations::default()).then_some(asleep),
        awake: (awake != AwakeDurations::default()).then_some(awake),
        other: (other != OtherSleepDurations::default()).then_some(other),
        sleep_efficiency: score
            .and_then(|x| x.sleep_efficiency_percentage)
            .filter(|v| v.is_finite()),
        hypnogram_samples: Vec::new(),
    };
    Ok(Sleep {
        metadata: SleepMetadata {
            start_time: format_time(start),
            end_time: format_time(end),
            is_nap: s.nap,
            summary_id: Some(non_empty(&s.id).unwrap_or_else(|| object_id.to_string())),
            timestamp_localization: None,
            upload_type: UPLOAD_AUTOMATIC,
        },
        sleep_durations_data: (durations != SleepDurationsData::default()).then_some(durations),
        respiration_data: score
            .and_then(|x| x.respiratory_rate)
            .filter(|v| v.is_finite())
            .map(|r| RespirationData {
                breaths_data: Some(BreathsData {
                    avg_breaths_per_min: Some(r),
                    ..BreathsData::default()
                }),
                ..RespirationData::default()
            }),
        scores: score
            .and_then(|x| x.sleep_performance_percentage)
            .filter(|v| v.is_finite())
            .map(|p| SleepScores {
                sleep_score: Some(p),
            }),
        ..Sleep::default()
    })
}

/// A scored recovery and its cycle → Terra `Daily` for the cycle. `Dropped("not_scored")`
/// when WHOOP has no score yet (a later `recovery.updated` brings it).
pub fn map_recovery(r: &Recovery, c: &Cycle) -> Result<Daily, NormalizeError> {
    let Some(score) = r
        .score
        .as_ref()
        .filter(|_| r.score_state.as_deref().is_none_or(|s| s == "SCORED"))
    else {
        return Err(NormalizeError::dropped(
            "not_scored",
            format!(
                "recovery is {}",
                r.score_state.as_deref().unwrap_or("unscored")
            ),
        ));
    };
    let offset = parse_offset(c.timezone_offset.as_deref());
    let start = c
        .start
        .as_deref()
        .and_then(|s| parse_time(s, offset))
        .ok_or_else(|| NormalizeError::dropped("bad_response", "cycle has no valid start"))?;
    // A cycle in progress has no end yet: one day from its start.
    let end = c
        .end
        .as_deref()
        .and_then(|s| parse_time(s, offset))
        .unwrap_or(start + ChronoDuration::days(1));
    let cs = c.score.as_ref();
    let f = |v: Option<f64>| v.filter(|x| x.is_finite());
    let summary = HeartRateDataSummary {
        resting_hr_bpm: f(score.resting_heart_rate),
        avg_hrv_rmssd: f(score.hrv_rmssd_milli),
        avg_hr_bpm: f(cs.and_then(|s| s.average_heart_rate)),
        max_hr_bpm: f(cs.and_then(|s| s.max_heart_rate)),
        ..HeartRateDataSummary::default()
    };
    Ok(Daily {
        metadata: DailyMetadata {
            start_time: format_time(start),
            end_time: format_time(end),
            timestamp_localization: None,
            upload_type: UPLOAD_AUTOMATIC,
        },
        scores: f(score.recovery_score).map(|s| ScoresData {
            recovery: Some(s),
            ..ScoresData::default()
        }),
        heart_rate_data: (summary != HeartRateDataSummary::default()).then_some(
            FullHeartRateData {
                summary: Some(summary),
                detailed: None,
            },
        ),
        oxygen_data: f(score.spo2_percentage).map(|p| OxygenData {
            avg_saturation_percentage: Some(p),
            ..OxygenData::default()
        }),
        strain_data: f(cs.and_then(|s| s.strain)).map(|s| StrainData {
            strain_level: Some(s),
        }),
        calories_data: f(cs.and_then(|s| s.kilojoule))
            .filter(|k| *k >= 0.0)
            .map(|kj| FullCaloriesData {
                total_burned_calories: Some(kcal(kj)),
                ..FullCaloriesData::default()
            }),
        ..Daily::default()
    })
}

fn kcal(kj: f64) -> i64 {
    (kj / KJ_PER_KCAL).round() as i64
}

fn bounds(
    start: &Option<String>,
    end: &Option<String>,
    tz: &Option<String>,
    what: &str,
) -> Result<(DateTime<FixedOffset>, DateTime<FixedOffset>), NormalizeError> {
    let offset = parse_offset(tz.as_deref());
    let s = start.as_deref().and_then(|s| parse_time(s, offset));
    let e = end.as_deref().and_then(|s| parse_time(s, offset));
    match (s, e) {
        (Some(s), Some(e)) => Ok((s, e)),
        _ => Err(NormalizeError::dropped(
            "bad_response",
            format!("{what} has no valid start/end"),
        )),
    }
}

/// WHOOP's `timezone_offset` (`+hh:mm`, `-hh:mm` or `Z`); UTC when absent or invalid.
pub fn parse_offset(tz: Option<&str>) -> FixedOffset {
    let utc = FixedOffset::east_opt(0).expect("UTC");
    let Some(tz) = tz.map(str::trim) else {
        return utc;
    };
    if tz == "Z" {
        return utc;
    }
    let sign = match tz.as_bytes().first() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return utc,
    };
    let Some((h, m)) = tz.get(1..).and_then(|r| r.split_once(':')) else {
        return utc;
    };
    match (h.parse::<i32>(), m.parse::<i32>()) {
        (Ok(h), Ok(m)) if h <= 14 && (0..60).contains(&m) => {
            FixedOffset::east_opt(sign * (h * 3600 + m * 60)).unwrap_or(utc)
        }
        _ => utc,
    }
}

fn parse_time(s: &str, offset: FixedOffset) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&offset))
}

/// ISO-8601 in the member's offset; fractional seconds only when present.
pub fn format_time(t: DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_ref().filter(|s| !s.trim().is_empty()).cloned()
}

/// WHOOP `sport_name` → Terra activity code; 108 (OTHER) when unknown.
pub fn terra_activity_type(sport: Option<&str>) -> i64 {
    let s = sport.unwrap_or("").trim().to_ascii_lowercase();
    SPORTS
        .iter()
        .find(|(name, _)| *name == s)
        .map(|(_, code)| *code)
        .unwrap_or(TERRA_OTHER)
}

/// (WHOOP sport_name, Terra code). docs/providers/whoop.md shows the same table.
pub const SPORTS: &[(&str, i64)] = &[
    ("running", 8),
    ("cycling", 1),
    ("mountain-biking", 15),
    ("spin", 18),
    ("assault-bike", 18),
    ("walking", 7),
    ("hiking/rucking", 35),
    ("swimming", 82),
    ("rowing", 53),
    ("kayaking", 40),
    ("paddleboarding", 79),
    ("surfing", 81),
    ("sailing", 59),
    ("skiing", 68),
    ("cross-country-skiing", 67),
    ("snowboarding", 73),
    ("inline-skating", 62),
    ("ice-skating", 104),
    ("rock-climbing", 52),
    ("weightlifting", 80),
    ("powerlifting", 80),
    ("strength-trainer", 80),
    ("functional-fitness", 113),
    ("hiit", 114),
    ("elliptical", 25),
    ("stairmaster", 78),
    ("yoga", 100),
    ("pilates", 49),
    ("meditation", 45),
    ("dance", 24),
    ("boxing", 20),
    ("martial-arts", 44),
    ("basketball", 12),
    ("baseball", 11),
    ("soccer", 29),
    ("tennis", 87),
    ("table-tennis", 85),
    ("badminton", 10),
    ("squash", 76),
    ("golf", 32),
    ("wheelchair-pushing", 98),
];

#[cfg(test)]
#[path = "mapping_tests.rs"]
mod tests;

//! Google Health data points → Terra `Daily`, `Sleep`, `Activity` and `Body`, field by
//! field as docs/providers/google-health.md lists them. Pure functions of the fetched
//! data (the client fetches, [`super`] decides what): the push path and historical
//! ranges map the same way.
//!
//! Units are fixed metric in Google's field names (millimeters, grams, kcal, °C); local
//! times are `startTime + startUtcOffset` (each observation carries its offset), and a
//! day runs from local midnight to the next at the day's offset.

use chrono::{DateTime, FixedOffset, NaiveDate};
use pulsegate_schema::terra::{
    ActiveDurationsData, Activity, ActivityMetadata, AsleepDurations, AwakeDurations, Body,
    BodyMetadata, BreathsData, CaloriesData, Daily, DailyDistanceData, DailyMetadata, DeviceData,
    DistanceData, DistanceSummary, ElevationData, FullActiveDurationsData, FullCaloriesData,
    FullDeviceData, FullElevationData, FullHeartRateData, HeartData, HeartRateData,
    HeartRateDataDetailed, HeartRateDataSummary, HeartRateSummary,
    HeartRateVariabilityDataSampleRmssd, HeartRateVariabilityDataSampleSdnn, HeartRateZoneData,
    MeasurementDataSample, MeasurementsData, MovementData, OtherSleepDurations, OxygenData,
    OxygenSaturationData, OxygenSaturationSample, RespirationData, Sleep, SleepDurationsData,
    SleepHypnogramSample, SleepMetadata, SleepTemperatureData,
};

use super::types::{local, seconds, DataPoint, Device, RollupPoint, SleepSession};
use crate::strava::sport::{TERRA_OTHER, UPLOAD_AUTOMATIC, UPLOAD_MANUAL};

/// Terra `SleepLevel` codes (the same as the Fitbit mapping's).
pub const SLEEP_UNKNOWN: i64 = 0;
pub const SLEEP_AWAKE: i64 = 1;
pub const SLEEP_SLEEPING: i64 = 2;
pub const SLEEP_LIGHT: i64 = 4;
pub const SLEEP_DEEP: i64 = 5;
pub const SLEEP_REM: i64 = 6;

// ---- daily ----------------------------------------------------------------------------

/// One local day from its `dailyRollUp` buckets (any order, any types; other days'
/// buckets are ignored) and its daily-summary data points (`daily-resting-heart-rate`,
/// `daily-heart-rate-variability`, `daily-oxygen-saturation`, `daily-vo2-max`). `None`
/// when there is nothing for the day.
pub fn map_daily(
    date: NaiveDate,
    offset: FixedOffset,
    rollups: &[RollupPoint],
    daily: &[DataPoint],
) -> Option<Daily> {
    let day: Vec<&RollupPoint> = rollups.iter().filter(|r| r.day() == Some(date)).collect();
    let pick = |f: &dyn Fn(&RollupPoint) -> Option<f64>| day.iter().find_map(|r| f(r));

    let steps = pick(&|r| r.steps.as_ref()?.count_sum);
    let distance_mm = pick(&|r| r.distance.as_ref()?.millimeters_sum);
    let floors = pick(&|r| r.floors.as_ref()?.count_sum);
    let gain_mm = pick(&|r| r.altitude.as_ref()?.gain_millimeters_sum);
    let distance = DailyDistanceData {
        steps: steps.map(round),
        distance_meters: distance_mm.map(|mm| round(mm / 1000.0)),
        floors_climbed: floors.map(round),
        elevation: gain_mm.map(|mm| FullElevationData {
            gain_actual_meters: Some(thousandth(mm)),
            ..Default::default()
        }),
        ..Default::default()
    };
    let has_distance = steps.is_some()
        || distance_mm.is_some()
        || floors.is_some()
        || distance.elevation.is_some();

    let total = pick(&|r| r.total_calories.as_ref()?.kcal_sum);
    let active = pick(&|r| r.active_energy_burned.as_ref()?.kcal_sum);
    let calories = FullCaloriesData {
        total_burned_calories: total.map(round),
        net_activity_calories: active.map(round),
        // Google has no daily BMR value: total (basal included) minus active.
        bmr_calories: match (total, active) {
            (Some(t), Some(a)) if t >= a => Some(round(t - a)),
            _ => None,
        },
        ..Default::default()
    };
    let has_calories = total.is_some() || active.is_some();

    let level = |name: &str| {
        day.iter().find_map(|r| {
            r.active_minutes
                .as_ref()?
                .active_minutes_rollup_by_activity_level
                .iter()
                .find(|l| l.activity_level.as_deref() == Some(name))?
                .active_minutes_sum
                .map(|m| m.max(0.0) * 60.0)
        })
    };
    let (light, moderate, vigorous) = (level("LIGHT"), level("MODERATE"), level("VIGOROUS"));
    let active_secs = [light, moderate, vigorous]
        .into_iter()
        .flatten()
        .reduce(|a, b| a + b);
    let sedentary = day.iter().find_map(|r| {
        seconds(r.sedentary_period.as_ref()?.duration_sum.as_deref()?).map(|s| s.max(0.0))
    });
    let durations = FullActiveDurationsData {
        activity_seconds: active_secs,
        low_intensity_seconds: light,
        moderate_intensity_seconds: moderate,
        vigorous_intensity_seconds: vigorous,
        inactivity_seconds: sedentary,
        ..Default::default()
    };
    let has_durations = active_secs.is_some() || sedentary.is_some();

    let hr = day.iter().find_map(|r| r.heart_rate.as_ref());
    let zones: Vec<HeartRateZoneData> = day
        .iter()
        .find_map(|r| r.time_in_heart_rate_zone.as_ref())
        .map(|t| {
            t.time_in_heart_rate_zones
                .iter()
                .filter_map(|z| {
                    let name = z.heart_rate_zone.as_deref()?;
                    Some(HeartRateZoneData {
                        zone: Some(zone_number(name)?),
                        name: Some(name.to_string()),
                        duration_seconds: z.duration.as_deref().and_then(seconds),
                        ..Default::default()
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let on_day = |p: &&DataPoint| -> bool { daily_date(p) == Some(date) };
    let resting = daily
        .iter()
        .filter(on_day)
        .find_map(|p| p.daily_resting_heart_rate.as_ref()?.beats_per_minute)
        .filter(|b| *b > 0.0);
    let hrv = daily_hrv(daily, date);
    let summary = HeartRateDataSummary {
        avg_hr_bpm: hr.and_then(|h| h.beats_per_minute_avg),
        max_hr_bpm: hr.and_then(|h| h.beats_per_minute_max),
        min_hr_bpm: hr.and_then(|h| h.beats_per_minute_min),
        resting_hr_bpm: resting,
        avg_hrv_rmssd: hrv,
        hr_zone_data: zones,
        ..Default::default()
    };
    let has_heart = summary.avg_hr_bpm.is_some()
        || summary.max_hr_bpm.is_some()
        || summary.min_hr_bpm.is_some()
        || resting.is_some()
        || hrv.is_some()
        || !summary.hr_zone_data.is_empty();

    let spo2 = daily_spo2(daily, date);
    let vo2 = daily
        .iter()
        .filter(on_day)
        .find_map(|p| p.daily_vo2_max.as_ref()?.vo2_max)
        .filter(|v| *v > 0.0);
    let oxygen = (spo2.is_some() || vo2.is_some()).then(|| OxygenData {
        avg_saturation_percentage: spo2,
        vo2max_ml_per_min_per_kg: vo2,
        ..Default::default()
    });

    if !(has_distance || has_calories || has_durations || has_heart || oxygen.is_some()) {
        return None;
    }
    Some(Daily {
        metadata: DailyMetadata {
            start_time: day_start(date, offset),
            end_time: day_start(date.succ_opt().unwrap_or(date), offset),
            timestamp_localization: None,
            upload_type: UPLOAD_AUTOMATIC,
        },
        distance_data: has_distance.then_some(distance),
        calories_data: has_calories.then_some(calories),
        active_durations_data: has_durations.then_some(durations),
        heart_rate_data: has_heart.then_some(FullHeartRateData {
            summary: Some(summary),
            detailed: None,
        }),
        oxygen_data: oxygen,
        ..Default::default()
    })
}

/// Google's heart-rate zone → Terra's zone number.
fn zone_number(name: &str) -> Option<i64> {
    Some(match name {
        "LIGHT" => 1,
        "MODERATE" => 2,
        "VIGOROUS" => 3,
        "PEAK" => 4,
        _ => return None,
    })
}

/// The civil date of a daily-summary data point.
pub fn daily_date(p: &DataPoint) -> Option<NaiveDate> {
    let d = p
        .daily_resting_heart_rate
        .as_ref()
        .and_then(|x| x.date)
        .or_else(|| p.daily_heart_rate_variability.as_ref().and_then(|x| x.date))
        .or_else(|| p.daily_oxygen_saturation.as_ref().and_then(|x| x.date))
        .or_else(|| p.daily_respiratory_rate.as_ref().and_then(|x| x.date))
        .or_else(|| {
            p.daily_sleep_temperature_derivations
                .as_ref()
                .and_then(|x| x.date)
        })
        .or_else(|| p.daily_vo2_max.as_ref().and_then(|x| x.date))?;
    d.date()
}

fn daily_hrv(daily: &[DataPoint], date: NaiveDate) -> Option<f64> {
    daily
        .iter()
        .filter(|p| daily_date(p) == Some(date))
        .find_map(|p| {
            p.daily_heart_rate_variability
                .as_ref()?
                .average_heart_rate_variability_milliseconds
        })
        .filter(|v| *v > 0.0)
}

fn daily_spo2(daily: &[DataPoint], date: NaiveDate) -> Option<f64> {
    daily
        .iter()
        .filter(|p| daily_date(p) == Some(date))
        .find_map(|p| p.daily_oxygen_saturation.as_ref()?.average_percentage)
        .filter(|v| *v > 0.0)
}

// ---- sleep ----------------------------------------------------------------------------

/// One `sleep` data point. The main sleep of a day is enriched with that day's
/// daily summaries (`daily` = `daily-respiratory-rate`, `daily-oxygen-saturation`,
/// `daily-heart-rate-variability`, `daily-sleep-temperature-derivations` points, keyed by
/// the civil date the session ends on) and with the `respiratory-rate-sleep-summary`
/// sample taken within the session (any session). `None` without an id or interval.
pub fn map_sleep(p: &DataPoint, daily: &[DataPoint], breathing: &[DataPoint]) -> Option<Sleep> {
    let s = p.sleep.as_ref()?;
    let id = p.id()?;
    let start = s.interval.start()?;
    let end = s.interval.end()?;
    let summary = s.summary.as_ref();
    let mins = |m: Option<f64>| m.map(|m| m.max(0.0) * 60.0);
    let stage = |name: &str| {
        summary.and_then(|sm| {
            sm.stages_summary
                .iter()
                .find(|x| x.stage.as_deref() == Some(name))
        })
    };
    let asleep = AsleepDurations {
        duration_asleep_state_seconds: mins(summary.and_then(|x| x.minutes_asleep)),
        duration_light_sleep_state_seconds: mins(stage("LIGHT").and_then(|x| x.minutes)),
        duration_deep_sleep_state_seconds: mins(stage("DEEP").and_then(|x| x.minutes)),
        duration_rem_sleep_state_seconds: mins(stage("REM").and_then(|x| x.minutes)),
        num_rem_events: stage("REM").and_then(|x| x.count).map(round),
    };
    let short_interruptions: Option<f64> = (!s.short_awakenings.is_empty()).then(|| {
        s.short_awakenings
            .iter()
            .filter_map(|a| stage_span(a.start_time.as_deref(), a.end_time.as_deref()))
            .sum()
    });
    let awake = AwakeDurations {
        duration_awake_state_seconds: mins(summary.and_then(|x| x.minutes_awake)),
        num_wakeup_events: stage("AWAKE").and_then(|x| x.count).map(round),
        sleep_latency_seconds: mins(summary.and_then(|x| x.minutes_to_fall_asleep)),
        wake_up_latency_seconds: mins(summary.and_then(|x| x.minutes_after_wake_up)),
        num_out_of_bed_events: (!s.out_of_bed_segments.is_empty())
            .then_some(s.out_of_bed_segments.len() as i64),
        duration_short_interruption_seconds: short_interruptions,
        ..Default::default()
    };
    let in_bed = mins(summary.and_then(|x| x.minutes_in_sleep_period));
    // Not served by Google: Terra's definition, time asleep over time in bed.
    let efficiency = match (asleep.duration_asleep_state_seconds, in_bed) {
        (Some(a), Some(b)) if b > 0.0 => Some(((a / b) * 1000.0).round() / 10.0),
        _ => None,
    };
    let hypnogram: Vec<SleepHypnogramSample> = {
        let mut stages: Vec<_> = s
            .stages
            .iter()
            .filter_map(|st| {
                let t = local(st.start_time.as_deref()?, st.start_utc_offset.as_deref())?;
                Some((t, sleep_level(st.stage.as_deref())))
            })
            .collect();
        stages.sort_by_key(|(t, _)| *t);
        stages
            .into_iter()
            .map(|(t, level)| SleepHypnogramSample {
                timestamp: Some(format_time(t)),
                level: Some(level),
            })
            .collect()
    };
    let meta = s.metadata.as_ref();
    let main = meta.and_then(|m| m.main_sleep);
    let is_nap = meta.and_then(|m| m.nap).or(main.map(|m| !m));
    let manual = p.manual() || meta.and_then(|m| m.manually_edited) == Some(true);

    // Enrichment: the main sleep takes its night's daily summaries.
    let night = s
        .interval
        .civil_end_time
        .as_ref()
        .and_then(|c| c.date?.date())
        .unwrap_or_else(|| end.date_naive());
    let main_sleep = main.unwrap_or(is_nap != Some(true));
    let of_night = |f: &dyn Fn(&DataPoint) -> Option<f64>| -> Option<f64> {
        if !main_sleep {
            return None;
        }
        daily
            .iter()
            .filter(|p| daily_date(p) == Some(night))
            .find_map(f)
    };
    let breaths = breathing
        .iter()
        .filter_map(|b| {
            let r = b.respiratory_rate_sleep_summary.as_ref()?;
            let at = r.sample_time.local()?;
            (at >= start && at <= end).then_some(r.full_sleep_stats.as_ref()?.breaths_per_minute?)
        })
        .next()
        .or_else(|| of_night(&|p| p.daily_respiratory_rate.as_ref()?.breaths_per_minute));
    let spo2 = of_night(&|p| p.daily_oxygen_saturation.as_ref()?.average_percentage);
    let hrv = of_night(&|p| {
        p.daily_heart_rate_variability
            .as_ref()?
            .average_heart_rate_variability_milliseconds
    });
    let delta = of_night(&|p| {
        let t = p.daily_sleep_temperature_derivations.as_ref()?;
        Some(t.nightly_temperature_celsius? - t.baseline_temperature_celsius?)
    });
    let respiration = (breaths.is_some() || spo2.is_some()).then(|| RespirationData {
        breaths_data: breaths.map(|b| BreathsData {
            avg_breaths_per_min: Some(b),
            ..Default::default()
        }),
        oxygen_saturation_data: spo2.map(|s| OxygenSaturationData {
            avg_saturation_percentage: Some(s),
            ..Default::default()
        }),
        snoring_data: None,
    });
    Some(Sleep {
        metadata: SleepMetadata {
            start_time: format_time(start),
            end_time: format_time(end),
            is_nap,
            summary_id: Some(id.to_string()),
            timestamp_localization: None,
            upload_type: if manual {
                UPLOAD_MANUAL
            } else {
                UPLOAD_AUTOMATIC
            },
        },
        sleep_durations_data: Some(SleepDurationsData {
            asleep: Some(asleep),
            awake: Some(awake),
            hypnogram_samples: hypnogram,
            other: in_bed.map(|b| OtherSleepDurations {
                duration_in_bed_seconds: Some(b),
                duration_unmeasurable_sleep_seconds: None,
            }),
            sleep_efficiency: efficiency,
        }),
        respiration_data: respiration,
        heart_rate_data: hrv.map(|h| FullHeartRateData {
            summary: Some(HeartRateDataSummary {
                avg_hrv_rmssd: Some(h),
                ..Default::default()
            }),
            detailed: None,
        }),
        temperature_data: delta.map(|d| SleepTemperatureData {
            delta: Some((d * 100.0).round() / 100.0),
        }),
        device_data: full_device(p.device()),
        ..Default::default()
    })
}

/// The main and nap sessions of a list, without the copies mirrored sources add (the
/// same interval twice: the first, Google's order, is kept).
pub fn unique_sessions(points: &[DataPoint]) -> Vec<&DataPoint> {
    let mut seen: Vec<(&str, &str)> = Vec::new();
    let mut out = Vec::new();
    for p in points {
        let Some(SleepSession { interval, .. }) = p.sleep.as_ref() else {
            continue;
        };
        let key = (
            interval.start_time.as_deref().unwrap_or(""),
            interval.end_time.as_deref().unwrap_or(""),
        );
        if !seen.contains(&key) {
            seen.push(key);
            out.push(p);
        }
    }
    out
}

/// Google's sleep stage → Terra `SleepLevel`. Classic logs' `RESTLESS` counts as awake.
pub fn sleep_level(stage: Option<&str>) -> i64 {
    match stage {
        Some("AWAKE" | "RESTLESS") => SLEEP_AWAKE,
        Some("ASLEEP") => SLEEP_SLEEPING,
        Some("LIGHT") => SLEEP_LIGHT,
        Some("DEEP") => SLEEP_DEEP,
        Some("REM") => SLEEP_REM,
        _ => SLEEP_UNKNOWN,
    }
}

fn stage_span(start: Option<&str>, end: Option<&str>) -> Option<f64> {
    let s = DateTime::parse_from_rfc3339(start?).ok()?;
    let e = DateTime::parse_from_rfc3339(end?).ok()?;
    Some(((e - s).num_milliseconds() as f64 / 1000.0).max(0.0))
}

// ---- activity -------------------------------------------------------------------------

/// One `exercise` data point. `None` without an id or interval.
pub fn map_exercise(p: &DataPoint) -> Option<Activity> {
    let e = p.exercise.as_ref()?;
    let id = p.id()?;
    let start = e.interval.start()?;
    let end = e.interval.end()?;
    let m = e.metrics_summary.as_ref();
    let distance_mm = m.and_then(|m| m.distance_millimeters);
    let steps = m.and_then(|m| m.steps);
    let gain_mm = m.and_then(|m| m.elevation_gain_millimeters);
    let distance_data =
        (distance_mm.is_some() || steps.is_some() || gain_mm.is_some()).then(|| DistanceData {
            summary: Some(DistanceSummary {
                distance_meters: distance_mm.map(|mm| round(mm / 1000.0)),
                steps: steps.map(round),
                elevation: gain_mm.map(|mm| ElevationData {
                    gain_actual_meters: Some(thousandth(mm)),
                    max_meters: None,
                    min_meters: None,
                }),
            }),
        });
    let elapsed = ((end - start).num_milliseconds() as f64 / 1000.0).max(0.0);
    let active = e
        .active_duration
        .as_deref()
        .and_then(seconds)
        .map(|s| s.max(0.0));
    Some(Activity {
        metadata: ActivityMetadata {
            summary_id: id.to_string(),
            start_time: format_time(start),
            end_time: format_time(end),
            activity_type: activity_type(e.exercise_type.as_deref()),
            upload_type: if p.manual() {
                UPLOAD_MANUAL
            } else {
                UPLOAD_AUTOMATIC
            },
            name: e.display_name.clone().filter(|n| !n.trim().is_empty()),
            city: None,
            state: None,
            country: None,
        },
        distance_data,
        calories_data: m.and_then(|m| m.calories_kcal).map(|c| CaloriesData {
            total_burned_calories: Some(round(c)),
        }),
        heart_rate_data: m
            .and_then(|m| m.average_heart_rate_beats_per_minute)
            .filter(|h| *h > 0.0)
            .map(|h| HeartRateData {
                summary: Some(HeartRateSummary {
                    avg_hr_bpm: Some(h),
                    max_hr_bpm: None,
                }),
            }),
        movement_data: m
            .and_then(|m| m.average_speed_millimeters_per_second)
            .map(|v| MovementData {
                avg_speed_meters_per_second: Some(thousandth(v)),
                max_speed_meters_per_second: None,
                avg_cadence_rpm: None,
            }),
        active_durations_data: active.map(|a| ActiveDurationsData {
            activity_seconds: Some(a),
            rest_seconds: Some((elapsed - a).max(0.0)),
        }),
        power_data: None,
        device_data: p
            .device()
            .and_then(|d| d.display_name.clone())
            .filter(|n| !n.trim().is_empty())
            .map(|name| DeviceData { name: Some(name) }),
        polyline_map_data: None,
        work_data: None,
    })
}

/// Google `exerciseType` → Terra `ActivityType` code (the Fitbit table's codes; unknown
/// → OTHER, 108).
pub const EXERCISE_TYPES: &[(&str, i64)] = &[
    ("WALKING", 7),
    ("POWER_WALKING", 7),
    ("RUNNING", 8),
    ("TRAIL_RUN", 8),
    ("TREADMILL", 58),
    ("BIKING", 1),
    ("OUTDOOR_BIKE", 1),
    ("MOUNTAIN_BIKE", 1),
    ("SPINNING", 18),
    ("STATIONARY_BIKE", 18),
    ("HIKING", 35),
    ("SWIMMING", 82),
    ("SWIMMING_POOL", 82),
    ("SWIMMING_OPEN_WATER", 82),
    ("ELLIPTICAL", 25),
    ("YOGA", 100),
    ("PILATES", 49),
    ("WEIGHTS", 80),
    ("WEIGHTLIFTING", 80),
    ("FREE_WEIGHTS", 80),
    ("INTERVAL_WORKOUT", 114),
    ("HIIT", 114),
    ("TENNIS", 87),
    ("GOLF", 32),
    ("ROWING_MACHINE", 54),
    ("STAIRCLIMBER", 78),
    ("KAYAKING", 40),
    ("DANCING", 24),
];

pub fn activity_type(t: Option<&str>) -> i64 {
    let Some(t) = t else {
        return TERRA_OTHER;
    };
    let t = t.trim().to_ascii_uppercase();
    EXERCISE_TYPES
        .iter()
        .find(|(n, _)| *n == t)
        .map(|(_, c)| *c)
        .or_else(|| t.starts_with("YOGA").then_some(100))
        .unwrap_or(TERRA_OTHER)
}

// ---- body -----------------------------------------------------------------------------

/// One local day of body data from the day's samples (`weight`, `body-fat`,
/// `heart-rate-variability`, `oxygen-saturation`; other days' samples are ignored), the
/// user's latest `height` (any day) and the day's daily summaries
/// (`daily-heart-rate-variability`, `daily-oxygen-saturation`). `None` when there is
/// nothing for the day.
pub fn map_body(
    date: NaiveDate,
    offset: FixedOffset,
    samples: &[DataPoint],
    height: Option<&DataPoint>,
    daily: &[DataPoint],
) -> Option<Body> {
    let on_day = |t: Option<DateTime<FixedOffset>>| t.is_some_and(|t| t.date_naive() == date);
    let height_cm = height
        .and_then(|h| h.height.as_ref()?.height_millimeters)
        .filter(|mm| *mm > 0.0)
        .map(|mm| mm / 10.0);

    // One measurement per sample time: a scale's weight and body fat share theirs.
    let mut measurements: Vec<(String, MeasurementDataSample)> = Vec::new();
    let mut device: Option<&Device> = None;
    for p in samples {
        let (at, weight, fat, notes) = if let Some(w) = &p.weight {
            (w.sample_time.local(), w.weight_grams, None, w.notes.clone())
        } else if let Some(f) = &p.body_fat {
            (f.sample_time.local(), None, f.percentage, None)
        } else {
            continue;
        };
        let Some(at) = at.filter(|t| on_day(Some(*t))) else {
            continue;
        };
        let key = format_time(at);
        let idx = match measurements.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                measurements.push((
                    key.clone(),
                    MeasurementDataSample {
                        measurement_time: Some(key),
                        height_cm,
                        ..Default::default()
                    },
                ));
                measurements.len() - 1
            }
        };
        let m = &mut measurements[idx].1;
        if let Some(g) = weight.filter(|g| *g > 0.0) {
            m.weight_kg = Some(thousandth(g));
            device = device.or(p.device());
        }
        if fat.is_some() {
            m.bodyfat_percentage = fat;
        }
        if let Some(n) = notes.filter(|n| !n.trim().is_empty()) {
            m.user_notes = Some(n);
        }
    }
    measurements.sort_by(|a, b| a.0.cmp(&b.0));
    let measurements: Vec<MeasurementDataSample> =
        measurements.into_iter().map(|(_, m)| m).collect();

    let mut rmssd = Vec::new();
    let mut sdnn = Vec::new();
    let mut spo2 = Vec::new();
    for p in samples {
        if let Some(h) = &p.heart_rate_variability {
            let Some(at) = h.sample_time.local().filter(|t| on_day(Some(*t))) else {
                continue;
            };
            if let Some(v) = h.root_mean_square_of_successive_differences_milliseconds {
                rmssd.push((at, v));
            }
            if let Some(v) = h.standard_deviation_milliseconds {
                sdnn.push((at, v));
            }
        } else if let Some(o) = &p.oxygen_saturation {
            let Some(at) = o.sample_time.local().filter(|t| on_day(Some(*t))) else {
                continue;
            };
            if let Some(v) = o.percentage {
                spo2.push((at, v));
            }
        }
    }
    for v in [&mut rmssd, &mut sdnn, &mut spo2] {
        v.sort_by_key(|(t, _)| *t);
    }
    let avg_hrv = daily_hrv(daily, date);
    let heart = (avg_hrv.is_some() || !rmssd.is_empty() || !sdnn.is_empty()).then(|| HeartData {
        heart_rate_data: Some(FullHeartRateData {
            summary: avg_hrv.map(|h| HeartRateDataSummary {
                avg_hrv_rmssd: Some(h),
                ..Default::default()
            }),
            detailed: (!rmssd.is_empty() || !sdnn.is_empty()).then(|| HeartRateDataDetailed {
                hrv_samples_rmssd: rmssd
                    .iter()
                    .map(|(t, v)| HeartRateVariabilityDataSampleRmssd {
                        timestamp: Some(format_time(*t)),
                        hrv_rmssd: Some(*v),
                    })
                    .collect(),
                hrv_samples_sdnn: sdnn
                    .iter()
                    .map(|(t, v)| HeartRateVariabilityDataSampleSdnn {
                        timestamp: Some(format_time(*t)),
                        hrv_sdnn: Some(*v),
                    })
                    .collect(),
                ..Default::default()
            }),
        }),
        ..Default::default()
    });
    let avg_spo2 = daily_spo2(daily, date);
    let oxygen = (avg_spo2.is_some() || !spo2.is_empty()).then(|| OxygenData {
        avg_saturation_percentage: avg_spo2,
        saturation_samples: spo2
            .iter()
            .map(|(t, v)| OxygenSaturationSample {
                timestamp: Some(format_time(*t)),
                percentage: Some(*v),
                saturation_type: None,
            })
            .collect(),
        ..Default::default()
    });
    if measurements.is_empty() && heart.is_none() && oxygen.is_none() {
        return None;
    }
    Some(Body {
        metadata: BodyMetadata {
            start_time: day_start(date, offset),
            end_time: day_start(date.succ_opt().unwrap_or(date), offset),
            timestamp_localization: None,
        },
        measurements_data: (!measurements.is_empty()).then_some(MeasurementsData { measurements }),
        heart_data: heart,
        oxygen_data: oxygen,
        device_data: full_device(device),
        ..Default::default()
    })
}

// ---- helpers --------------------------------------------------------------------------

fn full_device(d: Option<&Device>) -> Option<FullDeviceData> {
    let d = d?;
    let name = d.display_name.clone().filter(|n| !n.trim().is_empty());
    let manufacturer = d.manufacturer.clone().filter(|n| !n.trim().is_empty());
    (name.is_some() || manufacturer.is_some()).then(|| FullDeviceData {
        name,
        manufacturer,
        ..Default::default()
    })
}

/// Local midnight of `date` at `offset`, ISO-8601.
pub fn day_start(date: NaiveDate, offset: FixedOffset) -> String {
    date.and_hms_opt(0, 0, 0)
        .and_then(|n| n.and_local_timezone(offset).single())
        .map(format_time)
        .unwrap_or_default()
}

/// ISO-8601 with offset, seconds precision.
pub fn format_time(t: DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

fn round(v: f64) -> i64 {
    v.round() as i64
}

/// `v / 1000` (millimeters → meters, grams → kilograms) without binary noise in the
/// printed value (six decimals).
fn thousandth(v: f64) -> f64 {
    (v / 1000.0 * 1e6).round() / 1e6
}

#[cfg(test)]
#[path = "mapping_tests.rs"]
mod tests;

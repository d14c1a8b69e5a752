//! Huawei records → Terra `Activity`, `Daily` and `Sleep`. Units: Huawei gives meters,
//! kcal, bpm, m/s and minutes (sleep stages), ms (activity times, `activeTime`) and ns
//! (sampling points, health records); Terra wants meters, kcal, bpm, m/s, seconds and
//! ISO-8601 with offset.

use chrono::FixedOffset;
use pulsegate_schema::stable_id;
use pulsegate_schema::terra::{
    ActiveDurationsData, Activity, ActivityMetadata, AsleepDurations, AwakeDurations, CaloriesData,
    Daily, DailyDistanceData, DailyMetadata, DeviceData, DistanceData, DistanceSummary,
    FullCaloriesData, FullHeartRateData, HeartRateData, HeartRateDataSummary, HeartRateSummary,
    MovementData, OtherSleepDurations, Sleep, SleepDurationsData, SleepHypnogramSample,
    SleepMetadata, SleepScores,
};

use super::model::{
    find_field, format_ms, ns_to_ms, parse_offset, utc, ActivityRecord, Group, HealthRecord,
    SamplePoint,
};

/// Terra `UploadType.UNKNOWN`: Huawei does not say whether data was entered by hand.
pub const UPLOAD_UNKNOWN: i64 = 0;
/// Terra's `OTHER` activity type.
pub const TERRA_OTHER: i64 = 108;

pub const DT_STEPS_TOTAL: &str = "com.huawei.continuous.steps.total";
pub const DT_DISTANCE_TOTAL: &str = "com.huawei.continuous.distance.total";
pub const DT_CALORIES_TOTAL: &str = "com.huawei.continuous.calories.burnt.total";
pub const DT_EXERCISE_HR: &str = "com.huawei.continuous.exercise_heart_rate.statistics";
pub const DT_HR_STATS: &str = "com.huawei.continuous.heart_rate.statistics";
pub const DT_SPEED: &str = "com.huawei.continuous.speed.statistics";
pub const DT_CADENCE: &str = "com.huawei.continuous.steps.rate.statistics";
pub const DT_SLEEP_RECORD: &str = "com.huawei.health.record.sleep";
pub const DT_SLEEP_FRAGMENT: &str = "com.huawei.continuous.sleep.fragment";

/// (Huawei REST `activityType`, Terra code, Terra name). Only the codes Huawei's
/// guides state are listed (basketball 5, hiking 30, walking 90, indoor walk 127);
/// everything else is `OTHER` until confirmed (docs/providers/huawei.md).
pub const ACTIVITY_TYPES: &[(i64, i64, &str)] = &[
    (5, 12, "BASKETBALL"),
    (30, 35, "HIKING"),
    (90, 7, "WALKING"),
    (127, 7, "WALKING"),
];

pub fn terra_activity_type(huawei: Option<i64>) -> i64 {
    huawei
        .and_then(|t| ACTIVITY_TYPES.iter().find(|(h, _, _)| *h == t))
        .map(|(_, terra, _)| *terra)
        .unwrap_or(TERRA_OTHER)
}

fn offset_of(tz: Option<&str>, fallback: Option<&str>) -> FixedOffset {
    tz.and_then(parse_offset)
        .or_else(|| fallback.and_then(parse_offset))
        .unwrap_or_else(utc)
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_ref().filter(|s| !s.trim().is_empty()).cloned()
}

fn positive(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite() && *x >= 0.0)
}

/// Maps one activity record. `None` without an id or a start time (nothing Terra could
/// identify). `fallback_tz` is the notification's `timeZone`.
pub fn map_activity(r: &ActivityRecord, fallback_tz: Option<&str>) -> Option<Activity> {
    let id = non_empty(&r.id)?;
    let start = r.start_time?;
    let offset = offset_of(r.time_zone.as_deref(), fallback_tz);
    let active_ms = r.active_time.filter(|a| *a >= 0);
    let end = r
        .end_time
        .filter(|e| *e >= start)
        .or_else(|| active_ms.map(|a| start.saturating_add(a)))
        .unwrap_or(start);
    let summary: &[SamplePoint] = r
        .activity_summary
        .as_ref()
        .map(|s| s.data_summary.as_slice())
        .unwrap_or(&[]);
    let f = |dt: &str, field: &str| positive(find_field(summary, dt, field));

    let distance = f(DT_DISTANCE_TOTAL, "distance").map(|m| m.round() as i64);
    let steps = f(DT_STEPS_TOTAL, "steps").map(|s| s.round() as i64);
    let distance_data = (distance.is_some() || steps.is_some()).then_some(DistanceData {
        summary: Some(DistanceSummary {
            distance_meters: distance,
            steps,
            elevation: None,
        }),
    });
    let calories_data = f(DT_CALORIES_TOTAL, "calories_total").map(|kcal| CaloriesData {
        total_burned_calories: Some(kcal.round() as i64),
    });
    let hr = HeartRateSummary {
        avg_hr_bpm: f(DT_EXERCISE_HR, "avg"),
        max_hr_bpm: f(DT_EXERCISE_HR, "max"),
    };
    let heart_rate_data = (hr.avg_hr_bpm.is_some() || hr.max_hr_bpm.is_some())
        .then_some(HeartRateData { summary: Some(hr) });
    let movement = MovementData {
        avg_speed_meters_per_second: f(DT_SPEED, "avg"),
        max_speed_meters_per_second: f(DT_SPEED, "max"),
        avg_cadence_rpm: f(DT_CADENCE, "avg"),
    };
    let movement_data = (movement.avg_speed_meters_per_second.is_some()
        || movement.max_speed_meters_per_second.is_some()
        || movement.avg_cadence_rpm.is_some())
    .then_some(movement);
    let active_durations_data = active_ms.map(|a| {
        let active = a as f64 / 1000.0;
        let elapsed = end.saturating_sub(start) as f64 / 1000.0;
        ActiveDurationsData {
            activity_seconds: Some(active),
            rest_seconds: Some((elapsed - active).max(0.0)),
        }
    });
    let device_data = r
        .app_info
        .as_ref()
        .and_then(|a| non_empty(&a.app_name))
        .map(|name| DeviceData { name: Some(name) });

    Some(Activity {
        metadata: ActivityMetadata {
            summary_id: id,
            start_time: format_ms(start, offset)?,
            end_time: format_ms(end, offset)?,
            activity_type: terra_activity_type(r.activity_type),
            upload_type: UPLOAD_UNKNOWN,
            name: non_empty(&r.name).or_else(|| non_empty(&r.desc)),
            city: None,
            state: None,
            country: None,
        },
        distance_data,
        calories_data,
        heart_rate_data,
        movement_data,
        active_durations_data,
        power_data: None,
        device_data,
        polyline_map_data: None,
        work_data: None,
    })
}

/// Maps one day of `sampleSet:polymerize` statistics (steps, distance, calories, heart
/// rate). `None` for a day without any of them.
pub fn map_daily(g: &Group, offset: FixedOffset) -> Option<Daily> {
    let points: Vec<&SamplePoint> = g
        .sample_set
        .iter()
        .flat_map(|s| s.sample_points.iter())
        .collect();
    let sum = |dt: &str, field: &str| -> Option<f64> {
        let vals: Vec<f64> = points
            .iter()
            .filter(|p| p.data_type_name == dt)
            .filter_map(|p| positive(p.field(field)))
            .collect();
        (!vals.is_empty()).then(|| vals.iter().sum())
    };
    let hr_vals = |field: &str| -> Vec<f64> {
        points
            .iter()
            .filter(|p| p.data_type_name == DT_HR_STATS)
            .filter_map(|p| positive(p.field(field)))
            .collect()
    };
    let steps = sum(DT_STEPS_TOTAL, "steps").map(|s| s.round() as i64);
    let distance = sum(DT_DISTANCE_TOTAL, "distance").map(|m| m.round() as i64);
    let kcal = sum(DT_CALORIES_TOTAL, "calories_total").map(|k| k.round() as i64);
    let (avg, max, min) = (hr_vals("avg"), hr_vals("max"), hr_vals("min"));
    let hr = HeartRateDataSummary {
        avg_hr_bpm: (!avg.is_empty()).then(|| avg.iter().sum::<f64>() / avg.len() as f64),
        max_hr_bpm: max.iter().cloned().reduce(f64::max),
        min_hr_bpm: min.iter().cloned().reduce(f64::min),
        ..Default::default()
    };
    let has_hr = hr.avg_hr_bpm.is_some() || hr.max_hr_bpm.is_some() || hr.min_hr_bpm.is_some();
    if steps.is_none() && distance.is_none() && kcal.is_none() && !has_hr {
        return None;
    }
    let start = g.start_time?;
    let end = g.end_time.filter(|e| *e >= start).unwrap_or(start);
    Some(Daily {
        metadata: DailyMetadata {
            start_time: format_ms(start, offset)?,
            end_time: format_ms(end, offset)?,
            timestamp_localization: None,
            upload_type: UPLOAD_UNKNOWN,
        },
        distance_data: (steps.is_some() || distance.is_some()).then_some(DailyDistanceData {
            steps,
            distance_meters: distance,
            ..Default::default()
        }),
        calories_data: kcal.map(|k| FullCaloriesData {
            total_burned_calories: Some(k),
            ..Default::default()
        }),
        heart_rate_data: has_hr.then_some(FullHeartRateData {
            summary: Some(hr),
            detailed: None,
        }),
        ..Default::default()
    })
}

/// Huawei sleep-fragment `sleep_state` → Terra `SleepLevel` (1 light → LIGHT 4,
/// 2 REM → REM 6, 3 deep → DEEP 5, 4 awake → AWAKE 1, 5 nap → SLEEPING 2).
pub fn terra_sleep_level(state: i64) -> i64 {
    match state {
        1 => 4,
        2 => 6,
        3 => 5,
        4 => 1,
        5 => 2,
        _ => 0,
    }
}

/// Maps one sleep health record. Stage durations are minutes; `fall_asleep_time`,
/// `wakeup_time`, `go_bed_time` and `off_bed_time` are ms timestamps.
pub fn map_sleep(r: &HealthRecord, fallback_tz: Option<&str>) -> Option<Sleep> {
    let offset = offset_of(r.time_zone.as_deref(), fallback_tz);
    let ts = |field: &str| r.field(field).filter(|v| *v > 0.0).map(|v| v as i64);
    let start = ts("fall_asleep_time").or(r.start_time.map(ns_to_ms))?;
    let end = ts("wakeup_time")
        .or(r.end_time.map(ns_to_ms))
        .filter(|e| *e >= start)
        .unwrap_or(start);
    let minutes = |field: &str| positive(r.field(field)).map(|m| m * 60.0);
    let asleep = AsleepDurations {
        duration_asleep_state_seconds: minutes("all_sleep_time"),
        duration_light_sleep_state_seconds: minutes("light_sleep_time"),
        duration_deep_sleep_state_seconds: minutes("deep_sleep_time"),
        duration_rem_sleep_state_seconds: minutes("dream_time"),
        num_rem_events: None,
    };
    let awake = AwakeDurations {
        duration_awake_state_seconds: minutes("awake_time"),
        num_wakeup_events: positive(r.field("wake_up_cnt")).map(|n| n.round() as i64),
        ..Default::default()
    };
    let in_bed = match (ts("go_bed_time"), ts("off_bed_time")) {
        (Some(a), Some(b)) if b >= a => Some(b.saturating_sub(a) as f64 / 1000.0),
        _ => None,
    };
    let hypnogram_samples: Vec<SleepHypnogramSample> = r
        .sub_points(DT_SLEEP_FRAGMENT)
        .iter()
        .filter_map(|p| {
            let level = terra_sleep_level(p.field("sleep_state")? as i64);
            Some(SleepHypnogramSample {
                timestamp: format_ms(ns_to_ms(p.start_time?), offset),
                level: Some(level),
            })
        })
        .collect();
    let has_asleep = asleep.duration_asleep_state_seconds.is_some()
        || asleep.duration_light_sleep_state_seconds.is_some()
        || asleep.duration_deep_sleep_state_seconds.is_some()
        || asleep.duration_rem_sleep_state_seconds.is_some();
    let has_awake =
        awake.duration_awake_state_seconds.is_some() || awake.num_wakeup_events.is_some();
    let efficiency = positive(r.field("sleep_efficiency"));
    let durations = SleepDurationsData {
        asleep: has_asleep.then_some(asleep),
        awake: has_awake.then_some(awake),
        other: in_bed.map(|s| OtherSleepDurations {
            duration_in_bed_seconds: Some(s),
            duration_unmeasurable_sleep_seconds: None,
        }),
        sleep_efficiency: efficiency,
        hypnogram_samples,
    };
    let has_durations = durations.asleep.is_some()
        || durations.awake.is_some()
        || durations.other.is_some()
        || durations.sleep_efficiency.is_some()
        || !durations.hypnogram_samples.is_empty();
    let summary_id = non_empty(&r.id).unwrap_or_else(|| {
        stable_id(&[
            "huawei",
            DT_SLEEP_RECORD,
            &start.to_string(),
            &end.to_string(),
        ])
    });
    Some(Sleep {
        metadata: SleepMetadata {
            start_time: format_ms(start, offset)?,
            end_time: format_ms(end, offset)?,
            summary_id: Some(summary_id),
            upload_type: UPLOAD_UNKNOWN,
            is_nap: None,
            timestamp_localization: None,
        },
        sleep_durations_data: has_durations.then_some(durations),
        scores: positive(r.field("sleep_score")).map(|s| SleepScores {
            sleep_score: Some(s),
        }),
        ..Default::default()
    })
}

#[cfg(test)]
#[path = "mapping_tests.rs"]
mod tests;

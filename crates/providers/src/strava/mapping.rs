//! Strava `DetailedActivity` → Terra `Activity`.

use chrono::{DateTime, Duration as ChronoDuration, FixedOffset, SecondsFormat, Utc};
use pulsegate_schema::terra::{
    ActiveDurationsData, Activity, ActivityMetadata, CaloriesData, DeviceData, DistanceData,
    DistanceSummary, ElevationData, HeartRateData, HeartRateSummary, MovementData, PolylineMapData,
    PowerData, WorkData,
};
use serde::Deserialize;

use super::sport::{terra_activity_type, terra_upload_type};
use crate::NormalizeError;

/// The part of Strava's `DetailedActivity` pulsegate maps (numbers are read as floats so
/// `4207` and `4207.0` both parse; unknown fields are ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DetailedActivity {
    pub id: Option<u64>,
    pub name: Option<String>,
    /// Meters.
    pub distance: Option<f64>,
    /// Seconds.
    pub moving_time: Option<f64>,
    /// Seconds.
    pub elapsed_time: Option<f64>,
    /// Meters.
    pub total_elevation_gain: Option<f64>,
    pub elev_high: Option<f64>,
    pub elev_low: Option<f64>,
    /// Deprecated by Strava in favour of `sport_type`, still sent.
    #[serde(rename = "type")]
    pub activity_type: Option<String>,
    pub sport_type: Option<String>,
    /// UTC, e.g. `2018-02-16T14:52:54Z`.
    pub start_date: Option<String>,
    /// Local wall time written with a `Z`, e.g. `2018-02-16T06:52:54Z`.
    pub start_date_local: Option<String>,
    /// e.g. `(GMT-08:00) America/Los_Angeles`.
    pub timezone: Option<String>,
    /// Seconds east of UTC at the activity's start (daylight saving applied).
    pub utc_offset: Option<f64>,
    pub manual: Option<bool>,
    /// Meters per second.
    pub average_speed: Option<f64>,
    pub max_speed: Option<f64>,
    pub average_cadence: Option<f64>,
    pub average_watts: Option<f64>,
    pub max_watts: Option<f64>,
    pub kilojoules: Option<f64>,
    /// Kilocalories.
    pub calories: Option<f64>,
    pub average_heartrate: Option<f64>,
    pub max_heartrate: Option<f64>,
    pub device_name: Option<String>,
    pub map: Option<PolylineMap>,
    pub location_city: Option<String>,
    pub location_state: Option<String>,
    pub location_country: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PolylineMap {
    pub summary_polyline: Option<String>,
}

/// Maps one activity. `object_id` (the notification's) is the summary id when the
/// activity itself carries none.
pub fn map_activity(a: &DetailedActivity, object_id: u64) -> Result<Activity, NormalizeError> {
    let start_utc = a.start_date.as_deref().and_then(parse_utc).ok_or_else(|| {
        NormalizeError::dropped("bad_response", "activity has no valid start_date")
    })?;
    let offset = activity_offset(a, start_utc);
    let elapsed = finite(a.elapsed_time)
        .or(finite(a.moving_time))
        .unwrap_or(0.0)
        .max(0.0);
    let end_utc = start_utc
        .checked_add_signed(ChronoDuration::seconds(elapsed.min(i32::MAX as f64) as i64))
        .unwrap_or(start_utc);

    let metadata = ActivityMetadata {
        summary_id: a.id.unwrap_or(object_id).to_string(),
        start_time: format_time(start_utc, offset),
        end_time: format_time(end_utc, offset),
        activity_type: terra_activity_type(a.sport_type.as_deref(), a.activity_type.as_deref()),
        upload_type: terra_upload_type(a.manual),
        name: non_empty(&a.name),
        city: non_empty(&a.location_city),
        state: non_empty(&a.location_state),
        country: non_empty(&a.location_country),
    };

    let elevation = ElevationData {
        gain_actual_meters: finite(a.total_elevation_gain),
        max_meters: finite(a.elev_high),
        min_meters: finite(a.elev_low),
    };
    let distance = DistanceSummary {
        distance_meters: finite(a.distance).map(round_i64),
        steps: None,
        elevation: some_if(elevation, |e| {
            e.gain_actual_meters.is_some() || e.max_meters.is_some() || e.min_meters.is_some()
        }),
    };
    let distance_data = some_if(distance, |d| {
        d.distance_meters.is_some() || d.elevation.is_some()
    })
    .map(|summary| DistanceData {
        summary: Some(summary),
    });

    let calories_data = calories_kcal(a).map(|kcal| CaloriesData {
        total_burned_calories: Some(kcal),
    });

    let heart_rate_data = some_if(
        HeartRateSummary {
            avg_hr_bpm: finite(a.average_heartrate),
            max_hr_bpm: finite(a.max_heartrate),
        },
        |h| h.avg_hr_bpm.is_some() || h.max_hr_bpm.is_some(),
    )
    .map(|summary| HeartRateData {
        summary: Some(summary),
    });

    let movement_data = some_if(
        MovementData {
            avg_speed_meters_per_second: finite(a.average_speed),
            max_speed_meters_per_second: finite(a.max_speed),
            avg_cadence_rpm: finite(a.average_cadence),
        },
        |m| {
            m.avg_speed_meters_per_second.is_some()
                || m.max_speed_meters_per_second.is_some()
                || m.avg_cadence_rpm.is_some()
        },
    );

    let moving = finite(a.moving_time).map(|m| m.max(0.0));
    let active_durations_data = moving.map(|moving| ActiveDurationsData {
        activity_seconds: Some(moving),
        rest_seconds: finite(a.elapsed_time).map(|e| (e - moving).max(0.0)),
    });

    let power_data = some_if(
        PowerData {
            avg_watts: finite(a.average_watts),
            max_watts: finite(a.max_watts),
        },
        |p| p.avg_watts.is_some() || p.max_watts.is_some(),
    );

    let device_data = non_empty(&a.device_name).map(|name| DeviceData { name: Some(name) });
    let polyline_map_data = a
        .map
        .as_ref()
        .and_then(|m| non_empty(&m.summary_polyline))
        .map(|p| PolylineMapData {
            summary_polyline: Some(p),
        });
    let work_data = finite(a.kilojoules).map(|kj| WorkData {
        work_kilojoules: Some(kj),
    });

    Ok(Activity {
        metadata,
        distance_data,
        calories_data,
        heart_rate_data,
        movement_data,
        active_durations_data,
        power_data,
        device_data,
        polyline_map_data,
        work_data,
    })
}

/// Strava's `calories` (kcal) when positive; otherwise the ride's `kilojoules` of
/// mechanical work, taken 1:1 as kcal burned (the usual cycling equivalence: ~4.18 kJ
/// per kcal cancels the body's ~24% efficiency).
fn calories_kcal(a: &DetailedActivity) -> Option<i64> {
    finite(a.calories)
        .filter(|c| *c > 0.0)
        .or_else(|| finite(a.kilojoules).filter(|k| *k > 0.0))
        .map(round_i64)
}

/// The athlete's UTC offset at the activity: `utc_offset`, else the difference between
/// `start_date_local` and `start_date`, else the `(GMT±hh:mm)` of `timezone`, else UTC.
pub fn activity_offset(a: &DetailedActivity, start_utc: DateTime<Utc>) -> FixedOffset {
    let from_field = finite(a.utc_offset).and_then(|s| offset_from_secs(s.round() as i64));
    let from_local = || {
        let local = a.start_date_local.as_deref().and_then(parse_utc)?;
        offset_from_secs((local - start_utc).num_seconds())
    };
    let from_tz = || a.timezone.as_deref().and_then(parse_gmt_offset);
    from_field
        .or_else(from_local)
        .or_else(from_tz)
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("UTC"))
}

/// `(GMT-08:00) America/Los_Angeles` → -08:00.
pub fn parse_gmt_offset(tz: &str) -> Option<FixedOffset> {
    let rest = &tz[tz.find("GMT")? + 3..];
    let sign = match rest.chars().next()? {
        '+' => 1,
        '-' => -1,
        _ => return None,
    };
    let digits = rest.get(1..6)?;
    let (h, m) = digits.split_once(':')?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    if m >= 60 {
        return None;
    }
    offset_from_secs(sign * (h * 3600 + m * 60))
}

fn offset_from_secs(secs: i64) -> Option<FixedOffset> {
    // Real offsets are within ±14h and whole minutes; anything else is noise.
    if secs.unsigned_abs() > 14 * 3600 || secs % 60 != 0 {
        return None;
    }
    FixedOffset::east_opt(secs as i32)
}

fn parse_utc(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// ISO-8601 with the athlete's offset, seconds precision: `2018-02-16T06:52:54-08:00`.
pub fn format_time(t: DateTime<Utc>, offset: FixedOffset) -> String {
    t.with_timezone(&offset)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

fn round_i64(v: f64) -> i64 {
    v.round() as i64
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_ref().filter(|s| !s.trim().is_empty()).cloned()
}

fn some_if<T>(v: T, keep: impl FnOnce(&T) -> bool) -> Option<T> {
    if keep(&v) {
        Some(v)
    } else {
        None
    }
}

#[cfg(test)]
#[path = "mapping_tests.rs"]
mod tests;

//! Writes to Fitbit (Web API, metric units: no `Accept-Language` is sent):
//!
//! * `POST /v2/body`: each measurement (`measurements_data.measurements[]`) with
//!   `weight_kg` → `POST /1/user/-/body/log/weight.json?weight=&date=&time=`, with
//!   `bodyfat_percentage` → `POST /1/user/-/body/log/fat.json?fat=&date=&time=`; one log
//!   id per measurement (Fitbit gives a weight and a fat log of the same time the same
//!   id; should they differ, the id is `weightId,fatId`).
//! * `DELETE /v2/body`: each id → `DELETE /1/user/-/body/log/weight/{id}.json` and
//!   `…/fat/{id}.json` (deleted if either was).
//! * `POST /v2/activity`: `POST /1/user/-/activities.json` (a custom activity:
//!   `activityName`, `manualCalories`, `startTime`, `durationMillis`, `date`, `distance`
//!   in km); `DELETE /v2/activity`: `DELETE /1/user/-/activities/{id}.json`.
//! * Nutrition: unsupported (see docs/providers/fitbit.md, "Writes").

use chrono::{DateTime, FixedOffset};
use http::Method;
use pulsegate_schema::{Connection, EventType, Provider};
use serde_json::Value;

use super::mapping::ACTIVITY_TYPES;
use super::FitbitClient;
use crate::api::Authorized;
use crate::http::form_encode;
use crate::strava::sport::TERRA_OTHER;
use crate::write::{self, after_partial, invalid, num_field, number, text, time};
use crate::{Ctx, NormalizeError, WriteOp, WriteResult};

const EP_WEIGHT_LOG: &str = "log_weight";
const EP_FAT_LOG: &str = "log_fat";
const EP_ACTIVITY_LOG: &str = "log_activity";
const EP_DELETE: &str = "delete_log";

/// The Fitbit calls for one Terra body measurement: weight and/or fat log paths (with
/// their query).
#[derive(Debug, PartialEq, Eq)]
pub struct BodyLog {
    pub weight: Option<String>,
    pub fat: Option<String>,
}

fn date_time(t: DateTime<FixedOffset>) -> (String, String) {
    (
        t.format("%Y-%m-%d").to_string(),
        t.format("%H:%M:%S").to_string(),
    )
}

/// The logs for Terra `Body` `b` (index `i`): one per measurement with a weight or a
/// body fat percentage; its time is `measurement_time`, else `metadata.start_time`
/// (the wall time as given: Fitbit logs in the user's local time).
pub fn body_logs(i: usize, b: &Value) -> Result<Vec<BodyLog>, NormalizeError> {
    let samples = write::at(b, &["measurements_data", "measurements"])
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut logs = Vec::new();
    for m in samples {
        let (weight, fat) = (
            number(m, &["weight_kg"]),
            number(m, &["bodyfat_percentage"]),
        );
        if weight.is_none() && fat.is_none() {
            continue;
        }
        let t = time(m, &["measurement_time"])
            .or_else(|| time(b, &["metadata", "start_time"]))
            .ok_or_else(|| {
                invalid(
                    i,
                    "measurement_time or metadata.start_time (ISO 8601) is required",
                )
            })?;
        let (date, clock) = date_time(t);
        let log = |kind: &str, v: f64| {
            let q = form_encode(&[(kind, &num_field(v)), ("date", &date), ("time", &clock)]);
            format!("/1/user/-/body/log/{kind}.json?{q}")
        };
        if weight.is_some_and(|w| w <= 0.0) || fat.is_some_and(|f| !(0.0..=100.0).contains(&f)) {
            return Err(invalid(
                i,
                "weight_kg must be positive and bodyfat_percentage within 0..100",
            ));
        }
        logs.push(BodyLog {
            weight: weight.map(|w| log("weight", w)),
            fat: fat.map(|f| log("fat", f)),
        });
    }
    if logs.is_empty() {
        return Err(invalid(
            i,
            "Fitbit takes measurements_data.measurements[] with weight_kg and/or bodyfat_percentage",
        ));
    }
    Ok(logs)
}

/// Fitbit's name for a Terra activity type code ("Run"), `Workout` when unknown.
pub fn activity_name(code: i64) -> String {
    let name = ACTIVITY_TYPES
        .iter()
        .find(|(_, c)| *c == code)
        .map(|(n, _)| *n)
        .unwrap_or("workout");
    let mut chars = name.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// `POST /1/user/-/activities.json?…` for Terra `Activity` `a` (index `i`).
pub fn activity_log(i: usize, a: &Value) -> Result<String, NormalizeError> {
    let start = time(a, &["metadata", "start_time"])
        .ok_or_else(|| invalid(i, "metadata.start_time (ISO 8601) is required"))?;
    let end = time(a, &["metadata", "end_time"])
        .ok_or_else(|| invalid(i, "metadata.end_time (ISO 8601) is required"))?;
    let millis = (end - start).num_milliseconds();
    if millis <= 0 {
        return Err(invalid(
            i,
            "metadata.end_time must be after metadata.start_time",
        ));
    }
    let calories = number(a, &["calories_data", "total_burned_calories"]).ok_or_else(|| {
        invalid(
            i,
            "calories_data.total_burned_calories is required (Fitbit's manualCalories)",
        )
    })?;
    let code = number(a, &["metadata", "type"]).map(|c| c.round() as i64);
    let name = match text(a, &["metadata", "name"]) {
        Some(n) => n.to_string(),
        None => activity_name(code.unwrap_or(TERRA_OTHER)),
    };
    let (date, _) = date_time(start);
    let (calories, millis) = (num_field(calories.max(0.0).round()), millis.to_string());
    let start_time = start.format("%H:%M").to_string();
    let mut q = vec![
        ("activityName", name.as_str()),
        ("manualCalories", calories.as_str()),
        ("startTime", start_time.as_str()),
        ("durationMillis", millis.as_str()),
        ("date", date.as_str()),
    ];
    let km = number(a, &["distance_data", "summary", "distance_meters"])
        .filter(|m| *m > 0.0)
        .map(|m| num_field(m / 1000.0));
    if let Some(km) = &km {
        q.push(("distance", km));
    }
    Ok(format!("/1/user/-/activities.json?{}", form_encode(&q)))
}

/// `logId` of `{"<key>": {"logId": …}}`.
fn log_id(body: &[u8], key: &str) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    match v.get(key)?.get("logId")? {
        Value::Number(n) => n
            .as_u64()
            .map(|n| n.to_string())
            .or_else(|| n.as_f64().map(|f| format!("{f:.0}"))),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

enum Sent {
    Ok(bytes::Bytes),
    Status(u16),
    ConnectionError(&'static str),
}

async fn send(
    client: &FitbitClient,
    conn: &Connection,
    ctx: &Ctx,
    endpoint: &'static str,
    method: Method,
    path: &str,
) -> Result<Sent, NormalizeError> {
    let url = client.url(path);
    Ok(
        match client
            .api
            .write_authorized(conn, ctx, endpoint, method, &url, None)
            .await?
        {
            Authorized::Ok(body) => Sent::Ok(body),
            Authorized::NotFound => Sent::Status(404),
            Authorized::ConnectionError(m) => Sent::ConnectionError(m),
        },
    )
}

/// A created log's id, or why there is none.
async fn create(
    client: &FitbitClient,
    conn: &Connection,
    ctx: &Ctx,
    endpoint: &'static str,
    path: &str,
    key: &str,
) -> Result<Result<String, &'static str>, NormalizeError> {
    match send(client, conn, ctx, endpoint, Method::POST, path).await? {
        Sent::Ok(body) => log_id(&body, key).map(Ok).ok_or_else(|| {
            NormalizeError::dropped(
                "bad_response",
                format!("Fitbit {endpoint}: no {key}.logId in the answer"),
            )
        }),
        Sent::Status(s) => Err(NormalizeError::dropped(
            "api_rejected",
            format!("Fitbit answered HTTP {s} for {endpoint}"),
        )),
        Sent::ConnectionError(m) => Ok(Err(m)),
    }
}

/// Fitbit log ids are numbers: anything else is refused before it reaches a URL.
fn check_ids(ids: &[String]) -> Result<(), NormalizeError> {
    for (i, id) in ids.iter().enumerate() {
        let ok = !id.is_empty()
            && id
                .split(',')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            return Err(NormalizeError::dropped(
                write::INVALID,
                format!("log_ids[{i}]: not a Fitbit log id"),
            ));
        }
    }
    Ok(())
}

/// Runs `op` for `conn` at Fitbit.
pub async fn write(
    client: &FitbitClient,
    conn: &Connection,
    ctx: &Ctx,
    op: WriteOp,
) -> Result<WriteResult, NormalizeError> {
    match &op {
        WriteOp::Post {
            data_type: EventType::Body,
            data,
        } => {
            let logs: Vec<BodyLog> = data
                .iter()
                .enumerate()
                .map(|(i, b)| body_logs(i, b))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .flatten()
                .collect();
            let mut ids: Vec<String> = Vec::new();
            for log in &logs {
                let mut got = Vec::new();
                for (path, endpoint, key) in [
                    (&log.weight, EP_WEIGHT_LOG, "weightLog"),
                    (&log.fat, EP_FAT_LOG, "fatLog"),
                ] {
                    let Some(path) = path else { continue };
                    match create(client, conn, ctx, endpoint, path, key).await {
                        Ok(Ok(id)) => got.push(id),
                        Ok(Err(m)) if ids.is_empty() && got.is_empty() => {
                            return Ok(WriteResult::ConnectionError(m))
                        }
                        Ok(Err(m)) => {
                            ids.extend(got);
                            let e = NormalizeError::dropped("connection_error", m);
                            return Err(after_partial(e, &ids));
                        }
                        Err(e) => {
                            ids.extend(got);
                            return Err(after_partial(e, &ids));
                        }
                    }
                }
                got.dedup();
                ids.push(got.join(","));
            }
            Ok(WriteResult::Created(ids))
        }
        WriteOp::Post {
            data_type: EventType::Activity,
            data,
        } => {
            let paths = data
                .iter()
                .enumerate()
                .map(|(i, a)| activity_log(i, a))
                .collect::<Result<Vec<_>, _>>()?;
            let mut ids = Vec::new();
            for path in &paths {
                match create(client, conn, ctx, EP_ACTIVITY_LOG, path, "activityLog").await {
                    Ok(Ok(id)) => ids.push(id),
                    Ok(Err(m)) if ids.is_empty() => return Ok(WriteResult::ConnectionError(m)),
                    Ok(Err(m)) => {
                        let e = NormalizeError::dropped("connection_error", m);
                        return Err(after_partial(e, &ids));
                    }
                    Err(e) => return Err(after_partial(e, &ids)),
                }
            }
            Ok(WriteResult::Created(ids))
        }
        WriteOp::Delete {
            data_type: t @ (EventType::Body | EventType::Activity),
            ids,
        } => {
            check_ids(ids)?;
            let kinds: &[&str] = if *t == EventType::Body {
                &["body/log/weight", "body/log/fat"]
            } else {
                &["activities"]
            };
            let mut processed = Vec::with_capacity(ids.len());
            for id in ids {
                let mut best = 404u16;
                for part in id.split(',') {
                    for kind in kinds {
                        let path = format!("/1/user/-/{kind}/{part}.json");
                        match send(client, conn, ctx, EP_DELETE, Method::DELETE, &path).await? {
                            Sent::Ok(_) => best = 204,
                            Sent::Status(s) if best != 204 => best = s,
                            Sent::Status(_) => {}
                            Sent::ConnectionError(m) => return Ok(WriteResult::ConnectionError(m)),
                        }
                    }
                }
                processed.push((id.clone(), best));
            }
            Ok(WriteResult::Deleted(processed))
        }
        WriteOp::Post {
            data_type: EventType::Nutrition,
            ..
        }
        | WriteOp::Delete {
            data_type: EventType::Nutrition,
            ..
        } => Err(write::unsupported(
            Provider::Fitbit,
            &op,
            "Terra's meal type and quantity unit codes have no exact Fitbit mealTypeId/unitId",
        )),
        _ => Err(write::unsupported(Provider::Fitbit, &op, "")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fitbit::mapping::activity_type;
    use serde_json::json;

    #[test]
    fn terra_body_to_fitbit_weight_and_fat_logs() {
        let b = json!({"metadata": {"start_time": "2026-03-01T00:00:00+01:00", "end_time": "2026-03-02T00:00:00+01:00"},
        "measurements_data": {"measurements": [
            {"measurement_time": "2026-03-01T07:58:14+01:00", "weight_kg": 72.5, "bodyfat_percentage": 14.5},
            {"weight_kg": 72.6},
            {"height_cm": 180.0},
        ]}});
        let logs = body_logs(0, &b).unwrap();
        assert_eq!(
            logs,
            vec![
                BodyLog {
                    weight: Some(
                        "/1/user/-/body/log/weight.json?weight=72.5&date=2026-03-01&time=07%3A58%3A14"
                            .into()
                    ),
                    fat: Some(
                        "/1/user/-/body/log/fat.json?fat=14.5&date=2026-03-01&time=07%3A58%3A14"
                            .into()
                    ),
                },
                BodyLog {
                    weight: Some(
                        "/1/user/-/body/log/weight.json?weight=72.6&date=2026-03-01&time=00%3A00%3A00"
                            .into()
                    ),
                    fat: None,
                },
            ]
        );
        for (bad, needle) in [
            (json!({"metadata": {}}), "weight_kg"),
            (
                json!({"measurements_data": {"measurements": [{"weight_kg": 70}]}}),
                "measurement_time",
            ),
            (
                json!({"measurements_data": {"measurements": [{"measurement_time": "2026-03-01T07:00:00Z", "bodyfat_percentage": 140}]}}),
                "0..100",
            ),
        ] {
            let e = body_logs(2, &bad).unwrap_err();
            let m = e.to_string();
            assert!(m.contains("data[2]") && m.contains(needle), "{bad}: {m}");
        }
    }

    #[test]
    fn terra_activity_to_fitbit_activity_log() {
        let a = json!({"metadata": {"type": 8.0, "start_time": "2026-03-01T07:30:00-05:00",
            "end_time": "2026-03-01T08:15:00-05:00"},
            "calories_data": {"total_burned_calories": 412.4},
            "distance_data": {"summary": {"distance_meters": 8046.7}}});
        assert_eq!(
            activity_log(0, &a).unwrap(),
            "/1/user/-/activities.json?activityName=Run&manualCalories=412&startTime=07%3A30&durationMillis=2700000&date=2026-03-01&distance=8.047"
        );
        let named = json!({"metadata": {"name": "Evening swim", "type": 82, "start_time": "2026-03-01T19:00:00Z",
            "end_time": "2026-03-01T19:30:00Z"}, "calories_data": {"total_burned_calories": 300}});
        assert!(activity_log(0, &named)
            .unwrap()
            .contains("activityName=Evening+swim&manualCalories=300"));
        let no_calories = json!({"metadata": {"type": 8, "start_time": "2026-03-01T19:00:00Z",
            "end_time": "2026-03-01T19:30:00Z"}});
        assert!(activity_log(0, &no_calories)
            .unwrap_err()
            .to_string()
            .contains("total_burned_calories"));
        // Names written read back as the same Terra type.
        for (_, code) in ACTIVITY_TYPES {
            assert_eq!(activity_type(Some(&activity_name(*code))), *code);
        }
        assert_eq!(activity_name(999), "Workout");
    }

    #[test]
    fn log_ids_and_their_checks() {
        assert_eq!(
            log_id(
                br#"{"weightLog":{"logId":1330991999000,"weight":73}}"#,
                "weightLog"
            ),
            Some("1330991999000".into())
        );
        assert_eq!(log_id(br#"{"fatLog":{}}"#, "fatLog"), None);
        assert!(check_ids(&["1330991999000".into(), "1,2".into()]).is_ok());
        for bad in ["", "1/../2", "12a", "1,"] {
            assert!(check_ids(&[bad.into()]).is_err(), "{bad}");
        }
    }
}

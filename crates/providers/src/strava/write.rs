//! Writes to Strava: `POST /v2/activity` creates manual activities (Strava's
//! `createActivity`, `POST /api/v3/activities`). Strava's API has no way to delete an
//! activity, nor any other data type pulsegate maps, so everything else is unsupported.
//! See docs/providers/strava.md ("Writes").

use pulsegate_schema::{Connection, EventType, Provider};
use serde_json::Value;

use super::sport::{is_trainer, strava_sport_type, TERRA_OTHER};
use super::StravaClient;
use crate::api::Authorized;
use crate::write::{self, after_partial, invalid, num_field, number, text, time};
use crate::{Ctx, NormalizeError, WriteOp, WriteResult};

/// Strava's form fields for one Terra `Activity` (index `i` of the request):
/// `name`, `sport_type`, `start_date_local`, `elapsed_time`, `trainer`, `commute`, and
/// when given `distance` and `description`.
pub fn create_form(i: usize, a: &Value) -> Result<Vec<(&'static str, String)>, NormalizeError> {
    let start = time(a, &["metadata", "start_time"])
        .ok_or_else(|| invalid(i, "metadata.start_time (ISO 8601) is required"))?;
    let elapsed = match time(a, &["metadata", "end_time"]) {
        Some(end) => (end - start).num_seconds(),
        None => number(a, &["active_durations_data", "activity_seconds"])
            .map(|s| s.round() as i64)
            .unwrap_or(0),
    };
    if elapsed <= 0 {
        return Err(invalid(
            i,
            "metadata.end_time must be after metadata.start_time (Strava needs a duration)",
        ));
    }
    let code = number(a, &["metadata", "type"])
        .map(|c| c.round() as i64)
        .unwrap_or(TERRA_OTHER);
    let sport = strava_sport_type(code);
    let name = text(a, &["metadata", "name"]).unwrap_or(sport);
    // Terra's time carries the athlete's offset: its wall time is Strava's local time.
    let mut fields = vec![
        ("name", name.to_string()),
        ("sport_type", sport.to_string()),
        (
            "start_date_local",
            start.format("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        ),
        ("elapsed_time", elapsed.to_string()),
        (
            "trainer",
            if is_trainer(code) { "1" } else { "0" }.to_string(),
        ),
        ("commute", "0".to_string()),
    ];
    if let Some(d) = number(a, &["distance_data", "summary", "distance_meters"]) {
        if d < 0.0 {
            return Err(invalid(i, "distance_meters must not be negative"));
        }
        fields.push(("distance", num_field(d)));
    }
    if let Some(d) = text(a, &["metadata", "description"]) {
        fields.push(("description", d.to_string()));
    }
    Ok(fields)
}

/// Runs `op` for `conn` at Strava.
pub async fn write(
    client: &StravaClient,
    conn: &Connection,
    ctx: &Ctx,
    op: WriteOp,
) -> Result<WriteResult, NormalizeError> {
    let data = match &op {
        WriteOp::Post {
            data_type: EventType::Activity,
            data,
        } => data,
        WriteOp::Delete {
            data_type: EventType::Activity,
            ..
        } => {
            return Err(write::unsupported(
                Provider::Strava,
                &op,
                "Strava's API has no way to delete an activity",
            ))
        }
        _ => {
            return Err(write::unsupported(
                Provider::Strava,
                &op,
                "Strava's API only creates activities",
            ))
        }
    };
    // Every object is checked before anything is written.
    let forms = data
        .iter()
        .enumerate()
        .map(|(i, a)| create_form(i, a))
        .collect::<Result<Vec<_>, _>>()?;
    let mut ids = Vec::with_capacity(forms.len());
    for (i, form) in forms.iter().enumerate() {
        let created = match client.create_activity(conn, ctx, form).await {
            Ok(Authorized::Ok(a)) => a,
            Ok(Authorized::ConnectionError(m)) if ids.is_empty() => {
                return Ok(WriteResult::ConnectionError(m))
            }
            Ok(Authorized::ConnectionError(m)) => {
                let e = NormalizeError::dropped("connection_error", m);
                return Err(after_partial(e, &ids));
            }
            Ok(Authorized::NotFound) => {
                let e = NormalizeError::dropped("api_rejected", "Strava answered HTTP 404");
                return Err(after_partial(e, &ids));
            }
            Err(e) => return Err(after_partial(e, &ids)),
        };
        let Some(id) = created.id else {
            let e = invalid(i, "Strava answered without the created activity's id");
            return Err(after_partial(
                NormalizeError::dropped("bad_response", e.to_string()),
                &ids,
            ));
        };
        tracing::info!(activity_id = id, "activity created at Strava");
        ids.push(id.to_string());
    }
    Ok(WriteResult::Created(ids))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field<'a>(f: &'a [(&str, String)], k: &str) -> Option<&'a str> {
        f.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn terra_activity_to_strava_form() {
        // As terra-python sends it: pydantic floats for the codes.
        let a = json!({
            "metadata": {"summary_id": "x", "name": "Morning run", "type": 8.0, "upload_type": 2.0,
                "start_time": "2026-03-01T07:30:00+01:00", "end_time": "2026-03-01T08:15:30+01:00"},
            "distance_data": {"summary": {"distance_meters": 10000.0}},
        });
        let f = create_form(0, &a).unwrap();
        assert_eq!(field(&f, "name"), Some("Morning run"));
        assert_eq!(field(&f, "sport_type"), Some("Run"));
        assert_eq!(
            field(&f, "start_date_local"),
            Some("2026-03-01T07:30:00+01:00")
        );
        assert_eq!(field(&f, "elapsed_time"), Some("2730"));
        assert_eq!(field(&f, "distance"), Some("10000"));
        assert_eq!(field(&f, "trainer"), Some("0"));
        assert_eq!(field(&f, "commute"), Some("0"));
        assert_eq!(field(&f, "description"), None);

        // No name: the sport's; indoor: trainer; duration from active seconds.
        let indoor = json!({"metadata": {"type": 18, "start_time": "2026-03-01T18:00:00Z",
            "description": "zwift"}, "active_durations_data": {"activity_seconds": 1800}});
        let f = create_form(0, &indoor).unwrap();
        assert_eq!(field(&f, "name"), Some("VirtualRide"));
        assert_eq!(field(&f, "sport_type"), Some("VirtualRide"));
        assert_eq!(field(&f, "trainer"), Some("1"));
        assert_eq!(field(&f, "elapsed_time"), Some("1800"));
        assert_eq!(field(&f, "description"), Some("zwift"));
        assert_eq!(field(&f, "distance"), None);
        assert_eq!(
            field(&f, "start_date_local"),
            Some("2026-03-01T18:00:00+00:00")
        );

        // Unknown type: Workout.
        let other = json!({"metadata": {"type": 999, "start_time": "2026-03-01T18:00:00Z",
            "end_time": "2026-03-01T18:10:00Z"}});
        assert_eq!(
            field(&create_form(0, &other).unwrap(), "sport_type"),
            Some("Workout")
        );
    }

    #[test]
    fn unusable_activities_are_refused_naming_the_field() {
        for (a, needle) in [
            (json!({"metadata": {"type": 8}}), "start_time"),
            (
                json!({"metadata": {"start_time": "yesterday", "end_time": "2026-03-01T08:00:00Z"}}),
                "start_time",
            ),
            (
                json!({"metadata": {"start_time": "2026-03-01T08:00:00Z", "end_time": "2026-03-01T08:00:00Z"}}),
                "end_time",
            ),
            (
                json!({"metadata": {"start_time": "2026-03-01T08:00:00Z"}}),
                "end_time",
            ),
            (
                json!({"metadata": {"start_time": "2026-03-01T08:00:00Z", "end_time": "2026-03-01T09:00:00Z"},
                    "distance_data": {"summary": {"distance_meters": -1}}}),
                "distance",
            ),
        ] {
            let e = create_form(3, &a).unwrap_err();
            assert!(
                matches!(&e, NormalizeError::Dropped { reason: write::INVALID, detail } if detail.starts_with("data[3]") && detail.contains(needle)),
                "{a}: {e}"
            );
        }
    }
}

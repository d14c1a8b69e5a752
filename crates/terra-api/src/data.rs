//! The data endpoints: `GET /v2/{activity,athlete,body,daily,menstruation,nutrition,
//! sleep}`. Parameters are checked here; the data comes from backfill ([`HistoricalData`]):
//! inline (`to_webhook=false`) or sent to the destinations with a `reference`
//! (`to_webhook=true`, the default), over Terra's `[start_date, end_date)`. A data type
//! the user's provider does not give (its registry descriptor, as in
//! `/v2/integrations/detailed`) answers Terra's `NoDataReturned` ([`not_available`]),
//! as does backfill's `Unsupported`. Writes are in [`crate::write`]; planned workouts
//! are not supported: [`unsupported`] answers 501 naming the operation and the provider.
//!
//! [`HistoricalData`]: crate::HistoricalData

use axum::extract::{Extension, RawQuery, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use pulsegate_connect::terra_user;
use pulsegate_schema::terra::User;
use pulsegate_schema::{ConnectionStatus, EventType};
use serde_json::json;

use crate::auth::DevId;
use crate::ports::BackfillFailure;
use crate::{integrations, terra_error, Api, Query};

macro_rules! data_endpoint {
    ($name:ident, $t:expr) => {
        pub(crate) async fn $name(
            State(api): State<Api>,
            Extension(dev): Extension<DevId>,
            RawQuery(q): RawQuery,
        ) -> Response {
            fetch(&api, &dev, q.as_deref(), $t).await
        }
    };
}

data_endpoint!(activity, EventType::Activity);
data_endpoint!(athlete, EventType::Athlete);
data_endpoint!(body, EventType::Body);
data_endpoint!(daily, EventType::Daily);
data_endpoint!(menstruation, EventType::Menstruation);
data_endpoint!(nutrition, EventType::Nutrition);
data_endpoint!(sleep, EventType::Sleep);

fn bad(message: impl Into<String>) -> Response {
    terra_error(StatusCode::BAD_REQUEST, message)
}

/// `YYYY-MM-DD` (00:00 UTC), an ISO 8601 / RFC 3339 date-time (a naive one is UTC), or
/// unix seconds: the instant it names.
pub(crate) fn parse_instant(v: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Some(d.and_time(NaiveTime::MIN).and_utc());
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(v) {
        return Some(dt.with_timezone(&Utc));
    }
    if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(dt.and_utc());
    }
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        let secs: i64 = v.parse().ok()?;
        return DateTime::from_timestamp(secs, 0);
    }
    None
}

/// The UTC date of [`parse_instant`] (what the tests state the formats with).
#[cfg(test)]
pub(crate) fn parse_date(v: &str) -> Option<NaiveDate> {
    parse_instant(v).map(|dt| dt.date_naive())
}

/// The days `[start, end)` to fetch, as Terra reads `start_date` and `end_date`: the end
/// is exclusive (`end_date=2026-01-03` stops at 2026-01-03T00:00Z). `end_date` equal to
/// `start_date` asks for the one day from `start_date` (Terra's documented reading of
/// that request); no `end_date`: through today (UTC). The backfill port takes dates, so
/// a date-time widens to the whole UTC days it touches: its start to 00:00 of its day,
/// an end after 00:00 to the next midnight.
pub(crate) fn date_range(q: &Query, today: NaiveDate) -> Result<(NaiveDate, NaiveDate), Response> {
    const FORMAT: &str = "expected YYYY-MM-DD or a unix timestamp in seconds";
    let one_day = |d: NaiveDate| {
        d.checked_add_days(Days::new(1))
            .ok_or_else(|| bad(format!("end_date: {FORMAT}")))
    };
    let start = match q.get("start_date") {
        None => return Err(bad("start_date is required")),
        Some(v) => parse_instant(v).ok_or_else(|| bad(format!("start_date: {FORMAT}")))?,
    };
    let start_day = start.date_naive();
    let end = match q.get("end_date") {
        None => return Ok((start_day, one_day(today.max(start_day))?)),
        Some(v) => parse_instant(v).ok_or_else(|| bad(format!("end_date: {FORMAT}")))?,
    };
    if end < start {
        return Err(bad("end_date must not be before start_date"));
    }
    let end_day = if end == start || end.time() != NaiveTime::MIN {
        one_day(end.date_naive())?
    } else {
        end.date_naive()
    };
    Ok((start_day, end_day))
}

/// Terra's `NoDataReturned` (terra-python `terra/types/no_data_returned.py`): the data
/// type is not one the user's provider gives (its descriptor does not list it, or
/// backfill has no mapping for it). 200, for `to_webhook` true and false alike. The
/// athlete endpoint's union is discriminated by `type`, so it carries `"no_data"`
/// (`AthleteFetchResponse_NoData`); the others have no `type` (NoDataReturned has none).
pub(crate) fn not_available(athlete: bool, user: &User) -> Response {
    let mut body = json!({
        "status": "error",
        "message": NOT_AVAILABLE,
        "user": user,
    });
    if athlete {
        body["type"] = json!("no_data");
    }
    Json(body).into_response()
}

/// Terra's message for a data type the provider does not give.
pub(crate) const NOT_AVAILABLE: &str = "Data type requested not available from provider";

async fn fetch(api: &Api, dev: &DevId, q: Option<&str>, t: EventType) -> Response {
    let q = Query::parse(q);
    let Some(user_id) = q.get("user_id") else {
        return bad("user_id is required");
    };
    let today = Utc::now().date_naive();
    let (start, end) = if t == EventType::Athlete {
        // The profile has no dates: "now".
        (today, today + Days::new(1))
    } else {
        match date_range(&q, today) {
            Ok(r) => r,
            Err(resp) => return resp,
        }
    };
    let (to_webhook, with_samples) =
        match (q.flag("to_webhook", true), q.flag("with_samples", false)) {
            (Ok(w), Ok(s)) => (w, s),
            (Err(resp), _) | (_, Err(resp)) => return resp,
        };
    let Some(conn) = dev.user(api, user_id) else {
        return terra_error(StatusCode::NOT_FOUND, "user not found");
    };
    if conn.status != ConnectionStatus::Active {
        return bad("the user is deauthenticated");
    }
    let (provider, type_name) = (conn.provider.terra_name(), t.as_str());
    let user = terra_user(&conn);
    // What the provider cannot give is answered before anything else about it (the
    // registry's descriptor: the same source as `/v2/integrations/detailed`'s `types`).
    if !integrations::provides(conn.provider, t) {
        return not_available(t == EventType::Athlete, &user);
    }
    if !api.state.integration_enabled(conn.provider) {
        return bad(format!("the {provider} integration is not enabled"));
    }
    if !api.state.integration_wants(conn.provider, type_name) {
        return bad(format!("{type_name} data is not enabled for {provider}"));
    }
    let Some(backfill) = api.backfill.as_ref() else {
        return terra_error(
            StatusCode::NOT_IMPLEMENTED,
            format!(
                "fetching {type_name} data on request is not available in this pulsegate build"
            ),
        );
    };
    if to_webhook {
        return match backfill.request(&conn, t, start, end, with_samples).await {
            Ok(reference) => {
                tracing::info!(%user_id, data_type = type_name, %reference, "backfill requested");
                Json(json!({
                    "status": "success",
                    // terra-python tells the athlete answers apart by `type`.
                    "type": if t == EventType::Athlete { "webhook" } else { type_name },
                    "user": user,
                    "reference": reference,
                    "message": "the data is being fetched and will be sent to your webhook",
                }))
                .into_response()
            }
            Err(e) => failure(e, &user),
        };
    }
    match backfill.fetch(&conn, t, start, end, with_samples).await {
        Ok(data) if t == EventType::Athlete => match data.into_iter().next() {
            Some(athlete) => Json(json!({
                "status": "success", "type": "athlete", "user": user, "athlete": athlete,
            }))
            .into_response(),
            None => Json(json!({
                "status": "success", "type": "no_data", "user": user,
                "message": "the provider returned no athlete data",
            }))
            .into_response(),
        },
        Ok(data) => Json(json!({
            "status": "success", "type": type_name, "user": user, "data": data,
        }))
        .into_response(),
        Err(e) => failure(e, &user),
    }
}

pub(crate) fn failure(e: BackfillFailure, user: &User) -> Response {
    match e {
        BackfillFailure::Unsupported {
            provider,
            data_type,
        } => {
            tracing::debug!(%provider, %data_type, "no mapping for a data type on request");
            not_available(data_type == EventType::Athlete.as_str(), user)
        }
        BackfillFailure::Provider(m) => {
            let m: String = m.chars().take(300).collect();
            terra_error(
                StatusCode::BAD_GATEWAY,
                format!("the provider did not answer: {m}"),
            )
        }
        // Terra's `RequestProcessing`: nothing was fetched, try again later.
        BackfillFailure::RateLimited {
            retry_after_seconds,
        } => (
            StatusCode::ACCEPTED,
            Json(json!({
                "status": "processing",
                "type": "processing",
                "user": user,
                "retry_after_seconds": retry_after_seconds,
                "message": "the provider's rate limit is reached; request again after retry_after_seconds",
            })),
        )
            .into_response(),
        // Terra's `RequestProcessing` too, but the data is on its way to the webhook
        // (the `processing` event says so) under this reference.
        BackfillFailure::Continued {
            reference,
            retry_after_seconds,
        } => (
            StatusCode::ACCEPTED,
            Json(json!({
                "status": "processing",
                "type": "processing",
                "user": user,
                "retry_after_seconds": retry_after_seconds,
                "reference": reference,
                "message": "the provider's rate limit is reached; the data is being fetched and will be sent to your webhook with this reference",
            })),
        )
            .into_response(),
        BackfillFailure::ConnectionError(m) => {
            terra_error(StatusCode::BAD_REQUEST, format!("connection error: {m}"))
        }
        BackfillFailure::InvalidRange(m)
        | BackfillFailure::Disabled(m)
        | BackfillFailure::InvalidWrite(m) => bad(m),
        BackfillFailure::WriteUnsupported(m) => terra_error(StatusCode::NOT_IMPLEMENTED, m),
        BackfillFailure::Unavailable(e) => {
            tracing::error!(error = %e, "backfill request not stored");
            terra_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the request could not be stored; try again",
            )
        }
    }
}

/// Planned workouts (`GET`/`POST`/`DELETE` `/v2/plannedWorkout`), and the write
/// endpoints in a build without backfill: 501.
pub(crate) async fn unsupported(
    State(api): State<Api>,
    Extension(dev): Extension<DevId>,
    method: Method,
    uri: Uri,
    RawQuery(q): RawQuery,
) -> Response {
    let q = Query::parse(q.as_deref());
    let provider = q
        .get("user_id")
        .and_then(|id| dev.user(&api, id))
        .map(|c| format!(" ({} user)", c.provider.terra_name()))
        .unwrap_or_default();
    let what = if uri.path().ends_with("/plannedWorkout") {
        "planned workouts are not supported"
    } else if method == Method::DELETE {
        "deleting data at providers is not supported"
    } else {
        "writing data to providers is not supported"
    };
    terra_error(
        StatusCode::NOT_IMPLEMENTED,
        format!("{method} {}{provider}: {what} by pulsegate", uri.path()),
    )
}

//! The data endpoints: `GET /v2/{activity,athlete,body,daily,menstruation,nutrition,
//! sleep}`. Parameters are checked here; the data comes from backfill ([`HistoricalData`]):
//! inline (`to_webhook=false`) or sent to the destinations with a `reference`
//! (`to_webhook=true`, the default). Writes are in [`crate::write`]; planned workouts
//! are not supported: [`unsupported`] answers 501 naming the operation and the provider.
//!
//! [`HistoricalData`]: crate::HistoricalData

use axum::extract::{Extension, RawQuery, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Days, NaiveDate, Utc};
use pulsegate_connect::terra_user;
use pulsegate_schema::terra::User;
use pulsegate_schema::{ConnectionStatus, EventType};
use serde_json::json;

use crate::auth::DevId;
use crate::ports::BackfillFailure;
use crate::{terra_error, Api, Query};

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

/// `YYYY-MM-DD`, an ISO 8601 / RFC 3339 date-time (its UTC date), or unix seconds.
pub(crate) fn parse_date(v: &str) -> Option<NaiveDate> {
    if let Ok(d) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Some(d);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(v) {
        return Some(dt.with_timezone(&Utc).date_naive());
    }
    if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(dt.date());
    }
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        let secs: i64 = v.parse().ok()?;
        return DateTime::from_timestamp(secs, 0).map(|dt| dt.date_naive());
    }
    None
}

/// `[start, end)` from `start_date` and the inclusive `end_date` (default: today, UTC).
pub(crate) fn date_range(q: &Query, today: NaiveDate) -> Result<(NaiveDate, NaiveDate), Response> {
    const FORMAT: &str = "expected YYYY-MM-DD or a unix timestamp in seconds";
    let start = match q.get("start_date") {
        None => return Err(bad("start_date is required")),
        Some(v) => parse_date(v).ok_or_else(|| bad(format!("start_date: {FORMAT}")))?,
    };
    let last = match q.get("end_date") {
        None => today.max(start),
        Some(v) => parse_date(v).ok_or_else(|| bad(format!("end_date: {FORMAT}")))?,
    };
    if last < start {
        return Err(bad("end_date must not be before start_date"));
    }
    let end = last
        .checked_add_days(Days::new(1))
        .ok_or_else(|| bad(format!("end_date: {FORMAT}")))?;
    Ok((start, end))
}

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
    let user = terra_user(&conn);
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
        } => terra_error(
            StatusCode::NOT_IMPLEMENTED,
            format!("{provider} {data_type} data cannot be fetched on request by pulsegate"),
        ),
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

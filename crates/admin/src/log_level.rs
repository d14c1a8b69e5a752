//! `/v1/admin/log-level`: this process's log filter, changed without a restart. `GET`
//! shows the filter in force and the configured one (`[log] level`); `PUT` with
//! `{"filter": "info,pulsegate_dispatcher=debug"}` validates the directives and puts
//! them in force (400 on a bad one, the filter unchanged). Per process, not stored: a
//! restart goes back to the configuration. `SIGUSR1` toggles between the configured
//! filter and debug for pulsegate's own crates (README, logging).

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use crate::{error, AdminState};

/// Longest filter accepted (directives with field filters compile to regexes).
const MAX_FILTER_LEN: usize = 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetFilter {
    filter: String,
}

fn view(s: &AdminState) -> Response {
    let port = &s.ports.log_level;
    Json(serde_json::json!({
        "filter": port.current(),
        "configured": port.configured(),
    }))
    .into_response()
}

pub(crate) async fn get(State(s): State<AdminState>) -> Response {
    view(&s)
}

pub(crate) async fn put(
    State(s): State<AdminState>,
    body: Result<Json<SetFilter>, JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "expected {\"filter\": \"<tracing filter directives>\"}, e.g. \
             {\"filter\": \"info,pulsegate_dispatcher=debug\"}",
        );
    };
    let filter = body.filter.trim();
    if filter.is_empty() {
        return error(StatusCode::BAD_REQUEST, "filter: must not be empty");
    }
    if filter.len() > MAX_FILTER_LEN {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("filter: longer than {MAX_FILTER_LEN} characters"),
        );
    }
    if let Err(e) = s.ports.log_level.set(filter) {
        return error(StatusCode::BAD_REQUEST, &format!("filter: {e}"));
    }
    view(&s)
}

//! `POST /v1/admin/auth/{provider}`: starts the OAuth2 connect flow for an end user and
//! returns the URL to send them to (see `pulsegate-connect`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use pulsegate_connect::{ConnectError, StartRequest};
use pulsegate_schema::Provider;
use serde::Deserialize;

use crate::{error, AdminState};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct StartBody {
    reference_id: Option<String>,
    auth_success_redirect_url: Option<String>,
    auth_failure_redirect_url: Option<String>,
    scopes: Option<Vec<String>>,
}

pub(crate) async fn start(
    State(s): State<AdminState>,
    Path(provider): Path<String>,
    body: Option<Json<StartBody>>,
) -> Response {
    let Some(p) = Provider::from_slug(&provider) else {
        return error(StatusCode::NOT_FOUND, "unknown provider");
    };
    let b = body.map(|Json(b)| b).unwrap_or_default();
    let req = StartRequest {
        reference_id: b.reference_id,
        success_url: b.auth_success_redirect_url,
        failure_url: b.auth_failure_redirect_url,
        scopes: b.scopes,
        widget_session_id: None,
        // Operator-started flows make operator-owned connections.
        dev_id: None,
    };
    match s.connect.start(p, req) {
        Ok(r) => (StatusCode::CREATED, Json(r)).into_response(),
        Err(e @ (ConnectError::NoOAuth(_) | ConnectError::Invalid(_))) => {
            error(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string())
        }
        Err(e @ ConnectError::NotConfigured(_)) => error(StatusCode::CONFLICT, &e.to_string()),
        Err(e @ ConnectError::Disabled(_)) => error(StatusCode::NOT_FOUND, &e.to_string()),
        Err(e @ ConnectError::Http(_)) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

//! `POST /v1/ingest/sdk/{provider}`: uploads from a mobile app reading an on-device
//! store (Apple Health, Samsung Health, Health Connect). Authenticated by the
//! connection's SDK token (looked up by its SHA-256); validated record by record against
//! Terra's models and the integration's data types; then enqueued like any provider's
//! notification (200 only once durable). See docs/providers/sdk.md.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use pulsegate_schema::sdk::{SdkUpload, MAX_RECORDS, MAX_RECORD_ID, UPLOADABLE};
use pulsegate_schema::{now_ms, sdk_token_hash, topics, ConnectionStatus, Provider};

use crate::handler::{encode_notification, json_error, IngestState};
use crate::verifier::Notification;

pub(crate) async fn upload(
    State(state): State<IngestState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(provider) = Provider::from_slug(&provider).filter(|p| p.is_sdk()) else {
        return json_error(StatusCode::NOT_FOUND, "not found");
    };
    let slug = provider.slug();
    let refuse = |status: StatusCode, reason: &'static str, message: &str| {
        metrics::counter!("pulsegate_ingest_rejects_total", "provider" => slug, "reason" => reason)
            .increment(1);
        json_error(status, message)
    };
    if !state.state.integration_enabled(provider) {
        return refuse(StatusCode::NOT_FOUND, "disabled", "integration disabled");
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let Some(sdk_token) = (!token.is_empty())
        .then(|| state.state.sdk_token(&sdk_token_hash(token)))
        .flatten()
    else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "signature",
            "missing, unknown or revoked SDK token",
        );
    };
    let Some(conn) = state
        .state
        .connection(&sdk_token.user_id)
        .filter(|c| c.status == ConnectionStatus::Active)
    else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "signature",
            "the token's connection is gone or revoked",
        );
    };
    if conn.provider != provider {
        return refuse(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this token uploads for another provider",
        );
    }

    if body.len() > state.sdk_max_body_bytes {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body",
            "upload too large; send fewer records per request",
        );
    }
    let upload: SdkUpload = match serde_json::from_slice(&body) {
        Ok(u) => u,
        Err(e) => {
            let msg: String = e.to_string().chars().take(160).collect();
            return refuse(
                StatusCode::BAD_REQUEST,
                "malformed",
                &format!("not an upload: {msg}"),
            );
        }
    };
    if upload.records.is_empty() || upload.records.len() > MAX_RECORDS {
        return refuse(
            StatusCode::BAD_REQUEST,
            "malformed",
            &format!("an upload carries 1 to {MAX_RECORDS} records"),
        );
    }
    for r in &upload.records {
        if r.id.is_empty() || r.id.len() > MAX_RECORD_ID {
            return refuse(
                StatusCode::BAD_REQUEST,
                "malformed",
                &format!("record ids are 1 to {MAX_RECORD_ID} bytes"),
            );
        }
        if !UPLOADABLE.contains(&r.data_type.as_str()) {
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                "data_type",
                &format!(
                    "record {:?}: type {:?} cannot be uploaded (one of {})",
                    r.id,
                    r.data_type,
                    UPLOADABLE.join(", ")
                ),
            );
        }
        if !state.state.integration_wants(provider, &r.data_type) {
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                "data_type",
                &format!(
                    "record {:?}: data type {:?} is not enabled for the {slug} integration",
                    r.id, r.data_type
                ),
            );
        }
        if let Err(e) = r.decode() {
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_record",
                &format!("record {:?} is not a valid {}: {e}", r.id, r.data_type),
            );
        }
    }

    let n = upload.records.len();
    let notification = Notification {
        provider_user_id: conn.provider_user_id.clone(),
        body,
    };
    let record = match encode_notification(provider, notification, now_ms()) {
        Ok((_, record)) => record,
        Err(e) => {
            tracing::error!(error = %e, "could not encode an upload");
            return json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
        }
    };
    match state.bus.append(topics::RAW, record).await {
        Ok(_) => {
            metrics::counter!("pulsegate_ingest_requests_total", "provider" => slug, "outcome" => "accepted")
                .increment(1);
            (
                StatusCode::OK,
                axum::Json(serde_json::json!({ "accepted": n })),
            )
                .into_response()
        }
        Err(e) => {
            tracing::warn!(provider = slug, error = %e, "bus refused an upload");
            let mut response = json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily unable to accept uploads",
            );
            response
                .headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("1"));
            response
        }
    }
}

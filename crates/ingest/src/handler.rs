use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use pulsegate_bus::{Bus, Outgoing};
use pulsegate_schema::{now_ms, topics, Provider, RawNotification};

use crate::providers::strava::StravaVerifier;
use crate::verifier::{Notification, ProviderVerifier, Rejection};
use crate::IngestConfig;

#[derive(Clone)]
struct IngestState {
    bus: Arc<dyn Bus>,
    verifiers: Arc<HashMap<&'static str, Arc<dyn ProviderVerifier>>>,
}

/// The ingest routes: `GET|HEAD|POST /v1/ingest/{provider}`. Providers without
/// configuration are not mounted (404).
pub fn router(bus: Arc<dyn Bus>, config: &IngestConfig) -> Router {
    let mut verifiers: HashMap<&'static str, Arc<dyn ProviderVerifier>> = HashMap::new();
    if !config.strava.verify_token.is_empty() {
        let v = StravaVerifier::new(config.strava.clone());
        verifiers.insert(v.provider().slug(), Arc::new(v));
    }
    let state = IngestState {
        bus,
        verifiers: Arc::new(verifiers),
    };
    Router::new()
        .route("/v1/ingest/{provider}", get(handshake).post(push))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .with_state(state)
}

async fn handshake(
    State(state): State<IngestState>,
    Path(provider): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    match state.verifiers.get(provider.as_str()) {
        Some(v) => v.handshake(query.as_deref(), &headers),
        None => Rejection::NotFound.into_response(),
    }
}

async fn push(
    State(state): State<IngestState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let Some(verifier) = state.verifiers.get(provider.as_str()) else {
        return Rejection::NotFound.into_response();
    };
    let slug = verifier.provider().slug();
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            count(slug, "rejected", Some("body"));
            return json_error(e.status(), &e.body_text());
        }
    };
    let notifications = match verifier.verify(&headers, &body) {
        Ok(n) => n,
        Err(rejection) => {
            tracing::debug!(provider = slug, reason = rejection.reason(), "notification refused");
            count(slug, "rejected", Some(rejection.reason()));
            return rejection.into_response();
        }
    };

    let received_at_ms = now_ms();
    let mut first_id = None;
    let mut records = Vec::with_capacity(notifications.len());
    for n in notifications {
        match encode_notification(verifier.provider(), n, received_at_ms) {
            Ok((id, record)) => {
                first_id.get_or_insert(id);
                records.push(record);
            }
            Err(e) => {
                tracing::error!(error = %e, "could not encode a verified notification");
                count(slug, "error", None);
                return json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
            }
        }
    }

    let appended = Instant::now();
    let result = if records.len() == 1 {
        let record = records.pop().expect("one record");
        state.bus.append(topics::RAW, record).await.map(|_| ())
    } else {
        state.bus.append_batch(topics::RAW, records).await.map(|_| ())
    };
    metrics::histogram!("pulsegate_bus_append_seconds", "topic" => topics::RAW)
        .record(appended.elapsed().as_secs_f64());
    match result {
        Ok(()) => {
            count(slug, "accepted", None);
            metrics::histogram!("pulsegate_ingest_seconds", "provider" => slug)
                .record(started.elapsed().as_secs_f64());
            let mut response = StatusCode::OK.into_response();
            if let Some(id) = first_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
                response.headers_mut().insert("x-pulsegate-notification-id", id);
            }
            response
        }
        Err(e) => {
            tracing::warn!(provider = slug, error = %e, "bus refused a notification");
            count(slug, "unavailable", None);
            let mut response =
                json_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily unable to accept notifications");
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
            response
        }
    }
}

/// Wraps a verified notification for the `raw` topic: a fresh id (returned, it becomes the
/// `terra-reference` of what the notification causes) and the bus key that keeps one
/// provider user's notifications in order.
pub fn encode_notification(
    provider: Provider,
    n: Notification,
    received_at_ms: u64,
) -> Result<(String, Outgoing), serde_json::Error> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let key = RawNotification::bus_key(provider, &n.provider_user_id);
    let raw = RawNotification {
        id: id.clone(),
        provider,
        provider_user_id: n.provider_user_id,
        received_at_ms,
        body: n.body,
    };
    Ok((id, Outgoing::new(key, serde_json::to_vec(&raw)?)))
}

fn count(provider: &'static str, outcome: &'static str, reason: Option<&'static str>) {
    metrics::counter!("pulsegate_ingest_requests_total", "provider" => provider, "outcome" => outcome)
        .increment(1);
    if let Some(reason) = reason {
        metrics::counter!("pulsegate_ingest_rejects_total", "provider" => provider, "reason" => reason)
            .increment(1);
    }
}

/// `{"error": message}` with the given status.
pub(crate) fn json_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

/// Compares secrets without leaking where they differ through timing.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

//! Fitbit: handshake and verification. (Stub: being written.)

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use pulsegate_schema::Provider;
use serde::Deserialize;

use crate::verifier::{IngestRequest, Notification, ProviderVerifier, Rejection};

/// Fitbit ingest settings (`[ingest.fitbit]`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FitbitConfig {
    pub enabled: bool,
}

impl FitbitConfig {
    /// Mounted only once configured.
    pub fn enabled(&self) -> bool {
        self.enabled
    }
}

pub struct FitbitVerifier {
    #[allow(dead_code)]
    config: FitbitConfig,
}

impl FitbitVerifier {
    pub fn new(config: FitbitConfig) -> Self {
        Self { config }
    }
}

impl ProviderVerifier for FitbitVerifier {
    fn provider(&self) -> Provider {
        Provider::Fitbit
    }

    fn handshake(&self, _query: Option<&str>, _headers: &HeaderMap) -> Response {
        StatusCode::NOT_FOUND.into_response()
    }

    fn verify(&self, _req: &IngestRequest<'_>) -> Result<Vec<Notification>, Rejection> {
        Err(Rejection::NotFound)
    }
}

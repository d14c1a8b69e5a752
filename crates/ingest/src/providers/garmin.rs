//! Garmin: handshake and verification. (Stub: being written.)

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use pulsegate_schema::Provider;
use serde::Deserialize;

use crate::verifier::{IngestRequest, Notification, ProviderVerifier, Rejection};

/// Garmin ingest settings (`[ingest.garmin]`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GarminConfig {
    pub enabled: bool,
}

impl GarminConfig {
    /// Mounted only once configured.
    pub fn enabled(&self) -> bool {
        self.enabled
    }
}

pub struct GarminVerifier {
    #[allow(dead_code)]
    config: GarminConfig,
}

impl GarminVerifier {
    pub fn new(config: GarminConfig) -> Self {
        Self { config }
    }
}

impl ProviderVerifier for GarminVerifier {
    fn provider(&self) -> Provider {
        Provider::Garmin
    }

    fn handshake(&self, _query: Option<&str>, _headers: &HeaderMap) -> Response {
        StatusCode::NOT_FOUND.into_response()
    }

    fn verify(&self, _req: &IngestRequest<'_>) -> Result<Vec<Notification>, Rejection> {
        Err(Rejection::NotFound)
    }
}

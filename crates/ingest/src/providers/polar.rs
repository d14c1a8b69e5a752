//! Polar: handshake and verification. (Stub: being written.)

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use pulsegate_schema::Provider;
use serde::Deserialize;

use crate::verifier::{IngestRequest, Notification, ProviderVerifier, Rejection};

/// Polar ingest settings (`[ingest.polar]`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolarConfig {
    pub enabled: bool,
}

impl PolarConfig {
    /// Mounted only once configured.
    pub fn enabled(&self) -> bool {
        self.enabled
    }
}

pub struct PolarVerifier {
    #[allow(dead_code)]
    config: PolarConfig,
}

impl PolarVerifier {
    pub fn new(config: PolarConfig) -> Self {
        Self { config }
    }
}

impl ProviderVerifier for PolarVerifier {
    fn provider(&self) -> Provider {
        Provider::Polar
    }

    fn handshake(&self, _query: Option<&str>, _headers: &HeaderMap) -> Response {
        StatusCode::NOT_FOUND.into_response()
    }

    fn verify(&self, _req: &IngestRequest<'_>) -> Result<Vec<Notification>, Rejection> {
        Err(Rejection::NotFound)
    }
}

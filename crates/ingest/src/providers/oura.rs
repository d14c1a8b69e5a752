//! Oura: handshake and verification. (Stub: being written.)

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use pulsegate_schema::Provider;
use serde::Deserialize;

use crate::verifier::{IngestRequest, Notification, ProviderVerifier, Rejection};

/// Oura ingest settings (`[ingest.oura]`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OuraConfig {
    pub enabled: bool,
}

impl OuraConfig {
    /// Mounted only once configured.
    pub fn enabled(&self) -> bool {
        self.enabled
    }
}

pub struct OuraVerifier {
    #[allow(dead_code)]
    config: OuraConfig,
}

impl OuraVerifier {
    pub fn new(config: OuraConfig) -> Self {
        Self { config }
    }
}

impl ProviderVerifier for OuraVerifier {
    fn provider(&self) -> Provider {
        Provider::Oura
    }

    fn handshake(&self, _query: Option<&str>, _headers: &HeaderMap) -> Response {
        StatusCode::NOT_FOUND.into_response()
    }

    fn verify(&self, _req: &IngestRequest<'_>) -> Result<Vec<Notification>, Rejection> {
        Err(Rejection::NotFound)
    }
}

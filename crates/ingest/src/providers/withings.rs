//! Withings: handshake and verification. (Stub: being written.)

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use pulsegate_schema::Provider;
use serde::Deserialize;

use crate::verifier::{IngestRequest, Notification, ProviderVerifier, Rejection};

/// Withings ingest settings (`[ingest.withings]`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WithingsConfig {
    pub enabled: bool,
}

impl WithingsConfig {
    /// Mounted only once configured.
    pub fn enabled(&self) -> bool {
        self.enabled
    }
}

pub struct WithingsVerifier {
    #[allow(dead_code)]
    config: WithingsConfig,
}

impl WithingsVerifier {
    pub fn new(config: WithingsConfig) -> Self {
        Self { config }
    }
}

impl ProviderVerifier for WithingsVerifier {
    fn provider(&self) -> Provider {
        Provider::Withings
    }

    fn handshake(&self, _query: Option<&str>, _headers: &HeaderMap) -> Response {
        StatusCode::NOT_FOUND.into_response()
    }

    fn verify(&self, _req: &IngestRequest<'_>) -> Result<Vec<Notification>, Rejection> {
        Err(Rejection::NotFound)
    }
}

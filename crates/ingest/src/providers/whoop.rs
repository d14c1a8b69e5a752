//! Whoop: handshake and verification. (Stub: being written.)

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use pulsegate_schema::Provider;
use serde::Deserialize;

use crate::verifier::{IngestRequest, Notification, ProviderVerifier, Rejection};

/// Whoop ingest settings (`[ingest.whoop]`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WhoopConfig {
    pub enabled: bool,
}

impl WhoopConfig {
    /// Mounted only once configured.
    pub fn enabled(&self) -> bool {
        self.enabled
    }
}

pub struct WhoopVerifier {
    #[allow(dead_code)]
    config: WhoopConfig,
}

impl WhoopVerifier {
    pub fn new(config: WhoopConfig) -> Self {
        Self { config }
    }
}

impl ProviderVerifier for WhoopVerifier {
    fn provider(&self) -> Provider {
        Provider::Whoop
    }

    fn handshake(&self, _query: Option<&str>, _headers: &HeaderMap) -> Response {
        StatusCode::NOT_FOUND.into_response()
    }

    fn verify(&self, _req: &IngestRequest<'_>) -> Result<Vec<Notification>, Rejection> {
        Err(Rejection::NotFound)
    }
}

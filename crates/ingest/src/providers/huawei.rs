//! Huawei: handshake and verification. (Stub: being written.)

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use pulsegate_schema::Provider;
use serde::Deserialize;

use crate::verifier::{IngestRequest, Notification, ProviderVerifier, Rejection};

/// Huawei ingest settings (`[ingest.huawei]`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HuaweiConfig {
    pub enabled: bool,
}

impl HuaweiConfig {
    /// Mounted only once configured.
    pub fn enabled(&self) -> bool {
        self.enabled
    }
}

pub struct HuaweiVerifier {
    #[allow(dead_code)]
    config: HuaweiConfig,
}

impl HuaweiVerifier {
    pub fn new(config: HuaweiConfig) -> Self {
        Self { config }
    }
}

impl ProviderVerifier for HuaweiVerifier {
    fn provider(&self) -> Provider {
        Provider::Huawei
    }

    fn handshake(&self, _query: Option<&str>, _headers: &HeaderMap) -> Response {
        StatusCode::NOT_FOUND.into_response()
    }

    fn verify(&self, _req: &IngestRequest<'_>) -> Result<Vec<Notification>, Rejection> {
        Err(Rejection::NotFound)
    }
}

//! Whoop. (Stub: being written.) See docs/providers/whoop.md.

use std::time::Duration;

use async_trait::async_trait;
use pulsegate_schema::{Connection, NormalizedEvent, Provider, RawNotification, Secret};
use serde::Deserialize;

use crate::{Ctx, NormalizeError, ProviderNormalizer, RetryConfig};

/// Whoop API settings (`[normalizer.whoop]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WhoopConfig {
    /// Base URL of Whoop's API; tests point it at a mock on 127.0.0.1.
    pub api_base: String,
    pub client_id: String,
    /// Never logged.
    pub client_secret: Secret,
    /// Whole-request timeout for one API call. Default 10s.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
}

impl Default for WhoopConfig {
    fn default() -> Self {
        Self {
            api_base: String::new(),
            client_id: String::new(),
            client_secret: Secret::default(),
            request_timeout: Duration::from_secs(10),
        }
    }
}

pub struct WhoopNormalizer;

impl WhoopNormalizer {
    pub fn new(_cfg: &WhoopConfig, _retry: &RetryConfig) -> Result<Self, NormalizeError> {
        Ok(Self)
    }
}

#[async_trait]
impl ProviderNormalizer for WhoopNormalizer {
    fn provider(&self) -> Provider {
        Provider::Whoop
    }

    fn dedupe_key(&self, _raw: &RawNotification) -> Option<String> {
        None
    }

    async fn normalize(
        &self,
        _raw: &RawNotification,
        _conn: &Connection,
        _ctx: &Ctx,
    ) -> Result<Vec<NormalizedEvent>, NormalizeError> {
        Err(NormalizeError::dropped(
            "unsupported_event",
            "not implemented yet",
        ))
    }
}

//! Withings. (Stub: being written.) See docs/providers/withings.md.

use std::time::Duration;

use async_trait::async_trait;
use pulsegate_schema::{Connection, NormalizedEvent, Provider, RawNotification, Secret};
use serde::Deserialize;

use crate::{Ctx, NormalizeError, ProviderNormalizer, RetryConfig};

/// Withings API settings (`[normalizer.withings]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WithingsConfig {
    /// Base URL of Withings's API; tests point it at a mock on 127.0.0.1.
    pub api_base: String,
    pub client_id: String,
    /// Never logged.
    pub client_secret: Secret,
    /// Whole-request timeout for one API call. Default 10s.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
}

impl Default for WithingsConfig {
    fn default() -> Self {
        Self {
            api_base: String::new(),
            client_id: String::new(),
            client_secret: Secret::default(),
            request_timeout: Duration::from_secs(10),
        }
    }
}

pub struct WithingsNormalizer;

impl WithingsNormalizer {
    pub fn new(_cfg: &WithingsConfig, _retry: &RetryConfig) -> Result<Self, NormalizeError> {
        Ok(Self)
    }
}

#[async_trait]
impl ProviderNormalizer for WithingsNormalizer {
    fn provider(&self) -> Provider {
        Provider::Withings
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

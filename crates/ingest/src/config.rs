use pulsegate_provider::{split_section, ProviderTables};
use serde::{Deserialize, Deserializer};

/// Settings of the ingest endpoints (`[ingest]`). Each provider's own table
/// (`[ingest.strava]`, …) is read by that provider (`pulsegate-providers`), not here: an
/// unconfigured provider is not mounted (404).
#[derive(Clone, Debug)]
pub struct IngestConfig {
    /// Largest request body accepted; larger ones get 413 and are not read further.
    /// Providers that push the data itself (Garmin) have their own limit.
    pub max_body_bytes: usize,
    /// Largest SDK upload (`/v1/ingest/sdk/{provider}`, up to 1000 records). Default 4 MiB.
    pub sdk_max_body_bytes: usize,
    /// Failed verifications throttled per source address.
    pub throttle: crate::throttle::ThrottleConfig,
    /// The providers' `[ingest.<slug>]` tables, as written.
    pub providers: ProviderTables,
}

/// The section's own keys (the providers' tables are taken out first).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Own {
    max_body_bytes: usize,
    sdk_max_body_bytes: usize,
    throttle: crate::throttle::ThrottleConfig,
}

impl Default for Own {
    fn default() -> Self {
        Self {
            max_body_bytes: pulsegate_provider::PUSH_MAX_BODY_BYTES,
            sdk_max_body_bytes: pulsegate_provider::SDK_MAX_BODY_BYTES,
            throttle: crate::throttle::ThrottleConfig::default(),
        }
    }
}

impl From<(Own, ProviderTables)> for IngestConfig {
    fn from((own, providers): (Own, ProviderTables)) -> Self {
        Self {
            max_body_bytes: own.max_body_bytes,
            sdk_max_body_bytes: own.sdk_max_body_bytes,
            throttle: own.throttle,
            providers,
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        (Own::default(), ProviderTables::default()).into()
    }
}

impl<'de> Deserialize<'de> for IngestConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        split_section::<D, Own>(d).map(Self::from)
    }
}

impl IngestConfig {
    /// This configuration with `provider`'s table set to `table` (tests, tools).
    pub fn with_provider(
        mut self,
        provider: pulsegate_schema::Provider,
        table: serde_json::Value,
    ) -> Self {
        self.providers.set(provider, table);
        self
    }
}

use serde::Deserialize;

use crate::providers::strava::StravaConfig;

/// Settings of the ingest endpoints.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Largest request body accepted; larger ones get 413 and are not read further.
    pub max_body_bytes: usize,
    /// Strava webhook subscription. Leave `verify_token` empty to disable the route.
    pub strava: StravaConfig,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 256 * 1024,
            strava: StravaConfig::default(),
        }
    }
}

//! Strava's API settings (`[normalizer.strava]`).

use std::time::Duration;

use pulsegate_provider::ratelimit::RateLimitConfig;
use pulsegate_schema::Secret;
use serde::Deserialize;

/// Strava API settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StravaConfig {
    /// Base URL of Strava (API under `/api/v3`, OAuth under `/oauth`). Default
    /// `https://www.strava.com`; tests point it at a mock on 127.0.0.1.
    pub api_base: String,
    /// The Strava application's client id (used to refresh athletes' tokens).
    pub client_id: String,
    /// The Strava application's client secret. Never logged.
    pub client_secret: Secret,
    /// Whole-request timeout for one API call (connect, send, read body). Default 10s.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// The application's rate limits. Default: 100 reads per 15 minutes, 1,000 per day.
    pub rate_limit: RateLimitConfig,
    /// Historical requests: activities listed per page (Strava allows up to 200).
    pub backfill_per_page: u32,
    /// Historical requests: fetch each listed activity's details, as the push path
    /// does (true, the default: same data, one call per activity), or map the list's
    /// summaries (false: no calories, device or location).
    pub backfill_details: bool,
}

impl Default for StravaConfig {
    fn default() -> Self {
        Self {
            api_base: super::descriptor::OAUTH.api_base.into(),
            client_id: String::new(),
            client_secret: Secret::default(),
            request_timeout: Duration::from_secs(10),
            rate_limit: RateLimitConfig::from(super::DESCRIPTOR.rate_limits),
            backfill_per_page: 200,
            backfill_details: true,
        }
    }
}


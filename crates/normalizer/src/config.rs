use std::collections::BTreeMap;
use std::time::Duration;

use pulsegate_schema::{Provider, Secret};
use serde::Deserialize;

use crate::ratelimit::{defaults, RateLimitConfig};

/// The normalizer's settings (`[normalizer]` in the config file).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NormalizerConfig {
    /// Raw notifications processed at the same time (across all users; one user's
    /// notifications are processed one at a time). Default 64.
    pub concurrency: usize,
    /// How many recently handled notifications are remembered to skip duplicates within
    /// this process (oldest forgotten first). 0 disables the window; event ids stay
    /// deterministic either way. Default 100 000.
    pub dedupe_capacity: usize,
    /// Retries of transient provider API failures (429, 5xx, timeouts, connection errors).
    pub retry: RetryConfig,
    /// Strava's API and the application's OAuth credentials.
    pub strava: StravaConfig,
    /// Huawei's API and the application's OAuth credentials.
    pub huawei: crate::providers::huawei::HuaweiConfig,
    /// Fitbit's API and the application's OAuth credentials.
    pub fitbit: crate::providers::fitbit::FitbitConfig,
    /// Garmin's API and the application's OAuth credentials.
    pub garmin: crate::providers::garmin::GarminConfig,
    /// Oura's API and the application's OAuth credentials.
    pub oura: crate::providers::oura::OuraConfig,
    /// Polar's API and the application's OAuth credentials.
    pub polar: crate::providers::polar::PolarConfig,
    /// Whoop's API and the application's OAuth credentials.
    pub whoop: crate::providers::whoop::WhoopConfig,
    /// Withings's API and the application's OAuth credentials.
    pub withings: crate::providers::withings::WithingsConfig,
    /// The Google Health API and the OAuth client's credentials.
    pub google_health: crate::providers::google_health::GoogleHealthConfig,
    /// Historical data requests (`[normalizer.backfill]`).
    pub backfill: BackfillConfig,
    /// Polling the providers that cannot push (`[normalizer.poll]`).
    pub poll: crate::PollConfig,
}

impl Default for NormalizerConfig {
    fn default() -> Self {
        Self {
            concurrency: 64,
            dedupe_capacity: 100_000,
            retry: RetryConfig::default(),
            strava: StravaConfig::default(),
            huawei: Default::default(),
            fitbit: Default::default(),
            garmin: Default::default(),
            oura: Default::default(),
            polar: Default::default(),
            whoop: Default::default(),
            withings: Default::default(),
            google_health: Default::default(),
            backfill: BackfillConfig::default(),
            poll: Default::default(),
        }
    }
}

/// Historical data requests (`[normalizer.backfill]`): how requests are split and how
/// the backfill lane runs next to the live one.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackfillConfig {
    /// Windows processed at the same time per provider (the lane's own concurrency,
    /// separate from `normalizer.concurrency`; one user's windows run one at a time, in
    /// order). Default 4.
    pub concurrency: usize,
    /// Days per window, by provider slug (`strava = 7`); absent: the provider's default
    /// (docs/BACKFILL.md).
    pub window_days: BTreeMap<String, u32>,
    /// A request of more windows than this is large: `large_request_processing` when it
    /// is accepted, `large_request_sending` before its first data. Default 4.
    pub large_request_windows: u32,
    /// Longest request, in days. Default 1825 (five years, Terra's limit).
    pub max_days: u32,
    /// Attempts per window when the provider keeps failing (after the `retry` policy
    /// of each call; rate limits are waited out and do not count). Default 6.
    pub window_attempts: u32,
    /// Wait before a window's second attempt; doubles up to 5 minutes. Default 5s.
    #[serde(with = "humantime_serde")]
    pub window_backoff: Duration,
}

impl Default for BackfillConfig {
    fn default() -> Self {
        Self {
            concurrency: 4,
            window_days: BTreeMap::new(),
            large_request_windows: 4,
            max_days: 1825,
            window_attempts: 6,
            window_backoff: Duration::from_secs(5),
        }
    }
}

/// How transient provider API failures are retried inside one notification's handling.
/// After `max_attempts` the notification is dropped (logged and counted), so one bad
/// upstream never blocks a partition forever.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Attempts per API call, the first included. Default 5.
    pub max_attempts: u32,
    /// Wait before the second attempt; doubles each attempt (with jitter). Default 500ms.
    #[serde(with = "humantime_serde")]
    pub initial_backoff: Duration,
    /// Longest single wait, also the cap on a provider's `Retry-After`. Default 30s.
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        }
    }
}

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
            api_base: pulsegate_provider::providers::strava::OAUTH.api_base.into(),
            client_id: String::new(),
            client_secret: Secret::default(),
            request_timeout: Duration::from_secs(10),
            rate_limit: defaults::of(Provider::Strava),
            backfill_per_page: 200,
            backfill_details: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_unknown_fields() {
        let c: NormalizerConfig = serde_json::from_str(
            r#"{"concurrency": 8, "strava": {"client_id": "1", "client_secret": "s", "request_timeout": "3s"},
                "retry": {"max_attempts": 2, "initial_backoff": "10ms"}}"#,
        )
        .unwrap();
        assert_eq!(c.concurrency, 8);
        assert_eq!(c.dedupe_capacity, 100_000);
        assert_eq!(c.strava.api_base, "https://www.strava.com");
        assert_eq!(c.strava.request_timeout, Duration::from_secs(3));
        assert_eq!(c.retry.max_attempts, 2);
        assert_eq!(c.retry.initial_backoff, Duration::from_millis(10));
        assert_eq!(c.retry.max_backoff, Duration::from_secs(30));
        assert!(!format!("{c:?}").contains("\"s\""));
        assert_eq!(c.strava.rate_limit, defaults::strava());
        assert_eq!(c.backfill.concurrency, 4);
        assert_eq!(c.backfill.max_days, 1825);

        let c: NormalizerConfig = serde_json::from_str(
            r#"{"backfill": {"concurrency": 2, "window_days": {"strava": 3}},
                "strava": {"rate_limit": {"limits": [{"requests": 600, "per": "15m"}], "push_reserve": 0.5}}}"#,
        )
        .unwrap();
        assert_eq!(c.backfill.concurrency, 2);
        assert_eq!(c.backfill.window_days["strava"], 3);
        assert_eq!(c.strava.rate_limit.limits[0].requests, 600);
        assert_eq!(c.strava.rate_limit.push_reserve, 0.5);

        let bad = serde_json::from_str::<NormalizerConfig>(r#"{"concurency": 8}"#);
        assert!(bad.is_err());
        let bad = serde_json::from_str::<NormalizerConfig>(r#"{"strava": {"secret": "x"}}"#);
        assert!(bad.is_err());
    }
}

use std::collections::BTreeMap;
use std::time::Duration;

use pulsegate_provider::{split_section, ProviderTables};
use pulsegate_schema::Provider;
use serde::{Deserialize, Deserializer};

use crate::RetryConfig;

/// The normalizer's settings (`[normalizer]` in the config file). Each provider's own
/// table (`[normalizer.strava]`: its API and OAuth application) is read by that provider
/// (`pulsegate-providers`), not here.
#[derive(Clone, Debug)]
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
    /// Historical data requests (`[normalizer.backfill]`).
    pub backfill: BackfillConfig,
    /// Polling the providers that cannot push (`[normalizer.poll]`).
    pub poll: crate::PollConfig,
    /// The providers' `[normalizer.<slug>]` tables, as written.
    pub providers: ProviderTables,
}

/// The section's own keys (the providers' tables are taken out first).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Own {
    concurrency: usize,
    dedupe_capacity: usize,
    retry: RetryConfig,
    backfill: BackfillConfig,
    poll: crate::PollConfig,
}

impl Default for Own {
    fn default() -> Self {
        Self {
            concurrency: 64,
            dedupe_capacity: 100_000,
            retry: RetryConfig::default(),
            backfill: BackfillConfig::default(),
            poll: Default::default(),
        }
    }
}

impl From<(Own, ProviderTables)> for NormalizerConfig {
    fn from((own, providers): (Own, ProviderTables)) -> Self {
        Self {
            concurrency: own.concurrency,
            dedupe_capacity: own.dedupe_capacity,
            retry: own.retry,
            backfill: own.backfill,
            poll: own.poll,
            providers,
        }
    }
}

impl Default for NormalizerConfig {
    fn default() -> Self {
        (Own::default(), ProviderTables::default()).into()
    }
}

impl<'de> Deserialize<'de> for NormalizerConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        split_section::<D, Own>(d).map(Self::from)
    }
}

impl NormalizerConfig {
    /// This configuration with `provider`'s table set to `table` (tests, tools).
    pub fn with_provider(mut self, provider: Provider, table: serde_json::Value) -> Self {
        self.providers.set(provider, table);
        self
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
    /// A window's data payload longer than this many bytes is sent as several payloads
    /// of at most this size, sharing the request's `reference` (Terra caps its chunks
    /// around 10 MB). Default 10 MiB; 0: never split.
    pub max_payload_bytes: usize,
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
            max_payload_bytes: 10 * 1024 * 1024,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_provider_tables_and_unknown_fields() {
        let c: NormalizerConfig = serde_json::from_str(
            r#"{"concurrency": 8, "strava": {"client_id": "1", "client_secret": "s", "request_timeout": "3s"},
                "retry": {"max_attempts": 2, "initial_backoff": "10ms"}}"#,
        )
        .unwrap();
        assert_eq!(c.concurrency, 8);
        assert_eq!(c.dedupe_capacity, 100_000);
        assert_eq!(c.retry.max_attempts, 2);
        assert_eq!(c.retry.initial_backoff, Duration::from_millis(10));
        assert_eq!(c.retry.max_backoff, Duration::from_secs(30));
        // The provider's table is kept as written, for the provider to read.
        assert_eq!(c.providers.get(Provider::Strava)["client_id"], "1");
        assert!(c.providers.get(Provider::Oura).is_null());
        assert_eq!(c.backfill.concurrency, 4);
        assert_eq!(c.backfill.max_days, 1825);

        let c: NormalizerConfig = serde_json::from_str(
            r#"{"backfill": {"concurrency": 2, "window_days": {"strava": 3}}}"#,
        )
        .unwrap();
        assert_eq!(c.backfill.concurrency, 2);
        assert_eq!(c.backfill.window_days["strava"], 3);

        let bad = serde_json::from_str::<NormalizerConfig>(r#"{"concurency": 8}"#);
        assert!(bad.is_err());
        let bad = serde_json::from_str::<NormalizerConfig>(r#"{"stravaa": {}}"#);
        assert!(bad.is_err());
    }
}

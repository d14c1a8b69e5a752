//! `[normalizer.poll]`.

use std::collections::BTreeMap;
use std::time::Duration;

use pulsegate_schema::Provider;
use serde::{Deserialize, Deserializer};

/// The poll lane's settings (`[normalizer.poll]`): providers that cannot push (their
/// descriptor's push mode is `Poll`) are asked for new data on a schedule.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PollConfig {
    /// Poll at all. Default true (no provider needs it unless one's push mode is `Poll`).
    pub enabled: bool,
    /// How often each user's data is fetched. Default 15 minutes.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Per provider slug, an interval instead of `interval` (`dexcom = "5m"`).
    #[serde(deserialize_with = "durations")]
    pub intervals: BTreeMap<String, Duration>,
    /// A new connection's first poll fetches this many days before today, and today
    /// (history is what historical requests are for). Default 1.
    pub lookback_days: u32,
    /// Days before today that stay open: fetched again on every poll, their new or
    /// changed objects sent (late syncs). Older days are closed once delivered. Default 1.
    pub open_days: u32,
    /// Users polled at the same time by this process. Default 4.
    pub concurrency: usize,
    /// How often the schedule is looked at (the resolution of the per-user jitter) and
    /// the ownership sweeps are sent. Default 30 seconds.
    #[serde(with = "humantime_serde")]
    pub check_every: Duration,
    /// Buckets users are hashed into; a bucket is polled by the process that consumes
    /// its sweeps (docs/POLLING.md). Default 64.
    pub buckets: u32,
    /// Partitions of the sweep topic when it is created. Default 8.
    pub partitions: u32,
    /// Wait before a user whose poll failed (provider unavailable, an error) is tried
    /// again; doubles with each failure, up to the interval. Default 1 minute.
    #[serde(with = "humantime_serde")]
    pub retry_backoff: Duration,
    /// How long a user whose connection the provider refused is left alone unless the
    /// connection changes (new tokens: a reconnect). Default 6 hours.
    #[serde(with = "humantime_serde")]
    pub connection_error_backoff: Duration,
}

impl Default for PollConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(15 * 60),
            intervals: BTreeMap::new(),
            lookback_days: 1,
            open_days: 1,
            concurrency: 4,
            check_every: Duration::from_secs(30),
            buckets: 64,
            partitions: 8,
            retry_backoff: Duration::from_secs(60),
            connection_error_backoff: Duration::from_secs(6 * 3600),
        }
    }
}

impl PollConfig {
    /// The polling interval of `provider` (at least one second).
    pub fn interval_for(&self, provider: Provider) -> Duration {
        self.intervals
            .get(provider.slug())
            .copied()
            .unwrap_or(self.interval)
            .max(Duration::from_secs(1))
    }

    /// `check_every`, at least 10 ms.
    pub(super) fn check_every(&self) -> Duration {
        self.check_every.max(Duration::from_millis(10))
    }
}

fn durations<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Duration>, D::Error> {
    let m: BTreeMap<String, humantime_serde::Serde<Duration>> = BTreeMap::deserialize(d)?;
    Ok(m.into_iter().map(|(k, v)| (k, v.into_inner())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_overrides_and_unknown_keys() {
        let c: PollConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c.interval, Duration::from_secs(900));
        assert_eq!(c.lookback_days, 1);
        assert_eq!(c.interval_for(Provider::Polar), Duration::from_secs(900));
        let c: PollConfig = serde_json::from_str(
            r#"{"interval": "10m", "intervals": {"polar": "5m"}, "lookback_days": 2}"#,
        )
        .unwrap();
        assert_eq!(c.interval_for(Provider::Polar), Duration::from_secs(300));
        assert_eq!(c.interval_for(Provider::Oura), Duration::from_secs(600));
        assert_eq!(c.lookback_days, 2);
        assert!(serde_json::from_str::<PollConfig>(r#"{"intervall": "1m"}"#).is_err());
        let whole: crate::NormalizerConfig =
            serde_json::from_str(r#"{"poll": {"interval": "1h"}}"#).unwrap();
        assert_eq!(whole.poll.interval, Duration::from_secs(3600));
    }
}

//! The dispatcher's settings.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::DispatchError;

/// How the dispatcher delivers. Every field has a default; durations are written the
/// humantime way (`"15s"`, `"5m"`, `"2h"`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DispatcherConfig {
    /// Longest one delivery attempt may take, connect to last response byte read
    /// (default 15s). Longer counts as a failure and is retried.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Delay before each retry after a failed attempt (default 5s, 5m, 30m, 2h, 5h,
    /// 10h, 10h: eight attempts over about 27.5 hours). Retry `i` waits on the bus
    /// topic `retry_<i>`; after the last one fails, the delivery is dead-lettered.
    #[serde(deserialize_with = "durations")]
    pub retry_schedule: Vec<Duration>,
    /// Deliveries in flight at once per destination (default 64).
    pub concurrency_per_destination: usize,
    /// Retries in flight at once per retry tier, over all destinations (default 64).
    pub retry_concurrency: usize,
    /// Partitions of each retry tier topic when the dispatcher creates it (default 4).
    pub retry_partitions: u32,
    /// Allow destinations on loopback, private, link-local (cloud metadata), CGNAT and
    /// other non-global addresses (default false: such URLs are refused, and names
    /// resolving to such addresses are not connected to). Only for tests and private
    /// deployments.
    pub allow_private_networks: bool,
    /// When a destination keeps failing, stop sending it new events and probe instead.
    pub breaker: BreakerConfig,
    /// How often each destination gets Terra's `healthcheck` event (default 1h; `0s`:
    /// never). A destination filtering event types gets it only if it lists
    /// `healthcheck`.
    #[serde(with = "humantime_serde")]
    pub healthcheck_interval: Duration,
    /// A destination every attempt to which has failed for this long is disabled
    /// (default 5 days; `0s`: never).
    #[serde(with = "humantime_serde")]
    pub disable_after_failing: Duration,
    /// How long every delivery attempt is kept on the `delivery_history` topic for
    /// search (default 14 days; `0s`: no history is written).
    #[serde(with = "humantime_serde")]
    pub history_retention: Duration,
    /// Most bytes the `delivery_history` topic keeps (default 1 GiB; `0`: bounded by
    /// time only): the oldest attempts are dropped first, whatever their age.
    pub history_max_bytes: u64,
}

/// The per-destination circuit breaker (see the `breaker` module).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// Consecutive failed attempts that open the breaker (default 20; 0 disables it).
    pub failure_threshold: u32,
    /// Wait before the first probe once open (default 1s); doubles after each failed probe.
    #[serde(with = "humantime_serde")]
    pub initial_probe_interval: Duration,
    /// Longest wait between probes (default 60s).
    #[serde(with = "humantime_serde")]
    pub max_probe_interval: Duration,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(15),
            retry_schedule: [5, 300, 1800, 7200, 18000, 36000, 36000]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
            concurrency_per_destination: 64,
            retry_concurrency: 64,
            retry_partitions: 4,
            allow_private_networks: false,
            breaker: BreakerConfig::default(),
            healthcheck_interval: crate::healthcheck::DEFAULT_INTERVAL,
            disable_after_failing: Duration::from_secs(5 * 24 * 3600),
            history_retention: Duration::from_secs(14 * 24 * 3600),
            history_max_bytes: 1 << 30,
        }
    }
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 20,
            initial_probe_interval: Duration::from_secs(1),
            max_probe_interval: Duration::from_secs(60),
        }
    }
}

impl DispatcherConfig {
    /// Checks values that would make the dispatcher misbehave.
    pub fn validate(&self) -> Result<(), DispatchError> {
        let bad = |m: &str| Err(DispatchError::Config(m.to_string()));
        if self.timeout.is_zero() {
            return bad("timeout must be greater than zero");
        }
        if self.retry_schedule.is_empty() {
            return bad("retry_schedule needs at least one delay");
        }
        if self.concurrency_per_destination == 0 || self.retry_concurrency == 0 {
            return bad("concurrency must be at least 1");
        }
        if self.retry_partitions == 0 {
            return bad("retry_partitions must be at least 1");
        }
        if self.breaker.initial_probe_interval.is_zero()
            || self.breaker.max_probe_interval < self.breaker.initial_probe_interval
        {
            return bad("breaker probe intervals must be positive and max >= initial");
        }
        Ok(())
    }
}

fn durations<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
    let v: Vec<humantime_serde::Serde<Duration>> = Vec::deserialize(d)?;
    Ok(v.into_iter()
        .map(humantime_serde::Serde::into_inner)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_humantime_and_rejects_unknown_fields() {
        let cfg: DispatcherConfig = serde_json::from_str(
            r#"{"timeout": "2s", "retry_schedule": ["100ms", "5m"], "breaker": {"failure_threshold": 3}}"#,
        )
        .unwrap();
        assert_eq!(cfg.timeout, Duration::from_secs(2));
        assert_eq!(
            cfg.retry_schedule,
            vec![Duration::from_millis(100), Duration::from_secs(300)]
        );
        assert_eq!(cfg.breaker.failure_threshold, 3);
        assert_eq!(cfg.breaker.max_probe_interval, Duration::from_secs(60));
        assert_eq!(cfg.concurrency_per_destination, 64);
        assert!(!cfg.allow_private_networks);
        cfg.validate().unwrap();

        assert!(serde_json::from_str::<DispatcherConfig>(r#"{"timeoutt": "2s"}"#).is_err());
        let empty: DispatcherConfig = serde_json::from_str(r#"{"retry_schedule": []}"#).unwrap();
        assert!(empty.validate().is_err());
    }

    #[test]
    fn default_schedule_is_svix_like() {
        let d = DispatcherConfig::default();
        assert_eq!(d.retry_schedule.len(), 7);
        assert_eq!(d.retry_schedule[0], Duration::from_secs(5));
        assert_eq!(d.retry_schedule[6], Duration::from_secs(36000));
        d.validate().unwrap();
    }
}

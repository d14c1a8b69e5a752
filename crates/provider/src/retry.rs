//! Exponential backoff with jitter for transient provider failures.

use std::time::Duration;

use serde::Deserialize;

/// Tracks the attempts of one API call.
#[derive(Debug, Clone)]
pub struct Backoff {
    cfg: RetryConfig,
    attempt: u32,
}

impl Backoff {
    pub fn new(cfg: &RetryConfig) -> Self {
        Self {
            cfg: cfg.clone(),
            attempt: 0,
        }
    }

    /// Attempts made so far.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Records an attempt; true if another one is allowed afterwards.
    pub fn record_attempt(&mut self) -> bool {
        self.attempt += 1;
        self.attempt < self.cfg.max_attempts.max(1)
    }

    /// The wait before the next attempt: the provider's `Retry-After` if given, else
    /// `initial * 2^(attempt-1)` with ±25% jitter; never more than `max_backoff`.
    pub fn delay(&self, retry_after: Option<Duration>) -> Duration {
        let cap = self.cfg.max_backoff;
        if let Some(ra) = retry_after {
            return ra.min(cap);
        }
        let exp = self.attempt.saturating_sub(1).min(20);
        let base = self
            .cfg
            .initial_backoff
            .saturating_mul(1u32 << exp)
            .min(cap);
        jitter(base).min(cap)
    }
}

/// `d` scaled by a pseudo-random factor in [0.75, 1.25).
fn jitter(d: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(d.as_nanos());
    let r = (h.finish() % 1000) as f64 / 1000.0; // [0, 1)
    d.mul_f64(0.75 + r * 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_caps_and_stops() {
        let cfg = RetryConfig {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(300),
        };
        let mut b = Backoff::new(&cfg);
        assert!(b.record_attempt());
        let d1 = b.delay(None);
        assert!(
            d1 >= Duration::from_millis(75) && d1 < Duration::from_millis(125),
            "{d1:?}"
        );
        assert!(b.record_attempt());
        let d2 = b.delay(None);
        assert!(
            d2 >= Duration::from_millis(150) && d2 < Duration::from_millis(250),
            "{d2:?}"
        );
        assert!(b.record_attempt());
        assert!(b.delay(None) <= Duration::from_millis(300));
        assert_eq!(
            b.delay(Some(Duration::from_millis(10))),
            Duration::from_millis(10)
        );
        assert_eq!(
            b.delay(Some(Duration::from_secs(900))),
            Duration::from_millis(300)
        );
        assert!(!b.record_attempt(), "4 attempts allowed");
        assert_eq!(b.attempts(), 4);
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

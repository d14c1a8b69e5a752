//! Provider rate limits, per provider application.
//!
//! Providers limit what one application (one client id) may call per window: Strava
//! 100 reads per 15 minutes and 1,000 per day, WHOOP 100 per minute and 10,000 per
//! day, Fitbit 150 per user per hour, … ([`defaults`]). Every API call of a provider
//! (push notifications and historical data requests alike) draws from one [`AppLimiter`]
//! shared by every client of the same application in this process ([`Limiters`]):
//!
//! * the **push** lane (live notifications) is never refused locally: it only counts,
//!   and the provider's own 429 is handled by the retry policy as before;
//! * the **backfill** and **inline** lanes (historical data) may only use what is above
//!   the share reserved for push ([`RateLimitConfig::push_reserve`], default 30%), and
//!   wait out any block a provider declared with a 429 (`Retry-After`, Strava's
//!   `X-RateLimit-Usage`, `X-RateLimit-Reset`), so a large backfill never starves live
//!   traffic.
//!
//! The counting is plain fixed windows aligned on the Unix epoch (Strava's 15-minute
//! windows start at :00, :15, :30 and :45 and its day at midnight UTC, as documented).
//! Usage the provider reports in response headers is folded in, so several processes of
//! one deployment, each with its own counts, still see the application's real usage.
//!
//! The math ([`Limiter`]) takes the time as an argument: no clock, no sleeping.

mod facts;
mod headers;
mod limiters;
mod window;

use std::time::Duration;

use serde::Deserialize;

pub use limiters::{AppLimiter, Clock, Limiters, SystemClock};
pub use window::{allowed, Decision, Limiter};

/// Which traffic an API call belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lane {
    /// Live notifications: never refused locally.
    Push,
    /// Asynchronous historical requests (`to_webhook=true`): only above the push reserve,
    /// and a provider block is announced with `rate_limit_hit`.
    Backfill,
    /// Synchronous historical requests (`to_webhook=false`): only above the push
    /// reserve; the caller learns about a block from the error.
    Inline,
    /// Customers' writes to providers: only above the push reserve, like `Inline`, and
    /// never retried after a transient failure (the provider may have written already).
    Write,
    /// The poll lane (providers that cannot push): only above the push reserve, like
    /// `Backfill`, without `rate_limit_hit` notices (nobody asked for this data).
    Poll,
}

impl Lane {
    /// True if this lane must leave the push reserve alone.
    pub fn reserved(self) -> bool {
        !matches!(self, Lane::Push)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Push => "push",
            Lane::Backfill => "backfill",
            Lane::Inline => "inline",
            Lane::Write => "write",
            Lane::Poll => "poll",
        }
    }
}

pub use facts::{HeaderStyle, RateLimits, WindowLimit, DAY, HOUR, MIN, QUARTER};

/// A provider application's limits (`[normalizer.<provider>.rate_limit]`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Every limit must have room for a call. Empty: no local limit (a provider's 429
    /// still blocks the historical lanes until its `Retry-After`).
    pub limits: Vec<WindowLimit>,
    /// Share of each limit kept for live traffic: historical requests only call while
    /// the window's usage is below `(1 - push_reserve) × limit`. 0 to 1; default 0.3.
    pub push_reserve: f64,
    /// How usage headers are read.
    pub headers: HeaderStyle,
    /// How long a 429 that says nothing about when to retry blocks the historical
    /// lanes. Default 60s.
    #[serde(with = "humantime_serde")]
    pub default_block: Duration,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            limits: Vec::new(),
            push_reserve: 0.3,
            headers: HeaderStyle::None,
            default_block: Duration::from_secs(60),
        }
    }
}

impl From<RateLimits> for RateLimitConfig {
    /// A provider's documented limits, with the default push reserve and block.
    fn from(documented: RateLimits) -> Self {
        Self::new(documented.limits.to_vec(), documented.headers)
    }
}

impl RateLimitConfig {
    pub fn new(limits: Vec<WindowLimit>, headers: HeaderStyle) -> Self {
        Self {
            limits,
            headers,
            ..Self::default()
        }
    }

    /// `push_reserve` within `[0, 1]` (NaN = default).
    fn reserve(&self) -> f64 {
        if self.push_reserve.is_nan() {
            0.3
        } else {
            self.push_reserve.clamp(0.0, 1.0)
        }
    }

    /// Blocks (after a 429) apply to one user when every limit is per user.
    fn user_scoped(&self) -> bool {
        !self.limits.is_empty() && self.limits.iter().all(|l| l.per_user)
    }
}

/// Limits shaped like real providers' (Strava's, WHOOP's, Fitbit's documented numbers),
/// for the limiter's own tests.
#[cfg(test)]
pub(crate) mod defaults {
    use super::{HeaderStyle, RateLimitConfig, WindowLimit, DAY, HOUR, MIN, QUARTER};

    pub fn strava() -> RateLimitConfig {
        RateLimitConfig::new(
            vec![WindowLimit::app(100, QUARTER), WindowLimit::app(1_000, DAY)],
            HeaderStyle::Strava,
        )
    }

    pub fn whoop() -> RateLimitConfig {
        RateLimitConfig::new(
            vec![WindowLimit::app(100, MIN), WindowLimit::app(10_000, DAY)],
            HeaderStyle::Remaining,
        )
    }

    pub fn fitbit() -> RateLimitConfig {
        RateLimitConfig::new(vec![WindowLimit::user(150, HOUR)], HeaderStyle::Fitbit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_from_toml_like_json() {
        let c: RateLimitConfig = serde_json::from_str(
            r#"{"limits": [{"requests": 300, "per": "15m"}, {"requests": 3000, "per": "1d"}],
                "push_reserve": 0.5, "headers": "strava"}"#,
        )
        .unwrap();
        assert_eq!(c.limits[0], WindowLimit::app(300, 900));
        assert_eq!(c.limits[1].per, Duration::from_secs(86_400));
        assert_eq!(c.headers, HeaderStyle::Strava);
        assert_eq!(c.default_block, Duration::from_secs(60));
        assert!(serde_json::from_str::<RateLimitConfig>(r#"{"limit": []}"#).is_err());
    }
}

//! A provider's documented rate limits: the windows its API counts calls in and how it
//! reports usage in response headers. The normalizer's limiter (`ratelimit.rs` there)
//! does the counting; these are the defaults of `[normalizer.<p>.rate_limit]`.

use std::time::Duration;

use serde::Deserialize;

/// One limit: at most `requests` calls per `per`, in windows aligned on the Unix epoch.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WindowLimit {
    pub requests: u32,
    #[serde(with = "humantime_serde")]
    pub per: Duration,
    /// Counted per user (per access token) instead of per application.
    #[serde(default)]
    pub per_user: bool,
}

impl WindowLimit {
    pub const fn app(requests: u32, secs: u64) -> Self {
        Self {
            requests,
            per: Duration::from_secs(secs),
            per_user: false,
        }
    }

    pub const fn user(requests: u32, secs: u64) -> Self {
        Self {
            requests,
            per: Duration::from_secs(secs),
            per_user: true,
        }
    }

    /// The window in milliseconds (at least 1).
    pub fn period_ms(&self) -> u64 {
        (self.per.as_millis() as u64).max(1)
    }
}

/// How a provider reports its usage in response headers.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum HeaderStyle {
    /// Nothing to read (429s still honour `Retry-After`).
    #[default]
    None,
    /// Strava: `X-ReadRateLimit-Limit`/`-Usage` (else `X-RateLimit-*`), each
    /// `"<15-minute>,<daily>"`.
    Strava,
    /// `X-RateLimit-Limit` (first number = the limit closest to being hit),
    /// `X-RateLimit-Remaining`, `X-RateLimit-Reset` (seconds): WHOOP, Polar.
    Remaining,
    /// Fitbit: `Fitbit-Rate-Limit-Limit`, `-Remaining`, `-Reset` (seconds), per user.
    Fitbit,
}

/// A provider application's documented limits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimits {
    /// Every limit must have room for a call. Empty: the provider publishes no numbers
    /// (no local limit; its 429s are honoured).
    pub limits: &'static [WindowLimit],
    /// How usage headers are read.
    pub headers: HeaderStyle,
}

impl RateLimits {
    /// No published limits and no usage headers (Huawei, Garmin, the on-device sources).
    pub const UNPUBLISHED: RateLimits = RateLimits {
        limits: &[],
        headers: HeaderStyle::None,
    };
}

/// Window lengths, in seconds, for the providers' `const`s.
pub const MIN: u64 = 60;
pub const QUARTER: u64 = 15 * 60;
pub const HOUR: u64 = 3600;
pub const DAY: u64 = 86_400;

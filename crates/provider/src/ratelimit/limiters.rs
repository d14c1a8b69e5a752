//! The shared handle: one [`AppLimiter`] per provider application, with a clock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::HeaderMap;

use super::{Decision, Lane, Limiter, RateLimitConfig};

/// The time source of the shared limiters (replaceable in tests).
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> u64;
}

/// Wall-clock time.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        pulsegate_schema::now_ms()
    }
}

/// One provider application's limiter, shared by every client of the application.
pub struct AppLimiter {
    provider: &'static str,
    inner: Mutex<Limiter>,
    clock: Arc<dyn Clock>,
}

impl AppLimiter {
    pub fn new(provider: &'static str, cfg: RateLimitConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            provider,
            inner: Mutex::new(Limiter::new(cfg)),
            clock,
        }
    }

    /// No local limits (429s still block the historical lanes).
    pub fn unlimited(provider: &'static str) -> Self {
        Self::new(provider, RateLimitConfig::default(), Arc::new(SystemClock))
    }

    pub fn provider(&self) -> &'static str {
        self.provider
    }

    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Limiter> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn reconfigure(&self, cfg: &RateLimitConfig) {
        self.lock().reconfigure(cfg.clone());
    }

    pub fn acquire(&self, lane: Lane, user: Option<&str>) -> Decision {
        let now = self.now_ms();
        let d = self.lock().acquire(lane, user, now);
        if let Decision::Wait { provider_block, .. } = d {
            metrics::counter!(
                "pulsegate_rate_limit_waits_total",
                "provider" => self.provider,
                "lane" => lane.as_str(),
                "cause" => if provider_block { "provider_429" } else { "budget" }
            )
            .increment(1);
        }
        d
    }

    pub fn observe(&self, headers: &HeaderMap, user: Option<&str>) {
        let now = self.now_ms();
        self.lock().observe(headers, user, now);
    }

    pub fn on_429(
        &self,
        headers: &HeaderMap,
        retry_after: Option<Duration>,
        user: Option<&str>,
    ) -> u64 {
        let now = self.now_ms();
        metrics::counter!("pulsegate_rate_limit_hits_total", "provider" => self.provider)
            .increment(1);
        self.lock().on_429(headers, retry_after, user, now)
    }

    pub fn claim_notice(&self, user: Option<&str>) -> bool {
        let now = self.now_ms();
        self.lock().claim_notice(user, now)
    }

    /// Calls counted in the current window of limit `limit_index`.
    pub fn used(&self, limit_index: usize, user: Option<&str>) -> u32 {
        self.lock().used(limit_index, user)
    }
}

/// The limiters of this process, one per provider application: created once (by the
/// binary) and handed to every part that calls providers (the push lane, the backfill
/// lane and the API's inline fetches), so they all draw from one budget per
/// application. Cheap to clone: clones share the same limiters.
#[derive(Clone)]
pub struct Limiters {
    apps: Arc<Mutex<HashMap<String, Arc<AppLimiter>>>>,
    clock: Arc<dyn Clock>,
}

impl Default for Limiters {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Limiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let apps = self.apps.lock().map_or(0, |m| m.len());
        f.debug_struct("Limiters").field("apps", &apps).finish()
    }
}

impl Limiters {
    /// No limiter yet, on wall-clock time.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// No limiter yet, on `clock`'s time.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            apps: Arc::new(Mutex::new(HashMap::new())),
            clock,
        }
    }

    /// The limiter of one provider application: the same for every client built for
    /// the same provider, API and client id (the push normalizer, the backfill worker
    /// and the API's inline fetches share one budget). `cfg` replaces its limits.
    pub fn app(
        &self,
        provider: &'static str,
        api_base: &str,
        client_id: &str,
        cfg: &RateLimitConfig,
    ) -> Arc<AppLimiter> {
        let key = format!("{provider}\n{api_base}\n{client_id}");
        let mut map = self.apps.lock().unwrap_or_else(|e| e.into_inner());
        let limiter = map
            .entry(key)
            .or_insert_with(|| Arc::new(AppLimiter::new(provider, cfg.clone(), self.clock.clone())))
            .clone();
        drop(map);
        limiter.reconfigure(cfg);
        limiter
    }
}

#[cfg(test)]
mod tests {
    use super::super::defaults;
    use super::*;

    #[test]
    fn one_limiters_value_shares_one_limiter_per_application() {
        let limiters = Limiters::new();
        let a = limiters.app("strava", "http://a", "1", &defaults::strava());
        let b = limiters
            .clone()
            .app("strava", "http://a", "1", &defaults::strava());
        let other = limiters.app("strava", "http://a", "2", &defaults::strava());
        assert!(Arc::ptr_eq(&a, &b), "a clone shares the limiters");
        assert!(!Arc::ptr_eq(&a, &other));
        // Another value is another process's budget.
        let elsewhere = Limiters::new().app("strava", "http://a", "1", &defaults::strava());
        assert!(!Arc::ptr_eq(&a, &elsewhere));
    }
}

//! Provider rate limits, per provider application.
//!
//! Providers limit what one application (one client id) may call per window: Strava
//! 100 reads per 15 minutes and 1,000 per day, WHOOP 100 per minute and 10,000 per
//! day, Fitbit 150 per user per hour, … ([`defaults`]). Every API call of a provider
//! (push notifications and historical data requests alike) draws from one [`AppLimiter`]
//! shared by every client of the same application in this process ([`app_limiter`]):
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

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use http::HeaderMap;
use serde::Deserialize;

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
        }
    }
}

// One limit, and how a provider reports its usage: provider facts, stated in each
// provider's `Descriptor` (`pulsegate-provider`) and read here.
pub use pulsegate_provider::ratelimit::{HeaderStyle, WindowLimit};

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

/// The documented limits of each provider (the defaults of `[normalizer.<p>.rate_limit]`),
/// as its `Descriptor` states them (`pulsegate-provider`).
pub mod defaults {
    use pulsegate_schema::Provider;

    use super::RateLimitConfig;

    /// `p`'s documented limits (none published: no local limit, 429s honoured).
    pub fn of(p: Provider) -> RateLimitConfig {
        let documented = pulsegate_provider::descriptor(p).rate_limits;
        RateLimitConfig::new(documented.limits.to_vec(), documented.headers)
    }

    #[cfg(test)]
    pub fn strava() -> RateLimitConfig {
        of(Provider::Strava)
    }

    #[cfg(test)]
    pub fn whoop() -> RateLimitConfig {
        of(Provider::Whoop)
    }

    #[cfg(test)]
    pub fn fitbit() -> RateLimitConfig {
        of(Provider::Fitbit)
    }
}

/// What the limiter says about a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Call now (counted).
    Go,
    /// Not before `until_ms`. `provider_block`: a provider's 429 said so (else the
    /// budget above the push reserve is used up for this window).
    Wait { until_ms: u64, provider_block: bool },
}

#[derive(Clone, Copy, Debug, Default)]
struct Count {
    /// Index of the window (`now / period`).
    window: u64,
    used: u32,
    /// A limit the provider reported for this window (it may differ from the config).
    limit: Option<u32>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Block {
    until_ms: u64,
    /// A `rate_limit_hit` was claimed for this block.
    noticed: bool,
}

/// Per-user state is forgotten beyond this many users (expired entries first).
const MAX_USERS: usize = 50_000;

/// The counting for one provider application. Pure: the time is an argument.
#[derive(Debug)]
pub struct Limiter {
    cfg: RateLimitConfig,
    /// One count per application-wide limit (same order as the config's).
    app: Vec<Count>,
    /// One count per per-user limit, by user.
    users: HashMap<String, Vec<Count>>,
    app_block: Block,
    user_blocks: HashMap<String, Block>,
}

impl Limiter {
    pub fn new(cfg: RateLimitConfig) -> Self {
        let mut l = Self {
            cfg: RateLimitConfig::default(),
            app: Vec::new(),
            users: HashMap::new(),
            app_block: Block::default(),
            user_blocks: HashMap::new(),
        };
        l.reconfigure(cfg);
        l
    }

    pub fn config(&self) -> &RateLimitConfig {
        &self.cfg
    }

    /// New limits; the current windows' counts are kept when the limits' shape is.
    pub fn reconfigure(&mut self, cfg: RateLimitConfig) {
        if cfg == self.cfg && !self.app.is_empty() {
            return;
        }
        let same_shape = cfg.limits.len() == self.cfg.limits.len()
            && cfg
                .limits
                .iter()
                .zip(&self.cfg.limits)
                .all(|(a, b)| a.per == b.per && a.per_user == b.per_user);
        let app_limits = cfg.limits.iter().filter(|l| !l.per_user).count();
        if !same_shape {
            self.app = vec![Count::default(); app_limits];
            self.users.clear();
        }
        self.cfg = cfg;
    }

    fn app_limits(&self) -> impl Iterator<Item = &WindowLimit> {
        self.cfg.limits.iter().filter(|l| !l.per_user)
    }

    fn user_limits(&self) -> impl Iterator<Item = &WindowLimit> {
        self.cfg.limits.iter().filter(|l| l.per_user)
    }

    /// The block that applies to `user` (a user-scoped one, else the application's).
    fn block(&self, user: Option<&str>) -> Block {
        let user_block = user
            .and_then(|u| self.user_blocks.get(u))
            .copied()
            .unwrap_or_default();
        if user_block.until_ms >= self.app_block.until_ms {
            user_block
        } else {
            self.app_block
        }
    }

    /// Asks for one call of `lane` for `user` at `now_ms`; counts it when allowed.
    /// Push calls are always allowed (and counted).
    pub fn acquire(&mut self, lane: Lane, user: Option<&str>, now_ms: u64) -> Decision {
        if lane.reserved() {
            let block = self.block(user);
            if now_ms < block.until_ms {
                return Decision::Wait {
                    until_ms: block.until_ms,
                    provider_block: true,
                };
            }
        }
        let reserve = self.cfg.reserve();
        let app_limits: Vec<WindowLimit> = self.app_limits().cloned().collect();
        let user_limits: Vec<WindowLimit> = self.user_limits().cloned().collect();
        roll(&mut self.app, &app_limits, now_ms);
        let mut user_counts = match user {
            Some(u) if !user_limits.is_empty() => {
                let mut c = self
                    .users
                    .get(u)
                    .cloned()
                    .unwrap_or_else(|| vec![Count::default(); user_limits.len()]);
                roll(&mut c, &user_limits, now_ms);
                Some(c)
            }
            _ => None,
        };
        if lane.reserved() {
            let mut until: Option<u64> = None;
            let mut check = |limits: &[WindowLimit], counts: &[Count]| {
                for (l, c) in limits.iter().zip(counts) {
                    let limit = c.limit.unwrap_or(l.requests);
                    if c.used >= allowed(limit, reserve) {
                        let end = (c.window + 1) * l.period_ms();
                        until = Some(until.map_or(end, |u: u64| u.max(end)));
                    }
                }
            };
            check(&app_limits, &self.app);
            if let Some(c) = &user_counts {
                check(&user_limits, c);
            }
            if let Some(until_ms) = until {
                if let (Some(u), Some(c)) = (user, user_counts) {
                    self.put_user(u, c, now_ms);
                }
                return Decision::Wait {
                    until_ms,
                    provider_block: false,
                };
            }
        }
        for c in &mut self.app {
            c.used = c.used.saturating_add(1);
        }
        if let Some(c) = &mut user_counts {
            for x in c.iter_mut() {
                x.used = x.used.saturating_add(1);
            }
        }
        if let (Some(u), Some(c)) = (user, user_counts) {
            self.put_user(u, c, now_ms);
        }
        Decision::Go
    }

    fn put_user(&mut self, user: &str, counts: Vec<Count>, now_ms: u64) {
        if self.users.len() >= MAX_USERS && !self.users.contains_key(user) {
            let limits: Vec<WindowLimit> = self.user_limits().cloned().collect();
            self.users.retain(|_, c| {
                c.iter()
                    .zip(&limits)
                    .any(|(c, l)| c.window == now_ms / l.period_ms())
            });
            if self.users.len() >= MAX_USERS {
                self.users.clear();
            }
        }
        self.users.insert(user.to_string(), counts);
    }

    /// Folds in the usage a provider reported in a response's headers.
    pub fn observe(&mut self, headers: &HeaderMap, user: Option<&str>, now_ms: u64) {
        for (period_secs, limit, used) in reported_usage(self.cfg.headers, headers) {
            self.set_usage(period_secs, limit, used, user, now_ms);
        }
    }

    /// Sets the window of the limit with period `period_secs` (or, when `None`, the
    /// one whose limit is `limit`, else the shortest) to at least `used` of `limit`.
    fn set_usage(
        &mut self,
        period_secs: Option<u64>,
        limit: u32,
        used: u32,
        user: Option<&str>,
        now_ms: u64,
    ) {
        let pick = |limits: &[WindowLimit]| -> Option<usize> {
            match period_secs {
                Some(p) => limits.iter().position(|l| l.per.as_secs() == p),
                None => limits
                    .iter()
                    .position(|l| l.requests == limit)
                    .or_else(|| (!limits.is_empty()).then_some(0)),
            }
        };
        let app_limits: Vec<WindowLimit> = self.app_limits().cloned().collect();
        if let Some(i) = pick(&app_limits) {
            roll(&mut self.app, &app_limits, now_ms);
            let c = &mut self.app[i];
            c.used = c.used.max(used);
            c.limit = Some(limit);
            return;
        }
        let user_limits: Vec<WindowLimit> = self.user_limits().cloned().collect();
        if let (Some(i), Some(u)) = (pick(&user_limits), user) {
            let mut c = self
                .users
                .get(u)
                .cloned()
                .unwrap_or_else(|| vec![Count::default(); user_limits.len()]);
            roll(&mut c, &user_limits, now_ms);
            c[i].used = c[i].used.max(used);
            c[i].limit = Some(limit);
            self.put_user(u, c, now_ms);
        }
    }

    /// A 429: blocks the historical lanes until the provider's retry time (the
    /// application, or only `user` when every limit is per user). Returns that time.
    pub fn on_429(
        &mut self,
        headers: &HeaderMap,
        retry_after: Option<Duration>,
        user: Option<&str>,
        now_ms: u64,
    ) -> u64 {
        self.observe(headers, user, now_ms);
        let wait_ms = retry_after
            .or_else(|| reset_after(self.cfg.headers, headers))
            .map(|d| d.as_millis() as u64)
            .or_else(|| {
                self.exhausted_window_end(user, now_ms)
                    .map(|end| end - now_ms)
            })
            .unwrap_or(self.cfg.default_block.as_millis() as u64)
            .max(1);
        let until = now_ms + wait_ms;
        let block = match user {
            Some(u) if self.cfg.user_scoped() => self.user_blocks.entry(u.to_string()).or_default(),
            _ => &mut self.app_block,
        };
        if until > block.until_ms {
            if now_ms >= block.until_ms {
                // A new block: its rate_limit_hit is still to be announced.
                block.noticed = false;
            }
            block.until_ms = until;
        }
        block.until_ms
    }

    /// The end of the longest window whose usage reached its limit (what Strava's
    /// headers tell after a 429: the 15-minute window, or the day).
    fn exhausted_window_end(&mut self, user: Option<&str>, now_ms: u64) -> Option<u64> {
        let app_limits: Vec<WindowLimit> = self.app_limits().cloned().collect();
        roll(&mut self.app, &app_limits, now_ms);
        let mut end: Option<u64> = None;
        for (l, c) in app_limits.iter().zip(&self.app) {
            if c.used >= c.limit.unwrap_or(l.requests) {
                let e = (c.window + 1) * l.period_ms();
                end = Some(end.map_or(e, |x| x.max(e)));
            }
        }
        let user_limits: Vec<WindowLimit> = self.user_limits().cloned().collect();
        if let Some(c) = user.and_then(|u| self.users.get(u)) {
            for (l, c) in user_limits.iter().zip(c) {
                if c.window == now_ms / l.period_ms() && c.used >= c.limit.unwrap_or(l.requests) {
                    let e = (c.window + 1) * l.period_ms();
                    end = Some(end.map_or(e, |x| x.max(e)));
                }
            }
        }
        end.filter(|e| *e > now_ms)
    }

    /// True once per provider block: the caller announces it (`rate_limit_hit`).
    pub fn claim_notice(&mut self, user: Option<&str>, now_ms: u64) -> bool {
        let user_scoped = self.cfg.user_scoped();
        let block = match user {
            Some(u) if user_scoped => match self.user_blocks.get_mut(u) {
                Some(b) => b,
                None => return false,
            },
            _ => &mut self.app_block,
        };
        if now_ms < block.until_ms && !block.noticed {
            block.noticed = true;
            true
        } else {
            false
        }
    }

    /// Calls the window of `limit_index` has counted (tests, metrics).
    pub fn used(&self, limit_index: usize, user: Option<&str>) -> u32 {
        let Some(l) = self.cfg.limits.get(limit_index) else {
            return 0;
        };
        let pos = self.cfg.limits[..limit_index]
            .iter()
            .filter(|x| x.per_user == l.per_user)
            .count();
        if l.per_user {
            user.and_then(|u| self.users.get(u))
                .map_or(0, |c| c[pos].used)
        } else {
            self.app[pos].used
        }
    }
}

/// Calls a historical lane may make in a window of `limit` with `reserve` kept for push.
pub fn allowed(limit: u32, reserve: f64) -> u32 {
    let kept = (f64::from(limit) * reserve).ceil() as u32;
    limit.saturating_sub(kept)
}

/// Starts new windows where the time moved past the counted one.
fn roll(counts: &mut Vec<Count>, limits: &[WindowLimit], now_ms: u64) {
    if counts.len() != limits.len() {
        *counts = vec![Count::default(); limits.len()];
    }
    for (c, l) in counts.iter_mut().zip(limits) {
        let w = now_ms / l.period_ms();
        if c.window != w {
            *c = Count {
                window: w,
                used: 0,
                limit: c.limit,
            };
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

fn pair(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once(',')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

/// `(period in seconds if known, limit, used)` as the provider reports them.
fn reported_usage(style: HeaderStyle, h: &HeaderMap) -> Vec<(Option<u64>, u32, u32)> {
    match style {
        HeaderStyle::None => Vec::new(),
        HeaderStyle::Strava => {
            let read = (
                header(h, "x-readratelimit-limit").and_then(pair),
                header(h, "x-readratelimit-usage").and_then(pair),
            );
            let overall = (
                header(h, "x-ratelimit-limit").and_then(pair),
                header(h, "x-ratelimit-usage").and_then(pair),
            );
            let ((l15, lday), (u15, uday)) = match (read, overall) {
                ((Some(l), Some(u)), _) | (_, (Some(l), Some(u))) => (l, u),
                _ => return Vec::new(),
            };
            vec![(Some(900), l15, u15), (Some(86_400), lday, uday)]
        }
        HeaderStyle::Remaining | HeaderStyle::Fitbit => {
            let prefix = if style == HeaderStyle::Fitbit {
                "fitbit-rate-limit"
            } else {
                "x-ratelimit"
            };
            let limit_header = header(h, &format!("{prefix}-limit"));
            let remaining =
                header(h, &format!("{prefix}-remaining")).and_then(|r| r.parse::<u32>().ok());
            // `100, 100;window=60, 10000;window=86400`: the first number is the limit in
            // force; a `;window=` on an entry with that number names its period.
            let Some((limit, period)) = limit_header.and_then(|s| {
                let mut parts = s.split(',').map(str::trim);
                let first: u32 = parts.next()?.split(';').next()?.trim().parse().ok()?;
                let period = parts
                    .filter_map(|p| {
                        let (n, w) = p.split_once(";window=")?;
                        if n.trim().parse::<u32>().ok()? != first {
                            return None;
                        }
                        w.trim().parse::<u64>().ok()
                    })
                    .next();
                Some((first, period))
            }) else {
                return Vec::new();
            };
            match remaining {
                Some(r) => vec![(period, limit, limit.saturating_sub(r))],
                None => Vec::new(),
            }
        }
    }
}

/// Seconds until the provider's window resets (`X-RateLimit-Reset` style).
fn reset_after(style: HeaderStyle, h: &HeaderMap) -> Option<Duration> {
    let name = match style {
        HeaderStyle::Remaining => "x-ratelimit-reset",
        HeaderStyle::Fitbit => "fitbit-rate-limit-reset",
        HeaderStyle::Strava | HeaderStyle::None => return None,
    };
    header(h, name)?
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

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

fn registry() -> &'static Mutex<HashMap<String, Arc<AppLimiter>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<String, Arc<AppLimiter>>>> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The limiter of one provider application in this process: the same for every client
/// built for the same provider, API and client id (the push normalizer, the backfill
/// worker and the API's inline fetches share one budget). `cfg` replaces its limits.
pub fn app_limiter(
    provider: &'static str,
    api_base: &str,
    client_id: &str,
    cfg: &RateLimitConfig,
) -> Arc<AppLimiter> {
    let key = format!("{provider}\n{api_base}\n{client_id}");
    let mut map = registry().lock().unwrap_or_else(|e| e.into_inner());
    let limiter = map
        .entry(key)
        .or_insert_with(|| {
            Arc::new(AppLimiter::new(
                provider,
                cfg.clone(),
                Arc::new(SystemClock),
            ))
        })
        .clone();
    drop(map);
    limiter.reconfigure(cfg);
    limiter
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: u64 = 15 * 60 * 1000;
    const DAY: u64 = 86_400_000;
    /// 2024-01-01T00:00:00Z, a window boundary of every period.
    const T0: u64 = 1_704_067_200_000;

    fn strava() -> Limiter {
        Limiter::new(defaults::strava())
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn backfill_stops_at_the_push_reserve_and_push_continues() {
        let mut l = strava();
        // 100 per 15 min, 30% reserved: backfill gets 70.
        assert_eq!(allowed(100, 0.3), 70);
        for i in 0..70 {
            assert_eq!(
                l.acquire(Lane::Backfill, None, T0 + i),
                Decision::Go,
                "call {i}"
            );
        }
        assert_eq!(
            l.acquire(Lane::Backfill, None, T0 + 100),
            Decision::Wait {
                until_ms: T0 + Q,
                provider_block: false
            }
        );
        assert_eq!(
            l.acquire(Lane::Inline, None, T0 + 100),
            Decision::Wait {
                until_ms: T0 + Q,
                provider_block: false
            }
        );
        // Push still has the reserved 30, and is never refused locally.
        for _ in 0..40 {
            assert_eq!(l.acquire(Lane::Push, None, T0 + 200), Decision::Go);
        }
        assert_eq!(l.used(0, None), 110);
        assert_eq!(l.used(1, None), 110);
        // Next quarter hour: a fresh 15-minute window, the day keeps counting.
        assert_eq!(l.acquire(Lane::Backfill, None, T0 + Q), Decision::Go);
        assert_eq!(l.used(0, None), 1);
        assert_eq!(l.used(1, None), 111);
    }

    #[test]
    fn the_daily_limit_holds_backfill_until_midnight_utc() {
        let mut l = strava();
        // 1,000 a day, 700 for backfill: spread over the day's quarters.
        let mut t = T0;
        let mut calls = 0;
        while calls < 700 {
            match l.acquire(Lane::Backfill, None, t) {
                Decision::Go => calls += 1,
                Decision::Wait { until_ms, .. } => t = until_ms,
            }
        }
        assert!(t < T0 + DAY);
        assert_eq!(
            l.acquire(Lane::Backfill, None, t),
            Decision::Wait {
                until_ms: T0 + DAY,
                provider_block: false
            }
        );
        assert_eq!(l.acquire(Lane::Backfill, None, T0 + DAY), Decision::Go);
    }

    #[test]
    fn reserve_edges() {
        assert_eq!(allowed(100, 0.0), 100);
        assert_eq!(allowed(100, 1.0), 0);
        assert_eq!(allowed(10, 0.3), 7);
        assert_eq!(allowed(1, 0.3), 0, "a reserve never rounds down to nothing");
        let mut cfg = defaults::strava();
        cfg.push_reserve = 0.0;
        let mut l = Limiter::new(cfg);
        for _ in 0..100 {
            assert_eq!(l.acquire(Lane::Backfill, None, T0), Decision::Go);
        }
        assert!(matches!(
            l.acquire(Lane::Backfill, None, T0),
            Decision::Wait { .. }
        ));
        // No limits at all: always go.
        let mut none = Limiter::new(RateLimitConfig::default());
        for _ in 0..10_000 {
            assert_eq!(none.acquire(Lane::Backfill, None, T0), Decision::Go);
        }
    }

    #[test]
    fn strava_usage_headers_are_folded_in() {
        let mut l = strava();
        // Another process used 95 of the 15 minutes' 100 reads.
        l.observe(
            &headers(&[
                ("X-RateLimit-Limit", "200,2000"),
                ("X-RateLimit-Usage", "120,300"),
                ("X-ReadRateLimit-Limit", "100,1000"),
                ("X-ReadRateLimit-Usage", "95,300"),
            ]),
            None,
            T0 + 5,
        );
        assert_eq!(l.used(0, None), 95);
        assert_eq!(l.used(1, None), 300);
        assert!(matches!(
            l.acquire(Lane::Backfill, None, T0 + 6),
            Decision::Wait {
                provider_block: false,
                ..
            }
        ));
        // A raised limit reported by Strava is used.
        let mut l = strava();
        l.observe(
            &headers(&[
                ("X-ReadRateLimit-Limit", "300,3000"),
                ("X-ReadRateLimit-Usage", "95,300"),
            ]),
            None,
            T0,
        );
        assert_eq!(l.acquire(Lane::Backfill, None, T0 + 1), Decision::Go);
        // Lower counts than ours never lower ours.
        l.observe(
            &headers(&[
                ("X-ReadRateLimit-Limit", "300,3000"),
                ("X-ReadRateLimit-Usage", "1,1"),
            ]),
            None,
            T0 + 2,
        );
        assert_eq!(l.used(0, None), 96);
    }

    #[test]
    fn a_429_blocks_the_historical_lanes_once_with_one_notice() {
        let mut l = strava();
        let until = l.on_429(
            &HeaderMap::new(),
            Some(Duration::from_secs(30)),
            Some("u1"),
            T0 + 1_000,
        );
        assert_eq!(until, T0 + 31_000);
        assert_eq!(
            l.acquire(Lane::Backfill, Some("u2"), T0 + 2_000),
            Decision::Wait {
                until_ms: until,
                provider_block: true
            }
        );
        // Push is not held back by it.
        assert_eq!(l.acquire(Lane::Push, Some("u2"), T0 + 2_000), Decision::Go);
        // One notice per block, whoever asks and however often.
        assert!(l.claim_notice(Some("u1"), T0 + 2_000));
        assert!(!l.claim_notice(Some("u2"), T0 + 2_001));
        assert!(!l.claim_notice(Some("u1"), T0 + 2_002));
        // A second 429 inside the block extends it but is the same block.
        let again = l.on_429(
            &HeaderMap::new(),
            Some(Duration::from_secs(60)),
            None,
            T0 + 3_000,
        );
        assert_eq!(again, T0 + 63_000);
        assert!(!l.claim_notice(None, T0 + 3_001));
        // After the block: calls resume; a later 429 is a new block with a new notice.
        assert_eq!(l.acquire(Lane::Backfill, None, T0 + 63_000), Decision::Go);
        assert!(!l.claim_notice(None, T0 + 63_000));
        l.on_429(&HeaderMap::new(), None, None, T0 + 70_000);
        assert!(l.claim_notice(None, T0 + 70_001));
    }

    #[test]
    fn a_429_without_retry_after_waits_for_stravas_window() {
        let mut l = strava();
        // Strava's headers on the 429: the 15-minute read limit is used up.
        let h = headers(&[
            ("X-ReadRateLimit-Limit", "100,1000"),
            ("X-ReadRateLimit-Usage", "101,400"),
        ]);
        assert_eq!(l.on_429(&h, None, None, T0 + 60_000), T0 + Q);
        // The daily one: until midnight UTC.
        let mut l = strava();
        let h = headers(&[
            ("X-ReadRateLimit-Limit", "100,1000"),
            ("X-ReadRateLimit-Usage", "20,1001"),
        ]);
        assert_eq!(l.on_429(&h, None, None, T0 + 60_000), T0 + DAY);
        // Nothing known: the configured default.
        let mut l = Limiter::new(RateLimitConfig::default());
        assert_eq!(l.on_429(&HeaderMap::new(), None, None, T0), T0 + 60_000);
    }

    #[test]
    fn whoop_and_fitbit_headers() {
        let mut l = Limiter::new(defaults::whoop());
        let h = headers(&[
            (
                "X-RateLimit-Limit",
                "100, 100;window=60, 10000;window=86400",
            ),
            ("X-RateLimit-Remaining", "2"),
            ("X-RateLimit-Reset", "3"),
        ]);
        l.observe(&h, None, T0);
        assert_eq!(l.used(0, None), 98);
        assert_eq!(l.on_429(&h, None, None, T0 + 10), T0 + 3_010);

        // Fitbit counts per user; a 429 blocks that user only.
        let mut l = Limiter::new(defaults::fitbit());
        let h = headers(&[
            ("Fitbit-Rate-Limit-Limit", "150"),
            ("Fitbit-Rate-Limit-Remaining", "0"),
            ("Fitbit-Rate-Limit-Reset", "1200"),
        ]);
        l.observe(&h, Some("a"), T0);
        assert_eq!(l.used(0, Some("a")), 150);
        assert_eq!(l.used(0, Some("b")), 0);
        assert_eq!(l.on_429(&h, None, Some("a"), T0), T0 + 1_200_000);
        assert!(matches!(
            l.acquire(Lane::Backfill, Some("a"), T0 + 1),
            Decision::Wait {
                provider_block: true,
                ..
            }
        ));
        assert_eq!(l.acquire(Lane::Backfill, Some("b"), T0 + 1), Decision::Go);
        assert!(l.claim_notice(Some("a"), T0 + 2));
        assert!(!l.claim_notice(Some("b"), T0 + 2));
    }

    #[test]
    fn per_user_budgets_are_separate() {
        let mut l = Limiter::new(RateLimitConfig::new(
            vec![WindowLimit::user(10, 3600)],
            HeaderStyle::None,
        ));
        for _ in 0..7 {
            assert_eq!(l.acquire(Lane::Backfill, Some("a"), T0), Decision::Go);
        }
        assert!(matches!(
            l.acquire(Lane::Backfill, Some("a"), T0),
            Decision::Wait { .. }
        ));
        assert_eq!(l.acquire(Lane::Backfill, Some("b"), T0), Decision::Go);
        assert_eq!(l.acquire(Lane::Push, Some("a"), T0), Decision::Go);
        assert_eq!(l.used(0, Some("a")), 8);
    }

    #[test]
    fn reconfiguring_keeps_counts_of_the_same_windows() {
        let mut l = strava();
        for _ in 0..5 {
            l.acquire(Lane::Push, None, T0);
        }
        let mut raised = defaults::strava();
        raised.limits[0].requests = 300;
        l.reconfigure(raised);
        assert_eq!(l.used(0, None), 5);
        l.reconfigure(defaults::whoop());
        assert_eq!(l.used(0, None), 0);
    }

    #[test]
    fn registry_shares_one_limiter_per_application() {
        let a = app_limiter("strava", "http://a", "1", &defaults::strava());
        let b = app_limiter("strava", "http://a", "1", &defaults::strava());
        let other = app_limiter("strava", "http://a", "2", &defaults::strava());
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &other));
    }

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

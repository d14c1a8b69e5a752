//! The counting of one provider application: fixed windows aligned on the Unix epoch,
//! the push reserve, and the blocks a provider's 429 declares. Pure: the time is an
//! argument.

use std::collections::HashMap;
use std::time::Duration;

use http::HeaderMap;

use super::headers::{reported_usage, reset_after};
use super::{Lane, RateLimitConfig, WindowLimit};

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

#[cfg(test)]
mod tests {
    use super::super::{defaults, HeaderStyle};
    use super::*;

    const Q: u64 = 15 * 60 * 1000;
    const DAY: u64 = 86_400_000;
    /// 2024-01-01T00:00:00Z, a window boundary of every period.
    const T0: u64 = 1_704_067_200_000;

    fn strava() -> Limiter {
        Limiter::new(defaults::strava())
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
}

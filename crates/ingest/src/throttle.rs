//! Failed verifications throttled per source address: after `failures` failures (bad
//! signature or path token, stale, replay) from one address within `window_secs`, its
//! further requests get 429 before any verification work, until the window ends.
//! Memory is bounded: at most `max_sources` addresses are tracked; past that the
//! oldest windows are dropped first.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;

use axum::http::HeaderMap;
use serde::Deserialize;

/// `[ingest.throttle]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleConfig {
    /// Failed verifications from one address, within the window, after which it gets
    /// 429. 0 disables throttling.
    pub failures: u32,
    /// The window, in seconds, counted from an address's first failure.
    pub window_secs: u64,
    /// Most addresses tracked at once (oldest dropped first).
    pub max_sources: usize,
    /// Behind a reverse proxy: the source is the last `X-Forwarded-For` entry (the one
    /// the proxy appended) instead of the TCP peer. Only with a proxy that sets it.
    pub trust_forwarded_for: bool,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            failures: 100,
            window_secs: 60,
            max_sources: 65_536,
            trust_forwarded_for: false,
        }
    }
}

struct Window {
    started_ms: u64,
    failures: u32,
}

#[derive(Default)]
struct Table {
    by_source: HashMap<IpAddr, Window>,
    /// Sources in the order their windows started (entries may be stale: a source
    /// whose window restarted appears again later).
    order: VecDeque<(IpAddr, u64)>,
}

pub(crate) struct Throttle {
    config: ThrottleConfig,
    table: Mutex<Table>,
}

impl Throttle {
    pub(crate) fn new(config: ThrottleConfig) -> Self {
        Self {
            config,
            table: Mutex::new(Table::default()),
        }
    }

    fn window_ms(&self) -> u64 {
        self.config.window_secs.max(1).saturating_mul(1000)
    }

    /// The address requests are counted against.
    pub(crate) fn source(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        if self.config.trust_forwarded_for {
            if let Some(ip) = headers
                .get_all("x-forwarded-for")
                .iter()
                .next_back()
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|v| v.trim().parse::<IpAddr>().ok())
            {
                return Some(canonical(ip));
            }
        }
        peer.map(canonical)
    }

    /// `Some(seconds to wait)` while `source` is throttled.
    pub(crate) fn blocked(&self, source: Option<IpAddr>, now_ms: u64) -> Option<u64> {
        let source = source?;
        if self.config.failures == 0 {
            return None;
        }
        let table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let w = table.by_source.get(&source)?;
        let ends = w.started_ms.saturating_add(self.window_ms());
        (w.failures >= self.config.failures && now_ms < ends)
            .then(|| (ends - now_ms).div_ceil(1000).max(1))
    }

    /// Counts one failed verification from `source`.
    pub(crate) fn failed(&self, source: Option<IpAddr>, now_ms: u64) {
        let Some(source) = source else { return };
        if self.config.failures == 0 {
            return;
        }
        let window = self.window_ms();
        let mut guard = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let table = &mut *guard;
        match table.by_source.get_mut(&source) {
            Some(w) if now_ms < w.started_ms.saturating_add(window) => {
                w.failures = w.failures.saturating_add(1);
            }
            _ => {
                table.by_source.insert(
                    source,
                    Window {
                        started_ms: now_ms,
                        failures: 1,
                    },
                );
                table.order.push_back((source, now_ms));
            }
        }
        // Bounded: drop expired windows and, past the cap, the oldest ones.
        while let Some(&(ip, started)) = table.order.front() {
            let current = table.by_source.get(&ip).map(|w| w.started_ms);
            let stale = current != Some(started);
            let expired = now_ms >= started.saturating_add(window);
            let over = table.by_source.len() > self.config.max_sources.max(1);
            if !(stale || expired || over) {
                break;
            }
            table.order.pop_front();
            if !stale {
                table.by_source.remove(&ip);
            }
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.table
            .lock()
            .map(|t| t.by_source.len())
            .unwrap_or_default()
    }
}

/// IPv4-mapped IPv6 (as dual-stack listeners report) as IPv4, so one client is one key.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(failures: u32, max_sources: usize) -> Throttle {
        Throttle::new(ThrottleConfig {
            failures,
            window_secs: 10,
            max_sources,
            trust_forwarded_for: false,
        })
    }

    fn ip(n: u32) -> Option<IpAddr> {
        Some(IpAddr::V4(std::net::Ipv4Addr::from(n)))
    }

    #[test]
    fn blocks_after_the_threshold_until_the_window_ends() {
        let t = throttle(3, 100);
        for _ in 0..2 {
            t.failed(ip(1), 1_000);
        }
        assert_eq!(t.blocked(ip(1), 1_000), None);
        t.failed(ip(1), 2_000);
        assert_eq!(t.blocked(ip(1), 2_000), Some(9));
        assert_eq!(
            t.blocked(ip(2), 2_000),
            None,
            "other sources are not affected"
        );
        assert_eq!(t.blocked(None, 2_000), None);
        // The window started at the first failure (1 s) and lasts 10 s.
        assert_eq!(t.blocked(ip(1), 10_999), Some(1));
        assert_eq!(t.blocked(ip(1), 11_000), None);
        // A new window starts from zero.
        t.failed(ip(1), 11_000);
        assert_eq!(t.blocked(ip(1), 11_001), None);
    }

    #[test]
    fn memory_is_bounded() {
        let t = throttle(2, 1000);
        for n in 0..50_000 {
            t.failed(ip(n), 1_000 + u64::from(n) / 100);
        }
        assert!(t.tracked() <= 1000, "{}", t.tracked());
        // The newest sources are still tracked.
        t.failed(ip(49_999), 1_600);
        assert!(t.blocked(ip(49_999), 1_600).is_some());
        // Expired windows are dropped as time passes.
        t.failed(ip(1), 1_000_000);
        assert_eq!(t.tracked(), 1);
    }

    #[test]
    fn disabled_and_forwarded_for() {
        let t = throttle(0, 10);
        for _ in 0..10 {
            t.failed(ip(1), 1);
        }
        assert_eq!(t.blocked(ip(1), 1), None);

        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "1.2.3.4, 10.0.0.9".parse().unwrap());
        let peer = Some("::ffff:127.0.0.1".parse().unwrap());
        assert_eq!(t.source(peer, &h), Some("127.0.0.1".parse().unwrap()));
        let proxied = Throttle::new(ThrottleConfig {
            trust_forwarded_for: true,
            ..ThrottleConfig::default()
        });
        assert_eq!(proxied.source(peer, &h), Some("10.0.0.9".parse().unwrap()));
    }
}

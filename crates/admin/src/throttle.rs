//! Failed admin authentications, counted per source address: after `max_failures`
//! within a window, the address is refused (429) until the window ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses tracked at most; beyond this, expired windows are dropped first, then the
/// oldest (the admin listener is private, so many addresses is unusual).
const MAX_TRACKED: usize = 4096;

pub(crate) struct AuthThrottle {
    max_failures: u32,
    window: Duration,
    /// `None` key: requests without a peer address (in-process callers).
    failures: Mutex<HashMap<Option<IpAddr>, (Instant, u32)>>,
}

impl AuthThrottle {
    pub(crate) fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            max_failures,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// How long `peer` must wait, if it is over the limit.
    pub(crate) fn blocked(&self, peer: Option<IpAddr>) -> Option<Duration> {
        if self.max_failures == 0 {
            return None;
        }
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let (since, count) = failures.get(&peer)?;
        let left = self.window.checked_sub(since.elapsed())?;
        (*count >= self.max_failures).then_some(left)
    }

    pub(crate) fn failed(&self, peer: Option<IpAddr>) {
        if self.max_failures == 0 {
            return;
        }
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= MAX_TRACKED && !failures.contains_key(&peer) {
            failures.retain(|_, (since, _)| since.elapsed() < self.window);
            if failures.len() >= MAX_TRACKED {
                if let Some(oldest) = failures
                    .iter()
                    .min_by_key(|(_, (s, _))| *s)
                    .map(|(k, _)| *k)
                {
                    failures.remove(&oldest);
                }
            }
        }
        let entry = failures.entry(peer).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= self.window {
            *entry = (Instant::now(), 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_per_address_until_the_window_ends() {
        let t = AuthThrottle::new(3, Duration::from_millis(200));
        let a = Some(IpAddr::from([10, 0, 0, 1]));
        let b = Some(IpAddr::from([10, 0, 0, 2]));
        for _ in 0..2 {
            t.failed(a);
            assert!(t.blocked(a).is_none());
        }
        t.failed(a);
        assert!(t.blocked(a).is_some());
        assert!(t.blocked(b).is_none(), "other addresses are not affected");
        std::thread::sleep(Duration::from_millis(250));
        assert!(t.blocked(a).is_none(), "the window ended");
    }
}

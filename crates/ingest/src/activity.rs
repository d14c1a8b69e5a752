//! What each provider's push route has seen in this process: when it last accepted a
//! notification and how many it refused as unverified (bad signature or token, stale,
//! replayed). The admin API shows it beside each integration, so an operator sees
//! whether a provider is really receiving; `/metrics` has the same as counters.

use std::sync::atomic::{AtomicU64, Ordering};

use pulsegate_schema::Provider;

#[derive(Default)]
struct Slot {
    last_accepted_ms: AtomicU64,
    failures: AtomicU64,
    last_failure_ms: AtomicU64,
}

/// One slot per provider of the wire enum.
pub(crate) struct Activity {
    slots: Vec<Slot>,
}

impl Default for Activity {
    fn default() -> Self {
        Self {
            slots: Provider::ALL.iter().map(|_| Slot::default()).collect(),
        }
    }
}

/// A provider's push activity in this process (times in ms since the epoch).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushActivity {
    /// Its push route is mounted (configured, credentials present).
    pub mounted: bool,
    pub last_accepted_ms: Option<u64>,
    pub verification_failures: u64,
    pub last_failure_ms: Option<u64>,
}

impl Activity {
    pub(crate) fn accepted(&self, p: Provider, now_ms: u64) {
        if let Some(s) = self.slots.get(p.index()) {
            s.last_accepted_ms.fetch_max(now_ms, Ordering::Relaxed);
        }
    }

    pub(crate) fn failed(&self, p: Provider, now_ms: u64) {
        if let Some(s) = self.slots.get(p.index()) {
            s.failures.fetch_add(1, Ordering::Relaxed);
            s.last_failure_ms.fetch_max(now_ms, Ordering::Relaxed);
        }
    }

    pub(crate) fn of(&self, p: Provider, mounted: bool) -> PushActivity {
        let some = |v: u64| (v > 0).then_some(v);
        match self.slots.get(p.index()) {
            Some(s) => PushActivity {
                mounted,
                last_accepted_ms: some(s.last_accepted_ms.load(Ordering::Relaxed)),
                verification_failures: s.failures.load(Ordering::Relaxed),
                last_failure_ms: some(s.last_failure_ms.load(Ordering::Relaxed)),
            },
            None => PushActivity {
                mounted,
                ..PushActivity::default()
            },
        }
    }
}

//! A per-destination circuit breaker, so a destination that is down does not turn its
//! whole incoming stream into retry-tier traffic.
//!
//! * Closed: attempts flow freely. Every failed attempt (main worker or retry tier)
//!   adds to a run of consecutive failures; any success resets it.
//! * After `failure_threshold` consecutive failures it opens: the destination's main
//!   worker stops taking new events (its handlers wait here, so its consumer stops
//!   polling once its concurrency is used up; the backlog stays on the bus, its cursor
//!   does not move). One event at a time is let through as a probe, after
//!   `initial_probe_interval`, then after doubling intervals up to
//!   `max_probe_interval`. A failed probe goes to the retry tiers like any failure.
//! * The first success (a probe, an attempt that was already in flight, or a retry
//!   tier delivery) closes it and the backlog drains.
//!
//! Retry tiers do not wait on the breaker (that would hold up other destinations'
//! retries); what they send was already bounded by what entered them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::Gauge;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::BreakerConfig;

pub(crate) struct Breaker {
    cfg: BreakerConfig,
    destination: String,
    state: Mutex<State>,
    changed: Notify,
    gauge: Gauge,
}

#[derive(Debug)]
struct State {
    failures: u32,
    open: bool,
    probing: bool,
    next_probe: Instant,
    interval: Duration,
}

/// Leave to make one attempt. Report how it went with [`Permit::settle`]; a permit
/// dropped unsettled (the attempt was abandoned) counts as neither.
pub(crate) struct Permit {
    breaker: Arc<Breaker>,
    probe: bool,
    settled: bool,
}

impl Breaker {
    pub fn new(destination: &str, cfg: BreakerConfig, gauge: Gauge) -> Arc<Self> {
        gauge.set(0.0);
        Arc::new(Self {
            cfg,
            destination: destination.to_string(),
            state: Mutex::new(State {
                failures: 0,
                open: false,
                probing: false,
                next_probe: Instant::now(),
                interval: Duration::ZERO,
            }),
            changed: Notify::new(),
            gauge,
        })
    }

    #[cfg(test)]
    pub fn is_open(&self) -> bool {
        self.state.lock().expect("breaker lock").open
    }

    /// Waits until an attempt may be made; `None` once `stop` is cancelled.
    pub async fn acquire(self: &Arc<Self>, stop: &CancellationToken) -> Option<Permit> {
        // Fast path: closed (the common case) needs no waiter registration.
        if !self.state.lock().expect("breaker lock").open {
            return Some(self.permit(false));
        }
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let wake_at = {
                let mut s = self.state.lock().expect("breaker lock");
                if !s.open {
                    return Some(self.permit(false));
                }
                if !s.probing && Instant::now() >= s.next_probe {
                    s.probing = true;
                    return Some(self.permit(true));
                }
                (!s.probing).then_some(s.next_probe)
            };
            let sleep = async {
                match wake_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = stop.cancelled() => return None,
                _ = &mut notified => {}
                _ = sleep => {}
            }
        }
    }

    fn permit(self: &Arc<Self>, probe: bool) -> Permit {
        Permit {
            breaker: self.clone(),
            probe,
            settled: false,
        }
    }

    /// Records an attempt made without a permit (retry tiers).
    pub fn record(&self, success: bool) {
        self.settle(false, Some(success));
    }

    fn settle(&self, probe: bool, success: Option<bool>) {
        let mut s = self.state.lock().expect("breaker lock");
        // Waiters exist only while open; wake them when that or the probe slot changes.
        let wake = s.open || probe;
        if probe {
            s.probing = false;
        }
        match success {
            None => {}
            Some(true) => {
                s.failures = 0;
                if s.open {
                    s.open = false;
                    self.gauge.set(0.0);
                    tracing::info!(destination = %self.destination, "breaker closed: destination is answering again");
                }
            }
            Some(false) => {
                s.failures = s.failures.saturating_add(1);
                let now = Instant::now();
                if s.open && probe {
                    s.interval = (s.interval * 2).min(self.cfg.max_probe_interval);
                    s.next_probe = now + s.interval;
                } else if !s.open
                    && self.cfg.failure_threshold > 0
                    && s.failures >= self.cfg.failure_threshold
                {
                    s.open = true;
                    s.interval = self.cfg.initial_probe_interval;
                    s.next_probe = now + s.interval;
                    self.gauge.set(1.0);
                    tracing::warn!(destination = %self.destination, failures = s.failures,
                        "breaker opened: pausing new deliveries and probing");
                }
            }
        }
        drop(s);
        if wake {
            self.changed.notify_waiters();
        }
    }
}

impl Permit {
    pub fn settle(mut self, success: bool) {
        self.settled = true;
        self.breaker.settle(self.probe, Some(success));
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.settled && self.probe {
            self.breaker.settle(true, None);
        }
    }
}

/// Breakers by destination id, shared by main workers and retry tiers.
pub(crate) struct Breakers {
    cfg: BreakerConfig,
    map: Mutex<HashMap<String, Arc<Breaker>>>,
}

impl Breakers {
    pub fn new(cfg: BreakerConfig) -> Self {
        Self {
            cfg,
            map: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, destination: &str, gauge: impl FnOnce() -> Gauge) -> Arc<Breaker> {
        let mut map = self.map.lock().expect("breakers lock");
        map.entry(destination.to_string())
            .or_insert_with(|| Breaker::new(destination, self.cfg.clone(), gauge()))
            .clone()
    }

    /// Forgets a destination's breaker (deleted, or its URL changed).
    pub fn remove(&self, destination: &str) {
        if let Some(b) = self.map.lock().expect("breakers lock").remove(destination) {
            b.gauge.set(0.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(threshold: u32) -> Arc<Breaker> {
        Breaker::new(
            "d",
            BreakerConfig {
                failure_threshold: threshold,
                initial_probe_interval: Duration::from_secs(1),
                max_probe_interval: Duration::from_secs(4),
            },
            metrics::Gauge::noop(),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn opens_probes_with_backoff_and_closes_on_success() {
        let b = breaker(3);
        let stop = CancellationToken::new();
        for _ in 0..3 {
            b.acquire(&stop).await.unwrap().settle(false);
        }
        assert!(b.is_open());

        // Only one probe at a time, and not before the interval.
        let t0 = Instant::now();
        let probe = b.acquire(&stop).await.unwrap();
        assert!(probe.probe);
        assert_eq!(t0.elapsed(), Duration::from_secs(1));
        let waiting = {
            let b = b.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let p = b.acquire(&stop).await.unwrap();
                (Instant::now(), p.probe, p)
            })
        };
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(!waiting.is_finished(), "a second probe waits for the first");
        let failed_at = Instant::now();
        probe.settle(false); // interval doubles to 2s
        let (at, is_probe, p) = waiting.await.unwrap();
        assert!(is_probe);
        assert_eq!(at - failed_at, Duration::from_secs(2));
        p.settle(false); // 4s
        let t1 = Instant::now();
        let p = b.acquire(&stop).await.unwrap();
        assert_eq!(t1.elapsed(), Duration::from_secs(4));
        p.settle(false); // capped at 4s
        let t2 = Instant::now();
        let p = b.acquire(&stop).await.unwrap();
        assert_eq!(t2.elapsed(), Duration::from_secs(4));
        p.settle(true);
        assert!(!b.is_open());
        let p = b.acquire(&stop).await.unwrap();
        assert!(!p.probe);
    }

    #[tokio::test(start_paused = true)]
    async fn abandoned_probe_frees_the_slot_and_stop_wakes_waiters() {
        let b = breaker(1);
        let stop = CancellationToken::new();
        b.acquire(&stop).await.unwrap().settle(false);
        let probe = b.acquire(&stop).await.unwrap();
        drop(probe);
        assert!(b.is_open(), "an abandoned probe decides nothing");
        let again = b.acquire(&stop).await.unwrap();
        assert!(again.probe);
        let waiter = {
            let b = b.clone();
            let stop = stop.clone();
            tokio::spawn(async move { b.acquire(&stop).await.is_none() })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        stop.cancel();
        assert!(waiter.await.unwrap());
        // A success from elsewhere (a retry tier) closes it.
        b.record(true);
        assert!(!b.is_open());
    }

    #[tokio::test]
    async fn threshold_zero_never_opens() {
        let b = breaker(0);
        for _ in 0..100 {
            b.record(false);
        }
        assert!(!b.is_open());
    }
}

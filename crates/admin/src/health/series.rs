//! One destination's delivery figures over time: a bounded ring of intervals, each the
//! difference between two readings of the dispatcher's cumulative metrics.
//!
//! Keeping differences (not the readings) makes the window's totals a plain sum, and
//! lets the oldest interval fall off without a baseline to keep.

use std::collections::VecDeque;

use serde::Serialize;

use crate::ports::DeliveryReading;

/// What happened between two samples.
#[derive(Clone, Debug, PartialEq)]
struct Interval {
    /// When the interval ended (the sample's time).
    at_ms: u64,
    secs: f64,
    ok: u64,
    failed: u64,
    /// Attempts per latency bucket (not cumulative), as [`Series::bounds`]; empty when
    /// nothing was attempted.
    latency: Vec<u64>,
    retries: u64,
    dead_letters: u64,
    /// Consumer lag at the sample (a gauge, not a difference).
    waiting: Option<u64>,
}

/// The newest failed attempt seen: kind, HTTP status, time. Never a URL, body or text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LastError {
    pub kind: String,
    pub status: Option<u16>,
    pub at_ms: u64,
}

/// Totals over the intervals the ring holds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WindowTotals {
    pub delivered: u64,
    pub failed: u64,
    /// delivered / (delivered + failed); `None` without attempts.
    pub success_ratio: Option<f64>,
    /// Estimated from the histogram buckets, as Prometheus' `histogram_quantile` does.
    pub p99_ms: Option<f64>,
    pub retries_scheduled: u64,
    pub dead_letters: u64,
}

/// Column-wise points for a chart (one entry per interval, oldest first).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Points {
    pub at_ms: Vec<u64>,
    pub ok_per_s: Vec<f64>,
    pub failed_per_s: Vec<f64>,
    pub p99_ms: Vec<Option<f64>>,
    pub waiting: Vec<Option<u64>>,
}

/// A destination's ring of intervals.
#[derive(Debug)]
pub struct Series {
    capacity: usize,
    /// The previous cumulative reading and its time (the next interval's start).
    previous: Option<(u64, DeliveryReading)>,
    intervals: VecDeque<Interval>,
    /// Upper bounds (seconds) of the latency buckets, +Inf last.
    bounds: Vec<f64>,
    pub last_error: Option<LastError>,
    pub breaker_open: bool,
    pub waiting: Option<u64>,
}

impl Series {
    /// A ring of at most `capacity` intervals (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            previous: None,
            intervals: VecDeque::new(),
            bounds: Vec::new(),
            last_error: None,
            breaker_open: false,
            waiting: None,
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.intervals.len()
    }

    /// Adds the interval ending with `reading`, taken at `at_ms`. The first reading is
    /// measured from `since_ms` and zero: the process's counters start at zero.
    /// Returns how many failed attempts the interval holds.
    pub fn push(&mut self, at_ms: u64, since_ms: u64, reading: DeliveryReading) -> u64 {
        let zero = DeliveryReading::default();
        let (from_ms, before) = match &self.previous {
            Some((t, r)) => (*t, r),
            None => (since_ms, &zero),
        };
        let bounds: Vec<f64> = reading.latency_buckets.iter().map(|(le, _)| *le).collect();
        let before_buckets: Vec<u64> = if before.latency_buckets.len() == bounds.len() {
            before.latency_buckets.iter().map(|(_, c)| *c).collect()
        } else {
            vec![0; bounds.len()]
        };
        let cumulative: Vec<u64> = reading
            .latency_buckets
            .iter()
            .zip(&before_buckets)
            .map(|((_, now), was)| now.saturating_sub(*was))
            .collect();
        let interval = Interval {
            at_ms,
            secs: (at_ms.saturating_sub(from_ms) as f64 / 1000.0).max(0.001),
            ok: reading.delivered.saturating_sub(before.delivered),
            failed: reading.failed_total().saturating_sub(before.failed_total()),
            // Idle intervals keep no buckets: most of a quiet destination's ring.
            latency: if cumulative.iter().any(|&n| n > 0) {
                per_bucket(&cumulative)
            } else {
                Vec::new()
            },
            retries: reading
                .retries_scheduled
                .saturating_sub(before.retries_scheduled),
            dead_letters: reading.dead_letters.saturating_sub(before.dead_letters),
            waiting: reading.waiting,
        };
        if bounds != self.bounds {
            // Other buckets: earlier latencies cannot be added to these.
            for i in &mut self.intervals {
                i.latency.clear();
            }
            self.bounds = bounds;
        }
        let failed = interval.failed;
        if self.intervals.len() == self.capacity {
            self.intervals.pop_front();
        }
        self.intervals.push_back(interval);
        self.breaker_open = reading.breaker_open;
        self.waiting = reading.waiting;
        self.previous = Some((at_ms, reading));
        failed
    }

    /// Keeps `error` unless an error already kept is newer.
    pub fn note_error(&mut self, error: LastError) {
        if self
            .last_error
            .as_ref()
            .is_none_or(|e| e.at_ms <= error.at_ms)
        {
            self.last_error = Some(error);
        }
    }

    /// The failure kinds whose counters grew in the newest interval (for a last error
    /// when the recent ring no longer holds the attempt).
    pub fn kinds_grown(before: &DeliveryReading, now: &DeliveryReading) -> Vec<String> {
        now.failed
            .iter()
            .filter(|(k, n)| **n > before.failed.get(*k).copied().unwrap_or(0))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// The previous reading (before the newest `push`, if any).
    pub fn previous_reading(&self) -> Option<&DeliveryReading> {
        self.previous.as_ref().map(|(_, r)| r)
    }

    pub fn totals(&self) -> WindowTotals {
        let mut latency = vec![0u64; self.bounds.len()];
        let mut t = WindowTotals {
            delivered: 0,
            failed: 0,
            success_ratio: None,
            p99_ms: None,
            retries_scheduled: 0,
            dead_letters: 0,
        };
        for i in &self.intervals {
            t.delivered += i.ok;
            t.failed += i.failed;
            t.retries_scheduled += i.retries;
            t.dead_letters += i.dead_letters;
            if i.latency.len() == latency.len() {
                latency
                    .iter_mut()
                    .zip(&i.latency)
                    .for_each(|(a, b)| *a += b);
            }
        }
        let attempts = t.delivered + t.failed;
        if attempts > 0 {
            t.success_ratio = Some(t.delivered as f64 / attempts as f64);
        }
        t.p99_ms = quantile(&self.bounds, &latency, 0.99).map(|s| s * 1000.0);
        t
    }

    pub fn points(&self) -> Points {
        let mut p = Points::default();
        for i in &self.intervals {
            p.at_ms.push(i.at_ms);
            p.ok_per_s.push(i.ok as f64 / i.secs);
            p.failed_per_s.push(i.failed as f64 / i.secs);
            p.p99_ms
                .push(quantile(&self.bounds, &i.latency, 0.99).map(|s| s * 1000.0));
            p.waiting.push(i.waiting);
        }
        p
    }
}

/// Cumulative bucket counts → per-bucket counts.
fn per_bucket(cumulative: &[u64]) -> Vec<u64> {
    let mut below = 0;
    cumulative
        .iter()
        .map(|&c| {
            let n = c.saturating_sub(below);
            below = below.max(c);
            n
        })
        .collect()
}

/// The `q` quantile of a histogram (upper `bounds`, per-bucket `counts`), interpolated
/// linearly inside its bucket; in the +Inf bucket, the highest finite bound.
pub fn quantile(bounds: &[f64], counts: &[u64], q: f64) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 || bounds.len() != counts.len() {
        return None;
    }
    let rank = q * total as f64;
    let (mut below, mut lower) = (0u64, 0.0f64);
    for (&upper, &n) in bounds.iter().zip(counts) {
        if n > 0 && (below + n) as f64 >= rank {
            if upper.is_infinite() {
                return Some(lower);
            }
            let inside = (rank - below as f64) / n as f64;
            return Some(lower + (upper - lower) * inside.clamp(0.0, 1.0));
        }
        below += n;
        if upper.is_finite() {
            lower = upper;
        }
    }
    Some(lower)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    const BOUNDS: [f64; 4] = [0.01, 0.1, 1.0, f64::INFINITY];

    fn reading(delivered: u64, failed: u64, latency: [u64; 4]) -> DeliveryReading {
        let mut cumulative = 0;
        DeliveryReading {
            delivered,
            failed: BTreeMap::from([("failed".to_string(), failed)]),
            latency_buckets: BOUNDS
                .iter()
                .zip(latency)
                .map(|(&le, n)| {
                    cumulative += n;
                    (le, cumulative)
                })
                .collect(),
            ..DeliveryReading::default()
        }
    }

    #[test]
    fn the_ring_is_bounded_and_keeps_the_newest() {
        let mut s = Series::new(3);
        for n in 1..=10u64 {
            s.push(n * 5_000, 0, reading(n * 2, n, [n * 3, 0, 0, 0]));
            assert!(s.len() <= 3);
        }
        assert_eq!(s.len(), 3);
        let p = s.points();
        assert_eq!(p.at_ms, vec![40_000, 45_000, 50_000], "oldest dropped");
        // Each interval: 2 delivered, 1 failed in 5 s.
        assert_eq!(p.ok_per_s, vec![0.4; 3]);
        assert_eq!(p.failed_per_s, vec![0.2; 3]);
        let t = s.totals();
        assert_eq!((t.delivered, t.failed), (6, 3), "the window, not all time");
        assert!((t.success_ratio.unwrap() - 2.0 / 3.0).abs() < 1e-9);
        // Zero capacity still keeps one.
        let mut one = Series::new(0);
        one.push(1, 0, reading(1, 0, [1, 0, 0, 0]));
        one.push(2, 0, reading(2, 0, [2, 0, 0, 0]));
        assert_eq!(one.len(), 1);
    }

    #[test]
    fn the_first_interval_counts_from_zero_at_start() {
        let mut s = Series::new(10);
        s.push(10_000, 0, reading(5, 0, [5, 0, 0, 0]));
        let t = s.totals();
        assert_eq!(t.delivered, 5);
        assert_eq!(t.success_ratio, Some(1.0));
        assert_eq!(s.points().ok_per_s, vec![0.5]);
        // Nothing happened: no ratio, no latency.
        let mut idle = Series::new(10);
        idle.push(5_000, 0, reading(0, 0, [0; 4]));
        assert_eq!(idle.totals().success_ratio, None);
        assert_eq!(idle.totals().p99_ms, None);
        assert_eq!(idle.points().p99_ms, vec![None]);
        assert!(
            idle.intervals[0].latency.is_empty(),
            "no buckets kept when idle"
        );
    }

    #[test]
    fn p99_comes_from_the_buckets() {
        let mut s = Series::new(10);
        // 100 attempts: 98 under 10 ms, 2 between 100 ms and 1 s.
        s.push(5_000, 0, reading(100, 0, [98, 0, 2, 0]));
        let p99 = s.totals().p99_ms.unwrap();
        assert!((100.0..=1000.0).contains(&p99), "{p99}");
        // In the +Inf bucket: the highest finite bound.
        assert_eq!(quantile(&BOUNDS, &[0, 0, 0, 4], 0.99), Some(1.0));
        assert_eq!(quantile(&BOUNDS, &[10, 0, 0, 0], 0.5), Some(0.005));
        assert_eq!(quantile(&BOUNDS, &[0, 0, 0, 0], 0.99), None);
    }

    #[test]
    fn kinds_grown_and_last_error() {
        let before = reading(0, 1, [0; 4]);
        let mut now = reading(0, 3, [0; 4]);
        now.failed.insert("timeout".into(), 0);
        assert_eq!(Series::kinds_grown(&before, &now), vec!["failed"]);
        let mut s = Series::new(2);
        let err = |at_ms| LastError {
            kind: "failed".into(),
            status: Some(500),
            at_ms,
        };
        s.note_error(err(9));
        s.note_error(err(3));
        assert_eq!(
            s.last_error,
            Some(err(9)),
            "an older error does not replace a newer"
        );
    }
}

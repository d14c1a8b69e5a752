//! `GET /v1/admin/destinations-health`: per destination, how its deliveries have gone
//! over the last half hour (success ratio, p99 latency, events waiting, last error) and
//! the points the dashboard charts.
//!
//! Every figure comes from the dispatcher's own metrics (the [`DeliveryMetrics`] port
//! reads the recorder `/metrics` renders), sampled every [`HealthSampler::INTERVAL`]
//! into a bounded ring per destination, so the dashboard and Prometheus never disagree.
//! Like the recent deliveries, it is this process's view: empty where nothing
//! dispatches.

mod series;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use series::{LastError, Points, Series, WindowTotals};

use crate::ports::{DeliveryLog, DeliveryMetrics};
use crate::AdminState;

/// Samples the delivery metrics into one [`Series`] per destination; cheap to clone.
#[derive(Clone)]
pub struct HealthSampler {
    inner: Arc<Inner>,
}

struct Inner {
    metrics: Arc<dyn DeliveryMetrics>,
    log: Arc<dyn DeliveryLog>,
    /// When the process's counters were zero: the first interval starts here.
    started_ms: u64,
    capacity: usize,
    series: Mutex<HashMap<String, Series>>,
}

impl HealthSampler {
    /// How often [`Self::sample`] should run.
    pub const INTERVAL: Duration = Duration::from_secs(5);
    /// How far back the figures and charts go.
    pub const WINDOW: Duration = Duration::from_secs(30 * 60);

    pub fn new(metrics: Arc<dyn DeliveryMetrics>, log: Arc<dyn DeliveryLog>) -> Self {
        let capacity = (Self::WINDOW.as_secs() / Self::INTERVAL.as_secs()) as usize;
        Self {
            inner: Arc::new(Inner {
                metrics,
                log,
                started_ms: pulsegate_schema::now_ms(),
                capacity,
                series: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Reads the metrics now and adds one interval to every destination's ring.
    pub fn sample(&self) {
        self.sample_at(pulsegate_schema::now_ms());
    }

    fn sample_at(&self, at_ms: u64) {
        let readings = self.inner.metrics.read();
        let mut all = self.inner.series.lock().unwrap_or_else(|p| p.into_inner());
        for (destination, reading) in readings {
            let series = all
                .entry(destination.clone())
                .or_insert_with(|| Series::new(self.inner.capacity));
            let before = series.previous_reading().cloned().unwrap_or_default();
            let grown = Series::kinds_grown(&before, &reading);
            if series.push(at_ms, self.inner.started_ms, reading) > 0 {
                if let Some(error) = self.last_error(&destination, &grown, at_ms) {
                    series.note_error(error);
                }
            }
        }
    }

    /// The newest failed attempt of `destination`: from the recent ring (exact time and
    /// status) when it still holds one, else the kind whose counter grew, at `at_ms`.
    fn last_error(&self, destination: &str, grown: &[String], at_ms: u64) -> Option<LastError> {
        let log = &self.inner.log;
        let recent = log
            .latest(Some(destination), log.capacity())
            .into_iter()
            .find(|r| r.error_kind.is_some());
        match recent {
            Some(r) => Some(LastError {
                kind: r.error_kind.unwrap_or("failed").to_string(),
                status: r.status,
                at_ms: r.at_ms,
            }),
            None => grown.first().map(|kind| LastError {
                kind: kind.clone(),
                status: None,
                at_ms,
            }),
        }
    }

    /// The capacity of every destination's ring.
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }
}

#[derive(Serialize)]
struct DestinationHealth {
    id: String,
    enabled: bool,
    window: Option<WindowTotals>,
    waiting: Option<u64>,
    breaker_open: bool,
    last_error: Option<LastError>,
    series: Points,
}

pub(crate) async fn report(State(s): State<AdminState>) -> Response {
    let sampler = &s.ports.health;
    let all = sampler
        .inner
        .series
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    // Current destinations only: a deleted one's counters live on in the recorder.
    let destinations: Vec<DestinationHealth> = s
        .state
        .destinations()
        .iter()
        .map(|d| {
            let series = all.get(&d.id);
            DestinationHealth {
                id: d.id.clone(),
                enabled: d.enabled,
                window: series.map(Series::totals),
                waiting: series.and_then(|s| s.waiting),
                breaker_open: series.is_some_and(|s| s.breaker_open),
                last_error: series.and_then(|s| s.last_error.clone()),
                series: series.map(Series::points).unwrap_or_default(),
            }
        })
        .collect();
    drop(all);
    Json(serde_json::json!({
        "recording": s.ports.deliveries.is_recording(),
        "interval_secs": HealthSampler::INTERVAL.as_secs(),
        "window_secs": HealthSampler::WINDOW.as_secs(),
        "destinations": destinations,
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use pulsegate_schema::{DeliveryOutcome, DeliveryRecord};

    use super::*;
    use crate::ports::DeliveryReading;

    /// Counters that grow by one delivered and one failed attempt per read.
    struct Growing(Mutex<u64>);

    impl DeliveryMetrics for Growing {
        fn read(&self) -> HashMap<String, DeliveryReading> {
            let mut n = self.0.lock().unwrap();
            *n += 1;
            let r = DeliveryReading {
                delivered: *n,
                failed: BTreeMap::from([("timeout".to_string(), *n)]),
                waiting: Some(7),
                ..DeliveryReading::default()
            };
            HashMap::from([("d".to_string(), r)])
        }
    }

    struct Log(Vec<DeliveryRecord>);

    impl DeliveryLog for Log {
        fn latest(&self, destination: Option<&str>, limit: usize) -> Vec<DeliveryRecord> {
            self.0
                .iter()
                .filter(|r| destination.is_none_or(|d| d == r.destination_id))
                .take(limit)
                .cloned()
                .collect()
        }
        fn is_recording(&self) -> bool {
            true
        }
        fn capacity(&self) -> usize {
            10
        }
    }

    fn attempt(at_ms: u64, status: Option<u16>, kind: Option<&'static str>) -> DeliveryRecord {
        DeliveryRecord {
            at_ms,
            destination_id: "d".into(),
            event_id: "e".into(),
            user_id: String::new(),
            webhook_id: String::new(),
            reference: String::new(),
            event_type: "sleep".into(),
            attempt: 1,
            status,
            error_kind: kind,
            latency_ms: 1,
            outcome: DeliveryOutcome::Retry,
        }
    }

    #[test]
    fn every_ring_stays_within_the_window() {
        let sampler = HealthSampler::new(Arc::new(Growing(Mutex::new(0))), Arc::new(Log(vec![])));
        assert_eq!(sampler.capacity(), 360, "30 min every 5 s");
        for i in 1..=400u64 {
            sampler.sample_at(sampler.inner.started_ms + i * 5_000);
        }
        let all = sampler.inner.series.lock().unwrap();
        let d = &all["d"];
        assert_eq!(d.len(), 360);
        assert_eq!(d.totals().delivered, 360);
        assert_eq!(d.waiting, Some(7));
        // No attempt in the ring: the kind whose counter grew, at the sample's time.
        let e = d.last_error.as_ref().unwrap();
        assert_eq!((e.kind.as_str(), e.status), ("timeout", None));
    }

    #[test]
    fn the_last_error_comes_from_the_recent_ring_when_it_has_one() {
        let log = Log(vec![
            attempt(30, Some(200), None),
            attempt(20, Some(500), Some("failed")),
        ]);
        let sampler = HealthSampler::new(Arc::new(Growing(Mutex::new(0))), Arc::new(log));
        sampler.sample_at(sampler.inner.started_ms + 5_000);
        let all = sampler.inner.series.lock().unwrap();
        assert_eq!(
            all["d"].last_error,
            Some(LastError {
                kind: "failed".into(),
                status: Some(500),
                at_ms: 20
            })
        );
    }
}

//! The last delivery attempts of this process, in memory, for operators
//! (`GET /v1/admin/deliveries` and the dashboard).
//!
//! A bounded ring: the newest [`RecentDeliveries::CAPACITY`] attempts, whatever their
//! destination. It holds what an operator needs to see that a destination is failing
//! and why, and nothing secret: no URL (its query may hold a token), no request or
//! response body, no error text (a receiver's answer may echo anything), only the HTTP
//! status or the error kind.
//!
//! Only a process that runs the dispatcher records anything: a process without the
//! dispatch role has an empty ring ([`RecentDeliveries::is_recording`] is false).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

// Plain data in `pulsegate-schema`: the admin API reads them through its `DeliveryLog`
// port without importing the dispatcher.
pub use pulsegate_schema::{DeliveryOutcome, DeliveryRecord};

use crate::attempt::EventView;

/// What the attempt itself observed, before its outcome is durable.
#[derive(Clone, Debug, Default)]
pub(crate) struct Observed {
    pub at_ms: u64,
    pub status: Option<u16>,
    pub latency_ms: u64,
    /// The first 1 KiB of an HTTP answer's body ([`crate::attempt::first_kib`]).
    pub answer: Option<String>,
}

impl Observed {
    /// An attempt that sent nothing (the secret could not sign).
    pub fn unsent() -> Self {
        Self {
            at_ms: pulsegate_schema::now_ms(),
            status: None,
            latency_ms: 0,
            answer: None,
        }
    }
}

/// A delivery attempt waiting for its outcome (retry or dead letter, known once that
/// next step is written).
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    pub destination_id: String,
    pub event_id: String,
    pub user_id: String,
    pub reference: String,
    pub event_type: String,
    pub attempt: u32,
    pub observed: Observed,
    pub error_kind: Option<&'static str>,
}

impl Pending {
    pub fn new(
        destination_id: &str,
        event: &EventView<'_>,
        attempt: u32,
        observed: Observed,
        error_kind: Option<&'static str>,
    ) -> Self {
        Self {
            destination_id: destination_id.to_string(),
            event_id: event.event_id.to_string(),
            user_id: event.user_id.to_string(),
            reference: event.reference.to_string(),
            event_type: event.event_type.to_string(),
            attempt,
            observed,
            error_kind,
        }
    }

    pub fn finish(self, outcome: DeliveryOutcome) -> DeliveryRecord {
        DeliveryRecord {
            at_ms: self.observed.at_ms,
            webhook_id: crate::attempt::webhook_id(&self.event_id, &self.destination_id),
            destination_id: self.destination_id,
            event_id: self.event_id,
            user_id: self.user_id,
            reference: self.reference,
            event_type: self.event_type,
            attempt: self.attempt,
            status: self.observed.status,
            error_kind: self.error_kind,
            latency_ms: self.observed.latency_ms,
            outcome,
            answer: self.observed.answer,
        }
    }
}

struct Ring {
    records: Mutex<VecDeque<DeliveryRecord>>,
    capacity: usize,
    recording: AtomicBool,
    /// Where every attempt is also written (`delivery_history`), once the dispatcher
    /// starts one.
    history: std::sync::OnceLock<crate::history::HistoryWriter>,
    /// The connections, to name each attempt's provider in its log line.
    users: std::sync::OnceLock<Arc<pulsegate_state::StateStore>>,
}

/// Target of the one line per delivery attempt (INFO).
pub const DELIVERY_TARGET: &str = "pulsegate::delivery";

/// One line per attempt: ids, provider, status, outcome, attempt, duration, and the
/// `terra-reference` (the notification id the ingest access line shows). Never the URL,
/// the body, the answer or the error text (a receiver's answer may echo anything).
fn log_attempt(r: &DeliveryRecord, provider: Option<&'static str>) {
    tracing::info!(
        target: DELIVERY_TARGET,
        destination = %r.destination_id,
        event_id = %r.event_id,
        webhook_id = %r.webhook_id,
        user_id = %r.user_id,
        provider,
        r#type = %r.event_type,
        attempt = r.attempt,
        status = r.status,
        outcome = match r.outcome {
            DeliveryOutcome::Ok => "ok",
            DeliveryOutcome::Retry => "retry",
            DeliveryOutcome::DeadLetter => "dead_letter",
            DeliveryOutcome::Gone => "gone",
        },
        error_kind = r.error_kind,
        duration_ms = r.latency_ms,
        reference = %r.reference,
        "delivery attempt"
    );
}

/// The ring of recent attempts; cheap to clone (shared).
#[derive(Clone)]
pub struct RecentDeliveries {
    ring: Arc<Ring>,
}

impl Default for RecentDeliveries {
    fn default() -> Self {
        Self::with_capacity(Self::CAPACITY)
    }
}

impl std::fmt::Debug for RecentDeliveries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecentDeliveries")
            .field("len", &self.len())
            .field("capacity", &self.ring.capacity)
            .field("recording", &self.is_recording())
            .finish()
    }
}

impl RecentDeliveries {
    /// How many attempts are kept.
    pub const CAPACITY: usize = 500;

    pub fn new() -> Self {
        Self::default()
    }

    /// The ring of a process that runs the dispatcher: [`Self::is_recording`] from the
    /// start (before the dispatcher is up), so the admin API says so at once.
    pub fn for_dispatcher() -> Self {
        let r = Self::new();
        r.mark_recording();
        r
    }

    /// A ring keeping the newest `capacity` attempts (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            ring: Arc::new(Ring {
                records: Mutex::new(VecDeque::with_capacity(capacity)),
                capacity,
                recording: AtomicBool::new(false),
                history: std::sync::OnceLock::new(),
                users: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Adds an attempt, dropping the oldest when full (and hands it to the history
    /// writer, when there is one). The ring keeps no answer body: only the history does.
    pub fn record(&self, mut record: DeliveryRecord) {
        if tracing::enabled!(target: DELIVERY_TARGET, tracing::Level::INFO) {
            let provider = self
                .ring
                .users
                .get()
                .and_then(|s| s.connection(&record.user_id))
                .map(|c| c.provider.slug());
            log_attempt(&record, provider);
        }
        if let Some(history) = self.ring.history.get() {
            history.offer(&record);
        }
        record.answer = None;
        let mut records = self.ring.records.lock().unwrap_or_else(|p| p.into_inner());
        if records.len() == self.ring.capacity {
            records.pop_front();
        }
        // Keep the ring ordered by time: concurrent workers record out of order.
        let at = records
            .iter()
            .rposition(|r| r.at_ms <= record.at_ms)
            .map_or(0, |i| i + 1);
        records.insert(at, record);
    }

    /// The newest `limit` attempts, newest first, optionally of one destination.
    pub fn latest(&self, destination: Option<&str>, limit: usize) -> Vec<DeliveryRecord> {
        let records = self.ring.records.lock().unwrap_or_else(|p| p.into_inner());
        records
            .iter()
            .rev()
            .filter(|r| destination.is_none_or(|d| d == r.destination_id))
            .take(limit)
            .cloned()
            .collect()
    }

    pub fn len(&self) -> usize {
        self.ring
            .records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.ring.capacity
    }

    /// True once a dispatcher in this process records into this ring.
    pub fn is_recording(&self) -> bool {
        self.ring.recording.load(Ordering::Acquire)
    }

    /// Sends every attempt from now on to `writer` too (the first writer wins).
    pub(crate) fn write_history_to(&self, writer: crate::history::HistoryWriter) {
        let _ = self.ring.history.set(writer);
    }

    /// Names each attempt's provider from `state`'s connections in its log line.
    pub(crate) fn name_providers_from(&self, state: Arc<pulsegate_state::StateStore>) {
        let _ = self.ring.users.set(state);
    }

    pub(crate) fn mark_recording(&self) {
        self.ring.recording.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(n: u64, dest: &str) -> DeliveryRecord {
        DeliveryRecord {
            at_ms: n,
            destination_id: dest.into(),
            event_id: format!("e{n}"),
            user_id: String::new(),
            webhook_id: String::new(),
            reference: String::new(),
            event_type: "activity".into(),
            attempt: 1,
            status: Some(500),
            error_kind: Some("failed"),
            latency_ms: 3,
            outcome: DeliveryOutcome::Retry,
            answer: None,
        }
    }

    #[test]
    fn keeps_the_newest_and_filters() {
        let r = RecentDeliveries::with_capacity(3);
        assert!(r.is_empty() && !r.is_recording());
        for n in 1..=5 {
            r.record(rec(n, if n % 2 == 0 { "b" } else { "a" }));
        }
        assert_eq!(r.len(), 3);
        let all: Vec<u64> = r.latest(None, 10).iter().map(|d| d.at_ms).collect();
        assert_eq!(all, vec![5, 4, 3], "newest first, oldest dropped");
        let a: Vec<u64> = r.latest(Some("a"), 10).iter().map(|d| d.at_ms).collect();
        assert_eq!(a, vec![5, 3]);
        assert_eq!(r.latest(None, 1).len(), 1);
        assert!(r.latest(Some("zzz"), 10).is_empty());
        // Clones share the ring.
        let c = r.clone();
        c.mark_recording();
        c.record(rec(6, "a"));
        assert!(r.is_recording());
        assert_eq!(r.latest(None, 1)[0].at_ms, 6);
    }

    #[test]
    fn default_capacity_is_500() {
        let r = RecentDeliveries::new();
        for n in 0..600 {
            r.record(rec(n, "a"));
        }
        assert_eq!(r.len(), RecentDeliveries::CAPACITY);
        assert_eq!(r.latest(None, 1000).last().unwrap().at_ms, 100);
    }

    #[test]
    fn serialises_without_secrets_or_urls() {
        let p = Pending {
            destination_id: "d".into(),
            event_id: "e".into(),
            user_id: "u".into(),
            reference: "r".into(),
            event_type: "sleep".into(),
            attempt: 4,
            observed: Observed {
                at_ms: 9,
                status: None,
                latency_ms: 12,
                answer: None,
            },
            error_kind: Some("timeout"),
        };
        let v = serde_json::to_value(p.finish(DeliveryOutcome::DeadLetter)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"at_ms": 9, "destination_id": "d", "event_id": "e",
                "user_id": "u", "webhook_id": crate::attempt::webhook_id("e", "d"),
                "reference": "r", "type": "sleep", "attempt": 4, "status": null, "error_kind": "timeout",
                "latency_ms": 12, "outcome": "dead_letter"})
        );
    }
}

//! One destination's main worker.
//!
//! Each enabled destination has its own consumer group `dispatch.<id>` on `events`
//! (starting at the end of the log when new), so a slow or dead destination only holds
//! back its own cursor; its backlog stays on the bus. Each record is handled once for
//! this destination: filtered out, delivered, or (after a failed attempt) handed to the
//! first retry tier. Its offset commits only after that outcome is durable.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use pulsegate_bus::{run_consumer, ConsumerLoopConfig, Handled, OffsetReset, Record};
use pulsegate_schema::{topics, Destination};
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::announce::{Gate, Gates};
use crate::attempt::{webhook_id, DeliveryAttempt, EventView, Outcome};
use crate::breaker::Breaker;
use crate::context::sleep_or_stop;
use crate::context::Shared;
use crate::metrics::DestinationMetrics;
use crate::recent::{DeliveryOutcome, Observed, Pending};
use crate::signing::{SecretError, SigningKeys};
use crate::sink::url::KafkaUrl;

/// The consumer group of a destination's main worker.
pub fn group_for(destination_id: &str) -> String {
    format!("dispatch.{destination_id}")
}

struct Worker {
    shared: Arc<Shared>,
    destination_id: String,
    metrics: DestinationMetrics,
    breaker: Arc<Breaker>,
    /// The signing key of the secret last seen (rebuilt when the secret changes).
    keys: Mutex<Option<Arc<SigningKeys>>>,
    /// Stops this worker (supervisor, or the worker itself when its destination is gone).
    stop: CancellationToken,
    gone: AtomicBool,
    /// Open `large_request_sending` gates: a request's data waits for its announcement.
    gates: Arc<Gates>,
    /// Ordered destinations: attempts so far of each record retried in place.
    in_place: Mutex<HashMap<(u32, u64), u32>>,
}

/// Runs a destination's worker until `stop`. `turn` serialises workers of the same
/// destination: a restarted worker starts only after its predecessor has committed and
/// left the group.
pub(crate) async fn run_destination(
    shared: Arc<Shared>,
    destination_id: String,
    stop: CancellationToken,
    turn: Arc<tokio::sync::Mutex<()>>,
) {
    let _turn = tokio::select! {
        g = turn.lock_owned() => g,
        _ = stop.cancelled() => return,
    };
    let worker = Arc::new(Worker {
        metrics: shared.metrics(&destination_id),
        breaker: shared.breaker(&destination_id),
        shared,
        destination_id,
        keys: Mutex::new(None),
        stop,
        gone: AtomicBool::new(false),
        gates: Arc::new(Gates::default()),
        in_place: Mutex::new(HashMap::new()),
    });
    let group = group_for(&worker.destination_id);
    let mut cfg = ConsumerLoopConfig::new(
        format!("dispatch.{}", worker.destination_id),
        worker.shared.cfg.concurrency_per_destination,
    );
    // Per-user order: one event per user in flight, in log order (`events` is keyed by
    // user id). Opt-in for webhooks; always for a Kafka destination, whose topic then
    // holds one user's events in order. A change of either restarts this worker.
    cfg.ordered_by_key = worker
        .shared
        .state
        .destination(&worker.destination_id)
        .is_some_and(|d| d.ordered || KafkaUrl::is_kafka(&d.url));
    tracing::info!(destination = %worker.destination_id, "delivery worker started");
    loop {
        let subscribed = worker
            .shared
            .bus
            .subscribe(topics::EVENTS, &group, OffsetReset::Latest)
            .await;
        let result = match subscribed {
            Ok(consumer) => {
                let w = worker.clone();
                // Called in log order (see `run_consumer`): the gate is taken before
                // any later record of the same request can start.
                let handler = move |record: Record| {
                    let gate = w.gates.gate(&record.payload);
                    w.clone().handle_gated(record, gate)
                };
                run_consumer(consumer, cfg.clone(), worker.stop.clone(), handler).await
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => break,
            Err(e) => {
                tracing::error!(destination = %worker.destination_id, error = %e,
                    "delivery worker's consumer failed; restarting");
                if !sleep_or_stop(Duration::from_secs(1), &worker.stop).await {
                    break;
                }
            }
        }
    }
    tracing::info!(destination = %worker.destination_id, "delivery worker stopped");
}

impl Worker {
    /// [`handle`](Self::handle) once `gate` lets the record through; an announcement's
    /// gate closes when its handling has finished.
    async fn handle_gated(self: Arc<Self>, record: Record, mut gate: Gate) -> Handled {
        if !gate.pass(&self.stop).await {
            return Handled::Abandon;
        }
        let handled = self.handle(record).await;
        drop(gate);
        handled
    }

    async fn handle(self: Arc<Self>, record: Record) -> Handled {
        let payload = record.payload.clone();
        let view = match EventView::parse(&payload) {
            Ok(v) => v,
            Err(e) => {
                crate::metrics::malformed(topics::EVENTS);
                tracing::warn!(destination = %self.destination_id, partition = record.partition,
                    offset = record.offset, error = %e, "unreadable event; skipped");
                return Handled::Done;
            }
        };
        let Some(dest) = self.current() else {
            return Handled::Abandon;
        };
        if !view.selected_by(&dest) {
            return Handled::Done;
        }
        let Some(permit) = self.breaker.acquire(&self.stop).await else {
            return Handled::Abandon;
        };
        // The wait may have been long: use the destination as it is now.
        let Some(dest) = self.current() else {
            return Handled::Abandon;
        };
        // ... and the user: deauthorized meanwhile, their data is not delivered.
        if self.shared.state.erased(&record) {
            return Handled::Done;
        }

        let span = tracing::debug_span!("deliver", destination = %dest.id,
            event_id = %view.event_id, user_id = %view.user_id);
        let id = webhook_id(&view.event_id, &dest.id);
        let (outcome, observed) = match self.signing_keys(&dest) {
            Ok(keys) => {
                DeliveryAttempt {
                    sinks: &self.shared.sinks,
                    dest: &dest,
                    keys: &keys,
                    metrics: &self.metrics,
                    webhook_id: &id,
                    reference: &view.reference,
                    user_id: &view.user_id,
                    body: view.body_bytes(&payload),
                    received_at_ms: view.received_at_ms,
                }
                .run()
                .instrument(span.clone())
                .await
            }
            Err(e) => (Outcome::unusable_secret(e), Observed::unsent()),
        };
        // Retried in place (ordered destinations only, so no lock on the common path):
        // this is attempt n, and settled unless it failed again.
        let n = if !dest.ordered {
            1
        } else {
            let mut m = self.in_place.lock().unwrap_or_else(|p| p.into_inner());
            let at = (record.partition, record.offset);
            let done = !matches!(outcome, Outcome::Failed(_));
            let before = if done {
                m.remove(&at)
            } else {
                m.get(&at).copied()
            };
            before.map_or(1, |n| n + 1)
        };
        let attempt = |kind| Pending::new(&dest.id, &view, n, observed.clone(), kind);

        match outcome {
            Outcome::Delivered => {
                permit.settle(true);
                self.shared.note_success(&dest).await;
                self.shared
                    .state
                    .note_webhook_update(&view.user_id, pulsegate_schema::now_ms());
                let done = attempt(None).finish(DeliveryOutcome::Ok);
                self.shared.recent.record(done);
                Handled::Done
            }
            Outcome::Gone => {
                drop(permit);
                let done = attempt(None).finish(DeliveryOutcome::Gone);
                self.shared.recent.record(done);
                if !self.gone.swap(true, Ordering::AcqRel) {
                    self.shared.disable(&dest.id, &self.stop).await;
                }
                // Not delivered: left on this destination's cursor, stop reading.
                self.stop.cancel();
                Handled::Abandon
            }
            Outcome::Failed(f) => {
                permit.settle(false);
                self.shared.note_failure(&dest, observed.at_ms).await;
                tracing::debug!(parent: &span, kind = f.kind, error = %f.loggable(), "delivery attempt failed");
                // Erased during the attempt: no retry copies the event back onto the log.
                if self.shared.state.erased(&record) {
                    return Handled::Done;
                }
                let event = match raw_event(&payload) {
                    Some(e) => e,
                    None => return Handled::Done,
                };
                if dest.ordered {
                    return self
                        .retry_in_place(&record, &dest, event, f, observed, &view)
                        .await;
                }
                let pending = attempt(Some(f.kind));
                self.shared
                    .schedule_failure(&self.metrics, &dest.id, event, 1, 0, f, pending, &self.stop)
                    .await
            }
        }
    }

    /// An ordered destination's failed delivery is retried where it stands, on the retry
    /// schedule, so the user's later events keep waiting behind it (a retry tier would
    /// let them overtake it); after the last delay it is dead-lettered and the user's
    /// next event goes. The attempt count is in memory: after a crash the record is
    /// read again and starts over (at least once, still in order).
    async fn retry_in_place(
        &self,
        record: &Record,
        dest: &Destination,
        event: &RawValue,
        f: crate::attempt::Failure,
        observed: Observed,
        view: &EventView<'_>,
    ) -> Handled {
        let at = (record.partition, record.offset);
        let attempts = {
            let mut m = self.in_place.lock().unwrap_or_else(|p| p.into_inner());
            let n = m.entry(at).or_insert(0);
            *n += 1;
            *n
        };
        let schedule = &self.shared.cfg.retry_schedule;
        let pending = Pending::new(&dest.id, view, attempts, observed, Some(f.kind));
        match schedule.get(attempts as usize - 1) {
            Some(delay) => {
                let wait = f.retry_after.map_or(*delay, |ra| ra.max(*delay));
                self.metrics.retry_scheduled(attempts as usize - 1);
                self.shared
                    .recent
                    .record(pending.finish(DeliveryOutcome::Retry));
                Handled::RetryAfter(wait)
            }
            None => {
                self.in_place
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&at);
                let last = schedule.len();
                self.shared
                    .schedule_failure(
                        &self.metrics,
                        &dest.id,
                        event,
                        attempts,
                        last,
                        f,
                        pending,
                        &self.stop,
                    )
                    .await
            }
        }
    }

    /// The destination if it still exists and is enabled; otherwise this worker stops
    /// (the supervisor is about to stop it anyway) and the record stays uncommitted.
    fn current(&self) -> Option<Arc<Destination>> {
        match self.shared.state.destination(&self.destination_id) {
            Some(d) if d.enabled && !self.gone.load(Ordering::Acquire) => Some(d),
            _ => {
                self.stop.cancel();
                None
            }
        }
    }

    fn signing_keys(&self, dest: &Destination) -> Result<Arc<SigningKeys>, SecretError> {
        let mut cached = self.keys.lock().expect("keys lock");
        if let Some(k) = cached.as_ref().filter(|k| k.is_for(dest)) {
            return Ok(k.clone());
        }
        let k = Arc::new(SigningKeys::of(dest)?);
        *cached = Some(k.clone());
        Ok(k)
    }
}

/// The whole `events` record as JSON, for the retry task.
fn raw_event(payload: &Bytes) -> Option<&RawValue> {
    serde_json::from_slice::<&RawValue>(payload).ok()
}

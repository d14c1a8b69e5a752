//! One destination's main worker.
//!
//! Each enabled destination has its own consumer group `dispatch.<id>` on `events`
//! (starting at the end of the log when new), so a slow or dead destination only holds
//! back its own cursor; its backlog stays on the bus. Each record is handled once for
//! this destination: filtered out, delivered, or (after a failed attempt) handed to the
//! first retry tier. Its offset commits only after that outcome is durable.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use pulsegate_bus::{run_consumer, ConsumerLoopConfig, Handled, OffsetReset, Record};
use pulsegate_schema::{topics, Destination};
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::attempt::{webhook_id, DeliveryAttempt, EventView, Outcome};
use crate::breaker::Breaker;
use crate::context::sleep_or_stop;
use crate::context::Shared;
use crate::metrics::DestinationMetrics;
use crate::recent::{DeliveryOutcome, Observed, Pending};
use crate::signing::{SecretError, SigningKey};
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
    key: Mutex<Option<Arc<SigningKey>>>,
    /// Stops this worker (supervisor, or the worker itself when its destination is gone).
    stop: CancellationToken,
    gone: AtomicBool,
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
        key: Mutex::new(None),
        stop,
        gone: AtomicBool::new(false),
    });
    let group = group_for(&worker.destination_id);
    let mut cfg = ConsumerLoopConfig::new(
        format!("dispatch.{}", worker.destination_id),
        worker.shared.cfg.concurrency_per_destination,
    );
    // A Kafka destination keeps one user's events in order on its topic: the same
    // user's records are produced one after the other (the supervisor restarts this
    // worker when the URL changes, so the choice follows the URL).
    if worker
        .shared
        .state
        .destination(&worker.destination_id)
        .is_some_and(|d| KafkaUrl::is_kafka(&d.url))
    {
        cfg = cfg.ordered_by_key();
    }
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
                let handler = move |record: Record| w.clone().handle(record);
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
        let (outcome, observed) = match self.key(&dest) {
            Ok(key) => {
                DeliveryAttempt {
                    sinks: &self.shared.sinks,
                    dest: &dest,
                    key: &key,
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
        let attempt = |kind| Pending::new(&dest.id, &view, 1, observed, kind);

        match outcome {
            Outcome::Delivered => {
                permit.settle(true);
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
                tracing::debug!(parent: &span, kind = f.kind, error = %f.error, "delivery attempt failed");
                // Erased during the attempt: no retry copies the event back onto the log.
                if self.shared.state.erased(&record) {
                    return Handled::Done;
                }
                let event = match raw_event(&payload) {
                    Some(e) => e,
                    None => return Handled::Done,
                };
                let pending = attempt(Some(f.kind));
                self.shared
                    .schedule_failure(&self.metrics, &dest.id, event, 1, 0, f, pending, &self.stop)
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

    fn key(&self, dest: &Destination) -> Result<Arc<SigningKey>, SecretError> {
        let mut cached = self.key.lock().expect("key lock");
        if let Some(k) = cached.as_ref().filter(|k| k.is_for(&dest.secret)) {
            return Ok(k.clone());
        }
        let k = Arc::new(SigningKey::new(&dest.secret)?);
        *cached = Some(k.clone());
        Ok(k)
    }
}

/// The whole `events` record as JSON, for the retry task.
fn raw_event(payload: &Bytes) -> Option<&RawValue> {
    serde_json::from_slice::<&RawValue>(payload).ok()
}

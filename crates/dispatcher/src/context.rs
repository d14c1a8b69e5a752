//! What every dispatcher task shares, and the durable next steps after a failure.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pulsegate_bus::{Bus, Handled, Outgoing};
use pulsegate_schema::{now_ms, topics};
use pulsegate_state::StateStore;
use serde::Serialize;
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;

use crate::attempt::Failure;
use crate::breaker::{Breaker, Breakers};
use crate::sink::Sinks;

use crate::metrics::DestinationMetrics;
use crate::recent::{DeliveryOutcome, Pending, RecentDeliveries};
use crate::retry::{plan, Plan};
use crate::DispatcherConfig;

pub(crate) struct Shared {
    pub bus: Arc<dyn Bus>,
    pub state: Arc<StateStore>,
    pub sinks: Sinks,
    pub cfg: DispatcherConfig,
    pub breakers: Breakers,
    /// The last attempts, for operators (`GET /v1/admin/deliveries`).
    pub recent: RecentDeliveries,
    metrics: Mutex<HashMap<String, DestinationMetrics>>,
}

/// `pulsegate_schema::RetryTask`, serialised from borrowed parts (no event copy).
#[derive(Serialize)]
struct RetryTaskOut<'a> {
    destination_id: &'a str,
    attempts: u32,
    not_before_ms: u64,
    last_error: &'a str,
    event: &'a RawValue,
}

/// `pulsegate_schema::DeadLetter`, serialised from borrowed parts.
#[derive(Serialize)]
struct DeadLetterOut<'a> {
    destination_id: &'a str,
    attempts: u32,
    last_error: &'a str,
    failed_at_ms: u64,
    event: &'a RawValue,
}

impl Shared {
    pub fn new(
        bus: Arc<dyn Bus>,
        state: Arc<StateStore>,
        sinks: Sinks,
        cfg: DispatcherConfig,
        recent: RecentDeliveries,
    ) -> Self {
        recent.mark_recording();
        recent.name_providers_from(state.clone());
        Self {
            bus,
            state,
            sinks,
            breakers: Breakers::new(cfg.breaker.clone()),
            cfg,
            recent,
            metrics: Mutex::new(HashMap::new()),
        }
    }

    /// Metric handles for a destination (resolved once).
    pub fn metrics(&self, destination: &str) -> DestinationMetrics {
        let mut map = self.metrics.lock().expect("metrics lock");
        if let Some(m) = map.get(destination) {
            return m.clone();
        }
        let m = DestinationMetrics::new(destination);
        map.insert(destination.to_string(), m.clone());
        m
    }

    pub fn breaker(&self, destination: &str) -> Arc<Breaker> {
        self.breakers.get(destination, || {
            self.metrics(destination).breaker_open.clone()
        })
    }

    /// Appends until the bus takes it (backing off) or `stop`; true once durable.
    pub async fn append_durably(
        &self,
        topic: &str,
        record: Outgoing,
        stop: &CancellationToken,
    ) -> bool {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.bus.append(topic, record.clone()).await {
                Ok(_) => return true,
                Err(e) => {
                    tracing::error!(%topic, error = %e, "could not append; retrying");
                    if !sleep_or_stop(backoff, stop).await {
                        return false;
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Makes a failed attempt's next step durable: the retry tier `plan` picks, or a
    /// dead letter. `Done` once written; `Abandon` if stopped first. The attempt goes
    /// to [`Shared::recent`] once its next step is written.
    #[allow(
        clippy::too_many_arguments,
        reason = "the failed attempt's facts, passed as they are by its two callers (first try, retry)"
    )]
    pub async fn schedule_failure(
        &self,
        metrics: &DestinationMetrics,
        destination_id: &str,
        event: &RawValue,
        attempts: u32,
        next_tier: usize,
        failure: Failure,
        attempt: Pending,
        stop: &CancellationToken,
    ) -> Handled {
        let now = now_ms();
        match plan(
            &self.cfg.retry_schedule,
            next_tier,
            failure.retry_after,
            now,
        ) {
            Plan::Retry {
                tier,
                not_before_ms,
            } => {
                let task = RetryTaskOut {
                    destination_id,
                    attempts,
                    not_before_ms,
                    last_error: &failure.error,
                    event,
                };
                let payload = serde_json::to_vec(&task).expect("a retry task serialises");
                let record = Outgoing::new(destination_id.to_string(), payload);
                if !self
                    .append_durably(&topics::retry(tier), record, stop)
                    .await
                {
                    return Handled::Abandon;
                }
                metrics.retry_scheduled(tier);
                self.recent.record(attempt.finish(DeliveryOutcome::Retry));
                Handled::Done
            }
            Plan::DeadLetter => {
                let dead = DeadLetterOut {
                    destination_id,
                    attempts,
                    last_error: &failure.error,
                    failed_at_ms: now,
                    event,
                };
                let payload = serde_json::to_vec(&dead).expect("a dead letter serialises");
                let record = Outgoing::new(destination_id.to_string(), payload);
                if !self
                    .append_durably(topics::DEAD_LETTERS, record, stop)
                    .await
                {
                    return Handled::Abandon;
                }
                metrics.dead_letters.increment(1);
                self.recent
                    .record(attempt.finish(DeliveryOutcome::DeadLetter));
                tracing::warn!(destination = %destination_id, attempts, last_error = %failure.loggable(),
                    "delivery exhausted its retries; dead-lettered");
                Handled::Done
            }
        }
    }

    /// Disables a destination that answered 410 Gone (its current record, so a
    /// concurrent admin change is not overwritten with stale fields).
    pub async fn disable(&self, destination_id: &str, stop: &CancellationToken) {
        loop {
            let Some(current) = self.state.destination(destination_id) else {
                return;
            };
            if !current.enabled {
                return;
            }
            let mut d = (*current).clone();
            d.enabled = false;
            match self.state.put_destination(&d).await {
                Ok(()) => {
                    self.announce_disabled(
                        &current,
                        crate::disabled::Cause::Gone,
                        "the destination answered 410 Gone",
                    )
                    .await;
                    return;
                }
                Err(e) => {
                    tracing::error!(destination = %destination_id, error = %e, "could not disable destination; retrying");
                    if !sleep_or_stop(Duration::from_secs(1), stop).await {
                        return;
                    }
                }
            }
        }
    }
}

/// Sleeps `d` unless `stop` comes first; false when stopped.
pub(crate) async fn sleep_or_stop(d: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(d) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrowed_records_match_the_schema() {
        let event = RawValue::from_string(r#"{"event_id":"e","body":{"a":1}}"#.into()).unwrap();
        let out = serde_json::to_vec(&RetryTaskOut {
            destination_id: "d",
            attempts: 2,
            not_before_ms: 9,
            last_error: "HTTP 500",
            event: &event,
        })
        .unwrap();
        let back: pulsegate_schema::RetryTask = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            (
                back.destination_id.as_str(),
                back.attempts,
                back.not_before_ms
            ),
            ("d", 2, 9)
        );
        assert_eq!(back.event.get(), event.get());
        let out = serde_json::to_vec(&DeadLetterOut {
            destination_id: "d",
            attempts: 8,
            last_error: "x",
            failed_at_ms: 1,
            event: &event,
        })
        .unwrap();
        let back: pulsegate_schema::DeadLetter = serde_json::from_slice(&out).unwrap();
        assert_eq!(back.attempts, 8);
        assert_eq!(back.event.get(), event.get());
    }
}

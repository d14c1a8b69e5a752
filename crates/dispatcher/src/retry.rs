//! Retry tiers: failed deliveries wait on the bus, not in memory.
//!
//! Tier `i` is the topic `retry_<i>` with the fixed delay `retry_schedule[i]`. A
//! failure appends a `RetryTask` (keyed by destination id) to the next tier with
//! `not_before_ms = now + delay`. Because every record of a tier has the same delay,
//! each partition of a tier is in due order, so the tier's consumer simply waits at
//! the head until a task is due, then re-attempts with the destination's *current*
//! URL and secret. A failure moves the task one tier on; after the last tier it
//! becomes a `DeadLetter` on `dead_letters`. Offsets commit only once the task's next
//! step is durable.
//!
//! `Retry-After` is honoured without breaking the due order: the task goes to the
//! first tier (from the one it would have gone to) whose delay is at least the
//! requested wait, with the wait capped at the last tier's delay.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use pulsegate_bus::{run_consumer, ConsumerLoopConfig, Handled, OffsetReset, Record};
use pulsegate_schema::{now_ms, topics, RetryTask};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::attempt::{webhook_id, DeliveryAttempt, EventView, Outcome};
use crate::context::sleep_or_stop;
use crate::context::Shared;
use crate::recent::{DeliveryOutcome, Observed, Pending};
use crate::signing::SigningKeys;

/// One retry tier: its index, topic and delay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryTier {
    pub index: usize,
    pub topic: String,
    pub delay: Duration,
}

impl RetryTier {
    /// The tiers of a schedule, in order.
    pub fn all(schedule: &[Duration]) -> Vec<RetryTier> {
        schedule
            .iter()
            .enumerate()
            .map(|(index, delay)| RetryTier {
                index,
                topic: topics::retry(index),
                delay: *delay,
            })
            .collect()
    }
}

/// Where a failed delivery goes next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Plan {
    Retry { tier: usize, not_before_ms: u64 },
    DeadLetter,
}

/// Plans the next step after a failure, when the task would normally go to tier
/// `next_tier`.
pub(crate) fn plan(
    schedule: &[Duration],
    next_tier: usize,
    retry_after: Option<Duration>,
    now_ms: u64,
) -> Plan {
    let Some(last) = schedule.last() else {
        return Plan::DeadLetter;
    };
    if next_tier >= schedule.len() {
        return Plan::DeadLetter;
    }
    let wait = retry_after
        .map(|ra| ra.min(*last))
        .unwrap_or(Duration::ZERO);
    let tier = (next_tier..schedule.len())
        .find(|&t| schedule[t] >= wait)
        .unwrap_or(schedule.len() - 1);
    let delay = schedule[tier].max(wait);
    Plan::Retry {
        tier,
        not_before_ms: now_ms + delay.as_millis() as u64,
    }
}

/// Consumes one tier until `stop`, re-subscribing after bus errors.
pub(crate) async fn run_tier(shared: Arc<Shared>, tier: usize, stop: CancellationToken) {
    let topic = topics::retry(tier);
    let group = format!("dispatch.retry.{tier}");
    let cfg = ConsumerLoopConfig::new(
        format!("dispatch.retry.{tier}"),
        shared.cfg.retry_concurrency,
    );
    loop {
        let result = match shared
            .bus
            .subscribe(&topic, &group, OffsetReset::Earliest)
            .await
        {
            Ok(consumer) => {
                let (shared, stop2) = (shared.clone(), stop.clone());
                let handler =
                    move |record: Record| handle(shared.clone(), tier, record, stop2.clone());
                run_consumer(consumer, cfg.clone(), stop.clone(), handler).await
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => return,
            Err(e) => {
                tracing::error!(%topic, error = %e, "retry tier consumer failed; restarting");
                if !sleep_or_stop(Duration::from_secs(1), &stop).await {
                    return;
                }
            }
        }
    }
}

async fn handle(
    shared: Arc<Shared>,
    tier: usize,
    record: Record,
    stop: CancellationToken,
) -> Handled {
    let task: RetryTask = match serde_json::from_slice(&record.payload) {
        Ok(t) => t,
        Err(e) => {
            crate::metrics::malformed(&record.topic);
            tracing::warn!(topic = %record.topic, offset = record.offset, error = %e, "unreadable retry task; skipped");
            return Handled::Done;
        }
    };
    let wait = task.not_before_ms.saturating_sub(now_ms());
    if wait > 0 && !sleep_or_stop(Duration::from_millis(wait), &stop).await {
        return Handled::Abandon;
    }
    // The user deauthorized while the task waited: their data is not delivered.
    if shared.state.erased(&record) {
        return Handled::Done;
    }

    let metrics = shared.metrics(&task.destination_id);
    let dest = match shared.state.destination(&task.destination_id) {
        Some(d) if d.enabled => d,
        Some(_) => {
            metrics.retry_dropped("disabled");
            return Handled::Done;
        }
        None => {
            metrics.retry_dropped("deleted");
            return Handled::Done;
        }
    };
    let event_json = task.event.get().as_bytes();
    let view = match EventView::parse(event_json) {
        Ok(v) => v,
        Err(e) => {
            crate::metrics::malformed(&record.topic);
            tracing::warn!(destination = %dest.id, error = %e, "retry task holds an unreadable event; skipped");
            return Handled::Done;
        }
    };
    if !view.selected_by(&dest) {
        metrics.retry_dropped("filtered");
        return Handled::Done;
    }

    let span = tracing::debug_span!("retry", destination = %dest.id, event_id = %view.event_id,
        user_id = %view.user_id, tier, attempt = task.attempts + 1);
    let id = webhook_id(&view.event_id, &dest.id);
    let (outcome, observed) = match SigningKeys::of(&dest) {
        Ok(keys) => {
            DeliveryAttempt {
                sinks: &shared.sinks,
                dest: &dest,
                keys: &keys,
                metrics: &metrics,
                webhook_id: &id,
                reference: &view.reference,
                user_id: &view.user_id,
                body: Bytes::copy_from_slice(view.body.get().as_bytes()),
                received_at_ms: view.received_at_ms,
            }
            .run()
            .instrument(span.clone())
            .await
        }
        Err(e) => (Outcome::unusable_secret(e), Observed::unsent()),
    };
    let attempt = |kind| Pending::new(&dest.id, &view, task.attempts + 1, observed.clone(), kind);
    let breaker = shared.breaker(&dest.id);
    match outcome {
        Outcome::Delivered => {
            breaker.record(true);
            shared.note_success(&dest).await;
            shared
                .state
                .note_webhook_update(&view.user_id, pulsegate_schema::now_ms());
            shared
                .recent
                .record(attempt(None).finish(DeliveryOutcome::Ok));
            Handled::Done
        }
        Outcome::Gone => {
            shared
                .recent
                .record(attempt(None).finish(DeliveryOutcome::Gone));
            metrics.retry_dropped("gone");
            shared.disable(&dest.id, &stop).await;
            Handled::Done
        }
        Outcome::Failed(f) => {
            breaker.record(false);
            shared.note_failure(&dest, observed.at_ms).await;
            tracing::debug!(parent: &span, kind = f.kind, error = %f.loggable(), "retry attempt failed");
            // Erased during the attempt: no retry copies the event back onto the log.
            if shared.state.erased(&record) {
                return Handled::Done;
            }
            let pending = attempt(Some(f.kind));
            shared
                .schedule_failure(
                    &metrics,
                    &dest.id,
                    &task.event,
                    task.attempts + 1,
                    tier + 1,
                    f,
                    pending,
                    &stop,
                )
                .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|x| Duration::from_secs(*x)).collect()
    }

    #[test]
    fn tiers_progress_then_dead_letter() {
        let sched = s(&[5, 300, 1800]);
        assert_eq!(
            plan(&sched, 0, None, 1000),
            Plan::Retry {
                tier: 0,
                not_before_ms: 6000
            }
        );
        assert_eq!(
            plan(&sched, 2, None, 0),
            Plan::Retry {
                tier: 2,
                not_before_ms: 1_800_000
            }
        );
        assert_eq!(plan(&sched, 3, None, 0), Plan::DeadLetter);
        assert_eq!(plan(&[], 0, None, 0), Plan::DeadLetter);
    }

    #[test]
    fn retry_after_picks_a_later_tier_and_is_capped() {
        let sched = s(&[5, 300, 1800]);
        // 60s: the first tier with delay >= 60s is tier 1 (300s).
        assert_eq!(
            plan(&sched, 0, Some(Duration::from_secs(60)), 0),
            Plan::Retry {
                tier: 1,
                not_before_ms: 300_000
            }
        );
        // Shorter than the due tier: the tier's delay stands.
        assert_eq!(
            plan(&sched, 1, Some(Duration::from_secs(1)), 0),
            Plan::Retry {
                tier: 1,
                not_before_ms: 300_000
            }
        );
        // A day: capped at the last tier's delay.
        assert_eq!(
            plan(&sched, 0, Some(Duration::from_secs(86_400)), 0),
            Plan::Retry {
                tier: 2,
                not_before_ms: 1_800_000
            }
        );
        // Exactly a tier's delay.
        assert_eq!(
            plan(&sched, 0, Some(Duration::from_secs(300)), 0),
            Plan::Retry {
                tier: 1,
                not_before_ms: 300_000
            }
        );
    }

    #[test]
    fn tier_topics() {
        let t = RetryTier::all(&s(&[5, 300]));
        assert_eq!(t[1].topic, "retry_1");
        assert_eq!(t[1].delay, Duration::from_secs(300));
    }
}

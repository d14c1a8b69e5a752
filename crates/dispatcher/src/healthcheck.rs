//! Terra's `healthcheck` event: sent to each destination every `healthcheck_interval`
//! (default 1 h; 0 = never) so the customer can tell their endpoint is reachable and
//! the traffic it got: `sent_webhooks_last_hour` and `trend_percentage` (change against
//! the hour before). Signed like any delivery, recorded in the recent deliveries and
//! metrics, never retried: the next one is the retry. Each dispatch process sends its
//! own (a scaled-out deployment sends one per dispatch process), counting what that
//! process delivered.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pulsegate_schema::{stable_id, EventType, NormalizedEvent};
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;

use crate::attempt::{webhook_id, DeliveryAttempt, EventView, Outcome};
use crate::context::{sleep_or_stop, Shared};
use crate::recent::{DeliveryOutcome, Pending};
use crate::signing::SigningKeys;

const MINUTE_MS: u64 = 60_000;
/// Two hours of one-minute buckets: the last hour and the one before.
const BUCKETS: usize = 120;

/// Deliveries per minute over the last two hours, for one destination.
#[derive(Clone, Default)]
pub(crate) struct HourlyCounts(Arc<Mutex<Vec<(u64, u64)>>>);

impl HourlyCounts {
    /// One delivery at `now_ms`.
    pub fn add(&self, now_ms: u64) {
        let minute = now_ms / MINUTE_MS;
        let mut b = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if b.is_empty() {
            b.resize(BUCKETS, (0, 0));
        }
        let slot = &mut b[(minute % BUCKETS as u64) as usize];
        if slot.0 != minute {
            *slot = (minute, 0);
        }
        slot.1 += 1;
    }

    /// Deliveries in the last hour and in the hour before it.
    pub fn last_two_hours(&self, now_ms: u64) -> (u64, u64) {
        let now = now_ms / MINUTE_MS;
        let b = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let (mut last, mut before) = (0, 0);
        for &(minute, n) in b.iter() {
            match now.checked_sub(minute) {
                Some(age) if age < 60 => last += n,
                Some(age) if age < 120 => before += n,
                _ => {}
            }
        }
        (last, before)
    }
}

/// The healthcheck body terra-python's `HealthcheckEvent` reads.
pub(crate) fn body(now_ms: u64, (last, before): (u64, u64)) -> String {
    let trend = if before == 0 {
        if last == 0 {
            0
        } else {
            100
        }
    } else {
        ((last as f64 - before as f64) * 100.0 / before as f64).round() as i64
    };
    let at = chrono::DateTime::from_timestamp_millis(now_ms as i64)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    serde_json::json!({
        "type": "healthcheck",
        "creation_timestamp": at,
        "trend_percentage": trend,
        "sent_webhooks_last_hour": last,
    })
    .to_string()
}

/// Sends `destination_id` a healthcheck every `shared.cfg.healthcheck_interval` until
/// `stop` (the destination's worker's token: stopped, changed or deleted).
pub(crate) async fn run(shared: Arc<Shared>, destination_id: String, stop: CancellationToken) {
    let every = shared.cfg.healthcheck_interval;
    if every.is_zero() {
        return;
    }
    let metrics = shared.metrics(&destination_id);
    while sleep_or_stop(every, &stop).await {
        let Some(dest) = shared.state.destination(&destination_id) else {
            return;
        };
        if !dest.enabled || !dest.wants(EventType::Healthcheck.as_str()) {
            continue;
        }
        let now = pulsegate_schema::now_ms();
        let Ok(body) = RawValue::from_string(body(now, metrics.sent.last_two_hours(now))) else {
            continue;
        };
        let event = NormalizedEvent {
            event_id: stable_id(&["healthcheck", &destination_id, &now.to_string()]),
            event_type: EventType::Healthcheck,
            user_id: String::new(),
            reference: format!("healthcheck-{now}"),
            received_at_ms: 0,
            body,
            dev_id: None,
        };
        let Ok(payload) = serde_json::to_vec(&event).map(bytes::Bytes::from) else {
            continue;
        };
        let Ok(view) = EventView::parse(&payload) else {
            continue;
        };
        let Ok(keys) = SigningKeys::of(&dest) else {
            continue;
        };
        let (outcome, observed) = DeliveryAttempt {
            sinks: &shared.sinks,
            dest: &dest,
            keys: &keys,
            metrics: &metrics,
            webhook_id: &webhook_id(&view.event_id, &dest.id),
            reference: &view.reference,
            user_id: &view.user_id,
            body: view.body_bytes(&payload),
            received_at_ms: 0,
        }
        .run()
        .await;
        let (kind, result) = match &outcome {
            Outcome::Delivered => (None, DeliveryOutcome::Ok),
            Outcome::Gone => (None, DeliveryOutcome::Gone),
            Outcome::Failed(f) => (Some(f.kind), DeliveryOutcome::Retry),
        };
        tracing::debug!(destination = %dest.id, ok = matches!(outcome, Outcome::Delivered),
            "healthcheck sent");
        let done = Pending::new(&dest.id, &view, 1, observed, kind).finish(result);
        shared.recent.record(done);
    }
}

/// How long to wait between healthchecks (for the config's docs and checks).
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(3600);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_last_hour_and_the_trend() {
        let c = HourlyCounts::default();
        let t0 = 1_780_000_000_000;
        for i in 0..10 {
            c.add(t0 + i * 1000);
        }
        // An hour and a half later: those 10 are "the hour before"; 15 new ones.
        let t1 = t0 + 90 * MINUTE_MS;
        for i in 0..15 {
            c.add(t1 + i * 1000);
        }
        assert_eq!(c.last_two_hours(t1 + 20_000), (15, 10));
        let b: serde_json::Value = serde_json::from_str(&body(t1, (15, 10))).unwrap();
        assert_eq!(b["trend_percentage"], 50);
        assert_eq!(b["sent_webhooks_last_hour"], 15);
        assert_eq!(b["type"], "healthcheck");
        // Three hours on, nothing counts any more, however the buckets wrapped.
        assert_eq!(c.last_two_hours(t1 + 180 * MINUTE_MS), (0, 0));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body(t1, (0, 4))).unwrap()
                ["trend_percentage"],
            -100
        );
    }
}

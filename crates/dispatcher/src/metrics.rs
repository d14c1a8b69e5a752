//! Metric handles, resolved once per destination so the delivery path does no
//! registry lookups.
//!
//! * `pulsegate_deliveries_total{destination,outcome}`: delivered, gone, failed (HTTP
//!   status), timeout, connection_error, blocked (SSRF guard), invalid.
//! * `pulsegate_delivery_seconds{destination}`: attempt latency.
//! * `pulsegate_end_to_end_seconds`: notification received → customer 2xx.
//! * `pulsegate_retries_scheduled_total{destination,tier}`
//! * `pulsegate_retries_dropped_total{destination,reason}`: retries not attempted
//!   because the destination was deleted, disabled, or no longer wants the type.
//! * `pulsegate_dead_letters_total{destination}`
//! * `pulsegate_destination_breaker_open{destination}`: 1 while the breaker is open.
//! * `pulsegate_dispatch_malformed_total{topic}`: records that could not be parsed.
//! * `pulsegate_claim_checks_total{destination}`: bodies stored for an `s3_payload`
//!   webhook (one per attempt that reached the store).
//! * `pulsegate_destination_secret_set_timestamp_seconds{destination}`: when the
//!   destination's signing secret was set (see [`SecretSetGauges`]).

use std::collections::HashMap;
use std::sync::Arc;

use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};
use pulsegate_schema::Destination;

#[derive(Clone)]
pub(crate) struct DestinationMetrics {
    destination: String,
    pub delivered: Counter,
    pub gone: Counter,
    failed: Counter,
    timeout: Counter,
    connection_error: Counter,
    blocked: Counter,
    invalid: Counter,
    pub latency: Histogram,
    pub end_to_end: Histogram,
    pub dead_letters: Counter,
    pub breaker_open: Gauge,
    /// Deliveries per minute, for the healthcheck's `sent_webhooks_last_hour`.
    pub sent: crate::healthcheck::HourlyCounts,
}

impl DestinationMetrics {
    pub fn new(destination: &str) -> Self {
        let d = destination.to_string();
        let outcome = |o: &'static str| counter!("pulsegate_deliveries_total", "destination" => d.clone(), "outcome" => o);
        Self {
            delivered: outcome("delivered"),
            gone: outcome("gone"),
            failed: outcome("failed"),
            timeout: outcome("timeout"),
            connection_error: outcome("connection_error"),
            blocked: outcome("blocked"),
            invalid: outcome("invalid"),
            latency: histogram!("pulsegate_delivery_seconds", "destination" => d.clone()),
            end_to_end: histogram!("pulsegate_end_to_end_seconds"),
            dead_letters: counter!("pulsegate_dead_letters_total", "destination" => d.clone()),
            breaker_open: gauge!("pulsegate_destination_breaker_open", "destination" => d.clone()),
            sent: crate::healthcheck::HourlyCounts::default(),
            destination: d,
        }
    }

    /// The counter for a failure kind (see [`crate::attempt::Failure::kind`]).
    pub fn failure(&self, kind: &str) -> &Counter {
        match kind {
            "timeout" => &self.timeout,
            "connection_error" => &self.connection_error,
            "blocked" => &self.blocked,
            "invalid" => &self.invalid,
            _ => &self.failed,
        }
    }

    pub fn retry_scheduled(&self, tier: usize) {
        counter!("pulsegate_retries_scheduled_total",
            "destination" => self.destination.clone(), "tier" => tier.to_string())
        .increment(1);
    }

    pub fn retry_dropped(&self, reason: &'static str) {
        counter!("pulsegate_retries_dropped_total",
            "destination" => self.destination.clone(), "reason" => reason)
        .increment(1);
    }
}

pub(crate) fn malformed(topic: &str) {
    counter!("pulsegate_dispatch_malformed_total", "topic" => topic.to_string()).increment(1);
}

/// `pulsegate_destination_secret_set_timestamp_seconds{destination}`: the unix time each
/// destination's signing secret was set, paused and disabled ones included (their
/// secret signs again once resumed). A timestamp rather than an age, so a process that
/// stopped updating still gives the right age (`time() - …`). Absent while the time is
/// unknown (a destination stored before it was recorded); 0 once the destination is
/// deleted, as the breaker gauge does (a series cannot be withdrawn): the alert
/// ignores 0.
#[derive(Default)]
pub(crate) struct SecretSetGauges {
    /// Destination id → the `secret_set_at_ms` exported, and its gauge.
    exported: HashMap<String, (u64, Gauge)>,
}

impl SecretSetGauges {
    /// Sets the gauges of `destinations` (all of them, as stored) whose time changed,
    /// and zeroes those of destinations gone or no longer known.
    pub fn update(&mut self, destinations: &[Arc<Destination>]) {
        let known: HashMap<&str, u64> = destinations
            .iter()
            .filter(|d| d.secret_set_at_ms > 0)
            .map(|d| (d.id.as_str(), d.secret_set_at_ms))
            .collect();
        self.exported.retain(|id, (_, g)| {
            let keep = known.contains_key(id.as_str());
            if !keep {
                g.set(0.0);
            }
            keep
        });
        for (id, set_at_ms) in known {
            let entry = self.exported.entry(id.to_string()).or_insert_with(|| {
                let g = gauge!("pulsegate_destination_secret_set_timestamp_seconds",
                    "destination" => id.to_string());
                (0, g)
            });
            if entry.0 != set_at_ms {
                entry.0 = set_at_ms;
                entry.1.set(set_at_ms as f64 / 1000.0);
            }
        }
    }
}

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

use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};

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

//! The poll lane's metrics.
//!
//! * `pulsegate_poll_runs_total{provider,outcome}`: one per user and data type polled:
//!   `delivered` (new or changed objects sent), `unchanged`, `rate_limited`,
//!   `connection_error`, `provider_unavailable`, `failed` (the provider's answer was
//!   refused or unusable), `error` (the bus or the state store failed).
//! * `pulsegate_poll_events_total{provider,type}`: data payloads appended to `events`.
//! * `pulsegate_poll_lag_seconds{provider}`: age of the oldest cursor among the
//!   provider's active connections (since its last complete poll; a connection never
//!   polled counts from its creation). Every process running the lane reports the
//!   deployment-wide value (the state view is complete everywhere): aggregate with `max`.

use pulsegate_schema::{EventType, Provider};

pub(super) fn count_run(provider: Provider, outcome: &'static str) {
    metrics::counter!(
        "pulsegate_poll_runs_total",
        "provider" => provider.slug(),
        "outcome" => outcome
    )
    .increment(1);
}

pub(super) fn count_events(provider: Provider, data_type: EventType, n: usize) {
    metrics::counter!(
        "pulsegate_poll_events_total",
        "provider" => provider.slug(),
        "type" => data_type.as_str()
    )
    .increment(n as u64);
}

pub(super) fn set_lag(provider: Provider, seconds: f64) {
    metrics::gauge!("pulsegate_poll_lag_seconds", "provider" => provider.slug()).set(seconds);
}

//! Every provider end to end on the embedded bus: the provider's documented example
//! notifications, signed by an independent implementation in the test, go in; signed
//! Terra-shaped webhooks come out at a customer sink. Tampered, wrongly keyed, wrongly
//! encoded or stale notifications get 401 and nothing is enqueued.

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

#[path = "../support/mod.rs"]
mod support;

mod dexcom;
mod fitbit;
mod garmin;
mod google_health;
mod huawei;
mod oura;
mod polar;
mod replay_restart;
mod suunto;
mod whoop;
mod withings;

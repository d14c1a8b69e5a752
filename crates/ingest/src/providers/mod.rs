//! One file per provider: its handshake and its verification.
//!
//! Adding a provider, every place it is registered (the same list is in
//! `crates/normalizer/src/providers/mod.rs`):
//! - `crates/schema/src/records.rs`: its `Provider` variant, in `Provider::ALL`,
//!   `terra_name` and `slug` (and `is_sdk` for an on-device source);
//! - `crates/provider/src/providers/<p>.rs` and one line in that folder's `LIST`: its
//!   facts (name, icon, push mode, data types, writes, rate limits, body limit, OAuth2,
//!   credentials), which connect, terra-api, admin, ingest's path tokens and body limits
//!   and the normalizer's rate limits and token refresh read from there;
//! - here: a module, its settings in [`IngestConfig`] (`config.rs`), one line in
//!   [`registry_with`], and its entry in `replay.rs` (`guarded`) if it has a replay
//!   guard;
//! - the normalizer: a module in `crates/normalizer/src/providers/`, a field in
//!   `NormalizerConfig` (`config.rs`) and one line in its `registry`;
//! - `crates/pulsegate/src/app.rs` (`app_credentials`): its normalizer credentials for
//!   the connect flow;
//! - documents checked against the registry by `crates/provider/tests/registry_docs.rs`:
//!   the provider enums of `crates/admin/src/openapi.json`, the README's providers table,
//!   `pulsegate.example.toml`; and `docs/providers/<p>.md`;
//! - its end-to-end test: a module in `crates/pulsegate/tests/providers/main.rs`.

use std::sync::Arc;

use pulsegate_schema::Provider;

use crate::replay::ReplayBook;
use crate::signing::ReplayGuard;
use crate::verifier::ProviderVerifier;
use crate::IngestConfig;

pub mod fitbit;
pub mod garmin;
pub mod google_health;
pub mod huawei;
pub mod oura;
pub mod polar;
pub mod strava;
pub mod whoop;
pub mod withings;

/// The verifiers of every configured provider (unconfigured ones are not mounted: 404),
/// each with its own in-memory replay guard.
pub fn registry(config: &IngestConfig) -> Vec<Box<dyn ProviderVerifier>> {
    registry_with(config, &ReplayBook::in_memory(config))
}

/// [`registry`], the replay guards taken from `book` (shared across re-mounts).
pub fn registry_with(config: &IngestConfig, book: &ReplayBook) -> Vec<Box<dyn ProviderVerifier>> {
    let guard = |p: Provider, capacity: usize| {
        book.guard(p)
            .unwrap_or_else(|| Arc::new(ReplayGuard::new(capacity)))
    };
    let mut v: Vec<Box<dyn ProviderVerifier>> = Vec::new();
    if config.strava.enabled() {
        v.push(Box::new(strava::StravaVerifier::new(config.strava.clone())));
    }
    if config.huawei.enabled() {
        v.push(Box::new(huawei::HuaweiVerifier::with_replays(
            config.huawei.clone(),
            guard(Provider::Huawei, config.huawei.replay_capacity),
        )));
    }
    if config.fitbit.enabled() {
        v.push(Box::new(fitbit::FitbitVerifier::with_replays(
            config.fitbit.clone(),
            guard(Provider::Fitbit, config.fitbit.replay_capacity),
        )));
    }
    if config.garmin.enabled() {
        v.push(Box::new(garmin::GarminVerifier::new(config.garmin.clone())));
    }
    if config.oura.enabled() {
        v.push(Box::new(oura::OuraVerifier::with_replays(
            config.oura.clone(),
            guard(Provider::Oura, config.oura.replay_capacity),
        )));
    }
    if config.polar.enabled() {
        v.push(Box::new(polar::PolarVerifier::with_replays(
            config.polar.clone(),
            guard(Provider::Polar, config.polar.replay_capacity),
        )));
    }
    if config.whoop.enabled() {
        v.push(Box::new(whoop::WhoopVerifier::with_replays(
            config.whoop.clone(),
            guard(Provider::Whoop, config.whoop.replay_capacity),
        )));
    }
    if config.google_health.enabled() {
        match google_health::GoogleHealthVerifier::with_replays(
            config.google_health.clone(),
            guard(Provider::GoogleHealth, config.google_health.replay_capacity),
        ) {
            Ok(verifier) => v.push(Box::new(verifier)),
            Err(e) => tracing::error!(error = %e, "Google Health not mounted"),
        }
    }
    if config.withings.enabled() {
        v.push(Box::new(withings::WithingsVerifier::new(
            config.withings.clone(),
        )));
    }
    v
}

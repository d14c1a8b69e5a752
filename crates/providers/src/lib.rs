//! Every provider pulsegate speaks to, one folder each, and the registry: the one list
//! the stages and front doors know them by.
//!
//! A provider's folder holds everything about it: `descriptor.rs` (its facts: name,
//! icon, push mode, data types, writes, documented rate limits, body limit, OAuth2
//! facts, credentials), `verify.rs` (handshake and verification of its pushes, with its
//! `[ingest.<slug>]` settings), `mod.rs` and `client.rs` (its API side: notification →
//! fetch → Terra events, range fetches, with its `[normalizer.<slug>]` settings),
//! `mapping.rs` (into Terra's schema), `write.rs` where customers can write to it,
//! `plugin.rs` (the [`Plugin`] the stages call), its tests and fixtures. Its document is
//! `docs/providers/<slug>.md`.
//!
//! Adding a provider: its folder, one line in [`registry!`] below, its variant in
//! `pulsegate_schema::Provider` (one line in that enum's table), and its end-to-end test
//! module in `crates/pulsegate/tests/providers/main.rs`. The README's providers table, the
//! admin OpenAPI enums and `pulsegate.example.toml` are checked against this registry by
//! `tests/registry_docs.rs`.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use pulsegate_provider::{
    Descriptor, Limiters, Plugin, ProviderNormalizer, ProviderTables, RetryConfig,
};
use pulsegate_schema::{Provider, Secret};

#[cfg(test)]
use pulsegate_provider::Lane;
// The kit, under the names the providers' modules use.
pub(crate) use pulsegate_provider::verify as verifier;
pub(crate) use pulsegate_provider::{
    api, confirm, credentials, events, http, oauth, range, ratelimit, signing, write,
};
pub(crate) use pulsegate_provider::{
    Backoff, Ctx, EventType, NormalizeError, PushMode, RangeData, RangeSupport, WriteOp,
    WriteResult, Writes, PUSH_MAX_BODY_BYTES, SDK_MAX_BODY_BYTES,
};

/// Declares the providers' modules and lists their plugins, one line per provider.
macro_rules! registry {
    ($($module:ident => [$($plugin:expr),+ $(,)?]),+ $(,)?) => {
        $(pub mod $module;)+

        /// Every provider's plugin, as listed.
        static LISTED: &[&'static dyn Plugin] = &[$($(&$plugin),+),+];
    };
}

registry! {
    strava => [strava::StravaPlugin],
    huawei => [huawei::HuaweiPlugin],
    fitbit => [fitbit::FitbitPlugin],
    garmin => [garmin::GarminPlugin],
    oura => [oura::OuraPlugin],
    polar => [polar::PolarPlugin],
    whoop => [whoop::WhoopPlugin],
    withings => [withings::WithingsPlugin],
    sdk => [
        sdk::SdkPlugin(&sdk::APPLE_HEALTH),
        sdk::SdkPlugin(&sdk::SAMSUNG_HEALTH),
        sdk::SdkPlugin(&sdk::HEALTH_CONNECT),
    ],
    google_health => [google_health::GoogleHealthPlugin],
    ultrahuman => [ultrahuman::UltrahumanPlugin],
    dexcom => [dexcom::DexcomPlugin],
    suunto => [suunto::SuuntoPlugin],
}

/// The listed plugins by the wire enum's position. Exactly one per [`Provider`]:
/// `registry_is_complete` below fails otherwise.
static BY_PROVIDER: LazyLock<Vec<&'static dyn Plugin>> = LazyLock::new(|| {
    Provider::ALL
        .iter()
        .map(|p| {
            *LISTED
                .iter()
                .find(|plugin| plugin.descriptor().id == *p)
                .expect("every Provider has a plugin in the registry")
        })
        .collect()
});

/// Every provider's plugin, in [`Provider::ALL`]'s order.
pub fn plugins() -> impl Iterator<Item = &'static dyn Plugin> {
    BY_PROVIDER.iter().copied()
}

/// `p`'s plugin.
pub fn plugin(p: Provider) -> &'static dyn Plugin {
    BY_PROVIDER[p.index()]
}

/// `p`'s facts.
pub fn descriptor(p: Provider) -> &'static Descriptor {
    plugin(p).descriptor()
}

/// Every provider's facts, in [`Provider::ALL`]'s order.
pub fn descriptors() -> impl Iterator<Item = &'static Descriptor> {
    plugins().map(|p| p.descriptor())
}

/// The credentials `p`'s application takes (empty for the on-device sources).
pub fn credential_fields(p: Provider) -> &'static [credentials::CredentialField] {
    descriptor(p).credentials
}

/// Every provider's API side, built from the `[normalizer.<slug>]` tables.
pub fn normalizers(
    tables: &ProviderTables,
    retry: &RetryConfig,
    limiters: &Limiters,
) -> Result<Vec<Arc<dyn ProviderNormalizer>>, NormalizeError> {
    plugins()
        .map(|plugin| {
            let p = plugin.descriptor().id;
            plugin
                .normalizer(tables.get(p), retry, limiters)
                .map_err(|e| NormalizeError::Config(format!("normalizer.{}: {e}", p.slug())))
        })
        .collect()
}

/// The OAuth applications (client id and secret) of the `[normalizer.<slug>]` tables,
/// for the connect flow. A table that does not read is left out (the configuration
/// check at start reports it).
pub fn oauth_apps(tables: &ProviderTables) -> HashMap<Provider, (String, Secret)> {
    plugins()
        .filter_map(|plugin| {
            let p = plugin.descriptor().id;
            let app = plugin.oauth_app(tables.get(p)).ok().flatten()?;
            Some((p, app))
        })
        .collect()
}

/// Checks every provider's tables by building its parts once: the first problem, named
/// by its section (`ingest.strava: unknown field ...`).
pub fn check(ingest: &ProviderTables, normalizer: &ProviderTables) -> Result<(), String> {
    let limiters = Limiters::new();
    let retry = RetryConfig::default();
    for plugin in plugins() {
        let p = plugin.descriptor().id;
        let push = ingest.get(p);
        plugin
            .replay_guard(push)
            .and_then(|_| plugin.verifier(push, None))
            .map_err(|e| format!("ingest.{}: {e}", p.slug()))?;
        plugin
            .normalizer(normalizer.get(p), &retry, &limiters)
            .map_err(|e| format!("normalizer.{}: {e}", p.slug()))?;
    }
    Ok(())
}

#[cfg(test)]
mod registry_tests;
#[cfg(test)]
mod terra_check;

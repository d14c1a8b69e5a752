//! The normalizer: reads providers' raw notifications from the `raw` topic, fetches what
//! they point at from the provider's API, maps it into Terra's schema and appends the
//! resulting [`NormalizedEvent`]s to the `events` topic (keyed by `user_id`).
//!
//! A raw record is committed only once its events are durable on the bus, or once it
//! was deliberately dropped (unknown user, revoked connection, deleted upstream,
//! provider unavailable after the configured retries); nothing is retried forever.
//!
//! Providers plug in through [`ProviderNormalizer`]: one folder per provider in
//! `pulsegate-providers`, built from its `[normalizer.<slug>]` table by
//! [`providers::registry`].
//!
//! Historical data requests ([`backfill`]) reuse the providers' mappings through
//! [`ProviderNormalizer::fetch_range`], in their own lane ([`run_backfill`]); every API
//! call of both lanes draws from the provider application's [`ratelimit`] budget.
//!
//! Providers that cannot push are polled ([`poll`], [`run_poll`]): same fetches, same
//! events, a durable cursor per user and data type.
//!
//! Customers' writes to providers ([`write`]) go through [`ProviderNormalizer::write`].

pub mod backfill;
mod config;
mod dedupe;
mod pipeline;
pub mod poll;
pub mod providers;

// The provider kit: what providers implement and the plumbing they share.
use pulsegate_provider::events;
pub use pulsegate_provider::{api, http, ratelimit, write};

use std::sync::Arc;

use pulsegate_bus::{run_consumer, Bus, ConsumerLoopConfig, OffsetReset};
use pulsegate_schema::topics;
use pulsegate_state::StateStore;
use tokio_util::sync::CancellationToken;

pub use backfill::run_backfill;
pub use config::{BackfillConfig, NormalizerConfig};
pub use dedupe::RecentlySeen;
pub use pipeline::Normalizer;
pub use poll::{run_poll, PollConfig, PollLane};
pub use pulsegate_provider::events::{build_event, terra_user};
pub use pulsegate_provider::keyed_locks::KeyedLocks;
pub use pulsegate_provider::{
    Backoff, Ctx, Lane, Limiters, NormalizeError, ProviderNormalizer, RangeData, RangeSupport,
    RetryConfig, WriteOp, WriteResult,
};

/// The consumer group the normalizer reads `raw` with.
pub const GROUP: &str = "normalizer";

/// Runs the normalizer until `shutdown`: consumes `topics::RAW` as group [`GROUP`] and
/// appends to `topics::EVENTS`. Both topics must exist. Returns once in-flight records
/// have finished and their offsets are committed. Provider calls draw from `limiters`
/// (share them with the backfill lane and the API's fetches of the same process).
pub async fn run(
    bus: Arc<dyn Bus>,
    state: Arc<StateStore>,
    cfg: NormalizerConfig,
    limiters: Limiters,
    shutdown: CancellationToken,
) -> Result<(), NormalizeError> {
    let (_keep, updates) = tokio::sync::watch::channel(cfg.clone());
    run_with_updates(bus, state, cfg, limiters, updates, shutdown).await
}

/// [`run`], re-building the provider normalizers whenever `updates` changes (new
/// application credentials stored through the admin API).
pub async fn run_with_updates(
    bus: Arc<dyn Bus>,
    state: Arc<StateStore>,
    cfg: NormalizerConfig,
    limiters: Limiters,
    mut updates: tokio::sync::watch::Receiver<NormalizerConfig>,
    shutdown: CancellationToken,
) -> Result<(), NormalizeError> {
    let concurrency = cfg.concurrency.max(1);
    let normalizer = Arc::new(Normalizer::new(bus.clone(), state, cfg, limiters)?);
    {
        let normalizer = normalizer.clone();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    changed = updates.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        let cfg = updates.borrow_and_update().clone();
                        match normalizer.reconfigure(&cfg) {
                            Ok(()) => tracing::info!("provider settings reloaded"),
                            Err(e) => tracing::error!(error = %e, "provider settings not reloaded"),
                        }
                    }
                }
            }
        });
    }
    let consumer = bus
        .subscribe(topics::RAW, GROUP, OffsetReset::Earliest)
        .await?;
    tracing::info!(concurrency, "normalizer started");
    // One provider user's notifications in order: data before a deauthorization.
    let loop_cfg = ConsumerLoopConfig::new(GROUP, concurrency).ordered_by_key();
    run_consumer(consumer, loop_cfg, shutdown, move |record| {
        let normalizer = normalizer.clone();
        async move { normalizer.handle(record).await }
    })
    .await?;
    tracing::info!("normalizer stopped");
    Ok(())
}

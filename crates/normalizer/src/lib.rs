//! The normalizer: reads providers' raw notifications from the `raw` topic, fetches what
//! they point at from the provider's API, maps it into Terra's schema and appends the
//! resulting [`NormalizedEvent`]s to the `events` topic (keyed by `user_id`).
//!
//! A raw record is committed only once its events are durable on the bus, or once it
//! was deliberately dropped (unknown user, revoked connection, deleted upstream,
//! provider unavailable after the configured retries); nothing is retried forever.
//!
//! Providers plug in through [`ProviderNormalizer`]: one module per provider under
//! `providers/`, registered in [`providers::registry`].
//!
//! Historical data requests ([`backfill`]) reuse the providers' mappings through
//! [`ProviderNormalizer::fetch_range`], in their own lane ([`run_backfill`]); every API
//! call of both lanes draws from the provider application's [`ratelimit`] budget.
//!
//! Providers that cannot push are polled ([`poll`], [`run_poll`]): same fetches, same
//! events, a durable cursor per user and data type.
//!
//! Customers' writes to providers ([`write`]) go through [`ProviderNormalizer::write`].

pub mod api;
pub mod backfill;
mod config;
mod confirm;
mod dedupe;
mod error;
mod events;
pub mod http;
mod pipeline;
pub mod poll;
pub mod providers;
pub mod ratelimit;
mod retry;
pub mod write;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use pulsegate_bus::{run_consumer, Bus, ConsumerLoopConfig, OffsetReset};
use pulsegate_schema::{topics, Connection, EventType, NormalizedEvent, Provider, RawNotification};
use pulsegate_state::StateStore;
use tokio_util::sync::CancellationToken;

pub use backfill::run_backfill;
pub use config::{BackfillConfig, NormalizerConfig, RetryConfig, StravaConfig};
pub use dedupe::{KeyedLocks, RecentlySeen};
pub use error::NormalizeError;
pub use events::{build_event, terra_user};
pub use pipeline::Normalizer;
pub use poll::{run_poll, PollConfig, PollLane};
pub use ratelimit::{Lane, Limiters};
pub use retry::Backoff;
pub use write::{WriteOp, WriteResult};

/// The consumer group the normalizer reads `raw` with.
pub const GROUP: &str = "normalizer";

/// What every provider normalizer may use besides its own configuration.
pub struct Ctx {
    /// Connections (tokens are refreshed and persisted through it).
    pub state: Arc<StateStore>,
    /// Whose API calls these are: live notifications, or historical requests (which
    /// only use the rate-limit budget above the push reserve).
    pub lane: Lane,
}

/// What a provider can fetch by date range for one data type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RangeSupport {
    /// Days per backfill window (each window is fetched, and delivered, on its own),
    /// unless `[normalizer.backfill] window_days` says otherwise.
    pub window_days: u32,
    /// How far back the provider keeps data, in days before today (Polar: 28). Older
    /// days yield nothing, without calls. `None`: no limit.
    pub history_days: Option<u32>,
}

impl RangeSupport {
    /// `window_days` windows without a history limit, for the listed data types only.
    pub fn for_types(data_type: EventType, types: &[EventType], window_days: u32) -> Option<Self> {
        types.contains(&data_type).then_some(Self {
            window_days,
            history_days: None,
        })
    }
}

/// Terra data objects of one date range (the push path's mapping, as JSON).
#[derive(Debug)]
pub enum RangeData {
    Objects(Vec<serde_json::Value>),
    /// The provider refused the connection's credentials: a `connection_error` is due.
    ConnectionError(&'static str),
}

/// One provider's notification handling: parse its notification body, fetch the data it
/// points at and map it into Terra-shaped events.
#[async_trait]
pub trait ProviderNormalizer: Send + Sync + 'static {
    fn provider(&self) -> Provider;

    /// A key identifying the provider-side change a notification announces (same
    /// object, same change, same time = same key), used to skip duplicates. `None` when
    /// the body cannot be parsed (then [`normalize`](Self::normalize) reports why).
    fn dedupe_key(&self, raw: &RawNotification) -> Option<String>;

    /// The data type this notification would produce, when the notification tells it
    /// without a fetch. A type the integration does not enable is then neither fetched
    /// nor delivered. `None`: unknown or several (the events are filtered after).
    fn data_type(&self, _raw: &RawNotification) -> Option<EventType> {
        None
    }

    /// True if this notification must be processed even though the user's connection is
    /// revoked (a deauthorization being redelivered after the revoke was stored).
    fn handles_revoked(&self, _raw: &RawNotification) -> bool {
        false
    }

    /// Produces the events for one notification. `Err(NormalizeError::Dropped)` means
    /// the notification is deliberately not turned into events (and is not retried).
    async fn normalize(
        &self,
        raw: &RawNotification,
        conn: &Connection,
        ctx: &Ctx,
    ) -> Result<Vec<NormalizedEvent>, NormalizeError>;

    /// Whether [`fetch_range`](Self::fetch_range) serves `data_type`, and how. `None`
    /// (the default): historical requests of this type are refused as unsupported.
    fn range_support(&self, _data_type: EventType) -> Option<RangeSupport> {
        None
    }

    /// The Terra data objects of `data_type` in the UTC days `[start, end)`, fetched
    /// from the provider and mapped exactly as the push path maps them. Calls go
    /// through the provider's API client in `ctx.lane`. The default: unsupported.
    async fn fetch_range(
        &self,
        _conn: &Connection,
        _ctx: &Ctx,
        data_type: EventType,
        _start: NaiveDate,
        _end: NaiveDate,
        _with_samples: bool,
    ) -> Result<RangeData, NormalizeError> {
        Err(NormalizeError::dropped(
            "unsupported",
            format!(
                "{} data cannot be fetched by date range from this provider",
                data_type.as_str()
            ),
        ))
    }

    /// Writes to the provider (`POST`/`DELETE` on the `/v2` data endpoints) with the
    /// connection's token, in `ctx.lane` ([`Lane::Write`]). The default: unsupported
    /// (`Dropped { reason: "unsupported" }`, naming the provider and the operation).
    async fn write(
        &self,
        _conn: &Connection,
        _ctx: &Ctx,
        op: WriteOp,
    ) -> Result<WriteResult, NormalizeError> {
        Err(write::unsupported(self.provider(), &op, ""))
    }
}

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

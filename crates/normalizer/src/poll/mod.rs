//! The poll lane: providers that cannot push (their descriptor's push mode is
//! [`PushMode::Poll`]) are asked for new data on a schedule, through the same
//! [`ProviderNormalizer::fetch_range`] the historical requests use, and what is new is
//! appended to `events` as data events, like pushed data: the dispatcher delivers them
//! signed, with retries.
//!
//! * **Cursors** (`pollcursor/<user_id>/<data_type>` on the state topic,
//!   [`pulsegate_state::PollCursor`]): the last closed day and, per open day, the
//!   hashes of the objects delivered (`days.rs`). A cursor is committed only after the
//!   events are durable; event ids derive from user, provider, type, day and content,
//!   so a crash between the two sends the same ids again (at-least-once, deduplicable).
//!   Cursors are sealed with the user's data key and go with the connection and with
//!   [`StateStore::erase_user`].
//! * **Schedule** (`schedule.rs`): per provider an interval (`[normalizer.poll]
//!   interval`, `intervals.<slug>`), each user at its own place in it (a hash of the
//!   user id), so users are spread and restarts do not bunch them. Calls go in
//!   [`Lane::Poll`]: only the rate-limit budget above the push reserve; a 429 blocks
//!   the provider's polls until the provider's time.
//! * **Catch-up**: a poll fetches from the cursor's first open day through today, in
//!   the provider's `window_days` windows, never further back than its `history_days`;
//!   after downtime that is every missed day. A new connection starts `lookback_days`
//!   before today (history is for historical requests).
//! * **Scale-out** (`owner.rs`): users are hashed into `buckets`; every process sends,
//!   every `check_every`, one *sweep* record per bucket to the keyed topic [`TOPIC`]
//!   (key `bucket/<n>`), and consumes that topic in one consumer group ([`GROUP`]). A
//!   process polls the users of the buckets whose sweeps it consumed recently: the
//!   consumer group hands each partition, hence each bucket, to one process, so a user
//!   is polled by one process, and by another one when the group rebalances (a dead
//!   process's buckets move within a few `check_every`). Sweeps are triggers, not
//!   work: the cursors are the durable truth, so a duplicate or lost sweep costs
//!   nothing, and during a rebalance two processes may poll one user once (same event
//!   ids). The embedded log (`serve`) has one process, which consumes every partition.
//! * **Connection errors** (`RangeData::ConnectionError`): a `connection_error` event,
//!   once per state of the connection, and the user is left alone until the
//!   connection changes (a reconnect) or `connection_error_backoff` passed.
//!
//! Here: the lane's handle; `lane.rs`: one user's poll; `owner.rs`: sweeps, the
//! schedule loop; `days.rs`, `schedule.rs`: the math; `metrics.rs`. docs/POLLING.md.

mod config;
mod days;
mod lane;
mod metrics;
mod owner;
mod schedule;

pub use config::PollConfig;
pub use lane::Outcome;
pub use schedule::{bucket, due, next_due_ms, offset_ms};

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use pulsegate_bus::Bus;
use pulsegate_provider::PushMode;
use pulsegate_schema::{EventType, Provider};
use pulsegate_state::StateStore;
use tokio_util::sync::CancellationToken;

use crate::{Lane, Limiters, NormalizeError, NormalizerConfig, ProviderNormalizer};

/// The keyed topic of the ownership sweeps.
pub const TOPIC: &str = "poll_sweeps";
/// The consumer group every process reads [`TOPIC`] with.
pub const GROUP: &str = "poll";

/// The Terra data types a provider may be polled for (those it serves by date range).
const DATA_TYPES: [EventType; 7] = [
    EventType::Activity,
    EventType::Athlete,
    EventType::Body,
    EventType::Daily,
    EventType::Menstruation,
    EventType::Nutrition,
    EventType::Sleep,
];

/// The providers that must be polled: those whose descriptor says [`PushMode::Poll`].
pub fn polled_providers() -> Vec<Provider> {
    pulsegate_providers::descriptors()
        .filter(|d| d.push == PushMode::Poll)
        .map(|d| d.id)
        .collect()
}

/// The time, in ms since the Unix epoch (replaceable in tests).
type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The poll lane of one process (see the module comment). Start it with [`run_poll`],
/// or [`PollLane::run`].
pub struct PollLane {
    bus: Arc<dyn Bus>,
    state: Arc<StateStore>,
    setup: RwLock<Arc<Setup>>,
    limiters: Limiters,
    clock: Clock,
    /// Bucket → when this process last consumed a fresh sweep of it.
    owned: Mutex<HashMap<u32, u64>>,
    /// Users being polled now.
    in_flight: Mutex<HashSet<String>>,
    /// User → (not before, consecutive failures) after a failed poll.
    retry_at: Mutex<HashMap<String, (u64, u32)>>,
    /// Provider → not before (its 429, or the budget above the push reserve).
    blocked: Mutex<HashMap<Provider, u64>>,
    /// User → (the refused connection's fingerprint, left alone until).
    refused: Mutex<HashMap<String, (String, u64)>>,
    /// Tests: stop like a crash after appending a poll's events, before its cursor.
    #[cfg(test)]
    crash_after_append: std::sync::atomic::AtomicBool,
}

struct Setup {
    cfg: PollConfig,
    /// The polled providers' normalizers.
    providers: HashMap<Provider, Arc<dyn ProviderNormalizer>>,
}

impl Setup {
    fn types(&self, provider: Provider) -> Vec<EventType> {
        let Some(p) = self.providers.get(&provider) else {
            return Vec::new();
        };
        DATA_TYPES
            .into_iter()
            .filter(|t| p.range_support(*t).is_some())
            .collect()
    }
}

/// The provider normalizers the lane polls through: the normalizer's registry, only
/// the providers that must be polled.
fn registry(
    cfg: &NormalizerConfig,
    limiters: &Limiters,
) -> Result<Vec<Arc<dyn ProviderNormalizer>>, NormalizeError> {
    let polled = polled_providers();
    Ok(crate::providers::registry(cfg, limiters)?
        .into_iter()
        .filter(|p| polled.contains(&p.provider()))
        .collect())
}

impl PollLane {
    /// The lane for every provider whose descriptor says it must be polled, built
    /// from the normalizer's settings and drawing from `limiters` (the push lane's).
    pub fn new(
        cfg: &NormalizerConfig,
        state: Arc<StateStore>,
        bus: Arc<dyn Bus>,
        limiters: Limiters,
    ) -> Result<Self, NormalizeError> {
        let providers = registry(cfg, &limiters)?;
        Ok(Self::with_providers(
            cfg.poll.clone(),
            state,
            bus,
            limiters,
            providers,
        ))
    }

    /// The lane polling exactly `providers` (tests, or a provider not registered yet).
    pub fn with_providers(
        cfg: PollConfig,
        state: Arc<StateStore>,
        bus: Arc<dyn Bus>,
        limiters: Limiters,
        providers: Vec<Arc<dyn ProviderNormalizer>>,
    ) -> Self {
        Self {
            bus,
            state,
            setup: RwLock::new(Arc::new(Setup {
                cfg,
                providers: providers.into_iter().map(|p| (p.provider(), p)).collect(),
            })),
            limiters,
            clock: Arc::new(pulsegate_schema::now_ms),
            owned: Mutex::default(),
            in_flight: Mutex::default(),
            retry_at: Mutex::default(),
            blocked: Mutex::default(),
            refused: Mutex::default(),
            #[cfg(test)]
            crash_after_append: Default::default(),
        }
    }

    /// Reads the time from `now_ms` instead of the system clock (tests).
    pub fn with_clock(mut self, now_ms: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(now_ms);
        self
    }

    /// Rebuilds the provider clients and settings from `cfg` (new credentials).
    pub fn reconfigure(&self, cfg: &NormalizerConfig) -> Result<(), NormalizeError> {
        let providers = registry(cfg, &self.limiters)?;
        let setup = Arc::new(Setup {
            cfg: cfg.poll.clone(),
            providers: providers.into_iter().map(|p| (p.provider(), p)).collect(),
        });
        *self.setup.write().unwrap_or_else(|e| e.into_inner()) = setup;
        Ok(())
    }

    /// Reconfigures whenever `updates` changes, until `shutdown`.
    pub fn follow(
        self: Arc<Self>,
        mut updates: tokio::sync::watch::Receiver<NormalizerConfig>,
        shutdown: CancellationToken,
    ) {
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    changed = updates.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        let cfg = updates.borrow_and_update().clone();
                        if let Err(e) = self.reconfigure(&cfg) {
                            tracing::error!(error = %e, "poll lane: provider settings not reloaded");
                        }
                    }
                }
            }
        });
    }

    fn setup(&self) -> Arc<Setup> {
        self.setup.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn now_ms(&self) -> u64 {
        (self.clock)()
    }

    /// The providers this lane polls.
    pub fn providers(&self) -> Vec<Provider> {
        let mut v: Vec<Provider> = self.setup().providers.keys().copied().collect();
        v.sort_by_key(|p| p.index());
        v
    }
}

/// Runs the poll lane (the normalize role runs it next to [`crate::run`] and the
/// backfill lane) until `shutdown`, reconfiguring the providers whenever `updates`
/// changes. Idles when no provider must be polled or `[normalizer.poll] enabled` is
/// false.
pub async fn run_poll(
    bus: Arc<dyn Bus>,
    state: Arc<StateStore>,
    cfg: NormalizerConfig,
    limiters: Limiters,
    updates: tokio::sync::watch::Receiver<NormalizerConfig>,
    shutdown: CancellationToken,
) -> Result<(), NormalizeError> {
    let lane = Arc::new(PollLane::new(&cfg, state, bus, limiters)?);
    lane.clone().follow(updates, shutdown.clone());
    lane.run(shutdown).await
}

/// Calls in this lane's [`Lane`].
const LANE: Lane = Lane::Poll;

#[cfg(test)]
mod tests;

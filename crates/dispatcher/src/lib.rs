//! Delivers normalized events to customer destinations as signed webhooks (or records
//! on a customer-owned Kafka topic).
//!
//! ```text
//!  events ──► dispatch.<dest A> ──► POST A ── 2xx ──► commit
//!         │                          └── fail ──► retry_0 ──► retry_1 … ──► dead_letters
//!         └─► dispatch.<dest B> ──► POST B …      (each tier: wait until due, re-attempt)
//! ```
//!
//! * **One consumer group per destination** on `events` (see [`worker`]), so a slow or
//!   dead destination holds back only its own cursor, and its backlog stays on the bus
//!   rather than in memory. A new destination starts at the end of the log.
//! * **Retries live on the bus** in fixed-delay tier topics (see [`retry`]); failures
//!   leave the main worker's path at once, so they never delay fresh deliveries.
//! * **At-least-once, nothing acknowledged lost**: an event's offset commits only once
//!   its outcome for that destination is durable (delivered, in a retry tier, or
//!   dead-lettered). Receivers deduplicate on `webhook-id`, which is the same for an
//!   event and destination on every attempt and after a crash.
//! * **A breaker per destination** (see [`breaker`]) stops a failing destination's
//!   stream from flooding the retry tiers; it probes with one event at growing
//!   intervals and resumes on the first success.
//! * **Every attempt is signed afresh** with both Terra's `terra-signature` and
//!   Standard Webhooks headers (see [`signing`]).
//! * **SSRF guard** at registration and at connect time (see [`ssrf`]).
//! * **410 Gone disables the destination**; what was not delivered stays on its cursor.
//! * **Kafka destinations**: a `kafka://host:port[,host:port…]/topic` URL gets each
//!   event as a record on a customer-owned topic (see the `sink` module), with the same
//!   signatures, retries, dead letters and metrics.

mod announce;
mod attempt;
pub mod breaker;
mod client;
mod config;
mod context;
mod disabled;
mod failing;
mod healthcheck;
mod history;
mod metrics;
pub mod recent;
pub mod retry;
pub mod signing;
mod sink;
pub mod ssrf;
mod supervisor;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use pulsegate_bus::{Bus, BusError, TopicSpec};
use pulsegate_state::StateStore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use client::MAX_RESPONSE_BYTES;
pub use config::{BreakerConfig, DispatcherConfig};
pub use recent::{DeliveryOutcome, DeliveryRecord, RecentDeliveries};
pub use retry::RetryTier;
pub use signing::{generate_secret, parse_secret, SecretError};
pub use sink::claim_check::check_claim_check;
pub use sink::s3::check_credentials as check_s3_credentials;
pub use sink::url::{check_kafka_settings, KafkaUrl, KAFKAS_SCHEME, KAFKA_SCHEME};
pub use ssrf::{validate_destination_url, validate_destination_url_resolving, UrlError};
pub use worker::group_for;

/// How long records stay on a retry tier topic beyond the tier's delay (the
/// dispatcher may be down that long without losing scheduled retries).
pub const RETRY_RETENTION_MARGIN: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("invalid dispatcher configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error("HTTP client setup failed: {0}")]
    Client(String),
}

/// The retry tier topics the dispatcher uses with `cfg` (it creates them itself).
pub fn retry_topic_specs(cfg: &DispatcherConfig) -> Vec<TopicSpec> {
    RetryTier::all(&cfg.retry_schedule)
        .into_iter()
        .map(|t| {
            TopicSpec::new(t.topic, cfg.retry_partitions)
                .retention(Some(t.delay + RETRY_RETENTION_MARGIN))
        })
        .collect()
}

/// Runs the dispatcher until `shutdown`: a worker per enabled destination, a consumer
/// per retry tier. After `shutdown` no new attempt starts; returns once every worker
/// has finished its in-flight attempts and committed, and the delivery history has
/// them. The `events` and `dead_letters` topics must exist (the binary creates
/// them); the retry tier topics are created here.
pub async fn run(
    bus: Arc<dyn Bus>,
    state: Arc<StateStore>,
    cfg: DispatcherConfig,
    shutdown: CancellationToken,
) -> Result<(), DispatchError> {
    run_recording(bus, state, cfg, RecentDeliveries::new(), shutdown).await
}

/// [`run`], recording every attempt into `recent` (shown by the admin API).
pub async fn run_recording(
    bus: Arc<dyn Bus>,
    state: Arc<StateStore>,
    cfg: DispatcherConfig,
    recent: RecentDeliveries,
    shutdown: CancellationToken,
) -> Result<(), DispatchError> {
    cfg.validate()?;
    for spec in retry_topic_specs(&cfg) {
        bus.ensure_topic(&spec).await?;
    }
    // The history writer outlives the workers: the attempts they finish while stopping
    // are written too, before this returns.
    let history_stop = CancellationToken::new();
    let mut history_task = None;
    if !cfg.history_retention.is_zero() {
        let spec = TopicSpec::new(pulsegate_schema::topics::DELIVERY_HISTORY, 4)
            .retention(Some(cfg.history_retention))
            .max_bytes(Some(cfg.history_max_bytes));
        bus.ensure_topic(&spec).await?;
        let (writer, task) = history::start(bus.clone(), history_stop.clone());
        recent.write_history_to(writer);
        history_task = Some(task);
    }
    let sinks = sink::Sinks {
        http: client::HttpClient::new(cfg.timeout, cfg.allow_private_networks)?,
        kafka: sink::kafka::KafkaSinks::new(cfg.timeout, cfg.allow_private_networks),
    };
    let tiers = cfg.retry_schedule.len();
    let shared = Arc::new(context::Shared::new(bus, state, sinks, cfg, recent));

    let mut retries = JoinSet::new();
    for tier in 0..tiers {
        retries.spawn(retry::run_tier(
            shared.clone(),
            tier,
            shutdown.child_token(),
        ));
    }
    tracing::info!(tiers, "dispatcher started");
    supervisor::Supervisor::new(shared, shutdown.clone())
        .run()
        .await;
    while let Some(done) = retries.join_next().await {
        if let Err(e) = done {
            tracing::error!(error = %e, "retry tier consumer panicked");
        }
    }
    history_stop.cancel();
    if let Some(task) = history_task {
        let _ = task.await;
    }
    tracing::info!("dispatcher stopped");
    Ok(())
}

/// Makes a new destination's delivery start from now: its cursor on the events topic is
/// set durably before the destination is stored, so events appended after this call
/// reach it however late its worker starts.
pub async fn start_destination_cursor(bus: &dyn Bus, destination_id: &str) -> Result<(), BusError> {
    bus.start_group_at_end(pulsegate_schema::topics::EVENTS, &group_for(destination_id))
        .await
}

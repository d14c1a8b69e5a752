//! Wiring: the bus, the state view, the roles this process runs, and the listener.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use pulsegate_bus::embedded::{EmbeddedBus, EmbeddedConfig};
use pulsegate_bus::{Bus, TopicSpec};
use pulsegate_schema::{topics, Destination, Secret};
use pulsegate_state::StateStore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{BusKind, Config};
use crate::{edge, http, telemetry};

/// Which components this process runs.
#[derive(Clone, Copy, Debug)]
pub struct Roles {
    pub ingest: bool,
    pub normalize: bool,
    pub dispatch: bool,
}

impl Roles {
    pub const ALL: Roles = Roles {
        ingest: true,
        normalize: true,
        dispatch: true,
    };
    pub const INGEST: Roles = Roles {
        ingest: true,
        normalize: false,
        dispatch: false,
    };
    pub const NORMALIZE: Roles = Roles {
        ingest: false,
        normalize: true,
        dispatch: false,
    };
    pub const DISPATCH: Roles = Roles {
        ingest: false,
        normalize: false,
        dispatch: true,
    };

    fn name(self) -> &'static str {
        match (self.ingest, self.normalize, self.dispatch) {
            (true, true, true) => "serve",
            (true, false, false) => "ingest",
            (false, true, false) => "normalize",
            (false, false, true) => "dispatch",
            _ => "mixed",
        }
    }
}

pub async fn run(mut config: Config, roles: Roles) -> anyhow::Result<()> {
    telemetry::init_logs(&config.log)?;
    crate::keyfile::resolve(&mut config.security, &config.bus.data_dir)?;
    let metrics = telemetry::init_metrics()?;
    metrics::gauge!("pulsegate_up", "role" => roles.name()).set(1.0);
    let stops = Stops::default();

    let (bus, user_keys, offsets, key_view) = open_bus(&config).await?;
    let cipher = pulsegate_state::StateCipher::from_config(&config.security)
        .context("invalid config: security")?;
    if cipher.is_none() {
        tracing::warn!(
            "security.encryption_key is not set: connection tokens are stored in clear on \
             the bus, and provider credentials cannot be set through the admin API"
        );
    }
    let state = StateStore::start_with(bus.clone(), stops.state.clone(), cipher, Some(user_keys))
        .await
        .context("loading state from the bus")?;
    // The sealer's own key id: the key was parsed once, when the bus was opened.
    crate::key_age::spawn(state.clone(), key_view.key_id(), stops.state.clone());
    // `POST /v1/admin/keys/rotate` re-seals the state topic below the sealing layer.
    state.attach_key_view(key_view);
    // The file's settings with the providers' credentials stored through the admin API
    // on top; re-read whenever those change.
    let (effective, previous) = effective_config(&config, &state)?;
    seed_destinations(&config, &*bus, &state).await?;

    if roles.normalize {
        // Users connected before per-user keys get one (once; in the background).
        let state = state.clone();
        tokio::spawn(async move {
            match state.create_missing_user_keys().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    users = n,
                    "per-user data keys created for earlier connections"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "per-user data keys for earlier connections not created; next start tries again")
                }
            }
        });
    }
    let mut tasks = Components::default();
    let (normalizer_updates, _) = tokio::sync::watch::channel(effective.normalizer.clone());
    // The provider applications' rate limits of this process: one budget per
    // application for the push lane, the backfill lane and the /v2 inline fetches.
    let limiters = pulsegate_normalizer::Limiters::new();
    // Delivery attempts of this process's dispatcher (empty without the dispatch role).
    let recent = if roles.dispatch {
        pulsegate_dispatcher::RecentDeliveries::for_dispatcher()
    } else {
        pulsegate_dispatcher::RecentDeliveries::new()
    };
    if roles.normalize {
        let (bus, state, cfg, stop) = (
            bus.clone(),
            state.clone(),
            effective.normalizer.clone(),
            stops.work.clone(),
        );
        let limiters = limiters.clone();
        let updates = normalizer_updates.subscribe();
        tasks.spawn("normalizer", async move {
            pulsegate_normalizer::run_with_updates(bus, state, cfg, limiters, updates, stop)
                .await
                .context("normalizer stopped")
        });
    }
    if roles.normalize {
        // Historical data requests: their own lane (own consumer group and concurrency)
        // next to the live one, drawing from the same provider rate-limit budgets.
        let (bus, state, cfg, stop) = (
            bus.clone(),
            state.clone(),
            effective.normalizer.clone(),
            stops.work.clone(),
        );
        let (updates, limiters) = (normalizer_updates.subscribe(), limiters.clone());
        tasks.spawn("backfill lane", async move {
            pulsegate_normalizer::run_backfill(bus, state, cfg, limiters, updates, stop)
                .await
                .context("backfill lane stopped")
        });
    }
    if roles.normalize {
        // Providers that cannot push are polled (their descriptor's push mode is
        // `Poll`); idle when there is none. Same budgets as the other lanes.
        let (bus, state, cfg, stop) = (
            bus.clone(),
            state.clone(),
            effective.normalizer.clone(),
            stops.work.clone(),
        );
        let (updates, limiters) = (normalizer_updates.subscribe(), limiters.clone());
        tasks.spawn("poll lane", async move {
            pulsegate_normalizer::run_poll(bus, state, cfg, limiters, updates, stop)
                .await
                .context("poll lane stopped")
        });
    }
    if roles.dispatch {
        let (bus, state, cfg, recent, stop) = (
            bus.clone(),
            state.clone(),
            config.dispatcher.clone(),
            recent.clone(),
            stops.work.clone(),
        );
        tasks.spawn("dispatcher", async move {
            pulsegate_dispatcher::run_recording(bus, state, cfg, recent, stop)
                .await
                .context("dispatcher stopped")
        });
    }

    // Writes that can never succeed again end the process, rather than leave it up
    // answering 503 for good: the embedded log after a failed write (the full-disk
    // reserve makes that an I/O error; fjall refuses every later write until reopened),
    // a Kafka producer after a fatal error (an idempotence violation: seen on a test
    // broker after it lost its storage; librdkafka never recovers from one). A restart
    // recovers either (acknowledged records are safe).
    let (watched, stop) = (bus.clone(), stops.work.clone());
    let kind = config.bus.kind;
    tasks.spawn("bus watch", async move {
        while !stop.is_cancelled() {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if !watched.is_healthy() {
                match kind {
                    BusKind::Embedded => anyhow::bail!(
                        "the embedded log failed a write (see the error above) and refuses all \
                         further writes until reopened; exiting so a restart recovers it from its \
                         journal (acknowledged records are safe)"
                    ),
                    BusKind::Kafka => anyhow::bail!(
                        "the Kafka producer hit a fatal error (see the error above) and can write \
                         nothing more; exiting so a restart gets a new one (acknowledged records \
                         are safe)"
                    ),
                }
            }
        }
        Ok(())
    });

    let connect_config = connect_config(&effective);
    let connect =
        pulsegate_connect::ConnectService::new(connect_config, state.clone(), bus.clone())
            .context("connect")?;
    // Every role with an admin route needs the token; a missing one is generated.
    let mut admin_config = config.admin.clone();
    if roles.ingest || roles.dispatch {
        admin_config.token = crate::admin_token::resolve(&config)?;
    }
    let mut ingest_handle = None;
    let mut push_route = None;
    // The public listener: provider routes, `/v2`, OAuth callbacks, the widget, health.
    let mut public = http::ops_router(metrics.clone(), bus.clone(), stops.stopping.clone(), false);
    // The admin listener: the admin API, its OpenAPI and dashboard, `/metrics`, health.
    let mut admin = http::ops_router(metrics.clone(), bus.clone(), stops.stopping.clone(), true);
    if roles.ingest {
        // Replay guards survive restarts: their markers are read back from the bus.
        let pulsegate_ingest::IngestRoutes {
            router: ingest,
            handle,
            push,
        } = pulsegate_ingest::routes_durable(bus.clone(), state.clone(), &effective.ingest)
            .await
            .context("loading the ingest replay guards")?;
        push_route = Some(push);
        if let Some((old, until)) = &previous {
            handle.reconfigure(&effective.ingest, Some((&old.ingest, *until)));
        }
        ingest_handle = Some(handle.clone());
        public = public
            .merge(ingest)
            .merge(pulsegate_connect::router(connect.clone()))
            .merge(terra_api(
                &config,
                &state,
                &bus,
                &connect,
                api_backfiller(
                    &effective.normalizer,
                    &state,
                    &bus,
                    &normalizer_updates,
                    &limiters,
                    &stops.state,
                )?,
            ));
        admin = admin.merge(pulsegate_admin::router(
            state.clone(),
            bus.clone(),
            admin_config.clone(),
            connect.clone(),
            {
                let ports = crate::adapters::admin_ports(
                    recent.clone(),
                    Some(handle),
                    metrics,
                    offsets.clone(),
                );
                tokio::spawn(sample_health(ports.health.clone(), stops.state.clone()));
                ports
            },
        ));
    } else if roles.dispatch {
        admin = admin.merge(pulsegate_admin::deliveries_router(
            state.clone(),
            bus.clone(),
            admin_config.clone(),
            connect.clone(),
            crate::adapters::admin_ports(recent.clone(), None, metrics, offsets.clone()),
        ));
    }
    tokio::spawn(reload_on_credentials(
        config.clone(),
        state.clone(),
        ingest_handle,
        normalizer_updates,
        connect.clone(),
        stops.state.clone(),
    ));
    // Both listeners with their limits; the public one without any admin route.
    let servers = edge::start(
        &config,
        effective.ingest.sdk_max_body_bytes,
        public,
        push_route,
        admin,
        &stops.http,
    )
    .await?;
    tracing::info!(role = roles.name(), bus = bus.kind(), "pulsegate started");

    // Run until a signal, or until a component fails (then exit non-zero so a
    // supervisor restarts us; nothing is lost: offsets were not committed).
    let failure = tokio::select! {
        _ = shutdown_signal() => None,
        Some((name, result)) = tasks.join_next(), if !tasks.is_empty() => Some(match result {
            Ok(()) => anyhow::anyhow!("{name} stopped unexpectedly"),
            Err(e) => e,
        }),
    };
    let stopped = shut_down(
        &config.server,
        failure.is_none(),
        &stops,
        tasks,
        servers,
        &state,
    )
    .await;
    match failure {
        Some(e) => Err(e),
        None => stopped,
    }
}

/// The phases of a shutdown, one token each, fired in this order.
#[derive(Default)]
struct Stops {
    /// The signal came: `/readyz` answers 503 (everything else still runs).
    stopping: CancellationToken,
    /// The listeners stop accepting; each connection finishes its request in flight.
    http: CancellationToken,
    /// The consumer lanes (normalizer, backfill, poll, dispatcher) take nothing new,
    /// finish what they took and commit it.
    work: CancellationToken,
    /// Last, once the above are done: the state view's tail (state writes wait on it)
    /// and flushers, the background samplers and config followers.
    state: CancellationToken,
}

/// The components a shutdown waits for, by name.
#[derive(Default)]
struct Components {
    set: JoinSet<anyhow::Result<()>>,
    names: std::collections::HashMap<tokio::task::Id, &'static str>,
}

impl Components {
    fn spawn<F>(&mut self, name: &'static str, task: F)
    where
        F: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let handle = self.set.spawn(task);
        self.names.insert(handle.id(), name);
    }

    fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// The next component to end, with how it ended (a panic is an error).
    async fn join_next(&mut self) -> Option<(&'static str, anyhow::Result<()>)> {
        let (id, result) = match self.set.join_next_with_id().await? {
            Ok((id, result)) => (id, result),
            Err(e) => (e.id(), Err(anyhow::anyhow!("panicked: {e}"))),
        };
        Some((self.names.remove(&id).unwrap_or("a component"), result))
    }

    fn running(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.names.values().copied().collect();
        names.sort_unstable();
        names
    }
}

/// The shutdown deadline passed (or a second signal came) with work unfinished; the
/// warning before says what. Exit code 1.
#[derive(Debug)]
pub struct Unfinished;

impl std::fmt::Display for Unfinished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "stopped with work unfinished (see the warning above); it is done again after the restart",
        )
    }
}

impl std::error::Error for Unfinished {}

/// Graceful shutdown: `/readyz` answers 503 at once; after `shutdown_delay_secs` (when
/// `signalled`; a failing component skips it) the listeners close and the consumer
/// lanes stop taking work; in-flight requests get their answers, in-flight records
/// finish and are committed; then the state is flushed. All within
/// `shutdown_grace_secs` after the delay, else (or on a second signal) a warning names
/// what was still running and the result is [`Unfinished`]: what was not committed is
/// redelivered after the restart, so nothing acknowledged is lost.
async fn shut_down(
    server: &crate::config::ServerConfig,
    signalled: bool,
    stops: &Stops,
    mut components: Components,
    servers: edge::Servers,
    state: &StateStore,
) -> anyhow::Result<()> {
    let started = tokio::time::Instant::now();
    let delay = if signalled {
        Duration::from_secs(server.shutdown_delay_secs)
    } else {
        Duration::ZERO
    };
    let grace = Duration::from_secs(server.shutdown_grace_secs);
    stops.stopping.cancel();
    tracing::info!(
        delay_secs = delay.as_secs(),
        grace_secs = grace.as_secs(),
        "shutting down: /readyz answers 503"
    );
    let again = shutdown_signal();
    tokio::pin!(again);
    let mut forced = false;
    if !delay.is_zero() {
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = &mut again => forced = true,
        }
    }
    tracing::info!("listeners closed; finishing in-flight requests, deliveries and normalizations");
    stops.http.cancel();
    stops.work.cancel();
    let deadline = tokio::time::Instant::now() + grace;
    let listeners = servers.join();
    tokio::pin!(listeners);
    let mut listening = true;
    while !forced && (listening || !components.is_empty()) {
        tokio::select! {
            _ = &mut listeners, if listening => {
                listening = false;
                tracing::debug!("listeners stopped: every request answered");
            }
            Some((name, result)) = components.join_next(), if !components.is_empty() => {
                match result {
                    Ok(()) => tracing::debug!(component = name, "stopped"),
                    Err(e) => tracing::error!(component = name, error = %format!("{e:#}"), "stopped with an error"),
                }
            }
            _ = tokio::time::sleep_until(deadline) => break,
            _ = &mut again => forced = true,
        }
    }
    let unfinished = listening || !components.is_empty();
    if unfinished {
        let mut running: Vec<String> = components.running().iter().map(|s| s.to_string()).collect();
        if listening {
            running.push("HTTP requests".into());
        }
        let consumers: Vec<String> = pulsegate_bus::stopping_consumers()
            .into_iter()
            .map(|(name, left)| format!("{name} ({left} records)"))
            .collect();
        tracing::warn!(
            still_running = %running.join(", "),
            consumers = %consumers.join(", "),
            after_secs = started.elapsed().as_secs(),
            "{}: exiting with work unfinished; what was not committed is processed again after the restart",
            if forced { "a second signal came" } else { "the shutdown deadline passed (server.shutdown_grace_secs)" }
        );
    }
    // Last: the state the work above changed (when a webhook was last delivered per
    // user), then the state view stops. Briefly when already late.
    let left = deadline
        .saturating_duration_since(tokio::time::Instant::now())
        .max(Duration::from_millis(500));
    match tokio::time::timeout(left, state.flush_webhook_updates()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "last webhook times not written"),
        Err(_) => tracing::warn!("last webhook times not written in time"),
    }
    stops.state.cancel();
    if unfinished {
        return Err(Unfinished.into());
    }
    tracing::info!(
        after_ms = started.elapsed().as_millis() as u64,
        "stopped: every taken request answered, every taken record finished and committed"
    );
    Ok(())
}

/// The Terra-compatible API (`/v2`, the widget), its data endpoints backed by
/// `backfiller`.
fn terra_api(
    config: &Config,
    state: &Arc<StateStore>,
    bus: &Arc<dyn Bus>,
    connect: &Arc<pulsegate_connect::ConnectService>,
    backfiller: Arc<pulsegate_normalizer::backfill::Backfiller>,
) -> axum::Router {
    let backfill = Arc::new(crate::adapters::NormalizerBackfill(backfiller));
    pulsegate_terra_api::router(
        state.clone(),
        bus.clone(),
        connect.clone(),
        Some(backfill.clone()),
        Some(backfill),
        config.terra_api.clone(),
    )
}

/// The backfiller of the `/v2` data endpoints (inline fetches and writes): it follows
/// credential changes like the normalizer and draws from the lanes' `limiters`.
fn api_backfiller(
    cfg: &pulsegate_normalizer::NormalizerConfig,
    state: &Arc<StateStore>,
    bus: &Arc<dyn Bus>,
    updates: &tokio::sync::watch::Sender<pulsegate_normalizer::NormalizerConfig>,
    limiters: &pulsegate_normalizer::Limiters,
    shutdown: &CancellationToken,
) -> anyhow::Result<Arc<pulsegate_normalizer::backfill::Backfiller>> {
    let backfiller = Arc::new(
        pulsegate_normalizer::backfill::Backfiller::new(
            cfg,
            state.clone(),
            bus.clone(),
            limiters.clone(),
        )
        .context("backfill")?,
    );
    backfiller
        .clone()
        .follow(updates.subscribe(), shutdown.clone());
    Ok(backfiller)
}

/// The log, sealed at rest, and the per-user data keys its sealing layer uses (kept
/// current by the state store).
/// Feeds the dashboard's health panel: the delivery metrics sampled into its rings.
async fn sample_health(health: pulsegate_admin::HealthSampler, stop: CancellationToken) {
    let mut tick = tokio::time::interval(pulsegate_admin::HealthSampler::INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => health.sample(),
            _ = stop.cancelled() => return,
        }
    }
}

/// `pulsegate_consumer_lag` for the embedded log (the Kafka bus samples its own), at the
/// health panel's pace; ends with the bus.
async fn report_embedded_lag(bus: std::sync::Weak<EmbeddedBus>) {
    let mut tick = tokio::time::interval(pulsegate_admin::HealthSampler::INTERVAL);
    loop {
        tick.tick().await;
        match bus.upgrade() {
            Some(bus) => bus.report_lag(),
            None => return,
        }
    }
}

async fn open_bus(
    config: &Config,
) -> anyhow::Result<(
    Arc<dyn Bus>,
    Arc<pulsegate_state::UserKeys>,
    crate::bus_offsets::BusOffsets,
    pulsegate_state::KeyView,
)> {
    let (bus, offsets) = match config.bus.kind {
        BusKind::Embedded => {
            let mut cfg = EmbeddedConfig::new(&config.bus.data_dir);
            cfg.cache_bytes = config.bus.cache_mib * 1024 * 1024;
            cfg.memtable_bytes = config.bus.memtable_mib.max(1) * 1024 * 1024;
            cfg.journal_bytes = config.bus.journal_mib * 1024 * 1024;
            cfg.min_free_bytes = config.bus.min_free_mib * 1024 * 1024;
            if config.bus.recovery == crate::config::BusRecovery::AcceptLoss {
                cfg.recovery = pulsegate_bus::embedded::Recovery::AcceptLoss;
            }
            let embedded = Arc::new(EmbeddedBus::open(cfg).with_context(|| {
                format!(
                    "bus.data_dir: cannot open the log in {}",
                    config.bus.data_dir.display()
                )
            })?);
            tokio::spawn(report_embedded_lag(Arc::downgrade(&embedded)));
            let offsets = crate::bus_offsets::BusOffsets::Embedded(embedded.clone());
            (embedded as Arc<dyn Bus>, offsets)
        }
        BusKind::Kafka => {
            let kafka = config.bus.kafka.clone().context("bus.kafka: missing")?;
            let brokers = kafka.brokers.clone();
            let kafka = pulsegate_bus::kafka::KafkaBus::connect(kafka)
                .await
                .with_context(|| format!("bus.kafka.brokers: cannot connect to {brokers}"))?;
            let offsets = crate::bus_offsets::BusOffsets::Kafka(kafka.clone());
            (Arc::new(kafka) as Arc<dyn Bus>, offsets)
        }
    };
    // Every record value sealed at rest (health payloads, dead letters, state).
    let sealer = pulsegate_state::Sealer::from_config(&config.security)
        .context("invalid config: security")?
        .context("security: no encryption key")?;
    tracing::info!(key_id = %sealer.key_id(), "log records are sealed at rest");
    let user_keys = sealer.user_keys();
    let sealing = pulsegate_state::SealingBus::new(bus, sealer);
    let key_view = sealing.key_view();
    let bus: Arc<dyn Bus> = Arc::new(sealing);
    let retention = Some(config.bus.retention);
    for spec in [
        TopicSpec::new(topics::RAW, config.bus.partitions).retention(retention),
        TopicSpec::new(topics::EVENTS, config.bus.partitions).retention(retention),
        TopicSpec::new(topics::DEAD_LETTERS, config.bus.partitions).retention(retention),
        // Keyed by user; a few partitions are enough (windows are slow, provider-bound).
        TopicSpec::new(topics::BACKFILL, config.bus.partitions.min(4)).retention(retention),
    ] {
        bus.ensure_topic(&spec)
            .await
            .with_context(|| format!("creating topic {}", spec.name))?;
    }
    Ok((bus, user_keys, offsets, key_view))
}

/// Destinations from the config file are created, or updated when their entry in the
/// file changed since it was last applied (`Destination::file_entry`): what the admin
/// API did to one meanwhile (a pause, a new secret, other filters) outlasts restarts
/// until the file's entry changes. The dispatcher's record of a failing or disabled
/// destination and a pause stay even then; `enabled = false` in the file turns it off.
async fn seed_destinations(
    config: &Config,
    bus: &dyn Bus,
    state: &StateStore,
) -> anyhow::Result<()> {
    for d in &config.destinations {
        let mut wanted = Destination {
            id: d.id.clone(),
            url: d.url.clone(),
            secret: Secret::new(d.secret.clone()),
            secret_set_at_ms: pulsegate_schema::now_ms(),
            previous_secret: None,
            previous_secret_until_ms: 0,
            event_types: d.event_types.clone(),
            providers: d.providers.clone(),
            ordered: d.ordered,
            failing_since_ms: None,
            disabled_reason: None,
            enabled: d.enabled,
            // Config destinations are the operator's (every event).
            dev_id: None,
            s3_access_key_id: d.s3_access_key_id.clone(),
            s3_secret_access_key: d.s3_secret_access_key.clone().map(Secret::new),
            kafka_auth: d.kafka_auth(),
            kafka_ca_pem: d.kafka_ca_pem.clone(),
            claim_check: d.claim_check(),
            file_entry: None,
        };
        let entry = file_entry_digest(&wanted);
        wanted.file_entry = Some(entry.clone());
        let existing = state.destination(&d.id);
        match existing.as_deref() {
            None => pulsegate_dispatcher::start_destination_cursor(bus, &d.id)
                .await
                .with_context(|| format!("starting destination {}'s cursor", d.id))?,
            Some(e) if e.file_entry.as_deref() == Some(entry.as_str()) => continue,
            Some(e) => {
                wanted.enabled = d.enabled && e.enabled;
                wanted.failing_since_ms = e.failing_since_ms;
                wanted.disabled_reason = e.disabled_reason.clone();
                // Another change to the entry keeps the secret's age and a rotation's
                // overlap.
                wanted.keep_secret_history_from(e);
                if d.enabled && !e.enabled {
                    tracing::warn!(destination = %d.id,
                        "destination is enabled in the config file but paused or disabled in the state; `pulsegate destinations resume` delivers to it again");
                }
            }
        }
        state
            .put_destination(&wanted)
            .await
            .with_context(|| format!("storing destination {}", d.id))?;
    }
    Ok(())
}

/// SHA-256 of a config-file destination as the file defines it (secrets included: the
/// digest lives only in the sealed state record).
fn file_entry_digest(d: &Destination) -> String {
    use sha2::Digest;
    let canonical = serde_json::to_vec(&(
        &d.url,
        d.secret.expose(),
        &d.event_types,
        &d.providers,
        d.ordered,
        d.enabled,
        &d.s3_access_key_id,
        d.s3_secret_access_key.as_ref().map(Secret::expose),
        serde_json::to_value(&d.kafka_auth).unwrap_or_default(),
        &d.kafka_ca_pem,
        serde_json::to_value(&d.claim_check).unwrap_or_default(),
    ))
    .unwrap_or_default();
    hex::encode(sha2::Sha256::digest(canonical))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Each OAuth provider's application credentials, from its normalizer settings (the
/// connect flow exchanges codes with the same application that refreshes tokens).
/// Polar's tokens never expire, so its normalizer has none: `[connect.polar]` sets them.
fn app_credentials(
    n: &pulsegate_normalizer::NormalizerConfig,
) -> std::collections::HashMap<pulsegate_schema::Provider, pulsegate_connect::AppCredentials> {
    pulsegate_providers::oauth_apps(&n.providers)
        .into_iter()
        .map(|(p, (client_id, client_secret))| {
            let app = pulsegate_connect::AppCredentials {
                client_id,
                client_secret,
            };
            (p, app)
        })
        .collect()
}

type Previous = Option<(Config, u64)>;

/// The configuration in force: the file's, with providers' stored credentials on top;
/// and, while a rotation's grace period lasts, the one with the previous credentials.
fn effective_config(config: &Config, state: &StateStore) -> anyhow::Result<(Config, Previous)> {
    let stored: Vec<_> = pulsegate_schema::Provider::ALL
        .into_iter()
        .filter_map(|p| state.credentials(p))
        .collect();
    let current = config.with_credentials(&stored, false)?;
    let now = pulsegate_schema::now_ms();
    let until = stored
        .iter()
        .filter(|c| !c.previous.is_empty() && c.previous_until_ms > now)
        .map(|c| c.previous_until_ms)
        .max();
    let previous = match until {
        Some(until) => Some((config.with_credentials(&stored, true)?, until)),
        None => None,
    };
    Ok((current, previous))
}

fn connect_config(effective: &Config) -> pulsegate_connect::ConnectConfig {
    let mut c = effective.connect.clone();
    c.apps = app_credentials(&effective.normalizer);
    c
}

/// Applies credentials changed through the admin API to this process's components.
async fn reload_on_credentials(
    config: Config,
    state: Arc<StateStore>,
    ingest: Option<pulsegate_ingest::IngestHandle>,
    normalizer: tokio::sync::watch::Sender<pulsegate_normalizer::NormalizerConfig>,
    connect: Arc<pulsegate_connect::ConnectService>,
    stop: CancellationToken,
) {
    let mut changes = state.credentials_changes();
    changes.borrow_and_update();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
        }
        match effective_config(&config, &state) {
            Ok((effective, previous)) => {
                if let Some(h) = &ingest {
                    h.reconfigure(
                        &effective.ingest,
                        previous.as_ref().map(|(old, until)| (&old.ingest, *until)),
                    );
                }
                normalizer.send_replace(effective.normalizer.clone());
                connect.reconfigure(connect_config(&effective));
                tracing::info!("provider credentials applied");
            }
            // Validated on write, so this is a bug or a hand-written record; the
            // previous settings stay in force.
            Err(e) => tracing::error!(error = %e, "stored provider credentials not applied"),
        }
    }
}

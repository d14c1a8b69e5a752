//! The backfill lane: consumes `topics::BACKFILL`, fetches each window, appends its
//! events and commits it once they are durable; waits out rate limits and provider
//! outages, announcing a provider block once (`rate_limit_hit`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use pulsegate_bus::{Bus, Handled, OffsetReset, Outgoing, Record};
use pulsegate_schema::{topics, BackfillTask, Connection, NormalizedEvent, Provider};
use pulsegate_state::StateStore;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::notices::{connection_error, rate_limit_hit, window_events};
use super::time::parse_ymd;
use super::{fetch_window, worker, Backfiller, GROUP};
use crate::ratelimit::{Lane, Limiters};
use crate::{Ctx, NormalizeError, NormalizerConfig, RangeData};

impl Backfiller {
    /// Runs the backfill lane until `shutdown`: consumes `topics::BACKFILL` as group
    /// [`GROUP`] and appends to `topics::EVENTS`. Both topics must exist.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) -> Result<(), NormalizeError> {
        let concurrency = self.setup().cfg.concurrency.max(1);
        let consumer = self
            .bus
            .subscribe(topics::BACKFILL, GROUP, OffsetReset::Earliest)
            .await?;
        tracing::info!(concurrency, "backfill lane started");
        let stop = shutdown.clone();
        worker::run_keyed(
            consumer,
            GROUP,
            concurrency,
            shutdown,
            class_of,
            move |record| {
                let this = self.clone();
                let stop = stop.clone();
                async move { this.handle(record, &stop).await }
            },
        )
        .await?;
        tracing::info!("backfill lane stopped");
        Ok(())
    }

    /// Processes one window: `Done` once its events are durable (or it was given up),
    /// `Abandon` when stopping.
    pub async fn handle(&self, record: Record, stop: &CancellationToken) -> Handled {
        let task: BackfillTask = match serde_json::from_slice(&record.payload) {
            Ok(t) => t,
            Err(e) => {
                count_window("unknown", "malformed");
                tracing::warn!(offset = record.offset, error = %e, "unparseable backfill task dropped");
                return Handled::Done;
            }
        };
        let span = tracing::info_span!(
            "backfill",
            reference = %task.reference,
            provider = task.provider.slug(),
            user_id = %task.user_id,
            window = task.index,
            of = task.total,
        );
        self.handle_task(&task, stop).instrument(span).await
    }

    async fn handle_task(&self, task: &BackfillTask, stop: &CancellationToken) -> Handled {
        let slug = task.provider.slug();
        if self.failed.contains(&task.reference) {
            count_window(slug, "connection_error");
            return Handled::Done;
        }
        let (Some(ws), Some(we)) = (parse_ymd(&task.window_start), parse_ymd(&task.window_end))
        else {
            count_window(slug, "malformed");
            return Handled::Done;
        };
        let mut attempt = 0u32;
        loop {
            if stop.is_cancelled() {
                return Handled::Abandon;
            }
            let setup = self.setup();
            let conn = match self.connection(&task.user_id).await {
                Ok(Some(c)) if c.provider == task.provider => c,
                Ok(_) => {
                    count_window(slug, "no_connection");
                    tracing::info!("no connection for this user any more; window dropped");
                    return Handled::Done;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "state barrier failed; will retry");
                    if !pause(stop, Duration::from_millis(500)).await {
                        return Handled::Abandon;
                    }
                    continue;
                }
            };
            let (provider, support) = match self.check(&setup, &conn, task.data_type, ws, we) {
                Ok(p) => p,
                Err(e) => {
                    count_window(slug, "refused");
                    tracing::info!(error = %e, "window not fetched");
                    return Handled::Done;
                }
            };
            let ctx = Ctx {
                state: self.state.clone(),
                lane: Lane::Backfill,
            };
            let fetched = fetch_window(
                &*provider,
                &conn,
                &ctx,
                support,
                task.data_type,
                (ws, we),
                task.with_samples,
                Utc::now().date_naive(),
            )
            .await;
            let events = match fetched {
                Ok(RangeData::Objects(objects)) => {
                    let n = objects.len();
                    match window_events(&conn, task, &setup.cfg, objects) {
                        Ok(ev) => {
                            metrics::counter!(
                                "pulsegate_backfill_objects_total",
                                "provider" => slug,
                                "type" => task.data_type.as_str()
                            )
                            .increment(n as u64);
                            ev
                        }
                        Err(e) => {
                            count_window(slug, "internal_error");
                            tracing::error!(error = %e, "window could not be encoded; dropped");
                            return Handled::Done;
                        }
                    }
                }
                Ok(RangeData::ConnectionError(why)) => {
                    tracing::warn!(
                        message = why,
                        "the provider refused the connection's credentials"
                    );
                    self.failed.insert(task.reference.clone());
                    match connection_error(&conn, task, why) {
                        Ok(e) => vec![e],
                        Err(_) => Vec::new(),
                    }
                }
                Err(NormalizeError::RateLimited {
                    retry_at_ms,
                    provider_block,
                    notify,
                    ..
                }) => {
                    if notify {
                        self.announce_rate_limit(&conn, task, retry_at_ms).await;
                    }
                    let wait = Duration::from_millis(
                        retry_at_ms.saturating_sub(pulsegate_schema::now_ms()),
                    );
                    tracing::info!(
                        wait_ms = wait.as_millis() as u64,
                        provider_block,
                        "rate limited; the window waits"
                    );
                    if !pause(stop, wait.max(Duration::from_millis(10))).await {
                        return Handled::Abandon;
                    }
                    continue;
                }
                Err(e @ (NormalizeError::State(_) | NormalizeError::Bus(_))) => {
                    tracing::warn!(error = %e, "storing state failed; will retry");
                    if !pause(stop, Duration::from_millis(500)).await {
                        return Handled::Abandon;
                    }
                    continue;
                }
                Err(e @ NormalizeError::TransientExhausted { .. }) => {
                    attempt += 1;
                    if attempt >= setup.cfg.window_attempts.max(1) {
                        count_window(slug, "provider_unavailable");
                        tracing::error!(error = %e, attempts = attempt, "provider unavailable; window given up");
                        return Handled::Done;
                    }
                    let wait = setup
                        .cfg
                        .window_backoff
                        .saturating_mul(1 << (attempt - 1).min(10))
                        .min(Duration::from_secs(300));
                    tracing::warn!(error = %e, attempt, wait_ms = wait.as_millis() as u64, "provider unavailable; window retried later");
                    if !pause(stop, wait).await {
                        return Handled::Abandon;
                    }
                    continue;
                }
                Err(e) => {
                    count_window(slug, "failed");
                    tracing::error!(error = %e, "window could not be fetched; dropped");
                    return Handled::Done;
                }
            };
            // Committed only once these are durable.
            loop {
                match store(&*self.bus, &events).await {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "appending events failed; will retry");
                        if !pause(stop, Duration::from_millis(500)).await {
                            return Handled::Abandon;
                        }
                    }
                }
            }
            count_window(slug, "delivered");
            tracing::debug!(events = events.len(), "window stored");
            return Handled::Done;
        }
    }

    async fn announce_rate_limit(&self, conn: &Connection, task: &BackfillTask, retry_at_ms: u64) {
        match rate_limit_hit(conn, task, retry_at_ms) {
            Ok(e) => {
                if let Err(err) = store(&*self.bus, std::slice::from_ref(&e)).await {
                    tracing::warn!(error = %err, "rate_limit_hit not stored");
                }
            }
            Err(err) => tracing::error!(error = %err, "rate_limit_hit not encoded"),
        }
    }

    /// The connection, confirming a miss with a state barrier (it may have been
    /// created moments ago in another process).
    async fn connection(
        &self,
        user_id: &str,
    ) -> Result<Option<Connection>, pulsegate_state::StateError> {
        if let Some(c) = self.state.connection(user_id) {
            return Ok(Some((*c).clone()));
        }
        self.state.sync_since(Instant::now()).await?;
        Ok(self.state.connection(user_id).map(|c| (*c).clone()))
    }
}

/// Runs the backfill lane (the normalize role runs it next to [`crate::run`]) until
/// `shutdown`, reconfiguring the providers whenever `updates` changes.
pub async fn run_backfill(
    bus: Arc<dyn Bus>,
    state: Arc<StateStore>,
    cfg: NormalizerConfig,
    limiters: Limiters,
    updates: tokio::sync::watch::Receiver<NormalizerConfig>,
    shutdown: CancellationToken,
) -> Result<(), NormalizeError> {
    let backfiller = Arc::new(Backfiller::new(&cfg, state, bus, limiters)?);
    backfiller.clone().follow(updates, shutdown.clone());
    backfiller.run(shutdown).await
}

fn class_of(record: &Record) -> String {
    #[derive(Deserialize)]
    struct ProviderOnly {
        provider: Provider,
    }
    serde_json::from_slice::<ProviderOnly>(&record.payload)
        .map(|p| p.provider.slug().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

async fn pause(stop: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(d) => true,
    }
}

/// Appends `events` to the events topic (keyed by user); durable when `Ok`.
async fn store(bus: &dyn Bus, events: &[NormalizedEvent]) -> Result<(), NormalizeError> {
    let mut records = Vec::with_capacity(events.len());
    for e in events {
        let payload = serde_json::to_vec(e).map_err(|e| NormalizeError::Encode(e.to_string()))?;
        records.push(Outgoing::new(Bytes::from(e.user_id.clone()), payload));
    }
    match records.len() {
        0 => {}
        1 => {
            bus.append(topics::EVENTS, records.pop().expect("one record"))
                .await?;
        }
        _ => {
            bus.append_batch(topics::EVENTS, records).await?;
        }
    }
    Ok(())
}

fn count_window(provider: &'static str, outcome: &'static str) {
    metrics::counter!(
        "pulsegate_backfill_windows_total",
        "provider" => provider,
        "outcome" => outcome
    )
    .increment(1);
}

//! Historical data requests ("backfill"): a user's data of one type over a date range,
//! fetched from the provider and mapped exactly as the push path maps it.
//!
//! * [`Backfiller::fetch`] (`to_webhook=false`): fetched now, returned to the caller.
//! * [`Backfiller::request`] (`to_webhook=true`): split into windows the provider accepts
//!   (Strava 7 days, Oura 30 days, …), appended as one [`BackfillTask`] per window to the
//!   `backfill` topic (keyed by `user_id`) and answered with a reference at once. The
//!   backfill lane ([`run_backfill`], group `backfill`, its own concurrency) fetches each
//!   window, appends one data event per window to `events` (reference = the request's,
//!   event id derived from the reference and the window, so a window processed again
//!   after a crash yields the same ids and the dispatcher the same webhook ids), and
//!   commits the window only once its events are durable: a restart resumes at the
//!   first uncommitted window, never starts over and never skips one.
//!
//! Terra's notices: `large_request_processing` when a request of more than
//! `large_request_windows` windows is accepted, `large_request_sending` (with the number
//! of data payloads to expect, one per window) before its first window's data, and
//! `rate_limit_hit` when a window meets a provider's 429 (once per provider block).
//!
//! Customers' writes to providers ([`Backfiller::write`]) use the same provider
//! registry, in their own lane ([`Lane::Write`]).
//!
//! Every call goes through the provider's [`ProviderApi`](crate::api::ProviderApi) in
//! the backfill (or inline) lane: only the rate-limit budget above the push reserve is
//! used, so live notifications keep flowing (see [`crate::ratelimit`]).

mod worker;
mod write;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Days, NaiveDate, SecondsFormat, Utc};
use pulsegate_bus::{Bus, BusError, Handled, OffsetReset, Outgoing, Record};
use pulsegate_schema::terra::{DataEvent, StatusEvent, User};
use pulsegate_schema::{
    stable_id, topics, BackfillTask, Connection, ConnectionStatus, EventType, NormalizedEvent,
    Provider, PAYLOAD_VERSION,
};
use pulsegate_state::StateStore;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::dedupe::RecentlySeen;
use crate::events::terra_user;
use crate::ratelimit::{Lane, Limiters};
use crate::{
    providers, BackfillConfig, Ctx, NormalizeError, NormalizerConfig, ProviderNormalizer,
    RangeData, RangeSupport,
};

/// The consumer group the backfill lane reads `backfill` with.
pub const GROUP: &str = "backfill";

/// Why a historical request was refused or failed. Messages never contain tokens.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    /// The provider cannot serve this data type by date range.
    #[error("{provider} does not provide {data_type} data by date range")]
    Unsupported {
        provider: &'static str,
        data_type: &'static str,
    },
    /// The provider failed (after retries) or answered something unusable.
    #[error("provider error: {0}")]
    Provider(String),
    /// The provider (or the budget left above the push reserve) allows no call before
    /// `retry_after` from now: Terra's "request is processing, try again later".
    #[error("rate limited; retry in {retry_after:?}")]
    RateLimited { retry_after: Duration },
    /// The provider refused the connection's credentials (a `connection_error`), or
    /// the connection is revoked.
    #[error("connection error: {0}")]
    ConnectionError(&'static str),
    /// `start`/`end` unusable: end not after start, or longer than allowed.
    #[error("invalid range: {0}")]
    InvalidRange(String),
    /// The integration is switched off, or does not enable this data type.
    #[error("{0}")]
    Disabled(String),
    /// The request could not be stored (nothing was accepted).
    #[error(transparent)]
    Bus(#[from] BusError),
    /// Reading or writing state failed.
    #[error("state: {0}")]
    State(String),
    /// Writes: the provider (or pulsegate) cannot do this operation; the message names
    /// both.
    #[error("{0}")]
    WriteUnsupported(String),
    /// Writes: an object cannot be written as sent (the message names the field).
    #[error("{0}")]
    InvalidWrite(String),
}

/// Historical data requests for every provider: built by the binary from the
/// normalizer's configuration, shared (`Arc`) by the `/v2` API and the backfill lane.
pub struct Backfiller {
    bus: Arc<dyn Bus>,
    state: Arc<StateStore>,
    setup: RwLock<Arc<Setup>>,
    /// Requests whose connection the provider refused: their other windows are skipped.
    failed: RecentlySeen,
    /// The provider applications' limiters: the same as the push lane's, so both
    /// draw from one budget per application.
    limiters: Limiters,
}

struct Setup {
    cfg: BackfillConfig,
    providers: HashMap<Provider, Arc<dyn ProviderNormalizer>>,
}

impl Backfiller {
    pub fn new(
        cfg: &NormalizerConfig,
        state: Arc<StateStore>,
        bus: Arc<dyn Bus>,
        limiters: Limiters,
    ) -> Result<Self, NormalizeError> {
        Ok(Self {
            bus,
            state,
            setup: RwLock::new(Arc::new(Setup::new(cfg, &limiters)?)),
            failed: RecentlySeen::new(10_000),
            limiters,
        })
    }

    /// Rebuilds the provider clients from `cfg` (new application credentials).
    pub fn reconfigure(&self, cfg: &NormalizerConfig) -> Result<(), NormalizeError> {
        let setup = Arc::new(Setup::new(cfg, &self.limiters)?);
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
                            tracing::error!(error = %e, "backfill: provider settings not reloaded");
                        }
                    }
                }
            }
        });
    }

    fn setup(&self) -> Arc<Setup> {
        self.setup.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The provider of `conn` and what it supports for `data_type`, after the checks
    /// every request gets.
    fn check(
        &self,
        setup: &Setup,
        conn: &Connection,
        data_type: EventType,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<(Arc<dyn ProviderNormalizer>, RangeSupport), BackfillError> {
        let unsupported = || BackfillError::Unsupported {
            provider: conn.provider.terra_name(),
            data_type: data_type.as_str(),
        };
        let provider = setup
            .providers
            .get(&conn.provider)
            .cloned()
            .ok_or_else(unsupported)?;
        let support = provider.range_support(data_type).ok_or_else(unsupported)?;
        if end <= start {
            return Err(BackfillError::InvalidRange(
                "end_date must be after start_date".into(),
            ));
        }
        let days = (end - start).num_days();
        if days > i64::from(setup.cfg.max_days) {
            return Err(BackfillError::InvalidRange(format!(
                "{days} days requested; at most {} per request",
                setup.cfg.max_days
            )));
        }
        if !self.state.integration_enabled(conn.provider) {
            return Err(BackfillError::Disabled(format!(
                "the {} integration is disabled",
                conn.provider.terra_name()
            )));
        }
        if !self
            .state
            .integration_wants(conn.provider, data_type.as_str())
        {
            return Err(BackfillError::Disabled(format!(
                "{} data is not enabled for {}",
                data_type.as_str(),
                conn.provider.terra_name()
            )));
        }
        if conn.status == ConnectionStatus::Revoked {
            return Err(BackfillError::ConnectionError("the connection is revoked"));
        }
        Ok((provider, support))
    }

    /// Inline (`to_webhook=false`): fetches `[start, end)` from the provider now and maps
    /// it with the push path's mapping. Terra data objects of `data_type`.
    pub async fn fetch(
        &self,
        conn: &Connection,
        data_type: EventType,
        start: NaiveDate,
        end: NaiveDate,
        with_samples: bool,
    ) -> Result<Vec<Value>, BackfillError> {
        let setup = self.setup();
        let (provider, support) = self.check(&setup, conn, data_type, start, end)?;
        let ctx = Ctx {
            state: self.state.clone(),
            lane: Lane::Inline,
        };
        let days = setup.window_days(conn.provider, support);
        let mut out = Vec::new();
        for (ws, we) in windows(start, end, days) {
            let conn = self.fresh(conn);
            match fetch_window(
                &*provider,
                &conn,
                &ctx,
                support,
                data_type,
                (ws, we),
                with_samples,
                Utc::now().date_naive(),
            )
            .await
            {
                Ok(RangeData::Objects(mut objects)) => out.append(&mut objects),
                Ok(RangeData::ConnectionError(why)) => {
                    return Err(BackfillError::ConnectionError(why))
                }
                Err(NormalizeError::RateLimited { retry_at_ms, .. }) => {
                    let now = pulsegate_schema::now_ms();
                    return Err(BackfillError::RateLimited {
                        retry_after: Duration::from_millis(retry_at_ms.saturating_sub(now)),
                    });
                }
                Err(e) => return Err(provider_error(e)),
            }
        }
        count_request(conn.provider, data_type, "inline");
        Ok(out)
    }

    /// `to_webhook=true`: stores a durable request (one task per window on the
    /// `backfill` topic) and returns its reference, the `terra-reference` of the events
    /// it will cause. Nothing is fetched before this returns.
    pub async fn request(
        &self,
        conn: &Connection,
        data_type: EventType,
        start: NaiveDate,
        end: NaiveDate,
        with_samples: bool,
    ) -> Result<String, BackfillError> {
        let setup = self.setup();
        let (_, support) = self.check(&setup, conn, data_type, start, end)?;
        let reference = uuid::Uuid::new_v4().to_string();
        let now = pulsegate_schema::now_ms();
        let parts = windows(start, end, setup.window_days(conn.provider, support));
        let total = parts.len() as u32;
        let tasks: Vec<BackfillTask> = parts
            .iter()
            .enumerate()
            .map(|(i, (ws, we))| BackfillTask {
                reference: reference.clone(),
                user_id: conn.user_id.clone(),
                provider: conn.provider,
                data_type,
                start_date: ymd(start),
                end_date: ymd(end),
                window_start: ymd(*ws),
                window_end: ymd(*we),
                index: i as u32,
                total,
                with_samples,
                requested_at_ms: now,
            })
            .collect();
        if total > setup.cfg.large_request_windows {
            // Before any task exists, so it precedes everything the request causes.
            let event = large_request_processing(conn, &tasks[0])
                .map_err(|e| BackfillError::Provider(e.to_string()))?;
            self.bus.append(topics::EVENTS, outgoing(&event)?).await?;
        }
        let records = tasks
            .iter()
            .map(|t| {
                let payload =
                    serde_json::to_vec(t).map_err(|e| BackfillError::Provider(e.to_string()))?;
                Ok(Outgoing::new(Bytes::from(t.user_id.clone()), payload))
            })
            .collect::<Result<Vec<_>, BackfillError>>()?;
        self.bus.append_batch(topics::BACKFILL, records).await?;
        count_request(conn.provider, data_type, "webhook");
        tracing::info!(
            reference,
            provider = conn.provider.slug(),
            data_type = data_type.as_str(),
            windows = total,
            "historical request accepted"
        );
        Ok(reference)
    }

    fn fresh(&self, conn: &Connection) -> Connection {
        self.state
            .connection(&conn.user_id)
            .map(|c| (*c).clone())
            .unwrap_or_else(|| conn.clone())
    }

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

impl Setup {
    fn new(cfg: &NormalizerConfig, limiters: &Limiters) -> Result<Self, NormalizeError> {
        Ok(Self {
            cfg: cfg.backfill.clone(),
            providers: providers::registry(cfg, limiters)?
                .into_iter()
                .map(|p| (p.provider(), p))
                .collect(),
        })
    }

    fn window_days(&self, provider: Provider, support: RangeSupport) -> u32 {
        self.cfg
            .window_days
            .get(provider.slug())
            .copied()
            .unwrap_or(support.window_days)
            .max(1)
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

/// `[start, end)` cut into consecutive windows of at most `days` days.
pub fn windows(start: NaiveDate, end: NaiveDate, days: u32) -> Vec<(NaiveDate, NaiveDate)> {
    let mut out = Vec::new();
    let mut s = start;
    while s < end {
        let e = s
            .checked_add_days(Days::new(u64::from(days.max(1))))
            .map_or(end, |e| e.min(end));
        out.push((s, e));
        s = e;
    }
    out
}

/// One window from `provider`: days older than the provider keeps (counted back from
/// `today`) are not asked for; sample lists are removed unless `with_samples`.
#[allow(
    clippy::too_many_arguments,
    reason = "private; its callers pass the window's facts as they have them"
)]
async fn fetch_window(
    provider: &dyn ProviderNormalizer,
    conn: &Connection,
    ctx: &Ctx,
    support: RangeSupport,
    data_type: EventType,
    (start, end): (NaiveDate, NaiveDate),
    with_samples: bool,
    today: NaiveDate,
) -> Result<RangeData, NormalizeError> {
    let start = match support.history_days {
        Some(h) => start.max(
            today
                .checked_sub_days(Days::new(u64::from(h)))
                .unwrap_or(today),
        ),
        None => start,
    };
    if start >= end {
        return Ok(RangeData::Objects(Vec::new()));
    }
    let mut data = provider
        .fetch_range(conn, ctx, data_type, start, end, with_samples)
        .await?;
    if let (RangeData::Objects(objects), false) = (&mut data, with_samples) {
        for o in objects.iter_mut() {
            strip_samples(o);
        }
    }
    Ok(data)
}

/// Removes Terra's sample lists (`samples`, `hr_samples`, `MET_samples`,
/// `hrv_samples_rmssd`, …) everywhere in `v` (Terra's `with_samples=false`).
pub fn strip_samples(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.retain(|k, x| !(x.is_array() && (k == "samples" || k.contains("_samples"))));
            for x in map.values_mut() {
                strip_samples(x);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_samples),
        _ => {}
    }
}

fn provider_error(e: NormalizeError) -> BackfillError {
    match e {
        NormalizeError::State(s) => BackfillError::State(s.to_string()),
        NormalizeError::Bus(b) => BackfillError::Bus(b),
        other => BackfillError::Provider(other.to_string()),
    }
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

fn parse_ymd(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

fn ymd(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// A day's midnight UTC as Terra writes times (`2024-01-01T00:00:00.000000+00:00`).
fn terra_midnight(day: &str) -> String {
    parse_ymd(day)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| terra_time(t.and_utc()))
        .unwrap_or_else(|| day.to_string())
}

fn terra_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, false)
}

/// Terra's `LargeRequestProcessingEvent`.
#[derive(Debug, Serialize)]
pub struct LargeRequestProcessingEvent<'a> {
    #[serde(rename = "type")]
    pub event_type: &'a str,
    pub status: &'a str,
    pub message: &'a str,
    pub user: &'a User,
    pub reference: &'a str,
}

/// Terra's `LargeRequestSendingEvent`.
#[derive(Debug, Serialize)]
pub struct LargeRequestSendingEvent<'a> {
    #[serde(rename = "type")]
    pub event_type: &'a str,
    pub user: &'a User,
    pub reference: &'a str,
    pub message: &'a str,
    pub expected_payloads: u32,
}

/// Terra's `RateLimitHitEvent`.
#[derive(Debug, Serialize)]
pub struct RateLimitHitEvent<'a> {
    #[serde(rename = "type")]
    pub event_type: &'a str,
    pub user: &'a User,
    pub start_date: String,
    pub end_date: String,
    pub retrying_at: String,
    pub message: String,
}

fn event(
    id: String,
    event_type: EventType,
    conn: &Connection,
    task: &BackfillTask,
    body: &impl Serialize,
) -> Result<NormalizedEvent, NormalizeError> {
    let body =
        serde_json::value::to_raw_value(body).map_err(|e| NormalizeError::Encode(e.to_string()))?;
    Ok(NormalizedEvent {
        event_id: id,
        event_type,
        user_id: conn.user_id.clone(),
        reference: task.reference.clone(),
        received_at_ms: task.requested_at_ms,
        body,
        dev_id: conn.dev_id.clone(),
    })
}

/// The id of a request's `kind` event (`window` for per-window ones): the same every
/// time the request's window is processed.
pub fn event_id(reference: &str, kind: &str, window: Option<u32>) -> String {
    match window {
        Some(w) => stable_id(&["backfill", reference, kind, &w.to_string()]),
        None => stable_id(&["backfill", reference, kind]),
    }
}

fn large_request_processing(
    conn: &Connection,
    task: &BackfillTask,
) -> Result<NormalizedEvent, NormalizeError> {
    let user = terra_user(conn);
    let body = LargeRequestProcessingEvent {
        event_type: EventType::LargeRequestProcessing.as_str(),
        status: "processing",
        message: "Large request is being processed: the data will be sent in several payloads with this reference",
        user: &user,
        reference: &task.reference,
    };
    event(
        event_id(&task.reference, "large_request_processing", None),
        EventType::LargeRequestProcessing,
        conn,
        task,
        &body,
    )
}

/// The events of one fetched window: `large_request_sending` first when this is the
/// first window of a large request, then the data payload (one per window, also when
/// the window has no data, so `expected_payloads` holds).
fn window_events(
    conn: &Connection,
    task: &BackfillTask,
    cfg: &BackfillConfig,
    objects: Vec<Value>,
) -> Result<Vec<NormalizedEvent>, NormalizeError> {
    let user = terra_user(conn);
    let mut out = Vec::with_capacity(2);
    if task.index == 0 && task.total > cfg.large_request_windows {
        let body = LargeRequestSendingEvent {
            event_type: EventType::LargeRequestSending.as_str(),
            user: &user,
            reference: &task.reference,
            message: "Large request is being sent",
            expected_payloads: task.total,
        };
        out.push(event(
            event_id(&task.reference, "large_request_sending", None),
            EventType::LargeRequestSending,
            conn,
            task,
            &body,
        )?);
    }
    let body = DataEvent {
        event_type: task.data_type.as_str(),
        user: &user,
        data: objects,
        version: PAYLOAD_VERSION,
    };
    out.push(event(
        event_id(&task.reference, task.data_type.as_str(), Some(task.index)),
        task.data_type,
        conn,
        task,
        &body,
    )?);
    Ok(out)
}

fn connection_error(
    conn: &Connection,
    task: &BackfillTask,
    message: &str,
) -> Result<NormalizedEvent, NormalizeError> {
    let user = terra_user(conn);
    let body = StatusEvent {
        event_type: EventType::ConnectionError.as_str(),
        user: &user,
        status: "warning",
        message,
    };
    event(
        event_id(&task.reference, "connection_error", None),
        EventType::ConnectionError,
        conn,
        task,
        &body,
    )
}

fn rate_limit_hit(
    conn: &Connection,
    task: &BackfillTask,
    retry_at_ms: u64,
) -> Result<NormalizedEvent, NormalizeError> {
    let user = terra_user(conn);
    let retrying_at = DateTime::<Utc>::from_timestamp_millis(retry_at_ms as i64)
        .map(terra_time)
        .unwrap_or_default();
    let body = RateLimitHitEvent {
        event_type: EventType::RateLimitHit.as_str(),
        user: &user,
        start_date: terra_midnight(&task.start_date),
        end_date: terra_midnight(&task.end_date),
        retrying_at,
        message: format!(
            "{} rate limit reached; the request will be retried",
            conn.provider.terra_name()
        ),
    };
    event(
        stable_id(&[
            "backfill",
            &task.reference,
            "rate_limit_hit",
            &task.index.to_string(),
            &retry_at_ms.to_string(),
        ]),
        EventType::RateLimitHit,
        conn,
        task,
        &body,
    )
}

fn outgoing(e: &NormalizedEvent) -> Result<Outgoing, BackfillError> {
    let payload = serde_json::to_vec(e).map_err(|e| BackfillError::Provider(e.to_string()))?;
    Ok(Outgoing::new(Bytes::from(e.user_id.clone()), payload))
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

fn count_request(provider: Provider, data_type: EventType, mode: &'static str) {
    metrics::counter!(
        "pulsegate_backfill_requests_total",
        "provider" => provider.slug(),
        "type" => data_type.as_str(),
        "mode" => mode
    )
    .increment(1);
}

fn count_window(provider: &'static str, outcome: &'static str) {
    metrics::counter!(
        "pulsegate_backfill_windows_total",
        "provider" => provider,
        "outcome" => outcome
    )
    .increment(1);
}

#[cfg(test)]
mod tests;

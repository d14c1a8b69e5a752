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
//!
//! Here: the front door ([`Backfiller::fetch`], [`Backfiller::request`]) and the
//! windows; `lane.rs`: the backfill lane; `worker.rs`: its consumer loop;
//! `notices.rs`: Terra's notices and payloads; `time.rs`: date formats; `write.rs`:
//! writes.

mod chunk;
mod continued;
mod lane;
mod notices;
mod time;
mod worker;
mod write;

pub use lane::run_backfill;
pub use notices::{
    event_id, LargeRequestProcessingEvent, LargeRequestSendingEvent, RateLimitHitEvent,
};

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use chrono::{Days, NaiveDate, Utc};
use pulsegate_bus::{Bus, BusError, Outgoing};
use pulsegate_schema::{topics, BackfillTask, Connection, ConnectionStatus, EventType, Provider};
use pulsegate_state::StateStore;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use self::notices::{large_request_processing, outgoing};
use self::time::ymd;
use crate::dedupe::RecentlySeen;
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
    /// Not an error to the customer: an inline fetch met the provider's rate limit and
    /// was continued as a webhook request (`reference`); its `processing` event is on
    /// `events` (see `continued.rs`).
    #[error("continued as webhook request {reference}; data in about {retry_after:?}")]
    Continued {
        reference: String,
        retry_after: Duration,
    },
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
    /// it with the push path's mapping. Terra data objects of `data_type`. Rate limited,
    /// it is continued as a webhook request instead ([`BackfillError::Continued`]).
    pub async fn fetch(
        &self,
        conn: &Connection,
        data_type: EventType,
        start: NaiveDate,
        end: NaiveDate,
        with_samples: bool,
    ) -> Result<Vec<Value>, BackfillError> {
        match self
            .fetch_now(conn, data_type, start, end, with_samples)
            .await
        {
            Err(BackfillError::RateLimited { retry_after }) => Err(self
                .continue_as_webhook(conn, data_type, (start, end), with_samples, retry_after)
                .await),
            other => other,
        }
    }

    async fn fetch_now(
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
        self.request_with_notice(conn, data_type, (start, end), with_samples, None)
            .await
    }

    /// [`Self::request`]; with `processing`, Terra's `processing` event (retry after
    /// that long) goes on `events` before anything else the request causes.
    async fn request_with_notice(
        &self,
        conn: &Connection,
        data_type: EventType,
        (start, end): (NaiveDate, NaiveDate),
        with_samples: bool,
        processing: Option<Duration>,
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
        if let Some(retry_after) = processing {
            let event = continued::processing(conn, &tasks[0], retry_after)
                .map_err(|e| BackfillError::Provider(e.to_string()))?;
            self.bus.append(topics::EVENTS, outgoing(&event)?).await?;
        }
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

fn count_request(provider: Provider, data_type: EventType, mode: &'static str) {
    metrics::counter!(
        "pulsegate_backfill_requests_total",
        "provider" => provider.slug(),
        "type" => data_type.as_str(),
        "mode" => mode
    )
    .increment(1);
}

#[cfg(test)]
mod tests;

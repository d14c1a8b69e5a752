//! One user's poll: per data type, fetch what the cursor says is due, append the new
//! objects' events, then commit the cursor.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use pulsegate_bus::{Bus, Outgoing};
use pulsegate_schema::terra::{DataEvent, StatusEvent};
use pulsegate_schema::{
    stable_id, topics, Connection, EventType, NormalizedEvent, PAYLOAD_VERSION,
};
use pulsegate_state::PollCursor;
use tokio_util::sync::CancellationToken;

use super::days::{self, DaySend, Progress};
use super::{metrics, schedule, PollLane, Setup, LANE};
use crate::{terra_user, Ctx, NormalizeError, ProviderNormalizer, RangeData, RangeSupport};

/// How one data type's poll of one user ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// New or changed objects were appended: this many data payloads (one per day).
    Delivered(usize),
    /// Fetched; nothing new.
    Unchanged,
    /// Polled in the current slot already.
    NotDue,
    /// The provider (or the budget above the push reserve) refused for now.
    RateLimited,
    /// The provider refused the connection's credentials.
    ConnectionError,
    /// The provider kept failing (after the retry policy).
    Unavailable,
    /// The provider's answer was refused or unusable.
    Failed,
    /// The bus or the state store failed.
    Error,
    /// Stopping, or the user may no longer be polled (revoked, erased): nothing more
    /// was appended or committed.
    Stopped,
}

impl Outcome {
    fn label(self) -> Option<&'static str> {
        Some(match self {
            Outcome::Delivered(_) => "delivered",
            Outcome::Unchanged => "unchanged",
            Outcome::RateLimited => "rate_limited",
            Outcome::ConnectionError => "connection_error",
            Outcome::Unavailable => "provider_unavailable",
            Outcome::Failed => "failed",
            Outcome::Error => "error",
            Outcome::NotDue | Outcome::Stopped => return None,
        })
    }

    fn failed(self) -> bool {
        matches!(
            self,
            Outcome::Unavailable | Outcome::Failed | Outcome::Error
        )
    }
}

fn today_of(now_ms: u64) -> NaiveDate {
    DateTime::<Utc>::from_timestamp_millis(now_ms as i64)
        .unwrap_or_default()
        .date_naive()
}

/// Identifies the state of a connection the provider refused (a reconnect or a token
/// refresh changes it). Never logged.
pub(super) fn fingerprint(conn: &Connection) -> String {
    stable_id(&[
        "poll-connection",
        &conn.created_at_ms.to_string(),
        &conn.expires_at.to_string(),
        conn.access_token.expose(),
        conn.refresh_token.expose(),
    ])
}

impl PollLane {
    /// Polls `user_id` now, every data type that is due (regardless of which process
    /// owns the user: the schedule loop only calls it for owned users). Empty when
    /// the user is not polled at all (no connection, revoked or erased, integration
    /// off, a provider that is not polled).
    pub async fn poll_user(
        &self,
        user_id: &str,
        stop: &CancellationToken,
    ) -> Vec<(EventType, Outcome)> {
        let setup = self.setup();
        let Some(conn) = self.state.connection(user_id) else {
            return Vec::new();
        };
        let Some(provider) = setup.providers.get(&conn.provider).cloned() else {
            return Vec::new();
        };
        if !self.state.poll_allowed(user_id) || !self.state.integration_enabled(conn.provider) {
            return Vec::new();
        }
        let now = self.now_ms();
        let mut out = Vec::new();
        for data_type in setup.types(conn.provider) {
            if !self
                .state
                .integration_wants(conn.provider, data_type.as_str())
            {
                continue;
            }
            let Some(support) = provider.range_support(data_type) else {
                continue;
            };
            let outcome = self
                .poll_type(&setup, &*provider, support, &conn, data_type, now, stop)
                .await;
            if let Some(label) = outcome.label() {
                metrics::count_run(conn.provider, label);
            }
            out.push((data_type, outcome));
            if matches!(
                outcome,
                Outcome::RateLimited | Outcome::ConnectionError | Outcome::Stopped
            ) {
                break;
            }
        }
        self.after(&setup, &conn, &out, now);
        out
    }

    /// Remembers a failed user's back-off (and forgets it after a success).
    fn after(&self, setup: &Setup, conn: &Connection, outcomes: &[(EventType, Outcome)], now: u64) {
        let mut retry = self.retry_at.lock().unwrap_or_else(|e| e.into_inner());
        if outcomes.iter().any(|(_, o)| o.failed()) {
            let failures = retry.get(&conn.user_id).map_or(0, |r| r.1) + 1;
            let wait = setup
                .cfg
                .retry_backoff
                .saturating_mul(1 << (failures - 1).min(16))
                .min(setup.cfg.interval_for(conn.provider));
            retry.insert(
                conn.user_id.clone(),
                (now + wait.as_millis() as u64, failures),
            );
        } else if outcomes
            .iter()
            .any(|(_, o)| matches!(o, Outcome::Delivered(_) | Outcome::Unchanged))
        {
            retry.remove(&conn.user_id);
        }
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "private; the poll's facts as poll_user has them"
    )]
    async fn poll_type(
        &self,
        setup: &Setup,
        provider: &dyn ProviderNormalizer,
        support: RangeSupport,
        conn: &Connection,
        data_type: EventType,
        now: u64,
        stop: &CancellationToken,
    ) -> Outcome {
        let user_id = conn.user_id.as_str();
        let slug = conn.provider.slug();
        let cfg = &setup.cfg;
        let interval_ms = cfg.interval_for(conn.provider).as_millis() as u64;
        let cursor = self.state.poll_cursor(user_id, data_type.as_str());
        let last_polled = cursor.as_ref().map(|c| c.polled_at_ms).filter(|t| *t > 0);
        if !schedule::due(user_id, interval_ms, last_polled, now) {
            return Outcome::NotDue;
        }
        let today = today_of(now);
        let done_before = cursor
            .as_ref()
            .and_then(|c| days::parse_ymd(&c.done_before));
        let (start, end) =
            days::fetch_range(done_before, today, cfg.lookback_days, support.history_days);
        let mut progress = match (&cursor, done_before) {
            (Some(c), Some(d)) => Progress {
                done_before: d,
                open: c
                    .open
                    .iter()
                    .filter_map(|(day, hashes)| {
                        Some((days::parse_ymd(day)?, hashes.iter().cloned().collect()))
                    })
                    .collect(),
            },
            _ => Progress::new(start),
        };
        // Days the provider no longer keeps are closed.
        progress.done_before = progress.done_before.max(start);
        let close_before = days::close_before(today, cfg.open_days);
        let windows = days::windows(start, end, support.window_days);
        let last_window = windows.len().saturating_sub(1);
        let mut delivered = 0usize;
        for (i, (ws, we)) in windows.into_iter().enumerate() {
            if stop.is_cancelled() {
                return Outcome::Stopped;
            }
            // Fresh tokens: the previous window may have refreshed them.
            let Some(conn) = self.state.connection(user_id).map(|c| (*c).clone()) else {
                return Outcome::Stopped;
            };
            let ctx = Ctx {
                state: self.state.clone(),
                lane: LANE,
            };
            let objects = match provider
                .fetch_range(&conn, &ctx, data_type, ws, we, true)
                .await
            {
                Ok(RangeData::Objects(objects)) => objects,
                Ok(RangeData::ConnectionError(why)) => {
                    self.refused(setup, &conn, why, now).await;
                    return Outcome::ConnectionError;
                }
                Err(NormalizeError::RateLimited {
                    retry_at_ms,
                    provider_block,
                    ..
                }) => {
                    tracing::info!(
                        provider = slug,
                        wait_ms = retry_at_ms.saturating_sub(now),
                        provider_block,
                        "rate limited; this provider's polls wait"
                    );
                    let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
                    let until = blocked.entry(conn.provider).or_default();
                    *until = (*until).max(retry_at_ms);
                    return Outcome::RateLimited;
                }
                Err(e @ NormalizeError::TransientExhausted { .. }) => {
                    tracing::warn!(provider = slug, %user_id, error = %e, "provider unavailable; poll retried later");
                    return Outcome::Unavailable;
                }
                Err(e @ (NormalizeError::State(_) | NormalizeError::Bus(_))) => {
                    tracing::warn!(provider = slug, %user_id, error = %e, "poll failed; retried later");
                    return Outcome::Error;
                }
                Err(e) => {
                    tracing::warn!(provider = slug, %user_id, error = %e, "poll answer refused; retried later");
                    return Outcome::Failed;
                }
            };
            let mut next = progress.clone();
            let sends = next.apply(days::by_day(objects, ws, we), we, close_before);
            let events = match sends
                .iter()
                .map(|s| data_event(&conn, data_type, s, now))
                .collect::<Result<Vec<_>, _>>()
            {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!(error = %e, "poll events could not be encoded");
                    return Outcome::Failed;
                }
            };
            // Deauthorized (or erased) meanwhile: nothing more about this user.
            if !self.state.poll_allowed(user_id) {
                return Outcome::Stopped;
            }
            if let Err(e) = store(&*self.bus, &events).await {
                tracing::warn!(provider = slug, %user_id, error = %e, "poll events not stored; retried later");
                return Outcome::Error;
            }
            #[cfg(test)]
            if self
                .crash_after_append
                .load(std::sync::atomic::Ordering::SeqCst)
            {
                return Outcome::Stopped;
            }
            // The events are durable: the cursor may say so.
            let record = PollCursor {
                user_id: user_id.to_string(),
                provider: conn.provider,
                data_type: data_type.as_str().to_string(),
                done_before: days::ymd(next.done_before),
                open: next
                    .open
                    .iter()
                    .map(|(d, h)| (days::ymd(*d), h.iter().cloned().collect()))
                    .collect::<BTreeMap<_, _>>(),
                polled_at_ms: if i == last_window {
                    now
                } else {
                    cursor.as_ref().map_or(0, |c| c.polled_at_ms)
                },
                updated_at_ms: now,
            };
            match self.state.put_poll_cursor(&record).await {
                Ok(true) => {}
                Ok(false) => return Outcome::Stopped,
                Err(e) => {
                    tracing::warn!(provider = slug, %user_id, error = %e, "poll cursor not stored; the poll is repeated (same event ids)");
                    return Outcome::Error;
                }
            }
            metrics::count_events(conn.provider, data_type, events.len());
            delivered += events.len();
            progress = next;
        }
        if delivered > 0 {
            tracing::debug!(provider = slug, %user_id, data_type = data_type.as_str(), payloads = delivered, "polled");
            Outcome::Delivered(delivered)
        } else {
            Outcome::Unchanged
        }
    }

    /// The provider refused `conn`: a `connection_error` event, once per state of the
    /// connection, and the user left alone until it changes or the back-off passed.
    async fn refused(&self, setup: &Setup, conn: &Connection, why: &str, now: u64) {
        let print = fingerprint(conn);
        let known = self
            .refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&conn.user_id)
            .is_some_and(|(p, _)| *p == print);
        tracing::warn!(
            provider = conn.provider.slug(),
            user_id = %conn.user_id,
            message = why,
            "the provider refused the connection's credentials"
        );
        if !known {
            let stored = match connection_error(conn, &print, why, now) {
                Ok(e) => store(&*self.bus, std::slice::from_ref(&e)).await,
                Err(e) => Err(e),
            };
            if let Err(e) = stored {
                // Not remembered: announced by the next poll.
                tracing::warn!(error = %e, "connection_error not stored");
                return;
            }
        }
        let until = now + setup.cfg.connection_error_backoff.as_millis() as u64;
        self.refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(conn.user_id.clone(), (print, until));
    }
}

/// The data event of one day's new objects: its id derives from the user, provider,
/// type, day and the objects' hashes.
fn data_event(
    conn: &Connection,
    data_type: EventType,
    send: &DaySend,
    now: u64,
) -> Result<NormalizedEvent, NormalizeError> {
    let user = terra_user(conn);
    let day = days::ymd(send.day);
    let mut parts = vec![
        "poll",
        conn.user_id.as_str(),
        conn.provider.slug(),
        data_type.as_str(),
        day.as_str(),
    ];
    parts.extend(send.hashes.iter().map(String::as_str));
    let id = stable_id(&parts);
    let body = DataEvent {
        event_type: data_type.as_str(),
        user: &user,
        data: send.objects.clone(),
        version: PAYLOAD_VERSION,
    };
    event(id, data_type, conn, now, &body)
}

/// The `connection_error` of a refused connection (`print`: its fingerprint).
fn connection_error(
    conn: &Connection,
    print: &str,
    message: &str,
    now: u64,
) -> Result<NormalizedEvent, NormalizeError> {
    let user = terra_user(conn);
    let body = StatusEvent {
        event_type: EventType::ConnectionError.as_str(),
        user: &user,
        status: "warning",
        message,
    };
    let id = stable_id(&[
        "poll",
        &conn.user_id,
        conn.provider.slug(),
        "connection_error",
        print,
    ]);
    event(id, EventType::ConnectionError, conn, now, &body)
}

fn event(
    id: String,
    event_type: EventType,
    conn: &Connection,
    now: u64,
    body: &impl serde::Serialize,
) -> Result<NormalizedEvent, NormalizeError> {
    let body =
        serde_json::value::to_raw_value(body).map_err(|e| NormalizeError::Encode(e.to_string()))?;
    Ok(NormalizedEvent {
        // The reference of a poll's payload is its own id (no request caused it).
        reference: id.clone(),
        event_id: id,
        event_type,
        user_id: conn.user_id.clone(),
        received_at_ms: now,
        body,
        dev_id: conn.dev_id.clone(),
    })
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

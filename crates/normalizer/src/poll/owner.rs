//! Which process polls whom, and when: the ownership sweeps and the schedule loop.
//!
//! Scale-out without double polling: users are hashed into `buckets`. Every process
//! appends, every `check_every`, one sweep record per bucket to [`TOPIC`] (keyed
//! `bucket/<n>`: one bucket's sweeps always land on one partition), and consumes
//! [`TOPIC`] as group [`GROUP`]. The group gives each partition to one member, so the
//! sweeps of a bucket reach one process; that process owns the bucket while it keeps
//! receiving fresh sweeps (three `check_every`), and polls the due users of the buckets
//! it owns. A process that dies stops consuming; the group hands its partitions to the
//! others, whose next sweeps make them the owners. Sweeps are idempotent triggers (the
//! cursors decide what is due), so N processes sending them N times changes nothing,
//! and the overlap of a rebalance at most polls a user twice with the same event ids.
//! Only ids and times travel on the topic.
//!
//! Why not a tick per user on a keyed topic: the schedule would have to be produced
//! by someone, once per user and interval; here the producers only need the number of
//! buckets, and the data of the schedule is the cursors that exist anyway.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use pulsegate_bus::{
    run_consumer, ConsumerLoopConfig, Handled, OffsetReset, Outgoing, Record, TopicSpec,
};
use pulsegate_schema::ConnectionStatus;
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::lane::fingerprint;
use super::{metrics, schedule, PollLane, GROUP, TOPIC};
use crate::NormalizeError;

/// Sweeps are worth nothing after a few `check_every`: an hour is plenty.
const SWEEP_RETENTION: Duration = Duration::from_secs(3600);

/// One sweep record.
#[derive(Debug, Serialize, Deserialize)]
struct Sweep {
    bucket: u32,
    at_ms: u64,
}

/// Removes a user from the in-flight set when its poll ends (or is aborted).
struct InFlight {
    lane: Arc<PollLane>,
    user_id: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.lane
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.user_id);
    }
}

impl PollLane {
    /// Runs the lane until `shutdown`: sends and consumes the ownership sweeps and polls
    /// the due users of the buckets this process owns. Creates [`TOPIC`] if needed.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) -> Result<(), NormalizeError> {
        let setup = self.setup();
        if !setup.cfg.enabled || setup.providers.is_empty() {
            tracing::info!(
                enabled = setup.cfg.enabled,
                "poll lane idle: no provider to poll"
            );
            shutdown.cancelled().await;
            return Ok(());
        }
        self.bus
            .ensure_topic(
                &TopicSpec::new(TOPIC, setup.cfg.partitions).retention(Some(SWEEP_RETENTION)),
            )
            .await?;
        // A new group starts at the end: old sweeps are worth nothing.
        let consumer = self
            .bus
            .subscribe(TOPIC, GROUP, OffsetReset::Latest)
            .await?;
        let sweeps = {
            let this = self.clone();
            tokio::spawn(run_consumer(
                consumer,
                ConsumerLoopConfig::new(GROUP, 1),
                shutdown.clone(),
                move |record| {
                    this.on_sweep(&record);
                    async { Handled::Done }
                },
            ))
        };
        let sender = tokio::spawn(self.clone().send_sweeps(shutdown.clone()));
        tracing::info!(
            providers = ?self.providers(),
            interval_s = setup.cfg.interval.as_secs(),
            "poll lane started"
        );
        self.clone().schedule(shutdown.clone()).await;
        let _ = sender.await;
        let consumed = sweeps
            .await
            .map_err(|e| NormalizeError::Encode(format!("sweep consumer: {e}")))?;
        tracing::info!("poll lane stopped");
        consumed.map_err(NormalizeError::from)
    }

    /// A sweep consumed: a fresh one makes this process its bucket's owner for now.
    pub(super) fn on_sweep(&self, record: &Record) {
        let Ok(sweep) = serde_json::from_slice::<Sweep>(&record.payload) else {
            tracing::debug!(offset = record.offset, "unparseable sweep skipped");
            return;
        };
        let setup = self.setup();
        let now = self.now_ms();
        let fresh = 2 * setup.cfg.check_every().as_millis() as u64;
        if sweep.bucket >= setup.cfg.buckets.max(1) || now.saturating_sub(sweep.at_ms) > fresh {
            return;
        }
        self.owned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(sweep.bucket, now);
    }

    /// Whether this process owns `bucket` at `now`.
    pub(super) fn owns(&self, bucket: u32, now: u64) -> bool {
        let lease = 3 * self.setup().cfg.check_every().as_millis() as u64;
        self.owned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&bucket)
            .is_some_and(|seen| now <= seen + lease)
    }

    /// Appends one sweep per bucket every `check_every`, until `shutdown`.
    async fn send_sweeps(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            let cfg = self.setup().cfg.clone();
            let now = self.now_ms();
            let records = (0..cfg.buckets.max(1))
                .map(|bucket| {
                    let payload =
                        serde_json::to_vec(&Sweep { bucket, at_ms: now }).expect("a sweep encodes");
                    Outgoing::new(format!("bucket/{bucket}"), payload)
                })
                .collect();
            if let Err(e) = self.bus.append_batch(TOPIC, records).await {
                tracing::warn!(error = %e, "poll sweeps not sent; next round tries again");
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(cfg.check_every()) => {}
            }
        }
    }

    /// The users this process should poll now, most overdue first: active
    /// connections of polled providers in owned buckets, due for at least one data type,
    /// not being polled, not backing off.
    pub fn due_users(&self, now: u64) -> Vec<String> {
        let setup = self.setup();
        let blocked = self
            .blocked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut due: Vec<(u64, String)> = Vec::new();
        for conn in self.state.connections() {
            if conn.status != ConnectionStatus::Active
                || !setup.providers.contains_key(&conn.provider)
                || blocked.get(&conn.provider).is_some_and(|t| *t > now)
                || !self.owns(schedule::bucket(&conn.user_id, setup.cfg.buckets), now)
            {
                continue;
            }
            let user_id = conn.user_id.as_str();
            if self
                .in_flight
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(user_id)
            {
                continue;
            }
            if self
                .retry_at
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(user_id)
                .is_some_and(|(t, _)| *t > now)
            {
                continue;
            }
            {
                let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
                if let Some((print, until)) = refused.get(user_id) {
                    if *until > now && *print == fingerprint(&conn) {
                        continue;
                    }
                    // Reconnected (new tokens), or time to try again.
                    refused.remove(user_id);
                }
            }
            if !self.state.poll_allowed(user_id) || !self.state.integration_enabled(conn.provider) {
                continue;
            }
            let interval = setup.cfg.interval_for(conn.provider).as_millis() as u64;
            let next = setup
                .types(conn.provider)
                .into_iter()
                .filter(|t| self.state.integration_wants(conn.provider, t.as_str()))
                .map(|t| {
                    let last = self
                        .state
                        .poll_cursor(user_id, t.as_str())
                        .map(|c| c.polled_at_ms)
                        .filter(|t| *t > 0);
                    schedule::next_due_ms(user_id, interval, last)
                })
                .min();
            if let Some(next) = next.filter(|n| *n <= now) {
                due.push((next, conn.user_id.clone()));
            }
        }
        due.sort();
        due.into_iter().map(|(_, u)| u).collect()
    }

    /// Sets `pulsegate_poll_lag_seconds` of every polled provider.
    pub(super) fn report_lag(&self, now: u64) {
        let setup = self.setup();
        let mut oldest: std::collections::HashMap<_, u64> =
            setup.providers.keys().map(|p| (*p, now)).collect();
        for conn in self.state.connections() {
            if conn.status != ConnectionStatus::Active {
                continue;
            }
            let Some(slot) = oldest.get_mut(&conn.provider) else {
                continue;
            };
            let since = setup
                .types(conn.provider)
                .into_iter()
                .map(|t| {
                    self.state
                        .poll_cursor(&conn.user_id, t.as_str())
                        .map(|c| c.polled_at_ms)
                        .filter(|t| *t > 0)
                        .unwrap_or(conn.created_at_ms)
                })
                .min()
                .unwrap_or(now);
            *slot = (*slot).min(since);
        }
        for (provider, since) in oldest {
            metrics::set_lag(provider, now.saturating_sub(since) as f64 / 1000.0);
        }
    }

    /// Polls the due users of owned buckets, `concurrency` at a time, until `shutdown`;
    /// then gives running polls a moment and drops the rest (uncommitted: polled again
    /// with the same ids).
    async fn schedule(self: Arc<Self>, shutdown: CancellationToken) {
        let mut queue: VecDeque<String> = VecDeque::new();
        let mut jobs = JoinSet::new();
        let mut tick = tokio::time::interval(self.setup().cfg.check_every());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let concurrency = self.setup().cfg.concurrency.max(1);
            while jobs.len() < concurrency {
                let Some(user_id) = queue.pop_front() else {
                    break;
                };
                let claimed = self
                    .in_flight
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(user_id.clone());
                if !claimed {
                    continue;
                }
                let guard = InFlight {
                    lane: self.clone(),
                    user_id,
                };
                let stop = shutdown.clone();
                jobs.spawn(async move {
                    guard.lane.poll_user(&guard.user_id, &stop).await;
                    drop(guard);
                });
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {
                    let now = self.now_ms();
                    self.report_lag(now);
                    queue = self.due_users(now).into();
                }
                Some(done) = jobs.join_next(), if !jobs.is_empty() => {
                    if let Err(e) = done {
                        tracing::error!(error = %e, "a poll panicked");
                    }
                }
            }
        }
        let drain = async { while jobs.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(10), drain)
            .await
            .is_err()
        {
            jobs.shutdown().await;
        }
    }
}

//! Retention: removes records older than a topic's retention and, for a topic with a
//! byte bound (`TopicSpec::max_bytes`), its oldest records while it holds more than that
//! many bytes (keys and stored values, split evenly over the partitions; what fjall
//! stores on disk beyond that, its indexes and not yet compacted tables, is not
//! counted). The same pass compacts compacted topics ([`super::compaction`]).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::TopicState;
use super::{decode_value, encode_spec, record_key, storage, EmbeddedBus, Inner, PartitionState};
use crate::{now_ms, BusError};

/// Most records removed from one partition per pass, so a pass never runs long.
const MAX_REMOVALS_PER_PASS: u64 = 100_000;

pub(crate) fn spawn(inner: Weak<Inner>, every: Duration) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("no async runtime: embedded log retention is not running");
        return;
    };
    handle.spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(inner) = inner.upgrade() else { return };
            let topics: Vec<Arc<TopicState>> = inner
                .topics
                .read()
                .expect("topics lock")
                .values()
                .cloned()
                .collect();
            let marks = inner.compaction.clone();
            drop(inner);
            let _ = tokio::task::spawn_blocking(move || {
                for t in topics {
                    if let Some(retention) = t.spec.retention {
                        apply(&t, retention);
                    }
                    let max_bytes = t.max_bytes.load(Ordering::Acquire);
                    if max_bytes > 0 {
                        apply_bytes(&t, max_bytes);
                    }
                    if t.spec.compacted {
                        super::compaction::apply(&t, &marks);
                    }
                }
            })
            .await;
        }
    });
}

/// Removes expired records from the front of each partition. The newest record of a
/// partition is always kept: recovery derives the next offset from it, and offsets
/// must never be handed out twice.
pub(crate) fn apply(topic: &TopicState, retention: Duration) {
    let cutoff = now_ms().saturating_sub(retention.as_millis() as u64);
    remove_front(topic, "time", |_, v| {
        decode_value(v).is_some_and(|(ts, _, _)| ts < cutoff)
    });
}

/// Removes the oldest records of each partition holding more than its share of
/// `max_bytes` until it holds no more (the newest record is kept, as above).
pub(crate) fn apply_bytes(topic: &TopicState, max_bytes: u64) {
    let share = max_bytes / topic.partitions.len().max(1) as u64;
    remove_front(topic, "bytes", |part, _| {
        part.bytes.load(Ordering::Acquire) > share
    });
}

/// Removes records from the front of each partition while `remove(partition, value)`
/// says so, keeping each partition's newest record.
fn remove_front(
    topic: &TopicState,
    bound: &'static str,
    remove: impl Fn(&PartitionState, &[u8]) -> bool,
) {
    for (p, part) in topic.partitions.iter().enumerate() {
        let start = part.start.load(Ordering::Acquire);
        let end = part.durable_end.load(Ordering::Acquire);
        if end <= start + 1 {
            continue;
        }
        let limit = (end - 1).min(start + MAX_REMOVALS_PER_PASS);
        let mut new_start = start;
        for kv in part
            .keyspace
            .range(record_key(p as u32, start)..record_key(p as u32, limit))
        {
            let Ok((k, v)) = kv.into_inner() else { break };
            if !remove(part, &v) {
                break;
            }
            if part.keyspace.remove_weak(k.to_vec()).is_err() {
                break;
            }
            let size = (k.len() + v.len()) as u64;
            let _ = part
                .bytes
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                    Some(b.saturating_sub(size))
                });
            new_start += 1;
        }
        if new_start > start {
            part.start.store(new_start, Ordering::Release);
            metrics::counter!("pulsegate_bus_retention_removed_total",
                "topic" => topic.name.to_string(), "bound" => bound)
            .increment(new_start - start);
        }
    }
}

/// Sets each partition's byte count from what it stores (a scan of the partition).
pub(crate) fn count_bytes(partitions: &[PartitionState]) {
    for (p, part) in partitions.iter().enumerate() {
        let total: u64 = part
            .keyspace
            .prefix((p as u32).to_be_bytes())
            .filter_map(|kv| kv.into_inner().ok())
            .map(|(k, v)| (k.len() + v.len()) as u64)
            .sum();
        part.bytes.store(total, Ordering::Release);
    }
}

impl EmbeddedBus {
    /// Puts `max_bytes` in force for an existing topic (stored with its spec) when it
    /// changed: a bound set in the configuration applies to a topic made without one.
    pub(crate) fn rebound(
        &self,
        topic: &TopicState,
        max_bytes: Option<u64>,
    ) -> Result<(), BusError> {
        let want = max_bytes.filter(|_| !topic.spec.compacted).unwrap_or(0);
        let had = topic.max_bytes.load(Ordering::Acquire);
        if had == want {
            return Ok(());
        }
        let mut spec = topic.spec.clone();
        spec.max_bytes = (want > 0).then_some(want);
        self.inner
            .meta
            .insert(spec.name.as_str(), encode_spec(&spec))
            .map_err(storage)?;
        self.inner
            .db
            .persist(fjall::PersistMode::SyncAll)
            .map_err(storage)?;
        if had == 0 {
            // Appends during the scan may be counted twice: an over-count only removes
            // a little early.
            count_bytes(&topic.partitions);
        }
        topic.max_bytes.store(want, Ordering::Release);
        tracing::info!(topic = %spec.name, max_bytes = want, "topic byte bound changed");
        Ok(())
    }

    /// The bytes a topic's partitions hold as counted for its byte bound (0 without one).
    pub fn stored_bytes(&self, topic: &str) -> Result<u64, BusError> {
        Ok(self
            .topic(topic)?
            .partitions
            .iter()
            .map(|p| p.bytes.load(Ordering::Acquire))
            .sum())
    }
}

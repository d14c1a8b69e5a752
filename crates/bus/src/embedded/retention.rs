//! Time-based retention: removes records older than a topic's retention. The same pass
//! compacts compacted topics ([`super::compaction`]).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::{decode_value, record_key, Inner, TopicState};
use crate::now_ms;

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
            let expired = decode_value(&v).is_some_and(|(ts, _, _)| ts < cutoff);
            if !expired {
                break;
            }
            if part.keyspace.remove_weak(k.to_vec()).is_err() {
                break;
            }
            new_start += 1;
        }
        if new_start > start {
            part.start.store(new_start, Ordering::Release);
            metrics::counter!("pulsegate_bus_retention_removed_total", "topic" => topic.name.to_string())
                .increment(new_start - start);
        }
    }
}

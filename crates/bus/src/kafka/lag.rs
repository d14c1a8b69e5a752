//! `pulsegate_consumer_lag{topic,group,partition}`: high watermark − committed offset for
//! every group this process consumes, sampled in the background.
//!
//! Best effort by design: a failed or slow request skips the sample and nothing else.
//! Brokers that under-report the high watermark (tansu) make the lag look smaller.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use super::consumer::MemberConsumer;
use super::unassigned::sample_group;
use crate::BusError;

pub(crate) const INTERVAL: Duration = Duration::from_secs(10);

/// Consumers of this process, by the groups they belong to.
#[derive(Default)]
pub(crate) struct LagRegistry {
    entries: Mutex<Vec<Entry>>,
}

#[derive(Clone)]
struct Entry {
    topic: String,
    group: String,
    partitions: u32,
    consumer: Weak<MemberConsumer>,
}

impl LagRegistry {
    pub(crate) fn register(
        &self,
        topic: &str,
        group: &str,
        partitions: u32,
        consumer: Weak<MemberConsumer>,
    ) {
        // Entries whose consumer went stay until the next sample, which zeroes their
        // group's series if no other consumer of it is left.
        let mut entries = self.entries.lock().expect("lag registry lock");
        entries.push(Entry {
            topic: topic.to_string(),
            group: group.to_string(),
            partitions,
            consumer,
        });
    }

    /// One live consumer per (topic, group): any member can read the group's offsets.
    /// A group whose last consumer here went (its destination deleted or paused) has
    /// its series set to 0: it is not consumed here, and a frozen or growing figure
    /// would keep a lag alert firing for it.
    fn live(&self) -> Vec<(Entry, Arc<MemberConsumer>)> {
        let mut entries = self.entries.lock().expect("lag registry lock");
        let (kept, gone): (Vec<Entry>, Vec<Entry>) = entries
            .drain(..)
            .partition(|e| e.consumer.strong_count() > 0);
        *entries = kept;
        for g in gone {
            if !entries
                .iter()
                .any(|e| e.topic == g.topic && e.group == g.group)
            {
                crate::zero_lag(&g.topic, &g.group, 0..g.partitions);
            }
        }
        let mut out: Vec<(Entry, Arc<MemberConsumer>)> = Vec::new();
        for e in entries.iter() {
            if out
                .iter()
                .any(|(o, _)| o.topic == e.topic && o.group == e.group)
            {
                continue;
            }
            if let Some(c) = e.consumer.upgrade() {
                out.push((e.clone(), c));
            }
        }
        out
    }
}

/// Samples every `every` until the registry (the bus) is dropped.
pub(crate) fn spawn(registry: Weak<LagRegistry>, every: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(registry) = registry.upgrade() else {
                return;
            };
            sample(&registry).await;
        }
    });
}

pub(crate) async fn sample(registry: &LagRegistry) {
    for (entry, consumer) in registry.live() {
        let n = entry.partitions;
        let measured = tokio::task::spawn_blocking(move || measure(&consumer, n)).await;
        match measured {
            Ok(Ok(lags)) => {
                for (partition, lag) in lags {
                    metrics::gauge!("pulsegate_consumer_lag",
                        "topic" => entry.topic.clone(), "group" => entry.group.clone(),
                        "partition" => partition.to_string())
                    .set(lag as f64);
                }
            }
            Ok(Err(e)) => tracing::debug!(topic = %entry.topic, group = %entry.group, error = %e,
                "kafka lag sample skipped"),
            Err(e) => tracing::debug!(error = %e, "kafka lag sample task failed"),
        }
    }
}

/// Blocking: committed offsets of the consumer's group against the partition ends
/// (the same sample as the unassigned-member guard takes).
fn measure(c: &MemberConsumer, partitions: u32) -> Result<Vec<(u32, u64)>, BusError> {
    Ok(sample_group(c, partitions)?
        .into_iter()
        .enumerate()
        // Partitions the group never committed have no lag to report yet.
        .filter_map(|(p, g)| {
            g.committed
                .map(|done| (p as u32, g.end.saturating_sub(done)))
        })
        .collect())
}

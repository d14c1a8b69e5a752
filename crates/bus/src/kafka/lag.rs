//! `pulsegate_consumer_lag{topic,group,partition}`: high watermark − committed offset for
//! every group this process consumes, sampled in the background.
//!
//! Best effort by design: a failed or slow request skips the sample and nothing else.
//! Brokers that under-report the high watermark (tansu) make the lag look smaller.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use rdkafka::consumer::Consumer as _;
use rdkafka::error::KafkaResult;
use rdkafka::{Offset, TopicPartitionList};

use super::consumer::MemberConsumer;

pub(crate) const INTERVAL: Duration = Duration::from_secs(10);
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(5);

/// Consumers of this process, by the groups they belong to.
#[derive(Default)]
pub(crate) struct LagRegistry {
    entries: Mutex<Vec<Entry>>,
}

#[derive(Clone)]
struct Entry {
    topic: String,
    group: String,
    full_topic: String,
    partitions: u32,
    consumer: Weak<MemberConsumer>,
}

impl LagRegistry {
    pub(crate) fn register(
        &self,
        topic: &str,
        group: &str,
        full_topic: &str,
        partitions: u32,
        consumer: Weak<MemberConsumer>,
    ) {
        let mut entries = self.entries.lock().expect("lag registry lock");
        entries.retain(|e| e.consumer.strong_count() > 0);
        entries.push(Entry {
            topic: topic.to_string(),
            group: group.to_string(),
            full_topic: full_topic.to_string(),
            partitions,
            consumer,
        });
    }

    /// One live consumer per (topic, group): any member can read the group's offsets.
    fn live(&self) -> Vec<(Entry, Arc<MemberConsumer>)> {
        let mut entries = self.entries.lock().expect("lag registry lock");
        entries.retain(|e| e.consumer.strong_count() > 0);
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
        let full = entry.full_topic.clone();
        let n = entry.partitions;
        let measured = tokio::task::spawn_blocking(move || measure(&consumer, &full, n)).await;
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

/// Blocking: committed offsets of the consumer's group and the high watermarks.
fn measure(c: &MemberConsumer, topic: &str, partitions: u32) -> KafkaResult<Vec<(u32, u64)>> {
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions as i32 {
        tpl.add_partition(topic, p);
    }
    let committed = c.committed_offsets(tpl, SAMPLE_TIMEOUT)?;
    let mut out = Vec::new();
    for e in committed.elements_for_topic(topic) {
        // Partitions the group never committed have no lag to report yet.
        let Offset::Offset(done) = e.offset() else {
            continue;
        };
        let (_, high) = c.fetch_watermarks(topic, e.partition(), SAMPLE_TIMEOUT)?;
        out.push((e.partition() as u32, (high - done).max(0) as u64));
    }
    Ok(out)
}

//! The log that pulsegate's components meet on.
//!
//! Ingest, normalizer and dispatcher never call each other: they append records to
//! topics and consume them through [`Bus`]. The bus knows bytes (keys and payloads),
//! never domain types. Two backends implement the same semantics:
//!
//! * [`embedded::EmbeddedBus`]: a durable, partitioned log on local disk (fjall) with
//!   group commit: `append` returns only after the record is fsynced.
//! * [`kafka::KafkaBus`]: the same contract on a Kafka cluster.
//!
//! Semantics both backends keep:
//! * `append` resolves once the record is durable; the returned position is final.
//! * Records with the same key land on the same partition, in append order.
//! * A consumer group sees every record at least once; `commit` is durable, and a
//!   restarted group resumes after its last commit (never before the log's start).

mod error;
mod tracker;
mod worker;

pub mod embedded;
pub mod kafka;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

pub use embedded::backup::BackupSummary;
pub use error::BusError;
pub use kafka::{KafkaBus, KafkaConfig};
pub use tracker::OffsetTracker;
pub use worker::{run_consumer, stopping_consumers, ConsumerLoopConfig, Handled};

/// What a topic is for decides how it is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: u32,
    /// Keyed state: readers keep the last value per key; an empty payload deletes the key.
    pub compacted: bool,
    /// Records older than this are removed (not for compacted topics). `None` keeps all.
    pub retention: Option<Duration>,
    /// Oldest records are removed while the topic holds more than this many bytes (not
    /// for compacted topics; split evenly over the partitions). `None`: no byte bound.
    pub max_bytes: Option<u64>,
}

impl TopicSpec {
    pub fn new(name: impl Into<String>, partitions: u32) -> Self {
        Self {
            name: name.into(),
            partitions: partitions.max(1),
            compacted: false,
            retention: None,
            max_bytes: None,
        }
    }

    pub fn compacted(mut self) -> Self {
        self.compacted = true;
        self.retention = None;
        self.max_bytes = None;
        self
    }

    pub fn retention(mut self, retention: Option<Duration>) -> Self {
        if !self.compacted {
            self.retention = retention;
        }
        self
    }

    /// Bounds the topic's stored bytes (see [`TopicSpec::max_bytes`]); 0 or `None`
    /// leaves it unbounded.
    pub fn max_bytes(mut self, max_bytes: Option<u64>) -> Self {
        if !self.compacted {
            self.max_bytes = max_bytes.filter(|b| *b > 0);
        }
        self
    }
}

/// Where a consumer group without committed offsets starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OffsetReset {
    /// From the oldest record still stored (pipelines: nothing is skipped).
    #[default]
    Earliest,
    /// From records appended after the group first subscribes (a new destination does
    /// not receive the whole history).
    Latest,
}

/// One record read back from a topic.
#[derive(Clone, Debug)]
pub struct Record {
    pub topic: Arc<str>,
    pub partition: u32,
    pub offset: u64,
    /// Milliseconds since the Unix epoch at append time.
    pub timestamp_ms: u64,
    pub key: Bytes,
    pub payload: Bytes,
}

/// Where a record was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub partition: u32,
    pub offset: u64,
}

/// A record to append.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub key: Bytes,
    pub payload: Bytes,
}

impl Outgoing {
    pub fn new(key: impl Into<Bytes>, payload: impl Into<Bytes>) -> Self {
        Self {
            key: key.into(),
            payload: payload.into(),
        }
    }
}

/// The log abstraction. Cheap to clone behind an `Arc<dyn Bus>`.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Creates the topic if it does not exist. An existing topic keeps its partition count.
    async fn ensure_topic(&self, spec: &TopicSpec) -> Result<(), BusError>;

    /// Appends one record; resolves when it is durable.
    async fn append(&self, topic: &str, record: Outgoing) -> Result<Position, BusError>;

    /// Appends several records to one topic; resolves when all are durable.
    async fn append_batch(
        &self,
        topic: &str,
        records: Vec<Outgoing>,
    ) -> Result<Vec<Position>, BusError>;

    /// A member of consumer group `group` reading `topic`. Members of one group share
    /// the partitions; each group has its own committed offsets. A group with no
    /// committed offset starts where `reset` says; `Latest` durably commits the current
    /// end first, so a crash right after subscribing cannot skip or replay history.
    async fn subscribe(
        &self,
        topic: &str,
        group: &str,
        reset: OffsetReset,
    ) -> Result<Box<dyn Consumer>, BusError>;

    /// Durably sets the starting point of `group` on `topic` to the current end, for
    /// partitions the group never committed. A consumer that joins later (the worker
    /// of a destination created now) then starts from the moment of this call, not from
    /// whenever it happens to join. Idempotent.
    async fn start_group_at_end(&self, topic: &str, group: &str) -> Result<(), BusError> {
        // Default: subscribing with `Latest` has this effect.
        drop(self.subscribe(topic, group, OffsetReset::Latest).await?);
        Ok(())
    }

    /// Reads every partition of `topic` from the beginning, without a group (used to
    /// materialise keyed state in every process).
    async fn read_from_start(&self, topic: &str) -> Result<Box<dyn Consumer>, BusError>;

    /// True while the backend can take writes (for `/readyz`).
    fn is_healthy(&self) -> bool;

    /// A consistent point-in-time copy of the whole log (every topic, record and
    /// committed offset), to be written as a backup archive
    /// ([`embedded::backup`]). Only the embedded log has one; Kafka answers
    /// [`BusError::Unsupported`] (back it up with Kafka's own tooling).
    async fn backup(&self) -> Result<Box<dyn BackupSource>, BusError> {
        Err(BusError::Unsupported(format!(
            "the {} log has no backup of its own",
            self.kind()
        )))
    }

    /// Compacts `topic` now (a compacted topic keeps only the last record per key);
    /// returns how many records were removed. Kafka compacts on the broker's schedule
    /// and answers [`BusError::Unsupported`].
    async fn compact(&self, topic: &str) -> Result<u64, BusError> {
        Err(BusError::Unsupported(format!(
            "the {} log compacts {topic} on its own schedule",
            self.kind()
        )))
    }

    /// Backend name for logs and metrics labels.
    fn kind(&self) -> &'static str;
}

/// A snapshot of a log taken by [`Bus::backup`], not written yet.
pub trait BackupSource: Send + 'static {
    /// Writes the archive to `out`. Blocking (it reads the whole log): run it on a
    /// blocking thread. An error from `out` stops it.
    fn write_to(self: Box<Self>, out: &mut dyn std::io::Write) -> Result<BackupSummary, BusError>;
}

/// Reads records and commits progress.
#[async_trait]
pub trait Consumer: Send {
    /// Waits until at least one record is available (or `max_wait` passes) and returns
    /// up to `max` records. An empty vector means the wait timed out.
    async fn poll(&mut self, max: usize, max_wait: Duration) -> Result<Vec<Record>, BusError>;

    /// Durably records that every offset below `next_offset` of each partition is done.
    async fn commit(&mut self, offsets: &[(u32, u64)]) -> Result<(), BusError>;

    /// True once every record that existed when the consumer was created has been
    /// returned by `poll` (used by state materialisation to know it is caught up).
    fn caught_up(&self) -> bool;
}

/// Stable partition choice for a key (FNV-1a; the same on every process and restart).
pub fn partition_for(key: &[u8], partitions: u32) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for b in key {
        hash ^= u32::from(*b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash % partitions.max(1)
}

/// Sets `group`'s `pulsegate_consumer_lag` on `topic` to 0 for `partitions`: the group
/// is no longer consumed in this process.
pub(crate) fn zero_lag(topic: &str, group: &str, partitions: impl Iterator<Item = u32>) {
    for p in partitions {
        metrics::gauge!("pulsegate_consumer_lag",
            "topic" => topic.to_string(), "group" => group.to_string(), "partition" => p.to_string())
        .set(0.0);
    }
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_is_stable_and_in_range() {
        for n in 1..16 {
            let p = partition_for(b"strava:12345", n);
            assert!(p < n);
            assert_eq!(p, partition_for(b"strava:12345", n));
        }
        // Different keys spread over partitions.
        let used: std::collections::HashSet<u32> = (0..100)
            .map(|i| partition_for(format!("k{i}").as_bytes(), 8))
            .collect();
        assert!(used.len() > 4, "{used:?}");
    }
}

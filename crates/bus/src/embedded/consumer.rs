use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::oneshot;

use super::writer::WriteOp;
use super::{decode_value, offset_key, record_key, storage, EmbeddedBus, TopicState};
use crate::{BusError, Consumer, Record};

/// Reads all partitions of one topic. With a group, resumes from and commits to that
/// group's offsets; without one, reads from the start and commits nothing.
pub(crate) struct EmbeddedConsumer {
    bus: EmbeddedBus,
    topic: Arc<TopicState>,
    group: Option<String>,
    /// Next offset to read, per partition.
    positions: Vec<u64>,
    /// Ends as they were at creation, for `caught_up`.
    initial_ends: Vec<u64>,
    /// Round-robin start so one busy partition cannot starve the others.
    next_partition: usize,
}

impl EmbeddedConsumer {
    pub(crate) fn new(
        bus: EmbeddedBus,
        topic: Arc<TopicState>,
        group: Option<String>,
        positions: Vec<u64>,
    ) -> Self {
        let initial_ends = topic
            .partitions
            .iter()
            .map(|p| p.durable_end.load(Ordering::Acquire))
            .collect();
        if let Some(g) = &group {
            *bus.inner
                .consuming
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry((g.clone(), topic.name.to_string()))
                .or_default() += 1;
        }
        Self {
            bus,
            topic,
            group,
            positions,
            initial_ends,
            next_partition: 0,
        }
    }

    /// Reads what is durable and unread, up to `max` records. Synchronous on purpose:
    /// positions move only when records are returned, so a cancelled poll loses nothing.
    fn read_available(&mut self, max: usize) -> Result<Vec<Record>, BusError> {
        let n = self.topic.partitions.len();
        let mut out = Vec::new();
        for i in 0..n {
            if out.len() >= max {
                break;
            }
            let p = (self.next_partition + i) % n;
            let part = &self.topic.partitions[p];
            let end = part.durable_end.load(Ordering::Acquire);
            // Retention may have removed records a slow reader had not reached.
            let start = part.start.load(Ordering::Acquire);
            if self.positions[p] < start {
                tracing::warn!(topic = %self.topic.name, partition = p, from = self.positions[p], to = start,
                    "records removed by retention before this reader got to them");
                self.positions[p] = start;
            }
            let from = self.positions[p];
            if from >= end {
                continue;
            }
            let want = (max - out.len()) as u64;
            let to = end.min(from + want);
            let range = record_key(p as u32, from)..record_key(p as u32, to);
            for kv in part.keyspace.range(range) {
                let (k, v) = kv.into_inner().map_err(storage)?;
                let offset = u64::from_be_bytes(k[4..12].try_into().map_err(storage)?);
                let Some((timestamp_ms, key, payload)) = decode_value(&v) else {
                    return Err(BusError::Corrupt {
                        topic: self.topic.name.to_string(),
                        partition: p as u32,
                        offset,
                    });
                };
                out.push(Record {
                    topic: self.topic.name.clone(),
                    partition: p as u32,
                    offset,
                    timestamp_ms,
                    key,
                    payload,
                });
            }
            // Every stored key in [from, to) was returned (retention only removes below it).
            self.positions[p] = to;
        }
        self.next_partition = (self.next_partition + 1) % n.max(1);
        Ok(out)
    }
}

impl Drop for EmbeddedConsumer {
    fn drop(&mut self) {
        let Some(g) = &self.group else { return };
        let mut consuming = self
            .bus
            .inner
            .consuming
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let key = (g.clone(), self.topic.name.to_string());
        if let Some(n) = consuming.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                consuming.remove(&key);
            }
        }
    }
}

#[async_trait]
impl Consumer for EmbeddedConsumer {
    async fn poll(&mut self, max: usize, max_wait: Duration) -> Result<Vec<Record>, BusError> {
        let max = max.max(1);
        let deadline = tokio::time::Instant::now() + max_wait;
        loop {
            // Register interest before looking, so an append between the look and the
            // wait still wakes us.
            let topic = self.topic.clone();
            let notified = topic.appended.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let records = self.read_available(max)?;
            if !records.is_empty() {
                return Ok(records);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(Vec::new());
            }
        }
    }

    async fn commit(&mut self, offsets: &[(u32, u64)]) -> Result<(), BusError> {
        let Some(group) = &self.group else {
            return Ok(());
        };
        let mut waits = Vec::with_capacity(offsets.len());
        for &(partition, next_offset) in offsets {
            let (reply, rx) = oneshot::channel();
            self.bus
                .submit(WriteOp::Commit {
                    key: offset_key(group, &self.topic.name, partition),
                    next_offset,
                    reply: Some(reply),
                })
                .await?;
            waits.push((partition, next_offset, rx));
        }
        for (partition, next_offset, rx) in waits {
            rx.await.map_err(|_| BusError::Closed)??;
            self.bus
                .inner
                .committed
                .write()
                .expect("committed lock")
                .insert(
                    (group.clone(), self.topic.name.to_string(), partition),
                    next_offset,
                );
        }
        Ok(())
    }

    fn caught_up(&self) -> bool {
        self.positions
            .iter()
            .zip(&self.initial_ends)
            .all(|(pos, end)| pos >= end)
    }
}

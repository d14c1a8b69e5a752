//! The single writer: group commit for appends and offset commits.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fjall::{Database, Keyspace, PersistMode};
use tokio::sync::{mpsc, oneshot};

use super::space::FreeSpace;
use super::{encode_value, record_key, storage, TopicState};
use crate::{now_ms, BusError, Outgoing};

pub(crate) enum WriteOp {
    Append {
        topic: Arc<TopicState>,
        partition: u32,
        record: Outgoing,
        reply: oneshot::Sender<Result<u64, BusError>>,
    },
    Commit {
        key: Vec<u8>,
        next_offset: u64,
        reply: Option<oneshot::Sender<Result<(), BusError>>>,
    },
    /// Holds the writer between two group commits (a backup's snapshot instant): it
    /// answers `paused` once everything queued before is committed, then waits until
    /// `resume` is sent or dropped.
    Pause {
        paused: oneshot::Sender<()>,
        resume: oneshot::Receiver<()>,
    },
}

pub(crate) struct Writer {
    db: Database,
    offsets: Keyspace,
    max_batch: usize,
    healthy: Arc<AtomicBool>,
    space: FreeSpace,
}

impl Writer {
    pub(crate) fn spawn(
        db: Database,
        offsets: Keyspace,
        rx: mpsc::Receiver<WriteOp>,
        max_batch: usize,
        healthy: Arc<AtomicBool>,
        space: FreeSpace,
    ) -> Result<(), BusError> {
        let writer = Writer {
            db,
            offsets,
            max_batch: max_batch.max(1),
            healthy,
            space,
        };
        // A plain thread: fsync blocks, and must not stall the async runtime.
        std::thread::Builder::new()
            .name("pulsegate-log-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(storage)?;
        Ok(())
    }

    fn run(mut self, mut rx: mpsc::Receiver<WriteOp>) {
        let mut ops = Vec::with_capacity(self.max_batch);
        let batch_size = metrics::histogram!("pulsegate_bus_commit_batch_records");
        let commit_secs = metrics::histogram!("pulsegate_bus_commit_seconds");
        // No timer: while one commit is fsyncing, the next batch queues up by itself.
        while let Some(op) = rx.blocking_recv() {
            let mut pause = None;
            match op {
                WriteOp::Pause { paused, resume } => pause = Some((paused, resume)),
                op => ops.push(op),
            }
            while pause.is_none() && ops.len() < self.max_batch {
                match rx.try_recv() {
                    Ok(WriteOp::Pause { paused, resume }) => pause = Some((paused, resume)),
                    Ok(op) => ops.push(op),
                    Err(_) => break,
                }
            }
            if !ops.is_empty() {
                let started = Instant::now();
                batch_size.record(ops.len() as f64);
                self.commit(&mut ops);
                commit_secs.record(started.elapsed().as_secs_f64());
            }
            if let Some((paused, resume)) = pause {
                // Everything before the pause is committed and visible; nothing after it
                // is written until the snapshot is taken.
                if paused.send(()).is_ok() {
                    let _ = resume.blocking_recv();
                }
            }
        }
    }

    fn commit(&mut self, ops: &mut Vec<WriteOp>) {
        if !self.healthy.load(Ordering::Relaxed) {
            for op in ops.drain(..) {
                fail(op, BusError::Storage("log failed an earlier write".into()));
            }
            return;
        }
        // Below the free-space reserve appends are refused (retryable) before the disk
        // fills: a journal write that hits ENOSPC poisons fjall for good. Offset commits
        // (a few bytes each) still go through down to half the reserve, so delivery of
        // what is stored goes on; below that they are refused too (consumers keep their
        // commit points and retry).
        if let Err((free, reserve)) = self.space.check(Duration::from_millis(100)) {
            let commits_too = free < reserve / 2;
            let mut kept = Vec::with_capacity(ops.len());
            for op in ops.drain(..) {
                let refuse = match op {
                    WriteOp::Append { .. } => true,
                    WriteOp::Commit { .. } => commits_too,
                    WriteOp::Pause { .. } => false,
                };
                if refuse {
                    self.space.refused.increment(1);
                    let e = BusError::DiskFull {
                        free_mib: free >> 20,
                        reserve_mib: reserve >> 20,
                    };
                    fail(op, e);
                } else {
                    kept.push(op);
                }
            }
            *ops = kept;
            if ops.is_empty() {
                return;
            }
        }
        let ts = now_ms();
        let mut batch = self.db.batch().durability(Some(PersistMode::SyncData));
        let mut assigned = Vec::with_capacity(ops.len());
        // Offsets assigned in this batch, so a failed commit can hand them out again.
        let mut first_assigned: HashMap<(usize, u32), u64> = HashMap::new();
        for op in ops.iter() {
            match op {
                WriteOp::Append {
                    topic,
                    partition,
                    record,
                    ..
                } => {
                    let part = &topic.partitions[*partition as usize];
                    let offset = part.next.fetch_add(1, Ordering::AcqRel);
                    first_assigned
                        .entry((Arc::as_ptr(topic) as usize, *partition))
                        .or_insert(offset);
                    let key = record_key(*partition, offset);
                    let value = encode_value(ts, &record.key, &record.payload);
                    let size = (key.len() + value.len()) as u64;
                    batch.insert(&part.keyspace, key, value);
                    assigned.push((offset, size));
                }
                WriteOp::Commit {
                    key, next_offset, ..
                } => {
                    batch.insert(&self.offsets, key.as_slice(), next_offset.to_be_bytes());
                    assigned.push((0, 0));
                }
                // Never batched (`run` handles it between commits).
                WriteOp::Pause { .. } => assigned.push((0, 0)),
            }
        }
        match batch.commit() {
            Ok(()) => {
                let mut touched: Vec<Arc<TopicState>> = Vec::new();
                for (op, (offset, size)) in ops.drain(..).zip(assigned) {
                    match op {
                        WriteOp::Append {
                            topic,
                            partition,
                            reply,
                            ..
                        } => {
                            let part = &topic.partitions[partition as usize];
                            part.durable_end.fetch_max(offset + 1, Ordering::AcqRel);
                            part.bytes.fetch_add(size, Ordering::AcqRel);
                            if !touched.iter().any(|t| Arc::ptr_eq(t, &topic)) {
                                touched.push(topic);
                            }
                            let _ = reply.send(Ok(offset));
                        }
                        WriteOp::Commit { reply, .. } => {
                            if let Some(reply) = reply {
                                let _ = reply.send(Ok(()));
                            }
                        }
                        WriteOp::Pause { .. } => {}
                    }
                }
                for t in touched {
                    t.appended.notify_waiters();
                }
            }
            Err(e) => {
                // After a failed fsync the file's state is unknown: stop taking writes
                // rather than acknowledge anything that might not be on disk.
                tracing::error!(error = %e, "log commit failed; refusing further writes");
                self.healthy.store(false, Ordering::Relaxed);
                for op in ops.drain(..) {
                    if let WriteOp::Append {
                        topic, partition, ..
                    } = &op
                    {
                        if let Some(first) =
                            first_assigned.remove(&(Arc::as_ptr(topic) as usize, *partition))
                        {
                            topic.partitions[*partition as usize]
                                .next
                                .store(first, Ordering::Release);
                        }
                    }
                    fail(op, storage(&e));
                }
            }
        }
    }
}

fn fail(op: WriteOp, e: BusError) {
    match op {
        WriteOp::Append { reply, .. } => {
            let _ = reply.send(Err(e));
        }
        WriteOp::Commit { reply, .. } => {
            if let Some(reply) = reply {
                let _ = reply.send(Err(e));
            }
        }
        WriteOp::Pause { .. } => {}
    }
}

//! Backups of the embedded log while it runs, and their restore into a new data dir.
//!
//! A backup is one point in time: the writer thread is paused between two group
//! commits (everything acknowledged before is in fjall, nothing after is), a fjall
//! snapshot and the manifest's marks are taken, and the writer goes on; the archive is
//! then written from the snapshot. Committed consumer offsets come from the same
//! snapshot, so none is ahead of the records included (they are clamped to the
//! partition's end all the same). Values are copied as stored: sealed, so an archive is
//! as unreadable without the key file as the data dir (the key is never in it).
//!
//! Archive format, version 1: `PGLOGBAK` ‖ version (u16 BE) ‖ entries. An entry is
//! kind (u8) ‖ length (u32 BE) ‖ body ‖ CRC32 (u32 BE, over kind, length and body).
//! Kinds, in this order: one header (created at, ms; what wrote it), per topic its
//! spec and partition marks followed by its records (topic index, partition, offset,
//! timestamp, key, payload), then the committed offsets (group, topic index,
//! partition, next offset), then one end entry with the counts. An archive without its
//! end entry is truncated; any checksum or order mismatch names the entry.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use fjall::{Keyspace, Readable};
use tokio::sync::oneshot;

use super::manifest::{Manifest, ManifestTopic};
use super::writer::WriteOp;
use super::{current_manifest, decode_value, record_key, storage, EmbeddedBus, TopicState};
use crate::{BackupSource, BusError};

mod archive;
mod restore;

pub use archive::verify;
pub use restore::restore;

const MAGIC: &[u8; 8] = b"PGLOGBAK";
const VERSION: u16 = 1;
/// Larger lengths are damage, not records (and must not make us allocate them).
const MAX_ENTRY: u32 = 256 << 20;
const HEADER: u8 = 1;
const TOPIC: u8 = 2;
const RECORD: u8 = 3;
const OFFSET: u8 = 4;
const END: u8 = 5;

/// What an archive holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct BackupSummary {
    pub created_at_ms: u64,
    pub topics: Vec<TopicSummary>,
    pub records: u64,
    /// Committed consumer offsets (group, topic, partition).
    pub offsets: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TopicSummary {
    pub name: String,
    pub partitions: u32,
    pub records: u64,
}

/// Why an archive was not read or restored.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Cut short, altered, or not an archive: the message names the entry.
    #[error("the backup archive is damaged: {0}")]
    Damaged(String),
    /// The target is not a place to restore into (not empty, in use).
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Io(String),
}

struct Snapshot {
    snapshot: fjall::Snapshot,
    created_at_ms: u64,
    manifest: Manifest,
    topics: Vec<Arc<TopicState>>,
    offsets: Keyspace,
}

impl EmbeddedBus {
    /// Takes the backup's instant (see the module comment).
    pub async fn snapshot_for_backup(&self) -> Result<Box<dyn BackupSource>, BusError> {
        let (paused, is_paused) = oneshot::channel();
        let (resume, resumed) = oneshot::channel::<()>();
        self.submit(WriteOp::Pause {
            paused,
            resume: resumed,
        })
        .await?;
        is_paused.await.map_err(|_| BusError::Closed)?;
        // The writer waits until `resume` is dropped (also if this future is).
        let snapshot = self.inner.db.snapshot();
        let mut manifest = current_manifest(&self.inner);
        drop(resume);
        let mut topics = Vec::with_capacity(manifest.topics.len());
        for t in &mut manifest.topics {
            let state = self.topic(&t.spec.name)?;
            t.spec.max_bytes = Some(state.max_bytes.load(Ordering::Acquire)).filter(|b| *b > 0);
            topics.push(state);
        }
        Ok(Box::new(Snapshot {
            snapshot,
            created_at_ms: crate::now_ms(),
            manifest,
            topics,
            offsets: self.inner.offsets.clone(),
        }))
    }
}

impl BackupSource for Snapshot {
    fn write_to(self: Box<Self>, out: &mut dyn Write) -> Result<BackupSummary, BusError> {
        let mut w = EntryWriter::start(out)?;
        let mut summary = BackupSummary {
            created_at_ms: self.created_at_ms,
            ..Default::default()
        };
        let mut body = Vec::new();
        put_u64(&mut body, self.created_at_ms);
        put_str(
            &mut body,
            concat!("pulsegate ", env!("CARGO_PKG_VERSION"), " embedded log"),
        );
        w.entry(HEADER, &body)?;
        for (index, (mt, topic)) in self.manifest.topics.iter().zip(&self.topics).enumerate() {
            w.entry(TOPIC, &encode_topic(mt))?;
            let mut records = 0u64;
            for (p, (mark, part)) in mt.marks.iter().zip(&topic.partitions).enumerate() {
                let p = p as u32;
                let range = record_key(p, 0)..record_key(p, mark.end);
                for kv in self.snapshot.range(&part.keyspace, range) {
                    let (k, v) = kv.into_inner().map_err(storage)?;
                    let offset = u64::from_be_bytes(k[4..12].try_into().map_err(storage)?);
                    let Some((ts, key, payload)) = decode_value(&v) else {
                        return Err(BusError::Corrupt {
                            topic: mt.spec.name.clone(),
                            partition: p,
                            offset,
                        });
                    };
                    body.clear();
                    put_u32(&mut body, index as u32);
                    put_u32(&mut body, p);
                    put_u64(&mut body, offset);
                    put_u64(&mut body, ts);
                    put_u32(&mut body, key.len() as u32);
                    body.extend_from_slice(&key);
                    body.extend_from_slice(&payload);
                    w.entry(RECORD, &body)?;
                    records += 1;
                }
            }
            summary.records += records;
            summary.topics.push(TopicSummary {
                name: mt.spec.name.clone(),
                partitions: mt.spec.partitions,
                records,
            });
        }
        for kv in self.snapshot.iter(&self.offsets) {
            let (k, v) = kv.into_inner().map_err(storage)?;
            let Some((group, topic, partition)) = split_offset_key(&k) else {
                tracing::warn!("unrecognised committed-offset key; not backed up");
                continue;
            };
            let Some(index) = self
                .manifest
                .topics
                .iter()
                .position(|t| t.spec.name == topic)
            else {
                continue;
            };
            let Some(mark) = self.manifest.topics[index].marks.get(partition as usize) else {
                continue;
            };
            let Ok(next) = <[u8; 8]>::try_from(v.as_ref()).map(u64::from_be_bytes) else {
                continue;
            };
            body.clear();
            put_str(&mut body, group);
            put_u32(&mut body, index as u32);
            put_u32(&mut body, partition);
            // Never ahead of the records included.
            put_u64(&mut body, next.min(mark.end));
            w.entry(OFFSET, &body)?;
            summary.offsets += 1;
        }
        body.clear();
        put_u32(&mut body, summary.topics.len() as u32);
        put_u64(&mut body, summary.records);
        put_u64(&mut body, summary.offsets);
        w.entry(END, &body)?;
        w.out.flush().map_err(write_error)?;
        Ok(summary)
    }
}

fn write_error(e: std::io::Error) -> BusError {
    BusError::Storage(format!("writing the backup: {e}"))
}

struct EntryWriter<'a> {
    out: &'a mut dyn Write,
}

impl<'a> EntryWriter<'a> {
    fn start(out: &'a mut dyn Write) -> Result<Self, BusError> {
        out.write_all(MAGIC).map_err(write_error)?;
        out.write_all(&VERSION.to_be_bytes()).map_err(write_error)?;
        Ok(Self { out })
    }

    fn entry(&mut self, kind: u8, body: &[u8]) -> Result<(), BusError> {
        let len = u32::try_from(body.len())
            .ok()
            .filter(|l| *l <= MAX_ENTRY)
            .ok_or_else(|| {
                BusError::Storage(format!(
                    "a record of {} bytes is too large for a backup entry",
                    body.len()
                ))
            })?;
        let mut head = [0u8; 5];
        head[0] = kind;
        head[1..].copy_from_slice(&len.to_be_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&head);
        crc.update(body);
        self.out.write_all(&head).map_err(write_error)?;
        self.out.write_all(body).map_err(write_error)?;
        self.out
            .write_all(&crc.finalize().to_be_bytes())
            .map_err(write_error)
    }
}

fn encode_topic(t: &ManifestTopic) -> Vec<u8> {
    let mut b = Vec::new();
    put_str(&mut b, &t.spec.name);
    put_u32(&mut b, t.spec.partitions);
    b.push(u8::from(t.spec.compacted));
    put_u64(&mut b, t.spec.retention.map_or(0, |d| d.as_millis() as u64));
    put_u64(&mut b, t.spec.max_bytes.unwrap_or(0));
    for m in &t.marks {
        put_u64(&mut b, m.end);
        put_u64(&mut b, m.floor);
        put_u64(&mut b, m.kept);
    }
    b
}

fn split_offset_key(k: &[u8]) -> Option<(&str, &str, u32)> {
    let (rest, partition) = k.split_at(k.len().checked_sub(4)?);
    let rest = rest.strip_suffix(&[0])?;
    let at = rest.iter().position(|b| *b == 0)?;
    let group = std::str::from_utf8(&rest[..at]).ok()?;
    let topic = std::str::from_utf8(&rest[at + 1..]).ok()?;
    Some((group, topic, u32::from_be_bytes(partition.try_into().ok()?)))
}

fn put_u32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_be_bytes());
}
fn put_u64(b: &mut Vec<u8>, v: u64) {
    b.extend_from_slice(&v.to_be_bytes());
}
fn put_str(b: &mut Vec<u8>, s: &str) {
    let s = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    b.extend_from_slice(&(s.len() as u16).to_be_bytes());
    b.extend_from_slice(s);
}

#[cfg(test)]
#[path = "backup_tests.rs"]
mod tests;

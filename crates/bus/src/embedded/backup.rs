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

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode, Readable};
use tokio::sync::oneshot;

use super::manifest::{Manifest, ManifestTopic, PartitionMark};
use super::writer::WriteOp;
use super::{
    current_manifest, decode_value, encode_spec, encode_value, offset_key, partition_keyspace_name,
    record_key, storage, EmbeddedBus, EmbeddedConfig, TopicState,
};
use crate::{BackupSource, BusError, TopicSpec};

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

/// One entry read back.
enum Entry {
    Header {
        created_at_ms: u64,
    },
    Topic(ManifestTopic),
    Record {
        topic: u32,
        partition: u32,
        offset: u64,
        ts: u64,
        key: Vec<u8>,
        payload: Vec<u8>,
    },
    Offset {
        group: String,
        topic: u32,
        partition: u32,
        next: u64,
    },
    End {
        topics: u32,
        records: u64,
        offsets: u64,
    },
}

fn kind_name(kind: u8) -> &'static str {
    match kind {
        HEADER => "header",
        TOPIC => "topic",
        RECORD => "record",
        OFFSET => "consumer offset",
        END => "end",
        _ => "unknown kind",
    }
}

/// Reads a body field by field; `None` when it is too short.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
    fn str(&mut self) -> Option<String> {
        let n = self.u16()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
}

fn parse(kind: u8, body: &[u8]) -> Option<Entry> {
    let mut f = Fields(body);
    let entry = match kind {
        HEADER => {
            let created_at_ms = f.u64()?;
            f.str()?;
            Entry::Header { created_at_ms }
        }
        TOPIC => {
            let name = f.str()?;
            let partitions = f.u32()?;
            let compacted = f.u8()? == 1;
            let retention_ms = f.u64()?;
            let max_bytes = f.u64()?;
            let mut marks = Vec::new();
            for _ in 0..partitions.min(1 << 16) {
                marks.push(PartitionMark {
                    end: f.u64()?,
                    floor: f.u64()?,
                    kept: f.u64()?,
                });
            }
            if partitions == 0 || marks.len() != partitions as usize {
                return None;
            }
            let spec = TopicSpec {
                name,
                partitions,
                compacted,
                retention: (retention_ms > 0)
                    .then(|| std::time::Duration::from_millis(retention_ms)),
                max_bytes: (max_bytes > 0).then_some(max_bytes),
            };
            Entry::Topic(ManifestTopic { spec, marks })
        }
        RECORD => {
            let (topic, partition, offset, ts) = (f.u32()?, f.u32()?, f.u64()?, f.u64()?);
            let klen = f.u32()? as usize;
            let key = f.take(klen)?.to_vec();
            let payload = f.rest().to_vec();
            Entry::Record {
                topic,
                partition,
                offset,
                ts,
                key,
                payload,
            }
        }
        OFFSET => Entry::Offset {
            group: f.str()?,
            topic: f.u32()?,
            partition: f.u32()?,
            next: f.u64()?,
        },
        END => Entry::End {
            topics: f.u32()?,
            records: f.u64()?,
            offsets: f.u64()?,
        },
        _ => return None,
    };
    f.0.is_empty().then_some(entry)
}

/// Reads an archive entry by entry, checking checksums, order and references.
struct ArchiveReader<R> {
    r: R,
    /// 1-based number of the entry being read.
    entry: u64,
    /// Byte position of the entry being read.
    at: u64,
    topics: Vec<ManifestTopic>,
    /// Per topic and partition: the last record offset seen.
    last: Vec<Vec<Option<u64>>>,
    summary: BackupSummary,
    ended: bool,
    seen_offsets: bool,
}

impl<R: Read> ArchiveReader<R> {
    fn open(mut r: R) -> Result<Self, ArchiveError> {
        let mut head = [0u8; 10];
        r.read_exact(&mut head).map_err(|e| {
            ArchiveError::Damaged(format!(
                "no archive header ({e}): not a pulsegate backup, or empty"
            ))
        })?;
        if &head[..8] != MAGIC {
            return Err(ArchiveError::Damaged(
                "not a pulsegate backup (wrong magic bytes)".into(),
            ));
        }
        let version = u16::from_be_bytes([head[8], head[9]]);
        if version != VERSION {
            return Err(ArchiveError::Damaged(format!(
                "archive format version {version}; this pulsegate reads version {VERSION}"
            )));
        }
        Ok(Self {
            r,
            entry: 0,
            at: 10,
            topics: Vec::new(),
            last: Vec::new(),
            summary: BackupSummary::default(),
            ended: false,
            seen_offsets: false,
        })
    }

    fn damaged(&self, kind: Option<u8>, what: impl std::fmt::Display) -> ArchiveError {
        let kind = kind.map_or(String::new(), |k| format!(", {}", kind_name(k)));
        ArchiveError::Damaged(format!(
            "entry {} (at byte {}{kind}): {what}",
            self.entry, self.at
        ))
    }

    /// The next entry, `None` after the end entry (which must be the last bytes).
    fn next(&mut self) -> Result<Option<Entry>, ArchiveError> {
        self.entry += 1;
        let mut head = [0u8; 5];
        match read_full(&mut self.r, &mut head) {
            Ok(0) if self.ended => return Ok(None),
            Ok(0) => {
                return Err(ArchiveError::Damaged(format!(
                    "the archive ends after entry {} without its end entry (truncated: cut short while copying or writing)",
                    self.entry - 1
                )))
            }
            Ok(5) if self.ended => return Err(self.damaged(None, "bytes after the end entry")),
            Ok(5) => {}
            Ok(_) => return Err(self.damaged(None, "the archive ends inside this entry (truncated)")),
            Err(e) => return Err(ArchiveError::Io(format!("reading the archive: {e}"))),
        }
        let kind = head[0];
        let len = u32::from_be_bytes(head[1..5].try_into().expect("4 bytes"));
        if len > MAX_ENTRY {
            return Err(self.damaged(Some(kind), format!("length {len} is not plausible")));
        }
        let mut body = vec![0u8; len as usize + 4];
        match read_full(&mut self.r, &mut body) {
            Ok(n) if n == body.len() => {}
            Ok(_) => {
                return Err(
                    self.damaged(Some(kind), "the archive ends inside this entry (truncated)")
                )
            }
            Err(e) => return Err(ArchiveError::Io(format!("reading the archive: {e}"))),
        }
        let stored = u32::from_be_bytes(body[len as usize..].try_into().expect("4 bytes"));
        body.truncate(len as usize);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&head);
        crc.update(&body);
        if crc.finalize() != stored {
            return Err(self.damaged(Some(kind), "checksum mismatch (the entry was altered)"));
        }
        let entry = parse(kind, &body).ok_or_else(|| self.damaged(Some(kind), "malformed"))?;
        self.check(kind, &entry)?;
        self.at += 5 + u64::from(len) + 4;
        Ok(Some(entry))
    }

    /// Order and references: a record after its topic, offsets increasing and below the
    /// partition's end, consumer offsets after all records, counts matching.
    fn check(&mut self, kind: u8, entry: &Entry) -> Result<(), ArchiveError> {
        let bad = |s: &Self, what: String| Err(s.damaged(Some(kind), what));
        if self.entry == 1 && !matches!(entry, Entry::Header { .. }) {
            return bad(self, "the first entry must be the header".into());
        }
        match entry {
            Entry::Header { created_at_ms } => {
                if self.entry != 1 {
                    return bad(self, "a second header".into());
                }
                self.summary.created_at_ms = *created_at_ms;
            }
            Entry::Topic(t) => {
                if self.seen_offsets || self.topics.iter().any(|x| x.spec.name == t.spec.name) {
                    return bad(self, format!("topic {} out of place", t.spec.name));
                }
                self.last.push(vec![None; t.spec.partitions as usize]);
                self.summary.topics.push(TopicSummary {
                    name: t.spec.name.clone(),
                    partitions: t.spec.partitions,
                    records: 0,
                });
                self.topics.push(t.clone());
            }
            Entry::Record {
                topic,
                partition,
                offset,
                ..
            } => {
                let (t, p) = (*topic as usize, *partition as usize);
                let Some(mark) = self.topics.get(t).and_then(|x| x.marks.get(p)).copied() else {
                    return bad(
                        self,
                        format!("record of unknown topic {topic} partition {partition}"),
                    );
                };
                let name = &self.topics[t].spec.name;
                if self.seen_offsets || t + 1 != self.topics.len() {
                    return bad(self, format!("record {name}/{p}@{offset} out of place"));
                }
                if self.last[t][p].is_some_and(|l| l >= *offset) || *offset >= mark.end {
                    return bad(self, format!("record {name}/{p}@{offset} out of order"));
                }
                self.last[t][p] = Some(*offset);
                self.summary.topics[t].records += 1;
                self.summary.records += 1;
            }
            Entry::Offset {
                group,
                topic,
                partition,
                next,
            } => {
                let Some(mark) = self
                    .topics
                    .get(*topic as usize)
                    .and_then(|x| x.marks.get(*partition as usize))
                else {
                    return bad(self, format!("offset of group {group} on an unknown topic"));
                };
                if *next > mark.end {
                    return bad(
                        self,
                        format!("offset of group {group} beyond its partition's end"),
                    );
                }
                self.seen_offsets = true;
                self.summary.offsets += 1;
            }
            Entry::End {
                topics,
                records,
                offsets,
            } => {
                let s = &self.summary;
                if (*topics as usize, *records, *offsets) != (s.topics.len(), s.records, s.offsets)
                {
                    return bad(self, format!(
                        "counts differ: {topics} topics, {records} records, {offsets} offsets announced; {} {} {} read",
                        s.topics.len(), s.records, s.offsets
                    ));
                }
                // Each partition must end where the manifest says a start will look.
                for (t, last) in self.topics.iter().zip(&self.last) {
                    for (p, (mark, last)) in t.marks.iter().zip(last).enumerate() {
                        let end = last.map_or(0, |o| o + 1).max(mark.floor);
                        if end < mark.required_end() {
                            return bad(
                                self,
                                format!(
                                    "topic {} partition {p}: records end at {end}, the marks at {}",
                                    t.spec.name,
                                    mark.required_end()
                                ),
                            );
                        }
                    }
                }
                self.ended = true;
            }
        }
        Ok(())
    }
}

/// Like `read_exact`, but says how much it read before the end (0: a clean end).
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads a whole archive, checking every entry; what it holds.
pub fn verify(archive: impl Read) -> Result<BackupSummary, ArchiveError> {
    let mut reader = ArchiveReader::open(archive)?;
    while reader.next()?.is_some() {}
    Ok(reader.summary)
}

/// Rebuilds `config.data_dir` from an archive, offline. Refused when the directory
/// exists and is not empty (a running pulsegate's data dir never is). The log is built
/// in a temporary directory beside it and renamed into place only once the whole
/// archive was read and checked, so a damaged archive leaves nothing behind.
pub fn restore(archive: impl Read, config: &EmbeddedConfig) -> Result<BackupSummary, ArchiveError> {
    let dir = config.data_dir.clone();
    refuse_unless_empty(&dir)?;
    let name = dir
        .file_name()
        .ok_or_else(|| ArchiveError::Refused(format!("{} is not a directory name", dir.display())))?
        .to_string_lossy()
        .into_owned();
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| io_error(&parent, e))?;
    let tmp = parent.join(format!(
        ".{name}.restore-{}-{}",
        std::process::id(),
        crate::now_ms()
    ));
    std::fs::create_dir(&tmp).map_err(|e| io_error(&tmp, e))?;
    let built = build(archive, &tmp, config).and_then(|summary| {
        fsync_dir(&tmp)?;
        // Onto a missing or empty directory only: rename(2) refuses a non-empty one.
        std::fs::rename(&tmp, &dir).map_err(|e| {
            ArchiveError::Refused(format!(
                "cannot move the restored log into {} ({e}); did something write there meanwhile?",
                dir.display()
            ))
        })?;
        fsync_dir(&parent)?;
        Ok(summary)
    });
    if built.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    built
}

fn io_error(path: &Path, e: std::io::Error) -> ArchiveError {
    ArchiveError::Io(format!("{}: {e}", path.display()))
}

fn fsync_dir(dir: &Path) -> Result<(), ArchiveError> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_error(dir, e))
}

fn refuse_unless_empty(dir: &Path) -> Result<(), ArchiveError> {
    let mut entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error(dir, e)),
    };
    if entries.next().is_none() {
        return Ok(());
    }
    let lock = dir.join("lock");
    let held = std::fs::File::open(&lock).is_ok_and(|f| {
        rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockShared).is_err()
    });
    let why = if held {
        "a running pulsegate holds it"
    } else {
        "it is not empty"
    };
    Err(ArchiveError::Refused(format!(
        "refusing to restore into {}: {why}. Restore into a new or empty data directory \
         (stop pulsegate and move the old one aside first)",
        dir.display()
    )))
}

/// Writes the archive's log into `dir` (a fresh fjall database and manifest).
fn build(
    archive: impl Read,
    dir: &Path,
    config: &EmbeddedConfig,
) -> Result<BackupSummary, ArchiveError> {
    let mut reader = ArchiveReader::open(archive)?;
    let fail = |e: fjall::Error| ArchiveError::Io(format!("writing the restored log: {e}"));
    let db = Database::builder(dir)
        .cache_size(config.cache_bytes)
        .worker_threads(1)
        .manual_journal_persist(true)
        .max_journaling_size(config.journal_bytes.max(64 * 1024 * 1024))
        .open()
        .map_err(fail)?;
    let offsets = db
        .keyspace("_offsets", KeyspaceCreateOptions::default)
        .map_err(fail)?;
    let meta = db
        .keyspace("_topics", KeyspaceCreateOptions::default)
        .map_err(fail)?;
    let mut partitions: Vec<Vec<Keyspace>> = Vec::new();
    let mut batch = db.batch();
    let mut batch_bytes = 0usize;
    while let Some(entry) = reader.next()? {
        match entry {
            Entry::Header { .. } | Entry::End { .. } => {}
            Entry::Topic(t) => {
                batch.insert(&meta, t.spec.name.as_str(), encode_spec(&t.spec));
                let mut ks = Vec::new();
                for p in 0..t.spec.partitions {
                    let name = partition_keyspace_name(&t.spec.name, p);
                    ks.push(
                        db.keyspace(&name, || {
                            KeyspaceCreateOptions::default()
                                .max_memtable_size(config.memtable_bytes)
                        })
                        .map_err(fail)?,
                    );
                }
                partitions.push(ks);
            }
            Entry::Record {
                topic,
                partition,
                offset,
                ts,
                key,
                payload,
            } => {
                let value = encode_value(ts, &key, &payload);
                batch_bytes += value.len() + 12;
                batch.insert(
                    &partitions[topic as usize][partition as usize],
                    record_key(partition, offset),
                    value,
                );
            }
            Entry::Offset {
                group,
                topic,
                partition,
                next,
            } => {
                let name = &reader.topics[topic as usize].spec.name;
                batch.insert(
                    &offsets,
                    offset_key(&group, name, partition),
                    next.to_be_bytes(),
                );
                batch_bytes += 64;
            }
        }
        if batch.len() >= 10_000 || batch_bytes >= 32 << 20 {
            std::mem::replace(&mut batch, db.batch())
                .commit()
                .map_err(fail)?;
            batch_bytes = 0;
        }
    }
    batch.commit().map_err(fail)?;
    db.persist(PersistMode::SyncAll).map_err(fail)?;
    // Into tables now, so the first start does not replay it all from the journal.
    for ks in partitions.iter().flatten().chain([&offsets, &meta]) {
        ks.rotate_memtable_and_wait().map_err(fail)?;
    }
    drop((partitions, offsets, meta));
    drop(db);
    let manifest = Manifest {
        topics: reader.topics.clone(),
    };
    manifest.store(dir).map_err(|e| io_error(dir, e))?;
    Ok(reader.summary)
}

#[cfg(test)]
#[path = "backup_tests.rs"]
mod tests;

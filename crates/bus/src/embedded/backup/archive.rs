//! Reading an archive back: entry by entry, checking checksums, order and counts.

use std::io::Read;

use super::{
    ArchiveError, BackupSummary, TopicSummary, END, HEADER, MAGIC, MAX_ENTRY, OFFSET, RECORD,
    TOPIC, VERSION,
};
use crate::embedded::manifest::{ManifestTopic, PartitionMark};
use crate::TopicSpec;

/// One entry read back.
pub(super) enum Entry {
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
pub(super) struct ArchiveReader<R> {
    r: R,
    /// 1-based number of the entry being read.
    entry: u64,
    /// Byte position of the entry being read.
    at: u64,
    pub(super) topics: Vec<ManifestTopic>,
    /// Per topic and partition: the last record offset seen.
    last: Vec<Vec<Option<u64>>>,
    pub(super) summary: BackupSummary,
    ended: bool,
    seen_offsets: bool,
}

impl<R: Read> ArchiveReader<R> {
    pub(super) fn open(mut r: R) -> Result<Self, ArchiveError> {
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
    pub(super) fn next(&mut self) -> Result<Option<Entry>, ArchiveError> {
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

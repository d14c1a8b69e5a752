//! The manifest: a small file beside fjall's that says what a start must find.
//!
//! It lists every topic (with its spec) and, per partition, the end offset known to be
//! durable. It is rewritten atomically (temp file, fsync, rename, fsync of the
//! directory) at most once a second by a background thread, never on the append path,
//! so it may lag the log by about a second but never runs ahead of it. At start, a
//! partition whose recovered records end before its manifest end, or a listed topic or
//! partition that is gone, means records that were acknowledged are lost: fjall
//! recovers silently from a cut journal (it keeps the valid prefix), so without this
//! file a damaged data dir would start with data quietly missing.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{BusError, TopicSpec};

pub(crate) const FILE: &str = "pulsegate-manifest";
const HEADER: &str = "pulsegate-log-manifest v1";

/// Where one partition stood when the manifest was written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PartitionMark {
    /// Records below this offset were acknowledged (fsynced).
    pub end: u64,
    /// After an accepted loss: offsets below this are never handed out again.
    pub floor: u64,
    /// After an accepted loss: where the surviving records ended (what a start must
    /// still find while nothing was appended above `floor`).
    pub kept: u64,
}

impl PartitionMark {
    /// The end a start must find at least.
    pub fn required_end(&self) -> u64 {
        if self.end > self.floor {
            self.end
        } else {
            self.kept
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ManifestTopic {
    pub spec: TopicSpec,
    pub marks: Vec<PartitionMark>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub topics: Vec<ManifestTopic>,
}

impl Manifest {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(FILE)
    }

    pub fn encode(&self) -> String {
        let mut s = format!("{HEADER}\n");
        for t in &self.topics {
            let marks: Vec<String> = t
                .marks
                .iter()
                .map(|m| format!("{}/{}/{}", m.end, m.floor, m.kept))
                .collect();
            let _ = writeln!(
                s,
                "topic {} partitions={} compacted={} retention_ms={} marks={}",
                t.spec.name,
                t.spec.partitions,
                u8::from(t.spec.compacted),
                t.spec.retention.map_or(0, |d| d.as_millis() as u64),
                marks.join(",")
            );
        }
        s
    }

    pub fn decode(text: &str) -> Result<Self, String> {
        let mut lines = text.lines();
        match lines.next() {
            Some(HEADER) => {}
            Some(other) => return Err(format!("unknown manifest format {other:?}")),
            None => return Err("empty manifest".into()),
        }
        let mut topics = Vec::new();
        for line in lines.filter(|l| !l.trim().is_empty()) {
            let mut words = line.split_ascii_whitespace();
            if words.next() != Some("topic") {
                return Err(format!("unexpected line {line:?}"));
            }
            let name = words.next().ok_or("topic without a name")?.to_string();
            let mut field = |key: &str| -> Result<String, String> {
                let w = words
                    .next()
                    .ok_or_else(|| format!("topic {name}: no {key}"))?;
                w.strip_prefix(key)
                    .and_then(|w| w.strip_prefix('='))
                    .map(str::to_string)
                    .ok_or_else(|| format!("topic {name}: expected {key}=, got {w:?}"))
            };
            let num = |v: String| v.parse::<u64>().map_err(|e| format!("{v:?}: {e}"));
            let partitions = num(field("partitions")?)?;
            let compacted = num(field("compacted")?)? == 1;
            let retention_ms = num(field("retention_ms")?)?;
            let marks_text = field("marks")?;
            let mut marks = Vec::new();
            for m in marks_text.split(',').filter(|m| !m.is_empty()) {
                let parts: Vec<&str> = m.split('/').collect();
                let [end, floor, kept] = parts[..] else {
                    return Err(format!("topic {name}: bad mark {m:?}"));
                };
                marks.push(PartitionMark {
                    end: num(end.into())?,
                    floor: num(floor.into())?,
                    kept: num(kept.into())?,
                });
            }
            let partitions = u32::try_from(partitions).map_err(|e| e.to_string())?;
            if marks.len() != partitions as usize {
                return Err(format!(
                    "topic {name}: {} marks for {partitions} partitions",
                    marks.len()
                ));
            }
            topics.push(ManifestTopic {
                spec: TopicSpec {
                    name,
                    partitions,
                    compacted,
                    retention: (retention_ms > 0).then(|| Duration::from_millis(retention_ms)),
                    // The manifest lists topics to detect losses; the log's own stored
                    // spec (or the next `ensure_topic`) carries the byte bound.
                    max_bytes: None,
                },
                marks,
            });
        }
        Ok(Self { topics })
    }

    /// `None` when the data dir has no manifest yet (new, or from before manifests).
    pub fn load(dir: &Path) -> Result<Option<Self>, BusError> {
        let path = Self::path(dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(BusError::Storage(format!(
                    "cannot read {}: {e}",
                    path.display()
                )))
            }
        };
        Self::decode(&text).map(Some).map_err(|e| {
            BusError::DataLoss(format!(
                "{} is damaged ({e}); restore the data directory from a backup, or delete \
                 this file to start without the check for lost records",
                path.display()
            ))
        })
    }

    /// Replaces the manifest atomically and durably.
    pub fn store(&self, dir: &Path) -> std::io::Result<()> {
        let path = Self::path(dir);
        let tmp = dir.join(format!("{FILE}.tmp"));
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(self.encode().as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(dir)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let m = Manifest {
            topics: vec![ManifestTopic {
                spec: TopicSpec::new("raw", 2).retention(Some(Duration::from_secs(60))),
                marks: vec![
                    PartitionMark {
                        end: 5,
                        floor: 0,
                        kept: 0,
                    },
                    PartitionMark {
                        end: 9,
                        floor: 9,
                        kept: 3,
                    },
                ],
            }],
        };
        assert_eq!(Manifest::decode(&m.encode()).unwrap(), m);
        assert!(Manifest::decode("").is_err());
        assert!(Manifest::decode("pulsegate-log-manifest v1\ntopic raw partitions=2").is_err());
        assert!(Manifest::decode(&m.encode().replace("9/9/3", "9/9")).is_err());
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(text in ".{0,200}") {
            let _ = Manifest::decode(&format!("{HEADER}\n{text}"));
        }
    }
}

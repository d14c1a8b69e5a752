//! Noticing damage at start: repaired torn tails are logged, lost records refuse the
//! start (or, with [`Recovery::AcceptLoss`], are logged and skipped over).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Weak;
use std::time::Duration;

use super::manifest::{Manifest, ManifestTopic, PartitionMark};
use super::{encode_spec, partition_keyspace_name, storage, EmbeddedBus, Inner, Recovery};
use crate::BusError;

/// fjall's journal files (`<n>.jnl`) and the length of their written data, taken before
/// fjall opens the directory (fjall cuts a torn tail off while it recovers). fjall
/// preallocates journals (64 MiB, sparse) and cuts the unused zeros at every start, so
/// the data ends at the last non-zero byte, not at the file's length.
pub(crate) struct Snapshot {
    pub had_db: bool,
    journals: Vec<(PathBuf, u64)>,
}

impl Snapshot {
    pub fn take(dir: &Path) -> Self {
        Self {
            had_db: dir.join("version").exists() || dir.join("keyspaces").exists(),
            journals: journals(dir),
        }
    }

    pub fn journal_names(&self) -> String {
        if self.journals.is_empty() {
            return "none found".into();
        }
        let names: Vec<String> = self
            .journals
            .iter()
            .map(|(p, _)| p.display().to_string())
            .collect();
        names.join(", ")
    }

    /// Logs every journal fjall shortened while recovering (an unfinished write at the
    /// moment of a crash: never acknowledged, since appends resolve only after the
    /// fsync). Returns the bytes removed.
    pub fn report_repairs(&self, dir: &Path) -> u64 {
        let after = journals(dir);
        let mut removed = 0;
        for (path, size) in &self.journals {
            if let Some((_, now)) = after.iter().find(|(p, _)| p == path) {
                let now = &data_len(path).unwrap_or(*now).min(*now);
                if now < size {
                    removed += size - now;
                    tracing::warn!(journal = %path.display(), bytes = size - now,
                        "repaired a torn journal tail: removed {} bytes of a write that never completed", size - now);
                }
            }
        }
        removed
    }
}

fn journals(dir: &Path) -> Vec<(PathBuf, u64)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, u64)> = entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "jnl"))
        .filter_map(|e| Some((e.path(), data_len(&e.path()).ok()?)))
        .collect();
    out.sort();
    out
}

impl EmbeddedBus {
    /// Partition keyspaces the manifest lists that fjall no longer has (checked before
    /// recovery, which would create them empty).
    pub(super) fn missing_keyspaces(&self, manifest: Option<&Manifest>) -> HashSet<String> {
        let mut missing = HashSet::new();
        for t in manifest.map_or(&[][..], |m| &m.topics[..]) {
            for p in 0..t.spec.partitions {
                let name = partition_keyspace_name(&t.spec.name, p);
                if !self.inner.db.keyspace_exists(&name) {
                    missing.insert(name);
                }
            }
        }
        missing
    }

    /// Compares what recovery found with the manifest: records acknowledged earlier
    /// that are gone refuse the start, or with `AcceptLoss` are logged and their
    /// offsets never reused.
    pub(super) fn check_losses(
        &self,
        manifest: Option<&Manifest>,
        missing_keyspaces: &HashSet<String>,
        before: &Snapshot,
        recovery: Recovery,
    ) -> Result<(), BusError> {
        let dir = &self.inner.data_dir;
        let Some(manifest) = manifest else {
            if before.had_db {
                tracing::info!(dir = %dir.display(), "no manifest yet (data dir from an earlier version); writing one");
            }
            return Ok(());
        };
        // A topic whose spec is gone (it lived in the lost part of the journal) is
        // restored from the manifest; whether its records survived is checked below.
        for mt in &manifest.topics {
            if self.topic(&mt.spec.name).is_err() {
                tracing::warn!(topic = %mt.spec.name, "topic spec missing from the log; restored from the manifest");
                self.inner
                    .meta
                    .insert(mt.spec.name.as_str(), encode_spec(&mt.spec))
                    .map_err(storage)?;
                self.inner
                    .db
                    .persist(fjall::PersistMode::SyncAll)
                    .map_err(storage)?;
                self.open_topic(mt.spec.clone())?;
            }
        }
        let mut losses = Vec::new();
        let mut lost_total = 0u64;
        for mt in &manifest.topics {
            let topic = self.topic(&mt.spec.name)?;
            for (p, mark) in mt.marks.iter().enumerate() {
                let required = mark.required_end();
                let ks = partition_keyspace_name(&mt.spec.name, p as u32);
                let end = topic
                    .partitions
                    .get(p)
                    .map_or(0, |x| x.durable_end.load(Ordering::Acquire));
                if missing_keyspaces.contains(&ks) && required > 0 {
                    losses.push(format!(
                        "keyspace {ks} (topic {} partition {p}) is missing from {}",
                        mt.spec.name,
                        dir.join("keyspaces").display()
                    ));
                }
                if end < required {
                    lost_total += required - end;
                    losses.push(format!(
                        "topic {} partition {p}: records end at offset {end}, but {required} were acknowledged ({} lost)",
                        mt.spec.name,
                        required - end
                    ));
                }
            }
        }
        if !losses.is_empty() {
            self.refuse_or_log(&losses, lost_total, before, recovery)?;
        }
        self.apply_marks(manifest)
    }

    fn refuse_or_log(
        &self,
        losses: &[String],
        lost_total: u64,
        before: &Snapshot,
        recovery: Recovery,
    ) -> Result<(), BusError> {
        let dir = &self.inner.data_dir;
        let what = format!(
            "the log in {} lost records it had acknowledged:\n  - {}\n(journal files: {}; the journal was cut, removed or corrupted, or files under {} are missing)",
            dir.display(),
            losses.join("\n  - "),
            before.journal_names(),
            dir.join("keyspaces").display()
        );
        if recovery == Recovery::Refuse {
            return Err(BusError::DataLoss(format!(
                "refusing to start: {what}\nStop pulsegate and restore {} from a backup; or, to go on \
                 without the lost records, start once with --accept-data-loss \
                 (config bus.recovery = \"accept-loss\", env PULSEGATE_BUS__RECOVERY=accept-loss).",
                dir.display()
            )));
        }
        tracing::error!(
            lost_records = lost_total,
            "DATA LOSS ACCEPTED (--accept-data-loss): {what}"
        );
        Ok(())
    }

    /// Keeps every partition's next offset above what was acknowledged (consumers may
    /// have committed past it), also after an earlier accepted loss.
    fn apply_marks(&self, manifest: &Manifest) -> Result<(), BusError> {
        for mt in &manifest.topics {
            let topic = self.topic(&mt.spec.name)?;
            for (part, mark) in topic.partitions.iter().zip(&mt.marks) {
                let end = part.durable_end.load(Ordering::Acquire);
                let required = mark.required_end();
                if end < required || end < mark.floor {
                    let floor = mark.end.max(mark.floor);
                    let kept = if end < required { end } else { mark.kept };
                    part.floor.store(floor, Ordering::Release);
                    part.kept.store(kept, Ordering::Release);
                    part.next.store(floor.max(end), Ordering::Release);
                    part.durable_end.store(floor.max(end), Ordering::Release);
                }
            }
        }
        Ok(())
    }
}

/// Where every topic stands now, as the manifest records it.
pub(crate) fn current_manifest(inner: &Inner) -> Manifest {
    let topics = inner.topics.read().expect("topics lock");
    let mut out: Vec<ManifestTopic> = topics
        .values()
        .map(|t| ManifestTopic {
            spec: t.spec.clone(),
            marks: t
                .partitions
                .iter()
                .map(|p| PartitionMark {
                    end: p.durable_end.load(Ordering::Acquire),
                    floor: p.floor.load(Ordering::Acquire),
                    kept: p.kept.load(Ordering::Acquire),
                })
                .collect(),
        })
        .collect();
    out.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
    Manifest { topics: out }
}

pub(crate) fn store_manifest(inner: &Inner, manifest: &Manifest) -> Result<(), BusError> {
    let _guard = inner
        .manifest_lock
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    manifest.store(&inner.data_dir).map_err(|e| {
        BusError::Storage(format!(
            "cannot write {}: {e}",
            Manifest::path(&inner.data_dir).display()
        ))
    })
}

/// Rewrites the manifest at most once a second while it changes, off the append path.
pub(crate) fn spawn_persister(inner: Weak<Inner>) {
    let spawned = std::thread::Builder::new()
        .name("pulsegate-log-manifest".into())
        .spawn(move || {
            let mut last = None;
            let mut failing = false;
            loop {
                std::thread::sleep(Duration::from_secs(1));
                let Some(inner) = inner.upgrade() else { return };
                let now = current_manifest(&inner);
                if last.as_ref() == Some(&now) {
                    continue;
                }
                match store_manifest(&inner, &now) {
                    Ok(()) => {
                        if failing {
                            tracing::info!("log manifest written again");
                        }
                        failing = false;
                        last = Some(now);
                    }
                    Err(e) => {
                        if !failing {
                            tracing::warn!(error = %e, "cannot update the log manifest; retrying");
                        }
                        failing = true;
                    }
                }
                drop(inner);
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the log manifest thread");
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // A clean stop leaves the manifest exact; a refused start leaves it untouched
        // (so the next start refuses too).
        if self.checked.load(Ordering::Acquire) {
            let _ = store_manifest(self, &current_manifest(self));
        }
    }
}

/// Offset after the last non-zero byte: where the written part of a preallocated
/// journal ends. Reads backwards; the zeros are sparse, so this is cheap.
fn data_len(path: &Path) -> std::io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(path)?;
    let mut end = f.metadata()?.len();
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        f.read_exact_at(chunk, start)?;
        if let Some(i) = chunk.iter().rposition(|&b| b != 0) {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

//! Restoring an archive into a new data dir, offline.

use std::io::Read;
use std::path::{Path, PathBuf};

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use super::archive::{ArchiveReader, Entry};
use super::{ArchiveError, BackupSummary};
use crate::embedded::manifest::Manifest;
use crate::embedded::{
    encode_spec, encode_value, offset_key, partition_keyspace_name, partition_options, record_key,
    EmbeddedConfig,
};

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
                        db.keyspace(&name, || partition_options(config.memtable_bytes))
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

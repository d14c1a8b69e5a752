//! Compaction of compacted topics: a key's superseded records are removed, so a value
//! that was overwritten (a user's erased data key, a rotated token, start-up barrier
//! markers) leaves the log instead of staying on disk for good.
//!
//! Readers skip the holes (they read offset ranges; a partition's last record is always
//! the last of its key, so it is never removed and offsets are never reused). Removal
//! is a weak tombstone per record; the partition's write buffer is then flushed and its
//! tables compacted into one, so the removed values leave the tables too: the replaced
//! table files are deleted at the next write-buffer flush of any keyspace, which is why
//! a pass ends by flushing its progress mark. What remains is the journal (`*.jnl`),
//! shared by all partitions: it is deleted once every partition with data in it has
//! flushed, which fjall forces once the journals exceed `bus.journal_mib` (a new
//! journal file starts every 64 MiB of writes).
//!
//! (fjall 3.1's `rotate_memtable_and_wait` and `major_compact` are hidden from its docs
//! but public; the version is pinned in Cargo.lock and the test in `tests.rs` checks
//! the table files.)

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use fjall::Keyspace;

use super::{decode_value, partition_keyspace_name, record_key, TopicState};

/// One pass over a compacted topic; returns how many records it removed. A partition
/// with no appends since its last pass is skipped. `marks` keeps each partition's
/// progress (the end offset a pass covered), so a restart need not scan again.
pub(crate) fn apply(topic: &TopicState, marks: &Keyspace) -> u64 {
    let mut removed_total = 0;
    for (p, part) in topic.partitions.iter().enumerate() {
        let end = part.durable_end.load(Ordering::Acquire);
        if part.compacted_to.load(Ordering::Acquire) == end {
            continue;
        }
        let start = part.start.load(Ordering::Acquire);
        let mut last: HashMap<Bytes, u64> = HashMap::new();
        let mut superseded = Vec::new();
        let mut complete = true;
        for kv in part
            .keyspace
            .range(record_key(p as u32, start)..record_key(p as u32, end))
        {
            let Ok((k, v)) = kv.into_inner() else {
                complete = false;
                break;
            };
            let Ok(offset) = k[4..12].try_into().map(u64::from_be_bytes) else {
                continue;
            };
            // A damaged record stays for its reader to report; a keyless one has no
            // successor.
            let Some((_, key, _)) = decode_value(&v) else {
                continue;
            };
            if key.is_empty() {
                continue;
            }
            if let Some(previous) = last.insert(key, offset) {
                superseded.push(previous);
            }
        }
        let mut removed = 0u64;
        for offset in superseded {
            if part
                .keyspace
                .remove_weak(record_key(p as u32, offset).to_vec())
                .is_err()
            {
                complete = false;
                break;
            }
            removed += 1;
        }
        if removed > 0 {
            // Out of the write buffer into a table, then one table without them.
            let flushed = part
                .keyspace
                .rotate_memtable_and_wait()
                .and_then(|()| part.keyspace.major_compact());
            if let Err(e) = flushed {
                tracing::warn!(topic = %topic.name, partition = p, error = %e,
                    "compaction removed records but could not rewrite the tables yet");
                complete = false;
            }
            metrics::counter!("pulsegate_bus_compaction_removed_total", "topic" => topic.name.to_string())
                .increment(removed);
            removed_total += removed;
        }
        if complete {
            part.compacted_to.store(end, Ordering::Release);
            let mark = partition_keyspace_name(&topic.name, p as u32);
            let stored = marks.insert(mark, end.to_be_bytes());
            // Flushing the mark also lets fjall delete the table files compaction
            // replaced (it frees old table versions at every flush).
            if let Err(e) = stored.and_then(|()| marks.rotate_memtable_and_wait()) {
                tracing::warn!(topic = %topic.name, partition = p, error = %e,
                    "compaction progress not stored; the next start scans again");
            }
        }
    }
    removed_total
}

/// The end offset the last pass over this partition covered (0 if none).
pub(crate) fn mark(marks: &Keyspace, topic: &str, partition: u32) -> u64 {
    marks
        .get(partition_keyspace_name(topic, partition))
        .ok()
        .flatten()
        .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
        .unwrap_or(0)
}

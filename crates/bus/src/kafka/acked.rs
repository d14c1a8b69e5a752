//! The offsets the broker acknowledged to this process, per partition, to catch an
//! acknowledgement that cannot describe a stored record.
//!
//! A partition leader gives every record its own offset, so two of our records
//! acknowledged at the same offset means one of them is not in the log. tansu's S3
//! engine does this after a restart: a retried batch whose first attempt it lost is
//! answered `DuplicateSequenceNumber` (success to an idempotent producer) with an offset
//! another record already holds, and the record is never stored (chaos run B2, traced
//! in README "Chaos"). Such an append is reported as failed instead, so ingest answers
//! 503 and the provider sends the notification again: a duplicate at worst, never a
//! loss. Only what this process was acknowledged is known; that covers it, as the
//! duplicate answer goes to the producer that retried.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// Most disjoint runs of acknowledged offsets kept per partition (the lowest go first).
/// One ingest process appending alone keeps one run; each other writer of the partition
/// splits it.
const MAX_RUNS: usize = 1024;

#[derive(Default)]
pub(crate) struct AckedOffsets {
    /// topic → partition → runs (by topic first, so a lookup borrows the name).
    partitions: Mutex<HashMap<String, HashMap<u32, Runs>>>,
}

impl AckedOffsets {
    /// Records an acknowledgement; false if `offset` of that partition was acknowledged
    /// to this process before (for another record). Then everything known from that
    /// offset up is forgotten: a log truncated or recreated by the broker gives offsets
    /// out again from below, and only this first one is refused.
    pub(crate) fn first_ack(&self, topic: &str, partition: u32, offset: u64) -> bool {
        let mut partitions = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        if !partitions.contains_key(topic) {
            partitions.insert(topic.to_string(), HashMap::new());
        }
        let runs = partitions
            .get_mut(topic)
            .expect("inserted above")
            .entry(partition)
            .or_default();
        if runs.contains(offset) {
            runs.forget_from(offset);
            return false;
        }
        runs.insert(offset);
        true
    }
}

/// Disjoint runs of offsets: start → end (exclusive).
#[derive(Default)]
struct Runs(BTreeMap<u64, u64>);

impl Runs {
    fn contains(&self, offset: u64) -> bool {
        self.0
            .range(..=offset)
            .next_back()
            .is_some_and(|(_, &end)| offset < end)
    }

    fn insert(&mut self, offset: u64) {
        let before = self.0.range(..=offset).next_back().map(|(&s, &e)| (s, e));
        let after_start = offset + 1;
        let after_end = self.0.get(&after_start).copied();
        match (before, after_end) {
            // Fills the gap between two runs.
            (Some((s, e)), Some(end)) if e == offset => {
                self.0.remove(&after_start);
                self.0.insert(s, end);
            }
            (Some((s, e)), None) if e == offset => {
                self.0.insert(s, offset + 1);
            }
            (_, Some(end)) => {
                self.0.remove(&after_start);
                self.0.insert(offset, end);
            }
            _ => {
                self.0.insert(offset, offset + 1);
            }
        }
        while self.0.len() > MAX_RUNS {
            self.0.pop_first();
        }
    }

    /// Drops every offset at or above `offset`.
    fn forget_from(&mut self, offset: u64) {
        let _ = self.0.split_off(&offset);
        if let Some(end) = self.0.values_mut().next_back() {
            *end = (*end).min(offset);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_offset_is_acknowledged_once() {
        let acked = AckedOffsets::default();
        for o in [3, 1, 2, 0, 7, 5, 6] {
            assert!(acked.first_ack("raw", 0, o), "{o}");
        }
        // Another partition or topic is another log.
        assert!(acked.first_ack("raw", 1, 3));
        assert!(acked.first_ack("events", 0, 3));
        // Offset 0 again (the broker's duplicate answer): refused.
        assert!(!acked.first_ack("raw", 0, 0));
    }

    #[test]
    fn after_a_reset_only_the_first_reused_offset_is_refused() {
        let acked = AckedOffsets::default();
        for o in 0..100 {
            assert!(acked.first_ack("raw", 2, o));
        }
        // The log starts again from 10 (truncated, or the topic recreated).
        assert!(!acked.first_ack("raw", 2, 10));
        for o in 11..200 {
            assert!(acked.first_ack("raw", 2, o), "{o}");
        }
        // Below the reset point is still known.
        assert!(!acked.first_ack("raw", 2, 9));
    }

    #[test]
    fn runs_merge_and_stay_bounded() {
        let mut runs = Runs::default();
        for o in [5, 7, 6, 4, 9] {
            runs.insert(o);
        }
        assert_eq!(
            runs.0.iter().map(|(&s, &e)| (s, e)).collect::<Vec<_>>(),
            vec![(4, 8), (9, 10)]
        );
        runs.forget_from(6);
        assert_eq!(
            runs.0.iter().map(|(&s, &e)| (s, e)).collect::<Vec<_>>(),
            vec![(4, 6)]
        );
        let mut sparse = Runs::default();
        for o in 0..(MAX_RUNS as u64 + 10) {
            sparse.insert(o * 2);
        }
        assert_eq!(sparse.0.len(), MAX_RUNS);
        assert!(!sparse.contains(0) && sparse.contains(2 * (MAX_RUNS as u64 + 9)));
    }

    proptest::proptest! {
        /// Whatever the order, every distinct offset is accepted once and a repeat is
        /// refused: the runs describe exactly the set of offsets seen.
        #[test]
        fn runs_hold_exactly_the_offsets_seen(offsets in proptest::collection::vec(0u64..200, 0..300)) {
            let mut runs = Runs::default();
            let mut seen = std::collections::BTreeSet::new();
            for o in offsets {
                proptest::prop_assert_eq!(runs.contains(o), seen.contains(&o));
                if !seen.contains(&o) {
                    runs.insert(o);
                    seen.insert(o);
                }
            }
            for o in 0..201 {
                proptest::prop_assert_eq!(runs.contains(o), seen.contains(&o));
            }
        }
    }
}

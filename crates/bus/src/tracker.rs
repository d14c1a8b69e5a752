use std::collections::{HashMap, VecDeque};

/// Tracks records handed out for concurrent processing and tells which offsets may be
/// committed: per partition, everything below the oldest record still in flight.
///
/// Processing may finish out of order; the commit point only moves over a contiguous
/// run of finished records, so a crash redelivers unfinished work (at-least-once).
#[derive(Default, Debug)]
pub struct OffsetTracker {
    partitions: HashMap<u32, PartitionTrack>,
}

#[derive(Default, Debug)]
struct PartitionTrack {
    /// (offset, done) in hand-out order; offsets strictly increase.
    pending: VecDeque<(u64, bool)>,
    /// Next offset to commit that has not been returned by `take_commits` yet.
    ready: Option<u64>,
}

impl OffsetTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a record handed out for processing.
    pub fn track(&mut self, partition: u32, offset: u64) {
        let track = self.partitions.entry(partition).or_default();
        debug_assert!(track.pending.back().is_none_or(|(o, _)| *o < offset));
        track.pending.push_back((offset, false));
    }

    /// Marks a tracked record finished. Unknown offsets are ignored.
    pub fn complete(&mut self, partition: u32, offset: u64) {
        let Some(track) = self.partitions.get_mut(&partition) else {
            return;
        };
        if let Ok(i) = track.pending.binary_search_by_key(&offset, |(o, _)| *o) {
            track.pending[i].1 = true;
        }
        while let Some((o, true)) = track.pending.front().copied() {
            track.pending.pop_front();
            track.ready = Some(o + 1);
        }
    }

    /// Number of records handed out and not yet finished.
    pub fn in_flight(&self) -> usize {
        self.partitions
            .values()
            .map(|t| t.pending.iter().filter(|(_, done)| !done).count())
            .sum()
    }

    /// The commit points that moved since the last call: `(partition, next_offset)`.
    pub fn take_commits(&mut self) -> Vec<(u32, u64)> {
        let mut out = Vec::new();
        for (p, track) in &mut self.partitions {
            if let Some(next) = track.ready.take() {
                out.push((*p, next));
            }
        }
        out.sort_unstable();
        out
    }

    /// Puts back commit points whose commit failed, so the next `take_commits` returns
    /// them again (unless a later point superseded them meanwhile).
    pub fn restore(&mut self, commits: &[(u32, u64)]) {
        for &(p, next) in commits {
            if let Some(track) = self.partitions.get_mut(&p) {
                track.ready = Some(track.ready.map_or(next, |r| r.max(next)));
            }
        }
    }

    /// Forgets a partition (after a rebalance took it away).
    pub fn forget(&mut self, partition: u32) {
        self.partitions.remove(&partition);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_only_contiguous_prefix() {
        let mut t = OffsetTracker::new();
        for o in 10..15 {
            t.track(0, o);
        }
        t.complete(0, 12);
        t.complete(0, 11);
        assert!(t.take_commits().is_empty(), "10 still in flight");
        t.complete(0, 10);
        assert_eq!(t.take_commits(), vec![(0, 13)]);
        assert!(t.take_commits().is_empty());
        t.complete(0, 14);
        assert!(t.take_commits().is_empty());
        t.complete(0, 13);
        assert_eq!(t.take_commits(), vec![(0, 15)]);
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn partitions_are_independent_and_gaps_allowed() {
        let mut t = OffsetTracker::new();
        t.track(0, 1);
        t.track(0, 5); // gaps happen on Kafka (transaction markers, compaction)
        t.track(1, 7);
        t.complete(1, 7);
        t.complete(0, 5);
        assert_eq!(t.take_commits(), vec![(1, 8)]);
        t.complete(0, 1);
        assert_eq!(t.take_commits(), vec![(0, 6)]);
    }

    proptest::proptest! {
        #[test]
        fn commit_point_never_passes_unfinished(order in proptest::collection::vec(0usize..50, 0..50)) {
            let mut t = OffsetTracker::new();
            for o in 0..50u64 { t.track(0, o); }
            let mut done = std::collections::BTreeSet::new();
            let mut committed = 0u64;
            for i in order {
                t.complete(0, i as u64);
                done.insert(i as u64);
                for (_, next) in t.take_commits() {
                    proptest::prop_assert!(next > committed);
                    committed = next;
                }
                for o in 0..committed { proptest::prop_assert!(done.contains(&o)); }
            }
        }
    }
}

//! Noticing a partition whose end fell below a group member's position.
//!
//! Kafka answers a fetch past a partition's end with `OFFSET_OUT_OF_RANGE`, and
//! librdkafka then resets to the earliest offset (`auto.offset.reset`). A broker that
//! came back with a shorter log than its groups had read and answers such a fetch with
//! nothing instead (tansu does) leaves the member waiting at its old position while new
//! records are written below it; once the end passes that position, everything written
//! in between is skipped for good. So a member samples, every [`CHECK_EVERY`], its
//! position and each assigned partition's end; a partition whose end keeps growing
//! below the position while nothing arrives from it is re-read from the earliest
//! offset: duplicates (receivers drop them by webhook-id), never a hole.
//!
//! The end must have grown, with nothing received, on [`STRIKES`] samples in a row: a
//! broker that under-reports the end (tansu gives the first offset of the last batch,
//! plus one) shows a position above the end too, but then either the end does not move
//! or the new records arrive.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How often a member samples its positions against the partition ends.
pub(crate) const CHECK_EVERY: Duration = Duration::from_secs(5);
/// Samples in a row that must show the end growing below the position, with nothing
/// received from the partition, before it is re-read.
const STRIKES: u8 = 2;

#[derive(Debug)]
pub(crate) struct EndWatch {
    last: Instant,
    parts: HashMap<u32, Watched>,
}

#[derive(Debug)]
struct Watched {
    end: u64,
    received: bool,
    strikes: u8,
}

impl EndWatch {
    pub(crate) fn new() -> Self {
        Self {
            last: Instant::now(),
            parts: HashMap::new(),
        }
    }

    pub(crate) fn due(&self) -> bool {
        self.last.elapsed() >= CHECK_EVERY
    }

    /// A sample was attempted (answered or not): the next one is [`CHECK_EVERY`] away.
    pub(crate) fn sampled(&mut self) {
        self.last = Instant::now();
    }

    /// A record of `partition` was handed out.
    pub(crate) fn received(&mut self, partition: u32) {
        if let Some(w) = self.parts.get_mut(&partition) {
            w.received = true;
        }
    }

    /// Judges one sample of `(partition, position, end)` of the assigned partitions;
    /// returns the partitions to re-read from the earliest offset.
    pub(crate) fn judge(&mut self, sample: &[(u32, u64, u64)]) -> Vec<u32> {
        self.sampled();
        self.parts
            .retain(|p, _| sample.iter().any(|(sp, _, _)| sp == p));
        let mut reread = Vec::new();
        for &(p, position, end) in sample {
            let Some(w) = self.parts.get_mut(&p) else {
                self.parts.insert(
                    p,
                    Watched {
                        end,
                        received: false,
                        strikes: 0,
                    },
                );
                continue;
            };
            if position > end && end > w.end && !w.received {
                w.strikes += 1;
            } else if w.received || position <= end {
                w.strikes = 0;
            }
            w.end = end;
            w.received = false;
            if w.strikes >= STRIKES {
                reread.push(p);
            }
        }
        for p in &reread {
            self.parts.remove(p);
        }
        reread
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_end_growing_below_the_position_with_nothing_received_is_reread() {
        let mut w = EndWatch::new();
        assert!(
            w.judge(&[(0, 1000, 8)]).is_empty(),
            "first sample only records"
        );
        assert!(w.judge(&[(0, 1000, 12)]).is_empty(), "one strike");
        assert_eq!(w.judge(&[(0, 1000, 20)]), vec![0]);
        // Forgotten after the re-read: a new watch starts from the next sample.
        assert!(w.judge(&[(0, 21, 20)]).is_empty());
    }

    #[test]
    fn an_under_reported_end_is_not_a_shortened_log() {
        let mut w = EndWatch::new();
        // Position past the end, but the end does not move (an idle partition on a
        // broker that reports the first offset of the last batch + 1).
        for _ in 0..5 {
            assert!(w.judge(&[(0, 30, 21)]).is_empty());
        }
        // The end grows below the position, but the new records arrive.
        for end in [22, 31, 41] {
            w.received(0);
            assert!(w.judge(&[(0, 50, end)]).is_empty());
        }
    }

    #[test]
    fn a_record_between_strikes_resets_them() {
        let mut w = EndWatch::new();
        w.judge(&[(0, 100, 5)]);
        w.judge(&[(0, 100, 6)]);
        w.received(0);
        assert!(w.judge(&[(0, 100, 7)]).is_empty());
        assert!(w.judge(&[(0, 100, 8)]).is_empty());
        assert_eq!(w.judge(&[(0, 100, 9)]), vec![0]);
    }

    #[test]
    fn partitions_no_longer_sampled_are_forgotten() {
        let mut w = EndWatch::new();
        w.judge(&[(0, 100, 5), (1, 100, 5)]);
        w.judge(&[(0, 100, 6), (1, 100, 6)]);
        // Partition 1 was revoked: forgotten, so when it comes back its strikes start
        // over (partition 0 has its second strike).
        assert_eq!(w.judge(&[(0, 100, 7)]), vec![0]);
        assert!(w.judge(&[(1, 100, 7)]).is_empty(), "first sample again");
        assert!(w.judge(&[(1, 100, 8)]).is_empty(), "one strike");
        assert_eq!(w.judge(&[(1, 100, 9)]), vec![1]);
    }
}

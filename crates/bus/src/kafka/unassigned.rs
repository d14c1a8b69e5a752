//! A member left without partitions while its group's records wait.
//!
//! A group can settle with partitions nobody owns. After a broker restart in chaos
//! scenario B3, tansu formed the `normalizer` group with an empty assignment (its
//! leader assigned from metadata that did not list the topic yet); every member kept
//! heartbeating, so nothing rebalanced for minutes while 76k records waited. Kafka
//! repairs no such state by itself. So a member with no partitions samples, every
//! [`super::end_watch::CHECK_EVERY`], its group's committed offsets and each
//! partition's end; when some partition has records past its committed offset and no
//! committed offset of the group moved for `patience` (longer than a session timeout,
//! so a member that died has been removed by then), it leaves and rejoins the group,
//! which makes the leader assign again. A group with more members than partitions has
//! idle members too, but there the offsets move; where they do not (a consumer that
//! holds its partitions and is stuck), each rejoin doubles the patience, up to
//! [`MAX_PATIENCE`], so a rejoin never becomes a rebalance storm.

use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer as _;
use rdkafka::{Offset, TopicPartitionList};

use super::consumer::MemberConsumer;
use super::{broker, REQUEST_TIMEOUT};
use crate::BusError;

/// The longest wait between rejoins of a member that keeps finding no partitions.
pub(crate) const MAX_PATIENCE: Duration = Duration::from_secs(600);

/// One partition of the group's topic in a sample: the group's committed offset (none
/// if it never committed), the first offset still in the log, and the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GroupPartition {
    pub committed: Option<u64>,
    pub low: u64,
    pub end: u64,
}

impl GroupPartition {
    fn waiting(&self) -> bool {
        self.committed.unwrap_or(self.low).max(self.low) < self.end
    }
}

#[derive(Debug)]
pub(crate) struct UnassignedWatch {
    base: Duration,
    patience: Duration,
    /// Since when the group's committed offsets have been these, with records waiting.
    still: Option<(Instant, Vec<Option<u64>>)>,
}

impl UnassignedWatch {
    /// `patience`: how long committed offsets may stand still, with records waiting and
    /// this member unassigned, before it rejoins.
    pub(crate) fn new(patience: Duration) -> Self {
        Self {
            base: patience,
            patience,
            still: None,
        }
    }

    /// The member owns partitions again: start over, with the first patience.
    pub(crate) fn assigned(&mut self) {
        self.patience = self.base;
        self.still = None;
    }

    /// Judges one sample taken at `now` while this member owns no partition; `true`
    /// means: rejoin the group now.
    pub(crate) fn judge(&mut self, now: Instant, sample: &[GroupPartition]) -> bool {
        if !sample.iter().any(GroupPartition::waiting) {
            self.still = None;
            return false;
        }
        let committed: Vec<Option<u64>> = sample.iter().map(|p| p.committed).collect();
        match &self.still {
            Some((since, before)) if *before == committed => {
                if now.duration_since(*since) >= self.patience {
                    self.still = None;
                    self.patience = (self.patience * 2).min(MAX_PATIENCE.max(self.base));
                    return true;
                }
            }
            _ => self.still = Some((now, committed)),
        }
        false
    }
}

/// Samples the member's group on every partition of its topic (blocking: call it off
/// the async workers).
pub(crate) fn sample_group(
    c: &MemberConsumer,
    partitions: u32,
) -> Result<Vec<GroupPartition>, BusError> {
    let topic = c.context().topic.clone();
    let mut ask = TopicPartitionList::new();
    for p in 0..partitions as i32 {
        ask.add_partition(&topic, p);
    }
    let committed = c
        .committed_offsets(ask, REQUEST_TIMEOUT)
        .map_err(|e| broker("kafka committed offsets", e))?;
    (0..partitions as i32)
        .map(|p| {
            let (low, high) = c
                .fetch_watermarks(&topic, p, REQUEST_TIMEOUT)
                .map_err(|e| broker("kafka watermarks", e))?;
            let committed = match committed.find_partition(&topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) if o >= 0 => Some(o as u64),
                _ => None,
            };
            Ok(GroupPartition {
                committed,
                low: low.max(0) as u64,
                end: high.max(0) as u64,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(committed: Option<u64>, end: u64) -> GroupPartition {
        GroupPartition {
            committed,
            low: 0,
            end,
        }
    }

    #[test]
    fn records_waiting_behind_still_offsets_rejoin_after_the_patience() {
        let t0 = Instant::now();
        let mut w = UnassignedWatch::new(Duration::from_secs(90));
        let sample = [part(Some(10), 80_000), part(Some(5), 5)];
        assert!(!w.judge(t0, &sample), "first sample only records");
        assert!(!w.judge(t0 + Duration::from_secs(60), &sample));
        assert!(w.judge(t0 + Duration::from_secs(90), &sample));
        // After a rejoin that still found nothing, the patience has doubled.
        let t1 = t0 + Duration::from_secs(100);
        assert!(!w.judge(t1, &sample));
        assert!(!w.judge(t1 + Duration::from_secs(179), &sample));
        assert!(w.judge(t1 + Duration::from_secs(180), &sample));
        // Assigned again: back to the first patience.
        w.assigned();
        let t2 = t1 + Duration::from_secs(500);
        assert!(!w.judge(t2, &sample));
        assert!(w.judge(t2 + Duration::from_secs(90), &sample));
    }

    #[test]
    fn moving_offsets_mean_another_member_consumes() {
        let t0 = Instant::now();
        let mut w = UnassignedWatch::new(Duration::from_secs(10));
        for i in 0..20u64 {
            let sample = [part(Some(100 + i * 50), 10_000)];
            assert!(!w.judge(t0 + Duration::from_secs(5 * i), &sample));
        }
    }

    #[test]
    fn a_caught_up_group_is_left_alone() {
        let t0 = Instant::now();
        let mut w = UnassignedWatch::new(Duration::from_secs(10));
        for i in 0..20u64 {
            let sample = [part(Some(500), 500), part(None, 0)];
            assert!(!w.judge(t0 + Duration::from_secs(5 * i), &sample));
        }
    }

    #[test]
    fn a_group_that_never_committed_waits_from_the_first_offset_in_the_log() {
        let t0 = Instant::now();
        let mut w = UnassignedWatch::new(Duration::from_secs(10));
        // Retention dropped everything before 40; the log ends at 40: nothing waits.
        let empty = [GroupPartition {
            committed: None,
            low: 40,
            end: 40,
        }];
        assert!(!w.judge(t0, &empty));
        assert!(!w.judge(t0 + Duration::from_secs(20), &empty));
        let waiting = [GroupPartition {
            committed: None,
            low: 40,
            end: 41,
        }];
        assert!(!w.judge(t0 + Duration::from_secs(25), &waiting));
        assert!(w.judge(t0 + Duration::from_secs(35), &waiting));
    }
}

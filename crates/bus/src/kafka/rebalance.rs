//! Consumer-group membership: the rebalance callback, assignment tracking and the
//! durable start of `OffsetReset::Latest` groups.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock, Weak};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer as _, ConsumerContext, RebalanceProtocol, StreamConsumer,
};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};

use super::{forward_log, log_client_error, COMMIT_TIMEOUT, REQUEST_TIMEOUT};

/// The librdkafka consumer behind one [`super::consumer::KafkaConsumer`].
pub(crate) type MemberConsumer = StreamConsumer<MemberContext>;

/// Tracks this member's assignment and, for `OffsetReset::Latest`, makes the starting
/// point of partitions without a committed offset durable before reading them.
pub(crate) struct MemberContext {
    /// Full (prefixed) topic name.
    pub(crate) topic: String,
    /// Logical group name, for logs and metrics; `None` for `read_from_start`.
    pub(crate) group: Option<String>,
    pub(crate) latest: bool,
    pub(crate) assigned: Mutex<HashSet<u32>>,
    /// The consumer this context belongs to, for work the rebalance callback hands to
    /// another thread. Set right after creation.
    pub(crate) handle: OnceLock<Weak<MemberConsumer>>,
}

impl MemberContext {
    pub(crate) fn assigned(&self) -> HashSet<u32> {
        self.assigned.lock().expect("assigned lock").clone()
    }

    fn refresh_assignment(&self, c: &BaseConsumer<Self>) {
        if let Ok(tpl) = c.assignment() {
            let now = partitions_of(&tpl, &self.topic);
            *self.assigned.lock().expect("assigned lock") = now;
        }
    }

    /// [`start_at_end_if_uncommitted`] from the rebalance callback, which runs on the
    /// thread polling the consumer (an async worker): on a helper thread, and given up
    /// (reading still starts at the end, just not durably yet) after [`COMMIT_TIMEOUT`].
    fn start_at_end_bounded(&self, partitions: Vec<i32>) -> Result<Vec<(i32, i64)>, String> {
        let consumer = self
            .handle
            .get()
            .and_then(Weak::upgrade)
            .ok_or("the consumer is closing")?;
        let topic = self.topic.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("pulsegate-kafka-start".into())
            .spawn(move || {
                let r = start_at_end_if_uncommitted(&*consumer, &topic, &partitions);
                let _ = tx.send(r.map_err(|e| e.to_string()));
            })
            .map_err(|e| e.to_string())?;
        rx.recv_timeout(COMMIT_TIMEOUT)
            .map_err(|_| format!("no answer within {COMMIT_TIMEOUT:?}"))?
    }

    fn count(&self, kind: &'static str) {
        let group = self.group.clone().unwrap_or_default();
        metrics::counter!("pulsegate_kafka_rebalances_total", "group" => group, "kind" => kind)
            .increment(1);
    }
}

impl ClientContext for MemberContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, msg: &str) {
        forward_log(level, fac, msg);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        log_client_error("consumer", &error, reason);
    }
}

impl ConsumerContext for MemberContext {
    /// Runs on the thread polling the consumer (inside `poll`, or in `Drop`). Replaces
    /// the default so `Latest` members can fix the start offsets of the assignment.
    fn rebalance(&self, c: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        let cooperative = matches!(c.rebalance_protocol(), RebalanceProtocol::Cooperative);
        let parts = sorted(partitions_of(tpl, &self.topic));
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                if self.latest && !parts.is_empty() {
                    let wanted: Vec<i32> = parts.iter().map(|p| *p as i32).collect();
                    match self.start_at_end_bounded(wanted) {
                        Ok(started) => {
                            if !started.is_empty() {
                                tracing::info!(topic = %self.topic, group = ?self.group, partitions = ?started,
                                    "assigned partitions without a committed offset start at the end");
                            }
                            for (p, end) in started {
                                let _ =
                                    tpl.set_partition_offset(&self.topic, p, Offset::Offset(end));
                            }
                        }
                        // Partitions with a committed offset cannot be told apart from
                        // new ones here, so none is moved: those without a commit start
                        // at the earliest offset (auto.offset.reset), which re-delivers
                        // history to a new destination rather than risk skipping records
                        // after a commit. Loud, and only when the broker fails mid-join.
                        Err(e) => {
                            tracing::error!(topic = %self.topic, group = ?self.group, error = %e,
                            "could not commit the starting offsets of a new assignment; partitions without a commit start at the earliest offset")
                        }
                    }
                }
                let r = if cooperative {
                    c.incremental_assign(tpl)
                } else {
                    c.assign(tpl)
                };
                if let Err(e) = r {
                    tracing::error!(topic = %self.topic, group = ?self.group, error = %e, "kafka assign failed");
                }
                self.refresh_assignment(c);
                self.count("assign");
                tracing::info!(topic = %self.topic, group = ?self.group, partitions = ?parts,
                    now = ?sorted(self.assigned()), cooperative, "kafka partitions assigned");
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let lost = c.assignment_lost();
                let r = if cooperative {
                    c.incremental_unassign(tpl)
                } else {
                    c.unassign()
                };
                if let Err(e) = r {
                    tracing::error!(topic = %self.topic, group = ?self.group, error = %e, "kafka unassign failed");
                }
                self.refresh_assignment(c);
                self.count(if lost { "lost" } else { "revoke" });
                tracing::info!(topic = %self.topic, group = ?self.group, partitions = ?parts, lost,
                    now = ?sorted(self.assigned()), "kafka partitions revoked");
            }
            other => {
                tracing::warn!(topic = %self.topic, group = ?self.group, error = ?other, "kafka rebalance error");
                let _ = if cooperative {
                    c.incremental_unassign(tpl)
                } else {
                    c.unassign()
                };
                self.refresh_assignment(c);
                self.count("error");
            }
        }
    }
}

/// For `partitions` of `topic` without a committed offset in the consumer's group,
/// commits the current end (high watermark) synchronously and returns `(partition, end)`.
/// Blocking.
pub(crate) fn start_at_end_if_uncommitted<C: rdkafka::consumer::Consumer<MemberContext>>(
    c: &C,
    topic: &str,
    partitions: &[i32],
) -> KafkaResult<Vec<(i32, i64)>> {
    let mut ask = TopicPartitionList::new();
    for &p in partitions {
        ask.add_partition(topic, p);
    }
    let committed = c.committed_offsets(ask, REQUEST_TIMEOUT)?;
    let mut started = Vec::new();
    let mut commit = TopicPartitionList::new();
    for e in committed.elements_for_topic(topic) {
        if matches!(e.offset(), Offset::Offset(_)) {
            continue;
        }
        let (_, high) = c.fetch_watermarks(topic, e.partition(), REQUEST_TIMEOUT)?;
        let end = high.max(0);
        commit.add_partition_offset(topic, e.partition(), Offset::Offset(end))?;
        started.push((e.partition(), end));
    }
    if !started.is_empty() {
        c.commit(&commit, CommitMode::Sync)?;
    }
    Ok(started)
}

/// Commit failures that only mean the group moved on (the new owner re-reads).
pub(crate) fn rebalance_related(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::IllegalGeneration
                | RDKafkaErrorCode::UnknownMemberId
                | RDKafkaErrorCode::RebalanceInProgress
                | RDKafkaErrorCode::AssignmentLost
                | RDKafkaErrorCode::StaleMemberEpoch
                | RDKafkaErrorCode::FencedInstanceId
                | RDKafkaErrorCode::NoOffset
        )
    )
}

fn partitions_of(tpl: &TopicPartitionList, topic: &str) -> HashSet<u32> {
    tpl.elements_for_topic(topic)
        .iter()
        .map(|e| e.partition() as u32)
        .collect()
}

fn sorted(set: HashSet<u32>) -> Vec<u32> {
    let mut v: Vec<u32> = set.into_iter().collect();
    v.sort_unstable();
    v
}

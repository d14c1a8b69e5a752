//! Group members and start-to-end readers.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use rdkafka::consumer::{CommitMode, Consumer as _};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::end_watch::EndWatch;
pub(crate) use super::rebalance::MemberConsumer;
use super::rebalance::{rebalance_related, start_at_end_if_uncommitted, MemberContext};
use super::unassigned::{sample_group, UnassignedWatch};
use super::{blocking, blocking_within, broker, KafkaConfig, COMMIT_TIMEOUT, REQUEST_TIMEOUT};

/// How long dropping a consumer waits for it to leave its group.
const CLOSE_WAIT: Duration = Duration::from_secs(10);
use crate::{BusError, Consumer, OffsetReset, Record};

/// One consumer-group member (from `subscribe`) or a group-less reader of every
/// partition (from `read_from_start`).
pub(crate) struct KafkaConsumer {
    /// Always `Some` until `Drop` takes it to close it.
    consumer: Option<Arc<MemberConsumer>>,
    /// Group members join on their first `poll`, not in `subscribe`: a consumer that is
    /// created and dropped right away never joins, so it cannot disturb the group.
    join_pending: bool,
    state: ReadState,
    /// Group members: the partitions of the topic, and the watch for being left
    /// without any while records wait ([`super::unassigned`]).
    partitions: u32,
    unassigned: Option<UnassignedWatch>,
}

struct ReadState {
    topic: Arc<str>,
    grouped: bool,
    /// Per partition, the offset after the last record `poll` returned.
    next: HashMap<u32, u64>,
    /// Per partition, (start, end) measured at creation (`read_from_start` only).
    bounds: Vec<(u64, u64)>,
    /// Partitions where librdkafka reported reaching the end.
    eof: HashSet<u32>,
    /// Group members: partitions whose offsets jumped, being re-read (see `accept`).
    rewinding: HashMap<u32, Rewind>,
    /// Group members: partition ends that fell below the position ([`super::end_watch`]).
    watch: EndWatch,
}

/// A gap being re-read: records from `expected` on are fetched again until `expected`
/// arrives or [`GAP_WAIT`] passes.
struct Rewind {
    expected: u64,
    /// The offset that arrived instead of `expected`.
    first_got: u64,
    until: std::time::Instant,
    last_seek: std::time::Instant,
}

/// Longest wait for one sample of the partition ends ([`super::end_watch`]).
const END_SAMPLE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a gap in a partition's offsets is re-read before it is taken as real.
const GAP_WAIT: Duration = Duration::from_secs(2);
/// How often, while a gap is re-read, the partition is fetched again from the gap.
const GAP_RESEEK: Duration = Duration::from_millis(200);

impl KafkaConsumer {
    pub(crate) async fn subscribe(
        cfg: &KafkaConfig,
        topic: &str,
        group: &str,
        partitions: u32,
        reset: OffsetReset,
    ) -> Result<Self, BusError> {
        let consumer = member(cfg, topic, group, reset)?;
        if reset == OffsetReset::Latest {
            // Before joining, so the starting point is durable once `subscribe` returns.
            // A group that already has members refuses group-less commits: partitions
            // still uncommitted then are handled when assigned (rebalance callback).
            commit_start_at_end(&consumer, partitions).await?;
        }
        Ok(Self {
            consumer: Some(consumer),
            join_pending: true,
            state: ReadState::new(topic, true, Vec::new()),
            partitions,
            // Longer than a session timeout: a member that died has left the group by then.
            unassigned: Some(UnassignedWatch::new(
                (cfg.session_timeout * 2).max(Duration::from_secs(30)),
            )),
        })
    }

    /// `Bus::start_group_at_end` without joining the group (no rebalance for members).
    pub(crate) async fn start_group_at_end(
        cfg: &KafkaConfig,
        topic: &str,
        group: &str,
        partitions: u32,
    ) -> Result<(), BusError> {
        let consumer = member(cfg, topic, group, OffsetReset::Latest)?;
        commit_start_at_end(&consumer, partitions).await
    }

    pub(crate) async fn read_from_start(
        cfg: &KafkaConfig,
        topic: &str,
        partitions: u32,
    ) -> Result<Self, BusError> {
        let full = cfg.topic_name(topic);
        let mut c = base_config(cfg);
        // librdkafka's `assign` needs a group id; this one never joins, fetches or commits
        // offsets (every partition starts at an explicit offset).
        c.set("group.id", cfg.group_name("_read_from_start"))
            .set("auto.offset.reset", "earliest");
        let ctx = MemberContext {
            topic: full.clone(),
            group: None,
            latest: false,
            assigned: Mutex::new((0..partitions).collect()),
            handle: OnceLock::new(),
        };
        let consumer: Arc<MemberConsumer> = Arc::new(
            c.create_with_context(ctx)
                .map_err(|e| broker("creating a kafka reader", e))?,
        );
        let c2 = consumer.clone();
        let topic2 = full.clone();
        let bounds = blocking(move || {
            (0..partitions as i32)
                .map(|p| {
                    let (low, high) = c2
                        .fetch_watermarks(&topic2, p, REQUEST_TIMEOUT)
                        .map_err(|e| broker("kafka watermarks", e))?;
                    Ok((low.max(0) as u64, high.max(0) as u64))
                })
                .collect::<Result<Vec<_>, BusError>>()
        })
        .await?;
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions as i32 {
            tpl.add_partition_offset(&full, p, Offset::Beginning)
                .map_err(|e| broker("kafka assign", e))?;
        }
        consumer
            .assign(&tpl)
            .map_err(|e| broker("kafka assign", e))?;
        Ok(Self {
            consumer: Some(consumer),
            join_pending: false,
            state: ReadState::new(topic, false, bounds),
            partitions,
            unassigned: None,
        })
    }

    /// Samples the position and end of every assigned partition ([`super::end_watch`])
    /// and re-reads, from the earliest offset, those whose end fell below the position.
    /// A sample that fails or is slow is skipped (the next one comes).
    async fn check_ends(&mut self, consumer: &Arc<MemberConsumer>) {
        self.state.watch.sampled();
        let assigned: Vec<u32> = consumer.context().assigned().into_iter().collect();
        if assigned.is_empty() {
            self.check_unassigned(consumer).await;
            return;
        }
        if let Some(w) = self.unassigned.as_mut() {
            w.assigned();
        }
        let known: HashMap<u32, u64> = assigned
            .iter()
            .filter_map(|p| self.state.next.get(p).map(|n| (*p, *n)))
            .collect();
        let c = consumer.clone();
        let sample = blocking_within(END_SAMPLE_TIMEOUT, "sampling partition ends", move || {
            let topic = c.context().topic.clone();
            let mut ask = TopicPartitionList::new();
            for p in assigned.iter().filter(|p| !known.contains_key(p)) {
                ask.add_partition(&topic, *p as i32);
            }
            let committed = if ask.count() > 0 {
                c.committed_offsets(ask, REQUEST_TIMEOUT)
                    .map_err(|e| broker("kafka committed offsets", e))?
            } else {
                TopicPartitionList::new()
            };
            let mut out = Vec::new();
            for p in assigned {
                let position = match known.get(&p) {
                    Some(n) => *n,
                    None => match committed
                        .find_partition(&topic, p as i32)
                        .map(|e| e.offset())
                    {
                        Some(Offset::Offset(o)) if o >= 0 => o as u64,
                        _ => continue,
                    },
                };
                let (_, high) = c
                    .fetch_watermarks(&topic, p as i32, REQUEST_TIMEOUT)
                    .map_err(|e| broker("kafka watermarks", e))?;
                out.push((p, position, high.max(0) as u64));
            }
            Ok(out)
        })
        .await;
        let sample = match sample {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(topic = %self.state.topic, error = %e, "partition end sample skipped");
                return;
            }
        };
        let ctx = consumer.context();
        for p in self.state.watch.judge(&sample) {
            let (position, end) = sample
                .iter()
                .find(|(sp, _, _)| *sp == p)
                .map_or((0, 0), |(_, pos, end)| (*pos, *end));
            tracing::warn!(topic = %ctx.topic, group = ?ctx.group, partition = p, position, end,
                "the partition's end fell below this group's position (the broker lost records or reset its offsets): re-reading it from the earliest offset");
            metrics::counter!("pulsegate_kafka_offset_resets_total", "topic" => self.state.topic.to_string())
                .increment(1);
            if let Err(e) = consumer.seek(&ctx.topic, p as i32, Offset::Beginning, Duration::ZERO) {
                tracing::warn!(topic = %ctx.topic, partition = p, error = %e, "kafka seek failed");
                continue;
            }
            self.state.next.remove(&p);
            self.state.rewinding.remove(&p);
        }
    }

    /// A member without partitions: rejoins when the group's records wait and its
    /// offsets stand still ([`super::unassigned`]).
    async fn check_unassigned(&mut self, consumer: &Arc<MemberConsumer>) {
        let Some(watch) = self.unassigned.as_mut() else {
            return;
        };
        let c = consumer.clone();
        let partitions = self.partitions;
        let sample = blocking_within(END_SAMPLE_TIMEOUT, "sampling the group", move || {
            sample_group(&c, partitions)
        })
        .await;
        let sample = match sample {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(topic = %self.state.topic, error = %e, "group sample skipped");
                return;
            }
        };
        if !watch.judge(std::time::Instant::now(), &sample) {
            return;
        }
        let ctx = consumer.context();
        let waiting: u64 = sample
            .iter()
            .map(|p| {
                p.end
                    .saturating_sub(p.committed.unwrap_or(p.low).max(p.low))
            })
            .sum();
        tracing::warn!(topic = %ctx.topic, group = ?ctx.group, waiting,
            "this member owns no partition while the group's records wait and its offsets stand still: rejoining the group so that its leader assigns again");
        metrics::counter!("pulsegate_kafka_rejoins_total", "topic" => self.state.topic.to_string())
            .increment(1);
        consumer.unsubscribe();
        if let Err(e) = consumer.subscribe(&[&ctx.topic]) {
            // Joined again on the next poll.
            tracing::warn!(topic = %ctx.topic, error = %e, "kafka subscribe failed");
            self.join_pending = true;
        }
    }

    /// For lag reporting.
    pub(crate) fn handle(&self) -> std::sync::Weak<MemberConsumer> {
        Arc::downgrade(self.consumer())
    }

    fn consumer(&self) -> &Arc<MemberConsumer> {
        self.consumer.as_ref().expect("present until drop")
    }
}

#[async_trait]
impl Consumer for KafkaConsumer {
    /// Cancel-safe: records leave librdkafka only in the synchronous section after the
    /// first one arrived, and are returned without another await.
    async fn poll(&mut self, max: usize, max_wait: Duration) -> Result<Vec<Record>, BusError> {
        let max = max.max(1);
        let consumer = self.consumer().clone();
        if self.join_pending {
            let topic = consumer.context().topic.clone();
            consumer
                .subscribe(&[&topic])
                .map_err(|e| broker("kafka subscribe", e))?;
            self.join_pending = false;
        }
        if self.state.grouped && self.state.watch.due() {
            self.check_ends(&consumer).await;
        }
        let deadline = tokio::time::Instant::now() + max_wait;
        let mut out = Vec::new();
        while out.is_empty() {
            let Ok(msg) = tokio::time::timeout_at(deadline, consumer.recv()).await else {
                return Ok(out);
            };
            let eof = matches!(msg, Err(KafkaError::PartitionEOF(_)));
            self.state.accept(&consumer, msg, &mut out)?;
            if eof && out.is_empty() && !self.state.grouped && self.caught_up() {
                return Ok(out);
            }
        }
        while out.len() < max {
            let Some(msg) = now_or_never(consumer.recv()) else {
                break;
            };
            self.state.accept(&consumer, msg, &mut out)?;
        }
        Ok(out)
    }

    async fn commit(&mut self, offsets: &[(u32, u64)]) -> Result<(), BusError> {
        if !self.state.grouped || offsets.is_empty() {
            return Ok(());
        }
        let ctx = self.consumer().context().clone();
        let assigned = ctx.assigned();
        let mut tpl = TopicPartitionList::new();
        for &(p, next) in offsets {
            if assigned.contains(&p) {
                tpl.add_partition_offset(&ctx.topic, p as i32, Offset::Offset(next as i64))
                    .map_err(|e| broker("kafka commit", e))?;
            } else {
                tracing::debug!(topic = %ctx.topic, partition = p, next,
                    "dropping commit for a partition this member no longer owns");
            }
        }
        if tpl.count() == 0 {
            return Ok(());
        }
        let consumer = self.consumer().clone();
        blocking_within(COMMIT_TIMEOUT, "kafka commit", move || match consumer.commit(&tpl, CommitMode::Sync) {
            Ok(()) => Ok(()),
            Err(e) if rebalance_related(&e) => {
                tracing::debug!(topic = %ctx.topic, error = %e, "commit dropped by a rebalance");
                Ok(())
            }
            Err(e) => Err(broker("kafka commit", e)),
        })
        .await
    }

    fn caught_up(&self) -> bool {
        let s = &self.state;
        if s.grouped {
            let assigned = self.consumer().context().assigned();
            return !assigned.is_empty() && assigned.iter().all(|p| s.eof.contains(p));
        }
        s.bounds.iter().enumerate().all(|(p, &(start, end))| {
            let p = p as u32;
            s.eof.contains(&p) || s.next.get(&p).copied().unwrap_or(start) >= end
        })
    }
}

/// Closing leaves the group (and waits for the broker to confirm). It runs on a helper
/// thread so a broker that never answers cannot hold the dropping thread (often an
/// async worker) for longer than [`CLOSE_WAIT`]; the close then finishes in the
/// background.
impl Drop for KafkaConsumer {
    fn drop(&mut self) {
        let Some(consumer) = self.consumer.take() else {
            return;
        };
        let (done, wait) = std::sync::mpsc::channel::<()>();
        let closing = std::thread::Builder::new()
            .name("pulsegate-kafka-close".into())
            .spawn(move || {
                drop(consumer);
                let _ = done.send(());
            });
        // If the thread could not be started, the closure (and the consumer) was
        // dropped right here, synchronously.
        if closing.is_ok() && wait.recv_timeout(CLOSE_WAIT).is_err() {
            tracing::warn!(topic = %self.state.topic, "kafka consumer close is slow; finishing it in the background");
        }
    }
}

impl ReadState {
    fn new(topic: &str, grouped: bool, bounds: Vec<(u64, u64)>) -> Self {
        Self {
            topic: topic.into(),
            grouped,
            next: HashMap::new(),
            bounds,
            eof: HashSet::new(),
            rewinding: HashMap::new(),
            watch: EndWatch::new(),
        }
    }

    fn accept(
        &mut self,
        consumer: &MemberConsumer,
        msg: KafkaResult<BorrowedMessage<'_>>,
        out: &mut Vec<Record>,
    ) -> Result<(), BusError> {
        let m = match msg {
            Ok(m) => m,
            Err(KafkaError::PartitionEOF(p)) => {
                self.eof.insert(p as u32);
                return Ok(());
            }
            Err(e) => {
                if let Some((code, reason)) = consumer.client().fatal_error() {
                    return Err(BusError::Broker(format!(
                        "kafka consumer failed: {code}: {reason}"
                    )));
                }
                if let KafkaError::MessageConsumptionFatal(_) = e {
                    return Err(broker("kafka consume", e));
                }
                // librdkafka recovers from everything else by itself.
                tracing::warn!(topic = %self.topic, error = %e, "kafka consume error");
                return Ok(());
            }
        };
        let partition = m.partition() as u32;
        let offset = m.offset().max(0) as u64;
        let first = !self.next.contains_key(&partition);
        let next = self.next.entry(partition).or_insert(0);
        if offset < *next {
            // A partition that left and came back to this member restarts at the group's
            // commit; this consumer already handed these records out once.
            tracing::debug!(topic = %self.topic, partition, offset, "skipping a record already returned");
            return Ok(());
        }
        if self.grouped && !first && !self.heal_gap(consumer, partition, offset) {
            return Ok(());
        }
        *self.next.entry(partition).or_insert(0) = offset + 1;
        self.watch.received(partition);
        out.push(Record {
            topic: self.topic.clone(),
            partition,
            offset,
            timestamp_ms: m.timestamp().to_millis().map_or(0, |t| t.max(0) as u64),
            key: m.key().map_or_else(Bytes::new, Bytes::copy_from_slice),
            payload: m.payload().map_or_else(Bytes::new, Bytes::copy_from_slice),
        });
        Ok(())
    }
}

impl ReadState {
    /// A group member's partition jumped from the next offset to `offset`. Group topics
    /// are neither compacted nor transactional, so offsets never jump on Kafka; a
    /// Kafka-compatible broker was seen (tansu, two producers on one partition) to hand
    /// out a record before an earlier one became readable, which a reader that moved on
    /// would skip for good, and commits after it would pass it. So the partition is
    /// fetched again from the missing offset (nothing after the gap is handed out
    /// meanwhile), for up to [`GAP_WAIT`]; only then is the gap taken as real, loudly.
    /// True: hand `offset` out now.
    fn heal_gap(&mut self, consumer: &MemberConsumer, partition: u32, offset: u64) -> bool {
        let next = self.next.get(&partition).copied().unwrap_or(0);
        let now = std::time::Instant::now();
        let seek = |to: u64| {
            let topic = &consumer.context().topic;
            // Asynchronous (no wait): records fetched before it are discarded by librdkafka.
            if let Err(e) = consumer.seek(
                topic,
                partition as i32,
                Offset::Offset(to as i64),
                Duration::ZERO,
            ) {
                tracing::warn!(topic = %topic, partition, offset = to, error = %e, "kafka seek failed");
            }
        };
        if offset == next {
            if self.rewinding.remove(&partition).is_some() {
                tracing::info!(topic = %self.topic, partition, offset,
                    "the missing record arrived on re-reading: nothing skipped");
            }
            return true;
        }
        let Some(r) = self.rewinding.get_mut(&partition) else {
            metrics::counter!("pulsegate_kafka_offset_gaps_total", "topic" => self.topic.to_string())
                .increment(1);
            tracing::info!(topic = %self.topic, partition, expected = next, got = offset,
                "gap in a partition's offsets: fetching again from the expected offset");
            self.rewinding.insert(
                partition,
                Rewind {
                    expected: next,
                    first_got: offset,
                    until: now + GAP_WAIT,
                    last_seek: now,
                },
            );
            seek(next);
            return false;
        };
        if now < r.until {
            if now.duration_since(r.last_seek) >= GAP_RESEEK {
                r.last_seek = now;
                seek(r.expected);
            }
            return false;
        }
        // Still missing after re-reading: the broker has no records there.
        let resume = offset.min(r.first_got);
        tracing::warn!(topic = %self.topic, partition, from = r.expected, to = resume,
            "offsets never arrived after re-reading; going on after them");
        self.rewinding.remove(&partition);
        self.next.insert(partition, resume);
        if offset == resume {
            return true;
        }
        // Records after the gap were passed over while re-reading: fetch them again.
        seek(resume);
        false
    }
}

/// A consumer for one member of `group` (not subscribed yet).
fn member(
    cfg: &KafkaConfig,
    topic: &str,
    group: &str,
    reset: OffsetReset,
) -> Result<Arc<MemberConsumer>, BusError> {
    let mut c = base_config(cfg);
    let millis = |d: Duration| d.as_millis().to_string();
    // `earliest` for every group, `Latest` ones too: librdkafka uses this only for a
    // partition without a committed offset (a `Latest` group commits or assigns its
    // start at the end explicitly, see `rebalance`) and for a committed offset outside
    // the log (a broker back with a shorter log, or retention past a stalled group).
    // There, `latest` would skip whatever was written before the reset: `earliest`
    // re-reads (duplicates the receivers drop by webhook-id), never a hole.
    c.set("group.id", cfg.group_name(group))
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("session.timeout.ms", millis(cfg.session_timeout))
        .set("heartbeat.interval.ms", millis(cfg.heartbeat_interval))
        .set("max.poll.interval.ms", millis(cfg.max_poll_interval));
    let ctx = MemberContext {
        topic: cfg.topic_name(topic),
        group: Some(group.to_string()),
        latest: reset == OffsetReset::Latest,
        assigned: Mutex::new(HashSet::new()),
        handle: OnceLock::new(),
    };
    let consumer: Arc<MemberConsumer> = Arc::new(
        c.create_with_context(ctx)
            .map_err(|e| broker("creating a kafka consumer", e))?,
    );
    let _ = consumer.context().handle.set(Arc::downgrade(&consumer));
    Ok(consumer)
}

/// Commits the current end of every partition the consumer's group never committed,
/// with a group-less commit. A group with members refuses that (they commit their own
/// starting points when assigned), which is not an error.
async fn commit_start_at_end(
    consumer: &Arc<MemberConsumer>,
    partitions: u32,
) -> Result<(), BusError> {
    let c = consumer.clone();
    let all: Vec<i32> = (0..partitions as i32).collect();
    let work = move || {
        let ctx = c.context();
        match start_at_end_if_uncommitted(&*c, &ctx.topic, &all) {
            Ok(started) => {
                if !started.is_empty() {
                    tracing::info!(topic = %ctx.topic, group = ?ctx.group, partitions = ?started,
                        "group starts at the end");
                }
                Ok(())
            }
            Err(e) if rebalance_related(&e) => {
                tracing::debug!(topic = %ctx.topic, group = ?ctx.group, error = %e,
                    "group is active; its members set their starting offsets");
                Ok(())
            }
            Err(e) => Err(broker("committing the starting offsets", e)),
        }
    };
    blocking_within(COMMIT_TIMEOUT, "committing the starting offsets", work).await
}

/// Settings every consumer of this backend shares: nothing is committed or stored
/// behind the bus's back.
fn base_config(cfg: &KafkaConfig) -> rdkafka::ClientConfig {
    let mut c = cfg.client_config();
    c.set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true");
    for (key, value) in PREFETCH {
        if !cfg.extra.contains_key(*key) {
            c.set(*key, *value);
        }
    }
    c
}

/// How much each consumer fetches ahead (`bus.kafka.extra` may raise it). librdkafka's
/// defaults (64 MiB and 100,000 messages per client) let every consumer in a process
/// (the normalizer, each destination's dispatcher, the state reader…) hold tens of MiB
/// of a backlog in memory; a few MiB ahead keeps its fetches full at these rates.
const PREFETCH: &[(&str, &str)] = &[
    ("queued.max.messages.kbytes", "4096"),
    ("queued.min.messages", "10000"),
];

/// Polls a future once; `None` if it is not ready (and drops it, which `recv` allows).
fn now_or_never<F: Future>(f: F) -> Option<F::Output> {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumers_prefetch_a_few_mib_unless_extra_says_otherwise() {
        let cfg = KafkaConfig::new("k:9092");
        let c = base_config(&cfg);
        assert_eq!(c.get("queued.max.messages.kbytes"), Some("4096"));
        assert_eq!(c.get("queued.min.messages"), Some("10000"));

        let mut cfg = KafkaConfig::new("k:9092");
        cfg.extra
            .insert("queued.max.messages.kbytes".into(), "65536".into());
        let c = base_config(&cfg);
        assert_eq!(c.get("queued.max.messages.kbytes"), Some("65536"));
        assert_eq!(c.get("queued.min.messages"), Some("10000"));
    }
}

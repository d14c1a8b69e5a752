//! The Kafka backend: the same [`Bus`] contract on a Kafka cluster (librdkafka via `rdkafka`).
//!
//! * Topics are named `topic_prefix + name`; consumer groups `topic_prefix + group`.
//! * Producing goes through one shared idempotent producer (`acks=all`); `append`
//!   resolves only after the broker acknowledged the write (the delivery report), so a
//!   resolved append is as durable as the cluster's replication makes it. The partition
//!   is chosen with [`crate::partition_for`], so both backends place a key identically.
//! * Each `subscribe` is one consumer-group member with manual commits only
//!   (`enable.auto.commit=false`, `enable.auto.offset.store=false`); `commit` commits the
//!   given next offsets synchronously. Commits for partitions a rebalance took away are
//!   dropped (logged at debug): the new owner re-reads from the last commit.
//!   Members use `cooperative-sticky` assignment: a rebalance only moves the partitions
//!   that change owner; the others keep flowing. A partition that comes back to the same
//!   member restarts at the group's commit; records this consumer already returned are
//!   skipped, so `poll` never returns an offset twice per partition.
//! * `OffsetReset::Latest`: before joining, `subscribe` commits the current end of every
//!   partition the group never committed (a group-less commit, accepted while the group
//!   has no members); partitions still uncommitted when assigned (e.g. joining an active
//!   group) get the same treatment in the rebalance callback before any record is read.
//! * A committed offset outside the log (a broker back with a shorter log than its
//!   groups read, or retention past a stalled group) resets to the earliest offset for
//!   every group: re-delivery, never a hole (`latest` would skip what was written
//!   before the reset). A broker that answers such a fetch with nothing instead of
//!   `OFFSET_OUT_OF_RANGE` (tansu) is caught by sampling positions against partition
//!   ends (`end_watch`) and re-read from the earliest offset the same way.
//! * `read_from_start` assigns every partition from the beginning, without joining a
//!   group (librdkafka needs a `group.id` for `assign`; it is never used for offsets).
//!
//! Only standard Kafka protocol features are used; broker-specific workarounds (for the
//! tansu test broker) live in test configuration. Known differences from the embedded
//! backend:
//! * `caught_up` compares positions with the partition ends (high watermarks) measured
//!   when the consumer was created, or a partition-EOF event. Brokers that under-report
//!   the high watermark (tansu reports the first offset of the last batch + 1) make it
//!   turn true early. Callers that need a strict barrier must append a marker record
//!   and read until they see it. For group members `caught_up` only turns true once
//!   every assigned partition reported EOF.
//! * Compaction is done by the broker, eventually: readers must keep the last value per
//!   key themselves (an empty payload is produced as a Kafka tombstone).
//! * A member that does not `poll` for `max_poll_interval` leaves the group (its
//!   partitions move, its later commits are dropped). `run_consumer` stops polling while
//!   all its concurrency slots are busy, so handlers that retry for longer than that
//!   cause a rebalance (no loss, but redelivery).
//! * A member joins its group on its first `poll`, not in `subscribe`. Dropping a
//!   consumer leaves the group and waits for that (a few ms on a healthy cluster) for at
//!   most 10 s; a slower close finishes on a helper thread.

mod acked;
mod admin;
mod config;
mod consumer;
mod end_watch;
mod lag;
mod offsets;
mod producer;
mod rebalance;
mod unassigned;

pub use config::{KafkaConfig, PROTECTED_PROPERTIES};

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;

use crate::{partition_for, Bus, BusError, Consumer, OffsetReset, Outgoing, Position, TopicSpec};

/// How long blocking metadata / offset requests may take before they count as failed.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a synchronous offset commit may take before it is reported as failed.
pub(crate) const COMMIT_TIMEOUT: Duration = Duration::from_secs(30);

/// The bus on a Kafka cluster. Clone freely (all clones share one producer).
#[derive(Clone)]
pub struct KafkaBus {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    cfg: KafkaConfig,
    producer: producer::Producer,
    admin: admin::Admin,
    /// Partition counts by logical topic name.
    partitions: RwLock<HashMap<String, u32>>,
    lag: Arc<lag::LagRegistry>,
}

impl KafkaBus {
    /// Creates the clients and checks that the cluster answers.
    pub async fn connect(cfg: KafkaConfig) -> Result<Self, BusError> {
        cfg.validate()?;
        let producer = producer::Producer::new(&cfg)?;
        let admin = admin::Admin::new(&cfg, producer.clone())?;
        admin.check_reachable().await?;
        let lag = Arc::new(lag::LagRegistry::default());
        lag::spawn(Arc::downgrade(&lag), lag::INTERVAL);
        tracing::info!(brokers = %cfg.brokers, prefix = %cfg.topic_prefix, "connected to kafka");
        Ok(Self {
            inner: Arc::new(Inner {
                cfg,
                producer,
                admin,
                partitions: RwLock::new(HashMap::new()),
                lag,
            }),
        })
    }

    /// The configuration this bus runs with.
    pub fn config(&self) -> &KafkaConfig {
        &self.inner.cfg
    }

    /// Samples `pulsegate_consumer_lag` now for every group this process consumes
    /// (the background task does this every 10 s).
    pub async fn report_lag(&self) {
        lag::sample(&self.inner.lag).await;
    }

    /// Partition count of a logical topic, from the cache or the cluster's metadata.
    async fn partition_count(&self, topic: &str) -> Result<u32, BusError> {
        if let Some(n) = self
            .inner
            .partitions
            .read()
            .expect("partitions lock")
            .get(topic)
        {
            return Ok(*n);
        }
        let n = self
            .inner
            .admin
            .partition_count(&self.inner.cfg.topic_name(topic))
            .await?
            .ok_or_else(|| BusError::UnknownTopic(topic.to_string()))?;
        self.inner
            .partitions
            .write()
            .expect("partitions lock")
            .insert(topic.to_string(), n);
        Ok(n)
    }
}

#[async_trait]
impl Bus for KafkaBus {
    async fn ensure_topic(&self, spec: &TopicSpec) -> Result<(), BusError> {
        if self
            .inner
            .partitions
            .read()
            .expect("partitions lock")
            .contains_key(&spec.name)
        {
            return Ok(());
        }
        let full = self.inner.cfg.topic_name(&spec.name);
        let n = self.inner.admin.ensure_topic(&full, spec).await?;
        self.inner
            .partitions
            .write()
            .expect("partitions lock")
            .insert(spec.name.clone(), n);
        Ok(())
    }

    async fn append(&self, topic: &str, record: Outgoing) -> Result<Position, BusError> {
        let partitions = self.partition_count(topic).await?;
        let full = self.inner.cfg.topic_name(topic);
        let partition = partition_for(&record.key, partitions);
        let delivery = self
            .inner
            .producer
            .enqueue(&full, partition, &record)
            .await?;
        producer::delivered(delivery).await
    }

    async fn append_batch(
        &self,
        topic: &str,
        records: Vec<Outgoing>,
    ) -> Result<Vec<Position>, BusError> {
        let partitions = self.partition_count(topic).await?;
        let full = self.inner.cfg.topic_name(topic);
        // Enqueue everything first so the producer batches it, then wait for every report.
        let mut waits = Vec::with_capacity(records.len());
        for record in &records {
            let partition = partition_for(&record.key, partitions);
            waits.push(
                self.inner
                    .producer
                    .enqueue(&full, partition, record)
                    .await?,
            );
        }
        let mut out = Vec::with_capacity(waits.len());
        for delivery in waits {
            out.push(producer::delivered(delivery).await?);
        }
        Ok(out)
    }

    async fn subscribe(
        &self,
        topic: &str,
        group: &str,
        reset: OffsetReset,
    ) -> Result<Box<dyn Consumer>, BusError> {
        let partitions = self.partition_count(topic).await?;
        let consumer =
            consumer::KafkaConsumer::subscribe(&self.inner.cfg, topic, group, partitions, reset)
                .await?;
        self.inner
            .lag
            .register(topic, group, partitions, consumer.handle());
        Ok(Box::new(consumer))
    }

    async fn start_group_at_end(&self, topic: &str, group: &str) -> Result<(), BusError> {
        let partitions = self.partition_count(topic).await?;
        consumer::KafkaConsumer::start_group_at_end(&self.inner.cfg, topic, group, partitions).await
    }

    async fn read_from_start(&self, topic: &str) -> Result<Box<dyn Consumer>, BusError> {
        let partitions = self.partition_count(topic).await?;
        let consumer =
            consumer::KafkaConsumer::read_from_start(&self.inner.cfg, topic, partitions).await?;
        Ok(Box::new(consumer))
    }

    fn is_healthy(&self) -> bool {
        self.inner.producer.is_healthy()
    }

    fn kind(&self) -> &'static str {
        "kafka"
    }
}

/// Runs a blocking librdkafka call off the async threads.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, BusError>
where
    F: FnOnce() -> Result<T, BusError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BusError::Broker(format!("blocking kafka call failed: {e}")))?
}

/// Client-level errors librdkafka recovers from by itself. Transport failures are
/// already in its log; "all brokers down" repeats on every reconnect attempt, so it is
/// logged at warn at most once per [`BROKERS_DOWN_LOG_EVERY`] and at debug otherwise.
pub(crate) fn log_client_error(client: &str, error: &rdkafka::error::KafkaError, reason: &str) {
    use rdkafka::error::RDKafkaErrorCode as C;
    match error.rdkafka_error_code() {
        Some(C::PartitionEOF) => {}
        Some(C::BrokerTransportFailure) => {
            tracing::debug!(client, error = %error, reason, "kafka client error")
        }
        Some(C::AllBrokersDown) if !brokers_down_warning_due() => {
            tracing::debug!(client, error = %error, reason, "kafka client error")
        }
        Some(C::Fatal) => {
            tracing::error!(client, error = %error, reason, "kafka client hit a fatal error")
        }
        _ => tracing::warn!(client, error = %error, reason, "kafka client error"),
    }
}

const BROKERS_DOWN_LOG_EVERY: Duration = Duration::from_secs(30);

fn brokers_down_warning_due() -> bool {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST_MS: AtomicU64 = AtomicU64::new(0);
    let now = crate::now_ms();
    let last = LAST_MS.load(Ordering::Relaxed);
    now.saturating_sub(last) >= BROKERS_DOWN_LOG_EVERY.as_millis() as u64
        && LAST_MS
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
}

/// [`blocking`] for librdkafka calls that have no timeout of their own (synchronous
/// commits): past `limit` the caller gets an error instead of waiting forever.
pub(crate) async fn blocking_within<T, F>(limit: Duration, what: &str, f: F) -> Result<T, BusError>
where
    F: FnOnce() -> Result<T, BusError> + Send + 'static,
    T: Send + 'static,
{
    tokio::time::timeout(limit, blocking(f))
        .await
        .map_err(|_| BusError::Broker(format!("{what} did not complete within {limit:?}")))?
}

pub(crate) fn broker(context: &str, e: impl std::fmt::Display) -> BusError {
    BusError::Broker(format!("{context}: {e}"))
}

/// Forwards librdkafka's log lines to `tracing` (the `log` crate is not wired up here).
pub(crate) fn forward_log(level: rdkafka::config::RDKafkaLogLevel, fac: &str, msg: &str) {
    use rdkafka::config::RDKafkaLogLevel as L;
    match level {
        L::Emerg | L::Alert | L::Critical => {
            tracing::error!(target: "librdkafka", facility = fac, "{msg}")
        }
        // librdkafka logs every failed connection attempt at "error"; it retries them
        // itself, so they are warnings from the bus's point of view.
        L::Error | L::Warning => tracing::warn!(target: "librdkafka", facility = fac, "{msg}"),
        L::Notice | L::Info => tracing::info!(target: "librdkafka", facility = fac, "{msg}"),
        L::Debug => tracing::debug!(target: "librdkafka", facility = fac, "{msg}"),
    }
}

//! Topic creation and metadata.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::ClientContext;
use rdkafka::config::{FromClientConfigAndContext, RDKafkaLogLevel};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::types::RDKafkaRespErr;

use super::producer::Producer;
use super::{blocking, broker, forward_log, log_client_error, KafkaConfig, REQUEST_TIMEOUT};
use crate::{BusError, TopicSpec};

pub(crate) struct AdminContext;

impl ClientContext for AdminContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, msg: &str) {
        forward_log(level, fac, msg);
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        log_client_error("admin", &error, reason);
    }
}

pub(crate) struct Admin {
    client: AdminClient<AdminContext>,
    /// Metadata requests go through the producer's connections.
    producer: Producer,
    replication_factor: i32,
    min_insync_replicas: Option<i32>,
}

impl Admin {
    pub(crate) fn new(cfg: &KafkaConfig, producer: Producer) -> Result<Self, BusError> {
        let client = AdminClient::from_config_and_context(&cfg.client_config(), AdminContext)
            .map_err(|e| broker("creating the kafka admin client", e))?;
        Ok(Self {
            client,
            producer,
            replication_factor: cfg.replication_factor,
            min_insync_replicas: cfg.min_insync_replicas,
        })
    }

    /// Fails unless the cluster answers a metadata request.
    pub(crate) async fn check_reachable(&self) -> Result<(), BusError> {
        let producer = self.producer.clone();
        blocking(move || {
            producer
                .client()
                .fetch_metadata(None, REQUEST_TIMEOUT)
                .map(|_| ())
                .map_err(|e| broker("kafka brokers unreachable", e))
        })
        .await
    }

    /// Creates `topic` (the full, prefixed name) if it does not exist and returns its
    /// partition count as the cluster reports it (an existing topic keeps its own).
    pub(crate) async fn ensure_topic(
        &self,
        topic: &str,
        spec: &TopicSpec,
    ) -> Result<u32, BusError> {
        let retention_ms = spec
            .retention
            .map_or_else(|| "-1".to_string(), |d| d.as_millis().max(1).to_string());
        let min_isr = self.min_insync_replicas.map(|n| n.to_string());
        let mut new = NewTopic::new(
            topic,
            spec.partitions as i32,
            TopicReplication::Fixed(self.replication_factor),
        );
        if spec.compacted {
            new = new.set("cleanup.policy", "compact");
        } else {
            new = new
                .set("cleanup.policy", "delete")
                .set("retention.ms", &retention_ms);
        }
        // Kafka bounds bytes per partition (whole segments are deleted, so a partition
        // may hold up to one segment more).
        let retention_bytes = spec
            .max_bytes
            .map(|b| (b / u64::from(spec.partitions.max(1))).max(1).to_string());
        if let (false, Some(b)) = (spec.compacted, &retention_bytes) {
            new = new.set("retention.bytes", b);
        }
        if let Some(n) = &min_isr {
            new = new.set("min.insync.replicas", n);
        }
        let opts = AdminOptions::new()
            .operation_timeout(Some(REQUEST_TIMEOUT))
            .request_timeout(Some(REQUEST_TIMEOUT));
        let results = self
            .client
            .create_topics([&new], &opts)
            .await
            .map_err(|e| broker("kafka create topic", e))?;
        let mut created = false;
        for result in results {
            match result {
                Ok(_) => created = true,
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    return Err(BusError::Broker(format!(
                        "kafka create topic {name}: {code}"
                    )))
                }
            }
        }
        // Creation returns before every broker knows the topic: wait until metadata has it.
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        loop {
            match self.partition_count(topic).await? {
                Some(n) => {
                    if n != spec.partitions {
                        tracing::warn!(
                            topic,
                            stored = n,
                            requested = spec.partitions,
                            "topic exists with a different partition count; keeping the stored one"
                        );
                    }
                    if created {
                        tracing::info!(
                            topic,
                            partitions = n,
                            compacted = spec.compacted,
                            "created kafka topic"
                        );
                    }
                    return Ok(n);
                }
                None if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                None => {
                    return Err(BusError::Broker(format!(
                        "kafka topic {topic} did not appear in metadata after creation"
                    )))
                }
            }
        }
    }

    /// Partition count from the cluster's metadata; `None` if the topic does not exist.
    pub(crate) async fn partition_count(&self, topic: &str) -> Result<Option<u32>, BusError> {
        let producer = self.producer.clone();
        let topic = topic.to_string();
        blocking(move || {
            let md = producer
                .client()
                .fetch_metadata(Some(&topic), REQUEST_TIMEOUT)
                .map_err(|e| broker("kafka metadata", e))?;
            let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
                return Ok(None);
            };
            match t.error() {
                None if !t.partitions().is_empty() => Ok(Some(t.partitions().len() as u32)),
                None
                | Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
                | Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE) => Ok(None),
                Some(e) => Err(BusError::Broker(format!(
                    "kafka metadata for {topic}: {e:?}"
                ))),
            }
        })
        .await
    }
}

//! Reading a topic's end offsets and a consumer group's committed offsets, for an
//! operator's view of the log (`GET /v1/admin/topics`). Read only: nothing joins a
//! group or commits, so no member of any group is disturbed.

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer as _, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};

use super::{blocking, broker, forward_log, log_client_error, KafkaBus, REQUEST_TIMEOUT};
use crate::BusError;

/// Logs like the bus's other clients.
struct OffsetsContext;

impl ClientContext for OffsetsContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, msg: &str) {
        forward_log(level, fac, msg);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        log_client_error("offsets", &error, reason);
    }
}

impl ConsumerContext for OffsetsContext {}

impl KafkaBus {
    /// The end offset (exclusive: the high watermark) of every partition of `topic`, by
    /// partition number. [`BusError::UnknownTopic`] if the topic does not exist. Brokers
    /// that under-report the high watermark (tansu) make these look smaller.
    pub async fn end_offsets(&self, topic: &str) -> Result<Vec<u64>, BusError> {
        let partitions = self.partition_count(topic).await?;
        let full = self.inner.cfg.topic_name(topic);
        let producer = self.inner.producer.clone();
        blocking(move || {
            (0..partitions as i32)
                .map(|p| {
                    producer
                        .client()
                        .fetch_watermarks(&full, p, REQUEST_TIMEOUT)
                        .map(|(_, high)| high.max(0) as u64)
                        .map_err(|e| broker("kafka watermarks", e))
                })
                .collect()
        })
        .await
    }

    /// The next offsets `group` committed on every partition of `topic` (`None` where
    /// it never committed). Asks the group's coordinator without joining the group.
    pub async fn committed_offsets(
        &self,
        topic: &str,
        group: &str,
    ) -> Result<Vec<Option<u64>>, BusError> {
        let partitions = self.partition_count(topic).await?;
        let full = self.inner.cfg.topic_name(topic);
        let mut c = self.inner.cfg.client_config();
        c.set("group.id", self.inner.cfg.group_name(group))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false");
        blocking(move || {
            let consumer: BaseConsumer<OffsetsContext> = c
                .create_with_context(OffsetsContext)
                .map_err(|e| broker("creating a kafka offsets reader", e))?;
            let mut tpl = TopicPartitionList::new();
            for p in 0..partitions as i32 {
                tpl.add_partition(&full, p);
            }
            let committed = consumer
                .committed_offsets(tpl, REQUEST_TIMEOUT)
                .map_err(|e| broker("kafka committed offsets", e))?;
            let mut out = vec![None; partitions as usize];
            for e in committed.elements_for_topic(&full) {
                if let (Offset::Offset(o), Some(slot)) =
                    (e.offset(), out.get_mut(e.partition().max(0) as usize))
                {
                    *slot = Some(o.max(0) as u64);
                }
            }
            Ok(out)
        })
        .await
    }
}

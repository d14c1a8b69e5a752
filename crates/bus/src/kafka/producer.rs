//! The shared idempotent producer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::{FromClientConfigAndContext, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer as _};

use super::acked::AckedOffsets;
use super::{broker, forward_log, log_client_error, KafkaConfig};
use crate::{BusError, Outgoing, Position};

/// How long an append waits for room in librdkafka's queue before it reports
/// [`BusError::Overloaded`].
const QUEUE_WAIT: Duration = Duration::from_millis(500);

/// Logs client errors; fatal ones (e.g. an idempotence violation) show in `is_healthy`.
pub(crate) struct ProducerContext;

impl ClientContext for ProducerContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, msg: &str) {
        forward_log(level, fac, msg);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        log_client_error("producer", &error, reason);
    }
}

/// One producer shared by every append of the process. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Producer {
    inner: FutureProducer<ProducerContext>,
    acked: Arc<AckedOffsets>,
}

impl Producer {
    pub(crate) fn new(cfg: &KafkaConfig) -> Result<Self, BusError> {
        let mut c = cfg.client_config();
        c.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", cfg.linger.as_millis().to_string())
            .set("compression.type", "lz4")
            .set("message.timeout.ms", "30000");
        let inner = FutureProducer::from_config_and_context(&c, ProducerContext)
            .map_err(|e| broker("creating the kafka producer", e))?;
        Ok(Self {
            inner,
            acked: Arc::default(),
        })
    }

    /// The underlying client (for metadata requests).
    pub(crate) fn client(&self) -> &rdkafka::client::Client<impl ClientContext> {
        self.inner.client()
    }

    /// False after a fatal producer error: the producer cannot write anymore and the
    /// process should be restarted.
    pub(crate) fn is_healthy(&self) -> bool {
        self.inner.client().fatal_error().is_none()
    }

    /// Hands one record to librdkafka. Resolves once it is queued; the returned future
    /// resolves with the delivery report. An empty payload is sent as a tombstone.
    pub(crate) async fn enqueue(
        &self,
        topic: &str,
        partition: u32,
        record: &Outgoing,
    ) -> Result<Delivery, BusError> {
        let started = Instant::now();
        let mut rec: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic)
            .key(&record.key[..])
            .partition(partition as i32);
        if !record.payload.is_empty() {
            rec = rec.payload(&record.payload[..]);
        }
        loop {
            match self.inner.send_result(rec) {
                Ok(future) => {
                    return Ok(Delivery {
                        future,
                        topic: topic.to_string(),
                        partition,
                        acked: self.acked.clone(),
                    })
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    if started.elapsed() >= QUEUE_WAIT {
                        produce_error();
                        return Err(BusError::Overloaded);
                    }
                    rec = back;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((e, _)) => {
                    produce_error();
                    return Err(broker("kafka produce", e));
                }
            }
        }
    }
}

/// A queued record waiting for its delivery report.
pub(crate) struct Delivery {
    future: DeliveryFuture,
    topic: String,
    partition: u32,
    acked: Arc<AckedOffsets>,
}

/// Waits for the broker's acknowledgement of one record.
pub(crate) async fn delivered(d: Delivery) -> Result<Position, BusError> {
    match d.future.await {
        Ok(Ok(report)) => {
            let offset = u64::try_from(report.offset).map_err(|_| {
                BusError::Broker(format!("bad offset {} in delivery report", report.offset))
            })?;
            debug_assert_eq!(report.partition as u32, d.partition);
            let partition = report.partition as u32;
            if !d.acked.first_ack(&d.topic, partition, offset) {
                // Not durable whatever the broker says (see `acked`): the caller's
                // retry stores it again.
                produce_error();
                metrics::counter!("pulsegate_kafka_reused_offsets_total", "topic" => d.topic.clone())
                    .increment(1);
                tracing::warn!(topic = %d.topic, partition, offset,
                    "the broker acknowledged a record at an offset it had given another; treated as not stored");
                return Err(BusError::Broker(format!(
                    "{} partition {partition}: offset {offset} acknowledged twice",
                    d.topic
                )));
            }
            Ok(Position { partition, offset })
        }
        Ok(Err((e, _))) => {
            produce_error();
            Err(match e {
                KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull) => BusError::Overloaded,
                e => broker("kafka delivery", e),
            })
        }
        Err(_) => {
            produce_error();
            Err(BusError::Closed)
        }
    }
}

fn produce_error() {
    metrics::counter!("pulsegate_kafka_produce_errors_total").increment(1);
}

//! Settings of the Kafka backend.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientConfig;
use serde::Deserialize;

use crate::BusError;

/// Settings of the Kafka backend.
///
/// ```toml
/// [bus.kafka]
/// brokers = "kafka-1:9092,kafka-2:9092"
/// topic_prefix = "pulsegate."
/// replication_factor = 3
/// min_insync_replicas = 2
/// session_timeout = "45s"
/// extra = { "security.protocol" = "SASL_SSL", "sasl.mechanism" = "SCRAM-SHA-512" }
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap servers, `host:port[,host:port...]` (librdkafka `bootstrap.servers`).
    pub brokers: String,
    /// Prepended to every topic and consumer-group name, so several installations can
    /// share a cluster. Default `"pulsegate."`.
    #[serde(default = "default_prefix")]
    pub topic_prefix: String,
    /// Replication factor of topics this backend creates. Default 3 (use 1 for a
    /// single-broker development cluster).
    #[serde(default = "default_replication")]
    pub replication_factor: i32,
    /// `min.insync.replicas` set on topics this backend creates; `None` keeps the
    /// broker default. With `acks=all` this is how many replicas a write must reach.
    #[serde(default)]
    pub min_insync_replicas: Option<i32>,
    /// librdkafka `client.id` (shows up in broker logs and quotas). Default `"pulsegate"`.
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// Consumer-group `session.timeout.ms`: a member silent this long is removed and its
    /// partitions move. Default 45s.
    #[serde(default = "default_session_timeout", with = "humantime_serde")]
    pub session_timeout: Duration,
    /// Consumer-group `heartbeat.interval.ms`. Default 3s.
    #[serde(default = "default_heartbeat_interval", with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    /// `max.poll.interval.ms`: a member that does not poll for this long leaves the group.
    /// Default 300s.
    #[serde(default = "default_max_poll_interval", with = "humantime_serde")]
    pub max_poll_interval: Duration,
    /// Producer `linger.ms`: how long records wait to be batched. Default 1ms: ingest's
    /// 2xx waits on the delivery report, so linger is added to every acknowledgement
    /// (64 waiting appenders measured ~10k/s at 5 ms, ~32k/s at 1 ms against tansu).
    #[serde(default = "default_linger", with = "humantime_serde")]
    pub linger: Duration,
    /// Raw librdkafka properties applied to every client (producer, consumers, admin),
    /// e.g. `security.protocol`, `sasl.*`, `ssl.*`. Properties the backend relies on for
    /// its guarantees (see [`PROTECTED_PROPERTIES`]) are rejected.
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
}

/// librdkafka properties `extra` may not override: the delivery and commit guarantees
/// of the bus depend on them.
pub const PROTECTED_PROPERTIES: &[&str] = &[
    "bootstrap.servers",
    "group.id",
    "enable.idempotence",
    "acks",
    "request.required.acks",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "auto.offset.reset",
    "enable.partition.eof",
    "allow.auto.create.topics",
];

fn default_prefix() -> String {
    "pulsegate.".into()
}
fn default_replication() -> i32 {
    3
}
fn default_client_id() -> String {
    "pulsegate".into()
}
fn default_session_timeout() -> Duration {
    Duration::from_secs(45)
}
fn default_heartbeat_interval() -> Duration {
    Duration::from_secs(3)
}
fn default_max_poll_interval() -> Duration {
    Duration::from_secs(300)
}
fn default_linger() -> Duration {
    Duration::from_millis(1)
}

impl KafkaConfig {
    /// Defaults for everything but the brokers.
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            topic_prefix: default_prefix(),
            replication_factor: default_replication(),
            min_insync_replicas: None,
            client_id: default_client_id(),
            session_timeout: default_session_timeout(),
            heartbeat_interval: default_heartbeat_interval(),
            max_poll_interval: default_max_poll_interval(),
            linger: default_linger(),
            extra: BTreeMap::new(),
        }
    }

    /// Checks what can be checked without a cluster (also done by `KafkaBus::connect`).
    pub fn validate(&self) -> Result<(), BusError> {
        if self.brokers.trim().is_empty() {
            return Err(BusError::Broker("kafka.brokers is empty".into()));
        }
        if self.replication_factor < 1 {
            return Err(BusError::Broker(
                "kafka.replication_factor must be at least 1".into(),
            ));
        }
        if let Some(key) = self
            .extra
            .keys()
            .find(|k| PROTECTED_PROPERTIES.contains(&k.as_str()))
        {
            return Err(BusError::Broker(format!(
                "kafka.extra may not set {key:?}: the bus manages it"
            )));
        }
        Ok(())
    }

    /// Properties shared by every client of this backend.
    pub(crate) fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("client.id", &self.client_id)
            .set("allow.auto.create.topics", "false");
        for (k, v) in &self.extra {
            c.set(k, v);
        }
        c
    }

    pub(crate) fn topic_name(&self, topic: &str) -> String {
        format!("{}{}", self.topic_prefix, topic)
    }

    pub(crate) fn group_name(&self, group: &str) -> String {
        format!("{}{}", self.topic_prefix, group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_durations() {
        let cfg: KafkaConfig = serde_json::from_str(r#"{"brokers": "k:9092"}"#).unwrap();
        assert_eq!(cfg.topic_prefix, "pulsegate.");
        assert_eq!(cfg.replication_factor, 3);
        assert_eq!(cfg.session_timeout, Duration::from_secs(45));
        assert_eq!(cfg.heartbeat_interval, Duration::from_secs(3));
        assert_eq!(cfg.max_poll_interval, Duration::from_secs(300));
        assert_eq!(cfg.linger, Duration::from_millis(1));
        assert_eq!(cfg.min_insync_replicas, None);

        let cfg: KafkaConfig = serde_json::from_str(
            r#"{"brokers": "k:9092", "session_timeout": "6s", "linger": "1ms",
                "extra": {"security.protocol": "SASL_SSL"}, "min_insync_replicas": 2}"#,
        )
        .unwrap();
        assert_eq!(cfg.session_timeout, Duration::from_secs(6));
        assert_eq!(cfg.linger, Duration::from_millis(1));
        assert_eq!(cfg.extra["security.protocol"], "SASL_SSL");
        assert!(cfg.validate().is_ok());
    }

    #[test]
    fn config_rejects_unknown_and_protected_keys() {
        assert!(serde_json::from_str::<KafkaConfig>(r#"{"brokers": "k", "brokerz": 1}"#).is_err());
        let mut cfg = KafkaConfig::new("k:9092");
        cfg.extra.insert("enable.auto.commit".into(), "true".into());
        assert!(cfg.validate().is_err());
        assert!(KafkaConfig::new(" ").validate().is_err());
    }
}

//! What the admin API needs from the dispatcher, as ports this crate owns: the
//! dispatcher's rules for a destination ([`DestinationGuard`]: URL and SSRF check,
//! secret format, where delivery starts) and this process's recent attempts
//! ([`DeliveryLog`]). The binary implements them with the dispatcher
//! (`crates/pulsegate/src/adapters.rs`), so this crate never imports a stage.

use std::sync::Arc;

use async_trait::async_trait;
use pulsegate_bus::{Bus, BusError};
use pulsegate_schema::{ClaimCheck, DeliveryRecord, KafkaAuth, Provider, Secret};

/// The dispatcher's rules for a destination an operator registers.
#[async_trait]
pub trait DestinationGuard: Send + Sync + 'static {
    /// Refuses a URL the dispatcher would not deliver to: not http(s), no host, or
    /// (unless `allow_private_networks`) a loopback/private host (SSRF). The message
    /// names the host, never the path or query.
    fn check_url(&self, url: &str, allow_private_networks: bool) -> Result<(), String>;

    /// A customer-supplied signing secret, if the dispatcher can sign with it. The
    /// message never echoes the secret.
    fn check_secret(&self, raw: &str) -> Result<Secret, String>;

    /// Refuses Kafka settings the dispatcher would not use (credentials only with a
    /// Kafka URL and a SASL mechanism it speaks; a CA bundle only with `kafkas://`).
    /// The message never echoes the password.
    fn check_kafka_settings(
        &self,
        url: &str,
        auth: Option<&KafkaAuth>,
        ca_pem: Option<&str>,
    ) -> Result<(), String>;

    /// Refuses claim-check settings the dispatcher would not use (only on webhooks; an
    /// `s3://` store the SSRF guard accepts; both keys; an expiry S3 can sign). The
    /// message names the field and never echoes the secret key.
    fn check_claim_check(
        &self,
        url: &str,
        claim_check: Option<&ClaimCheck>,
        allow_private_networks: bool,
    ) -> Result<(), String>;

    /// A fresh signing secret (`whsec_…`).
    fn new_secret(&self) -> Secret;

    /// Makes a new destination's delivery start from now, durably, before the
    /// destination is stored.
    async fn start_from_now(&self, bus: &dyn Bus, destination_id: &str) -> Result<(), BusError>;
}

/// The last delivery attempts of this process (empty where the dispatcher does not run).
pub trait DeliveryLog: Send + Sync + 'static {
    /// The newest `limit` attempts, newest first, optionally of one destination.
    fn latest(&self, destination: Option<&str>, limit: usize) -> Vec<DeliveryRecord>;

    /// True once a dispatcher in this process records into the log.
    fn is_recording(&self) -> bool;

    /// How many attempts are kept.
    fn capacity(&self) -> usize;
}

/// One destination's delivery metrics as `/metrics` exports them, cumulative since the
/// process started (what the dispatcher counted in this process).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeliveryReading {
    /// `pulsegate_deliveries_total{outcome="delivered"}`.
    pub delivered: u64,
    /// Every other `outcome` of `pulsegate_deliveries_total` (failed, timeout, gone, …).
    pub failed: std::collections::BTreeMap<String, u64>,
    /// `pulsegate_delivery_seconds` buckets: (upper bound in seconds, cumulative count),
    /// ascending, +Inf last.
    pub latency_buckets: Vec<(f64, u64)>,
    /// `pulsegate_retries_scheduled_total`, all tiers.
    pub retries_scheduled: u64,
    /// `pulsegate_dead_letters_total`.
    pub dead_letters: u64,
    /// `pulsegate_consumer_lag` of the destination's group on `events`, all partitions:
    /// events not yet attempted (`None` before the group first commits here).
    pub waiting: Option<u64>,
    /// `pulsegate_destination_breaker_open`.
    pub breaker_open: bool,
}

impl DeliveryReading {
    pub fn failed_total(&self) -> u64 {
        self.failed.values().sum()
    }
}

/// The dispatcher's metrics of this process, per destination id (read from the same
/// recorder `/metrics` renders, so the dashboard and Prometheus show the same numbers).
pub trait DeliveryMetrics: Send + Sync + 'static {
    fn read(&self) -> std::collections::HashMap<String, DeliveryReading>;
}

/// What a provider's push route has seen in this process (times in ms since the epoch).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PushReport {
    /// The route is mounted: the provider is configured and has its credentials.
    pub mounted: bool,
    pub last_notification_ms: Option<u64>,
    /// Pushes refused as unverified (signature, token, stale, replay).
    pub verification_failures: u64,
    pub last_failure_ms: Option<u64>,
}

/// Ingest's view of its provider routes (`None` where this process does not ingest, or
/// for providers that do not push).
pub trait IngestActivity: Send + Sync + 'static {
    fn push(&self, provider: Provider) -> Option<PushReport>;
}

/// One topic's offsets as the bus reports them, with the consumer groups the stages
/// read it with ([`TopicOffsets`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopicReading {
    pub topic: String,
    /// End offset (exclusive: the next offset to be written) of each partition, by
    /// partition number.
    pub end_offsets: Vec<u64>,
    pub groups: Vec<GroupReading>,
}

/// A consumer group's committed offsets on one topic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupReading {
    pub group: String,
    /// The next offset the group will read, by partition number; `None` where it never
    /// committed.
    pub committed: Vec<Option<u64>>,
}

/// The log's topics, partitions and consumer groups as an operator inspects them. The
/// bus knows offsets and group names; which stage reads which topic with which group is
/// the binary's knowledge, so its adapter implements this.
#[async_trait]
pub trait TopicOffsets: Send + Sync + 'static {
    /// Every topic pulsegate uses that exists on the bus, in a stable order, each with
    /// the groups that consume it (for `events`: the delivery group of each destination
    /// in `destinations`).
    async fn read(&self, destinations: &[String]) -> Result<Vec<TopicReading>, String>;
}

/// This process's log filter, changed at runtime (`/v1/admin/log-level`). The binary
/// implements it over its `tracing_subscriber` reload handle.
pub trait LogLevel: Send + Sync + 'static {
    /// The filter in force (`tracing_subscriber::EnvFilter` directives).
    fn current(&self) -> String;

    /// The filter of the configuration (`[log] level`), what a restart would use.
    fn configured(&self) -> String;

    /// Validates `filter` and puts it in force; the message says what is wrong with it.
    fn set(&self, filter: &str) -> Result<(), String>;
}

/// The ports [`router`](crate::router) and [`deliveries_router`](crate::deliveries_router)
/// serve with.
#[derive(Clone)]
pub struct AdminPorts {
    pub destinations: Arc<dyn DestinationGuard>,
    pub deliveries: Arc<dyn DeliveryLog>,
    pub ingest: Arc<dyn IngestActivity>,
    /// Per-destination figures over time, sampled from the delivery metrics.
    pub health: crate::health::HealthSampler,
    /// The log's offsets and consumer lag (`GET /v1/admin/topics`).
    pub topics: Arc<dyn TopicOffsets>,
    /// This process's log filter (`GET`/`PUT /v1/admin/log-level`).
    pub log_level: Arc<dyn LogLevel>,
}

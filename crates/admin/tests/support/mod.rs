//! The admin API's ports wired to the real dispatcher, as the binary's adapters
//! (`crates/pulsegate/src/adapters.rs`) wire them: the tests check the answers
//! operators get, URL/SSRF and secret rules included.

use std::sync::Arc;

use async_trait::async_trait;
use pulsegate_admin::{AdminPorts, DeliveryLog, DestinationGuard};
use pulsegate_bus::{Bus, BusError};
use pulsegate_dispatcher::RecentDeliveries;
use pulsegate_schema::{DeliveryRecord, KafkaAuth, Secret};

struct Rules;

#[async_trait]
impl DestinationGuard for Rules {
    fn check_url(&self, url: &str, allow_private_networks: bool) -> Result<(), String> {
        pulsegate_dispatcher::validate_destination_url(url, allow_private_networks)
            .map_err(|e| e.to_string())
    }

    fn check_secret(&self, raw: &str) -> Result<Secret, String> {
        pulsegate_dispatcher::parse_secret(raw).map_err(|e| e.to_string())
    }

    fn check_kafka_settings(
        &self,
        url: &str,
        auth: Option<&KafkaAuth>,
        ca_pem: Option<&str>,
    ) -> Result<(), String> {
        pulsegate_dispatcher::check_kafka_settings(url, auth, ca_pem)
    }

    fn check_claim_check(
        &self,
        url: &str,
        claim_check: Option<&pulsegate_schema::ClaimCheck>,
        allow_private_networks: bool,
    ) -> Result<(), String> {
        pulsegate_dispatcher::check_claim_check(url, claim_check, allow_private_networks)
    }

    fn new_secret(&self) -> Secret {
        pulsegate_dispatcher::generate_secret()
    }

    async fn start_from_now(&self, bus: &dyn Bus, destination_id: &str) -> Result<(), BusError> {
        pulsegate_dispatcher::start_destination_cursor(bus, destination_id).await
    }
}

struct Log(RecentDeliveries);

impl DeliveryLog for Log {
    fn latest(&self, destination: Option<&str>, limit: usize) -> Vec<DeliveryRecord> {
        self.0.latest(destination, limit)
    }

    fn is_recording(&self) -> bool {
        self.0.is_recording()
    }

    fn capacity(&self) -> usize {
        self.0.capacity()
    }
}

pub fn ports(recent: RecentDeliveries) -> AdminPorts {
    let deliveries: Arc<dyn DeliveryLog> = Arc::new(Log(recent));
    AdminPorts {
        destinations: Arc::new(Rules),
        health: pulsegate_admin::HealthSampler::new(Arc::new(NoMetrics), deliveries.clone()),
        deliveries,
        ingest: Arc::new(NoIngest),
        topics: Arc::new(NoTopics),
        log_level: Arc::new(FakeLogLevel::default()),
    }
}

/// No log offsets in these tests (the binary reads its bus).
struct NoTopics;

#[async_trait]
impl pulsegate_admin::TopicOffsets for NoTopics {
    async fn read(&self, _: &[String]) -> Result<Vec<pulsegate_admin::TopicReading>, String> {
        Ok(Vec::new())
    }
}

/// A log filter held in memory (the binary's reloads its subscriber's); refuses any
/// filter containing `bogus`.
#[derive(Default)]
struct FakeLogLevel(std::sync::Mutex<Option<String>>);

impl pulsegate_admin::LogLevel for FakeLogLevel {
    fn current(&self) -> String {
        self.0
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(|| self.configured())
    }

    fn configured(&self) -> String {
        "info".into()
    }

    fn set(&self, filter: &str) -> Result<(), String> {
        if filter.contains("bogus") {
            return Err(format!("invalid directive {filter:?}"));
        }
        *self.0.lock().unwrap() = Some(filter.to_string());
        Ok(())
    }
}

/// No dispatcher metrics in these tests (the binary reads its recorder).
struct NoMetrics;

impl pulsegate_admin::DeliveryMetrics for NoMetrics {
    fn read(&self) -> std::collections::HashMap<String, pulsegate_admin::DeliveryReading> {
        std::collections::HashMap::new()
    }
}

/// A process without ingest: no push activity to report.
struct NoIngest;

impl pulsegate_admin::IngestActivity for NoIngest {
    fn push(&self, _: pulsegate_schema::Provider) -> Option<pulsegate_admin::PushReport> {
        None
    }
}

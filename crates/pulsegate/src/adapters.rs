//! The stages seen through the front doors' ports. A port is a trait owned by the crate
//! that uses it (`pulsegate_terra_api::HistoricalData`, …); its adapter lives here, in
//! the one crate that sees both sides, so the front doors never import a stage and the
//! Cargo graph points one way.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use pulsegate_admin::{AdminPorts, DeliveryLog, DestinationGuard};
use pulsegate_bus::{Bus, BusError};
use pulsegate_dispatcher::RecentDeliveries;
use pulsegate_normalizer::backfill::{BackfillError, Backfiller};
use pulsegate_schema::{
    Connection, DeliveryRecord, EventType, KafkaAuth, Secret, WriteOp, WriteResult,
};
use pulsegate_terra_api::{BackfillFailure, HistoricalData, ProviderWrites};

/// The normalizer's backfill as the `/v2` data and write endpoints use it.
pub(crate) struct NormalizerBackfill(pub(crate) Arc<Backfiller>);

#[async_trait]
impl HistoricalData for NormalizerBackfill {
    async fn fetch(
        &self,
        conn: &Connection,
        data_type: EventType,
        start: NaiveDate,
        end: NaiveDate,
        with_samples: bool,
    ) -> Result<Vec<serde_json::Value>, BackfillFailure> {
        self.0
            .fetch(conn, data_type, start, end, with_samples)
            .await
            .map_err(failure)
    }

    async fn request(
        &self,
        conn: &Connection,
        data_type: EventType,
        start: NaiveDate,
        end: NaiveDate,
        with_samples: bool,
    ) -> Result<String, BackfillFailure> {
        self.0
            .request(conn, data_type, start, end, with_samples)
            .await
            .map_err(failure)
    }
}

#[async_trait]
impl ProviderWrites for NormalizerBackfill {
    async fn write(&self, conn: &Connection, op: WriteOp) -> Result<WriteResult, BackfillFailure> {
        self.0.write(conn, op).await.map_err(failure)
    }
}

/// The dispatcher's rules for a destination, as the admin API checks them.
pub(crate) struct DispatcherRules;

#[async_trait]
impl DestinationGuard for DispatcherRules {
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

/// This process's ring of delivery attempts, as the admin API lists them.
pub(crate) struct RecentLog(pub(crate) RecentDeliveries);

impl DeliveryLog for RecentLog {
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

/// The admin API's ports over the dispatcher (`recent`: this process's ring; `metrics`:
/// the recorder `/metrics` renders, which the health panel samples; `topics`: the log's
/// offsets).
pub(crate) fn admin_ports(
    recent: RecentDeliveries,
    ingest: Option<pulsegate_ingest::IngestHandle>,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
    topics: crate::bus_offsets::BusOffsets,
) -> AdminPorts {
    let deliveries: Arc<dyn DeliveryLog> = Arc::new(RecentLog(recent));
    let health = pulsegate_admin::HealthSampler::new(
        Arc::new(crate::delivery_metrics::RecorderMetrics(metrics)),
        deliveries.clone(),
    );
    AdminPorts {
        destinations: Arc::new(DispatcherRules),
        deliveries,
        ingest: Arc::new(IngestRoutes(ingest)),
        health,
        topics: Arc::new(topics),
        log_level: Arc::new(ProcessLogLevel),
    }
}

/// This process's log filter (telemetry.rs's reload handle).
struct ProcessLogLevel;

impl pulsegate_admin::LogLevel for ProcessLogLevel {
    fn current(&self) -> String {
        crate::telemetry::log_control().map_or_else(String::new, |c| c.current())
    }

    fn configured(&self) -> String {
        crate::telemetry::log_control().map_or_else(String::new, |c| c.configured())
    }

    fn set(&self, filter: &str) -> Result<(), String> {
        match crate::telemetry::log_control() {
            Some(c) => c.set(filter, "admin API"),
            None => Err("the logger is not installed".into()),
        }
    }
}

/// This process's ingest routes (none in a process that does not ingest).
struct IngestRoutes(Option<pulsegate_ingest::IngestHandle>);

impl pulsegate_admin::IngestActivity for IngestRoutes {
    fn push(&self, p: pulsegate_schema::Provider) -> Option<pulsegate_admin::PushReport> {
        let a = self.0.as_ref()?.activity(p);
        Some(pulsegate_admin::PushReport {
            mounted: a.mounted,
            last_notification_ms: a.last_accepted_ms,
            verification_failures: a.verification_failures,
            last_failure_ms: a.last_failure_ms,
        })
    }
}

/// The normalizer's reasons as terra-api's one error type (each one Terra answer).
fn failure(e: BackfillError) -> BackfillFailure {
    match e {
        BackfillError::Unsupported {
            provider,
            data_type,
        } => BackfillFailure::Unsupported {
            provider: provider.to_string(),
            data_type: data_type.to_string(),
        },
        BackfillError::Provider(m) => BackfillFailure::Provider(m),
        BackfillError::RateLimited { retry_after } => BackfillFailure::RateLimited {
            retry_after_seconds: retry_after.as_secs().max(1),
        },
        BackfillError::Continued {
            reference,
            retry_after,
        } => BackfillFailure::Continued {
            reference,
            retry_after_seconds: retry_after.as_secs_f64().ceil().max(1.0) as u64,
        },
        BackfillError::ConnectionError(m) => BackfillFailure::ConnectionError(m.to_string()),
        BackfillError::InvalidRange(m) => BackfillFailure::InvalidRange(m),
        BackfillError::Disabled(m) => BackfillFailure::Disabled(m),
        BackfillError::Bus(e) => BackfillFailure::Unavailable(e.to_string()),
        BackfillError::State(m) => BackfillFailure::Unavailable(m),
        BackfillError::WriteUnsupported(m) => BackfillFailure::WriteUnsupported(m),
        BackfillError::InvalidWrite(m) => BackfillFailure::InvalidWrite(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backfill_errors_map_to_answers() {
        assert_eq!(
            failure(BackfillError::Unsupported {
                provider: "STRAVA",
                data_type: "sleep"
            }),
            BackfillFailure::Unsupported {
                provider: "STRAVA".into(),
                data_type: "sleep".into()
            }
        );
        assert_eq!(
            failure(BackfillError::RateLimited {
                retry_after: std::time::Duration::from_millis(10)
            }),
            BackfillFailure::RateLimited {
                retry_after_seconds: 1
            }
        );
        assert_eq!(
            failure(BackfillError::InvalidRange("too long".into())),
            BackfillFailure::InvalidRange("too long".into())
        );
        assert_eq!(
            failure(BackfillError::State("down".into())),
            BackfillFailure::Unavailable("down".into())
        );
    }
}

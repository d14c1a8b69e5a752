//! `POST /v1/admin/backup` and `POST /v1/admin/keys/rotate` over a real embedded log:
//! the archive streamed and intact, 409 where the log (Kafka) or the process (no
//! sealing layer) cannot do it, the token required.

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use pulsegate_admin::{router, AdminConfig};
use pulsegate_bus::embedded::{EmbeddedBus, EmbeddedConfig};
use pulsegate_bus::{Bus, BusError, Consumer, OffsetReset, Outgoing, Position, TopicSpec};
use pulsegate_schema::Secret;
use pulsegate_state::StateStore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

mod support;

const TOKEN: &str = "admin-secret-token";

/// The embedded log seen as a backend without backups of its own (as Kafka is).
struct LikeKafka(Arc<EmbeddedBus>);

#[async_trait]
impl Bus for LikeKafka {
    async fn ensure_topic(&self, spec: &TopicSpec) -> Result<(), BusError> {
        self.0.ensure_topic(spec).await
    }
    async fn append(&self, topic: &str, record: Outgoing) -> Result<Position, BusError> {
        self.0.append(topic, record).await
    }
    async fn append_batch(&self, topic: &str, r: Vec<Outgoing>) -> Result<Vec<Position>, BusError> {
        self.0.append_batch(topic, r).await
    }
    async fn subscribe(
        &self,
        topic: &str,
        group: &str,
        reset: OffsetReset,
    ) -> Result<Box<dyn Consumer>, BusError> {
        self.0.subscribe(topic, group, reset).await
    }
    async fn read_from_start(&self, topic: &str) -> Result<Box<dyn Consumer>, BusError> {
        self.0.read_from_start(topic).await
    }
    fn is_healthy(&self) -> bool {
        true
    }
    fn kind(&self) -> &'static str {
        "kafka"
    }
}

async fn app(bus: Arc<dyn Bus>) -> axum::Router {
    let state = StateStore::start(bus.clone(), CancellationToken::new())
        .await
        .unwrap();
    let cfg = AdminConfig {
        token: Secret::new(TOKEN),
        ..Default::default()
    };
    let connect = pulsegate_connect::ConnectService::new(
        pulsegate_connect::ConnectConfig::default(),
        state.clone(),
        bus.clone(),
    )
    .unwrap();
    let recent = pulsegate_dispatcher::RecentDeliveries::new();
    router(state, bus, cfg, connect, support::ports(recent))
}

async fn post(app: &axum::Router, path: &str, token: Option<&str>) -> (StatusCode, Vec<u8>) {
    let mut req = Request::builder().method("POST").uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    (
        status,
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_is_streamed_intact_and_refused_on_kafka() {
    let dir = tempfile::tempdir().unwrap();
    let embedded = Arc::new(EmbeddedBus::open(EmbeddedConfig::new(dir.path())).unwrap());
    embedded
        .ensure_topic(&TopicSpec::new("events", 2))
        .await
        .unwrap();
    for i in 0..300 {
        // Enough bytes for several streamed chunks.
        let payload = format!("{i:04}").repeat(1000);
        embedded
            .append("events", Outgoing::new(format!("u{i}"), payload))
            .await
            .unwrap();
    }
    let app_embedded = app(embedded.clone()).await;
    for path in ["/v1/admin/backup", "/v1/admin/keys/rotate"] {
        assert_eq!(
            post(&app_embedded, path, None).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let (status, archive) = post(&app_embedded, "/v1/admin/backup", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    let summary = pulsegate_bus::embedded::backup::verify(&archive[..]).unwrap();
    let events = summary.topics.iter().find(|t| t.name == "events").unwrap();
    assert_eq!(events.records, 300);
    assert!(summary.topics.iter().any(|t| t.name == "state"));

    // No sealing layer in this process: nothing to re-seal with.
    let (status, body) = post(&app_embedded, "/v1/admin/keys/rotate", Some(TOKEN)).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "{}",
        String::from_utf8_lossy(&body)
    );

    let app_kafka = app(Arc::new(LikeKafka(embedded))).await;
    let (status, body) = tokio::time::timeout(
        Duration::from_secs(10),
        post(&app_kafka, "/v1/admin/backup", Some(TOKEN)),
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::CONFLICT);
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("Kafka's own tooling"),
        "{body}"
    );
}

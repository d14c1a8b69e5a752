//! A real embedded bus in a tempdir, a real state store, MockStrava, and the normalizer
//! running against them.
#![allow(dead_code, reason = "shared by several test crates; each uses a part")]

use std::sync::Arc;
use std::time::Duration;

use pulsegate_bus::embedded::{EmbeddedBus, EmbeddedConfig};
use pulsegate_bus::{Bus, Outgoing, TopicSpec};
use pulsegate_normalizer::{NormalizeError, NormalizerConfig, RetryConfig, GROUP};
use pulsegate_schema::{topics, Connection, ConnectionStatus, Provider, Secret};
use pulsegate_state::StateStore;
use pulsegate_testkit::strava::{MockStrava, CLIENT_ID, CLIENT_SECRET};
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const OWNER: u64 = 134815;
pub const USER_ID: &str = "3f0c6a2e-0000-4000-8000-000000000001";
pub const TOKEN: &str = "tok-1";
pub const REFRESH: &str = "ref-1";

pub struct Harness {
    _dir: tempfile::TempDir,
    pub embedded: EmbeddedBus,
    pub bus: Arc<dyn Bus>,
    pub state: Arc<StateStore>,
    pub strava: MockStrava,
    shutdown: CancellationToken,
    task: Option<JoinHandle<Result<(), NormalizeError>>>,
    appended: u64,
    seq: u64,
}

pub fn connection(expires_at: i64, access: &str, refresh: &str) -> Connection {
    Connection {
        user_id: USER_ID.into(),
        provider: Provider::Strava,
        provider_user_id: OWNER.to_string(),
        reference_id: Some("customer-user-42".into()),
        access_token: Secret::new(access),
        refresh_token: Secret::new(refresh),
        expires_at,
        scopes: Some("read,activity:read_all".into()),
        status: ConnectionStatus::Active,
        created_at_ms: 1,
        dev_id: None,
        metadata: Default::default(),
    }
}

pub fn now_secs() -> i64 {
    (pulsegate_schema::now_ms() / 1000) as i64
}

pub fn config(api_base: String) -> NormalizerConfig {
    let c = NormalizerConfig {
        concurrency: 8,
        dedupe_capacity: 1000,
        retry: RetryConfig {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
        },
        ..NormalizerConfig::default()
    };
    c.with_provider(
        pulsegate_schema::Provider::Strava,
        serde_json::json!({
            "api_base": api_base,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "request_timeout": "5s",
        }),
    )
}

impl Harness {
    /// Everything up, with an active connection for [`OWNER`] whose token the mock accepts
    /// (`conn` overrides it), and the normalizer running.
    pub async fn start(conn: Option<Connection>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let embedded = EmbeddedBus::open(EmbeddedConfig::new(dir.path())).unwrap();
        let bus: Arc<dyn Bus> = Arc::new(embedded.clone());
        bus.ensure_topic(&TopicSpec::new(topics::RAW, 1))
            .await
            .unwrap();
        bus.ensure_topic(&TopicSpec::new(topics::EVENTS, 2))
            .await
            .unwrap();
        let shutdown = CancellationToken::new();
        let state = StateStore::start(bus.clone(), shutdown.clone())
            .await
            .unwrap();
        let strava = MockStrava::start().await;
        strava.set_token(OWNER, TOKEN);
        strava.set_refresh_token(OWNER, REFRESH);
        let conn = conn.unwrap_or_else(|| connection(now_secs() + 3600, TOKEN, REFRESH));
        state.put_connection(&conn).await.unwrap();
        let task = tokio::spawn(pulsegate_normalizer::run(
            bus.clone(),
            state.clone(),
            config(strava.base_url()),
            pulsegate_normalizer::Limiters::new(),
            shutdown.clone(),
        ));
        Self {
            _dir: dir,
            embedded,
            bus,
            state,
            strava,
            shutdown,
            task: Some(task),
            appended: 0,
            seq: 0,
        }
    }

    /// Appends a raw Strava notification (as ingest would) and returns its raw id.
    pub async fn notify(&mut self, body: Value) -> String {
        self.seq += 1;
        let id = format!("raw-{}", self.seq);
        let owner = body["owner_id"].to_string();
        let raw = json!({
            "id": id,
            "provider": "STRAVA",
            "provider_user_id": owner,
            "received_at_ms": 1_700_000_000_000u64 + self.seq,
            "body": body,
        });
        self.append_raw(format!("strava:{owner}"), serde_json::to_vec(&raw).unwrap())
            .await;
        id
    }

    pub async fn append_raw(&mut self, key: String, payload: Vec<u8>) {
        self.bus
            .append(topics::RAW, Outgoing::new(key, payload))
            .await
            .unwrap();
        self.appended += 1;
    }

    /// Waits until the normalizer committed every raw record appended so far (so each was
    /// fully handled: events durable, or dropped).
    pub async fn settle(&self) {
        let want = self.appended;
        let wait = async {
            loop {
                let committed: u64 = self
                    .embedded
                    .committed_offsets(topics::RAW, GROUP)
                    .unwrap()
                    .iter()
                    .sum();
                if committed >= want {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .expect("normalizer did not finish the raw records in 30 s");
    }

    /// Every record on the events topic, as JSON.
    pub async fn events(&self) -> Vec<Value> {
        let mut consumer = self.bus.read_from_start(topics::EVENTS).await.unwrap();
        let mut out = Vec::new();
        while !consumer.caught_up() {
            for r in consumer
                .poll(1000, Duration::from_millis(50))
                .await
                .unwrap()
            {
                assert_eq!(
                    r.key.as_ref(),
                    USER_ID.as_bytes(),
                    "events are keyed by user_id"
                );
                out.push(serde_json::from_slice(&r.payload).unwrap());
            }
        }
        out.sort_by_key(|e: &Value| e["reference"].as_str().unwrap_or("").to_string());
        out
    }

    /// Stops the normalizer (in-flight records finish and commit) and returns the events.
    pub async fn stop(mut self) -> Vec<Value> {
        self.settle().await;
        self.shutdown.cancel();
        self.task.take().unwrap().await.unwrap().unwrap();
        self.events().await
    }
}

pub fn activity_event(object_id: u64, aspect: &str, event_time: i64) -> Value {
    json!({
        "object_type": "activity",
        "object_id": object_id,
        "aspect_type": aspect,
        "updates": if aspect == "update" { json!({"title": "Messy"}) } else { json!({}) },
        "owner_id": OWNER,
        "subscription_id": 120475,
        "event_time": event_time,
    })
}

pub fn deauth_event(event_time: i64) -> Value {
    json!({
        "object_type": "athlete",
        "object_id": OWNER,
        "aspect_type": "update",
        "updates": {"authorized": "false"},
        "owner_id": OWNER,
        "subscription_id": 120475,
        "event_time": event_time,
    })
}

//! Garmin signs nothing: `deregistrations` and `userPermissionsChange` pushes are only
//! acted on once Garmin's user permissions endpoint, asked with the user's own token,
//! agrees. A real embedded bus and state store, the normalizer, and a mock of Garmin's
//! API on 127.0.0.1.

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{config, now_secs};
use pulsegate_bus::embedded::{EmbeddedBus, EmbeddedConfig};
use pulsegate_bus::{Bus, Outgoing, TopicSpec};
use pulsegate_normalizer::GROUP;
use pulsegate_schema::{topics, Connection, ConnectionStatus, Provider, Secret};
use pulsegate_state::StateStore;
use pulsegate_testkit::provider_api::{MockApi, TokenStyle};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

const USER: &str = "garmin-user-1";
const USER_ID: &str = "3f0c6a2e-0000-4000-8000-0000000000aa";
const TOKEN: &str = "garmin-access";
const REFRESH: &str = "garmin-refresh";
const PERMISSIONS: &str = "/wellness-api/rest/user/permissions";
const TOKEN_PATH: &str = "/oauth/token";

struct Garmin {
    _dir: tempfile::TempDir,
    embedded: EmbeddedBus,
    bus: Arc<dyn Bus>,
    state: Arc<StateStore>,
    api: MockApi,
    shutdown: CancellationToken,
    appended: u64,
}

impl Garmin {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let embedded = EmbeddedBus::open(EmbeddedConfig::new(dir.path())).unwrap();
        let bus: Arc<dyn Bus> = Arc::new(embedded.clone());
        bus.ensure_topic(&TopicSpec::new(topics::RAW, 1))
            .await
            .unwrap();
        bus.ensure_topic(&TopicSpec::new(topics::EVENTS, 1))
            .await
            .unwrap();
        let shutdown = CancellationToken::new();
        let state = StateStore::start(bus.clone(), shutdown.clone())
            .await
            .unwrap();
        let api = MockApi::start().await;
        api.token_endpoint(TOKEN_PATH, TokenStyle::Standard);
        api.accept_token(TOKEN);
        api.accept_refresh_token(REFRESH);
        api.json("GET", PERMISSIONS, json!(["ACTIVITY_EXPORT"]));
        state
            .put_connection(&Connection {
                user_id: USER_ID.into(),
                provider: Provider::Garmin,
                provider_user_id: USER.into(),
                reference_id: None,
                access_token: Secret::new(TOKEN),
                refresh_token: Secret::new(REFRESH),
                expires_at: now_secs() + 3600,
                scopes: Some("ACTIVITY_EXPORT HEALTH_EXPORT".into()),
                status: ConnectionStatus::Active,
                created_at_ms: 1,
                dev_id: None,
                metadata: Default::default(),
            })
            .await
            .unwrap();
        let cfg = config("http://127.0.0.1:9".into()).with_provider(
            Provider::Garmin,
            serde_json::json!({
                "api_base": api.base_url(),
                "token_url": format!("{}{TOKEN_PATH}", api.base_url()),
                "client_id": "garmin-client",
                "client_secret": "garmin-secret",
                "request_timeout": "5s",
            }),
        );
        tokio::spawn(pulsegate_normalizer::run(
            bus.clone(),
            state.clone(),
            cfg,
            pulsegate_normalizer::Limiters::new(),
            shutdown.clone(),
        ));
        Self {
            _dir: dir,
            embedded,
            bus,
            state,
            api,
            shutdown,
            appended: 0,
        }
    }

    /// Appends a Garmin notification for [`USER`] (as ingest would) and waits until the
    /// normalizer has handled it.
    async fn push(&mut self, body: Value) {
        self.appended += 1;
        let raw = json!({"id": format!("raw-{}", self.appended), "provider": "GARMIN",
                         "provider_user_id": USER, "received_at_ms": 1, "body": body});
        self.bus
            .append(
                topics::RAW,
                Outgoing::new(format!("garmin:{USER}"), serde_json::to_vec(&raw).unwrap()),
            )
            .await
            .unwrap();
        let want = self.appended;
        let wait = async {
            while self
                .embedded
                .committed_offsets(topics::RAW, GROUP)
                .unwrap()
                .iter()
                .sum::<u64>()
                < want
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .expect("normalizer did not handle the push in 30 s");
    }

    async fn event_types(&self) -> Vec<String> {
        let mut consumer = self.bus.read_from_start(topics::EVENTS).await.unwrap();
        let mut out = Vec::new();
        while !consumer.caught_up() {
            for r in consumer
                .poll(1000, Duration::from_millis(50))
                .await
                .unwrap()
            {
                let v: Value = serde_json::from_slice(&r.payload).unwrap();
                out.push(v["type"].as_str().unwrap_or("").to_string());
            }
        }
        out
    }

    fn connection(&self) -> Connection {
        (*self.state.connection(USER_ID).unwrap()).clone()
    }
}

impl Drop for Garmin {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Finding 1: a forged deregistration (the user's token still works at Garmin) leaves
/// the connection and its tokens intact and emits no `deauth`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_deregistration_leaves_connection_and_tokens() {
    let mut g = Garmin::start().await;
    g.push(json!({"deregistrations": [{"userId": USER}]})).await;
    let c = g.connection();
    assert_eq!(c.status, ConnectionStatus::Active);
    assert_eq!(c.access_token.expose(), TOKEN);
    assert_eq!(c.refresh_token.expose(), REFRESH);
    assert_eq!(g.api.requests_to(PERMISSIONS).len(), 1, "asked Garmin");
    assert!(g.event_types().await.is_empty());
}

/// A real deregistration: Garmin refuses the token (and its refresh), so the connection
/// is revoked and `deauth` emitted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmed_deregistration_revokes() {
    let mut g = Garmin::start().await;
    g.api.revoke_all();
    g.push(json!({"deregistrations": [{"userId": USER}]})).await;
    let c = g.connection();
    assert_eq!(c.status, ConnectionStatus::Revoked);
    assert!(c.access_token.is_empty() && c.refresh_token.is_empty());
    assert_eq!(g.event_types().await, ["deauth"]);
}

/// A permission change takes Garmin's answer, not the push's list; a push announcing
/// permissions Garmin does not report changes nothing beyond what Garmin says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_change_takes_garmins_answer_not_the_push() {
    let mut g = Garmin::start().await;
    g.push(
        json!({"userPermissionsChange": [{"userId": USER, "summaryId": "p1",
        "permissions": ["ACTIVITY_EXPORT", "HEALTH_EXPORT", "WORKOUT_IMPORT"],
        "changeTimeInSeconds": 1700000000}]}),
    )
    .await;
    assert_eq!(g.connection().scopes.as_deref(), Some("ACTIVITY_EXPORT"));
    assert_eq!(g.event_types().await, ["permission_change"]);
    // Forged again, Garmin unchanged: nothing more.
    g.push(
        json!({"userPermissionsChange": [{"userId": USER, "summaryId": "p2",
        "permissions": [], "changeTimeInSeconds": 1700000001}]}),
    )
    .await;
    assert_eq!(g.connection().scopes.as_deref(), Some("ACTIVITY_EXPORT"));
    assert_eq!(g.event_types().await, ["permission_change"]);
}

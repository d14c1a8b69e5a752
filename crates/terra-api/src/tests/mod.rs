//! The router in-process, on an embedded bus, with a scripted [`HistoricalData`] (and
//! [`ProviderWrites`] at its default, unsupported): answer
//! shapes and parameter checks (`data`: the data endpoints; `accounts`: users,
//! integrations, SDK tokens, the widget). `crates/pulsegate/tests/terra_api.rs` drives the real
//! binary end to end.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::Request;
use axum::Router;
use chrono::NaiveDate;
use http_body_util::BodyExt;
use pulsegate_bus::embedded::{EmbeddedBus, EmbeddedConfig};
use pulsegate_bus::{Bus, TopicSpec};
use pulsegate_connect::{AppCredentials, ConnectConfig, ConnectService};
use pulsegate_schema::{
    api_key_hash, topics, Connection, ConnectionStatus, Developer, EventType, Provider, Secret,
};
use pulsegate_state::StateStore;
use serde_json::{json, Value};
use tower::ServiceExt;

use super::*;

mod accounts;
mod data;
mod oauth;
mod tenants;

type Call = (String, EventType, NaiveDate, NaiveDate, bool, &'static str);

#[derive(Default)]
pub(super) struct Scripted {
    pub(super) calls: Mutex<Vec<Call>>,
}

#[async_trait::async_trait]
impl HistoricalData for Scripted {
    async fn fetch(
        &self,
        conn: &Connection,
        t: EventType,
        start: NaiveDate,
        end: NaiveDate,
        with_samples: bool,
    ) -> Result<Vec<Value>, BackfillFailure> {
        let call = (conn.user_id.clone(), t, start, end, with_samples, "fetch");
        self.calls.lock().unwrap().push(call);
        match t {
            EventType::Activity => Ok(vec![json!({"metadata": {"summary_id": "a1"}})]),
            EventType::Sleep => Err(BackfillFailure::Provider("HTTP 500".into())),
            // February: backfill continued the rate-limited fetch as a webhook request.
            EventType::Daily if chrono::Datelike::month(&start) == 2 => {
                Err(BackfillFailure::Continued {
                    reference: "ref-continued".into(),
                    retry_after_seconds: 12,
                })
            }
            EventType::Daily => Err(BackfillFailure::RateLimited {
                retry_after_seconds: 30,
            }),
            _ => Err(BackfillFailure::Unsupported {
                provider: conn.provider.terra_name().into(),
                data_type: t.as_str().into(),
            }),
        }
    }

    async fn request(
        &self,
        conn: &Connection,
        t: EventType,
        start: NaiveDate,
        end: NaiveDate,
        with_samples: bool,
    ) -> Result<String, BackfillFailure> {
        let call = (conn.user_id.clone(), t, start, end, with_samples, "request");
        self.calls.lock().unwrap().push(call);
        match t {
            EventType::Body | EventType::Nutrition | EventType::Menstruation => {
                Err(BackfillFailure::Unsupported {
                    provider: conn.provider.terra_name().into(),
                    data_type: t.as_str().into(),
                })
            }
            _ => Ok("ref-1".into()),
        }
    }
}

/// Writes nothing: the trait's default (unsupported).
impl ProviderWrites for Scripted {}

pub(super) struct Env {
    _dir: tempfile::TempDir,
    pub(super) state: Arc<StateStore>,
    pub(super) app: Router,
    pub(super) backfill: Arc<Scripted>,
    pub(super) bus: Arc<dyn Bus>,
}

pub(super) async fn env(with_backfill: bool) -> Env {
    env_with(with_backfill, ConnectConfig::default().state_ttl).await
}

/// With the connect flow's router mounted too, and flows valid for `state_ttl`.
pub(super) async fn env_with(with_backfill: bool, state_ttl: std::time::Duration) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let bus: Arc<dyn Bus> = Arc::new(EmbeddedBus::open(EmbeddedConfig::new(dir.path())).unwrap());
    bus.ensure_topic(&TopicSpec::new(topics::EVENTS, 1))
        .await
        .unwrap();
    let state = StateStore::start(bus.clone(), Default::default())
        .await
        .unwrap();
    let mut config = ConnectConfig {
        public_url: "https://pg.example/".into(),
        state_ttl,
        ..Default::default()
    };
    config.apps.insert(
        Provider::Strava,
        AppCredentials {
            client_id: "cid".into(),
            client_secret: Secret::new("csecret"),
        },
    );
    let connect = ConnectService::new(config, state.clone(), bus.clone()).unwrap();
    // Two accounts: "dev" (key "key", the one `call` uses) and "devb" (key "keyb").
    for (dev_id, key) in [("dev", "key"), ("devb", "keyb")] {
        state
            .put_developer(&Developer {
                dev_id: dev_id.into(),
                name: None,
                key_hash: api_key_hash(key),
                created_at_ms: 0,
            })
            .await
            .unwrap();
    }
    let backfill = Arc::new(Scripted::default());
    let dyn_backfill: Option<Arc<dyn HistoricalData>> =
        with_backfill.then(|| backfill.clone() as _);
    let dyn_writes: Option<Arc<dyn ProviderWrites>> = with_backfill.then(|| backfill.clone() as _);
    let app = router(
        state.clone(),
        bus.clone(),
        connect.clone(),
        dyn_backfill,
        dyn_writes,
        TerraApiConfig::default(),
    )
    .merge(pulsegate_connect::router(connect));
    Env {
        _dir: dir,
        state,
        app,
        backfill,
        bus,
    }
}

impl Env {
    pub(super) async fn send(
        &self,
        method: &str,
        uri: &str,
        key: Option<&str>,
        body: &str,
    ) -> (u16, Value) {
        self.send_as("dev", method, uri, key, body).await
    }

    pub(super) async fn send_as(
        &self,
        dev_id: &str,
        method: &str,
        uri: &str,
        key: Option<&str>,
        body: &str,
    ) -> (u16, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(key) = key {
            req = req.header("dev-id", dev_id).header("x-api-key", key);
        }
        let resp = self
            .app
            .clone()
            .oneshot(req.body(Body::from(body.to_string())).unwrap())
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).to_string();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub(super) async fn call(&self, method: &str, uri: &str, body: &str) -> (u16, Value) {
        self.send(method, uri, Some("key"), body).await
    }

    /// A user owned by "dev".
    pub(super) async fn user(&self, id: &str, provider: Provider, reference: &str) -> Connection {
        self.user_of(id, provider, reference, Some("dev")).await
    }

    pub(super) async fn user_of(
        &self,
        id: &str,
        provider: Provider,
        reference: &str,
        owner: Option<&str>,
    ) -> Connection {
        let c = Connection {
            user_id: id.into(),
            provider,
            provider_user_id: format!("p-{id}"),
            reference_id: Some(reference.into()),
            access_token: Secret::new("at"),
            refresh_token: Secret::new("rt"),
            expires_at: 0,
            scopes: Some("read".into()),
            status: ConnectionStatus::Active,
            created_at_ms: 0,
            dev_id: owner.map(str::to_string),
            metadata: Default::default(),
        };
        self.state.put_connection(&c).await.unwrap();
        c
    }
}

pub(super) fn is_terra_error(v: &Value) -> bool {
    v["status"] == "error" && v["message"].as_str().is_some_and(|m| !m.is_empty())
}

#[tokio::test]
async fn every_v2_route_needs_the_developer_headers() {
    let e = env(true).await;
    for (method, path) in [
        ("GET", "/v2/userInfo?user_id=u1"),
        ("GET", "/v2/subscriptions"),
        ("POST", "/v2/auth/generateAuthToken"),
        ("GET", "/v2/activity?user_id=u1&start_date=2026-01-01"),
        ("POST", "/v2/activity"),
        ("GET", "/v2/plannedWorkout"),
    ] {
        for key in [None, Some("wrong"), Some("")] {
            let (status, body) = e.send(method, path, key, "").await;
            assert_eq!(status, 401, "{method} {path} {key:?}");
            assert!(is_terra_error(&body), "{body}");
        }
    }
    let (status, _) = e.call("GET", "/v2/userInfo?user_id=u1", "").await;
    assert_eq!(status, 404);
}

/// As at Terra, the integrations listings need no developer headers: none, wrong ones
/// or right ones, the same answer, with every provider's icon in the detailed one.
#[tokio::test]
async fn the_integrations_listings_are_public_and_carry_icons() {
    let e = env(true).await;
    for path in ["/v2/integrations", "/v2/integrations/detailed?sdk=true"] {
        let (status, authenticated) = e.call("GET", path, "").await;
        assert_eq!(status, 200, "{path}: {authenticated}");
        for key in [None, Some("wrong"), Some("")] {
            let (status, body) = e.send("GET", path, key, "").await;
            assert_eq!(status, 200, "{path} {key:?}: {body}");
            assert_eq!(body, authenticated, "{path} {key:?}");
        }
        let (status, body) = e.send_as("nobody", "GET", path, Some("key"), "").await;
        assert_eq!((status, &body), (200, &authenticated), "{path}");
    }
    let (_, body) = e
        .send("GET", "/v2/integrations/detailed?sdk=true", None, "")
        .await;
    let all = body["providers"].as_array().unwrap();
    assert_eq!(all.len(), Provider::ALL.len());
    for p in all {
        let icon = p["icon"].as_str().unwrap_or_default();
        assert!(icon.starts_with("https://"), "{p}");
        let id = Provider::ALL
            .iter()
            .find(|x| x.terra_name() == p["provider"])
            .unwrap();
        assert_eq!(icon, pulsegate_providers::descriptor(*id).icon, "{p}");
    }
}

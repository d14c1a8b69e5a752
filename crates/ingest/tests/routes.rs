//! The ingest routes against a real embedded log: what is accepted is durably on the
//! `raw` topic; what is refused gets the right 4xx and never reaches it.

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use pulsegate_bus::embedded::{EmbeddedBus, EmbeddedConfig};
use pulsegate_bus::{Bus, TopicSpec};
use pulsegate_ingest::{router, IngestConfig, ThrottleConfig};
use pulsegate_schema::{topics, Provider, RawNotification};
use tower::ServiceExt;

const EVENT: &str = r#"{"aspect_type":"create","event_time":1516126040,"object_id":1360128428,"object_type":"activity","owner_id":134815,"subscription_id":120475,"updates":{}}"#;

struct Setup {
    _dir: tempfile::TempDir,
    bus: EmbeddedBus,
    app: axum::Router,
    state: Arc<pulsegate_state::StateStore>,
    /// Strava's push path, with its token.
    path: String,
}

async fn setup() -> (tempfile::TempDir, EmbeddedBus, axum::Router, String) {
    let s = setup_with(IngestConfig::default().throttle).await;
    (s._dir, s.bus, s.app, s.path)
}

async fn setup_with(throttle: ThrottleConfig) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let bus = EmbeddedBus::open(EmbeddedConfig::new(dir.path())).unwrap();
    bus.ensure_topic(&TopicSpec::new(topics::RAW, 4))
        .await
        .unwrap();
    let cfg = IngestConfig {
        max_body_bytes: 1024,
        throttle,
        ..IngestConfig::default()
    }
    .with_provider(
        Provider::Strava,
        serde_json::json!({ "subscription_id": 120475, "verify_token": "tok-123" }),
    );
    let dyn_bus = Arc::new(bus.clone()) as Arc<dyn Bus>;
    let state = pulsegate_state::StateStore::start(
        dyn_bus.clone(),
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap();
    let path = state
        .ensure_push_token(Provider::Strava)
        .await
        .unwrap()
        .path();
    let app = router(dyn_bus, state.clone(), &cfg);
    Setup {
        _dir: dir,
        bus,
        app,
        state,
        path,
    }
}

async fn send(app: &axum::Router, req: Request<Body>) -> (StatusCode, String) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn post(path: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(path)
        .header("content-type", "application/json")
        .body(body.into())
        .unwrap()
}

#[tokio::test]
async fn challenge_is_echoed_only_with_the_right_token() {
    let (_d, _bus, app, path) = setup().await;
    let ok = Request::get(format!(
        "{path}?hub.mode=subscribe&hub.challenge=15f7d1a9&hub.verify_token=tok-123"
    ))
    .body(Body::empty())
    .unwrap();
    let (status, body) = send(&app, ok).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"hub.challenge": "15f7d1a9"})
    );

    let wrong = Request::get(format!(
        "{path}?hub.mode=subscribe&hub.challenge=x&hub.verify_token=nope"
    ))
    .body(Body::empty())
    .unwrap();
    assert_eq!(send(&app, wrong).await.0, StatusCode::FORBIDDEN);
    let missing = Request::get(path.as_str()).body(Body::empty()).unwrap();
    assert_eq!(send(&app, missing).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn accepted_event_is_on_the_bus_as_received() {
    let (_d, bus, app, path) = setup().await;
    let (status, _) = send(&app, post(&path, EVENT)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bus.stored_records(topics::RAW).unwrap(), 1);
    let mut c = bus
        .subscribe(topics::RAW, "t", pulsegate_bus::OffsetReset::Earliest)
        .await
        .unwrap();
    let recs = c.poll(10, std::time::Duration::from_secs(1)).await.unwrap();
    let raw: RawNotification = serde_json::from_slice(&recs[0].payload).unwrap();
    assert_eq!(raw.provider_user_id, "134815");
    assert_eq!(raw.body.get(), EVENT);
    assert_eq!(recs[0].key.as_ref(), b"strava:134815");
}

#[tokio::test]
async fn bad_inputs_get_the_right_4xx_and_nothing_is_enqueued() {
    let (_d, bus, app, path) = setup().await;
    let cases: Vec<(Request<Body>, StatusCode)> = vec![
        (
            post(&path, EVENT.replace("120475", "1")),
            StatusCode::UNAUTHORIZED,
        ),
        (post(&path, "{not json"), StatusCode::BAD_REQUEST),
        (
            post(&path, r#"{"object_type":"activity"}"#),
            StatusCode::BAD_REQUEST,
        ),
        (post(&path, vec![0xff, 0xfe, 0x00]), StatusCode::BAD_REQUEST),
        (
            post(&path, format!("{{\"pad\":\"{}\"}}", "x".repeat(4096))),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            post("/v1/ingest/nosuchprovider", EVENT),
            StatusCode::NOT_FOUND,
        ),
        (post("/v1/nothing/here", EVENT), StatusCode::NOT_FOUND),
    ];
    for (req, want) in cases {
        let path = req.uri().to_string();
        let (status, body) = send(&app, req).await;
        assert_eq!(status, want, "{path}: {body}");
    }
    assert_eq!(bus.stored_records(topics::RAW).unwrap(), 0);
    // Still serving.
    assert_eq!(send(&app, post(&path, EVENT)).await.0, StatusCode::OK);
    assert_eq!(bus.stored_records(topics::RAW).unwrap(), 1);
}

/// Issue 10, finding 1: an unsigned Strava push without the deployment's path token
/// (the bare route, or a wrong token) gets 404 and nothing is enqueued; on the old
/// code the bare route accepted a forged push (including a revocation).
#[tokio::test]
async fn a_push_without_the_path_token_is_404_and_not_enqueued() {
    let s = setup_with(ThrottleConfig::default()).await;
    let revoke = EVENT
        .replace("\"create\"", "\"update\"")
        .replace("\"activity\"", "\"athlete\"")
        .replace("{}", r#"{"authorized":"false"}"#);
    let token = s.path.rsplit('/').next().unwrap().to_string();
    let mut wrong = token.clone().into_bytes();
    wrong[0] = if wrong[0] == b'A' { b'B' } else { b'A' };
    let wrong = String::from_utf8(wrong).unwrap();
    for path in [
        "/v1/ingest/strava".to_string(),
        format!("/v1/ingest/strava/{wrong}"),
        format!("/v1/ingest/strava/{}", &token[..token.len() - 1]),
        "/v1/ingest/strava/".to_string(),
        // A signed provider has no token route.
        format!("/v1/ingest/oura/{token}"),
    ] {
        let (status, body) = send(&s.app, post(&path, revoke.clone())).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        let get = Request::get(format!(
            "{path}?hub.mode=subscribe&hub.challenge=x&hub.verify_token=tok-123"
        ))
        .body(Body::empty())
        .unwrap();
        assert_eq!(send(&s.app, get).await.0, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(s.bus.stored_records(topics::RAW).unwrap(), 0);
    // The right token: accepted.
    assert_eq!(send(&s.app, post(&s.path, revoke)).await.0, StatusCode::OK);
    assert_eq!(s.bus.stored_records(topics::RAW).unwrap(), 1);
}

#[tokio::test]
async fn a_rotated_token_works_during_its_grace_period_only() {
    let s = setup_with(ThrottleConfig::default()).await;
    let old = s.path.clone();
    let rotated = s
        .state
        .rotate_push_token(Provider::Strava, 1_500)
        .await
        .unwrap()
        .path();
    assert_ne!(rotated, old);
    assert_eq!(send(&s.app, post(&rotated, EVENT)).await.0, StatusCode::OK);
    assert_eq!(send(&s.app, post(&old, EVENT)).await.0, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(1_600)).await;
    assert_eq!(
        send(&s.app, post(&old, EVENT)).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(send(&s.app, post(&rotated, EVENT)).await.0, StatusCode::OK);
    assert_eq!(s.bus.stored_records(topics::RAW).unwrap(), 3);
}

/// Failed verifications from one address: 429 with Retry-After after the threshold,
/// before any verification (even the right token is refused while it lasts).
#[tokio::test]
async fn failed_verifications_are_throttled_per_source() {
    let s = setup_with(ThrottleConfig {
        failures: 3,
        window_secs: 60,
        ..ThrottleConfig::default()
    })
    .await;
    let from = |path: &str, ip: [u8; 4]| {
        let mut req = post(path, EVENT);
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
                ip, 40000,
            ))));
        req
    };
    let attacker = [203, 0, 113, 7];
    for _ in 0..3 {
        let (status, _) = send(&s.app, from("/v1/ingest/strava/guess", attacker)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let resp = s
        .app
        .clone()
        .oneshot(from(&s.path, attacker))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // Another address is not affected.
    assert_eq!(
        send(&s.app, from(&s.path, [198, 51, 100, 1])).await.0,
        StatusCode::OK
    );
    assert_eq!(s.bus.stored_records(topics::RAW).unwrap(), 1);
}

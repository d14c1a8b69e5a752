//! The ingest routes against a real embedded log: what is accepted is durably on the
//! `raw` topic; what is refused gets the right 4xx and never reaches it.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use pulsegate_bus::embedded::{EmbeddedBus, EmbeddedConfig};
use pulsegate_bus::{Bus, TopicSpec};
use pulsegate_ingest::{router, IngestConfig, StravaConfig};
use pulsegate_schema::{topics, RawNotification, Secret};
use tower::ServiceExt;

const EVENT: &str = r#"{"aspect_type":"create","event_time":1516126040,"object_id":1360128428,"object_type":"activity","owner_id":134815,"subscription_id":120475,"updates":{}}"#;

async fn setup() -> (tempfile::TempDir, EmbeddedBus, axum::Router) {
    let dir = tempfile::tempdir().unwrap();
    let bus = EmbeddedBus::open(EmbeddedConfig::new(dir.path())).unwrap();
    bus.ensure_topic(&TopicSpec::new(topics::RAW, 4))
        .await
        .unwrap();
    let cfg = IngestConfig {
        max_body_bytes: 1024,
        strava: StravaConfig {
            subscription_id: 120475,
            verify_token: Secret::new("tok-123"),
        },
        ..IngestConfig::default()
    };
    let dyn_bus = Arc::new(bus.clone()) as Arc<dyn Bus>;
    let state = pulsegate_state::StateStore::start(
        dyn_bus.clone(),
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap();
    let app = router(dyn_bus, state, &cfg);
    (dir, bus, app)
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
    let (_d, _bus, app) = setup().await;
    let ok = Request::get(
        "/v1/ingest/strava?hub.mode=subscribe&hub.challenge=15f7d1a9&hub.verify_token=tok-123",
    )
    .body(Body::empty())
    .unwrap();
    let (status, body) = send(&app, ok).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"hub.challenge": "15f7d1a9"})
    );

    let wrong =
        Request::get("/v1/ingest/strava?hub.mode=subscribe&hub.challenge=x&hub.verify_token=nope")
            .body(Body::empty())
            .unwrap();
    assert_eq!(send(&app, wrong).await.0, StatusCode::FORBIDDEN);
    let missing = Request::get("/v1/ingest/strava")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, missing).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn accepted_event_is_on_the_bus_as_received() {
    let (_d, bus, app) = setup().await;
    let (status, _) = send(&app, post("/v1/ingest/strava", EVENT)).await;
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
    let (_d, bus, app) = setup().await;
    let cases: Vec<(Request<Body>, StatusCode)> = vec![
        (
            post("/v1/ingest/strava", EVENT.replace("120475", "1")),
            StatusCode::FORBIDDEN,
        ),
        (
            post("/v1/ingest/strava", "{not json"),
            StatusCode::BAD_REQUEST,
        ),
        (
            post("/v1/ingest/strava", r#"{"object_type":"activity"}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            post("/v1/ingest/strava", vec![0xff, 0xfe, 0x00]),
            StatusCode::BAD_REQUEST,
        ),
        (
            post(
                "/v1/ingest/strava",
                format!("{{\"pad\":\"{}\"}}", "x".repeat(4096)),
            ),
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
    assert_eq!(
        send(&app, post("/v1/ingest/strava", EVENT)).await.0,
        StatusCode::OK
    );
    assert_eq!(bus.stored_records(topics::RAW).unwrap(), 1);
}

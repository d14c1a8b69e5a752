//! Issue 10, finding 4, at the router level: with durable replay guards
//! (`router_durable`) a signed Huawei, WHOOP and Polar push accepted once is refused
//! after a "restart" (a new router on a reopened log), and a push whose raw append
//! failed is not (it was forgotten). Signatures computed here from the providers'
//! documentation.

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use hmac::{Hmac, Mac};
use pulsegate_bus::embedded::{EmbeddedBus, EmbeddedConfig};
use pulsegate_bus::{Bus, TopicSpec};
use pulsegate_ingest::{router_durable, IngestConfig};
use pulsegate_schema::{now_ms, topics, Provider};
use serde_json::json;
use tower::ServiceExt;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const HUAWEI_SECRET: &str = "c3Vic2NyaWJlci1zZWNyZXQtZm9yLXB1bHNlZ2F0ZSE=";

fn hmac256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

fn config() -> IngestConfig {
    IngestConfig::default()
        .with_provider(
            Provider::Huawei,
            json!({ "subscriber_secret": HUAWEI_SECRET }),
        )
        .with_provider(Provider::Whoop, json!({ "client_secret": "whoop-secret" }))
        .with_provider(
            Provider::Polar,
            json!({ "signature_secret_key": "polar-key" }),
        )
}

/// (path, headers, body) of one signed push.
type Push = (&'static str, Vec<(&'static str, String)>, String);

/// One signed push per provider.
fn requests() -> Vec<Push> {
    let now = now_ms();
    let huawei_body = format!(
        r#"{{"openId":"OPEN1","eventType":"SPORT_RECORD","eventTime":{now},"metaData":{{}}}}"#
    );
    let huawei_key = B64.decode(HUAWEI_SECRET).unwrap();
    let huawei_sig = B64.encode(hmac256(
        &huawei_key,
        &[format!("OPEN1_SPORT_RECORD_{now}").as_bytes()],
    ));
    let whoop_body =
        r#"{"user_id":10129,"id":"ecfc6a15-4661-442f-a9a4-f160dd7afae8","type":"workout.updated","trace_id":"t-1"}"#.to_string();
    let whoop_ts = now.to_string();
    let whoop_sig = B64.encode(hmac256(
        b"whoop-secret",
        &[whoop_ts.as_bytes(), whoop_body.as_bytes()],
    ));
    let iso = {
        let secs = now / 1000;
        let (days, rem) = (secs / 86_400, secs % 86_400);
        // Civil date from days since the epoch (Howard Hinnant).
        let z = days as i64 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    };
    let polar_body = format!(
        r#"{{"event":"EXERCISE","user_id":475,"entity_id":"aQlC83","timestamp":"{iso}","url":"https://www.polaraccesslink.com/v3/exercises/aQlC83"}}"#
    );
    let polar_sig = hex::encode(hmac256(b"polar-key", &[polar_body.as_bytes()]));
    vec![
        (
            "/v1/ingest/huawei",
            vec![("x-notification-signature", huawei_sig)],
            huawei_body,
        ),
        (
            "/v1/ingest/whoop",
            vec![
                ("x-whoop-signature", whoop_sig),
                ("x-whoop-signature-timestamp", whoop_ts),
            ],
            whoop_body,
        ),
        (
            "/v1/ingest/polar",
            vec![
                ("polar-webhook-signature", polar_sig),
                ("polar-webhook-event", "EXERCISE".to_string()),
            ],
            polar_body,
        ),
    ]
}

async fn app(bus: &EmbeddedBus, stop: &tokio_util::sync::CancellationToken) -> axum::Router {
    let dyn_bus = Arc::new(bus.clone()) as Arc<dyn Bus>;
    dyn_bus
        .ensure_topic(&TopicSpec::new(topics::RAW, 2))
        .await
        .unwrap();
    let state = pulsegate_state::StateStore::start(dyn_bus.clone(), stop.clone())
        .await
        .unwrap();
    router_durable(dyn_bus, state, &config()).await.unwrap().0
}

async fn send(app: &axum::Router, path: &str, headers: &[(&str, String)], body: &str) -> u16 {
    let mut req = Request::post(path).header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    resp.status().as_u16()
}

#[tokio::test]
async fn replays_are_refused_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let reqs = requests();
    let stop = tokio_util::sync::CancellationToken::new();
    {
        let bus = EmbeddedBus::open(EmbeddedConfig::new(dir.path())).unwrap();
        let app = app(&bus, &stop).await;
        for (path, headers, body) in &reqs {
            let status = send(&app, path, headers, body).await;
            assert!(
                status == 200 || status == 204,
                "{path}: {status} on first delivery"
            );
            assert_eq!(send(&app, path, headers, body).await, 401, "{path}");
        }
        assert_eq!(bus.stored_records(topics::RAW).unwrap(), 3);
    }
    // The state view's tail lets go of the log once stopped.
    stop.cancel();
    let bus = loop {
        match EmbeddedBus::open(EmbeddedConfig::new(dir.path())) {
            Ok(bus) => break bus,
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    };
    let app = app(&bus, &tokio_util::sync::CancellationToken::new()).await;
    for (path, headers, body) in &reqs {
        assert_eq!(
            send(&app, path, headers, body).await,
            StatusCode::UNAUTHORIZED.as_u16(),
            "{path} after the restart"
        );
    }
    assert_eq!(bus.stored_records(topics::RAW).unwrap(), 3);
}

//! A destination failing past `dispatcher.disable_after_failing` (shortened here) is
//! disabled: the operator gets a WARN line without its URL, the
//! `pulsegate_destinations_disabled_total` counter and the reason in the admin API; the
//! owner gets a signed `destination_disabled` event on its other destination, recorded
//! in the delivery history; another developer's destination gets nothing.

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

mod support;

use std::time::{Duration, Instant};

use pulsegate_testkit::sink::{Behaviour, ReceivedRequest, Sink};
use pulsegate_testkit::strava::MockStrava;
use reqwest::Method;
use serde_json::{json, Value};
use support::*;

const DISPATCH: &str = r#"
[dispatcher]
timeout = "2s"
retry_schedule = ["300ms", "300ms", "300ms", "300ms", "300ms", "300ms", "300ms", "300ms", "300ms", "300ms"]
disable_after_failing = "1500ms"
allow_private_networks = true
[dispatcher.breaker]
failure_threshold = 0
"#;

fn notices(sink: &Sink) -> Vec<ReceivedRequest> {
    sink.received()
        .into_iter()
        .filter(|r| r.json()["type"] == "destination_disabled")
        .collect()
}

async fn wait_until<F: std::future::Future<Output = bool>>(
    what: &str,
    pg: &Pulsegate,
    mut check: impl FnMut() -> F,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: {}", pg.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_failing_too_long_is_disabled_and_its_owner_told() {
    let strava = MockStrava::start().await;
    strava.generate_missing(true);
    strava.set_token(1, "access-1");
    let pg = Pulsegate::start(&strava.base_url(), DISPATCH).await;
    for dev in ["acme", "other"] {
        let (status, body) = pg
            .admin(
                Method::POST,
                "/v1/admin/developers",
                Some(json!({"dev_id": dev})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let down = Sink::start(Behaviour::FailAlways).await;
    let second = Sink::start(Behaviour::Ok).await;
    let stranger = Sink::start(Behaviour::Ok).await;
    let secret = test_secret(41);
    for (id, sink, dev) in [
        ("down", &down, "acme"),
        ("second", &second, "acme"),
        ("stranger", &stranger, "other"),
    ] {
        let (status, body) = pg
            .admin(
                Method::POST,
                "/v1/admin/destinations",
                Some(json!({"id": id, "url": sink.url(), "dev_id": dev, "secret": secret})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    pg.connect_athlete_for("acme", 1, "access-1", "refresh-1")
        .await;
    let before = pg
        .metric("pulsegate_destinations_disabled_total{destination=\"down\"")
        .await;
    assert_eq!(before, 0.0);

    let client = reqwest::Client::new();
    let body = strava_event("activity", 81_001, "create", 1, "{}");
    assert_eq!(push(&client, pg.port, body).await, 200);

    wait_until("down disabled", &pg, || async {
        let (_, d) = pg
            .admin(Method::GET, "/v1/admin/destinations/down", None)
            .await;
        d["enabled"] == false
    })
    .await;
    let (_, d) = pg
        .admin(Method::GET, "/v1/admin/destinations/down", None)
        .await;
    let reason = d["disabled_reason"].as_str().unwrap();
    assert!(reason.starts_with("failing since"), "{d}");
    assert!(down.count() >= 2, "it failed more than once");
    assert_eq!(
        pg.metric("pulsegate_destinations_disabled_total{destination=\"down\",reason=\"failing\"")
            .await,
        1.0
    );

    // The owner's other destination is told, signed like any delivery.
    wait_until("second told", &pg, || async {
        !notices(&second).is_empty()
    })
    .await;
    let told = notices(&second);
    assert_eq!(told.len(), 1);
    let notice: Value = told[0].json();
    assert_eq!(notice["destination_id"], "down", "{notice}");
    assert_eq!(notice["cause"], "failing");
    assert_eq!(notice["reason"], reason);
    assert!(notice["failing_since"].is_string() && notice["disabled_at"].is_string());
    assert!(!told[0]
        .body
        .windows(down.url().len())
        .any(|w| w == down.url().as_bytes()));
    verify_delivery(&secret, &told[0].headers, &told[0].body).unwrap();
    // The activity reached `second` too (it was subscribed); never the other developer.
    assert!(second
        .received()
        .iter()
        .any(|r| r.json()["type"] == "activity"));
    assert!(
        stranger.received().is_empty(),
        "another developer's destination was sent something"
    );

    // The operator's WARN line names the destination and the reason, not its URL.
    let logs = pg.logs();
    let line = logs
        .lines()
        .find(|l| l.contains("destination disabled by the dispatcher"))
        .expect("a log line");
    assert!(line.contains("WARN") && line.contains("down"), "{line}");
    assert!(!line.contains(&down.url()), "{line}");

    // The notice's delivery is in the history.
    let webhook_id = told[0].header("webhook-id").unwrap().to_string();
    wait_until("notice in the history", &pg, || {
        let path = format!("/v1/admin/deliveries/history?webhook_id={webhook_id}");
        let pg = &pg;
        async move {
            let (_, h) = pg.admin(Method::GET, &path, None).await;
            h["deliveries"][0]["type"] == "destination_disabled"
                && h["deliveries"][0]["destination_id"] == "second"
        }
    })
    .await;
}

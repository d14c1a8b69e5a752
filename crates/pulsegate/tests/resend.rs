//! Resending delivered events to a destination through the admin API: by id, and every
//! event received since a time (Junction's "recover since"), with the same `webhook-id`s
//! as the first deliveries, exactly the events of the window.

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

mod support;

use std::collections::HashMap;
use std::time::Duration;

use pulsegate_testkit::sink::{Behaviour, Sink};
use pulsegate_testkit::strava::MockStrava;
use serde_json::json;
use support::*;

const DISPATCH: &str = r#"
[dispatcher]
timeout = "3s"
retry_schedule = ["200ms", "400ms"]
allow_private_networks = true
"#;

/// webhook-id → activity id (`data[0].metadata.summary_id`) of the sink's deliveries.
fn delivered(sink: &Sink) -> Vec<(String, String)> {
    sink.received()
        .iter()
        .filter(|r| r.json()["type"] == "activity")
        .map(|r| {
            (
                r.header("webhook-id").unwrap().to_string(),
                r.json()["data"][0]["metadata"]["summary_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resend_since_a_time_reproduces_exactly_that_window() {
    let strava = MockStrava::start().await;
    strava.generate_missing(true);
    strava.set_token(1, "access-token-of-athlete-1");
    strava.set_refresh_token(1, "refresh-token-of-athlete-1");
    let sink = Sink::start(Behaviour::Ok).await;
    let secret = test_secret(77);
    let extra = format!(
        "{DISPATCH}[[destinations]]\nid = \"sink\"\nurl = \"{}\"\nsecret = \"{secret}\"\n",
        sink.url()
    );
    let pg = Pulsegate::start(&strava.base_url(), &extra).await;
    pg.connect_athlete(1, "access-token-of-athlete-1", "refresh-token-of-athlete-1")
        .await;
    let client = reqwest::Client::new();
    let push_all = |ids: &'static [u64]| {
        let client = client.clone();
        let port = pg.port;
        async move {
            for id in ids {
                let body = strava_event("activity", *id, "create", 1, "{}");
                assert_eq!(push(&client, port, body).await, 200);
            }
        }
    };

    push_all(&[71_001, 71_002, 71_003]).await;
    assert!(sink.wait_for(3, Duration::from_secs(20)).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let since = pulsegate_schema::now_ms();
    tokio::time::sleep(Duration::from_millis(50)).await;
    push_all(&[71_004, 71_005]).await;
    assert!(sink.wait_for(5, Duration::from_secs(20)).await);
    let first: HashMap<String, String> = delivered(&sink).into_iter().collect();
    assert_eq!(first.len(), 5, "{first:?}");

    let (status, answer) = pg
        .admin(
            reqwest::Method::POST,
            "/v1/admin/deliveries/resend",
            Some(json!({"destination_id": "sink", "since_ms": since})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["resent"], 2, "{answer}");
    assert!(sink.wait_for(7, Duration::from_secs(20)).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let again: Vec<(String, String)> = delivered(&sink).into_iter().skip(5).collect();
    let mut ids: Vec<&str> = again.iter().map(|(_, a)| a.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["71004", "71005"], "exactly the window: {again:?}");
    for (webhook_id, activity) in &again {
        assert_eq!(
            first.get(webhook_id),
            Some(activity),
            "same webhook-id as the first time"
        );
    }
    for r in sink.received() {
        verify_delivery(&secret, &r.headers, &r.body).unwrap();
    }

    // One event by id (as the delivery log names it): delivered once more, same webhook-id.
    let (_, log) = pg
        .admin(reqwest::Method::GET, "/v1/admin/deliveries?limit=1", None)
        .await;
    let event_id = log["deliveries"][0]["event_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, answer) = pg
        .admin(
            reqwest::Method::POST,
            "/v1/admin/deliveries/resend",
            Some(json!({"destination_id": "sink", "event_ids": [event_id]})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["resent"], 1, "{answer}");
    assert!(sink.wait_for(8, Duration::from_secs(20)).await);
    let last = sink
        .received()
        .last()
        .unwrap()
        .header("webhook-id")
        .unwrap()
        .to_string();
    assert!(first.contains_key(&last), "a known webhook-id: {last}");

    // The history has every attempt: the resent webhook-id twice (first delivery and
    // resend), searchable by webhook-id, user and time. It is written in the background
    // (a durable append), in order: once the last attempt is there, all are.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let h = loop {
        let (status, h) = pg
            .admin(
                reqwest::Method::GET,
                &format!("/v1/admin/deliveries/history?webhook_id={last}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{h}");
        if h["deliveries"].as_array().unwrap().len() >= 2 {
            break h;
        }
        assert!(std::time::Instant::now() < deadline, "{h}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let found = h["deliveries"].as_array().unwrap();
    assert!(found.iter().all(|d| d["webhook_id"] == last.as_str()
        && d["destination_id"] == "sink"
        && d["outcome"] == "ok"));
    let user = found[0]["user_id"].as_str().unwrap().to_string();
    let (_, h) = pg
        .admin(
            reqwest::Method::GET,
            &format!("/v1/admin/deliveries/history?user_id={user}&type=activity&since_ms={since}"),
            None,
        )
        .await;
    // Two delivered after `since`, two resent, one resent by id.
    assert_eq!(h["deliveries"].as_array().unwrap().len(), 5, "{h}");

    let (status, answer) = pg
        .admin(
            reqwest::Method::POST,
            "/v1/admin/deliveries/resend",
            Some(json!({"destination_id": "nope", "since_ms": since})),
        )
        .await;
    assert_eq!(status, 404, "{answer}");
    let (status, _) = pg
        .admin(
            reqwest::Method::POST,
            "/v1/admin/deliveries/resend",
            Some(json!({"destination_id": "sink"})),
        )
        .await;
    assert_eq!(status, 400);
}

//! Terra's `processing` event: an inline data request (`to_webhook=false`) that meets the
//! provider's rate limit is continued as a webhook request. The answer is 202 with the
//! request's reference; the destination gets a signed `processing` event (checked with
//! terra-python) and then the data, both under that reference, the data only after the
//! provider's `Retry-After`.

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

mod support;

use std::time::{Duration, Instant};

use pulsegate_testkit::sink::{Behaviour, ReceivedRequest, Sink};
use pulsegate_testkit::strava::{Endpoint, MockStrava};
use reqwest::Method;
use serde_json::{json, Value};
use support::*;

/// 2024-01-01T00:00:00Z.
const JAN_1: u64 = 1_704_067_200;

/// The deliveries of `kind` under `reference`.
fn delivered(sink: &Sink, reference: &str, kind: &str) -> Vec<ReceivedRequest> {
    sink.received()
        .into_iter()
        .filter(|r| {
            r.status == 200
                && r.header("terra-reference") == Some(reference)
                && r.json()["type"] == kind
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_inline_fetch_continues_as_a_webhook_request() {
    let strava = MockStrava::start().await;
    strava.set_token(1001, "access-1");
    for day in 0..3 {
        strava.add_activity_at(5_000 + day, 1001, JAN_1 + day * 86_400 + 6 * 3600);
    }
    let sink = Sink::start(Behaviour::Ok).await;
    let secret = test_secret(31);
    let extra = format!(
        "[dispatcher]\ntimeout = \"3s\"\nretry_schedule = [\"200ms\"]\nallow_private_networks = true\n\
         [normalizer.strava.rate_limit]\nlimits = [{{ requests = 1000000, per = \"15m\" }}]\n\
         [[destinations]]\nid = \"customer\"\nurl = \"{}\"\nsecret = \"{secret}\"\n",
        sink.url()
    );
    let pg = Pulsegate::start(&strava.base_url(), &extra).await;
    let (status, dev) = pg
        .admin(
            Method::POST,
            "/v1/admin/developers",
            Some(json!({"dev_id": "acme"})),
        )
        .await;
    assert_eq!(status, 201, "{dev}");
    let (dev_id, key) = (
        dev["dev_id"].as_str().unwrap(),
        dev["api_key"].as_str().unwrap(),
    );
    let user = pg
        .connect_athlete_for(dev_id, 1001, "access-1", "refresh-1")
        .await;

    // The provider answers the first list call with 429, Retry-After 2 s.
    strava.set_retry_after(Some(2));
    strava.fail_next(Endpoint::ListActivities, 1, 429);
    let asked = Instant::now();
    let resp = reqwest::Client::new()
        .get(pg.url(&format!(
            "/v2/activity?user_id={user}&start_date=2024-01-01&end_date=2024-01-04&to_webhook=false"
        )))
        .header("dev-id", dev_id)
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["type"], "processing", "{answer}");
    assert_eq!(answer["user"]["user_id"], user.as_str());
    let retry_after = answer["retry_after_seconds"].as_u64().unwrap();
    assert!((2..=3).contains(&retry_after), "{answer}");
    let reference = answer["reference"].as_str().unwrap().to_string();

    // The data follows by webhook under the same reference, after the provider's block.
    let deadline = Instant::now() + Duration::from_secs(30);
    while delivered(&sink, &reference, "activity").is_empty() {
        assert!(Instant::now() < deadline, "no data: {}", pg.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        asked.elapsed() >= Duration::from_secs(2),
        "fetched before Retry-After"
    );
    let data = delivered(&sink, &reference, "activity");
    let mut ids: Vec<String> = data
        .iter()
        .flat_map(|r| {
            r.json()["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["metadata"]["summary_id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    ids.sort();
    assert_eq!(ids, ["5000", "5001", "5002"]);

    // The `processing` event came first, once, for this user, with the same wait.
    let processing = delivered(&sink, &reference, "processing");
    assert_eq!(processing.len(), 1, "{:?}", sink.received().len());
    let event = processing[0].json();
    assert_eq!(event["status"], "success");
    assert_eq!(event["user"]["user_id"], user.as_str());
    assert_eq!(event["retry_after_seconds"].as_u64(), Some(retry_after));
    assert!(processing[0].since_start < data[0].since_start);
    verify_delivery(&secret, &processing[0].headers, &processing[0].body).unwrap();
    terra_check_webhooks(&secret, &processing);

    // Signed, retried and recorded like any delivery: it is in the delivery history.
    let webhook_id = processing[0].header("webhook-id").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, history) = pg
            .admin(
                Method::GET,
                &format!("/v1/admin/deliveries/history?webhook_id={webhook_id}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{history}");
        if history["deliveries"][0]["type"] == "processing" {
            break;
        }
        assert!(Instant::now() < deadline, "not in the history: {history}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

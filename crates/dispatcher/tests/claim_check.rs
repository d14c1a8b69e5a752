//! Claim-check delivery (Terra's `s3_payload` / ping mode) against a real S3-compatible
//! server (moto, started per test) and a webhook sink on 127.0.0.1.

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

mod common;

use std::time::Duration;

use common::s3::{s3_keys, s3_reader};
use common::*;
use object_store::path::Path;
use pulsegate_schema::{ClaimCheck, Destination, Secret};
use pulsegate_testkit::s3::{TestS3, ACCESS_KEY_ID, SECRET_ACCESS_KEY};
use pulsegate_testkit::sink::{Behaviour, ReceivedRequest, Sink};

const BUCKET: &str = "pulsegate-claims";
const PREFIX: &str = "pings/prod";

async fn add_claim_checked(
    h: &Harness,
    id: &str,
    sink_url: &str,
    store_endpoint: &str,
    threshold_bytes: u64,
) -> Destination {
    let mut d = h.add_destination(id, sink_url, &[]).await;
    d.claim_check = Some(ClaimCheck {
        url: format!("s3://{BUCKET}/{PREFIX}?endpoint={store_endpoint}&region=us-east-1"),
        access_key_id: ACCESS_KEY_ID.into(),
        secret_access_key: Secret::new(SECRET_ACCESS_KEY),
        threshold_bytes,
        expires_in_secs: 900,
    });
    h.state.put_destination(&d).await.unwrap();
    d
}

/// An event whose body is about `bytes` long (its one data object carries filler).
fn big_event(id: &str, bytes: usize) -> TestEvent {
    let mut e = TestEvent::new(id, "activity");
    e.body = e.body.replacen(
        r#""x": 1.50"#,
        &format!(r#""x": 1.50, "samples": "{}""#, "s".repeat(bytes)),
        1,
    );
    e
}

/// GETs a pre-signed URL as a customer would: no credentials, just the URL.
async fn fetch(url: &str) -> (u16, bytes::Bytes) {
    let resp = reqwest::get(url).await.unwrap();
    (resp.status().as_u16(), resp.bytes().await.unwrap())
}

/// terra-python's own model reads the webhook body (fails, never skips, without it).
fn terra_python_parses_s3_payload(r: &ReceivedRequest) {
    let body = std::str::from_utf8(&r.body).unwrap();
    let script = format!(
        "import json\n\
         from terra.types.s_3_payload_event import S3PayloadEvent as M\n\
         d = json.loads('''{body}''')\n\
         m = M.model_validate(d)\n\
         assert m.type == 's3_payload' and m.status == 'success', m\n\
         assert m.url == d['url'] and m.expires_in == d['expires_in'], m"
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3 with terra-python (./test.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_threshold_arrives_as_s3_payload_and_a_small_one_inline() {
    let s3 = TestS3::start();
    s3.create_bucket(BUCKET);
    let sink = Sink::start(Behaviour::Ok).await;
    let mut h = Harness::new().await;
    let dest = add_claim_checked(&h, "ping", &sink.url(), &s3.endpoint(), 4096).await;
    h.start(config(&[100, 200]));
    h.wait_subscribed("ping").await;

    let big = big_event("big", 20_000);
    let small = TestEvent::new("small", "sleep");
    assert!(big.body.len() > 4096 && small.body.len() <= 4096);
    h.publish(&[big.clone(), small.clone()]).await;
    assert!(sink.wait_for(2, secs(30)).await, "got {}", sink.count());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = sink.received();
    assert_eq!(got.len(), 2, "one webhook each, nothing retried");

    let inline = got
        .iter()
        .find(|r| r.header("terra-reference") == Some(small.reference().as_str()))
        .unwrap();
    assert_eq!(&inline.body[..], small.body.as_bytes(), "small: inline");
    verify_signatures(inline, dest.secret.expose());

    let ping = got
        .iter()
        .find(|r| r.header("terra-reference") == Some(big.reference().as_str()))
        .unwrap();
    verify_signatures(ping, dest.secret.expose());
    assert!(
        ping.body.len() < 4096,
        "the ping is small: {}",
        ping.body.len()
    );
    let j = ping.json();
    assert_eq!(j["type"], "s3_payload");
    assert_eq!(j["status"], "success");
    assert_eq!(j["expires_in"], 900);
    assert_eq!(j["reference"], big.reference());
    assert_eq!(j["payload_reference"], big.reference());
    assert_eq!(
        j["user"],
        serde_json::from_str::<serde_json::Value>(&big.body).unwrap()["user"],
        "the user, so the customer can route it before fetching"
    );
    terra_python_parses_s3_payload(ping);

    let url = j["url"].as_str().unwrap();
    assert!(url.contains("X-Amz-Signature="), "pre-signed: {url}");
    assert!(url.contains("X-Amz-Expires=900"), "{url}");
    assert!(!url.contains(SECRET_ACCESS_KEY));
    let (status, body) = fetch(url).await;
    assert_eq!(status, 200);
    assert_eq!(&body[..], big.body.as_bytes(), "the exact original body");

    let webhook_id = ping.header("webhook-id").unwrap();
    assert_eq!(
        s3_keys(s3_reader(&s3, BUCKET).as_ref(), "").await,
        vec![Path::from(format!("{PREFIX}/{webhook_id}.json"))],
        "one object, for the big body only"
    );
    assert!(h.dead_letters(0, Duration::ZERO).await.is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_500_rewrites_the_same_object() {
    let s3 = TestS3::start();
    s3.create_bucket(BUCKET);
    let sink = Sink::start(Behaviour::FailFirst { n: 1, status: 500 }).await;
    let mut h = Harness::new().await;
    // 0: every body (Terra's ping mode).
    let dest = add_claim_checked(&h, "ping", &sink.url(), &s3.endpoint(), 0).await;
    h.start(config(&[100, 200]));
    h.wait_subscribed("ping").await;

    let ev = TestEvent::new("once", "activity");
    h.publish(std::slice::from_ref(&ev)).await;
    assert!(sink.wait_for(2, secs(30)).await, "got {}", sink.count());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = sink.received();
    assert_eq!(got.len(), 2, "the 500, then the retry");
    let path_of = |r: &ReceivedRequest| {
        let url = r.json()["url"].as_str().unwrap().to_string();
        url.split('?').next().unwrap().to_string()
    };
    for r in &got {
        verify_signatures(r, dest.secret.expose());
        assert_eq!(r.json()["type"], "s3_payload");
    }
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));
    assert_eq!(path_of(&got[0]), path_of(&got[1]), "the same object");
    let webhook_id = got[0].header("webhook-id").unwrap();
    assert_eq!(
        s3_keys(s3_reader(&s3, BUCKET).as_ref(), "").await,
        vec![Path::from(format!("{PREFIX}/{webhook_id}.json"))],
        "one object for both attempts"
    );
    let (status, body) = fetch(got[1].json()["url"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(&body[..], ev.body.as_bytes());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_store_fails_the_attempt_and_the_event_is_dead_lettered() {
    let sink = Sink::start(Behaviour::Ok).await;
    let mut h = Harness::new().await;
    let closed = format!("http://127.0.0.1:{}", pulsegate_testkit::ports::free_port());
    add_claim_checked(&h, "ping", &sink.url(), &closed, 0).await;
    h.start(config(&[50, 50]));
    h.wait_subscribed("ping").await;
    h.publish(&[TestEvent::new("kept", "activity")]).await;

    let dead = h.dead_letters(1, secs(30)).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].attempts, 3, "the first attempt and one per tier");
    assert!(
        dead[0].last_error.starts_with("claim-check PUT"),
        "{}",
        dead[0].last_error
    );
    assert!(!dead[0].last_error.contains(SECRET_ACCESS_KEY));
    let event: serde_json::Value = serde_json::from_str(dead[0].event.get()).unwrap();
    assert_eq!(event["event_id"], "kept", "the whole event, to resend");
    assert_eq!(sink.count(), 0, "no ping without its data");
    h.stop().await;
}

//! S3 destinations against a real S3-compatible server (moto, started per test).

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

mod common;

use std::collections::{HashMap, HashSet};

use std::time::{Duration, SystemTime};

use common::s3::{s3_keys, s3_reader};
use common::*;
use object_store::{Attribute, ObjectStore};
use pulsegate_schema::{Destination, Secret};
use pulsegate_testkit::s3::{TestS3, ACCESS_KEY_ID, SECRET_ACCESS_KEY};
use pulsegate_testkit::sink::ReceivedRequest;

const BUCKET: &str = "pulsegate-events";

async fn add_s3_destination(h: &Harness, id: &str, url: &str) -> Destination {
    let mut d = h.add_destination(id, url, &[]).await;
    d.s3_access_key_id = Some(ACCESS_KEY_ID.into());
    d.s3_secret_access_key = Some(Secret::new(SECRET_ACCESS_KEY));
    h.state.put_destination(&d).await.unwrap();
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_land_as_signed_objects_once_each() {
    let s3 = TestS3::start();
    s3.create_bucket(BUCKET);
    let mut h = Harness::new().await;
    let url = format!(
        "s3://{BUCKET}/terra/exports?endpoint={}&region=us-east-1",
        s3.endpoint()
    );
    let dest = add_s3_destination(&h, "lake", &url).await;
    h.start(config(&[100, 200]));
    h.wait_subscribed("lake").await;

    let mut evs = events("obj", "activity", 12);
    evs.extend(events("slp", "sleep", 8));
    h.publish(&evs).await;

    let store = s3_reader(&s3, BUCKET);
    let deadline = tokio::time::Instant::now() + secs(30);
    let keys = loop {
        let keys = s3_keys(store.as_ref(), "terra/exports").await;
        if keys.len() >= evs.len() || tokio::time::Instant::now() > deadline {
            break keys;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(keys.len(), evs.len(), "one object per event: {keys:?}");
    let unique: HashSet<_> = keys.iter().collect();
    assert_eq!(unique.len(), evs.len());

    let by_id: HashMap<&str, &TestEvent> = evs.iter().map(|e| (e.event_id.as_str(), e)).collect();
    let mut seen = HashSet::new();
    for key in &keys {
        let parts: Vec<_> = key.parts().map(|p| p.as_ref().to_string()).collect();
        assert_eq!(parts.len(), 5, "{key}");
        assert_eq!(&parts[..2], ["terra", "exports"]);
        let got = store.get(key).await.unwrap();
        let attributes = got.attributes.clone();
        let body = got.bytes().await.unwrap();
        let mut headers = HashMap::new();
        for (k, v) in attributes.iter() {
            if let Attribute::Metadata(name) = k {
                headers.insert(name.to_string(), v.to_string());
            }
        }
        let r = ReceivedRequest {
            method: "PUT".into(),
            path: key.to_string(),
            headers,
            body,
            received_at: SystemTime::now(),
            since_start: Duration::ZERO,
            status: 200,
        };
        let id = event_id_of(&r);
        let ev = by_id[id.as_str()];
        assert!(seen.insert(id.clone()), "{id} twice");
        assert_eq!(
            &r.body[..],
            ev.body.as_bytes(),
            "the body byte for byte, as HTTP would get it"
        );
        assert_eq!(parts[2], ev.user_id);
        assert_eq!(parts[3], ev.event_type);
        let webhook_id = r.header("webhook-id").unwrap().to_string();
        assert_eq!(parts[4], format!("{webhook_id}.json"));
        assert_eq!(r.header("terra-reference"), Some(ev.reference().as_str()));
        verify_signatures(&r, dest.secret.expose());
    }
    assert_eq!(seen.len(), evs.len());
    // Nothing more arrives (no duplicates, no retries after success).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s3_keys(store.as_ref(), "").await.len(), evs.len());
    assert!(h.dead_letters(0, Duration::ZERO).await.is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_endpoint_or_missing_bucket_is_retried_then_dead_lettered() {
    let s3 = TestS3::start();
    let mut h = Harness::new().await;
    let closed = pulsegate_testkit::ports::free_port();
    add_s3_destination(
        &h,
        "nowhere",
        &format!("s3://{BUCKET}/x?endpoint=http://127.0.0.1:{closed}"),
    )
    .await;
    // The server is there, the bucket is not (never created).
    add_s3_destination(
        &h,
        "nobucket",
        &format!("s3://no-such-bucket/x?endpoint={}", s3.endpoint()),
    )
    .await;
    // An endpoint that accepts connections and never answers: the attempt times out.
    let hanging = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hanging_addr = hanging.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((c, _)) = hanging.accept().await {
            conns.push(c);
        }
    });
    add_s3_destination(
        &h,
        "hanging",
        &format!("s3://{BUCKET}/x?endpoint=http://{hanging_addr}"),
    )
    .await;
    let mut cfg = config(&[50, 50]);
    cfg.timeout = Duration::from_millis(500);
    h.start(cfg);
    for id in ["nowhere", "nobucket", "hanging"] {
        h.wait_subscribed(id).await;
    }
    h.publish(&[TestEvent::new("doomed", "activity")]).await;

    let dead = h.dead_letters(3, secs(30)).await;
    held.abort();
    assert_eq!(dead.len(), 3, "{dead:?}");
    for d in &dead {
        assert_eq!(d.attempts, 3, "the first attempt and one per tier");
        assert!(d.last_error.starts_with("S3 PUT"), "{}", d.last_error);
        assert!(!d.last_error.contains(SECRET_ACCESS_KEY));
        let event: serde_json::Value = serde_json::from_str(d.event.get()).unwrap();
        assert_eq!(event["event_id"], "doomed");
    }
    let ids: HashSet<_> = dead.iter().map(|d| d.destination_id.as_str()).collect();
    assert_eq!(ids, HashSet::from(["nowhere", "nobucket", "hanging"]));
    let error_of = |id: &str| {
        let d = dead.iter().find(|d| d.destination_id == id).unwrap();
        d.last_error.to_lowercase()
    };
    assert!(
        error_of("nowhere").contains("connect"),
        "{}",
        error_of("nowhere")
    );
    assert!(
        error_of("nobucket").contains("404"),
        "{}",
        error_of("nobucket")
    );
    assert!(
        error_of("hanging").contains("timed out"),
        "{}",
        error_of("hanging")
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_credentials_fail_like_any_delivery() {
    let s3 = TestS3::start();
    s3.create_bucket(BUCKET);
    let mut h = Harness::new().await;
    let url = format!("s3://{BUCKET}/p?endpoint={}", s3.endpoint());
    h.add_destination("nocreds", &url, &[]).await;
    h.start(config(&[50]));
    h.wait_subscribed("nocreds").await;
    h.publish(&[TestEvent::new("e", "activity")]).await;
    let dead = h.dead_letters(1, secs(20)).await;
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0].last_error.contains("access key"),
        "{}",
        dead[0].last_error
    );
    assert!(s3_keys(s3_reader(&s3, BUCKET).as_ref(), "")
        .await
        .is_empty());
    h.stop().await;
}

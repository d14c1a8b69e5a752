//! End to end on the embedded bus: the real `pulsegate serve` process, a mock of
//! Strava's API and customer sinks, all on 127.0.0.1.

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pulsegate_testkit::sink::{Behaviour, Sink};
use pulsegate_testkit::strava::MockStrava;
use support::*;

const FAST_DISPATCH: &str = r#"
[dispatcher]
timeout = "3s"
retry_schedule = ["200ms", "400ms", "600ms"]
allow_private_networks = true
"#;

fn destination(id: &str, url: &str, secret: &str, types: &[&str]) -> String {
    let types: Vec<String> = types.iter().map(|t| format!("\"{t}\"")).collect();
    format!(
        "[[destinations]]\nid = \"{id}\"\nurl = \"{url}\"\nsecret = \"{secret}\"\nevent_types = [{}]\n",
        types.join(", ")
    )
}

async fn strava_with_athletes(athletes: u64) -> MockStrava {
    let strava = MockStrava::start().await;
    strava.generate_missing(true);
    for a in 1..=athletes {
        strava.set_token(a, &format!("access-{a}"));
        strava.set_refresh_token(a, &format!("refresh-{a}"));
    }
    strava
}

async fn connect_all(pg: &Pulsegate, athletes: u64) -> HashMap<String, u64> {
    let mut users = HashMap::new();
    for a in 1..=athletes {
        let user_id = pg
            .connect_athlete(a, &format!("access-{a}"), &format!("refresh-{a}"))
            .await;
        users.insert(user_id, a);
    }
    users
}

/// Pushes `bodies` with `concurrency` requests in flight; returns the statuses.
async fn push_all(port: u16, bodies: Vec<String>, concurrency: usize) -> Vec<u16> {
    let client = reqwest::Client::new();
    let queue = Arc::new(Mutex::new(
        bodies.into_iter().enumerate().collect::<Vec<_>>(),
    ));
    let results = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, queue, results) = (client.clone(), queue.clone(), results.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let next = queue.lock().unwrap().pop();
                let Some((i, body)) = next else { break };
                let status = push(&client, port, body).await;
                results.lock().unwrap().push((i, status));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut r = results.lock().unwrap().clone();
    r.sort();
    r.into_iter().map(|(_, s)| s).collect()
}

fn summary_ids(sink: &Sink) -> Vec<String> {
    sink.received()
        .iter()
        .filter(|r| r.status == 200)
        .flat_map(|r| {
            let v = r.json();
            v["data"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|d| {
                    d["metadata"]["summary_id"]
                        .as_str()
                        .or(d["summary_id"].as_str())
                        .unwrap_or_default()
                        .to_string()
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

both_backends!(
    delivered_once_and_signed,
    strava_events_reach_every_subscribed_destination_once_and_signed
);

async fn strava_events_reach_every_subscribed_destination_once_and_signed(backend: Backend) {
    let strava = strava_with_athletes(20).await;
    let all = Sink::start(Behaviour::Ok).await;
    let deletions = Sink::start(Behaviour::Ok).await;
    let (all_secret, del_secret) = (test_secret(1), test_secret(2));
    let extra = format!(
        "{FAST_DISPATCH}{}{}",
        destination("all", &all.url(), &all_secret, &[]),
        destination(
            "deletions",
            &deletions.url(),
            &del_secret,
            &["activity_deleted"]
        )
    );
    let pg = Pulsegate::start_on(&backend, &strava.base_url(), &extra).await;

    // The subscription handshake.
    let strava_path = pg.push_path("strava").await;
    let challenge = reqwest::get(pg.url(&format!(
        "{strava_path}?hub.mode=subscribe&hub.challenge=abc123&hub.verify_token={VERIFY_TOKEN}"
    )))
    .await
    .unwrap();
    assert_eq!(challenge.status(), 200);
    assert!(challenge.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(
        challenge.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"hub.challenge": "abc123"})
    );

    let users = connect_all(&pg, 20).await;

    // 1,000 distinct activities created, then 10 of them deleted.
    let creates: Vec<String> = (0..1000u64)
        .map(|i| strava_event("activity", 10_000 + i, "create", 1 + i % 20, "{}"))
        .collect();
    let statuses = push_all(pg.port, creates, 16).await;
    assert!(
        statuses.iter().all(|s| *s == 200),
        "every push acknowledged: {statuses:?}"
    );
    let deletes: Vec<String> = (0..10u64)
        .map(|i| strava_event("activity", 10_000 + i, "delete", 1 + i % 20, "{}"))
        .collect();
    assert!(push_all(pg.port, deletes, 4)
        .await
        .iter()
        .all(|s| *s == 200));

    assert!(
        all.wait_for(1010, Duration::from_secs(60)).await,
        "all: {} of 1010; {}",
        all.count(),
        pg.logs()
    );
    assert!(
        deletions.wait_for(10, Duration::from_secs(30)).await,
        "deletions: {}",
        deletions.count()
    );
    // Nothing more arrives: exactly once in a healthy run.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(all.count(), 1010);
    assert_eq!(deletions.count(), 10);

    let mut webhook_ids = HashSet::new();
    let mut types: HashMap<String, usize> = HashMap::new();
    for r in all.received() {
        verify_delivery(&all_secret, &r.headers, &r.body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert!(
            webhook_ids.insert(r.header("webhook-id").unwrap().to_string()),
            "duplicate webhook-id"
        );
        let body = r.json();
        *types
            .entry(body["type"].as_str().unwrap().to_string())
            .or_default() += 1;
        let user = &body["user"];
        let athlete = users[user["user_id"].as_str().unwrap()];
        assert_eq!(user["provider"], "STRAVA");
        assert_eq!(user["reference_id"], format!("customer-user-{athlete}"));
        assert_eq!(body["version"], "2022-03-16");
    }
    assert_eq!(types.get("activity"), Some(&1000));
    assert_eq!(types.get("activity_deleted"), Some(&10));
    let delivered: HashSet<String> = summary_ids(&all).into_iter().collect();
    for i in 0..1000u64 {
        assert!(
            delivered.contains(&(10_000 + i).to_string()),
            "activity {} missing",
            10_000 + i
        );
    }
    for r in deletions.received() {
        verify_delivery(&del_secret, &r.headers, &r.body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            r.json()["type"],
            "activity_deleted",
            "the filter lets only deletions through"
        );
    }
    // The same secret does not verify another destination's deliveries.
    let r = &deletions.received()[0];
    assert!(verify_delivery(&all_secret, &r.headers, &r.body).is_err());

    // Secrets never reach the logs (the test runs pulsegate at debug level).
    let logs = pg.logs();
    assert!(logs.len() > 1000, "debug logs were written");
    for secret in [
        all_secret.as_str(),
        del_secret.as_str(),
        "access-1",
        "refresh-1",
        "test-client-secret",
        ADMIN_TOKEN,
    ] {
        assert!(!logs.contains(secret), "{secret} appears in the logs");
    }
}

both_backends!(
    kill_9_loses_nothing,
    kill_9_while_streaming_loses_no_acknowledged_event
);

#[allow(
    clippy::print_stderr,
    reason = "the shared body of #[test] fns; reports progress across the kills"
)]
async fn kill_9_while_streaming_loses_no_acknowledged_event(backend: Backend) {
    let strava = strava_with_athletes(5).await;
    let sink = Sink::start(Behaviour::Ok).await;
    let secret = test_secret(3);
    let extra = format!(
        "{FAST_DISPATCH}{}",
        destination("sink", &sink.url(), &secret, &[])
    );
    let mut pg = Pulsegate::start_on(&backend, &strava.base_url(), &extra).await;
    connect_all(&pg, 5).await;

    let acked: Arc<Mutex<HashSet<u64>>> = Arc::default();
    let mut next_id = 50_000u64;
    for round in 0..3 {
        // Stream from 8 clients; kill -9 once ~300 more have been acknowledged.
        let sent = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for c in 0..8u64 {
            let (acked, sent, port) = (acked.clone(), sent.clone(), pg.port);
            let base = next_id + c * 10_000;
            tasks.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                for i in 0..10_000u64 {
                    let id = base + i;
                    let status = push(
                        &client,
                        port,
                        strava_event("activity", id, "create", 1 + id % 5, "{}"),
                    )
                    .await;
                    if status == 200 {
                        acked.lock().unwrap().insert(id);
                        sent.fetch_add(1, Ordering::Relaxed);
                    } else if status == 0 {
                        return; // the process is gone
                    }
                }
            }));
        }
        while sent.load(Ordering::Relaxed) < 300 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        pg.kill9();
        for t in tasks {
            t.await.unwrap();
        }
        next_id += 100_000;
        pg.spawn().await;
        eprintln!(
            "round {round}: {} acknowledged so far",
            acked.lock().unwrap().len()
        );
    }

    let want: HashSet<u64> = acked.lock().unwrap().clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let got: HashSet<u64> = summary_ids(&sink)
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect();
        let missing: Vec<_> = want.difference(&got).take(5).collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} acknowledged events never delivered, e.g. {missing:?}",
            want.difference(&got).count()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // At least once: duplicates are possible after a crash, but they carry the same
    // webhook-id, so customers can drop them.
    let received = sink.received();
    let distinct: HashSet<&str> = received
        .iter()
        .filter_map(|r| r.header("webhook-id"))
        .collect();
    let distinct_summaries: HashSet<String> = summary_ids(&sink).into_iter().collect();
    assert_eq!(
        distinct.len(),
        distinct_summaries.len(),
        "one webhook-id per event"
    );
    eprintln!(
        "acknowledged {}, deliveries {}, distinct webhook-ids {}",
        want.len(),
        received.len(),
        distinct.len()
    );
}

both_backends!(
    retries_and_dead_letters,
    failing_destination_recovers_by_retries_and_dead_ones_dead_letter
);

async fn failing_destination_recovers_by_retries_and_dead_ones_dead_letter(backend: Backend) {
    let strava = strava_with_athletes(2).await;
    let healthy = Sink::start(Behaviour::Ok).await;
    let flaky = Sink::start(Behaviour::FailFirst { n: 3, status: 500 }).await;
    let dead = Sink::start(Behaviour::FailAlways).await;
    let extra = format!(
        "{FAST_DISPATCH}{}{}{}",
        destination("healthy", &healthy.url(), &test_secret(4), &[]),
        destination("flaky", &flaky.url(), &test_secret(5), &[]),
        destination("dead", &dead.url(), &test_secret(6), &[])
    );
    let pg = Pulsegate::start_on(&backend, &strava.base_url(), &extra).await;
    connect_all(&pg, 2).await;

    let bodies: Vec<String> = (0..8u64)
        .map(|i| strava_event("activity", 70_000 + i, "create", 1 + i % 2, "{}"))
        .collect();
    assert!(push_all(pg.port, bodies, 4).await.iter().all(|s| *s == 200));

    assert!(
        healthy.wait_for(8, Duration::from_secs(20)).await,
        "healthy: {}",
        healthy.count()
    );
    // The flaky destination gets everything once it recovers: 8 successes after 3 failures.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while summary_ids(&flaky).len() < 8 {
        assert!(
            std::time::Instant::now() < deadline,
            "flaky got {:?}",
            summary_ids(&flaky)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let flaky_ids: HashSet<String> = summary_ids(&flaky).into_iter().collect();
    assert_eq!(flaky_ids.len(), 8);
    assert!(
        flaky.count() >= 11,
        "3 failures then 8 successes, got {}",
        flaky.count()
    );

    // The dead destination: 1 + 3 retries per event, then the dead-letter topic.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = pg
            .admin(
                reqwest::Method::GET,
                "/v1/admin/dead-letters?destination=dead",
                None,
            )
            .await;
        assert_eq!(status, 200);
        let letters = body["dead_letters"].as_array().unwrap().clone();
        if letters.len() == 8 {
            for l in &letters {
                assert_eq!(l["attempts"], 4, "{l}");
                assert_eq!(l["type"], "activity");
            }
            break;
        }
        assert!(std::time::Instant::now() < deadline, "dead letters: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(dead.count(), 32, "4 attempts for each of 8 events");
    // Healthy and flaky destinations have no dead letters.
    let (_, body) = pg
        .admin(
            reqwest::Method::GET,
            "/v1/admin/dead-letters?destination=healthy",
            None,
        )
        .await;
    assert_eq!(body["dead_letters"].as_array().unwrap().len(), 0);
    assert!(pg.metric("pulsegate_dead_letters_total").await >= 8.0);

    // The dead destination comes back: replaying its dead letters delivers each event
    // once more, with the webhook-id of the failed attempts; a second replay does nothing.
    let failed_ids: HashSet<String> = dead
        .received()
        .iter()
        .filter_map(|r| r.header("webhook-id").map(str::to_string))
        .collect();
    assert_eq!(failed_ids.len(), 8);
    dead.set_behaviour(Behaviour::Ok);
    let replay = |body: serde_json::Value| {
        let pg = &pg;
        async move {
            pg.admin(
                reqwest::Method::POST,
                "/v1/admin/dead-letters/replay",
                Some(body),
            )
            .await
        }
    };
    let (status, body) = replay(serde_json::json!({})).await;
    assert_eq!(status, 400, "a replay needs a filter: {body}");
    let (status, body) = replay(serde_json::json!({"destination_id": "dead"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["replayed"], 8, "{body}");
    assert!(
        dead.wait_for(40, Duration::from_secs(30)).await,
        "replayed deliveries: {}",
        dead.count()
    );
    let (_, body) = replay(serde_json::json!({"destination_id": "dead"})).await;
    assert_eq!(body["replayed"], 0, "{body}");
    assert_eq!(body["already_replayed"], 8, "{body}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after: Vec<_> = dead.received().into_iter().skip(32).collect();
    assert_eq!(after.len(), 8, "each dead letter delivered once on replay");
    assert!(after.iter().all(|r| r.status == 200));
    let replayed_ids: HashSet<String> = after
        .iter()
        .filter_map(|r| r.header("webhook-id").map(str::to_string))
        .collect();
    assert_eq!(replayed_ids, failed_ids);
}

both_backends!(
    bad_inputs_rejected,
    bad_inputs_get_clear_4xx_nothing_is_enqueued_and_serving_goes_on
);

async fn bad_inputs_get_clear_4xx_nothing_is_enqueued_and_serving_goes_on(backend: Backend) {
    let strava = strava_with_athletes(1).await;
    let sink = Sink::start(Behaviour::Ok).await;
    let extra = format!(
        "{FAST_DISPATCH}{}",
        destination("sink", &sink.url(), &test_secret(7), &[])
    );
    let pg = Pulsegate::start_on(&backend, &strava.base_url(), &extra).await;
    connect_all(&pg, 1).await;
    let client = reqwest::Client::new();

    let strava = pg.push_path("strava").await;
    let wrong_token = client
        .get(pg.url(&format!(
            "{strava}?hub.mode=subscribe&hub.challenge=x&hub.verify_token=wrong"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_token.status(), 403);

    let good = strava_event("activity", 90_001, "create", 1, "{}");
    let cases = [
        (
            good.replace(&SUBSCRIPTION_ID.to_string(), "1"),
            strava.as_str(),
            401,
        ),
        ("{\"object_type\": ".to_string(), strava.as_str(), 400),
        (
            r#"{"object_type":"activity","object_id":1}"#.to_string(),
            strava.as_str(),
            400,
        ),
        (
            format!("{{\"x\":\"{}\"}}", "a".repeat(10_000)),
            strava.as_str(),
            413,
        ),
        (good.clone(), "/v1/ingest/garmin-nope", 404),
        // Without the path token: 404 (issue 10: forged unsigned pushes).
        (good.clone(), "/v1/ingest/strava", 404),
        (good.clone(), "/v2/unknown", 404),
    ];
    for (body, path, want) in cases {
        let resp = client
            .post(pg.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        assert_eq!(status, want, "{path}: {text}");
        assert!(
            serde_json::from_str::<serde_json::Value>(&text).is_ok() || status == 413,
            "JSON error body: {text}"
        );
    }
    assert_eq!(
        pg.metric("pulsegate_ingest_requests_total{provider=\"strava\",outcome=\"accepted\"")
            .await,
        0.0
    );
    assert!(pg.metric("pulsegate_ingest_rejects_total").await >= 4.0);
    // Nothing was enqueued, so nothing is delivered; the process still serves.
    assert_eq!(push(&client, pg.port, good).await, 200);
    assert!(sink.wait_for(1, Duration::from_secs(20)).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.count(), 1, "only the valid push became a delivery");
    assert_eq!(
        reqwest::get(pg.url("/healthz")).await.unwrap().status(),
        200
    );
}

#[test]
fn bad_config_fails_with_one_line_naming_the_key_and_env_overrides_apply() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../pulsegate.example.toml");
    let run = |env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_pulsegate"));
        cmd.args(["check-config", "--config", example]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let ok = run(&[]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = run(&[("PULSEGATE_BUS__PARTITIONS", "lots")]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("bus.partitions"), "{err}");
    let bad_secret = run(&[
        ("PULSEGATE_ADMIN__TOKEN", "x"),
        ("PULSEGATE_SERVER__LISTEN", "not-an-address"),
    ]);
    assert!(String::from_utf8_lossy(&bad_secret.stderr).contains("server.listen"));
}

both_backends!(
    integrations_switch,
    a_disabled_integration_refuses_notifications_and_resumes_when_re_enabled
);

async fn a_disabled_integration_refuses_notifications_and_resumes_when_re_enabled(
    backend: Backend,
) {
    let strava = strava_with_athletes(1).await;
    let sink = Sink::start(Behaviour::Ok).await;
    let extra = format!(
        "{FAST_DISPATCH}{}",
        destination("sink", &sink.url(), &test_secret(11), &[])
    );
    let pg = Pulsegate::start_on(&backend, &strava.base_url(), &extra).await;
    connect_all(&pg, 1).await;
    let client = reqwest::Client::new();
    let put = |body: serde_json::Value| {
        let pg = &pg;
        async move {
            pg.admin(
                reqwest::Method::PUT,
                "/v1/admin/integrations/strava",
                Some(body),
            )
            .await
        }
    };

    // Off: the route answers 404 (handshake and push) and nothing is enqueued.
    let (status, body) = put(serde_json::json!({"enabled": false})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["enabled"], false);
    let accepted = pg.accepted("strava").await;
    let status = push(
        &client,
        pg.port,
        strava_event("activity", 81_001, "create", 1, "{}"),
    )
    .await;
    assert_eq!(status, 404);
    let strava_path = pg.push_path("strava").await;
    let handshake = client
        .get(pg.url(&format!(
            "{strava_path}?hub.mode=subscribe&hub.challenge=c&hub.verify_token={VERIFY_TOKEN}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(handshake.status().as_u16(), 404);
    assert_eq!(pg.accepted("strava").await, accepted);

    // On, but only sleep data: an activity is accepted from Strava and not delivered.
    let (status, body) = put(serde_json::json!({"enabled": true, "data_types": ["sleep"]})).await;
    assert_eq!(status, 200, "{body}");
    let status = push(
        &client,
        pg.port,
        strava_event("activity", 81_002, "create", 1, "{}"),
    )
    .await;
    assert_eq!(status, 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while pg
        .metric(
            "pulsegate_normalizer_dropped_total{provider=\"strava\",reason=\"data_type_disabled\"",
        )
        .await
        < 1.0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "activity was not filtered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Every data type again: delivered.
    let (status, _) = put(serde_json::json!({"enabled": true, "data_types": []})).await;
    assert_eq!(status, 200);
    let status = push(
        &client,
        pg.port,
        strava_event("activity", 81_003, "create", 1, "{}"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(sink.wait_for(1, Duration::from_secs(20)).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(summary_ids(&sink), vec!["81003".to_string()]);

    // Validation.
    let (status, body) = put(serde_json::json!({"enabled": true, "data_types": ["steps"]})).await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = pg
        .admin(
            reqwest::Method::PUT,
            "/v1/admin/integrations/nope",
            Some(serde_json::json!({"enabled": true})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, body) = pg
        .admin(reqwest::Method::GET, "/v1/admin/integrations", None)
        .await;
    assert_eq!(status, 200);
    // Every provider of the registry, counted so that a new provider touches no test.
    assert_eq!(
        body["integrations"].as_array().unwrap().len(),
        pulsegate_schema::Provider::ALL.len(),
        "{body}"
    );
}

/// An app uploading from an on-device store: valid token → delivered; the same batch
/// twice → delivered once; a data type the integration does not enable → 422; another
/// provider's route → 403; revoked token → 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_uploads_are_authenticated_validated_idempotent_and_delivered() {
    let sink = Sink::start(Behaviour::Ok).await;
    let secret = test_secret(12);
    let extra = format!(
        "{FAST_DISPATCH}{}",
        destination("sink", &sink.url(), &secret, &[])
    );
    let pg = Pulsegate::start("http://127.0.0.1:9", &extra).await;
    let (status, body) = pg
        .admin(
            reqwest::Method::PUT,
            "/v1/admin/integrations/apple",
            Some(serde_json::json!({"enabled": true, "data_types": ["activity", "sleep"]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let user_id = pg.connect("apple", "iphone-user-1", "", "").await;
    let (status, body) = pg
        .admin(
            reqwest::Method::POST,
            &format!("/v1/admin/connections/{user_id}/sdk-tokens"),
            None,
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let token = body["token"].as_str().unwrap().to_string();
    let token_id = body["token_id"].as_str().unwrap().to_string();
    let auth = format!("Bearer {token}");
    let upload = |provider: &'static str, body: serde_json::Value, auth: String| {
        let pg = &pg;
        async move {
            let resp = reqwest::Client::new()
                .post(pg.url(&format!("/v1/ingest/sdk/{provider}")))
                .header("authorization", auth)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            (status, resp.text().await.unwrap())
        }
    };
    let batch = serde_json::json!({"records": [
        {"id": "hk-workout-1", "type": "activity", "data": {"metadata": {
            "summary_id": "hk-workout-1", "start_time": "2026-11-25T07:00:00+01:00",
            "end_time": "2026-11-25T07:45:00+01:00", "type": 8, "upload_type": 1,
            "name": "Morning run"}}},
        {"id": "hk-sleep-1", "type": "sleep", "data": {"metadata": {
            "start_time": "2026-11-24T23:10:00+01:00", "end_time": "2026-11-25T06:50:00+01:00",
            "upload_type": 1}}}
    ]});

    let (status, text) = upload("apple", batch.clone(), auth.clone()).await;
    assert_eq!(status, 200, "{text}");
    assert!(
        sink.wait_for(2, Duration::from_secs(20)).await,
        "{}",
        sink.count()
    );
    let (status, text) = upload("apple", batch.clone(), auth.clone()).await;
    assert_eq!(status, 200, "{text}");
    // The second copy is processed (wait for it) and delivers nothing.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while pg
        .metric("pulsegate_normalizer_dropped_total{provider=\"apple\",reason=\"duplicate_event\"")
        .await
        < 1.0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "second upload not processed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = sink.received();
    assert_eq!(received.len(), 2, "the same batch twice is delivered once");
    let mut types: Vec<String> = received
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_string())
        .collect();
    types.sort();
    assert_eq!(types, ["activity", "sleep"]);
    for r in &received {
        verify_delivery(&secret, &r.headers, &r.body).unwrap_or_else(|e| panic!("{e}"));
        let body = r.json();
        assert_eq!(body["user"]["user_id"], user_id.as_str());
        assert_eq!(body["user"]["provider"], "APPLE");
    }
    let activity = received
        .iter()
        .map(|r| r.json())
        .find(|b| b["type"] == "activity")
        .unwrap();
    assert_eq!(activity["data"][0]["metadata"]["name"], "Morning run");

    // A data type the integration does not declare.
    let body_record = serde_json::json!({"records": [{"id": "w1", "type": "body", "data": {
        "metadata": {"start_time": "2026-11-25T07:00:00+01:00", "end_time": "2026-11-25T07:00:00+01:00"}}}]});
    let (status, text) = upload("apple", body_record, auth.clone()).await;
    assert_eq!(status, 422, "{text}");
    assert!(text.contains("not enabled"), "{text}");
    // Invalid data for its type, and another provider's route.
    let bad =
        serde_json::json!({"records": [{"id": "x", "type": "sleep", "data": {"metadata": {}}}]});
    let (status, text) = upload("apple", bad, auth.clone()).await;
    assert_eq!(status, 422, "{text}");
    let (status, _) = upload("samsung", batch.clone(), auth.clone()).await;
    assert_eq!(status, 403);
    let (status, _) = upload("apple", batch.clone(), "Bearer pgsdk_nope".into()).await;
    assert_eq!(status, 401);

    // Revoked: refused at once.
    let (status, _) = pg
        .admin(
            reqwest::Method::DELETE,
            &format!("/v1/admin/sdk-tokens/{token_id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = upload("apple", batch, auth).await;
    assert_eq!(status, 401);
    // The token was never stored in clear, nor logged.
    assert!(!pg.logs().contains(&token));
    assert_eq!(sink.count(), 2);
}

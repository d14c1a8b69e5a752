//! Per-user erasure on deauthorization, end to end: a user's events pile up behind a
//! failing destination (on `events` behind the breaker, and on the retry tiers); the
//! user is deauthenticated through `/v2`; the destination recovers. The customer gets
//! the `deauth` event and none of that user's queued events, while another user's
//! queued events all arrive.

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use pulsegate_testkit::sink::{Behaviour, Sink};
use pulsegate_testkit::strava::MockStrava;
use reqwest::Method;
use serde_json::{json, Value};
use support::*;

const ACTIVITIES: u64 = 5;

async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the sink accepted (200): (user id, event type, summary id).
fn accepted(sink: &Sink) -> Vec<(String, String, String)> {
    sink.received()
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| r.json())
        .map(|e: Value| {
            let summary = e["data"][0]["metadata"]["summary_id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            (
                e["user"]["user_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                e["type"].as_str().unwrap_or_default().to_string(),
                summary,
            )
        })
        .collect()
}

both_backends!(
    deauth_erases_queued_events,
    a_deauthenticated_user_s_queued_events_are_never_delivered
);

#[allow(
    clippy::print_stderr,
    reason = "the process's own lines about the erasure, printed when the test fails"
)]
async fn a_deauthenticated_user_s_queued_events_are_never_delivered(backend: Backend) {
    let strava = MockStrava::start().await;
    strava.generate_missing(true);
    for a in [1, 2] {
        strava.set_token(a, &format!("access-{a}"));
        strava.set_refresh_token(a, &format!("refresh-{a}"));
    }
    let sink = Sink::start(Behaviour::FailAlways).await;
    let secret = test_secret(41);
    // Retries spread over ~40 s (nothing is dead-lettered while the test runs); the
    // breaker opens after three failures and probes often; two deliveries in flight, so
    // most events wait on the log (skipped when read) and some in a handler (dropped
    // before their attempt).
    let extra = format!(
        r#"
[dispatcher]
timeout = "3s"
concurrency_per_destination = 2
retry_schedule = ["1s", "2s", "4s", "4s", "4s", "4s", "4s", "4s", "4s", "4s"]
allow_private_networks = true
[dispatcher.breaker]
failure_threshold = 3
initial_probe_interval = "300ms"
max_probe_interval = "1s"
[[destinations]]
id = "customer"
url = "{}"
secret = "{secret}"
"#,
        sink.url()
    );
    let pg = Pulsegate::start_on(&backend, &strava.base_url(), &extra).await;
    let (status, dev) = pg
        .admin(
            Method::POST,
            "/v1/admin/developers",
            Some(json!({"dev_id": "acme"})),
        )
        .await;
    assert_eq!(status, 201, "{dev}");
    let user_a = pg
        .connect_athlete_for("acme", 1, "access-1", "refresh-1")
        .await;
    let user_b = pg
        .connect_athlete_for("acme", 2, "access-2", "refresh-2")
        .await;

    // Both users' activities are normalized while the destination fails: they wait on
    // `events` behind the breaker and on the retry tiers.
    let client = reqwest::Client::new();
    for i in 0..ACTIVITIES {
        for owner in [1, 2] {
            let body = strava_event("activity", owner * 1000 + i, "create", owner, "{}");
            assert_eq!(push(&client, pg.port, body).await, 200);
        }
    }
    let pg_ref = &pg;
    eventually(
        "normalized activities",
        Duration::from_secs(60),
        || async move {
            pg_ref
                .metric(r#"pulsegate_normalized_events_total{provider="strava",type="activity"}"#)
                .await
                >= (2 * ACTIVITIES) as f64
        },
    )
    .await;
    eventually(
        "retries scheduled",
        Duration::from_secs(60),
        || async move { pg_ref.metric("pulsegate_retries_scheduled_total").await >= 1.0 },
    )
    .await;
    assert!(accepted(&sink).is_empty());

    // A is deauthenticated; then the destination recovers.
    let resp = client
        .delete(pg.url(&format!("/v2/auth/deauthenticateUser?user_id={user_a}")))
        .header("dev-id", "acme")
        .header("x-api-key", dev["api_key"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    sink.set_behaviour(Behaviour::Ok);

    let want_b: HashSet<String> = (0..ACTIVITIES).map(|i| (2000 + i).to_string()).collect();
    let b_activities = |sink: &Sink| -> HashSet<String> {
        accepted(sink)
            .into_iter()
            .filter(|(u, t, _)| *u == user_b && t == "activity")
            .map(|(_, _, s)| s)
            .collect()
    };
    let (sink_ref, user_a_ref, want_b) = (&sink, &user_a, &want_b);
    eventually(
        "B's activities and A's deauth",
        Duration::from_secs(90),
        || async move {
            b_activities(sink_ref) == *want_b
                && accepted(sink_ref)
                    .iter()
                    .any(|(u, t, _)| u == user_a_ref && t == "deauth")
        },
    )
    .await;
    // Longer than any retry of A's could still be waiting (the tiers' 4 s).
    tokio::time::sleep(Duration::from_secs(6)).await;
    let from_a: Vec<String> = accepted(&sink)
        .into_iter()
        .filter(|(u, _, _)| *u == user_a)
        .map(|(_, t, s)| format!("{t} {s}"))
        .collect();
    if from_a != ["deauth "] {
        // What the process said about the deauthorization, for the failure message.
        for l in pg
            .logs()
            .lines()
            .filter(|l| l.contains("erase") || l.contains("deauth"))
        {
            eprintln!("{l}");
        }
    }
    assert_eq!(from_a, ["deauth "], "A's queued events were delivered");
    for r in sink.received().iter().filter(|r| r.status == 200) {
        verify_delivery(&secret, &r.headers, &r.body).unwrap_or_else(|e| panic!("{e}"));
    }
    assert!(
        pg.metric("pulsegate_records_erased_total").await >= ACTIVITIES as f64,
        "A's records were skipped as erased"
    );
    let logs = pg.logs();
    assert!(logs.contains("user data key erased"), "no erasure logged");
    assert!(
        !logs.contains("cannot be opened"),
        "an erased record read as damage"
    );
}

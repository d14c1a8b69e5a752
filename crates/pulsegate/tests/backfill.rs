//! Historical data requests through the real binary: `GET /v2/activity` (Terra's data
//! endpoint, `to_webhook=true`) → the `backfill` topic → the backfill lane → MockStrava
//! (list pages, then each activity) → `events` → the dispatcher → a customer sink.
//!
//! The throughput figure: `cargo test -p pulsegate --test backfill throughput --
//! --nocapture` prints days/s against the mock (rate limits raised; see
//! docs/BACKFILL.md for what the providers' real limits allow).

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

mod support;

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use pulsegate_testkit::sink::{Behaviour, ReceivedRequest, Sink};
use pulsegate_testkit::strava::{Endpoint, MockStrava};
use reqwest::Method;
use serde_json::{json, Value};
use support::*;

const FAST_DISPATCH: &str = r#"
[dispatcher]
timeout = "3s"
retry_schedule = ["200ms", "400ms", "600ms"]
allow_private_networks = true
"#;

/// Strava limits out of the way (the tests that need them set their own).
const NO_LIMITS: &str = r#"
[normalizer.strava.rate_limit]
limits = [{ requests = 1000000, per = "15m" }]
"#;

const DAY: u64 = 86_400;
/// 2024-01-01T00:00:00Z.
const JAN_1: u64 = 1_704_067_200;

fn destination(url: &str, secret: &str) -> String {
    format!("[[destinations]]\nid = \"customer\"\nurl = \"{url}\"\nsecret = \"{secret}\"\n")
}

struct Dev {
    id: String,
    key: String,
}

struct Env {
    strava: MockStrava,
    sink: Sink,
    secret: String,
    pg: Pulsegate,
    dev: Dev,
}

/// The binary (embedded bus) with a sink destination, athletes `1..=athletes`
/// connected (owner ids `1000 + n`), Strava listing `per_page` activities a page.
async fn start(athletes: u64, per_page: u32, extra: &str) -> (Env, Vec<String>) {
    start_on(&Backend::Embedded, athletes, per_page, extra).await
}

async fn start_on(
    backend: &Backend,
    athletes: u64,
    per_page: u32,
    extra: &str,
) -> (Env, Vec<String>) {
    let strava = MockStrava::start().await;
    let sink = Sink::start(Behaviour::Ok).await;
    let secret = test_secret(7);
    let mut pg = Pulsegate::start_on(
        backend,
        &strava.base_url(),
        &format!(
            "{FAST_DISPATCH}{}{extra}",
            destination(&sink.url(), &secret)
        ),
    )
    .await;
    // `[normalizer.strava]` is written by the harness: add the page size to it.
    pg.kill9();
    let path = pg.config_path().to_path_buf();
    let toml = std::fs::read_to_string(&path).unwrap().replace(
        "[normalizer.strava]\n",
        &format!("[normalizer.strava]\nbackfill_per_page = {per_page}\n"),
    );
    std::fs::write(&path, toml).unwrap();
    pg.spawn().await;
    let (status, created) = pg
        .admin(
            Method::POST,
            "/v1/admin/developers",
            Some(json!({"dev_id": "acme"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let dev = Dev {
        id: created["dev_id"].as_str().unwrap().into(),
        key: created["api_key"].as_str().unwrap().into(),
    };
    let mut users = Vec::new();
    for n in 1..=athletes {
        let owner = 1000 + n;
        strava.set_token(owner, &format!("access-{n}"));
        users.push(
            pg.connect_athlete_for(
                &dev.id,
                owner,
                &format!("access-{n}"),
                &format!("refresh-{n}"),
            )
            .await,
        );
    }
    (
        Env {
            strava,
            sink,
            secret,
            pg,
            dev,
        },
        users,
    )
}

/// `per_day` activities of athlete `n` on each of `days` days from 2024-01-01, at
/// 06:00, 09:00, … UTC. Returns their ids.
fn seed(strava: &MockStrava, n: u64, days: u64, per_day: u64) -> Vec<u64> {
    let mut ids = Vec::new();
    for day in 0..days {
        for k in 0..per_day {
            let id = n * 10_000_000 + day * 10 + k;
            strava.add_activity_at(id, 1000 + n, JAN_1 + day * DAY + 6 * 3600 + k * 3 * 3600);
            ids.push(id);
        }
    }
    ids
}

impl Env {
    /// `GET /v2/activity` (to_webhook defaults to true) for `[start, end)` (Terra's
    /// `end_date` is exclusive): the request's reference.
    async fn request(&self, user_id: &str, start: &str, end: &str) -> String {
        let resp = reqwest::Client::new()
            .get(self.pg.url(&format!(
                "/v2/activity?user_id={user_id}&start_date={start}&end_date={end}"
            )))
            .header("dev-id", &self.dev.id)
            .header("x-api-key", &self.dev.key)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "success", "{body}");
        body["reference"].as_str().unwrap().to_string()
    }

    /// What the sink accepted for `reference`, every delivery signed as documented.
    fn received(&self, reference: &str) -> Vec<ReceivedRequest> {
        let got: Vec<ReceivedRequest> = self
            .sink
            .received()
            .into_iter()
            .filter(|r| r.status == 200 && r.header("terra-reference") == Some(reference))
            .collect();
        for r in &got {
            verify_delivery(&self.secret, &r.headers, &r.body).unwrap();
        }
        got
    }

    /// Distinct data payloads (by webhook id) received for `reference`.
    fn payloads(&self, reference: &str, kind: &str) -> HashMap<String, Vec<Value>> {
        let mut by_id: HashMap<String, Vec<Value>> = HashMap::new();
        for r in self.received(reference) {
            let body = r.json();
            if body["type"] == kind {
                by_id
                    .entry(r.header("webhook-id").unwrap().to_string())
                    .or_default()
                    .push(body);
            }
        }
        by_id
    }

    async fn wait_payloads(&self, reference: &str, kind: &str, n: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.payloads(reference, kind).len() < n {
            assert!(
                Instant::now() < deadline,
                "{} of {n} {kind} payloads: {}",
                self.payloads(reference, kind).len(),
                self.pg.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn summary_ids(bodies: &[&Value]) -> Vec<String> {
    bodies
        .iter()
        .flat_map(|b| {
            b["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["metadata"]["summary_id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

both_backends!(
    kill_9_mid_request,
    a_kill_9_mid_request_still_delivers_every_window_once
);

async fn a_kill_9_mid_request_still_delivers_every_window_once(backend: Backend) {
    let (mut env, users) = start_on(&backend, 1, 5, NO_LIMITS).await;
    // 21 weeks, one activity a day: 21 windows of 2 list pages and 7 activities.
    let ids = seed(&env.strava, 1, 147, 1);
    env.strava.set_latency(Some(Duration::from_millis(20)));
    let reference = env.request(&users[0], "2024-01-01", "2024-05-27").await;
    // Kill once about a quarter of the windows were fetched (2 list pages a window;
    // the user's windows run in order). Watching the fetches rather than deliveries
    // keeps the kill mid-request on either backend, whatever the delivery lag.
    let deadline = Instant::now() + Duration::from_secs(60);
    while env.strava.requests(Endpoint::ListActivities) < 10 {
        assert!(Instant::now() < deadline, "the backfill did not start");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    env.pg.kill9();
    let listed_before = env.strava.requests(Endpoint::ListActivities);
    assert!(listed_before < 42, "the request finished before the kill");
    let fetched_before = listed_before / 2;
    env.strava.reset_counters();
    env.strava.set_latency(None);
    env.pg.spawn().await;
    env.wait_payloads(&reference, "activity", 21, Duration::from_secs(90))
        .await;

    // Resumed, not started over: at most the windows not fetched before the kill, plus
    // the one in flight and one fetched but not yet committed, were fetched again.
    let list_calls = env.strava.requests(Endpoint::ListActivities);
    assert!(
        list_calls <= 2 * (21 - fetched_before + 2),
        "{list_calls} list calls after the restart; {fetched_before} windows were fetched before"
    );
    let payloads = env.payloads(&reference, "activity");
    assert_eq!(payloads.len(), 21, "one webhook id per window");
    let mut firsts = Vec::new();
    for copies in payloads.values() {
        // A window delivered twice (redone after the kill) has the same webhook id and
        // the same body: receivers deduplicate it.
        assert!(copies.iter().all(|c| c["data"] == copies[0]["data"]));
        firsts.push(&copies[0]);
    }
    let delivered = summary_ids(&firsts);
    let unique: BTreeSet<&String> = delivered.iter().collect();
    assert_eq!(delivered.len(), unique.len(), "no activity in two windows");
    let expected: BTreeSet<String> = ids.iter().map(|i| i.to_string()).collect();
    assert_eq!(
        unique.into_iter().cloned().collect::<BTreeSet<_>>(),
        expected
    );
    // Terra's notices, once each (by webhook id).
    let processing = env.payloads(&reference, "large_request_processing");
    assert_eq!(processing.len(), 1);
    let sending = env.payloads(&reference, "large_request_sending");
    assert_eq!(sending.len(), 1);
    let sending = sending.values().next().unwrap()[0].clone();
    assert_eq!(sending["expected_payloads"], 21);
    assert_eq!(sending["user"]["user_id"], users[0].as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_honoured_and_announced_once() {
    let (env, users) = start(1, 50, NO_LIMITS).await;
    let ids = seed(&env.strava, 1, 14, 1);
    env.strava.set_retry_after(Some(2));
    env.strava.fail_next(Endpoint::ListActivities, 1, 429);
    let started = Instant::now();
    let reference = env.request(&users[0], "2024-01-01", "2024-01-15").await;
    env.wait_payloads(&reference, "activity", 2, Duration::from_secs(30))
        .await;
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "retried before Retry-After: {:?}",
        started.elapsed()
    );
    let hits = env.payloads(&reference, "rate_limit_hit");
    assert_eq!(hits.len(), 1, "{hits:#?}");
    let hit = &hits.values().next().unwrap()[0];
    let keys: BTreeSet<&str> = hit
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "type",
            "user",
            "start_date",
            "end_date",
            "retrying_at",
            "message"
        ])
    );
    assert_eq!(hit["start_date"], "2024-01-01T00:00:00.000000+00:00");
    assert_eq!(hit["end_date"], "2024-01-15T00:00:00.000000+00:00");
    // The first list call failed and was made again, once.
    assert_eq!(env.strava.requests(Endpoint::ListActivities), 3);
    let payloads = env.payloads(&reference, "activity");
    let firsts: Vec<&Value> = payloads.values().map(|v| &v[0]).collect();
    assert_eq!(summary_ids(&firsts).len(), ids.len());
}

/// A window over `[normalizer.backfill] max_payload_bytes` reaches the customer as
/// several signed payloads of at most that size, every one with the request's
/// `terra-reference` and its own `webhook-id`; together they carry every activity once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_window_arrives_as_chunks_sharing_the_terra_reference() {
    const CAP: usize = 6 * 1024;
    let extra = format!("{NO_LIMITS}\n[normalizer.backfill]\nmax_payload_bytes = {CAP}\n");
    let (env, users) = start(1, 50, &extra).await;
    let ids = seed(&env.strava, 1, 14, 4);
    let reference = env.request(&users[0], "2024-01-01", "2024-01-15").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let payloads = loop {
        let payloads = env.payloads(&reference, "activity");
        let firsts: Vec<&Value> = payloads.values().map(|v| &v[0]).collect();
        if summary_ids(&firsts).len() >= ids.len() {
            break payloads;
        }
        assert!(Instant::now() < deadline, "{}", env.pg.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Two weeks of 28 activities each, each week far over the cap: more than 2 payloads.
    assert!(payloads.len() > 2, "{} payloads", payloads.len());
    for r in env.received(&reference) {
        assert!(r.body.len() <= CAP, "a payload of {} bytes", r.body.len());
    }
    let firsts: Vec<&Value> = payloads.values().map(|v| &v[0]).collect();
    let mut delivered = summary_ids(&firsts);
    delivered.sort();
    let mut want: Vec<String> = ids.iter().map(u64::to_string).collect();
    want.sort();
    assert_eq!(delivered, want, "every activity once, across the chunks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_pushes_flow_while_a_large_backfill_is_throttled() {
    // 20 calls per 2 s for the application, half kept for live traffic: the backfill of a
    // year (9 calls a week) gets 10 calls per 2 s, so it runs for minutes.
    let limits = r#"
[normalizer.strava.rate_limit]
limits = [{ requests = 20, per = "2s" }]
push_reserve = 0.5
"#;
    let (env, users) = start(2, 5, limits).await;
    seed(&env.strava, 1, 366, 1);
    let reference = env.request(&users[0], "2024-01-01", "2025-01-01").await;
    env.wait_payloads(&reference, "activity", 1, Duration::from_secs(30))
        .await;
    let windows_before = env.payloads(&reference, "activity").len();
    let client = reqwest::Client::new();
    let mut latencies = Vec::new();
    for i in 0..10u64 {
        // Spread over a few seconds, so the pushes interleave with the backfill's calls.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let id = 900 + i;
        env.strava
            .add_activity_at(id, 1002, JAN_1 + 200 * DAY + i * 60);
        let want = id.to_string();
        let sent = Instant::now();
        let status = push(
            &client,
            env.pg.port,
            strava_event("activity", id, "create", 1002, "{}"),
        )
        .await;
        assert_eq!(status, 200);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let delivered = env.sink.received().iter().any(|r| {
                r.status == 200 && {
                    let b = r.json();
                    b["type"] == "activity"
                        && b["data"][0]["metadata"]["summary_id"] == want.as_str()
                }
            });
            if delivered {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "push {i} waited behind the backfill: {}",
                env.pg.logs()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        latencies.push(sent.elapsed());
    }
    let windows = env.payloads(&reference, "activity").len();
    assert!(
        windows < 53,
        "the backfill finished before the pushes: nothing was shown"
    );
    latencies.sort();
    eprintln!(
        "push → delivery during a throttled backfill (windows {windows_before}→{windows} of 53): median {:?}, max {:?}",
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
}

/// Throughput against the mock (no latency, limits raised): one request of two years
/// (windows run in order), and four users' one-year requests at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throughput() {
    let extra = format!("{NO_LIMITS}\n[normalizer.backfill]\nconcurrency = 4\n");
    let (env, users) = start(5, 200, &extra).await;
    let days = 731; // 2024-01-01 ..= 2025-12-31
    seed(&env.strava, 1, days, 1);
    let started = Instant::now();
    let reference = env.request(&users[0], "2024-01-01", "2026-01-01").await;
    let windows = (days as usize).div_ceil(7);
    env.wait_payloads(&reference, "activity", windows, Duration::from_secs(300))
        .await;
    let one = started.elapsed();

    for n in 2..=5 {
        seed(&env.strava, n, 366, 1);
    }
    let started = Instant::now();
    let mut refs = Vec::new();
    for user in &users[1..] {
        refs.push(env.request(user, "2024-01-01", "2025-01-01").await);
    }
    for r in &refs {
        env.wait_payloads(r, "activity", 53, Duration::from_secs(300))
            .await;
    }
    let four = started.elapsed();
    let rate = |days: u64, d: Duration| days as f64 / d.as_secs_f64();
    eprintln!(
        "backfill throughput against MockStrava (1 activity/day, list + detail per activity, delivered to a sink):\n  \
         one request, {days} days ({windows} windows): {one:?} = {:.0} days/s\n  \
         four users x 366 days at once: {four:?} = {:.0} days/s",
        rate(days, one),
        rate(4 * 366, four)
    );
    // Everything measured was delivered: every day's activity, once per window.
    for (r, n) in std::iter::once((&reference, days)).chain(refs.iter().map(|r| (r, 366))) {
        let payloads = env.payloads(r, "activity");
        let firsts: Vec<&Value> = payloads.values().map(|v| &v[0]).collect();
        let ids: BTreeSet<String> = summary_ids(&firsts).into_iter().collect();
        assert_eq!(ids.len() as u64, n);
    }
}

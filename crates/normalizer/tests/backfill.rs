//! Historical data requests end to end at the normalizer level: a real embedded bus in a
//! tempdir, a real state store, MockStrava, the push normalizer and the backfill lane,
//! and the events topic read back (no dispatcher).

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use pulsegate_bus::embedded::{EmbeddedBus, EmbeddedConfig};
use pulsegate_bus::{Bus, Outgoing, TopicSpec};
use pulsegate_normalizer::backfill::{BackfillError, Backfiller, GROUP as BACKFILL_GROUP};
use pulsegate_normalizer::ratelimit::Limiters;
use pulsegate_normalizer::{NormalizeError, NormalizerConfig, RetryConfig};
use pulsegate_schema::{topics, Connection, ConnectionStatus, EventType, Provider, Secret};
use pulsegate_state::StateStore;
use pulsegate_testkit::strava::{Endpoint, MockStrava, CLIENT_ID, CLIENT_SECRET};
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const DAY: u64 = 86_400;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn unix(day: NaiveDate) -> u64 {
    day.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp() as u64
}

fn athlete(n: u64) -> (String, u64) {
    (format!("3f0c6a2e-0000-4000-8000-{n:012}"), 134_800 + n)
}

fn connection(n: u64) -> Connection {
    let (user_id, owner) = athlete(n);
    Connection {
        user_id,
        provider: Provider::Strava,
        provider_user_id: owner.to_string(),
        reference_id: Some(format!("customer-{n}")),
        access_token: Secret::new(format!("tok-{n}")),
        refresh_token: Secret::new(format!("ref-{n}")),
        expires_at: (pulsegate_schema::now_ms() / 1000) as i64 + 3600,
        scopes: Some("activity:read_all".into()),
        status: ConnectionStatus::Active,
        created_at_ms: 1,
        dev_id: None,
        metadata: Default::default(),
    }
}

fn config(api_base: String) -> NormalizerConfig {
    let mut c = NormalizerConfig {
        concurrency: 8,
        dedupe_capacity: 1000,
        retry: RetryConfig {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
        },
        ..NormalizerConfig::default()
    };
    // Strava's own table, as `[normalizer.strava]` would give it; room for the tests'
    // volumes (the limits are tested where they matter).
    c.providers.set(
        Provider::Strava,
        serde_json::json!({
            "api_base": api_base,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "request_timeout": "5s",
            "backfill_per_page": 4,
            "rate_limit": {"limits": [{"requests": 1_000_000, "per": "15m"}]},
        }),
    );
    c.backfill.concurrency = 2;
    c
}

/// Activity ids of athlete `n`: `per_day` a day on each day of `[start, end)`,
/// starting at 06:00, 09:00, … UTC. Returns (id, day) pairs.
fn seed(
    strava: &MockStrava,
    n: u64,
    start: NaiveDate,
    end: NaiveDate,
    per_day: u64,
) -> Vec<(u64, NaiveDate)> {
    let (_, owner) = athlete(n);
    let mut out = Vec::new();
    let mut day = start;
    while day < end {
        for k in 0..per_day {
            let id = n * 1_000_000 + (unix(day) / DAY) * 10 + k;
            strava.add_activity_at(id, owner, unix(day) + 6 * 3600 + k * 3 * 3600);
            out.push((id, day));
        }
        day = day.succ_opt().unwrap();
    }
    out
}

struct Harness {
    dir: tempfile::TempDir,
    embedded: Option<EmbeddedBus>,
    bus: Option<Arc<dyn Bus>>,
    state: Option<Arc<StateStore>>,
    strava: MockStrava,
    cfg: NormalizerConfig,
    shutdown: CancellationToken,
    push: Option<JoinHandle<Result<(), NormalizeError>>>,
    lane: Option<JoinHandle<Result<(), NormalizeError>>>,
    backfiller: Option<Arc<Backfiller>>,
    /// The push and backfill lanes' one budget per application (kept across
    /// [`restart`](Self::restart)s, like the process-wide limiters it stands for).
    limiters: Limiters,
    raw_seq: u64,
}

impl Harness {
    async fn start(users: u64, tweak: impl FnOnce(&mut NormalizerConfig)) -> Self {
        let strava = MockStrava::start().await;
        let mut cfg = config(strava.base_url());
        tweak(&mut cfg);
        let mut h = Self {
            dir: tempfile::tempdir().unwrap(),
            embedded: None,
            bus: None,
            state: None,
            strava,
            cfg,
            shutdown: CancellationToken::new(),
            push: None,
            lane: None,
            backfiller: None,
            limiters: Limiters::new(),
            raw_seq: 0,
        };
        h.open().await;
        for n in 1..=users {
            let c = connection(n);
            h.strava.set_token(athlete(n).1, c.access_token.expose());
            h.state().put_connection(&c).await.unwrap();
        }
        h.start_push();
        h.start_lane();
        h
    }

    /// Opens the bus (again) on the data directory, with the topics and the state.
    async fn open(&mut self) {
        let mut tries = 0;
        let embedded = loop {
            match EmbeddedBus::open(EmbeddedConfig::new(self.dir.path())) {
                Ok(b) => break b,
                // The previous instance's files are released as its last users drop.
                Err(e) if tries < 100 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("reopening the bus: {e}"),
            }
        };
        let bus: Arc<dyn Bus> = Arc::new(embedded.clone());
        for (t, p) in [(topics::RAW, 1), (topics::EVENTS, 2), (topics::BACKFILL, 2)] {
            bus.ensure_topic(&TopicSpec::new(t, p)).await.unwrap();
        }
        self.shutdown = CancellationToken::new();
        let state = StateStore::start(bus.clone(), self.shutdown.clone())
            .await
            .unwrap();
        self.backfiller = Some(Arc::new(
            Backfiller::new(&self.cfg, state.clone(), bus.clone(), self.limiters.clone()).unwrap(),
        ));
        self.embedded = Some(embedded);
        self.bus = Some(bus);
        self.state = Some(state);
    }

    fn bus(&self) -> Arc<dyn Bus> {
        self.bus.clone().unwrap()
    }

    fn state(&self) -> Arc<StateStore> {
        self.state.clone().unwrap()
    }

    fn backfiller(&self) -> Arc<Backfiller> {
        self.backfiller.clone().unwrap()
    }

    fn start_push(&mut self) {
        self.push = Some(tokio::spawn(pulsegate_normalizer::run(
            self.bus(),
            self.state(),
            self.cfg.clone(),
            self.limiters.clone(),
            self.shutdown.clone(),
        )));
    }

    fn start_lane(&mut self) {
        let b = self.backfiller();
        self.lane = Some(tokio::spawn(b.run(self.shutdown.clone())));
    }

    /// Like kill -9 for the backfill and push loops: their tasks are dropped where
    /// they are (no final commit), then everything is closed and the bus reopened from
    /// disk. [`restart`](Self::restart) starts the loops again.
    async fn crash(&mut self) {
        for t in [self.push.take(), self.lane.take()].into_iter().flatten() {
            t.abort();
            let _ = t.await;
        }
        self.shutdown.cancel();
        self.backfiller = None;
        self.state = None;
        self.bus = None;
        self.embedded = None;
        self.open().await;
    }

    fn restart(&mut self) {
        self.start_push();
        self.start_lane();
    }

    /// Stops the loops gracefully (in-flight windows abandoned, finished ones committed).
    async fn halt(&mut self) {
        self.shutdown.cancel();
        for t in [self.push.take(), self.lane.take()].into_iter().flatten() {
            t.await.unwrap().unwrap();
        }
    }

    async fn request(&self, n: u64, start: &str, end: &str) -> String {
        self.backfiller()
            .request(&connection(n), EventType::Activity, d(start), d(end), true)
            .await
            .unwrap()
    }

    /// Appends a Strava push notification for athlete `n`'s activity `id`.
    async fn push_notification(&mut self, n: u64, id: u64) -> String {
        self.raw_seq += 1;
        let owner = athlete(n).1;
        let raw_id = format!("raw-{}", self.raw_seq);
        let raw = json!({
            "id": raw_id,
            "provider": "STRAVA",
            "provider_user_id": owner.to_string(),
            "received_at_ms": pulsegate_schema::now_ms(),
            "body": {"object_type": "activity", "object_id": id, "aspect_type": "create",
                     "updates": {}, "owner_id": owner, "subscription_id": 1,
                     "event_time": 1_700_000_000 + self.raw_seq},
        });
        self.bus()
            .append(
                topics::RAW,
                Outgoing::new(format!("strava:{owner}"), serde_json::to_vec(&raw).unwrap()),
            )
            .await
            .unwrap();
        raw_id
    }

    fn committed_windows(&self) -> u64 {
        self.embedded
            .as_ref()
            .unwrap()
            .committed_offsets(topics::BACKFILL, BACKFILL_GROUP)
            .unwrap()
            .iter()
            .sum()
    }

    async fn wait_windows(&self, n: u64) {
        let wait = async {
            while self.committed_windows() < n {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(60), wait)
            .await
            .unwrap_or_else(|_| panic!("{} of {n} windows after 60 s", self.committed_windows()));
    }

    /// Every events record, in partition order: (partition, offset, event).
    async fn events(&self) -> Vec<(u32, u64, Value)> {
        let mut consumer = self.bus().read_from_start(topics::EVENTS).await.unwrap();
        let mut out = Vec::new();
        while !consumer.caught_up() {
            for r in consumer
                .poll(1000, Duration::from_millis(50))
                .await
                .unwrap()
            {
                let v: Value = serde_json::from_slice(&r.payload).unwrap();
                assert_eq!(r.key.as_ref(), v["user_id"].as_str().unwrap().as_bytes());
                out.push((r.partition, r.offset, v));
            }
        }
        out.sort_by_key(|(p, o, _)| (*p, *o));
        out
    }

    async fn events_of(&self, reference: &str) -> Vec<Value> {
        self.events()
            .await
            .into_iter()
            .map(|(_, _, e)| e)
            .filter(|e| e["reference"] == reference)
            .collect()
    }

    async fn stop(mut self) {
        self.halt().await;
    }
}

/// Summary ids in the data payloads, by window index (from the event bodies).
fn summary_ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["type"] == "activity")
        .flat_map(|e| {
            e["body"]["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["metadata"]["summary_id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_over_many_pages_delivers_every_activity_once() {
    let h = Harness::start(1, |_| {}).await;
    // Ten weeks, one or three activities a day (4 per page: most windows take 2-6 pages),
    // plus activities just outside the range that must not be delivered.
    let mut expected = BTreeSet::new();
    for (i, (id, _)) in seed(&h.strava, 1, d("2024-01-01"), d("2024-03-11"), 3)
        .into_iter()
        .enumerate()
    {
        if i % 7 == 3 {
            h.strava.remove_activity(id); // some days have fewer
        } else {
            expected.insert(id.to_string());
        }
    }
    seed(&h.strava, 1, d("2023-12-31"), d("2024-01-01"), 2);
    seed(&h.strava, 1, d("2024-03-11"), d("2024-03-12"), 2);
    let reference = h.request(1, "2024-01-01", "2024-03-11").await;
    h.wait_windows(10).await;

    let events = h.events_of(&reference).await;
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    // A large request (10 windows > 4): processing at acceptance, sending before the
    // first data, then one payload per window, in window order.
    assert_eq!(kinds[0], "large_request_processing", "{kinds:?}");
    assert_eq!(kinds[1], "large_request_sending", "{kinds:?}");
    assert_eq!(kinds[2..], ["activity"; 10], "{kinds:?}");
    assert_eq!(events[1]["body"]["expected_payloads"], 10);
    assert_eq!(events[0]["body"]["status"], "processing");
    let ids: BTreeSet<&str> = events
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), events.len(), "event ids are unique");

    let delivered = summary_ids(&events);
    let unique: BTreeSet<String> = delivered.iter().cloned().collect();
    assert_eq!(delivered.len(), unique.len(), "no activity twice");
    assert_eq!(unique, expected.iter().cloned().collect());
    // Windows in order: each payload's activities start within its week.
    for (w, e) in events[2..].iter().enumerate() {
        let (ws, we) = (
            unix(d("2024-01-01")) + w as u64 * 7 * DAY,
            unix(d("2024-01-01")) + (w as u64 + 1) * 7 * DAY,
        );
        for a in e["body"]["data"].as_array().unwrap() {
            let id: u64 = a["metadata"]["summary_id"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            let day = (id % 1_000_000) / 10 * DAY;
            assert!(day >= ws && day < we, "window {w}: {id}");
        }
        assert_eq!(e["body"]["user"]["provider"], "STRAVA");
    }
    // Pages followed until a short page: per week ceil(n/4), plus one more when n is a
    // multiple of 4 (the empty page that ends it). Then one detail call per activity.
    let mut per_week: BTreeMap<u64, usize> = BTreeMap::new();
    for id in &expected {
        let id: u64 = id.parse().unwrap();
        let day = (id % 1_000_000) / 10 * DAY;
        *per_week
            .entry((day - unix(d("2024-01-01"))) / (7 * DAY))
            .or_default() += 1;
    }
    let pages: u64 = per_week.values().map(|n| (*n / 4 + 1) as u64).sum();
    assert_eq!(h.strava.requests(Endpoint::ListActivities), pages);
    assert_eq!(
        h.strava.requests(Endpoint::GetActivity),
        expected.len() as u64
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_mid_backfill_resumes_at_the_first_uncommitted_window() {
    let mut h = Harness::start(1, |_| {}).await;
    let all = seed(&h.strava, 1, d("2024-01-01"), d("2024-05-27"), 1); // 21 weeks
                                                                       // Slow enough that the crash lands mid-request.
    h.strava.set_latency(Some(Duration::from_millis(15)));
    let reference = h.request(1, "2024-01-01", "2024-05-27").await;
    h.wait_windows(4).await;
    h.crash().await;
    let committed_at_crash = h.committed_windows();
    assert!(
        (4..21).contains(&committed_at_crash),
        "{committed_at_crash}"
    );
    h.strava.reset_counters();
    h.strava.set_latency(None);
    h.restart();
    h.wait_windows(21).await;

    // Only the windows not committed before the crash were fetched again: 7 activities
    // a week, 4 a page: 2 pages and 7 details each.
    let redone = 21 - committed_at_crash;
    assert_eq!(h.strava.requests(Endpoint::ListActivities), 2 * redone);
    assert_eq!(h.strava.requests(Endpoint::GetActivity), 7 * redone);

    let events = h.events_of(&reference).await;
    let data: Vec<&Value> = events.iter().filter(|e| e["type"] == "activity").collect();
    // Every window delivered; a window in flight at the crash may be stored twice, but
    // then under the same event id (the dispatcher derives the same webhook id).
    let mut by_id: HashMap<&str, Vec<&Value>> = HashMap::new();
    for e in &data {
        by_id
            .entry(e["event_id"].as_str().unwrap())
            .or_default()
            .push(e);
    }
    assert_eq!(by_id.len(), 21, "one event id per window");
    let twice = by_id.values().filter(|v| v.len() > 1).count();
    assert!(twice <= 1, "{twice} windows stored twice");
    for copies in by_id.values() {
        assert!(copies.iter().all(|c| c["body"] == copies[0]["body"]));
    }
    let delivered: BTreeSet<String> = by_id
        .values()
        .flat_map(|v| summary_ids(&[v[0].clone()]))
        .collect();
    let expected: BTreeSet<String> = all.iter().map(|(id, _)| id.to_string()).collect();
    assert_eq!(delivered, expected, "every activity of every window");
    // The notices are not repeated by the restart.
    assert_eq!(
        events
            .iter()
            .filter(|e| e["type"] == "large_request_processing")
            .count(),
        1
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| e["type"] == "large_request_sending")
            .count(),
        1
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_waited_out_announced_once_and_push_is_not_held() {
    let mut h = Harness::start(2, |_| {}).await;
    seed(&h.strava, 1, d("2024-01-01"), d("2024-01-15"), 1);
    seed(&h.strava, 2, d("2024-01-01"), d("2024-01-15"), 1);
    h.strava
        .add_activity_at(777, athlete(1).1, unix(d("2024-06-01")));
    h.strava.set_retry_after(Some(2));
    h.strava.fail_next(Endpoint::ListActivities, 1, 429);
    let started = Instant::now();
    let r1 = h.request(1, "2024-01-01", "2024-01-15").await;
    let r2 = h.request(2, "2024-01-01", "2024-01-15").await;
    // The first list call got the 429; the block is announced once, for that user.
    let wait = async {
        loop {
            let events = h.events().await;
            if events.iter().any(|(_, _, e)| e["type"] == "rate_limit_hit") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .unwrap();
    // Live traffic during the block goes through at once.
    let push_ref = h.push_notification(1, 777).await;
    h.wait_windows(4).await;
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After (2 s) was not honoured: {:?}",
        started.elapsed()
    );

    let events: Vec<Value> = h.events().await.into_iter().map(|(_, _, e)| e).collect();
    let hits: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "rate_limit_hit")
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "one rate_limit_hit per provider block: {hits:#?}"
    );
    let hit = hits[0];
    assert!(hit["reference"] == r1.as_str() || hit["reference"] == r2.as_str());
    assert_eq!(
        hit["body"]["start_date"],
        "2024-01-01T00:00:00.000000+00:00"
    );
    assert_eq!(hit["body"]["end_date"], "2024-01-15T00:00:00.000000+00:00");
    assert!(hit["body"]["retrying_at"]
        .as_str()
        .unwrap()
        .ends_with("+00:00"));
    // On the hit user's partition: the notice, then the push event, then the data the
    // block held back.
    let hit_user = hit["user_id"].as_str().unwrap();
    let user_events: Vec<&Value> = events.iter().filter(|e| e["user_id"] == hit_user).collect();
    let pos = |pred: &dyn Fn(&Value) -> bool| user_events.iter().position(|e| pred(e)).unwrap();
    let hit_pos = pos(&|e| e["type"] == "rate_limit_hit");
    let first_data = pos(&|e| e["type"] == "activity" && e["reference"] == hit["reference"]);
    assert!(hit_pos < first_data);
    if hit_user == athlete(1).0 {
        let push_pos = pos(&|e| e["reference"] == push_ref.as_str());
        assert!(
            push_pos < first_data,
            "push waited for the backfill's block"
        );
    }
    // Both requests complete, each window once.
    for r in [&r1, &r2] {
        let data: Vec<&Value> = events
            .iter()
            .filter(|e| e["reference"] == r.as_str() && e["type"] == "activity")
            .collect();
        assert_eq!(data.len(), 2);
        assert_eq!(
            summary_ids(&data.into_iter().cloned().collect::<Vec<_>>()).len(),
            14
        );
    }
    assert!(events.iter().any(|e| e["reference"] == push_ref.as_str()));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_push_keeps_flowing_while_a_throttled_backfill_runs() {
    // A tiny budget in short windows: 20 calls per 2 s, half reserved for push, so the
    // backfill (a year, one activity a day: 9 calls a week, ~480 calls) can only take
    // 10 per window.
    let mut h = Harness::start(2, |c| {
        c.providers.set_key(
            Provider::Strava,
            "rate_limit",
            serde_json::json!({
                "limits": [{"requests": 20, "per": "2s"}],
                "push_reserve": 0.5,
                "headers": "none",
                "default_block": "1s",
            }),
        );
        c.backfill.concurrency = 4;
    })
    .await;
    seed(&h.strava, 1, d("2024-01-01"), d("2025-01-01"), 1);
    let started = Instant::now();
    let reference = h.request(1, "2024-01-01", "2025-01-01").await;
    h.wait_windows(1).await;
    // Live notifications of the other athlete, one at a time while the backfill runs:
    // each is normalized before the next is sent, and long before the backfill ends.
    let (_, owner2) = athlete(2);
    let mut pushes = Vec::new();
    for i in 0..10u64 {
        let id = 900_000 + i;
        h.strava
            .add_activity_at(id, owner2, unix(d("2024-06-01")) + i);
        let raw = h.push_notification(2, id).await;
        let wait = async {
            loop {
                if h.events()
                    .await
                    .iter()
                    .any(|(_, _, e)| e["reference"] == raw.as_str())
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        let sent = Instant::now();
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .expect("a push notification waited behind the backfill");
        pushes.push((raw, sent.elapsed()));
    }
    let windows_then = h.committed_windows();
    assert!(
        windows_then < 53,
        "the backfill finished first ({windows_then} windows): nothing was measured"
    );
    let worst = pushes.iter().map(|(_, l)| *l).max().unwrap();
    eprintln!(
        "10 pushes during the backfill: worst push→event {worst:?}; backfill at {windows_then}/53 windows"
    );
    h.halt().await;
    let elapsed = started.elapsed();
    // The backfill made progress, and stayed within its half of the budget: at most 10
    // calls in each 2-second window it ran in.
    let windows_done = h.committed_windows();
    let events = h.events_of(&reference).await;
    let data = events.iter().filter(|e| e["type"] == "activity").count() as u64;
    assert_eq!(data, windows_done);
    assert!(windows_done >= 1, "the backfill made no progress");
    let backfill_calls = h.strava.requests(Endpoint::ListActivities)
        + h.strava.requests(Endpoint::GetActivity)
        - pushes.len() as u64;
    let budget_windows = elapsed.as_secs() / 2 + 2;
    assert!(
        backfill_calls <= 10 * budget_windows,
        "{backfill_calls} backfill calls in {elapsed:?}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_fetch_maps_like_push_and_refuses_what_it_cannot() {
    let mut h = Harness::start(1, |_| {}).await;
    let (_, owner) = athlete(1);
    h.strava
        .add_activity_at(4242, owner, unix(d("2024-02-03")) + 3600);
    seed(&h.strava, 1, d("2024-02-05"), d("2024-02-08"), 2);
    // The push path's event for the same activity.
    let raw = h.push_notification(1, 4242).await;
    let wait = async {
        loop {
            if let Some((_, _, e)) = h
                .events()
                .await
                .into_iter()
                .find(|(_, _, e)| e["reference"] == raw.as_str())
            {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let pushed = tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .unwrap();
    let b = h.backfiller();
    let conn = connection(1);
    let objects = b
        .fetch(
            &conn,
            EventType::Activity,
            d("2024-02-01"),
            d("2024-02-08"),
            false,
        )
        .await
        .unwrap();
    assert_eq!(objects.len(), 7);
    assert_eq!(
        objects[0], pushed["body"]["data"][0],
        "the push path's mapping"
    );
    // Nothing was appended for an inline fetch.
    let before = h.events().await.len();
    assert!(h
        .events()
        .await
        .iter()
        .all(|(_, _, e)| e["type"] == "activity"));
    assert_eq!(h.committed_windows(), 0);

    for t in [EventType::Sleep, EventType::Daily, EventType::Body] {
        match b
            .fetch(&conn, t, d("2024-02-01"), d("2024-02-08"), true)
            .await
        {
            Err(BackfillError::Unsupported {
                provider,
                data_type,
            }) => {
                assert_eq!((provider, data_type), ("STRAVA", t.as_str()))
            }
            other => panic!("{t:?}: {other:?}"),
        }
        assert!(matches!(
            b.request(&conn, t, d("2024-02-01"), d("2024-02-08"), true)
                .await,
            Err(BackfillError::Unsupported { .. })
        ));
    }
    assert!(matches!(
        b.request(
            &conn,
            EventType::Activity,
            d("2024-02-08"),
            d("2024-02-01"),
            true
        )
        .await,
        Err(BackfillError::InvalidRange(_))
    ));
    assert!(matches!(
        b.request(
            &conn,
            EventType::Activity,
            d("2015-01-01"),
            d("2024-02-01"),
            true
        )
        .await,
        Err(BackfillError::InvalidRange(_))
    ));
    // Refused requests stored nothing.
    assert_eq!(h.events().await.len(), before);
    h.stop().await;
}

/// A window whose data is over `max_payload_bytes` arrives as several payloads of at most
/// that size, all with the request's reference, each with its own id, their data
/// together the window's, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_window_is_sent_as_chunks_sharing_the_reference() {
    const CAP: usize = 6 * 1024;
    let h = Harness::start(1, |c| c.backfill.max_payload_bytes = CAP).await;
    // Two weeks, four activities a day: each week's payload is far over the cap.
    let expected: Vec<String> = seed(&h.strava, 1, d("2024-01-01"), d("2024-01-15"), 4)
        .into_iter()
        .map(|(id, _)| id.to_string())
        .collect();
    let reference = h.request(1, "2024-01-01", "2024-01-15").await;
    h.wait_windows(2).await;

    let events = h.events_of(&reference).await;
    assert!(
        events.iter().all(|e| e["type"] == "activity"),
        "small request: data only"
    );
    assert!(events.len() > 2, "{} payloads for 2 windows", events.len());
    let mut ids = BTreeSet::new();
    for e in &events {
        let body = serde_json::to_string(&e["body"]).unwrap();
        assert!(body.len() <= CAP, "a payload of {} bytes", body.len());
        assert_eq!(e["reference"], reference.as_str());
        assert_eq!(e["body"]["user"]["provider"], "STRAVA");
        assert!(ids.insert(e["event_id"].as_str().unwrap().to_string()));
    }
    let mut delivered = summary_ids(&events);
    let unique: BTreeSet<String> = delivered.iter().cloned().collect();
    assert_eq!(delivered.len(), unique.len(), "no activity twice");
    delivered.sort();
    let mut want = expected.clone();
    want.sort();
    assert_eq!(delivered, want, "every activity, in one chunk or another");
    h.stop().await;
}

//! The poll lane on real parts: the embedded log in a temp dir, sealed as the binary
//! seals it (per-user keys), the real state store; the provider is a fake (the
//! provider's API is the outside world), which keeps its data across "restarts".

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use chrono::NaiveDate;
use pulsegate_bus::embedded::{EmbeddedBus, EmbeddedConfig};
use pulsegate_bus::{Bus, Record, TopicSpec};
use pulsegate_schema::{
    topics, Connection, ConnectionStatus, EventType, NormalizedEvent, Provider, RawNotification,
    Secret,
};
use pulsegate_state::{Sealer, SealingBus, SecurityConfig, StateCipher, StateStore};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::{Ctx, RangeData, RangeSupport};

const MIN: u64 = 60_000;
const INTERVAL: u64 = 15 * MIN;
const PROVIDER: Provider = Provider::Oura;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// `day` at `hour`:00 UTC, in ms.
fn at(day: &str, hour: u32) -> u64 {
    d(day)
        .and_hms_opt(hour, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis() as u64
}

fn user(n: u32) -> String {
    format!("3f0c6a2e-0000-4000-8000-{n:012}")
}

fn conn(n: u32) -> Connection {
    Connection {
        user_id: user(n),
        provider: PROVIDER,
        provider_user_id: format!("dx-{n}"),
        reference_id: Some(format!("customer-{n}")),
        access_token: Secret::new(format!("tok-{n}")),
        refresh_token: Secret::new(format!("ref-{n}")),
        expires_at: 0,
        scopes: None,
        status: ConnectionStatus::Active,
        created_at_ms: 1,
        dev_id: None,
        metadata: Default::default(),
    }
}

/// A glucose reading as a Terra body object, dated `day`.
fn glucose(day: &str, n: u32) -> Value {
    json!({
        "metadata": {
            "start_time": format!("{day}T{:02}:00:00.000000+00:00", n % 24),
            "end_time": format!("{day}T{:02}:05:00.000000+00:00", n % 24),
        },
        "glucose_data": {"blood_glucose_samples": [{"blood_glucose_mg_per_dL": 90 + n}]},
        "id": format!("g-{day}-{n}"),
    })
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    Data,
    Refused,
    RateLimitedUntil(u64),
}

/// A pull-only provider's API: body data by day, the ranges it was asked for.
struct Fake {
    support: RangeSupport,
    data: Mutex<BTreeMap<NaiveDate, Vec<Value>>>,
    asked: Mutex<Vec<(NaiveDate, NaiveDate)>>,
    mode: Mutex<Mode>,
}

impl Fake {
    fn new(window_days: u32) -> Arc<Self> {
        Arc::new(Self {
            support: RangeSupport {
                window_days,
                history_days: None,
            },
            data: Mutex::default(),
            asked: Mutex::default(),
            mode: Mutex::new(Mode::Data),
        })
    }

    fn add(&self, day: &str, n: u32) {
        self.data
            .lock()
            .unwrap()
            .entry(d(day))
            .or_default()
            .push(glucose(day, n));
    }

    fn asked(&self) -> Vec<(NaiveDate, NaiveDate)> {
        self.asked.lock().unwrap().clone()
    }
}

#[async_trait]
impl ProviderNormalizer for Fake {
    fn provider(&self) -> Provider {
        PROVIDER
    }
    fn dedupe_key(&self, _raw: &RawNotification) -> Option<String> {
        None
    }
    async fn normalize(
        &self,
        _raw: &RawNotification,
        _conn: &Connection,
        _ctx: &Ctx,
    ) -> Result<Vec<NormalizedEvent>, NormalizeError> {
        Err(NormalizeError::dropped("test", "never pushes"))
    }
    fn range_support(&self, t: EventType) -> Option<RangeSupport> {
        (t == EventType::Body).then_some(self.support)
    }
    async fn fetch_range(
        &self,
        _conn: &Connection,
        ctx: &Ctx,
        _t: EventType,
        start: NaiveDate,
        end: NaiveDate,
        _with_samples: bool,
    ) -> Result<RangeData, NormalizeError> {
        assert_eq!(ctx.lane, Lane::Poll);
        self.asked.lock().unwrap().push((start, end));
        match *self.mode.lock().unwrap() {
            Mode::Data => {}
            Mode::Refused => return Ok(RangeData::ConnectionError("token revoked at Oura")),
            Mode::RateLimitedUntil(t) => {
                return Err(NormalizeError::RateLimited {
                    provider: "oura",
                    endpoint: "egvs",
                    retry_at_ms: t,
                    provider_block: true,
                    notify: false,
                })
            }
        }
        let data = self.data.lock().unwrap();
        Ok(RangeData::Objects(
            data.range(start..end)
                .flat_map(|(_, v)| v.iter().cloned())
                .collect(),
        ))
    }
}

fn security() -> SecurityConfig {
    SecurityConfig {
        encryption_key: Secret::new(base64::engine::general_purpose::STANDARD.encode([3u8; 32])),
        ..Default::default()
    }
}

/// One "process": the sealed log on the data dir, its state view and a poll lane.
struct Process {
    bus: Arc<dyn Bus>,
    state: Arc<StateStore>,
    lane: Arc<PollLane>,
    stop: CancellationToken,
}

impl Process {
    async fn start(dir: &std::path::Path, fake: &Arc<Fake>, clock: &Arc<AtomicU64>) -> Self {
        Self::start_with(dir, fake, clock, PollConfig::default()).await
    }

    async fn start_with(
        dir: &std::path::Path,
        fake: &Arc<Fake>,
        clock: &Arc<AtomicU64>,
        cfg: PollConfig,
    ) -> Self {
        let mut tries = 0;
        let embedded = loop {
            match EmbeddedBus::open(EmbeddedConfig::new(dir)) {
                Ok(b) => break b,
                // The previous instance's files are released as its last users drop.
                Err(_) if tries < 200 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("reopening the log: {e}"),
            }
        };
        let sealer = Sealer::from_config(&security()).unwrap().unwrap();
        let keys = sealer.user_keys();
        let bus: Arc<dyn Bus> = Arc::new(SealingBus::new(Arc::new(embedded), sealer));
        bus.ensure_topic(&TopicSpec::new(topics::EVENTS, 2))
            .await
            .unwrap();
        let stop = CancellationToken::new();
        let cipher = StateCipher::from_config(&security()).unwrap();
        let state = StateStore::start_with(bus.clone(), stop.clone(), cipher, Some(keys))
            .await
            .unwrap();
        let clock = clock.clone();
        let lane = Arc::new(
            PollLane::with_providers(
                cfg,
                state.clone(),
                bus.clone(),
                Limiters::new(),
                vec![fake.clone() as Arc<dyn ProviderNormalizer>],
            )
            .with_clock(move || clock.load(Ordering::SeqCst)),
        );
        Self {
            bus,
            state,
            lane,
            stop,
        }
    }

    /// Stops like a process that exits: the state tail stops, everything is dropped.
    fn stop(self) {
        self.stop.cancel();
    }

    async fn poll(&self, n: u32) -> Vec<(EventType, Outcome)> {
        self.lane
            .poll_user(&user(n), &CancellationToken::new())
            .await
    }

    /// Every event on the `events` topic, in order per partition.
    async fn events(&self) -> Vec<Value> {
        let mut c = self.bus.read_from_start(topics::EVENTS).await.unwrap();
        let mut out = Vec::new();
        while !c.caught_up() {
            for r in c.poll(100, Duration::from_millis(100)).await.unwrap() {
                out.push(serde_json::from_slice::<Value>(&r.payload).unwrap());
            }
        }
        out
    }

    /// Makes this process the owner of every bucket now, as its consumed sweeps would.
    fn own_all(&self) {
        let now = self.lane.now_ms();
        for b in 0..self.lane.setup().cfg.buckets {
            self.lane.on_sweep(&sweep(b, now));
        }
    }
}

fn sweep(bucket: u32, at_ms: u64) -> Record {
    Record {
        topic: Arc::from(TOPIC),
        partition: 0,
        offset: 0,
        timestamp_ms: at_ms,
        key: format!("bucket/{bucket}").into(),
        payload: serde_json::to_vec(&json!({"bucket": bucket, "at_ms": at_ms}))
            .unwrap()
            .into(),
    }
}

/// The data payloads among `events`: (event id, day of the objects, object ids).
fn payloads(events: &[Value]) -> Vec<(String, String, Vec<String>)> {
    events
        .iter()
        .filter(|e| e["type"] == "body")
        .map(|e| {
            let data = e["body"]["data"].as_array().unwrap();
            let ids = data
                .iter()
                .map(|o| o["id"].as_str().unwrap().to_string())
                .collect();
            let day = data[0]["metadata"]["start_time"].as_str().unwrap()[..10].to_string();
            (e["event_id"].as_str().unwrap().to_string(), day, ids)
        })
        .collect()
}

fn clock(t: u64) -> Arc<AtomicU64> {
    Arc::new(AtomicU64::new(t))
}

/// The start of user `n`'s slot around `near` (then a minute later is the same slot,
/// an interval later the next).
fn slot_start(n: u32, near: u64) -> u64 {
    near - (near + INTERVAL - offset_ms(&user(n), INTERVAL)) % INTERVAL
}

#[tokio::test]
async fn a_restart_neither_resends_nor_skips() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(7);
    let now = clock(slot_start(1, at("2024-03-10", 10)));
    fake.add("2024-03-07", 1); // before the first poll's lookback: history is backfill's
    fake.add("2024-03-09", 2);
    fake.add("2024-03-10", 3);

    let p = Process::start(dir.path(), &fake, &now).await;
    p.state.put_connection(&conn(1)).await.unwrap();
    assert_eq!(
        p.poll(1).await,
        vec![(EventType::Body, Outcome::Delivered(2))]
    );
    assert_eq!(fake.asked(), vec![(d("2024-03-09"), d("2024-03-11"))]);
    // Within the same slot: not due, nothing fetched.
    now.fetch_add(MIN, Ordering::SeqCst);
    assert_eq!(p.poll(1).await, vec![(EventType::Body, Outcome::NotDue)]);
    assert_eq!(fake.asked().len(), 1);
    let first = payloads(&p.events().await);
    assert_eq!(first.len(), 2);
    p.stop();

    // While stopped, new data appears at the provider (and the old stays).
    fake.add("2024-03-10", 4);
    now.fetch_add(INTERVAL, Ordering::SeqCst);
    let p = Process::start(dir.path(), &fake, &now).await;
    assert_eq!(
        p.poll(1).await,
        vec![(EventType::Body, Outcome::Delivered(1))]
    );
    let all = payloads(&p.events().await);
    assert_eq!(all.len(), 3, "{all:?}");
    assert_eq!(all[..2], first[..]);
    assert_eq!(all[2].1, "2024-03-10");
    assert_eq!(
        all[2].2,
        vec!["g-2024-03-10-4".to_string()],
        "exactly the new data"
    );
    // Every object once: nothing re-sent, nothing skipped.
    let mut objects: Vec<String> = all.iter().flat_map(|p| p.2.clone()).collect();
    objects.sort();
    assert_eq!(
        objects,
        ["g-2024-03-09-2", "g-2024-03-10-3", "g-2024-03-10-4"]
    );
    // Nothing new: nothing sent.
    now.fetch_add(INTERVAL, Ordering::SeqCst);
    assert_eq!(p.poll(1).await, vec![(EventType::Body, Outcome::Unchanged)]);
    assert_eq!(payloads(&p.events().await).len(), 3);
    p.stop();
}

#[tokio::test]
async fn a_crash_between_append_and_cursor_resends_the_same_ids() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(7);
    let now = clock(at("2024-03-10", 10));
    fake.add("2024-03-09", 1);
    fake.add("2024-03-10", 2);

    let p = Process::start(dir.path(), &fake, &now).await;
    p.state.put_connection(&conn(1)).await.unwrap();
    p.lane.crash_after_append.store(true, Ordering::SeqCst);
    assert_eq!(p.poll(1).await, vec![(EventType::Body, Outcome::Stopped)]);
    let before = payloads(&p.events().await);
    assert_eq!(before.len(), 2);
    assert!(p.state.poll_cursor(&user(1), "body").is_none());
    p.stop();

    // Restarted a little later: the poll is repeated.
    now.fetch_add(2 * MIN, Ordering::SeqCst);
    let p = Process::start(dir.path(), &fake, &now).await;
    assert_eq!(
        p.poll(1).await,
        vec![(EventType::Body, Outcome::Delivered(2))]
    );
    let after = payloads(&p.events().await);
    assert_eq!(after.len(), 4);
    // The same payloads with the same ids: the dispatcher derives the same webhook-ids.
    assert_eq!(after[2..], before[..]);
    assert!(p.state.poll_cursor(&user(1), "body").is_some());
    now.fetch_add(INTERVAL, Ordering::SeqCst);
    assert_eq!(p.poll(1).await, vec![(EventType::Body, Outcome::Unchanged)]);
    assert_eq!(payloads(&p.events().await).len(), 4);
    p.stop();
}

#[tokio::test]
async fn downtime_is_caught_up_in_windows() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(2);
    let now = clock(at("2024-03-10", 10));
    fake.add("2024-03-09", 1);
    fake.add("2024-03-10", 2);
    let p = Process::start(dir.path(), &fake, &now).await;
    p.state.put_connection(&conn(1)).await.unwrap();
    assert_eq!(
        p.poll(1).await,
        vec![(EventType::Body, Outcome::Delivered(2))]
    );
    p.stop();

    // Down for three days; data kept arriving.
    fake.add("2024-03-11", 3);
    fake.add("2024-03-12", 4);
    fake.add("2024-03-13", 5);
    now.store(at("2024-03-13", 10), Ordering::SeqCst);
    let p = Process::start(dir.path(), &fake, &now).await;
    p.own_all();
    assert_eq!(p.lane.due_users(at("2024-03-13", 10)), vec![user(1)]);
    assert_eq!(
        p.poll(1).await,
        vec![(EventType::Body, Outcome::Delivered(3))]
    );
    // From the cursor's first open day (the 9th) through today, in 2-day windows.
    assert_eq!(
        fake.asked()[1..],
        [
            (d("2024-03-09"), d("2024-03-11")),
            (d("2024-03-11"), d("2024-03-13")),
            (d("2024-03-13"), d("2024-03-14")),
        ]
    );
    let all = payloads(&p.events().await);
    let days: Vec<&str> = all[2..].iter().map(|p| p.1.as_str()).collect();
    assert_eq!(days, ["2024-03-11", "2024-03-12", "2024-03-13"]);
    let c = p.state.poll_cursor(&user(1), "body").unwrap();
    assert_eq!(c.done_before, "2024-03-12", "yesterday and today stay open");
    assert_eq!(c.polled_at_ms, at("2024-03-13", 10));
    assert!(p.lane.due_users(at("2024-03-13", 10)).is_empty());
    p.stop();
}

#[tokio::test]
async fn erasure_removes_the_cursor_and_stops_polling() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(7);
    let t = at("2024-03-10", 10);
    let now = clock(t);
    fake.add("2024-03-10", 1);
    let p = Process::start(dir.path(), &fake, &now).await;
    p.state.put_connection(&conn(1)).await.unwrap();
    p.state.put_connection(&conn(2)).await.unwrap();
    assert_eq!(
        p.poll(1).await,
        vec![(EventType::Body, Outcome::Delivered(1))]
    );
    assert_eq!(
        p.poll(2).await,
        vec![(EventType::Body, Outcome::Delivered(1))]
    );
    assert!(p.state.poll_cursor(&user(1), "body").is_some());
    now.store(t + INTERVAL, Ordering::SeqCst);
    p.own_all();
    let mut due = p.lane.due_users(t + INTERVAL);
    due.sort();
    assert_eq!(due, vec![user(1), user(2)]);

    assert!(p.state.erase_user(&user(1)).await.unwrap());
    assert!(p.state.poll_cursor(&user(1), "body").is_none());
    assert_eq!(p.lane.due_users(t + INTERVAL), vec![user(2)]);
    let asked = fake.asked().len();
    assert!(p.poll(1).await.is_empty(), "an erased user is not polled");
    assert_eq!(fake.asked().len(), asked);
    p.stop();

    let p = Process::start(dir.path(), &fake, &now).await;
    assert!(p.state.poll_cursors_of(&user(1)).is_empty());
    assert!(p.state.poll_cursor(&user(2), "body").is_some());
    p.stop();
}

#[tokio::test]
async fn buckets_split_users_between_processes() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(7);
    let t = at("2024-03-10", 10);
    let now = clock(t);
    let a = Process::start(dir.path(), &fake, &now).await;
    for n in 0..60 {
        a.state.put_connection(&conn(n)).await.unwrap();
    }
    // A second lane on the same view stands for a second process: the group gave it
    // the partitions of the odd buckets, the first one those of the even ones.
    let b = Arc::new(
        PollLane::with_providers(
            PollConfig::default(),
            a.state.clone(),
            a.bus.clone(),
            Limiters::new(),
            vec![fake.clone() as Arc<dyn ProviderNormalizer>],
        )
        .with_clock({
            let now = now.clone();
            move || now.load(Ordering::SeqCst)
        }),
    );
    assert!(
        a.lane.due_users(t).is_empty(),
        "no sweep consumed, no bucket owned"
    );
    for bucket in 0..64 {
        let lane = if bucket % 2 == 0 { &a.lane } else { &b };
        lane.on_sweep(&sweep(bucket, t));
    }
    let due_a: BTreeSet<String> = a.lane.due_users(t).into_iter().collect();
    let due_b: BTreeSet<String> = b.due_users(t).into_iter().collect();
    assert!(due_a.is_disjoint(&due_b));
    assert_eq!(due_a.len() + due_b.len(), 60);
    assert!(!due_a.is_empty() && !due_b.is_empty());
    // Ownership lapses when the sweeps stop coming (the group moved the partitions),
    // and a stale sweep (a backlog) grants nothing.
    let later = t + 4 * PollConfig::default().check_every.as_millis() as u64;
    assert!(a.lane.due_users(later).is_empty());
    a.lane.on_sweep(&sweep(0, t));
    now.store(later, Ordering::SeqCst);
    a.lane.on_sweep(&sweep(2, t));
    assert!(a.lane.due_users(later).is_empty());
    a.stop();
}

#[tokio::test]
async fn a_refused_connection_is_announced_once_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(7);
    let t = at("2024-03-10", 10);
    let now = clock(t);
    *fake.mode.lock().unwrap() = Mode::Refused;
    let p = Process::start(dir.path(), &fake, &now).await;
    p.state.put_connection(&conn(1)).await.unwrap();
    assert_eq!(
        p.poll(1).await,
        vec![(EventType::Body, Outcome::ConnectionError)]
    );
    assert_eq!(p.poll(1).await[0].1, Outcome::ConnectionError);
    let errors = |events: &[Value]| {
        events
            .iter()
            .filter(|e| e["type"] == "connection_error")
            .count()
    };
    assert_eq!(errors(&p.events().await), 1, "announced once");
    assert!(p.state.poll_cursor(&user(1), "body").is_none());
    now.store(t + INTERVAL, Ordering::SeqCst);
    p.own_all();
    assert!(p.lane.due_users(t + INTERVAL).is_empty(), "left alone");
    // A reconnect (new tokens) is polled again.
    let mut again = conn(1);
    again.access_token = Secret::new("tok-new");
    p.state.put_connection(&again).await.unwrap();
    assert_eq!(p.lane.due_users(t + INTERVAL), vec![user(1)]);
    p.stop();
}

#[tokio::test]
async fn a_rate_limit_holds_the_providers_polls() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(7);
    let t = at("2024-03-10", 10);
    let now = clock(t);
    *fake.mode.lock().unwrap() = Mode::RateLimitedUntil(t + 5 * MIN);
    let p = Process::start(dir.path(), &fake, &now).await;
    p.state.put_connection(&conn(1)).await.unwrap();
    p.state.put_connection(&conn(2)).await.unwrap();
    assert_eq!(
        p.poll(1).await,
        vec![(EventType::Body, Outcome::RateLimited)]
    );
    assert!(p.state.poll_cursor(&user(1), "body").is_none());
    now.store(t + MIN, Ordering::SeqCst);
    p.own_all();
    assert!(
        p.lane.due_users(t + MIN).is_empty(),
        "nobody of this provider"
    );
    now.store(t + 5 * MIN, Ordering::SeqCst);
    p.own_all();
    assert_eq!(p.lane.due_users(t + 5 * MIN).len(), 2);
    p.stop();
}

/// The whole lane, on the system clock: sweeps sent and consumed (the embedded log's
/// one process owns every bucket), the due user polled, its events appended.
#[tokio::test]
async fn the_lane_polls_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(7);
    let today = chrono::Utc::now()
        .date_naive()
        .format("%Y-%m-%d")
        .to_string();
    fake.add(&today, 1);
    let now = clock(0);
    let cfg = PollConfig {
        check_every: Duration::from_millis(50),
        ..PollConfig::default()
    };
    let p = Process::start_with(dir.path(), &fake, &now, cfg.clone()).await;
    p.state.put_connection(&conn(1)).await.unwrap();
    let lane = Arc::new(PollLane::with_providers(
        cfg,
        p.state.clone(),
        p.bus.clone(),
        Limiters::new(),
        vec![fake.clone() as Arc<dyn ProviderNormalizer>],
    ));
    let stop = CancellationToken::new();
    let run = tokio::spawn(lane.clone().run(stop.clone()));
    let wait = async {
        while payloads(&p.events().await).is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("the lane polled the user");
    stop.cancel();
    run.await.unwrap().unwrap();
    assert_eq!(payloads(&p.events().await).len(), 1);
    assert!(p.state.poll_cursor(&user(1), "body").is_some());
    p.stop();
}

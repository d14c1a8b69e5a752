//! The `Bus` contract, written once and run against every backend
//! (`embedded_contract.rs`, `kafka_contract.rs`).
//!
//! Assertions are on what was delivered, never on timing or reported lag. Group joins on
//! the tansu test broker take ~3 s, so waits are generous deadlines, not expectations.

#![allow(
    dead_code,
    reason = "shared by both backends' test crates; not every one runs every check"
)]

use std::any::Any;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use pulsegate_bus::{
    partition_for, run_consumer, Bus, BusError, Consumer, ConsumerLoopConfig, Handled, OffsetReset,
    Outgoing, Record, TopicSpec,
};
use tokio_util::sync::CancellationToken;

/// A backend under test.
pub struct Harness {
    pub bus: Arc<dyn Bus>,
    /// Members of one group split the partitions between them (Kafka). The embedded
    /// log gives every member all partitions, so only the union is checked there.
    pub exclusive_members: bool,
    /// Keeps the backend's resources (data directory, broker) alive.
    pub guard: Box<dyn Any + Send + Sync>,
}

/// Expands to one `#[tokio::test]` per contract check, each with a fresh harness from
/// `$setup` (an async fn returning [`Harness`]).
macro_rules! contract_tests {
    ($setup:path) => {
        contract_tests!(@each $setup;
            append_read_back_per_key_order,
            append_to_unknown_topic_fails,
            group_resumes_after_commit,
            groups_are_independent,
            latest_reset_skips_history_and_survives_resubscribe,
            start_group_at_end_sets_a_durable_cursor,
            members_of_one_group_share_the_records,
            poll_is_cancel_safe,
            run_consumer_end_to_end,
            run_consumer_keeps_key_order_when_asked,
            compacted_topic_read_from_start_sees_everything,
            read_from_start_until_a_marker,
            thousand_appends_complete,
        );
    };
    (@each $setup:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let h = $setup().await;
                contract::within_limit(stringify!($name), contract::$name(&h)).await;
            }
        )*
    };
}

const DEADLINE: Duration = Duration::from_secs(60);

/// Every test finishes or fails within this; a hang names itself instead of stalling CI.
pub const TEST_LIMIT: Duration = Duration::from_secs(240);

pub async fn within_limit<F: std::future::Future<Output = ()>>(name: &str, test: F) {
    if tokio::time::timeout(TEST_LIMIT, test).await.is_err() {
        panic!("{name} did not finish within {TEST_LIMIT:?}");
    }
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

/// Polls until `want` records arrived (panics after [`DEADLINE`]).
pub async fn drain(c: &mut Box<dyn Consumer>, want: usize) -> Vec<Record> {
    let started = Instant::now();
    let mut got = Vec::new();
    while got.len() < want {
        assert!(
            started.elapsed() < DEADLINE,
            "timed out after {} of {want} records",
            got.len()
        );
        got.extend(
            c.poll(1000, Duration::from_millis(500))
                .await
                .expect("poll"),
        );
    }
    got
}

fn text(b: &Bytes) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub async fn append_read_back_per_key_order(h: &Harness) {
    let bus = &h.bus;
    bus.ensure_topic(&TopicSpec::new("raw", 4)).await.unwrap();
    // Concurrent appends of seven keys.
    let mut tasks = Vec::new();
    for i in 0..200u32 {
        let bus = bus.clone();
        tasks.push(tokio::spawn(async move {
            let key = format!("user-{}", i % 7);
            let pos = bus
                .append("raw", Outgoing::new(key.clone(), format!("{i}")))
                .await
                .unwrap();
            (key, format!("{i}"), pos)
        }));
    }
    let mut written = HashMap::new();
    for t in tasks {
        let (key, payload, pos) = t.await.unwrap();
        assert_eq!(
            pos.partition,
            partition_for(key.as_bytes(), 4),
            "placed by partition_for"
        );
        assert!(
            written
                .insert((pos.partition, pos.offset), (key, payload))
                .is_none(),
            "positions are unique"
        );
    }
    // One key appended sequentially: read back in append order.
    for i in 0..20 {
        bus.append("raw", Outgoing::new("seq", format!("s{i}")))
            .await
            .unwrap();
    }

    let mut c = bus
        .subscribe("raw", "reader", OffsetReset::Earliest)
        .await
        .unwrap();
    let records = drain(&mut c, 220).await;
    assert_eq!(records.len(), 220);
    let mut last: HashMap<Bytes, (u32, u64)> = HashMap::new();
    for r in &records {
        if let Some((p, o)) = last.insert(r.key.clone(), (r.partition, r.offset)) {
            assert_eq!(p, r.partition, "same key, same partition");
            assert!(o < r.offset, "same key, increasing offsets");
        }
        assert!(r.timestamp_ms > 0);
        if let Some((key, payload)) = written.get(&(r.partition, r.offset)) {
            assert_eq!(
                (text(&r.key), text(&r.payload)),
                (key.clone(), payload.clone())
            );
        }
    }
    let seq: Vec<String> = records
        .iter()
        .filter(|r| r.key.as_ref() == b"seq")
        .map(|r| text(&r.payload))
        .collect();
    assert_eq!(seq, (0..20).map(|i| format!("s{i}")).collect::<Vec<_>>());
}

pub async fn append_to_unknown_topic_fails(h: &Harness) {
    let err = h
        .bus
        .append("nope", Outgoing::new("k", "v"))
        .await
        .unwrap_err();
    assert!(matches!(err, BusError::UnknownTopic(_)), "{err:?}");
}

async fn ten_records(bus: &Arc<dyn Bus>, topic: &str) {
    bus.ensure_topic(&TopicSpec::new(topic, 1)).await.unwrap();
    let batch: Vec<Outgoing> = (0..10)
        .map(|i| Outgoing::new("k", format!("{i}")))
        .collect();
    let pos = bus.append_batch(topic, batch).await.unwrap();
    let offsets: Vec<u64> = pos.iter().map(|p| p.offset).collect();
    assert!(offsets.windows(2).all(|w| w[0] < w[1]), "{offsets:?}");
}

pub async fn group_resumes_after_commit(h: &Harness) {
    ten_records(&h.bus, "events").await;
    let mut a = h
        .bus
        .subscribe("events", "a", OffsetReset::Earliest)
        .await
        .unwrap();
    let first = drain(&mut a, 10).await;
    assert_eq!(text(&first[0].payload), "0");
    a.commit(&[(0, first[4].offset + 1)]).await.unwrap();
    drop(a);

    let mut again = h
        .bus
        .subscribe("events", "a", OffsetReset::Earliest)
        .await
        .unwrap();
    let rest = drain(&mut again, 5).await;
    let payloads: Vec<String> = rest.iter().map(|r| text(&r.payload)).collect();
    assert_eq!(payloads, ["5", "6", "7", "8", "9"]);
}

pub async fn groups_are_independent(h: &Harness) {
    ten_records(&h.bus, "events").await;
    let mut a = h
        .bus
        .subscribe("events", "a", OffsetReset::Earliest)
        .await
        .unwrap();
    let all = drain(&mut a, 10).await;
    a.commit(&[(0, all[9].offset + 1)]).await.unwrap();
    let mut b = h
        .bus
        .subscribe("events", "b", OffsetReset::Earliest)
        .await
        .unwrap();
    let all_b = drain(&mut b, 10).await;
    assert_eq!(
        text(&all_b[0].payload),
        "0",
        "group b does not see group a's commit"
    );
    // And a is still where it committed.
    h.bus
        .append("events", Outgoing::new("k", "10"))
        .await
        .unwrap();
    let next = drain(&mut a, 1).await;
    assert_eq!(text(&next[0].payload), "10");
}

pub async fn latest_reset_skips_history_and_survives_resubscribe(h: &Harness) {
    let bus = &h.bus;
    bus.ensure_topic(&TopicSpec::new("ev", 2)).await.unwrap();
    // One by one: each is its own batch (tansu's high watermark is exact then).
    for i in 0..4 {
        bus.append("ev", Outgoing::new(format!("k{i}"), "old"))
            .await
            .unwrap();
    }
    let c = bus
        .subscribe("ev", "new-dest", OffsetReset::Latest)
        .await
        .unwrap();
    drop(c);
    bus.append("ev", Outgoing::new("k1", "new")).await.unwrap();
    // Subscribing again (as after a restart) must not fall back to the start or the end.
    let mut c = bus
        .subscribe("ev", "new-dest", OffsetReset::Latest)
        .await
        .unwrap();
    let got = drain(&mut c, 1).await;
    assert_eq!(text(&got[0].payload), "new");
    assert!(c
        .poll(10, Duration::from_millis(300))
        .await
        .unwrap()
        .is_empty());
}

pub async fn start_group_at_end_sets_a_durable_cursor(h: &Harness) {
    let bus = &h.bus;
    bus.ensure_topic(&TopicSpec::new("dest", 2)).await.unwrap();
    for i in 0..4 {
        bus.append("dest", Outgoing::new(format!("k{i}"), "old"))
            .await
            .unwrap();
    }
    bus.start_group_at_end("dest", "d1").await.unwrap();
    bus.append("dest", Outgoing::new("k1", "new"))
        .await
        .unwrap();
    // Idempotent: a second call does not move the cursor past "new".
    bus.start_group_at_end("dest", "d1").await.unwrap();
    let mut c = bus
        .subscribe("dest", "d1", OffsetReset::Latest)
        .await
        .unwrap();
    let got = drain(&mut c, 1).await;
    assert_eq!(text(&got[0].payload), "new");
    assert!(c
        .poll(10, Duration::from_millis(300))
        .await
        .unwrap()
        .is_empty());
}

type Seen = Arc<Mutex<Vec<Record>>>;

/// One group member that polls, remembers and commits until `stop`.
fn member(bus: Arc<dyn Bus>, seen: Seen, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut c = bus
            .subscribe("shared", "g", OffsetReset::Earliest)
            .await
            .unwrap();
        while !stop.is_cancelled() {
            let batch = c.poll(100, Duration::from_millis(200)).await.unwrap();
            let mut next: BTreeMap<u32, u64> = BTreeMap::new();
            for r in &batch {
                next.insert(r.partition, r.offset + 1);
            }
            seen.lock().unwrap().extend(batch);
            let commits: Vec<(u32, u64)> = next.into_iter().collect();
            c.commit(&commits)
                .await
                .expect("commit must survive rebalances");
        }
    })
}

/// Appends rounds of 16 records over the partitions of `shared` until `done`.
async fn append_until(
    bus: &Arc<dyn Bus>,
    round: &mut u32,
    done: impl Fn() -> bool,
    what: &str,
) -> Vec<String> {
    let started = Instant::now();
    let mut payloads = Vec::new();
    while !done() {
        assert!(started.elapsed() < DEADLINE, "{what}");
        let batch: Vec<Outgoing> = (0..16)
            .map(|i| Outgoing::new(format!("k{i}"), format!("r{round}-{i}")))
            .collect();
        bus.append_batch("shared", batch).await.unwrap();
        payloads.extend((0..16).map(|i| format!("r{round}-{i}")));
        *round += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    payloads
}

pub async fn members_of_one_group_share_the_records(h: &Harness) {
    let bus = &h.bus;
    bus.ensure_topic(&TopicSpec::new("shared", 4))
        .await
        .unwrap();
    let (seen_a, seen_b): (Seen, Seen) = Default::default();
    let (stop_a, stop_b) = (CancellationToken::new(), CancellationToken::new());
    let mut appended = HashSet::new();
    let started = Instant::now();
    let mut round = 0;
    // A alone owns every partition, then B joins and takes some over (a rebalance with
    // work in flight: nothing may be lost).
    let a = member(bus.clone(), seen_a.clone(), stop_a.clone());
    appended.extend(
        append_until(
            bus,
            &mut round,
            || !seen_a.lock().unwrap().is_empty(),
            "member a gets records",
        )
        .await,
    );
    let b = member(bus.clone(), seen_b.clone(), stop_b.clone());
    appended.extend(
        append_until(
            bus,
            &mut round,
            || !seen_b.lock().unwrap().is_empty(),
            "member b gets records",
        )
        .await,
    );

    // The group is settled: new records go to exactly one member (Kafka).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (before_a, before_b) = (seen_a.lock().unwrap().len(), seen_b.lock().unwrap().len());
    let settled: Vec<String> = (0..100).map(|i| format!("settled-{i}")).collect();
    let batch: Vec<Outgoing> = settled
        .iter()
        .enumerate()
        .map(|(i, p)| Outgoing::new(format!("k{i}"), p.clone()))
        .collect();
    bus.append_batch("shared", batch).await.unwrap();
    appended.extend(settled.iter().cloned());

    let union = || -> HashSet<String> {
        let mut u: HashSet<String> = seen_a
            .lock()
            .unwrap()
            .iter()
            .map(|r| text(&r.payload))
            .collect();
        u.extend(seen_b.lock().unwrap().iter().map(|r| text(&r.payload)));
        u
    };
    let wait_all = |want: HashSet<String>| async move {
        while !want.is_subset(&union()) {
            assert!(
                started.elapsed() < DEADLINE * 2,
                "missing {} records",
                want.difference(&union()).count()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    wait_all(appended.clone()).await;
    if h.exclusive_members {
        let late = |s: &Seen, from: usize| -> Vec<String> {
            s.lock().unwrap()[from..]
                .iter()
                .map(|r| text(&r.payload))
                .filter(|p| p.starts_with("settled-"))
                .collect()
        };
        let (la, lb) = (late(&seen_a, before_a), late(&seen_b, before_b));
        assert_eq!(
            la.len() + lb.len(),
            100,
            "in a settled group no record is delivered twice"
        );
        assert!(
            !la.is_empty() && !lb.is_empty(),
            "both members own partitions"
        );
    }

    // B leaves: A takes its partitions back and sees everything appended afterwards.
    stop_b.cancel();
    b.await.unwrap();
    let after: HashSet<String> = (0..50).map(|i| format!("after-{i}")).collect();
    let batch: Vec<Outgoing> = after
        .iter()
        .enumerate()
        .map(|(i, p)| Outgoing::new(format!("k{i}"), p.clone()))
        .collect();
    bus.append_batch("shared", batch).await.unwrap();
    appended.extend(after.iter().cloned());
    while !after.iter().all(|p| {
        seen_a
            .lock()
            .unwrap()
            .iter()
            .any(|r| text(&r.payload) == *p)
    }) {
        assert!(
            started.elapsed() < DEADLINE * 2,
            "member a should take over"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop_a.cancel();
    a.await.unwrap();
    assert_eq!(union(), appended, "together the members saw every record");
}

pub async fn poll_is_cancel_safe(h: &Harness) {
    let bus = &h.bus;
    bus.ensure_topic(&TopicSpec::new("cancel", 3))
        .await
        .unwrap();
    let batch: Vec<Outgoing> = (0..300)
        .map(|i| Outgoing::new(format!("k{i}"), format!("{i}")))
        .collect();
    bus.append_batch("cancel", batch).await.unwrap();
    let mut c = bus
        .subscribe("cancel", "g", OffsetReset::Earliest)
        .await
        .unwrap();
    let mut got: Vec<String> = Vec::new();
    let started = Instant::now();
    let mut i = 0u64;
    while got.len() < 300 {
        assert!(started.elapsed() < DEADLINE, "got {} of 300", got.len());
        i += 1;
        // Cancel most polls part-way, as `run_consumer`'s select! does.
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(1 + i % 3)) => {}
            polled = c.poll(7, Duration::from_millis(50)) => {
                got.extend(polled.unwrap().iter().map(|r| text(&r.payload)));
            }
        }
    }
    let unique: HashSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), 300);
    assert_eq!(got.len(), 300, "no record is returned twice");
}

/// With `ordered_by_key`, one key's records run one at a time in offset order (even
/// though handlers take varying time and others run concurrently); all are processed.
pub async fn run_consumer_keeps_key_order_when_asked(h: &Harness) {
    let bus = &h.bus;
    bus.ensure_topic(&TopicSpec::new("ordered", 2))
        .await
        .unwrap();
    let records: Vec<Outgoing> = (0..120)
        .map(|i| Outgoing::new(format!("user-{}", i % 3), format!("{}:{i}", i % 3)))
        .collect();
    bus.append_batch("ordered", records).await.unwrap();
    let log: Arc<Mutex<Vec<(String, u64, bool)>>> = Arc::new(Mutex::new(Vec::new()));
    let running: Arc<Mutex<HashSet<String>>> = Arc::new(Mutex::new(HashSet::new()));
    let stop = CancellationToken::new();
    let (log2, running2, stop2, bus2) = (log.clone(), running.clone(), stop.clone(), bus.clone());
    let task = tokio::spawn(async move {
        let c = bus2
            .subscribe("ordered", "ordered-workers", OffsetReset::Earliest)
            .await
            .unwrap();
        run_consumer(
            c,
            ConsumerLoopConfig::new("ordered", 16).ordered_by_key(),
            stop2,
            move |r: Record| {
                let (log, running) = (log2.clone(), running2.clone());
                async move {
                    let p = text(&r.payload);
                    let (key, n) = p.split_once(':').unwrap();
                    let n: u64 = n.parse().unwrap();
                    let overlapped = !running.lock().unwrap().insert(key.to_string());
                    // Earlier records sleep longer: without ordering they would be
                    // overtaken by later ones of the same key.
                    tokio::time::sleep(Duration::from_millis((120 - n) % 7)).await;
                    running.lock().unwrap().remove(key);
                    log.lock().unwrap().push((key.to_string(), n, overlapped));
                    Handled::Done
                }
            },
        )
        .await
    });
    let started = Instant::now();
    while log.lock().unwrap().len() < 120 {
        assert!(
            started.elapsed() < DEADLINE,
            "processed {}",
            log.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    task.await.unwrap().expect("loop ends cleanly");
    let log = log.lock().unwrap();
    assert!(
        log.iter().all(|(_, _, overlapped)| !overlapped),
        "a key ran twice at once"
    );
    for key in ["0", "1", "2"] {
        let order: Vec<u64> = log
            .iter()
            .filter(|(k, _, _)| k == key)
            .map(|e| e.1)
            .collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(order, sorted, "key {key} out of order");
        assert_eq!(order.len(), 40);
    }
}

pub async fn run_consumer_end_to_end(h: &Harness) {
    let bus = &h.bus;
    bus.ensure_topic(&TopicSpec::new("work", 4)).await.unwrap();
    let first: Vec<Outgoing> = (0..100)
        .map(|i| Outgoing::new(format!("k{i}"), format!("first-{i}")))
        .collect();
    bus.append_batch("work", first).await.unwrap();

    let run = |seen: Arc<Mutex<Vec<String>>>| {
        let bus = bus.clone();
        let stop = CancellationToken::new();
        let retried = Arc::new(Mutex::new(false));
        let stop2 = stop.clone();
        let task = tokio::spawn(async move {
            let c = bus
                .subscribe("work", "workers", OffsetReset::Earliest)
                .await
                .unwrap();
            run_consumer(
                c,
                ConsumerLoopConfig::new("test", 8),
                stop2,
                move |r: Record| {
                    let seen = seen.clone();
                    let retried = retried.clone();
                    async move {
                        let p = text(&r.payload);
                        // One transient failure: retried, not skipped.
                        if p == "first-7" && !std::mem::replace(&mut *retried.lock().unwrap(), true)
                        {
                            return Handled::RetryAfter(Duration::from_millis(20));
                        }
                        seen.lock().unwrap().push(p);
                        Handled::Done
                    }
                },
            )
            .await
        });
        (stop, task)
    };
    let wait_for = |seen: &Arc<Mutex<Vec<String>>>, want: &HashSet<String>| {
        let seen = seen.clone();
        let want = want.clone();
        async move {
            let started = Instant::now();
            loop {
                let have: HashSet<String> = seen.lock().unwrap().iter().cloned().collect();
                if want.is_subset(&have) {
                    return;
                }
                assert!(
                    started.elapsed() < DEADLINE,
                    "processed {} of {}",
                    have.len(),
                    want.len()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };

    let seen1 = Arc::new(Mutex::new(Vec::new()));
    let (stop, task) = run(seen1.clone());
    let want1: HashSet<String> = (0..100).map(|i| format!("first-{i}")).collect();
    wait_for(&seen1, &want1).await;
    stop.cancel();
    task.await
        .unwrap()
        .expect("consumer loop ends cleanly and commits");

    let second: Vec<Outgoing> = (0..20)
        .map(|i| Outgoing::new(format!("k{i}"), format!("second-{i}")))
        .collect();
    bus.append_batch("work", second).await.unwrap();
    let seen2 = Arc::new(Mutex::new(Vec::new()));
    let (stop, task) = run(seen2.clone());
    let want2: HashSet<String> = (0..20).map(|i| format!("second-{i}")).collect();
    wait_for(&seen2, &want2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.cancel();
    task.await.unwrap().unwrap();
    let replayed: Vec<String> = seen2
        .lock()
        .unwrap()
        .iter()
        .filter(|p| p.starts_with("first-"))
        .cloned()
        .collect();
    assert!(
        replayed.is_empty(),
        "restart resumes after the committed offsets: {replayed:?}"
    );
}

pub async fn compacted_topic_read_from_start_sees_everything(h: &Harness) {
    let bus = &h.bus;
    bus.ensure_topic(&TopicSpec::new("state", 1).compacted())
        .await
        .unwrap();
    let empty = bus.read_from_start("state").await.unwrap();
    assert!(empty.caught_up(), "nothing to read in an empty topic");
    drop(empty);
    // One by one, so each record is its own batch (see read_from_start_until_a_marker).
    let mut expected = BTreeMap::new();
    for (round, keys) in [("v1", 0..10), ("v2", 0..5)] {
        for k in keys {
            bus.append("state", Outgoing::new(format!("k{k}"), round))
                .await
                .unwrap();
            expected.insert(format!("k{k}"), round.to_string());
        }
    }
    // An empty payload deletes a key.
    bus.append("state", Outgoing::new("k9", Bytes::new()))
        .await
        .unwrap();
    expected.remove("k9");

    let mut c = bus.read_from_start("state").await.unwrap();
    assert!(!c.caught_up());
    let mut state = BTreeMap::new();
    let started = Instant::now();
    while !c.caught_up() {
        assert!(started.elapsed() < DEADLINE, "never caught up");
        for r in c.poll(100, Duration::from_millis(200)).await.unwrap() {
            if r.payload.is_empty() {
                state.remove(&text(&r.key));
            } else {
                state.insert(text(&r.key), text(&r.payload));
            }
        }
    }
    assert_eq!(state, expected, "last value per key");
}

/// The strict barrier for readers: append a marker and read until it shows up. Does not
/// depend on the reported end of the log.
pub async fn read_from_start_until_a_marker(h: &Harness) {
    let bus = &h.bus;
    bus.ensure_topic(&TopicSpec::new("dl", 1)).await.unwrap();
    let batch: Vec<Outgoing> = (0..50)
        .map(|i| Outgoing::new(format!("k{i}"), format!("{i}")))
        .collect();
    bus.append_batch("dl", batch).await.unwrap();
    let marker = bus
        .append("dl", Outgoing::new("marker", "m"))
        .await
        .unwrap();
    let mut c = bus.read_from_start("dl").await.unwrap();
    let mut got = Vec::new();
    let started = Instant::now();
    while !got.iter().any(|r: &Record| r.offset == marker.offset) {
        assert!(started.elapsed() < DEADLINE, "marker not seen");
        got.extend(c.poll(100, Duration::from_millis(200)).await.unwrap());
    }
    assert_eq!(got.len(), 51);
    assert!(c.caught_up());
}

#[allow(
    clippy::print_stderr,
    reason = "a contract check run by #[test] fns; reports the time taken"
)]
pub async fn thousand_appends_complete(h: &Harness) {
    let bus = &h.bus;
    bus.ensure_topic(&TopicSpec::new("load", 8)).await.unwrap();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..64u32 {
        let bus = bus.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for i in (t..1000).step_by(64) {
                out.push(
                    bus.append(
                        "load",
                        Outgoing::new(format!("k{}", i % 97), format!("{i}")),
                    )
                    .await
                    .unwrap(),
                );
            }
            out
        }));
    }
    let mut positions = HashSet::new();
    for t in tasks {
        for p in tokio::time::timeout(DEADLINE, t)
            .await
            .expect("appends finish")
            .unwrap()
        {
            assert!(positions.insert((p.partition, p.offset)));
        }
    }
    assert_eq!(positions.len(), 1000);
    eprintln!("1000 appends by 64 tasks took {:?}", started.elapsed());
}

//! Scale-out on Kafka: separate ingest, normalize and dispatch processes (two of each)
//! sharing the work through consumer groups on a real Kafka-protocol broker; one
//! dispatcher is killed with SIGKILL mid-run and nothing is lost.

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pulsegate_testkit::sink::{Behaviour, Sink};
use pulsegate_testkit::strava::MockStrava;
use support::*;

const EVENTS: u64 = 10_000;
const ATHLETES: u64 = 20;

fn summary_ids(sink: &Sink) -> Vec<String> {
    sink.received()
        .iter()
        .filter(|r| r.status == 200)
        .filter_map(|r| {
            r.json()["data"][0]["metadata"]["summary_id"]
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

/// The key every process of this test seals the log with.
const ENCRYPTION_KEY: &str = "BQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU=";

/// For a failure report: reads the topics as pulsegate does (opening sealed records with
/// the deployment's keys) and tells, per missing object id, on which topics a record
/// naming it is (`raw` = acknowledged, `events` = normalized, `retry_*`, `dead_letters`).
async fn locate_on_bus(backend: &Backend, missing: &[String]) -> String {
    let Backend::Kafka(broker) = backend else {
        return "(embedded)".into();
    };
    let kafka: pulsegate_bus::kafka::KafkaConfig = serde_json::from_value(serde_json::json!({
        "brokers": broker.brokers(), "replication_factor": 1
    }))
    .unwrap();
    let security: pulsegate_state::SecurityConfig =
        serde_json::from_value(serde_json::json!({ "encryption_key": ENCRYPTION_KEY })).unwrap();
    let inner: Arc<dyn pulsegate_bus::Bus> = Arc::new(
        pulsegate_bus::kafka::KafkaBus::connect(kafka)
            .await
            .unwrap(),
    );
    let sealer = pulsegate_state::Sealer::from_config(&security)
        .unwrap()
        .unwrap();
    let keys = sealer.user_keys();
    let bus: Arc<dyn pulsegate_bus::Bus> =
        Arc::new(pulsegate_state::SealingBus::new(inner, sealer));
    let stop = tokio_util::sync::CancellationToken::new();
    let cipher = pulsegate_state::StateCipher::from_config(&security).unwrap();
    let _state =
        pulsegate_state::StateStore::start_with(bus.clone(), stop.clone(), cipher, Some(keys))
            .await
            .unwrap();
    let mut report = Vec::new();
    for topic in [
        "raw",
        "events",
        "retry_0",
        "retry_1",
        "retry_2",
        "retry_3",
        "dead_letters",
    ] {
        let Ok(mut c) = bus.read_from_start(topic).await else {
            continue;
        };
        while !c.caught_up() {
            let Ok(records) = c.poll(500, Duration::from_millis(500)).await else {
                report.push(format!("{topic}: unreadable"));
                break;
            };
            for r in records {
                let text = String::from_utf8_lossy(&r.payload);
                for id in missing {
                    if text.contains(id.as_str()) {
                        let head: String = text.chars().take(160).collect();
                        report.push(format!(
                            "{id} on {topic} p{} @{}: {head}",
                            r.partition, r.offset
                        ));
                    }
                }
            }
        }
    }
    stop.cancel();
    format!("{report:?}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_of_each_role_on_kafka_survive_a_killed_dispatcher() {
    let backend = Backend::kafka();
    let strava = MockStrava::start().await;
    strava.generate_missing(true);
    strava.accept_any_token(true);
    let sink = Sink::start(Behaviour::Ok).await;
    let secret = test_secret(9);
    // Retries long enough to outlast a stall of this test process (the sink lives here):
    // a dead letter is not a loss, but this test is about losing nothing.
    let extra = format!(
        "[dispatcher]\ntimeout = \"5s\"\nretry_schedule = [\"500ms\", \"1s\", \"2s\", \"4s\"]\nallow_private_networks = true\n\
         [security]\nencryption_key = \"{ENCRYPTION_KEY}\"\n\
         [[destinations]]\nid = \"sink\"\nurl = \"{}\"\nsecret = \"{secret}\"\n",
        sink.url()
    );
    let api = strava.base_url();
    let ingest = [
        Pulsegate::start_role(&backend, "ingest", &api, &extra).await,
        Pulsegate::start_role(&backend, "ingest", &api, &extra).await,
    ];
    let _normalizers = [
        Pulsegate::start_role(&backend, "normalize", &api, &extra).await,
        Pulsegate::start_role(&backend, "normalize", &api, &extra).await,
    ];
    let mut dispatchers = [
        Pulsegate::start_role(&backend, "dispatch", &api, &extra).await,
        Pulsegate::start_role(&backend, "dispatch", &api, &extra).await,
    ];
    for a in 1..=ATHLETES {
        ingest[0]
            .connect_athlete(a, &format!("tok-{a}"), &format!("ref-{a}"))
            .await;
    }

    // One path token for the deployment: read on one ingest process, and wait until the
    // other has it from the state topic.
    let path = support::push_path(ingest[0].port, "strava").await;
    support::share_push_path(ingest[1].port, "strava", &path);
    let waited = Instant::now();
    loop {
        let hs = reqwest::get(ingest[1].url(&format!(
            "{path}?hub.mode=subscribe&hub.challenge=c&hub.verify_token={}",
            support::VERIFY_TOKEN
        )))
        .await
        .unwrap();
        if hs.status() == 200 {
            break;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "path token never reached ingest[1]"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Push 10,000 events over both ingest processes from 16 clients.
    let next = Arc::new(AtomicUsize::new(0));
    let acked = Arc::new(std::sync::Mutex::new(HashSet::new()));
    let ports = [ingest[0].port, ingest[1].port];
    let mut pushers = Vec::new();
    for c in 0..16 {
        let (next, acked) = (next.clone(), acked.clone());
        pushers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as u64;
                if i >= EVENTS {
                    return;
                }
                let id = 1_000_000 + i;
                let body = strava_event("activity", id, "create", 1 + i % ATHLETES, "{}");
                let status = push(&client, ports[c % 2], body).await;
                assert_eq!(status, 200, "push {id}");
                acked.lock().unwrap().insert(id.to_string());
            }
        }));
    }

    // Kill one dispatcher once deliveries are well under way.
    let started = Instant::now();
    while sink.count() < 2_000 {
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "only {} delivered",
            sink.count()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    dispatchers[0].kill9();
    let kill_time = std::time::SystemTime::now();
    let killed_at = sink.count();
    for p in pushers {
        p.await.unwrap();
    }
    assert_eq!(acked.lock().unwrap().len() as u64, EVENTS);

    let want: HashSet<String> = acked.lock().unwrap().clone();
    loop {
        let got: HashSet<String> = summary_ids(&sink).into_iter().collect();
        if want.is_subset(&got) {
            break;
        }
        if started.elapsed() >= Duration::from_secs(300) {
            // Every process's whole log, kept past the test's temporary directories.
            let keep =
                std::env::temp_dir().join(format!("scale_out-failure-{}", std::process::id()));
            std::fs::create_dir_all(&keep).unwrap();
            for (i, p) in ingest
                .iter()
                .chain(&_normalizers)
                .chain(&dispatchers)
                .enumerate()
            {
                std::fs::write(keep.join(format!("{i}-{}.log", p.role)), p.logs()).unwrap();
            }
            eprintln!("logs of every process kept in {}", keep.display());
            let missing: Vec<String> = want.difference(&got).cloned().collect();
            eprintln!(
                "where the missing events are on the bus: {}",
                locate_on_bus(&backend, &missing).await
            );
        }
        let missing: Vec<&String> = want.difference(&got).take(10).collect();
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "{} of {EVENTS} delivered (missing e.g. {missing:?}); normalizer drops: {:?}; \
             warnings and errors of every process: {}; \
             the surviving dispatcher must take over: {}",
            got.len(),
            _normalizers
                .iter()
                .flat_map(|n| n
                    .logs()
                    .lines()
                    .filter(|l| l.contains("dropped"))
                    .map(str::to_string)
                    .collect::<Vec<_>>())
                .take(10)
                .collect::<Vec<_>>(),
            ingest
                .iter()
                .chain(&_normalizers)
                .chain(&dispatchers)
                .enumerate()
                .flat_map(|(i, p)| p
                    .logs()
                    .lines()
                    .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
                    .take(20)
                    .map(|l| format!("[process {i}] {l}"))
                    .collect::<Vec<_>>())
                .collect::<Vec<_>>()
                .join("\n"),
            dispatchers[1]
                .logs()
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .join("\n")
        );
        // Each look clones and parses every body: not too often, the sink shares the runtime.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let received = sink.received();
    let deliveries = received.len();
    let distinct: HashSet<&str> = received
        .iter()
        .filter_map(|r| r.header("webhook-id"))
        .collect();
    let duplicates = deliveries - distinct.len();
    // Offset gaps the broker showed and the consumers re-read (see the kafka consumer).
    let mut gaps = 0.0;
    for p in _normalizers.iter().chain(&dispatchers[1..]) {
        gaps += p.metric("pulsegate_kafka_offset_gaps_total").await;
    }
    eprintln!(
        "scale-out: {EVENTS} events, {deliveries} deliveries, {} distinct webhook-ids, {duplicates} duplicates \
         (dispatcher killed after {killed_at} deliveries), {gaps} offset gaps re-read, {:.1}s",
        distinct.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(distinct.len() as u64, EVENTS, "one webhook-id per event");
    // Redelivery is bounded by what the killed member had in flight or finished but
    // not yet committed: its concurrency window per partition batch, not the backlog.
    // What it finishes between two commits grows with the delivery rate (a faster
    // machine, a faster broker), so the bound is its rate in the second before the kill
    // (commits come every 50 ms or more often) plus its windows in flight.
    let rate_at_kill = received
        .iter()
        .filter(|r| {
            r.received_at <= kill_time && r.received_at + Duration::from_secs(1) >= kill_time
        })
        .count();
    assert!(
        duplicates < 1_000.max(rate_at_kill + 512),
        "{duplicates} duplicates at {rate_at_kill} deliveries/s at the kill"
    );

    // Consumer lag per topic and partition is exported by the consuming roles.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = reqwest::get(_normalizers[0].admin_url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text
            .lines()
            .any(|l| l.starts_with("pulsegate_consumer_lag{") && l.contains("partition="))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no pulsegate_consumer_lag in the normalizer's /metrics"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

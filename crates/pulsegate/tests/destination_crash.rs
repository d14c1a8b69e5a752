//! Destinations beyond HTTP under kill -9: a customer's Kafka topic (tansu), an S3
//! bucket (moto) and an ordered webhook, fed by the real `pulsegate serve` process,
//! which is SIGKILLed several times while providers stream. Every acknowledged event
//! must reach every destination (at least once, one webhook-id per event), and where
//! order is promised (Kafka destinations, `ordered = true` webhooks) each user's events
//! arrive in the order they were acknowledged.
//!
//! Volumes (not `PULSEGATE_…`: the process under test would read those as config):
//! `DESTINATION_CRASH_EVENTS` (default 100,000 for Kafka + webhook) and
//! `DESTINATION_CRASH_S3_EVENTS` (default 10,000: moto stores ~200 objects/s here).

#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code; reports progress across the kills"
)]

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pulsegate_testkit::kafka::TestBroker;
use pulsegate_testkit::s3::{TestS3, ACCESS_KEY_ID, SECRET_ACCESS_KEY};
use pulsegate_testkit::sink::{Behaviour, Sink};
use pulsegate_testkit::strava::MockStrava;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use support::*;

const ATHLETES: u64 = 50;
const TOPIC_PARTITIONS: i32 = 4;
/// Object ids start here; athlete `a` pushes `BASE + a + ATHLETES * k`, k = 0, 1, …, one
/// at a time, so a user's ids rise in the order pulsegate acknowledged them.
const BASE: u64 = 10_000_000;

fn volume(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{var}: not a number")))
        .unwrap_or(default)
}

fn athlete_of(id: u64) -> u64 {
    (id - BASE) % ATHLETES
}

async fn strava_with_athletes() -> MockStrava {
    let strava = MockStrava::start().await;
    strava.generate_missing(true);
    for a in 1..=ATHLETES {
        strava.set_token(a, &format!("access-{a}"));
        strava.set_refresh_token(a, &format!("refresh-{a}"));
    }
    strava
}

/// Streams `per_athlete` events per athlete (one request at a time per athlete; a push
/// that fails because the process is down is sent again) while SIGKILLing and
/// restarting `pg` once each time another `total / (kills + 1)` were acknowledged.
/// Returns the acknowledged ids in acknowledgement order per athlete.
async fn stream_with_kills(pg: &mut Pulsegate, per_athlete: u64, kills: usize) -> Vec<u64> {
    let total = (per_athlete * ATHLETES) as usize;
    let acked_count = Arc::new(AtomicUsize::new(0));
    let down = Arc::new(AtomicBool::new(false));
    let port = pg.port;
    let mut pushers = Vec::new();
    for a in 0..ATHLETES {
        let (acked_count, down) = (acked_count.clone(), down.clone());
        pushers.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            let mut acked = Vec::new();
            for k in 0..per_athlete {
                let id = BASE + a + ATHLETES * k;
                // Strava's owner ids are 1-based.
                let body = strava_event("activity", id, "create", a + 1, "{}");
                let started = Instant::now();
                loop {
                    match push(&client, port, body.clone()).await {
                        200 => break,
                        // Down, starting, or shedding load: the provider sends again.
                        0 | 503 => {
                            assert!(
                                started.elapsed() < Duration::from_secs(120),
                                "push {id} never acknowledged"
                            );
                            let pause = if down.load(Ordering::Relaxed) { 50 } else { 5 };
                            tokio::time::sleep(Duration::from_millis(pause)).await;
                        }
                        s => panic!("push {id}: HTTP {s}"),
                    }
                }
                acked.push(id);
                acked_count.fetch_add(1, Ordering::Relaxed);
            }
            acked
        }));
    }
    for kill in 1..=kills {
        let at = total * kill / (kills + 1);
        while acked_count.load(Ordering::Relaxed) < at {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        down.store(true, Ordering::Relaxed);
        pg.kill9();
        pg.spawn().await;
        down.store(false, Ordering::Relaxed);
        eprintln!(
            "kill {kill}: SIGKILLed at {} acknowledged, restarted",
            acked_count.load(Ordering::Relaxed)
        );
    }
    let mut acked = Vec::new();
    for p in pushers {
        acked.extend(p.await.unwrap());
    }
    assert_eq!(acked.len(), total);
    acked
}

/// One delivery as a destination received it: webhook-id, summary (object) id, user key.
#[derive(Debug)]
struct Got {
    webhook_id: String,
    summary_id: u64,
}

fn summary_id(body: &[u8]) -> u64 {
    let v: serde_json::Value = serde_json::from_slice(body).expect("a JSON body");
    v["data"][0]["metadata"]["summary_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no summary_id in {}", String::from_utf8_lossy(body)))
}

/// Checks one destination's deliveries (in arrival order, or per partition for Kafka):
/// every acknowledged id at least once, one webhook-id per id, and (if `ordered`) each
/// athlete's first deliveries in acknowledgement order. Returns the duplicate count.
fn check(name: &str, acked: &[u64], got: &[Got], ordered: bool) -> usize {
    let mut webhook_of: HashMap<u64, &str> = HashMap::new();
    let mut first_order: HashMap<u64, Vec<u64>> = HashMap::new();
    for g in got {
        match webhook_of.get(&g.summary_id) {
            Some(w) => assert_eq!(
                *w, g.webhook_id,
                "{name}: event {} delivered under two webhook-ids",
                g.summary_id
            ),
            None => {
                webhook_of.insert(g.summary_id, &g.webhook_id);
                first_order
                    .entry(athlete_of(g.summary_id))
                    .or_default()
                    .push(g.summary_id);
            }
        }
    }
    let missing: Vec<u64> = acked
        .iter()
        .filter(|id| !webhook_of.contains_key(id))
        .copied()
        .collect();
    assert!(
        missing.is_empty(),
        "{name}: {} acknowledged events never delivered, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    let distinct: HashSet<&str> = got.iter().map(|g| g.webhook_id.as_str()).collect();
    assert_eq!(
        distinct.len(),
        webhook_of.len(),
        "{name}: one webhook-id per event"
    );
    if ordered {
        for (athlete, ids) in &first_order {
            if let Some(w) = ids.windows(2).find(|w| w[0] > w[1]) {
                panic!(
                    "{name}: athlete {athlete}'s events out of order: {} before {}",
                    w[0], w[1]
                );
            }
        }
    }
    got.len() - webhook_of.len()
}

/// Every record of `topic` (group-less, from the beginning, partition by partition in
/// offset order) once `want` distinct summary ids are there, or when `limit` passed.
async fn read_kafka(brokers: &str, topic: &str, want: &HashSet<u64>, limit: Duration) -> Vec<Got> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "customer-reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..TOPIC_PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut by_partition: HashMap<i32, Vec<Got>> = HashMap::new();
    let mut seen = HashSet::new();
    let deadline = Instant::now() + limit;
    let mut settle: Option<Instant> = None;
    loop {
        let until = settle.unwrap_or(deadline);
        let now = Instant::now();
        if now >= until {
            break;
        }
        let Ok(m) = tokio::time::timeout(until - now, consumer.recv()).await else {
            break;
        };
        let m = m.unwrap();
        let webhook_id = m
            .headers()
            .and_then(|h| h.iter().find(|h| h.key == "webhook-id"))
            .and_then(|h| h.value)
            .map(|v| String::from_utf8(v.to_vec()).unwrap())
            .expect("a webhook-id header");
        let id = summary_id(m.payload().unwrap_or_default());
        seen.insert(id);
        by_partition.entry(m.partition()).or_default().push(Got {
            webhook_id,
            summary_id: id,
        });
        if settle.is_none() && want.is_subset(&seen) {
            // Duplicates written just before a kill may still be behind: read a little on.
            settle = Some(Instant::now() + Duration::from_secs(2));
        }
    }
    // A user's records share a partition (keyed by user id): per-partition offset order
    // is the order the customer's consumers see.
    by_partition.into_values().flatten().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_and_ordered_webhook_destinations_lose_nothing_across_kill_9() {
    let per_athlete = volume("DESTINATION_CRASH_EVENTS", 100_000) / ATHLETES;
    let broker = TestBroker::start();
    create_topic(&broker.brokers(), "customer-events").await;
    let strava = strava_with_athletes().await;
    let sink = Sink::start(Behaviour::Ok).await;
    let secret = test_secret(7);
    let extra = format!(
        "[dispatcher]\ntimeout = \"5s\"\nretry_schedule = [\"200ms\", \"500ms\", \"1s\", \"2s\", \"5s\"]\n\
         allow_private_networks = true\n\
         [[destinations]]\nid = \"topic\"\nurl = \"kafka://{}/customer-events\"\nsecret = \"{secret}\"\n\
         [[destinations]]\nid = \"ordered\"\nurl = \"{}\"\nsecret = \"{secret}\"\nordered = true\n",
        broker.brokers(),
        sink.url()
    );
    let mut pg = Pulsegate::start(&strava.base_url(), &extra).await;
    for a in 1..=ATHLETES {
        pg.connect_athlete(a, &format!("access-{a}"), &format!("refresh-{a}"))
            .await;
    }
    let started = Instant::now();
    let acked = stream_with_kills(&mut pg, per_athlete, 3).await;
    let pushed_in = started.elapsed();
    let want: HashSet<u64> = acked.iter().copied().collect();

    let records = read_kafka(
        &broker.brokers(),
        "customer-events",
        &want,
        Duration::from_secs(600),
    )
    .await;
    let kafka_dups = check("kafka destination", &acked, &records, true);

    let deadline = Instant::now() + Duration::from_secs(300);
    let deliveries = loop {
        let got: Vec<Got> = sink
            .received()
            .iter()
            .map(|r| Got {
                webhook_id: r.header("webhook-id").expect("webhook-id").to_string(),
                summary_id: summary_id(&r.body),
            })
            .collect();
        let ids: HashSet<u64> = got.iter().map(|g| g.summary_id).collect();
        if want.is_subset(&ids) || Instant::now() > deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let webhook_dups = check("ordered webhook", &acked, &deliveries, true);
    eprintln!(
        "kill -9 x3: {} events acknowledged in {:.1}s; kafka destination {} records \
         ({kafka_dups} duplicates), ordered webhook {} deliveries ({webhook_dups} duplicates), \
         all delivered after {:.1}s",
        acked.len(),
        pushed_in.as_secs_f64(),
        records.len(),
        deliveries.len(),
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_destination_loses_nothing_across_kill_9() {
    use futures_util::TryStreamExt;
    use object_store::ObjectStore;

    let per_athlete = volume("DESTINATION_CRASH_S3_EVENTS", 10_000) / ATHLETES;
    let s3 = TestS3::start();
    s3.create_bucket("lake");
    let strava = strava_with_athletes().await;
    let secret = test_secret(8);
    let extra = format!(
        "[dispatcher]\ntimeout = \"10s\"\nretry_schedule = [\"200ms\", \"500ms\", \"1s\", \"2s\", \"5s\"]\n\
         allow_private_networks = true\n\
         [[destinations]]\nid = \"bucket\"\nurl = \"s3://lake/terra?endpoint={}&region=us-east-1\"\n\
         secret = \"{secret}\"\ns3_access_key_id = \"{ACCESS_KEY_ID}\"\ns3_secret_access_key = \"{SECRET_ACCESS_KEY}\"\n",
        s3.endpoint()
    );
    let mut pg = Pulsegate::start(&strava.base_url(), &extra).await;
    for a in 1..=ATHLETES {
        pg.connect_athlete(a, &format!("access-{a}"), &format!("refresh-{a}"))
            .await;
    }
    let started = Instant::now();
    let acked = stream_with_kills(&mut pg, per_athlete, 2).await;
    let want: HashSet<u64> = acked.iter().copied().collect();

    let store = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name("lake")
        .with_region("us-east-1")
        .with_endpoint(s3.endpoint())
        .with_allow_http(true)
        .with_access_key_id(ACCESS_KEY_ID)
        .with_secret_access_key(SECRET_ACCESS_KEY)
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    let keys = loop {
        let keys: Vec<object_store::path::Path> = store
            .list(Some(&object_store::path::Path::from("terra")))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .unwrap();
        if keys.len() >= want.len() || Instant::now() > deadline {
            break keys;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    // Objects are named by webhook-id: a redelivery after a kill rewrites the same
    // object, so the bucket holds exactly one object per event.
    let mut got = Vec::new();
    for key in &keys {
        let webhook_id = key
            .filename()
            .and_then(|f| f.strip_suffix(".json"))
            .expect("<webhook-id>.json")
            .to_string();
        let body = store.get(key).await.unwrap().bytes().await.unwrap();
        got.push(Got {
            webhook_id,
            summary_id: summary_id(&body),
        });
    }
    let dups = check("s3 destination", &acked, &got, false);
    assert_eq!(dups, 0, "one object per event");
    eprintln!(
        "kill -9 x2: {} events acknowledged, {} objects in the bucket after {:.1}s",
        acked.len(),
        keys.len(),
        started.elapsed().as_secs_f64()
    );
}

async fn create_topic(brokers: &str, topic: &str) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    let admin: AdminClient<rdkafka::client::DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let results = admin
        .create_topics(
            &[NewTopic::new(
                topic,
                TOPIC_PARTITIONS,
                TopicReplication::Fixed(1),
            )],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .unwrap();
    for r in results {
        r.unwrap();
    }
}

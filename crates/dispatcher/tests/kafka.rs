//! Kafka destinations (`kafka://host:port/topic`) against a real Kafka-protocol broker
//! (tansu, see `pulsegate_testkit::kafka`; these tests fail if it is not installed).

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

mod common;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime};

use common::{config, event_id_of, secs, verify_signatures, Harness, TestEvent};
use pulsegate_schema::{topics, Destination};
use pulsegate_testkit::kafka::TestBroker;
use pulsegate_testkit::sink::ReceivedRequest;
use pulsegate_testkit::tls::TlsFront;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

const PARTITIONS: i32 = 3;

/// A record as the customer reads it off their topic.
struct Received {
    key: Option<String>,
    partition: i32,
    /// The record in the shape of an HTTP request, to reuse the independent signature
    /// checks of the webhook tests.
    as_request: ReceivedRequest,
}

async fn create_topic(brokers: &str, topic: &str) {
    create_topic_with(client(brokers, None), topic).await
}

/// A customer's client settings: plaintext, or TLS trusting `ca_pem`.
fn client(brokers: &str, ca_pem: Option<&str>) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers);
    if let Some(pem) = ca_pem {
        c.set("security.protocol", "ssl").set("ssl.ca.pem", pem);
    }
    c
}

async fn create_topic_with(config: ClientConfig, topic: &str) {
    let admin: AdminClient<DefaultClientContext> = config.create().unwrap();
    let results = admin
        .create_topics(
            &[NewTopic::new(topic, PARTITIONS, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(secs(10))),
        )
        .await
        .unwrap();
    for r in results {
        r.unwrap();
    }
}

/// Reads `topic` from the beginning (no consumer group: partitions assigned directly)
/// until `want` records arrived or `timeout`; then a short extra wait catches
/// duplicates.
async fn read_topic(brokers: &str, topic: &str, want: usize, timeout: Duration) -> Vec<Received> {
    read_topic_with(client(brokers, None), topic, want, timeout).await
}

async fn read_topic_with(
    mut config: ClientConfig,
    topic: &str,
    want: usize,
    timeout: Duration,
) -> Vec<Received> {
    let consumer: StreamConsumer = config
        .set("group.id", "customer-reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + timeout;
    let mut extra_until: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let until = extra_until.unwrap_or(deadline);
        if now >= until {
            break;
        }
        let m = match tokio::time::timeout(until - now, consumer.recv()).await {
            Ok(m) => m.unwrap(),
            Err(_) => break,
        };
        let mut headers = HashMap::new();
        if let Some(h) = m.headers() {
            for h in h.iter() {
                let v = String::from_utf8(h.value.unwrap().to_vec()).unwrap();
                assert!(
                    headers.insert(h.key.to_string(), v).is_none(),
                    "repeated header {}",
                    h.key
                );
            }
        }
        out.push(Received {
            key: m.key().map(|k| String::from_utf8(k.to_vec()).unwrap()),
            partition: m.partition(),
            as_request: ReceivedRequest {
                method: "KAFKA".into(),
                path: topic.into(),
                headers,
                body: bytes::Bytes::copy_from_slice(m.payload().unwrap_or_default()),
                received_at: SystemTime::now(),
                since_start: Duration::ZERO,
                status: 0,
            },
        });
        if out.len() >= want && extra_until.is_none() {
            extra_until = Some(Instant::now() + Duration::from_millis(1500));
        }
    }
    out
}

/// Every event exactly once (by id, any order), each record signed with `secret`.
fn assert_each_event_once_signed(got: &[Received], events: &[TestEvent], secret: &str, what: &str) {
    let mut ids: Vec<String> = got.iter().map(|r| event_id_of(&r.as_request)).collect();
    ids.sort();
    let mut want: Vec<String> = events.iter().map(|e| e.event_id.clone()).collect();
    want.sort();
    assert_eq!(ids, want, "{what}");
    for r in got {
        verify_signatures(&r.as_request, secret);
    }
}

fn kafka_url(broker: &TestBroker, topic: &str) -> String {
    format!("kafka://{}/{topic}", broker.brokers())
}

/// Events of four users, interleaved; the body is the webhook body.
fn user_events(prefix: &str, n: usize) -> Vec<TestEvent> {
    (0..n)
        .map(|i| {
            let mut e = TestEvent::new(&format!("{prefix}{i:04}"), "activity");
            e.user_id = format!("user-{}", i % 4);
            e
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_once_keyed_signed_and_in_user_order() {
    let broker = TestBroker::start();
    create_topic(&broker.brokers(), "customer.events").await;
    let mut h = Harness::new().await;
    let dest = h
        .add_destination("kdest", &kafka_url(&broker, "customer.events"), &[])
        .await;
    h.start(config(&[200, 200]));
    h.wait_subscribed("kdest").await;

    let events = user_events("e", 120);
    h.publish(&events).await;
    let got = read_topic(&broker.brokers(), "customer.events", events.len(), secs(60)).await;

    let by_id: HashMap<String, &TestEvent> =
        events.iter().map(|e| (e.event_id.clone(), e)).collect();
    let mut seen = HashSet::new();
    let mut partition_of_user: HashMap<String, i32> = HashMap::new();
    let mut last_of_user: HashMap<String, String> = HashMap::new();
    for r in &got {
        let id = event_id_of(&r.as_request);
        assert!(seen.insert(id.clone()), "{id} delivered twice");
        let e = by_id[&id];
        // Byte for byte the webhook body, keyed by the user.
        assert_eq!(&r.as_request.body[..], e.body.as_bytes());
        assert_eq!(r.key.as_deref(), Some(e.user_id.as_str()));
        assert_eq!(
            r.as_request.header("terra-reference"),
            Some(e.reference().as_str())
        );
        verify_signatures(&r.as_request, dest.secret.expose());
        // One user, one partition; in publication order there.
        let p = *partition_of_user
            .entry(e.user_id.clone())
            .or_insert(r.partition);
        assert_eq!(p, r.partition, "{} spread over partitions", e.user_id);
        if let Some(prev) = last_of_user.insert(e.user_id.clone(), id.clone()) {
            assert!(prev < id, "{}: {prev} after {id}", e.user_id);
        }
    }
    assert_eq!(seen.len(), events.len(), "every event delivered");
    // The same webhook-id as an HTTP delivery would carry: per event and destination.
    let ids: HashSet<_> = got
        .iter()
        .map(|r| r.as_request.header("webhook-id").unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), events.len());
    h.stop().await;
}

/// `kafkas://`: the broker is reachable only over TLS (a TLS front before tansu, which
/// it advertises). With the customer's CA the events arrive; with a CA that did not
/// sign the broker's certificate, or over plaintext, nothing is sent and the attempts
/// fail, saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafkas_destination_verifies_the_broker_certificate() {
    let mut front = TlsFront::bind();
    let broker = TestBroker::start_advertising(Some(front.port()));
    front.forward_to(broker.addr());
    let brokers = format!("127.0.0.1:{}", front.port());
    create_topic_with(client(&brokers, Some(front.ca_pem())), "secure").await;

    let mut h = Harness::new().await;
    let mut dest = h
        .add_destination("ktls", &format!("kafkas://{brokers}/secure"), &[])
        .await;
    dest.kafka_ca_pem = Some(front.ca_pem().to_string());
    h.state.put_destination(&dest).await.unwrap();
    // Another CA entirely: the handshake must fail.
    let stranger = TlsFront::bind();
    let mut wrong = h
        .add_destination(
            "kwrongca",
            &format!("kafkas://{brokers}/secure"),
            &["sleep"],
        )
        .await;
    wrong.kafka_ca_pem = Some(stranger.ca_pem().to_string());
    h.state.put_destination(&wrong).await.unwrap();
    // Plaintext to a TLS port.
    h.add_destination("kplain", &format!("kafka://{brokers}/secure"), &["sleep"])
        .await;
    let mut cfg = config(&[200, 200]);
    cfg.timeout = secs(3);
    h.start(cfg);
    for id in ["ktls", "kwrongca", "kplain"] {
        h.wait_subscribed(id).await;
    }

    // The refused destinations take only the sleep events: two dead letters each.
    let mut events = user_events("t", 20);
    events.extend([TestEvent::new("s1", "sleep"), TestEvent::new("s2", "sleep")]);
    h.publish(&events).await;
    let got = read_topic_with(
        client(&brokers, Some(front.ca_pem())),
        "secure",
        events.len(),
        secs(60),
    )
    .await;
    assert_each_event_once_signed(
        &got,
        &events,
        dest.secret.expose(),
        "each event once, over TLS, from the trusting destination only",
    );

    let dead = h.dead_letters(4, secs(90)).await;
    let failed: HashSet<&str> = dead.iter().map(|d| d.destination_id.as_str()).collect();
    assert_eq!(failed, HashSet::from(["kwrongca", "kplain"]), "{dead:?}");
    let wrong_ca_error = dead
        .iter()
        .find(|d| d.destination_id == "kwrongca")
        .map(|d| d.last_error.to_lowercase())
        .unwrap();
    // OpenSSL's reason, e.g. "ssl routines::certificate verify failed".
    assert!(
        wrong_ca_error.contains("routines") || wrong_ca_error.contains("certificate"),
        "the failure names the TLS problem: {wrong_ca_error}"
    );
    assert_eq!(dead.len(), 4, "{dead:?}");
    h.stop().await;
}

/// The broker is unreachable: attempts fail and go to the retry tiers; once the
/// destination points at a reachable broker, the retry delivers it (once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_broker_is_retried_then_delivered() {
    let broker = TestBroker::start();
    create_topic(&broker.brokers(), "late").await;
    let dead = pulsegate_testkit::ports::free_port();
    let mut h = Harness::new().await;
    let dest = h
        .add_destination("klate", &format!("kafka://127.0.0.1:{dead}/late"), &[])
        .await;
    let mut cfg = config(&[1000; 10]);
    cfg.timeout = secs(1);
    h.start(cfg);
    h.wait_subscribed("klate").await;

    let events = user_events("r", 3);
    h.publish(&events).await;
    // Wait until a failed attempt was handed to the first retry tier.
    let deadline = Instant::now() + secs(30);
    loop {
        let mut c = h.bus.read_from_start(&topics::retry(0)).await.unwrap();
        let mut n = 0;
        while !c.caught_up() {
            n += c.poll(100, Duration::from_millis(100)).await.unwrap().len();
        }
        if n >= events.len() {
            break;
        }
        assert!(Instant::now() < deadline, "no retry scheduled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The customer fixes their broker address: the next retry gets through.
    let fixed = Destination {
        url: kafka_url(&broker, "late"),
        ..dest.clone()
    };
    h.state.put_destination(&fixed).await.unwrap();

    let got = read_topic(&broker.brokers(), "late", events.len(), secs(60)).await;
    assert_each_event_once_signed(
        &got,
        &events,
        dest.secret.expose(),
        "each event delivered exactly once after retrying",
    );
    assert!(h.dead_letters(0, Duration::ZERO).await.is_empty());
    h.stop().await;
}

/// The broker never comes: after the schedule, the event is dead-lettered like an
/// HTTP delivery would be.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_broker_is_dead_lettered_after_the_schedule() {
    let dead = pulsegate_testkit::ports::free_port();
    let mut h = Harness::new().await;
    h.add_destination("kdead", &format!("kafka://127.0.0.1:{dead}/never"), &[])
        .await;
    let mut cfg = config(&[200, 200]);
    cfg.timeout = secs(1);
    h.start(cfg);
    h.wait_subscribed("kdead").await;

    let events = user_events("d", 2);
    h.publish(&events).await;
    let dead_letters = h.dead_letters(events.len(), secs(60)).await;
    assert_eq!(dead_letters.len(), events.len());
    for d in &dead_letters {
        assert_eq!(d.destination_id, "kdead");
        assert_eq!(d.attempts, 3, "first attempt + two retries");
        assert!(d.last_error.starts_with("kafka:"), "{}", d.last_error);
    }
    h.stop().await;
}

/// Not a test: time to deliver 10,000 events to a Kafka destination and to an HTTP
/// sink in the same run. `cargo test -p pulsegate-dispatcher --release --test kafka --
/// --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run by hand"]
#[allow(clippy::print_stdout, reason = "prints the measurement")]
async fn bench_kafka_vs_http_10k() {
    use pulsegate_testkit::sink::{Behaviour, Sink};
    const N: usize = 10_000;
    let broker = TestBroker::start();
    create_topic(&broker.brokers(), "bench").await;
    let sink = Sink::start(Behaviour::Ok).await;

    let mut results = Vec::new();
    for (name, url) in [("kafka", kafka_url(&broker, "bench")), ("http", sink.url())] {
        let mut h = Harness::new().await;
        h.add_destination("bench", &url, &[]).await;
        h.start(config(&[1000]));
        h.wait_subscribed("bench").await;
        let events: Vec<TestEvent> = (0..N)
            .map(|i| {
                let mut e = TestEvent::new(&format!("b{i:05}"), "activity");
                e.user_id = format!("user-{}", i % 64);
                e
            })
            .collect();
        // The backlog is appended while the dispatcher is stopped (its cursor already
        // set), so the clock measures delivery alone.
        let appending = Instant::now();
        h.stop().await;
        h.publish(&events).await;
        println!(
            "{name}: appending {N} events to the bus took {:.2}s (not timed)",
            appending.elapsed().as_secs_f64()
        );
        let started = Instant::now();
        let started_wall = SystemTime::now();
        h.start(config(&[1000]));
        let (delivered, elapsed) = if name == "kafka" {
            // Up to the last record's arrival (the reader then waits for duplicates).
            let got = read_topic(&broker.brokers(), "bench", N, secs(600)).await;
            let last = got.iter().map(|r| r.as_request.received_at).max().unwrap();
            (got.len(), last.duration_since(started_wall).unwrap())
        } else {
            assert!(sink.wait_for(N, secs(600)).await);
            (sink.count(), started.elapsed())
        };
        results.push((name, elapsed, delivered));
        h.stop().await;
    }
    for (name, elapsed, delivered) in &results {
        println!(
            "{name}: {delivered} events in {:.2}s ({:.0}/s)",
            elapsed.as_secs_f64(),
            *delivered as f64 / elapsed.as_secs_f64()
        );
    }
    println!(
        "kafka/http time ratio: {:.2}",
        results[0].1.as_secs_f64() / results[1].1.as_secs_f64()
    );
}

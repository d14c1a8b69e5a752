//! The bus contract on the Kafka backend, against a tansu broker per test
//! (`pulsegate_testkit::kafka::TestBroker`; the tests fail if tansu is not installed).

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

#[macro_use]
mod contract;

use std::sync::Arc;
use std::time::Duration;

use contract::{drain, Harness};
use pulsegate_bus::{Bus, KafkaBus, KafkaConfig, OffsetReset, Outgoing, TopicSpec};
use pulsegate_testkit::kafka::TestBroker;

/// Short group timeouts: tansu makes every join wait half the session timeout.
fn test_config(broker: &TestBroker) -> KafkaConfig {
    let mut cfg = KafkaConfig::new(broker.brokers());
    cfg.topic_prefix = "test.".into();
    cfg.replication_factor = 1;
    cfg.session_timeout = Duration::from_secs(6);
    cfg.heartbeat_interval = Duration::from_secs(1);
    cfg.max_poll_interval = Duration::from_secs(10);
    cfg
}

async fn setup() -> Harness {
    contract::init_tracing();
    let broker = TestBroker::start();
    let bus = KafkaBus::connect(test_config(&broker))
        .await
        .expect("connect to tansu");
    Harness {
        bus: Arc::new(bus),
        exclusive_members: true,
        guard: Box::new(broker),
    }
}

contract_tests!(setup);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_topic_keeps_its_partition_count() {
    contract::within_limit(
        "existing_topic_keeps_its_partition_count",
        existing_topic_keeps_its_partition_count_body(),
    )
    .await;
}

async fn existing_topic_keeps_its_partition_count_body() {
    contract::init_tracing();
    let broker = TestBroker::start();
    let a = KafkaBus::connect(test_config(&broker)).await.unwrap();
    a.ensure_topic(&TopicSpec::new("t", 3)).await.unwrap();
    // Another process asking for a different count gets the stored one.
    let b = KafkaBus::connect(test_config(&broker)).await.unwrap();
    b.ensure_topic(&TopicSpec::new("t", 8)).await.unwrap();
    for i in 0..50 {
        let key = format!("k{i}");
        let pa = a
            .append("t", Outgoing::new(key.clone(), "a"))
            .await
            .unwrap();
        let pb = b.append("t", Outgoing::new(key, "b")).await.unwrap();
        assert_eq!(pa.partition, pb.partition);
        assert!(pb.partition < 3);
    }
    // A bus that never ensured the topic learns its partition count from metadata.
    let c = KafkaBus::connect(test_config(&broker)).await.unwrap();
    let pc = c.append("t", Outgoing::new("k1", "c")).await.unwrap();
    assert_eq!(pc.partition, pulsegate_bus::partition_for(b"k1", 3));
    assert_eq!(c.kind(), "kafka");
    assert!(c.is_healthy());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_for_partitions_not_owned_are_dropped() {
    contract::within_limit(
        "commits_for_partitions_not_owned_are_dropped",
        commits_for_partitions_not_owned_are_dropped_body(),
    )
    .await;
}

async fn commits_for_partitions_not_owned_are_dropped_body() {
    let h = setup().await;
    h.bus.ensure_topic(&TopicSpec::new("t", 2)).await.unwrap();
    h.bus.append("t", Outgoing::new("k", "v")).await.unwrap();
    let mut c = h
        .bus
        .subscribe("t", "g", OffsetReset::Earliest)
        .await
        .unwrap();
    let got = drain(&mut c, 1).await;
    // A partition this member does not own (as after a rebalance) is not an error.
    c.commit(&[(got[0].partition, got[0].offset + 1), (7, 3)])
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_brokers_fail_connect() {
    contract::within_limit(
        "unreachable_brokers_fail_connect",
        unreachable_brokers_fail_connect_body(),
    )
    .await;
}

async fn unreachable_brokers_fail_connect_body() {
    let mut cfg = KafkaConfig::new("127.0.0.1:1");
    cfg.extra
        .insert("socket.connection.setup.timeout.ms".into(), "1000".into());
    let err = tokio::time::timeout(Duration::from_secs(30), KafkaBus::connect(cfg))
        .await
        .expect("connect gives up")
        .err()
        .expect("no broker there");
    assert!(err.to_string().contains("unreachable"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_sampling_survives_a_broker_going_away() {
    contract::within_limit(
        "lag_sampling_survives_a_broker_going_away",
        lag_sampling_survives_a_broker_going_away_body(),
    )
    .await;
}

async fn lag_sampling_survives_a_broker_going_away_body() {
    contract::init_tracing();
    let broker = TestBroker::start();
    let bus = KafkaBus::connect(test_config(&broker)).await.unwrap();
    bus.ensure_topic(&TopicSpec::new("t", 2)).await.unwrap();
    let mut c = bus
        .subscribe("t", "g", OffsetReset::Earliest)
        .await
        .unwrap();
    bus.append("t", Outgoing::new("k", "v")).await.unwrap();
    let got = drain(&mut c, 1).await;
    c.commit(&[(got[0].partition, got[0].offset + 1)])
        .await
        .unwrap();
    bus.report_lag().await;
    drop(broker);
    // Every request fails now: the sample is skipped, nothing else happens.
    tokio::time::timeout(Duration::from_secs(30), bus.report_lag())
        .await
        .expect("a failed sample gives up");
}

/// `pulsegate_consumer_lag` of `group` as this process would export it: (partition
/// label, value) per series.
fn lag_of(group: &str) -> Vec<(String, f64)> {
    use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
    static EXPORTER: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    let exporter = EXPORTER.get_or_init(|| {
        PrometheusBuilder::new()
            .install_recorder()
            .expect("the only recorder of this test binary")
    });
    let group_label = format!("group=\"{group}\"");
    let mut out: Vec<(String, f64)> = exporter
        .render()
        .lines()
        .filter(|l| l.starts_with("pulsegate_consumer_lag{") && l.contains(&group_label))
        .filter_map(|l| {
            let partition = l.split("partition=\"").nth(1)?.split('"').next()?;
            let value = l.rsplit(' ').next()?.parse().ok()?;
            Some((partition.to_string(), value))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A group nobody in this process consumes any more (its destination paused or
/// deleted) reports a lag of 0, not its growing backlog: it would keep a lag alert
/// firing. Also when another group subscribes before the next sample.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_no_longer_consumed_reports_no_lag() {
    contract::within_limit(
        "a_group_no_longer_consumed_reports_no_lag",
        a_group_no_longer_consumed_reports_no_lag_body(),
    )
    .await;
}

async fn a_group_no_longer_consumed_reports_no_lag_body() {
    contract::init_tracing();
    let _ = lag_of("");
    let broker = TestBroker::start();
    let bus = KafkaBus::connect(test_config(&broker)).await.unwrap();
    bus.ensure_topic(&TopicSpec::new("t", 1)).await.unwrap();
    let mut c = bus
        .subscribe("t", "paused", OffsetReset::Earliest)
        .await
        .unwrap();
    for i in 0..5 {
        bus.append("t", Outgoing::new("k", format!("v{i}")))
            .await
            .unwrap();
    }
    let got = drain(&mut c, 1).await;
    c.commit(&[(got[0].partition, got[0].offset + 1)])
        .await
        .unwrap();
    bus.report_lag().await;
    let before = lag_of("paused");
    assert!(
        before.iter().any(|(_, lag)| *lag > 0.0),
        "a committed group behind the end shows its lag first: {before:?}"
    );

    drop(c);
    for i in 5..10 {
        bus.append("t", Outgoing::new("k", format!("v{i}")))
            .await
            .unwrap();
    }
    // Another group subscribing before the sample must not hide the gone one.
    let _other = bus
        .subscribe("t", "other", OffsetReset::Earliest)
        .await
        .unwrap();
    bus.report_lag().await;
    let after = lag_of("paused");
    assert!(!after.is_empty());
    assert!(
        after.iter().all(|(_, lag)| *lag == 0.0),
        "a group nobody consumes reported a lag: {after:?}"
    );
}

/// A `Latest` member joining a group whose members never committed: the group-less
/// commit before joining is refused or raced, so the assignment callback makes the
/// starting point durable. The newcomer never sees history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_member_joining_an_active_group_skips_history() {
    contract::within_limit(
        "latest_member_joining_an_active_group_skips_history",
        latest_member_joining_an_active_group_skips_history_body(),
    )
    .await;
}

async fn latest_member_joining_an_active_group_skips_history_body() {
    let h = setup().await;
    let bus = &h.bus;
    bus.ensure_topic(&TopicSpec::new("t", 2)).await.unwrap();
    for i in 0..6 {
        bus.append("t", Outgoing::new(format!("k{i}"), "old"))
            .await
            .unwrap();
    }
    // An active member that reads but never commits.
    let mut a = bus
        .subscribe("t", "g", OffsetReset::Earliest)
        .await
        .unwrap();
    drain(&mut a, 6).await;
    let a_task = tokio::spawn(async move {
        loop {
            a.poll(100, Duration::from_millis(100)).await.unwrap();
        }
    });
    let mut b = bus.subscribe("t", "g", OffsetReset::Latest).await.unwrap();
    let started = std::time::Instant::now();
    let mut got = Vec::new();
    let mut i = 0;
    while got.is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "b never got records"
        );
        bus.append("t", Outgoing::new(format!("k{i}"), "new"))
            .await
            .unwrap();
        i += 1;
        got.extend(b.poll(100, Duration::from_millis(200)).await.unwrap());
    }
    for _ in 0..5 {
        got.extend(b.poll(100, Duration::from_millis(100)).await.unwrap());
    }
    a_task.abort();
    let payloads: Vec<&[u8]> = got.iter().map(|r| r.payload.as_ref()).collect();
    assert!(payloads.iter().all(|p| *p == b"new"), "{payloads:?}");
}

/// A group whose committed offset is past the partition's end (a broker restarted
/// without the tail it had acknowledged, or its offsets reset) must not skip what is
/// written from then on: librdkafka's out-of-range reset goes to the earliest offset
/// for every group (duplicates, never a hole), also for groups started at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_past_the_end_rereads_instead_of_skipping() {
    contract::within_limit(
        "a_commit_past_the_end_rereads_instead_of_skipping",
        a_commit_past_the_end_rereads_instead_of_skipping_body(),
    )
    .await;
}

async fn a_commit_past_the_end_rereads_instead_of_skipping_body() {
    let h = setup().await;
    let bus = &h.bus;
    bus.ensure_topic(&TopicSpec::new("t", 1)).await.unwrap();
    for i in 0..3 {
        bus.append("t", Outgoing::new(format!("k{i}"), "old"))
            .await
            .unwrap();
    }
    let mut a = bus.subscribe("t", "g", OffsetReset::Latest).await.unwrap();
    bus.append("t", Outgoing::new("k3", "old")).await.unwrap();
    let got = drain(&mut a, 1).await;
    assert_eq!(got[0].offset, 3);
    // As if the broker came back with a shorter log than the group had read.
    a.commit(&[(0, 1000)]).await.unwrap();
    drop(a);
    for i in 0..5 {
        bus.append("t", Outgoing::new(format!("n{i}"), "new"))
            .await
            .unwrap();
    }
    let mut b = bus.subscribe("t", "g", OffsetReset::Latest).await.unwrap();
    let started = std::time::Instant::now();
    let mut seen = std::collections::HashSet::new();
    let mut i = 0;
    while (0..5).any(|i| !seen.contains(&format!("n{i}"))) {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "records written after the commit past the end were skipped (got {seen:?})"
        );
        // Producers go on meanwhile, as they do after a broker restart.
        bus.append("t", Outgoing::new(format!("m{i}"), "more"))
            .await
            .unwrap();
        i += 1;
        for r in b.poll(100, Duration::from_millis(500)).await.unwrap() {
            seen.insert(String::from_utf8_lossy(&r.key).into_owned());
        }
    }
}

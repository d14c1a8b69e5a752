use std::time::Duration;

use super::*;
use crate::{Bus, OffsetReset, Outgoing, TopicSpec};

fn open(dir: &std::path::Path) -> EmbeddedBus {
    EmbeddedBus::open(EmbeddedConfig::new(dir)).expect("open log")
}

async fn drain(c: &mut Box<dyn Consumer>, want: usize) -> Vec<crate::Record> {
    let mut got = Vec::new();
    while got.len() < want {
        let batch = c.poll(1000, Duration::from_secs(5)).await.expect("poll");
        assert!(!batch.is_empty(), "timed out after {} of {want}", got.len());
        got.extend(batch);
    }
    got
}

#[tokio::test]
async fn poll_wakes_on_append_and_times_out_when_idle() {
    let dir = tempfile::tempdir().unwrap();
    let bus = open(dir.path());
    bus.ensure_topic(&TopicSpec::new("t", 2)).await.unwrap();
    let mut c = bus
        .subscribe("t", "g", OffsetReset::Earliest)
        .await
        .unwrap();
    let idle = c.poll(10, Duration::from_millis(50)).await.unwrap();
    assert!(idle.is_empty());
    let bus2 = bus.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        bus2.append("t", Outgoing::new("x", "late")).await.unwrap();
    });
    let started = std::time::Instant::now();
    let got = c.poll(10, Duration::from_secs(10)).await.unwrap();
    assert_eq!(got.len(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "woken by the append, not the timeout"
    );
}

#[tokio::test]
async fn retention_removes_old_records_but_keeps_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let bus = open(dir.path());
    let spec = TopicSpec::new("short", 1).retention(Some(Duration::from_millis(1)));
    bus.ensure_topic(&spec).await.unwrap();
    for i in 0..5 {
        bus.append("short", Outgoing::new("k", format!("{i}")))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    let topic = bus.topic("short").unwrap();
    retention::apply(&topic, Duration::from_millis(1));
    assert_eq!(bus.stored_records("short").unwrap(), 1);
    let mut c = bus
        .subscribe("short", "late", OffsetReset::Earliest)
        .await
        .unwrap();
    let got = c.poll(10, Duration::from_millis(100)).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].offset, 4);
    // The next append continues the offset sequence.
    let p = bus.append("short", Outgoing::new("k", "5")).await.unwrap();
    assert_eq!(p.offset, 5);
}

#[tokio::test]
async fn read_from_start_reports_caught_up() {
    let dir = tempfile::tempdir().unwrap();
    let bus = open(dir.path());
    bus.ensure_topic(&TopicSpec::new("state", 1).compacted())
        .await
        .unwrap();
    for i in 0..3 {
        bus.append("state", Outgoing::new("k", format!("{i}")))
            .await
            .unwrap();
    }
    let mut c = bus.read_from_start("state").await.unwrap();
    assert!(!c.caught_up());
    drain(&mut c, 3).await;
    assert!(c.caught_up());
}

#[test]
fn value_codec_round_trips_and_rejects_garbage() {
    let v = encode_value(42, b"key", b"payload");
    let (ts, k, p) = decode_value(&v).unwrap();
    assert_eq!(
        (ts, k.as_ref(), p.as_ref()),
        (42, &b"key"[..], &b"payload"[..])
    );
    assert!(decode_value(&v[..5]).is_none());
    let mut bad = v.clone();
    bad[8..12].copy_from_slice(&1000u32.to_be_bytes());
    assert!(decode_value(&bad).is_none());
}

proptest::proptest! {
    #[test]
    fn decode_value_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
        let _ = decode_value(&bytes);
    }
}

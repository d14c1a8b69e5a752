use std::collections::HashMap;
use std::time::Duration;

use std::path::Path;
use std::sync::atomic::Ordering;

use super::*;
use crate::embedded::EmbeddedConfig;
use crate::{Bus, OffsetReset, Outgoing, TopicSpec};

fn open(dir: &Path) -> EmbeddedBus {
    EmbeddedBus::open(EmbeddedConfig::new(dir)).expect("open log")
}

async fn archive(bus: &EmbeddedBus) -> (Vec<u8>, BackupSummary) {
    let source = bus.backup().await.unwrap();
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let summary = source.write_to(&mut out).unwrap();
        (out, summary)
    })
    .await
    .unwrap()
}

/// Every record of `topic` as (partition, offset, key, payload).
async fn records(bus: &EmbeddedBus, topic: &str) -> Vec<(u32, u64, Vec<u8>, Vec<u8>)> {
    let mut c = bus.read_from_start(topic).await.unwrap();
    let mut out = Vec::new();
    while !c.caught_up() {
        for r in c.poll(1000, Duration::from_millis(100)).await.unwrap() {
            out.push((r.partition, r.offset, r.key.to_vec(), r.payload.to_vec()));
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn a_backup_restores_records_offsets_specs_and_holes() {
    let dir = tempfile::tempdir().unwrap();
    let bus = open(&dir.path().join("a"));
    bus.ensure_topic(&TopicSpec::new("events", 3).max_bytes(Some(1 << 30)))
        .await
        .unwrap();
    bus.ensure_topic(&TopicSpec::new("state", 1).compacted())
        .await
        .unwrap();
    for i in 0..50 {
        bus.append(
            "events",
            Outgoing::new(format!("u{}", i % 7), format!("event {i}")),
        )
        .await
        .unwrap();
    }
    for i in 0..10 {
        bus.append(
            "state",
            Outgoing::new(format!("k{}", i % 3), format!("v{i}")),
        )
        .await
        .unwrap();
    }
    // Holes: superseded state records compacted away.
    assert!(bus.compact("state").await.unwrap() > 0);
    let mut c = bus
        .subscribe("events", "dispatch.d1", OffsetReset::Earliest)
        .await
        .unwrap();
    let got = c.poll(20, Duration::from_secs(1)).await.unwrap();
    let mut next: HashMap<u32, u64> = HashMap::new();
    for r in &got {
        next.insert(r.partition, r.offset + 1);
    }
    let commits: Vec<(u32, u64)> = next.into_iter().collect();
    c.commit(&commits).await.unwrap();
    drop(c);

    let (bytes, summary) = archive(&bus).await;
    assert_eq!(summary.records, 50 + 3);
    assert_eq!(summary.offsets, commits.len() as u64);
    assert_eq!(verify(&bytes[..]).unwrap(), summary);
    let target = dir.path().join("restored");
    let restored = restore(&bytes[..], &EmbeddedConfig::new(&target)).unwrap();
    assert_eq!(restored, summary);

    let copy = open(&target);
    for topic in ["events", "state"] {
        assert_eq!(
            records(&copy, topic).await,
            records(&bus, topic).await,
            "{topic}"
        );
        assert_eq!(
            copy.end_offsets(topic).unwrap(),
            bus.end_offsets(topic).unwrap()
        );
        assert_eq!(
            copy.committed_offsets(topic, "dispatch.d1").unwrap(),
            bus.committed_offsets(topic, "dispatch.d1").unwrap()
        );
    }
    assert_eq!(
        copy.topic("state").unwrap().spec,
        bus.topic("state").unwrap().spec
    );
    assert_eq!(
        copy.topic("events")
            .unwrap()
            .max_bytes
            .load(Ordering::Acquire),
        1 << 30
    );
    // Appends go on after the restored offsets.
    let p = copy
        .append("state", Outgoing::new("k9", "new"))
        .await
        .unwrap();
    assert_eq!(p.offset, 10);
}

#[tokio::test]
async fn a_backup_taken_under_appends_is_one_instant() {
    let dir = tempfile::tempdir().unwrap();
    let bus = open(&dir.path().join("a"));
    bus.ensure_topic(&TopicSpec::new("t", 2)).await.unwrap();
    let writer = bus.clone();
    let stop = tokio_util::sync::CancellationToken::new();
    let stopped = stop.clone();
    let load = tokio::spawn(async move {
        let mut n = 0u64;
        let mut c = writer
            .subscribe("t", "g", OffsetReset::Earliest)
            .await
            .unwrap();
        while !stopped.is_cancelled() {
            writer
                .append("t", Outgoing::new(format!("k{}", n % 5), format!("{n}")))
                .await
                .unwrap();
            n += 1;
            // A consumer committing what it read, as fast as the appends go.
            let got = c.poll(100, Duration::from_millis(1)).await.unwrap();
            let ends: Vec<(u32, u64)> = got.iter().map(|r| (r.partition, r.offset + 1)).collect();
            c.commit(&ends).await.unwrap();
        }
        n
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (bytes, summary) = archive(&bus).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.cancel();
    let appended = load.await.unwrap();
    assert!(
        summary.records > 0 && summary.records < appended,
        "{summary:?} of {appended}"
    );
    let target = dir.path().join("restored");
    restore(&bytes[..], &EmbeddedConfig::new(&target)).unwrap();
    // Opens without a "data lost" refusal; offsets contiguous, commits within them.
    let copy = open(&target);
    let got = records(&copy, "t").await;
    assert_eq!(got.len() as u64, summary.records);
    let ends = copy.end_offsets("t").unwrap();
    for (p, end) in ends.iter().enumerate() {
        let offsets: Vec<u64> = got
            .iter()
            .filter(|r| r.0 == p as u32)
            .map(|r| r.1)
            .collect();
        assert_eq!(offsets, (0..*end).collect::<Vec<_>>());
    }
    for (committed, end) in copy.committed_offsets("t", "g").unwrap().iter().zip(&ends) {
        assert!(committed <= end);
    }
}

#[tokio::test]
async fn damaged_or_cut_archives_are_refused_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bus = open(&dir.path().join("a"));
    bus.ensure_topic(&TopicSpec::new("t", 1)).await.unwrap();
    for i in 0..20 {
        bus.append("t", Outgoing::new("k", format!("payload {i}")))
            .await
            .unwrap();
    }
    let (bytes, _) = archive(&bus).await;
    let target = dir.path().join("restored");
    let config = EmbeddedConfig::new(&target);

    let cut = &bytes[..bytes.len() - 30];
    let e = restore(cut, &config).unwrap_err().to_string();
    assert!(e.contains("truncated") && e.contains("entry"), "{e}");
    let e = restore(&bytes[..bytes.len() - 29], &config)
        .unwrap_err()
        .to_string();
    assert!(e.contains("without its end entry"), "{e}");
    let mut flipped = bytes.clone();
    let at = bytes.len() / 2;
    flipped[at] ^= 0x40;
    let e = restore(&flipped[..], &config).unwrap_err().to_string();
    assert!(
        e.contains("checksum mismatch") && e.contains("entry "),
        "{e}"
    );
    assert!(verify(&flipped[..]).is_err());
    assert!(restore(&b"not a backup"[..], &config).is_err());
    // Nothing half-restored, no temporary directory left.
    assert!(!target.exists());
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("a")]);

    // Into an empty directory it works; into a non-empty one (or a running log's) not.
    std::fs::create_dir(&target).unwrap();
    restore(&bytes[..], &config).unwrap();
    let e = restore(&bytes[..], &config).unwrap_err().to_string();
    assert!(e.contains("not empty"), "{e}");
    let e = restore(&bytes[..], &EmbeddedConfig::new(dir.path().join("a")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("running pulsegate"), "{e}");
}

#[tokio::test]
async fn the_writer_resumes_after_a_backup_and_when_one_is_abandoned() {
    let dir = tempfile::tempdir().unwrap();
    let bus = open(dir.path());
    bus.ensure_topic(&TopicSpec::new("t", 1)).await.unwrap();
    let source = bus.backup().await.unwrap();
    // Appends go on while a snapshot is held and not written yet.
    tokio::time::timeout(
        Duration::from_secs(5),
        bus.append("t", Outgoing::new("k", "v")),
    )
    .await
    .expect("the writer is not held by the snapshot")
    .unwrap();
    drop(source);
    // A backup request dropped half-way does not hold the writer either.
    drop(tokio::time::timeout(Duration::from_nanos(1), bus.backup()).await);
    tokio::time::timeout(
        Duration::from_secs(5),
        bus.append("t", Outgoing::new("k", "w")),
    )
    .await
    .expect("writer resumed")
    .unwrap();
}

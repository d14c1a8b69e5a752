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

fn tables_contain(dir: &std::path::Path, needle: &[u8]) -> bool {
    let mut stack = vec![dir.join("keyspaces")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
            {
                return true;
            }
        }
    }
    false
}

/// A compacted topic keeps only the last record per key, also on disk: an overwritten
/// value (an erased user key) must not stay in the tables forever.
#[tokio::test]
async fn compaction_keeps_the_last_record_per_key_and_drops_the_rest_from_the_tables() {
    let dir = tempfile::tempdir().unwrap();
    let bus = open(dir.path());
    bus.ensure_topic(&TopicSpec::new("state", 1).compacted())
        .await
        .unwrap();
    let old = b"superseded-value-5f1c";
    bus.append("state", Outgoing::new("k", &old[..]))
        .await
        .unwrap();
    bus.append("state", Outgoing::new("other", "kept-1"))
        .await
        .unwrap();
    bus.append("state", Outgoing::new("k", "current"))
        .await
        .unwrap();
    // Before: the old value is in a table once the buffer is flushed.
    let topic = bus.topic("state").unwrap();
    topic.partitions[0]
        .keyspace
        .rotate_memtable_and_wait()
        .unwrap();
    assert!(tables_contain(dir.path(), old));

    assert_eq!(bus.compact_now(), 1);
    assert_eq!(bus.compact_now(), 0, "nothing new since the last pass");
    assert!(
        !tables_contain(dir.path(), old),
        "superseded value still in a table"
    );
    let mut c = bus.read_from_start("state").await.unwrap();
    let got: Vec<(String, String)> = drain(&mut c, 2)
        .await
        .into_iter()
        .map(|r| {
            (
                String::from_utf8(r.key.to_vec()).unwrap(),
                String::from_utf8(r.payload.to_vec()).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("other".into(), "kept-1".into()),
            ("k".into(), "current".into())
        ]
    );
    assert!(c.caught_up());
    // Offsets go on after the last record, also after a reopen.
    let p = bus
        .append("state", Outgoing::new("k", "next"))
        .await
        .unwrap();
    assert_eq!(p.offset, 3);
    drop((c, topic, bus));
    let bus = open(dir.path());
    let mut c = bus.read_from_start("state").await.unwrap();
    assert_eq!(drain(&mut c, 3).await.len(), 3);
    assert_eq!(bus.compact_now(), 1);
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

/// A data directory from before one keyspace per partition: its records are moved, not
/// lost, and offsets continue where they were.
#[tokio::test]
async fn a_topic_stored_in_one_keyspace_moves_to_one_per_partition() {
    let dir = tempfile::tempdir().unwrap();
    let spec = TopicSpec::new("old", 2);
    {
        // The previous layout, written with fjall directly.
        let db = fjall::Database::builder(dir.path()).open().unwrap();
        let meta = db
            .keyspace("_topics", fjall::KeyspaceCreateOptions::default)
            .unwrap();
        meta.insert("old", encode_spec(&spec)).unwrap();
        let old = db
            .keyspace("t_old", fjall::KeyspaceCreateOptions::default)
            .unwrap();
        for p in 0..2u32 {
            for o in 0..3u64 {
                old.insert(
                    record_key(p, o),
                    encode_value(1, b"k", format!("{p}-{o}").as_bytes()),
                )
                .unwrap();
            }
        }
        db.persist(fjall::PersistMode::SyncAll).unwrap();
    }
    let bus = open(dir.path());
    assert_eq!(bus.end_offsets("old").unwrap(), vec![3, 3]);
    assert!(!bus.inner.db.keyspace_exists("t_old"));
    let mut c = bus.read_from_start("old").await.unwrap();
    let mut got: Vec<String> = drain(&mut c, 6)
        .await
        .iter()
        .map(|r| {
            assert_eq!(
                String::from_utf8_lossy(&r.payload),
                format!("{}-{}", r.partition, r.offset)
            );
            String::from_utf8_lossy(&r.payload).into_owned()
        })
        .collect();
    got.sort();
    assert_eq!(got, ["0-0", "0-1", "0-2", "1-0", "1-1", "1-2"]);
    let next = bus.append("old", Outgoing::new("k", "new")).await.unwrap();
    assert_eq!(next.offset, 3);
    drop(c);
    drop(bus);
    // Reopened: nothing migrates twice, nothing is lost.
    let bus = open(dir.path());
    assert_eq!(bus.stored_records("old").unwrap(), 7);
}

#[test]
fn value_checksum_catches_a_flipped_byte_and_old_values_still_read() {
    let v = encode_value(42, b"key", b"payload");
    assert_eq!(v[0], 1, "format marker");
    for i in 1..v.len() {
        let mut bad = v.clone();
        bad[i] ^= 0x01;
        assert!(decode_value(&bad).is_none(), "flip at {i} went unnoticed");
    }
    // The format before checksums: timestamp, key length, key, payload.
    let mut old = Vec::new();
    old.extend_from_slice(&42u64.to_be_bytes());
    old.extend_from_slice(&3u32.to_be_bytes());
    old.extend_from_slice(b"keypayload");
    let (ts, k, p) = decode_value(&old).expect("old format");
    assert_eq!(
        (ts, k.as_ref(), p.as_ref()),
        (42, &b"key"[..], &b"payload"[..])
    );
}

/// A stored record whose checksum does not match stops the reader with an error that
/// names it; it is never skipped.
#[tokio::test]
async fn a_corrupt_record_is_an_error_naming_topic_partition_offset() {
    let dir = tempfile::tempdir().unwrap();
    let bus = open(dir.path());
    bus.ensure_topic(&TopicSpec::new("t", 1)).await.unwrap();
    for i in 0..3 {
        bus.append("t", Outgoing::new("k", format!("v{i}")))
            .await
            .unwrap();
    }
    let t = bus.topic("t").unwrap();
    let mut v = encode_value(1, b"k", b"v1");
    let last = v.len() - 1;
    v[last] ^= 0x20;
    t.partitions[0]
        .keyspace
        .insert(record_key(0, 1), v)
        .unwrap();
    let mut c = bus.read_from_start("t").await.unwrap();
    match c.poll(10, Duration::from_secs(1)).await {
        Err(BusError::Corrupt {
            topic,
            partition,
            offset,
        }) => assert_eq!((topic.as_str(), partition, offset), ("t", 0, 1)),
        other => panic!("expected a corrupt-record error, got {other:?}"),
    }
}

fn dir_size(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    let path = e.path();
                    if path.is_dir() {
                        dir_size(&path)
                    } else {
                        e.metadata().map(|m| m.len()).unwrap_or(0)
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// A partition's keyspace files removed from a data dir that still holds the rest:
/// the start is refused, not silently short of records.
#[tokio::test]
async fn a_removed_partition_keyspace_refuses_the_start() {
    let dir = tempfile::tempdir().unwrap();
    {
        let bus = open(dir.path());
        bus.ensure_topic(&TopicSpec::new("t", 2)).await.unwrap();
        let records = (0..200)
            .map(|i| Outgoing::new(format!("k{i}"), vec![b'x'; 200]))
            .collect();
        bus.append_batch("t", records).await.unwrap();
        // Into tables, out of the journal.
        for p in &bus.topic("t").unwrap().partitions {
            p.keyspace.rotate_memtable_and_wait().unwrap();
        }
        bus.inner.db.persist(fjall::PersistMode::SyncAll).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let biggest = std::fs::read_dir(dir.path().join("keyspaces"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .max_by_key(|p| dir_size(p))
        .unwrap();
    std::fs::remove_dir_all(&biggest).unwrap();
    let mut result = None;
    for _ in 0..30 {
        match EmbeddedBus::open(EmbeddedConfig::new(dir.path())) {
            Err(BusError::Storage(e)) if e.to_lowercase().contains("lock") => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => {
                result = Some(other);
                break;
            }
        }
    }
    match result.expect("opened") {
        Err(BusError::DataLoss(msg)) => {
            assert!(msg.contains("restore"), "{msg}")
        }
        Err(e) => panic!("expected a data-loss refusal, got {e}"),
        Ok(_) => panic!(
            "opened without a word after {} was removed",
            biggest.display()
        ),
    }
}

/// A topic with a byte bound holds at most that many bytes (its newest records) after a
/// retention pass, counted again after a restart, and a bound set later applies too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_byte_bound_keeps_the_newest_records_within_it() {
    const BOUND: u64 = 8 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = EmbeddedConfig::new(dir.path());
    cfg.retention_interval = Duration::from_millis(50);
    let bus = EmbeddedBus::open(cfg.clone()).unwrap();
    let spec = TopicSpec::new("hist", 2).max_bytes(Some(BOUND));
    bus.ensure_topic(&spec).await.unwrap();
    let payload = |i: usize| format!("{i:06}-{}", "x".repeat(200));
    for i in 0..300 {
        bus.append("hist", Outgoing::new(format!("k{}", i % 7), payload(i)))
            .await
            .unwrap();
    }
    // What is stored, read back (not the counter the bound uses).
    async fn stored(bus: &EmbeddedBus) -> Vec<String> {
        let mut c = bus.read_from_start("hist").await.unwrap();
        let mut got = Vec::new();
        while !c.caught_up() {
            for r in c.poll(1000, Duration::from_millis(200)).await.unwrap() {
                got.push(String::from_utf8(r.payload.to_vec()).unwrap());
            }
        }
        got
    }
    let bytes_of = |v: &[String]| v.iter().map(|p| p.len() as u64).sum::<u64>();
    // 300 records of over 200 bytes: more than 7 times the bound went in.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while bus.stored_bytes("hist").unwrap() > BOUND {
        assert!(
            std::time::Instant::now() < deadline,
            "the bound was not applied"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let kept = stored(&bus).await;
    assert!(bytes_of(&kept) <= BOUND, "{} bytes kept", bytes_of(&kept));
    assert!(bytes_of(&kept) > BOUND / 2, "far more removed than needed");
    assert!(kept.contains(&payload(299)) && kept.contains(&payload(298)));
    assert!(!kept.contains(&payload(0)));
    let count_before = bus.stored_bytes("hist").unwrap();

    // After a restart the bound is still in force, its count rebuilt from the log.
    drop(bus);
    let bus = EmbeddedBus::open(cfg).unwrap();
    assert_eq!(bus.stored_bytes("hist").unwrap(), count_before);
    // A smaller bound given later applies to the existing topic.
    bus.ensure_topic(&TopicSpec::new("hist", 2).max_bytes(Some(BOUND / 4)))
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while bytes_of(&stored(&bus).await) > BOUND / 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "the new bound was not applied"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(stored(&bus).await.contains(&payload(299)));
}

#[test]
fn specs_stored_before_byte_bounds_still_read() {
    let old = TopicSpec::new("t", 3).retention(Some(Duration::from_secs(60)));
    let bytes = encode_spec(&old);
    assert_eq!(bytes.len(), 13);
    assert_eq!(decode_spec("t", &bytes).unwrap(), old);
    let bounded = old.clone().max_bytes(Some(1 << 20));
    assert_eq!(decode_spec("t", &encode_spec(&bounded)).unwrap(), bounded);
    assert!(decode_spec("t", &bytes[..12]).is_err());
}

/// A data dir from before the format file opens with its records (format 1 upgraded in
/// place); one stamped by a newer pulsegate is refused without being touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_dir_format_is_upgraded_or_a_newer_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let bus = open(dir.path());
        bus.ensure_topic(&TopicSpec::new("t", 1)).await.unwrap();
        bus.append_batch("t", vec![Outgoing::new("k", b"v".to_vec())])
            .await
            .unwrap();
    }
    // As a data dir written before the format file existed.
    std::fs::remove_file(dir.path().join(super::format::FILE)).unwrap();
    let reopen = |dir: &std::path::Path| {
        let dir = dir.to_path_buf();
        async move {
            for _ in 0..30 {
                match EmbeddedBus::open(EmbeddedConfig::new(&dir)) {
                    Err(BusError::Storage(e)) if e.to_lowercase().contains("lock") => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    other => return other,
                }
            }
            panic!("the log stayed locked")
        }
    };
    {
        let bus = reopen(dir.path()).await.expect("a format-1 dir opens");
        let mut c = bus
            .subscribe("t", "g", OffsetReset::Earliest)
            .await
            .unwrap();
        assert_eq!(drain(&mut c, 1).await.len(), 1);
    }
    let stamped = std::fs::read_to_string(dir.path().join(super::format::FILE)).unwrap();
    assert_eq!(
        stamped.trim(),
        format!("pulsegate-data-dir {}", super::format::CURRENT)
    );
    let newer = format!("pulsegate-data-dir {}\n", super::format::CURRENT + 1);
    std::fs::write(dir.path().join(super::format::FILE), &newer).unwrap();
    match reopen(dir.path()).await {
        Err(BusError::DataLoss(msg)) => assert!(msg.contains("newer pulsegate"), "{msg}"),
        Err(e) => panic!("expected a refusal naming the newer format, got {e}"),
        Ok(_) => panic!("opened a data dir of a newer format"),
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join(super::format::FILE)).unwrap(),
        newer
    );
}

//! A damaged data dir is noticed at start: a torn tail is repaired, lost acknowledged
//! records refuse the start unless the loss is accepted explicitly.

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use pulsegate_bus::embedded::{EmbeddedBus, EmbeddedConfig, Recovery};
use pulsegate_bus::{Bus, BusError, Outgoing, TopicSpec};

const N: usize = 300;

fn config(dir: &Path, recovery: Recovery) -> EmbeddedConfig {
    let mut cfg = EmbeddedConfig::new(dir);
    cfg.recovery = recovery;
    cfg
}

/// Opens, retrying briefly while the previous instance's writer thread lets go of
/// fjall's lock.
async fn open(dir: &Path, recovery: Recovery) -> Result<EmbeddedBus, BusError> {
    let mut last = None;
    for _ in 0..50 {
        match EmbeddedBus::open(config(dir, recovery)) {
            Err(BusError::Storage(e)) if e.contains("lock") || e.contains("Locked") => {
                last = Some(BusError::Storage(e));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => return other,
        }
    }
    Err(last.expect("tried"))
}

/// Writes N acknowledged records to topic `t` (2 partitions) and stops cleanly.
async fn write_acknowledged(dir: &Path) {
    let bus = open(dir, Recovery::Refuse).await.expect("open");
    bus.ensure_topic(&TopicSpec::new("t", 2)).await.unwrap();
    for chunk in 0..N / 50 {
        let records = (0..50)
            .map(|i| Outgoing::new(format!("k{}", chunk * 50 + i), format!("v{i}")))
            .collect();
        bus.append_batch("t", records).await.expect("append");
    }
    drop(bus);
    tokio::time::sleep(Duration::from_millis(300)).await;
}

async fn stored(bus: &EmbeddedBus) -> usize {
    let mut c = bus.read_from_start("t").await.unwrap();
    let mut n = 0;
    while !c.caught_up() {
        n += c
            .poll(1000, Duration::from_millis(100))
            .await
            .unwrap()
            .len();
    }
    n
}

fn journal(dir: &Path) -> PathBuf {
    let mut j: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jnl"))
        .collect();
    j.sort_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0));
    j.pop().expect("a journal file")
}

/// Where a journal's written data ends (fjall preallocates the file with zeros).
fn data_len(path: &Path) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    bytes
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |i| i as u64 + 1)
}

fn refusal(r: Result<EmbeddedBus, BusError>) -> String {
    match r {
        Err(BusError::DataLoss(msg)) => msg,
        Err(e) => panic!("expected a data-loss refusal, got {e}"),
        Ok(_) => panic!("a damaged log opened without a word"),
    }
}

#[tokio::test]
async fn truncated_journal_refuses_start_until_the_loss_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    write_acknowledged(dir.path()).await;
    let jnl = journal(dir.path());
    let len = data_len(&jnl);
    assert!(len > 1000, "journal holds the records");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&jnl)
        .unwrap()
        .set_len(len / 2)
        .unwrap();

    let msg = refusal(open(dir.path(), Recovery::Refuse).await);
    assert!(msg.contains(&jnl.display().to_string()), "{msg}");
    assert!(msg.contains("--accept-data-loss"), "{msg}");
    assert!(msg.contains("lost"), "{msg}");
    // Still refused on the next try: a refusal changes nothing.
    refusal(open(dir.path(), Recovery::Refuse).await);

    let bus = open(dir.path(), Recovery::AcceptLoss)
        .await
        .expect("accepted");
    let kept = stored(&bus).await;
    assert!(kept < N, "kept {kept}");
    // Offsets that were acknowledged are never handed out again.
    let ends_before = bus.end_offsets("t").unwrap();
    let pos = bus.append("t", Outgoing::new("k0", "new")).await.unwrap();
    assert!(pos.offset >= ends_before[pos.partition as usize]);
    drop(bus);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Once accepted, later starts are normal again.
    let bus = open(dir.path(), Recovery::Refuse).await.expect("reopen");
    assert_eq!(stored(&bus).await, kept + 1);
}

#[tokio::test]
async fn removed_journal_refuses_start() {
    let dir = tempfile::tempdir().unwrap();
    write_acknowledged(dir.path()).await;
    let jnl = journal(dir.path());
    std::fs::remove_file(&jnl).unwrap();
    let msg = refusal(open(dir.path(), Recovery::Refuse).await);
    assert!(msg.contains("lost"), "{msg}");
    assert!(msg.contains("--accept-data-loss"), "{msg}");
}

#[tokio::test]
async fn corrupt_journal_middle_refuses_start() {
    let dir = tempfile::tempdir().unwrap();
    write_acknowledged(dir.path()).await;
    let jnl = journal(dir.path());
    let mut bytes = std::fs::read(&jnl).unwrap();
    let mid = data_len(&jnl) as usize / 2;
    for b in &mut bytes[mid..mid + 16] {
        *b ^= 0x5a;
    }
    std::fs::write(&jnl, bytes).unwrap();
    refusal(open(dir.path(), Recovery::Refuse).await);
}

#[tokio::test]
async fn emptied_data_dir_refuses_start() {
    let dir = tempfile::tempdir().unwrap();
    write_acknowledged(dir.path()).await;
    for e in std::fs::read_dir(dir.path()).unwrap().flatten() {
        if e.file_name() != "pulsegate-manifest" {
            let p = e.path();
            if p.is_dir() {
                std::fs::remove_dir_all(p).unwrap();
            } else {
                std::fs::remove_file(p).unwrap();
            }
        }
    }
    let msg = refusal(open(dir.path(), Recovery::Refuse).await);
    assert!(msg.contains("topic t"), "{msg}");
}

#[tokio::test]
async fn torn_tail_is_repaired_and_nothing_acknowledged_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    write_acknowledged(dir.path()).await;
    let jnl = journal(dir.path());
    let len = data_len(&jnl);
    // A crash in the middle of a write leaves a partial entry after the last fsync.
    let f = std::fs::OpenOptions::new().write(true).open(&jnl).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &[0x01, 0x00, 0x00, 0x07, 0xff, 0x13, 0x37], len)
        .unwrap();
    drop(f);
    let bus = open(dir.path(), Recovery::Refuse)
        .await
        .expect("a torn tail is repaired");
    assert_eq!(stored(&bus).await, N);
    assert_eq!(data_len(&jnl), len, "tail cut back");
}

#[tokio::test]
async fn data_dir_from_before_manifests_still_opens() {
    let dir = tempfile::tempdir().unwrap();
    write_acknowledged(dir.path()).await;
    std::fs::remove_file(dir.path().join("pulsegate-manifest")).unwrap();
    let bus = open(dir.path(), Recovery::Refuse).await.expect("opens");
    assert_eq!(stored(&bus).await, N);
    assert!(dir.path().join("pulsegate-manifest").exists());
}

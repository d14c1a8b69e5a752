//! A full disk pauses appends (retryably) instead of breaking the log: on a real small
//! filesystem (a 64 MiB tmpfs; needs root, as CI has), appends are refused below the
//! reserve, offset commits and reads go on, and appends resume by themselves once space
//! returns, with nothing acknowledged lost.

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use pulsegate_bus::embedded::{EmbeddedBus, EmbeddedConfig};
use pulsegate_bus::{Bus, BusError, OffsetReset, Outgoing, TopicSpec};

struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Self {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs and needs root (CI runs as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn free_bytes(dir: &Path) -> u64 {
    let out = Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Fills the filesystem until `leave` bytes are free (real writes: tmpfs is not fooled
/// by sparse files).
fn fill(dir: &Path, leave: u64) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0xa5u8; 1 << 20];
    while free_bytes(dir) > leave + chunk.len() as u64 {
        std::io::Write::write_all(&mut f, &chunk).unwrap();
    }
    f.sync_all().unwrap();
    path
}

#[tokio::test]
async fn full_disk_refuses_appends_retryably_and_resumes_when_space_returns() {
    let root = tempfile::tempdir().unwrap();
    let _mount = Tmpfs::mount(root.path(), "96m");
    let dir = root.path().join("log");
    let mut cfg = EmbeddedConfig::new(&dir);
    cfg.min_free_bytes = 16 << 20;
    let bus = EmbeddedBus::open(cfg).expect("open");
    bus.ensure_topic(&TopicSpec::new("t", 2)).await.unwrap();
    let mut group = bus
        .subscribe("t", "g", OffsetReset::Earliest)
        .await
        .unwrap();
    for i in 0..100 {
        bus.append("t", Outgoing::new(format!("k{i}"), "before"))
            .await
            .expect("room to spare");
    }

    let filler = fill(root.path(), 8 << 20);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let refused = bus.append("t", Outgoing::new("k", "while full")).await;
    match refused {
        Err(e @ BusError::DiskFull { .. }) => assert!(e.is_retryable()),
        other => panic!("expected a disk-full refusal, got {other:?}"),
    }
    // What is stored can still be read and committed while full.
    let mut seen = 0;
    while seen < 100 {
        let batch = group.poll(1000, Duration::from_secs(1)).await.unwrap();
        assert!(!batch.is_empty(), "read stalled at {seen}");
        seen += batch.len();
        let commits: Vec<(u32, u64)> = batch.iter().map(|r| (r.partition, r.offset + 1)).collect();
        group.commit(&commits).await.expect("offset commits go on");
    }
    assert!(bus.is_healthy(), "a refused append does not break the log");

    std::fs::remove_file(filler).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match bus.append("t", Outgoing::new("k", "after")).await {
            Ok(_) => break,
            Err(e) if e.is_retryable() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("appends did not resume: {e}"),
        }
    }
    assert_eq!(bus.stored_records("t").unwrap(), 101);
}

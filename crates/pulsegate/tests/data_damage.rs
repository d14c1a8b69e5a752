//! Damage at rest, on the real binary: a cut or removed journal refuses the start with a
//! message naming the file and what to do (and `--accept-data-loss` starts anyway,
//! reporting the loss); a torn tail is repaired and logged; connections survive.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

const N: u64 = 120;

async fn with_connections(n: u64) -> Pulsegate {
    let pg = Pulsegate::start("http://127.0.0.1:9", "").await;
    for a in 1..=n {
        pg.connect_athlete(a, &format!("access-{a}"), &format!("refresh-{a}"))
            .await;
    }
    pg
}

/// Stops the process after the log's manifest has caught up (it is rewritten about
/// once a second; SIGKILL, no shutdown code runs).
async fn stop(pg: &mut Pulsegate) {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    pg.kill9();
}

fn data_dir(pg: &Pulsegate) -> PathBuf {
    pg.dir.path().join("data")
}

fn data_len(path: &Path) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    bytes
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |i| i as u64 + 1)
}

/// The journal holding the records (fjall preallocates journals with zeros).
fn journal(dir: &Path) -> PathBuf {
    let mut j: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jnl"))
        .collect();
    j.sort_by_key(|p| data_len(p));
    j.pop().expect("a journal file")
}

/// Runs `pulsegate serve` with `args` and expects it to exit by itself with an error;
/// returns what it printed.
fn refused_start(pg: &Pulsegate, args: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pulsegate"))
        .arg("serve")
        .arg("--config")
        .arg(pg.config_path())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(!status.success(), "exited 0: {text}");
            return text;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "a damaged data dir started: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn connection_count(pg: &Pulsegate) -> usize {
    let (status, body) = pg
        .admin(reqwest::Method::GET, "/v1/admin/connections", None)
        .await;
    assert_eq!(status, 200, "{body}");
    body["connections"].as_array().unwrap().len()
}

fn accept_loss_in_config(pg: &Pulsegate) {
    let text = std::fs::read_to_string(pg.config_path()).unwrap();
    std::fs::write(
        pg.config_path(),
        text.replacen("[bus]\n", "[bus]\nrecovery = \"accept-loss\"\n", 1),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_journal_refuses_to_start_until_the_loss_is_accepted() {
    let mut pg = with_connections(N).await;
    assert_eq!(connection_count(&pg).await, N as usize);
    stop(&mut pg).await;
    let jnl = journal(&data_dir(&pg));
    let half = data_len(&jnl) / 2;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&jnl)
        .unwrap()
        .set_len(half)
        .unwrap();

    let msg = refused_start(&pg, &[]);
    assert!(msg.contains(&jnl.display().to_string()), "{msg}");
    assert!(msg.contains("--accept-data-loss"), "{msg}");
    assert!(msg.contains("lost"), "{msg}");
    // A refusal changes nothing: refused again.
    refused_start(&pg, &[]);

    // The operator accepts the loss: it starts and says what was lost.
    accept_loss_in_config(&pg);
    pg.spawn().await;
    let kept = connection_count(&pg).await;
    assert!(kept < N as usize, "kept {kept} of {N}");
    let logs = pg.logs();
    assert!(logs.contains("DATA LOSS ACCEPTED"), "{logs}");
    // Writes go on after the accepted loss.
    pg.connect_athlete(9_999, "access-x", "refresh-x").await;
    assert_eq!(connection_count(&pg).await, kept + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_data_loss_flag_starts_a_cut_log() {
    let mut pg = with_connections(N).await;
    stop(&mut pg).await;
    let jnl = journal(&data_dir(&pg));
    let half = data_len(&jnl) / 2;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&jnl)
        .unwrap()
        .set_len(half)
        .unwrap();
    // The flag is parsed and accepted; a start that would be refused runs.
    let mut child = Command::new(env!("CARGO_BIN_EXE_pulsegate"))
        .args(["serve", "--accept-data-loss", "--config"])
        .arg(pg.config_path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(
            child.try_wait().unwrap().is_none(),
            "exited despite --accept-data-loss"
        );
        if let Ok(r) = client.get(pg.url("/readyz")).send().await {
            if r.status().is_success() {
                break;
            }
        }
        assert!(Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(connection_count(&pg).await < N as usize);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_journal_refuses_to_start() {
    let mut pg = with_connections(N).await;
    stop(&mut pg).await;
    let jnl = journal(&data_dir(&pg));
    std::fs::remove_file(&jnl).unwrap();
    let msg = refused_start(&pg, &[]);
    assert!(msg.contains("lost"), "{msg}");
    assert!(msg.contains("--accept-data-loss"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_tail_is_repaired_logged_and_loses_nothing() {
    let mut pg = with_connections(N).await;
    stop(&mut pg).await;
    let jnl = journal(&data_dir(&pg));
    let len = data_len(&jnl);
    // What a crash in the middle of a write leaves after the last fsync.
    let f = std::fs::OpenOptions::new().write(true).open(&jnl).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &[0x01, 0x00, 0x00, 0x09, 0xee, 0x42, 0x17], len)
        .unwrap();
    drop(f);
    pg.spawn().await;
    assert_eq!(connection_count(&pg).await, N as usize);
    let logs = pg.logs();
    assert!(logs.contains("repaired a torn journal tail"), "{logs}");
    assert!(logs.contains("removed 7 bytes"), "{logs}");
}

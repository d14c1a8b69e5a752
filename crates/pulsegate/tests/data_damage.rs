//! Damage at rest, on the real binary: a cut or removed journal refuses the start with a
//! message naming the file and what to do (and `--accept-data-loss` starts anyway,
//! reporting the loss); a torn tail is repaired and logged; connections survive. A full
//! disk (a real small tmpfs; needs root, as CI has) answers 503 at ingest, pauses the
//! other roles and resumes by itself, delivering everything acknowledged.

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pulsegate_testkit::sink::{Behaviour, Sink};
use pulsegate_testkit::strava::MockStrava;
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

/// Fills the filesystem completely (real writes until ENOSPC).
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler.bin");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0xa5u8; 1 << 20];
    for size in [1 << 20, 4096, 1] {
        while std::io::Write::write_all(&mut f, &chunk[..size]).is_ok() {}
    }
    let _ = f.sync_all();
    assert!(free_bytes(dir) < 64 << 10, "the disk is full");
    path
}

fn delivered_ids(sink: &Sink) -> std::collections::HashSet<u64> {
    sink.received()
        .iter()
        .filter(|r| r.status == 200)
        .flat_map(|r| {
            r.json()["data"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|d| {
                    d["metadata"]["summary_id"]
                        .as_str()
                        .or(d["summary_id"].as_str())
                        .and_then(|s| s.parse().ok())
                })
                .collect::<Vec<u64>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_answers_503_pauses_and_delivers_everything_once_space_returns() {
    let strava = MockStrava::start().await;
    for a in 1..=10u64 {
        strava.set_token(a, &format!("access-{a}"));
        strava.set_refresh_token(a, &format!("refresh-{a}"));
    }
    let sink = Sink::start(Behaviour::Ok).await;
    let extra = format!(
        "[dispatcher]\ntimeout = \"3s\"\nretry_schedule = [\"200ms\", \"400ms\"]\nallow_private_networks = true\n\
         [[destinations]]\nid = \"sink\"\nurl = \"{}\"\nsecret = \"{}\"\nevent_types = []\n",
        sink.url(),
        test_secret(7)
    );
    let mut pg = Pulsegate::start(&strava.base_url(), &extra).await;
    // Move the data dir onto a small filesystem of its own, with a 16 MiB reserve.
    pg.kill9();
    let data = data_dir(&pg);
    std::fs::remove_dir_all(&data).unwrap();
    std::fs::create_dir(&data).unwrap();
    let _mount = Tmpfs::mount(&data, "160m");
    let text = std::fs::read_to_string(pg.config_path()).unwrap();
    std::fs::write(
        pg.config_path(),
        text.replacen("[bus]\n", "[bus]\nmin_free_mib = 16\n", 1),
    )
    .unwrap();
    pg.spawn().await;
    for a in 1..=10u64 {
        pg.connect_athlete(a, &format!("access-{a}"), &format!("refresh-{a}"))
            .await;
    }

    // Strava answers in 500 ms and one user's notifications run in order, so what is
    // pushed now is still in the normalizer when the disk fills. First some that it will
    // finish (drop: Strava answers 404) while the disk is full, ahead of the others in
    // their partitions, so offset commits meet the full disk too ...
    strava.set_latency(Some(Duration::from_millis(500)));
    let client = reqwest::Client::new();
    for id in 60_000..60_040u64 {
        let status = push(
            &client,
            pg.port,
            strava_event("activity", id, "create", 6 + id % 5, "{}"),
        )
        .await;
        assert_eq!(status, 200);
    }
    // ... then events acknowledged just before the disk fills, to be delivered.
    let mut acked = std::collections::HashSet::new();
    for id in 70_000..70_030u64 {
        strava.add_example_activity(id, 1 + id % 5);
        let status = push(
            &client,
            pg.port,
            strava_event("activity", id, "create", 1 + id % 5, "{}"),
        )
        .await;
        assert_eq!(status, 200);
        acked.insert(id);
    }
    let filler = fill(&data);

    // While full: ingest answers 503 with Retry-After, again and again; nothing exits.
    // (Before the reserve, the first write that hit ENOSPC left fjall refusing every
    // write for good: 503 even after space returned, acknowledged events undelivered.)
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The path token was read (and cached) by the pushes above, before the disk filled.
    let strava_path = pg.push_path("strava").await;
    for id in 80_000..80_010u64 {
        let r = client
            .post(pg.url(&strava_path))
            .header("content-type", "application/json")
            .body(strava_event("activity", id, "create", 1, "{}"))
            .send()
            .await
            .expect("process still answers");
        assert_eq!(r.status().as_u16(), 503, "accepted while the disk is full");
        assert!(r.headers().get("retry-after").is_some());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(pg.metric("pulsegate_bus_disk_full").await, 1.0);
    assert!(pg.metric("pulsegate_bus_append_refused_total").await >= 10.0);
    let health = client.get(pg.url("/healthz")).send().await.unwrap();
    assert!(health.status().is_success());

    // The normalizer finishes the dropped ones while full (their commits are refused)
    // and keeps running.
    let deadline = Instant::now() + Duration::from_secs(30);
    while pg
        .metric("pulsegate_normalizer_dropped_total{provider=\"strava\"")
        .await
        < 40.0
    {
        assert!(Instant::now() < deadline, "the normalizer stalled");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        pg.logs().contains("offset commit refused for now"),
        "no commit met the full disk"
    );
    let health = client.get(pg.url("/healthz")).send().await;
    assert!(
        health.is_ok_and(|r| r.status().is_success()),
        "{}",
        pg.logs()
    );
    let delivered_while_full = acked.intersection(&delivered_ids(&sink)).count();
    assert!(
        delivered_while_full < acked.len(),
        "the test needs events still in flight when the disk filled"
    );

    // Space returns: everything resumes by itself, no restart.
    std::fs::remove_file(filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = delivered_ids(&sink);
        let missing: Vec<_> = acked.difference(&got).take(5).collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} acknowledged events never delivered after space returned, e.g. {missing:?}\n{}",
            acked.difference(&got).count(),
            pg.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Ingest accepts again (free space is re-read at most every 100 ms).
    strava.add_example_activity(90_000, 2);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = push(
            &client,
            pg.port,
            strava_event("activity", 90_000, "create", 2, "{}"),
        )
        .await;
        if status == 200 {
            break;
        }
        assert!(
            status == 503 && Instant::now() < deadline,
            "ingest answers {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(pg.metric("pulsegate_bus_disk_full").await, 0.0);
    let logs = pg.logs();
    assert!(logs.contains("disk nearly full"), "{logs}");
    assert!(logs.contains("accepting appends again"), "{logs}");
    pg.kill9();
}

//! `pulsegate backup` taken while pushes go on, `pulsegate restore` into a new data
//! dir, and the restored instance has the connections and destinations and delivers
//! the events that were queued; damaged archives and non-empty data dirs are refused.
//! `pulsegate keys rotate`: after it, the previous key can leave the key file.

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

mod support;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use pulsegate_testkit::sink::{Behaviour, Sink};
use pulsegate_testkit::strava::MockStrava;
use reqwest::Method;
use serde_json::{json, Value};
use support::*;

/// An ordered destination retries a failed delivery in place (here for an hour), so
/// its events stay queued on the log, uncommitted.
const DISPATCH: &str = r#"
[dispatcher]
timeout = "2s"
retry_schedule = ["1h"]
allow_private_networks = true
"#;

/// Runs the CLI (off the async runtime: it blocks).
async fn cli(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_pulsegate"))
            .args(&args)
            .env_remove("PULSEGATE_CONFIG")
            .env_remove("PULSEGATE_ADMIN_URL")
            .env_remove("PULSEGATE_ADMIN__TOKEN")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn admin_flags(pg: &Pulsegate) -> Vec<String> {
    vec![
        "--admin-url".into(),
        pg.admin_url(""),
        "--admin-token".into(),
        ADMIN_TOKEN.into(),
        "--output".into(),
        "json".into(),
    ]
}

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn restore(archive: &Path, config: &Path) -> Output {
    cli(vec![
        "restore".into(),
        "--from".into(),
        archive.display().to_string(),
        "--config".into(),
        config.display().to_string(),
        "--output".into(),
        "json".into(),
    ])
    .await
}

fn refused(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in {stderr}");
}

/// The Strava activity ids in bodies the sink answered 200 to.
fn delivered_ids(sink: &Sink, ids: &[u64], since: usize) -> Vec<u64> {
    let bodies: Vec<String> = sink.received()[since..]
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).to_string())
        .collect();
    ids.iter()
        .copied()
        .filter(|id| bodies.iter().any(|b| b.contains(&id.to_string())))
        .collect()
}

async fn wait_until(what: &str, pg: &Pulsegate, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "{what}: {}", pg.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_while_serving_restores_state_and_queued_events() {
    let strava = MockStrava::start().await;
    strava.generate_missing(true);
    strava.set_token(1, "access-1");
    let mut pg = Pulsegate::start(&strava.base_url(), DISPATCH).await;
    let user_id = pg.connect_athlete(1, "access-1", "refresh-1").await;
    let sink = Sink::start(Behaviour::Status(503)).await;
    let (status, body) = pg
        .admin(
            Method::POST,
            "/v1/admin/destinations",
            Some(json!({"id": "queue", "url": sink.url(), "secret": test_secret(5), "ordered": true})),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    let client = reqwest::Client::new();
    let before: Vec<u64> = (880_001..=880_008).collect();
    for id in &before {
        let event = strava_event("activity", *id, "create", 1, "{}");
        assert_eq!(push(&client, pg.port, event).await, 200);
    }
    // The pipeline runs: the first event reached the (failing) destination.
    assert!(
        sink.wait_for(1, Duration::from_secs(30)).await,
        "{}",
        pg.logs()
    );

    // Pushes go on while the backup is taken.
    let stop = tokio_util::sync::CancellationToken::new();
    let pushing = {
        let (stop, port, client) = (stop.clone(), pg.port, client.clone());
        tokio::spawn(async move {
            let mut id = 881_000;
            while !stop.is_cancelled() {
                push(
                    &client,
                    port,
                    strava_event("activity", id, "create", 1, "{}"),
                )
                .await;
                id += 1;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("pulsegate.pgbackup");
    let mut args = vec![
        "backup".into(),
        "--out".into(),
        archive.display().to_string(),
    ];
    args.extend(admin_flags(&pg));
    let backed_up = json_of(&cli(args).await);
    stop.cancel();
    pushing.await.unwrap();
    let records = backed_up["records"].as_u64().unwrap();
    let topics: Vec<&str> = backed_up["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(topics.contains(&"state") && topics.contains(&"events") && topics.contains(&"raw"));
    assert!(records >= before.len() as u64, "{backed_up}");
    assert!(backed_up["offsets"].as_u64().unwrap() > 0, "{backed_up}");
    assert_eq!(
        backed_up["bytes"].as_u64().unwrap(),
        std::fs::metadata(&archive).unwrap().len()
    );
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "no temporary file left beside the archive");
    // The key is not in the archive.
    let key_file = pg.config_path().parent().unwrap().join("pulsegate.key");
    let key = std::fs::read_to_string(&key_file).unwrap();
    let bytes = std::fs::read(&archive).unwrap();
    assert!(!bytes
        .windows(key.trim().len())
        .any(|w| w == key.trim().as_bytes()));
    assert!(pg.terminate(Duration::from_secs(20)).await.is_some());

    // A new instance with the same key file, not started yet.
    let mut restored =
        Pulsegate::configure(&Backend::Embedded, "serve", &strava.base_url(), DISPATCH);
    let data = restored.dir.path().join("data");
    std::fs::copy(&key_file, restored.dir.path().join("pulsegate.key")).unwrap();

    // Damaged archives are refused, naming the entry; nothing is left behind.
    let cut = dir.path().join("cut.pgbackup");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    refused(&restore(&cut, restored.config_path()).await, "truncated");
    let bad = dir.path().join("bad.pgbackup");
    let mut flipped = bytes.clone();
    *flipped.last_mut().unwrap() ^= 0x01;
    std::fs::write(&bad, &flipped).unwrap();
    let out = restore(&bad, restored.config_path()).await;
    refused(&out, "checksum mismatch");
    refused(&out, "entry ");
    // Anywhere in the middle (a payload, a length, a kind): refused as damaged.
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x01;
    std::fs::write(&bad, &flipped).unwrap();
    refused(&restore(&bad, restored.config_path()).await, "damaged");
    assert!(!data.exists(), "nothing half-restored");
    // Into a data dir in use or not empty: refused.
    refused(&restore(&archive, pg.config_path()).await, "not empty");

    let out = json_of(&restore(&archive, restored.config_path()).await);
    assert_eq!(out["records"].as_u64(), Some(records), "{out}");
    sink.set_behaviour(Behaviour::Ok);
    let seen = sink.received().len();
    restored.spawn().await;

    let (status, body) = restored
        .admin(Method::GET, "/v1/admin/connections", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.to_string().contains(&user_id), "{body}");
    let (status, body) = restored
        .admin(Method::GET, "/v1/admin/destinations", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.to_string().contains("\"queue\""), "{body}");
    // Every event acknowledged before the backup is delivered by the restored instance.
    wait_until(
        "queued events delivered after the restore",
        &restored,
        || delivered_ids(&sink, &before, seen).len() == before.len(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_lets_the_previous_key_leave_the_key_file() {
    let strava = MockStrava::start().await;
    strava.generate_missing(true);
    strava.set_token(1, "access-1");
    let sink = Sink::start(Behaviour::Ok).await;
    let mut pg = Pulsegate::start(
        &strava.base_url(),
        "[dispatcher]\nallow_private_networks = true\n",
    )
    .await;
    let user_id = pg.connect_athlete(1, "access-1", "refresh-1").await;
    let (status, body) = pg
        .admin(
            Method::POST,
            "/v1/admin/destinations",
            Some(json!({"id": "d", "url": sink.url(), "secret": test_secret(9)})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let client = reqwest::Client::new();
    assert_eq!(
        push(
            &client,
            pg.port,
            strava_event("activity", 770_001, "create", 1, "{}")
        )
        .await,
        200
    );
    wait_until("first delivery", &pg, || {
        delivered_ids(&sink, &[770_001], 0).len() == 1
    })
    .await;
    assert!(pg.terminate(Duration::from_secs(20)).await.is_some());

    // Key B current, key A previous.
    let key_file = pg.config_path().parent().unwrap().join("pulsegate.key");
    let old = std::fs::read_to_string(&key_file)
        .unwrap()
        .trim()
        .to_string();
    let new = pulsegate_state::crypto::generate_key();
    std::fs::write(&key_file, format!("{}\n{old}\n", new.expose())).unwrap();
    pg.spawn().await;
    let key_id = |k: &str| {
        pulsegate_state::Sealer::from_config(&pulsegate_state::SecurityConfig {
            encryption_key: pulsegate_schema::Secret::new(k),
            ..Default::default()
        })
        .unwrap()
        .unwrap()
        .key_id()
    };
    let mut args = vec!["keys".to_string(), "rotate".into()];
    args.extend(admin_flags(&pg));
    let report = json_of(&cli(args.clone()).await);
    assert!(report["resealed"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(report["current_key_id"], key_id(new.expose()), "{report}");
    assert!(
        report["previous_key_ids"]
            .to_string()
            .contains(&key_id(&old)),
        "{report}"
    );
    assert_eq!(report["compacted"], true, "{report}");
    assert_eq!(report["remaining_under_previous_keys"], 0, "{report}");
    assert_eq!(report["unreadable"], 0, "{report}");
    assert!(report["records_read"].as_u64().unwrap() >= report["keys"].as_u64().unwrap());
    // A second pass finds nothing to do.
    let again = json_of(&cli(args).await);
    assert_eq!(again["resealed"], 0, "{again}");
    assert!(again["already_current"].as_u64().unwrap() > 0, "{again}");
    // Still served meanwhile.
    let (status, _) = pg
        .admin(
            Method::GET,
            &format!("/v1/admin/connections/{user_id}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(pg.terminate(Duration::from_secs(20)).await.is_some());

    // Only key B: the state still opens (before the rotation this start was refused).
    std::fs::write(&key_file, new.expose()).unwrap();
    pg.spawn().await;
    let (status, body) = pg.admin(Method::GET, "/v1/admin/connections", None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.to_string().contains(&user_id), "{body}");
    let (status, body) = pg
        .admin(Method::GET, "/v1/admin/destinations/d", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        push(
            &client,
            pg.port,
            strava_event("activity", 770_002, "create", 1, "{}")
        )
        .await,
        200
    );
    wait_until("delivery with only the new key", &pg, || {
        delivered_ids(&sink, &[770_002], 0).len() == 1
    })
    .await;
}

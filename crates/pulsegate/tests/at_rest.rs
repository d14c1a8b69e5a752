//! Encryption at rest: after a full run (a connection with tokens, a destination, a
//! provider's credentials, a Strava activity fetched and delivered, an SDK upload, a
//! dead letter), no file of the data dir holds any of those secrets or payload strings;
//! the key was generated beside the config (0600), outside the data dir; the data dir
//! opens with that key and not without it. On 35d039a all of these were in clear.

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use pulsegate_bus::embedded::{EmbeddedBus, EmbeddedConfig};
use pulsegate_bus::{Bus, BusError, Record};
use pulsegate_schema::{topics, Secret};
use pulsegate_state::{Sealer, SealingBus, SecurityConfig};
use pulsegate_testkit::sink::{Behaviour, Sink};
use pulsegate_testkit::strava::{detailed_activity, MockStrava};
use support::*;

const ACCESS: &str = "strava-access-token-at-rest-1f9e";
const REFRESH: &str = "strava-refresh-token-at-rest-3c7d";
const CLIENT_SECRET: &str = "client-secret-at-rest-8b1d";
const ACTIVITY_NAME: &str = "Zanzibar Sunrise Tempo 7f3a";
const SDK_NAME: &str = "Kilimanjaro Dawn Walk 91c2";

fn files_containing(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    found.push(path);
                }
            }
        }
    }
    found
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn read_all(bus: &dyn Bus, topic: &str) -> Result<Vec<Record>, BusError> {
    let mut c = bus.read_from_start(topic).await?;
    let mut out = Vec::new();
    while !c.caught_up() {
        out.extend(c.poll(1000, Duration::from_millis(200)).await?);
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_scan_of_the_data_dir_finds_no_secret_and_no_health_data() {
    let strava = MockStrava::start().await;
    strava.set_token(1, ACCESS);
    strava.set_refresh_token(1, REFRESH);
    let mut activity = detailed_activity(70_001, 1);
    activity["name"] = ACTIVITY_NAME.into();
    strava.add_activity(70_001, 1, activity);
    let sink = Sink::start(Behaviour::Ok).await;
    let dead = Sink::start(Behaviour::FailAlways).await;
    let (secret, dead_secret) = (test_secret(77), test_secret(78));
    // No [security] section: the key is generated.
    let extra = format!(
        "[dispatcher]\ntimeout = \"3s\"\nretry_schedule = [\"100ms\"]\nallow_private_networks = true\n\
         [[destinations]]\nid = \"sink\"\nurl = \"{}\"\nsecret = \"{secret}\"\n\
         [[destinations]]\nid = \"dead\"\nurl = \"{}\"\nsecret = \"{dead_secret}\"\n",
        sink.url(),
        dead.url()
    );
    let mut pg = Pulsegate::start(&strava.base_url(), &extra).await;
    let dir = pg.config_path().parent().unwrap().to_path_buf();
    let data = dir.join("data");

    // The key file: beside the config, 0600, named in the log, its key never logged.
    let key_file = dir.join("pulsegate.key");
    let key = std::fs::read_to_string(&key_file).expect("a generated key file");
    let key = key.trim().to_string();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(pg.logs().contains(&key_file.display().to_string()));

    // Secrets: a provider's credentials, a connection's tokens (destinations' secrets
    // come from the config).
    let (status, body) = pg
        .admin(
            reqwest::Method::PUT,
            "/v1/admin/integrations/strava/credentials",
            Some(serde_json::json!({"fields": {"client_secret": CLIENT_SECRET}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    pg.connect_athlete(1, ACCESS, REFRESH).await;

    // Health data: a Strava activity fetched from the API, and an SDK upload.
    let client = reqwest::Client::new();
    let status = push(
        &client,
        pg.port,
        strava_event("activity", 70_001, "create", 1, "{}"),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = pg
        .admin(
            reqwest::Method::PUT,
            "/v1/admin/integrations/apple",
            Some(serde_json::json!({"enabled": true, "data_types": ["activity"]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let user_id = pg.connect("apple", "iphone-at-rest", "", "").await;
    let (status, body) = pg
        .admin(
            reqwest::Method::POST,
            &format!("/v1/admin/connections/{user_id}/sdk-tokens"),
            None,
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let sdk_token = body["token"].as_str().unwrap().to_string();
    let batch = serde_json::json!({"records": [
        {"id": "hk-at-rest-1", "type": "activity", "data": {"metadata": {
            "summary_id": "hk-at-rest-1", "start_time": "2026-11-25T07:00:00+01:00",
            "end_time": "2026-11-25T07:45:00+01:00", "type": 8, "upload_type": 1,
            "name": SDK_NAME}}}
    ]});
    let resp = client
        .post(pg.url("/v1/ingest/sdk/apple"))
        .header("authorization", format!("Bearer {sdk_token}"))
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);

    // Both payloads delivered (they crossed raw and events), and dead-lettered at the
    // failing destination (they crossed a retry topic and dead_letters).
    let received = || {
        sink.received()
            .iter()
            .map(|r| String::from_utf8_lossy(&r.body).to_string())
            .collect::<Vec<_>>()
    };
    eventually("both payloads delivered", || async {
        let got = received();
        got.iter().any(|b| b.contains(ACTIVITY_NAME)) && got.iter().any(|b| b.contains(SDK_NAME))
    })
    .await;
    let pg_ref = &pg;
    eventually("dead letters", || async move {
        let (_, body) = pg_ref
            .admin(
                reqwest::Method::GET,
                "/v1/admin/dead-letters?destination=dead",
                None,
            )
            .await;
        body["dead_letters"].as_array().map_or(0, Vec::len) >= 2
    })
    .await;
    let logs = pg.logs();
    assert!(pg.terminate(Duration::from_secs(20)).await.is_some());

    let destination_key = secret.trim_start_matches("whsec_");
    let needles = [
        ACCESS,
        REFRESH,
        CLIENT_SECRET,
        destination_key,
        dead_secret.trim_start_matches("whsec_"),
        &sdk_token,
        ACTIVITY_NAME,
        SDK_NAME,
        &key,
    ];
    for needle in needles {
        let found = files_containing(&data, needle.as_bytes());
        assert!(found.is_empty(), "{needle:?} in clear in {found:?}");
    }
    assert!(!logs.contains(&key), "the key in the log");

    // The control: with the key file the data dir opens, and the payloads are there;
    // without it (another key) it does not.
    let plain: Arc<dyn Bus> = Arc::new(EmbeddedBus::open(EmbeddedConfig::new(&data)).unwrap());
    let config = |k: &str| SecurityConfig {
        encryption_key: Secret::new(k),
        ..Default::default()
    };
    // Events are sealed with their user's data key, which is on the state topic: read
    // them the way pulsegate does, with the state store keeping those keys.
    let sealer = Sealer::from_config(&config(&key)).unwrap().unwrap();
    let user_keys = sealer.user_keys();
    let with_key: Arc<dyn Bus> = Arc::new(SealingBus::new(plain.clone(), sealer));
    let cipher = pulsegate_state::StateCipher::from_config(&config(&key)).unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let _state = pulsegate_state::StateStore::start_with(
        with_key.clone(),
        stop.clone(),
        cipher,
        Some(user_keys),
    )
    .await
    .unwrap();
    let events = read_all(&*with_key, topics::EVENTS).await.unwrap();
    let text: Vec<String> = events
        .iter()
        .map(|r| String::from_utf8_lossy(&r.payload).to_string())
        .collect();
    assert!(text.iter().any(|t| t.contains(ACTIVITY_NAME)));
    assert!(text.iter().any(|t| t.contains(SDK_NAME)));
    let other = pulsegate_state::crypto::generate_key();
    let without = SealingBus::new(
        plain.clone(),
        Sealer::from_config(&config(other.expose()))
            .unwrap()
            .unwrap(),
    );
    let err = read_all(&without, topics::EVENTS).await.unwrap_err();
    assert!(matches!(err, BusError::Unreadable { .. }), "{err}");
    assert!(!err.to_string().contains(&key));
}

/// A key rotation without losing what the old key sealed: the new key in the config
/// with the old one as previous, and the old connection is still there after restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_key_rotation_old_records_still_read() {
    let mut pg = Pulsegate::start("http://127.0.0.1:9", "").await;
    let user_id = pg
        .connect("oura", "oura-rotation", "oura-token-7e1a", "")
        .await;
    assert!(pg.terminate(Duration::from_secs(20)).await.is_some());

    // Rotate: a new key first in the key file, the old one after it.
    let key_file = pg.config_path().parent().unwrap().join("pulsegate.key");
    let old = std::fs::read_to_string(&key_file).unwrap();
    let new = pulsegate_state::crypto::generate_key();
    std::fs::write(&key_file, format!("{}\n{}", new.expose(), old.trim())).unwrap();
    pg.spawn().await;
    let (status, body) = pg
        .admin(
            reqwest::Method::GET,
            &format!("/v1/admin/connections/{user_id}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let new_id = Sealer::from_config(&SecurityConfig {
        encryption_key: new.clone(),
        ..Default::default()
    })
    .unwrap()
    .unwrap()
    .key_id();
    assert!(pg.logs().contains(&new_id), "the new key seals");

    // Without the old key the process refuses to start, naming the key id.
    assert!(pg.terminate(Duration::from_secs(20)).await.is_some());
    std::fs::write(&key_file, new.expose()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pulsegate"))
        .arg("serve")
        .arg("--config")
        .arg(pg.config_path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let old_id = Sealer::from_config(&SecurityConfig {
        encryption_key: Secret::new(old.trim()),
        ..Default::default()
    })
    .unwrap()
    .unwrap()
    .key_id();
    assert!(stderr.contains(&old_id), "{stderr}");
    assert!(!stderr.contains(old.trim()), "{stderr}");
}

/// A data dir from before encryption at rest (records in clear): refused at start with
/// a message naming the way out, and read when the operator says it is a migration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_in_clear_are_refused_unless_migrating() {
    let mut pg = Pulsegate::start("http://127.0.0.1:9", "").await;
    assert!(pg.terminate(Duration::from_secs(20)).await.is_some());
    let dir = pg.config_path().parent().unwrap().to_path_buf();
    {
        // What an older pulsegate wrote: a connection in clear on the state topic.
        let bus = EmbeddedBus::open(EmbeddedConfig::new(dir.join("data"))).unwrap();
        bus.append(
            topics::STATE,
            pulsegate_bus::Outgoing::new(
                "connection/legacy-user",
                r#"{"user_id":"legacy-user","provider":"STRAVA","provider_user_id":"999","access_token":"legacy-token"}"#,
            ),
        )
        .await
        .unwrap();
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pulsegate"))
        .arg("serve")
        .arg("--config")
        .arg(pg.config_path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("state/0@"), "{stderr}");
    assert!(stderr.contains("accept_unsealed_records"), "{stderr}");

    let mut config = std::fs::read_to_string(pg.config_path()).unwrap();
    config.push_str("\n[security]\naccept_unsealed_records = true\n");
    std::fs::write(pg.config_path(), config).unwrap();
    pg.spawn().await;
    let (status, body) = pg
        .admin(
            reqwest::Method::GET,
            "/v1/admin/connections/legacy-user",
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

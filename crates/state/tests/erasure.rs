//! Per-user erasure (crypto-shredding): records about a user are sealed with that
//! user's data key; erasing the key makes every one of them unreadable (skipped and
//! committed past, not an error), across a restart, and compaction takes the key's
//! record off the state topic. A reconnect gets a fresh key.

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use pulsegate_bus::embedded::{EmbeddedBus, EmbeddedConfig};
use pulsegate_bus::{Bus, BusError, OffsetReset, Outgoing, Record, TopicSpec};
use pulsegate_schema::{topics, Connection, ConnectionStatus, Provider, Secret};
use pulsegate_state::seal::{SEALED_USER_V1, SEALED_V1};
use pulsegate_state::{Sealer, SealingBus, SecurityConfig, StateCipher, StateStore};
use tokio_util::sync::CancellationToken;

fn config() -> SecurityConfig {
    SecurityConfig {
        encryption_key: Secret::new(base64::engine::general_purpose::STANDARD.encode([9u8; 32])),
        ..Default::default()
    }
}

fn conn(user_id: &str, provider_user_id: &str) -> Connection {
    Connection {
        user_id: user_id.into(),
        provider: Provider::Strava,
        provider_user_id: provider_user_id.into(),
        reference_id: None,
        access_token: Secret::new("at"),
        refresh_token: Secret::new("rt"),
        expires_at: 0,
        scopes: None,
        status: ConnectionStatus::Active,
        created_at_ms: 0,
        dev_id: None,
        metadata: Default::default(),
    }
}

/// An `events` record as the normalizer writes it.
fn event(user_id: &str, text: &str) -> Outgoing {
    let e = serde_json::json!({
        "event_id": text, "type": "activity", "user_id": user_id, "reference": "r",
        "received_at_ms": 1, "body": {"text": text},
    });
    Outgoing::new(user_id.to_string(), serde_json::to_vec(&e).unwrap())
}

/// A retry task or dead letter as the dispatcher writes it (keyed by destination).
fn task(user_id: &str, text: &str) -> Outgoing {
    let t = serde_json::json!({
        "destination_id": "d1", "attempts": 1, "not_before_ms": 0, "last_error": "503",
        "event": {"event_id": text, "type": "activity", "user_id": user_id,
                  "reference": "r", "received_at_ms": 1, "body": {"text": text}},
    });
    Outgoing::new("d1", serde_json::to_vec(&t).unwrap())
}

/// The sealed stack over one embedded log, with its state store.
struct Stack {
    plain: EmbeddedBus,
    bus: Arc<dyn Bus>,
    state: Arc<StateStore>,
    stop: CancellationToken,
}

impl Stack {
    async fn open(dir: &std::path::Path) -> Self {
        // The previous instance's writer thread lets go of fjall's lock on its own time
        // (later on a loaded machine): retry while it holds it.
        let mut tries = 0;
        let plain = loop {
            match EmbeddedBus::open(EmbeddedConfig::new(dir)) {
                Err(pulsegate_bus::BusError::Storage(e))
                    if (e.contains("lock") || e.contains("Locked")) && tries < 50 =>
                {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => break other.unwrap(),
            }
        };
        let sealer = Sealer::from_config(&config()).unwrap().unwrap();
        let keys = sealer.user_keys();
        let bus: Arc<dyn Bus> = Arc::new(SealingBus::new(Arc::new(plain.clone()), sealer));
        for t in [topics::EVENTS, topics::RAW, topics::DEAD_LETTERS, "retry_0"] {
            bus.ensure_topic(&TopicSpec::new(t, 1)).await.unwrap();
        }
        let stop = CancellationToken::new();
        let cipher = StateCipher::from_config(&config()).unwrap();
        let state = StateStore::start_with(bus.clone(), stop.clone(), cipher, Some(keys))
            .await
            .unwrap();
        Self {
            plain,
            bus,
            state,
            stop,
        }
    }

    async fn close(self) {
        self.stop.cancel();
        drop(self);
        // The state tail lets go of the log once it sees the cancellation.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn read_all(bus: &dyn Bus, topic: &str) -> Result<Vec<Record>, BusError> {
    let mut c = bus.read_from_start(topic).await?;
    let mut out = Vec::new();
    while !c.caught_up() {
        out.extend(c.poll(100, Duration::from_millis(100)).await?);
    }
    Ok(out)
}

/// The `text` of every record's event, sorted.
fn texts(records: &[Record]) -> Vec<String> {
    let mut v: Vec<String> = records
        .iter()
        .map(|r| {
            let v: serde_json::Value = serde_json::from_slice(&r.payload).unwrap();
            let e = if v.get("event").is_some() {
                &v["event"]
            } else {
                &v
            };
            e["body"]["text"].as_str().unwrap().to_string()
        })
        .collect();
    v.sort();
    v
}

/// The key material in the state topic's `userkey/<user>` records, as any holder of
/// the deployment key could read it from the log: every version still stored.
async fn stored_user_keys(plain: &EmbeddedBus, user_id: &str) -> Vec<String> {
    let opener = SealingBus::new(
        Arc::new(plain.clone()),
        Sealer::from_config(&config()).unwrap().unwrap(),
    );
    let cipher = StateCipher::from_config(&config()).unwrap().unwrap();
    let key = format!("userkey/{user_id}");
    let mut found = Vec::new();
    for r in read_all(&opener, topics::STATE).await.unwrap() {
        if r.key.as_ref() == key.as_bytes() {
            let plain = cipher.decrypt(&r.payload).unwrap().unwrap();
            let v: serde_json::Value = serde_json::from_slice(&plain).unwrap();
            if let Some(secret) = v["key"]["secret"].as_str() {
                found.push(secret.to_string());
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_user_s_records_are_skipped_everywhere_and_the_key_leaves_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let s = Stack::open(dir.path()).await;
    s.state
        .put_connection(&conn("user-a", "100"))
        .await
        .unwrap();
    s.state
        .put_connection(&conn("user-b", "200"))
        .await
        .unwrap();
    let a_key = s.state.user_key_id("user-a").expect("A has a data key");
    assert_ne!(Some(a_key.clone()), s.state.user_key_id("user-b"));

    // A's and B's records on every per-user topic; A's last on events and retry_0.
    for e in [
        event("user-b", "b-sleep-1"),
        event("user-a", "a-heart-1"),
        event("user-a", "a-heart-2"),
    ] {
        s.bus.append(topics::EVENTS, e).await.unwrap();
    }
    s.bus
        .append_batch(
            topics::DEAD_LETTERS,
            vec![task("user-a", "a-dead-1"), task("user-b", "b-dead-1")],
        )
        .await
        .unwrap();
    s.bus
        .append("retry_0", task("user-a", "a-retry-1"))
        .await
        .unwrap();
    let raw = |puid: &str, text: &str| {
        Outgoing::new(
            format!("strava:{puid}"),
            format!(r#"{{"event":{{"user_id":"n/a","body":{{"text":"{text}"}}}}}}"#),
        )
    };
    s.bus
        .append(topics::RAW, raw("100", "a-raw-1"))
        .await
        .unwrap();
    s.bus
        .append(topics::RAW, raw("200", "b-raw-1"))
        .await
        .unwrap();
    s.bus
        .append(topics::RAW, raw("999", "nobody-raw-1"))
        .await
        .unwrap();

    // Below the sealing layer: A's and B's records under their keys, the rest under
    // the deployment key.
    let sealed = read_all(&s.plain, topics::RAW).await.unwrap();
    let firsts: Vec<u8> = sealed.iter().map(|r| r.payload[0]).collect();
    assert_eq!(firsts, [SEALED_USER_V1, SEALED_USER_V1, SEALED_V1]);
    let state_records = read_all(&s.plain, topics::STATE).await.unwrap();
    assert!(state_records.iter().all(|r| r.payload[0] == SEALED_V1));
    assert_eq!(
        texts(&read_all(&*s.bus, topics::EVENTS).await.unwrap()),
        ["a-heart-1", "a-heart-2", "b-sleep-1"]
    );
    let a_material = stored_user_keys(&s.plain, "user-a").await;
    assert_eq!(a_material.len(), 1);

    // A consumer group holds all three (a delivery waiting on a breaker or retry time).
    let mut held = s
        .bus
        .subscribe(topics::EVENTS, "in-flight", OffsetReset::Earliest)
        .await
        .unwrap();
    let mut in_flight = Vec::new();
    while in_flight.len() < 3 {
        in_flight.extend(held.poll(10, Duration::from_millis(100)).await.unwrap());
    }
    assert!(in_flight.iter().all(|r| !s.state.erased(r)));

    // Deauthorized: the key goes, then the `deauth` event is sealed with the deployment
    // key and stays readable.
    assert!(s.state.erase_user("user-a").await.unwrap());
    // What was already handed out is known as erased, so it is not used.
    let erased: Vec<bool> = in_flight.iter().map(|r| s.state.erased(r)).collect();
    assert_eq!(
        erased,
        [false, true, true],
        "b-sleep-1, a-heart-1, a-heart-2"
    );
    held.commit(&[(0, 3)]).await.unwrap();
    assert!(
        !s.state.erased(&in_flight[1]),
        "forgotten once committed (memory stays bounded)"
    );
    drop(held);
    assert_eq!(s.state.user_key_id("user-a"), None);
    assert!(
        !s.state.erase_user("user-a").await.unwrap(),
        "nothing left to erase"
    );
    s.bus
        .append(topics::EVENTS, event("user-a", "a-deauth"))
        .await
        .unwrap();

    let expect_erased = |bus: Arc<dyn Bus>| async move {
        assert_eq!(
            texts(&read_all(&*bus, topics::EVENTS).await.unwrap()),
            ["a-deauth", "b-sleep-1"]
        );
        assert_eq!(
            texts(&read_all(&*bus, topics::DEAD_LETTERS).await.unwrap()),
            ["b-dead-1"]
        );
        assert!(read_all(&*bus, "retry_0").await.unwrap().is_empty());
        assert_eq!(
            texts(&read_all(&*bus, topics::RAW).await.unwrap()),
            ["b-raw-1", "nobody-raw-1"]
        );
    };
    expect_erased(s.bus.clone()).await;

    // A consumer group commits past them, also when they come last (nothing after
    // them to commit), so they are not read again.
    let mut g = s
        .bus
        .subscribe(topics::EVENTS, "g", OffsetReset::Earliest)
        .await
        .unwrap();
    let mut got = Vec::new();
    while !g.caught_up() {
        got.extend(g.poll(1, Duration::from_millis(100)).await.unwrap());
        if let Some(r) = got.last() {
            g.commit(&[(r.partition, r.offset + 1)]).await.unwrap();
        }
    }
    assert_eq!(texts(&got), ["a-deauth", "b-sleep-1"]);
    let mut r = s
        .bus
        .subscribe("retry_0", "g", OffsetReset::Earliest)
        .await
        .unwrap();
    for _ in 0..2 {
        assert!(r
            .poll(10, Duration::from_millis(100))
            .await
            .unwrap()
            .is_empty());
    }
    drop((g, r));
    assert_eq!(
        s.plain.committed_offsets("retry_0", "g").unwrap(),
        s.plain.end_offsets("retry_0").unwrap(),
        "an erased record alone on its partition is committed past"
    );
    assert_eq!(
        s.plain.committed_offsets(topics::EVENTS, "g").unwrap(),
        s.plain.end_offsets(topics::EVENTS).unwrap()
    );

    // The key's record leaves the log with compaction: the deployment key no longer
    // recovers it.
    s.plain.compact_now();
    assert!(
        stored_user_keys(&s.plain, "user-a").await.is_empty(),
        "A's data key is still on the state topic"
    );
    s.close().await;

    // A restart reads the same: erased, not damaged.
    let s = Stack::open(dir.path()).await;
    expect_erased(s.bus.clone()).await;
    assert!(stored_user_keys(&s.plain, "user-a").await.is_empty());

    // A reconnects (same user id): a fresh key; new records open, old ones stay erased.
    s.state
        .put_connection(&conn("user-a", "100"))
        .await
        .unwrap();
    let new_key = s.state.user_key_id("user-a").expect("a fresh key");
    assert_ne!(new_key, a_key);
    s.bus
        .append(topics::EVENTS, event("user-a", "a-heart-3"))
        .await
        .unwrap();
    assert_eq!(
        texts(&read_all(&*s.bus, topics::EVENTS).await.unwrap()),
        ["a-deauth", "a-heart-3", "b-sleep-1"]
    );
    let sealed = read_all(&s.plain, topics::EVENTS).await.unwrap();
    assert_eq!(sealed.last().unwrap().payload[0], SEALED_USER_V1);
    s.close().await;
}

/// A record sealed with a user key this deployment never had (nor erased) is damage:
/// an error naming the record and the key id, as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_under_an_unknown_user_key_is_still_an_error() {
    let (dir, other) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Another data dir (same deployment key) where user-x has a key.
    let o = Stack::open(other.path()).await;
    o.state.put_connection(&conn("user-x", "1")).await.unwrap();
    o.bus
        .append(topics::EVENTS, event("user-x", "x-1"))
        .await
        .unwrap();
    let foreign = read_all(&o.plain, topics::EVENTS).await.unwrap().remove(0);
    let x_key = o.state.user_key_id("user-x").unwrap();
    o.close().await;

    let s = Stack::open(dir.path()).await;
    s.plain
        .append(
            topics::EVENTS,
            Outgoing::new(foreign.key.clone(), foreign.payload.clone()),
        )
        .await
        .unwrap();
    let err = read_all(&*s.bus, topics::EVENTS).await.unwrap_err();
    assert!(
        matches!(&err, BusError::Unreadable { topic, offset: 0, reason, .. }
            if topic == topics::EVENTS && reason.contains(&x_key)),
        "{err}"
    );
    s.close().await;
}

/// Connections stored before per-user keys existed get a key when asked (the binary
/// does it at start), so their users' new records become erasable too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn earlier_connections_get_a_data_key() {
    let dir = tempfile::tempdir().unwrap();
    {
        // An earlier pulsegate: the same sealing, no user keys.
        let plain = EmbeddedBus::open(EmbeddedConfig::new(dir.path())).unwrap();
        let sealer = Sealer::from_config(&config()).unwrap().unwrap();
        let bus: Arc<dyn Bus> = Arc::new(SealingBus::new(Arc::new(plain), sealer));
        let stop = CancellationToken::new();
        let cipher = StateCipher::from_config(&config()).unwrap();
        let state = StateStore::start_with_cipher(bus, stop.clone(), cipher)
            .await
            .unwrap();
        state.put_connection(&conn("old-user", "7")).await.unwrap();
        let mut revoked = conn("gone-user", "8");
        revoked.status = ConnectionStatus::Revoked;
        state.put_connection(&revoked).await.unwrap();
        stop.cancel();
        drop(state);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let s = Stack::open(dir.path()).await;
    assert_eq!(s.state.user_key_id("old-user"), None);
    assert_eq!(s.state.create_missing_user_keys().await.unwrap(), 1);
    assert!(s.state.user_key_id("old-user").is_some());
    assert_eq!(s.state.user_key_id("gone-user"), None, "revoked: no key");
    assert_eq!(s.state.create_missing_user_keys().await.unwrap(), 0);
    s.close().await;
}

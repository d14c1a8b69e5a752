//! Per-user data keys, for erasure by crypto-shredding.
//!
//! Every pulsegate user gets a random 256-bit data key, stored on the compacted `state`
//! topic under `userkey/<user_id>` (encrypted with the deployment key like other
//! secret-bearing records, and sealed below that). Records about one user are sealed
//! with it (see [`crate::seal`]): `events` and `backfill` (keyed by the user id),
//! `retry_*` and `dead_letters` (keyed by destination: the user is the embedded event's
//! `user_id`), and `raw` (keyed `provider:provider_user_id`: the user of that
//! connection, when it is known).
//!
//! On deauthorization [`StateStore::erase_user`] replaces the record with a marker that
//! holds no key material, only the ids of the user's erased keys. From then on the
//! user's records on the log cannot be opened by anyone, the deployment key included;
//! readers skip them as erased (not as damage), and a later reconnect of the same user
//! id gets a fresh key.
//!
//! Key creation is first-applied-wins: every process applies the state topic in the
//! same order, so all of them seal with the same key even if two created one at once;
//! the loser writes the winner's record again so that compaction (which keeps the last
//! record per key) keeps the winner.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::Instant;

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::OsRng;
use base64::Engine;
use bytes::Bytes;
use pulsegate_schema::{now_ms, topics, ConnectionStatus, Secret, StateKey};
use ring::aead::LessSafeKey;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::seal::{derive_subkey, USER_LABEL};
use crate::{StateError, StateStore};

/// A user data key's id: random, unique across users, safe to log (hex).
pub type UserKeyId = [u8; 8];

/// Subkeys of other sessions kept per user key; more only after many restarts.
const SESSIONS_MAX: usize = 64;

/// One user's data key, with the session subkeys derived from it.
pub(crate) struct UserKey {
    pub(crate) id: UserKeyId,
    /// Wiped when the last reference goes (after an erasure: at once, or when a seal in
    /// progress finishes).
    bytes: Zeroizing<[u8; 32]>,
    own_session: [u8; 16],
    /// The subkey of this process's session: sealing is one lookup, no derivation.
    own: OnceLock<Arc<LessSafeKey>>,
    /// Subkeys of other sessions (records other processes or earlier starts sealed).
    others: RwLock<HashMap<[u8; 16], Arc<LessSafeKey>>>,
}

impl UserKey {
    fn new(id: UserKeyId, bytes: [u8; 32], own_session: [u8; 16]) -> Self {
        Self {
            id,
            bytes: Zeroizing::new(bytes),
            own_session,
            own: OnceLock::new(),
            others: RwLock::new(HashMap::new()),
        }
    }

    pub(crate) fn subkey(&self, session: &[u8; 16]) -> Arc<LessSafeKey> {
        if *session == self.own_session {
            return self
                .own
                .get_or_init(|| Arc::new(derive_subkey(&self.bytes, USER_LABEL, session)))
                .clone();
        }
        if let Some(k) = self.others.read().expect("user key cache").get(session) {
            return k.clone();
        }
        let k = Arc::new(derive_subkey(&self.bytes, USER_LABEL, session));
        let mut others = self.others.write().expect("user key cache");
        if others.len() >= SESSIONS_MAX {
            others.clear();
        }
        others.insert(*session, k.clone());
        k
    }
}

/// What is known of a user data key id.
pub(crate) enum Lookup {
    Live(Arc<UserKey>),
    /// Erased on purpose: the user deauthorized.
    Erased,
    /// Never seen on the state topic (not applied yet, or damage).
    Unknown,
}

#[derive(Default)]
struct Slot {
    live: Option<Arc<UserKey>>,
    /// This user's erased key ids, kept in the user's record across reconnects.
    erased: Vec<UserKeyId>,
}

#[derive(Default)]
struct Ring {
    users: HashMap<String, Slot>,
    by_id: HashMap<UserKeyId, Arc<UserKey>>,
    erased: HashSet<UserKeyId>,
    /// `raw` record key (`provider:provider_user_id`) → user id, from connections.
    raw: HashMap<Bytes, String>,
}

/// A record on the log: topic, partition, offset.
type RecordId = (Arc<str>, u32, u64);

/// The users' data keys known to this process, shared by the [`Sealer`]
/// (crate::Sealer), which seals and opens with them, and the [`StateStore`], which
/// keeps them as the state topic says.
pub struct UserKeys {
    session: [u8; 16],
    ring: RwLock<Ring>,
    /// Asked to catch up with the state topic when a record names a key not seen yet.
    store: RwLock<Weak<StateStore>>,
    /// Records consumer groups were handed, opened with a user key, and have not
    /// committed yet: a handler that holds one while the key is erased (a delivery
    /// waiting for its retry time or an open breaker) asks [`StateStore::erased`]
    /// before using it. Counted per consumer holding it.
    in_flight: Mutex<HashMap<RecordId, (UserKeyId, u32)>>,
    /// Tests: [`catch_up`](Self::catch_up) waits here (a state barrier that takes time).
    #[cfg(test)]
    pub(crate) catch_up_gate: Mutex<Option<Arc<tokio::sync::Notify>>>,
}

impl UserKeys {
    pub(crate) fn new(session: [u8; 16]) -> Self {
        Self {
            session,
            ring: RwLock::new(Ring::default()),
            store: RwLock::new(Weak::new()),
            in_flight: Mutex::new(HashMap::new()),
            #[cfg(test)]
            catch_up_gate: Mutex::new(None),
        }
    }

    /// A consumer was handed `(topic, partition, offset)`, opened with key `id`.
    pub(crate) fn hold(&self, record: RecordId, id: UserKeyId) {
        let mut held = self.in_flight.lock().expect("in-flight records");
        held.entry(record).or_insert((id, 0)).1 += 1;
    }

    /// A consumer is done with these records (committed past them, or dropped).
    pub(crate) fn release(&self, topic: &Arc<str>, records: impl Iterator<Item = (u32, u64)>) {
        let mut held = self.in_flight.lock().expect("in-flight records");
        for (partition, offset) in records {
            let id = (topic.clone(), partition, offset);
            if let Some(entry) = held.get_mut(&id) {
                entry.1 -= 1;
                if entry.1 == 0 {
                    held.remove(&id);
                }
            }
        }
    }

    /// The key `record` was opened with, if it is held and that key is erased now.
    fn erased_in_flight(&self, record: &pulsegate_bus::Record) -> Option<UserKeyId> {
        let id = {
            let held = self.in_flight.lock().expect("in-flight records");
            held.get(&(record.topic.clone(), record.partition, record.offset))?
                .0
        };
        matches!(self.lookup(&id), Lookup::Erased).then_some(id)
    }

    pub(crate) fn attach(&self, store: Weak<StateStore>) {
        *self.store.write().expect("user keys store") = store;
    }

    /// Waits until the state topic as of `since` is applied (a key created by another
    /// process just before it sealed a record with it).
    pub(crate) async fn catch_up(&self, since: Instant) {
        #[cfg(test)]
        {
            let gate = self.catch_up_gate.lock().expect("gate").clone();
            if let Some(gate) = gate {
                gate.notified().await;
            }
        }
        let store = self.store.read().expect("user keys store").upgrade();
        if let Some(store) = store {
            if let Err(e) = store.sync_since(since).await {
                tracing::warn!(error = %e, "state barrier for an unknown user key failed");
            }
        }
    }

    /// The live key that seals this record, if the record is about a user who has one.
    pub(crate) fn sealing_key(
        &self,
        topic: &str,
        key: &[u8],
        payload: &[u8],
    ) -> Option<Arc<UserKey>> {
        let ring = self.ring.read().expect("user keys");
        if ring.users.is_empty() {
            return None;
        }
        let user: Cow<'_, str> = match topic {
            topics::EVENTS | topics::BACKFILL => Cow::Borrowed(std::str::from_utf8(key).ok()?),
            topics::RAW => Cow::Borrowed(ring.raw.get(key)?.as_str()),
            topics::DEAD_LETTERS => embedded_user(payload)?,
            // Of the state topic's records, only the poll cursors are about one user.
            topics::STATE => Cow::Borrowed(crate::poll_cursors::user_of_key(key)?),
            t if t.starts_with("retry_") => embedded_user(payload)?,
            _ => return None,
        };
        ring.users.get(user.as_ref())?.live.clone()
    }

    pub(crate) fn lookup(&self, id: &UserKeyId) -> Lookup {
        let ring = self.ring.read().expect("user keys");
        if let Some(k) = ring.by_id.get(id) {
            Lookup::Live(k.clone())
        } else if ring.erased.contains(id) {
            Lookup::Erased
        } else {
            Lookup::Unknown
        }
    }

    /// The id of the user's live key (hex), if any.
    pub fn live_key_id(&self, user_id: &str) -> Option<String> {
        self.live(user_id).map(|k| hex::encode(k.id))
    }

    fn live(&self, user_id: &str) -> Option<Arc<UserKey>> {
        let ring = self.ring.read().expect("user keys");
        ring.users.get(user_id)?.live.clone()
    }

    fn erased_of(&self, user_id: &str) -> Vec<UserKeyId> {
        let ring = self.ring.read().expect("user keys");
        ring.users
            .get(user_id)
            .map(|s| s.erased.clone())
            .unwrap_or_default()
    }

    /// Connections tell which user a `raw` record (keyed by the provider's user) is about.
    pub(crate) fn link_raw(&self, raw_key: String, user_id: &str) {
        let mut ring = self.ring.write().expect("user keys");
        ring.raw.insert(Bytes::from(raw_key), user_id.to_string());
    }

    pub(crate) fn unlink_raw(&self, raw_key: String, user_id: &str) {
        let mut ring = self.ring.write().expect("user keys");
        let key = Bytes::from(raw_key);
        if ring.raw.get(&key).is_some_and(|u| u == user_id) {
            ring.raw.remove(&key);
        }
    }

    /// Applies a `userkey/<user_id>` record (decrypted).
    pub(crate) fn apply(&self, user_id: &str, payload: &[u8]) {
        let record = if payload.is_empty() {
            // Never written by pulsegate; a deletion can only mean "no key": erased.
            KeyRecord::default()
        } else {
            match serde_json::from_slice::<KeyRecord>(payload) {
                Ok(r) => r,
                Err(_) => {
                    // serde's message may quote the record: not logged.
                    tracing::warn!(%user_id, "unreadable user key record; skipped");
                    return;
                }
            }
        };
        let erased: Vec<UserKeyId> = record.erased.iter().filter_map(|h| parse_id(h)).collect();
        let key = match &record.key {
            None => None,
            Some(k) => match (parse_id(&k.id), parse_secret(&k.secret)) {
                (Some(id), Some(bytes)) => Some((id, bytes)),
                _ => {
                    tracing::warn!(%user_id, "malformed user key record; skipped");
                    return;
                }
            },
        };
        let mut guard = self.ring.write().expect("user keys");
        let ring = &mut *guard;
        let slot = ring.users.entry(user_id.to_string()).or_default();
        for id in erased {
            if !slot.erased.contains(&id) {
                slot.erased.push(id);
            }
            ring.erased.insert(id);
        }
        // The live key is retired by a marker (no key) or a record listing it as erased.
        let retire = slot
            .live
            .as_ref()
            .is_some_and(|l| key.is_none() || slot.erased.contains(&l.id));
        if retire {
            let old = slot.live.take().expect("a live key");
            if !slot.erased.contains(&old.id) {
                slot.erased.push(old.id);
            }
            ring.erased.insert(old.id);
            ring.by_id.remove(&old.id);
        }
        let Some((id, bytes)) = key else { return };
        if ring.erased.contains(&id) {
            // An erased key never comes back (a stale rewrite racing the erasure).
            return;
        }
        match &slot.live {
            Some(live) if live.id == id => {}
            Some(_) => {
                // Two processes created a key at once: the first applied wins everywhere.
                tracing::debug!(%user_id, "concurrent user key creation; keeping the first");
            }
            None => {
                let k = Arc::new(UserKey::new(id, bytes, self.session));
                ring.by_id.insert(id, k.clone());
                slot.live = Some(k);
            }
        }
    }
}

/// The user of a retry task or dead letter: its embedded event's `user_id`.
fn embedded_user(payload: &[u8]) -> Option<Cow<'_, str>> {
    #[derive(Deserialize)]
    struct Task<'a> {
        #[serde(borrow)]
        event: Event<'a>,
    }
    #[derive(Deserialize)]
    struct Event<'a> {
        #[serde(borrow)]
        user_id: Cow<'a, str>,
    }
    serde_json::from_slice::<Task<'_>>(payload)
        .ok()
        .map(|t| t.event.user_id)
}

/// The `userkey/<user_id>` record: the live key, or none (erased), and the ids of the
/// keys erased before.
#[derive(Default, Serialize, Deserialize)]
struct KeyRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<StoredKey>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    erased: Vec<String>,
    #[serde(default)]
    updated_at_ms: u64,
}

#[derive(Serialize, Deserialize)]
struct StoredKey {
    /// Hex of the 8-byte id.
    id: String,
    /// Base64 of the 32-byte key.
    secret: Secret,
}

impl KeyRecord {
    fn new(key: Option<&UserKey>, erased: &[UserKeyId]) -> Self {
        Self {
            key: key.map(|k| StoredKey {
                id: hex::encode(k.id),
                secret: Secret::new(base64::engine::general_purpose::STANDARD.encode(*k.bytes)),
            }),
            erased: erased.iter().map(hex::encode).collect(),
            updated_at_ms: now_ms(),
        }
    }

    fn encode(&self) -> Result<Bytes, StateError> {
        serde_json::to_vec(self)
            .map(Bytes::from)
            .map_err(|e| StateError::Encode(e.to_string()))
    }
}

fn parse_id(hex_id: &str) -> Option<UserKeyId> {
    hex::decode(hex_id).ok()?.try_into().ok()
}

fn parse_secret(secret: &Secret) -> Option<[u8; 32]> {
    let bytes = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(secret.expose())
            .ok()?,
    );
    bytes.as_slice().try_into().ok()
}

impl StateStore {
    /// Gives `user_id` a data key if it has none (a new user, or one reconnecting after
    /// an erasure). Called when a connection is stored; without user keys (no sealing
    /// layer) a no-op.
    pub async fn ensure_user_key(&self, user_id: &str) -> Result<(), StateError> {
        let Some(keys) = &self.user_keys else {
            return Ok(());
        };
        if keys.live(user_id).is_some() {
            return Ok(());
        }
        let _one_at_a_time = self.user_key_writes.lock().await;
        if keys.live(user_id).is_some() {
            return Ok(());
        }
        let mut id = [0u8; 8];
        OsRng.fill_bytes(&mut id);
        let mut bytes = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(bytes.as_mut());
        let mine = UserKey::new(id, *bytes, keys.session);
        let record = KeyRecord::new(Some(&mine), &keys.erased_of(user_id));
        self.write(StateKey::UserKey(user_id.to_string()), record.encode()?)
            .await?;
        match keys.live(user_id) {
            Some(winner) if winner.id != id => {
                // Another process's key was applied first: everyone seals with it. Its
                // record goes last again, so compaction keeps it rather than ours.
                let record = KeyRecord::new(Some(&winner), &keys.erased_of(user_id));
                self.write(StateKey::UserKey(user_id.to_string()), record.encode()?)
                    .await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Gives every active connection's user a data key if it has none: connections
    /// stored before per-user keys existed. Until then their records are sealed with
    /// the deployment key, which an erasure cannot take back. Returns how many keys
    /// were created.
    pub async fn create_missing_user_keys(&self) -> Result<usize, StateError> {
        let Some(keys) = &self.user_keys else {
            return Ok(0);
        };
        let missing: Vec<String> = self
            .connections()
            .iter()
            .filter(|c| c.status == ConnectionStatus::Active && keys.live(&c.user_id).is_none())
            .map(|c| c.user_id.clone())
            .collect();
        for user_id in &missing {
            self.ensure_user_key(user_id).await?;
        }
        Ok(missing.len())
    }

    /// Erases `user_id`'s data key: its record is replaced by a marker that keeps only
    /// the ids of the user's erased keys, so every record sealed with it (queued
    /// events, retries, dead letters, raw notifications, backfill windows) can no
    /// longer be opened, and readers skip them as erased. Call it on every
    /// deauthorization, before the `deauth` event is appended (that event is then sealed
    /// with the deployment key and still delivered). The user's poll cursors are
    /// deleted too. Returns whether a key was erased.
    pub async fn erase_user(&self, user_id: &str) -> Result<bool, StateError> {
        let erased = self.erase_user_key(user_id).await?;
        // After the key: a cursor written meanwhile is sealed with it, and deleted here.
        self.delete_poll_cursors(user_id).await?;
        Ok(erased)
    }

    async fn erase_user_key(&self, user_id: &str) -> Result<bool, StateError> {
        let Some(keys) = &self.user_keys else {
            return Ok(false);
        };
        let _one_at_a_time = self.user_key_writes.lock().await;
        if keys.live(user_id).is_none() {
            // Created by another process and not applied here yet?
            self.sync().await?;
        }
        let Some(live) = keys.live(user_id) else {
            return Ok(false);
        };
        let mut erased = keys.erased_of(user_id);
        erased.push(live.id);
        drop(live);
        let record = KeyRecord::new(None, &erased);
        self.write(StateKey::UserKey(user_id.to_string()), record.encode()?)
            .await?;
        tracing::info!(%user_id, key_id = %hex::encode(erased[erased.len() - 1]),
            "user data key erased: the user's records on the log can no longer be opened");
        Ok(true)
    }

    /// Whether `record`, handed out by a consumer group and not committed yet, was
    /// opened with a user data key that has been erased since (the user deauthorized
    /// while it waited): then it must not be used (delivered, retried, copied). Such
    /// records count in `pulsegate_records_erased_total{topic}` like those skipped at
    /// reading.
    pub fn erased(&self, record: &pulsegate_bus::Record) -> bool {
        let Some(id) = self
            .user_keys
            .as_ref()
            .and_then(|k| k.erased_in_flight(record))
        else {
            return false;
        };
        metrics::counter!("pulsegate_records_erased_total", "topic" => record.topic.to_string())
            .increment(1);
        tracing::debug!(topic = %record.topic, partition = record.partition, offset = record.offset,
            key_id = %hex::encode(id), "record of a user erased while it was in flight dropped");
        true
    }

    /// The id (hex) of the data key sealing `user_id`'s records now, if any.
    pub fn user_key_id(&self, user_id: &str) -> Option<String> {
        self.user_keys.as_ref()?.live_key_id(user_id)
    }
}

/// A user key record for `user`'s key `(id, bytes)`, as the state topic holds it.
#[cfg(test)]
pub(crate) fn key_record_for_tests(id: u8, bytes: u8) -> Vec<u8> {
    let k = UserKey::new([id; 8], [bytes; 32], [0; 16]);
    serde_json::to_vec(&KeyRecord::new(Some(&k), &[])).expect("a key record serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: Option<(u8, u8)>, erased: &[u8]) -> Vec<u8> {
        let k = key.map(|(id, b)| UserKey::new([id; 8], [b; 32], [0; 16]));
        let erased: Vec<UserKeyId> = erased.iter().map(|i| [*i; 8]).collect();
        serde_json::to_vec(&KeyRecord::new(k.as_ref(), &erased)).unwrap()
    }

    #[test]
    fn first_key_wins_erasure_sticks_and_reconnect_gets_a_new_key() {
        let keys = UserKeys::new([7; 16]);
        keys.apply("u1", &record(Some((1, 1)), &[]));
        // A concurrent creation applied second changes nothing.
        keys.apply("u1", &record(Some((2, 2)), &[]));
        assert_eq!(keys.live("u1").unwrap().id, [1; 8]);
        assert!(matches!(keys.lookup(&[2; 8]), Lookup::Unknown));
        // Erased: the id is remembered, the key gone.
        keys.apply("u1", &record(None, &[1]));
        assert!(keys.live("u1").is_none());
        assert!(matches!(keys.lookup(&[1; 8]), Lookup::Erased));
        // A stale rewrite of the erased key does not bring it back.
        keys.apply("u1", &record(Some((1, 1)), &[]));
        assert!(keys.live("u1").is_none());
        // Reconnect: a fresh key, the old one still known as erased.
        keys.apply("u1", &record(Some((3, 3)), &[1]));
        assert_eq!(keys.live("u1").unwrap().id, [3; 8]);
        assert!(matches!(keys.lookup(&[1; 8]), Lookup::Erased));
        assert!(matches!(keys.lookup(&[3; 8]), Lookup::Live(_)));
    }

    #[test]
    fn which_records_are_about_a_user() {
        let keys = UserKeys::new([7; 16]);
        keys.apply("u1", &record(Some((1, 1)), &[]));
        keys.link_raw("strava:42".into(), "u1");
        let is_u1 = |topic: &str, key: &[u8], payload: &[u8]| {
            keys.sealing_key(topic, key, payload)
                .is_some_and(|k| k.id == [1; 8])
        };
        assert!(is_u1("events", b"u1", b"{}"));
        assert!(is_u1("backfill", b"u1", b"{}"));
        assert!(is_u1("raw", b"strava:42", b"{}"));
        let task = br#"{"destination_id":"d","attempts":1,"event":{"event_id":"e","user_id":"u1","body":{"x":[1,2]}}}"#;
        assert!(is_u1("retry_3", b"d", task));
        assert!(is_u1("dead_letters", b"d", task));
        assert!(!is_u1("events", b"u2", b"{}"));
        assert!(!is_u1("raw", b"strava:43", b"{}"));
        assert!(!is_u1("state", b"u1", b"{}"));
        assert!(!is_u1("retry_0", b"d", b"not json"));
        keys.unlink_raw("strava:42".into(), "u1");
        assert!(!is_u1("raw", b"strava:42", b"{}"));
    }
}

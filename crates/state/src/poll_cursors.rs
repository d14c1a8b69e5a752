//! The poll lane's cursors (`pollcursor/<user_id>/<data_type>` on the state topic): how
//! far the lane delivered one user's data of one type from a provider that must be
//! polled (its descriptor's push mode is `Poll`; see the normalizer's `poll` module).
//!
//! A cursor is a record about one user, so the sealing layer seals it with that user's
//! data key ([`crate::user_keys`]), like the user's events: once
//! [`erase_user`](StateStore::erase_user) erased the key, every cursor record of the
//! user on the log is unreadable (skipped as erased), and the erasure also deletes them
//! (empty records, so compaction drops them). A cursor is only written while the user
//! may be polled ([`StateStore::poll_allowed`]): never sealed with the deployment key
//! after an erasure. Deleting a connection deletes its cursors.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use pulsegate_schema::{ConnectionStatus, Provider, StateKey};
use serde::{Deserialize, Serialize};

use crate::{StateError, StateStore};

/// Record key prefix of poll cursors on the state topic.
pub(crate) const PREFIX: &str = "pollcursor/";

/// How far the poll lane delivered one user's data of one type.
///
/// Days are UTC calendar days (`YYYY-MM-DD`), as the providers' range fetches take them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollCursor {
    pub user_id: String,
    pub provider: Provider,
    /// Terra's data type (`"body"`).
    pub data_type: String,
    /// Days before this one are delivered and closed: never fetched again.
    pub done_before: String,
    /// Days from `done_before` on (still open: fetched again every poll), with the
    /// content hashes of the objects of that day already delivered: only objects with
    /// another hash (new, or changed) are sent.
    #[serde(default)]
    pub open: BTreeMap<String, Vec<String>>,
    /// When the last complete poll of this type finished (ms since the Unix epoch; 0
    /// while only part of a catch-up was delivered).
    #[serde(default)]
    pub polled_at_ms: u64,
    #[serde(default)]
    pub updated_at_ms: u64,
}

/// The cursors in the view: per user, by data type.
pub(crate) type PollCursors = HashMap<String, HashMap<String, Arc<PollCursor>>>;

/// The user a state record key is about if it is a poll cursor's (the sealing layer
/// seals it with that user's data key).
pub(crate) fn user_of_key(key: &[u8]) -> Option<&str> {
    let rest = std::str::from_utf8(key.strip_prefix(PREFIX.as_bytes())?).ok()?;
    rest.split_once('/').map(|(user, _)| user)
}

fn key(user_id: &str, data_type: &str) -> StateKey {
    StateKey::PollCursor(format!("{user_id}/{data_type}"))
}

/// Applies a `pollcursor/<user_id>/<data_type>` record (`id` = `<user_id>/<data_type>`).
pub(crate) fn apply(cursors: &mut PollCursors, id: &str, payload: &[u8]) {
    let Some((user_id, data_type)) = id.split_once('/') else {
        tracing::warn!("malformed poll cursor key; skipped");
        return;
    };
    if payload.is_empty() {
        if let Some(of_user) = cursors.get_mut(user_id) {
            of_user.remove(data_type);
            if of_user.is_empty() {
                cursors.remove(user_id);
            }
        }
        return;
    }
    match serde_json::from_slice::<PollCursor>(payload) {
        Ok(c) => {
            cursors
                .entry(user_id.to_string())
                .or_default()
                .insert(data_type.to_string(), Arc::new(c));
        }
        Err(e) => tracing::warn!(error = %e, "bad poll cursor record; skipped"),
    }
}

impl StateStore {
    /// The poll cursor of `user_id`'s `data_type` data, if any.
    pub fn poll_cursor(&self, user_id: &str, data_type: &str) -> Option<Arc<PollCursor>> {
        let maps = self.maps.read().expect("state lock");
        maps.poll_cursors.get(user_id)?.get(data_type).cloned()
    }

    /// Every poll cursor of `user_id`, by data type.
    pub fn poll_cursors_of(&self, user_id: &str) -> Vec<Arc<PollCursor>> {
        let maps = self.maps.read().expect("state lock");
        let mut v: Vec<_> = maps
            .poll_cursors
            .get(user_id)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        v.sort_by(|a, b| a.data_type.cmp(&b.data_type));
        v
    }

    /// Whether `user_id` may be polled: an active connection, and (when records are
    /// sealed with per-user keys) a live data key, i.e. not erased.
    pub fn poll_allowed(&self, user_id: &str) -> bool {
        let active = self
            .connection(user_id)
            .is_some_and(|c| c.status == ConnectionStatus::Active);
        active
            && self
                .user_keys
                .as_ref()
                .is_none_or(|k| k.live_key_id(user_id).is_some())
    }

    /// Stores a poll cursor, sealed with the user's data key. `Ok(false)`: not written,
    /// the user may no longer be polled ([`poll_allowed`](Self::poll_allowed)). Runs
    /// under the lock of key creation and erasure, so an erasure in this process either
    /// comes after the record (then it is unreadable and deleted with the others) or
    /// before the check (then nothing is written).
    pub async fn put_poll_cursor(&self, c: &PollCursor) -> Result<bool, StateError> {
        let payload = serde_json::to_vec(c).map_err(|e| StateError::Encode(e.to_string()))?;
        let _keys = self.user_key_writes.lock().await;
        if !self.poll_allowed(&c.user_id) {
            return Ok(false);
        }
        self.write(key(&c.user_id, &c.data_type), Bytes::from(payload))
            .await?;
        Ok(true)
    }

    /// Deletes every poll cursor of `user_id` this view holds (the connection was
    /// deleted, or the user's data erased). Returns how many.
    pub async fn delete_poll_cursors(&self, user_id: &str) -> Result<usize, StateError> {
        let types: Vec<String> = {
            let maps = self.maps.read().expect("state lock");
            maps.poll_cursors
                .get(user_id)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        for t in &types {
            self.write(key(user_id, t), Bytes::new()).await?;
        }
        Ok(types.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulsegate_bus::embedded::{EmbeddedBus, EmbeddedConfig};
    use pulsegate_bus::Bus;
    use pulsegate_schema::{topics, Connection, Secret};
    use std::time::Duration;
    use tokio_util::sync::CancellationToken;

    use crate::{Sealer, SealingBus, SecurityConfig};

    fn conn(user_id: &str) -> Connection {
        Connection {
            user_id: user_id.into(),
            provider: Provider::Polar,
            provider_user_id: format!("p-{user_id}"),
            reference_id: None,
            access_token: Secret::new("at"),
            refresh_token: Secret::new("rt"),
            expires_at: 0,
            scopes: None,
            status: ConnectionStatus::Active,
            created_at_ms: 1,
            dev_id: None,
            metadata: Default::default(),
        }
    }

    fn cursor(user_id: &str, data_type: &str, day: &str) -> PollCursor {
        PollCursor {
            user_id: user_id.into(),
            provider: Provider::Polar,
            data_type: data_type.into(),
            done_before: day.into(),
            open: BTreeMap::from([(day.to_string(), vec!["hash-of-glucose".to_string()])]),
            polled_at_ms: 5,
            updated_at_ms: 5,
        }
    }

    fn config() -> SecurityConfig {
        use base64::Engine;
        SecurityConfig {
            encryption_key: Secret::new(
                base64::engine::general_purpose::STANDARD.encode([9u8; 32]),
            ),
            ..Default::default()
        }
    }

    /// A sealed log and a state view on it, as the binary opens them; reopens the data
    /// directory once the previous instance (stopped with its token) released it.
    async fn sealed(
        dir: &std::path::Path,
    ) -> (Arc<dyn Bus>, Arc<StateStore>, tokio_util::sync::DropGuard) {
        let sealer = Sealer::from_config(&config()).unwrap().unwrap();
        let keys = sealer.user_keys();
        let inner: Arc<dyn Bus> = Arc::new(open_embedded(dir).await);
        let bus: Arc<dyn Bus> = Arc::new(SealingBus::new(inner, sealer));
        let stop = CancellationToken::new();
        let cipher = crate::StateCipher::from_config(&config()).unwrap();
        let state = StateStore::start_with(bus.clone(), stop.clone(), cipher, Some(keys))
            .await
            .unwrap();
        (bus, state, stop.drop_guard())
    }

    async fn open_embedded(dir: &std::path::Path) -> EmbeddedBus {
        for _ in 0..100 {
            if let Ok(b) = EmbeddedBus::open(EmbeddedConfig::new(dir)) {
                return b;
            }
            // The previous instance's files are released as its last users drop.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the log in {} could not be reopened", dir.display());
    }

    #[test]
    fn cursor_keys_name_their_user() {
        assert_eq!(user_of_key(b"pollcursor/u1/body"), Some("u1"));
        assert_eq!(user_of_key(b"pollcursor/u1"), None);
        assert_eq!(user_of_key(b"connection/u1"), None);
        assert_eq!(key("u1", "sleep").encode(), "pollcursor/u1/sleep");
        assert_eq!(
            StateKey::decode("pollcursor/u1/sleep"),
            Some(StateKey::PollCursor("u1/sleep".into()))
        );
    }

    #[tokio::test]
    async fn cursors_survive_a_restart_and_go_with_the_connection() {
        let dir = tempfile::tempdir().unwrap();
        let (bus, s, stop) = sealed(dir.path()).await;
        s.put_connection(&conn("u1")).await.unwrap();
        assert!(s
            .put_poll_cursor(&cursor("u1", "body", "2024-03-01"))
            .await
            .unwrap());
        assert!(s
            .put_poll_cursor(&cursor("u1", "sleep", "2024-03-02"))
            .await
            .unwrap());
        // No connection: not written.
        assert!(!s
            .put_poll_cursor(&cursor("u2", "body", "2024-03-01"))
            .await
            .unwrap());
        assert!(s.poll_cursor("u2", "body").is_none());
        drop((bus, s, stop));

        let (_bus, again, _stop) = sealed(dir.path()).await;
        assert_eq!(
            *again.poll_cursor("u1", "body").unwrap(),
            cursor("u1", "body", "2024-03-01")
        );
        assert_eq!(again.poll_cursors_of("u1").len(), 2);
        again.delete_connection("u1").await.unwrap();
        assert!(again.poll_cursors_of("u1").is_empty());
    }

    #[tokio::test]
    async fn erasure_makes_cursors_unreadable_and_removes_them() {
        let dir = tempfile::tempdir().unwrap();
        let (bus, s, stop) = sealed(dir.path()).await;
        s.put_connection(&conn("u1")).await.unwrap();
        s.put_connection(&conn("u2")).await.unwrap();
        assert!(s
            .put_poll_cursor(&cursor("u1", "body", "2024-03-01"))
            .await
            .unwrap());
        assert!(s
            .put_poll_cursor(&cursor("u2", "body", "2024-03-01"))
            .await
            .unwrap());
        assert!(s.poll_allowed("u1"));

        // The record is sealed with u1's key: not in clear on the log.
        {
            let mut raw = bus.read_from_start(topics::STATE).await.unwrap();
            let mut records = Vec::new();
            while !raw.caught_up() {
                records.extend(raw.poll(100, Duration::from_millis(100)).await.unwrap());
            }
            assert!(records
                .iter()
                .any(|r| r.key.as_ref() == b"pollcursor/u1/body"));
        }

        assert!(s.erase_user("u1").await.unwrap());
        assert!(
            s.poll_cursor("u1", "body").is_none(),
            "deleted with the key"
        );
        assert!(!s.poll_allowed("u1"), "an erased user is not polled");
        // Not written again after the erasure (the connection still looks active).
        assert!(!s
            .put_poll_cursor(&cursor("u1", "body", "2024-03-04"))
            .await
            .unwrap());
        assert!(s.poll_cursor("u1", "body").is_none());
        assert!(
            s.poll_cursor("u2", "body").is_some(),
            "other users keep theirs"
        );
        drop((bus, s, stop));

        // A restart reads nothing of u1's cursors: the records that were written with
        // the erased key do not open, and the deletions removed them.
        let (_bus, again, _stop) = sealed(dir.path()).await;
        assert!(again.poll_cursors_of("u1").is_empty());
        assert!(again.poll_cursor("u2", "body").is_some());
    }

    #[tokio::test]
    async fn the_cursor_is_sealed_with_the_users_key() {
        let dir = tempfile::tempdir().unwrap();
        let (bus, s, stop) = sealed(dir.path()).await;
        s.put_connection(&conn("u1")).await.unwrap();
        assert!(s
            .put_poll_cursor(&cursor("u1", "body", "2024-03-01"))
            .await
            .unwrap());
        drop((bus, s, stop));
        // The log below the sealing layer: the cursor's value is sealed with u1's data
        // key (first byte 0xC6), not the deployment key, and not in clear.
        let inner: Arc<dyn Bus> = Arc::new(open_embedded(dir.path()).await);
        let mut raw = inner.read_from_start(topics::STATE).await.unwrap();
        let mut found = None;
        while !raw.caught_up() {
            for r in raw.poll(100, Duration::from_millis(100)).await.unwrap() {
                if r.key.as_ref() == b"pollcursor/u1/body" {
                    found = Some(r.payload.clone());
                }
            }
        }
        let v = found.expect("the cursor record");
        assert_eq!(v[0], crate::seal::SEALED_USER_V1);
        assert!(!v.windows(15).any(|w| w == b"hash-of-glucose"));
    }
}

//! When this deployment first sealed with each encryption key: a `keyinuse/<key id>`
//! record on the state topic, written by the first process that starts with a key no
//! record names yet. The id is the key's public 4-byte id (hex), never key material, so
//! the record needs no secret-field encryption (the log seals its value at rest like any
//! other). Every process reads it back, so all roles report one age per key
//! (`pulsegate_encryption_key_age_seconds`, which the key-age alert watches).
//!
//! Processes that start together with a new key may each write a record; the earliest
//! time is kept (a later compaction may leave the later one: seconds apart).

use std::collections::HashMap;

use bytes::Bytes;
use pulsegate_schema::{now_ms, StateKey};
use serde::{Deserialize, Serialize};

use crate::{StateError, StateStore};

#[derive(Debug, Serialize, Deserialize)]
struct KeyInUse {
    first_used_ms: u64,
}

/// Applies one `keyinuse/<id>` record to `map` (key id → first use, Unix ms).
pub(crate) fn apply(map: &mut HashMap<String, u64>, key_id: &str, payload: &[u8]) {
    if payload.is_empty() {
        map.remove(key_id);
        return;
    }
    match serde_json::from_slice::<KeyInUse>(payload) {
        Ok(k) => {
            let first = map.entry(key_id.to_string()).or_insert(k.first_used_ms);
            *first = (*first).min(k.first_used_ms);
        }
        Err(e) => tracing::warn!(error = %e, "bad key-in-use record; skipped"),
    }
}

impl StateStore {
    /// When this deployment first used the key `key_id` (Unix ms), if recorded.
    pub fn key_first_used_ms(&self, key_id: &str) -> Option<u64> {
        self.maps
            .read()
            .expect("state lock")
            .keys_in_use
            .get(key_id)
            .copied()
    }

    /// When this deployment first used the key `key_id` (Unix ms): the stored time, or
    /// now, recorded first when none is stored.
    pub async fn record_key_in_use(&self, key_id: &str) -> Result<u64, StateError> {
        if let Some(first) = self.key_first_used_ms(key_id) {
            return Ok(first);
        }
        let payload = serde_json::to_vec(&KeyInUse {
            first_used_ms: now_ms(),
        })
        .map_err(|e| StateError::Encode(e.to_string()))?;
        self.write(StateKey::KeyInUse(key_id.to_string()), Bytes::from(payload))
            .await?;
        // Applied by now (the write waits for it); another process's earlier record
        // may have won.
        Ok(self.key_first_used_ms(key_id).unwrap_or_else(now_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulsegate_bus::embedded::{EmbeddedBus, EmbeddedConfig};
    use pulsegate_bus::Bus;
    use std::sync::Arc;
    use tokio_util::sync::CancellationToken;

    #[tokio::test]
    async fn a_keys_first_use_is_recorded_once_and_read_by_every_process() {
        let dir = tempfile::tempdir().unwrap();
        let bus: Arc<dyn Bus> =
            Arc::new(EmbeddedBus::open(EmbeddedConfig::new(dir.path())).unwrap());
        let a = StateStore::start(bus.clone(), CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(a.key_first_used_ms("0a0b0c0d"), None);
        let before = now_ms();
        let first = a.record_key_in_use("0a0b0c0d").await.unwrap();
        assert!(first >= before && first <= now_ms(), "{first}");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        // A later start (or another role) finds it and keeps the first time.
        let b = StateStore::start(bus.clone(), CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(b.key_first_used_ms("0a0b0c0d"), Some(first));
        assert_eq!(b.record_key_in_use("0a0b0c0d").await.unwrap(), first);
        // A new key gets its own, later record.
        let second = b.record_key_in_use("1a1b1c1d").await.unwrap();
        assert!(second > first, "{second} after {first}");
        assert_eq!(a.key_first_used_ms("0a0b0c0d"), Some(first));
    }

    #[test]
    fn the_earliest_record_of_a_key_wins_and_an_empty_one_removes_it() {
        let mut map = HashMap::new();
        apply(&mut map, "0a0b0c0d", br#"{"first_used_ms":2000}"#);
        apply(&mut map, "0a0b0c0d", br#"{"first_used_ms":1000}"#);
        apply(&mut map, "0a0b0c0d", br#"{"first_used_ms":3000}"#);
        assert_eq!(map.get("0a0b0c0d"), Some(&1000));
        apply(&mut map, "0a0b0c0d", b"not json");
        assert_eq!(map.get("0a0b0c0d"), Some(&1000));
        apply(&mut map, "0a0b0c0d", b"");
        assert_eq!(map.get("0a0b0c0d"), None);
    }
}

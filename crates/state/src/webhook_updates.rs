//! When each user's data last reached a customer (`last_webhook_update` of the `/v2`
//! user answers), shared by every process through the state topic
//! (`webhookat/<user_id>` = Unix ms, decimal).
//!
//! A delivery notes the time in memory at once ([`StateStore::note_webhook_update`]); a
//! flusher writes what changed every [`FLUSH_EVERY`], so the topic gets at most one
//! record per active user per interval, not one per delivery. A restarted process, or
//! one that does not deliver (the Terra API on an ingest process), reads the times from
//! the topic. Like the poll cursors, a record is about one user: sealed with that user's
//! data key, never written once the user may not be served, and deleted with the
//! connection or on erasure.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use pulsegate_schema::{ConnectionStatus, StateKey};
use tokio_util::sync::CancellationToken;

use crate::{StateError, StateStore};

/// Record key prefix on the state topic.
pub(crate) const PREFIX: &str = "webhookat/";

/// How often the noted times are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(60);

/// The user a state record key is about if it is a `webhookat/` record (the sealing
/// layer seals it with that user's data key).
pub(crate) fn user_of_key(key: &[u8]) -> Option<&str> {
    std::str::from_utf8(key.strip_prefix(PREFIX.as_bytes())?).ok()
}

/// The noted times (`known`: the latest per user, from here or the topic) and those
/// not written yet (`dirty`).
#[derive(Default)]
pub(crate) struct WebhookUpdates {
    known: HashMap<String, u64>,
    dirty: HashMap<String, u64>,
}

impl WebhookUpdates {
    fn note(&mut self, user_id: &str, at_ms: u64) -> bool {
        match self.known.get_mut(user_id) {
            Some(t) if *t >= at_ms => false,
            Some(t) => {
                *t = at_ms;
                true
            }
            None => {
                self.known.insert(user_id.to_string(), at_ms);
                true
            }
        }
    }

    /// Applies a `webhookat/<user_id>` record.
    pub(crate) fn apply(&mut self, user_id: &str, payload: &[u8]) {
        if payload.is_empty() {
            self.known.remove(user_id);
            self.dirty.remove(user_id);
            return;
        }
        match std::str::from_utf8(payload)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
        {
            Some(at) => {
                self.note(user_id, at);
            }
            None => tracing::warn!("malformed webhookat record; skipped"),
        }
    }
}

impl StateStore {
    /// Notes that a webhook about `user_id` was delivered at `at_ms` (a map insert under
    /// a short lock; the latest time wins). Written to the state topic by the flusher.
    pub fn note_webhook_update(&self, user_id: &str, at_ms: u64) {
        let mut w = self
            .webhook_updates
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if w.note(user_id, at_ms) {
            w.dirty.insert(user_id.to_string(), at_ms);
        }
    }

    /// When a webhook about `user_id` was last delivered (Unix ms), by any process whose
    /// times reached the state topic, or by this one.
    pub fn last_webhook_update(&self, user_id: &str) -> Option<u64> {
        self.webhook_updates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .known
            .get(user_id)
            .copied()
    }

    /// Writes the times noted since the last flush (one record per user), for users who
    /// may still be served (an active connection, a live data key). Returns how many.
    pub async fn flush_webhook_updates(&self) -> Result<usize, StateError> {
        let dirty = std::mem::take(
            &mut self
                .webhook_updates
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .dirty,
        );
        // Under the lock of key creation and erasure, as the poll cursors: an erasure
        // comes either after a record (then deletes it) or before the check.
        let _keys = self.user_key_writes.lock().await;
        let mut written = 0;
        for (user_id, at) in dirty {
            let servable = self
                .connection(&user_id)
                .is_some_and(|c| c.status == ConnectionStatus::Active)
                && self
                    .user_keys
                    .as_ref()
                    .is_none_or(|k| k.live_key_id(&user_id).is_some());
            if !servable {
                continue;
            }
            self.write(StateKey::WebhookAt(user_id), Bytes::from(at.to_string()))
                .await?;
            written += 1;
        }
        Ok(written)
    }

    /// Deletes `user_id`'s record (the connection was deleted, or the user erased).
    pub(crate) async fn delete_webhook_update(&self, user_id: &str) -> Result<(), StateError> {
        let known = {
            let mut w = self
                .webhook_updates
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            w.dirty.remove(user_id);
            w.known.contains_key(user_id)
        };
        if known {
            self.write(StateKey::WebhookAt(user_id.to_string()), Bytes::new())
                .await?;
        }
        Ok(())
    }

    /// Flushes every [`FLUSH_EVERY`] until `shutdown`, and once more then.
    pub fn spawn_webhook_update_flusher(self: &Arc<Self>, shutdown: CancellationToken) {
        let store = self.clone();
        tokio::spawn(async move {
            loop {
                let stopping = tokio::select! {
                    _ = shutdown.cancelled() => true,
                    _ = tokio::time::sleep(FLUSH_EVERY) => false,
                };
                if let Err(e) = store.flush_webhook_updates().await {
                    tracing::warn!(error = %e, "writing last_webhook_update times failed; they stay in memory");
                }
                if stopping {
                    return;
                }
            }
        });
    }
}

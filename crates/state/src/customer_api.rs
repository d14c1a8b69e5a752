//! The Terra-compatible API's records: developer accounts, widget sessions and mobile
//! SDK auth tokens (see `pulsegate_schema::{Developer, WidgetSession, AuthToken}`).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use pulsegate_schema::{AuthToken, Developer, OAuthStateClaim, StateKey, WidgetSession};

use crate::{StateError, StateStore};

#[derive(Default)]
pub(crate) struct CustomerMaps {
    developers: HashMap<String, Arc<Developer>>,
    widget_sessions: HashMap<String, Arc<WidgetSession>>,
    /// By the hex SHA-256 of the token.
    auth_tokens: HashMap<String, Arc<AuthToken>>,
    /// Used OAuth states, by nonce: the first claim applied.
    oauth_claims: HashMap<String, Arc<OAuthStateClaim>>,
}

fn decode<T: serde::de::DeserializeOwned>(payload: &[u8], what: &str) -> Option<Arc<T>> {
    if payload.is_empty() {
        return None;
    }
    match serde_json::from_slice::<T>(payload) {
        Ok(v) => Some(Arc::new(v)),
        Err(e) => {
            tracing::warn!(error = %e, "bad {what} record; skipped");
            None
        }
    }
}

impl CustomerMaps {
    /// Applies a record of one of this module's kinds (others are ignored).
    pub(crate) fn apply(&mut self, key: StateKey, payload: &[u8]) {
        match key {
            StateKey::Developer(id) => {
                self.developers.remove(&id);
                if let Some(d) = decode(payload, "developer") {
                    self.developers.insert(id, d);
                }
            }
            StateKey::WidgetSession(id) => {
                self.widget_sessions.remove(&id);
                if let Some(w) = decode(payload, "widget session") {
                    self.widget_sessions.insert(id, w);
                }
            }
            StateKey::AuthToken(hash) => {
                self.auth_tokens.remove(&hash);
                if let Some(t) = decode(payload, "auth token") {
                    self.auth_tokens.insert(hash, t);
                }
            }
            StateKey::OAuthState(nonce) => {
                if payload.is_empty() {
                    self.oauth_claims.remove(&nonce);
                } else if let std::collections::hash_map::Entry::Vacant(slot) =
                    self.oauth_claims.entry(nonce)
                {
                    // The first claim wins; later ones (a replay) change nothing.
                    if let Some(c) = decode(payload, "oauth state claim") {
                        slot.insert(c);
                    }
                }
            }
            _ => {}
        }
    }
}

/// 128 random bits, hex.
fn random_id() -> String {
    use aes_gcm::aead::rand_core::RngCore;
    let mut b = [0u8; 16];
    aes_gcm::aead::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn encode<T: serde::Serialize>(v: &T) -> Result<Bytes, StateError> {
    serde_json::to_vec(v)
        .map(Bytes::from)
        .map_err(|e| StateError::Encode(e.to_string()))
}

impl StateStore {
    pub async fn put_developer(&self, d: &Developer) -> Result<(), StateError> {
        self.write(StateKey::Developer(d.dev_id.clone()), encode(d)?)
            .await
    }

    /// Deletes a developer account (its key stops working at once); false if none.
    pub async fn delete_developer(&self, dev_id: &str) -> Result<bool, StateError> {
        if self.developer(dev_id).is_none() {
            return Ok(false);
        }
        self.write(StateKey::Developer(dev_id.to_string()), Bytes::new())
            .await?;
        Ok(true)
    }

    pub fn developer(&self, dev_id: &str) -> Option<Arc<Developer>> {
        let maps = self.maps.read().expect("state lock");
        maps.customer.developers.get(dev_id).cloned()
    }

    /// Every developer account, by `dev_id`.
    pub fn developers(&self) -> Vec<Arc<Developer>> {
        let maps = self.maps.read().expect("state lock");
        let mut v: Vec<_> = maps.customer.developers.values().cloned().collect();
        v.sort_by(|a, b| a.dev_id.cmp(&b.dev_id));
        v
    }

    pub async fn put_widget_session(&self, w: &WidgetSession) -> Result<(), StateError> {
        self.write(StateKey::WidgetSession(w.session_id.clone()), encode(w)?)
            .await
    }

    /// The session, if it exists and has not expired at `now_ms`.
    pub fn widget_session(&self, session_id: &str, now_ms: u64) -> Option<Arc<WidgetSession>> {
        let maps = self.maps.read().expect("state lock");
        maps.customer
            .widget_sessions
            .get(session_id)
            .filter(|w| w.expires_at_ms > now_ms)
            .cloned()
    }

    /// Stores an SDK auth token under the hex SHA-256 of its value.
    pub async fn put_auth_token(&self, hash: &str, t: &AuthToken) -> Result<(), StateError> {
        self.write(StateKey::AuthToken(hash.to_string()), encode(t)?)
            .await
    }

    /// The unexpired auth token whose SHA-256 (hex) is `hash`.
    pub fn auth_token(&self, hash: &str, now_ms: u64) -> Option<Arc<AuthToken>> {
        let maps = self.maps.read().expect("state lock");
        maps.customer
            .auth_tokens
            .get(hash)
            .filter(|t| t.expires_at_ms > now_ms)
            .cloned()
    }

    /// Deletes an auth token (it was used).
    pub async fn delete_auth_token(&self, hash: &str) -> Result<(), StateError> {
        self.write(StateKey::AuthToken(hash.to_string()), Bytes::new())
            .await
    }

    /// Marks the OAuth flow `nonce` as used: true for exactly one caller across every
    /// process (the first claim on the state topic), false if it was used already.
    pub async fn claim_oauth_state(
        &self,
        nonce: &str,
        expires_at_ms: u64,
    ) -> Result<bool, StateError> {
        let used = |maps: &crate::Maps| maps.customer.oauth_claims.contains_key(nonce);
        if used(&self.maps.read().expect("state lock")) {
            return Ok(false);
        }
        let claim = OAuthStateClaim {
            claim_id: random_id(),
            expires_at_ms,
        };
        self.write(StateKey::OAuthState(nonce.to_string()), encode(&claim)?)
            .await?;
        // The write returned once applied here, after every earlier record on the
        // (single-partition) topic: whoever's claim is kept now is the winner.
        let maps = self.maps.read().expect("state lock");
        Ok(maps
            .customer
            .oauth_claims
            .get(nonce)
            .is_some_and(|c| c.claim_id == claim.claim_id))
    }

    /// Deletes up to `limit` widget sessions and auth tokens that expired before
    /// `now_ms`, so they do not stay on the compacted topic forever. Returns how many.
    pub async fn purge_expired_customer_records(
        &self,
        now_ms: u64,
        limit: usize,
    ) -> Result<usize, StateError> {
        let keys: Vec<StateKey> = {
            let maps = self.maps.read().expect("state lock");
            let c = &maps.customer;
            let sessions = c
                .widget_sessions
                .iter()
                .filter(|(_, w)| w.expires_at_ms <= now_ms)
                .map(|(id, _)| StateKey::WidgetSession(id.clone()));
            let tokens = c
                .auth_tokens
                .iter()
                .filter(|(_, t)| t.expires_at_ms <= now_ms)
                .map(|(h, _)| StateKey::AuthToken(h.clone()));
            let claims = c
                .oauth_claims
                .iter()
                .filter(|(_, t)| t.expires_at_ms <= now_ms)
                .map(|(n, _)| StateKey::OAuthState(n.clone()));
            sessions.chain(tokens).chain(claims).take(limit).collect()
        };
        let n = keys.len();
        for k in keys {
            self.write(k, Bytes::new()).await?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulsegate_bus::embedded::{EmbeddedBus, EmbeddedConfig};
    use pulsegate_bus::Bus;
    use tokio_util::sync::CancellationToken;

    fn session(id: &str, expires_at_ms: u64) -> WidgetSession {
        WidgetSession {
            session_id: id.into(),
            dev_id: "dev".into(),
            reference_id: Some("ref".into()),
            success_url: None,
            failure_url: None,
            providers: vec![],
            language: None,
            expires_at_ms,
            created_at_ms: 0,
        }
    }

    #[tokio::test]
    async fn an_oauth_state_is_claimed_once_across_processes() {
        let dir = tempfile::tempdir().unwrap();
        let bus: Arc<dyn Bus> =
            Arc::new(EmbeddedBus::open(EmbeddedConfig::new(dir.path())).unwrap());
        let a = StateStore::start(bus.clone(), CancellationToken::new())
            .await
            .unwrap();
        let b = StateStore::start(bus.clone(), CancellationToken::new())
            .await
            .unwrap();
        // Both race for the same nonce: exactly one wins.
        let (x, y) = tokio::join!(
            a.claim_oauth_state("n1", 2_000),
            b.claim_oauth_state("n1", 2_000)
        );
        assert!(x.unwrap() ^ y.unwrap(), "exactly one claim wins");
        assert!(!a.claim_oauth_state("n1", 2_000).await.unwrap());
        assert!(!b.claim_oauth_state("n1", 2_000).await.unwrap());
        // A process started later sees it used too.
        let c = StateStore::start(bus.clone(), CancellationToken::new())
            .await
            .unwrap();
        assert!(!c.claim_oauth_state("n1", 2_000).await.unwrap());
        assert!(c.claim_oauth_state("n2", 2_000).await.unwrap());
        // Purged once expired.
        assert_eq!(
            c.purge_expired_customer_records(1_000, 10).await.unwrap(),
            0
        );
        assert_eq!(
            c.purge_expired_customer_records(2_000, 10).await.unwrap(),
            2
        );
    }

    #[tokio::test]
    async fn developers_sessions_and_tokens_round_trip_and_expire() {
        let dir = tempfile::tempdir().unwrap();
        let bus: Arc<dyn Bus> =
            Arc::new(EmbeddedBus::open(EmbeddedConfig::new(dir.path())).unwrap());
        let a = StateStore::start(bus.clone(), CancellationToken::new())
            .await
            .unwrap();
        let dev = Developer {
            dev_id: "dev".into(),
            name: Some("App".into()),
            key_hash: pulsegate_schema::api_key_hash("k"),
            created_at_ms: 1,
        };
        a.put_developer(&dev).await.unwrap();
        a.put_widget_session(&session("live", 2_000)).await.unwrap();
        a.put_widget_session(&session("old", 500)).await.unwrap();
        let t = AuthToken {
            dev_id: "dev".into(),
            expires_at_ms: 2_000,
            created_at_ms: 0,
        };
        a.put_auth_token("h1", &t).await.unwrap();
        assert!(a.widget_session("live", 1_000).is_some());
        assert!(a.widget_session("old", 1_000).is_none(), "expired");
        assert!(a.auth_token("h1", 1_000).is_some());
        assert!(a.auth_token("h1", 2_000).is_none(), "expired");

        // A second view sees the same; purging removes only what expired.
        let b = StateStore::start(bus.clone(), CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(b.developers(), vec![Arc::new(dev)]);
        assert_eq!(
            a.purge_expired_customer_records(1_000, 10).await.unwrap(),
            1
        );
        assert_eq!(
            a.purge_expired_customer_records(1_000, 10).await.unwrap(),
            0
        );
        assert!(a.widget_session("live", 1_000).is_some());
        a.delete_auth_token("h1").await.unwrap();
        assert!(a.auth_token("h1", 0).is_none());
        assert!(a.delete_developer("dev").await.unwrap());
        assert!(!a.delete_developer("dev").await.unwrap());
        b.sync().await.unwrap();
        assert!(b.developer("dev").is_none());
    }
}

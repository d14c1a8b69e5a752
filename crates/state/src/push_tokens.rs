//! Path tokens of the providers whose pushes carry no cryptographic signature (push mode
//! `PathToken` in their `pulsegate_provider::Descriptor`): their push route is
//! `/v1/ingest/<provider>/<token>`, the token a per-deployment random value (256 bits, URL-safe Base64) registered with the
//! provider. Stored under `pushtoken/<slug>` on the state topic (encrypted at rest when
//! a key is configured); a rotation keeps the previous token valid for a grace period.

use std::sync::Arc;

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::OsRng;
use base64::Engine;
use bytes::Bytes;
use pulsegate_schema::{now_ms, Provider, Secret, StateKey};
use serde::{Deserialize, Serialize};

use crate::{StateError, StateStore};

/// A provider's path token, and the one being rotated out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushToken {
    pub provider: Provider,
    pub token: Secret,
    /// The token before the last rotation; accepted until `previous_until_ms`.
    #[serde(default)]
    pub previous: Secret,
    #[serde(default)]
    pub previous_until_ms: u64,
    pub created_at_ms: u64,
}

impl PushToken {
    /// The push path to register with the provider.
    pub fn path(&self) -> String {
        format!(
            "/v1/ingest/{}/{}",
            self.provider.slug(),
            self.token.expose()
        )
    }

    /// The previous token while its grace period lasts.
    pub fn previous_at(&self, now_ms: u64) -> Option<&str> {
        (!self.previous.is_empty() && now_ms < self.previous_until_ms)
            .then(|| self.previous.expose())
    }
}

/// 256 random bits from the OS, URL-safe Base64 without padding (43 characters).
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl StateStore {
    /// The provider's path token, if one was generated.
    pub fn push_token(&self, provider: Provider) -> Option<Arc<PushToken>> {
        self.maps
            .read()
            .expect("state lock")
            .push_tokens
            .get(&provider)
            .cloned()
    }

    /// The provider's path token, generated and stored first if there is none yet.
    pub async fn ensure_push_token(
        &self,
        provider: Provider,
    ) -> Result<Arc<PushToken>, StateError> {
        if let Some(t) = self.push_token(provider) {
            return Ok(t);
        }
        let _single = self.push_token_writes.lock().await;
        if let Some(t) = self.push_token(provider) {
            return Ok(t);
        }
        let t = PushToken {
            provider,
            token: Secret::new(generate_token()),
            previous: Secret::default(),
            previous_until_ms: 0,
            created_at_ms: now_ms(),
        };
        self.put_push_token(&t).await?;
        // Another process may have written one at the same moment: the last write wins
        // everywhere, so answer with what the view holds now.
        Ok(self.push_token(provider).unwrap_or_else(|| Arc::new(t)))
    }

    /// A new path token; the current one stays valid for `grace_ms`.
    pub async fn rotate_push_token(
        &self,
        provider: Provider,
        grace_ms: u64,
    ) -> Result<Arc<PushToken>, StateError> {
        let _single = self.push_token_writes.lock().await;
        let now = now_ms();
        let previous = self.push_token(provider);
        let t = PushToken {
            provider,
            token: Secret::new(generate_token()),
            previous: previous
                .as_ref()
                .map(|p| p.token.clone())
                .unwrap_or_default(),
            previous_until_ms: now.saturating_add(grace_ms),
            created_at_ms: now,
        };
        self.put_push_token(&t).await?;
        Ok(Arc::new(t))
    }

    async fn put_push_token(&self, t: &PushToken) -> Result<(), StateError> {
        let payload = serde_json::to_vec(t).map_err(|e| StateError::Encode(e.to_string()))?;
        self.write(
            StateKey::PushToken(t.provider.slug().to_string()),
            Bytes::from(payload),
        )
        .await
    }

    pub(crate) fn apply_push_token(maps: &mut crate::Maps, slug: &str, payload: &[u8]) {
        let Some(provider) = Provider::from_slug(slug) else {
            tracing::warn!(%slug, "push token for an unknown provider; skipped");
            return;
        };
        maps.push_tokens.remove(&provider);
        if payload.is_empty() {
            return;
        }
        match serde_json::from_slice::<PushToken>(payload) {
            Ok(t) => {
                maps.push_tokens.insert(provider, Arc::new(t));
            }
            Err(_) => tracing::warn!("bad push token record; skipped"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulsegate_bus::embedded::{EmbeddedBus, EmbeddedConfig};
    use pulsegate_bus::Bus;
    use tokio_util::sync::CancellationToken;

    #[test]
    fn tokens_are_long_random_and_url_safe() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }

    #[tokio::test]
    async fn generated_once_rotated_with_grace_and_encrypted_at_rest() {
        let dir = tempfile::tempdir().unwrap();
        let bus: Arc<dyn Bus> =
            Arc::new(EmbeddedBus::open(EmbeddedConfig::new(dir.path())).unwrap());
        let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let cipher = || {
            crate::StateCipher::from_config(&crate::SecurityConfig {
                encryption_key: Secret::new(key.clone()),
                previous_encryption_keys: vec![],
                ..Default::default()
            })
            .unwrap()
        };
        let s = StateStore::start_with_cipher(bus.clone(), CancellationToken::new(), cipher())
            .await
            .unwrap();
        assert!(s.push_token(Provider::Strava).is_none());
        let first = s.ensure_push_token(Provider::Strava).await.unwrap();
        assert_eq!(s.ensure_push_token(Provider::Strava).await.unwrap(), first);
        assert!(first.path().starts_with("/v1/ingest/strava/"));
        let rotated = s.rotate_push_token(Provider::Strava, 60_000).await.unwrap();
        assert_ne!(rotated.token, first.token);
        assert_eq!(rotated.previous, first.token);
        let now = now_ms();
        assert_eq!(rotated.previous_at(now), Some(first.token.expose()));
        assert_eq!(rotated.previous_at(now + 61_000), None);

        // A second view (another process, or a restart) reads the same.
        let again = StateStore::start_with_cipher(bus.clone(), CancellationToken::new(), cipher())
            .await
            .unwrap();
        assert_eq!(again.push_token(Provider::Strava).unwrap(), rotated);
        // Not in clear on the topic.
        let mut c = bus
            .read_from_start(pulsegate_schema::topics::STATE)
            .await
            .unwrap();
        let mut raw = Vec::new();
        while !c.caught_up() {
            raw.extend(
                c.poll(100, std::time::Duration::from_millis(100))
                    .await
                    .unwrap(),
            );
        }
        let token = rotated.token.expose().as_bytes();
        assert!(raw.iter().any(|r| r.key.as_ref() == b"pushtoken/strava"));
        assert!(!raw
            .iter()
            .any(|r| r.payload.windows(token.len()).any(|w| w == token)));
    }

    #[tokio::test]
    async fn concurrent_first_reads_generate_one_token() {
        let dir = tempfile::tempdir().unwrap();
        let bus: Arc<dyn Bus> =
            Arc::new(EmbeddedBus::open(EmbeddedConfig::new(dir.path())).unwrap());
        let s = Arc::new(
            StateStore::start(bus.clone(), CancellationToken::new())
                .await
                .unwrap(),
        );
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move { s.ensure_push_token(Provider::Garmin).await.unwrap() })
            })
            .collect();
        let stored = s.ensure_push_token(Provider::Garmin).await.unwrap();
        for t in tasks {
            assert_eq!(t.await.unwrap().token, stored.token);
        }
        // One generation written: no caller was ever handed a token that a concurrent
        // write then replaced.
        let mut c = bus
            .read_from_start(pulsegate_schema::topics::STATE)
            .await
            .unwrap();
        let mut written = 0;
        while !c.caught_up() {
            let batch = c
                .poll(100, std::time::Duration::from_millis(100))
                .await
                .unwrap();
            written += batch
                .iter()
                .filter(|r| r.key.as_ref() == b"pushtoken/garmin")
                .count();
        }
        assert_eq!(written, 1);
    }
}

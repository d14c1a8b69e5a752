//! Encryption at rest for the state topic's secret-bearing records (connections with
//! their tokens, providers' credentials, destinations with their signing secrets):
//! AES-256-GCM with a random 96-bit nonce per record (state writes are rare). The key
//! comes from `[security]` (the binary fills it from `key_file` or a generated key file
//! when not set); previous keys stay readable during a key rotation. The whole log is
//! sealed below this as well (see [`crate::seal`]); this layer keeps those records
//! encrypted on a bus without it.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use pulsegate_schema::Secret;

/// Marks an encrypted payload: `enc1:` ‖ key id (4 bytes) ‖ nonce (12) ‖ ciphertext+tag.
const MAGIC: &[u8] = b"enc1:";

/// `[security]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// Base64 of 32 random bytes (`openssl rand -base64 32`). Never logged.
    pub encryption_key: Secret,
    /// Keys of earlier rotations, still used to read records written with them.
    pub previous_encryption_keys: Vec<Secret>,
    /// File holding the key (first line; further lines are previous keys), used when
    /// `encryption_key` is empty. Default: `pulsegate.key` beside the config file,
    /// generated (mode 0600) when missing. Never inside the data dir.
    pub key_file: Option<std::path::PathBuf>,
    /// Read log records written before encryption at rest (in clear) instead of
    /// refusing them. Only while migrating an older data dir; off by default, so an
    /// altered record is an error, never silently read.
    pub accept_unsealed_records: bool,
    /// The config file this was read from (set by the loader, not a setting).
    #[serde(skip)]
    pub config_file: Option<std::path::PathBuf>,
}

/// Parses a key: Base64 of 32 bytes. Returns its id (first 4 bytes of its SHA-256) and
/// its bytes.
pub(crate) fn parse_key(secret: &Secret) -> Result<([u8; 4], [u8; 32]), CryptoError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(secret.expose().trim())
        .map_err(|_| CryptoError::BadKey)?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadKey)?;
    let digest = Sha256::digest(bytes);
    Ok(([digest[0], digest[1], digest[2], digest[3]], bytes))
}

/// A new random key (Base64 of 32 bytes from the OS's generator).
pub fn generate_key() -> Secret {
    use aes_gcm::aead::rand_core::RngCore;
    let mut k = [0u8; 32];
    OsRng.fill_bytes(&mut k);
    Secret::new(base64::engine::general_purpose::STANDARD.encode(k))
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("security.encryption_key must be Base64 of exactly 32 bytes")]
    BadKey,
    #[error("record was encrypted with a key that is not configured")]
    UnknownKey,
    #[error("record does not decrypt (corrupt, or not written by this deployment)")]
    Corrupt,
}

struct Key {
    id: [u8; 4],
    cipher: Aes256Gcm,
}

impl Key {
    fn parse(secret: &Secret) -> Result<Self, CryptoError> {
        let (id, bytes) = parse_key(secret)?;
        Ok(Self {
            id,
            cipher: Aes256Gcm::new_from_slice(&bytes).map_err(|_| CryptoError::BadKey)?,
        })
    }
}

/// The configured keys.
pub struct StateCipher {
    current: Key,
    previous: Vec<Key>,
}

impl StateCipher {
    /// `None` when no key is configured.
    pub fn from_config(c: &SecurityConfig) -> Result<Option<Self>, CryptoError> {
        if c.encryption_key.is_empty() {
            return Ok(None);
        }
        Ok(Some(Self {
            current: Key::parse(&c.encryption_key)?,
            previous: c
                .previous_encryption_keys
                .iter()
                .map(Key::parse)
                .collect::<Result<_, _>>()?,
        }))
    }

    pub fn encrypt(&self, plaintext: &[u8]) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ct = self
            .current
            .cipher
            .encrypt(&nonce, plaintext)
            .expect("AES-GCM encryption of an in-memory buffer");
        let mut out = Vec::with_capacity(MAGIC.len() + 4 + 12 + ct.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.current.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// The payload encrypted under the current key, when it was encrypted under a
    /// previous one (`Ok(None)`: in clear, or already current).
    pub fn reencrypt(&self, payload: &[u8]) -> Result<Option<Vec<u8>>, CryptoError> {
        if self.previous_key_of(payload).is_none() {
            return Ok(None);
        }
        let rest = payload.strip_prefix(MAGIC).unwrap_or_default();
        let plain = decrypt_with(Some(self), rest)?;
        Ok(Some(self.encrypt(&plain)))
    }

    /// The id of the key `payload` is encrypted with, when that is not the current key.
    pub fn previous_key_of(&self, payload: &[u8]) -> Option<[u8; 4]> {
        let id: [u8; 4] = payload.strip_prefix(MAGIC)?.get(..4)?.try_into().ok()?;
        (id != self.current.id).then_some(id)
    }

    /// Decrypts an encrypted payload; `Ok(None)` for a payload written in clear.
    pub fn decrypt(&self, payload: &[u8]) -> Result<Option<Vec<u8>>, CryptoError> {
        let Some(rest) = payload.strip_prefix(MAGIC) else {
            return Ok(None);
        };
        decrypt_with(Some(self), rest).map(Some)
    }
}

/// True if `payload` is an encrypted record.
pub fn is_encrypted(payload: &[u8]) -> bool {
    payload.starts_with(MAGIC)
}

fn decrypt_with(c: Option<&StateCipher>, rest: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let c = c.ok_or(CryptoError::UnknownKey)?;
    if rest.len() < 4 + 12 + 16 {
        return Err(CryptoError::Corrupt);
    }
    let (id, rest) = rest.split_at(4);
    let (nonce, ct) = rest.split_at(12);
    let key = std::iter::once(&c.current)
        .chain(c.previous.iter())
        .find(|k| k.id == id)
        .ok_or(CryptoError::UnknownKey)?;
    key.cipher
        .decrypt(Nonce::from_slice(nonce), ct)
        .map_err(|_| CryptoError::Corrupt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> Secret {
        Secret::new(base64::engine::general_purpose::STANDARD.encode([b; 32]))
    }

    #[test]
    fn round_trip_rotation_and_tamper() {
        let old = StateCipher::from_config(&SecurityConfig {
            encryption_key: key(1),
            ..Default::default()
        })
        .unwrap()
        .unwrap();
        let sealed = old.encrypt(b"client_secret=abc");
        assert!(is_encrypted(&sealed));
        assert!(!sealed.windows(3).any(|w| w == b"abc"));
        assert_eq!(old.decrypt(&sealed).unwrap().unwrap(), b"client_secret=abc");
        assert_eq!(old.decrypt(b"{\"plain\":1}").unwrap(), None);
        // Two encryptions differ (fresh nonce).
        assert_ne!(old.encrypt(b"x"), old.encrypt(b"x"));

        let rotated = StateCipher::from_config(&SecurityConfig {
            encryption_key: key(2),
            previous_encryption_keys: vec![key(1)],
            ..Default::default()
        })
        .unwrap()
        .unwrap();
        assert_eq!(
            rotated.decrypt(&sealed).unwrap().unwrap(),
            b"client_secret=abc"
        );
        let other = StateCipher::from_config(&SecurityConfig {
            encryption_key: key(3),
            ..Default::default()
        })
        .unwrap()
        .unwrap();
        assert_eq!(other.decrypt(&sealed), Err(CryptoError::UnknownKey));
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(old.decrypt(&tampered), Err(CryptoError::Corrupt));
        assert_eq!(old.decrypt(b"enc1:ab"), Err(CryptoError::Corrupt));
    }

    #[test]
    fn bad_keys_and_no_key() {
        let bad = |s: &str| {
            StateCipher::from_config(&SecurityConfig {
                encryption_key: Secret::new(s),
                ..Default::default()
            })
            .err()
        };
        assert_eq!(bad("not base64!"), Some(CryptoError::BadKey));
        assert_eq!(bad("AAAA"), Some(CryptoError::BadKey));
        assert!(StateCipher::from_config(&SecurityConfig::default())
            .unwrap()
            .is_none());
    }
}

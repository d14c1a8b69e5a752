//! Sealing of bus record values at rest (AES-256-GCM with ring's assembly: about 5x
//! RustCrypto's `aes-gcm` on this machine), used by [`SealingBus`]
//! (crate::SealingBus) for every topic.
//!
//! A value sealed with the deployment key is `0xC5` ‖ key id (4) ‖ session (16) ‖
//! counter (8, BE) ‖ ciphertext ‖ tag (16). Each process start draws a random 128-bit
//! session and seals with a subkey `HMAC-SHA256(key, "pulsegate-seal-v1" ‖ session)`;
//! the nonce is a per-session counter. So nonces never repeat under one subkey (random
//! 96-bit nonces under one key would reach NIST's 2^32-record bound in about a day at
//! full ingest load), and no state has to survive a restart. The AAD is the topic and
//! the record key, so a value cannot be moved to another topic or key unnoticed. The
//! key id names the deployment key (first 4 bytes of its SHA-256), so previous keys
//! still open what they sealed.
//!
//! A record about one user (see [`crate::user_keys`]) is sealed with that user's data
//! key instead: `0xC6` ‖ user key id (8, random) ‖ session (16) ‖ counter (8) ‖
//! ciphertext ‖ tag, under `HMAC-SHA256(user key, "pulsegate-seal-user-v1" ‖ session)`
//! and the same process-wide counter. The first byte says which kind of key sealed the
//! value; once the user's key is erased, the value is reported as erased, not damaged.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::OsRng;
use hmac::{Hmac, Mac};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use sha2::Sha256;

use crate::crypto::{parse_key, CryptoError, SecurityConfig};
use crate::user_keys::{Lookup, UserKey, UserKeyId, UserKeys};

/// First byte of a value sealed with the deployment key (never the first byte of JSON).
pub const SEALED_V1: u8 = 0xC5;
/// First byte of a value sealed with a user's data key.
pub const SEALED_USER_V1: u8 = 0xC6;
const HEADER: usize = 1 + 4 + 16 + 8;
const USER_HEADER: usize = 1 + 8 + 16 + 8;
const TAG: usize = 16;
/// Bytes a sealed value adds to its plaintext (deployment key).
pub const OVERHEAD: usize = HEADER + TAG;
/// Bytes a value sealed with a user's data key adds to its plaintext.
pub const USER_OVERHEAD: usize = USER_HEADER + TAG;
const LABEL: &[u8] = b"pulsegate-seal-v1";
pub(crate) const USER_LABEL: &[u8] = b"pulsegate-seal-user-v1";
/// Subkeys of other sessions kept for opening; more only after many restarts.
const CACHE_MAX: usize = 4096;

/// Why a value does not open. Never carries key material, only the key id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error(
        "the value is not sealed (altered, or written before encryption at rest: then set \
         security.accept_unsealed_records = true while migrating)"
    )]
    NotSealed,
    #[error("the sealed value is cut short")]
    Truncated,
    #[error(
        "sealed with key id {}, which is not configured (security.encryption_key, \
         security.previous_encryption_keys or the key file)", hex::encode(.0)
    )]
    UnknownKey([u8; 4]),
    #[error("the sealed value fails authentication under key id {} (altered, or moved \
             from another topic or key)", hex::encode(.0))]
    Tampered([u8; 4]),
    /// Not damage: the user deauthorized and their data key was erased on purpose.
    #[error("sealed with user data key {}, which was erased (the user deauthorized)", hex::encode(.0))]
    Erased(UserKeyId),
    #[error(
        "sealed with user data key {}, which is neither on the state topic nor erased \
         (state topic damaged or incomplete)", hex::encode(.0)
    )]
    UnknownUserKey(UserKeyId),
    #[error("the sealed value fails authentication under user data key {} (altered, or \
             moved from another topic or key)", hex::encode(.0))]
    UserTampered(UserKeyId),
}

struct MasterKey {
    id: [u8; 4],
    bytes: [u8; 32],
}

impl MasterKey {
    fn subkey(&self, session: &[u8; 16]) -> LessSafeKey {
        derive_subkey(&self.bytes, LABEL, session)
    }
}

/// The session's AES-256-GCM key: `HMAC-SHA256(key, label ‖ session)`.
pub(crate) fn derive_subkey(key: &[u8; 32], label: &[u8], session: &[u8; 16]) -> LessSafeKey {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(label);
    mac.update(session);
    let key = UnboundKey::new(&AES_256_GCM, &mac.finalize().into_bytes())
        .expect("a 32-byte AES-256-GCM key");
    LessSafeKey::new(key)
}

/// A sealing session: key id and the session drawn at a process start.
type SessionId = ([u8; 4], [u8; 16]);

/// Seals and opens record values with the deployment keys.
pub struct Sealer {
    current_id: [u8; 4],
    session: [u8; 16],
    cipher: LessSafeKey,
    counter: AtomicU64,
    keys: Vec<MasterKey>,
    /// Subkeys of sessions seen while opening, by (key id, session).
    opened: RwLock<HashMap<SessionId, Arc<LessSafeKey>>>,
    accept_unsealed: bool,
    /// Users' data keys, filled by the [`StateStore`](crate::StateStore) reading the
    /// state topic; empty (deployment key for everything) until one does.
    users: Arc<UserKeys>,
}

impl Sealer {
    /// `None` when no key is configured.
    pub fn from_config(c: &SecurityConfig) -> Result<Option<Self>, CryptoError> {
        if c.encryption_key.is_empty() {
            return Ok(None);
        }
        let mut keys = Vec::with_capacity(1 + c.previous_encryption_keys.len());
        for k in std::iter::once(&c.encryption_key).chain(&c.previous_encryption_keys) {
            let (id, bytes) = parse_key(k)?;
            keys.push(MasterKey { id, bytes });
        }
        let mut session = [0u8; 16];
        OsRng.fill_bytes(&mut session);
        let cipher = keys[0].subkey(&session);
        Ok(Some(Self {
            current_id: keys[0].id,
            session,
            cipher,
            counter: AtomicU64::new(0),
            keys,
            opened: RwLock::new(HashMap::new()),
            accept_unsealed: c.accept_unsealed_records,
            users: Arc::new(UserKeys::new(session)),
        }))
    }

    /// The users' data keys this sealer uses: give them to the
    /// [`StateStore`](crate::StateStore) on the same bus, which keeps them current.
    pub fn user_keys(&self) -> Arc<UserKeys> {
        self.users.clone()
    }

    /// The id of the key that seals (hex), safe to log.
    pub fn key_id(&self) -> String {
        hex::encode(self.current_id)
    }

    /// Seals `plaintext` for `topic`/`key`. An empty value stays empty: it is a
    /// compacted topic's deletion marker, which the log must still recognise.
    /// A record about a user with a live data key is sealed with that key (see
    /// [`crate::user_keys`]), anything else with the deployment key.
    pub fn seal(&self, topic: &str, key: &[u8], plaintext: &[u8]) -> Vec<u8> {
        if plaintext.is_empty() {
            return Vec::new();
        }
        if let Some(user) = self.users.sealing_key(topic, key, plaintext) {
            return self.seal_user(&user, topic, key, plaintext);
        }
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut out = Vec::with_capacity(plaintext.len() + OVERHEAD);
        out.push(SEALED_V1);
        out.extend_from_slice(&self.current_id);
        out.extend_from_slice(&self.session);
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(plaintext);
        let nonce = nonce_of(&out[HEADER - 8..HEADER]);
        let tag = self
            .cipher
            .seal_in_place_separate_tag(nonce, Aad::from(aad(topic, key)), &mut out[HEADER..])
            .expect("AES-GCM seals any in-memory length below 64 GiB");
        out.extend_from_slice(tag.as_ref());
        out
    }

    fn seal_user(&self, user: &UserKey, topic: &str, key: &[u8], plaintext: &[u8]) -> Vec<u8> {
        // One counter for every subkey of this session: unique under each of them.
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut out = Vec::with_capacity(plaintext.len() + USER_OVERHEAD);
        out.push(SEALED_USER_V1);
        out.extend_from_slice(&user.id);
        out.extend_from_slice(&self.session);
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(plaintext);
        let nonce = nonce_of(&out[USER_HEADER - 8..USER_HEADER]);
        let tag = user
            .subkey(&self.session)
            .seal_in_place_separate_tag(nonce, Aad::from(aad(topic, key)), &mut out[USER_HEADER..])
            .expect("AES-GCM seals any in-memory length below 64 GiB");
        out.extend_from_slice(tag.as_ref());
        out
    }

    /// Opens a value sealed by [`seal`](Self::seal) with any configured key. An empty
    /// value opens to empty; an unsealed one is refused unless
    /// `security.accept_unsealed_records` is set (reading a log written before
    /// encryption at rest), in which case it is returned as is.
    pub fn open(&self, topic: &str, key: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.is_empty() {
            return Ok(Vec::new());
        }
        if sealed[0] == SEALED_USER_V1 {
            return self.open_user(topic, key, sealed);
        }
        if sealed[0] != SEALED_V1 {
            return if self.accept_unsealed {
                Ok(sealed.to_vec())
            } else {
                Err(OpenError::NotSealed)
            };
        }
        if sealed.len() < OVERHEAD {
            return Err(OpenError::Truncated);
        }
        let id: [u8; 4] = sealed[1..5].try_into().expect("4 bytes");
        let session: [u8; 16] = sealed[5..21].try_into().expect("16 bytes");
        // Ciphertext and tag, opened in place: the one copy out of the record's buffer.
        let mut out = sealed[HEADER..].to_vec();
        let nonce = nonce_of(&sealed[HEADER - 8..HEADER]);
        let aad = Aad::from(aad(topic, key));
        let opened = if id == self.current_id && session == self.session {
            self.cipher
                .open_in_place(nonce, aad, &mut out)
                .map(|p| p.len())
        } else {
            self.subkey_for(id, session)?
                .open_in_place(nonce, aad, &mut out)
                .map(|p| p.len())
        };
        let len = opened.map_err(|_| OpenError::Tampered(id))?;
        out.truncate(len);
        Ok(out)
    }

    fn open_user(&self, topic: &str, key: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < USER_OVERHEAD {
            return Err(OpenError::Truncated);
        }
        let id: UserKeyId = sealed[1..9].try_into().expect("8 bytes");
        let session: [u8; 16] = sealed[9..25].try_into().expect("16 bytes");
        let user = match self.users.lookup(&id) {
            Lookup::Live(k) => k,
            Lookup::Erased => return Err(OpenError::Erased(id)),
            Lookup::Unknown => return Err(OpenError::UnknownUserKey(id)),
        };
        let mut out = sealed[USER_HEADER..].to_vec();
        let nonce = nonce_of(&sealed[USER_HEADER - 8..USER_HEADER]);
        let len = user
            .subkey(&session)
            .open_in_place(nonce, Aad::from(aad(topic, key)), &mut out)
            .map(|p| p.len())
            .map_err(|_| OpenError::UserTampered(id))?;
        out.truncate(len);
        Ok(out)
    }

    fn subkey_for(&self, id: [u8; 4], session: [u8; 16]) -> Result<Arc<LessSafeKey>, OpenError> {
        if let Some(c) = self.opened.read().expect("seal cache").get(&(id, session)) {
            return Ok(c.clone());
        }
        let master = self
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or(OpenError::UnknownKey(id))?;
        let cipher = Arc::new(master.subkey(&session));
        let mut cache = self.opened.write().expect("seal cache");
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert((id, session), cipher.clone());
        Ok(cipher)
    }
}

/// Which key sealed a stored value (read from its header, without opening it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealedWith {
    /// Empty: a deletion marker, never sealed.
    Nothing,
    /// The deployment key that seals now.
    Current,
    /// Another deployment key (its id).
    Previous([u8; 4]),
    /// A user's data key.
    User,
    /// Not sealed (written before encryption at rest), or not a sealed value at all.
    Unsealed,
}

impl Sealer {
    pub fn sealed_with(&self, sealed: &[u8]) -> SealedWith {
        match sealed.first() {
            None => SealedWith::Nothing,
            Some(&SEALED_USER_V1) => SealedWith::User,
            Some(&SEALED_V1) => match sealed.get(1..5).and_then(|b| <[u8; 4]>::try_from(b).ok()) {
                Some(id) if id == self.current_id => SealedWith::Current,
                Some(id) => SealedWith::Previous(id),
                None => SealedWith::Unsealed,
            },
            Some(_) => SealedWith::Unsealed,
        }
    }
}

/// The user data key id a value was sealed with, if a user's key sealed it.
pub(crate) fn user_key_id_of(sealed: &[u8]) -> Option<UserKeyId> {
    match sealed.first() {
        Some(&SEALED_USER_V1) => sealed.get(1..9)?.try_into().ok(),
        _ => None,
    }
}

/// The nonce: 4 zero bytes ‖ the session's counter (unique per subkey by construction).
fn nonce_of(counter: &[u8]) -> Nonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(counter);
    Nonce::assume_unique_for_key(n)
}

/// Topic and record key, unambiguously joined (`0xFF` never occurs in a topic name).
fn aad(topic: &str, key: &[u8]) -> Vec<u8> {
    let mut a = Vec::with_capacity(topic.len() + 1 + key.len());
    a.extend_from_slice(topic.as_bytes());
    a.push(0xFF);
    a.extend_from_slice(key);
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use pulsegate_schema::Secret;

    fn key(b: u8) -> Secret {
        Secret::new(base64::engine::general_purpose::STANDARD.encode([b; 32]))
    }

    fn sealer(current: u8, previous: &[u8]) -> Sealer {
        Sealer::from_config(&SecurityConfig {
            encryption_key: key(current),
            previous_encryption_keys: previous.iter().map(|b| key(*b)).collect(),
            ..Default::default()
        })
        .unwrap()
        .unwrap()
    }

    #[test]
    fn seals_opens_and_hides_the_value() {
        let s = sealer(1, &[]);
        let v = s.seal("raw", b"strava:1", b"{\"name\":\"Morning Ride\"}");
        assert_eq!(v[0], SEALED_V1);
        assert!(!v.windows(7).any(|w| w == b"Morning"));
        assert_eq!(
            s.open("raw", b"strava:1", &v).unwrap(),
            b"{\"name\":\"Morning Ride\"}"
        );
        // Fresh nonce per record: the same value seals differently.
        assert_ne!(
            v,
            s.seal("raw", b"strava:1", b"{\"name\":\"Morning Ride\"}")
        );
        // Deletion markers stay empty.
        assert!(s.seal("state", b"k", b"").is_empty());
        assert!(s.open("state", b"k", b"").unwrap().is_empty());
    }

    #[test]
    fn tampering_and_moving_are_errors() {
        let s = sealer(1, &[]);
        let v = s.seal("events", b"u1", b"heart rate 61");
        for i in [0, 3, 10, 25, HEADER, v.len() - 1] {
            let mut t = v.clone();
            t[i] ^= 0x01;
            assert!(s.open("events", b"u1", &t).is_err(), "flip at {i}");
        }
        assert_eq!(
            s.open("dead_letters", b"u1", &v),
            Err(OpenError::Tampered(v[1..5].try_into().unwrap()))
        );
        assert!(matches!(
            s.open("events", b"u2", &v),
            Err(OpenError::Tampered(_))
        ));
        assert_eq!(
            s.open("events", b"u1", &v[..OVERHEAD - 1]),
            Err(OpenError::Truncated)
        );
        assert_eq!(
            s.open("events", b"u1", b"{\"plain\":1}"),
            Err(OpenError::NotSealed)
        );
    }

    #[test]
    fn rotation_and_a_wrong_key() {
        let old = sealer(1, &[]);
        let v = old.seal("state", b"destination/d1", b"whsec_abc");
        // A new key with the old one as previous reads it (in another session).
        let rotated = sealer(2, &[1]);
        assert_eq!(
            rotated.open("state", b"destination/d1", &v).unwrap(),
            b"whsec_abc"
        );
        let w = rotated.seal("state", b"destination/d1", b"whsec_new");
        assert_ne!(w[1..5], v[1..5]);
        // Without the old key: an error naming the key id, never the key.
        let other = sealer(3, &[]);
        let err = other.open("state", b"destination/d1", &v).unwrap_err();
        let id = hex::encode(&v[1..5]);
        assert_eq!(err, OpenError::UnknownKey(v[1..5].try_into().unwrap()));
        let text = err.to_string();
        assert!(text.contains(&id), "{text}");
        assert!(!text.contains(key(1).expose()), "{text}");
        assert_eq!(old.key_id(), id);
    }

    #[test]
    fn unsealed_values_only_when_accepted() {
        let s = Sealer::from_config(&SecurityConfig {
            encryption_key: key(1),
            accept_unsealed_records: true,
            ..Default::default()
        })
        .unwrap()
        .unwrap();
        assert_eq!(s.open("raw", b"k", b"{\"a\":1}").unwrap(), b"{\"a\":1}");
        // A sealed value is still authenticated.
        let mut v = s.seal("raw", b"k", b"x");
        *v.last_mut().unwrap() ^= 1;
        assert!(s.open("raw", b"k", &v).is_err());
    }

    proptest::proptest! {
        #[test]
        fn round_trip_and_no_panic(
            topic in "[a-z_]{1,12}",
            key in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
            value in proptest::collection::vec(proptest::num::u8::ANY, 0..600),
            junk in proptest::collection::vec(proptest::num::u8::ANY, 0..80),
        ) {
            let s = sealer(9, &[8]);
            let v = s.seal(&topic, &key, &value);
            proptest::prop_assert_eq!(s.open(&topic, &key, &v).unwrap(), value);
            // Any bytes: an answer, never a panic.
            let _ = s.open(&topic, &key, &junk);
            let mut j = junk.clone();
            j.insert(0, SEALED_V1);
            proptest::prop_assert!(s.open(&topic, &key, &j).is_err());
        }
    }
}

//! Destination secrets and the two signature schemes every delivery carries.
//!
//! A secret is `whsec_` + base64 of 24 to 64 random bytes (the `whsec_` prefix is
//! optional when a customer supplies one). It signs two ways:
//!
//! * `terra-signature: t=<t>,v1=<hex HMAC-SHA256(key = the whole secret string as
//!   UTF-8, "<t>.<body>")>`: Terra's scheme, so existing Terra verification code works.
//! * Standard Webhooks: `webhook-signature: v1,<base64 HMAC-SHA256(key = the decoded
//!   secret bytes, "<webhook-id>.<t>.<body>")>`. Several keys (rotation) give several
//!   space-separated signatures; receivers accept any that matches.
//!
//! Errors never contain the secret.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use pulsegate_schema::{Destination, Secret};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The optional prefix of a symmetric Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Fewest key bytes a secret may decode to (Standard Webhooks).
pub const MIN_KEY_BYTES: usize = 24;
/// Most key bytes a secret may decode to (Standard Webhooks).
pub const MAX_KEY_BYTES: usize = 64;

/// Why a supplied secret was refused. Never carries the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("secret is empty")]
    Empty,
    #[error(
        "secret must be base64 (standard alphabet, padded), optionally prefixed with `whsec_`"
    )]
    NotBase64,
    #[error("secret decodes to {0} bytes; 24 to 64 are required")]
    BadLength(usize),
}

/// Checks a customer-supplied secret; returns it unchanged when valid.
pub fn parse_secret(s: &str) -> Result<Secret, SecretError> {
    decode_key(s)?;
    Ok(Secret::new(s))
}

/// A fresh secret: `whsec_` + base64 of 32 random bytes.
pub fn generate_secret() -> Secret {
    let bytes: [u8; 32] = rand::random();
    Secret::new(format!("{SECRET_PREFIX}{}", B64.encode(bytes)))
}

fn decode_key(s: &str) -> Result<Vec<u8>, SecretError> {
    let b64 = s.strip_prefix(SECRET_PREFIX).unwrap_or(s);
    if b64.is_empty() {
        return Err(SecretError::Empty);
    }
    let key = B64.decode(b64).map_err(|_| SecretError::NotBase64)?;
    if !(MIN_KEY_BYTES..=MAX_KEY_BYTES).contains(&key.len()) {
        return Err(SecretError::BadLength(key.len()));
    }
    Ok(key)
}

/// A destination secret prepared for signing: both HMAC keys are scheduled once, so
/// each signature costs only the message hashing.
#[derive(Clone)]
pub struct SigningKey {
    /// The secret string it was made from (to notice rotation).
    source: Secret,
    /// Keyed with the whole secret string (Terra).
    terra: HmacSha256,
    /// Keyed with the decoded secret bytes (Standard Webhooks).
    standard: HmacSha256,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(***)")
    }
}

impl SigningKey {
    pub fn new(secret: &Secret) -> Result<Self, SecretError> {
        let key = decode_key(secret.expose())?;
        Ok(Self {
            source: secret.clone(),
            terra: HmacSha256::new_from_slice(secret.expose().as_bytes())
                .expect("HMAC takes keys of any length"),
            standard: HmacSha256::new_from_slice(&key).expect("HMAC takes keys of any length"),
        })
    }

    /// True if this key was made from `secret`.
    pub fn is_for(&self, secret: &Secret) -> bool {
        &self.source == secret
    }
}

/// A destination's signing keys: its secret and, while a rotation's overlap lasts
/// (`Destination::previous_secret` until `previous_secret_until_ms`), the one before,
/// so a receiver verifying with either accepts every delivery of the switch-over (both
/// official verifiers accept any one of several signatures).
#[derive(Clone, Debug)]
pub struct SigningKeys {
    /// The current key first, then the previous one, if any.
    keys: Vec<SigningKey>,
    previous_until_ms: u64,
}

impl SigningKeys {
    pub fn of(d: &Destination) -> Result<Self, SecretError> {
        let mut keys = vec![SigningKey::new(&d.secret)?];
        if let Some(previous) = d.previous_secret.as_ref() {
            if d.previous_secret_until_ms > 0 {
                keys.push(SigningKey::new(previous)?);
            }
        }
        Ok(Self {
            keys,
            previous_until_ms: d.previous_secret_until_ms,
        })
    }

    /// True if these keys were made from `d`'s secrets as they are now.
    pub fn is_for(&self, d: &Destination) -> bool {
        let previous = match (self.keys.get(1), d.previous_secret.as_ref()) {
            (Some(k), Some(p)) => k.is_for(p),
            (None, None) => true,
            (None, Some(_)) => d.previous_secret_until_ms == 0,
            (Some(_), None) => false,
        };
        self.keys[0].is_for(&d.secret)
            && previous
            && self.previous_until_ms == d.previous_secret_until_ms
    }

    /// The keys that sign an attempt at `now_ms`: the previous one only before its end.
    /// (Attempts pass their signature's whole second: the end is kept to the second.)
    pub fn active(&self, now_ms: u64) -> &[SigningKey] {
        if now_ms < self.previous_until_ms {
            &self.keys
        } else {
            &self.keys[..1]
        }
    }
}

/// The `terra-signature` header value for one attempt at unix time `t`.
pub fn terra_signature(key: &SigningKey, t: u64, body: &[u8]) -> String {
    terra_signature_multi(std::slice::from_ref(key), t, body)
}

/// `t=<t>,v1=<sig>[,v1=<sig>…]`, one `v1` per key (rotation).
pub fn terra_signature_multi(keys: &[SigningKey], t: u64, body: &[u8]) -> String {
    let ts = t.to_string();
    let mut out = format!("t={ts}");
    for key in keys {
        let mut mac = key.terra.clone();
        mac.update(ts.as_bytes());
        mac.update(b".");
        mac.update(body);
        out.push_str(",v1=");
        out.push_str(&hex::encode(mac.finalize().into_bytes()));
    }
    out
}

/// The `webhook-signature` header value (Standard Webhooks) for one attempt.
pub fn standard_signature(key: &SigningKey, id: &str, t: u64, body: &[u8]) -> String {
    standard_signature_multi(std::slice::from_ref(key), id, t, body)
}

/// `v1,<sig>[ v1,<sig>…]`, one signature per key (rotation).
pub fn standard_signature_multi(keys: &[SigningKey], id: &str, t: u64, body: &[u8]) -> String {
    let ts = t.to_string();
    let mut out = String::with_capacity(keys.len() * 48);
    for (i, key) in keys.iter().enumerate() {
        let mut mac = key.standard.clone();
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(ts.as_bytes());
        mac.update(b".");
        mac.update(body);
        if i > 0 {
            out.push(' ');
        }
        out.push_str("v1,");
        out.push_str(&B64.encode(mac.finalize().into_bytes()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;

    fn destination(secret: &str, previous: Option<&str>, until_ms: u64) -> Destination {
        serde_json::from_value(serde_json::json!({
            "id": "d", "url": "https://example.com/hook", "secret": secret,
            "previous_secret": previous, "previous_secret_until_ms": until_ms,
        }))
        .unwrap()
    }

    #[test]
    fn the_previous_secret_signs_beside_the_new_one_until_its_end_only() {
        let (new, old) = (generate_secret(), generate_secret());
        let d = destination(new.expose(), Some(old.expose()), 10_000);
        let keys = SigningKeys::of(&d).unwrap();
        let body = b"{}";
        let both = terra_signature_multi(keys.active(9_999), 9, body);
        let alone = |s: &Secret| terra_signature(&SigningKey::new(s).unwrap(), 9, body);
        let v1 = |h: &str| h.split_once(",v1=").unwrap().1.to_string();
        assert_eq!(both, format!("{},v1={}", alone(&new), v1(&alone(&old))));
        assert_eq!(keys.active(10_000).len(), 1, "ended");
        assert_eq!(
            standard_signature_multi(keys.active(10_000), "msg_1", 9, body),
            standard_signature(&SigningKey::new(&new).unwrap(), "msg_1", 9, body)
        );
        // Until 0: no overlap, whatever is stored beside it.
        let d0 = destination(new.expose(), Some(old.expose()), 0);
        assert_eq!(SigningKeys::of(&d0).unwrap().active(0).len(), 1);
    }

    #[test]
    fn signing_keys_notice_any_change_of_the_secrets_or_the_end() {
        let (new, old) = (generate_secret(), generate_secret());
        let d = destination(new.expose(), Some(old.expose()), 10_000);
        let keys = SigningKeys::of(&d).unwrap();
        assert!(keys.is_for(&d));
        assert!(!keys.is_for(&destination(new.expose(), None, 0)));
        assert!(!keys.is_for(&destination(new.expose(), Some(old.expose()), 20_000)));
        assert!(!keys.is_for(&destination(old.expose(), Some(new.expose()), 10_000)));
        let plain = SigningKeys::of(&destination(new.expose(), None, 0)).unwrap();
        assert!(plain.is_for(&destination(new.expose(), None, 0)));
        assert!(!plain.is_for(&d));
    }

    #[test]
    fn standard_webhooks_spec_vector() {
        let key = SigningKey::new(&Secret::new(SPEC_SECRET)).unwrap();
        assert_eq!(
            standard_signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, SPEC_BODY),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn terra_signature_vector() {
        // Computed independently with Python's standard library:
        //   python3 -c "import hmac,hashlib; print(hmac.new(
        //     b'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
        //     b'1614265330.{\"test\": 2432232314}', hashlib.sha256).hexdigest())"
        let key = SigningKey::new(&Secret::new(SPEC_SECRET)).unwrap();
        assert_eq!(
            terra_signature(&key, 1614265330, SPEC_BODY),
            "t=1614265330,v1=2e37df5d4a028c51a7f3133d64ae1e300d2c2c900f1b1d49d4369ad2530f8964"
        );
    }

    #[test]
    fn several_keys_give_several_signatures() {
        let a = SigningKey::new(&Secret::new(SPEC_SECRET)).unwrap();
        let b = SigningKey::new(&generate_secret()).unwrap();
        let both = standard_signature_multi(&[a.clone(), b.clone()], "msg_x", 1, b"{}");
        let parts: Vec<&str> = both.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], standard_signature(&a, "msg_x", 1, b"{}"));
        assert_eq!(parts[1], standard_signature(&b, "msg_x", 1, b"{}"));
        let terra = terra_signature_multi(&[a, b], 7, b"{}");
        assert!(terra.starts_with("t=7,v1="));
        assert_eq!(terra.matches(",v1=").count(), 2);
    }

    #[test]
    fn secret_parsing() {
        // With and without the prefix.
        assert!(parse_secret(SPEC_SECRET).is_ok());
        assert!(parse_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
        // 64 bytes is the most.
        let b64_64 = B64.encode([7u8; 64]);
        assert!(parse_secret(&format!("whsec_{b64_64}")).is_ok());
        assert_eq!(
            parse_secret(&format!("whsec_{}", B64.encode([7u8; 65]))),
            Err(SecretError::BadLength(65))
        );
        // Too short: 16 bytes.
        assert_eq!(
            parse_secret(&format!("whsec_{}", B64.encode([1u8; 16]))),
            Err(SecretError::BadLength(16))
        );
        assert_eq!(parse_secret(""), Err(SecretError::Empty));
        assert_eq!(parse_secret("whsec_"), Err(SecretError::Empty));
        // Not base64.
        let bad = "whsec_not*base64!butlongenoughtobeasecretvalue";
        let err = parse_secret(bad).unwrap_err();
        assert_eq!(err, SecretError::NotBase64);
        assert!(
            !err.to_string().contains("butlongenough"),
            "error must not echo the secret"
        );
        assert!(
            parse_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS").is_err(),
            "bad padding"
        );
    }

    #[test]
    fn generated_secrets_are_valid_and_distinct() {
        let a = generate_secret();
        let b = generate_secret();
        assert_ne!(a, b);
        assert!(a.expose().starts_with("whsec_"));
        assert_eq!(decode_key(a.expose()).unwrap().len(), 32);
        assert!(parse_secret(a.expose()).is_ok());
        assert!(!format!("{:?}", SigningKey::new(&a).unwrap()).contains(&a.expose()[6..]));
    }
}

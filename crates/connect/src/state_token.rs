//! The OAuth2 `state` parameter: what the callback needs to finish the flow (who, for
//! which customer, where to send the browser), signed with HMAC-SHA256 and expiring, so
//! a callback cannot be forged, and any ingest process can take the callback.
//!
//! Two tokens carry a [`FlowState`], under different MAC domains so neither passes for
//! the other: the *ticket* in pulsegate's start URL (`/v1/auth/{provider}/start`), and
//! the *state* sent to the provider, made when the browser opens the start URL and
//! bound to it (`b`: the hash of a random value kept in that browser's cookie).
//! Single use is enforced at the callback by a claim on the state topic.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};

/// The flow's facts carried through the provider.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FlowState {
    /// Provider slug.
    pub p: String,
    /// pulsegate user id assigned when the flow started (Terra returns it up front).
    pub u: String,
    /// Customer's reference id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r: Option<String>,
    /// Success redirect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s: Option<String>,
    /// Failure redirect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub f: Option<String>,
    /// Widget session id (or the flow id when started from the API).
    pub w: String,
    /// Scopes requested.
    pub sc: String,
    /// Expiry, ms since the epoch.
    pub exp: u64,
    /// Random nonce (also seeds the PKCE verifier).
    pub n: String,
    /// The developer account that started the flow (owner of the connection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d: Option<String>,
    /// Base64url SHA-256 of the browser binding (the start URL's cookie); empty in a
    /// ticket, required in a state.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub b: String,
}

/// What a token is for: the MAC's domain separator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The start URL's `flow` parameter.
    Ticket,
    /// The provider's `state` parameter.
    State,
}

impl Kind {
    fn domain(self) -> &'static [u8] {
        match self {
            Kind::Ticket => b"pulsegate-oauth-ticket\0",
            Kind::State => b"pulsegate-oauth-state\0",
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StateError {
    #[error("state is malformed")]
    Malformed,
    #[error("state signature does not verify")]
    BadSignature,
    #[error("state has expired; start again")]
    Expired,
}

fn mac(key: &[u8], kind: Kind, payload: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    m.update(kind.domain());
    m.update(payload);
    m.finalize().into_bytes().to_vec()
}

/// `base64url(json) "." base64url(hmac)`.
pub fn sign(key: &[u8], kind: Kind, state: &FlowState) -> String {
    let json = serde_json::to_vec(state).expect("state serialises");
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&json),
        URL_SAFE_NO_PAD.encode(mac(key, kind, &json))
    )
}

/// Checks signature and expiry; never panics on any input.
pub fn verify(key: &[u8], kind: Kind, token: &str, now_ms: u64) -> Result<FlowState, StateError> {
    let (payload, sig) = token.split_once('.').ok_or(StateError::Malformed)?;
    let json = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| StateError::Malformed)?;
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| StateError::Malformed)?;
    let expected = mac(key, kind, &json);
    use subtle::ConstantTimeEq;
    if sig.len() != expected.len() || !bool::from(sig.ct_eq(&expected)) {
        return Err(StateError::BadSignature);
    }
    let state: FlowState = serde_json::from_slice(&json).map_err(|_| StateError::Malformed)?;
    if state.exp < now_ms {
        return Err(StateError::Expired);
    }
    Ok(state)
}

/// The browser binding's hash as the state carries it.
pub fn binding_hash(binding: &str) -> String {
    use sha2::Digest;
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(binding.as_bytes()))
}

/// Whether `binding` (from the browser's cookie) is the one the state was made for.
pub fn binding_matches(state: &FlowState, binding: Option<&str>) -> bool {
    use subtle::ConstantTimeEq;
    match binding {
        Some(b) if !state.b.is_empty() && !b.is_empty() => {
            let got = binding_hash(b);
            got.len() == state.b.len() && bool::from(got.as_bytes().ct_eq(state.b.as_bytes()))
        }
        _ => false,
    }
}

/// The PKCE verifier for a flow: derived from the nonce under the state key, so the
/// callback can recompute it and nobody without the key can.
pub fn pkce_verifier(key: &[u8], nonce: &str) -> String {
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    m.update(b"pulsegate-pkce\0");
    m.update(nonce.as_bytes());
    // 43 characters of base64url: within RFC 7636's 43..128.
    URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
}

/// `BASE64URL(SHA256(verifier))` (RFC 7636 S256).
pub fn pkce_challenge(verifier: &str) -> String {
    use sha2::Digest;
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(exp: u64) -> FlowState {
        FlowState {
            p: "strava".into(),
            u: "u1".into(),
            r: Some("ref".into()),
            s: Some("https://app.example/ok".into()),
            f: None,
            w: "w1".into(),
            sc: "read".into(),
            exp,
            n: "nonce".into(),
            d: None,
            b: String::new(),
        }
    }

    #[test]
    fn round_trip_tamper_expiry() {
        let st = Kind::State;
        let t = sign(b"k", st, &state(2_000));
        assert_eq!(verify(b"k", st, &t, 1_000).unwrap(), state(2_000));
        assert_eq!(
            verify(b"other", st, &t, 1_000),
            Err(StateError::BadSignature)
        );
        assert_eq!(verify(b"k", st, &t, 3_000), Err(StateError::Expired));
        // A ticket is not a state (and the reverse).
        assert_eq!(
            verify(b"k", Kind::Ticket, &t, 1_000),
            Err(StateError::BadSignature)
        );
        let (payload, sig) = t.split_once('.').unwrap();
        let forged = sign(b"k", st, &state(9_999_999));
        let (forged_payload, _) = forged.split_once('.').unwrap();
        assert_eq!(
            verify(b"k", st, &format!("{forged_payload}.{sig}"), 1_000),
            Err(StateError::BadSignature)
        );
        assert_eq!(verify(b"k", st, payload, 1_000), Err(StateError::Malformed));
        assert_eq!(verify(b"k", st, "", 1_000), Err(StateError::Malformed));
        assert_eq!(verify(b"k", st, "@@.@@", 1_000), Err(StateError::Malformed));
    }

    #[test]
    fn binding_must_match_the_cookie() {
        let mut s = state(2_000);
        assert!(!binding_matches(&s, Some("v")), "a state without binding");
        s.b = binding_hash("v");
        assert!(binding_matches(&s, Some("v")));
        assert!(!binding_matches(&s, Some("w")));
        assert!(!binding_matches(&s, Some("")));
        assert!(!binding_matches(&s, None));
    }

    #[test]
    fn pkce_rfc7636_appendix_b() {
        // RFC 7636 Appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let v = pkce_verifier(b"k", "n");
        assert_eq!(v.len(), 43);
        assert_eq!(v, pkce_verifier(b"k", "n"));
        assert_ne!(v, pkce_verifier(b"k2", "n"));
    }
}

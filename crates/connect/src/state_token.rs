//! The OAuth2 `state` parameter: what the callback needs to finish the flow (who, for
//! which customer, where to send the browser), signed with HMAC-SHA256 and expiring, so
//! a callback cannot be forged or replayed later, and no server-side session is needed
//! (any ingest process can take the callback).

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

fn mac(key: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    m.update(b"pulsegate-oauth-state\0");
    m.update(payload);
    m.finalize().into_bytes().to_vec()
}

/// `base64url(json) "." base64url(hmac)`.
pub fn sign(key: &[u8], state: &FlowState) -> String {
    let json = serde_json::to_vec(state).expect("state serialises");
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&json),
        URL_SAFE_NO_PAD.encode(mac(key, &json))
    )
}

/// Checks signature and expiry; never panics on any input.
pub fn verify(key: &[u8], token: &str, now_ms: u64) -> Result<FlowState, StateError> {
    let (payload, sig) = token.split_once('.').ok_or(StateError::Malformed)?;
    let json = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| StateError::Malformed)?;
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| StateError::Malformed)?;
    let expected = mac(key, &json);
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
        }
    }

    #[test]
    fn round_trip_tamper_expiry() {
        let t = sign(b"k", &state(2_000));
        assert_eq!(verify(b"k", &t, 1_000).unwrap(), state(2_000));
        assert_eq!(verify(b"other", &t, 1_000), Err(StateError::BadSignature));
        assert_eq!(verify(b"k", &t, 3_000), Err(StateError::Expired));
        let (payload, sig) = t.split_once('.').unwrap();
        let forged = sign(b"k", &state(9_999_999));
        let (forged_payload, _) = forged.split_once('.').unwrap();
        assert_eq!(
            verify(b"k", &format!("{forged_payload}.{sig}"), 1_000),
            Err(StateError::BadSignature)
        );
        assert_eq!(verify(b"k", payload, 1_000), Err(StateError::Malformed));
        assert_eq!(verify(b"k", "", 1_000), Err(StateError::Malformed));
        assert_eq!(verify(b"k", "@@.@@", 1_000), Err(StateError::Malformed));
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

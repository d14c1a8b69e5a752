//! Polar through the shared conformance suite: lower-case hex HMAC-SHA256 of the body
//! with the signature secret key (`polar-webhook-signature`); the signed timestamp is in
//! the body, so a stale push is one whose body says so.

use base64::Engine;
use hmac::{Hmac, Mac};
use pulsegate_provider::conformance::{self, Handshake, Push, Subject};
use pulsegate_provider::{Plugin, ProviderVerifier};
use serde_json::json;

use super::PolarPlugin;

const KEY: &str = "e1f5a7c2-polar-signature-secret";

fn body(now_ms: u64) -> String {
    let ts = chrono::DateTime::from_timestamp_millis(now_ms as i64)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ");
    format!(
        r#"{{"event":"EXERCISE","user_id":475,"entity_id":"aQlC83","timestamp":"{ts}","url":"https://www.polaraccesslink.com/v3/exercises/aQlC83"}}"#
    )
}

fn mac(key: &str, body: &str) -> Vec<u8> {
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    m.update(body.as_bytes());
    m.finalize().into_bytes().to_vec()
}

fn signed(body: String, sig: String, now_ms: u64) -> Push {
    Push::new(body, now_ms)
        .header("polar-webhook-event", "EXERCISE")
        .header("polar-webhook-signature", &sig)
}

struct Polar;

impl Subject for Polar {
    fn verifier(&self) -> Box<dyn ProviderVerifier> {
        PolarPlugin
            .verifier(&json!({"signature_secret_key": KEY}), None)
            .unwrap()
            .unwrap()
    }

    /// Polar registers webhooks through its API; there is no GET handshake.
    fn handshake(&self) -> Option<Handshake> {
        None
    }

    fn push(&self, now_ms: u64) -> Push {
        let b = body(now_ms);
        let sig = hex::encode(mac(KEY, &b));
        signed(b, sig, now_ms)
    }

    fn wrong_secret(&self, now_ms: u64) -> Push {
        let b = body(now_ms);
        let sig = hex::encode(mac("another-key", &b));
        signed(b, sig, now_ms)
    }

    fn stale(&self, now_ms: u64) -> Option<Push> {
        // Eight days old: beyond the default seven-day window (Polar retries for days).
        let b = body(now_ms - 8 * 86_400_000);
        let sig = hex::encode(mac(KEY, &b));
        Some(signed(b, sig, now_ms))
    }

    fn wrongly_encoded(&self, now_ms: u64) -> Option<Push> {
        let b = body(now_ms);
        let sig = base64::engine::general_purpose::STANDARD.encode(mac(KEY, &b));
        Some(signed(b, sig, now_ms))
    }

    fn replay_guarded(&self) -> bool {
        true
    }
}

#[tokio::test]
async fn conforms() {
    conformance::run(&Polar).await;
}

#[test]
fn never_panics() {
    conformance::never_panics(&Polar);
}

//! Suunto through the shared conformance suite: hex HMAC-SHA256 of the raw body with
//! the notification secret, computed here independently of the verifier.

use base64::Engine;
use hmac::{Hmac, Mac};
use pulsegate_provider::conformance::{self, Handshake, Push, Subject};
use pulsegate_provider::{Plugin, ProviderVerifier};
use serde_json::json;

use super::SuuntoPlugin;

const SECRET: &str = "suunto-notification-secret";
const EXAMPLE: &str = include_str!("workout_created_example.json");

fn mac(secret: &str) -> Vec<u8> {
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(EXAMPLE.as_bytes());
    m.finalize().into_bytes().to_vec()
}

fn signed(sig: &str, now_ms: u64) -> Push {
    Push::new(EXAMPLE, now_ms)
        .header("content-type", "application/json")
        .header("x-hmac-sha256-signature", sig)
}

struct Suunto;

impl Subject for Suunto {
    fn verifier(&self) -> Box<dyn ProviderVerifier> {
        SuuntoPlugin
            .verifier(&json!({"notification_secret": SECRET}), None)
            .unwrap()
            .unwrap()
    }

    /// Suunto has no subscription handshake (the URL is set on API Zone).
    fn handshake(&self) -> Option<Handshake> {
        None
    }

    fn push(&self, now_ms: u64) -> Push {
        signed(&hex::encode(mac(SECRET)), now_ms)
    }

    fn wrong_secret(&self, now_ms: u64) -> Push {
        signed(&hex::encode(mac("another-secret")), now_ms)
    }

    /// Suunto signs no timestamp; staleness is the replay guard's (24 h by body hash).
    fn stale(&self, _now_ms: u64) -> Option<Push> {
        None
    }

    fn wrongly_encoded(&self, now_ms: u64) -> Option<Push> {
        let b64 = base64::engine::general_purpose::STANDARD.encode(mac(SECRET));
        Some(signed(&b64, now_ms))
    }

    fn replay_guarded(&self) -> bool {
        true
    }
}

#[tokio::test]
async fn conforms() {
    conformance::run(&Suunto).await;
}

#[test]
fn never_panics() {
    conformance::never_panics(&Suunto);
}

/// Not configured (no notification secret): not mounted.
#[test]
fn without_a_secret_suunto_is_not_mounted() {
    assert!(SuuntoPlugin.verifier(&json!({}), None).unwrap().is_none());
    assert!(SuuntoPlugin
        .verifier(&json!({"notification_secret": SECRET, "other": 1}), None)
        .is_err());
    let spec = SuuntoPlugin.replay_guard(&json!({})).unwrap().unwrap();
    assert_eq!(spec.window_ms, 86_400_000);
}

//! WHOOP through the shared conformance suite: Base64 HMAC-SHA256 of timestamp (ms) ‖
//! body with the client secret, computed here independently of the verifier.

use base64::Engine;
use hmac::{Hmac, Mac};
use pulsegate_provider::conformance::{self, Handshake, Push, Subject};
use pulsegate_provider::{Plugin, ProviderVerifier};
use serde_json::json;

use super::WhoopPlugin;

const SECRET: &str = "whoop-client-secret";
const EXAMPLE: &str = r#"{"user_id":10129,"id":10235,"type":"workout.updated","trace_id":"d3709ee7-104e-4f70-a928-2932964b017b"}"#;

fn mac(secret: &str, ts: &str) -> Vec<u8> {
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(ts.as_bytes());
    m.update(EXAMPLE.as_bytes());
    m.finalize().into_bytes().to_vec()
}

fn signed(sig: String, ts: &str, now_ms: u64) -> Push {
    Push::new(EXAMPLE, now_ms)
        .header("x-whoop-signature", &sig)
        .header("x-whoop-signature-timestamp", ts)
}

fn b64(b: Vec<u8>) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

struct Whoop;

impl Subject for Whoop {
    fn verifier(&self) -> Box<dyn ProviderVerifier> {
        WhoopPlugin
            .verifier(&json!({"client_secret": SECRET}), None)
            .unwrap()
            .unwrap()
    }

    /// WHOOP has no subscription handshake (webhooks are set in its developer console).
    fn handshake(&self) -> Option<Handshake> {
        None
    }

    fn push(&self, now_ms: u64) -> Push {
        let ts = now_ms.to_string();
        signed(b64(mac(SECRET, &ts)), &ts, now_ms)
    }

    fn wrong_secret(&self, now_ms: u64) -> Push {
        let ts = now_ms.to_string();
        signed(b64(mac("another-secret", &ts)), &ts, now_ms)
    }

    fn stale(&self, now_ms: u64) -> Option<Push> {
        let ts = (now_ms - 3_600_000).to_string();
        Some(signed(b64(mac(SECRET, &ts)), &ts, now_ms))
    }

    fn wrongly_encoded(&self, now_ms: u64) -> Option<Push> {
        let ts = now_ms.to_string();
        Some(signed(hex::encode(mac(SECRET, &ts)), &ts, now_ms))
    }

    fn replay_guarded(&self) -> bool {
        true
    }
}

#[tokio::test]
async fn conforms() {
    conformance::run(&Whoop).await;
}

#[test]
fn never_panics() {
    conformance::never_panics(&Whoop);
}

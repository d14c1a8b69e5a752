//! Oura through the shared conformance suite: pushes signed here, independently of the
//! verifier, as Oura documents them (upper-case hex HMAC-SHA256 of timestamp ‖ body
//! with the client secret, in `x-oura-signature`, seconds in `x-oura-timestamp`).

use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use hmac::{Hmac, Mac};
use pulsegate_provider::conformance::{self, Handshake, Push, Subject};
use pulsegate_provider::{Plugin, ProviderVerifier};
use serde_json::json;

use super::OuraPlugin;

const SECRET: &str = "oura-client-secret";
const EXAMPLE: &str = r#"{"event_type":"update","data_type":"sleep","object_id":"12345abc","event_time":"2023-01-01T08:00:00+00:00","user_id":"user123"}"#;

fn mac(secret: &str, ts: &str) -> Vec<u8> {
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(ts.as_bytes());
    m.update(EXAMPLE.as_bytes());
    m.finalize().into_bytes().to_vec()
}

fn signed(sig: String, ts: &str, now_ms: u64) -> Push {
    Push::new(EXAMPLE, now_ms)
        .header("x-oura-signature", &sig)
        .header("x-oura-timestamp", ts)
}

struct Oura;

impl Subject for Oura {
    fn verifier(&self) -> Box<dyn ProviderVerifier> {
        let table = json!({"client_secret": SECRET, "verification_token": "verify-me"});
        OuraPlugin.verifier(&table, None).unwrap().unwrap()
    }

    fn handshake(&self) -> Option<Handshake> {
        Some(Handshake {
            query: Some("verification_token=verify-me&challenge=abc123".into()),
            headers: HeaderMap::new(),
            status: StatusCode::OK,
            echo: Some("abc123".into()),
            wrong_query: Some("verification_token=nope&challenge=abc123".into()),
            wrong_headers: HeaderMap::new(),
            refuses_wrong: true,
        })
    }

    fn push(&self, now_ms: u64) -> Push {
        let ts = (now_ms / 1000).to_string();
        signed(hex::encode_upper(mac(SECRET, &ts)), &ts, now_ms)
    }

    fn wrong_secret(&self, now_ms: u64) -> Push {
        let ts = (now_ms / 1000).to_string();
        signed(hex::encode_upper(mac("another-secret", &ts)), &ts, now_ms)
    }

    fn stale(&self, now_ms: u64) -> Option<Push> {
        let ts = (now_ms / 1000 - 3600).to_string();
        Some(signed(hex::encode_upper(mac(SECRET, &ts)), &ts, now_ms))
    }

    fn wrongly_encoded(&self, now_ms: u64) -> Option<Push> {
        let ts = (now_ms / 1000).to_string();
        let b64 = base64::engine::general_purpose::STANDARD.encode(mac(SECRET, &ts));
        Some(signed(b64, &ts, now_ms))
    }

    fn replay_guarded(&self) -> bool {
        true
    }
}

#[tokio::test]
async fn conforms() {
    conformance::run(&Oura).await;
}

#[test]
fn never_panics() {
    conformance::never_panics(&Oura);
}

//! Fitbit through the shared conformance suite: Base64 HMAC-SHA1 of the body keyed with
//! `client_secret&` (`X-Fitbit-Signature`), and the `?verify=` handshake (204 / 404).
//! Fitbit signs no timestamp: a replay is caught by the guard, not by a window.

use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use hmac::{Hmac, Mac};
use pulsegate_provider::conformance::{self, Handshake, Push, Subject};
use pulsegate_provider::{Plugin, ProviderVerifier};
use serde_json::json;

use super::FitbitPlugin;

const SECRET: &str = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6";
const CODE: &str = "2cd4f8e1a6b3d9c7";
const EXAMPLE: &str = r#"[{"collectionType":"foods","date":"2010-03-01","ownerId":"228S74","ownerType":"user","subscriptionId":"1234"},{"collectionType":"activities","date":"2010-03-01","ownerId":"X1Y2Z3","ownerType":"user","subscriptionId":"2345"}]"#;

fn mac(secret: &str) -> Vec<u8> {
    let mut m = Hmac::<sha1::Sha1>::new_from_slice(format!("{secret}&").as_bytes()).unwrap();
    m.update(EXAMPLE.as_bytes());
    m.finalize().into_bytes().to_vec()
}

fn b64(b: Vec<u8>) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn signed(sig: String, now_ms: u64) -> Push {
    Push::new(EXAMPLE, now_ms).header("x-fitbit-signature", &sig)
}

struct Fitbit;

impl Subject for Fitbit {
    fn verifier(&self) -> Box<dyn ProviderVerifier> {
        FitbitPlugin
            .verifier(
                &json!({"verification_code": CODE, "client_secret": SECRET}),
                None,
            )
            .unwrap()
            .unwrap()
    }

    fn handshake(&self) -> Option<Handshake> {
        Some(Handshake {
            query: Some(format!("verify={CODE}")),
            headers: HeaderMap::new(),
            status: StatusCode::NO_CONTENT,
            echo: None,
            wrong_query: Some("verify=wrong".into()),
            wrong_headers: HeaderMap::new(),
            refuses_wrong: true,
        })
    }

    fn push(&self, now_ms: u64) -> Push {
        signed(b64(mac(SECRET)), now_ms)
    }

    fn wrong_secret(&self, now_ms: u64) -> Push {
        signed(b64(mac("another-secret")), now_ms)
    }

    /// Fitbit's notifications carry no signed timestamp.
    fn stale(&self, _now_ms: u64) -> Option<Push> {
        None
    }

    fn wrongly_encoded(&self, now_ms: u64) -> Option<Push> {
        Some(signed(hex::encode(mac(SECRET)), now_ms))
    }

    fn replay_guarded(&self) -> bool {
        true
    }
}

#[tokio::test]
async fn conforms() {
    conformance::run(&Fitbit).await;
}

#[test]
fn never_panics() {
    conformance::never_panics(&Fitbit);
}

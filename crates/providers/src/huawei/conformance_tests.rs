//! Huawei through the shared conformance suite: Base64 HMAC-SHA256, keyed with the
//! Base64-decoded subscriber secret, over `openId_eventType_eventTime`
//! (`x-notification-signature`). The signature covers those fields, not the body bytes:
//! a body re-spaced around the same fields is the same notification.

use axum::http::StatusCode;
use base64::Engine;
use hmac::{Hmac, Mac};
use pulsegate_provider::conformance::{self, Handshake, Push, Subject};
use pulsegate_provider::{Plugin, ProviderVerifier};
use serde_json::json;

use super::HuaweiPlugin;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const SECRET: &str = "c3Vic2NyaWJlci1zZWNyZXQtZm9yLXB1bHNlZ2F0ZSE=";
const OPEN_ID: &str = "MDFAMTAxMjc4NTAxQDk4ZjE2ZTQ4ZmNkNTFkYWU2MDk5MGFlNWY1";
const EVENT: &str = "ACTIVITY_RECORD_EVENT$UPDATE";

fn body(event_time: u64) -> String {
    format!(
        r#"{{"subscriberId":"sub-1","subscriptionId":"0000001","openId":"{OPEN_ID}","eventType":"{EVENT}","eventTime":{event_time},"metaData":{{"startTime":"1592905552721","endTime":"1592906207222","activityType":"5","timeZone":"+0800"}}}}"#
    )
}

fn mac(secret_b64: &str, event_time: u64) -> Vec<u8> {
    let key = B64.decode(secret_b64).unwrap();
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    m.update(format!("{OPEN_ID}_{EVENT}_{event_time}").as_bytes());
    m.finalize().into_bytes().to_vec()
}

fn signed(event_time: u64, sig: String, now_ms: u64) -> Push {
    Push::new(body(event_time), now_ms).header("x-notification-signature", &sig)
}

struct Huawei;

impl Subject for Huawei {
    fn verifier(&self) -> Box<dyn ProviderVerifier> {
        HuaweiPlugin
            .verifier(
                &json!({"subscriber_secret": SECRET, "subscriber_id": "sub-1"}),
                None,
            )
            .unwrap()
            .unwrap()
    }

    /// Huawei's subscription check is a request answered 204.
    fn handshake(&self) -> Option<Handshake> {
        None
    }

    fn push(&self, now_ms: u64) -> Push {
        signed(now_ms, B64.encode(mac(SECRET, now_ms)), now_ms)
    }

    fn wrong_secret(&self, now_ms: u64) -> Push {
        let other = B64.encode(b"another-subscriber-secret-32byte");
        signed(now_ms, B64.encode(mac(&other, now_ms)), now_ms)
    }

    fn stale(&self, now_ms: u64) -> Option<Push> {
        let then = now_ms - 3_600_000;
        Some(signed(then, B64.encode(mac(SECRET, then)), now_ms))
    }

    fn wrongly_encoded(&self, now_ms: u64) -> Option<Push> {
        Some(signed(now_ms, hex::encode(mac(SECRET, now_ms)), now_ms))
    }

    fn body_is_signed(&self) -> bool {
        false
    }

    fn replay_guarded(&self) -> bool {
        true
    }
}

#[tokio::test]
async fn conforms() {
    conformance::run(&Huawei).await;
    // A changed signed field is refused (the fields, not the bytes, are signed).
    let now = 1_780_000_000_000;
    let mut p = Huawei.push(now);
    p.body = body(now + 1).into();
    let refused = Huawei.verifier().verify(&pulsegate_provider::IngestRequest {
        headers: &p.headers,
        query: None,
        body: &p.body,
        peer: None,
        now_ms: now,
    });
    assert_eq!(refused.unwrap_err().status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn never_panics() {
    conformance::never_panics(&Huawei);
}

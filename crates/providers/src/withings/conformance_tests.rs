//! Withings through the shared conformance suite. Withings signs nothing: a
//! notification is a form (`userid`, `appli`, `startdate`, `enddate`) POSTed to the
//! registered callback URL, which carries the secret `?token=` (`callback_token`), from
//! Withings' published addresses (`allowed_ips`). Here pulsegate sits behind a reverse
//! proxy on 127.0.0.1 (the suite's peer) that sets `X-Forwarded-For`. The push is
//! Withings' documented example, composed here independently of the verifier.

use axum::http::{HeaderMap, StatusCode};
use pulsegate_provider::conformance::{self, Handshake, Push, Subject};
use pulsegate_provider::{Plugin, ProviderVerifier};
use serde_json::json;

use super::WithingsPlugin;

const TOKEN: &str = "cb-7f3e9a1c55d2";
/// Withings' documented example payload (`foo=bar` included).
const EXAMPLE: &str = "foo=bar&userid=12345&appli=1&startdate=1530576000&enddate=1530698753";

fn pushed(token: &str, now_ms: u64) -> Push {
    Push::new(EXAMPLE, now_ms)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-forwarded-for", "89.30.121.150")
        .query(&format!("token={token}"))
}

struct Withings;

impl Subject for Withings {
    fn verifier(&self) -> Box<dyn ProviderVerifier> {
        let table = json!({
            "enabled": true,
            "callback_token": TOKEN,
            "allowed_ips": ["89.30.121.0/24"],
            "trust_forwarded_for": true,
        });
        WithingsPlugin.verifier(&table, None).unwrap().unwrap()
    }

    /// Withings checks the callback URL with a `HEAD` (or `GET`) carrying no token and
    /// expecting a 2xx: there is nothing to refuse.
    fn handshake(&self) -> Option<Handshake> {
        Some(Handshake {
            query: None,
            headers: HeaderMap::new(),
            status: StatusCode::OK,
            echo: None,
            wrong_query: None,
            wrong_headers: HeaderMap::new(),
            refuses_wrong: false,
        })
    }

    fn push(&self, now_ms: u64) -> Push {
        pushed(TOKEN, now_ms)
    }

    /// The wrong credential: the callback URL with another `?token=`.
    fn wrong_secret(&self, now_ms: u64) -> Push {
        pushed("cb-not-the-token", now_ms)
    }

    /// Withings signs nothing, so no timestamp is signed: `startdate`/`enddate` are the
    /// range of the changed data, not when the notification was sent.
    fn stale(&self, _now_ms: u64) -> Option<Push> {
        None
    }

    /// No signature to encode: the token is a plain value in the callback URL.
    fn wrongly_encoded(&self, _now_ms: u64) -> Option<Push> {
        None
    }

    /// Withings signs nothing: the URL token does not cover the form.
    fn body_is_signed(&self) -> bool {
        false
    }

    /// No replay guard: the same token comes with every notification.
    fn replay_guarded(&self) -> bool {
        false
    }
}

#[tokio::test]
async fn conforms() {
    conformance::run(&Withings).await;
}

#[test]
fn never_panics() {
    conformance::never_panics(&Withings);
}

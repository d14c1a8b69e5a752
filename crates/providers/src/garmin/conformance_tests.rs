//! Garmin through the shared conformance suite. Garmin signs nothing: every push
//! carries the application's client id (consumer key) in `garmin-client-id`, compared
//! in constant time; there is no handshake. The push is Garmin's documented example
//! (`push_example.json`), with the header set here, independently of the verifier.

use pulsegate_provider::conformance::{self, Handshake, Push, Subject};
use pulsegate_provider::{Plugin, ProviderVerifier};
use serde_json::json;

use super::GarminPlugin;

const CLIENT_ID: &str = "a1b2c3d4-garmin-consumer-key";
const EXAMPLE: &str = include_str!("push_example.json");

fn pushed(client_id: &str, now_ms: u64) -> Push {
    Push::new(EXAMPLE, now_ms)
        .header("content-type", "application/json")
        .header("garmin-client-id", client_id)
}

struct Garmin;

impl Subject for Garmin {
    fn verifier(&self) -> Box<dyn ProviderVerifier> {
        GarminPlugin
            .verifier(&json!({"client_id": CLIENT_ID}), None)
            .unwrap()
            .unwrap()
    }

    /// Garmin has no handshake (endpoints are set in its Endpoint Configuration Tool);
    /// a GET is answered 405 (tested in `verify.rs`).
    fn handshake(&self) -> Option<Handshake> {
        None
    }

    fn push(&self, now_ms: u64) -> Push {
        pushed(CLIENT_ID, now_ms)
    }

    /// The wrong credential: another application's client id.
    fn wrong_secret(&self, now_ms: u64) -> Push {
        pushed("another-garmin-consumer-key", now_ms)
    }

    /// Garmin signs nothing, so no timestamp is signed (the records' times are the
    /// data's, not the push's).
    fn stale(&self, _now_ms: u64) -> Option<Push> {
        None
    }

    /// No signature to encode: the client id is sent as it is.
    fn wrongly_encoded(&self, _now_ms: u64) -> Option<Push> {
        None
    }

    /// Garmin signs nothing: the client id header does not cover the body.
    fn body_is_signed(&self) -> bool {
        false
    }

    /// No replay guard: the same client id comes with every push.
    fn replay_guarded(&self) -> bool {
        false
    }
}

#[tokio::test]
async fn conforms() {
    conformance::run(&Garmin).await;
}

#[test]
fn never_panics() {
    conformance::never_panics(&Garmin);
}

//! Strava through the shared conformance suite. Strava signs nothing: an event's only
//! credential is its `subscription_id` (the deployment's secret path token is checked by
//! ingest's router, before the verifier), and the subscription handshake echoes
//! `hub.challenge` when `hub.verify_token` matches. Events are composed here from
//! Strava's documented example, independently of the verifier.

use axum::http::{HeaderMap, StatusCode};
use pulsegate_provider::conformance::{self, Handshake, Push, Subject};
use pulsegate_provider::{Plugin, ProviderVerifier};
use serde_json::json;

use super::StravaPlugin;

const SUBSCRIPTION_ID: u64 = 120475;
const VERIFY_TOKEN: &str = "STRAVA";

/// Strava's documented example event, for subscription `subscription_id`.
fn event(subscription_id: u64) -> String {
    format!(
        r#"{{"aspect_type":"update","event_time":1516126040,"object_id":1360128428,"object_type":"activity","owner_id":134815,"subscription_id":{subscription_id},"updates":{{"title":"Messy"}}}}"#
    )
}

fn pushed(subscription_id: u64, now_ms: u64) -> Push {
    Push::new(event(subscription_id), now_ms).header("content-type", "application/json")
}

struct Strava;

impl Subject for Strava {
    fn verifier(&self) -> Box<dyn ProviderVerifier> {
        let table = json!({"subscription_id": SUBSCRIPTION_ID, "verify_token": VERIFY_TOKEN});
        StravaPlugin.verifier(&table, None).unwrap().unwrap()
    }

    fn handshake(&self) -> Option<Handshake> {
        Some(Handshake {
            query: Some(format!(
                "hub.mode=subscribe&hub.challenge=15f7d1a9&hub.verify_token={VERIFY_TOKEN}"
            )),
            headers: HeaderMap::new(),
            status: StatusCode::OK,
            echo: Some("15f7d1a9".into()),
            wrong_query: Some(
                "hub.mode=subscribe&hub.challenge=15f7d1a9&hub.verify_token=nope".into(),
            ),
            wrong_headers: HeaderMap::new(),
            refuses_wrong: true,
        })
    }

    fn push(&self, now_ms: u64) -> Push {
        pushed(SUBSCRIPTION_ID, now_ms)
    }

    /// The wrong credential: an event for another subscription.
    fn wrong_secret(&self, now_ms: u64) -> Push {
        pushed(999, now_ms)
    }

    /// Strava signs nothing, so no timestamp is signed: `event_time` is when the change
    /// happened, not when the event was sent, and anyone can write any value into it.
    fn stale(&self, _now_ms: u64) -> Option<Push> {
        None
    }

    /// No signature to encode: the subscription id is a plain number in the body.
    fn wrongly_encoded(&self, _now_ms: u64) -> Option<Push> {
        None
    }

    /// Strava signs nothing: a changed body is simply another event, still refetched
    /// from Strava with the athlete's token by the normalizer.
    fn body_is_signed(&self) -> bool {
        false
    }

    /// No replay guard: an unsigned event has nothing to tell a replay from a
    /// redelivery (duplicates are skipped downstream by event id).
    fn replay_guarded(&self) -> bool {
        false
    }
}

#[tokio::test]
async fn conforms() {
    conformance::run(&Strava).await;
}

#[test]
fn never_panics() {
    conformance::never_panics(&Strava);
}

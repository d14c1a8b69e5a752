//! Suunto end to end: the real binary, a mock of Suunto's Cloud API serving the workout
//! summary, a customer sink. Notifications are Suunto's documented `WORKOUT_CREATED`
//! example, signed here the way Suunto documents it (hex HMAC-SHA256(notification
//! secret, raw body) in `X-HMAC-SHA256-Signature`), independently of pulsegate's code.

use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use pulsegate_testkit::provider_api::{MockApi, TokenStyle};
use pulsegate_testkit::sink::{Behaviour, Sink};
use serde_json::Value;

use crate::support::{test_secret, verify_delivery, Pulsegate};

const SECRET: &str = "suunto-test-notification-secret";
const USER: &str = "johndoe123";
const WORKOUT_KEY: &str = "67604889401b942184624cb8";
const SUBSCRIPTION_KEY: &str = "suunto-subscription-key";
const EXAMPLE: &str = include_str!("../../../providers/src/suunto/workout_created_example.json");

fn mac(key: &str, body: &str) -> Vec<u8> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn sign(key: &str, body: &str) -> String {
    hex::encode(mac(key, body))
}

async fn push(pg: &Pulsegate, sig: Option<&str>, body: &str) -> u16 {
    let mut headers = vec![("content-type", "application/json")];
    if let Some(sig) = sig {
        headers.push(("X-HMAC-SHA256-Signature", sig));
    }
    pg.push_raw("suunto", &headers, body.to_string()).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suunto_end_to_end() {
    let api = MockApi::start().await;
    api.token_endpoint("/oauth/token", TokenStyle::Standard);
    api.accept_refresh_token("suunto-refresh");
    // Only tokens the token endpoint issued are valid: the stored one gets a 401 first.
    api.accept_token("never-stored");
    let summary: Value = serde_json::from_str(include_str!(
        "../../../providers/src/suunto/workout_summary_example.json"
    ))
    .unwrap();
    api.json("GET", &format!("/v2/workouts/{WORKOUT_KEY}"), summary);

    let sink = Sink::start(Behaviour::Ok).await;
    let secret = test_secret(11);
    let extra = format!(
        r#"
[dispatcher]
timeout = "3s"
retry_schedule = ["200ms", "400ms"]
allow_private_networks = true

[[destinations]]
id = "customer"
url = "{url}"
secret = "{secret}"
event_types = []

[ingest.suunto]
notification_secret = "{SECRET}"

[normalizer.suunto]
api_base = "{base}"
token_url = "{base}/oauth/token"
client_id = "suunto-client"
client_secret = "suunto-client-secret"
subscription_key = "{SUBSCRIPTION_KEY}"
"#,
        url = sink.url(),
        base = api.base_url(),
    );
    let pg = Pulsegate::start(&api.base_url(), &extra).await;

    // No handshake: GET is not how Suunto talks to the endpoint.
    let get = reqwest::get(pg.url("/v1/ingest/suunto")).await.unwrap();
    assert_eq!(get.status(), 405);

    let user_id = pg
        .connect("suunto", USER, "stale-access", "suunto-refresh")
        .await;

    // Refused: tampered body, wrong secret, Base64 instead of hex, no signature.
    let good = sign(SECRET, EXAMPLE);
    let tampered = EXAMPLE.replace("\"totalDistance\": 10000", "\"totalDistance\": 10001");
    assert_ne!(tampered, EXAMPLE);
    let b64 = base64::engine::general_purpose::STANDARD.encode(mac(SECRET, EXAMPLE));
    for (sig, body) in [
        (Some(good.as_str()), tampered.as_str()),
        (Some(sign("not-the-secret", EXAMPLE).as_str()), EXAMPLE),
        (Some(b64.as_str()), EXAMPLE),
        (None, EXAMPLE),
    ] {
        assert_eq!(push(&pg, sig, body).await, 401, "{sig:?} {body}");
    }
    assert_eq!(pg.accepted("suunto").await, 0.0, "nothing was enqueued");

    // Accepted: the documented workout notification (the token is refreshed after
    // Suunto's 401), and a 24/7 sleep notification, acknowledged but not mapped.
    assert_eq!(push(&pg, Some(&good), EXAMPLE).await, 200);
    // The exact same signed body again is a replay.
    assert_eq!(push(&pg, Some(&good), EXAMPLE).await, 401);
    let sleep =
        format!(r#"{{"type":"SUUNTO_247_SLEEP_CREATED","username":"{USER}","samples":[]}}"#);
    assert_eq!(push(&pg, Some(&sign(SECRET, &sleep)), &sleep).await, 200);
    assert_eq!(pg.accepted("suunto").await, 2.0);

    assert!(
        sink.wait_for(1, Duration::from_secs(20)).await,
        "delivered {}: {}",
        sink.count(),
        pg.logs()
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(sink.count(), 1, "nothing else reaches the customer");

    let r = &sink.received()[0];
    verify_delivery(&secret, &r.headers, &r.body).unwrap_or_else(|e| panic!("{e}"));
    let v = r.json();
    assert_eq!(v["type"], "activity");
    assert_eq!(v["user"]["user_id"], user_id.as_str());
    assert_eq!(v["user"]["provider"], "SUUNTO");
    let a = &v["data"][0];
    assert_eq!(a["metadata"]["summary_id"], WORKOUT_KEY);
    assert_eq!(a["metadata"]["type"], 67);
    assert_eq!(a["metadata"]["start_time"], "2023-12-16T14:20:00+02:00");
    assert_eq!(a["metadata"]["end_time"], "2023-12-16T15:20:00+02:00");
    assert_eq!(a["calories_data"]["total_burned_calories"], 500);
    assert_eq!(a["distance_data"]["summary"]["distance_meters"], 10000);
    assert_eq!(a["distance_data"]["summary"]["steps"], 8500);
    assert_eq!(a["heart_rate_data"]["summary"]["avg_hr_bpm"], 145.0);
    assert_eq!(a["device_data"]["name"], "Suunto Vertical");

    // One refresh, with HTTP Basic client credentials, as Suunto documents it.
    let grants = api.requests_to("/oauth/token");
    assert_eq!(grants.len(), 1);
    let basic =
        base64::engine::general_purpose::STANDARD.encode("suunto-client:suunto-client-secret");
    assert_eq!(
        grants[0].header("authorization"),
        Some(format!("Basic {basic}").as_str())
    );
    let form = String::from_utf8_lossy(&grants[0].body).to_string();
    for part in ["grant_type=refresh_token", "refresh_token=suunto-refresh"] {
        assert!(form.contains(part), "{part} in the token request: {form}");
    }
    // Every workout call carries the subscription key; the one after the refresh the
    // new token.
    let fetched = api.requests_to(&format!("/v2/workouts/{WORKOUT_KEY}"));
    assert_eq!(fetched.len(), 2, "401 with the stored token, then 200");
    for f in &fetched {
        assert_eq!(
            f.header("ocp-apim-subscription-key"),
            Some(SUBSCRIPTION_KEY)
        );
    }
    assert_eq!(fetched[0].bearer(), Some("stale-access"));
    assert_eq!(fetched[1].bearer(), Some("access-1"));
}

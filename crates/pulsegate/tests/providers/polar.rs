//! Polar AccessLink end to end: the real binary, a mock of AccessLink serving Polar's
//! documented example responses, a customer sink. Notifications are signed here as Polar
//! does (hex HMAC-SHA256(signature_secret_key, raw body)), independently of pulsegate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use pulsegate_testkit::provider_api::MockApi;
use pulsegate_testkit::sink::{Behaviour, Sink};
use serde_json::{json, Value};

use crate::support::{test_secret, verify_delivery, Pulsegate};

const KEY: &str = "polar-signature-secret-key";
const USER: &str = "475";
const TOKEN: &str = "polar-user-token";

fn sign(key: &str, body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// `secs_ago` seconds before now as `YYYY-MM-DDTHH:MM:SSZ`.
fn iso_ago(secs_ago: u64) -> String {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - secs_ago;
    let (days, rem) = ((t / 86_400) as i64, t % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

async fn push(pg: &Pulsegate, event: &str, sig: Option<&str>, body: &str) -> u16 {
    let mut headers = vec![
        ("content-type", "application/json"),
        ("polar-webhook-event", event),
    ];
    if let Some(s) = sig {
        headers.push(("polar-webhook-signature", s));
    }
    pg.push_raw("polar", &headers, body.to_string()).await.0
}

fn doc(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polar_end_to_end() {
    let api = MockApi::start().await;
    api.accept_token(TOKEN);
    api.json(
        "GET",
        "/v3/exercises/aQlC83",
        doc(include_str!(
            "../../../providers/src/polar/exercise_example.json"
        )),
    );
    api.json(
        "GET",
        "/v3/users/sleep/2020-01-01",
        doc(include_str!(
            "../../../providers/src/polar/sleep_example.json"
        )),
    );
    let sink = Sink::start(Behaviour::Ok).await;
    let secret = test_secret(41);
    let extra = format!(
        r#"
[dispatcher]
timeout = "3s"
retry_schedule = ["200ms", "400ms"]
allow_private_networks = true
[ingest.polar]
signature_secret_key = "{KEY}"
[normalizer.polar]
api_base = "{base}"
request_timeout = "3s"
[[destinations]]
id = "customer"
url = "{url}"
secret = "{secret}"
event_types = []
"#,
        base = api.base_url(),
        url = sink.url()
    );
    let pg = Pulsegate::start("http://127.0.0.1:9", &extra).await;
    let user_id = pg.connect("polar", USER, TOKEN, "").await;
    let other_user = pg.connect("polar", "476", "revoked-by-polar", "").await;

    // No GET handshake.
    let get = reqwest::get(pg.url("/v1/ingest/polar")).await.unwrap();
    assert_eq!(get.status(), 405);

    // The creation PING: unsigned, 200, nothing enqueued.
    let ping = json!({"event": "PING", "timestamp": iso_ago(0)}).to_string();
    assert_eq!(push(&pg, "PING", None, &ping).await, 200);
    assert_eq!(pg.accepted("polar").await, 0.0);
    let smuggled = json!({"event": "PING", "timestamp": iso_ago(0), "user_id": 475}).to_string();
    assert_eq!(push(&pg, "PING", None, &smuggled).await, 400);

    // Refused: tampered, wrong key, wrong encoding (Base64), missing, stale (8 days).
    let exercise = json!({
        "event": "EXERCISE", "user_id": 475, "entity_id": "aQlC83",
        "timestamp": iso_ago(60),
        "url": format!("{}/v3/exercises/aQlC83", api.base_url()),
    })
    .to_string();
    let good = sign(KEY, &exercise);
    let tampered = exercise.replace("\"user_id\":475", "\"user_id\":476");
    assert_ne!(tampered, exercise);
    assert_eq!(push(&pg, "EXERCISE", Some(&good), &tampered).await, 401);
    let wrong_key = sign("not-the-key", &exercise);
    assert_eq!(
        push(&pg, "EXERCISE", Some(&wrong_key), &exercise).await,
        401
    );
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(hex::decode(&good).unwrap());
    assert_eq!(push(&pg, "EXERCISE", Some(&b64), &exercise).await, 401);
    assert_eq!(push(&pg, "EXERCISE", None, &exercise).await, 401);
    let stale = json!({
        "event": "EXERCISE", "user_id": 475, "entity_id": "aQlC83",
        "timestamp": iso_ago(8 * 86_400),
        "url": format!("{}/v3/exercises/aQlC83", api.base_url()),
    })
    .to_string();
    assert_eq!(
        push(&pg, "EXERCISE", Some(&sign(KEY, &stale)), &stale).await,
        401
    );
    assert_eq!(
        pg.accepted("polar").await,
        0.0,
        "nothing refused was enqueued"
    );

    // Valid: an exercise and a sleep.
    assert_eq!(push(&pg, "EXERCISE", Some(&good), &exercise).await, 200);
    // The same signed notification again is a replay.
    assert_eq!(push(&pg, "EXERCISE", Some(&good), &exercise).await, 401);
    let sleep = json!({
        "event": "SLEEP", "user_id": 475, "date": "2020-01-01",
        "timestamp": iso_ago(30),
        "url": format!("{}/v3/users/sleep/2020-01-01", api.base_url()),
    })
    .to_string();
    assert_eq!(
        push(&pg, "SLEEP", Some(&sign(KEY, &sleep)), &sleep).await,
        200
    );
    // Signed, but pointing elsewhere: accepted by ingest, never fetched.
    let ssrf = json!({
        "event": "EXERCISE", "user_id": 475, "entity_id": "evil",
        "timestamp": iso_ago(20),
        "url": "http://127.0.0.1:9/v3/exercises/evil",
    })
    .to_string();
    assert_eq!(
        push(&pg, "EXERCISE", Some(&sign(KEY, &ssrf)), &ssrf).await,
        200
    );
    // Polar refuses the other user's token: connection_error.
    let refused = json!({
        "event": "EXERCISE", "user_id": 476, "entity_id": "aQlC83",
        "timestamp": iso_ago(10),
        "url": format!("{}/v3/exercises/aQlC83", api.base_url()),
    })
    .to_string();
    assert_eq!(
        push(&pg, "EXERCISE", Some(&sign(KEY, &refused)), &refused).await,
        200
    );
    assert_eq!(pg.accepted("polar").await, 4.0);

    assert!(
        sink.wait_for(3, Duration::from_secs(20)).await,
        "{} delivered; {}",
        sink.count(),
        pg.logs()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = sink.received();
    assert_eq!(received.len(), 3, "exactly three events");
    let mut by_type = std::collections::HashMap::new();
    for r in &received {
        verify_delivery(&secret, &r.headers, &r.body).unwrap_or_else(|e| panic!("{e}"));
        let body = r.json();
        by_type.insert(body["type"].as_str().unwrap().to_string(), body);
    }
    let activity = &by_type["activity"];
    assert_eq!(activity["user"]["user_id"], user_id.as_str());
    assert_eq!(activity["user"]["provider"], "POLAR");
    let a = &activity["data"][0];
    assert_eq!(a["metadata"]["summary_id"], "2AC312F");
    assert_eq!(a["metadata"]["start_time"], "2008-10-13T10:40:02+03:00");
    assert_eq!(a["metadata"]["end_time"], "2008-10-13T13:24:02+03:00");
    assert_eq!(a["calories_data"]["total_burned_calories"], 530);
    assert_eq!(a["distance_data"]["summary"]["distance_meters"], 1600);
    assert_eq!(a["heart_rate_data"]["summary"]["avg_hr_bpm"], 129.0);
    let s = &by_type["sleep"]["data"][0];
    assert_eq!(s["metadata"]["start_time"], "2020-01-01T00:39:07+03:00");
    assert_eq!(
        s["sleep_durations_data"]["asleep"]["duration_deep_sleep_state_seconds"],
        1000.0
    );
    assert_eq!(s["scores"]["sleep_score"], 80.0);
    let ce = &by_type["connection_error"];
    assert_eq!(ce["user"]["user_id"], other_user.as_str());
    assert_eq!(ce["status"], "warning");

    // Every fetch carried the user's own token; the foreign URL was never requested.
    let exercises = api.requests_to("/v3/exercises/aQlC83");
    assert_eq!(exercises.len(), 2);
    assert!(exercises.iter().any(|r| r.bearer() == Some(TOKEN)));
    assert!(api.requests_to("/v3/exercises/evil").is_empty());
    assert_eq!(
        pg.metric("pulsegate_normalizer_dropped_total{provider=\"polar\",reason=\"forbidden_url\"")
            .await,
        1.0
    );
}

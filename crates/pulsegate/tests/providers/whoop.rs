//! WHOOP end to end: the real binary, a mock of WHOOP's v2 API serving WHOOP's documented
//! example responses, a customer sink. Webhooks are signed here the way WHOOP documents it
//! (Base64 HMAC-SHA256(client secret, timestamp ms ‖ body)), independently of pulsegate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use pulsegate_testkit::provider_api::{MockApi, TokenStyle};
use pulsegate_testkit::sink::{Behaviour, Sink};
use serde_json::{json, Value};

use crate::support::{test_secret, verify_delivery, Pulsegate};

const SECRET: &str = "whoop-test-client-secret";
const MEMBER: i64 = 10129;
const WORKOUT_ID: &str = "ecfc6a15-4661-442f-a9a4-f160dd7afae8";
const SLEEP_ID: &str = "123e4567-e89b-12d3-a456-426614174000";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn mac(key: &str, ts: &str, body: &str) -> Vec<u8> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(ts.as_bytes());
    mac.update(body.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn sign(key: &str, ts: &str, body: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(mac(key, ts, body))
}

fn webhook(event_type: &str, id: Value, trace: &str) -> String {
    json!({"user_id": MEMBER, "id": id, "type": event_type, "trace_id": trace}).to_string()
}

async fn push(pg: &Pulsegate, sig: &str, ts: &str, body: &str) -> u16 {
    pg.push_raw(
        "whoop",
        &[
            ("content-type", "application/json"),
            ("X-WHOOP-Signature", sig),
            ("X-WHOOP-Signature-Timestamp", ts),
        ],
        body.to_string(),
    )
    .await
    .0
}

/// Signs with a fresh timestamp and pushes.
async fn push_signed(pg: &Pulsegate, body: &str) -> u16 {
    let ts = now_ms().to_string();
    push(pg, &sign(SECRET, &ts, body), &ts, body).await
}

fn doc(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoop_end_to_end() {
    let api = MockApi::start().await;
    api.token_endpoint("/oauth/oauth2/token", TokenStyle::Standard);
    api.accept_token("whoop-access");
    api.json(
        "GET",
        &format!("/developer/v2/activity/workout/{WORKOUT_ID}"),
        doc(include_str!(
            "../../../providers/src/whoop/workout_example.json"
        )),
    );
    let mut sleep = doc(include_str!(
        "../../../providers/src/whoop/sleep_example.json"
    ));
    sleep["id"] = json!(SLEEP_ID);
    api.json(
        "GET",
        &format!("/developer/v2/activity/sleep/{SLEEP_ID}"),
        sleep,
    );
    api.json(
        "GET",
        "/developer/v2/cycle/93845/recovery",
        doc(include_str!(
            "../../../providers/src/whoop/recovery_example.json"
        )),
    );
    api.json(
        "GET",
        "/developer/v2/cycle/93845",
        doc(include_str!(
            "../../../providers/src/whoop/cycle_example.json"
        )),
    );

    let sink = Sink::start(Behaviour::Ok).await;
    let secret = test_secret(9);
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

[ingest.whoop]
client_secret = "{SECRET}"

[normalizer.whoop]
api_base = "{base}/developer"
token_url = "{base}/oauth/oauth2/token"
client_id = "whoop-client"
client_secret = "{SECRET}"
"#,
        url = sink.url(),
        base = api.base_url(),
    );
    let pg = Pulsegate::start(&api.base_url(), &extra).await;

    // No handshake.
    let get = reqwest::get(pg.url("/v1/ingest/whoop")).await.unwrap();
    assert_eq!(get.status(), 405);

    let user_id = pg
        .connect(
            "whoop",
            &MEMBER.to_string(),
            "whoop-access",
            "whoop-refresh",
        )
        .await;

    // Refused: tampered body, wrong key, hex instead of Base64, stale timestamp.
    let ts = now_ms().to_string();
    let body = webhook("workout.updated", json!(WORKOUT_ID), "trace-workout-1");
    let good = sign(SECRET, &ts, &body);
    let tampered = body.replace("workout.updated", "workout.deleted");
    let stale = (now_ms() - 6 * 60 * 1000).to_string();
    for (sig, ts, body) in [
        (good.clone(), ts.clone(), tampered.as_str()),
        (sign("not-the-secret", &ts, &body), ts.clone(), &body),
        (hex::encode(mac(SECRET, &ts, &body)), ts.clone(), &body),
        (sign(SECRET, &stale, &body), stale.clone(), &body),
    ] {
        assert_eq!(push(&pg, &sig, &ts, body).await, 401, "{sig} {ts} {body}");
    }
    assert_eq!(pg.accepted("whoop").await, 0.0, "nothing was enqueued");

    // Accepted: a workout, then WHOOP's retry of it (same trace_id, new timestamp and
    // signature: accepted, deduplicated by the normalizer), a recovery (v2: the id is
    // the sleep's UUID) and a workout deletion.
    assert_eq!(push(&pg, &good, &ts, &body).await, 200);
    assert_eq!(push(&pg, &good, &ts, &body).await, 401, "exact replay");
    assert!(
        sink.wait_for(1, Duration::from_secs(20)).await,
        "{}",
        pg.logs()
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(push_signed(&pg, &body).await, 200, "WHOOP's retry");
    let recovery = webhook("recovery.updated", json!(SLEEP_ID), "trace-recovery-1");
    assert_eq!(push_signed(&pg, &recovery).await, 200);
    let deleted = webhook("workout.deleted", json!(WORKOUT_ID), "trace-delete-1");
    assert_eq!(push_signed(&pg, &deleted).await, 200);
    // A v1-model body (int64 id) is accepted at ingest too.
    let v1 = webhook("sleep.deleted", json!(10235), "trace-v1-1");
    assert_eq!(push_signed(&pg, &v1).await, 200);
    assert_eq!(pg.accepted("whoop").await, 5.0);

    assert!(
        sink.wait_for(3, Duration::from_secs(20)).await,
        "delivered {}: {}",
        sink.count(),
        pg.logs()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        sink.count(),
        3,
        "the retry and the sleep deletion deliver nothing"
    );

    let mut by_type = std::collections::HashMap::new();
    for r in sink.received() {
        verify_delivery(&secret, &r.headers, &r.body).unwrap_or_else(|e| panic!("{e}"));
        let v = r.json();
        assert_eq!(v["user"]["user_id"], user_id.as_str());
        assert_eq!(v["user"]["provider"], "WHOOP");
        by_type.insert(v["type"].as_str().unwrap().to_string(), v);
    }
    let activity = &by_type["activity"]["data"][0];
    assert_eq!(activity["metadata"]["summary_id"], WORKOUT_ID);
    assert_eq!(activity["metadata"]["type"], 8);
    assert_eq!(
        activity["metadata"]["start_time"],
        "2022-04-23T21:25:44.774-05:00"
    );
    assert_eq!(activity["calories_data"]["total_burned_calories"], 375);
    assert_eq!(activity["heart_rate_data"]["summary"]["max_hr_bpm"], 146.0);
    let daily = &by_type["daily"]["data"][0];
    assert_eq!(daily["scores"]["recovery"], 44.0);
    assert_eq!(daily["heart_rate_data"]["summary"]["resting_hr_bpm"], 64.0);
    assert_eq!(daily["strain_data"]["strain_level"], 5.2951527);
    assert_eq!(
        daily["metadata"]["start_time"],
        "2022-04-23T21:25:44.774-05:00"
    );
    assert_eq!(
        by_type["activity_deleted"]["data"],
        json!([{"summary_id": WORKOUT_ID}])
    );
    // The workout was fetched once (the retry was deduplicated), with the member's token.
    let fetched = api.requests_to(&format!("/developer/v2/activity/workout/{WORKOUT_ID}"));
    assert_eq!(fetched.len(), 1);
    assert_eq!(fetched[0].bearer(), Some("whoop-access"));
}

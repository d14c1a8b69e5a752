//! Oura end to end: the real binary, a mock of Oura's API serving Oura's documented
//! example documents, a customer sink. Notifications are signed here the way Oura
//! documents it (upper-case hex HMAC-SHA256(client secret, timestamp ‖ body)), written
//! independently of pulsegate's code.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use pulsegate_testkit::provider_api::{MockApi, TokenStyle};
use pulsegate_testkit::sink::{Behaviour, Sink};
use serde_json::{json, Value};

use crate::support::{test_secret, verify_delivery, Pulsegate};

const SECRET: &str = "oura-test-client-secret";
const VERIFY: &str = "oura-verification-token";
const USER: &str = "user123";
const WORKOUT_ID: &str = "8f9a5221-639e-4a85-81cb-4065ef23f979";
const SLEEP_ID: &str = "b1c2d3e4-0000-4a85-81cb-4065ef23f979";

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn sign(key: &str, ts: &str, body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(ts.as_bytes());
    mac.update(body.as_bytes());
    hex::encode_upper(mac.finalize().into_bytes())
}

fn notification(event_type: &str, data_type: &str, object_id: &str, at: &str) -> String {
    json!({
        "event_type": event_type,
        "data_type": data_type,
        "object_id": object_id,
        "event_time": at,
        "user_id": USER,
    })
    .to_string()
}

async fn push(pg: &Pulsegate, sig: &str, ts: &str, body: &str) -> u16 {
    pg.push_raw(
        "oura",
        &[
            ("content-type", "application/json"),
            ("x-oura-signature", sig),
            ("x-oura-timestamp", ts),
        ],
        body.to_string(),
    )
    .await
    .0
}

fn doc(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oura_end_to_end() {
    let api = MockApi::start().await;
    api.token_endpoint("/oauth/token", TokenStyle::Standard);
    api.accept_refresh_token("oura-refresh");
    // Only tokens the token endpoint issued are valid: the stored one gets a 401 first.
    api.accept_token("never-stored");
    api.json(
        "GET",
        &format!("/v2/usercollection/workout/{WORKOUT_ID}"),
        doc(include_str!(
            "../../../providers/src/oura/workout_example.json"
        )),
    );
    let mut sleep = doc(include_str!(
        "../../../providers/src/oura/sleep_example.json"
    ));
    sleep["id"] = json!(SLEEP_ID);
    api.json(
        "GET",
        &format!("/v2/usercollection/sleep/{SLEEP_ID}"),
        sleep,
    );

    let sink = Sink::start(Behaviour::Ok).await;
    let secret = test_secret(7);
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

[ingest.oura]
client_secret = "{SECRET}"
verification_token = "{VERIFY}"

[normalizer.oura]
api_base = "{base}"
client_id = "oura-client"
client_secret = "{SECRET}"
"#,
        url = sink.url(),
        base = api.base_url(),
    );
    let pg = Pulsegate::start(&api.base_url(), &extra).await;

    // The subscription handshake.
    let ok = reqwest::get(pg.url(&format!(
        "/v1/ingest/oura?verification_token={VERIFY}&challenge=ch-4711"
    )))
    .await
    .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(
        ok.json::<Value>().await.unwrap(),
        json!({"challenge": "ch-4711"})
    );
    let wrong = reqwest::get(pg.url("/v1/ingest/oura?verification_token=nope&challenge=x"))
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    let user_id = pg
        .connect("oura", USER, "stale-access", "oura-refresh")
        .await;

    // Refused: tampered body, wrong key, lower-case hex, stale timestamp.
    let ts = now_secs().to_string();
    let body = notification("create", "workout", WORKOUT_ID, "2021-01-01T01:31:00+00:00");
    let good = sign(SECRET, &ts, &body);
    let tampered = body.replace(USER, "user124");
    let stale_ts = (now_secs() - 600).to_string();
    for (sig, ts, body) in [
        (good.clone(), ts.clone(), tampered.as_str()),
        (sign("not-the-secret", &ts, &body), ts.clone(), &body),
        (good.to_lowercase(), ts.clone(), &body),
        (sign(SECRET, &stale_ts, &body), stale_ts.clone(), &body),
    ] {
        assert_eq!(push(&pg, &sig, &ts, body).await, 401, "{sig} {ts} {body}");
    }
    assert_eq!(pg.accepted("oura").await, 0.0, "nothing was enqueued");

    // Accepted: a workout (the token is refreshed after Oura's 401), a sleep period
    // and a workout deletion.
    assert_eq!(push(&pg, &good, &ts, &body).await, 200);
    // The exact same signed request again is a replay.
    assert_eq!(push(&pg, &good, &ts, &body).await, 401);
    let sleep_body = notification("update", "sleep", SLEEP_ID, "2022-07-12T16:30:00+00:00");
    assert_eq!(
        push(&pg, &sign(SECRET, &ts, &sleep_body), &ts, &sleep_body).await,
        200
    );
    let del = notification("delete", "workout", WORKOUT_ID, "2021-01-02T00:00:00+00:00");
    assert_eq!(push(&pg, &sign(SECRET, &ts, &del), &ts, &del).await, 200);
    assert_eq!(pg.accepted("oura").await, 3.0);

    assert!(
        sink.wait_for(3, Duration::from_secs(20)).await,
        "delivered {}: {}",
        sink.count(),
        pg.logs()
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(sink.count(), 3, "nothing else reaches the customer");

    let mut by_type = std::collections::HashMap::new();
    for r in sink.received() {
        verify_delivery(&secret, &r.headers, &r.body).unwrap_or_else(|e| panic!("{e}"));
        let v = r.json();
        assert_eq!(v["user"]["user_id"], user_id.as_str());
        assert_eq!(v["user"]["provider"], "OURA");
        by_type.insert(v["type"].as_str().unwrap().to_string(), v);
    }
    let activity = &by_type["activity"]["data"][0];
    assert_eq!(activity["metadata"]["summary_id"], WORKOUT_ID);
    assert_eq!(activity["metadata"]["type"], 1);
    assert_eq!(
        activity["metadata"]["start_time"],
        "2021-01-01T01:00:00+00:00"
    );
    assert_eq!(activity["calories_data"]["total_burned_calories"], 300);
    assert_eq!(
        activity["distance_data"]["summary"]["distance_meters"],
        13501
    );
    let sleep = &by_type["sleep"]["data"][0];
    assert_eq!(sleep["metadata"]["summary_id"], SLEEP_ID);
    assert_eq!(sleep["metadata"]["start_time"], "2022-07-12T01:05:14-07:00");
    assert_eq!(
        sleep["sleep_durations_data"]["asleep"]["duration_deep_sleep_state_seconds"],
        4170.0
    );
    assert_eq!(
        by_type["activity_deleted"]["data"],
        json!([{"summary_id": WORKOUT_ID}])
    );

    // One refresh, with the client credentials in the form body; the data calls after
    // it carry the new token.
    let grants = api.requests_to("/oauth/token");
    assert_eq!(grants.len(), 1);
    let form = String::from_utf8_lossy(&grants[0].body).to_string();
    for part in [
        "grant_type=refresh_token",
        "refresh_token=oura-refresh",
        "client_id=oura-client",
        &format!("client_secret={SECRET}"),
    ] {
        assert!(form.contains(part), "{part} in the token request");
    }
    let fetched = api.requests_to(&format!("/v2/usercollection/sleep/{SLEEP_ID}"));
    assert_eq!(fetched.len(), 1);
    assert_eq!(fetched[0].bearer(), Some("access-1"));
}

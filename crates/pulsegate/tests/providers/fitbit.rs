//! Fitbit end to end: the real binary, a mock of Fitbit's Web API and OAuth token
//! endpoint serving the example responses next to the normalizer, a customer sink.
//! Notifications are signed here as Fitbit documents it (Base64(HMAC-SHA1(key =
//! client_secret + "&", msg = raw body))), independently of pulsegate's code. Fitbit
//! signs no timestamp, so there is no stale case to test.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use pulsegate_testkit::provider_api::{MockApi, TokenStyle};
use pulsegate_testkit::sink::{Behaviour, Sink};
use serde_json::{json, Value};

use crate::support::{test_secret, verify_delivery, Pulsegate};

const CLIENT_SECRET: &str = "fb-client-secret-0123456789abcdef";
const VERIFY_CODE: &str = "4f1c9e2a7b3d8e6f";
const OWNER: &str = "X1Y2Z3";
const FOODIE: &str = "228S74";

fn mac(key: &str, body: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<sha1::Sha1>::new_from_slice(format!("{key}&").as_bytes()).unwrap();
    m.update(body);
    m.finalize().into_bytes().to_vec()
}

fn sign(key: &str, body: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(mac(key, body.as_bytes()))
}

fn entry(collection: &str, date: &str, owner: &str) -> Value {
    json!({"collectionType": collection, "date": date, "ownerId": owner, "ownerType": "user",
        "subscriptionId": format!("sub-{owner}")})
}

async fn push(pg: &Pulsegate, sig: Option<&str>, body: &str) -> u16 {
    let mut headers = vec![("content-type", "application/json")];
    if let Some(sig) = sig {
        headers.push(("x-fitbit-signature", sig));
    }
    pg.push_raw("fitbit", &headers, body.to_string()).await.0
}

fn doc(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fitbit_end_to_end() {
    let api = MockApi::start().await;
    api.token_endpoint("/oauth2/token", TokenStyle::Standard);
    api.accept_refresh_token("fb-refresh");
    // Only tokens the token endpoint issued are valid: the stored one gets a 401 first.
    api.accept_token("never-stored");
    api.json(
        "GET",
        "/1/user/-/profile.json",
        json!({"user": {"encodedId": OWNER, "offsetFromUTCMillis": -28800000,
            "timezone": "America/Los_Angeles"}}),
    );
    api.json(
        "GET",
        &format!("/1/user/{OWNER}/activities/date/2019-01-03.json"),
        doc(include_str!(
            "../../../providers/src/fitbit/daily_activity_example.json"
        )),
    );
    api.json(
        "GET",
        "/1/user/-/activities/list.json",
        doc(include_str!(
            "../../../providers/src/fitbit/activity_log_list_example.json"
        )),
    );
    api.json(
        "GET",
        "/1.2/user/-/sleep/date/2020-02-21.json",
        doc(include_str!(
            "../../../providers/src/fitbit/sleep_example.json"
        )),
    );
    api.json(
        "GET",
        "/1/user/-/body/log/weight/date/2019-03-01.json",
        doc(include_str!(
            "../../../providers/src/fitbit/weight_example.json"
        )),
    );

    let sink = Sink::start(Behaviour::Ok).await;
    let secret = test_secret(21);
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

[ingest.fitbit]
verification_code = "{VERIFY_CODE}"
client_secret = "{CLIENT_SECRET}"

[normalizer.fitbit]
api_base = "{base}"
client_id = "23ABCD"
client_secret = "{CLIENT_SECRET}"
"#,
        url = sink.url(),
        base = api.base_url(),
    );
    let pg = Pulsegate::start(&api.base_url(), &extra).await;

    // Subscriber verification: the right code → 204, Fitbit's deliberately wrong one → 404.
    let verify = |code: &str| reqwest::get(pg.url(&format!("/v1/ingest/fitbit?verify={code}")));
    assert_eq!(verify(VERIFY_CODE).await.unwrap().status(), 204);
    assert_eq!(verify("0000000000000000").await.unwrap().status(), 404);

    let user_id = pg
        .connect("fitbit", OWNER, "stale-access", "fb-refresh")
        .await;
    pg.connect("fitbit", FOODIE, "foodie-access", "foodie-refresh")
        .await;

    // One batch, two users: X1Y2Z3's activities, sleep and body; 228S74's foods.
    let batch = Value::Array(vec![
        entry("activities", "2019-01-03", OWNER),
        entry("sleep", "2020-02-21", OWNER),
        entry("foods", "2019-01-03", FOODIE),
        entry("body", "2019-03-01", OWNER),
    ])
    .to_string();
    let good = sign(CLIENT_SECRET, &batch);

    // Refused with 401 and not enqueued: tampered body, wrong key, hex encoding, key
    // without the "&", no signature.
    let tampered = batch.replace("2020-02-21", "2020-02-22");
    let hex_sig = hex::encode(mac(CLIENT_SECRET, batch.as_bytes()));
    let mut no_amp = Hmac::<sha1::Sha1>::new_from_slice(CLIENT_SECRET.as_bytes()).unwrap();
    no_amp.update(batch.as_bytes());
    let no_amp = base64::engine::general_purpose::STANDARD.encode(no_amp.finalize().into_bytes());
    for (sig, body) in [
        (Some(good.as_str()), tampered.as_str()),
        (Some(&sign("another-secret", &batch)), batch.as_str()),
        (Some(hex_sig.as_str()), batch.as_str()),
        (Some(no_amp.as_str()), batch.as_str()),
        (None, batch.as_str()),
    ] {
        assert_eq!(push(&pg, sig, body).await, 401, "{sig:?}");
    }
    assert_eq!(pg.accepted("fitbit").await, 0.0, "nothing was enqueued");

    // Accepted with 204: the batch, then the user's revocation.
    assert_eq!(push(&pg, Some(&good), &batch).await, 204);
    // Delivered before the revocation: a deauthorization erases the user's data key, so
    // what is still queued then is never delivered (docs/ENCRYPTION.md).
    assert!(
        sink.wait_for(4, Duration::from_secs(20)).await,
        "delivered {}: {}",
        sink.count(),
        pg.logs()
    );
    let revoke = Value::Array(vec![entry("userRevokedAccess", "2019-03-02", OWNER)]).to_string();
    assert_eq!(
        push(&pg, Some(&sign(CLIENT_SECRET, &revoke)), &revoke).await,
        204
    );
    assert_eq!(pg.accepted("fitbit").await, 2.0);

    // daily + activity (the walk of 2019-01-03) + sleep + body + deauth.
    assert!(
        sink.wait_for(5, Duration::from_secs(20)).await,
        "delivered {}: {}",
        sink.count(),
        pg.logs()
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(sink.count(), 5, "foods and the next day's log are not sent");

    let mut by_type: HashMap<String, Value> = HashMap::new();
    for r in sink.received() {
        verify_delivery(&secret, &r.headers, &r.body).unwrap_or_else(|e| panic!("{e}"));
        let v = r.json();
        assert_eq!(v["user"]["user_id"], user_id.as_str());
        assert_eq!(v["user"]["provider"], "FITBIT");
        let t = v["type"].as_str().unwrap().to_string();
        assert!(by_type.insert(t.clone(), v).is_none(), "one {t}");
    }
    let daily = &by_type["daily"]["data"][0];
    assert_eq!(daily["metadata"]["start_time"], "2019-01-03T00:00:00-08:00");
    assert_eq!(daily["distance_data"]["steps"], 2771);
    assert_eq!(daily["distance_data"]["distance_meters"], 1260);
    assert_eq!(daily["calories_data"]["total_burned_calories"], 2628);
    assert_eq!(daily["heart_rate_data"]["summary"]["resting_hr_bpm"], 77.0);
    let walk = &by_type["activity"]["data"][0];
    assert_eq!(walk["metadata"]["summary_id"], "19018673358");
    assert_eq!(walk["metadata"]["start_time"], "2019-01-03T12:08:23-08:00");
    assert_eq!(walk["distance_data"]["summary"]["distance_meters"], 1771);
    let sleep = &by_type["sleep"]["data"][0];
    assert_eq!(sleep["metadata"]["start_time"], "2020-02-20T23:21:30-08:00");
    assert_eq!(
        sleep["sleep_durations_data"]["asleep"]["duration_deep_sleep_state_seconds"],
        6240.0
    );
    let body = &by_type["body"]["data"][0];
    assert_eq!(
        body["measurements_data"]["measurements"][0]["weight_kg"],
        72.5
    );
    assert_eq!(by_type["deauth"]["status"], "success");

    assert_eq!(
        pg.metric(
            "pulsegate_normalizer_dropped_total{provider=\"fitbit\",reason=\"unsupported_event\""
        )
        .await,
        1.0,
        "228S74's foods entry is counted"
    );
    let (status, conn) = pg
        .admin(
            reqwest::Method::GET,
            &format!("/v1/admin/connections/{user_id}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{conn}");
    assert_eq!(conn["status"], "revoked");

    // One refresh (after the 401), HTTP Basic client credentials, then the new token.
    let grants = api.requests_to("/oauth2/token");
    assert_eq!(grants.len(), 1);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("23ABCD:{CLIENT_SECRET}"));
    assert_eq!(
        grants[0].header("authorization"),
        Some(format!("Basic {basic}").as_str())
    );
    let form = String::from_utf8_lossy(&grants[0].body).to_string();
    assert!(form.contains("grant_type=refresh_token") && form.contains("refresh_token=fb-refresh"));
    assert!(
        !form.contains(CLIENT_SECRET),
        "the secret is not in the body"
    );
    let logs = api.requests_to("/1/user/-/activities/list.json");
    assert_eq!(logs.len(), 1);
    assert_eq!(
        logs[0].query.as_deref(),
        Some("afterDate=2019-01-02&sort=asc&offset=0&limit=100")
    );
    assert_eq!(logs[0].bearer(), Some("access-1"));
    assert_eq!(
        api.requests_to("/1/user/-/profile.json").len(),
        2,
        "the profile once (401, then retried), then cached"
    );
}

/// Google shut the Fitbit Web API down on 2026-11-02: it answers 410 Gone. The
/// connection gets one `connection_error` saying so, however many notifications follow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fitbit_410_gone_is_one_connection_error_per_connection() {
    let api = MockApi::start().await;
    let gone =
        r#"{"errors":[{"errorType":"gone","message":"The Fitbit Web API has been turned off."}]}"#;
    for path in [
        "/1/user/-/profile.json",
        &format!("/1/user/{OWNER}/activities/date/2026-11-03.json"),
        "/1/user/-/activities/list.json",
        "/1.2/user/-/sleep/date/2026-11-04.json",
        "/1/user/-/body/log/weight/date/2026-11-04.json",
    ] {
        api.respond("GET", path, 410, gone);
    }
    let sink = Sink::start(Behaviour::Ok).await;
    let secret = test_secret(22);
    let extra = format!(
        r#"
[dispatcher]
timeout = "3s"
retry_schedule = ["200ms"]
allow_private_networks = true

[[destinations]]
id = "customer"
url = "{url}"
secret = "{secret}"
event_types = []

[ingest.fitbit]
verification_code = "{VERIFY_CODE}"
client_secret = "{CLIENT_SECRET}"

[normalizer.fitbit]
api_base = "{base}"
client_id = "23ABCD"
client_secret = "{CLIENT_SECRET}"
"#,
        url = sink.url(),
        base = api.base_url(),
    );
    let pg = Pulsegate::start(&api.base_url(), &extra).await;
    let user_id = pg
        .connect("fitbit", OWNER, "still-valid-access", "fb-refresh")
        .await;

    // Three notifications of the same user (queued before the shutdown, or a replayed
    // subscription): one announcement.
    for batch in [
        vec![entry("activities", "2026-11-03", OWNER)],
        vec![entry("sleep", "2026-11-04", OWNER)],
        vec![entry("body", "2026-11-04", OWNER)],
    ] {
        let body = Value::Array(batch).to_string();
        assert_eq!(
            push(&pg, Some(&sign(CLIENT_SECRET, &body)), &body).await,
            204
        );
    }
    assert!(
        sink.wait_for(1, Duration::from_secs(20)).await,
        "{}",
        pg.logs()
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        sink.count(),
        1,
        "one connection_error, not one per notification"
    );
    let r = &sink.received()[0];
    verify_delivery(&secret, &r.headers, &r.body).unwrap_or_else(|e| panic!("{e}"));
    let v = r.json();
    assert_eq!(v["type"], "connection_error");
    assert_eq!(v["status"], "warning");
    assert_eq!(
        v["message"],
        "Fitbit Web API was shut down by Google on 2026-11-02; reconnect through Google Health"
    );
    assert_eq!(v["user"]["user_id"], user_id.as_str());
    assert_eq!(
        pg.metric(
            "pulsegate_normalizer_dropped_total{provider=\"fitbit\",reason=\"provider_retired\""
        )
        .await,
        2.0
    );
    let (_, conn) = pg
        .admin(
            reqwest::Method::GET,
            &format!("/v1/admin/connections/{user_id}"),
            None,
        )
        .await;
    assert!(conn["metadata"]["fitbit_retired"].is_string(), "{conn}");
    assert!(
        api.requests_to("/oauth2/token").is_empty(),
        "410 is not retried with a refresh"
    );
}

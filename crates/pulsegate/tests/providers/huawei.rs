//! Huawei Health Kit end to end: the real binary, a mock of Health Kit's REST API and
//! OAuth token endpoint serving the example documents next to the normalizer, a customer
//! sink. Notifications are signed here the way Huawei documents it
//! (Base64(HMAC-SHA256(Base64-decode(Secret), openId_eventType_eventTime))), written
//! independently of pulsegate's code.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use pulsegate_testkit::provider_api::{MockApi, TokenStyle};
use pulsegate_testkit::sink::{Behaviour, Sink};
use serde_json::{json, Value};

use crate::support::{test_secret, verify_delivery, Pulsegate};

/// A subscriber Secret as the console card shows it.
const SECRET: &str = "c3Vic2NyaWJlci1zZWNyZXQtZm9yLXB1bHNlZ2F0ZSE=";
const OPEN_ID: &str = "MDFAMTAxMjc4NTAxQDk4ZjE2ZTQ4ZmNkNTFkYWU2MDk5MGFlNWY1";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn mac(key: &[u8], msg: &str) -> Vec<u8> {
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    m.update(msg.as_bytes());
    m.finalize().into_bytes().to_vec()
}

fn sign(secret_b64: &str, event_type: &str, event_time: u64) -> String {
    let key = B64.decode(secret_b64).unwrap();
    B64.encode(mac(&key, &format!("{OPEN_ID}_{event_type}_{event_time}")))
}

fn notification(open_id: &str, event_type: &str, event_time: u64, meta: Value) -> String {
    json!({
        "subscriberId": "sub-1",
        "subscriptionId": "subscription-1",
        "openId": open_id,
        "eventType": event_type,
        "eventTime": event_time,
        "metaData": meta,
    })
    .to_string()
}

async fn push(pg: &Pulsegate, sig: &str, body: &str) -> u16 {
    pg.push_raw(
        "huawei",
        &[
            ("content-type", "application/json; charset=UTF-8"),
            ("x-notification-signature", sig),
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
async fn huawei_end_to_end() {
    let api = MockApi::start().await;
    api.token_endpoint("/oauth2/v3/token", TokenStyle::Standard);
    api.accept_refresh_token("hw-refresh");
    // Only tokens the token endpoint issued are valid: the stored one gets a 401 first.
    api.accept_token("never-stored");
    api.json(
        "GET",
        "/healthkit/v2/activityRecords",
        doc(include_str!(
            "../../../providers/src/huawei/activity_records_example.json"
        )),
    );
    api.json(
        "POST",
        "/healthkit/v2/sampleSet:polymerize",
        doc(include_str!(
            "../../../providers/src/huawei/polymerize_daily_example.json"
        )),
    );
    api.json(
        "GET",
        "/healthkit/v2/healthRecords",
        doc(include_str!(
            "../../../providers/src/huawei/health_records_sleep_example.json"
        )),
    );

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

[ingest.huawei]
subscriber_secret = "{SECRET}"
subscriber_id = "sub-1"

[normalizer.huawei]
api_base = "{base}"
token_url = "{base}/oauth2/v3/token"
client_id = "hw-client"
client_secret = "hw-client-secret"
"#,
        url = sink.url(),
        base = api.base_url(),
    );
    let pg = Pulsegate::start(&api.base_url(), &extra).await;
    let client = reqwest::Client::new();

    // The console's connectivity test: GET, HEAD, or a POST without a notification.
    for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
        let r = client
            .request(method.clone(), pg.url("/v1/ingest/huawei"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "{method}");
    }
    assert_eq!(pg.push_raw("huawei", &[], "").await.0, 204);
    assert_eq!(pg.push_raw("huawei", &[], "{}").await.0, 204);
    assert_eq!(pg.accepted("huawei").await, 0.0, "probes are not enqueued");

    let user_id = pg
        .connect("huawei", OPEN_ID, "stale-access", "hw-refresh")
        .await;

    // Refused: tampered signed field, wrong key, hex encoding, stale eventTime, unsigned.
    const ACTIVITY: &str = "ACTIVITY_RECORD_EVENT$UPDATE";
    let t = now_ms();
    let meta = json!({"startTime": "1592905552721", "endTime": "1592906207222", "activityType": "5", "timeZone": "+0800"});
    let body = notification(OPEN_ID, ACTIVITY, t, meta.clone());
    let good = sign(SECRET, ACTIVITY, t);
    let tampered = notification("another-open-id", ACTIVITY, t, meta.clone());
    let hex_sig = hex::encode(mac(
        &B64.decode(SECRET).unwrap(),
        &format!("{OPEN_ID}_{ACTIVITY}_{t}"),
    ));
    let stale_t = t - 10 * 60 * 1000;
    let stale = notification(OPEN_ID, ACTIVITY, stale_t, meta.clone());
    for (sig, body) in [
        (good.clone(), tampered.as_str()),
        (sign("b3RoZXItc2VjcmV0", ACTIVITY, t), body.as_str()),
        (hex_sig, body.as_str()),
        (sign(SECRET, ACTIVITY, stale_t), stale.as_str()),
    ] {
        assert_eq!(push(&pg, &sig, body).await, 401, "{sig} {body}");
    }
    assert_eq!(pg.push_raw("huawei", &[], body.clone()).await.0, 401);
    assert_eq!(pg.accepted("huawei").await, 0.0, "nothing was enqueued");

    // Accepted (204): an activity record update (the token is refreshed after Huawei's
    // 401), a step-count update, a sleep record update, then the user's revocation.
    assert_eq!(push(&pg, &good, &body).await, 204);
    assert_eq!(push(&pg, &good, &body).await, 401, "a replay");
    let steps = "SAMPLESET_EVENT$UPDATE$com.huawei.continuous.steps.delta";
    let day =
        json!({"startTime": "1592905552721", "endTime": "1592906207222", "timeZone": "+0800"});
    let b = notification(OPEN_ID, steps, t, day.clone());
    assert_eq!(push(&pg, &sign(SECRET, steps, t), &b).await, 204);
    let sleep = "HEALTH_RECORD_EVENT$UPDATE$com.huawei.health.record.sleep";
    let night =
        json!({"startTime": 1592839800000u64, "endTime": 1592868600000u64, "timeZone": "+0800"});
    let b = notification(OPEN_ID, sleep, t, night);
    assert_eq!(push(&pg, &sign(SECRET, sleep, t), &b).await, 204);
    // Delivered before the revocation: a deauthorization erases the user's data key, so
    // what is still queued then is never delivered (docs/ENCRYPTION.md).
    assert!(
        sink.wait_for(3, Duration::from_secs(20)).await,
        "delivered {}: {}",
        sink.count(),
        pg.logs()
    );
    let revoke = "USER_EVENT$REVOKE_ALL";
    let b = notification(OPEN_ID, revoke, t, json!({}));
    assert_eq!(push(&pg, &sign(SECRET, revoke, t), &b).await, 204);
    assert_eq!(pg.accepted("huawei").await, 4.0);

    assert!(
        sink.wait_for(4, Duration::from_secs(20)).await,
        "delivered {}: {}",
        sink.count(),
        pg.logs()
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(sink.count(), 4, "nothing else reaches the customer");

    let mut by_type = std::collections::HashMap::new();
    for r in sink.received() {
        verify_delivery(&secret, &r.headers, &r.body).unwrap_or_else(|e| panic!("{e}"));
        let v = r.json();
        assert_eq!(v["user"]["user_id"], user_id.as_str());
        assert_eq!(v["user"]["provider"], "HUAWEI");
        by_type.insert(v["type"].as_str().unwrap().to_string(), v);
    }
    let activity = &by_type["activity"]["data"][0];
    assert_eq!(activity["metadata"]["summary_id"], "1592905552721");
    assert_eq!(activity["metadata"]["type"], 12);
    assert_eq!(
        activity["metadata"]["start_time"],
        "2020-06-23T17:45:52.721+08:00"
    );
    assert_eq!(activity["calories_data"]["total_burned_calories"], 16);
    assert_eq!(activity["heart_rate_data"]["summary"]["avg_hr_bpm"], 120.0);
    let daily = &by_type["daily"]["data"][0];
    assert_eq!(
        daily["metadata"]["start_time"],
        "2020-06-23T00:00:00.000+08:00"
    );
    assert_eq!(daily["distance_data"]["steps"], 7118);
    assert_eq!(daily["calories_data"]["total_burned_calories"], 2140);
    let sleep = &by_type["sleep"]["data"][0];
    assert_eq!(sleep["metadata"]["summary_id"], "sleep-1592839800000");
    assert_eq!(
        sleep["sleep_durations_data"]["asleep"]["duration_deep_sleep_state_seconds"],
        6600.0
    );
    assert_eq!(by_type["deauth"]["status"], "success");

    // The connection is revoked.
    let (status, conn) = pg
        .admin(
            reqwest::Method::GET,
            &format!("/v1/admin/connections/{user_id}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{conn}");
    assert_eq!(conn["status"], "revoked");

    // One refresh, at the configured token URL, client credentials in the form body.
    let grants = api.requests_to("/oauth2/v3/token");
    assert_eq!(grants.len(), 1);
    let form = String::from_utf8_lossy(&grants[0].body).to_string();
    for part in [
        "grant_type=refresh_token",
        "refresh_token=hw-refresh",
        "client_id=hw-client",
        "client_secret=hw-client-secret",
    ] {
        assert!(form.contains(part), "{part} in the token request");
    }
    // The fetches: the notified ranges, in ms (activity records), whole days in the
    // user's zone (polymerize) and ns (health records), with the refreshed token.
    let records = api.requests_to("/healthkit/v2/activityRecords");
    let last = records.last().unwrap();
    assert_eq!(
        last.query.as_deref(),
        Some("startTime=1592905552721&endTime=1592906207222")
    );
    assert_eq!(last.bearer(), Some("access-1"));
    let poly = api.requests_to("/healthkit/v2/sampleSet:polymerize");
    assert_eq!(poly.len(), 1);
    assert_eq!(poly[0].bearer(), Some("access-1"));
    let req: Value = serde_json::from_slice(&poly[0].body).unwrap();
    assert_eq!(req["startTime"], 1592841600000u64);
    assert_eq!(req["endTime"], 1592927999999u64);
    assert_eq!(req["groupByTime"]["groupPeriod"]["timeZone"], "+0800");
    assert_eq!(
        req["polymerizeWith"][0]["dataTypeName"],
        "com.huawei.continuous.steps.delta"
    );
    let health = api.requests_to("/healthkit/v2/healthRecords");
    assert_eq!(health.len(), 1);
    assert!(health[0]
        .query
        .as_deref()
        .unwrap()
        .starts_with("startTime=1592839800000000000&endTime=1592868600000999999&dataType=com.huawei.health.record.sleep"));
}

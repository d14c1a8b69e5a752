//! Issue 10, finding 4: replay guards survived only in memory, so a signed Oura push
//! replayed after a restart was accepted and delivered again, and Fitbit had no guard at
//! all. Here the real binary accepts a signed Oura and a signed Fitbit push, is killed
//! (SIGKILL: nothing is flushed on the way out) and restarted on the same data, and the
//! same requests again get 401 `replay` and are not enqueued. Signatures are computed
//! here from the providers' documentation, independently of pulsegate's code.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::json;

use crate::support::Pulsegate;

const OURA_SECRET: &str = "oura-replay-client-secret";
const FITBIT_SECRET: &str = "fitbit-replay-client-secret";

fn oura_sign(ts: &str, body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(OURA_SECRET.as_bytes()).unwrap();
    mac.update(ts.as_bytes());
    mac.update(body.as_bytes());
    hex::encode_upper(mac.finalize().into_bytes())
}

fn fitbit_sign(body: &str) -> String {
    let key = format!("{FITBIT_SECRET}&");
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

async fn oura(pg: &Pulsegate, ts: &str, body: &str) -> u16 {
    let sig = oura_sign(ts, body);
    let headers = [
        ("content-type", "application/json"),
        ("x-oura-signature", sig.as_str()),
        ("x-oura-timestamp", ts),
    ];
    pg.push_raw("oura", &headers, body.to_string()).await.0
}

async fn fitbit(pg: &Pulsegate, body: &str) -> u16 {
    let sig = fitbit_sign(body);
    let headers = [
        ("content-type", "application/json"),
        ("x-fitbit-signature", sig.as_str()),
    ];
    pg.push_raw("fitbit", &headers, body.to_string()).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_after_a_restart_is_refused() {
    let extra = format!(
        r#"
[ingest.oura]
client_secret = "{OURA_SECRET}"
verification_token = "v"

[ingest.fitbit]
client_secret = "{FITBIT_SECRET}"
verification_code = "c"
"#
    );
    let mut pg = Pulsegate::start("http://127.0.0.1:9", &extra).await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let ts = now.to_string();
    let oura_body = json!({"event_type": "create", "data_type": "workout",
        "object_id": "w-1", "event_time": "2021-01-01T01:31:00+00:00", "user_id": "u-1"})
    .to_string();
    let fitbit_body = json!([{"collectionType": "activities", "date": "2024-03-01",
        "ownerId": "ABC123", "ownerType": "user", "subscriptionId": "s-1"}])
    .to_string();

    assert_eq!(oura(&pg, &ts, &oura_body).await, 200);
    assert_eq!(fitbit(&pg, &fitbit_body).await, 204);
    // Before the restart, too.
    assert_eq!(oura(&pg, &ts, &oura_body).await, 401);
    assert_eq!(fitbit(&pg, &fitbit_body).await, 401);

    pg.kill9();
    pg.spawn().await;

    assert_eq!(oura(&pg, &ts, &oura_body).await, 401, "{}", pg.logs());
    assert_eq!(fitbit(&pg, &fitbit_body).await, 401);
    assert_eq!(
        pg.accepted("oura").await,
        0.0,
        "the replay was not enqueued"
    );
    assert_eq!(
        pg.accepted("fitbit").await,
        0.0,
        "the replay was not enqueued"
    );
    assert_eq!(
        pg.metric("pulsegate_ingest_rejects_total{provider=\"oura\",reason=\"replay\"")
            .await,
        1.0
    );
    // New notifications still get through.
    let next = oura_body.replace("w-1", "w-2");
    assert_eq!(oura(&pg, &ts, &next).await, 200);
    let next = fitbit_body.replace("2024-03-01", "2024-03-02");
    assert_eq!(fitbit(&pg, &next).await, 204);
}

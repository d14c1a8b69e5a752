//! Providers' own credentials through the admin API: validated, encrypted at rest
//! (checked in the raw store), masked in answers, absent from logs, applied by every
//! component without a restart, and rotated with a grace period.

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

mod support;

use std::time::{Duration, Instant};

use base64::Engine;
use support::*;

const KEY: [u8; 32] = [7; 32];
const CLIENT_SECRET: &str = "strava-client-secret-5f1c";
const TOKEN_ONE: &str = "verify-token-one-9a2b";
const TOKEN_TWO: &str = "verify-token-two-77de";

async fn put(pg: &Pulsegate, provider: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    pg.admin(
        reqwest::Method::PUT,
        &format!("/v1/admin/integrations/{provider}/credentials"),
        Some(body),
    )
    .await
}

async fn handshake(pg: &Pulsegate, token: &str) -> u16 {
    let path = pg.push_path("strava").await;
    reqwest::get(pg.url(&format!(
        "{path}?hub.mode=subscribe&hub.challenge=c1&hub.verify_token={token}"
    )))
    .await
    .unwrap()
    .status()
    .as_u16()
}

/// Waits until the handshake with `token` answers `want` (credentials apply within
/// moments, through the state topic).
async fn until_handshake(pg: &Pulsegate, token: &str, want: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = handshake(pg, token).await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "handshake with {token}: {got}, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn files_contain(dir: &std::path::Path, needle: &[u8]) -> bool {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    return true;
                }
            }
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_credentials_are_validated_encrypted_masked_applied_and_rotated() {
    let key = base64::engine::general_purpose::STANDARD.encode(KEY);
    let extra = format!("[security]\nencryption_key = \"{key}\"\n");
    let pg = Pulsegate::start("http://127.0.0.1:9", &extra).await;

    // Validation: unknown field, wrong shape; the refused value is never echoed.
    let (status, body) = put(
        &pg,
        "strava",
        serde_json::json!({"fields": {"api_key": "x"}}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = put(
        &pg,
        "strava",
        serde_json::json!({"fields": {"subscription_id": "not-a-number-3141"}}),
    )
    .await;
    assert_eq!(status, 422);
    assert!(!body.to_string().contains("3141"), "{body}");
    let (status, body) = put(
        &pg,
        "huawei",
        serde_json::json!({"fields": {"subscriber_secret": "no base64 here!"}}),
    )
    .await;
    assert_eq!(status, 422);
    assert!(body["error"].as_str().unwrap().contains("Base64"), "{body}");
    let (status, _) = put(
        &pg,
        "huawei",
        serde_json::json!({"fields": {"callback_address": "http://plain.example"}}),
    )
    .await;
    assert_eq!(status, 422, "Huawei requires an https callback");
    let (status, _) = put(&pg, "apple", serde_json::json!({"fields": {}})).await;
    assert_eq!(status, 422);

    // Set Strava's application: masked in the answer, applied to ingest.
    let (status, body) = put(
        &pg,
        "strava",
        serde_json::json!({"fields": {
            "client_id": "4711",
            "client_secret": CLIENT_SECRET,
            "verify_token": TOKEN_ONE,
            "subscription_id": "5555",
        }}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["fields"]["client_id"], "4711");
    assert_eq!(body["fields"]["subscription_id"], "5555");
    let shown = body.to_string();
    assert!(
        !shown.contains(CLIENT_SECRET) && !shown.contains(TOKEN_ONE),
        "{shown}"
    );
    until_handshake(&pg, TOKEN_ONE, 200).await;
    // The file's token was replaced; the subscription id too.
    assert_eq!(handshake(&pg, VERIFY_TOKEN).await, 403);
    let client = reqwest::Client::new();
    let event = |sub: u64| {
        format!(
            r#"{{"aspect_type":"create","event_time":1732550400,"object_id":1,"object_type":"activity","owner_id":1,"subscription_id":{sub},"updates":{{}}}}"#
        )
    };
    let path = pg.push_path("strava").await;
    let status = |sub: u64| {
        let client = client.clone();
        let url = pg.url(&path);
        let body = event(sub);
        async move {
            client
                .post(url)
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(status(SUBSCRIPTION_ID).await, 401);
    assert_eq!(status(5555).await, 200);

    // Rotation: during the grace period both tokens verify.
    let (status, body) = put(
        &pg,
        "strava",
        serde_json::json!({"fields": {"verify_token": TOKEN_TWO}, "grace_period_secs": 3600}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rotating"], serde_json::json!(["verify_token"]));
    until_handshake(&pg, TOKEN_TWO, 200).await;
    assert_eq!(
        handshake(&pg, TOKEN_ONE).await,
        200,
        "old token inside the grace period"
    );
    // Ending the grace period: only the new token.
    let (status, _) = put(
        &pg,
        "strava",
        serde_json::json!({"fields": {"verify_token": TOKEN_TWO}, "grace_period_secs": 0}),
    )
    .await;
    assert_eq!(status, 200);
    until_handshake(&pg, TOKEN_ONE, 403).await;
    assert_eq!(handshake(&pg, TOKEN_TWO).await, 200);

    // Reading it back: masked.
    let (status, body) = pg
        .admin(
            reqwest::Method::GET,
            "/v1/admin/integrations/strava/credentials",
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(!body.to_string().contains(CLIENT_SECRET));
    assert!(body["fields"]["client_secret"]
        .as_str()
        .unwrap()
        .ends_with("chars)"));

    // At rest: the raw store holds the record (its key is readable) but not the values;
    // connections' tokens are encrypted too.
    pg.connect(
        "strava",
        "31337",
        "access-token-at-rest-6e0d",
        "refresh-at-rest-0b7a",
    )
    .await;
    let data = pg.config_path().parent().unwrap().join("data");
    assert!(
        files_contain(&data, b"credentials/strava"),
        "the record is in the store"
    );
    for secret in [CLIENT_SECRET, TOKEN_ONE, TOKEN_TWO] {
        assert!(
            !files_contain(&data, secret.as_bytes()),
            "{secret} in clear on disk"
        );
    }
    // Nor in the logs.
    let logs = pg.logs();
    for secret in [CLIENT_SECRET, TOKEN_ONE, TOKEN_TWO, &key] {
        assert!(!logs.contains(secret), "{secret} in the logs");
    }
}

//! Issue 10, finding 1 (ingest side): Strava and Garmin sign nothing, so their push
//! routes are reachable only through a per-deployment secret path token. Against the
//! real binary: a forged Strava deauthorization and a forged Garmin deregistration sent
//! to the old routes (or with a guessed token) get 404, nothing is enqueued and the
//! connections keep their tokens; the token from the admin API works; a rotated-out
//! token works during its grace period and not after; repeated failures from one
//! address get 429.

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

mod support;

use std::time::Duration;

use support::*;

async fn post(pg: &Pulsegate, path: &str, headers: &[(&str, &str)], body: &str) -> u16 {
    let mut req = reqwest::Client::new()
        .post(pg.url(path))
        .header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(body.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn admin_push_url(pg: &Pulsegate, provider: &str) -> String {
    let (status, body) = pg
        .admin(
            reqwest::Method::GET,
            &format!("/v1/admin/integrations/{provider}/push-url"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["path_token"], true);
    body["path"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_unsigned_pushes_without_the_path_token_change_nothing() {
    let extra = r#"
[ingest.garmin]
client_id = "garmin-public-client-id"
"#;
    let pg = Pulsegate::start("http://127.0.0.1:9", extra).await;
    let strava_user = pg.connect_athlete(777, "strava-at", "strava-rt").await;
    let garmin_user = pg
        .connect("garmin", "g-user-1", "garmin-at", "garmin-rt")
        .await;

    let deauth = strava_event("athlete", 777, "update", 777, r#"{"authorized":"false"}"#);
    let dereg = r#"{"deregistrations":[{"userId":"g-user-1","userAccessToken":"x"}]}"#;
    let garmin_headers = [("garmin-client-id", "garmin-public-client-id")];
    let strava_path = admin_push_url(&pg, "strava").await;
    let garmin_path = admin_push_url(&pg, "garmin").await;
    assert_ne!(strava_path, "/v1/ingest/strava");
    let token = strava_path.rsplit('/').next().unwrap();
    assert!(token.len() >= 22, "at least 128 bits: {token}");
    for path in [
        "/v1/ingest/strava".to_string(),
        "/v1/ingest/strava/1".to_string(),
        format!("/v1/ingest/strava/{}", token.to_uppercase()),
        garmin_path.replace("/garmin/", "/strava/"),
    ] {
        assert_eq!(post(&pg, &path, &[], &deauth).await, 404, "{path}");
    }
    for path in [
        "/v1/ingest/garmin".to_string(),
        strava_path.replace("/strava/", "/garmin/"),
    ] {
        assert_eq!(
            post(&pg, &path, &garmin_headers, dereg).await,
            404,
            "{path}"
        );
    }
    // The handshake too.
    let hs = reqwest::get(pg.url(&format!(
        "/v1/ingest/strava?hub.mode=subscribe&hub.challenge=c&hub.verify_token={VERIFY_TOKEN}"
    )))
    .await
    .unwrap();
    assert_eq!(hs.status(), 404);
    assert_eq!(
        pg.accepted("strava").await + pg.accepted("garmin").await,
        0.0
    );
    assert_eq!(
        pg.metric("pulsegate_ingest_rejects_total{provider=\"strava\",reason=\"path_token\"")
            .await,
        5.0
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    for user in [&strava_user, &garmin_user] {
        let (status, c) = pg
            .admin(
                reqwest::Method::GET,
                &format!("/v1/admin/connections/{user}"),
                None,
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(c["status"], "active", "{c}");
        assert_ne!(c["access_token"], "", "{c}");
    }

    // With the token: the handshake answers and pushes are accepted.
    let hs = reqwest::get(pg.url(&format!(
        "{strava_path}?hub.mode=subscribe&hub.challenge=c&hub.verify_token={VERIFY_TOKEN}"
    )))
    .await
    .unwrap();
    assert_eq!(hs.status(), 200);
    let create = strava_event("activity", 5, "create", 777, "{}");
    assert_eq!(post(&pg, &strava_path, &[], &create).await, 200);
    let daily = r#"{"dailies":[{"userId":"g-user-1","summaryId":"d1","calendarDate":"2024-01-01","steps":1}]}"#;
    assert_eq!(post(&pg, &garmin_path, &garmin_headers, daily).await, 200);
    assert_eq!(pg.accepted("strava").await, 1.0);
    assert_eq!(pg.accepted("garmin").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_path_token_works_during_its_grace_period_only() {
    let pg = Pulsegate::start("http://127.0.0.1:9", "").await;
    let old = admin_push_url(&pg, "strava").await;
    // Stable until rotated.
    assert_eq!(admin_push_url(&pg, "strava").await, old);
    let (status, body) = pg
        .admin(
            reqwest::Method::POST,
            "/v1/admin/integrations/strava/push-url/rotate",
            Some(serde_json::json!({"grace_secs": 2})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let new = body["path"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert!(body["previous_valid_until_ms"].as_u64().is_some());
    assert_eq!(admin_push_url(&pg, "strava").await, new);
    let event = |id| strava_event("activity", id, "create", 1, "{}");
    assert_eq!(post(&pg, &new, &[], &event(1)).await, 200);
    assert_eq!(
        post(&pg, &old, &[], &event(2)).await,
        200,
        "within the grace"
    );
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    assert_eq!(
        post(&pg, &old, &[], &event(3)).await,
        404,
        "after the grace"
    );
    assert_eq!(post(&pg, &new, &[], &event(4)).await, 200);
    assert_eq!(pg.accepted("strava").await, 3.0);
    // Signed providers have no token.
    let (status, body) = pg
        .admin(
            reqwest::Method::GET,
            "/v1/admin/integrations/oura/push-url",
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["path"], "/v1/ingest/oura");
    assert_eq!(body["path_token"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_from_one_address_get_429() {
    let extra = "[ingest.throttle]\nfailures = 5\nwindow_secs = 30\n";
    let pg = Pulsegate::start("http://127.0.0.1:9", extra).await;
    let path = admin_push_url(&pg, "strava").await;
    let event = strava_event("activity", 1, "create", 1, "{}");
    for i in 0..5 {
        let guess = format!("/v1/ingest/strava/guess-{i}");
        assert_eq!(post(&pg, &guess, &[], &event).await, 404);
    }
    let resp = reqwest::Client::new()
        .post(pg.url(&path))
        .body(event.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let wait: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&wait), "{wait}");
    assert_eq!(pg.accepted("strava").await, 0.0);
    assert!(
        pg.metric("pulsegate_ingest_rejects_total{provider=\"strava\",reason=\"throttled\"")
            .await
            >= 1.0
    );
}

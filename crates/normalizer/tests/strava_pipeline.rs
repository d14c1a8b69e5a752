//! The normalizer end to end: raw topic → MockStrava → events topic, on a real embedded
//! bus and state store.

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

mod common;

use common::*;
use pulsegate_schema::{stable_id, ConnectionStatus};
use pulsegate_testkit::strava::Endpoint;
use serde_json::{json, Value};

/// Strava's documented `getActivityById` example (id 12345678987654321, athlete 134815).
const EXAMPLE: &str = include_str!("../../providers/src/strava/detailed_activity_example.json");
const EXAMPLE_ID: u64 = 12345678987654321;

fn example() -> Value {
    serde_json::from_str(EXAMPLE).unwrap()
}

/// Without `last_webhook_update` (the time the event was built: see [`stamped`]).
fn expected_user() -> Value {
    json!({"user_id": USER_ID, "provider": "STRAVA", "reference_id": "customer-user-42",
           "scopes": "read,activity:read_all",
           // The connection's created_at_ms (1), as Terra writes times.
           "created_at": "1970-01-01T00:00:00.001000+00:00"})
}

/// A body with its `user.last_webhook_update` (the time the event was built, in Terra's
/// format) checked and taken out, for comparing the rest.
fn stamped(body: &Value) -> Value {
    let mut body = body.clone();
    let at = body["user"]
        .as_object_mut()
        .and_then(|u| u.remove("last_webhook_update"))
        .unwrap_or_else(|| panic!("no user.last_webhook_update in {body}"));
    let at = at.as_str().unwrap();
    assert_eq!(at.len(), "2024-10-07T03:45:00.000000+00:00".len(), "{at}");
    assert!(at.ends_with("+00:00") && at.as_bytes()[10] == b'T', "{at}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_and_update_become_activity_events() {
    let mut h = Harness::start(None).await;
    h.strava.add_activity(EXAMPLE_ID, OWNER, example());
    let r1 = h
        .notify(activity_event(EXAMPLE_ID, "create", 1516126040))
        .await;
    let r2 = h
        .notify(activity_event(EXAMPLE_ID, "update", 1516126100))
        .await;
    h.settle().await;
    assert_eq!(h.strava.requests(Endpoint::GetActivity), 2);
    let events = h.stop().await;

    assert_eq!(events.len(), 2, "{events:#?}");
    let (create, update) = (&events[0], &events[1]);
    assert_eq!(create["reference"], r1.as_str());
    assert_eq!(update["reference"], r2.as_str());
    assert_eq!(
        create["event_id"],
        stable_id(&[
            "strava",
            "activity",
            &EXAMPLE_ID.to_string(),
            "create",
            "1516126040"
        ])
    );
    assert_eq!(
        update["event_id"],
        stable_id(&[
            "strava",
            "activity",
            &EXAMPLE_ID.to_string(),
            "update",
            "1516126100"
        ])
    );
    for e in &events {
        assert_eq!(e["type"], "activity");
        assert_eq!(e["user_id"], USER_ID);
        let body = &e["body"];
        assert_eq!(body["type"], "activity");
        assert_eq!(body["version"], "2022-03-16");
        assert_eq!(stamped(body)["user"], expected_user());
        let data = body["data"].as_array().unwrap();
        assert_eq!(data.len(), 1);
        let m = &data[0]["metadata"];
        assert_eq!(m["summary_id"], "12345678987654321");
        assert_eq!(m["name"], "Happy Friday");
        assert_eq!(m["start_time"], "2018-02-16T06:52:54-08:00");
        assert_eq!(m["end_time"], "2018-02-16T08:06:24-08:00");
        assert_eq!(m["type"], 15);
        assert_eq!(m["upload_type"], 1);
        assert_eq!(
            data[0]["distance_data"]["summary"]["distance_meters"],
            28099
        );
        assert_eq!(data[0]["calories_data"]["total_burned_calories"], 870);
    }
    assert_eq!(create["received_at_ms"], 1_700_000_000_001u64);
    assert_eq!(update["received_at_ms"], 1_700_000_000_002u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_becomes_activity_deleted_without_api_call() {
    let mut h = Harness::start(None).await;
    let r = h.notify(activity_event(987, "delete", 1516126040)).await;
    h.settle().await;
    assert_eq!(h.strava.requests(Endpoint::GetActivity), 0);
    let events = h.stop().await;
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e["type"], "activity_deleted");
    assert_eq!(e["reference"], r.as_str());
    assert_eq!(
        stamped(&e["body"]),
        json!({"type": "activity_deleted", "user": expected_user(),
               "data": [{"summary_id": "987"}], "version": "2022-03-16"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deauthorization_revokes_and_emits_deauth() {
    let mut h = Harness::start(None).await;
    h.strava.add_activity(EXAMPLE_ID, OWNER, example());
    // The athlete really revoked the app: Strava refuses their tokens from now on.
    h.strava.deauthorize(OWNER);
    h.notify(deauth_event(1516126040)).await;
    h.settle().await;
    let conn = h.state.connection(USER_ID).unwrap();
    assert_eq!(conn.status, ConnectionStatus::Revoked);
    assert!(conn.access_token.is_empty() && conn.refresh_token.is_empty());

    // Later notifications for the revoked connection are dropped without API calls.
    h.notify(activity_event(EXAMPLE_ID, "create", 1516126050))
        .await;
    h.settle().await;
    assert_eq!(h.strava.requests(Endpoint::GetActivity), 0);

    let events = h.stop().await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["type"], "deauth");
    assert_eq!(
        stamped(&events[0]["body"]),
        json!({"type": "deauth", "user": expected_user(), "status": "success",
               "message": "User has deauthenticated"})
    );
}

/// Finding 1: an unsigned deauthorization push whose athlete's token still works at
/// Strava is forged: the connection and its tokens stay, no `deauth` is emitted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_deauthorization_leaves_connection_and_tokens() {
    let mut h = Harness::start(None).await;
    h.strava.add_activity(EXAMPLE_ID, OWNER, example());
    h.notify(deauth_event(1516126040)).await;
    h.settle().await;
    let conn = h.state.connection(USER_ID).unwrap();
    assert_eq!(conn.status, ConnectionStatus::Active);
    assert_eq!(conn.access_token.expose(), TOKEN);
    assert_eq!(conn.refresh_token.expose(), REFRESH);
    assert_eq!(
        h.strava.requests(Endpoint::GetAthlete),
        1,
        "asked Strava once"
    );

    // The connection still works: a later activity is fetched and delivered.
    h.notify(activity_event(EXAMPLE_ID, "create", 1516126050))
        .await;
    let events = h.stop().await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["activity"], "{events:#?}");
}

/// An expired token is refreshed before asking; the refreshed token still works, so the
/// push is still forged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_deauthorization_with_expired_token_refreshes_and_keeps_connection() {
    let mut h = Harness::start(Some(connection(now_secs() - 10, TOKEN, REFRESH))).await;
    h.notify(deauth_event(1516126040)).await;
    h.settle().await;
    let conn = h.state.connection(USER_ID).unwrap();
    assert_eq!(conn.status, ConnectionStatus::Active);
    assert!(!conn.access_token.is_empty() && !conn.refresh_token.is_empty());
    assert_eq!(h.strava.requests(Endpoint::OAuthToken), 1);
    let events = h.stop().await;
    assert!(events.is_empty(), "{events:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_owner_ignored_updates_and_garbage_emit_nothing() {
    let mut h = Harness::start(None).await;
    h.strava.add_activity(EXAMPLE_ID, OWNER, example());
    // Unknown athlete.
    let mut unknown = activity_event(EXAMPLE_ID, "create", 1516126040);
    unknown["owner_id"] = json!(999);
    h.notify(unknown).await;
    // An athlete update that is not a deauthorization.
    let mut athlete = deauth_event(1516126041);
    athlete["updates"] = json!({"firstname": "Ann"});
    h.notify(athlete).await;
    // Not a Strava event; not a raw notification at all; owner/user mismatch.
    h.notify(json!({"owner_id": OWNER, "hello": "world"})).await;
    h.append_raw("strava:1".into(), b"\xff\x00 not json".to_vec())
        .await;
    h.append_raw(
        "strava:1".into(),
        br#"{"id":"x","provider":"GARMIN"}"#.to_vec(),
    )
    .await;
    let events = h.stop().await;
    assert!(events.is_empty(), "{events:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_notification_yields_one_event() {
    let mut h = Harness::start(None).await;
    h.strava.add_activity(EXAMPLE_ID, OWNER, example());
    for _ in 0..3 {
        h.notify(activity_event(EXAMPLE_ID, "create", 1516126040))
            .await;
    }
    h.settle().await;
    assert_eq!(
        h.strava.requests(Endpoint::GetActivity),
        1,
        "duplicates skipped before the API"
    );
    let events = h.stop().await;
    assert_eq!(events.len(), 1, "{events:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_token_is_refreshed_once_and_stored() {
    let old = connection(now_secs() - 10, "tok-expired", REFRESH);
    let mut h = Harness::start(Some(old)).await;
    h.strava.add_activity(EXAMPLE_ID, OWNER, example());
    h.strava.add_example_activity(555, OWNER);
    h.notify(activity_event(EXAMPLE_ID, "create", 1516126040))
        .await;
    h.notify(activity_event(555, "create", 1516126041)).await;
    h.settle().await;
    assert_eq!(h.strava.requests(Endpoint::OAuthToken), 1);
    assert_eq!(h.strava.requests(Endpoint::GetActivity), 2);
    let conn = h.state.connection(USER_ID).unwrap();
    assert_eq!(
        Some(conn.access_token.expose().to_string()),
        h.strava.current_token(OWNER)
    );
    assert_eq!(
        Some(conn.refresh_token.expose().to_string()),
        h.strava.current_refresh_token(OWNER)
    );
    assert_ne!(
        conn.refresh_token.expose(),
        REFRESH,
        "the rotated refresh token is kept"
    );
    assert!(conn.expires_at > now_secs() + 3600);
    let events = h.stop().await;
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e["type"] == "activity"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_once_refreshes_then_succeeds() {
    let mut h = Harness::start(None).await;
    h.strava.add_activity(EXAMPLE_ID, OWNER, example());
    h.strava.revoke_token(TOKEN);
    h.notify(activity_event(EXAMPLE_ID, "create", 1516126040))
        .await;
    h.settle().await;
    assert_eq!(h.strava.requests(Endpoint::GetActivity), 2);
    assert_eq!(h.strava.requests(Endpoint::OAuthToken), 1);
    let events = h.stop().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "activity");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_refresh_emits_connection_error() {
    let old = connection(now_secs() + 60, "tok-expiring", "ref-unknown");
    let mut h = Harness::start(Some(old)).await;
    h.strava.add_activity(EXAMPLE_ID, OWNER, example());
    h.notify(activity_event(EXAMPLE_ID, "create", 1516126040))
        .await;
    h.settle().await;
    assert_eq!(h.strava.requests(Endpoint::OAuthToken), 1);
    assert_eq!(h.strava.requests(Endpoint::GetActivity), 0);
    let events = h.stop().await;
    assert_eq!(events.len(), 1, "{events:#?}");
    let e = &events[0];
    assert_eq!(e["type"], "connection_error");
    assert_eq!(e["body"]["type"], "connection_error");
    assert_eq!(e["body"]["status"], "warning");
    assert_eq!(stamped(&e["body"])["user"], expected_user());
    let text = e.to_string();
    assert!(!text.contains("ref-unknown") && !text.contains("tok-expiring"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_error_then_success_yields_one_event() {
    let mut h = Harness::start(None).await;
    h.strava.add_activity(EXAMPLE_ID, OWNER, example());
    h.strava.fail_next(Endpoint::GetActivity, 1, 500);
    h.notify(activity_event(EXAMPLE_ID, "create", 1516126040))
        .await;
    h.settle().await;
    assert_eq!(h.strava.requests(Endpoint::GetActivity), 2);
    let events = h.stop().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "activity");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_honours_retry_after_then_succeeds() {
    let mut h = Harness::start(None).await;
    h.strava.add_activity(EXAMPLE_ID, OWNER, example());
    h.strava.set_retry_after(Some(1)); // capped by max_backoff (50 ms) in this config
    h.strava.fail_next(Endpoint::GetActivity, 2, 429);
    h.notify(activity_event(EXAMPLE_ID, "create", 1516126040))
        .await;
    h.settle().await;
    assert_eq!(h.strava.requests(Endpoint::GetActivity), 3);
    assert_eq!(h.stop().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_outage_and_404_are_dropped_without_blocking() {
    let mut h = Harness::start(None).await;
    h.strava.add_activity(EXAMPLE_ID, OWNER, example());
    // max_attempts is 3: three 503s exhaust the notification, which is dropped.
    h.strava.fail_next(Endpoint::GetActivity, 3, 503);
    h.notify(activity_event(EXAMPLE_ID, "create", 1516126040))
        .await;
    h.settle().await;
    assert_eq!(h.strava.requests(Endpoint::GetActivity), 3);
    // Unknown activity: 404, dropped. And the partition keeps flowing.
    h.notify(activity_event(4040, "create", 1516126041)).await;
    h.notify(activity_event(EXAMPLE_ID, "delete", 1516126042))
        .await;
    h.settle().await;
    assert_eq!(h.strava.requests(Endpoint::GetActivity), 4);
    let events = h.stop().await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["type"], "activity_deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivery_after_restart_keeps_event_ids() {
    // Same notification processed by two normalizer runs (no shared dedupe memory):
    // identical event ids, so downstream webhook ids are stable too.
    let mut ids = Vec::new();
    for _ in 0..2 {
        let mut h = Harness::start(None).await;
        h.strava.add_activity(EXAMPLE_ID, OWNER, example());
        h.notify(activity_event(EXAMPLE_ID, "update", 1516126040))
            .await;
        let events = h.stop().await;
        assert_eq!(events.len(), 1);
        ids.push(events[0]["event_id"].clone());
    }
    assert_eq!(ids[0], ids[1]);
}

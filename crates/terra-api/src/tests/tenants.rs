//! Every user belongs to one developer account: another account's key (or any key, for
//! an operator-owned user) is answered "user not found" on every `/v2` route, and
//! listings hold only the caller's users.

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use pulsegate_schema::{ConnectionStatus, Provider};
use serde_json::Value;
use tower::ServiceExt;

use super::{env, is_terra_error, Env};

/// Calls as developer "devb" (key "keyb").
async fn as_b(e: &Env, method: &str, uri: &str, body: &str) -> (u16, Value) {
    e.send_as("devb", method, uri, Some("keyb"), body).await
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or(&vec![])
        .iter()
        .map(|u| u["user_id"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Every route that names a user, for user `id`.
fn user_routes(id: &str) -> Vec<(&'static str, String, &'static str)> {
    vec![
        ("GET", format!("/v2/userInfo?user_id={id}"), ""),
        (
            "PATCH",
            format!("/v2/users/{id}"),
            r#"{"reference_id":"stolen"}"#,
        ),
        (
            "PATCH",
            format!("/v2/userInfo?user_id={id}"),
            r#"{"reference_id":"stolen"}"#,
        ),
        (
            "GET",
            format!("/v2/activity?user_id={id}&start_date=2026-01-01&to_webhook=false"),
            "",
        ),
        (
            "GET",
            format!("/v2/activity?user_id={id}&start_date=2026-01-01"),
            "",
        ),
        ("GET", format!("/v2/athlete?user_id={id}"), ""),
        (
            "GET",
            format!("/v2/sleep?user_id={id}&start_date=2026-01-01"),
            "",
        ),
        (
            "POST",
            format!("/v2/activity?user_id={id}"),
            r#"{"data":[{}]}"#,
        ),
        (
            "DELETE",
            format!("/v2/body?user_id={id}"),
            r#"{"log_ids":["x"]}"#,
        ),
        (
            "DELETE",
            format!("/v2/auth/deauthenticateUser?user_id={id}"),
            "",
        ),
    ]
}

#[tokio::test]
async fn another_developers_user_is_not_found_on_any_route() {
    let e = env(true).await;
    e.user("a1", Provider::Strava, "shared").await;
    e.user_of("b1", Provider::Fitbit, "shared", Some("devb"))
        .await;
    e.user_of("op1", Provider::Oura, "shared", None).await;

    for (method, uri, body) in user_routes("a1") {
        let (status, answer) = as_b(&e, method, &uri, body).await;
        assert_eq!(status, 404, "B: {method} {uri}: {answer}");
        assert!(is_terra_error(&answer), "{answer}");
    }
    // An operator-owned user is no developer's.
    for (method, uri, body) in user_routes("op1") {
        assert_eq!(e.call(method, &uri, body).await.0, 404, "A: {method} {uri}");
        assert_eq!(
            as_b(&e, method, &uri, body).await.0,
            404,
            "B: {method} {uri}"
        );
    }
    // Nothing happened to them: not renamed, not deauthenticated, no data fetched.
    for id in ["a1", "op1"] {
        let c = e.state.connection(id).expect("still there");
        assert_eq!(c.reference_id.as_deref(), Some("shared"));
        assert_eq!(c.status, ConnectionStatus::Active);
    }
    assert!(e.backfill.calls.lock().unwrap().is_empty());
    // The 501 of planned workouts does not name another account's user's provider.
    let (_, answer) = as_b(&e, "GET", "/v2/plannedWorkout?user_id=a1", "").await;
    assert!(
        !answer.to_string().contains("STRAVA"),
        "leaks the provider: {answer}"
    );

    // Listings: each account sees only its own.
    let (_, answer) = as_b(&e, "GET", "/v2/userInfo?reference_id=shared", "").await;
    assert_eq!(ids(&answer), ["b1"]);
    let (_, answer) = e.call("GET", "/v2/userInfo?reference_id=shared", "").await;
    assert_eq!(ids(&answer), ["a1"]);
    let (_, answer) = as_b(&e, "POST", "/v2/bulkUserInfo", r#"["a1","b1","op1"]"#).await;
    assert_eq!(ids(&answer), ["b1"]);
    let (_, answer) = as_b(&e, "GET", "/v2/subscriptions", "").await;
    assert_eq!(ids(&answer["users"]), ["b1"]);
    let (_, answer) = as_b(&e, "GET", "/v2/subscriptions?page=0&per_page=10", "").await;
    assert_eq!(ids(&answer["data"]["results"]), ["b1"]);
    assert_eq!(answer["data"]["max_page"], 0);

    // The owner still reaches its user on every route that reads it.
    let (status, answer) = e.call("GET", "/v2/userInfo?user_id=a1", "").await;
    assert_eq!(status, 200, "{answer}");
    let (status, _) = e
        .call("DELETE", "/v2/auth/deauthenticateUser?user_id=a1", "")
        .await;
    assert_eq!(status, 200);
    assert!(e.state.connection("a1").is_none());
}

#[tokio::test]
async fn flows_and_sdk_connections_are_owned_by_the_key_that_started_them() {
    let e = env(true).await;
    // A flow started by B leads the browser to pulsegate's start URL (which binds it to
    // that browser), not straight to the provider.
    let (status, answer) = as_b(
        &e,
        "POST",
        "/v2/auth/authenticateUser?resource=STRAVA",
        r#"{"reference_id":"r"}"#,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let url = answer["auth_url"].as_str().unwrap();
    assert!(
        url.starts_with("https://pg.example/v1/auth/strava/start?flow="),
        "{url}"
    );

    // An SDK connection belongs to the account whose auth token made it, and another
    // account cannot take it over by naming its provider_user_id.
    let exchange = |dev: &'static str, key: &'static str| {
        let e = &e;
        async move {
            let (_, t) = e
                .send_as(dev, "POST", "/v2/auth/generateAuthToken", Some(key), "")
                .await;
            let req = Request::post("/v1/sdk/apple/connect")
                .header(
                    "authorization",
                    format!("Bearer {}", t["token"].as_str().unwrap()),
                )
                .body(Body::from(format!(
                    r#"{{"reference_id":"{dev}-ref","provider_user_id":"phone-1"}}"#
                )))
                .unwrap();
            let resp = e.app.clone().oneshot(req).await.unwrap();
            let status = resp.status().as_u16();
            let bytes = resp.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        }
    };
    let (status, answer) = exchange("dev", "key").await;
    assert_eq!(status, 201, "{answer}");
    let user_id = answer["user"]["user_id"].as_str().unwrap().to_string();
    assert_eq!(
        e.state.connection(&user_id).unwrap().dev_id.as_deref(),
        Some("dev")
    );
    let (status, answer) = exchange("devb", "keyb").await;
    assert_eq!(status, 409, "{answer}");
    let c = e.state.connection(&user_id).unwrap();
    assert_eq!(c.reference_id.as_deref(), Some("dev-ref"));
    assert_eq!(c.dev_id.as_deref(), Some("dev"));
    assert_eq!(
        as_b(&e, "GET", &format!("/v2/userInfo?user_id={user_id}"), "")
            .await
            .0,
        404
    );
}

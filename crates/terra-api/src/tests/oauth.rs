//! The OAuth flow's state, in-process: bound to the browser that opened the start URL
//! (cookie), single use, expiring; and lifecycle events with distinct ids.

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use pulsegate_schema::{
    stable_id, topics, Connection, ConnectionStatus, EventType, NormalizedEvent, Provider,
};
use serde_json::json;
use tower::ServiceExt;

use super::{env, env_with, Env};

struct Answer {
    status: u16,
    location: String,
    set_cookie: Vec<String>,
    text: String,
}

async fn get(e: &Env, uri: &str, cookie: Option<&str>) -> Answer {
    let mut req = Request::get(uri);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let resp = e
        .app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let header = |name: &str| {
        resp.headers()
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let (location, set_cookie) = (header("location").concat(), header("set-cookie"));
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        location,
        set_cookie,
        text: String::from_utf8_lossy(&bytes).into(),
    }
}

fn param(url: &str, name: &str) -> String {
    let q = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    pulsegate_schema::form::pairs(q)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
        .unwrap_or_default()
}

/// authenticateUser, then the browser opens the start URL: the start URL's ticket, the
/// provider's `state`, and the binding cookie (`name=value`).
async fn start_flow(e: &Env) -> (String, String, String) {
    let (status, started) = e
        .call(
            "POST",
            "/v2/auth/authenticateUser?resource=STRAVA",
            r#"{"auth_failure_redirect_url":"https://app.example/failed"}"#,
        )
        .await;
    assert_eq!(status, 200, "{started}");
    let path = started["auth_url"]
        .as_str()
        .unwrap()
        .strip_prefix("https://pg.example")
        .unwrap()
        .to_string();
    let a = get(e, &path, None).await;
    assert_eq!(a.status, 302, "{}", a.text);
    assert!(
        a.location.starts_with("https://www.strava.com/"),
        "{}",
        a.location
    );
    let cookie = a.set_cookie.concat();
    for attr in [
        "HttpOnly",
        "SameSite=Lax",
        "Secure",
        "Path=/v1/auth/",
        "Max-Age=",
    ] {
        assert!(cookie.contains(attr), "{attr}: {cookie}");
    }
    let binding = cookie.split(';').next().unwrap().to_string();
    (param(&path, "flow"), param(&a.location, "state"), binding)
}

/// The user declines at the provider: a callback that needs no token exchange, so an
/// accepted state shows as the failure redirect.
fn declined(state: &str) -> String {
    format!("/v1/auth/strava/callback?state={state}&error=access_denied")
}

#[tokio::test]
async fn a_state_works_once_and_only_in_the_browser_that_started_it() {
    let e = env(true).await;
    let (ticket, state, binding) = start_flow(&e).await;
    let name = binding.split('=').next().unwrap();

    // No cookie, another value, or the start URL's ticket as a state: an error page.
    for (uri, cookie) in [
        (declined(&state), None),
        (declined(&state), Some(format!("{name}=forged"))),
        (
            declined(&state),
            Some(format!("pg_oauth_other={}", &binding[name.len() + 1..])),
        ),
        (declined(&ticket), Some(binding.clone())),
    ] {
        let a = get(&e, &uri, cookie.as_deref()).await;
        assert_eq!(a.status, 400, "{cookie:?}: {}", a.text);
        assert!(a.location.is_empty(), "no redirect anywhere");
    }
    assert!(e.state.connections().is_empty());

    // The starting browser: accepted (the failure redirect), and its cookie cleared.
    let a = get(&e, &declined(&state), Some(&binding)).await;
    assert_eq!(a.status, 302, "{}", a.text);
    assert!(a.location.starts_with("https://app.example/failed?"));
    assert!(
        a.set_cookie.concat().contains("Max-Age=0"),
        "{:?}",
        a.set_cookie
    );

    // Replayed, even with the cookie: refused, nothing emitted.
    let before = events(&e).await.len();
    let a = get(&e, &declined(&state), Some(&binding)).await;
    assert_eq!(a.status, 400);
    assert!(a.text.contains("already used"), "{}", a.text);
    let a = get(
        &e,
        &format!("/v1/auth/strava/callback?state={state}&code=c"),
        Some(&binding),
    )
    .await;
    assert_eq!(a.status, 400);
    assert!(e.state.connections().is_empty());
    assert_eq!(events(&e).await.len(), before);
}

#[tokio::test]
async fn an_expired_state_connects_nothing() {
    let e = env_with(true, Duration::from_millis(1500)).await;
    let (_, state, binding) = start_flow(&e).await;
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let a = get(
        &e,
        &format!("/v1/auth/strava/callback?state={state}&code=c"),
        Some(&binding),
    )
    .await;
    assert_eq!(a.status, 400);
    assert!(a.text.contains("expired"), "{}", a.text);
    assert!(e.state.connections().is_empty());
    assert!(events(&e).await.is_empty());
}

async fn events(e: &Env) -> Vec<NormalizedEvent> {
    let mut c = e.bus.read_from_start(topics::EVENTS).await.unwrap();
    let mut out = Vec::new();
    while !c.caught_up() {
        for r in c.poll(1000, Duration::from_millis(100)).await.unwrap() {
            out.push(serde_json::from_slice(&r.payload).unwrap());
        }
    }
    out
}

#[tokio::test]
async fn an_auth_error_and_an_auth_success_of_one_connection_have_two_ids() {
    let e = env(true).await;
    let conn = Connection {
        user_id: "u1".into(),
        provider: Provider::Strava,
        provider_user_id: "1".into(),
        reference_id: None,
        access_token: Default::default(),
        refresh_token: Default::default(),
        expires_at: 0,
        scopes: None,
        status: ConnectionStatus::Active,
        created_at_ms: 0,
        dev_id: Some("dev".into()),
        metadata: Default::default(),
    };
    for status in ["error", "success"] {
        let body = json!({"type": "auth", "status": status, "user": {"user_id": "u1"}});
        pulsegate_connect::emit_lifecycle(&*e.bus, &conn, EventType::Auth, "flow-n", body)
            .await
            .unwrap();
    }
    let got = events(&e).await;
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|ev| ev.dev_id.as_deref() == Some("dev")));
    // The dispatcher's webhook-id: derived from the event id and the destination.
    let webhook_id = |ev: &NormalizedEvent| stable_id(&[&ev.event_id, "dest"]);
    assert_ne!(webhook_id(&got[0]), webhook_id(&got[1]));
}

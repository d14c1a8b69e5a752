//! The OAuth2 connect flow end to end against a mock provider on 127.0.0.1: start URL
//! (binding cookie) → authorize URL → callback → code exchange → connection stored →
//! `auth` webhook delivered → browser redirected; a denied, forged, replayed or foreign
//! (no cookie) flow; deauthorisation by the customer.

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

mod support;

use std::time::Duration;

use pulsegate_testkit::provider_api::{form_pairs, MockApi, TokenStyle};
use pulsegate_testkit::sink::{Behaviour, Sink};
use support::*;

const STATE_SECRET: &str = "connect-test-state-secret";

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The end user's browser: keeps cookies (as a browser does), follows no redirect so
/// each hop is checked.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

/// Opens pulsegate's start URL (`auth_url`, under the public URL) in `browser`; returns
/// the provider's authorize URL it redirects to, and the binding cookie it set.
async fn open_start(pg: &Pulsegate, browser: &reqwest::Client, auth_url: &str) -> (String, String) {
    let path = auth_url
        .strip_prefix("https://pulsegate.example")
        .unwrap_or_else(|| panic!("not pulsegate's start URL: {auth_url}"));
    assert!(path.starts_with("/v1/auth/strava/start?flow="), "{path}");
    let resp = browser.get(pg.url(path)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 302);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    (location, cookie)
}

fn query_of(url: &str) -> std::collections::HashMap<String, String> {
    form_pairs(url.split_once('?').map(|(_, q)| q).unwrap_or(""))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_flow_authorize_callback_exchange_auth_webhook_and_deauth() {
    let mock = MockApi::start().await;
    mock.token_endpoint("/oauth/token", TokenStyle::Standard)
        .token_extra(serde_json::json!({"athlete": {"id": 777, "firstname": "Ada"}}));
    let sink = Sink::start(Behaviour::Ok).await;
    let secret = test_secret(21);
    let extra = format!(
        r#"
[dispatcher]
timeout = "3s"
retry_schedule = ["200ms"]
allow_private_networks = true
[connect]
public_url = "https://pulsegate.example"
state_secret = "{STATE_SECRET}"
[connect.strava]
authorize_url = "{mock}/oauth/authorize"
token_url = "{mock}/oauth/token"
[[destinations]]
id = "sink"
url = "{sink}"
secret = "{secret}"
"#,
        mock = mock.base_url(),
        sink = sink.url()
    );
    let pg = Pulsegate::start(&mock.base_url(), &extra).await;

    // 1. The customer starts a flow.
    let (status, started) = pg
        .admin(
            reqwest::Method::POST,
            "/v1/admin/auth/strava",
            Some(serde_json::json!({
                "reference_id": "customer-42",
                "auth_success_redirect_url": "https://app.example/connected",
                "auth_failure_redirect_url": "https://app.example/failed",
            })),
        )
        .await;
    assert_eq!(status, 201, "{started}");
    let user_id = started["user_id"].as_str().unwrap().to_string();
    let b = browser();
    let (auth_url, cookie) = open_start(&pg, &b, started["auth_url"].as_str().unwrap()).await;
    assert!(auth_url.starts_with(&format!("{}/oauth/authorize?", mock.base_url())));
    for attr in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/v1/auth/"] {
        assert!(cookie.contains(attr), "{attr}: {cookie}");
    }
    let q = query_of(&auth_url);
    assert_eq!(q["client_id"], "cid");
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["scope"], "read,activity:read_all");
    assert_eq!(
        q["redirect_uri"],
        "https://pulsegate.example/v1/auth/strava/callback"
    );
    let state = q["state"].clone();

    // 2. A forged or tampered state is refused without redirecting anywhere.
    let client = no_redirects();
    let mut forged = state.clone();
    forged.insert(3, 'x');
    let resp = client
        .get(pg.url(&format!("/v1/auth/strava/callback?code=c&state={forged}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert!(mock.requests_to("/oauth/token").is_empty());

    // A browser other than the one that started (no binding cookie) gets an error
    // page; nothing is exchanged, nothing connected.
    let callback = pg.url(&format!(
        "/v1/auth/strava/callback?state={state}&code=the-code&scope=read,activity:read_all"
    ));
    let resp = client.get(&callback).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert!(resp.text().await.unwrap().contains("another browser"));
    assert!(mock.requests_to("/oauth/token").is_empty());
    let other = browser();
    open_start(&pg, &other, started["auth_url"].as_str().unwrap()).await;
    let resp = other.get(&callback).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 400, "another browser's cookie");
    assert!(mock.requests_to("/oauth/token").is_empty());

    // 3. The provider sends the browser back with a code.
    let resp = b.get(&callback).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with("https://app.example/connected?"),
        "{location}"
    );
    let back = query_of(&location);
    assert_eq!(back["user_id"], user_id);
    assert_eq!(back["resource"], "STRAVA");
    assert_eq!(back["reference_id"], "customer-42");

    // The same state again (a replay): refused, nothing exchanged nor connected. The
    // browser's cookie was cleared by the callback; even with the binding cookie
    // itself, the used state is refused.
    let resp = b.get(&callback).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let binding = cookie.split(';').next().unwrap();
    let resp = client
        .get(&callback)
        .header("cookie", binding)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert!(resp.text().await.unwrap().contains("already used"));
    let (_, all) = pg
        .admin(reqwest::Method::GET, "/v1/admin/connections", None)
        .await;
    assert_eq!(all["connections"].as_array().unwrap().len(), 1, "{all}");

    // The exchange happened once, with the code and the application's credentials.
    let exchanges = mock.requests_to("/oauth/token");
    assert_eq!(exchanges.len(), 1);
    let form = form_pairs(std::str::from_utf8(&exchanges[0].body).unwrap());
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["code"], "the-code");
    assert_eq!(form["client_id"], "cid");
    assert_eq!(form["client_secret"], "test-client-secret");

    // The connection is stored with the provider's user id; tokens masked in the API.
    let (status, conn) = pg
        .admin(
            reqwest::Method::GET,
            &format!("/v1/admin/connections/{user_id}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(conn["provider_user_id"], "777");
    assert_eq!(conn["reference_id"], "customer-42");
    assert_ne!(conn["access_token"], "access-1");

    // 4. The `auth` webhook reaches the customer, signed.
    assert!(sink.wait_for(1, Duration::from_secs(20)).await);
    let auth = &sink.received()[0];
    verify_delivery(&secret, &auth.headers, &auth.body).unwrap_or_else(|e| panic!("{e}"));
    let body = auth.json();
    assert_eq!(body["type"], "auth");
    assert_eq!(body["status"], "success");
    assert_eq!(body["user"]["user_id"], user_id.as_str());
    assert_eq!(body["user"]["provider"], "STRAVA");
    assert_eq!(body["reference_id"], "customer-42");
    assert_eq!(body["widget_session_id"], started["widget_session_id"]);

    // 5. A user who declines: failure redirect with the reason, `auth` error event.
    let (_, second) = pg
        .admin(
            reqwest::Method::POST,
            "/v1/admin/auth/strava",
            Some(serde_json::json!({
                "reference_id": "customer-43",
                "auth_failure_redirect_url": "https://app.example/failed",
            })),
        )
        .await;
    let (authorize2, _) = open_start(&pg, &b, second["auth_url"].as_str().unwrap()).await;
    let state2 = query_of(&authorize2)["state"].clone();
    let resp = b
        .get(pg.url(&format!(
            "/v1/auth/strava/callback?state={state2}&error=access_denied"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with("https://app.example/failed?"),
        "{location}"
    );
    assert_eq!(query_of(&location)["reason"], "user_denied");
    assert!(sink.wait_for(2, Duration::from_secs(20)).await);
    let error = sink.received()[1].json();
    assert_eq!(error["type"], "auth");
    assert_eq!(error["status"], "error");
    assert_eq!(error["reason"], "user_denied");
    assert_eq!(error["reference_id"], "customer-43");

    // 6. The customer deauthorises the user: tokens destroyed, `deauth` delivered.
    let (status, _) = pg
        .admin(
            reqwest::Method::DELETE,
            &format!("/v1/admin/connections/{user_id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert!(sink.wait_for(3, Duration::from_secs(20)).await);
    let deauth = sink.received()[2].json();
    assert_eq!(deauth["type"], "deauth");
    assert_eq!(deauth["user"]["user_id"], user_id.as_str());
    let (status, _) = pg
        .admin(
            reqwest::Method::GET,
            &format!("/v1/admin/connections/{user_id}"),
            None,
        )
        .await;
    assert_eq!(status, 404);

    // Nothing secret in the logs: the code exchange's tokens and the client secret.
    let logs = pg.logs();
    for secret in ["access-1", "refresh-1", "test-client-secret", STATE_SECRET] {
        assert!(!logs.contains(secret), "{secret} appears in the logs");
    }

    // Starting a flow for a provider without OAuth, or an unknown one.
    let (status, _) = pg
        .admin(reqwest::Method::POST, "/v1/admin/auth/apple", None)
        .await;
    assert_eq!(status, 422);
    let (status, _) = pg
        .admin(reqwest::Method::POST, "/v1/admin/auth/nope", None)
        .await;
    assert_eq!(status, 404);
}

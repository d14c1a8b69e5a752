//! The Terra-compatible API (`/v2`, what terra-python calls) and the widget, through
//! the real binary: developer keys, authenticateUser → provider callback → connection,
//! user info, integrations, the widget, deauthenticateUser, the mobile SDK token
//! exchange, the data endpoints' parameter checks, and writes (Strava, Fitbit, 501s).

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

mod support;

use std::time::Duration;

use pulsegate_testkit::provider_api::{form_pairs, MockApi, TokenStyle};
use pulsegate_testkit::sink::{Behaviour, Sink};
use reqwest::Method;
use serde_json::{json, Value};
use support::*;

const PUBLIC_URL: &str = "https://pulsegate.example";

/// The end user's browser: keeps cookies, follows no redirect (each hop is checked).
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

/// Opens pulsegate's start URL (under [`PUBLIC_URL`]) in `browser`; returns the
/// provider's authorize URL it redirects to.
async fn open_start(pg: &Pulsegate, browser: &reqwest::Client, start_url: &str) -> String {
    let path = start_url
        .strip_prefix(PUBLIC_URL)
        .unwrap_or_else(|| panic!("not pulsegate's start URL: {start_url}"));
    let resp = browser.get(pg.url(path)).send().await.unwrap();
    assert_eq!(resp.status(), 302, "{path}");
    assert!(resp.headers().contains_key("set-cookie"));
    resp.headers()["location"].to_str().unwrap().to_string()
}

fn query_of(url: &str) -> std::collections::HashMap<String, String> {
    form_pairs(url.split_once('?').map(|(_, q)| q).unwrap_or(""))
}

/// A developer's credentials, as terra-python sends them.
#[derive(Clone)]
struct Dev {
    id: String,
    key: String,
}

async fn create_developer(pg: &Pulsegate, body: Value) -> Dev {
    let (status, created) = pg
        .admin(Method::POST, "/v1/admin/developers", Some(body))
        .await;
    assert_eq!(status, 201, "{created}");
    Dev {
        id: created["dev_id"].as_str().unwrap().to_string(),
        key: created["api_key"].as_str().unwrap().to_string(),
    }
}

/// A `/v2` call with `dev-id` / `x-api-key` (when given); status and JSON body.
async fn v2(
    pg: &Pulsegate,
    dev: Option<&Dev>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method, pg.url(path));
    if let Some(dev) = dev {
        req = req.header("dev-id", &dev.id).header("x-api-key", &dev.key);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn assert_terra_error(body: &Value) {
    assert_eq!(body["status"], "error", "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn developer_keys_are_created_listed_checked_and_deleted() {
    let pg = Pulsegate::start("http://127.0.0.1:9", "").await;
    let nobody = Dev {
        id: "acme".into(),
        key: "pgkey_guess".into(),
    };
    let (status, body) = v2(&pg, Some(&nobody), Method::GET, "/v2/subscriptions", None).await;
    assert_eq!(status, 401);
    assert_terra_error(&body);
    // The integrations listings are public, as at Terra.
    let (status, body) = v2(&pg, Some(&nobody), Method::GET, "/v2/integrations", None).await;
    assert_eq!(status, 200, "{body}");

    // Admin token required.
    let resp = reqwest::Client::new()
        .post(pg.admin_url("/v1/admin/developers"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    let acme = create_developer(&pg, json!({"dev_id": "acme", "name": "Acme"})).await;
    let other = create_developer(&pg, json!({})).await;
    assert!(other.id.starts_with("pg-") && acme.key != other.key);
    let (status, _) = pg
        .admin(
            Method::POST,
            "/v1/admin/developers",
            Some(json!({"dev_id": "acme"})),
        )
        .await;
    assert_eq!(status, 409);
    let (status, _) = pg
        .admin(
            Method::POST,
            "/v1/admin/developers",
            Some(json!({"dev_id": "a b"})),
        )
        .await;
    assert_eq!(status, 422);
    let (status, list) = pg.admin(Method::GET, "/v1/admin/developers", None).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = list["developers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["dev_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&"acme") && ids.contains(&other.id.as_str()));
    assert_eq!(list["developers"][0]["name"], "Acme");
    let text = list.to_string();
    assert!(
        !text.contains(&acme.key) && !text.contains("key_hash"),
        "{text}"
    );

    // Each key works with its own dev-id only.
    let (status, body) = v2(&pg, Some(&acme), Method::GET, "/v2/subscriptions", None).await;
    assert_eq!(status, 200, "{body}");
    for wrong in [
        Dev {
            id: acme.id.clone(),
            key: other.key.clone(),
        },
        Dev {
            id: acme.id.clone(),
            key: format!("{}x", acme.key),
        },
        Dev {
            id: acme.id.clone(),
            key: String::new(),
        },
        Dev {
            id: String::new(),
            key: acme.key.clone(),
        },
    ] {
        let (status, body) = v2(&pg, Some(&wrong), Method::GET, "/v2/subscriptions", None).await;
        assert_eq!(status, 401, "{}:{}", wrong.id, wrong.key);
        assert_terra_error(&body);
    }
    let (status, body) = v2(&pg, None, Method::GET, "/v2/subscriptions", None).await;
    assert_eq!(status, 401);
    assert_terra_error(&body);

    // Deleting the account stops its key at once.
    let (status, _) = pg
        .admin(Method::DELETE, "/v1/admin/developers/acme", None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = v2(&pg, Some(&acme), Method::GET, "/v2/subscriptions", None).await;
    assert_eq!(status, 401);
    let (status, _) = pg
        .admin(Method::DELETE, "/v1/admin/developers/acme", None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = v2(&pg, Some(&other), Method::GET, "/v2/subscriptions", None).await;
    assert_eq!(status, 200);

    let logs = pg.logs();
    for key in [&acme.key, &other.key] {
        assert!(
            !logs.contains(key.as_str()),
            "an API key appears in the logs"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authenticate_user_widget_user_info_and_deauthenticate() {
    let mock = MockApi::start().await;
    mock.token_endpoint("/oauth/token", TokenStyle::Standard)
        .token_extra(json!({"athlete": {"id": 777}}));
    let sink = Sink::start(Behaviour::Ok).await;
    let secret = test_secret(31);
    let extra = format!(
        r#"
[dispatcher]
timeout = "3s"
retry_schedule = ["200ms"]
allow_private_networks = true
[connect]
public_url = "{PUBLIC_URL}"
state_secret = "terra-api-test-state-secret"
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
    let dev = create_developer(&pg, json!({"dev_id": "acme"})).await;
    let client = browser();

    // 1. authenticateUser → auth_url → the provider's callback → connection.
    let (status, started) = v2(
        &pg,
        Some(&dev),
        Method::POST,
        "/v2/auth/authenticateUser?resource=STRAVA",
        Some(json!({
            "reference_id": "customer-1",
            "auth_success_redirect_url": "https://app.example/ok",
            "auth_failure_redirect_url": "https://app.example/failed",
            "language": "en",
        })),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    assert_eq!(started["status"], "success");
    let user_id = started["user_id"].as_str().unwrap().to_string();
    let auth_url = open_start(&pg, &client, started["auth_url"].as_str().unwrap()).await;
    assert!(auth_url.starts_with(&format!("{}/oauth/authorize?", mock.base_url())));
    let state = query_of(&auth_url)["state"].clone();
    let resp = client
        .get(pg.url(&format!("/v1/auth/strava/callback?state={state}&code=c1")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let back = query_of(resp.headers()["location"].to_str().unwrap());
    assert_eq!(back["user_id"], user_id);
    assert_eq!(back["resource"], "STRAVA");
    for (resource, status) in [("NOPE", 400), ("APPLE", 400)] {
        let path = format!("/v2/auth/authenticateUser?resource={resource}");
        let (got, body) = v2(&pg, Some(&dev), Method::POST, &path, Some(json!({}))).await;
        assert_eq!(got, status, "{resource}: {body}");
        assert_terra_error(&body);
    }

    // 2. The user, as userInfo, bulkUserInfo and subscriptions show it.
    let path = format!("/v2/userInfo?user_id={user_id}");
    let (status, info) = v2(&pg, Some(&dev), Method::GET, &path, None).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["status"], "success");
    assert_eq!(info["is_authenticated"], true);
    assert_eq!(info["user"]["user_id"], user_id.as_str());
    assert_eq!(info["user"]["provider"], "STRAVA");
    assert_eq!(info["user"]["reference_id"], "customer-1");
    assert_eq!(info["user"]["active"], true);
    let path = "/v2/userInfo?reference_id=customer-1";
    let (status, by_ref) = v2(&pg, Some(&dev), Method::GET, path, None).await;
    assert_eq!(status, 200);
    assert_eq!(by_ref, json!([info["user"]]));
    let (status, bulk) = v2(
        &pg,
        Some(&dev),
        Method::POST,
        "/v2/bulkUserInfo",
        Some(json!([user_id, "no-such-user"])),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(bulk, json!([info["user"]]));
    let (_, subs) = v2(&pg, Some(&dev), Method::GET, "/v2/subscriptions", None).await;
    assert_eq!(subs["users"], json!([info["user"]]));
    let (status, body) = v2(
        &pg,
        Some(&dev),
        Method::GET,
        "/v2/userInfo?user_id=zz",
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert_terra_error(&body);
    let path = format!("/v2/users/{user_id}");
    let (status, body) = v2(
        &pg,
        Some(&dev),
        Method::PATCH,
        &path,
        Some(json!({"reference_id": "customer-1b"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["reference_id"], "customer-1b");

    // 3. Integrations: Fitbit switched off disappears from the list and the widget.
    let (status, _) = pg
        .admin(
            Method::PUT,
            "/v1/admin/integrations/fitbit",
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, list) = v2(&pg, Some(&dev), Method::GET, "/v2/integrations", None).await;
    let providers = list["providers"].as_array().unwrap();
    assert!(providers.contains(&json!("STRAVA")) && providers.contains(&json!("OURA")));
    assert!(!providers.contains(&json!("FITBIT")));
    assert_eq!(
        list["sdk_resource"],
        json!(["APPLE", "SAMSUNG", "HEALTH_CONNECT"])
    );
    let path = "/v2/integrations/detailed?sdk=true";
    let (_, detailed) = v2(&pg, Some(&dev), Method::GET, path, None).await;
    let detailed = detailed["providers"].as_array().unwrap();
    // Counted from the registry, so that a new provider touches no test here.
    assert_eq!(detailed.len(), pulsegate_schema::Provider::ALL.len());
    let fitbit = detailed.iter().find(|p| p["provider"] == "FITBIT").unwrap();
    assert_eq!(fitbit["enabled"], false);
    let strava = detailed.iter().find(|p| p["provider"] == "STRAVA").unwrap();
    assert_eq!(
        (
            strava["enabled"].clone(),
            strava["types"]["activity"].clone()
        ),
        (json!(true), json!(true))
    );

    // 4. The widget: a session, its page, a provider's start link, the flow.
    let (status, session) = v2(
        &pg,
        Some(&dev),
        Method::POST,
        "/v2/auth/generateWidgetSession",
        Some(json!({
            "reference_id": "customer-2",
            "auth_success_redirect_url": "https://app.example/ok",
            "language": "en",
        })),
    )
    .await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["status"], "success");
    assert_eq!(session["expires_in"], 900);
    let sid = session["session_id"].as_str().unwrap().to_string();
    let url = session["url"].as_str().unwrap();
    assert_eq!(url, format!("{PUBLIC_URL}/widget/{sid}"));
    let page_path = url.strip_prefix(PUBLIC_URL).unwrap();
    let resp = client.get(pg.url(page_path)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    let page = resp.text().await.unwrap();
    for p in ["strava", "oura", "garmin", "withings"] {
        assert!(
            page.contains(&format!("/widget/{sid}/start/{p}\"")),
            "{p}: {page}"
        );
    }
    assert!(
        !page.contains("Fitbit") && !page.contains("start/fitbit"),
        "{page}"
    );
    assert!(
        page.contains("Apple Health") && !page.contains("start/apple"),
        "{page}"
    );
    let start = |p: &str| {
        client
            .get(pg.url(&format!("/widget/{sid}/start/{p}")))
            .send()
    };
    assert_eq!(start("fitbit").await.unwrap().status(), 404);
    assert_eq!(start("apple").await.unwrap().status(), 404);
    let resp = start("strava").await.unwrap();
    assert_eq!(resp.status(), 302);
    let start_url = resp.headers()["location"].to_str().unwrap().to_string();
    let authorize = open_start(&pg, &client, &start_url).await;
    assert!(
        authorize.starts_with(&format!("{}/oauth/authorize?", mock.base_url())),
        "{authorize}"
    );
    let q = query_of(&authorize);
    assert_eq!(q["client_id"], "cid");
    let resp = client
        .get(pg.url(&format!(
            "/v1/auth/strava/callback?state={}&code=c2",
            q["state"]
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with("https://app.example/ok?"),
        "{location}"
    );
    let back = query_of(&location);
    assert_eq!(
        (back["resource"].as_str(), back["reference_id"].as_str()),
        ("STRAVA", "customer-2")
    );
    // Same athlete again: Terra's reauth (a new user replaces the old one).
    let widget_user = back["user_id"].clone();
    assert!(
        sink.wait_for(3, Duration::from_secs(20)).await,
        "{}",
        sink.count()
    );
    let events: Vec<Value> = sink.received().iter().map(|r| r.json()).collect();
    let auth = events
        .iter()
        .find(|e| e["type"] == "auth" && e["user"]["user_id"] == widget_user.as_str())
        .unwrap_or_else(|| panic!("{events:?}"));
    assert_eq!(auth["widget_session_id"], sid.as_str());
    assert_eq!(auth["reference_id"], "customer-2");
    assert!(events
        .iter()
        .any(|e| e["type"] == "user_reauth" && e["old_user"]["user_id"] == user_id.as_str()));
    let expired = client
        .get(pg.url("/widget/no-such-session"))
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), 404);

    // 5. deauthenticateUser: tokens gone, `deauth` delivered, the user gone.
    let path = format!("/v2/auth/deauthenticateUser?user_id={widget_user}");
    let (status, body) = v2(&pg, Some(&dev), Method::DELETE, &path, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"status": "success"}));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let deauth = loop {
        let found = sink
            .received()
            .into_iter()
            .find(|r| r.json()["type"] == "deauth");
        if let Some(r) = found {
            break r;
        }
        assert!(std::time::Instant::now() < deadline, "no deauth delivered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    verify_delivery(&secret, &deauth.headers, &deauth.body).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(deauth.json()["user"]["user_id"], widget_user.as_str());
    let path = format!("/v2/userInfo?user_id={widget_user}");
    assert_eq!(v2(&pg, Some(&dev), Method::GET, &path, None).await.0, 404);
    let path = format!("/v2/auth/deauthenticateUser?user_id={widget_user}");
    assert_eq!(
        v2(&pg, Some(&dev), Method::DELETE, &path, None).await.0,
        404
    );

    let logs = pg.logs();
    assert!(
        !logs.contains(&dev.key) && !logs.contains("access-1"),
        "secrets in the logs"
    );
}

/// The users (`user.user_id`, or `new_user`/`old_user`) named by a sink's deliveries.
fn users_named(sink: &Sink) -> Vec<String> {
    sink.received()
        .iter()
        .map(|r| r.json())
        .flat_map(|e| {
            [&e["user"], &e["new_user"], &e["old_user"]]
                .into_iter()
                .filter_map(|u| u["user_id"].as_str().map(str::to_string))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// An on-device (APPLE) user made through `dev`'s auth token; its user id.
async fn sdk_user(pg: &Pulsegate, dev: &Dev, reference: &str) -> String {
    let (status, issued) = v2(
        pg,
        Some(dev),
        Method::POST,
        "/v2/auth/generateAuthToken",
        None,
    )
    .await;
    assert_eq!(status, 200, "{issued}");
    let resp = reqwest::Client::new()
        .post(pg.url("/v1/sdk/apple/connect"))
        .bearer_auth(issued["token"].as_str().unwrap())
        .json(&json!({"reference_id": reference}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.unwrap();
    body["user"]["user_id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn developer_b_neither_reaches_nor_receives_developer_a_users() {
    let mock = MockApi::start().await;
    mock.token_endpoint("/oauth/token", TokenStyle::Standard)
        .token_extra(json!({"athlete": {"id": 901}}));
    let (sink_a, sink_b) = (
        Sink::start(Behaviour::Ok).await,
        Sink::start(Behaviour::Ok).await,
    );
    let extra = format!(
        r#"
[dispatcher]
timeout = "3s"
retry_schedule = ["200ms"]
allow_private_networks = true
[connect]
public_url = "{PUBLIC_URL}"
state_secret = "terra-api-tenants-state-secret"
[connect.strava]
authorize_url = "{mock}/oauth/authorize"
token_url = "{mock}/oauth/token"
"#,
        mock = mock.base_url(),
    );
    let pg = Pulsegate::start(&mock.base_url(), &extra).await;
    let a = create_developer(&pg, json!({"dev_id": "dev-a"})).await;
    let b = create_developer(&pg, json!({"dev_id": "dev-b"})).await;
    for (id, dev, sink) in [("dest-a", &a, &sink_a), ("dest-b", &b, &sink_b)] {
        let (status, body) = pg
            .admin(
                Method::POST,
                "/v1/admin/destinations",
                Some(json!({"id": id, "url": sink.url(), "dev_id": dev.id})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }

    // A connects a user through the OAuth flow.
    let (status, started) = v2(
        &pg,
        Some(&a),
        Method::POST,
        "/v2/auth/authenticateUser?resource=STRAVA",
        Some(json!({"reference_id": "shared-ref"})),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let a_user = started["user_id"].as_str().unwrap().to_string();
    let client = browser();
    let authorize = open_start(&pg, &client, started["auth_url"].as_str().unwrap()).await;
    let state = query_of(&authorize)["state"].clone();
    let resp = client
        .get(pg.url(&format!("/v1/auth/strava/callback?state={state}&code=c1")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "connected (no success URL: a page)");

    // B: A's user does not exist, on any route.
    let routes = [
        (Method::GET, format!("/v2/userInfo?user_id={a_user}"), None),
        (
            Method::PATCH,
            format!("/v2/users/{a_user}"),
            Some(json!({"reference_id": "stolen"})),
        ),
        (
            Method::PATCH,
            format!("/v2/userInfo?user_id={a_user}"),
            Some(json!({"reference_id": "stolen"})),
        ),
        (
            Method::GET,
            format!("/v2/activity?user_id={a_user}&start_date=2026-01-01&to_webhook=false"),
            None,
        ),
        (
            Method::GET,
            format!("/v2/daily?user_id={a_user}&start_date=2026-01-01"),
            None,
        ),
        (
            Method::POST,
            format!("/v2/activity?user_id={a_user}"),
            Some(json!({"data": [{}]})),
        ),
        (
            Method::DELETE,
            format!("/v2/auth/deauthenticateUser?user_id={a_user}"),
            None,
        ),
    ];
    for (method, path, body) in routes {
        let (status, answer) = v2(&pg, Some(&b), method.clone(), &path, body).await;
        assert_eq!(status, 404, "{method} {path}: {answer}");
        assert_terra_error(&answer);
    }
    let (_, listed) = v2(
        &pg,
        Some(&b),
        Method::GET,
        "/v2/userInfo?reference_id=shared-ref",
        None,
    )
    .await;
    assert_eq!(listed, json!([]));
    let (_, bulk) = v2(
        &pg,
        Some(&b),
        Method::POST,
        "/v2/bulkUserInfo",
        Some(json!([a_user])),
    )
    .await;
    assert_eq!(bulk, json!([]));
    let (_, subs) = v2(&pg, Some(&b), Method::GET, "/v2/subscriptions", None).await;
    assert_eq!(subs["users"], json!([]));
    // A still has it, untouched.
    let (status, info) = v2(
        &pg,
        Some(&a),
        Method::GET,
        &format!("/v2/userInfo?user_id={a_user}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["user"]["reference_id"], "shared-ref");
    assert_eq!(info["is_authenticated"], true);

    // Events: each account's destination receives its own users' only. B's own events
    // come after A's on the log, so once they arrive A's were already passed over.
    let b_user = sdk_user(&pg, &b, "b-phone").await;
    let path = format!("/v2/auth/deauthenticateUser?user_id={a_user}");
    assert_eq!(v2(&pg, Some(&a), Method::DELETE, &path, None).await.0, 200);
    let path = format!("/v2/auth/deauthenticateUser?user_id={b_user}");
    assert_eq!(v2(&pg, Some(&b), Method::DELETE, &path, None).await.0, 200);
    assert!(
        sink_a.wait_for(2, Duration::from_secs(20)).await,
        "A: auth + deauth"
    );
    assert!(
        sink_b.wait_for(2, Duration::from_secs(20)).await,
        "B: auth + deauth"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (got_a, got_b) = (users_named(&sink_a), users_named(&sink_b));
    assert!(
        !got_a.is_empty() && got_a.iter().all(|u| *u == a_user),
        "A got {got_a:?}"
    );
    assert!(
        !got_b.is_empty() && got_b.iter().all(|u| *u == b_user),
        "B got {got_b:?}"
    );
    assert_eq!((sink_a.count(), sink_b.count()), (2, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_auth_tokens_and_data_endpoint_parameters() {
    let pg = Pulsegate::start("http://127.0.0.1:9", "").await;
    let dev = create_developer(&pg, json!({})).await;
    let strava_user = pg
        .connect_athlete_for(&dev.id, 42, "access-42", "refresh-42")
        .await;

    // generateAuthToken → the app exchanges it once → an APPLE user with an upload token.
    let (status, issued) = v2(
        &pg,
        Some(&dev),
        Method::POST,
        "/v2/auth/generateAuthToken",
        None,
    )
    .await;
    assert_eq!(status, 200, "{issued}");
    assert_eq!(issued["status"], "success");
    assert!(issued["expires_in"].as_u64().is_some_and(|s| s > 0));
    let token = issued["token"].as_str().unwrap().to_string();
    let exchange = || {
        reqwest::Client::new()
            .post(pg.url("/v1/sdk/apple/connect"))
            .bearer_auth(&token)
            .json(&json!({"reference_id": "phone-1"}))
            .send()
    };
    let resp = exchange().await.unwrap();
    assert_eq!(resp.status(), 201);
    let connected: Value = resp.json().await.unwrap();
    let apple_user = connected["user"]["user_id"].as_str().unwrap().to_string();
    assert_eq!(connected["user"]["provider"], "APPLE");
    assert_eq!(exchange().await.unwrap().status(), 401, "single use");
    let upload = reqwest::Client::new()
        .post(pg.url("/v1/ingest/sdk/apple"))
        .bearer_auth(connected["token"].as_str().unwrap())
        .json(
            &json!({"records": [{"id": "w1", "type": "activity", "data": {"metadata": {
            "summary_id": "w1", "start_time": "2026-11-25T07:00:00+01:00",
            "end_time": "2026-11-25T07:45:00+01:00", "type": 8, "upload_type": 1}}}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 200, "the exchanged token uploads");

    // Data endpoints: parameters checked like Terra's, before anything is fetched.
    let bad = [
        (
            "/v2/activity?start_date=2026-01-01".to_string(),
            400,
            "user_id",
        ),
        (
            format!("/v2/activity?user_id={strava_user}"),
            400,
            "start_date",
        ),
        (
            format!("/v2/sleep?user_id={strava_user}&start_date=01/02/2026"),
            400,
            "start_date",
        ),
        (
            format!("/v2/daily?user_id={strava_user}&start_date=2026-01-05&end_date=2026-01-01"),
            400,
            "before",
        ),
        (
            format!("/v2/body?user_id={strava_user}&start_date=2026-01-01&to_webhook=yes"),
            400,
            "to_webhook",
        ),
        (
            "/v2/activity?user_id=no-such-user&start_date=2026-01-01".to_string(),
            404,
            "not found",
        ),
    ];
    for (path, status, needle) in bad {
        let (got, body) = v2(&pg, Some(&dev), Method::GET, &path, None).await;
        assert_eq!(got, status, "{path}: {body}");
        assert_terra_error(&body);
        assert!(
            body["message"].as_str().unwrap().contains(needle),
            "{path}: {body}"
        );
    }
    // A type the provider does not give (Strava: no nutrition), or one nothing fetches
    // on request (the on-device sources): Terra's NoDataReturned, 200.
    for (path, user) in [
        (
            format!("/v2/activity?user_id={apple_user}&start_date=2026-01-01&to_webhook=false"),
            &apple_user,
        ),
        (
            format!("/v2/nutrition?user_id={strava_user}&start_date=2026-01-01"),
            &strava_user,
        ),
    ] {
        let (status, body) = v2(&pg, Some(&dev), Method::GET, &path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body["status"], "error", "{body}");
        assert_eq!(
            body["message"], "Data type requested not available from provider",
            "{body}"
        );
        assert_eq!(body["user"]["user_id"], user.as_str(), "{body}");
    }
    let path = format!("/v2/activity?user_id={strava_user}&start_date=2026-01-01");
    assert_eq!(v2(&pg, None, Method::GET, &path, None).await.0, 401);
    // Valid: to_webhook (the default) stores a backfill request and answers at once.
    let path = format!("{path}&end_date=2026-01-03&with_samples=true");
    let (status, body) = v2(&pg, Some(&dev), Method::GET, &path, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(body["type"], "activity");
    assert_eq!(body["user"]["user_id"], strava_user.as_str());
    assert_eq!(body["user"]["provider"], "STRAVA");
    assert!(
        body["reference"].as_str().is_some_and(|r| r.len() >= 32),
        "{body}"
    );
    assert!(
        body.get("data").is_none() && body["message"].is_string(),
        "{body}"
    );
    // Writes and planned workouts: 501 naming the operation and the provider.
    let path = format!("/v2/body?user_id={strava_user}");
    let (status, body) = v2(
        &pg,
        Some(&dev),
        Method::DELETE,
        &path,
        Some(json!({"log_ids": ["x"]})),
    )
    .await;
    assert_eq!(status, 501);
    assert!(
        body["message"].as_str().unwrap().contains("STRAVA"),
        "{body}"
    );
    for (method, path, needle) in [
        (
            Method::POST,
            format!("/v2/nutrition?user_id={strava_user}"),
            "STRAVA",
        ),
        // On-device sources: nothing to write to.
        (
            Method::POST,
            format!("/v2/body?user_id={apple_user}"),
            "APPLE",
        ),
        (
            Method::GET,
            "/v2/plannedWorkout?user_id=x&start_date=2026-01-01".to_string(),
            "planned",
        ),
    ] {
        let (status, body) = v2(&pg, Some(&dev), method, &path, Some(json!({"data": [{}]}))).await;
        assert_eq!(status, 501, "{path}: {body}");
        assert_terra_error(&body);
        assert!(body["message"].as_str().unwrap().contains(needle), "{body}");
    }
}

/// `POST`/`DELETE` on the data endpoints, written at the user's provider: terra-python's
/// own `write`/`delete` (tests/terra_client/suite.py, mode `writes`) create a Strava
/// activity and a Fitbit weight + body fat log and delete the latter; the mocks show
/// what the providers received. What a provider cannot do: 501 naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_reach_strava_and_fitbit_and_the_rest_is_501() {
    use pulsegate_testkit::strava::{Endpoint, MockStrava};
    const LOG_ID: &str = "1772348294000";
    let strava = MockStrava::start().await;
    strava.set_token(77, "access-77");
    let fitbit = MockApi::start().await;
    fitbit
        .accept_token("fb-access")
        .respond(
            "POST",
            "/1/user/-/body/log/weight.json",
            201,
            &format!(r#"{{"weightLog":{{"bmi":23.57,"date":"2026-03-01","logId":{LOG_ID},"source":"API","time":"07:58:14","weight":72.5}}}}"#),
        )
        .respond(
            "POST",
            "/1/user/-/body/log/fat.json",
            201,
            &format!(r#"{{"fatLog":{{"date":"2026-03-01","fat":14.5,"logId":{LOG_ID},"source":"API","time":"07:58:14"}}}}"#),
        )
        .respond("DELETE", &format!("/1/user/-/body/log/weight/{LOG_ID}.json"), 204, "")
        .respond("DELETE", &format!("/1/user/-/body/log/fat/{LOG_ID}.json"), 204, "");
    let extra = format!(
        "[normalizer.fitbit]\napi_base = \"{}\"\nclient_id = \"23ABCD\"\nclient_secret = \"fitbit-test-secret\"\n",
        fitbit.base_url()
    );
    let pg = Pulsegate::start(&strava.base_url(), &extra).await;
    let dev = create_developer(&pg, json!({})).await;
    let strava_user = pg
        .connect_athlete_for(&dev.id, 77, "access-77", "refresh-77")
        .await;
    let fitbit_user = pg
        .connect_for(&dev.id, "fitbit", "X1Y2Z3", "fb-access", "fb-refresh")
        .await;

    // terra-python's write methods, answers checked strictly against its models.
    let out = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/terra_client/suite.py"
        ))
        .arg("writes")
        .env("PG_URL", pg.url(""))
        .env("PG_DEV_ID", &dev.id)
        .env("PG_API_KEY", &dev.key)
        // Read at import by the suite; the `writes` mode uses neither.
        .env("PG_HARNESS_URL", "http://127.0.0.1:9")
        .env("PG_SIGNING_SECRET", "unused")
        .env(
            "PG_PLAN",
            json!({"strava_user": strava_user, "fitbit_user": fitbit_user}).to_string(),
        )
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "suite writes failed:\n{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        pg.logs()
    );
    let result: Value = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .map(|r| serde_json::from_str(r).unwrap())
        .expect("RESULT line");

    // Strava got the activity as a manual activity's form, mapped back from Terra's.
    assert_eq!(strava.requests(Endpoint::CreateActivity), 1);
    let created = strava.created_activities();
    let form = &created[0];
    for (k, v) in [
        ("name", "Lunch run"),
        ("sport_type", "Run"),
        ("start_date_local", "2026-03-01T12:05:00+01:00"),
        ("elapsed_time", "2730"),
        ("distance", "8200"),
        ("trainer", "0"),
        ("commute", "0"),
    ] {
        assert_eq!(form.get(k).map(String::as_str), Some(v), "{k}: {form:?}");
    }
    let strava_id = result["activity_log_ids"][0].as_str().unwrap().to_string();
    assert_eq!(strava_id, "90000001");
    // It reads back through the data endpoint as Terra's activity.
    let path = format!(
        "/v2/activity?user_id={strava_user}&start_date=2026-03-01&end_date=2026-03-01&to_webhook=false"
    );
    let (status, body) = v2(&pg, Some(&dev), Method::GET, &path, None).await;
    assert_eq!(status, 200, "{body}");
    let meta = &body["data"][0]["metadata"];
    assert_eq!(meta["summary_id"], strava_id.as_str(), "{body}");
    assert_eq!(
        (meta["type"].as_i64(), meta["upload_type"].as_i64()),
        (Some(8), Some(2))
    );
    assert_eq!(meta["name"], "Lunch run");

    // Fitbit got the weight and the fat log (metric, the wall time given), then both
    // deletions of the id it had returned.
    assert_eq!(result["body_log_ids"], json!([LOG_ID]));
    for (path, field, value) in [
        ("/1/user/-/body/log/weight.json", "weight", "72.5"),
        ("/1/user/-/body/log/fat.json", "fat", "14.5"),
    ] {
        let reqs = fitbit.requests_to(path);
        assert_eq!(reqs.len(), 1, "{path}");
        assert_eq!(reqs[0].method, "POST");
        assert_eq!(reqs[0].bearer(), Some("fb-access"));
        let q = query_of(&format!("?{}", reqs[0].query.as_deref().unwrap_or("")));
        assert_eq!(q.get(field).map(String::as_str), Some(value), "{q:?}");
        assert_eq!(q.get("date").map(String::as_str), Some("2026-03-01"));
        assert_eq!(q.get("time").map(String::as_str), Some("07:58:14"));
    }
    for kind in ["weight", "fat"] {
        let reqs = fitbit.requests_to(&format!("/1/user/-/body/log/{kind}/{LOG_ID}.json"));
        assert_eq!(reqs.len(), 1, "{kind}");
        assert_eq!(reqs[0].method, "DELETE");
    }

    // A Fitbit activity log; then Fitbit refusing one: 502 naming it and its status.
    fitbit.respond(
        "POST",
        "/1/user/-/activities.json",
        201,
        r#"{"activityLog":{"activityId":90009,"logId":555,"name":"Run"}}"#,
    );
    let path = format!("/v2/activity?user_id={fitbit_user}");
    let logged = json!({"data": [{"metadata": {"summary_id": "x", "type": 8, "upload_type": 2,
        "start_time": "2026-03-01T12:05:00+01:00", "end_time": "2026-03-01T12:50:30+01:00"},
        "calories_data": {"total_burned_calories": 412.4},
        "distance_data": {"summary": {"distance_meters": 8200}}}]});
    let (status, answer) = v2(&pg, Some(&dev), Method::POST, &path, Some(logged.clone())).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["log_ids"], json!(["555"]));
    assert_eq!(answer["user"]["provider"], "FITBIT");
    let sent = fitbit.requests_to("/1/user/-/activities.json");
    let q = query_of(&format!("?{}", sent[0].query.as_deref().unwrap_or("")));
    for (k, v) in [
        ("activityName", "Run"),
        ("manualCalories", "412"),
        ("startTime", "12:05"),
        ("durationMillis", "2730000"),
        ("date", "2026-03-01"),
        ("distance", "8.2"),
    ] {
        assert_eq!(q.get(k).map(String::as_str), Some(v), "{k}: {q:?}");
    }
    fitbit.respond(
        "POST",
        "/1/user/-/activities.json",
        400,
        r#"{"errors":[{"errorType":"validation"}]}"#,
    );
    let (status, answer) = v2(&pg, Some(&dev), Method::POST, &path, Some(logged)).await;
    assert_eq!(status, 502, "{answer}");
    let m = answer["message"].as_str().unwrap();
    assert!(m.contains("FITBIT") && m.contains("HTTP 400"), "{m}");

    // What the providers cannot do: 501 naming the provider and the operation, and
    // nothing sent to them.
    let fitbit_calls = fitbit.requests().len();
    let run = json!({"data": [{"metadata": {"summary_id": "x", "type": 8, "upload_type": 2,
        "start_time": "2026-03-01T12:05:00+01:00", "end_time": "2026-03-01T12:50:30+01:00"}}]});
    for (method, path, body, needle) in [
        (
            Method::DELETE,
            format!("/v2/activity?user_id={strava_user}"),
            json!({"log_ids": [strava_id]}),
            "deleting activity data at STRAVA",
        ),
        (
            Method::POST,
            format!("/v2/nutrition?user_id={fitbit_user}"),
            json!({"data": [{"metadata": {"start_time": "2026-03-01T00:00:00Z", "end_time": "2026-03-02T00:00:00Z"}}]}),
            "writing nutrition data at FITBIT",
        ),
        (
            Method::POST,
            format!("/v2/plannedWorkout?user_id={strava_user}"),
            run.clone(),
            "planned workouts",
        ),
        (
            Method::GET,
            format!("/v2/plannedWorkout?user_id={fitbit_user}&start_date=2026-03-01"),
            Value::Null,
            "FITBIT",
        ),
    ] {
        let body = (!body.is_null()).then_some(body);
        let (status, answer) = v2(&pg, Some(&dev), method.clone(), &path, body).await;
        assert_eq!(status, 501, "{method} {path}: {answer}");
        assert_terra_error(&answer);
        let m = answer["message"].as_str().unwrap();
        assert!(m.starts_with(method.as_str()) && m.contains(needle), "{m}");
    }
    assert_eq!(strava.requests(Endpoint::CreateActivity), 1);
    assert_eq!(fitbit.requests().len(), fitbit_calls);
    // Bad ids never reach a provider's URL.
    let (status, answer) = v2(
        &pg,
        Some(&dev),
        Method::DELETE,
        &format!("/v2/body?user_id={fitbit_user}"),
        Some(json!({"log_ids": ["../profile"]})),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(fitbit.requests().len(), fitbit_calls);
    assert!(!pg.logs().contains("fb-access"), "a token in the logs");
}

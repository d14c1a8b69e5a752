//! Users, integrations, SDK auth tokens and the widget.

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use pulsegate_schema::Provider;
use serde_json::{json, Value};
use tower::ServiceExt;

use super::env;

#[tokio::test]
async fn users_info_modify_bulk_and_pages() {
    let e = env(true).await;
    e.user("u1", Provider::Strava, "shared").await;
    e.user("u2", Provider::Fitbit, "shared").await;
    e.user("u3", Provider::Oura, "other").await;
    let (status, body) = e.call("GET", "/v2/userInfo?user_id=u2", "").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "success");
    assert_eq!(body["is_authenticated"], true);
    assert_eq!(body["user"]["provider"], "FITBIT");
    assert_eq!(body["user"]["active"], true);
    let (_, body) = e.call("GET", "/v2/userInfo?reference_id=shared", "").await;
    let ids: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["u1", "u2"]);
    assert_eq!(e.call("GET", "/v2/userInfo?user_id=zz", "").await.0, 404);
    assert_eq!(e.call("GET", "/v2/userInfo", "").await.0, 400);

    let (status, body) = e
        .call(
            "PATCH",
            "/v2/users/u3",
            r#"{"reference_id":"renamed","active":true}"#,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["reference_id"], "renamed");
    assert_eq!(
        e.state.connection("u3").unwrap().reference_id.as_deref(),
        Some("renamed")
    );
    assert_eq!(
        e.state.connection("u3").unwrap().access_token.expose(),
        "at"
    );
    let (status, _) = e
        .call(
            "PATCH",
            "/v2/userInfo?user_id=u3",
            r#"{"reference_id":null}"#,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(e.state.connection("u3").unwrap().reference_id, None);
    let (status, body) = e.call("PATCH", "/v2/users/u3", r#"{"active":false}"#).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(e.call("PATCH", "/v2/users/zz", "{}").await.0, 404);
    assert_eq!(e.call("PATCH", "/v2/users/u3", "{nope").await.0, 400);

    let (status, body) = e
        .call("POST", "/v2/bulkUserInfo", r#"["u3","zz","u1"]"#)
        .await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["u3", "u1"]);
    assert_eq!(
        e.call("POST", "/v2/bulkUserInfo", r#"{"ids":[]}"#).await.0,
        400
    );

    let (_, body) = e.call("GET", "/v2/subscriptions", "").await;
    assert_eq!(body["users"].as_array().unwrap().len(), 3);
    let (_, body) = e
        .call("GET", "/v2/subscriptions?page=0&per_page=2", "")
        .await;
    assert_eq!(body["data"]["next"], 1);
    assert_eq!(body["data"]["max_page"], 1);
    assert_eq!(body["data"]["results"].as_array().unwrap().len(), 2);
    let (_, body) = e
        .call("GET", "/v2/subscriptions?page=1&per_page=2", "")
        .await;
    assert_eq!(body["data"]["next"], Value::Null);
    assert_eq!(body["data"]["results"][0]["user_id"], "u3");
    assert_eq!(e.call("GET", "/v2/subscriptions?page=-1", "").await.0, 400);
}

#[tokio::test]
async fn integrations_reflect_the_switches() {
    let e = env(true).await;
    e.state
        .put_integration(&pulsegate_schema::Integration {
            provider: Provider::Fitbit,
            enabled: false,
            data_types: vec![],
            scopes: None,
            updated_at_ms: 0,
        })
        .await
        .unwrap();
    let (_, body) = e.call("GET", "/v2/integrations", "").await;
    assert_eq!(body["status"], "success");
    let providers = body["providers"].as_array().unwrap();
    assert!(providers.contains(&json!("STRAVA")) && !providers.contains(&json!("FITBIT")));
    assert_eq!(
        body["sdk_resource"],
        json!(["APPLE", "SAMSUNG", "HEALTH_CONNECT"])
    );
    let (_, body) = e.call("GET", "/v2/integrations/detailed", "").await;
    let all = body["providers"].as_array().unwrap();
    // Counted from the registry so that a new provider touches no test here.
    let cloud = Provider::ALL.iter().filter(|p| !p.is_sdk()).count();
    assert_eq!(all.len(), cloud, "no SDK sources without ?sdk=true");
    let google = all
        .iter()
        .find(|p| p["provider"] == "GOOGLE_HEALTH")
        .unwrap();
    assert_eq!(google["name"], "Google Health");
    assert_eq!(
        google["types"],
        json!({"activity": true, "body": true, "nutrition": false, "daily": true, "sleep": true, "menstruation": false})
    );
    let fitbit = all.iter().find(|p| p["provider"] == "FITBIT").unwrap();
    assert_eq!(fitbit["enabled"], false);
    let strava = all.iter().find(|p| p["provider"] == "STRAVA").unwrap();
    assert_eq!(strava["name"], "Strava");
    assert_eq!(
        strava["types"],
        json!({"activity": true, "body": false, "nutrition": false, "daily": false, "sleep": false, "menstruation": false})
    );
    let (_, body) = e
        .call("GET", "/v2/integrations/detailed?sdk=true", "")
        .await;
    assert_eq!(
        body["providers"].as_array().unwrap().len(),
        Provider::ALL.len()
    );
}

#[tokio::test]
async fn auth_tokens_are_exchanged_once_for_an_sdk_connection() {
    let e = env(true).await;
    let (status, body) = e.call("POST", "/v2/auth/generateAuthToken", "").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "success");
    assert_eq!(body["expires_in"], 180);
    let token = body["token"].as_str().unwrap().to_string();
    let exchange = |token: String| {
        let app = e.app.clone();
        async move {
            let req = Request::post("/v1/sdk/apple/connect")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::from(r#"{"reference_id":"phone-user"}"#))
                .unwrap();
            let resp = app.oneshot(req).await.unwrap();
            let status = resp.status().as_u16();
            let bytes = resp.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        }
    };
    let (status, body) = exchange(token.clone()).await;
    assert_eq!(status, 201, "{body}");
    let user_id = body["user"]["user_id"].as_str().unwrap();
    assert_eq!(body["user"]["provider"], "APPLE");
    assert_eq!(body["user"]["reference_id"], "phone-user");
    let sdk = body["token"].as_str().unwrap();
    let stored = e
        .state
        .sdk_token(&pulsegate_schema::sdk_token_hash(sdk))
        .unwrap();
    assert_eq!(stored.user_id, user_id);
    assert_eq!(
        e.state.connection(user_id).unwrap().provider,
        Provider::AppleHealth
    );
    // Single use; unknown tokens and non-SDK providers refused.
    assert_eq!(exchange(token).await.0, 401);
    assert_eq!(exchange("pgat_nope".into()).await.0, 401);
    let req = Request::post("/v1/sdk/strava/connect")
        .body(Body::empty())
        .unwrap();
    assert_eq!(e.app.clone().oneshot(req).await.unwrap().status(), 404);
}

#[tokio::test]
async fn widget_sessions_validate_and_pages_escape() {
    let e = env(true).await;
    let (status, body) = e
        .call(
            "POST",
            "/v2/auth/generateWidgetSession",
            r#"{"providers":"STRAVA,NOPE"}"#,
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = e
        .call(
            "POST",
            "/v2/auth/generateWidgetSession",
            r#"{"auth_success_redirect_url":"javascript:alert(1)"}"#,
        )
        .await;
    assert_eq!(status, 400);
    let (status, body) = e
        .call(
            "POST",
            "/v2/auth/generateWidgetSession",
            r#"{"providers":"STRAVA,APPLE","language":"<b>","reference_id":"r"}"#,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let id = body["session_id"].as_str().unwrap();
    assert_eq!(body["url"], format!("https://pg.example/widget/{id}"));
    assert_eq!(body["expires_in"], 900);
    let (status, page) = e.send("GET", &format!("/widget/{id}"), None, "").await;
    assert_eq!(status, 200);
    let page = page.as_str().unwrap();
    assert!(
        page.contains(&format!("href=\"/widget/{id}/start/strava\"")),
        "{page}"
    );
    assert!(page.contains("Apple Health") && !page.contains("start/apple"));
    assert!(!page.contains("Fitbit") && !page.contains("<b>"), "{page}");
    assert_eq!(
        super::widget::escape(r#"<a href="x">'&"#),
        "&lt;a href=&quot;x&quot;&gt;&#39;&amp;"
    );
    let (status, _) = e.send("GET", "/widget/nope", None, "").await;
    assert_eq!(status, 404);
    let (status, _) = e
        .send("GET", &format!("/widget/{id}/start/fitbit"), None, "")
        .await;
    assert_eq!(status, 404, "not offered by this session");
}

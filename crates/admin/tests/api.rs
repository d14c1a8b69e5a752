//! The admin API over a real embedded log: auth, validation, masking.

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use pulsegate_admin::{router, AdminConfig};
use pulsegate_bus::embedded::{EmbeddedBus, EmbeddedConfig};
use pulsegate_bus::{Bus, TopicSpec};
use pulsegate_schema::{topics, Secret};
use pulsegate_state::StateStore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

mod support;

const TOKEN: &str = "admin-secret-token";

async fn app() -> (tempfile::TempDir, axum::Router, Arc<StateStore>) {
    let dir = tempfile::tempdir().unwrap();
    let bus: Arc<dyn Bus> = Arc::new(EmbeddedBus::open(EmbeddedConfig::new(dir.path())).unwrap());
    for t in [topics::DEAD_LETTERS, topics::EVENTS] {
        bus.ensure_topic(&TopicSpec::new(t, 1)).await.unwrap();
    }
    let state = StateStore::start(bus.clone(), CancellationToken::new())
        .await
        .unwrap();
    let cfg = AdminConfig {
        token: Secret::new(TOKEN),
        allow_private_networks: true,
        ..Default::default()
    };
    (dir, admin_router(state.clone(), bus, cfg), state)
}

fn admin_router(state: Arc<StateStore>, bus: Arc<dyn Bus>, cfg: AdminConfig) -> axum::Router {
    let connect = pulsegate_connect::ConnectService::new(
        pulsegate_connect::ConnectConfig::default(),
        state.clone(),
        bus.clone(),
    )
    .unwrap();
    let recent = pulsegate_dispatcher::RecentDeliveries::new();
    router(state, bus, cfg, connect, support::ports(recent))
}

async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> (StatusCode, serde_json::Value) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// An operator's call that must answer 200: its body.
async fn ok(
    app: &axum::Router,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    let (status, answer) = call(app, method, path, Some(TOKEN), body).await;
    assert_eq!(status, StatusCode::OK, "{method} {path}: {answer}");
    answer
}

#[tokio::test]
async fn every_route_needs_the_token() {
    let (_d, app, _) = app().await;
    for (m, p) in [
        ("GET", "/v1/admin/connections"),
        ("POST", "/v1/admin/destinations"),
        ("GET", "/v1/admin/dead-letters"),
    ] {
        assert_eq!(
            call(&app, m, p, None, None).await.0,
            StatusCode::UNAUTHORIZED,
            "{m} {p}"
        );
        assert_eq!(
            call(&app, m, p, Some("wrong"), None).await.0,
            StatusCode::UNAUTHORIZED,
            "{m} {p}"
        );
    }
}

#[tokio::test]
async fn connections_are_stored_with_tokens_masked() {
    let (_d, app, state) = app().await;
    let body = serde_json::json!({"provider": "strava", "provider_user_id": "134815", "reference_id": "u-42",
        "access_token": "at-very-secret-1", "refresh_token": "rt-very-secret-2", "expires_at": 1767225600});
    let (status, created) = call(
        &app,
        "POST",
        "/v1/admin/connections",
        Some(TOKEN),
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let user_id = created["user_id"].as_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&user_id).is_ok());
    let (_, listed) = call(&app, "GET", "/v1/admin/connections", Some(TOKEN), None).await;
    let text = listed.to_string() + &created.to_string();
    assert!(
        !text.contains("very-secret"),
        "tokens never returned in full: {text}"
    );
    // The state holds the real token for the normalizer.
    assert_eq!(
        state.connection(&user_id).unwrap().access_token.expose(),
        "at-very-secret-1"
    );
    // Connecting the same account again keeps the user_id.
    let (_, again) = call(
        &app,
        "POST",
        "/v1/admin/connections",
        Some(TOKEN),
        Some(body),
    )
    .await;
    assert_eq!(again["user_id"], user_id.as_str());
    let (status, _) = call(
        &app,
        "POST",
        "/v1/admin/connections",
        Some(TOKEN),
        Some(serde_json::json!({"provider": "nope", "provider_user_id": "1", "access_token": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        call(
            &app,
            "DELETE",
            &format!("/v1/admin/connections/{user_id}"),
            Some(TOKEN),
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(
            &app,
            "GET",
            &format!("/v1/admin/connections/{user_id}"),
            Some(TOKEN),
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn destinations_validate_secrets_and_show_a_generated_one_once() {
    let (_d, app, _) = app().await;
    let (status, created) = call(&app, "POST", "/v1/admin/destinations", Some(TOKEN),
        Some(serde_json::json!({"id": "d1", "url": "http://127.0.0.1:9/hook", "event_types": ["activity"]}))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    let (_, shown) = call(&app, "GET", "/v1/admin/destinations/d1", Some(TOKEN), None).await;
    assert!(
        !shown.to_string().contains(&secret[6..]),
        "masked afterwards: {shown}"
    );

    for bad in ["whsec_not*base64", "c2hvcnQ=", "whsec_"] {
        let (status, err) = call(
            &app,
            "POST",
            "/v1/admin/destinations",
            Some(TOKEN),
            Some(serde_json::json!({"url": "http://127.0.0.1:9/hook", "secret": bad})),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {err}");
        assert!(
            err["error"].as_str().unwrap().starts_with("secret"),
            "{err}"
        );
        assert!(
            !err.to_string().contains(bad.trim_start_matches("whsec_")) || bad == "whsec_",
            "no secret echoed: {err}"
        );
    }
    let (status, _) = call(
        &app,
        "POST",
        "/v1/admin/destinations",
        Some(TOKEN),
        Some(serde_json::json!({"url": "ftp://127.0.0.1/x"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = call(
        &app,
        "POST",
        "/v1/admin/destinations",
        Some(TOKEN),
        Some(serde_json::json!({"url": "http://127.0.0.1:9/hook", "event_types": ["not_a_type"]})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = call(
        &app,
        "POST",
        "/v1/admin/destinations",
        Some(TOKEN),
        Some(serde_json::json!({"id": "d1", "url": "http://127.0.0.1:9/hook"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, updated) = call(
        &app,
        "PUT",
        "/v1/admin/destinations/d1",
        Some(TOKEN),
        Some(serde_json::json!({"url": "http://127.0.0.1:10/hook", "enabled": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["enabled"], false);
}

/// `secret_set_at_ms` (the secret-age gauge's source): now on create, on rotate-secret
/// and on a `PUT` with a new secret; kept by a `PUT` that keeps the secret, and by a
/// pause. A destination stored before the field stays unknown (0) until rotated.
#[tokio::test]
async fn a_destinations_secret_time_is_set_with_each_new_secret_only() {
    let (_d, app, state) = app().await;
    let set_at = |id: &str| state.destination(id).unwrap().secret_set_at_ms;
    // Millisecond times: a step between two writes is seen.
    let tick = || tokio::time::sleep(std::time::Duration::from_millis(5));

    let before = pulsegate_schema::now_ms();
    let (status, created) = call(
        &app,
        "POST",
        "/v1/admin/destinations",
        Some(TOKEN),
        Some(serde_json::json!({"id": "d1", "url": "http://127.0.0.1:9/hook"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let created_at = set_at("d1");
    assert!(
        (before..=pulsegate_schema::now_ms()).contains(&created_at),
        "{created_at} not between {before} and now"
    );

    tick().await;
    ok(
        &app,
        "PUT",
        "/v1/admin/destinations/d1",
        Some(serde_json::json!({"url": "http://127.0.0.1:10/hook", "event_types": ["activity"]})),
    )
    .await;
    ok(&app, "POST", "/v1/admin/destinations/d1/pause", None).await;
    // The same secret sent back is no new secret either.
    ok(
        &app,
        "PUT",
        "/v1/admin/destinations/d1",
        Some(serde_json::json!({"url": "http://127.0.0.1:10/hook", "secret": created["secret"]})),
    )
    .await;
    assert_eq!(
        set_at("d1"),
        created_at,
        "an update keeping the secret keeps its time"
    );

    tick().await;
    ok(
        &app,
        "POST",
        "/v1/admin/destinations/d1/rotate-secret",
        None,
    )
    .await;
    let rotated_at = set_at("d1");
    assert!(rotated_at > created_at, "{rotated_at} after {created_at}");
    assert!(rotated_at <= pulsegate_schema::now_ms());

    tick().await;
    ok(
        &app,
        "PUT",
        "/v1/admin/destinations/d1",
        Some(serde_json::json!({"url": "http://127.0.0.1:10/hook", "secret": test_secret()})),
    )
    .await;
    assert!(
        set_at("d1") > rotated_at,
        "a PUT with a new secret sets a new time"
    );

    // Stored by an earlier version: no time, kept by an update, set by a rotation.
    let mut old = (*state.destination("d1").unwrap()).clone();
    old.id = "old".into();
    old.secret_set_at_ms = 0;
    state.put_destination(&old).await.unwrap();
    ok(
        &app,
        "PUT",
        "/v1/admin/destinations/old",
        Some(serde_json::json!({"url": "http://127.0.0.1:11/hook"})),
    )
    .await;
    assert_eq!(set_at("old"), 0);
    let before = pulsegate_schema::now_ms();
    ok(
        &app,
        "POST",
        "/v1/admin/destinations/old/rotate-secret",
        None,
    )
    .await;
    assert!(set_at("old") >= before);
}

/// rotate-secret with `overlap_secs`: the old secret is kept (sealed with the record,
/// never shown) to sign beside the new one until the overlap's end, which the view
/// shows; a rotation without it, or a `PUT` with a new secret, ends any overlap; a
/// `PUT` keeping the secret keeps it; more than a week, or a bad value, is refused.
#[tokio::test]
async fn a_rotation_may_keep_the_old_secret_signing_for_an_overlap() {
    let (_d, app, state) = app().await;
    let (status, created) = call(
        &app,
        "POST",
        "/v1/admin/destinations",
        Some(TOKEN),
        Some(serde_json::json!({"id": "d1", "url": "http://127.0.0.1:9/hook"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let first = created["secret"].as_str().unwrap().to_string();
    assert!(created.get("previous_secret_signs_until_ms").is_none());

    for bad in [
        "?overlap_secs=604801",
        "?overlap_secs=-1",
        "?overlap_secs=x",
        "?overlap=1",
    ] {
        let (status, body) = call(
            &app,
            "POST",
            &format!("/v1/admin/destinations/d1/rotate-secret{bad}"),
            Some(TOKEN),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    assert_eq!(
        state.destination("d1").unwrap().secret.expose(),
        first,
        "refused: unchanged"
    );

    let before = pulsegate_schema::now_ms();
    let rotated = ok(
        &app,
        "POST",
        "/v1/admin/destinations/d1/rotate-secret?overlap_secs=3600",
        None,
    )
    .await;
    let second = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(second, first);
    let until = rotated["previous_secret_signs_until_ms"].as_u64().unwrap();
    assert!(
        (before + 3_600_000..=pulsegate_schema::now_ms() + 3_600_000).contains(&until),
        "{until}"
    );
    let stored = state.destination("d1").unwrap();
    assert_eq!(stored.previous_secret.as_ref().unwrap().expose(), first);
    assert_eq!(stored.previous_secret_until_ms, until);
    // The old secret is never shown again: not in the rotation's answer, not by a GET.
    let shown = ok(&app, "GET", "/v1/admin/destinations/d1", None).await;
    assert_eq!(shown["previous_secret_signs_until_ms"], until);
    for answer in [&rotated, &shown] {
        assert!(!answer.to_string().contains(&first), "{answer}");
    }

    // An update keeping the secret keeps the overlap.
    ok(
        &app,
        "PUT",
        "/v1/admin/destinations/d1",
        Some(serde_json::json!({"url": "http://127.0.0.1:10/hook"})),
    )
    .await;
    assert_eq!(
        state.destination("d1").unwrap().previous_secret_until_ms,
        until
    );

    // Rotating again inside the overlap: the newest two sign, the first is dropped.
    ok(
        &app,
        "POST",
        "/v1/admin/destinations/d1/rotate-secret?overlap_secs=60",
        None,
    )
    .await;
    let stored = state.destination("d1").unwrap();
    assert_eq!(stored.previous_secret.as_ref().unwrap().expose(), second);

    // Without an overlap (a leak), and by a PUT with a new secret: the old one stops.
    let body = ok(
        &app,
        "POST",
        "/v1/admin/destinations/d1/rotate-secret",
        None,
    )
    .await;
    assert!(
        body.get("previous_secret_signs_until_ms").is_none(),
        "{body}"
    );
    let stored = state.destination("d1").unwrap();
    assert!(stored.previous_secret.is_none());
    assert_eq!(stored.previous_secret_until_ms, 0);
    ok(
        &app,
        "POST",
        "/v1/admin/destinations/d1/rotate-secret?overlap_secs=60",
        None,
    )
    .await;
    ok(
        &app,
        "PUT",
        "/v1/admin/destinations/d1",
        Some(serde_json::json!({"url": "http://127.0.0.1:10/hook", "secret": test_secret()})),
    )
    .await;
    assert!(state.destination("d1").unwrap().previous_secret.is_none());
}

/// A valid destination secret other than any generated one (32 bytes of 7).
fn test_secret() -> &'static str {
    "whsec_BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="
}

/// S3 destinations: credentials beside the URL, required, masked, kept on update.
#[tokio::test]
async fn s3_destinations_take_masked_credentials_beside_the_url() {
    let (_d, app, _) = app().await;
    let url = "s3://lake/terra?endpoint=http://127.0.0.1:9000&region=eu-west-1";
    let (status, err) = call(
        &app,
        "POST",
        "/v1/admin/destinations",
        Some(TOKEN),
        Some(serde_json::json!({"id": "s3", "url": url, "s3_access_key_id": "AKIAEXAMPLE"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .starts_with("s3_secret_access_key"),
        "{err}"
    );
    let (status, err) = call(&app, "POST", "/v1/admin/destinations", Some(TOKEN),
        Some(serde_json::json!({"url": "http://127.0.0.1:9/hook", "s3_access_key_id": "AKIAEXAMPLE"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let (status, err) = call(&app, "POST", "/v1/admin/destinations", Some(TOKEN),
        Some(serde_json::json!({"url": "s3://UPPER/x", "s3_access_key_id": "A", "s3_secret_access_key": "B"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");

    let (status, created) = call(
        &app,
        "POST",
        "/v1/admin/destinations",
        Some(TOKEN),
        Some(
            serde_json::json!({"id": "s3", "url": url, "s3_access_key_id": "AKIAEXAMPLE",
            "s3_secret_access_key": "wJalrXUtnFEMIK7MDENGbPxRfiCYSECRETKEY"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (_, shown) = call(&app, "GET", "/v1/admin/destinations/s3", Some(TOKEN), None).await;
    assert_eq!(shown["url"], url);
    assert_eq!(shown["s3_access_key_id"], "AKIAEXAMPLE");
    assert!(!shown.to_string().contains("SECRETKEY"), "masked: {shown}");
    assert!(shown["s3_secret_access_key"]
        .as_str()
        .unwrap()
        .starts_with("wJal"));
    // An update without the credentials (as the dashboard sends it) keeps them.
    let (status, updated) = call(
        &app,
        "PUT",
        "/v1/admin/destinations/s3",
        Some(TOKEN),
        Some(serde_json::json!({"url": url, "enabled": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["s3_access_key_id"], "AKIAEXAMPLE");
    assert_eq!(
        updated["s3_secret_access_key"],
        shown["s3_secret_access_key"]
    );
}

/// Claim-check (Terra's `s3_payload`) settings of a webhook: validated field by field,
/// the secret key masked, kept by an update that leaves them out, removed by `null`.
#[tokio::test]
async fn claim_check_settings_are_validated_masked_and_kept() {
    let (_d, app, _) = app().await;
    let hook = "http://127.0.0.1:10/hook";
    let store = "s3://claims/pings?endpoint=http://127.0.0.1:9000";
    let secret = "ClaimCheckSecretKeyValue0123";
    let post = |body: serde_json::Value| {
        let app = app.clone();
        async move {
            call(
                &app,
                "POST",
                "/v1/admin/destinations",
                Some(TOKEN),
                Some(body),
            )
            .await
        }
    };
    for (body, field) in [
        (
            serde_json::json!({"url": "kafka://127.0.0.1:9092/t", "claim_check":
                {"url": store, "access_key_id": "AKIA", "secret_access_key": secret}}),
            "claim_check:",
        ),
        (
            serde_json::json!({"url": hook, "claim_check":
                {"url": "https://claims.example.com", "access_key_id": "AKIA", "secret_access_key": secret}}),
            "claim_check.url",
        ),
        (
            serde_json::json!({"url": hook, "claim_check": {"url": store, "access_key_id": "AKIA"}}),
            "claim_check.secret_access_key",
        ),
        (
            serde_json::json!({"url": hook, "claim_check":
                {"url": store, "access_key_id": "AKIA", "secret_access_key": secret, "expires_in_secs": 604801}}),
            "claim_check.expires_in_secs",
        ),
    ] {
        let (status, err) = post(body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
        let message = err["error"].as_str().unwrap();
        assert!(message.starts_with(field), "{field}: {err}");
        assert!(!message.contains(secret), "{err}");
    }
    let (status, created) = post(serde_json::json!({"id": "ping", "url": hook, "claim_check":
        {"url": store, "access_key_id": "AKIA", "secret_access_key": secret, "threshold_bytes": 1000000}}))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(!created.to_string().contains(secret), "{created}");
    let cc = &created["claim_check"];
    assert_eq!(cc["url"], store);
    assert_eq!(cc["access_key_id"], "AKIA");
    assert_eq!(cc["threshold_bytes"], 1_000_000);
    assert_eq!(cc["expires_in_secs"], 600, "Terra's ten minutes by default");
    assert!(cc["secret_access_key"]
        .as_str()
        .unwrap()
        .starts_with("Clai"));

    // The dashboard's editor sends no claim_check: kept, secret included.
    let put = |body: serde_json::Value| {
        let app = app.clone();
        async move {
            call(
                &app,
                "PUT",
                "/v1/admin/destinations/ping",
                Some(TOKEN),
                Some(body),
            )
            .await
        }
    };
    let (status, kept) = put(serde_json::json!({"url": hook, "ordered": true})).await;
    assert_eq!(status, StatusCode::OK, "{kept}");
    assert_eq!(kept["claim_check"], created["claim_check"]);
    // A change without the secret keeps the stored secret.
    let (status, changed) = put(serde_json::json!({"url": hook, "claim_check":
        {"url": store, "access_key_id": "AKIA2", "threshold_bytes": 0, "expires_in_secs": 3600}}))
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["claim_check"]["access_key_id"], "AKIA2");
    assert_eq!(changed["claim_check"]["threshold_bytes"], 0);
    assert_eq!(
        changed["claim_check"]["secret_access_key"],
        cc["secret_access_key"]
    );
    let (_, listed) = call(&app, "GET", "/v1/admin/destinations", Some(TOKEN), None).await;
    assert!(!listed.to_string().contains(secret), "{listed}");
    // null removes it.
    let (status, removed) = put(serde_json::json!({"url": hook, "claim_check": null})).await;
    assert_eq!(status, StatusCode::OK, "{removed}");
    assert!(removed.get("claim_check").is_none(), "{removed}");
}

#[tokio::test]
async fn private_destinations_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let bus: Arc<dyn Bus> = Arc::new(EmbeddedBus::open(EmbeddedConfig::new(dir.path())).unwrap());
    let state = StateStore::start(bus.clone(), CancellationToken::new())
        .await
        .unwrap();
    let app = admin_router(
        state,
        bus,
        AdminConfig {
            token: Secret::new(TOKEN),
            allow_private_networks: false,
            ..Default::default()
        },
    );
    for url in [
        "http://127.0.0.1:9/x",
        "http://169.254.169.254/latest",
        "http://10.0.0.1/x",
        // Kafka destinations: every broker is checked.
        "kafka://127.0.0.1:9092/events",
        "kafka://8.8.8.8:9092,10.0.0.1:9092/events",
        "kafka://localhost:9092/events",
    ] {
        let (status, _) = call(
            &app,
            "POST",
            "/v1/admin/destinations",
            Some(TOKEN),
            Some(serde_json::json!({"url": url})),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}");
    }
}

/// A customer-owned Kafka topic is a destination like a webhook: `kafka://brokers/topic`.
#[tokio::test]
async fn kafka_destinations_are_accepted_and_validated() {
    let (_d, app, state) = app().await;
    let url = "kafka://127.0.0.1:9092,127.0.0.1:9093/customer.events";
    let (status, created) = call(
        &app,
        "POST",
        "/v1/admin/destinations",
        Some(TOKEN),
        Some(serde_json::json!({"id": "k1", "url": url})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["url"], url);
    assert_eq!(state.destination("k1").unwrap().url, url);
    assert!(created.get("kafka_auth").is_none());

    // SASL/PLAIN credentials: stored, shown masked, kept on update without a password.
    let (status, created) = call(
        &app,
        "POST",
        "/v1/admin/destinations",
        Some(TOKEN),
        Some(serde_json::json!({"id": "k2", "url": url,
            "kafka_auth": {"username": "acme", "password": "KafkaPassw0rd-acme"}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["kafka_auth"]["mechanism"], "PLAIN");
    assert_eq!(created["kafka_auth"]["username"], "acme");
    assert!(!created.to_string().contains("KafkaPassw0rd"), "{created}");
    let (_, shown) = call(&app, "GET", "/v1/admin/destinations/k2", Some(TOKEN), None).await;
    assert!(!shown.to_string().contains("KafkaPassw0rd"), "{shown}");
    assert_eq!(shown["kafka_auth"]["username"], "acme");
    let (status, updated) = call(
        &app,
        "PUT",
        "/v1/admin/destinations/k2",
        Some(TOKEN),
        Some(serde_json::json!({"url": url, "kafka_auth": {"username": "acme2"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    let stored = state.destination("k2").unwrap();
    let auth = stored.kafka_auth.as_ref().unwrap();
    assert_eq!(auth.username, "acme2");
    assert_eq!(auth.password.expose(), "KafkaPassw0rd-acme");
    // SCRAM over TLS with a private CA: stored and shown (the CA is public).
    let tls_url = url.replacen("kafka://", "kafkas://", 1);
    let ca = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";
    let (status, created) = call(
        &app,
        "POST",
        "/v1/admin/destinations",
        Some(TOKEN),
        Some(serde_json::json!({"id": "k3", "url": tls_url, "kafka_ca_pem": ca,
            "kafka_auth": {"mechanism": "SCRAM-SHA-512", "username": "acme", "password": "KafkaPassw0rd-3"}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["kafka_auth"]["mechanism"], "SCRAM-SHA-512");
    assert_eq!(created["kafka_ca_pem"], ca);
    // Kept on an update that omits it while the URL stays kafkas://.
    let (status, _) = call(
        &app,
        "PUT",
        "/v1/admin/destinations/k3",
        Some(TOKEN),
        Some(serde_json::json!({"url": tls_url})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        state.destination("k3").unwrap().kafka_ca_pem.as_deref(),
        Some(ca)
    );
    // Credentials belong to Kafka URLs, with a mechanism librdkafka speaks; a CA bundle
    // to kafkas:// URLs, and must be PEM certificates.
    for body in [
        serde_json::json!({"url": "http://127.0.0.1:9/h",
            "kafka_auth": {"username": "u", "password": "p"}}),
        serde_json::json!({"url": url,
            "kafka_auth": {"mechanism": "GSSAPI", "username": "u", "password": "p"}}),
        serde_json::json!({"url": url, "kafka_auth": {"username": "u"}}),
        serde_json::json!({"url": url, "kafka_ca_pem": ca}),
        serde_json::json!({"url": tls_url, "kafka_ca_pem": "not a certificate"}),
    ] {
        let (status, answer) = call(
            &app,
            "POST",
            "/v1/admin/destinations",
            Some(TOKEN),
            Some(body),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    }
    for bad in [
        "kafka://127.0.0.1:9092",
        "kafka://127.0.0.1:9092/",
        "kafka://127.0.0.1/events",
        "kafka://127.0.0.1:9092/bad topic",
        "kafka://127.0.0.1:9092/events?sasl.password=hunter2",
        "kafkas://127.0.0.1:9092/events?ssl.key.password=hunter2",
        "kafkass://127.0.0.1:9092/events",
    ] {
        let (status, body) = call(
            &app,
            "POST",
            "/v1/admin/destinations",
            Some(TOKEN),
            Some(serde_json::json!({"url": bad})),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert!(!body.to_string().contains("hunter2"), "{body}");
    }
}

#[tokio::test]
async fn destinations_subscribe_to_providers_by_terra_name() {
    let (_d, app, _) = app().await;
    let body = serde_json::json!({"id": "d2", "url": "http://127.0.0.1:9/hook",
        "event_types": ["activity", "sleep"], "providers": ["garmin", "APPLE_HEALTH", "GARMIN"]});
    let (status, created) = call(
        &app,
        "POST",
        "/v1/admin/destinations",
        Some(TOKEN),
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    // Normalised to the Terra names webhooks carry, once each.
    assert_eq!(created["providers"], serde_json::json!(["GARMIN", "APPLE"]));
    let (status, updated) = call(
        &app,
        "PUT",
        "/v1/admin/destinations/d2",
        Some(TOKEN),
        Some(serde_json::json!({"url": "http://127.0.0.1:9/hook", "providers": []})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["providers"], serde_json::json!([]));
    let (status, err) = call(
        &app,
        "PUT",
        "/v1/admin/destinations/d2",
        Some(TOKEN),
        Some(serde_json::json!({"url": "http://127.0.0.1:9/hook", "providers": ["NOKIA"]})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        err["error"].as_str().unwrap().starts_with("providers"),
        "{err}"
    );
}

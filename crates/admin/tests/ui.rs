//! What the admin crate serves besides the API: the OpenAPI document and the dashboard
//! (no token), and the recent deliveries route (token), on a real embedded log.

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use pulsegate_admin::{deliveries_router, router, AdminConfig};
use pulsegate_bus::embedded::{EmbeddedBus, EmbeddedConfig};
use pulsegate_bus::Bus;
use pulsegate_dispatcher::{DeliveryOutcome, DeliveryRecord, RecentDeliveries};
use pulsegate_schema::Secret;
use pulsegate_state::StateStore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

mod support;

const TOKEN: &str = "admin-secret-token";

struct App {
    _dir: tempfile::TempDir,
    full: axum::Router,
    dispatch_only: axum::Router,
    recent: RecentDeliveries,
}

async fn app() -> App {
    let dir = tempfile::tempdir().unwrap();
    let bus: Arc<dyn Bus> = Arc::new(EmbeddedBus::open(EmbeddedConfig::new(dir.path())).unwrap());
    let state = StateStore::start(bus.clone(), CancellationToken::new())
        .await
        .unwrap();
    let cfg = AdminConfig {
        token: Secret::new(TOKEN),
        allow_private_networks: true,
        ..Default::default()
    };
    let connect = pulsegate_connect::ConnectService::new(
        pulsegate_connect::ConnectConfig::default(),
        state.clone(),
        bus.clone(),
    )
    .unwrap();
    let recent = RecentDeliveries::new();
    App {
        _dir: dir,
        full: router(
            state.clone(),
            bus.clone(),
            cfg.clone(),
            connect.clone(),
            support::ports(recent.clone()),
        ),
        dispatch_only: deliveries_router(state, bus, cfg, connect, support::ports(recent.clone())),
        recent,
    }
}

struct Answer {
    status: StatusCode,
    content_type: String,
    csp: String,
    cache: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

async fn get(app: &axum::Router, path: &str, token: Option<&str>) -> Answer {
    let mut req = Request::builder().method("GET").uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let header = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let (status, content_type, csp, cache) = (
        resp.status(),
        header("content-type"),
        header("content-security-policy"),
        header("cache-control"),
    );
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Answer {
        status,
        content_type,
        csp,
        cache,
        body,
    }
}

fn delivery(n: u64, dest: &str, outcome: DeliveryOutcome) -> DeliveryRecord {
    DeliveryRecord {
        at_ms: n,
        destination_id: dest.into(),
        event_id: format!("ev-{n}"),
        user_id: String::new(),
        webhook_id: String::new(),
        reference: String::new(),
        event_type: "activity".into(),
        attempt: 1,
        status: Some(if outcome == DeliveryOutcome::Ok {
            200
        } else {
            500
        }),
        error_kind: (outcome != DeliveryOutcome::Ok).then_some("failed"),
        latency_ms: 7,
        outcome,
    }
}

#[tokio::test]
async fn openapi_document_and_dashboard_are_served_without_the_token() {
    let a = app().await;
    let doc = get(&a.full, "/v1/admin/openapi.json", None).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(doc.content_type, "application/json");
    let doc = doc.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/v1/admin/deliveries"]["get"].is_object());

    let page = get(&a.full, "/dashboard", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.content_type.starts_with("text/html"),
        "{}",
        page.content_type
    );
    assert!(page.csp.contains("default-src 'none'"), "{}", page.csp);
    assert!(page.csp.contains("script-src 'self'"), "{}", page.csp);
    let html = page.text();
    assert!(html.contains(r#"src="/dashboard/app.js""#));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external resource"
    );

    let js = get(&a.full, "/dashboard/app.js", None).await;
    assert_eq!(js.status, StatusCode::OK);
    assert!(js.content_type.starts_with("text/javascript"));
    let js = js.text();
    assert!(js.contains("sessionStorage"));
    assert!(!js.contains("innerHTML"), "data is rendered as text only");
    let css = get(&a.full, "/dashboard/style.css", None).await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.content_type.starts_with("text/css"));
    let missing = get(&a.full, "/dashboard/secrets.txt", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.json()["error"].is_string());
}

/// The chart library is compiled in (nothing fetched elsewhere), with its licence, and
/// cached for good under its versioned name; the health figures need the token.
#[tokio::test]
async fn the_health_panel_is_served_from_the_binary() {
    let a = app().await;
    let html = get(&a.full, "/dashboard", None).await.text();
    for file in [
        "health.js",
        "uPlot-1.6.32.iife.min.js",
        "uPlot-1.6.32.min.css",
    ] {
        assert!(html.contains(&format!("/dashboard/{file}")), "{file}");
    }
    let lib = get(&a.full, "/dashboard/uPlot-1.6.32.iife.min.js", None).await;
    assert_eq!(lib.status, StatusCode::OK);
    assert!(lib.content_type.starts_with("text/javascript"));
    assert!(lib.cache.contains("immutable"), "{}", lib.cache);
    assert!(lib.text().contains("uPlot"));
    let css = get(&a.full, "/dashboard/uPlot-1.6.32.min.css", None).await;
    assert!(css.content_type.starts_with("text/css") && css.cache.contains("max-age"));
    let licence = get(&a.full, "/dashboard/uPlot-LICENSE.txt", None).await;
    assert!(licence.text().contains("MIT License"));
    // Our own files change with every release: never cached.
    let health = get(&a.full, "/dashboard/health.js", None).await;
    assert_eq!(health.cache, "no-store");
    assert!(
        !health.text().contains("innerHTML"),
        "data is rendered as text only"
    );

    let refused = get(&a.full, "/v1/admin/destinations-health", None).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let empty = get(&a.full, "/v1/admin/destinations-health", Some(TOKEN)).await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(
        empty.json(),
        serde_json::json!({"recording": false, "interval_secs": 5, "window_secs": 1800,
            "destinations": []})
    );
}

#[tokio::test]
async fn deliveries_need_the_token_and_filter_and_limit() {
    let a = app().await;
    let refused = get(&a.full, "/v1/admin/deliveries", None).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.json()["error"].is_string());
    let wrong = get(&a.full, "/v1/admin/deliveries", Some("nope")).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);

    // No dispatcher runs here: empty, and it says so.
    let empty = get(&a.full, "/v1/admin/deliveries", Some(TOKEN)).await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(
        empty.json(),
        serde_json::json!({"deliveries": [], "recording": false, "capacity": 500})
    );

    for n in 1..=5 {
        let (dest, outcome) = if n % 2 == 0 {
            ("b", DeliveryOutcome::Ok)
        } else {
            ("a", DeliveryOutcome::Retry)
        };
        a.recent.record(delivery(n, dest, outcome));
    }
    let all = get(&a.full, "/v1/admin/deliveries", Some(TOKEN))
        .await
        .json();
    let at: Vec<u64> = all["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["at_ms"].as_u64().unwrap())
        .collect();
    assert_eq!(at, vec![5, 4, 3, 2, 1], "newest first");
    let first = &all["deliveries"][0];
    assert_eq!(first["outcome"], "retry");
    assert_eq!(first["error_kind"], "failed");
    assert_eq!(first["type"], "activity");

    let a_only = get(
        &a.full,
        "/v1/admin/deliveries?destination=a&limit=2",
        Some(TOKEN),
    )
    .await
    .json();
    let ids: Vec<&str> = a_only["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["ev-5", "ev-3"]);

    let bad = get(&a.full, "/v1/admin/deliveries?limit=lots", Some(TOKEN)).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.json()["error"].is_string(), "{}", bad.text());
}

#[tokio::test]
async fn a_dispatch_only_process_serves_its_deliveries_and_nothing_else() {
    let a = app().await;
    a.recent
        .record(delivery(1, "a", DeliveryOutcome::DeadLetter));
    let refused = get(&a.dispatch_only, "/v1/admin/deliveries", None).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let ok = get(&a.dispatch_only, "/v1/admin/deliveries", Some(TOKEN)).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.json()["deliveries"][0]["outcome"], "dead_letter");
    for path in [
        "/v1/admin/destinations",
        "/v1/admin/connections",
        "/v1/admin/openapi.json",
        "/dashboard",
    ] {
        let r = get(&a.dispatch_only, path, Some(TOKEN)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
    }
}

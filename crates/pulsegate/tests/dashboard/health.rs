//! The destination health panel in a real browser: one destination that takes every
//! event, one whose sink answers 500; the panel tells them apart, with the numbers
//! `/metrics` exports, and draws its charts.

use std::time::Duration;

use pulsegate_testkit::sink::{Behaviour, Sink};
use pulsegate_testkit::strava::MockStrava;
use serde_json::Value;

use crate::browser::{eventually, Browser};
use crate::support::*;
use crate::DISPATCH;

/// A card's figure: its `data-value` (the raw number) and its text.
async fn figure(b: &Browser, id: &str, name: &str) -> (Option<f64>, String) {
    let css = format!("#health [data-health='{id}'] [data-{name}]");
    let value = b
        .js(&format!(
            "const e = document.querySelector(\"{css}\"); \
             return e ? e.getAttribute('data-value') : null"
        ))
        .await;
    let value = value.as_str().and_then(|v| v.parse().ok());
    (value, b.text(&css).await)
}

/// What a chart holds and whether its canvas has anything painted on it.
async fn chart(b: &Browser, id: &str, kind: &str) -> Value {
    b.js(&format!(
        "const box = document.querySelector(\"#health [data-health='{id}'] [data-chart='{kind}']\"); \
         const canvas = box && box.querySelector('canvas'); \
         if (!box || !box.uplot || !canvas) return null; \
         const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data; \
         let painted = 0; \
         for (let i = 3; i < px.length; i += 4) if (px[i]) painted++; \
         return {{ points: box.uplot.data[0].length, \
                  positive: box.uplot.data.slice(1).map(s => s.filter(v => v > 0).length), \
                  painted }}"
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_panel_tells_a_good_destination_from_a_failing_one() {
    let strava = MockStrava::start().await;
    strava.generate_missing(true);
    strava.set_token(1, "access-1");
    strava.set_refresh_token(1, "refresh-1");
    let good = Sink::start(Behaviour::Ok).await;
    let bad = Sink::start(Behaviour::FailAlways).await;
    let extra = format!(
        "{DISPATCH}[[destinations]]\nid = \"good\"\nurl = \"{}\"\nsecret = \"{}\"\n\
         [[destinations]]\nid = \"bad\"\nurl = \"{}\"\nsecret = \"{}\"\n",
        good.url(),
        test_secret(7),
        bad.url(),
        test_secret(8),
    );
    let pg = Pulsegate::start(&strava.base_url(), &extra).await;
    let pg = &pg;
    pg.connect_athlete(1, "access-1", "refresh-1").await;
    let client = reqwest::Client::new();
    for id in [61_001u64, 61_002, 61_003, 61_004] {
        let status = push(
            &client,
            pg.port,
            strava_event("activity", id, "create", 1, "{}"),
        )
        .await;
        assert_eq!(status, 200);
    }
    assert!(good.wait_for(4, Duration::from_secs(20)).await);
    // Each failing event: a first attempt and two retries.
    assert!(bad.wait_for(12, Duration::from_secs(20)).await);

    let browser = Browser::start().await;
    let b = &browser;
    b.sign_in(&pg.admin_url("/dashboard"), ADMIN_TOKEN).await;

    // The panel's counts are the ones /metrics exports (sampled every 5 s; it refreshes
    // itself).
    let delivered = pg
        .metric("pulsegate_deliveries_total{destination=\"good\",outcome=\"delivered\"")
        .await;
    let failed = pg
        .metric("pulsegate_deliveries_total{destination=\"bad\",outcome=\"failed\"")
        .await;
    assert_eq!((delivered, failed), (4.0, 12.0));
    eventually("the panel shows every attempt", || async move {
        let (_, body) = pg
            .admin(reqwest::Method::GET, "/v1/admin/destinations-health", None)
            .await;
        let window = |id: &str| {
            body["destinations"]
                .as_array()
                .and_then(|d| d.iter().find(|d| d["id"] == id))
                .map(|d| d["window"].clone())
                .unwrap_or_default()
        };
        let shown = b
            .js("return [...document.querySelectorAll('#health [data-health]')].length")
            .await;
        window("good")["delivered"] == 4
            && window("bad")["failed"] == 12
            && shown == 2
            && b.text("#health [data-health='bad'] [data-last-error]")
                .await
                != "none"
    })
    .await;
    // The page may have drawn from a sample before the last one.
    b.refresh().await;

    let (ratio, text) = figure(b, "good", "ratio").await;
    assert_eq!((ratio, text.as_str()), (Some(1.0), "100 %"));
    let (ratio, text) = figure(b, "bad", "ratio").await;
    assert_eq!((ratio, text.as_str()), (Some(0.0), "0 %"));
    let (p99, text) = figure(b, "good", "p99").await;
    assert!(
        p99.is_some_and(|v| v > 0.0) && text.ends_with('s'),
        "{text}"
    );
    let error = b
        .text("#health [data-health='bad'] [data-last-error]")
        .await;
    assert!(error.starts_with("failed (HTTP 500), "), "{error}");
    assert_eq!(
        b.text("#health [data-health='good'] [data-last-error]")
            .await,
        "none"
    );
    let status = |id: &'static str| async move {
        b.js(&format!(
            "return document.querySelector(\"#health [data-health='{id}']\").getAttribute('data-status')"
        ))
        .await
    };
    assert_eq!(status("good").await, "healthy");
    let bad_status = status("bad").await;
    assert!(
        bad_status == "failing" || bad_status == "breaker",
        "{bad_status}"
    );

    // Charts: uPlot drew on its canvas, from non-empty series (ok/s for the good one,
    // failed/s for the bad one, a p99 for the good one).
    let rate = chart(b, "good", "rate").await;
    assert!(rate["points"].as_u64() >= Some(1), "{rate}");
    assert!(
        rate["positive"][0].as_u64() >= Some(1),
        "ok/s drawn: {rate}"
    );
    assert_eq!(rate["positive"][1], 0, "nothing failed: {rate}");
    assert!(rate["painted"].as_u64() > Some(0), "{rate}");
    let bad_rate = chart(b, "bad", "rate").await;
    assert_eq!(bad_rate["positive"][0], 0, "{bad_rate}");
    assert!(bad_rate["positive"][1].as_u64() >= Some(1), "{bad_rate}");
    let latency = chart(b, "good", "latency").await;
    assert!(latency["positive"][0].as_u64() >= Some(1), "{latency}");
    assert!(latency["painted"].as_u64() > Some(0), "{latency}");

    // Nothing secret in the panel.
    let panel = b.text("#health").await;
    for hidden in [good.url(), bad.url(), test_secret(7), test_secret(8)] {
        assert!(!panel.contains(&hidden), "{hidden:?} is in the panel");
    }

    // `DASHBOARD_SCREENSHOT=docs/screenshots/dashboard.png` also keeps this panel.
    if let Ok(path) = std::env::var("DASHBOARD_SCREENSHOT") {
        let path = std::path::Path::new(&path).with_file_name("dashboard-health.png");
        b.c().set_window_size(1400, 900).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let png = b.c().screenshot().await.unwrap();
        std::fs::write(path, png).unwrap();
    }
    browser.close().await;
}

//! Logging against the real binary: the filter changes without a restart (admin API,
//! SIGUSR1), and one line per request (`pulsegate::access`) and per delivery attempt
//! (`pulsegate::delivery`) that never carries the push path token.

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

mod support;

use std::time::{Duration, Instant};

use pulsegate_testkit::sink::{Behaviour, Sink};
use pulsegate_testkit::strava::MockStrava;
use reqwest::Method;
use support::*;

const REFUSED: &str = "push without a valid path token refused";

/// Waits until the log holds `needle` (or fails showing the log).
async fn wait_for_log(pg: &Pulsegate, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let logs = pg.logs();
        if logs.contains(needle) {
            return logs;
        }
        assert!(Instant::now() < deadline, "no {needle:?} in:\n{logs}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn bad_push(pg: &Pulsegate) {
    let status = reqwest::Client::new()
        .post(pg.url("/v1/ingest/strava/not-the-token"))
        .body("{}")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 404);
}

fn signal(pg: &Pulsegate, sig: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(pg.pid().unwrap() as i32).unwrap();
    rustix::process::kill_process(pid, sig).unwrap();
}

async fn level(pg: &Pulsegate) -> serde_json::Value {
    let (status, body) = pg.admin(Method::GET, "/v1/admin/log-level", None).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_filter_changes_without_a_restart() {
    let mut pg = Pulsegate::configure(&Backend::Embedded, "serve", "http://127.0.0.1:9", "");
    let toml = std::fs::read_to_string(pg.config_path()).unwrap();
    let toml = toml.replace(
        "level = \"debug,hyper=info,h2=info,fjall=info,lsm_tree=info,reqwest=info,hyper_util=info\"",
        "level = \"info\"",
    );
    assert!(toml.contains("level = \"info\""));
    std::fs::write(pg.config_path(), toml).unwrap();
    pg.spawn().await;

    // The storage engine's INFO chatter is held at warn unless named.
    const QUIET: &str = "info,fjall=warn,lsm_tree=warn";
    assert_eq!(
        level(&pg).await,
        serde_json::json!({"filter": QUIET, "configured": QUIET})
    );
    let start = pg.logs();
    assert!(
        !start.contains("lsm_tree") && !start.contains("fjall::"),
        "a quiet start at info:\n{start}"
    );
    // At info, ingest's debug line about a wrong path token is not written...
    bad_push(&pg).await;
    wait_for_log(&pg, "route=\"/v1/ingest/{provider}/{token}\" status=404").await;
    assert!(!pg.logs().contains(REFUSED));

    // ... and after the filter changed, it is.
    let (status, body) = pg
        .admin(
            Method::PUT,
            "/v1/admin/log-level",
            Some(serde_json::json!({"filter": "info,pulsegate_ingest=debug"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["filter"], "info,pulsegate_ingest=debug");
    bad_push(&pg).await;
    wait_for_log(&pg, REFUSED).await;

    // A directive that does not parse: 400, the filter in force unchanged.
    for bad in [
        serde_json::json!({"filter": "info,pulsegate_ingest=loud"}),
        serde_json::json!({"filter": ""}),
        serde_json::json!({"level": "debug"}),
    ] {
        let (status, body) = pg
            .admin(Method::PUT, "/v1/admin/log-level", Some(bad.clone()))
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"].is_string(), "{body}");
    }
    assert_eq!(level(&pg).await["filter"], "info,pulsegate_ingest=debug");
    // Behind the admin token, like the rest of the API.
    let anonymous = reqwest::Client::new()
        .put(pg.admin_url("/v1/admin/log-level"))
        .json(&serde_json::json!({"filter": "trace"}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    // SIGUSR1: debug for pulsegate's crates, then back to the configured filter.
    signal(&pg, rustix::process::Signal::USR1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while level(&pg).await["filter"] != format!("{QUIET},pulsegate=debug") {
        assert!(Instant::now() < deadline, "{}", pg.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    signal(&pg, rustix::process::Signal::USR1);
    while level(&pg).await["filter"] != QUIET {
        assert!(Instant::now() < deadline, "{}", pg.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let logs = wait_for_log(&pg, "by=\"SIGUSR1\"").await;
    assert!(logs.contains("log filter changed"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_and_delivery_lines_never_carry_the_path_token() {
    let strava = MockStrava::start().await;
    strava.generate_missing(true);
    strava.set_token(1, "access-1");
    let sink = Sink::start(Behaviour::Ok).await;
    let extra = hook_destination(&sink.url());
    // The support config logs at debug: every line that could leak the token is on.
    let pg = Pulsegate::start(&strava.base_url(), &extra).await;
    let user = pg.connect_athlete(1, "access-1", "refresh-1").await;
    let path = pg.push_path("strava").await;
    let token = path.rsplit('/').next().unwrap().to_string();
    assert!(token.len() >= 22, "{path}");

    let resp = reqwest::Client::new()
        .post(pg.url(&path))
        .header("x-request-id", "req-from-strava-7")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .body(strava_event("activity", 91_001, "create", 1, "{}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-request-id"], "req-from-strava-7");
    let notification = resp.headers()["x-pulsegate-notification-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        sink.wait_for(1, Duration::from_secs(20)).await,
        "{}",
        pg.logs()
    );

    let logs = wait_for_log(&pg, "pulsegate::delivery").await;
    let access = logs
        .lines()
        .find(|l| l.contains("pulsegate::access") && l.contains("req-from-strava-7"))
        .unwrap_or_else(|| panic!("no access line:\n{logs}"));
    for field in [
        "method=POST",
        "route=\"/v1/ingest/{provider}/{token}\"",
        "status=200",
        "duration_ms=",
        "provider=\"strava\"",
        "trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"",
        &format!("reference=\"{notification}\""),
    ] {
        assert!(access.contains(field), "{field}: {access}");
    }
    let delivery = logs
        .lines()
        .find(|l| l.contains("pulsegate::delivery") && l.contains("destination=hook"))
        .unwrap_or_else(|| panic!("no delivery line:\n{logs}"));
    for field in [
        &format!("user_id={user}"),
        "provider=\"strava\"",
        "type=activity",
        "attempt=1",
        "status=200",
        "outcome=\"ok\"",
        "duration_ms=",
        "event_id=",
        "webhook_id=",
        &format!("reference={notification}"),
    ] {
        assert!(delivery.contains(field), "{field}: {delivery}");
    }
    // Nowhere in the whole log: not the token, nor the activity's provider token.
    assert!(!logs.contains(&token), "the push path token was logged");
    assert!(!logs.contains("access-1"), "a provider token was logged");
}

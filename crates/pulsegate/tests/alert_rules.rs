//! The alert rules (deploy/prometheus/alerts.yml), the Grafana dashboards
//! (deploy/grafana/dashboards/*.json) and the KEDA queries (deploy/kubernetes) name only
//! metrics pulsegate exports: a renamed metric must not leave a rule that can never fire
//! or a panel that stays empty. A running pulsegate is scraped after a little traffic;
//! the few metrics only an incident creates are checked against the source instead
//! ([`EVENT_ONLY`]). promtool (installed by test.sh) checks the rules and runs their
//! unit tests (deploy/prometheus/alerts.test.yml).

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pulsegate_testkit::sink::{Behaviour, Sink};
use pulsegate_testkit::strava::MockStrava;
use reqwest::Method;
use serde_json::json;
use support::*;

/// Metrics the deploy files name that only an incident or an optional setting creates
/// (their labels are known only then), with the reason they cannot be in the scrape
/// below. They are checked against the source; the test fails if one of them shows up
/// in the scrape after all, so this list cannot grow stale.
const EVENT_ONLY: &[(&str, &str)] = &[(
    "pulsegate_tls_certificate_expiry_timestamp_seconds",
    "only a listener with TLS exports it; this instance serves plain HTTP (tests/tls.rs \
     scrapes it from a TLS instance)",
)];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a directory").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

/// The `pulsegate_*` names in `text` (a histogram's series named by the histogram).
fn metric_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("pulsegate_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        if name.len() > "pulsegate_".len() {
            names.push(base_name(&name).to_string());
        }
    }
    names
}

fn base_name(name: &str) -> &str {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name)
}

/// Metric name → the deploy files naming it: alert rules, dashboards, KEDA queries.
fn named_by_deploy_files() -> BTreeMap<String, BTreeSet<String>> {
    let root = root();
    let mut sources = vec![root.join("deploy/prometheus/alerts.yml")];
    files(
        &root.join("deploy/grafana/dashboards"),
        "json",
        &mut sources,
    );
    files(&root.join("deploy/kubernetes"), "yaml", &mut sources);
    let mut named: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in &sources {
        let text = std::fs::read_to_string(path).unwrap();
        let file = path.strip_prefix(&root).unwrap().display().to_string();
        for name in metric_names(&text) {
            named.entry(name).or_default().insert(file.clone());
        }
    }
    named
}

fn code() -> String {
    let mut sources = Vec::new();
    files(&root().join("crates"), "rs", &mut sources);
    sources
        .iter()
        .filter(|p| !p.components().any(|c| c.as_os_str() == "tests"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

#[test]
fn every_metric_the_deploy_files_name_is_in_the_source() {
    let named = named_by_deploy_files();
    for expected in [
        "pulsegate_destinations_disabled_total",
        "pulsegate_bus_disk_full",
        "pulsegate_http_connections_shed_total",
        "pulsegate_consumer_lag",
    ] {
        assert!(named.contains_key(expected), "{expected}: {named:?}");
    }
    let code = code();
    let missing: Vec<(&String, &BTreeSet<String>)> = named
        .iter()
        .filter(|(n, _)| !code.contains(&format!("\"{n}\"")))
        .collect();
    assert!(
        missing.is_empty(),
        "deploy files name metrics nothing emits: {missing:?}"
    );
}

/// Exported `pulsegate_*` metric names in a Prometheus text exposition (samples only:
/// a metric that is merely described does not appear).
fn exported(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|l| l.starts_with("pulsegate_"))
        .map(|l| {
            let end = l.find(['{', ' ']).unwrap_or(l.len());
            base_name(&l[..end]).to_string()
        })
        .collect()
}

async fn scrape(pg: &Pulsegate) -> BTreeSet<String> {
    let exposition = reqwest::get(pg.admin_url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    exported(&exposition)
}

async fn wait_until(what: &str, pg: &Pulsegate, check: impl AsyncFn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: {}", pg.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const CONFIG: &str = r#"
[dispatcher]
timeout = "2s"
retry_schedule = ["200ms"]
allow_private_networks = true
"#;

/// Starts pulsegate, drives one of each common event (an accepted push delivered to a
/// customer, a rejected push, a push for an unknown athlete, an expired token, a failing
/// destination, a gone one, connections over the cap), scrapes `/metrics` on the admin
/// listener and checks every metric the deploy files name against it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_deploy_files_name_is_exported() {
    let strava = MockStrava::start().await;
    strava.generate_missing(true);
    strava.set_token(1, "access-1");
    let mut pg = Pulsegate::configure(&Backend::Embedded, "serve", &strava.base_url(), CONFIG);
    // A small connection cap on the public listener, to see connections shed.
    let config = std::fs::read_to_string(pg.config_path()).unwrap();
    let config = config.replacen("[server]\n", "[server]\nmax_connections = 4\n", 1);
    std::fs::write(pg.config_path(), config).unwrap();
    pg.spawn().await;

    let ok = Sink::start(Behaviour::Ok).await;
    let down = Sink::start(Behaviour::FailAlways).await;
    let gone = Sink::start(Behaviour::Gone).await;
    for (id, sink) in [("ok", &ok), ("down", &down), ("gone", &gone)] {
        let (status, body) = pg
            .admin(
                Method::POST,
                "/v1/admin/destinations",
                Some(json!({"id": id, "url": sink.url(), "secret": test_secret(7)})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    pg.connect_athlete(1, "access-1", "refresh-1").await;
    // Athlete 2's token has expired: the normalizer refreshes it first.
    let (status, body) = pg
        .admin(
            Method::POST,
            "/v1/admin/connections",
            Some(json!({
                "provider": "strava", "provider_user_id": "2", "reference_id": "customer-user-2",
                "access_token": "access-2", "refresh_token": "refresh-2",
                "expires_at": 1_000_000_000i64, "scopes": "activity:read_all"
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    let client = reqwest::Client::new();
    for (owner, id) in [(1, 91_001), (2, 91_002), (999, 91_003)] {
        let body = strava_event("activity", id, "create", owner, "{}");
        assert_eq!(push(&client, pg.port, body).await, 200);
    }
    let (status, _) = pg
        .push_raw(
            "strava",
            &[("content-type", "application/json")],
            "{not json",
        )
        .await;
    assert_eq!(status, 400);

    wait_until("delivered to ok", &pg, async || ok.count() > 0).await;
    wait_until("gone disabled", &pg, async || {
        pg.metric("pulsegate_destinations_disabled_total").await > 0.0
    })
    .await;
    wait_until("down retried", &pg, async || {
        pg.metric("pulsegate_retries_scheduled_total").await > 0.0
    })
    .await;
    wait_until("unknown athlete dropped", &pg, async || {
        pg.metric("pulsegate_normalizer_dropped_total").await > 0.0
    })
    .await;
    wait_until("token refreshed", &pg, async || {
        pg.metric("pulsegate_token_refresh_total").await > 0.0
    })
    .await;

    // Connections over the cap: four requests whose bodies never come hold every slot,
    // the fifth connection is answered 503.
    // (The real push path: its handler waits for the body it must verify.)
    let path = pg.push_path("strava").await;
    let head = format!("POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n");
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", pg.port)).unwrap();
        c.write_all(head.as_bytes()).unwrap();
        held.push(c);
    }
    wait_until("connections shed", &pg, async || {
        let _ = reqwest::get(pg.url("/healthz")).await;
        // The series PulsegateConnectionsShed selects.
        pg.metric("pulsegate_http_connections_shed_total{listener=\"public\",reason=\"full\"")
            .await
            > 0.0
    })
    .await;
    drop(held);
    // The embedded log's lag is sampled every 5 s.
    wait_until("lag sampled", &pg, async || {
        scrape(&pg).await.contains("pulsegate_consumer_lag")
    })
    .await;

    let exported = scrape(&pg).await;
    let named = named_by_deploy_files();
    let event_only: BTreeMap<&str, &str> = EVENT_ONLY.iter().copied().collect();
    let missing: Vec<(&String, &BTreeSet<String>)> = named
        .iter()
        .filter(|(n, _)| !exported.contains(*n) && !event_only.contains_key(n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "deploy files name metrics the running pulsegate does not export: {missing:?}\n\
         exported: {exported:?}"
    );
    let stale: Vec<&&str> = event_only
        .keys()
        .filter(|n| exported.contains(**n))
        .collect();
    assert!(
        stale.is_empty(),
        "EVENT_ONLY lists metrics the scrape has: remove them {stale:?}"
    );
}

/// promtool's syntax check and the rules' unit tests (alerts.test.yml: each new alert
/// fires on the series pulsegate exports and stays silent otherwise).
#[test]
fn promtool_checks_and_unit_tests_the_rules() {
    let dir = root().join("deploy/prometheus");
    for args in [
        &["check", "rules", "alerts.yml"][..],
        &["test", "rules", "alerts.test.yml"][..],
    ] {
        let out = std::process::Command::new("promtool")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("promtool runs (test.sh installs it from Debian's prometheus package)");
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Every alert's `runbook` points at a section of docs/OPERATIONS.md that exists (the
/// anchor of a `### <AlertName>` heading), and every alert has one.
#[test]
fn every_alert_has_a_runbook_section() {
    let rules =
        std::fs::read_to_string(root().join("deploy/prometheus/alerts.yml")).expect("alerts.yml");
    let doc = std::fs::read_to_string(root().join("docs/OPERATIONS.md")).expect("OPERATIONS.md");
    let anchors: BTreeSet<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("### "))
        .map(|h| h.trim().to_lowercase())
        .collect();
    let mut alerts = 0;
    let mut missing = Vec::new();
    let mut current = None;
    for line in rules.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("- alert:") {
            if let Some(unlinked) = current.replace(name.trim().to_string()) {
                missing.push(format!("{unlinked}: no runbook annotation"));
            }
            alerts += 1;
        } else if let Some(link) = line.strip_prefix("runbook:") {
            let name = current.take().expect("a runbook inside an alert");
            let anchor = link
                .trim()
                .trim_matches('"')
                .strip_prefix("docs/OPERATIONS.md#")
                .unwrap_or_default()
                .to_string();
            if anchor != name.to_lowercase() || !anchors.contains(&anchor) {
                missing.push(format!("{name}: runbook {link} has no section"));
            }
        }
    }
    if let Some(unlinked) = current {
        missing.push(format!("{unlinked}: no runbook annotation"));
    }
    assert!(
        alerts >= 10,
        "only {alerts} alerts found: the parser is off"
    );
    assert!(missing.is_empty(), "{missing:#?}");
}

/// A paused destination's backlog is not consumer lag: nothing reads its group, so
/// `pulsegate_consumer_lag` (and `PulsegateConsumerLagGrowing` on it) reads 0 for it,
/// not a figure that grows with every event until the destination is resumed or, once
/// deleted, for good. Resumed, it gets what waited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_destinations_backlog_is_not_reported_as_consumer_lag() {
    let strava = MockStrava::start().await;
    let sink = Sink::start(Behaviour::Ok).await;
    let extra = hook_destination(&sink.url());
    let pg = Pulsegate::start(&strava.base_url(), &extra).await;
    pg.connect_athlete(1, "access-1", "refresh-1").await;
    let path = pg.push_path("strava").await;
    let http = reqwest::Client::new();
    let push = async |id: u64| {
        let resp = http
            .post(pg.url(&path))
            .body(strava_event("activity", id, "create", 1, "{}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    };
    push(1).await;
    assert!(
        sink.wait_for(1, Duration::from_secs(20)).await,
        "{}",
        pg.logs()
    );
    const HOOK: &str = "pulsegate_consumer_lag{topic=\"events\",group=\"dispatch.hook\"";
    wait_until("the hook's lag sampled", &pg, async || {
        scrape(&pg).await.contains("pulsegate_consumer_lag") && pg.metric(HOOK).await == 0.0
    })
    .await;

    let (status, body) = pg
        .admin(Method::POST, "/v1/admin/destinations/hook/pause", None)
        .await;
    assert_eq!(status, 200, "{body}");
    for id in 2..=6 {
        push(id).await;
    }
    // The five are mapped onto `events` within a second or two; the lag is sampled
    // every 5 s: two samples at least after that.
    wait_until("the normalizer caught up", &pg, async || {
        pg.metric("pulsegate_consumer_lag{topic=\"raw\",group=\"normalizer\"")
            .await
            == 0.0
    })
    .await;
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(
        pg.metric(HOOK).await,
        0.0,
        "a paused group's backlog read as lag"
    );
    assert_eq!(sink.count(), 1);

    let (status, body) = pg
        .admin(Method::POST, "/v1/admin/destinations/hook/resume", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        sink.wait_for(6, Duration::from_secs(20)).await,
        "{}",
        pg.logs()
    );
}

/// `pulsegate_destination_secret_set_timestamp_seconds{destination}`, which
/// `PulsegateDestinationSecretOld` reads: the time a destination's secret was set, for a
/// config-file destination and one created through the API; a rotation moves it, an
/// update keeping the secret does not, a deletion turns it to 0 (ignored by the alert).
/// A changed file entry moves it only if the file's secret changed; restarts keep it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_destinations_secret_set_time_is_exported() {
    const GAUGE: &str = "pulsegate_destination_secret_set_timestamp_seconds";
    let now = || pulsegate_schema::now_ms() as f64 / 1000.0;
    let strava = MockStrava::start().await;
    let started = now();
    let mut pg = Pulsegate::start(
        &strava.base_url(),
        &hook_destination("http://127.0.0.1:9/hook"),
    )
    .await;
    let hook = format!("{GAUGE}{{destination=\"hook\"}}");
    let acme = format!("{GAUGE}{{destination=\"acme\"}}");

    wait_until("the config file's destination exported", &pg, async || {
        pg.metric(&hook).await > 0.0
    })
    .await;
    let hook_set = pg.metric(&hook).await;
    assert!(
        (started..=now()).contains(&hook_set),
        "{hook_set} not between {started} and now"
    );

    let before = now();
    let (status, body) = pg
        .admin(
            Method::POST,
            "/v1/admin/destinations",
            Some(json!({"id": "acme", "url": "http://127.0.0.1:9/acme"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    wait_until("the new destination exported", &pg, async || {
        pg.metric(&acme).await > 0.0
    })
    .await;
    let created = pg.metric(&acme).await;
    assert!(
        (before..=now()).contains(&created),
        "{created} not between {before} and now"
    );

    let (status, body) = pg
        .admin(
            Method::PUT,
            "/v1/admin/destinations/acme",
            Some(json!({"url": "http://127.0.0.1:9/other", "event_types": ["activity"]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // The dispatcher looks at least once a second.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(pg.metric(&acme).await, created, "an update kept the secret");

    let (status, body) = pg
        .admin(
            Method::POST,
            "/v1/admin/destinations/acme/rotate-secret",
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    wait_until("the rotation exported", &pg, async || {
        pg.metric(&acme).await > created
    })
    .await;
    assert!(pg.metric(&acme).await <= now());
    assert_eq!(
        pg.metric(&hook).await,
        hook_set,
        "another destination's time moved"
    );

    let (status, body) = pg
        .admin(Method::DELETE, "/v1/admin/destinations/acme", None)
        .await;
    assert_eq!(status, 204, "{body}");
    wait_until("the deleted destination zeroed", &pg, async || {
        pg.metric(&acme).await == 0.0
    })
    .await;

    let edit_config_and_restart = async |pg: &mut Pulsegate, from: &str, to: &str| {
        let config = std::fs::read_to_string(pg.config_path()).unwrap();
        assert!(config.contains(from), "{config}");
        std::fs::write(pg.config_path(), config.replace(from, to)).unwrap();
        pg.kill9();
        pg.spawn().await;
        wait_until("exported after the restart", pg, async || {
            pg.metric(&hook).await > 0.0
        })
        .await;
    };
    edit_config_and_restart(&mut pg, "9/hook\"", "9/moved\"").await;
    assert_eq!(pg.metric(&hook).await, hook_set, "the file kept its secret");
    let before = now();
    edit_config_and_restart(&mut pg, &test_secret(1), &test_secret(2)).await;
    let file_rotated = pg.metric(&hook).await;
    assert!(
        (before..=now()).contains(&file_rotated),
        "{file_rotated} not between {before} and now"
    );
}

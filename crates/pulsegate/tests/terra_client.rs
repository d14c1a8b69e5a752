//! Terra's own Python client (terra-python 1.1.0, pinned; `.ci/run` installs it) drives
//! the real binary with only its `base_url` changed: the widget, `authenticateuser` to
//! the `auth` webhook, `userInfo`, an inline activity fetch over several Strava list
//! pages, a `to_webhook=True` request whose events carry its reference, and
//! `deauthenticateuser` to `deauth`. Every webhook the customer's sink receives must
//! pass terra-python's `verify_terra_webhook_signature` and parse into terra-python's
//! model for its `type` with strict types and no unknown field
//! (`tests/terra_client/suite.py`).
//!
//! Also through terra-python: a large `to_webhook` request interrupted by SIGTERM and by
//! SIGKILL and resumed on the same data, and the backfill throughput:
//!
//! ```sh
//! TERRA_CLIENT_BACKFILL_DAYS=1825 cargo test -p pulsegate --test terra_client \
//!     backfill_throughput -- --nocapture
//! ```
//!
//! Without terra-python these tests fail (they never skip).

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

mod support;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use pulsegate_testkit::provider_api::{MockApi, TokenStyle};
use pulsegate_testkit::sink::{Behaviour, ReceivedRequest, Sink};
use pulsegate_testkit::strava::{Endpoint, MockStrava};
use reqwest::Method;
use serde_json::{json, Value};
use support::*;

const ATHLETE: u64 = 777;
const DAY: u64 = 86_400;
/// 2025-03-03T00:00:00Z (a Monday).
const MAR_3_2025: u64 = 1_740_960_000;
/// 2024-01-01T00:00:00Z.
const JAN_1_2024: u64 = 1_704_067_200;
/// 2019-01-01T00:00:00Z.
const JAN_1_2019: u64 = 1_546_300_800;
const STATE_SECRET: &str = "terra-client-suite-state-secret";
/// Replaced by the process's own URL once its port is known.
const PG_URL_PLACEHOLDER: &str = "http://pulsegate-url.invalid";

fn suite_py() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/terra_client/suite.py")
}

/// terra-python 1.1.0 must be importable; the suite is pointless otherwise.
fn require_terra_python() {
    let out = Command::new("python3")
        .args([
            "-c",
            "import terra, pydantic, httpx\nfrom importlib.metadata import version\n\
             v = version('terra-python')\nassert v == '1.1.0', v",
        ])
        .output();
    let ok = out.as_ref().is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "terra-python 1.1.0 is not importable by python3: `python3 -m pip install \
         terra-python==1.1.0` (as .ci/run does): {}",
        out.map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
            .unwrap_or_else(|e| e.to_string())
    );
}

/// The customer's sink and the mock's counters, over HTTP for suite.py.
struct Harness {
    url: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

#[derive(Clone)]
struct Seen {
    sink: Arc<Sink>,
    strava: Arc<MockStrava>,
}

fn delivery_json(r: &ReceivedRequest) -> Value {
    let body = String::from_utf8(r.body.to_vec()).expect("a webhook body that is not UTF-8");
    json!({"path": r.path, "status": r.status, "headers": r.headers, "body": body})
}

async fn harness(sink: Arc<Sink>, strava: Arc<MockStrava>) -> Harness {
    async fn received(State(s): State<Seen>) -> Json<Value> {
        Json(Value::Array(
            s.sink.received().iter().map(delivery_json).collect(),
        ))
    }
    async fn strava_calls(State(s): State<Seen>) -> Json<Value> {
        Json(json!({
            "list": s.strava.requests(Endpoint::ListActivities),
            "detail": s.strava.requests(Endpoint::GetActivity),
        }))
    }
    let app = Router::new()
        .route("/received", get(received))
        .route("/strava", get(strava_calls))
        .with_state(Seen { sink, strava });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    Harness { url, _stop: stop }
}

/// What suite.py printed and whether it passed.
struct PyRun {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl PyRun {
    /// The JSON after `prefix` (`SUMMARY `, `RESULT `) on its last such line.
    fn line(&self, prefix: &str) -> Value {
        let line = self
            .stdout
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix}line:\n{}\n{}", self.stdout, self.stderr));
        serde_json::from_str(line).unwrap()
    }

    fn assert_ok(&self, what: &str, pg: &Pulsegate) {
        assert!(
            self.ok,
            "terra-python suite ({what}) failed:\n--- stdout\n{}\n--- stderr\n{}\n--- pulsegate log (tail)\n{}",
            self.stdout,
            self.stderr,
            tail(&pg.logs(), 60)
        );
    }
}

fn tail(s: &str, lines: usize) -> String {
    let all: Vec<&str> = s.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs `suite.py <mode>` with `env` (the runtime keeps serving the mocks meanwhile).
async fn run_suite(mode: &str, env: &[(&str, String)]) -> PyRun {
    let dir = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut cmd = Command::new("python3");
    cmd.arg(suite_py())
        .arg(mode)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start python3");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    PyRun {
        ok: status.is_some_and(|s| s.success()),
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default()
            + if status.is_none() {
                "\n(killed after 120 s)"
            } else {
                ""
            },
    }
}

/// Starts the binary with `extra`, in which [`PG_URL_PLACEHOLDER`] becomes its own URL
/// (the port is picked by the harness: started once, then restarted on the final
/// config). `extra` begins inside `[normalizer.strava]`.
async fn start_pulsegate(strava_api: &str, extra: &str) -> Pulsegate {
    let mut pg = Pulsegate::start(strava_api, extra).await;
    if extra.contains(PG_URL_PLACEHOLDER) {
        pg.kill9();
        let path = pg.config_path().to_path_buf();
        let toml = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, toml.replace(PG_URL_PLACEHOLDER, &pg.url(""))).unwrap();
        pg.spawn().await;
    }
    pg
}

struct Dev {
    id: String,
    key: String,
}

async fn create_developer(pg: &Pulsegate) -> Dev {
    let (status, created) = pg
        .admin(
            Method::POST,
            "/v1/admin/developers",
            Some(json!({"dev_id": "terra-client-suite", "name": "terra-python suite"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    Dev {
        id: created["dev_id"].as_str().unwrap().into(),
        key: created["api_key"].as_str().unwrap().into(),
    }
}

fn base_env(
    pg: &Pulsegate,
    dev: &Dev,
    harness: &Harness,
    secret: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("PG_URL", pg.url("")),
        ("PG_DEV_ID", dev.id.clone()),
        ("PG_API_KEY", dev.key.clone()),
        ("PG_HARNESS_URL", harness.url.clone()),
        ("PG_SIGNING_SECRET", secret.to_string()),
    ]
}

fn ymd(unix: u64) -> String {
    let days = (unix / DAY) as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `per_day` activities of the athlete on each of `days` days from `first` (midnight
/// UTC), at 08:00, 13:00, 18:00 … UTC; their ids.
fn seed(strava: &MockStrava, base_id: u64, first: u64, days: u64, per_day: u64) -> Vec<String> {
    let mut ids = Vec::new();
    for day in 0..days {
        for k in 0..per_day {
            let id = base_id + day * 10 + k;
            strava.add_activity_at(id, ATHLETE, first + day * DAY + 8 * 3600 + k * 5 * 3600);
            ids.push(id.to_string());
        }
    }
    ids
}

/// Secrets that must never reach pulsegate's log.
fn assert_no_secrets(pg: &Pulsegate, secrets: &[&str]) {
    let logs = pg.logs();
    for s in secrets {
        assert!(!s.is_empty());
        assert!(!logs.contains(s), "a secret appears in pulsegate's log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terra_python_drives_widget_auth_userinfo_data_and_deauth() {
    require_terra_python();
    let strava = Arc::new(MockStrava::start().await);
    // The provider's OAuth endpoints: its authorize page, and its token endpoint (which
    // answers the code exchanges with the athlete, as Strava does).
    let web = MockApi::start().await;
    web.respond(
        "GET",
        "/oauth/authorize",
        200,
        "<html><body>Authorize pulsegate?</body></html>",
    );
    let oauth = MockApi::start().await;
    oauth
        .token_endpoint("/oauth/token", TokenStyle::Standard)
        .token_extra(json!({"athlete": {"id": ATHLETE, "firstname": "Ada"}}));
    // The two grants (widget, then authenticateuser) issue access-1 and access-2.
    strava.set_token(ATHLETE, "access-1");
    strava.set_token(ATHLETE, "access-2");
    let sink = Arc::new(Sink::start(Behaviour::Ok).await);
    let secret = test_secret(61);

    // Inline: two weeks, two activities a day (14 per 7-day window, 3 per list page:
    // 5 pages per window). to_webhook: five weeks, one a day (5 windows: large).
    let per_page = 3u64;
    let inline_ids = seed(&strava, 41_000_000, MAR_3_2025, 14, 2);
    let hook_first = MAR_3_2025 + 35 * DAY;
    let hook_ids = seed(&strava, 42_000_000, hook_first, 35, 1);
    let extra = format!(
        r#"backfill_per_page = {per_page}
[normalizer.strava.rate_limit]
limits = []
[normalizer.backfill]
large_request_windows = 4
[dispatcher]
timeout = "3s"
retry_schedule = ["200ms"]
allow_private_networks = true
[connect]
public_url = "{PG_URL_PLACEHOLDER}"
state_secret = "{STATE_SECRET}"
[connect.strava]
authorize_url = "{web}/oauth/authorize"
token_url = "{oauth}/oauth/token"
[[destinations]]
id = "customer"
url = "{sink}"
secret = "{secret}"
"#,
        web = web.base_url(),
        oauth = oauth.base_url(),
        sink = sink.url()
    );
    let pg = start_pulsegate(&strava.base_url(), &extra).await;
    let dev = create_developer(&pg).await;
    let harness = harness(sink.clone(), strava.clone()).await;

    let plan = json!({
        "widget_reference": "customer-widget-7",
        "reference": "customer-user-7",
        "large_request_windows": 4,
        "inline": {
            "start": ymd(MAR_3_2025),
            "end": ymd(MAR_3_2025 + 14 * DAY),
            "ids": inline_ids,
            // Each window's list: 14 activities, pages of 3 → 4 full pages and a short one.
            "list_pages": 2 * (14 / per_page + 1),
        },
        // end_date exclusive: days 1 and 2 of the inline fortnight, not day 3.
        "exclusive": {
            "start": ymd(MAR_3_2025 + DAY),
            "end": ymd(MAR_3_2025 + 3 * DAY),
            "ids": inline_ids[2..6],
        },
        "webhook": {
            "start": ymd(hook_first),
            "end": ymd(hook_first + 35 * DAY),
            "ids": hook_ids,
            "windows": 5,
        },
    });
    let mut env = base_env(&pg, &dev, &harness, &secret);
    env.push(("PG_PROVIDER_URL", web.base_url()));
    env.push(("PG_PLAN", plan.to_string()));
    let run = run_suite("flow", &env).await;
    run.assert_ok("flow", &pg);
    let summary = run.line("SUMMARY ");
    eprintln!("{}", run.stdout.trim_end());

    // Every delivery of the whole test, checked again once nothing more arrives.
    let mut settled = sink.count();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if sink.count() == settled {
            break;
        }
        settled = sink.count();
    }
    let check = run_suite("webhooks", &env).await;
    check.assert_ok("webhooks", &pg);
    let checked = check.line("SUMMARY ");
    assert_eq!(checked["validated"], sink.count(), "{checked}");
    assert!(summary["validated"].as_u64().unwrap() <= sink.count() as u64);
    // What the flow must have produced: 2 auth, 1 user_reauth, the request's two
    // notices and 5 payloads, 1 deauth.
    let by_type = &checked["by_type"];
    for (kind, n) in [
        ("auth", 2),
        ("user_reauth", 1),
        ("large_request_processing", 1),
        ("large_request_sending", 1),
        ("activity", 5),
        ("deauth", 1),
    ] {
        assert_eq!(by_type[kind], n, "{kind}: {checked}");
    }
    assert!(sink.received().iter().all(|r| r.status == 200));

    // The code exchanges happened once each; nothing secret was logged.
    assert_eq!(oauth.requests_to("/oauth/token").len(), 2);
    assert_no_secrets(
        &pg,
        &[
            &dev.key,
            "access-1",
            "refresh-2",
            "test-client-secret",
            STATE_SECRET,
            &secret,
        ],
    );
}

/// Deliveries of one reference, by webhook id (each copy's JSON body).
fn by_webhook_id(sink: &Sink, reference: &str) -> HashMap<String, Vec<Value>> {
    let mut out: HashMap<String, Vec<Value>> = HashMap::new();
    for r in sink.received() {
        if r.status == 200 && r.header("terra-reference") == Some(reference) {
            out.entry(r.header("webhook-id").unwrap().to_string())
                .or_default()
                .push(r.json());
        }
    }
    out
}

fn distinct_of(deliveries: &HashMap<String, Vec<Value>>, kind: &str) -> usize {
    deliveries.values().filter(|v| v[0]["type"] == kind).count()
}

enum Stop {
    Term,
    Kill,
}

/// A large `to_webhook` request made through terra-python, the process stopped
/// mid-way (`stop`) and started again on the same data: every day's activity arrives,
/// every window has one webhook id, and what arrived twice (if anything) arrived under
/// the same webhook id with the same body.
#[allow(
    clippy::print_stderr,
    reason = "the shared body of #[test] fns; reports what the restart cost"
)]
async fn restart_mid_backfill(stop: Stop) {
    require_terra_python();
    let strava = Arc::new(MockStrava::start().await);
    let sink = Arc::new(Sink::start(Behaviour::Ok).await);
    let secret = test_secret(62);
    let extra = format!(
        r#"backfill_per_page = 3
[normalizer.strava.rate_limit]
limits = []
[dispatcher]
timeout = "3s"
retry_schedule = ["200ms"]
allow_private_networks = true
[[destinations]]
id = "customer"
url = "{sink}"
secret = "{secret}"
"#,
        sink = sink.url()
    );
    let mut pg = start_pulsegate(&strava.base_url(), &extra).await;
    let dev = create_developer(&pg).await;
    let user_id = pg
        .connect_athlete_for(&dev.id, ATHLETE, "access-777", "refresh-777")
        .await;
    strava.set_token(ATHLETE, "access-777");
    let harness = harness(sink.clone(), strava.clone()).await;
    // 26 weeks, an activity a day: 26 windows of 3 list pages and 7 activities, about
    // 150 ms each with the mock answering in 15 ms.
    let days = 182u64;
    let windows = days.div_ceil(7) as usize;
    let ids = seed(&strava, 43_000_000, JAN_1_2024, days, 1);
    strava.set_latency(Some(Duration::from_millis(15)));

    let mut env = base_env(&pg, &dev, &harness, &secret);
    let plan =
        json!({"user_id": user_id, "start": ymd(JAN_1_2024), "end": ymd(JAN_1_2024 + days * DAY)});
    env.push(("PG_PLAN", plan.to_string()));
    let run = run_suite("request", &env).await;
    run.assert_ok("request", &pg);
    let reference = run.line("RESULT ")["reference"]
        .as_str()
        .unwrap()
        .to_string();

    // Stop it once a few windows were delivered.
    let deadline = Instant::now() + Duration::from_secs(60);
    while distinct_of(&by_webhook_id(&sink, &reference), "activity") < 5 {
        assert!(
            Instant::now() < deadline,
            "no progress: {}",
            tail(&pg.logs(), 40)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let how = match stop {
        Stop::Term => {
            let status = pg.terminate(Duration::from_secs(20)).await;
            assert!(
                status.is_some_and(|s| s.success()),
                "SIGTERM: {status:?}: {}",
                tail(&pg.logs(), 40)
            );
            "SIGTERM"
        }
        Stop::Kill => {
            pg.kill9();
            "SIGKILL"
        }
    };
    let at_stop = distinct_of(&by_webhook_id(&sink, &reference), "activity");
    assert!(at_stop < windows, "the request finished before the {how}");
    strava.reset_counters();
    pg.spawn().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while distinct_of(&by_webhook_id(&sink, &reference), "activity") < windows {
        assert!(
            Instant::now() < deadline,
            "{} of {windows} windows after the restart: {}",
            distinct_of(&by_webhook_id(&sink, &reference), "activity"),
            tail(&pg.logs(), 40)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Late copies (redeliveries) have time to arrive.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let deliveries = by_webhook_id(&sink, &reference);
    assert_eq!(
        distinct_of(&deliveries, "activity"),
        windows,
        "one webhook id per window"
    );
    assert_eq!(distinct_of(&deliveries, "large_request_processing"), 1);
    assert_eq!(distinct_of(&deliveries, "large_request_sending"), 1);
    assert_eq!(
        deliveries.len(),
        windows + 2,
        "nothing else for the reference"
    );
    let mut seen = BTreeSet::new();
    for copies in deliveries.values() {
        assert!(
            copies.iter().all(|c| *c == copies[0]),
            "one webhook id, different bodies"
        );
        let b = &copies[0];
        match b["type"].as_str().unwrap() {
            "large_request_sending" => assert_eq!(b["expected_payloads"], windows),
            "activity" => {
                for a in b["data"].as_array().unwrap() {
                    let id = a["metadata"]["summary_id"].as_str().unwrap().to_string();
                    assert!(seen.insert(id), "an activity in two windows");
                }
            }
            _ => {}
        }
    }
    let expected: BTreeSet<String> = ids.into_iter().collect();
    assert_eq!(seen, expected, "every day's activity");
    let total: usize = deliveries.values().map(Vec::len).sum();
    let duplicates = total - deliveries.len();
    // Resumed, not started over: the restarted process listed at most the windows not
    // delivered before the stop (plus the one in flight), 3 pages each.
    let list_calls = strava.requests(Endpoint::ListActivities) as usize;
    eprintln!(
        "{how} after {at_stop} of {windows} windows delivered: {total} deliveries, {duplicates} \
         duplicate(s) (same webhook id), {list_calls} list calls after the restart"
    );
    assert!(
        list_calls <= 3 * (windows - at_stop + 1),
        "{list_calls} list calls after the restart ({at_stop} of {windows} windows were delivered): {}",
        pg.logs()
            .lines()
            .filter(|l| l.contains("backfill") || l.contains("started") || l.contains("shutting"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    match stop {
        // A graceful stop finishes and commits what is in flight: nothing twice.
        Stop::Term => assert_eq!(duplicates, 0, "duplicates after a SIGTERM"),
        // SIGKILL: at least once; a copy has the same webhook id and body (above), so
        // receivers deduplicate it. Only what was not committed comes again: the
        // window in flight (its data payload, 1 event) and the deliveries of the
        // dispatcher's last commit interval (50 ms; a window's payload every ~150 ms
        // here, so at most 2), plus one of slack for the notices.
        Stop::Kill => assert!(duplicates <= 4, "{duplicates} duplicates after a SIGKILL"),
    }

    // Every delivery checked by terra-python: signature and strict models.
    let check = run_suite("webhooks", &env).await;
    check.assert_ok("webhooks", &pg);
    assert_eq!(check.line("SUMMARY ")["validated"], sink.count());
    assert_no_secrets(&pg, &[&dev.key, "access-777", &secret]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_backfill_resumes_without_duplicates() {
    restart_mid_backfill(Stop::Term).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_backfill_resumes_at_least_once_with_stable_ids() {
    restart_mid_backfill(Stop::Kill).await;
}

/// Days per second of one large request made through terra-python against MockStrava
/// (rate limits off, no latency, one activity a day, list + detail calls as in
/// production). `TERRA_CLIENT_BACKFILL_DAYS` (default 182, at most 1825) sets the size;
/// timed from the `large_request_processing` webhook (sent on acceptance) to the last
/// window's payload at the sink.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_throughput() {
    require_terra_python();
    let days: u64 = std::env::var("TERRA_CLIENT_BACKFILL_DAYS")
        .ok()
        .map(|v| {
            v.parse()
                .expect("TERRA_CLIENT_BACKFILL_DAYS: a number of days")
        })
        .unwrap_or(182);
    assert!(
        (8..=1825).contains(&days),
        "TERRA_CLIENT_BACKFILL_DAYS: 8 to 1825"
    );
    let strava = Arc::new(MockStrava::start().await);
    let sink = Arc::new(Sink::start(Behaviour::Ok).await);
    let secret = test_secret(63);
    let extra = format!(
        r#"[normalizer.strava.rate_limit]
limits = []
[dispatcher]
allow_private_networks = true
[[destinations]]
id = "customer"
url = "{sink}"
secret = "{secret}"
"#,
        sink = sink.url()
    );
    let pg = start_pulsegate(&strava.base_url(), &extra).await;
    let dev = create_developer(&pg).await;
    let user_id = pg
        .connect_athlete_for(&dev.id, ATHLETE, "access-777", "refresh-777")
        .await;
    strava.set_token(ATHLETE, "access-777");
    let harness = harness(sink.clone(), strava.clone()).await;
    let first = JAN_1_2019;
    let ids = seed(&strava, 44_000_000, first, days, 1);
    let windows = days.div_ceil(7) as usize;

    let mut env = base_env(&pg, &dev, &harness, &secret);
    let plan = json!({"user_id": user_id, "start": ymd(first), "end": ymd(first + days * DAY)});
    env.push(("PG_PLAN", plan.to_string()));
    let run = run_suite("request", &env).await;
    run.assert_ok("request", &pg);
    let reference = run.line("RESULT ")["reference"]
        .as_str()
        .unwrap()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(600);
    while distinct_of(&by_webhook_id(&sink, &reference), "activity") < windows {
        assert!(Instant::now() < deadline, "{}", tail(&pg.logs(), 40));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mine: Vec<ReceivedRequest> = sink
        .received()
        .into_iter()
        .filter(|r| r.header("terra-reference") == Some(reference.as_str()))
        .collect();
    let accepted = mine
        .iter()
        .find(|r| r.json()["type"] == "large_request_processing")
        .expect("large_request_processing")
        .since_start;
    let last = mine
        .iter()
        .filter(|r| r.json()["type"] == "activity")
        .map(|r| r.since_start)
        .max()
        .unwrap();
    let delivered: usize = mine
        .iter()
        .filter(|r| r.json()["type"] == "activity")
        .map(|r| r.json()["data"].as_array().unwrap().len())
        .sum();
    assert_eq!(delivered, ids.len(), "every activity once");
    let took = last - accepted;
    let calls = strava.requests(Endpoint::ListActivities) + strava.requests(Endpoint::GetActivity);
    eprintln!(
        "backfill throughput (terra-python request, MockStrava on 127.0.0.1, 1 activity/day, \
         list + detail calls, delivered to a sink): {days} days in {windows} windows, \
         {took:.2?} = {:.0} days/s, {:.1} windows/s, {:.0} Strava calls/s",
        days as f64 / took.as_secs_f64(),
        windows as f64 / took.as_secs_f64(),
        calls as f64 / took.as_secs_f64()
    );
    let check = run_suite("webhooks", &env).await;
    check.assert_ok("webhooks", &pg);
    assert_eq!(check.line("SUMMARY ")["validated"], sink.count());
}

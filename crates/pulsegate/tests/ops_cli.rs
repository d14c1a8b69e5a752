//! `pulsegate dead-letters|connections|destinations|topics` against a running instance,
//! as an operator runs them, checking their real effects through the admin API and what
//! the customers' sinks receive: replayed dead letters arrive, a paused destination
//! receives nothing while its lag grows and catches up on resume, a rotated secret signs
//! the next deliveries (and the old one no longer verifies), a revoked connection is
//! gone. Also `--help`, `--output json`, and the exit codes of bad arguments (2), a
//! refused request (1), an unreachable API (3) and a wrong token (4).

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use pulsegate_testkit::sink::{Behaviour, ReceivedRequest, Sink};
use pulsegate_testkit::strava::MockStrava;
use reqwest::Method;
use serde_json::Value;
use support::*;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// `pulsegate <args>` with a clean environment (no inherited admin settings).
fn cli(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_pulsegate"))
        .args(args)
        .env_remove("PULSEGATE_ADMIN__TOKEN")
        .env_remove("PULSEGATE_ADMIN_URL")
        .env_remove("PULSEGATE_CONFIG")
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn json_of(r: &Run) -> Value {
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

fn ok_text(r: &Run) -> &str {
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    &r.stdout
}

/// The activities `sink` accepted.
fn activities(sink: &Sink) -> Vec<ReceivedRequest> {
    sink.received()
        .into_iter()
        .filter(|r| r.status == 200 && r.json()["type"] == "activity")
        .collect()
}

/// The last activity `sink` accepted whose body names `object_id` (a kill -9 may
/// deliver an event twice, so counts do not tell).
fn delivery_of(sink: &Sink, object_id: u64) -> Option<ReceivedRequest> {
    let id = object_id.to_string();
    activities(sink)
        .into_iter()
        .rev()
        .find(|r| String::from_utf8_lossy(&r.body).contains(&id))
}

async fn wait_until(what: &str, pg: &Pulsegate, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "{what}: {}", pg.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs `args` (JSON output) until `check` accepts the answer.
async fn json_until<S: AsRef<str>>(
    what: &str,
    args: &[S],
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut all: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        all.extend(["--output", "json"]);
        let v = json_of(&cli(&all));
        if check(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: {v:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `group`'s total lag on `topic` in a `topics describe` answer.
fn lag(answer: &Value, topic: &str, group: &str) -> Option<u64> {
    answer["topics"]
        .as_array()?
        .iter()
        .find(|t| t["name"] == topic)?["groups"]
        .as_array()?
        .iter()
        .find(|g| g["group"] == group)?["lag"]
        .as_u64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_commands_against_a_running_instance() {
    let strava = MockStrava::start().await;
    strava.generate_missing(true);
    strava.set_token(1, "access-1");
    let sink = Sink::start(Behaviour::Ok).await;
    let dead = Sink::start(Behaviour::FailAlways).await;
    let old_secret = test_secret(3);
    let extra = format!(
        "[dispatcher]\ntimeout = \"3s\"\nretry_schedule = [\"200ms\", \"200ms\"]\nallow_private_networks = true\n\
         [[destinations]]\nid = \"sink\"\nurl = \"{}\"\nsecret = \"{old_secret}\"\n\
         [[destinations]]\nid = \"dead\"\nurl = \"{}\"\nsecret = \"{}\"\n",
        sink.url(),
        dead.url(),
        test_secret(4)
    );
    let mut pg = Pulsegate::start(&strava.base_url(), &extra).await;
    let user = pg.connect_athlete(1, "access-1", "refresh-1").await;
    let client = reqwest::Client::new();
    let admin = pg.admin_url("");
    let target = ["--admin-url", admin.as_str(), "--admin-token", ADMIN_TOKEN];
    let with = |args: &[&str]| -> Vec<String> {
        args.iter().chain(&target).map(|a| a.to_string()).collect()
    };
    let run = |args: &[&str]| {
        let all = with(args);
        cli(&all.iter().map(String::as_str).collect::<Vec<_>>())
    };
    for id in [62_001, 62_002] {
        let body = strava_event("activity", id, "create", 1, "{}");
        assert_eq!(push(&client, pg.port, body).await, 200);
    }
    wait_until("two deliveries", &pg, || activities(&sink).len() == 2).await;

    // dead-letters list: both activities, after 1 + 2 attempts each.
    let letters = json_until(
        "two dead letters",
        &with(&["dead-letters", "list", "--destination", "dead"]),
        |v| v["dead_letters"].as_array().unwrap().len() == 2,
    )
    .await;
    for l in letters["dead_letters"].as_array().unwrap() {
        assert_eq!(l["type"], "activity", "{l}");
        assert_eq!(l["attempts"], 3, "{l}");
        assert_eq!(l["user_id"], user.as_str(), "{l}");
    }
    let table = run(&["dead-letters", "list"]);
    let lines: Vec<&str> = ok_text(&table).lines().collect();
    assert_eq!(lines.len(), 3, "{}", table.stdout);
    assert!(lines[0].starts_with("FAILED AT") && lines[0].contains("LAST ERROR"));
    assert!(lines[1..]
        .iter()
        .all(|l| l.contains(" dead ") && l.contains(" activity ") && l.contains(&user)));
    let none = run(&[
        "dead-letters",
        "list",
        "--destination",
        "sink",
        "--limit",
        "5",
    ]);
    assert_eq!(ok_text(&none).trim(), "no dead letters");

    // dead-letters replay: the destination is back; each letter arrives once.
    dead.set_behaviour(Behaviour::Ok);
    let replayed = json_of(&run(&[
        "dead-letters",
        "replay",
        "--destination",
        "dead",
        "--since",
        "1h",
        "--output",
        "json",
    ]));
    assert_eq!(replayed["matched"], 2, "{replayed}");
    assert_eq!(replayed["replayed"], 2, "{replayed}");
    wait_until("replayed", &pg, || activities(&dead).len() == 2).await;
    let again = run(&["dead-letters", "replay", "--destination", "dead"]);
    assert_eq!(
        ok_text(&again).trim(),
        "2 matched: 0 replayed, 2 already replayed before"
    );
    let event_id = letters["dead_letters"][0]["event_id"].as_str().unwrap();
    let one = json_of(&run(&[
        "dead-letters",
        "replay",
        "--event-id",
        event_id,
        "--output",
        "json",
    ]));
    assert_eq!(one["matched"], 1, "{one}");
    let no_filter = run(&["dead-letters", "replay"]);
    assert_eq!(no_filter.code, 2, "{}", no_filter.stderr);
    let bad_time = run(&["dead-letters", "replay", "--since", "last tuesday"]);
    assert_eq!(bad_time.code, 2, "{}", bad_time.stderr);
    assert!(bad_time.stderr.contains("--since"), "{}", bad_time.stderr);
    let bad_limit = run(&["dead-letters", "list", "--limit", "0"]);
    assert_eq!(bad_limit.code, 2, "{}", bad_limit.stderr);

    // topics describe: every partition of the pipeline's topics, and the groups' lag.
    let topics = json_until(
        "delivery groups caught up",
        &with(&["topics", "describe"]),
        |v| lag(v, "events", "dispatch.sink") == Some(0) && lag(v, "raw", "normalizer") == Some(0),
    )
    .await;
    assert_eq!(topics["bus"], "embedded");
    let events = topics["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "events")
        .unwrap();
    assert_eq!(
        events["partitions"].as_array().unwrap().len(),
        4,
        "{events}"
    );
    assert!(
        events["end_offset_total"].as_u64().unwrap() >= 2,
        "{events}"
    );
    let groups: Vec<&str> = events["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    assert_eq!(groups, ["dispatch.dead", "dispatch.sink"]);
    let names: Vec<&str> = topics["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for t in [
        "raw",
        "events",
        "retry_0",
        "retry_1",
        "dead_letters",
        "state",
    ] {
        assert!(names.contains(&t), "{t} missing from {names:?}");
    }
    let table = run(&["topics", "describe", "events"]);
    let lines: Vec<&str> = ok_text(&table).lines().collect();
    assert_eq!(lines[0], "bus: embedded");
    assert!(lines[1].starts_with("TOPIC") && lines[1].ends_with("LAG"));
    // 4 partitions and a sum line per group.
    assert_eq!(lines.len(), 2 + 2 * 5, "{}", table.stdout);
    let unknown = run(&["topics", "describe", "no_such_topic"]);
    assert_eq!(unknown.code, 1, "{}", unknown.stderr);
    assert!(unknown.stderr.contains("404"), "{}", unknown.stderr);

    // destinations pause: nothing reaches it, its lag shows the waiting event; resume
    // delivers it.
    let listed = run(&["destinations", "list"]);
    let text = ok_text(&listed);
    assert!(text.lines().next().unwrap().starts_with("ID"));
    assert!(text
        .lines()
        .any(|l| l.starts_with("sink ") && l.contains(" yes ")));
    let paused = json_of(&run(&["destinations", "pause", "sink", "--output", "json"]));
    assert_eq!(paused["enabled"], false, "{paused}");
    let (_, d) = pg
        .admin(Method::GET, "/v1/admin/destinations/sink", None)
        .await;
    assert_eq!(d["enabled"], false, "{d}");
    let body = strava_event("activity", 62_003, "create", 1, "{}");
    assert_eq!(push(&client, pg.port, body).await, 200);
    json_until(
        "the paused destination's lag",
        &with(&["topics", "describe", "events"]),
        |v| lag(v, "events", "dispatch.sink") == Some(1),
    )
    .await;
    wait_until("the other destination got it", &pg, || {
        activities(&dead).len() == 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        activities(&sink).len(),
        2,
        "a paused destination got a delivery"
    );
    let listed = run(&["destinations", "list"]);
    assert!(ok_text(&listed)
        .lines()
        .any(|l| l.starts_with("sink ") && l.contains(" no ")));
    let resumed = run(&["destinations", "resume", "sink"]);
    assert!(ok_text(&resumed).contains("resumed"), "{}", resumed.stdout);
    wait_until("delivered on resume", &pg, || activities(&sink).len() == 3).await;
    let (_, d) = pg
        .admin(Method::GET, "/v1/admin/destinations/sink", None)
        .await;
    assert_eq!(d["enabled"], true, "{d}");

    let before = &activities(&sink)[0];
    assert_eq!(
        verify_delivery(&old_secret, &before.headers, &before.body),
        Ok(())
    );

    // destinations rotate-secret on one made through the API: needs --yes; the next
    // deliveries verify with the new secret and not with the old one.
    let api_sink = Sink::start(Behaviour::Ok).await;
    let (status, created) = pg
        .admin(
            Method::POST,
            "/v1/admin/destinations",
            Some(serde_json::json!({ "id": "api", "url": api_sink.url() })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let api_secret = created["secret"].as_str().unwrap().to_string();
    let refused = run(&["destinations", "rotate-secret", "api"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("--yes"), "{}", refused.stderr);
    let first = run(&["destinations", "rotate-secret", "api", "--yes"]);
    let shown = ok_text(&first).lines().nth(1).unwrap().to_string();
    assert!(shown.starts_with("whsec_"), "{}", first.stdout);
    let rotated = json_of(&run(&[
        "destinations",
        "rotate-secret",
        "api",
        "--yes",
        "--output",
        "json",
    ]));
    let new_secret = rotated["secret"].as_str().unwrap().to_string();
    assert!(new_secret.starts_with("whsec_"), "{rotated}");
    assert!(new_secret != api_secret && new_secret != shown);
    let (_, d) = pg
        .admin(Method::GET, "/v1/admin/destinations/api", None)
        .await;
    assert!(
        !d["secret"].as_str().unwrap().contains(&new_secret[6..]),
        "the API shows only a masked secret: {d}"
    );
    let body = strava_event("activity", 62_004, "create", 1, "{}");
    assert_eq!(push(&client, pg.port, body).await, 200);
    wait_until("delivered after rotation", &pg, || {
        activities(&api_sink).len() == 1
    })
    .await;
    let after = &activities(&api_sink)[0];
    assert_eq!(
        verify_delivery(&new_secret, &after.headers, &after.body),
        Ok(())
    );
    assert!(verify_delivery(&api_secret, &after.headers, &after.body).is_err());
    assert!(verify_delivery(&shown, &after.headers, &after.body).is_err());
    // With --overlap-secs the secret it replaces signs too, until the time it prints.
    let overlapped = run(&[
        "destinations",
        "rotate-secret",
        "api",
        "--overlap-secs",
        "3600",
        "--yes",
    ]);
    let text = ok_text(&overlapped);
    let newest = text.lines().nth(1).unwrap().to_string();
    assert!(
        newest.starts_with("whsec_") && newest != new_secret,
        "{text}"
    );
    assert!(text.contains("also signs every delivery until"), "{text}");
    let body = strava_event("activity", 62_010, "create", 1, "{}");
    assert_eq!(push(&client, pg.port, body).await, 200);
    wait_until("delivered during the overlap", &pg, || {
        activities(&api_sink).len() == 2
    })
    .await;
    let during = &activities(&api_sink)[1];
    for secret in [&newest, &new_secret] {
        assert_eq!(
            verify_delivery(secret, &during.headers, &during.body),
            Ok(())
        );
    }
    assert!(verify_delivery(&api_secret, &during.headers, &during.body).is_err());
    // A destination from the config file: what the API did to it (a new secret, a
    // pause) outlasts restarts until the file's entry changes; deleting it is refused
    // (the next start would create it again).
    wait_until("62004 at the file's destination", &pg, || {
        delivery_of(&sink, 62_004).is_some()
    })
    .await;
    let (status, _) = pg
        .admin(Method::DELETE, "/v1/admin/destinations/sink", None)
        .await;
    assert_eq!(status, 409);
    let rotated = json_of(&run(&[
        "destinations",
        "rotate-secret",
        "sink",
        "--yes",
        "--output",
        "json",
    ]));
    let sink_secret = rotated["secret"].as_str().unwrap().to_string();
    let paused = json_of(&run(&["destinations", "pause", "sink", "--output", "json"]));
    assert_eq!(paused["enabled"], false, "{paused}");
    pg.kill9();
    pg.spawn().await;
    let (_, d) = pg
        .admin(Method::GET, "/v1/admin/destinations/sink", None)
        .await;
    assert_eq!(d["enabled"], false, "the restart undid the pause: {d}");
    let resumed = run(&["destinations", "resume", "sink"]);
    assert!(ok_text(&resumed).contains("resumed"), "{}", resumed.stdout);
    let body = strava_event("activity", 62_005, "create", 1, "{}");
    assert_eq!(push(&client, pg.port, body).await, 200);
    wait_until("62005 delivered", &pg, || {
        delivery_of(&sink, 62_005).is_some()
    })
    .await;
    let last = delivery_of(&sink, 62_005).unwrap();
    assert_eq!(
        verify_delivery(&sink_secret, &last.headers, &last.body),
        Ok(()),
        "the restart undid the rotated secret"
    );
    // The file's entry changes (a new secret there): the next start applies it.
    let file_secret = test_secret(5);
    let config = std::fs::read_to_string(pg.config_path()).unwrap();
    assert!(config.contains(&old_secret));
    std::fs::write(pg.config_path(), config.replace(&old_secret, &file_secret)).unwrap();
    pg.kill9();
    pg.spawn().await;
    let body = strava_event("activity", 62_006, "create", 1, "{}");
    assert_eq!(push(&client, pg.port, body).await, 200);
    wait_until("62006 delivered", &pg, || {
        delivery_of(&sink, 62_006).is_some()
    })
    .await;
    let last = delivery_of(&sink, 62_006).unwrap();
    assert_eq!(
        verify_delivery(&file_secret, &last.headers, &last.body),
        Ok(()),
        "the file's changed entry was not applied"
    );
    let missing = run(&["destinations", "pause", "nope"]);
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    assert!(
        missing.stderr.contains("404") && missing.stderr.contains("no such destination"),
        "{}",
        missing.stderr
    );

    // connections list / show / revoke.
    let second = pg.connect_athlete(2, "access-2", "refresh-2").await;
    let listed = json_of(&run(&["connections", "list", "--output", "json"]));
    let ids: Vec<&str> = listed["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["user_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&user.as_str()) && ids.contains(&second.as_str()));
    let table = run(&["connections", "list"]);
    let text = ok_text(&table);
    assert!(text.starts_with("USER-ID"));
    assert!(
        text.lines()
            .any(|l| l.starts_with(&user) && l.to_lowercase().contains(" strava ")),
        "{text}"
    );
    let shown = run(&["connections", "show", &user]);
    let text = ok_text(&shown);
    assert!(
        text.lines()
            .any(|l| l.starts_with("provider:") && l.to_lowercase().ends_with("strava")),
        "{text}"
    );
    assert!(!text.contains("access-1"), "tokens are masked: {text}");
    let show_json = json_of(&run(&["connections", "show", &user, "--output", "json"]));
    assert_eq!(show_json["user_id"], user.as_str());
    let unconfirmed = run(&["connections", "revoke", &user]);
    assert_eq!(unconfirmed.code, 2, "{}", unconfirmed.stderr);
    assert!(
        unconfirmed.stderr.contains("--yes"),
        "{}",
        unconfirmed.stderr
    );
    let (status, _) = pg
        .admin(Method::GET, &format!("/v1/admin/connections/{user}"), None)
        .await;
    assert_eq!(status, 200, "not revoked without --yes");
    let revoked = run(&["connections", "revoke", &user, "--yes"]);
    assert!(ok_text(&revoked).contains("revoked"), "{}", revoked.stdout);
    let (status, _) = pg
        .admin(Method::GET, &format!("/v1/admin/connections/{user}"), None)
        .await;
    assert_eq!(status, 404, "revoked");
    let revoked = json_of(&run(&[
        "connections",
        "revoke",
        &second,
        "--yes",
        "--output",
        "json",
    ]));
    assert_eq!(revoked["revoked"], true);
    assert_eq!(revoked["user_id"], second.as_str());
    let gone = run(&["connections", "show", &user]);
    assert_eq!(gone.code, 1, "{}", gone.stderr);
    assert!(
        gone.stderr.contains("no such connection"),
        "{}",
        gone.stderr
    );
    let no_id = run(&["connections", "show"]);
    assert_eq!(no_id.code, 2, "{}", no_id.stderr);

    // The environment's failures, each its exit code; the token is never printed.
    let wrong = cli(&[
        "topics",
        "describe",
        "--admin-url",
        &admin,
        "--admin-token",
        "wrong-token-0123456789abcdef0123456789",
    ]);
    assert_eq!(wrong.code, 4, "{}", wrong.stderr);
    assert!(
        wrong.stderr.contains("401") && !wrong.stderr.contains("wrong-token"),
        "{}",
        wrong.stderr
    );
    let closed = format!("http://127.0.0.1:{}", pulsegate_testkit::ports::free_port());
    for args in [
        &["destinations", "list"][..],
        &["connections", "list"],
        &["dead-letters", "list"],
        &["topics", "describe"],
    ] {
        let mut all = args.to_vec();
        all.extend(["--admin-url", &closed, "--admin-token", ADMIN_TOKEN]);
        let r = cli(&all);
        assert_eq!(r.code, 3, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("unreachable") && !r.stderr.contains(ADMIN_TOKEN));
    }
    // The server's config file gives the URL and token.
    let config = pg.config_path().to_str().unwrap().to_string();
    let from_config = cli(&["destinations", "list", "--config", &config]);
    assert!(ok_text(&from_config).contains("sink"));
}

#[test]
fn every_command_has_help() {
    for (args, wants) in [
        (
            vec!["dead-letters", "--help"],
            vec![
                "list",
                "replay",
                "--admin-url",
                "--admin-token",
                "Exit codes",
            ],
        ),
        (
            vec!["dead-letters", "list", "--help"],
            vec!["--destination", "--limit", "--output"],
        ),
        (
            vec!["dead-letters", "replay", "--help"],
            vec!["--destination", "--since", "--until", "--event-id"],
        ),
        (
            vec!["connections", "--help"],
            vec!["list", "show", "revoke", "Exit codes"],
        ),
        (
            vec!["connections", "revoke", "--help"],
            vec!["--yes", "<USER_ID>"],
        ),
        (
            vec!["destinations", "--help"],
            vec!["list", "pause", "resume", "rotate-secret", "Exit codes"],
        ),
        (
            vec!["destinations", "rotate-secret", "--help"],
            vec!["--yes", "<ID>", "--overlap-secs"],
        ),
        (vec!["topics", "--help"], vec!["describe", "Exit codes"]),
        (
            vec!["topics", "describe", "--help"],
            vec!["[TOPIC]", "--output"],
        ),
    ] {
        let r = cli(&args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        for w in wants {
            assert!(
                r.stdout.contains(w),
                "{args:?} help lacks {w}: {}",
                r.stdout
            );
        }
    }
}

/// `topics describe` on the Kafka bus: partitions and the delivery group's committed
/// offsets read from the broker (tansu under-reports high watermarks, so lag values
/// are not asserted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_describe_on_kafka() {
    let backend = Backend::kafka();
    let strava = MockStrava::start().await;
    strava.generate_missing(true);
    strava.set_token(1, "access-1");
    let sink = Sink::start(Behaviour::Ok).await;
    let extra = format!(
        "[dispatcher]\ntimeout = \"3s\"\nretry_schedule = [\"200ms\"]\nallow_private_networks = true\n\
         [[destinations]]\nid = \"sink\"\nurl = \"{}\"\nsecret = \"{}\"\n",
        sink.url(),
        test_secret(3)
    );
    let pg = Pulsegate::start_on(&backend, &strava.base_url(), &extra).await;
    pg.connect_athlete(1, "access-1", "refresh-1").await;
    let client = reqwest::Client::new();
    let body = strava_event("activity", 63_001, "create", 1, "{}");
    assert_eq!(push(&client, pg.port, body).await, 200);
    wait_until("delivered", &pg, || activities(&sink).len() == 1).await;
    let admin = pg.admin_url("");
    let answer = json_until(
        "the delivery group's commit",
        &[
            "topics",
            "describe",
            "events",
            "--admin-url",
            &admin,
            "--admin-token",
            ADMIN_TOKEN,
        ],
        |v| {
            v["topics"][0]["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|g| g["group"] == "dispatch.sink")
                .flat_map(|g| g["partitions"].as_array().cloned().unwrap_or_default())
                .any(|p| p["committed_offset"].as_u64().is_some_and(|c| c > 0))
        },
    )
    .await;
    assert_eq!(answer["bus"], "kafka");
    let events = &answer["topics"][0];
    assert_eq!(events["name"], "events");
    assert_eq!(
        events["partitions"].as_array().unwrap().len(),
        4,
        "{events}"
    );
    assert!(
        events["end_offset_total"].as_u64().unwrap() >= 1,
        "{events}"
    );
    let all = json_of(&cli(&[
        "topics",
        "describe",
        "--admin-url",
        &admin,
        "--admin-token",
        ADMIN_TOKEN,
        "--output",
        "json",
    ]));
    let raw = all["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "raw")
        .unwrap();
    assert_eq!(raw["groups"][0]["group"], "normalizer", "{raw}");
}

//! `pulsegate deliveries search|resend` against a running instance, as an operator runs
//! them: admin URL and token from flags or the server's config file; `--help`; exit
//! codes and messages for an unreachable admin API, a refused token, a refused request
//! and bad arguments; resends arrive with their original webhook-ids.

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use pulsegate_testkit::sink::{Behaviour, Sink};
use pulsegate_testkit::strava::MockStrava;
use reqwest::Method;
use serde_json::Value;
use support::*;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// `pulsegate deliveries <args>` with a clean environment (no inherited admin settings).
fn cli(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_pulsegate"))
        .arg("deliveries")
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

/// webhook-ids of the activities `sink` accepted.
fn delivered(sink: &Sink) -> Vec<String> {
    sink.received()
        .iter()
        .filter(|r| r.status == 200 && r.json()["type"] == "activity")
        .map(|r| r.header("webhook-id").unwrap().to_string())
        .collect()
}

async fn wait_for(what: &str, pg: &Pulsegate, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "{what}: {}", pg.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_and_resend_from_the_command_line() {
    let strava = MockStrava::start().await;
    strava.generate_missing(true);
    strava.set_token(1, "access-1");
    let sink = Sink::start(Behaviour::Ok).await;
    let other = Sink::start(Behaviour::Ok).await;
    let extra = format!(
        "[dispatcher]\ntimeout = \"3s\"\nretry_schedule = [\"200ms\"]\nallow_private_networks = true\n\
         [[destinations]]\nid = \"sink\"\nurl = \"{}\"\nsecret = \"{}\"\n\
         [[destinations]]\nid = \"other\"\nurl = \"{}\"\nsecret = \"{}\"\n",
        sink.url(),
        test_secret(3),
        other.url(),
        test_secret(4)
    );
    let pg = Pulsegate::start(&strava.base_url(), &extra).await;
    let user = pg.connect_athlete(1, "access-1", "refresh-1").await;
    let client = reqwest::Client::new();
    let since = pulsegate_schema::now_ms().to_string();
    for id in [61_001, 61_002] {
        let body = strava_event("activity", id, "create", 1, "{}");
        assert_eq!(push(&client, pg.port, body).await, 200);
    }
    wait_for("two deliveries", &pg, || {
        delivered(&sink).len() == 2 && delivered(&other).len() == 2
    })
    .await;
    let admin = pg.admin_url("");
    let with = |args: &[&str]| {
        let mut all = vec!["--admin-url", admin.as_str(), "--admin-token", ADMIN_TOKEN];
        all.extend_from_slice(args);
        cli(&all)
    };

    // search: JSON, filtered, once the history has both attempts.
    let deadline = Instant::now() + Duration::from_secs(20);
    let found = loop {
        let found = json_of(&with(&[
            "search",
            "--destination",
            "sink",
            "--event-type",
            "activity",
            "--output",
            "json",
        ]));
        if found["deliveries"].as_array().unwrap().len() == 2 {
            break found;
        }
        assert!(Instant::now() < deadline, "{found}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut ids: Vec<String> = found["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(d["destination_id"], "sink");
            assert_eq!(d["user_id"], user.as_str());
            d["webhook_id"].as_str().unwrap().to_string()
        })
        .collect();
    ids.sort();
    let mut sent = delivered(&sink);
    sent.sort();
    assert_eq!(ids, sent);
    // The same through the server's config file (its admin listener and token), as a table.
    let config = pg.config_path().to_str().unwrap().to_string();
    let table = cli(&["search", "--config", &config, "--webhook-id", &ids[0]]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", table.stdout);
    assert!(lines[0].starts_with("TIME") && lines[1].contains(&ids[0]) && lines[1].contains("ok"));
    let none = with(&["search", "--user", "nobody"]);
    assert_eq!(none.code, 0);
    assert!(
        none.stdout.starts_with("no deliveries found"),
        "{}",
        none.stdout
    );

    // resend one delivery by webhook-id: the same webhook-id arrives again, only there.
    let r = json_of(&with(&[
        "resend",
        "--webhook-id",
        &ids[0],
        "--output",
        "json",
    ]));
    assert_eq!(r["resends"][0]["destination_id"], "sink", "{r}");
    assert_eq!(r["resends"][0]["resent"], 1, "{r}");
    wait_for("resent by id", &pg, || delivered(&sink).len() == 3).await;
    assert_eq!(delivered(&sink).iter().filter(|w| **w == ids[0]).count(), 2);
    // a user's events since a time: to every enabled destination.
    let r = json_of(&with(&[
        "resend", "--user", &user, "--since", &since, "--output", "json",
    ]));
    let resends = r["resends"].as_array().unwrap();
    assert_eq!(resends.len(), 2, "{r}");
    assert!(resends.iter().all(|x| x["resent"] == 2), "{r}");
    wait_for("resent by user", &pg, || {
        delivered(&sink).len() == 5 && delivered(&other).len() == 4
    })
    .await;
    // a destination's events since a time, as text.
    let r = with(&["resend", "--destination", "other", "--since", &since]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.trim(), "other: 2 resent, 0 not subscribed");
    wait_for("resent to other", &pg, || delivered(&other).len() == 6).await;
    assert_eq!(
        delivered(&sink).len(),
        5,
        "only `other` got the destination's resend"
    );

    // Errors: each its message and exit code.
    let refused = with(&["resend", "--destination", "nope", "--since", "1h"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("404") && refused.stderr.contains("no such destination"),
        "{}",
        refused.stderr
    );
    let wrong = cli(&[
        "--admin-url",
        &admin,
        "--admin-token",
        "wrong-token-0123456789abcdef0123456789",
        "search",
    ]);
    assert_eq!(wrong.code, 4, "{}", wrong.stderr);
    assert!(
        wrong.stderr.contains("401") && !wrong.stderr.contains("wrong-token"),
        "{}",
        wrong.stderr
    );
    let closed = format!("http://127.0.0.1:{}", pulsegate_testkit::ports::free_port());
    let unreachable = cli(&[
        "--admin-url",
        &closed,
        "--admin-token",
        ADMIN_TOKEN,
        "search",
    ]);
    assert_eq!(unreachable.code, 3, "{}", unreachable.stderr);
    assert!(
        unreachable.stderr.contains("unreachable") && !unreachable.stderr.contains(ADMIN_TOKEN)
    );
    let no_token = cli(&["--admin-url", &admin, "search"]);
    assert_eq!(no_token.code, 2);
    assert!(
        no_token.stderr.contains("no admin token"),
        "{}",
        no_token.stderr
    );
    let bad_time = with(&["search", "--since", "last tuesday"]);
    assert_eq!(bad_time.code, 2);
    assert!(bad_time.stderr.contains("--since"), "{}", bad_time.stderr);
    let neither = with(&["resend", "--user", &user]);
    assert_eq!(
        neither.code, 2,
        "clap refuses --user without --since: {}",
        neither.stderr
    );
    let both = with(&["resend", "--webhook-id", &ids[0], "--since", "1h"]);
    assert_eq!(both.code, 2, "{}", both.stderr);

    // Nothing was resent by the refused commands.
    let (_, d) = pg
        .admin(Method::GET, "/v1/admin/deliveries?limit=500", None)
        .await;
    let attempts = d["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["type"] == "activity")
        .count();
    assert_eq!(attempts, 11, "{d}");
}

#[test]
fn every_command_has_help() {
    for (args, wants) in [
        (
            vec!["--help"],
            vec![
                "search",
                "resend",
                "--admin-url",
                "--admin-token",
                "Exit codes",
            ],
        ),
        (
            vec!["search", "--help"],
            vec![
                "--user",
                "--destination",
                "--event-type",
                "--webhook-id",
                "--since",
                "--until",
                "--output",
            ],
        ),
        (
            vec!["resend", "--help"],
            vec![
                "--webhook-id",
                "--user",
                "--since",
                "--destination",
                "--output",
            ],
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
        assert!(!r.stdout.contains(ADMIN_TOKEN));
    }
}

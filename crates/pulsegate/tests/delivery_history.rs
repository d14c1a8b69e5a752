//! The delivery history keeps the first 1 KiB of each HTTP answer (shown by
//! `GET /v1/admin/deliveries/history`), never more and never in the logs; the in-memory
//! recent deliveries keep none.

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

mod support;

use std::time::{Duration, Instant};

use pulsegate_testkit::sink::{Behaviour, Sink};
use pulsegate_testkit::strava::MockStrava;
use reqwest::Method;
use serde_json::Value;
use support::*;

const DISPATCH: &str = r#"
[dispatcher]
timeout = "3s"
retry_schedule = ["200ms"]
allow_private_networks = true
"#;

/// The history's attempts of `destination`, once there are `n`.
async fn history(pg: &Pulsegate, destination: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = pg
            .admin(
                Method::GET,
                &format!("/v1/admin/deliveries/history?destination={destination}&type=activity"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let found = body["deliveries"].as_array().unwrap().clone();
        if found.len() >= n {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n}: {}",
            found.len(),
            pg.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_attempt_keeps_the_first_kib_of_the_answer() {
    let strava = MockStrava::start().await;
    strava.generate_missing(true);
    strava.set_token(1, "access-1");
    // 6 KiB of answer: a head the history keeps, a tail it must not.
    let long = format!("ANSWER-HEAD {} ANSWER-TAIL", "é".repeat(3000));
    let failing = Sink::start(Behaviour::Answer {
        status: 503,
        body: long.clone().into(),
    })
    .await;
    let ok = Sink::start(Behaviour::Answer {
        status: 200,
        body: r#"{"received":true}"#.into(),
    })
    .await;
    let extra = format!(
        "{DISPATCH}[[destinations]]\nid = \"failing\"\nurl = \"{}\"\nsecret = \"{}\"\n\
         [[destinations]]\nid = \"ok\"\nurl = \"{}\"\nsecret = \"{}\"\n",
        failing.url(),
        test_secret(1),
        ok.url(),
        test_secret(2)
    );
    let pg = Pulsegate::start(&strava.base_url(), &extra).await;
    pg.connect_athlete(1, "access-1", "refresh-1").await;
    let client = reqwest::Client::new();
    let body = strava_event("activity", 91_001, "create", 1, "{}");
    assert_eq!(push(&client, pg.port, body).await, 200);

    let attempts = history(&pg, "failing", 2).await;
    for a in &attempts {
        assert_eq!(a["status"], 503, "{a}");
        let answer = a["answer"].as_str().unwrap();
        assert!(
            answer.len() <= 1024 && answer.len() > 1000,
            "{} bytes",
            answer.len()
        );
        assert!(long.starts_with(answer));
        assert!(answer.starts_with("ANSWER-HEAD") && !answer.contains("ANSWER-TAIL"));
    }
    let delivered = history(&pg, "ok", 1).await;
    assert_eq!(
        delivered[0]["answer"], r#"{"received":true}"#,
        "{}",
        delivered[0]
    );
    assert_eq!(delivered[0]["outcome"], "ok");

    // The recent deliveries (in memory) keep no answer; no log line holds one.
    let (_, recent) = pg.admin(Method::GET, "/v1/admin/deliveries", None).await;
    let recent = recent["deliveries"].as_array().unwrap();
    assert!(recent.len() >= 3);
    assert!(
        recent.iter().all(|r| r.get("answer").is_none()),
        "{recent:?}"
    );
    let logs = pg.logs();
    assert!(
        !logs.contains("ANSWER-HEAD") && !logs.contains("received\\\":true"),
        "an answer was logged"
    );
}

//! The dispatcher end to end: real embedded bus, real state store, sinks on 127.0.0.1.

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::*;
use pulsegate_schema::stable_id;
use pulsegate_testkit::sink::{Behaviour, Sink};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_signed_events_once_to_each_subscribed_destination() {
    let mut h = Harness::new().await;
    h.start(config(&[100, 200]));
    let all = Sink::start(Behaviour::Ok).await;
    let sleep_only = Sink::start(Behaviour::Ok).await;
    // Added while the dispatcher runs: the supervisor starts their workers.
    let d_all = h.add_destination("d-all", &all.url(), &[]).await;
    let d_sleep = h
        .add_destination("d-sleep", &sleep_only.url(), &["sleep"])
        .await;
    h.wait_subscribed("d-all").await;
    h.wait_subscribed("d-sleep").await;

    let mut evs = events("act-", "activity", 3);
    evs.extend(events("slp-", "sleep", 2));
    h.publish(&evs).await;

    assert!(all.wait_for(5, secs(20)).await, "d-all got {}", all.count());
    assert!(
        sleep_only.wait_for(2, secs(20)).await,
        "d-sleep got {}",
        sleep_only.count()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(all.count(), 5, "each event exactly once");
    assert_eq!(
        sleep_only.count(),
        2,
        "the filter keeps activity events away"
    );

    let by_id: HashMap<String, &TestEvent> = evs.iter().map(|e| (e.event_id.clone(), e)).collect();
    let mut webhook_ids = HashMap::new();
    for (sink, dest) in [(&all, &d_all), (&sleep_only, &d_sleep)] {
        for r in sink.received() {
            let ev = by_id[&event_id_of(&r)];
            assert_eq!(r.method, "POST");
            assert_eq!(r.path, "/webhook");
            assert_eq!(r.body, ev.body.as_bytes(), "body forwarded byte for byte");
            assert_eq!(r.header("content-type"), Some("application/json"));
            assert!(r.header("user-agent").unwrap().starts_with("pulsegate/"));
            assert_eq!(r.header("terra-reference"), Some(ev.reference().as_str()));
            verify_signatures(&r, dest.secret.expose());
            let id = r.header("webhook-id").unwrap().to_string();
            assert_eq!(id, format!("msg_{}", stable_id(&[&ev.event_id, &dest.id])));
            webhook_ids.insert((dest.id.clone(), ev.event_id.clone()), id);
        }
    }
    assert_eq!(
        sleep_only
            .received()
            .iter()
            .filter(|r| r.json()["type"] == "sleep")
            .count(),
        2
    );
    // The same event has a different webhook-id per destination.
    assert_ne!(
        webhook_ids[&("d-all".to_string(), "slp-0".to_string())],
        webhook_ids[&("d-sleep".to_string(), "slp-0".to_string())]
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_developers_destination_receives_only_its_own_users_events() {
    let mut h = Harness::new().await;
    h.start(config(&[100, 200]));
    let (sink_a, sink_b, operator) = (
        Sink::start(Behaviour::Ok).await,
        Sink::start(Behaviour::Ok).await,
        Sink::start(Behaviour::Ok).await,
    );
    for (id, sink, owner) in [
        ("d-a", &sink_a, Some("dev-a")),
        ("d-b", &sink_b, Some("dev-b")),
        ("d-op", &operator, None),
    ] {
        let mut d = h.add_destination(id, &sink.url(), &[]).await;
        d.dev_id = owner.map(str::to_string);
        h.state.put_destination(&d).await.unwrap();
        h.wait_subscribed(id).await;
    }
    let owned = |prefix: &str, owner: Option<&str>, n: usize| {
        let mut v = events(prefix, "activity", n);
        for e in &mut v {
            e.dev_id = owner.map(str::to_string);
        }
        v
    };
    let mut evs = owned("a-", Some("dev-a"), 3);
    evs.extend(owned("op-", None, 2));
    evs.extend(owned("b-", Some("dev-b"), 1));
    h.publish(&evs).await;

    assert!(
        operator.wait_for(6, secs(20)).await,
        "operator got {}",
        operator.count()
    );
    assert!(sink_a.wait_for(3, secs(20)).await);
    assert!(sink_b.wait_for(1, secs(20)).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ids = |s: &Sink| {
        let mut v: Vec<String> = s.received().iter().map(event_id_of).collect();
        v.sort();
        v
    };
    assert_eq!(ids(&sink_a), ["a-0", "a-1", "a-2"]);
    assert_eq!(ids(&sink_b), ["b-0"]);
    assert_eq!(
        operator.count(),
        6,
        "an operator destination gets every event"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_destination_gets_its_event_after_retries_without_holding_up_a_healthy_one() {
    let mut h = Harness::new().await;
    let healthy = Sink::start(Behaviour::Ok).await;
    let flaky = Sink::start(Behaviour::FailFirst { n: 3, status: 500 }).await;
    h.add_destination("healthy", &healthy.url(), &[]).await;
    let d_flaky = h.add_destination("flaky", &flaky.url(), &["sleep"]).await;
    h.start(config(&[100, 200, 300]));
    h.wait_subscribed("healthy").await;
    h.wait_subscribed("flaky").await;

    let mut evs = events("s-", "sleep", 1);
    evs.extend(events("a-", "activity", 20));
    h.publish(&evs).await;

    assert!(
        healthy.wait_for(21, secs(20)).await,
        "healthy got {}",
        healthy.count()
    );
    assert!(
        flaky.wait_for(4, secs(20)).await,
        "flaky got {}",
        flaky.count()
    );
    let got = flaky.received();
    assert_eq!(
        got.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![500, 500, 500, 200]
    );
    let ids: HashSet<_> = got
        .iter()
        .map(|r| r.header("webhook-id").unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 1, "webhook-id is stable across retries");
    for r in &got {
        assert_eq!(event_id_of(r), "s-0");
        verify_signatures(r, d_flaky.secret.expose());
    }
    // Each retry waited at least its tier's delay.
    for (i, min_ms) in [100u64, 200, 300].into_iter().enumerate() {
        let gap = got[i + 1].since_start - got[i].since_start;
        assert!(
            gap >= Duration::from_millis(min_ms - 20),
            "retry {i} came after {gap:?}"
        );
    }
    // The healthy destination had everything before the flaky one recovered.
    let healthy_done = healthy
        .received()
        .iter()
        .map(|r| r.received_at)
        .max()
        .unwrap();
    assert!(healthy_done <= got[3].received_at);
    let delivered: HashSet<_> = healthy.received().iter().map(event_id_of).collect();
    assert_eq!(delivered.len(), 21);

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(flaky.count(), 4, "no delivery after the success");
    assert!(h.dead_letters(0, Duration::ZERO).await.is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_failing_destination_ends_in_dead_letters() {
    let mut h = Harness::new().await;
    let sink = Sink::start(Behaviour::FailAlways).await;
    h.add_destination("down", &sink.url(), &[]).await;
    h.start(config(&[50, 50]));
    h.wait_subscribed("down").await;
    let ev = TestEvent::new("doomed", "activity");
    h.publish(std::slice::from_ref(&ev)).await;

    let dead = h.dead_letters(1, secs(20)).await;
    assert_eq!(dead.len(), 1);
    let d = &dead[0];
    assert_eq!(d.destination_id, "down");
    assert_eq!(d.attempts, 3, "the first attempt and one per tier");
    assert!(d.last_error.contains("500"), "{}", d.last_error);
    let event: serde_json::Value = serde_json::from_str(d.event.get()).unwrap();
    assert_eq!(event["event_id"], "doomed");
    assert_eq!(event["body"]["data"][0]["n"], "doomed");
    assert_eq!(sink.count(), 3);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.count(), 3, "nothing after dead-lettering");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_disables_the_destination() {
    let mut h = Harness::new().await;
    let sink = Sink::start(Behaviour::Gone).await;
    h.add_destination("gone", &sink.url(), &[]).await;
    h.start(config(&[50]));
    h.wait_subscribed("gone").await;
    h.publish(&events("g-", "activity", 1)).await;

    let state = h.state.clone();
    eventually("the destination to be disabled", secs(20), || {
        !state.destination("gone").unwrap().enabled
    })
    .await;
    h.publish(&events("after-", "activity", 5)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.count(), 1, "a disabled destination gets nothing more");
    assert!(
        h.dead_letters(0, Duration::ZERO).await.is_empty(),
        "410 is not retried"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_destination_does_not_delay_a_fast_one() {
    let mut h = Harness::new().await;
    let slow = Sink::start(Behaviour::Slow(secs(2))).await;
    let fast = Sink::start(Behaviour::Ok).await;
    h.add_destination("slow", &slow.url(), &[]).await;
    h.add_destination("fast", &fast.url(), &[]).await;
    let mut cfg = config(&[100]);
    cfg.concurrency_per_destination = 4;
    h.start(cfg);
    h.wait_subscribed("slow").await;
    h.wait_subscribed("fast").await;
    h.publish(&events("e-", "activity", 12)).await;

    assert!(
        fast.wait_for(12, secs(20)).await,
        "fast got {}",
        fast.count()
    );
    // The slow one takes 2 s per round of 4: it cannot have seen all 12 yet.
    assert!(slow.count() <= 8, "slow already saw {}", slow.count());
    assert!(
        slow.wait_for(12, secs(30)).await,
        "slow got {}",
        slow.count()
    );
    assert_eq!(
        slow.received()
            .iter()
            .map(event_id_of)
            .collect::<HashSet<_>>()
            .len(),
        12
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured() {
    let mut h = Harness::new().await;
    let sink = Sink::start(Behaviour::RateLimited {
        n: 1,
        retry_after: "1".into(),
    })
    .await;
    h.add_destination("limited", &sink.url(), &[]).await;
    // Without Retry-After the retry would come after 100 ms; with `Retry-After: 1` it
    // goes to the first tier of at least 1 s (1.5 s).
    h.start(config(&[100, 1500, 3000]));
    h.wait_subscribed("limited").await;
    h.publish(&events("r-", "activity", 1)).await;

    assert!(sink.wait_for(2, secs(20)).await, "got {}", sink.count());
    let got = sink.received();
    assert_eq!(got[0].status, 429);
    assert_eq!(got[1].status, 200);
    let gap = got[1].since_start - got[0].since_start;
    assert!(gap >= Duration::from_millis(1400), "retried after {gap:?}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_from_the_committed_cursor() {
    let mut h = Harness::new().await;
    let sink = Sink::start(Behaviour::Ok).await;
    h.add_destination("d", &sink.url(), &[]).await;
    h.start(config(&[100]));
    h.wait_subscribed("d").await;
    let first = events("one-", "activity", 10);
    h.publish(&first).await;
    assert!(sink.wait_for(10, secs(20)).await);
    h.stop().await;

    // Published while no dispatcher runs: waits on the bus.
    let second = events("two-", "daily", 10);
    h.publish(&second).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sink.count(), 10);

    h.start(config(&[100]));
    assert!(sink.wait_for(20, secs(20)).await, "got {}", sink.count());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ids: Vec<String> = sink.received().iter().map(event_id_of).collect();
    let unique: HashSet<&String> = ids.iter().collect();
    let expected: HashSet<String> = first
        .iter()
        .chain(&second)
        .map(|e| e.event_id.clone())
        .collect();
    assert_eq!(unique.len(), 20);
    assert!(expected.iter().all(|e| unique.contains(e)));
    assert_eq!(ids.len(), 20, "a graceful stop commits: no redelivery");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_addresses_are_refused_at_connect_time_unless_allowed() {
    let mut h = Harness::new().await;
    let sink = Sink::start(Behaviour::Ok).await;
    h.add_destination("private", &sink.url(), &[]).await;
    let mut cfg = config(&[50]);
    cfg.allow_private_networks = false;
    h.start(cfg);
    h.wait_subscribed("private").await;
    h.publish(&events("p-", "activity", 1)).await;

    let dead = h.dead_letters(1, secs(20)).await;
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0].last_error.contains("refused"),
        "{}",
        dead[0].last_error
    );
    assert_eq!(sink.count(), 0, "nothing reached the private address");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breaker_pauses_a_failing_destination_and_resumes_after_a_probe() {
    let mut h = Harness::new().await;
    let sink = Sink::start(Behaviour::FailAlways).await;
    h.add_destination("d", &sink.url(), &[]).await;
    let mut cfg = config(&[1500, 1500]);
    cfg.concurrency_per_destination = 1;
    cfg.breaker.failure_threshold = 3;
    cfg.breaker.initial_probe_interval = secs(1);
    h.start(cfg);
    h.wait_subscribed("d").await;
    let evs = events("b-", "activity", 30);
    h.publish(&evs).await;

    assert!(sink.wait_for(3, secs(20)).await);
    // Open after 3 failures: the next attempt is a probe no sooner than 1 s later.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(sink.count(), 3, "the breaker holds new events back");
    sink.set_behaviour(Behaviour::Ok);
    assert!(sink.wait_for(4, secs(20)).await);
    let got = sink.received();
    assert!(got[3].since_start - got[2].since_start >= Duration::from_millis(900));

    // The probe succeeded: the backlog drains, the failed ones come back from retry.
    let expected: HashSet<String> = evs.iter().map(|e| e.event_id.clone()).collect();
    let s = &sink;
    eventually("every event delivered", secs(30), || {
        let ok: HashSet<String> = s
            .received()
            .iter()
            .filter(|r| r.status == 200)
            .map(event_id_of)
            .collect();
        ok == expected
    })
    .await;
    assert!(h.dead_letters(0, Duration::ZERO).await.is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_takes_only_its_providers_and_an_edit_applies_live() {
    let mut h = Harness::new().await;
    h.start(config(&[100, 200]));
    let garmin_sink = Sink::start(Behaviour::Ok).await;
    let mut d = h.add_destination("d-garmin", &garmin_sink.url(), &[]).await;
    d.providers = vec!["GARMIN".into()];
    h.state.put_destination(&d).await.unwrap();
    h.wait_subscribed("d-garmin").await;

    let garmin = |prefix: &str, n: usize| -> Vec<TestEvent> {
        events(prefix, "activity", n)
            .into_iter()
            .map(|mut e| {
                e.body = e.body.replace("\"STRAVA\"", "\"GARMIN\"");
                e
            })
            .collect()
    };
    let mut evs = events("strava-", "activity", 3);
    evs.extend(garmin("garmin-", 2));
    h.publish(&evs).await;
    assert!(garmin_sink.wait_for(2, secs(20)).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got: HashSet<String> = garmin_sink.received().iter().map(event_id_of).collect();
    assert_eq!(got, HashSet::from(["garmin-0".into(), "garmin-1".into()]));

    // The filter lifted while running: the next Strava events arrive, no restart.
    d.providers.clear();
    h.state.put_destination(&d).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    h.publish(&events("later-strava-", "activity", 2)).await;
    assert!(
        garmin_sink.wait_for(4, secs(20)).await,
        "got {}",
        garmin_sink.count()
    );
}

/// A rotation's overlap: while it lasts every delivery carries a signature by the new
/// secret and one by the old, each accepted by terra-python's own verifier and by an
/// independent Standard Webhooks check; once it ends (set in the past), only the new
/// secret signs and the old one is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_a_rotations_overlap_both_secrets_verify_and_after_it_only_the_new_one() {
    let mut h = Harness::new().await;
    let sink = Sink::start(Behaviour::Ok).await;
    let d = h.add_destination("rotating", &sink.url(), &[]).await;
    let old = d.secret.clone();
    let mut rotated = d.clone();
    rotated.previous_secret = Some(old.clone());
    rotated.previous_secret_until_ms = pulsegate_schema::now_ms() + 3_600_000;
    rotated.secret = pulsegate_dispatcher::generate_secret();
    h.state.put_destination(&rotated).await.unwrap();
    h.start(config(&[100]));
    h.wait_subscribed("rotating").await;

    h.publish(&events("ov-", "activity", 2)).await;
    assert!(sink.wait_for(2, secs(20)).await, "got {}", sink.count());
    // Then the overlap ends: the worker notices the changed record. (An attempt signs at
    // a whole second, so the end is passed by more than one.)
    let mut ended = rotated.clone();
    ended.previous_secret_until_ms = pulsegate_schema::now_ms() - 2_000;
    h.state.put_destination(&ended).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.publish(&events("after-", "activity", 1)).await;
    assert!(sink.wait_for(3, secs(20)).await, "got {}", sink.count());

    let received = sink.received();
    let (during, after): (Vec<_>, Vec<_>) = received
        .iter()
        .partition(|r| event_id_of(r).starts_with("ov-"));
    assert_eq!((during.len(), after.len()), (2, 1));
    for r in &during {
        verify_signed_among_others(r, old.expose());
        verify_signed_among_others(r, rotated.secret.expose());
        assert_eq!(
            r.header("terra-signature").unwrap().matches(",v1=").count(),
            2,
            "two terra signatures"
        );
        assert_eq!(
            r.header("webhook-signature").unwrap().split(' ').count(),
            2,
            "two Standard Webhooks signatures"
        );
    }
    let r = after[0];
    assert_eq!(
        r.header("terra-signature").unwrap().matches(",v1=").count(),
        1
    );
    verify_signatures(r, rotated.secret.expose());

    // terra-python's verifier: either secret during the overlap, only the new one after.
    let mut cases = Vec::new();
    for (r, secret, ok) in [
        (during[0], old.expose(), true),
        (during[0], rotated.secret.expose(), true),
        (after[0], rotated.secret.expose(), true),
        (after[0], old.expose(), false),
    ] {
        cases.push(serde_json::json!({
            "body": String::from_utf8(r.body.to_vec()).unwrap(),
            "header": r.header("terra-signature").unwrap(),
            "secret": secret,
            "ok": ok,
        }));
    }
    let script = "import json, sys\n\
        from terra.utils.verify_signature import verify_terra_webhook_signature as verify\n\
        for c in json.load(sys.stdin):\n\
        \x20   try:\n\
        \x20       verify(c['body'], c['header'], c['secret'])\n\
        \x20       got = True\n\
        \x20   except Exception:\n\
        \x20       got = False\n\
        \x20   assert got == c['ok'], (c['ok'], c['header'])\n";
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with terra-python (./test.sh installs it)");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&cases).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthchecks_are_signed_count_the_last_hour_and_parse_in_terra_python() {
    let mut h = Harness::new().await;
    let mut cfg = config(&[100]);
    cfg.healthcheck_interval = Duration::from_millis(400);
    h.start(cfg);
    let all = Sink::start(Behaviour::Ok).await;
    let sleep_only = Sink::start(Behaviour::Ok).await;
    let d = h.add_destination("hc-all", &all.url(), &[]).await;
    h.add_destination("hc-sleep", &sleep_only.url(), &["sleep"])
        .await;
    h.wait_subscribed("hc-all").await;
    h.publish(&events("hc-", "activity", 3)).await;

    let healthchecks = || -> Vec<serde_json::Value> {
        all.received()
            .iter()
            .map(|r| r.json())
            .filter(|b| b["type"] == "healthcheck")
            .collect()
    };
    eventually("a healthcheck counting the 3 deliveries", secs(20), || {
        healthchecks()
            .iter()
            .any(|b| b["sent_webhooks_last_hour"].as_u64() >= Some(3))
    })
    .await;
    for r in all.received() {
        verify_signatures(&r, d.secret.expose());
    }
    let hc = healthchecks().pop().unwrap();
    assert_eq!(hc["trend_percentage"], 100, "nothing the hour before");
    // terra-python's own model reads it, strictly (no unknown field).
    let script = format!(
        "import json; from terra.types.healthcheck_event import HealthcheckEvent as M\n\
         d = json.loads('''{hc}''')\n\
         m = M.model_validate(d)\n\
         assert set(d) <= set(M.model_fields), set(d) - set(M.model_fields)\n\
         assert m.sent_webhooks_last_hour >= 3"
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3 with terra-python (./test.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A destination that subscribes to other types gets none.
    assert!(sleep_only
        .received()
        .iter()
        .all(|r| r.json()["type"] != "healthcheck"));
}

/// A `to_webhook` request's `large_request_sending` reaches the customer before any of
/// the data it announces, although the worker delivers up to 16 events at once: the
/// announcement's delivery takes 300 ms (the sink answers slowly) and the chunks,
/// stored right behind it, must not overtake it. Another request's data, stored
/// behind too, is not held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_requests_data_waits_for_its_announcement() {
    use pulsegate_bus::Outgoing;
    use pulsegate_schema::{topics, EventType, NormalizedEvent};

    const SLOW_MS: u64 = 300;
    let mut h = Harness::new().await;
    let sink = Sink::start(Behaviour::Slow(Duration::from_millis(SLOW_MS))).await;
    h.add_destination("d", &sink.url(), &[]).await;
    let mut cfg = config(&[100]);
    cfg.concurrency_per_destination = 16;
    h.start(cfg);
    h.wait_subscribed("d").await;

    let record = |id: &str, t: EventType, reference: &str| {
        let body = format!(r#"{{"type": "{}", "data": [{{"n": "{id}"}}]}}"#, t.as_str());
        let e = NormalizedEvent {
            event_id: id.into(),
            event_type: t,
            user_id: "user-large".into(),
            reference: reference.into(),
            received_at_ms: pulsegate_schema::now_ms(),
            body: serde_json::value::RawValue::from_string(body).unwrap(),
            dev_id: None,
        };
        Outgoing::new("user-large", serde_json::to_vec(&e).unwrap())
    };
    let mut batch = vec![record("announce", EventType::LargeRequestSending, "req-1")];
    for i in 0..6 {
        batch.push(record(&format!("chunk-{i}"), EventType::Activity, "req-1"));
    }
    batch.push(record("other", EventType::Activity, "req-2"));
    h.bus.append_batch(topics::EVENTS, batch).await.unwrap();

    assert!(sink.wait_for(8, secs(20)).await, "got {}", sink.count());
    let got = sink.received();
    let at = |id: &str| {
        got.iter()
            .find(|r| event_id_of(r) == id)
            .unwrap_or_else(|| panic!("{id} not delivered"))
            .since_start
    };
    let announced = at("announce");
    for i in 0..6 {
        let chunk = at(&format!("chunk-{i}"));
        assert!(
            chunk >= announced + Duration::from_millis(SLOW_MS),
            "chunk-{i} arrived {:?} after the announcement, before its delivery finished",
            chunk.saturating_sub(announced)
        );
    }
    // Another request is not held behind this one's announcement.
    assert!(
        at("other") < announced + Duration::from_millis(SLOW_MS),
        "another request's event waited for this request's announcement"
    );
    h.stop().await;
}

/// An ordered destination: one user's events arrive in log order even when one fails
/// and is retried (it is retried in place, the user's next events wait behind it), while
/// another user's events are not held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ordered_destination_keeps_each_users_order_through_a_retry() {
    let mut h = Harness::new().await;
    let sink = Sink::start(Behaviour::FailFirst { n: 1, status: 500 }).await;
    let mut d = h.add_destination("ordered", &sink.url(), &[]).await;
    d.ordered = true;
    h.state.put_destination(&d).await.unwrap();
    // Ordered from its worker's start (no restart to race with). The retry waits 1 s:
    // long enough to see who waited for it.
    h.start(config(&[1000, 1000]));
    h.wait_subscribed("ordered").await;

    let of_user = |user: &str, prefix: &str, n: usize| -> Vec<TestEvent> {
        events(prefix, "activity", n)
            .into_iter()
            .map(|mut e| {
                e.body = e.body.replace(&e.user_id, user);
                e.user_id = user.to_string();
                e
            })
            .collect()
    };
    let a = of_user("user-a", "a-", 5);
    h.publish(&a).await;
    // The first request (a-0) fails; user b's events come behind user a's.
    tokio::time::sleep(Duration::from_millis(200)).await;
    h.publish(&of_user("user-b", "b-", 3)).await;

    assert!(sink.wait_for(9, secs(20)).await, "got {}", sink.count());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ok: Vec<(String, Duration)> = sink
        .received()
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| (event_id_of(r), r.since_start))
        .collect();
    let order_a: Vec<&str> = ok
        .iter()
        .filter(|(id, _)| id.starts_with("a-"))
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(order_a, ["a-0", "a-1", "a-2", "a-3", "a-4"], "{ok:?}");
    let first_a = ok.iter().find(|(id, _)| id == "a-0").unwrap().1;
    assert!(
        ok.iter()
            .filter(|(id, _)| id.starts_with("b-"))
            .all(|(_, t)| *t < first_a),
        "user b was not held by user a's retry: {ok:?}"
    );
    assert_eq!(sink.count(), 9, "5 + 3 delivered, one failed attempt");
}

/// A destination every attempt to which fails for `disable_after_failing` is disabled
/// with its reason; one that recovers has its outage cleared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_failing_too_long_is_disabled_and_a_recovered_one_is_not() {
    let mut h = Harness::new().await;
    let mut cfg = config(&[200, 200, 200, 200, 200, 200, 200, 200]);
    cfg.disable_after_failing = Duration::from_millis(800);
    cfg.breaker.failure_threshold = 0;
    h.start(cfg);
    let down = Sink::start(Behaviour::FailAlways).await;
    let flaky = Sink::start(Behaviour::FailFirst { n: 1, status: 503 }).await;
    h.add_destination("down", &down.url(), &[]).await;
    h.add_destination("flaky", &flaky.url(), &[]).await;
    h.wait_subscribed("down").await;
    h.wait_subscribed("flaky").await;
    h.publish(&events("f-", "activity", 3)).await;

    let state = h.state.clone();
    eventually("down disabled", secs(20), || {
        state.destination("down").is_some_and(|d| !d.enabled)
    })
    .await;
    let d = h.state.destination("down").unwrap();
    let reason = d.disabled_reason.clone().unwrap();
    assert!(reason.starts_with("failing since"), "{reason}");
    assert!(d.failing_since_ms.is_some());
    // The flaky one failed once and then delivered: enabled, no outage on record.
    assert!(flaky.wait_for(4, secs(20)).await);
    let state = h.state.clone();
    eventually("flaky's outage cleared", secs(10), || {
        state
            .destination("flaky")
            .is_some_and(|d| d.enabled && d.failing_since_ms.is_none())
    })
    .await;
}

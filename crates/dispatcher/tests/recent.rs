//! `RecentDeliveries`: every attempt the dispatcher makes is recorded with its outcome,
//! and nothing secret (no URL, no error text).

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

mod common;

use std::time::Duration;

use common::*;
use pulsegate_dispatcher::{DeliveryOutcome, DeliveryRecord, RecentDeliveries};
use pulsegate_testkit::sink::{Behaviour, Sink};
use tokio_util::sync::CancellationToken;

async fn wait_until(recent: &RecentDeliveries, what: &str, f: impl Fn(&[DeliveryRecord]) -> bool) {
    let deadline = tokio::time::Instant::now() + secs(20);
    loop {
        let all = recent.latest(None, RecentDeliveries::CAPACITY);
        if f(&all) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: {all:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_attempt_is_recorded_with_its_outcome_and_no_secret() {
    let h = Harness::new().await;
    let ok = Sink::start(Behaviour::Ok).await;
    let dead = Sink::start(Behaviour::FailAlways).await;
    let gone = Sink::start(Behaviour::Gone).await;
    // A token in the query string must never show in what is recorded.
    let ok_url = format!("{}?token=sekrit-query-token", ok.url());
    // `sleep` only: d-gone's 410 disables it, and the `destination_disabled` notice to
    // the other (operator) destinations is not what is counted here.
    h.add_destination("d-ok", &ok_url, &["sleep"]).await;
    h.add_destination("d-dead", &dead.url(), &["sleep"]).await;
    h.add_destination("d-gone", &gone.url(), &["sleep"]).await;

    let recent = RecentDeliveries::new();
    assert!(!recent.is_recording());
    let stop = CancellationToken::new();
    let task = tokio::spawn({
        let (bus, state, recent, stop) =
            (h.bus.clone(), h.state.clone(), recent.clone(), stop.clone());
        async move {
            pulsegate_dispatcher::run_recording(bus, state, config(&[100]), recent, stop)
                .await
                .unwrap()
        }
    });
    for d in ["d-ok", "d-dead", "d-gone"] {
        h.wait_subscribed(d).await;
    }
    assert!(recent.is_recording());
    h.publish(&events("ev-", "sleep", 2)).await;

    // d-ok: delivered at once. d-dead: attempt 1 scheduled a retry, attempt 2 (the only
    // tier) dead-lettered. d-gone: 410 on the first event.
    wait_until(&recent, "all outcomes", |all| {
        let n = |d: &str, o: DeliveryOutcome| {
            all.iter()
                .filter(|r| r.destination_id == d && r.outcome == o)
                .count()
        };
        n("d-ok", DeliveryOutcome::Ok) == 2
            && n("d-dead", DeliveryOutcome::Retry) == 2
            && n("d-dead", DeliveryOutcome::DeadLetter) == 2
            && n("d-gone", DeliveryOutcome::Gone) >= 1
    })
    .await;

    let dead_only = recent.latest(Some("d-dead"), 100);
    assert_eq!(dead_only.len(), 4, "{dead_only:#?}");
    for r in &dead_only {
        assert_eq!(r.status, Some(500));
        assert_eq!(r.error_kind, Some("failed"));
        assert_eq!(r.event_type, "sleep");
        assert!(r.event_id.starts_with("ev-"));
        let want = if r.outcome == DeliveryOutcome::Retry {
            1
        } else {
            2
        };
        assert_eq!(r.attempt, want, "{r:?}");
    }
    // Newest first.
    assert!(dead_only.windows(2).all(|w| w[0].at_ms >= w[1].at_ms));
    assert_eq!(recent.latest(Some("d-dead"), 3).len(), 3);
    for r in recent.latest(Some("d-ok"), 100) {
        assert_eq!((r.status, r.error_kind, r.attempt), (Some(200), None, 1));
    }
    let gone_rec = &recent.latest(Some("d-gone"), 1)[0];
    assert_eq!(gone_rec.status, Some(410));

    let text = serde_json::to_string(&recent.latest(None, 500)).unwrap();
    assert!(!text.contains("sekrit"), "{text}");
    assert!(!text.contains("127.0.0.1"), "no URL recorded: {text}");
    assert_eq!(h.dead_letters(2, secs(10)).await.len(), 2);

    stop.cancel();
    tokio::time::timeout(secs(30), task).await.unwrap().unwrap();
}

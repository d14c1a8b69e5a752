//! Arbitrary input never panics the normalizer: raw records, Strava bodies, activities.

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::*;
use proptest::prelude::*;
use pulsegate_bus::embedded::{EmbeddedBus, EmbeddedConfig};
use pulsegate_bus::{Bus, Handled, Record, TopicSpec};
use pulsegate_normalizer::Normalizer;
use pulsegate_providers::strava::mapping::{map_activity, DetailedActivity};
use pulsegate_providers::strava::StravaEvent;
use pulsegate_schema::{topics, RawNotification};
use pulsegate_state::StateStore;
use serde_json::json;
use tokio_util::sync::CancellationToken;

struct Fixture {
    rt: tokio::runtime::Runtime,
    normalizer: Normalizer,
    _dir: tempfile::TempDir,
}

/// A normalizer on a real bus and state with a connection for [`OWNER`], whose Strava
/// API address refuses connections (one attempt), so nothing waits on a network.
fn fixture() -> Fixture {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let normalizer = rt.block_on(async {
        let bus: Arc<dyn Bus> =
            Arc::new(EmbeddedBus::open(EmbeddedConfig::new(dir.path())).unwrap());
        bus.ensure_topic(&TopicSpec::new(topics::RAW, 1))
            .await
            .unwrap();
        bus.ensure_topic(&TopicSpec::new(topics::EVENTS, 1))
            .await
            .unwrap();
        let state = StateStore::start(bus.clone(), CancellationToken::new())
            .await
            .unwrap();
        state
            .put_connection(&connection(now_secs() + 3600, TOKEN, REFRESH))
            .await
            .unwrap();
        let refused = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let mut cfg = config(format!("http://{refused}"));
        cfg.retry.max_attempts = 1;
        Normalizer::new(bus, state, cfg, pulsegate_normalizer::Limiters::new()).unwrap()
    });
    Fixture {
        rt,
        normalizer,
        _dir: dir,
    }
}

fn record(payload: Vec<u8>) -> Record {
    Record {
        topic: Arc::from(topics::RAW),
        partition: 0,
        offset: 0,
        timestamp_ms: 0,
        key: Bytes::from_static(b"strava:134815"),
        payload: Bytes::from(payload),
    }
}

fn json_scalar() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        Just(json!(null)),
        any::<bool>().prop_map(|b| json!(b)),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        (-1e12f64..1e12).prop_map(|f| json!(f)),
        ".{0,12}".prop_map(|s| json!(s)),
        Just(json!("activity")),
        Just(json!("athlete")),
        Just(json!("create")),
        Just(json!("update")),
        Just(json!("delete")),
        Just(json!({"authorized": "false"})),
        Just(json!(OWNER)),
    ]
}

/// JSON objects using Strava's field names with arbitrary values.
fn strava_like(fields: &'static [&'static str]) -> impl Strategy<Value = serde_json::Value> {
    proptest::collection::vec((proptest::sample::select(fields), json_scalar()), 0..12).prop_map(
        |pairs| {
            let mut m = serde_json::Map::new();
            for (k, v) in pairs {
                m.insert(k.to_string(), v);
            }
            serde_json::Value::Object(m)
        },
    )
}

const EVENT_FIELDS: &[&str] = &[
    "object_type",
    "object_id",
    "aspect_type",
    "updates",
    "owner_id",
    "subscription_id",
    "event_time",
];
const ACTIVITY_FIELDS: &[&str] = &[
    "id",
    "name",
    "distance",
    "moving_time",
    "elapsed_time",
    "total_elevation_gain",
    "elev_high",
    "elev_low",
    "type",
    "sport_type",
    "start_date",
    "start_date_local",
    "timezone",
    "utc_offset",
    "manual",
    "average_speed",
    "max_speed",
    "average_cadence",
    "average_watts",
    "max_watts",
    "kilojoules",
    "calories",
    "average_heartrate",
    "max_heartrate",
    "device_name",
    "map",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = serde_json::from_slice::<RawNotification>(&bytes);
        let _ = StravaEvent::parse(&bytes);
        if let Ok(a) = serde_json::from_slice::<DetailedActivity>(&bytes) {
            let _ = map_activity(&a, 1);
        }
    }

    #[test]
    fn mapping_never_panics(v in strava_like(ACTIVITY_FIELDS), start in "[0-9T:Z+-]{0,25}") {
        let mut v = v;
        if v.get("start_date").is_none() {
            v["start_date"] = json!(start);
        }
        if let Ok(a) = serde_json::from_value::<DetailedActivity>(v) {
            let _ = map_activity(&a, 1);
        }
    }
}

#[test]
fn handler_never_panics_and_always_finishes() {
    let fx = fixture();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 200,
        ..ProptestConfig::default()
    });
    // Arbitrary bytes as the raw record.
    runner
        .run(&proptest::collection::vec(any::<u8>(), 0..256), |bytes| {
            let handled = fx.rt.block_on(fx.normalizer.handle(record(bytes)));
            prop_assert_eq!(handled, Handled::Done);
            Ok(())
        })
        .unwrap();
    // Valid raw notifications for the known athlete carrying arbitrary Strava-like bodies
    // (activity fetches fail fast against the refused port and are dropped).
    runner
        .run(&strava_like(EVENT_FIELDS), |body| {
            let raw = json!({"id": "r", "provider": "STRAVA", "provider_user_id": OWNER.to_string(),
                             "received_at_ms": 1, "body": body});
            let handled = fx.rt.block_on(
                fx.normalizer
                    .handle(record(serde_json::to_vec(&raw).unwrap())),
            );
            // Done, or RetryAfter only if the state store refused a revoke.
            prop_assert!(matches!(handled, Handled::Done | Handled::RetryAfter(_)));
            Ok(())
        })
        .unwrap();
}

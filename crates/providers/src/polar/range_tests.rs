//! Historical requests against a scripted Polar AccessLink.

use chrono::NaiveDate;
use pulsegate_schema::{EventType, Provider};
use pulsegate_testkit::provider_api::MockApi;
use serde_json::{json, Value};

use super::*;
use crate::range::testing::env;
use crate::{ProviderNormalizer, RangeData};

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn normalizer(api: &MockApi) -> PolarNormalizer {
    let cfg = PolarConfig {
        api_base: api.base_url(),
        ..PolarConfig::default()
    };
    PolarNormalizer::new(
        &cfg,
        &crate::RetryConfig::default(),
        &crate::ratelimit::Limiters::new(),
    )
    .unwrap()
}

fn objects(r: RangeData) -> Vec<Value> {
    match r {
        RangeData::Objects(o) => o,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn exercises_are_listed_and_kept_by_local_start_day() {
    let api = MockApi::start().await;
    let x: Value = serde_json::from_str(include_str!("exercise_example.json")).unwrap();
    let mut later = x.clone();
    later["id"] = json!("LATER");
    later["start_time"] = json!("2008-10-20T08:00:00");
    api.json("GET", "/v3/exercises", json!([x.clone(), later]));
    let e = env(Provider::Polar, "475", "tok").await;
    let n = normalizer(&api);
    assert_eq!(
        n.range_support(EventType::Activity).unwrap().history_days,
        Some(HISTORY_DAYS)
    );
    let got = objects(
        n.fetch_range(
            &e.conn,
            &e.ctx,
            EventType::Activity,
            d("2008-10-13"),
            d("2008-10-20"),
            true,
        )
        .await
        .unwrap(),
    );
    let ex: mapping::Exercise = serde_json::from_value(x).unwrap();
    assert_eq!(
        got,
        vec![serde_json::to_value(mapping::map_exercise(&ex, "2AC312F").unwrap()).unwrap()]
    );
}

#[tokio::test]
async fn sleep_per_day_with_days_without_data() {
    let api = MockApi::start().await;
    let s: Value = serde_json::from_str(include_str!("sleep_example.json")).unwrap();
    api.json("GET", "/v3/users/sleep/2020-01-01", s.clone());
    api.respond("GET", "/v3/users/sleep/2020-01-02", 204, "");
    // 2020-01-03: 404 (no route).
    let e = env(Provider::Polar, "475", "tok").await;
    let got = objects(
        normalizer(&api)
            .fetch_range(
                &e.conn,
                &e.ctx,
                EventType::Sleep,
                d("2020-01-01"),
                d("2020-01-04"),
                true,
            )
            .await
            .unwrap(),
    );
    let sleep: mapping::PolarSleep = serde_json::from_value(s).unwrap();
    assert_eq!(
        got,
        vec![serde_json::to_value(mapping::map_sleep(&sleep, "2020-01-01").unwrap()).unwrap()]
    );
    assert_eq!(api.requests().len(), 3, "one call per day");
}

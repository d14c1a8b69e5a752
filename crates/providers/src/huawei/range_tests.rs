//! Historical requests against a scripted Huawei Health Kit.

use chrono::NaiveDate;
use pulsegate_schema::{EventType, Provider};
use pulsegate_testkit::provider_api::{form_pairs, MockApi};
use serde_json::Value;

use super::*;
use crate::range::testing::env;
use crate::{ProviderNormalizer, RangeData};

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn normalizer(api: &MockApi, tweak: impl FnOnce(&mut HuaweiConfig)) -> HuaweiNormalizer {
    let mut cfg = HuaweiConfig {
        api_base: api.base_url(),
        token_url: format!("{}/oauth2/v3/token", api.base_url()),
        ..HuaweiConfig::default()
    };
    tweak(&mut cfg);
    HuaweiNormalizer::new(
        &cfg,
        &crate::RetryConfig::default(),
        &crate::ratelimit::Limiters::new(),
    )
    .unwrap()
}

#[tokio::test]
async fn activity_records_of_the_window_map_like_push() {
    let api = MockApi::start().await;
    let example: Value =
        serde_json::from_str(include_str!("activity_records_example.json")).unwrap();
    api.json("GET", "/healthkit/v2/activityRecords", example.clone());
    let e = env(Provider::Huawei, "open-id", "tok").await;
    let n = normalizer(&api, |_| {});
    let got = match n
        .fetch_range(
            &e.conn,
            &e.ctx,
            EventType::Activity,
            d("2020-06-20"),
            d("2020-06-27"),
            true,
        )
        .await
        .unwrap()
    {
        RangeData::Objects(o) => o,
        other => panic!("{other:?}"),
    };
    let records: model::ActivityRecords = serde_json::from_value(example).unwrap();
    let want: Vec<Value> = records
        .activity_record
        .iter()
        .filter_map(|r| mapping::map_activity(r, None))
        .map(|a| serde_json::to_value(a).unwrap())
        .collect();
    assert!(!want.is_empty());
    assert_eq!(got, want);
    let q = form_pairs(
        api.requests_to("/healthkit/v2/activityRecords")[0]
            .query
            .as_deref()
            .unwrap(),
    );
    assert_eq!(q["startTime"], "1592611200000");
    assert_eq!(q["endTime"], "1593215999999");
    // Switched off in the config: not offered.
    let off = normalizer(&api, |c| c.activities = false);
    assert!(off.range_support(EventType::Activity).is_none());
    assert!(n.range_support(EventType::Body).is_none());
}

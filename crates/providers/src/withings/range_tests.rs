//! Historical requests against a scripted Withings (form POSTs with `action=`).

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

fn normalizer(api: &MockApi) -> WithingsNormalizer {
    let cfg = WithingsConfig {
        api_base: api.base_url(),
        ..WithingsConfig::default()
    };
    WithingsNormalizer::new(
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
async fn body_is_one_object_per_day_with_measures() {
    let api = MockApi::start().await;
    let example: Value = serde_json::from_str(include_str!("getmeas_example.json")).unwrap();
    api.json("POST", "/measure", example.clone());
    let e = env(Provider::Withings, "363", "tok").await;
    let got = objects(
        normalizer(&api)
            .fetch_range(
                &e.conn,
                &e.ctx,
                EventType::Body,
                d("2020-07-01"),
                d("2020-07-31"),
                true,
            )
            .await
            .unwrap(),
    );
    let body: mapping::MeasureBody = serde_json::from_value(example["body"].clone()).unwrap();
    let day = 1_594_166_400; // 2020-07-08T00:00:00Z
    let want = mapping::map_body(&body.measuregrps, day, day + 86_399).unwrap();
    assert_eq!(got, vec![serde_json::to_value(want).unwrap()]);
    let sent = form_pairs(std::str::from_utf8(&api.requests_to("/measure")[0].body).unwrap());
    assert_eq!(sent["action"], "getmeas");
    assert_eq!(sent["startdate"], "1593561600");
    assert_eq!(sent["enddate"], "1596153599");
}

#[tokio::test]
async fn daily_days_inside_the_window() {
    let api = MockApi::start().await;
    let example: Value = serde_json::from_str(include_str!("getactivity_example.json")).unwrap();
    api.json("POST", "/v2/measure", example.clone());
    let e = env(Provider::Withings, "363", "tok").await;
    let n = normalizer(&api);
    let got = objects(
        n.fetch_range(
            &e.conn,
            &e.ctx,
            EventType::Daily,
            d("2020-07-08"),
            d("2020-07-09"),
            true,
        )
        .await
        .unwrap(),
    );
    let a: mapping::ActivityBody = serde_json::from_value(example["body"].clone()).unwrap();
    let want: Vec<Value> = a
        .activities
        .iter()
        .filter(|x| x.date.as_deref() == Some("2020-07-08"))
        .filter_map(mapping::map_daily)
        .map(|x| serde_json::to_value(x).unwrap())
        .collect();
    assert!(!want.is_empty());
    assert_eq!(got, want);
    let sent = form_pairs(std::str::from_utf8(&api.requests_to("/v2/measure")[0].body).unwrap());
    assert_eq!(
        (sent["startdateymd"].as_str(), sent["enddateymd"].as_str()),
        ("2020-07-08", "2020-07-08")
    );
    assert!(n.range_support(EventType::Activity).is_none());
}

//! Historical requests against a scripted Fitbit: one call per day on the day
//! endpoints, the activity log list by the day each log started.

use chrono::NaiveDate;
use pulsegate_schema::{EventType, Provider};
use pulsegate_testkit::provider_api::MockApi;
use serde_json::Value;

use super::*;
use crate::range::testing::env;
use crate::{ProviderNormalizer, RangeData};

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn normalizer(api: &MockApi) -> FitbitNormalizer {
    let cfg = FitbitConfig {
        api_base: api.base_url(),
        ..FitbitConfig::default()
    };
    FitbitNormalizer::new(
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

fn utc() -> FixedOffset {
    FixedOffset::east_opt(0).unwrap()
}

#[tokio::test]
async fn daily_loops_the_days_and_maps_like_push() {
    let api = MockApi::start().await;
    let example: Value = serde_json::from_str(include_str!("daily_activity_example.json")).unwrap();
    for day in ["2024-03-01", "2024-03-02", "2024-03-03"] {
        api.json(
            "GET",
            &format!("/1/user/X1Y2Z3/activities/date/{day}.json"),
            example.clone(),
        );
    }
    // No profile scope: times in UTC, as on the push path.
    let e = env(Provider::Fitbit, "X1Y2Z3", "tok").await;
    let got = objects(
        normalizer(&api)
            .fetch_range(
                &e.conn,
                &e.ctx,
                EventType::Daily,
                d("2024-03-01"),
                d("2024-03-04"),
                true,
            )
            .await
            .unwrap(),
    );
    assert_eq!(got.len(), 3);
    let r: mapping::DailyActivityResponse = serde_json::from_value(example).unwrap();
    let want = mapping::map_daily(r.summary.as_ref().unwrap(), d("2024-03-02"), utc());
    assert_eq!(got[1], serde_json::to_value(want).unwrap());
    let days: Vec<String> = api
        .requests()
        .iter()
        .filter(|r| r.path.contains("/activities/date/"))
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(days.len(), 3, "{days:?}");
}

#[tokio::test]
async fn activity_logs_are_kept_by_their_start_day() {
    let api = MockApi::start().await;
    let list: Value = serde_json::from_str(include_str!("activity_log_list_example.json")).unwrap();
    api.json("GET", "/1/user/-/activities/list.json", list.clone());
    let e = env(Provider::Fitbit, "X1Y2Z3", "tok").await;
    let n = normalizer(&api);
    // The example's logs start on 2019-01-03 and 2019-01-04 (local time).
    let got = objects(
        n.fetch_range(
            &e.conn,
            &e.ctx,
            EventType::Activity,
            d("2019-01-04"),
            d("2019-01-11"),
            true,
        )
        .await
        .unwrap(),
    );
    let l: mapping::ActivityLogList = serde_json::from_value(list).unwrap();
    let want: Vec<Value> = l
        .activities
        .iter()
        .filter(|a| a.start().unwrap().date_naive() == d("2019-01-04"))
        .filter_map(mapping::map_activity_log)
        .map(|a| serde_json::to_value(a).unwrap())
        .collect();
    assert!(!want.is_empty());
    assert_eq!(got, want);
    let q = api.requests_to("/1/user/-/activities/list.json")[0]
        .query
        .clone();
    assert_eq!(
        q.as_deref(),
        Some("afterDate=2019-01-03&sort=asc&offset=0&limit=100")
    );
    assert!(n.range_support(EventType::Nutrition).is_none());
    assert!(n
        .fetch_range(
            &e.conn,
            &e.ctx,
            EventType::Menstruation,
            d("2019-01-04"),
            d("2019-01-05"),
            true
        )
        .await
        .is_err());
}

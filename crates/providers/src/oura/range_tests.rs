//! Historical requests against a scripted Oura (collection routes, `next_token` pages):
//! the documents come out exactly as the push path maps them.

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

fn example(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn normalizer(api: &MockApi) -> OuraNormalizer {
    let cfg = OuraConfig {
        api_base: api.base_url(),
        ..OuraConfig::default()
    };
    OuraNormalizer::new(
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
async fn workouts_follow_next_token_and_map_like_push() {
    let api = MockApi::start().await;
    api.accept_token("tok");
    let w1 = example(include_str!("workout_example.json"));
    let mut w2 = w1.clone();
    w2["id"] = json!("w2");
    w2["day"] = json!("2021-01-20");
    let mut outside = w1.clone();
    outside["id"] = json!("late");
    outside["day"] = json!("2021-01-31"); // an inclusive end_date would return it
    api.json(
        "GET",
        "/v2/usercollection/workout?start_date=2021-01-01&end_date=2021-01-31",
        json!({"data": [w1], "next_token": "page-2"}),
    );
    api.json(
        "GET",
        "/v2/usercollection/workout?start_date=2021-01-01&end_date=2021-01-31&next_token=page-2",
        json!({"data": [w2, outside], "next_token": null}),
    );
    let e = env(Provider::Oura, "oura-user", "tok").await;
    let n = normalizer(&api);
    assert_eq!(
        n.range_support(EventType::Activity).unwrap().window_days,
        WINDOW_DAYS
    );
    let got = objects(
        n.fetch_range(
            &e.conn,
            &e.ctx,
            EventType::Activity,
            d("2021-01-01"),
            d("2021-01-31"),
            true,
        )
        .await
        .unwrap(),
    );
    assert_eq!(got.len(), 2, "{got:#?}");
    let w: mapping::Workout = serde_json::from_str(include_str!("workout_example.json")).unwrap();
    let pushed = serde_json::to_value(mapping::map_workout(&w, "x").unwrap()).unwrap();
    assert_eq!(got[0], pushed, "the push path's mapping");
    assert_eq!(got[1]["metadata"]["summary_id"], "w2");
    assert_eq!(api.requests_to("/v2/usercollection/workout").len(), 2);
    assert!(api.requests().iter().all(|r| r.bearer() == Some("tok")));
}

#[tokio::test]
async fn daily_is_activity_sleep_and_readiness_documents() {
    let api = MockApi::start().await;
    let mut activity = example(include_str!("daily_activity_example.json"));
    activity["day"] = json!("2022-07-14");
    let sleep = example(include_str!("daily_sleep_example.json"));
    let mut readiness = example(include_str!("daily_readiness_example.json"));
    readiness["day"] = json!("2022-07-13");
    api.json(
        "GET",
        "/v2/usercollection/daily_activity",
        json!({"data": [activity]}),
    );
    api.json(
        "GET",
        "/v2/usercollection/daily_sleep",
        json!({"data": [sleep]}),
    );
    api.json(
        "GET",
        "/v2/usercollection/daily_readiness",
        json!({"data": [readiness]}),
    );
    let e = env(Provider::Oura, "oura-user", "tok").await;
    let got = objects(
        normalizer(&api)
            .fetch_range(
                &e.conn,
                &e.ctx,
                EventType::Daily,
                d("2022-07-01"),
                d("2022-07-31"),
                true,
            )
            .await
            .unwrap(),
    );
    assert_eq!(got.len(), 3);
    let a: mapping::DailyActivity = serde_json::from_value(activity).unwrap();
    assert_eq!(
        got[0],
        serde_json::to_value(mapping::map_daily_activity(&a).unwrap()).unwrap()
    );
    let s: mapping::DailyScore = serde_json::from_value(sleep).unwrap();
    assert_eq!(
        got[1],
        serde_json::to_value(mapping::map_daily_score(&s, DailyKind::Sleep).unwrap()).unwrap()
    );
    let r: mapping::DailyScore = serde_json::from_value(readiness).unwrap();
    assert_eq!(
        got[2],
        serde_json::to_value(mapping::map_daily_score(&r, DailyKind::Readiness).unwrap()).unwrap()
    );
}

#[tokio::test]
async fn refused_credentials_and_unsupported_types() {
    let api = MockApi::start().await;
    api.accept_token("another-token");
    api.json("GET", "/v2/usercollection/sleep", json!({"data": []}));
    let e = env(Provider::Oura, "oura-user", "tok").await;
    let n = normalizer(&api);
    let r = n
        .fetch_range(
            &e.conn,
            &e.ctx,
            EventType::Sleep,
            d("2022-07-01"),
            d("2022-07-31"),
            true,
        )
        .await
        .unwrap();
    assert!(matches!(r, RangeData::ConnectionError(_)), "{r:?}");
    for t in [EventType::Body, EventType::Athlete, EventType::Nutrition] {
        assert!(n.range_support(t).is_none());
        assert!(n
            .fetch_range(&e.conn, &e.ctx, t, d("2022-07-01"), d("2022-07-31"), true)
            .await
            .is_err());
    }
}

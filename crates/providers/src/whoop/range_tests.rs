//! Historical requests against a scripted WHOOP (v2 collections, `nextToken` pages).

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

fn normalizer(api: &MockApi) -> WhoopNormalizer {
    let cfg = WhoopConfig {
        api_base: api.base_url(),
        token_url: format!("{}/oauth/oauth2/token", api.base_url()),
        ..WhoopConfig::default()
    };
    WhoopNormalizer::new(
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

const Q: &str = "start=2022-04-20T00%3A00%3A00.000Z&end=2022-04-27T00%3A00%3A00.000Z&limit=25";

#[tokio::test]
async fn workouts_follow_next_token_and_map_like_push() {
    let api = MockApi::start().await;
    let w1 = example(include_str!("workout_example.json"));
    let mut w2 = w1.clone();
    w2["id"] = json!("0b8f2c4e-0000-4000-8000-000000000002");
    api.json(
        "GET",
        &format!("/v2/activity/workout?{Q}"),
        json!({"records": [w1], "next_token": "MTIzOjEyMzEyMw"}),
    );
    api.json(
        "GET",
        &format!("/v2/activity/workout?{Q}&nextToken=MTIzOjEyMzEyMw"),
        json!({"records": [w2]}),
    );
    let e = env(Provider::Whoop, "10129", "tok").await;
    let got = objects(
        normalizer(&api)
            .fetch_range(
                &e.conn,
                &e.ctx,
                EventType::Activity,
                d("2022-04-20"),
                d("2022-04-27"),
                true,
            )
            .await
            .unwrap(),
    );
    assert_eq!(got.len(), 2);
    let w: mapping::Workout = serde_json::from_str(include_str!("workout_example.json")).unwrap();
    let id = w.id.clone().unwrap();
    assert_eq!(
        got[0],
        serde_json::to_value(mapping::map_workout(&w, &id).unwrap()).unwrap()
    );
    assert_eq!(
        got[1]["metadata"]["summary_id"],
        "0b8f2c4e-0000-4000-8000-000000000002"
    );
    assert_eq!(api.requests_to("/v2/activity/workout").len(), 2);
}

#[tokio::test]
async fn daily_joins_each_recovery_with_its_cycle() {
    let api = MockApi::start().await;
    let recovery = example(include_str!("recovery_example.json"));
    let cycle = example(include_str!("cycle_example.json"));
    let mut orphan = recovery.clone();
    orphan["cycle_id"] = json!(777);
    let mut other_cycle = cycle.clone();
    other_cycle["id"] = json!(777);
    api.json(
        "GET",
        "/v2/recovery",
        json!({"records": [recovery, orphan]}),
    );
    api.json("GET", "/v2/cycle", json!({"records": [cycle]}));
    api.json("GET", "/v2/cycle/777", other_cycle);
    let e = env(Provider::Whoop, "10129", "tok").await;
    let got = objects(
        normalizer(&api)
            .fetch_range(
                &e.conn,
                &e.ctx,
                EventType::Daily,
                d("2022-04-20"),
                d("2022-04-27"),
                true,
            )
            .await
            .unwrap(),
    );
    assert_eq!(got.len(), 2);
    let r: mapping::Recovery = serde_json::from_str(include_str!("recovery_example.json")).unwrap();
    let c: mapping::Cycle = serde_json::from_str(include_str!("cycle_example.json")).unwrap();
    assert_eq!(
        got[0],
        serde_json::to_value(mapping::map_recovery(&r, &c).unwrap()).unwrap()
    );
    assert_eq!(
        api.requests_to("/v2/cycle/777").len(),
        1,
        "the missing cycle fetched"
    );
    assert!(normalizer(&api).range_support(EventType::Body).is_none());
}

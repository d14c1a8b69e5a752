//! Dexcom's documented-shape egvs answers mapped into Terra's `body`, and ranges fetched
//! from a scripted API (one call per 30 days at most) the way the poll lane and
//! historical requests fetch them.

use chrono::NaiveDate;
use pulsegate_schema::terra::Body;
use pulsegate_schema::{EventType, Provider, RawNotification};
use pulsegate_testkit::provider_api::{MockApi, TokenStyle};
use serde_json::{json, Value};

use super::mapping::{map_days, readings, MG_PER_DL_PER_MMOL_PER_L};
use super::*;
use crate::range::testing::env;

const EGVS: &str = include_str!("egvs_example.json");
const DATA_RANGE: &str = include_str!("datarange_example.json");
const EGVS_PATH: &str = "/v3/users/self/egvs";

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn doc(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn egv(id: &str, at: &str, value: Value, unit: &str) -> Value {
    json!({"recordId": id, "systemTime": at, "displayTime": at, "transmitterTicks": 1,
        "value": value, "status": null, "trend": "flat", "trendRate": 0.0, "unit": unit,
        "rateUnit": format!("{unit}/min"), "displayDevice": "android",
        "transmitterGeneration": "g7"})
}

#[test]
fn the_documented_example_maps_to_one_body_per_utc_day() {
    let r = readings(&doc(EGVS));
    // Four records, one with a null value.
    assert_eq!(r.len(), 3);
    let days = map_days(&r, d("2022-02-06"), d("2022-02-08"));
    assert_eq!(days.len(), 2);

    let first = &days[0];
    assert_eq!(first.metadata.start_time, "2022-02-06T00:00:00+00:00");
    assert_eq!(first.metadata.end_time, "2022-02-07T00:00:00+00:00");
    assert_eq!(first.metadata.timestamp_localization, Some(0));
    let g = first.glucose_data.as_ref().unwrap();
    let samples: Vec<(Option<&str>, Option<i64>)> = g
        .blood_glucose_samples
        .iter()
        .map(|s| (s.timestamp.as_deref(), s.blood_glucose_mg_per_dl))
        .collect();
    assert_eq!(
        samples,
        [
            (Some("2022-02-06T09:12:35+00:00"), Some(122)),
            (Some("2022-02-06T09:17:35+00:00"), Some(190)),
        ]
    );
    assert_eq!(g.day_avg_blood_glucose_mg_per_dl, Some(156.0));
    // 122 is within 70–180, 190 is not.
    assert_eq!(g.time_in_range, Some(50.0));
    assert_eq!(g.sensor_usage, Some(2));
    assert_eq!(g.gmi, None, "GMI needs weeks of readings, not one day");

    // The app's record carries an offset; its UTC day is the 7th.
    let second = days[1].glucose_data.as_ref().unwrap();
    assert_eq!(
        second.blood_glucose_samples[0].timestamp.as_deref(),
        Some("2022-02-07T02:05:00+00:00")
    );
    assert_eq!(second.blood_glucose_samples[0].blood_glucose_mg_per_dl, Some(64));
    assert_eq!(second.time_in_range, Some(0.0));

    // Terra's wire names, and the objects read back as Terra's model.
    let v = serde_json::to_value(first).unwrap();
    assert_eq!(
        v["glucose_data"]["blood_glucose_samples"][1]["blood_glucose_mg_per_dL"],
        190
    );
    assert_eq!(v["glucose_data"]["day_avg_blood_glucose_mg_per_dL"], 156.0);
    serde_json::from_value::<Body>(v).unwrap();

    // Days outside the asked range are left out.
    assert_eq!(map_days(&r, d("2022-02-07"), d("2022-02-08")).len(), 1);
    assert!(map_days(&r, d("2022-02-08"), d("2022-02-09")).is_empty());
}

#[test]
fn mmol_nulls_strings_and_odd_records_are_converted_or_skipped() {
    let answer = json!({"recordType": "egv", "records": [
        egv("m1", "2024-03-01T08:00:00", json!(5.5), "mmol/L"),
        egv("m2", "2024-03-01T08:05:00Z", json!(10), "mmol/L"),
        egv("s1", "2024-03-01T08:10:00", json!("120"), "mg/dL"),
        egv("n1", "2024-03-01T08:15:00", Value::Null, "mg/dL"),
        egv("u1", "2024-03-01T08:20:00", json!(100), "unknown"),
        egv("z1", "2024-03-01T08:25:00", json!(0), "mg/dL"),
        egv("t1", "yesterday", json!(100), "mg/dL"),
        {"recordId": "x1", "systemTime": "2024-03-01T08:30:00", "value": 100},
        {"recordId": "x2", "value": 100, "unit": "mg/dL"},
        "not a record",
        7,
        // The same record twice (overlapping calls) counts once.
        egv("m1", "2024-03-01T08:00:00", json!(5.5), "mmol/L"),
    ]});
    let r = readings(&answer);
    assert_eq!(r.len(), 3, "{r:?}");
    let days = map_days(&r, d("2024-03-01"), d("2024-03-02"));
    assert_eq!(days.len(), 1);
    let g = days[0].glucose_data.as_ref().unwrap();
    let mg: Vec<Option<i64>> = g
        .blood_glucose_samples
        .iter()
        .map(|s| s.blood_glucose_mg_per_dl)
        .collect();
    // 5.5 mmol/L = 99.1 mg/dL, 10 mmol/L = 180.2 mg/dL (just above the range).
    assert_eq!(mg, [Some(99), Some(180)]);
    assert_eq!(g.sensor_usage, Some(2));
    assert_eq!(g.time_in_range, Some(50.0));
    let mean = (5.5 + 10.0) * MG_PER_DL_PER_MMOL_PER_L / 2.0;
    assert_eq!(
        g.day_avg_blood_glucose_mg_per_dl,
        Some((mean * 10.0).round() / 10.0)
    );

    // Answers without usable records map to nothing, never an error.
    for odd in [
        json!({}),
        json!({"records": "x"}),
        json!({"records": null}),
        json!([1, 2]),
        json!("egv"),
        json!({"recordType": "egv", "records": []}),
    ] {
        assert!(readings(&odd).is_empty(), "{odd}");
    }
    assert!(map_days(&[], d("2024-03-01"), d("2024-03-02")).is_empty());
}

#[test]
fn the_documented_data_range_carries_the_user_id() {
    // The connect flow reads the provider user id with this pointer.
    let (path, pointer) = match OAUTH.user_id {
        crate::oauth::UserIdSource::Endpoint(p, ptr) => (p, ptr),
        other => panic!("{other:?}"),
    };
    assert_eq!(path, "/v3/users/self/dataRange");
    assert_eq!(
        doc(DATA_RANGE).pointer(pointer).and_then(Value::as_str),
        Some("5b329ebcfbf2f0ba7e49d4c5eb57775468f5ee657ac16fcde07e1fd08197b4c7")
    );
}

fn normalizer(api: &MockApi) -> DexcomNormalizer {
    let cfg = DexcomConfig {
        api_base: api.base_url(),
        token_url: format!("{}/v2/oauth2/token", api.base_url()),
        client_id: "dexcom-client".into(),
        client_secret: Secret::new("dexcom-secret"),
        ..DexcomConfig::default()
    };
    DexcomNormalizer::new(
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
async fn a_range_is_one_call_per_30_days_and_one_body_per_day() {
    let api = MockApi::start().await;
    api.accept_token("tok");
    // Query ignored: every call gets every record; the mapping keeps the asked days.
    api.json("GET", EGVS_PATH, doc(EGVS));
    let e = env(Provider::Dexcom, "dex-user", "tok").await;
    let n = normalizer(&api);
    assert_eq!(
        n.range_support(EventType::Body).unwrap().window_days,
        WINDOW_DAYS
    );
    assert!(n.range_support(EventType::Daily).is_none());
    assert!(n.range_support(EventType::Activity).is_none());

    // One day: one call, the 7th's reading left out.
    let one = objects(
        n.fetch_range(&e.conn, &e.ctx, EventType::Body, d("2022-02-06"), d("2022-02-07"), true)
            .await
            .unwrap(),
    );
    assert_eq!(one.len(), 1, "{one:#?}");
    assert_eq!(one[0]["metadata"]["start_time"], "2022-02-06T00:00:00+00:00");
    let calls = api.requests_to(EGVS_PATH);
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].query.as_deref(),
        Some("startDate=2022-02-06T00%3A00%3A00&endDate=2022-02-07T00%3A00%3A00")
    );
    assert_eq!(calls[0].bearer(), Some("tok"));

    // 45 days: two calls (30 + 15 days), the end exclusive; the records both calls
    // returned count once.
    let long = objects(
        n.fetch_range(&e.conn, &e.ctx, EventType::Body, d("2022-01-10"), d("2022-02-24"), true)
            .await
            .unwrap(),
    );
    assert_eq!(long.len(), 2);
    assert_eq!(
        long[0]["glucose_data"]["blood_glucose_samples"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let queries: Vec<Option<String>> = api
        .requests_to(EGVS_PATH)
        .into_iter()
        .skip(1)
        .map(|r| r.query)
        .collect();
    assert_eq!(
        queries,
        [
            Some("startDate=2022-01-10T00%3A00%3A00&endDate=2022-02-09T00%3A00%3A00".into()),
            Some("startDate=2022-02-09T00%3A00%3A00&endDate=2022-02-24T00%3A00%3A00".into()),
        ]
    );

    // Other types are not Dexcom's.
    assert!(n
        .fetch_range(&e.conn, &e.ctx, EventType::Daily, d("2022-02-06"), d("2022-02-07"), true)
        .await
        .is_err());
}

#[tokio::test]
async fn mmol_readings_nulls_and_empty_answers_over_the_api() {
    let api = MockApi::start().await;
    api.json(
        "GET",
        EGVS_PATH,
        json!({"recordType": "egv", "recordVersion": "3.0", "userId": "u", "records": [
            egv("a", "2024-03-01T23:55:00", json!(7.2), "mmol/L"),
            egv("b", "2024-03-02T00:00:00", Value::Null, "mmol/L"),
            egv("c", "2024-03-02T00:05:00", json!(3.1), "mmol/L"),
        ]}),
    );
    let e = env(Provider::Dexcom, "dex-user", "tok").await;
    let n = normalizer(&api);
    let got = objects(
        n.fetch_range(&e.conn, &e.ctx, EventType::Body, d("2024-03-01"), d("2024-03-03"), true)
            .await
            .unwrap(),
    );
    assert_eq!(got.len(), 2);
    let mg = |o: &Value| o["glucose_data"]["blood_glucose_samples"][0]["blood_glucose_mg_per_dL"].clone();
    // 7.2 × 18.0182 = 129.7; 3.1 × 18.0182 = 55.9.
    assert_eq!(mg(&got[0]), 130);
    assert_eq!(mg(&got[1]), 56);
    assert_eq!(got[1]["glucose_data"]["sensor_usage"], 1);

    // No readings at all: nothing, and no error.
    api.json("GET", EGVS_PATH, json!({"recordType": "egv", "records": []}));
    let none = objects(
        n.fetch_range(&e.conn, &e.ctx, EventType::Body, d("2024-03-01"), d("2024-03-03"), true)
            .await
            .unwrap(),
    );
    assert!(none.is_empty());
}

#[tokio::test]
async fn a_refused_token_is_a_connection_error() {
    let api = MockApi::start().await;
    api.token_endpoint("/v2/oauth2/token", TokenStyle::Standard);
    api.accept_token("other-token");
    api.json("GET", EGVS_PATH, doc(EGVS));
    let e = env(Provider::Dexcom, "dex-user", "tok").await;
    let got = normalizer(&api)
        .fetch_range(&e.conn, &e.ctx, EventType::Body, d("2022-02-06"), d("2022-02-07"), true)
        .await
        .unwrap();
    assert!(matches!(got, RangeData::ConnectionError(_)), "{got:?}");
    // The 401 was followed by one refresh attempt, which Dexcom refused.
    assert_eq!(api.requests_to("/v2/oauth2/token").len(), 1);
}

#[tokio::test]
async fn an_expired_token_is_refreshed_and_used() {
    let api = MockApi::start().await;
    api.token_endpoint("/v2/oauth2/token", TokenStyle::Standard);
    api.accept_token("never-stored");
    api.accept_refresh_token("refresh");
    api.json("GET", EGVS_PATH, doc(EGVS));
    let e = env(Provider::Dexcom, "dex-user", "tok").await;
    let got = objects(
        normalizer(&api)
            .fetch_range(&e.conn, &e.ctx, EventType::Body, d("2022-02-06"), d("2022-02-08"), true)
            .await
            .unwrap(),
    );
    assert_eq!(got.len(), 2);
    let refresh = &api.requests_to("/v2/oauth2/token")[0];
    let form = pulsegate_testkit::provider_api::form_pairs(std::str::from_utf8(&refresh.body).unwrap());
    assert_eq!(form["grant_type"], "refresh_token");
    assert_eq!(form["client_id"], "dexcom-client");
    assert_eq!(form["client_secret"], "dexcom-secret");
    let stored = e.ctx.state.connection(&e.conn.user_id).unwrap();
    assert_eq!(stored.access_token.expose(), "access-1");
}

#[tokio::test]
async fn pushes_are_refused() {
    let api = MockApi::start().await;
    let e = env(Provider::Dexcom, "dex-user", "tok").await;
    let raw = RawNotification {
        id: "n1".into(),
        provider: Provider::Dexcom,
        provider_user_id: "dex-user".into(),
        received_at_ms: 1,
        body: serde_json::value::RawValue::from_string("{}".into()).unwrap(),
    };
    let n = normalizer(&api);
    assert!(n.dedupe_key(&raw).is_none());
    assert!(n.normalize(&raw, &e.conn, &e.ctx).await.is_err());
    assert!(api.requests().is_empty());
}

#[test]
fn the_descriptor_says_it_is_polled_with_dexcom_s_documented_facts() {
    assert_eq!(DESCRIPTOR.push, crate::PushMode::Poll);
    assert_eq!(DESCRIPTOR.data_types, &[EventType::Body]);
    assert_eq!(
        DESCRIPTOR.rate_limits.limits,
        &[crate::ratelimit::WindowLimit::app(60_000, 3600)]
    );
    assert_eq!(OAUTH.authorize_url, "https://api.dexcom.com/v2/oauth2/login");
    assert_eq!(OAUTH.token_url, "https://api.dexcom.com/v2/oauth2/token");
    assert_eq!(OAUTH.scopes, "offline_access");
    assert_eq!(crate::descriptor(Provider::Dexcom).id, Provider::Dexcom);
    assert_eq!(Provider::Dexcom.slug(), "dexcom");
    assert_eq!(serde_json::to_value(Provider::Dexcom).unwrap(), "DEXCOM");
}

#[test]
fn mapped_examples_validate_against_terra_python() {
    use crate::terra_check::{validate, with_event};
    let days = map_days(&readings(&doc(EGVS)), d("2022-02-06"), d("2022-02-08"));
    assert!(!days.is_empty());
    let files: Vec<_> = days
        .iter()
        .flat_map(|b| with_event("body", "Body", "DEXCOM", serde_json::to_value(b).unwrap()))
        .collect();
    validate(&files);
}

//! Ultrahuman's documented-shape days mapped into Terra's types, and days fetched from a
//! scripted Partner API (one call per day) the way the poll lane and historical
//! requests fetch them.

use chrono::NaiveDate;
use pulsegate_schema::terra::{Body, Daily, Sleep};
use pulsegate_schema::{EventType, Provider};
use pulsegate_testkit::provider_api::{MockApi, TokenStyle};
use serde_json::{json, Value};

use super::mapping::{map_body, map_daily, map_sleep, MetricsResponse};
use super::*;
use crate::range::testing::env;

const DAY: &str = include_str!("metrics_day_example.json");
const CGM: &str = include_str!("metrics_cgm_example.json");

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn day(text: &str) -> mapping::DayMetrics {
    serde_json::from_str::<MetricsResponse>(text)
        .unwrap()
        .into_day()
}

#[test]
fn a_ring_day_maps_to_sleep_daily_and_body() {
    let m = day(DAY);
    let s = map_sleep(&m).unwrap();
    assert_eq!(s.metadata.start_time, "2024-01-15T03:00:00+00:00");
    assert_eq!(s.metadata.end_time, "2024-01-15T10:20:00+00:00");
    let dur = s.sleep_durations_data.as_ref().unwrap();
    let asleep = dur.asleep.as_ref().unwrap();
    assert_eq!(asleep.duration_asleep_state_seconds, Some(24_480.0));
    assert_eq!(asleep.duration_deep_sleep_state_seconds, Some(4_680.0));
    assert_eq!(asleep.duration_rem_sleep_state_seconds, Some(7_800.0));
    assert_eq!(
        dur.awake.as_ref().unwrap().duration_awake_state_seconds,
        Some(2_100.0)
    );
    assert_eq!(
        dur.other.as_ref().unwrap().duration_in_bed_seconds,
        Some(26_400.0)
    );
    assert_eq!(dur.sleep_efficiency, Some(91.0));
    let hr = s.heart_rate_data.as_ref().unwrap().summary.as_ref().unwrap();
    assert_eq!(hr.avg_hr_bpm, Some(52.0));
    assert_eq!(hr.resting_hr_bpm, Some(51.0));
    assert_eq!(
        s.respiration_data
            .as_ref()
            .unwrap()
            .oxygen_saturation_data
            .as_ref()
            .unwrap()
            .avg_saturation_percentage,
        Some(97.0)
    );
    assert_eq!(s.readiness_data.as_ref().unwrap().readiness, Some(78));

    let daily = map_daily(&m, d("2024-01-15")).unwrap();
    assert_eq!(daily.metadata.start_time, "2024-01-15T00:00:00+00:00");
    assert_eq!(daily.metadata.end_time, "2024-01-16T00:00:00+00:00");
    let dist = daily.distance_data.as_ref().unwrap();
    assert_eq!(dist.steps, Some(8452));
    assert_eq!(dist.detailed.as_ref().unwrap().step_samples.len(), 2);
    assert_eq!(
        daily.oxygen_data.as_ref().unwrap().vo2max_ml_per_min_per_kg,
        Some(42.5)
    );
    let scores = daily.scores.as_ref().unwrap();
    assert_eq!((scores.recovery, scores.activity), (Some(78.0), Some(65.0)));
    assert_eq!(
        daily.active_durations_data.as_ref().unwrap().activity_seconds,
        Some(2_100.0)
    );
    let hr = daily.heart_rate_data.as_ref().unwrap();
    let summary = hr.summary.as_ref().unwrap();
    assert_eq!((summary.min_hr_bpm, summary.max_hr_bpm), (Some(55.0), Some(62.0)));
    assert_eq!(summary.avg_hrv_rmssd, Some(47.0));
    assert_eq!(hr.detailed.as_ref().unwrap().hr_samples.len(), 3);

    // The ring day has skin temperature but no CGM.
    let body = map_body(&m, d("2024-01-15")).unwrap();
    assert!(body.glucose_data.is_none());
    let temps = &body.temperature_data.as_ref().unwrap().skin_temperature_samples;
    assert_eq!(temps.len(), 2);
    assert_eq!(temps[0].temperature_celsius, Some(36.2));

    // Each object reads back as Terra's model (the fields terra-python validates).
    for v in [
        serde_json::to_value(&s).unwrap(),
        serde_json::to_value(&daily).unwrap(),
        serde_json::to_value(&body).unwrap(),
    ] {
        assert!(v["metadata"]["start_time"].is_string(), "{v}");
    }
    serde_json::from_value::<Sleep>(serde_json::to_value(&s).unwrap()).unwrap();
    serde_json::from_value::<Daily>(serde_json::to_value(&daily).unwrap()).unwrap();
    serde_json::from_value::<Body>(serde_json::to_value(&body).unwrap()).unwrap();
}

#[test]
fn a_cgm_day_maps_to_body_glucose() {
    let m = day(CGM);
    assert!(map_sleep(&m).is_none());
    assert!(map_daily(&m, d("2024-01-15")).is_none());
    let body = map_body(&m, d("2024-01-15")).unwrap();
    let g = body.glucose_data.as_ref().unwrap();
    assert_eq!(g.blood_glucose_samples.len(), 2);
    assert_eq!(g.blood_glucose_samples[1].blood_glucose_mg_per_dl, Some(143));
    assert_eq!(
        g.blood_glucose_samples[0].timestamp.as_deref(),
        Some("2024-01-15T01:00:00+00:00")
    );
    assert_eq!(g.day_avg_blood_glucose_mg_per_dl, Some(108.0));
    assert_eq!(g.gmi, Some(5.4));
    assert_eq!(g.time_in_range, Some(92.0));
    let v = serde_json::to_value(&body).unwrap();
    assert_eq!(
        v["glucose_data"]["blood_glucose_samples"][0]["blood_glucose_mg_per_dL"],
        96
    );
}

#[test]
fn mapped_examples_validate_against_terra_python() {
    use crate::terra_check::{validate, with_event};
    let (ring, cgm) = (day(DAY), day(CGM));
    let date = d("2024-01-15");
    let mut files = Vec::new();
    files.extend(with_event("sleep", "Sleep", "ULTRAHUMAN", serde_json::to_value(map_sleep(&ring).unwrap()).unwrap()));
    files.extend(with_event("daily", "Daily", "ULTRAHUMAN", serde_json::to_value(map_daily(&ring, date).unwrap()).unwrap()));
    files.extend(with_event("body", "Body", "ULTRAHUMAN", serde_json::to_value(map_body(&ring, date).unwrap()).unwrap()));
    files.extend(with_event("body", "Body", "ULTRAHUMAN", serde_json::to_value(map_body(&cgm, date).unwrap()).unwrap()));
    validate(&files);
}

#[test]
fn the_other_answer_shapes_and_empty_days() {
    // `data.metrics` as a map of dates, and sleep fields nested under `details`.
    let alt = json!({"data": {"metrics": {"2024-01-15": [
        {"type": "sleep", "object": {"details": {"bedtime_start": 1705287600, "bedtime_end": 1705314000}}},
        {"type": "steps", "object": {"total": 10, "values": []}}
    ]}}});
    let m = day(&alt.to_string());
    assert_eq!(
        map_sleep(&m).unwrap().metadata.summary_id.as_deref(),
        Some("uh-sleep-1705287600")
    );
    assert_eq!(
        map_daily(&m, d("2024-01-15")).unwrap().distance_data.unwrap().steps,
        Some(10)
    );
    let empty = day(r#"{"data":{"metric_data":[]},"error":null,"status":200}"#);
    assert!(map_sleep(&empty).is_none());
    assert!(map_daily(&empty, d("2024-01-15")).is_none());
    assert!(map_body(&empty, d("2024-01-15")).is_none());
    // Unexpected shapes are skipped, not errors.
    let odd = day(r#"{"data":{"metric_data":[{"type":"hr","object":{"values":"x"}},{"type":"Sleep","object":{"bedtime_start":"late"}}]}}"#);
    assert!(map_sleep(&odd).is_none());
    assert!(map_daily(&odd, d("2024-01-15")).is_none());
}

fn normalizer(api: &MockApi) -> UltrahumanNormalizer {
    let cfg = UltrahumanConfig {
        api_base: api.base_url(),
        token_url: format!("{}/oauth/token", api.base_url()),
        ..UltrahumanConfig::default()
    };
    UltrahumanNormalizer::new(
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
async fn a_range_is_one_call_per_day_with_the_day_s_objects() {
    let api = MockApi::start().await;
    api.accept_token("tok");
    let day_json: Value = serde_json::from_str(DAY).unwrap();
    let cgm_json: Value = serde_json::from_str(CGM).unwrap();
    api.json("GET", "/user_data/metrics?date=2024-01-15", day_json);
    api.json("GET", "/user_data/metrics?date=2024-01-16", cgm_json);
    api.json(
        "GET",
        "/user_data/metrics?date=2024-01-17",
        json!({"data": {"metric_data": []}, "error": null, "status": 200}),
    );
    let e = env(Provider::Ultrahuman, "uh-user", "tok").await;
    let n = normalizer(&api);
    assert_eq!(n.range_support(EventType::Body).unwrap().window_days, WINDOW_DAYS);
    assert!(n.range_support(EventType::Activity).is_none());
    let (start, end) = (d("2024-01-15"), d("2024-01-18"));
    let body = objects(
        n.fetch_range(&e.conn, &e.ctx, EventType::Body, start, end, true)
            .await
            .unwrap(),
    );
    // Day one: skin temperature; day two: glucose; day three: nothing.
    assert_eq!(body.len(), 2, "{body:#?}");
    assert!(body[1]["glucose_data"]["blood_glucose_samples"].is_array());
    let sleep = objects(
        n.fetch_range(&e.conn, &e.ctx, EventType::Sleep, start, end, true)
            .await
            .unwrap(),
    );
    assert_eq!(sleep.len(), 1);
    // One call per day and type asked, and the end is exclusive: 2024-01-18 is never
    // asked for.
    let dates: Vec<Option<String>> = api
        .requests_to("/user_data/metrics")
        .into_iter()
        .map(|r| r.query)
        .collect();
    assert_eq!(dates.len(), 6, "{dates:?}");
    assert!(!dates.iter().any(|q| q.as_deref() == Some("date=2024-01-18")));
}

#[tokio::test]
async fn a_refused_token_is_a_connection_error() {
    let api = MockApi::start().await;
    api.accept_token("other-token");
    // The refresh that follows the 401 is refused too (its refresh token is unknown).
    api.token_endpoint("/oauth/token", TokenStyle::Standard);
    api.json(
        "GET",
        "/user_data/metrics?date=2024-01-15",
        serde_json::from_str::<Value>(DAY).unwrap(),
    );
    let e = env(Provider::Ultrahuman, "uh-user", "tok").await;
    let got = normalizer(&api)
        .fetch_range(
            &e.conn,
            &e.ctx,
            EventType::Daily,
            d("2024-01-15"),
            d("2024-01-16"),
            true,
        )
        .await
        .unwrap();
    assert!(matches!(got, RangeData::ConnectionError(_)), "{got:?}");
}

#[test]
fn the_descriptor_says_it_is_polled() {
    assert_eq!(DESCRIPTOR.push, crate::PushMode::Poll);
    assert_eq!(crate::descriptor(Provider::Ultrahuman).id, Provider::Ultrahuman);
}

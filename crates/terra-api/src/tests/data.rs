//! The data endpoints: parameters, answer shapes, backfill's refusals, writes.

use chrono::NaiveDate;
use pulsegate_schema::{EventType, Provider};
use serde_json::json;

use super::{env, is_terra_error};
use crate::data::parse_date;

#[tokio::test]
async fn data_parameters_are_checked_like_terra() {
    let e = env(true).await;
    e.user("u1", Provider::Strava, "r1").await;
    for (query, status, needle) in [
        ("start_date=2026-01-01", 400, "user_id"),
        ("user_id=u1", 400, "start_date is required"),
        ("user_id=u1&start_date=yesterday", 400, "start_date"),
        ("user_id=u1&start_date=2026-13-01", 400, "start_date"),
        (
            "user_id=u1&start_date=2026-01-02&end_date=2026-01-01",
            400,
            "before",
        ),
        (
            "user_id=u1&start_date=2026-01-01&end_date=x",
            400,
            "end_date",
        ),
        (
            "user_id=u1&start_date=2026-01-01&to_webhook=maybe",
            400,
            "to_webhook",
        ),
        (
            "user_id=u1&start_date=2026-01-01&with_samples=2",
            400,
            "with_samples",
        ),
        ("user_id=nobody&start_date=2026-01-01", 404, "not found"),
    ] {
        let (got, body) = e.call("GET", &format!("/v2/activity?{query}"), "").await;
        assert_eq!(got, status, "{query}: {body}");
        assert!(is_terra_error(&body), "{body}");
        assert!(
            body["message"].as_str().unwrap().contains(needle),
            "{query}: {body}"
        );
    }
    assert!(e.backfill.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn inline_and_webhook_answers_have_terras_shape() {
    let e = env(true).await;
    e.user("u1", Provider::Strava, "r1").await;
    e.user("u2", Provider::Oura, "r2").await;
    // Inline: dates as unix seconds; end_date exclusive.
    let (status, body) = e
        .call(
            "GET",
            "/v2/activity?user_id=u1&start_date=1767225600&end_date=2026-01-03&to_webhook=false&with_samples=true",
            "",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(body["type"], "activity");
    assert_eq!(body["user"]["user_id"], "u1");
    assert_eq!(body["user"]["provider"], "STRAVA");
    assert_eq!(body["user"]["reference_id"], "r1");
    assert_eq!(body["data"], json!([{"metadata": {"summary_id": "a1"}}]));
    assert_eq!(
        e.backfill.calls.lock().unwrap()[0],
        (
            "u1".into(),
            EventType::Activity,
            d("2026-01-01"),
            d("2026-01-03"),
            true,
            "fetch"
        )
    );
    // to_webhook defaults to true: a reference, no data.
    let (status, body) = e
        .call("GET", "/v2/sleep?user_id=u2&start_date=2026-01-01", "")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["type"], "sleep");
    assert_eq!(body["reference"], "ref-1");
    assert_eq!(body["user"]["user_id"], "u2");
    assert!(body["message"].is_string() && body.get("data").is_none());
    assert_eq!(e.backfill.calls.lock().unwrap()[1].5, "request");
    // Backfill's refusals.
    let (status, body) = e
        .call(
            "GET",
            "/v2/sleep?user_id=u2&start_date=2026-01-01&to_webhook=false",
            "",
        )
        .await;
    assert_eq!(status, 502, "{body}");
    assert!(is_terra_error(&body));
    // Rate limited: Terra's RequestProcessing, 202.
    let (status, body) = e
        .call(
            "GET",
            "/v2/daily?user_id=u2&start_date=2026-01-01&to_webhook=false",
            "",
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["retry_after_seconds"], 30);
    assert_eq!(body["user"]["user_id"], "u2");
    assert!(body.get("reference").is_none(), "{body}");
    // Rate limited and continued as a webhook request: the same answer, with the
    // reference the data (and the `processing` event) will carry.
    let (status, body) = e
        .call(
            "GET",
            "/v2/daily?user_id=u2&start_date=2026-02-01&to_webhook=false",
            "",
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["type"], "processing");
    assert_eq!(body["retry_after_seconds"], 12);
    assert_eq!(body["reference"], "ref-continued");
    assert_eq!(body["user"]["user_id"], "u2");
}

/// Terra's `NoDataReturned`, 200: `{"status","message","user"}` (plus `"type":"no_data"`
/// on the athlete endpoint, whose union terra-python discriminates by `type`).
fn assert_no_data(status: u16, body: &serde_json::Value, user: &str, athlete: bool) {
    assert_eq!(status, 200, "{body}");
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort_unstable();
    let expected: &[&str] = if athlete {
        &["message", "status", "type", "user"]
    } else {
        &["message", "status", "user"]
    };
    assert_eq!(keys, expected, "{body}");
    assert_eq!(body["status"], "error");
    assert_eq!(
        body["message"],
        "Data type requested not available from provider"
    );
    assert_eq!(body["user"]["user_id"], user);
    if athlete {
        assert_eq!(body["type"], "no_data");
    }
}

#[tokio::test]
async fn a_type_the_provider_does_not_give_is_terras_no_data_returned() {
    let e = env(true).await;
    e.user("u1", Provider::Strava, "r1").await;
    // Strava gives activities only (its descriptor): every other type, inline or to a
    // webhook, is NoDataReturned before backfill is asked.
    for t in [
        "daily",
        "sleep",
        "body",
        "athlete",
        "menstruation",
        "nutrition",
    ] {
        for to_webhook in [true, false] {
            let path = format!(
                "/v2/{t}?user_id=u1&start_date=2026-01-01&end_date=2026-01-02&to_webhook={to_webhook}"
            );
            let (status, body) = e.call("GET", &path, "").await;
            assert_no_data(status, &body, "u1", t == "athlete");
        }
    }
    assert!(e.backfill.calls.lock().unwrap().is_empty());
    // The same whatever the integration's switches say.
    e.state
        .put_integration(&pulsegate_schema::Integration {
            provider: Provider::Strava,
            enabled: true,
            data_types: vec!["activity".into()],
            scopes: None,
            updated_at_ms: 0,
        })
        .await
        .unwrap();
    let (status, body) = e
        .call("GET", "/v2/sleep?user_id=u1&start_date=2026-01-01", "")
        .await;
    assert_no_data(status, &body, "u1", false);
    // A type the descriptor lists but backfill has no mapping for (its `Unsupported`):
    // the same answer, on both paths.
    e.user("w1", Provider::Withings, "rw").await;
    for to_webhook in [true, false] {
        let path = format!("/v2/body?user_id=w1&start_date=2026-01-01&to_webhook={to_webhook}");
        let (status, body) = e.call("GET", &path, "").await;
        assert_no_data(status, &body, "w1", false);
    }
    assert_eq!(e.backfill.calls.lock().unwrap().len(), 2);
    // Parameters are still checked first.
    let (status, body) = e.call("GET", "/v2/sleep?user_id=u1", "").await;
    assert_eq!(status, 400, "{body}");
}

#[test]
fn end_date_is_exclusive_as_at_terra() {
    let today = d("2026-06-30");
    let range = |q: &str| {
        crate::data::date_range(&crate::Query::parse(Some(q)), today)
            .map_err(|r| r.status().as_u16())
    };
    for (q, want) in [
        // [start, end): 2026-01-03 is not fetched.
        (
            "start_date=2026-01-01&end_date=2026-01-03",
            ("2026-01-01", "2026-01-03"),
        ),
        // The same date: the one day from start_date (Terra's documented reading).
        (
            "start_date=2026-01-01&end_date=2026-01-01",
            ("2026-01-01", "2026-01-02"),
        ),
        // Unix seconds at midnight UTC are dates.
        (
            "start_date=1767225600&end_date=1767398400",
            ("2026-01-01", "2026-01-03"),
        ),
        // A date-time end after midnight still needs its day (the port takes days).
        (
            "start_date=2026-01-01T06:00:00Z&end_date=2026-01-02T00:00:01Z",
            ("2026-01-01", "2026-01-03"),
        ),
        (
            "start_date=2026-01-01T06:00:00Z&end_date=2026-01-02T00:00:00Z",
            ("2026-01-01", "2026-01-02"),
        ),
        (
            "start_date=2026-01-01T06:00:00Z&end_date=2026-01-01T06:00:00Z",
            ("2026-01-01", "2026-01-02"),
        ),
        // No end_date: through today.
        ("start_date=2026-06-01", ("2026-06-01", "2026-07-01")),
        ("start_date=2026-08-01", ("2026-08-01", "2026-08-02")),
    ] {
        assert_eq!(range(q), Ok((d(want.0), d(want.1))), "{q}");
    }
    for q in [
        "start_date=2026-01-02&end_date=2026-01-01",
        "start_date=2026-01-01T06:00:00Z&end_date=2026-01-01T05:59:59Z",
    ] {
        assert_eq!(range(q), Err(400), "{q}");
    }
}

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

#[tokio::test]
async fn disabled_types_and_a_build_without_backfill_are_refused() {
    let e = env(false).await;
    e.user("u1", Provider::Strava, "r1").await;
    let (status, body) = e
        .call("GET", "/v2/activity?user_id=u1&start_date=2026-01-01", "")
        .await;
    assert_eq!(status, 501, "{body}");
    assert!(is_terra_error(&body));
    e.state
        .put_integration(&pulsegate_schema::Integration {
            provider: Provider::Strava,
            enabled: true,
            data_types: vec!["sleep".into()],
            scopes: None,
            updated_at_ms: 0,
        })
        .await
        .unwrap();
    let (status, body) = e
        .call("GET", "/v2/activity?user_id=u1&start_date=2026-01-01", "")
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("not enabled"));
}

#[tokio::test]
async fn write_endpoints_answer_501_naming_operation_and_provider() {
    // The scripted backfill writes nothing (the trait's default): 501 for every write,
    // after the request itself was checked.
    let e = env(true).await;
    e.user("u1", Provider::Strava, "r1").await;
    let post = r#"{"data":[{"metadata":{"type":8}}]}"#;
    let delete = r#"{"log_ids":["1"]}"#;
    for (method, path, body, needle) in [
        (
            "POST",
            "/v2/activity?user_id=u1",
            post,
            "writing activity data at STRAVA",
        ),
        (
            "DELETE",
            "/v2/activity?user_id=u1",
            delete,
            "deleting activity",
        ),
        ("POST", "/v2/body?user_id=u1", post, "STRAVA user"),
        ("DELETE", "/v2/body?user_id=u1", delete, "STRAVA user"),
        (
            "POST",
            "/v2/nutrition",
            r#"{"user_id":"u1","data":[{}]}"#,
            "writing nutrition",
        ),
        (
            "DELETE",
            "/v2/nutrition?user_id=u1",
            r#"{"data":["m1"]}"#,
            "deleting",
        ),
        (
            "GET",
            "/v2/plannedWorkout?user_id=u1&start_date=2026-01-01",
            "",
            "planned",
        ),
        ("POST", "/v2/plannedWorkout?user_id=u1", post, "planned"),
        ("DELETE", "/v2/plannedWorkout?user_id=u1", delete, "planned"),
    ] {
        let (status, body) = e.call(method, path, body).await;
        assert_eq!(status, 501, "{method} {path}: {body}");
        let m = body["message"].as_str().unwrap();
        assert!(m.starts_with(method) && m.contains(needle), "{m}");
    }
    // Requests that cannot be written anywhere: 400/404 before any provider is asked.
    for (method, path, body, status, needle) in [
        ("POST", "/v2/activity", post, 400, "user_id"),
        (
            "POST",
            "/v2/activity?user_id=u1",
            r#"{"data":[]}"#,
            400,
            "data",
        ),
        ("POST", "/v2/body?user_id=u1", "not json", 400, "JSON"),
        (
            "DELETE",
            "/v2/body?user_id=u1",
            r#"{"log_ids":[]}"#,
            400,
            "log_ids",
        ),
        (
            "POST",
            "/v2/activity?user_id=nobody",
            post,
            404,
            "not found",
        ),
    ] {
        let (got, body) = e.call(method, path, body).await;
        assert_eq!(got, status, "{method} {path}: {body}");
        assert!(is_terra_error(&body), "{body}");
        assert!(
            body["message"].as_str().unwrap().contains(needle),
            "{method} {path}: {body}"
        );
    }
}

#[test]
fn dates_as_terra_takes_them() {
    let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
    assert_eq!(parse_date("2026-02-03"), d("2026-02-03"));
    assert_eq!(parse_date("1767225600"), d("2026-01-01"));
    assert_eq!(parse_date("2026-02-03T23:30:00-02:00"), d("2026-02-04"));
    assert_eq!(parse_date("2026-02-03T10:00:00"), d("2026-02-03"));
    for bad in ["", "2026-02-30", "03/02/2026", "-5", "99999999999999999999"] {
        assert_eq!(parse_date(bad), None, "{bad}");
    }
}

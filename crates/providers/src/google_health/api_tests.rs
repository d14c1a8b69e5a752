//! The push path and historical ranges against the Google Health mock (testkit),
//! scripted with the research fixtures: what is fetched (filters, rollup bodies, pages),
//! what comes out, and how refusals end (scope not granted: skipped; `invalid_grant`:
//! `deauth`; `ACCOUNT_NOT_LINKED`: `google_no_datasource`).

use chrono::NaiveDate;
use pulsegate_schema::{EventType, Provider, RawNotification};
use pulsegate_testkit::google_health::GoogleHealthMock;
use serde_json::{json, Value};

use super::*;
use crate::range::testing::{env, Env};
use crate::{ProviderNormalizer, RangeData};

const USER: &str = "7391827465019283746";
const BATCH: &str = include_str!(
    "verify_fixtures/notification_batch_mixed.json"
);
const DELETE: &str = include_str!(
    "verify_fixtures/notification_delete_exercise.json"
);

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn doc(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// Every fixture at its endpoint.
async fn scripted() -> GoogleHealthMock {
    let m = GoogleHealthMock::start().await;
    m.settings(doc(include_str!("fixtures/settings.json")));
    for (t, f) in [
        ("steps", include_str!("fixtures/daily_rollup_steps.json")),
        (
            "distance",
            include_str!("fixtures/daily_rollup_distance.json"),
        ),
        ("floors", include_str!("fixtures/daily_rollup_floors.json")),
        (
            "altitude",
            include_str!("fixtures/daily_rollup_altitude.json"),
        ),
        (
            "total-calories",
            include_str!("fixtures/daily_rollup_total_calories.json"),
        ),
        (
            "active-energy-burned",
            include_str!("fixtures/daily_rollup_active_energy_burned.json"),
        ),
        (
            "active-minutes",
            include_str!("fixtures/daily_rollup_active_minutes.json"),
        ),
        (
            "sedentary-period",
            include_str!("fixtures/daily_rollup_sedentary_period.json"),
        ),
        (
            "heart-rate",
            include_str!("fixtures/daily_rollup_heart_rate.json"),
        ),
        (
            "time-in-heart-rate-zone",
            include_str!("fixtures/daily_rollup_time_in_heart_rate_zone.json"),
        ),
    ] {
        m.rollup(t, doc(f));
    }
    for (t, f) in [
        (
            "daily-resting-heart-rate",
            include_str!("fixtures/daily_resting_heart_rate_list.json"),
        ),
        (
            "daily-heart-rate-variability",
            include_str!("fixtures/daily_heart_rate_variability_list.json"),
        ),
        (
            "daily-oxygen-saturation",
            include_str!("fixtures/daily_oxygen_saturation_list.json"),
        ),
        (
            "daily-vo2-max",
            include_str!("fixtures/daily_vo2_max_list.json"),
        ),
        (
            "daily-respiratory-rate",
            include_str!("fixtures/daily_respiratory_rate_list.json"),
        ),
        (
            "daily-sleep-temperature-derivations",
            include_str!("fixtures/daily_sleep_temperature_derivations_list.json"),
        ),
        (
            "respiratory-rate-sleep-summary",
            include_str!("fixtures/respiratory_rate_sleep_summary_list.json"),
        ),
        ("sleep", include_str!("fixtures/sleep_list.json")),
        ("weight", include_str!("fixtures/weight_list.json")),
        ("body-fat", include_str!("fixtures/body_fat_list.json")),
        ("height", include_str!("fixtures/height_list.json")),
        (
            "heart-rate-variability",
            include_str!("fixtures/heart_rate_variability_list.json"),
        ),
        (
            "oxygen-saturation",
            include_str!("fixtures/oxygen_saturation_list.json"),
        ),
    ] {
        m.list(t, vec![doc(f)]);
    }
    // The exercise list in two pages: the run, then the walk.
    let all = doc(include_str!("fixtures/exercise_list.json"));
    let points = all["dataPoints"].as_array().unwrap();
    m.list(
        "exercise",
        vec![
            json!({"dataPoints": [points[0]]}),
            json!({"dataPoints": [points[1]]}),
        ],
    );
    m
}

fn normalizer(m: &GoogleHealthMock) -> GoogleHealthNormalizer {
    let cfg = GoogleHealthConfig {
        api_base: m.base_url(),
        token_url: format!("{}/token", m.base_url()),
        client_id: "gh-client.apps.googleusercontent.com".into(),
        client_secret: Secret::new("gh-client-secret"),
        ..GoogleHealthConfig::default()
    };
    GoogleHealthNormalizer::new(
        &cfg,
        &crate::RetryConfig::default(),
        &crate::ratelimit::Limiters::new(),
    )
    .unwrap()
}

fn raw(body: &str) -> RawNotification {
    serde_json::from_value(json!({
        "id": "n-1",
        "provider": Provider::GoogleHealth,
        "provider_user_id": USER,
        "received_at_ms": 1,
        "body": doc(body),
    }))
    .unwrap()
}

async fn push_env() -> Env {
    let mut e = env(Provider::GoogleHealth, USER, "tok").await;
    e.ctx.lane = crate::Lane::Push;
    e
}

fn bodies(events: &[NormalizedEvent]) -> Vec<(EventType, Value)> {
    events
        .iter()
        .map(|e| (e.event_type, serde_json::from_str(e.body.get()).unwrap()))
        .collect()
}

fn objects(r: RangeData) -> Vec<Value> {
    match r {
        RangeData::Objects(o) => o,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_mixed_batch_becomes_daily_sleep_body_and_the_notified_run() {
    let m = scripted().await;
    let n = normalizer(&m);
    let e = push_env().await;
    let events = n.normalize(&raw(BATCH), &e.conn, &e.ctx).await.unwrap();
    let got = bodies(&events);
    let types: Vec<EventType> = got.iter().map(|(t, _)| *t).collect();
    use EventType::*;
    assert_eq!(types, [Daily, Sleep, Sleep, Body, Activity], "{got:?}");
    let (_, daily) = &got[0];
    assert_eq!(daily["user"]["provider"], "GOOGLE_HEALTH");
    assert_eq!(daily["data"][0]["distance_data"]["steps"], 10432);
    assert_eq!(
        daily["data"][0]["metadata"]["start_time"], "2026-11-10T00:00:00-08:00",
        "the notification's offset"
    );
    assert_eq!(
        got[1].1["data"][0]["metadata"]["summary_id"],
        "8423783966740345544"
    );
    assert_eq!(
        got[3].1["data"][0]["measurements_data"]["measurements"][0]["weight_kg"],
        78.45
    );
    // Only the run overlaps the notified exercise interval; the walk (page 2) is not sent.
    assert_eq!(
        got[4].1["data"][0]["metadata"]["summary_id"],
        "2026443605080188808"
    );
    assert_eq!(m.filters("exercise").len(), 2, "both pages were read");

    // What was asked: the night by its end day, the run by its start day, rollups with
    // the nested civil dates.
    assert_eq!(
        m.filters("sleep"),
        [
            r#"sleep.interval.civil_end_time >= "2026-11-10" AND sleep.interval.civil_end_time < "2026-11-11""#
        ]
    );
    assert_eq!(
        m.filters("exercise")[0],
        r#"exercise.interval.civil_start_time >= "2026-11-10" AND exercise.interval.civil_start_time < "2026-11-11""#
    );
    let rollup = m.requests_to("/v4/users/me/dataTypes/steps/dataPoints:dailyRollUp");
    assert_eq!(
        rollup.len(),
        1,
        "steps and resting HR share one daily rebuild"
    );
    let body: Value = serde_json::from_slice(&rollup[0].body).unwrap();
    assert_eq!(
        body,
        doc(include_str!("fixtures/daily_rollup_request.json"))
    );
    assert_eq!(rollup[0].bearer(), Some("tok"));
    let exercise_pages: Vec<Option<String>> = m
        .requests_to("/v4/users/me/dataTypes/exercise/dataPoints")
        .iter()
        .map(|r| {
            pulsegate_testkit::provider_api::form_pairs(r.query.as_deref().unwrap_or(""))
                .remove("pageToken")
        })
        .collect();
    assert_eq!(exercise_pages, [None, Some("page-1".to_string())]);
    // The same content again gets the same ids (a redelivery is a duplicate downstream).
    let again = n.normalize(&raw(BATCH), &e.conn, &e.ctx).await.unwrap();
    let ids = |v: &[NormalizedEvent]| v.iter().map(|e| e.event_id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&events), ids(&again));
    assert!(
        m.requests_to("/v4/users/me/settings").is_empty(),
        "the notification gave the offset"
    );
}

#[tokio::test]
async fn types_the_user_did_not_grant_are_skipped_not_errors() {
    let m = scripted().await;
    let n = normalizer(&m);
    let mut e = push_env().await;
    // Activity only: no sleep, no health metrics.
    e.conn.scopes =
        Some("https://www.googleapis.com/auth/googlehealth.activity_and_fitness.readonly".into());
    e.ctx.state.put_connection(&e.conn).await.unwrap();
    let events = n.normalize(&raw(BATCH), &e.conn, &e.ctx).await.unwrap();
    let got = bodies(&events);
    let types: Vec<EventType> = got.iter().map(|(t, _)| *t).collect();
    assert_eq!(types, [EventType::Daily, EventType::Activity]);
    let daily = &got[0].1["data"][0];
    assert_eq!(daily["distance_data"]["steps"], 10432);
    assert!(
        daily["heart_rate_data"].get("summary").is_some(),
        "zones are activity data"
    );
    assert!(daily["heart_rate_data"]["summary"]
        .get("avg_hr_bpm")
        .is_none());
    for t in [
        "sleep",
        "weight",
        "heart-rate-variability",
        "daily-resting-heart-rate",
    ] {
        assert!(m.filters(t).is_empty(), "{t} was not asked for");
    }
    assert!(m
        .requests_to("/v4/users/me/dataTypes/heart-rate/dataPoints:dailyRollUp")
        .is_empty());

    // Granted as far as we know, refused by Google for one type: that type is skipped.
    let m = scripted().await;
    m.fail(
        "heart-rate-variability",
        403,
        doc(include_str!("fixtures/error_403_scope_insufficient.json")),
    );
    let n = normalizer(&m);
    let e = push_env().await;
    let weight = BATCH_WEIGHT_ONLY.replace("USER", USER);
    let events = n.normalize(&raw(&weight), &e.conn, &e.ctx).await.unwrap();
    let got = bodies(&events);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, EventType::Body);
    let b = &got[0].1["data"][0];
    assert_eq!(
        b["measurements_data"]["measurements"][0]["weight_kg"],
        78.45
    );
    assert!(b["heart_data"]["heart_rate_data"].get("detailed").is_none());
    assert_eq!(
        b["heart_data"]["heart_rate_data"]["summary"]["avg_hrv_rmssd"], 39.8,
        "the daily summary still came"
    );
}

const BATCH_WEIGHT_ONLY: &str = r#"[{"data": {"healthUserId": "USER", "dataType": "weight",
    "operation": "UPSERT", "intervals": [{"physicalTimeInterval":
    {"startTime": "2026-11-10T15:02:11Z", "endTime": "2026-11-10T15:02:11Z"},
    "civilIso8601TimeInterval": {"startTime": "2026-11-10T07:02:11", "endTime": "2026-11-10T07:02:11"}}]}}]"#;

#[tokio::test]
async fn a_refused_refresh_grant_is_the_users_revocation() {
    let m = scripted().await;
    m.accept_refresh_token("refresh");
    m.accept_token("never-issued");
    m.revoke_all();
    let n = normalizer(&m);
    let mut e = push_env().await;
    e.conn.expires_at = 1; // long expired: refreshed first
    e.ctx.state.put_connection(&e.conn).await.unwrap();
    let events = n.normalize(&raw(BATCH), &e.conn, &e.ctx).await.unwrap();
    let got = bodies(&events);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, EventType::Deauth);
    assert_eq!(got[0].1["status"], "success");
    let stored = e.ctx.state.connection(&e.conn.user_id).unwrap();
    assert_eq!(stored.status, ConnectionStatus::Revoked);
    assert!(stored.refresh_token.is_empty());
    let grants = m.requests_to("/token");
    assert_eq!(grants.len(), 1);
    let form = String::from_utf8_lossy(&grants[0].body).to_string();
    assert!(form.contains("grant_type=refresh_token"), "{form}");
    assert!(
        form.contains("client_id=gh-client.apps.googleusercontent.com")
            && form.contains("client_secret=gh-client-secret"),
        "Google takes the client credentials in the form"
    );
    // The same refusal on a historical request ends it with a connection error.
    let mut again = (*e.ctx.state.connection(&e.conn.user_id).unwrap()).clone();
    again.status = ConnectionStatus::Active;
    again.refresh_token = Secret::new("refresh");
    again.expires_at = 1;
    e.ctx.state.put_connection(&again).await.unwrap();
    let r = n
        .fetch_range(
            &again,
            &e.ctx,
            EventType::Daily,
            d("2026-11-10"),
            d("2026-11-11"),
            false,
        )
        .await
        .unwrap();
    assert!(
        matches!(r, RangeData::ConnectionError(m) if m == crate::api::REVOKED_GRANT),
        "{r:?}"
    );
}

#[tokio::test]
async fn an_expired_token_is_refreshed_and_kept() {
    let m = scripted().await;
    m.accept_refresh_token("refresh");
    m.accept_token("only-this-one");
    let n = normalizer(&m);
    let mut e = push_env().await;
    e.conn.expires_at = 1;
    e.ctx.state.put_connection(&e.conn).await.unwrap();
    let weight = BATCH_WEIGHT_ONLY.replace("USER", USER);
    let events = n.normalize(&raw(&weight), &e.conn, &e.ctx).await.unwrap();
    assert_eq!(events.len(), 1);
    let stored = e.ctx.state.connection(&e.conn.user_id).unwrap();
    assert_eq!(stored.access_token.expose(), "ya29.mock-access-1");
    assert_eq!(
        stored.refresh_token.expose(),
        "refresh",
        "Google sends no new refresh token: the old one is kept"
    );
    assert!(stored.expires_at > 1);
}

#[tokio::test]
async fn an_account_without_a_health_profile_is_google_no_datasource() {
    let m = scripted().await;
    m.fail(
        "weight",
        400,
        doc(include_str!("fixtures/error_400_account_not_linked.json")),
    );
    let n = normalizer(&m);
    let e = push_env().await;
    let weight = BATCH_WEIGHT_ONLY.replace("USER", USER);
    let got = bodies(&n.normalize(&raw(&weight), &e.conn, &e.ctx).await.unwrap());
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, EventType::GoogleNoDatasource);
    assert_eq!(got[0].1["type"], "google_no_datasource");
    assert_eq!(got[0].1["message"], ACCOUNT_NOT_LINKED);
    assert_eq!(got[0].1["status"], "warning");
    // terra-python's own model reads it, strictly.
    crate::terra_check::validate(&[(
        "google_no_datasource_event",
        "GoogleNoDatasourceEvent",
        got[0].1.clone(),
    )]);
}

#[tokio::test]
async fn deletes_and_strangers_are_dropped() {
    let m = scripted().await;
    let n = normalizer(&m);
    let e = push_env().await;
    let err = n
        .normalize(&raw(DELETE), &e.conn, &e.ctx)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            NormalizeError::Dropped {
                reason: "delete_unsupported",
                ..
            }
        ),
        "{err}"
    );
    let stranger = BATCH.replacen(USER, "someone-else", 1);
    let err = n
        .normalize(&raw(&stranger), &e.conn, &e.ctx)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        NormalizeError::Dropped {
            reason: "owner_mismatch",
            ..
        }
    ));
    let food = r#"[{"data": {"healthUserId": "USER", "dataType": "nutrition-log",
        "intervals": [{"civilIso8601TimeInterval": {"startTime": "2026-11-10T12:00:00", "endTime": "2026-11-10T12:10:00"}}]}}]"#
        .replace("USER", USER);
    let err = n.normalize(&raw(&food), &e.conn, &e.ctx).await.unwrap_err();
    assert!(matches!(
        err,
        NormalizeError::Dropped {
            reason: "unsupported_event",
            ..
        }
    ));
    assert!(m.requests().is_empty(), "nothing was fetched");
}

#[tokio::test]
async fn ranges_map_like_push_in_pieces_google_accepts() {
    let m = scripted().await;
    let n = normalizer(&m);
    let e = env(Provider::GoogleHealth, USER, "tok").await;
    // 15 days: rollups are asked in pieces of at most 14.
    let got = objects(
        n.fetch_range(
            &e.conn,
            &e.ctx,
            EventType::Daily,
            d("2026-11-09"),
            d("2026-11-24"),
            true,
        )
        .await
        .unwrap(),
    );
    assert_eq!(got.len(), 2, "the 9th has its resting heart rate only");
    assert_eq!(got[0]["heart_rate_data"]["summary"]["resting_hr_bpm"], 58.0);
    assert!(got[0].get("distance_data").is_none());
    let got = &got[1..];
    let want = mapping::map_daily(
        d("2026-11-10"),
        chrono::FixedOffset::west_opt(8 * 3600).unwrap(),
        &serde_json::from_str::<types::RollupResponse>(include_str!(
            "fixtures/daily_rollup_steps.json"
        ))
        .unwrap()
        .rollup_data_points,
        &[],
    )
    .unwrap();
    assert_eq!(
        got[0]["distance_data"]["steps"],
        serde_json::to_value(&want).unwrap()["distance_data"]["steps"]
    );
    assert_eq!(
        got[0]["metadata"]["start_time"], "2026-11-10T00:00:00-08:00",
        "the user's settings give the offset"
    );
    let pieces: Vec<Value> = m
        .requests_to("/v4/users/me/dataTypes/heart-rate/dataPoints:dailyRollUp")
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["range"].clone())
        .collect();
    assert_eq!(
        pieces,
        [
            json!({"start": {"date": {"year": 2026, "month": 11, "day": 9}}, "end": {"date": {"year": 2026, "month": 11, "day": 23}}}),
            json!({"start": {"date": {"year": 2026, "month": 11, "day": 23}}, "end": {"date": {"year": 2026, "month": 11, "day": 24}}}),
        ]
    );
    assert_eq!(
        m.filters("daily-resting-heart-rate"),
        [
            r#"daily_resting_heart_rate.date >= "2026-11-09" AND daily_resting_heart_rate.date < "2026-11-24""#
        ]
    );

    // Activities: every page, nothing filtered by a notification.
    let acts = objects(
        n.fetch_range(
            &e.conn,
            &e.ctx,
            EventType::Activity,
            d("2026-11-09"),
            d("2026-11-11"),
            true,
        )
        .await
        .unwrap(),
    );
    let ids: Vec<&str> = acts
        .iter()
        .map(|a| a["metadata"]["summary_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["2026443605080188808", "2026443605080177001"]);

    let sleeps = objects(
        n.fetch_range(
            &e.conn,
            &e.ctx,
            EventType::Sleep,
            d("2026-11-08"),
            d("2026-11-11"),
            true,
        )
        .await
        .unwrap(),
    );
    assert_eq!(sleeps.len(), 2);
    let bodies = objects(
        n.fetch_range(
            &e.conn,
            &e.ctx,
            EventType::Body,
            d("2026-11-08"),
            d("2026-11-11"),
            true,
        )
        .await
        .unwrap(),
    );
    let days: Vec<&str> = bodies
        .iter()
        .map(|b| b["metadata"]["start_time"].as_str().unwrap())
        .collect();
    assert_eq!(
        days,
        ["2026-11-08T00:00:00-08:00", "2026-11-10T00:00:00-08:00"]
    );
    assert!(n.range_support(EventType::Nutrition).is_none());
    assert_eq!(
        n.range_support(EventType::Sleep).unwrap().window_days,
        WINDOW_DAYS
    );
    assert!(n
        .fetch_range(
            &e.conn,
            &e.ctx,
            EventType::Menstruation,
            d("2026-11-08"),
            d("2026-11-09"),
            true
        )
        .await
        .is_err());
}

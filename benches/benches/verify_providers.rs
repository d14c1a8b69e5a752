//! What each provider's verification costs, per notification, against Strava's
//! unsigned check measured in the same run (the baseline: parse + field checks only).
//! Each body is the provider's documented example shape, signed here with the provider's
//! scheme (independently of the verifier). Replay guards are off so the same signed
//! sample can be verified repeatedly; their cost is one hash-set insert.

#![allow(
    clippy::unwrap_used,
    reason = "benchmark setup: a fixture that fails to build should stop the run"
)]

use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName, HeaderValue};
use pulsegate_ingest::{IngestRequest, ProviderVerifier};
use pulsegate_providers::{fitbit, garmin, huawei, oura, polar, strava, suunto, whoop, withings};
use pulsegate_schema::{now_ms, Secret};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

fn headers(pairs: &[(&str, String)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

/// One provider's verifier with a signed sample request.
struct Case {
    name: &'static str,
    verifier: Box<dyn ProviderVerifier>,
    headers: HeaderMap,
    body: Bytes,
}

fn cases() -> Vec<Case> {
    let now = now_ms();
    let mut cases = Vec::new();

    let body = Bytes::from_static(br#"{"aspect_type":"update","event_time":1516126040,"object_id":1360128428,"object_type":"activity","owner_id":134815,"subscription_id":120475,"updates":{"title":"Messy"}}"#);
    cases.push(Case {
        name: "strava (unsigned: baseline)",
        verifier: Box::new(strava::verify::StravaVerifier::new(
            strava::verify::StravaConfig {
                subscription_id: 120475,
                verify_token: Secret::new("t"),
            },
        )),
        headers: HeaderMap::new(),
        body,
    });

    let secret = b64(b"huawei-subscriber-secret");
    let (open_id, event_type) = ("MDFAMzIwNjE1ODI", "ACTIVITY_RECORD_EVENT$UPDATE");
    let msg = format!("{open_id}_{event_type}_{now}");
    let sig = b64(&sha256(b"huawei-subscriber-secret", &[msg.as_bytes()]));
    cases.push(Case {
        name: "huawei",
        verifier: Box::new(huawei::verify::HuaweiVerifier::new(huawei::verify::HuaweiConfig {
            subscriber_secret: Secret::new(secret),
            replay_capacity: 0,
            ..Default::default()
        })),
        headers: headers(&[("x-notification-signature", sig)]),
        body: Bytes::from(format!(
            r#"{{"openId":"{open_id}","eventType":"{event_type}","eventTime":{now},"metaData":{{"startTime":{},"endTime":{now}}}}}"#,
            now - 3_600_000
        )),
    });

    let body = Bytes::from_static(br#"[{"collectionType":"activities","date":"2010-03-01","ownerId":"228S74","ownerType":"user","subscriptionId":"1234"},{"collectionType":"sleep","date":"2010-03-01","ownerId":"228S74","ownerType":"user","subscriptionId":"1234"}]"#);
    let mut m = Hmac::<sha1::Sha1>::new_from_slice(b"fitbit-secret&").unwrap();
    m.update(&body);
    cases.push(Case {
        name: "fitbit",
        verifier: Box::new(fitbit::verify::FitbitVerifier::new(
            fitbit::verify::FitbitConfig {
                verification_code: Secret::new("code"),
                client_secret: Secret::new("fitbit-secret"),
                // The same body is verified over and over.
                replay_window_secs: 0,
                ..fitbit::verify::FitbitConfig::default()
            },
        )),
        headers: headers(&[("x-fitbit-signature", b64(&m.finalize().into_bytes()))]),
        body,
    });

    cases.push(Case {
        name: "garmin",
        verifier: Box::new(garmin::verify::GarminVerifier::new(garmin::verify::GarminConfig {
            client_id: "garmin-client".into(),
            ..Default::default()
        })),
        headers: headers(&[("garmin-client-id", "garmin-client".into())]),
        body: Bytes::from_static(br#"{"dailies":[{"userId":"4aacafe82427c251df9c9592d0c06768","summaryId":"x","calendarDate":"2016-01-11","steps":4210,"durationInSeconds":86400,"startTimeInSeconds":1452470400,"startTimeOffsetInSeconds":3600}]}"#),
    });

    let body = Bytes::from_static(br#"{"event_type":"update","data_type":"sleep","object_id":"12345abc","event_time":"2023-01-01T08:00:00+00:00","user_id":"user123"}"#);
    let ts = (now / 1000).to_string();
    let sig = hex::encode_upper(sha256(b"oura-secret", &[ts.as_bytes(), &body]));
    cases.push(Case {
        name: "oura",
        verifier: Box::new(oura::verify::OuraVerifier::new(oura::verify::OuraConfig {
            client_secret: Secret::new("oura-secret"),
            verification_token: Secret::new("v"),
            timestamp_tolerance_secs: 86_400,
            replay_capacity: 0,
        })),
        headers: headers(&[("x-oura-signature", sig), ("x-oura-timestamp", ts)]),
        body,
    });

    let body = Bytes::from_static(br#"{"event":"EXERCISE","user_id":475,"entity_id":"aQlC83","timestamp":"2026-11-25T14:22:24Z","url":"https://www.polaraccesslink.com/v3/exercises/aQlC83"}"#);
    let sig = hex::encode(sha256(b"polar-key", &[&body]));
    cases.push(Case {
        name: "polar",
        verifier: Box::new(polar::verify::PolarVerifier::new(
            polar::verify::PolarConfig {
                signature_secret_key: Secret::new("polar-key"),
                timestamp_tolerance_secs: 365 * 86_400,
                replay_capacity: 0,
                ..Default::default()
            },
        )),
        headers: headers(&[
            ("polar-webhook-signature", sig),
            ("polar-webhook-event", "EXERCISE".into()),
        ]),
        body,
    });

    let body = Bytes::from_static(br#"{"user_id":456,"id":"550e8400-e29b-41d4-a716-446655440000","type":"sleep.updated","trace_id":"e369c784-5100-49e8-8098-75d35c47b31b"}"#);
    let ts = now.to_string();
    let sig = b64(&sha256(b"whoop-secret", &[ts.as_bytes(), &body]));
    cases.push(Case {
        name: "whoop",
        verifier: Box::new(whoop::verify::WhoopVerifier::new(
            whoop::verify::WhoopConfig {
                client_secret: Secret::new("whoop-secret"),
                timestamp_tolerance_secs: 86_400,
                replay_capacity: 0,
            },
        )),
        headers: headers(&[
            ("x-whoop-signature", sig),
            ("x-whoop-signature-timestamp", ts),
        ]),
        body,
    });

    // Suunto's documented WORKOUT_CREATED (672 B: the workout rides along, unread).
    let body = Bytes::from_static(include_bytes!(
        "../../crates/providers/src/suunto/workout_created_example.json"
    ));
    let sig = hex::encode(sha256(b"suunto-secret", &[&body]));
    cases.push(Case {
        name: "suunto",
        verifier: Box::new(suunto::verify::SuuntoVerifier::new(
            suunto::verify::SuuntoIngestConfig {
                notification_secret: Secret::new("suunto-secret"),
                replay_window_secs: 0,
                ..Default::default()
            },
        )),
        headers: headers(&[("x-hmac-sha256-signature", sig)]),
        body,
    });

    cases.push(Case {
        name: "withings (form body to JSON)",
        verifier: Box::new(withings::verify::WithingsVerifier::new(
            withings::verify::WithingsConfig {
                enabled: true,
                ..Default::default()
            },
        )),
        headers: headers(&[("content-type", "application/x-www-form-urlencoded".into())]),
        body: Bytes::from_static(b"userid=12345&appli=1&startdate=1530576000&enddate=1530698753"),
    });
    cases
}

fn verify(c: &mut Criterion) {
    let cases = cases();
    let mut g = c.benchmark_group("verify_providers");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(3));
    for case in &cases {
        let req = IngestRequest::new(&case.headers, &case.body);
        assert!(
            case.verifier.verify(&req).is_ok_and(|n| !n.is_empty()),
            "{}: the sample must verify",
            case.name
        );
        g.bench_function(case.name, |b| {
            b.iter(|| {
                case.verifier
                    .verify(&IngestRequest::new(&case.headers, &case.body))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);

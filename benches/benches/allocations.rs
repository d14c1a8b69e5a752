//! Allocations per event on the hot paths, counted (not timed) with dhat's global
//! allocator: how many blocks and bytes one event costs in each step, and whether any
//! step allocates a multiple of the body (a body copied or parsed twice).
//!
//! `cargo bench -p pulsegate-benches --bench allocations` prints one row per step and
//! body size. Counts are exact and repeatable (they do not depend on the machine's load).

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a counting run: a fixture that fails should stop it; the table is its output"
)]

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use hyper::HeaderMap;
use pulsegate_ingest::{encode_notification, IngestRequest, ProviderVerifier};
use pulsegate_provider::{Limiters, ProviderNormalizer, RetryConfig};
use pulsegate_providers::garmin::verify::{GarminConfig, GarminVerifier};
use pulsegate_providers::garmin::GarminNormalizer;
use pulsegate_providers::strava::verify::{StravaConfig, StravaVerifier};
use pulsegate_providers::suunto::verify::{SuuntoIngestConfig, SuuntoVerifier};
use pulsegate_schema::{Provider, RawNotification, Secret};
use pulsegate_state::{Sealer, SecurityConfig};
use serde_json::value::RawValue;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const EVENTS: u64 = 2_000;

struct Row {
    step: &'static str,
    body_bytes: usize,
    blocks: f64,
    bytes: f64,
}

/// Blocks and bytes allocated per call of `f`, over [`EVENTS`] calls (after one warm-up
/// call, so lazily built statics are not counted).
fn per_event(mut f: impl FnMut(u64)) -> (f64, f64) {
    f(0);
    let before = dhat::HeapStats::get();
    for i in 1..=EVENTS {
        f(i);
    }
    let after = dhat::HeapStats::get();
    (
        (after.total_blocks - before.total_blocks) as f64 / EVENTS as f64,
        (after.total_bytes - before.total_bytes) as f64 / EVENTS as f64,
    )
}

/// A Garmin push of about `size` bytes: one user's dailies, as Garmin sends them.
fn garmin_push(size: usize) -> Bytes {
    let one = r#"{"userId":"4aacafe82427c251df9c9592d0c06768","summaryId":"x","calendarDate":"2016-01-11","steps":4210,"durationInSeconds":86400,"startTimeInSeconds":1452470400,"startTimeOffsetInSeconds":3600}"#;
    let n = (size / (one.len() + 1)).max(1);
    let items: Vec<&str> = std::iter::repeat_n(one, n).collect();
    Bytes::from(format!(r#"{{"dailies":[{}]}}"#, items.join(",")))
}

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let mut rows = Vec::new();

    // Ingest: verify + encode for the bus (Strava: a small unsigned push).
    let strava = StravaVerifier::new(StravaConfig {
        subscription_id: 7,
        verify_token: Secret::new("t"),
    });
    let empty = HeaderMap::new();
    let bodies: Vec<Bytes> = (0..64)
        .map(|i| Bytes::from(pulsegate_benches::strava_event(i + 1, i % 10 + 1, 7)))
        .collect();
    let (blocks, bytes) = per_event(|i| {
        let body = &bodies[i as usize % bodies.len()];
        let n = strava
            .verify(&IngestRequest::new(&empty, body))
            .unwrap()
            .pop()
            .unwrap();
        std::hint::black_box(encode_notification(Provider::Strava, n, 1).unwrap());
    });
    rows.push(Row {
        step: "ingest strava: verify + encode",
        body_bytes: bodies[0].len(),
        blocks,
        bytes,
    });

    // Ingest of a signed push that names the data (Suunto's documented WORKOUT_CREATED,
    // 672 B with the workout riding along): HMAC, parse, encode.
    let suunto = SuuntoVerifier::new(SuuntoIngestConfig {
        notification_secret: Secret::new("suunto-secret"),
        replay_window_secs: 0,
        ..Default::default()
    });
    let body = Bytes::from_static(include_bytes!(
        "../../crates/providers/src/suunto/workout_created_example.json"
    ));
    let mut signed = HeaderMap::new();
    let mac = {
        use hmac::{Hmac, Mac};
        let mut m = Hmac::<sha2::Sha256>::new_from_slice(b"suunto-secret").unwrap();
        m.update(&body);
        hex::encode(m.finalize().into_bytes())
    };
    signed.insert(
        HeaderName::from_static("x-hmac-sha256-signature"),
        HeaderValue::from_str(&mac).unwrap(),
    );
    let (blocks, bytes) = per_event(|_| {
        let n = suunto
            .verify(&IngestRequest::new(&signed, &body))
            .unwrap()
            .pop()
            .unwrap();
        std::hint::black_box(encode_notification(Provider::Suunto, n, 1).unwrap());
    });
    rows.push(Row {
        step: "ingest suunto: verify + encode",
        body_bytes: body.len(),
        blocks,
        bytes,
    });

    // Ingest of a push that carries its data (Garmin), at two body sizes: bytes per
    // event over body size says how many times the body is copied.
    let garmin = GarminVerifier::new(GarminConfig {
        client_id: "garmin-client".into(),
        ..Default::default()
    });
    let mut headers = HeaderMap::new();
    headers.insert(
        HeaderName::from_static("garmin-client-id"),
        HeaderValue::from_static("garmin-client"),
    );
    for size in [4 * 1024, 256 * 1024] {
        let body = garmin_push(size);
        let (blocks, bytes) = per_event(|_| {
            for n in garmin.verify(&IngestRequest::new(&headers, &body)).unwrap() {
                std::hint::black_box(encode_notification(Provider::Garmin, n, 1).unwrap());
            }
        });
        rows.push(Row {
            step: "ingest garmin: verify + encode",
            body_bytes: body.len(),
            blocks,
            bytes,
        });
    }

    // The normalizer's duplicate check of a Garmin push (runs for every push): its key
    // per body size says whether the body is parsed or copied for it.
    let normalizer = GarminNormalizer::new(
        &pulsegate_providers::garmin::GarminConfig::default(),
        &RetryConfig::default(),
        &Limiters::new(),
    )
    .unwrap();
    for size in [4 * 1024, 256 * 1024] {
        let body = garmin_push(size);
        let raw = RawNotification {
            id: "n-1".into(),
            provider: Provider::Garmin,
            provider_user_id: "4aacafe82427c251df9c9592d0c06768".into(),
            received_at_ms: 1,
            body: RawValue::from_string(String::from_utf8(body.to_vec()).unwrap()).unwrap(),
        };
        let (blocks, bytes) = per_event(|_| {
            std::hint::black_box(normalizer.dedupe_key(&raw).unwrap());
        });
        rows.push(Row {
            step: "normalizer garmin: dedupe key",
            body_bytes: body.len(),
            blocks,
            bytes,
        });
    }

    // Sealing a record for the log (AES-GCM with the record's place as associated data).
    let sealer = Sealer::from_config(&SecurityConfig {
        encryption_key: Secret::new("BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="),
        ..Default::default()
    })
    .unwrap()
    .unwrap();
    for size in [1024usize, 64 * 1024] {
        let value: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        let (blocks, bytes) = per_event(|_| {
            std::hint::black_box(sealer.seal("events", b"strava:1", &value));
        });
        rows.push(Row {
            step: "seal a record",
            body_bytes: size,
            blocks,
            bytes,
        });
        let sealed = sealer.seal("events", b"strava:1", &value);
        let (blocks, bytes) = per_event(|_| {
            std::hint::black_box(sealer.open("events", b"strava:1", &sealed).unwrap());
        });
        rows.push(Row {
            step: "open a record",
            body_bytes: size,
            blocks,
            bytes,
        });
    }

    println!(
        "{:<34} {:>10} {:>14} {:>14} {:>12}",
        "step", "body B", "allocs/event", "bytes/event", "bytes/body"
    );
    for r in &rows {
        println!(
            "{:<34} {:>10} {:>14.1} {:>14.0} {:>12.2}",
            r.step,
            r.body_bytes,
            r.blocks,
            r.bytes,
            r.bytes / r.body_bytes as f64
        );
    }
}

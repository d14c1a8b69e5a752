//! Decoding a provider API's answer into its typed shape (the Strava fetch's
//! `DetailedActivity`): serde_json (the baseline, measured in the same run) against
//! simd-json, which parses in place and so needs a mutable copy unless the body is
//! uniquely owned, with and without reused buffers. And the same question for a small
//! push parsed into borrowed fields (the shape of the Strava verifier's `StravaEvent`,
//! which parses with serde_json since this bench measured it).

#![allow(
    clippy::unwrap_used,
    reason = "benchmark setup: a fixture that fails to build should stop the run"
)]

use std::borrow::Cow;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pulsegate_providers::strava::mapping::DetailedActivity;

fn bodies() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "mock activity",
            serde_json::to_vec(&pulsegate_testkit::strava::detailed_activity(7, 42)).unwrap(),
        ),
        (
            "Strava's documented example",
            include_bytes!("../../crates/providers/src/strava/detailed_activity_example.json")
                .to_vec(),
        ),
    ]
}

fn decode(c: &mut Criterion) {
    for (name, body) in bodies() {
        let mut g = c.benchmark_group(format!("decode {name} ({} B)", body.len()));
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.measurement_time(Duration::from_secs(4));
        g.bench_function("serde_json (baseline)", |b| {
            b.iter(|| serde_json::from_slice::<DetailedActivity>(&body).unwrap())
        });
        g.bench_function("simd-json, copy", |b| {
            b.iter(|| {
                let mut scratch = body.clone();
                simd_json::serde::from_slice::<DetailedActivity>(&mut scratch).unwrap()
            })
        });
        let mut buffers = simd_json::Buffers::new(body.len());
        g.bench_function("simd-json, copy, reused buffers", |b| {
            b.iter(|| {
                let mut scratch = body.clone();
                simd_json::serde::from_slice_with_buffers::<DetailedActivity>(
                    &mut scratch,
                    &mut buffers,
                )
                .unwrap()
            })
        });
        g.finish();
    }
}

/// The fields of a Strava push as its verifier reads them (a copy of that private shape).
#[derive(serde::Deserialize)]
#[allow(dead_code, reason = "parsed for the measurement, never read")]
struct StravaPush<'a> {
    #[serde(borrow)]
    object_type: Cow<'a, str>,
    object_id: u64,
    #[serde(borrow)]
    aspect_type: Cow<'a, str>,
    updates: serde::de::IgnoredAny,
    owner_id: u64,
    subscription_id: u64,
    event_time: u64,
}

fn push(c: &mut Criterion) {
    let body = pulsegate_benches::strava_event(1_234_567_890, 42, 7).into_bytes();
    let mut g = c.benchmark_group(format!("parse a Strava push ({} B)", body.len()));
    g.measurement_time(Duration::from_secs(4));
    g.bench_function("serde_json (baseline)", |b| {
        b.iter(|| {
            serde_json::from_slice::<StravaPush<'_>>(&body)
                .unwrap()
                .object_id
        })
    });
    g.bench_function("simd-json, copy", |b| {
        b.iter(|| {
            let mut scratch = body.clone();
            simd_json::serde::from_slice::<StravaPush<'_>>(&mut scratch)
                .unwrap()
                .object_id
        })
    });
    g.finish();
}

criterion_group!(benches, decode, push);
criterion_main!(benches);

//! The ingest hot path without HTTP: verify a Strava push, wrap it for the bus, and
//! append it durably to the embedded log with group commit, 64 producers at a time
//! (what concurrent HTTP connections look like). The verify-only and an
//! fsync-per-record variant are measured in the same run as baselines, so the figures
//! read as ratios on this noisy machine.

#![allow(
    clippy::unwrap_used,
    reason = "benchmark setup: a fixture that fails to build should stop the run"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pulsegate_bus::embedded::{EmbeddedBus, EmbeddedConfig};
use pulsegate_bus::{Bus, TopicSpec};
use pulsegate_ingest::{encode_notification, IngestRequest, ProviderVerifier};
use pulsegate_providers::strava::verify::{StravaConfig, StravaVerifier};
use pulsegate_schema::{topics, Provider, Secret};

const PRODUCERS: usize = 64;

fn verifier() -> Arc<StravaVerifier> {
    Arc::new(StravaVerifier::new(StravaConfig {
        subscription_id: 7,
        verify_token: Secret::new("t"),
    }))
}

fn bodies(n: usize) -> Vec<Bytes> {
    (0..n)
        .map(|i| {
            Bytes::from(pulsegate_benches::strava_event(
                i as u64 + 1,
                (i % 1000) as u64 + 1,
                7,
            ))
        })
        .collect()
}

fn ingest(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bus = rt.block_on(async {
        let bus = EmbeddedBus::open(EmbeddedConfig::new(dir.path())).unwrap();
        bus.ensure_topic(&TopicSpec::new(topics::RAW, 8))
            .await
            .unwrap();
        bus
    });
    let bus: Arc<dyn Bus> = Arc::new(bus);
    let v = verifier();
    let sample = bodies(4096);
    let headers = axum_headers();

    let mut g = c.benchmark_group("ingest_hot_path");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(8));

    g.bench_function("verify_and_encode", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % sample.len();
            let n = v
                .verify(&IngestRequest::new(&headers, &sample[i]))
                .unwrap()
                .pop()
                .unwrap();
            encode_notification(Provider::Strava, n, 1).unwrap()
        })
    });

    g.bench_function("verify_encode_append_group_commit_64_producers", |b| {
        b.iter_custom(|iters| {
            let bus = bus.clone();
            let v = v.clone();
            let sample = sample.clone();
            rt.block_on(async move {
                let started = Instant::now();
                let per = (iters as usize).div_ceil(PRODUCERS);
                let mut tasks = Vec::new();
                for p in 0..PRODUCERS {
                    let (bus, v, sample) = (bus.clone(), v.clone(), sample.clone());
                    tasks.push(tokio::spawn(async move {
                        let headers = axum_headers();
                        for i in 0..per {
                            let body = &sample[(p * per + i) % sample.len()];
                            let n = v
                                .verify(&IngestRequest::new(&headers, body))
                                .unwrap()
                                .pop()
                                .unwrap();
                            let (_, rec) = encode_notification(Provider::Strava, n, 1).unwrap();
                            bus.append(topics::RAW, rec).await.unwrap();
                        }
                    }));
                }
                for t in tasks {
                    t.await.unwrap();
                }
                // Normalise to the requested iteration count.
                started
                    .elapsed()
                    .mul_f64(iters as f64 / (per * PRODUCERS) as f64)
            })
        })
    });

    g.bench_function("verify_encode_append_one_producer_fsync_each", |b| {
        b.iter_custom(|iters| {
            let bus = bus.clone();
            let v = v.clone();
            let sample = sample.clone();
            rt.block_on(async move {
                let headers = axum_headers();
                let started = Instant::now();
                for i in 0..iters as usize {
                    let n = v
                        .verify(&IngestRequest::new(&headers, &sample[i % sample.len()]))
                        .unwrap()
                        .pop()
                        .unwrap();
                    let (_, rec) = encode_notification(Provider::Strava, n, 1).unwrap();
                    bus.append(topics::RAW, rec).await.unwrap();
                }
                started.elapsed()
            })
        })
    });
    g.finish();
}

fn axum_headers() -> hyper::HeaderMap {
    hyper::HeaderMap::new()
}

criterion_group!(benches, ingest);
criterion_main!(benches);

//! What sealing a log record costs (crates/state/src/seal.rs): seal and open of a 1 KiB
//! and a 16 KiB value, against a plain copy of the same bytes into a fresh buffer (what
//! any layer handing the bytes on pays at least).

#![allow(
    clippy::unwrap_used,
    reason = "benchmark setup: a fixture that fails to build should stop the run"
)]

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pulsegate_schema::Secret;
use pulsegate_state::{Sealer, SecurityConfig};

fn sealer() -> Sealer {
    Sealer::from_config(&SecurityConfig {
        encryption_key: Secret::new("BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="),
        ..Default::default()
    })
    .unwrap()
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let s = sealer();
    for size in [1024usize, 16 * 1024] {
        let value: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        let key = b"strava:123456";
        let sealed = s.seal("events", key, &value);
        let mut g = c.benchmark_group(format!("record_{}KiB", size / 1024));
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function("copy", |b| {
            b.iter(|| Bytes::from(std::hint::black_box(&value[..]).to_vec()))
        });
        g.bench_function("seal", |b| {
            b.iter(|| Bytes::from(s.seal("events", key, std::hint::black_box(&value))))
        });
        g.bench_function("open", |b| {
            b.iter(|| {
                s.open("events", key, std::hint::black_box(&sealed))
                    .unwrap()
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

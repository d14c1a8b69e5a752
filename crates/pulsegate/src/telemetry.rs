//! Logs (tracing) and metrics (Prometheus text at /metrics).

use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogConfig;

pub fn init_logs(cfg: &LogConfig) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&cfg.level)
        .map_err(|e| anyhow::anyhow!("invalid config: log.level: {e}"))?;
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour codes only on a terminal, not in files or log collectors.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let result = match cfg.format.as_str() {
        "json" => builder.json().try_init(),
        "text" => builder.try_init(),
        other => anyhow::bail!("invalid config: log.format: expected text or json, got {other:?}"),
    };
    result.map_err(|e| anyhow::anyhow!("could not install the logger: {e}"))
}

/// Installs the Prometheus recorder. Latency histograms get explicit buckets so they
/// render as Prometheus histograms (aggregatable across processes).
pub fn init_metrics() -> anyhow::Result<PrometheusHandle> {
    const LATENCY: &[f64] = &[
        0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        60.0, 300.0, 1800.0, 7200.0,
    ];
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY)?
        .install_recorder()?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    describe();
    Ok(handle)
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "pulsegate_ingest_requests_total",
        "Provider pushes by provider and outcome (accepted, rejected, unavailable)."
    );
    describe_counter!(
        "pulsegate_ingest_rejects_total",
        "Refused provider pushes by reason (signature, malformed, forbidden, body)."
    );
    describe_histogram!(
        "pulsegate_ingest_seconds",
        Unit::Seconds,
        "Receipt to 2xx for accepted pushes, including the durable append."
    );
    describe_histogram!(
        "pulsegate_bus_append_seconds",
        Unit::Seconds,
        "Time for an append to become durable."
    );
    describe_histogram!(
        "pulsegate_bus_commit_seconds",
        Unit::Seconds,
        "Embedded log: one group commit (write + fsync)."
    );
    describe_histogram!(
        "pulsegate_bus_commit_batch_records",
        "Embedded log: records per group commit."
    );
    describe_gauge!(
        "pulsegate_consumer_lag",
        "Records appended but not yet committed, by topic, group and partition."
    );
    describe_counter!(
        "pulsegate_consumer_records_total",
        "Records processed by each consumer loop."
    );
    describe_gauge!("pulsegate_up", "1 while the process runs; label role.");
    describe_counter!(
        "pulsegate_admin_auth_failures_total",
        "Admin API calls with a wrong or missing token."
    );
    describe_counter!(
        "pulsegate_admin_auth_throttled_total",
        "Admin API calls refused with 429 after repeated wrong tokens from one address."
    );
    // Label-free counters that alerts and panels use, at 0 from the start: a series
    // that first appears with its first increment makes `increase()` miss that one
    // (there is no earlier sample to compare with) and leaves panels empty.
    for name in [
        "pulsegate_admin_auth_failures_total",
        "pulsegate_admin_auth_throttled_total",
    ] {
        metrics::counter!(name).absolute(0);
    }
}

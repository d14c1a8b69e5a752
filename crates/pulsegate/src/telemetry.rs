//! Logs (tracing) and metrics (Prometheus text at /metrics).
//!
//! The log filter can change without a restart: `PUT /v1/admin/log-level` (through
//! [`LogControl`], the admin API's `LogLevel` port) and `SIGUSR1`, which toggles
//! between the configured filter and [`debug_filter`] (the configured one with
//! pulsegate's own crates at debug).

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

use crate::config::LogConfig;

/// Target of the one line per request on the public listener (`edge.rs`).
pub const ACCESS_TARGET: &str = "pulsegate::access";

/// The installed subscriber's filter, reloadable.
pub struct LogControl {
    handle: reload::Handle<EnvFilter, Registry>,
    configured: String,
    current: Mutex<String>,
}

static CONTROL: OnceLock<LogControl> = OnceLock::new();

/// The log filter of this process, once [`init_logs`] installed the subscriber.
pub fn log_control() -> Option<&'static LogControl> {
    CONTROL.get()
}

impl LogControl {
    pub fn current(&self) -> String {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn configured(&self) -> String {
        self.configured.clone()
    }

    /// Parses `filter` and puts it in force; on error the filter in force stays.
    pub fn set(&self, filter: &str, by: &'static str) -> Result<(), String> {
        let parsed = EnvFilter::builder()
            .with_regex(false)
            .parse(filter)
            .map_err(|e| e.to_string())?;
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        self.handle
            .reload(parsed)
            .map_err(|e| format!("the logger refused the filter: {e}"))?;
        *current = filter.to_string();
        drop(current);
        tracing::info!(filter, by, "log filter changed");
        Ok(())
    }

    /// `SIGUSR1`: debug for pulsegate's crates, or back to the configured filter.
    fn toggle(&self) {
        let debug = debug_filter(&self.configured);
        let next = if self.current() == debug {
            self.configured.clone()
        } else {
            debug
        };
        if let Err(e) = self.set(&next, "SIGUSR1") {
            tracing::error!(error = %e, "log filter not toggled");
        }
    }
}

/// The configured filter with every pulsegate crate (`pulsegate`, `pulsegate_*`) at
/// debug; other crates stay as configured (hyper, rustls, fjall at debug are noise).
pub fn debug_filter(configured: &str) -> String {
    format!("{configured},pulsegate=debug")
}

/// The storage engine's crates log every table they write at INFO (dozens of lines at
/// each start): they are held at warn unless the filter names them itself.
fn with_quiet_storage(level: &str) -> String {
    let mut filter = level.to_string();
    for noisy in ["fjall", "lsm_tree"] {
        if !level.contains(noisy) {
            filter.push_str(&format!(",{noisy}=warn"));
        }
    }
    filter
}

pub fn init_logs(cfg: &LogConfig) -> anyhow::Result<()> {
    let level = with_quiet_storage(&cfg.level);
    let filter = EnvFilter::try_new(&level)
        .map_err(|e| anyhow::anyhow!("invalid config: log.level: {e}"))?;
    let (filter, handle) = reload::Layer::new(filter);
    use std::io::IsTerminal;
    let fmt = tracing_subscriber::fmt::layer()
        // Colour codes only on a terminal, not in files or log collectors.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry().with(filter);
    let result = match cfg.format.as_str() {
        "json" => registry.with(fmt.json()).try_init(),
        "text" => registry.with(fmt).try_init(),
        other => anyhow::bail!("invalid config: log.format: expected text or json, got {other:?}"),
    };
    result.map_err(|e| anyhow::anyhow!("could not install the logger: {e}"))?;
    let control = CONTROL.get_or_init(|| LogControl {
        handle,
        configured: level.clone(),
        current: Mutex::new(level),
    });
    #[cfg(unix)]
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(toggle_on_sigusr1(control));
    }
    Ok(())
}

#[cfg(unix)]
async fn toggle_on_sigusr1(control: &'static LogControl) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut usr1 = match signal(SignalKind::user_defined1()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "SIGUSR1 not handled: the log filter cannot be toggled by signal");
            return;
        }
    };
    while usr1.recv().await.is_some() {
        control.toggle();
    }
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

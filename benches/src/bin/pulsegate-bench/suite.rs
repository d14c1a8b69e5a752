//! `pulsegate-bench --suite`: every target of docs/PERFORMANCE.md measured in one
//! command, each against a baseline from the same invocation, printed as one table and
//! written as JSON.

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context;

use crate::{free_port, run, ChildGuard, Cli, Figures, Window, ADMIN_TOKEN};

/// One row of the table.
struct Row {
    name: &'static str,
    figure: f64,
    unit: &'static str,
    baseline: Option<(f64, &'static str)>,
    /// The ratio (or the figure itself when there is no baseline) and its bound.
    value: f64,
    target: Target,
}

#[derive(Clone, Copy)]
enum Target {
    AtLeast(f64),
    AtMost(f64),
    /// Shown for reading the others; no target of its own.
    Info,
}

impl Target {
    fn passes(self, v: f64) -> bool {
        match self {
            Target::AtLeast(t) => v >= t,
            Target::AtMost(t) => v <= t,
            Target::Info => true,
        }
    }

    fn text(self) -> String {
        match self {
            Target::AtLeast(t) => format!(">= {t}"),
            Target::AtMost(t) => format!("<= {t}"),
            Target::Info => "-".into(),
        }
    }
}

fn with(cli: &Cli, f: impl FnOnce(&mut Cli)) -> Cli {
    let mut c = cli.clone();
    f(&mut c);
    c
}

async fn measure(label: &str, cli: Cli) -> anyhow::Result<Figures> {
    println!("\n== {label}");
    let mut cli = cli;
    if cli.perf_out.is_some() {
        // One profile per scenario: the label, in file-name form.
        let slug: String = label
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let mut p = cli.perf_out.take().unwrap_or_default().into_os_string();
        p.push(format!("-{slug}"));
        cli.perf_out = Some(p.into());
    }
    run(cli).await.with_context(|| format!("suite: {label}"))
}

/// Only the ingest scenario's half-load runs are in the table.
fn no_half(c: &mut Cli) {
    c.skip_half = true;
}

/// The worst p99 among `windows` with (`stalled`) or without a disk stall, and how many.
fn worst(windows: &[Window], stalled: bool) -> (f64, usize) {
    let of: Vec<f64> = windows
        .iter()
        .filter(|w| w.disk_stalled == stalled)
        .map(|w| w.p99_ms)
        .collect();
    (of.iter().copied().fold(f64::NAN, f64::max), of.len())
}

fn windows_json(windows: &[Window]) -> serde_json::Value {
    windows
        .iter()
        .enumerate()
        .map(|(i, w)| {
            serde_json::json!({
                "start_s": i as f64 * pulsegate_benches::load::LONG_WINDOW.as_secs_f64(),
                "p99_ms": w.p99_ms,
                "requests": w.requests,
                "disk_worst_fdatasync_ms": w.disk_worst_ms,
                "disk_stalled": w.disk_stalled,
                "foreign_cpu_pct_worst_second": w.foreign_cpu_pct,
                "foreign_cpu_top": w.foreign_top,
                "unattributed_cpu_pct": w.unattributed_cpu_pct,
            })
        })
        .collect()
}

/// The bare relay (the same HTTP exchanges, nothing else) against the ceiling, and the
/// scenario's delivered/s against it: how much of a pipeline miss is the setup's own
/// limit and how much is pulsegate's work.
fn relay_rows(rows: &mut Vec<Row>, f: &Figures, [limit, share]: [&'static str; 2]) {
    let (Some(relay), Some(delivered)) = (f.relay_delivered, f.delivered) else {
        return;
    };
    rows.push(Row {
        name: limit,
        figure: relay,
        unit: "events/s",
        baseline: Some((f.ceiling.rate(), "bare hyper")),
        value: relay / f.ceiling.rate(),
        target: Target::Info,
    });
    rows.push(Row {
        name: share,
        figure: delivered,
        unit: "events/s",
        baseline: Some((relay, "bare relay")),
        value: delivered / relay,
        target: Target::Info,
    });
}

pub async fn run_suite(cli: Cli) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    let mut extra = serde_json::Map::new();

    // Ingest against bare hyper, and the ack tail at half that load.
    let ingest = measure(
        "ingest only",
        with(&cli, |c| {
            c.ingest_only = true;
        }),
    )
    .await?;
    let ceiling = ingest.ceiling.rate();
    rows.push(Row {
        name: "ingest acked/s (verify + fsync + 2xx)",
        figure: ingest.acked.rate(),
        unit: "req/s",
        baseline: Some((ceiling, "bare hyper")),
        value: ingest.acked.rate() / ceiling,
        target: Target::AtLeast(0.6),
    });
    rows.push(Row {
        name: "ingest CPU per acked request (user + system)",
        figure: ingest.cpu_us_per_ack,
        unit: "µs",
        baseline: None,
        value: ingest.cpu_us_per_ack,
        target: Target::Info,
    });
    let half = ingest
        .half
        .as_ref()
        .context("the ingest scenario's half load")?;
    let (clean, n_clean) = worst(&half.pulsegate_windows, false);
    let (stalled, n_stalled) = worst(&half.pulsegate_windows, true);
    let (bare_clean, bare_n_clean) = worst(&half.bare_windows, false);
    let (bare_stalled, bare_n_stalled) = worst(&half.bare_windows, true);
    println!(
        "half load: {n_clean} of {} 10 s windows without a disk stall (bare hyper run: {bare_n_clean} of {})",
        half.pulsegate_windows.len(),
        half.bare_windows.len()
    );
    rows.push(Row {
        name: "ack p99 half load, worst 10s window, disk ok",
        figure: clean,
        unit: "ms",
        baseline: Some((bare_clean, "bare hyper, same")),
        value: clean,
        target: Target::AtMost(10.0),
    });
    rows.push(Row {
        name: "ack p99 half load, worst 10s window, disk stall",
        figure: stalled,
        unit: "ms",
        baseline: Some((bare_stalled, "bare hyper, same")),
        value: stalled,
        target: Target::Info,
    });
    rows.push(Row {
        name: "ack p99 half load, whole run",
        figure: half.pulsegate.p99_ms,
        unit: "ms",
        baseline: Some((half.bare.p99_ms, "bare hyper, same rate")),
        value: half.pulsegate.p99_ms,
        target: Target::Info,
    });
    extra.insert(
        "half_load".into(),
        serde_json::json!({
            "rate": half.rate,
            "seconds": cli.half_seconds,
            "window_s": pulsegate_benches::load::LONG_WINDOW.as_secs_f64(),
            "disk_stall_ms": cli.disk_stall_ms,
            "pulsegate": {
                "p99_ms": half.pulsegate.p99_ms,
                "windows_without_disk_stall": n_clean,
                "windows_with_disk_stall": n_stalled,
                "worst_p99_without_disk_stall_ms": clean,
                "worst_p99_with_disk_stall_ms": stalled,
                "windows": windows_json(&half.pulsegate_windows),
            },
            "bare_hyper": {
                "p99_ms": half.bare.p99_ms,
                "windows_without_disk_stall": bare_n_clean,
                "windows_with_disk_stall": bare_n_stalled,
                "worst_p99_without_disk_stall_ms": bare_clean,
                "worst_p99_with_disk_stall_ms": bare_stalled,
                "windows": windows_json(&half.bare_windows),
            },
        }),
    );

    // The full pipeline (push -> mock Strava fetch -> delivery), one destination.
    let one = measure(
        "full pipeline, embedded, 1 destination",
        with(&cli, |c| {
            no_half(c);
            c.relay = true;
        }),
    )
    .await?;
    let delivered_one = one.delivered.unwrap_or(0.0);
    rows.push(Row {
        name: "pipeline delivered/s",
        figure: delivered_one,
        unit: "events/s",
        baseline: Some((one.ceiling.rate(), "bare hyper")),
        value: delivered_one / one.ceiling.rate(),
        target: Target::AtLeast(0.2),
    });
    relay_rows(
        &mut rows,
        &one,
        [
            "pipeline: bare relay delivered/s (its limit here)",
            "pipeline: pulsegate delivered/s vs bare relay",
        ],
    );

    // Pushes that carry their data (Garmin): push -> map -> delivery, no fetch.
    let garmin = measure(
        "full pipeline, Garmin pushes carrying the data",
        with(&cli, |c| {
            no_half(c);
            c.relay = true;
            c.provider = "garmin".into();
        }),
    )
    .await?;
    let delivered_garmin = garmin.delivered.unwrap_or(0.0);
    rows.push(Row {
        name: "Garmin delivered/s (push carries the data)",
        figure: delivered_garmin,
        unit: "events/s",
        baseline: Some((garmin.ceiling.rate(), "bare hyper, same pushes")),
        value: delivered_garmin / garmin.ceiling.rate(),
        target: Target::AtLeast(0.5),
    });
    relay_rows(
        &mut rows,
        &garmin,
        [
            "Garmin: bare relay delivered/s (its limit here)",
            "Garmin: pulsegate delivered/s vs bare relay",
        ],
    );

    // Fan-out: the time to deliver an event to 10 destinations against 1.
    let ten = measure(
        "full pipeline, embedded, 10 destinations",
        with(&cli, |c| {
            no_half(c);
            c.destinations = 10;
        }),
    )
    .await?;
    let events_per_s_ten = ten.delivered.unwrap_or(0.0) / 10.0;
    rows.push(Row {
        name: "fan-out: cost of 10 destinations vs 1",
        figure: events_per_s_ten,
        unit: "events/s to all 10",
        baseline: Some((delivered_one, "events/s to 1")),
        value: delivered_one / events_per_s_ten.max(f64::MIN_POSITIVE),
        target: Target::AtMost(10.0),
    });

    // State lookups with many users connected: ingest and delivery at 100,000 users.
    let many = measure(
        "full pipeline, 100,000 connected users",
        with(&cli, |c| {
            no_half(c);
            c.connected_users = 100_000;
        }),
    )
    .await?;
    let delivered_many = many.delivered.unwrap_or(0.0);
    rows.push(Row {
        name: "delivered/s at 100,000 users vs 100",
        figure: delivered_many,
        unit: "events/s",
        baseline: Some((delivered_one, "at 100 users")),
        value: delivered_many / delivered_one.max(f64::MIN_POSITIVE),
        target: Target::AtLeast(0.8),
    });

    // Partitions: ingest at 1 and at 64.
    let p1 = measure(
        "ingest only, 1 partition",
        with(&cli, |c| {
            no_half(c);
            c.ingest_only = true;
            c.partitions = 1;
        }),
    )
    .await?;
    let p64 = measure(
        "ingest only, 64 partitions",
        with(&cli, |c| {
            no_half(c);
            c.ingest_only = true;
            c.partitions = 64;
        }),
    )
    .await?;
    rows.push(Row {
        name: "ingest acked/s at 64 partitions vs 1",
        figure: p64.acked.rate(),
        unit: "req/s",
        baseline: Some((p1.acked.rate(), "at 1 partition")),
        value: p64.acked.rate() / p1.acked.rate().max(f64::MIN_POSITIVE),
        target: Target::AtLeast(0.8),
    });

    // The Kafka path against the embedded one, same session.
    let kafka = measure(
        "full pipeline, Kafka (tansu on the same cores)",
        with(&cli, |c| {
            no_half(c);
            c.bus = "kafka".into();
        }),
    )
    .await?;
    let delivered_kafka = kafka.delivered.unwrap_or(0.0);
    rows.push(Row {
        name: "Kafka delivered/s vs embedded",
        figure: delivered_kafka,
        unit: "events/s",
        baseline: Some((delivered_one, "embedded")),
        value: delivered_kafka / delivered_one.max(f64::MIN_POSITIVE),
        target: Target::AtLeast(0.5),
    });

    // pulsegate's own CPU per delivered event, Kafka against embedded: what the Kafka
    // path would deliver against the embedded one if the broker cost nothing (its CPU is
    // not in pulsegate's). The ratio is embedded's cost over Kafka's.
    rows.push(Row {
        name: "Kafka vs embedded, pulsegate CPU per delivery",
        figure: kafka.cpu_us_per_delivery,
        unit: "µs per delivery",
        baseline: Some((one.cpu_us_per_delivery, "µs, embedded")),
        value: one.cpu_us_per_delivery / kafka.cpu_us_per_delivery,
        target: Target::AtLeast(0.5),
    });

    // The broker off pulsegate's core: broker pinned to CPU 0, pulsegate to CPU 1, and
    // the embedded path pinned the same way (one core each). The broker's own speed on
    // its core still bounds this one.
    let embedded_pinned = measure(
        "full pipeline, embedded, pulsegate pinned to CPU 1",
        with(&cli, |c| {
            no_half(c);
            c.pin = true;
        }),
    )
    .await?;
    let kafka_pinned = measure(
        "full pipeline, Kafka, broker pinned to CPU 0, pulsegate to CPU 1",
        with(&cli, |c| {
            no_half(c);
            c.pin = true;
            c.bus = "kafka".into();
        }),
    )
    .await?;
    let embedded_pinned = embedded_pinned.delivered.unwrap_or(0.0);
    let kafka_pinned = kafka_pinned.delivered.unwrap_or(0.0);
    rows.push(Row {
        name: "Kafka vs embedded, broker on its own CPU",
        figure: kafka_pinned,
        unit: "events/s",
        baseline: Some((embedded_pinned, "embedded, pinned")),
        value: kafka_pinned / embedded_pinned.max(f64::MIN_POSITIVE),
        target: Target::AtLeast(0.5),
    });

    // A stalled destination: its backlog must stay on disk.
    let stalled = measure(
        "full pipeline with a stalled destination",
        with(&cli, |c| {
            no_half(c);
            c.stalled_destination = true;
            c.seconds = cli.stalled_seconds;
            c.events = Some(cli.stalled_events);
        }),
    )
    .await?;
    let backlog = stalled.acked.ok;
    rows.push(Row {
        name: "peak RSS, events behind a stalled destination",
        figure: stalled.peak_rss_mib,
        unit: "MiB",
        baseline: Some((backlog as f64, "events behind it")),
        // Fewer events than the target's count within the time cap prove nothing.
        value: if backlog >= cli.stalled_events {
            stalled.peak_rss_mib
        } else {
            f64::INFINITY
        },
        target: Target::AtMost(256.0),
    });

    let idle = idle_rss(&cli).await?;
    rows.push(Row {
        name: "idle RSS (serve, 20 s after start)",
        figure: idle,
        unit: "MiB",
        baseline: None,
        value: idle,
        target: Target::AtMost(40.0),
    });

    print_table(&rows);
    write_json(&cli, &rows, extra)?;
    Ok(())
}

fn print_table(rows: &[Row]) {
    println!(
        "\n{:<48} {:>12} {:<18} {:>12} {:<26} {:>8} {:>8} {:>5}",
        "measure", "figure", "unit", "baseline", "", "ratio", "target", ""
    );
    for r in rows {
        let (b, what) = r
            .baseline
            .map_or((String::from("-"), ""), |(b, w)| (format!("{b:.1}"), w));
        println!(
            "{:<48} {:>12.1} {:<18} {:>12} {:<26} {:>8.3} {:>8} {:>5}",
            r.name,
            r.figure,
            r.unit,
            b,
            what,
            r.value,
            r.target.text(),
            match r.target {
                Target::Info => "",
                // e.g. no 10 s window without a disk stall: nothing to judge.
                _ if r.value.is_nan() => "n/a",
                t if t.passes(r.value) => "pass",
                _ => "MISS",
            }
        );
    }
}

fn write_json(
    cli: &Cli,
    rows: &[Row],
    extra: serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<()> {
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "measure": r.name,
                "figure": r.figure,
                "unit": r.unit,
                "baseline": r.baseline.map(|b| b.0),
                "baseline_is": r.baseline.map(|b| b.1),
                "ratio": r.value,
                "target": r.target.text(),
                "pass": (!r.value.is_nan()).then(|| r.target.passes(r.value)),
            })
        })
        .collect();
    let mut doc = serde_json::json!({
        "connections": cli.connections,
        "seconds": cli.seconds,
        "athletes": cli.athletes,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "rows": rows,
    });
    if let Some(d) = doc.as_object_mut() {
        d.extend(extra);
    }
    if let Some(dir) = cli.suite_out.parent() {
        std::fs::create_dir_all(dir).ok();
    }
    std::fs::write(&cli.suite_out, serde_json::to_vec_pretty(&doc)?)
        .with_context(|| format!("writing {}", cli.suite_out.display()))?;
    println!("(written to {})", cli.suite_out.display());
    Ok(())
}

/// `pulsegate serve` with one destination and Strava configured, left alone for 20 s:
/// its resident memory.
async fn idle_rss(cli: &Cli) -> anyhow::Result<f64> {
    println!("\n== idle");
    let dir = tempfile::tempdir()?;
    let (port, admin_port) = (free_port()?, free_port()?);
    let config = format!(
        r#"
[server]
listen = "127.0.0.1:{port}"
[bus]
data_dir = "{data}"
partitions = {partitions}
[log]
level = "warn"
[admin]
token = "{ADMIN_TOKEN}"
listen = "127.0.0.1:{admin_port}"
[ingest.strava]
subscription_id = 7
verify_token = "bench"
[normalizer.strava]
client_id = "bench"
client_secret = "bench-secret"
[dispatcher]
allow_private_networks = true
[[destinations]]
id = "idle"
url = "http://127.0.0.1:9/hook"
secret = "whsec_BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSY="
"#,
        data = dir.path().join("data").display(),
        partitions = cli.partitions,
    );
    let path = dir.path().join("pulsegate.toml");
    std::fs::write(&path, config)?;
    let child = Command::new(&cli.pulsegate)
        .arg("serve")
        .arg("--config")
        .arg(&path)
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", cli.pulsegate.display()))?;
    let pid = child.id();
    let _guard = ChildGuard(child);
    tokio::time::sleep(Duration::from_secs(20)).await;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .context("VmRSS of the idle process")?;
    let mib = kb / 1024.0;
    println!("idle RSS: {mib:.1} MiB");
    Ok(mib)
}

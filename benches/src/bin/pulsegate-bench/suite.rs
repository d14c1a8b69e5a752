//! `pulsegate-bench --suite`: every target of docs/PERFORMANCE.md measured in one
//! command, each against a baseline from the same invocation, printed as one table and
//! written as JSON.

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context;

use crate::{free_port, run, ChildGuard, Cli, Figures, ADMIN_TOKEN};

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
}

impl Target {
    fn passes(self, v: f64) -> bool {
        match self {
            Target::AtLeast(t) => v >= t,
            Target::AtMost(t) => v <= t,
        }
    }

    fn text(self) -> String {
        match self {
            Target::AtLeast(t) => format!(">= {t}"),
            Target::AtMost(t) => format!("<= {t}"),
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
    run(cli).await.with_context(|| format!("suite: {label}"))
}

pub async fn run_suite(cli: Cli) -> anyhow::Result<()> {
    let mut rows = Vec::new();

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
        name: "ingest ack p99 at half load",
        figure: ingest.half.p99_ms,
        unit: "ms",
        baseline: Some((ingest.bare_half.p99_ms, "bare hyper p99, same rate")),
        value: ingest.half.p99_ms,
        target: Target::AtMost(10.0),
    });

    // The full pipeline (push -> mock Strava fetch -> delivery), one destination.
    let one = measure("full pipeline, embedded, 1 destination", cli.clone()).await?;
    let delivered_one = one.delivered.unwrap_or(0.0);
    rows.push(Row {
        name: "pipeline delivered/s",
        figure: delivered_one,
        unit: "events/s",
        baseline: Some((one.ceiling.rate(), "bare hyper")),
        value: delivered_one / one.ceiling.rate(),
        target: Target::AtLeast(0.2),
    });

    // Fan-out: the time to deliver an event to 10 destinations against 1.
    let ten = measure(
        "full pipeline, embedded, 10 destinations",
        with(&cli, |c| c.destinations = 10),
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
        with(&cli, |c| c.connected_users = 100_000),
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
            c.ingest_only = true;
            c.partitions = 1;
        }),
    )
    .await?;
    let p64 = measure(
        "ingest only, 64 partitions",
        with(&cli, |c| {
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
        with(&cli, |c| c.bus = "kafka".into()),
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

    // A stalled destination: its backlog must stay on disk.
    let stalled = measure(
        "full pipeline with a stalled destination",
        with(&cli, |c| {
            c.stalled_destination = true;
            c.seconds = cli.stalled_seconds;
        }),
    )
    .await?;
    let backlog = stalled.acked.ok;
    rows.push(Row {
        name: "peak RSS, events behind a stalled destination",
        figure: stalled.peak_rss_mib,
        unit: "MiB",
        baseline: Some((backlog as f64, "events behind it")),
        value: stalled.peak_rss_mib,
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
    write_json(&cli, &rows)?;
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
            if r.target.passes(r.value) {
                "pass"
            } else {
                "MISS"
            }
        );
    }
}

fn write_json(cli: &Cli, rows: &[Row]) -> anyhow::Result<()> {
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
                "pass": r.target.passes(r.value),
            })
        })
        .collect();
    let doc = serde_json::json!({
        "connections": cli.connections,
        "seconds": cli.seconds,
        "athletes": cli.athletes,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "rows": rows,
    });
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

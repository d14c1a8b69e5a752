//! End-to-end load run, everything on 127.0.0.1 and on the same cores:
//!
//! 1. a bare hyper server answering 200 (a child process) takes the same Strava pushes
//!    over the same keep-alive connections: the ceiling;
//! 2. `pulsegate serve` (a child process) with a mock Strava API and a counting customer
//!    sink: acknowledged/s (closed loop), delivered/s, then ack latency at half the
//!    measured ack rate (open loop) for `--half-seconds`, its p99 per 10 s window with
//!    the disk's own fdatasync latency probed alongside (then bare hyper at the same
//!    rate, probed the same way), and pulsegate's peak RSS.
//!
//! `--provider garmin` pushes Garmin activities that carry their data (no fetch);
//! `--pin` pins pulsegate and the Kafka broker to a CPU each; `--perf-out` records
//! `perf` profiles of both over the closed-loop run and the delivery.
//!
//! Every rate is printed as a ratio of the ceiling measured in this run.

#![allow(
    clippy::print_stdout,
    reason = "a command-line load tool: its report is its output"
)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use clap::{Parser, Subcommand};
use pulsegate_benches::load::{self, LoadSpec, LoadStats};
use pulsegate_testkit::sink::{Behaviour, Sink};
use pulsegate_testkit::strava::MockStrava;

mod admin;
mod suite;

const SUBSCRIPTION: u64 = 7;
/// At least 32 characters (pulsegate refuses shorter or example tokens).
/// The longest the bare-hyper ceiling runs, seconds.
const CEILING_SECONDS: f64 = 30.0;
const ADMIN_TOKEN: &str = "bench-admin-token-0123456789abcdef0123456789";
/// The bare server answers any path.
const BARE_PATH: &str = "/v1/ingest/strava";

#[derive(Parser, Clone)]
#[command(about = "pulsegate end-to-end load run (127.0.0.1 only)")]
struct Cli {
    #[command(subcommand)]
    mode: Option<Mode>,
    /// The pulsegate binary to run.
    #[arg(long, default_value = "target/release/pulsegate")]
    pulsegate: PathBuf,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Length of each closed-loop run, seconds.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Athletes the pushes are spread over.
    #[arg(long, default_value_t = 100)]
    athletes: u64,
    /// Customer destinations (each receives every event).
    #[arg(long, default_value_t = 1)]
    destinations: usize,
    /// Add one more destination that never answers (a stalled customer): its backlog
    /// must stay on the bus, not in pulsegate's memory, and must not slow the others.
    #[arg(long)]
    stalled_destination: bool,
    /// The bus pulsegate runs on: `embedded`, or `kafka` (a tansu broker is started on
    /// 127.0.0.1 for the run; see testkit's TestBroker for how it is found).
    #[arg(long, default_value = "embedded")]
    bus: String,
    /// Save pulsegate's /metrics at the end of the run to this file.
    #[arg(long)]
    metrics_out: Option<PathBuf>,
    /// Partitions per topic.
    #[arg(long, default_value_t = 8)]
    partitions: u32,
    /// Only measure ingest against the ceiling: runs `pulsegate ingest` (no normalizer,
    /// no dispatcher) and skips the delivery measurement.
    #[arg(long)]
    ingest_only: bool,
    /// Users connected in the state (the pushes still go to `--athletes` of them): the
    /// cost of state lookups with many users. 0 = `--athletes`.
    #[arg(long, default_value_t = 0)]
    connected_users: u64,
    /// Run every measurement of docs/PERFORMANCE.md in turn and print one table (figure,
    /// baseline, ratio, target, pass/fail), also written as JSON to `--suite-out`.
    #[arg(long)]
    suite: bool,
    /// Where `--suite` writes its JSON.
    #[arg(long, default_value = "target/bench-suite.json")]
    suite_out: PathBuf,
    /// `--suite`: the most seconds the stalled-destination run may take to push its
    /// `--stalled-events` (1,000,000 take ~100-130 s on 2 cores).
    #[arg(long, default_value_t = 240.0)]
    stalled_seconds: f64,
    /// `--suite`: events pushed behind the stalled destination (the target's count).
    #[arg(long, default_value_t = 1_000_000)]
    stalled_events: u64,
    /// Stop the closed-loop run after this many requests (`--seconds` still caps it).
    #[arg(long)]
    events: Option<u64>,
    /// Length of the half-load (open loop) run, seconds; its p99 is reported per 10 s
    /// window, with the disk's own fdatasync latency probed alongside.
    #[arg(long, default_value_t = 40.0)]
    half_seconds: f64,
    /// A 10 s window is one where the disk stalled when the fsync probe saw an
    /// fdatasync slower than this, ms.
    #[arg(long, default_value_t = 20.0)]
    disk_stall_ms: f64,
    /// The pushes: `strava` (a notification; the normalizer fetches the activity from a
    /// mock Strava API) or `garmin` (the push carries the data: no fetch).
    #[arg(long, default_value = "strava")]
    provider: String,
    /// Pin with `taskset`: pulsegate to CPU 1, the Kafka broker (if any) to CPU 0 (the
    /// bench itself, its mocks and sinks are not pinned).
    #[arg(long)]
    pin: bool,
    /// Record `perf record -e cpu-clock -g` of pulsegate (and of the broker with `--bus
    /// kafka`) during the closed-loop run and the delivery: `<PREFIX>-pulsegate.data`,
    /// `<PREFIX>-broker.data`.
    #[arg(long)]
    perf_out: Option<PathBuf>,
    /// Also measure the pipeline's physical limit here: a bare relay (its own process)
    /// doing the same HTTP exchanges per push (answer, provider fetch for Strava,
    /// delivery) and nothing else, delivered/s against the same ceiling.
    #[arg(long)]
    relay: bool,
    /// Internal (the suite): skip the half-load runs.
    #[arg(skip)]
    skip_half: bool,
}

/// The CPU pulsegate is pinned to with `--pin`; the broker gets the other one.
const PULSEGATE_CPU: &str = "1";
const BROKER_CPU: &str = "0";
const GARMIN_CLIENT_ID: &str = "bench-garmin-client-id";

#[derive(Subcommand, Clone)]
enum Mode {
    /// Internal: the bare hyper server (prints its port, then serves).
    BareServer,
    /// Internal: the bare relay, the pipeline's baseline (prints its port, then serves):
    /// each push answered, then fetched from `--fetch` (Strava) and POSTed to `--deliver`.
    BareRelay {
        #[arg(long)]
        fetch: Option<String>,
        #[arg(long)]
        deliver: String,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    anyhow::ensure!(
        matches!(cli.provider.as_str(), "strava" | "garmin"),
        "--provider: expected strava or garmin, got {}",
        cli.provider
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.mode {
        Some(Mode::BareServer) => rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            println!("{}", listener.local_addr()?.port());
            load::bare_server(listener).await
        }),
        Some(Mode::BareRelay { fetch, deliver }) => rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            println!("{}", listener.local_addr()?.port());
            pulsegate_benches::relay::bare_relay(listener, fetch, deliver).await
        }),
        None if cli.suite => rt.block_on(suite::run_suite(cli)),
        None => rt.block_on(run(cli)).map(|_| ()),
    }
}

fn spec(
    (addr, path): (SocketAddr, &str),
    cli: &Cli,
    rate: Option<f64>,
    seconds: f64,
    first: u64,
    athletes: u64,
) -> LoadSpec {
    LoadSpec {
        addr,
        path: path.into(),
        connections: cli.connections,
        duration: Duration::from_secs_f64(seconds),
        rate,
        body: if cli.provider == "garmin" {
            Arc::new(move |n: u64| {
                Bytes::from(pulsegate_benches::garmin_activity_push(
                    first + n + 1,
                    &pulsegate_benches::garmin_user(1 + n % athletes),
                ))
            })
        } else {
            Arc::new(move |n: u64| {
                Bytes::from(pulsegate_benches::strava_event(
                    first + n + 1,
                    1 + n % athletes,
                    SUBSCRIPTION,
                ))
            })
        },
        headers: Arc::new(if cli.provider == "garmin" {
            vec![("garmin-client-id", GARMIN_CLIENT_ID.to_string())]
        } else {
            Vec::new()
        }),
        first: 0,
        max_requests: None,
    }
}

pub(crate) struct ChildGuard(pub(crate) Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What one run measured; rates in events/s.
#[derive(Debug, Clone)]
pub struct Figures {
    pub ceiling: LoadStats,
    pub acked: LoadStats,
    /// Deliveries/s over all destinations (not measured with `--ingest-only`).
    pub delivered: Option<f64>,
    /// `None` when the half-load runs were skipped.
    pub half: Option<HalfLoad>,
    pub peak_rss_mib: f64,
    /// pulsegate's CPU time (user + system) over the closed-loop run per acknowledged
    /// request, µs: steadier than the ratio, whose ceiling varies run to run.
    pub cpu_us_per_ack: f64,
    /// pulsegate's CPU time from the start of the closed-loop run until every
    /// acknowledged event was delivered, per delivery, µs (`NaN` with `--ingest-only`).
    /// pulsegate's own cost per event, whatever bounds the rate: on Kafka the broker's
    /// CPU is not in it.
    pub cpu_us_per_delivery: f64,
    /// The bare relay's delivered/s (`--relay`), same ceiling.
    pub relay_delivered: Option<f64>,
}

/// The open-loop run at half the ack rate, and bare hyper at the same rate, each with
/// the disk's fdatasync latency probed alongside.
#[derive(Debug, Clone)]
pub struct HalfLoad {
    pub rate: f64,
    pub pulsegate: LoadStats,
    pub pulsegate_windows: Vec<Window>,
    pub bare: LoadStats,
    pub bare_windows: Vec<Window>,
}

/// One 10 s window of a half-load run.
#[derive(Debug, Clone)]
pub struct Window {
    pub p99_ms: f64,
    pub requests: u64,
    /// The slowest fdatasync the probe saw in this window, ms.
    pub disk_worst_ms: f64,
    pub disk_stalled: bool,
    /// The most CPU other processes (not the bench, not `servers`) took in any one
    /// second of this window, % of one core: informative, it does not mark the window.
    pub foreign_cpu_pct: f64,
    /// The processes that took the most of it in that second, % of a core each.
    pub foreign_top: Vec<(String, f64)>,
    /// In that second, busy time no process accounts for (interrupts, softirq).
    pub unattributed_cpu_pct: f64,
}

/// Runs `load` with the fsync and CPU probes alongside (the fsync probe in `dir`); the
/// run and its 10 s windows. `servers` are the processes under load, left out of the
/// CPU probe's "other processes" with the bench itself.
async fn probed(
    spec: LoadSpec,
    dir: &std::path::Path,
    stall_ms: f64,
    servers: Vec<u32>,
) -> anyhow::Result<(LoadStats, Vec<Window>)> {
    let probe = pulsegate_benches::fsync_probe::FsyncProbe::start(dir, Duration::from_millis(10))?;
    let cpu = pulsegate_benches::cpu_probe::CpuProbe::start(servers, Duration::from_millis(100))?;
    let stats = load::run(spec).await;
    let syncs = probe.stop()?;
    let cpu = cpu.stop();
    let stats = stats?;
    let foreign = pulsegate_benches::cpu_probe::foreign_per_window(
        &cpu,
        stats.started,
        load::LONG_WINDOW,
        stats.long_windows.len(),
    );
    let disk = pulsegate_benches::fsync_probe::worst_per_window(
        &syncs,
        stats.started,
        load::LONG_WINDOW,
        stats.long_windows.len(),
    );
    let windows = stats
        .long_windows
        .iter()
        .zip(disk)
        .zip(foreign)
        .map(|((&(p99_ms, requests), disk_worst_ms), foreign)| Window {
            p99_ms,
            requests,
            disk_worst_ms,
            disk_stalled: disk_worst_ms > stall_ms,
            foreign_cpu_pct: foreign.pct,
            foreign_top: foreign.top,
            unattributed_cpu_pct: foreign.unattributed_pct,
        })
        .collect();
    Ok((stats, windows))
}

fn report_windows(name: &str, windows: &[Window]) {
    let cells: Vec<String> = windows
        .iter()
        .map(|w| {
            format!(
                "{:.1}{}",
                w.p99_ms,
                if w.disk_stalled {
                    format!(" (disk {:.0})", w.disk_worst_ms)
                } else {
                    String::new()
                }
            )
        })
        .collect();
    println!(
        "{:<34} p99 per 10 s window, ms (disk = the probe's worst fdatasync where it stalled): {}",
        name,
        cells.join(", ")
    );
    let other: Vec<String> = windows
        .iter()
        .map(|w| {
            let top: Vec<String> = w
                .foreign_top
                .iter()
                .map(|(name, pct)| format!("{name} {pct:.0}"))
                .collect();
            format!(
                "{:.0} [{}; unattributed {:.0}]",
                w.foreign_cpu_pct,
                top.join(", "),
                w.unattributed_cpu_pct
            )
        })
        .collect();
    println!(
        "{:<34} other processes' CPU per 10 s window, worst second, % of a core: {}",
        name,
        other.join(", ")
    );
}

/// Pids of this process's children whose command name starts with `name`.
fn children_named(name: &str) -> Vec<u32> {
    let me = std::process::id();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid …: comm may hold spaces, so split after its ')'.
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let comm = pulsegate_benches::cpu_probe::process_name(&stat);
        let ppid = stat[close + 1..].split_whitespace().nth(1);
        if comm.starts_with(name) && ppid == Some(&me.to_string()) {
            pids.push(pid);
        }
    }
    pids
}

/// Pins every thread of `pid` to `cpu` (`taskset -a -p -c`).
fn pin(pid: u32, cpu: &str) -> anyhow::Result<()> {
    let out = Command::new("taskset")
        .args(["-a", "-p", "-c", cpu, &pid.to_string()])
        .stdout(Stdio::null())
        .status()
        .context("running taskset (util-linux)")?;
    anyhow::ensure!(out.success(), "taskset -a -p -c {cpu} {pid}: {out}");
    Ok(())
}

/// `perf record -e cpu-clock -g` of `pid` into `out`, until [`stop_perf`].
fn start_perf(pid: u32, out: &std::path::Path) -> anyhow::Result<ChildGuard> {
    let child = Command::new("perf")
        .args(["record", "-e", "cpu-clock", "-F", "999", "-g", "-p"])
        .arg(pid.to_string())
        .arg("-o")
        .arg(out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting perf record")?;
    Ok(ChildGuard(child))
}

/// Stops a `perf record` with SIGINT (so it writes its file) and waits for it.
fn stop_perf(mut perf: ChildGuard) {
    let _ = Command::new("kill")
        .args(["-INT", &perf.0.id().to_string()])
        .status();
    let _ = perf.0.wait();
}

async fn run(cli: Cli) -> anyhow::Result<Figures> {
    println!(
        "pulsegate-bench: bus {}, {} connections, {:.0}s runs, {} athletes, {} destination(s)",
        cli.bus, cli.connections, cli.seconds, cli.athletes, cli.destinations
    );

    // 1. The ceiling: bare hyper in its own process.
    let (bare, port) = start_bare_server()?;
    let bare_addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let _warm = load::run(spec(
        (bare_addr, BARE_PATH),
        &cli,
        None,
        1.0,
        0,
        cli.athletes,
    ))
    .await?;
    // A rate, not a count: a long (or count-bound) run needs no longer a ceiling.
    let ceiling = load::run(spec(
        (bare_addr, BARE_PATH),
        &cli,
        None,
        cli.seconds.min(CEILING_SECONDS),
        0,
        cli.athletes,
    ))
    .await?;
    drop(bare);
    report("bare hyper (ceiling)", &ceiling, ceiling.rate());

    // 2. pulsegate with a mock Strava API (and Garmin settings) and counting sinks.
    let strava = MockStrava::start().await;
    strava.generate_missing(true);
    strava.accept_any_token(true);
    let relay_delivered = if cli.relay && !cli.ingest_only {
        let fetch = (cli.provider == "strava").then(|| strava.base_url());
        Some(relay_baseline(&cli, &ceiling, fetch).await?)
    } else {
        None
    };
    let mut sinks = Vec::new();
    for _ in 0..cli.destinations {
        sinks.push(Sink::start_counting(Behaviour::Ok).await);
    }
    let dir = tempfile::tempdir()?;
    let pg_port = free_port()?;
    let admin_port = free_port()?;
    let stalled = if cli.stalled_destination {
        Some(Sink::start_counting(Behaviour::Slow(Duration::from_secs(3600))).await)
    } else {
        None
    };
    let mut destinations = String::new();
    let named = sinks
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("sink-{i}"), s.url()))
        .chain(stalled.iter().map(|s| ("stalled".to_string(), s.url())));
    for (id, url) in named {
        destinations.push_str(&format!(
            "[[destinations]]\nid = \"{id}\"\nurl = \"{url}\"\nsecret = \"whsec_BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSY=\"\n"
        ));
    }
    let broker = match cli.bus.as_str() {
        "embedded" => None,
        "kafka" => Some(pulsegate_testkit::kafka::TestBroker::start()),
        other => anyhow::bail!("--bus: expected embedded or kafka, got {other}"),
    };
    let broker_pid = if broker.is_some() {
        children_named("tansu").first().copied()
    } else {
        None
    };
    if cli.pin {
        if let Some(pid) = broker_pid {
            pin(pid, BROKER_CPU)?;
            println!(
                "broker (pid {pid}) pinned to CPU {BROKER_CPU}, pulsegate to CPU {PULSEGATE_CPU}"
            );
        } else {
            println!("pulsegate pinned to CPU {PULSEGATE_CPU}");
        }
    }
    let bus = match &broker {
        None => format!(
            "[bus]\ndata_dir = \"{}\"\npartitions = {}\n",
            dir.path().join("data").display(),
            cli.partitions
        ),
        Some(b) => format!(
            "[bus]\nkind = \"kafka\"\npartitions = {}\n[bus.kafka]\nbrokers = \"{}\"\nreplication_factor = 1\n\
             session_timeout = \"6s\"\nheartbeat_interval = \"1s\"\nmax_poll_interval = \"10s\"\n",
            cli.partitions,
            b.brokers()
        ),
    };
    let config = format!(
        r#"
[server]
listen = "127.0.0.1:{pg_port}"
{bus}
[log]
level = "warn"
[admin]
token = "{ADMIN_TOKEN}"
listen = "127.0.0.1:{admin_port}"
[ingest.strava]
subscription_id = {SUBSCRIPTION}
verify_token = "bench"
[normalizer.strava]
api_base = "{api}"
client_id = "bench"
client_secret = "bench-secret"
[ingest.garmin]
client_id = "{GARMIN_CLIENT_ID}"
[normalizer.garmin]
api_base = "{api}"
token_url = "{api}/oauth/token"
client_id = "{GARMIN_CLIENT_ID}"
client_secret = "bench-secret"
[dispatcher]
allow_private_networks = true
{destinations}"#,
        api = strava.base_url(),
    );
    let config_path = dir.path().join("pulsegate.toml");
    std::fs::write(&config_path, config)?;
    let mut command = if cli.pin {
        let mut c = Command::new("taskset");
        c.args(["-c", PULSEGATE_CPU]).arg(&cli.pulsegate);
        c
    } else {
        Command::new(&cli.pulsegate)
    };
    let child = command
        .arg(if cli.ingest_only { "ingest" } else { "serve" })
        .arg("--config")
        .arg(&config_path)
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", cli.pulsegate.display()))?;
    let pg_pid = child.id();
    let _pg = ChildGuard(child);
    let http = admin::Client::new(pg_port, admin_port);
    http.wait_ready().await?;
    // 32 connections at a time: each is a durable state append (100,000 users in the
    // suite would take minutes one by one).
    let http = Arc::new(http);
    let users: Vec<u64> = (1..=cli.athletes.max(cli.connected_users)).collect();
    for chunk in users.chunks(32) {
        let mut batch = tokio::task::JoinSet::new();
        for &a in chunk {
            let http = http.clone();
            let provider = cli.provider.clone();
            batch.spawn(async move { http.connect_athlete(&provider, a).await });
        }
        while let Some(done) = batch.join_next().await {
            done??;
        }
    }
    let pg_addr: SocketAddr = ([127, 0, 0, 1], pg_port).into();
    // Strava pushes carry no signature: they go to the path with the deployment's token.
    let push_path = http.push_path(&cli.provider).await?;

    let _warm = load::run(spec(
        (pg_addr, &push_path),
        &cli,
        None,
        1.0,
        1_000_000_000,
        cli.athletes,
    ))
    .await?;
    let warm_total = _warm.ok;
    let mut perfs = Vec::new();
    if let Some(prefix) = &cli.perf_out {
        let name = |who: &str| {
            let mut p = prefix.clone().into_os_string();
            p.push(format!("-{who}.data"));
            PathBuf::from(p)
        };
        perfs.push(start_perf(pg_pid, &name("pulsegate"))?);
        if let Some(pid) = broker_pid {
            perfs.push(start_perf(pid, &name("broker"))?);
        }
    }
    let started = Instant::now();
    let cpu_before = cpu_seconds(pg_pid);
    let acked = load::run(LoadSpec {
        max_requests: cli.events,
        ..spec(
            (pg_addr, &push_path),
            &cli,
            None,
            cli.seconds,
            2_000_000_000,
            cli.athletes,
        )
    })
    .await?;
    report("pulsegate ingest (closed loop)", &acked, ceiling.rate());
    let cpu_us_per_ack = match (cpu_before, cpu_seconds(pg_pid)) {
        (Some(before), Some(after)) if acked.ok > 0 => {
            let used = after - before;
            println!(
                "{:<34} {:>9.1} µs CPU per acknowledged request ({:.2} cores busy)",
                "pulsegate CPU (user + system)",
                used * 1e6 / acked.ok as f64,
                used / acked.elapsed.as_secs_f64()
            );
            used * 1e6 / acked.ok as f64
        }
        _ => f64::NAN,
    };

    let mut delivered = None;
    let mut cpu_us_per_delivery = f64::NAN;
    if !cli.ingest_only {
        // Delivered/s: every acknowledged event reaches every sink.
        let want = (warm_total + acked.ok) as usize;
        let deadline = Instant::now() + Duration::from_secs(300);
        for (i, s) in sinks.iter().enumerate() {
            while s.count() < want {
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "sink {i}: {} of {want} delivered",
                    s.count()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let delivered_in = started.elapsed();
        let delivered_rate = acked.ok as f64 * cli.destinations as f64 / delivered_in.as_secs_f64();
        println!(
            "{:<34} {:>9.0} deliveries/s over {} destination(s) = {:.3} of ceiling, {:.3} of pulsegate ingest (all delivered {:.1}s after the run started)",
            "pulsegate delivered", delivered_rate, cli.destinations,
            delivered_rate / ceiling.rate(), delivered_rate / acked.rate(), delivered_in.as_secs_f64()
        );
        delivered = Some(delivered_rate);
        if let (Some(before), Some(after)) = (cpu_before, cpu_seconds(pg_pid)) {
            let deliveries = acked.ok as f64 * cli.destinations as f64;
            cpu_us_per_delivery = (after - before) * 1e6 / deliveries.max(1.0);
            println!(
                "{:<34} {:>9.1} µs CPU per delivery, from the run's start until all were delivered",
                "pulsegate CPU (user + system)", cpu_us_per_delivery
            );
        }
    }
    for p in perfs {
        stop_perf(p);
    }
    let half = if cli.skip_half {
        None
    } else {
        Some(
            half_load(
                &cli,
                &acked,
                &ceiling,
                (pg_addr, &push_path),
                dir.path(),
                pg_pid,
            )
            .await?,
        )
    };
    let peak_rss_mib = peak_rss_mib(pg_pid).unwrap_or(f64::NAN);
    println!("pulsegate peak RSS: {peak_rss_mib:.1} MiB");
    if let Some(path) = &cli.metrics_out {
        std::fs::write(path, http.metrics().await?)?;
    }
    Ok(Figures {
        ceiling,
        acked,
        delivered,
        half,
        peak_rss_mib,
        cpu_us_per_ack,
        cpu_us_per_delivery,
        relay_delivered,
    })
}

/// Ack latency at half the measured ack rate (open loop), then bare hyper at the same
/// rate, each with the fsync probe alongside in `dir` (pulsegate's data filesystem).
async fn half_load(
    cli: &Cli,
    acked: &LoadStats,
    ceiling: &LoadStats,
    target: (SocketAddr, &str),
    dir: &std::path::Path,
    pg_pid: u32,
) -> anyhow::Result<HalfLoad> {
    let half = acked.rate() / 2.0;
    let (at_half, pulsegate_windows) = probed(
        spec(
            target,
            cli,
            Some(half),
            cli.half_seconds,
            3_000_000_000,
            cli.athletes,
        ),
        dir,
        cli.disk_stall_ms,
        vec![pg_pid],
    )
    .await?;
    report(
        &format!("pulsegate at half load ({half:.0}/s)"),
        &at_half,
        ceiling.rate(),
    );
    report_stalls(&at_half);
    report_windows("", &pulsegate_windows);
    // The same open loop against bare hyper: the latency the harness and the machine add
    // by themselves at that rate (same cores, same connections, the probe alongside).
    let (bare, port) = start_bare_server()?;
    let bare_addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let _warm = load::run(spec(
        (bare_addr, BARE_PATH),
        cli,
        None,
        1.0,
        0,
        cli.athletes,
    ))
    .await?;
    let (bare_half, bare_windows) = probed(
        spec(
            (bare_addr, BARE_PATH),
            cli,
            Some(half),
            cli.half_seconds,
            0,
            cli.athletes,
        ),
        dir,
        cli.disk_stall_ms,
        // pulsegate idles meanwhile, but what it still does is not "other processes".
        vec![pg_pid, bare.0.id()],
    )
    .await?;
    report(
        &format!("bare hyper at the same rate ({half:.0}/s)"),
        &bare_half,
        ceiling.rate(),
    );
    report_stalls(&bare_half);
    report_windows("", &bare_windows);
    Ok(HalfLoad {
        rate: half,
        pulsegate: at_half,
        pulsegate_windows,
        bare: bare_half,
        bare_windows,
    })
}

fn report(name: &str, s: &LoadStats, ceiling: f64) {
    println!(
        "{:<34} {:>9.0} req/s = {:.3} of ceiling   p50 {:.2} ms  p99 {:.2} ms  max {:.1} ms  ({} ok, {} errors)",
        name,
        s.rate(),
        s.rate() / ceiling,
        s.p50_ms,
        s.p99_ms,
        s.max_ms,
        s.ok,
        s.errors
    );
}

/// The pipeline's physical limit: the bare relay's delivered/s, counted as pulsegate's
/// is (every push answered in the closed loop delivered, from the loop's start).
async fn relay_baseline(
    cli: &Cli,
    ceiling: &LoadStats,
    fetch: Option<String>,
) -> anyhow::Result<f64> {
    let sink = Sink::start_counting(Behaviour::Ok).await;
    let mut args = vec!["bare-relay".to_string(), "--deliver".into(), sink.url()];
    if let Some(f) = fetch {
        args.extend(["--fetch".into(), f]);
    }
    let (_relay, port) = start_child_server(&args)?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let warm = load::run(spec((addr, BARE_PATH), cli, None, 1.0, 0, cli.athletes)).await?;
    let started = Instant::now();
    let run = load::run(LoadSpec {
        max_requests: cli.events,
        ..spec(
            (addr, BARE_PATH),
            cli,
            None,
            cli.seconds,
            1_000_000_000,
            cli.athletes,
        )
    })
    .await?;
    let want = (warm.ok + run.ok) as usize;
    let deadline = Instant::now() + Duration::from_secs(120);
    while sink.count() < want {
        anyhow::ensure!(
            Instant::now() < deadline,
            "bare relay: {} of {want} delivered",
            sink.count()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rate = run.ok as f64 / started.elapsed().as_secs_f64();
    report("bare relay (answered)", &run, ceiling.rate());
    println!(
        "{:<34} {:>9.0} deliveries/s = {:.3} of ceiling: the same HTTP exchanges as the pipeline, nothing else",
        "bare relay delivered",
        rate,
        rate / ceiling.rate()
    );
    Ok(rate)
}

/// Starts the bare hyper server as a child process of this binary; its port.
fn start_bare_server() -> anyhow::Result<(ChildGuard, u16)> {
    start_child_server(&["bare-server".to_string()])
}

/// Starts this binary with `args` (a server that prints its port first); its port.
fn start_child_server(args: &[String]) -> anyhow::Result<(ChildGuard, u16)> {
    let me = std::env::current_exe()?;
    let mut bare = Command::new(me).args(args).stdout(Stdio::piped()).spawn()?;
    let port: u16 = BufReader::new(bare.stdout.take().context("bare stdout")?)
        .lines()
        .next()
        .context("bare server port")??
        .trim()
        .parse()?;
    Ok((ChildGuard(bare), port))
}

/// Where an open-loop run's tail came from: its 100 ms windows worse than 10 ms.
fn report_stalls(s: &LoadStats) {
    let stalls = s.stalls_over(10.0);
    let worst: Vec<String> = stalls
        .iter()
        .take(6)
        .map(|(at, ms)| format!("{ms:.0} ms at {at:.1}s"))
        .collect();
    println!(
        "{:<34} {} of {} 100-ms windows had a request over 10 ms; worst: {}",
        "",
        stalls.len(),
        s.window_max_ms.len(),
        if worst.is_empty() {
            "-".into()
        } else {
            worst.join(", ")
        }
    );
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// CPU seconds (user + system, all threads) the process `pid` has used so far.
fn cpu_seconds(pid: u32) -> Option<f64> {
    use pulsegate_benches::cpu_probe::{process_ticks, ticks_per_second};
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let ticks = ticks_per_second();
    (ticks > 0.0).then(|| process_ticks(&stat).map(|t| t as f64 / ticks))?
}

fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

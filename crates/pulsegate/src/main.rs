//! `pulsegate`: wearable provider notifications in, signed customer webhooks out.

mod adapters;
mod admin_token;
mod app;
mod backup_cli;
mod bus_offsets;
mod config;
mod deliveries_cli;
mod delivery_metrics;
mod edge;
mod fd_limit;
mod http;
mod key_age;
mod keyfile;
mod limits;
mod listener;
mod ops_cli;
mod telemetry;
mod tls;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

// Many small, short-lived allocations per request (bodies, envelopes, futures):
// mimalloc handles them with less contention than glibc's malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "pulsegate", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run ingest, normalizer and dispatcher in one process.
    Serve(RoleArgs),
    /// Run only the provider-facing HTTP endpoints and the admin API.
    Ingest(RoleArgs),
    /// Run only the normalizer (consumer group `normalizer`).
    Normalize(RoleArgs),
    /// Run only the dispatcher (one consumer group per destination).
    Dispatch(RoleArgs),
    /// Load and validate the configuration, then exit.
    CheckConfig(RoleArgs),
    /// Search the delivery history and resend deliveries through a running instance's
    /// admin API (docs/ADMIN.md). Exit codes: 0 done, 1 the API refused (its message is
    /// shown), 2 bad arguments or settings, 3 admin API unreachable, 4 token refused.
    Deliveries {
        #[command(flatten)]
        target: deliveries_cli::AdminTarget,
        #[command(subcommand)]
        command: deliveries_cli::DeliveriesCommand,
    },
    /// List dead letters (deliveries that exhausted their retries) and replay them,
    /// through a running instance's admin API. Exit codes: 0 done, 1 the API refused (its
    /// message is shown), 2 bad arguments or settings, 3 admin API unreachable, 4 token
    /// refused.
    DeadLetters {
        #[command(flatten)]
        target: deliveries_cli::AdminTarget,
        #[command(subcommand)]
        command: ops_cli::DeadLettersCommand,
    },
    /// List, show and revoke user connections, through a running instance's admin API.
    /// Exit codes: 0 done, 1 the API refused (its message is shown), 2 bad arguments or
    /// settings (or revoke without --yes), 3 admin API unreachable, 4 token refused.
    Connections {
        #[command(flatten)]
        target: deliveries_cli::AdminTarget,
        #[command(subcommand)]
        command: ops_cli::ConnectionsCommand,
    },
    /// List destinations, pause and resume them, rotate their signing secret, through a
    /// running instance's admin API. Exit codes: 0 done, 1 the API refused (its message is
    /// shown), 2 bad arguments or settings (or rotate-secret without --yes), 3 admin API
    /// unreachable, 4 token refused.
    Destinations {
        #[command(flatten)]
        target: deliveries_cli::AdminTarget,
        #[command(subcommand)]
        command: ops_cli::DestinationsCommand,
    },
    /// Show the log's topics: partitions, end offsets, consumer groups' committed offsets
    /// and lag, through a running instance's admin API. Exit codes: 0 done, 1 the API
    /// refused (its message is shown), 2 bad arguments or settings, 3 admin API
    /// unreachable, 4 token refused.
    Topics {
        #[command(flatten)]
        target: deliveries_cli::AdminTarget,
        #[command(subcommand)]
        command: ops_cli::TopicsCommand,
    },
    /// Back up the embedded log of a running instance through its admin API: one
    /// consistent instant, records as stored (sealed), never the key (docs/ADMIN.md).
    /// Exit codes as for `deliveries`.
    Backup {
        #[command(flatten)]
        target: deliveries_cli::AdminTarget,
        #[command(flatten)]
        args: backup_cli::BackupArgs,
    },
    /// Rebuild the embedded data dir of --config from a backup, offline (the data dir
    /// must not exist or be empty). Exit codes: 0 done, 1 refused, 2 bad arguments.
    Restore(backup_cli::RestoreArgs),
    /// Deployment key operations through a running instance's admin API.
    Keys {
        #[command(flatten)]
        target: deliveries_cli::AdminTarget,
        #[command(subcommand)]
        command: backup_cli::KeysCommand,
    },
}

#[derive(clap::Args)]
struct RoleArgs {
    /// Path of the TOML configuration (keys may be overridden by PULSEGATE_<SECTION>__<KEY>).
    #[arg(long, short, env = "PULSEGATE_CONFIG")]
    config: Option<PathBuf>,
    /// Start even if the embedded log lost records it had acknowledged (a cut or removed
    /// journal); what was lost is logged. Same as `bus.recovery = "accept-loss"`.
    #[arg(long)]
    accept_data_loss: bool,
}

fn main() {
    let cli = Cli::parse();
    let (roles, args) = match cli.command {
        Command::Serve(a) => (app::Roles::ALL, a),
        Command::Ingest(a) => (app::Roles::INGEST, a),
        Command::Normalize(a) => (app::Roles::NORMALIZE, a),
        Command::Dispatch(a) => (app::Roles::DISPATCH, a),
        Command::Deliveries { target, command } => exit(deliveries_cli::run(target, command)),
        Command::DeadLetters { target, command } => exit(ops_cli::run(
            target,
            ops_cli::OpsCommand::DeadLetters(command),
        )),
        Command::Connections { target, command } => exit(ops_cli::run(
            target,
            ops_cli::OpsCommand::Connections(command),
        )),
        Command::Destinations { target, command } => exit(ops_cli::run(
            target,
            ops_cli::OpsCommand::Destinations(command),
        )),
        Command::Topics { target, command } => {
            exit(ops_cli::run(target, ops_cli::OpsCommand::Topics(command)))
        }
        Command::Backup { target, args } => exit(backup_cli::run_backup(target, args)),
        Command::Restore(args) => exit(backup_cli::run_restore(args)),
        Command::Keys { target, command } => exit(backup_cli::run_keys(target, command)),
        Command::CheckConfig(a) => {
            match config::Config::load(args_path(&a)) {
                #[allow(clippy::print_stdout, reason = "check-config's answer is its output")]
                Ok(_) => println!("configuration is valid"),
                Err(e) => fail(e),
            }
            return;
        }
    };
    let mut config = match config::Config::load(args_path(&args)) {
        Ok(c) => c,
        Err(e) => fail(e),
    };
    if args.accept_data_loss {
        config.bus.recovery = config::BusRecovery::AcceptLoss;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(e.into()));
    let result = runtime.block_on(app::run(config, roles));
    // Tasks still parked (a slow DNS lookup, a hung destination after the shutdown
    // deadline) must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    if let Err(e) = result {
        // A graceful shutdown cut off at its deadline: 1, not a configuration error.
        let code = if e.is::<app::Unfinished>() { 1 } else { 2 };
        fail_with(e, code);
    }
}

fn args_path(a: &RoleArgs) -> Option<&std::path::Path> {
    a.config.as_deref()
}

#[allow(
    clippy::exit,
    reason = "the CLI commands' exit code, decided by the command"
)]
fn exit(code: i32) -> ! {
    std::process::exit(code)
}

/// Exit code 2: bad configuration, or a component failed.
fn fail(e: anyhow::Error) -> ! {
    fail_with(e, 2)
}

#[allow(
    clippy::print_stderr,
    clippy::exit,
    reason = "the binary's single exit point for errors: the error to stderr, then the code"
)]
fn fail_with(e: anyhow::Error, code: i32) -> ! {
    eprintln!("pulsegate: {e:#}");
    std::process::exit(code);
}

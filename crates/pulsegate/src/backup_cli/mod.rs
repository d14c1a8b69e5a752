//! `pulsegate backup`, `pulsegate restore` and `pulsegate keys rotate` (docs/ADMIN.md).
//!
//! `backup` and `keys rotate` go through a running instance's admin API like
//! `pulsegate deliveries` (same flags for its URL and token); `restore` works offline on
//! a data dir no process uses. Exit codes: 0 done, 1 refused (the API's or restore's
//! message is shown), 2 bad arguments or settings, 3 admin API unreachable, 4 token
//! refused.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pulsegate_bus::embedded::backup::{self, ArchiveError};
use serde_json::{json, Value};

use crate::deliveries_cli::client::CliFailure;
use crate::deliveries_cli::{connect, AdminTarget, Output};

#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    /// Where to write the archive. It is written beside it first and renamed into place
    /// only once complete and checked (an existing file is replaced then).
    #[arg(long)]
    out: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    /// The backup archive (from `pulsegate backup`).
    #[arg(long)]
    from: PathBuf,
    /// The configuration of the instance to restore: its `bus.data_dir` is rebuilt
    /// (it must not exist or be empty). Start it with the same key file as the instance
    /// backed up.
    #[arg(long, short, env = "PULSEGATE_CONFIG")]
    config: PathBuf,
    /// `table` (default) or `json`.
    #[arg(long, value_enum, default_value = "table")]
    output: Output,
}

#[derive(clap::Subcommand, Debug)]
pub enum KeysCommand {
    /// Re-seal every record of the `state` topic sealed with a previous deployment key
    /// under the current key (safe while serving); then the previous key can leave the
    /// state topic's key list (docs/ENCRYPTION.md).
    Rotate,
}

fn runtime() -> Result<tokio::runtime::Runtime, CliFailure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliFailure::Usage(format!("async runtime: {e}")))
}

fn finish(command: &str, output: Output, result: Result<(Value, String), CliFailure>) -> i32 {
    match result {
        Ok((answer, text)) => {
            let text = match output {
                Output::Json => serde_json::to_string_pretty(&answer).unwrap_or_default(),
                Output::Table => text,
            };
            let _ = writeln!(std::io::stdout().lock(), "{text}");
            0
        }
        Err(e) => {
            let text = match &e {
                // Refused here (not by the API): the message alone.
                CliFailure::Refused { status: 0, message } => message.clone(),
                e => e.to_string(),
            };
            let _ = writeln!(std::io::stderr().lock(), "pulsegate {command}: {text}");
            e.exit_code()
        }
    }
}

/// Runs `pulsegate backup`; the exit code.
pub fn run_backup(target: AdminTarget, args: BackupArgs) -> i32 {
    let output = target.output;
    let result = runtime().and_then(|rt| rt.block_on(backup(&target, &args.out)));
    finish("backup", output, result)
}

async fn backup(target: &AdminTarget, out: &Path) -> Result<(Value, String), CliFailure> {
    let client = connect(target)?;
    let name = out
        .file_name()
        .ok_or_else(|| CliFailure::Usage(format!("--out {} is not a file name", out.display())))?
        .to_string_lossy()
        .into_owned();
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = dir.join(format!(".{name}.part-{}", std::process::id()));
    let written = download(&client, &tmp).await.and_then(|bytes| {
        // Read back whole: every checksum, and the end entry a broken-off stream lacks.
        let file = std::fs::File::open(&tmp).map_err(|e| local(&tmp, e))?;
        let summary = backup::verify(std::io::BufReader::new(file)).map_err(|e| {
            CliFailure::Refused {
                status: 0,
                message: format!("the archive received is not complete or not intact ({e}); see the server's log"),
            }
        })?;
        std::fs::rename(&tmp, out).map_err(|e| local(out, e))?;
        let _ = std::fs::File::open(&dir).and_then(|d| d.sync_all());
        Ok((bytes, summary))
    });
    let (bytes, summary) = match written {
        Ok(w) => w,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let text = format!(
        "backup written to {}: {} bytes, {} topics, {} records, {} consumer offsets (taken at {} ms since the epoch)\n{}",
        out.display(),
        bytes,
        summary.topics.len(),
        summary.records,
        summary.offsets,
        summary.created_at_ms,
        topic_lines(&summary)
    );
    let mut answer = serde_json::to_value(&summary).unwrap_or_default();
    answer["file"] = json!(out.display().to_string());
    answer["bytes"] = json!(bytes);
    Ok((answer, text))
}

fn topic_lines(summary: &backup::BackupSummary) -> String {
    summary
        .topics
        .iter()
        .map(|t| {
            format!(
                "  {:<24} {:>3} partitions {:>10} records",
                t.name, t.partitions, t.records
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn local(path: &Path, e: std::io::Error) -> CliFailure {
    CliFailure::Usage(format!("{}: {e}", path.display()))
}

/// Streams the archive into `tmp` (fsynced); its size.
async fn download(
    client: &crate::deliveries_cli::client::AdminClient,
    tmp: &Path,
) -> Result<u64, CliFailure> {
    // A large log takes long: the answer streams as it is read.
    let mut resp = client
        .post_streaming("/v1/admin/backup", Duration::from_secs(7 * 24 * 3600))
        .await?;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .map_err(|e| local(tmp, e))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut bytes = 0u64;
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                w.write_all(&chunk).map_err(|e| local(tmp, e))?;
                bytes += chunk.len() as u64;
            }
            Ok(None) => break,
            Err(e) => {
                return Err(CliFailure::Refused {
                    status: 0,
                    message: format!(
                        "the backup broke off after {bytes} bytes ({e}); see the server's log"
                    ),
                })
            }
        }
    }
    let file = w.into_inner().map_err(|e| local(tmp, e.into_error()))?;
    file.sync_all().map_err(|e| local(tmp, e))?;
    Ok(bytes)
}

/// Runs `pulsegate restore`; the exit code.
pub fn run_restore(args: RestoreArgs) -> i32 {
    let output = args.output;
    finish("restore", output, restore(&args))
}

fn restore(args: &RestoreArgs) -> Result<(Value, String), CliFailure> {
    let config = crate::config::Config::load(Some(&args.config))
        .map_err(|e| CliFailure::Usage(format!("{e:#}")))?;
    if config.bus.kind != crate::config::BusKind::Embedded {
        return Err(CliFailure::Usage(
            "bus.kind is kafka: restore rebuilds an embedded log only; restore Kafka topics \
             with Kafka's own tooling"
                .into(),
        ));
    }
    let file = std::fs::File::open(&args.from).map_err(|e| local(&args.from, e))?;
    let mut cfg = pulsegate_bus::embedded::EmbeddedConfig::new(&config.bus.data_dir);
    cfg.cache_bytes = config.bus.cache_mib * 1024 * 1024;
    cfg.memtable_bytes = config.bus.memtable_mib.max(1) * 1024 * 1024;
    cfg.journal_bytes = config.bus.journal_mib * 1024 * 1024;
    let summary = backup::restore(std::io::BufReader::with_capacity(1 << 20, file), &cfg).map_err(
        |e| match e {
            ArchiveError::Io(m) => CliFailure::Usage(m),
            e => CliFailure::Refused {
                status: 0,
                message: e.to_string(),
            },
        },
    )?;
    let dir = config.bus.data_dir.display().to_string();
    let text = format!(
        "restored {} into {dir}: {} topics, {} records, {} consumer offsets (backup taken at {} ms since the epoch)\n{}\n\
         Start pulsegate on it with the key file of the instance that was backed up.",
        args.from.display(),
        summary.topics.len(),
        summary.records,
        summary.offsets,
        summary.created_at_ms,
        topic_lines(&summary)
    );
    let mut answer = serde_json::to_value(&summary).unwrap_or_default();
    answer["data_dir"] = json!(dir);
    Ok((answer, text))
}

/// Runs `pulsegate keys …`; the exit code.
pub fn run_keys(target: AdminTarget, command: KeysCommand) -> i32 {
    let output = target.output;
    let result = runtime().and_then(|rt| {
        rt.block_on(async {
            let client = connect(&target)?;
            match command {
                KeysCommand::Rotate => {
                    let r = client.post("/v1/admin/keys/rotate", &json!({})).await?;
                    let text = format!(
                        "state topic re-sealed under key {}: {} records read ({} keys), {} re-sealed, \
                         {} already current, {} under users' keys, {} unreadable; {} records still \
                         under previous keys{}\n{}",
                        r["current_key_id"].as_str().unwrap_or("?"),
                        r["records_read"],
                        r["keys"],
                        r["resealed"],
                        r["already_current"],
                        r["user_key_sealed"],
                        r["unreadable"],
                        r["remaining_under_previous_keys"],
                        if r["compacted"] == true { " (after compaction)" } else { "" },
                        r["note"].as_str().unwrap_or_default()
                    );
                    Ok((r, text))
                }
            }
        })
    });
    finish("keys", output, result)
}

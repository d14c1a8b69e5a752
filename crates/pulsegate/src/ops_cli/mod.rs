//! `pulsegate dead-letters|connections|destinations|topics …`: the operator's everyday
//! admin API calls (docs/ADMIN.md) from a shell, with the same admin URL and token
//! settings, output formats and exit codes as `pulsegate deliveries`
//! ([`crate::deliveries_cli`], whose client they share).

mod render;

use std::io::Write;

use serde_json::{json, Value};

use crate::deliveries_cli::client::{AdminClient, CliFailure};
use crate::deliveries_cli::{connect, query, when, AdminTarget, Output};

#[derive(clap::Subcommand, Debug)]
pub enum DeadLettersCommand {
    /// The most recent dead letters (deliveries that exhausted their retries), oldest
    /// first.
    List {
        /// Only this destination's dead letters.
        #[arg(long)]
        destination: Option<String>,
        /// At most this many, the newest (1–1000).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
    },
    /// Deliver dead letters again, to their destination's current URL with their
    /// original webhook-id, through the usual retries. Each dead letter is replayed once;
    /// all given filters must match (at least one is required).
    Replay(ReplayArgs),
}

#[derive(clap::Args, Debug)]
#[command(group(
    clap::ArgGroup::new("which")
        .required(true)
        .multiple(true)
        .args(["destination", "since", "until", "event_id"])
))]
pub struct ReplayArgs {
    /// This destination's dead letters.
    #[arg(long)]
    destination: Option<String>,
    /// Dead-lettered at or after: RFC 3339, YYYY-MM-DD, unix ms, or a duration ago (2h).
    #[arg(long)]
    since: Option<String>,
    /// Dead-lettered before (same forms as --since).
    #[arg(long)]
    until: Option<String>,
    /// Only these events (repeat the flag, or separate with commas).
    #[arg(long = "event-id", value_delimiter = ',')]
    event_id: Vec<String>,
}

#[derive(clap::Subcommand, Debug)]
pub enum ConnectionsCommand {
    /// Every connected user (tokens masked).
    List,
    /// One connection (tokens masked).
    Show {
        /// pulsegate's user id of the connection.
        user_id: String,
    },
    /// Deauthorise a user: the provider tokens and the user's data key are destroyed
    /// (their stored data can no longer be read), a `deauth` event goes to the
    /// destinations, and the connection is deleted. Irreversible: needs --yes.
    Revoke {
        /// pulsegate's user id of the connection.
        user_id: String,
        /// Confirm: the user's key is erased and cannot be recovered.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum DestinationsCommand {
    /// Every destination: enabled or why not, URL, masked secret, what it receives.
    List,
    /// Stop delivering to a destination; its events wait on its cursor until `resume`.
    /// (A `[[destinations]]` of the config file takes the file's `enabled` back at the
    /// next start.)
    Pause {
        /// The destination's id.
        id: String,
    },
    /// Deliver again from where the destination stopped (also re-enables one the
    /// dispatcher disabled).
    Resume {
        /// The destination's id.
        id: String,
    },
    /// Give a destination a new signing secret, printed once. With --overlap-secs the
    /// old secret signs too for that long (each delivery carries both signatures), so
    /// the receiver can switch verifiers without refusing a delivery; without, it stops
    /// at once (after a leak). Needs --yes. (A `[[destinations]]` of the config file gets
    /// the file's secret back at the next start: change it there too.)
    RotateSecret {
        /// The destination's id.
        id: String,
        /// Seconds the old secret keeps signing beside the new one (at most 604800, a
        /// week; 86400 for a scheduled rotation). 0: it stops at once.
        #[arg(long, default_value_t = 0)]
        overlap_secs: u64,
        /// Confirm: deliveries are signed with the new secret from now on.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum TopicsCommand {
    /// Each topic's partitions with their end offsets, and each consumer group reading
    /// it with its committed offsets and lag.
    Describe {
        /// Only this topic (raw, events, retry_0, dead_letters, …).
        topic: Option<String>,
    },
}

/// One of the command groups, for [`run`].
pub enum OpsCommand {
    DeadLetters(DeadLettersCommand),
    Connections(ConnectionsCommand),
    Destinations(DestinationsCommand),
    Topics(TopicsCommand),
}

impl OpsCommand {
    fn name(&self) -> &'static str {
        match self {
            OpsCommand::DeadLetters(_) => "dead-letters",
            OpsCommand::Connections(_) => "connections",
            OpsCommand::Destinations(_) => "destinations",
            OpsCommand::Topics(_) => "topics",
        }
    }
}

/// What a command answers: the API's JSON (`--output json`) and its text for a terminal.
struct Answer {
    json: Value,
    text: String,
}

/// Runs one command; the process's exit code (0 done, 1 refused by the API, 2 bad
/// arguments or settings, 3 unreachable, 4 token refused or throttled).
pub fn run(target: AdminTarget, command: OpsCommand) -> i32 {
    let name = command.name();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return report(name, &CliFailure::Usage(format!("async runtime: {e}"))),
    };
    let result = runtime.block_on(async {
        let client = connect(&target)?;
        match command {
            OpsCommand::DeadLetters(c) => dead_letters(&client, c).await,
            OpsCommand::Connections(c) => connections(&client, c).await,
            OpsCommand::Destinations(c) => destinations(&client, c).await,
            OpsCommand::Topics(c) => topics(&client, c).await,
        }
    });
    match result {
        Ok(answer) => {
            let text = match target.output() {
                Output::Json => serde_json::to_string_pretty(&answer.json).unwrap_or_default(),
                Output::Table => answer.text,
            };
            // A closed pipe (`| head`) is not the command's failure.
            let _ = writeln!(std::io::stdout().lock(), "{text}");
            0
        }
        Err(e) => report(name, &e),
    }
}

fn report(name: &str, e: &CliFailure) -> i32 {
    let _ = writeln!(std::io::stderr().lock(), "pulsegate {name}: {e}");
    e.exit_code()
}

/// An id as one URL path segment.
fn segment(id: &str) -> Result<String, CliFailure> {
    if id.is_empty() {
        return Err(CliFailure::Usage("the id must not be empty".into()));
    }
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(out)
}

fn instant(flag: &str, v: Option<&String>) -> Result<Option<u64>, CliFailure> {
    v.map(|v| when::parse_instant(v, pulsegate_schema::now_ms()))
        .transpose()
        .map_err(|e| CliFailure::Usage(format!("--{flag}: {e}")))
}

async fn dead_letters(client: &AdminClient, c: DeadLettersCommand) -> Result<Answer, CliFailure> {
    match c {
        DeadLettersCommand::List { destination, limit } => {
            let q = query(&[
                ("destination", destination),
                ("limit", Some(limit.to_string())),
            ]);
            let json = client.get(&format!("/v1/admin/dead-letters{q}")).await?;
            let text = render::dead_letters(&json);
            Ok(Answer { json, text })
        }
        DeadLettersCommand::Replay(a) => {
            let since = instant("since", a.since.as_ref())?;
            let until = instant("until", a.until.as_ref())?;
            if let (Some(s), Some(u)) = (since, until) {
                if u <= s {
                    return Err(CliFailure::Usage("--until must be after --since".into()));
                }
            }
            let mut body = json!({});
            if let Some(d) = a.destination {
                body["destination_id"] = json!(d);
            }
            if let Some(s) = since {
                body["from_ms"] = json!(s);
            }
            if let Some(u) = until {
                body["to_ms"] = json!(u);
            }
            if !a.event_id.is_empty() {
                body["event_ids"] = json!(a.event_id);
            }
            let json = client.post("/v1/admin/dead-letters/replay", &body).await?;
            let text = render::replay(&json);
            Ok(Answer { json, text })
        }
    }
}

async fn connections(client: &AdminClient, c: ConnectionsCommand) -> Result<Answer, CliFailure> {
    match c {
        ConnectionsCommand::List => {
            let json = client.get("/v1/admin/connections").await?;
            let text = render::connections(&json);
            Ok(Answer { json, text })
        }
        ConnectionsCommand::Show { user_id } => {
            let path = format!("/v1/admin/connections/{}", segment(&user_id)?);
            let json = client.get(&path).await?;
            let text = render::fields(&json);
            Ok(Answer { json, text })
        }
        ConnectionsCommand::Revoke { user_id, yes } => {
            let path = format!("/v1/admin/connections/{}", segment(&user_id)?);
            if !yes {
                return Err(CliFailure::Usage(format!(
                    "revoking {user_id} destroys its tokens and its data key (what is stored \
                     of the user can no longer be read) and cannot be undone: add --yes"
                )));
            }
            client.delete(&path).await?;
            Ok(Answer {
                json: json!({ "user_id": user_id, "revoked": true }),
                text: format!(
                    "connection {user_id} revoked: tokens and data key destroyed, deauth sent \
                     to the destinations, connection deleted"
                ),
            })
        }
    }
}

async fn destinations(client: &AdminClient, c: DestinationsCommand) -> Result<Answer, CliFailure> {
    let (id, action, query) = match c {
        DestinationsCommand::List => {
            let json = client.get("/v1/admin/destinations").await?;
            let text = render::destinations(&json);
            return Ok(Answer { json, text });
        }
        DestinationsCommand::Pause { id } => (id, "pause", String::new()),
        DestinationsCommand::Resume { id } => (id, "resume", String::new()),
        DestinationsCommand::RotateSecret {
            id,
            overlap_secs,
            yes,
        } => {
            if !yes {
                let overlap = if overlap_secs > 0 {
                    format!("the old one also signs for {overlap_secs} s only")
                } else {
                    "the old one stops at once, so the receiver's verifier must be updated at \
                     once; --overlap-secs keeps it signing meanwhile"
                        .to_string()
                };
                return Err(CliFailure::Usage(format!(
                    "rotating {id}'s secret signs every delivery from now on with a new secret \
                     ({overlap}): add --yes"
                )));
            }
            let query = if overlap_secs > 0 {
                format!("?overlap_secs={overlap_secs}")
            } else {
                String::new()
            };
            (id, "rotate-secret", query)
        }
    };
    let path = format!("/v1/admin/destinations/{}/{action}{query}", segment(&id)?);
    let json = client.post(&path, &json!({})).await?;
    let text = match action {
        "pause" => format!(
            "destination {id} paused: nothing is delivered to it until \
             `pulsegate destinations resume {id}`; its events wait on its cursor"
        ),
        "resume" => format!("destination {id} resumed: delivery goes on from where it stopped"),
        _ => {
            let then = match json["previous_secret_signs_until_ms"].as_u64() {
                Some(until) => format!(
                    "The old secret also signs every delivery until {}: switch the \
                     receiver's verifier to the new one before then.",
                    crate::deliveries_cli::when::show(until)
                ),
                None => "Every delivery from now on is signed with it only: update the \
                         receiver's verifier."
                    .to_string(),
            };
            format!(
                "new signing secret of destination {id} (shown only now; store it):\n{}\n{then}",
                json["secret"].as_str().unwrap_or("-")
            )
        }
    };
    Ok(Answer { json, text })
}

async fn topics(client: &AdminClient, c: TopicsCommand) -> Result<Answer, CliFailure> {
    let TopicsCommand::Describe { topic } = c;
    let q = query(&[("topic", topic)]);
    let json = client.get(&format!("/v1/admin/topics{q}")).await?;
    let text = render::topics(&json);
    Ok(Answer { json, text })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_one_path_segment() {
        assert_eq!(segment("dest-1_a").unwrap(), "dest-1_a");
        assert_eq!(segment("a/../b c").unwrap(), "a%2F..%2Fb%20c");
        assert!(segment("").is_err());
    }
}

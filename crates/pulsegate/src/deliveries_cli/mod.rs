//! `pulsegate deliveries search|resend`: the delivery history and resend of the admin
//! API (docs/ADMIN.md) from a shell, over HTTP like any admin client. The admin URL and
//! token come from flags or the environment, or from the configuration file the
//! server runs with (its `[admin] listen`, and its token or generated token file).

pub(crate) mod client;
mod render;
pub(crate) mod when;

use std::io::Write;
use std::path::PathBuf;

use serde_json::{json, Value};

use self::client::{AdminClient, CliFailure};

/// Where the admin API is and how to authenticate (shared by every subcommand).
#[derive(clap::Args, Debug)]
pub struct AdminTarget {
    /// The admin listener's base URL (default: from --config's `[admin] listen`, else
    /// http://127.0.0.1:9091).
    #[arg(long, env = "PULSEGATE_ADMIN_URL", global = true)]
    admin_url: Option<String>,
    /// The admin bearer token (default: from --config: `[admin] token`, or the token
    /// file pulsegate generated).
    #[arg(
        long,
        env = "PULSEGATE_ADMIN__TOKEN",
        hide_env_values = true,
        global = true
    )]
    admin_token: Option<String>,
    /// For an https:// admin URL (`[admin.tls]`): the CA certificates (PEM) that sign
    /// the admin listener's certificate (default with --config: its `cert_file`, which
    /// serves a self-signed certificate or a chain that includes its CA).
    #[arg(long, env = "PULSEGATE_ADMIN_CA", global = true)]
    admin_ca: Option<PathBuf>,
    /// The server's configuration file, to find the admin URL and token.
    #[arg(long, short, env = "PULSEGATE_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// `table` (default) or `json` (the admin API's answers, for scripts).
    #[arg(long, value_enum, default_value = "table", global = true)]
    pub(crate) output: Output,
}

impl AdminTarget {
    /// `--output`: how answers are printed.
    pub(crate) fn output(&self) -> Output {
        self.output
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
}

#[derive(clap::Subcommand, Debug)]
pub enum DeliveriesCommand {
    /// Search the delivery history (every attempt of every dispatch process), newest first.
    Search(SearchArgs),
    /// Send events again with their original webhook-ids: one delivery by webhook-id, a
    /// user's events since a time, or a destination's events since a time.
    Resend(ResendArgs),
}

#[derive(clap::Args, Debug)]
pub struct SearchArgs {
    /// Only this user's events.
    #[arg(long)]
    user: Option<String>,
    /// Only attempts to this destination.
    #[arg(long)]
    destination: Option<String>,
    /// Only this event type (activity, sleep, …).
    #[arg(long)]
    event_type: Option<String>,
    /// Only the attempts of this delivery (its webhook-id header).
    #[arg(long)]
    webhook_id: Option<String>,
    /// Attempts at or after: RFC 3339, YYYY-MM-DD, unix ms, or a duration ago (2h).
    #[arg(long)]
    since: Option<String>,
    /// Attempts before (same forms as --since).
    #[arg(long)]
    until: Option<String>,
    /// At most this many (1–1000).
    #[arg(long, default_value_t = 100)]
    limit: u32,
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["webhook_id", "since"])))]
pub struct ResendArgs {
    /// The delivery to send again (found in the history: its destination and event).
    #[arg(long, conflicts_with_all = ["user", "since", "until"])]
    webhook_id: Option<String>,
    /// With --since: this user's events (to every enabled destination that takes them,
    /// or only to --destination).
    #[arg(long, requires = "since")]
    user: Option<String>,
    /// With --since: to this destination (of --user's events, or of every user's).
    #[arg(long, conflicts_with = "webhook_id")]
    destination: Option<String>,
    /// Events received at or after this time (same forms as search's --since).
    #[arg(long)]
    since: Option<String>,
    /// Events received before this time.
    #[arg(long, requires = "since")]
    until: Option<String>,
}

/// Runs `pulsegate deliveries …`; the process's exit code.
pub fn run(target: AdminTarget, command: DeliveriesCommand) -> i32 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return report(&CliFailure::Usage(format!("async runtime: {e}"))),
    };
    let output = target.output;
    let result = runtime.block_on(async {
        let client = connect(&target)?;
        match command {
            DeliveriesCommand::Search(a) => search(&client, a).await,
            DeliveriesCommand::Resend(a) => resend(&client, a).await,
        }
    });
    match result {
        Ok(answer) => {
            let text = match output {
                Output::Json => serde_json::to_string_pretty(&answer).unwrap_or_default(),
                Output::Table => render::table(&answer),
            };
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) is not the command's failure.
            let _ = writeln!(out, "{text}");
            0
        }
        Err(e) => report(&e),
    }
}

fn report(e: &CliFailure) -> i32 {
    let _ = writeln!(std::io::stderr().lock(), "pulsegate deliveries: {e}");
    e.exit_code()
}

pub(crate) fn connect(target: &AdminTarget) -> Result<AdminClient, CliFailure> {
    let config = match &target.config {
        Some(path) if target.admin_url.is_none() || target.admin_token.is_none() => Some(
            crate::config::Config::load(Some(path))
                .map_err(|e| CliFailure::Usage(format!("{e:#}")))?,
        ),
        _ => None,
    };
    let url = match (&target.admin_url, &config) {
        (Some(u), _) => u.clone(),
        (None, Some(c)) => {
            let mut listen = c.admin.listen;
            if listen.ip().is_unspecified() {
                listen.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            let scheme = if c.admin.tls.is_some() {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{listen}")
        }
        (None, None) => "http://127.0.0.1:9091".to_string(),
    };
    let token = match (&target.admin_token, &config) {
        (Some(t), _) => t.clone(),
        (None, Some(c)) if !c.admin.token.expose().is_empty() => c.admin.token.expose().to_string(),
        (None, Some(c)) => {
            // Read only: the CLI never generates a token (the server does, at its start).
            let path = crate::admin_token::token_path(c);
            std::fs::read_to_string(&path)
                .map(|t| t.trim().to_string())
                .map_err(|e| {
                    CliFailure::Usage(format!(
                        "no admin token: [admin] token is empty and {} cannot be read ({e})",
                        path.display()
                    ))
                })?
        }
        (None, None) => {
            return Err(CliFailure::Usage(
                "no admin token: give --admin-token, PULSEGATE_ADMIN__TOKEN or --config".into(),
            ))
        }
    };
    let ca_file = target.admin_ca.clone().or_else(|| {
        config
            .as_ref()
            .and_then(|c| c.admin.tls.as_ref())
            .map(|t| t.cert_file.clone())
    });
    let ca = ca_file
        .map(|path| {
            std::fs::read(&path).map_err(|e| {
                CliFailure::Usage(format!(
                    "--admin-ca {}: cannot be read ({e})",
                    path.display()
                ))
            })
        })
        .transpose()?;
    AdminClient::new(&url, token, ca.as_deref())
}

fn instant(flag: &str, v: Option<&String>) -> Result<Option<u64>, CliFailure> {
    v.map(|v| when::parse_instant(v, pulsegate_schema::now_ms()))
        .transpose()
        .map_err(|e| CliFailure::Usage(format!("--{flag}: {e}")))
}

/// `key=value` pairs as a query string.
pub(crate) fn query(pairs: &[(&str, Option<String>)]) -> String {
    let mut q = url_encoded(pairs);
    if !q.is_empty() {
        q.insert(0, '?');
    }
    q
}

fn url_encoded(pairs: &[(&str, Option<String>)]) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        let Some(v) = v else { continue };
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        for b in v.bytes() {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

async fn search(client: &AdminClient, a: SearchArgs) -> Result<Value, CliFailure> {
    let since = instant("since", a.since.as_ref())?;
    let until = instant("until", a.until.as_ref())?;
    if let (Some(s), Some(u)) = (since, until) {
        if u <= s {
            return Err(CliFailure::Usage("--until must be after --since".into()));
        }
    }
    let q = query(&[
        ("destination", a.destination),
        ("user_id", a.user),
        ("type", a.event_type),
        ("webhook_id", a.webhook_id),
        ("since_ms", since.map(|v| v.to_string())),
        ("until_ms", until.map(|v| v.to_string())),
        ("limit", Some(a.limit.to_string())),
    ]);
    client
        .get(&format!("/v1/admin/deliveries/history{q}"))
        .await
}

async fn resend(client: &AdminClient, a: ResendArgs) -> Result<Value, CliFailure> {
    let mut requests: Vec<Value> = Vec::new();
    if let Some(webhook_id) = &a.webhook_id {
        let q = query(&[
            ("webhook_id", Some(webhook_id.clone())),
            ("limit", Some("1".into())),
        ]);
        let found = client
            .get(&format!("/v1/admin/deliveries/history{q}"))
            .await?;
        let Some(attempt) = found["deliveries"].as_array().and_then(|d| d.first()) else {
            return Err(CliFailure::Refused {
                status: 404,
                message: format!("no delivery with webhook-id {webhook_id} in the history"),
            });
        };
        requests.push(json!({
            "destination_id": attempt["destination_id"],
            "event_ids": [attempt["event_id"]],
        }));
    } else {
        let since = instant("since", a.since.as_ref())?;
        let until = instant("until", a.until.as_ref())?;
        let destinations = match &a.destination {
            Some(d) => vec![d.clone()],
            None if a.user.is_some() => enabled_destinations(client).await?,
            None => {
                return Err(CliFailure::Usage(
                    "--since needs --user or --destination (whose events to send again)".into(),
                ))
            }
        };
        for d in destinations {
            let mut body = json!({"destination_id": d, "since_ms": since});
            if let Some(u) = until {
                body["until_ms"] = json!(u);
            }
            if let Some(user) = &a.user {
                body["user_id"] = json!(user);
            }
            requests.push(body);
        }
    }
    let mut results = Vec::new();
    for body in requests {
        let answer = client.post("/v1/admin/deliveries/resend", &body).await?;
        results.push(json!({
            "destination_id": body["destination_id"],
            "resent": answer["resent"],
            "skipped_not_subscribed": answer["skipped_not_subscribed"],
            "complete": answer["complete"],
        }));
    }
    Ok(json!({ "resends": results }))
}

async fn enabled_destinations(client: &AdminClient) -> Result<Vec<String>, CliFailure> {
    let list = client.get("/v1/admin/destinations").await?;
    let all = list["destinations"].as_array().cloned().unwrap_or_default();
    Ok(all
        .iter()
        .filter(|d| d["enabled"] != false)
        .filter_map(|d| d["id"].as_str().map(str::to_string))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_encoded() {
        assert_eq!(
            query(&[
                ("a", Some("x y&z".into())),
                ("b", None),
                ("c", Some("1".into()))
            ]),
            "?a=x%20y%26z&c=1"
        );
        assert_eq!(query(&[("b", None)]), "");
    }
}

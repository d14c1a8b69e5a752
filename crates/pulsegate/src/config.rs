//! `pulsegate.toml`, with every key overridable by `PULSEGATE_<SECTION>__<KEY>`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use pulsegate_admin::AdminConfig;
use pulsegate_dispatcher::DispatcherConfig;
use pulsegate_ingest::IngestConfig;
use pulsegate_normalizer::NormalizerConfig;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub bus: BusConfig,
    pub log: LogConfig,
    pub admin: AdminConfig,
    pub ingest: IngestConfig,
    pub normalizer: NormalizerConfig,
    pub dispatcher: DispatcherConfig,
    /// The OAuth2 connect flow (authorize URLs, callback, code exchange).
    pub connect: pulsegate_connect::ConnectConfig,
    /// Encryption at rest of secret-bearing state (connections, provider credentials).
    pub security: pulsegate_state::SecurityConfig,
    /// The Terra-compatible API under `/v2` and its widget (session and token lifetimes).
    pub terra_api: pulsegate_terra_api::TerraApiConfig,
    /// The file and environment layers this was read from (to re-read it with stored
    /// provider credentials on top).
    #[serde(skip)]
    pub layers: Figment,
    /// Destinations declared in the file; created or updated at start.
    pub destinations: Vec<DestinationConfig>,
    /// The file this was read from, if any (a generated admin token goes beside it
    /// when there is no data dir).
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address of the public HTTP listener (provider pushes, `/v2`, OAuth callbacks, the
    /// widget, health). The admin API and `/metrics` are on `[admin] listen`.
    pub listen: SocketAddr,
    /// Open connections on the public listener. Over it, the oldest connection with no
    /// request in flight is closed, or the new one gets 503 with `Retry-After`. Lowered
    /// at start to fit the open-file limit.
    pub max_connections: usize,
    /// A request's headers must arrive within this (also how long an idle keep-alive
    /// connection stays open).
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// A request's body must arrive within this, extended by one second per
    /// `body_min_rate` bytes received (408 and the connection closed).
    #[serde(with = "humantime_serde")]
    pub body_read_timeout: Duration,
    /// Minimum body rate, bytes per second (0: `body_read_timeout` is a total deadline).
    pub body_min_rate: u64,
    /// However fast it arrives, a body must be complete within this.
    #[serde(with = "humantime_serde")]
    pub body_read_timeout_max: Duration,
    /// A connection where no byte moves either way for this long, with no request being
    /// handled, is closed (a client that stops reading its answer).
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Largest body of routes without a limit of their own (`/v2`, OAuth callbacks, the
    /// widget, the admin API); checked against `Content-Length` before reading.
    pub max_body_bytes: u64,
    /// `[server.tls]`: serve the public listener over TLS (usually a load balancer or
    /// ingress terminates TLS instead). Same keys as `[admin.tls]`.
    pub tls: Option<pulsegate_admin::ListenerTls>,
    /// Graceful shutdown (SIGTERM, SIGINT): seconds between the signal and closing the
    /// listeners, while `/readyz` already answers 503 so a load balancer stops sending
    /// (requests still arriving meanwhile are served). 0: close at once.
    pub shutdown_delay_secs: u64,
    /// Graceful shutdown: seconds, after the delay, for in-flight requests, deliveries
    /// and normalizations to finish and be committed. Past it the process exits
    /// non-zero, logging what was still running (uncommitted work is redone after the
    /// restart).
    pub shutdown_grace_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(20),
            body_min_rate: 500,
            body_read_timeout_max: Duration::from_secs(300),
            idle_timeout: Duration::from_secs(60),
            max_body_bytes: 1024 * 1024,
            tls: None,
            shutdown_delay_secs: 0,
            shutdown_grace_secs: 30,
        }
    }
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum BusKind {
    #[default]
    Embedded,
    Kafka,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusConfig {
    /// `embedded` (durable log on local disk, one machine) or `kafka`.
    pub kind: BusKind,
    /// Where the embedded log keeps its files.
    pub data_dir: PathBuf,
    /// Partitions of the raw and events topics (the unit of parallelism).
    pub partitions: u32,
    /// How long raw notifications, events and dead letters are kept.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// Read cache of the embedded log, MiB.
    pub cache_mib: u64,
    /// Write buffer per partition of the embedded log, MiB: smaller flushes mean shorter
    /// fsync stalls behind them (tail latency), larger ones fewer, bigger tables.
    /// Default 1: against 4, the half-load ack p99 about halves and ingest's memory too,
    /// for ~2-3% of ingest throughput (paired runs in docs/PERFORMANCE.md).
    pub memtable_mib: u64,
    /// Journal of the embedded log before its fullest write buffers are flushed, MiB
    /// (at least 64): with `memtable_mib`, what bounds the log's memory.
    pub journal_mib: u64,
    /// Free disk space the embedded log keeps in reserve, MiB: below it appends are
    /// refused (ingest answers 503, the other roles pause) until space returns. 0 = off.
    pub min_free_mib: u64,
    /// What a start does when the embedded log lost records it acknowledged (a cut or
    /// removed journal): `refuse` (default) or `accept-loss` (start, log what was lost;
    /// same as `--accept-data-loss`).
    pub recovery: BusRecovery,
    /// Kafka settings (`[bus.kafka]`), required when `kind = "kafka"`.
    pub kafka: Option<pulsegate_bus::kafka::KafkaConfig>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BusRecovery {
    #[default]
    Refuse,
    AcceptLoss,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            kind: BusKind::Embedded,
            data_dir: PathBuf::from("./data"),
            partitions: 8,
            retention: Duration::from_secs(7 * 24 * 3600),
            cache_mib: 64,
            memtable_mib: 1,
            journal_mib: 128,
            min_free_mib: 256,
            recovery: BusRecovery::Refuse,
            kafka: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `tracing` filter, e.g. `info` or `pulsegate=debug,info`.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: "text".into(),
        }
    }
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct DestinationConfig {
    pub id: String,
    pub url: String,
    /// `whsec_` + base64 (24-64 bytes).
    pub secret: String,
    #[serde(default)]
    pub event_types: Vec<String>,
    /// Providers by Terra name (`GARMIN`); empty = all.
    #[serde(default)]
    pub providers: Vec<String>,
    /// Each user's events in order, one in flight per user.
    #[serde(default)]
    pub ordered: bool,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `s3://` destinations: the access key id (required there, refused elsewhere).
    #[serde(default)]
    pub s3_access_key_id: Option<String>,
    /// `s3://` destinations: the secret access key (required there, refused elsewhere).
    #[serde(default)]
    pub s3_secret_access_key: Option<String>,
    /// SASL credentials for a `kafka://` / `kafkas://` destination (never in the URL).
    #[serde(default)]
    pub kafka_username: Option<String>,
    #[serde(default)]
    pub kafka_password: Option<String>,
    /// The SASL mechanism: `PLAIN` (default), `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    #[serde(default)]
    pub kafka_mechanism: Option<String>,
    /// `kafkas://` destinations: the CA certificates (PEM) signing the brokers'
    /// certificates, when not a public CA.
    #[serde(default)]
    pub kafka_ca_pem: Option<String>,
    /// Webhooks only (`[destinations.claim_check]`): bodies over `threshold_bytes` are
    /// stored in this S3 store and the webhook carries Terra's `s3_payload` event.
    #[serde(default)]
    pub claim_check: Option<ClaimCheckConfig>,
}

/// A destination's claim-check store (Terra's ping / `s3_payload` mode).
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ClaimCheckConfig {
    /// `s3://bucket[/prefix][?endpoint=…&region=…]`.
    pub url: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Bodies longer than this go through the store; 0 (default) = every body.
    #[serde(default)]
    pub threshold_bytes: u64,
    /// Lifetime of the pre-signed URL (default 600 s, Terra's; at most 7 days).
    #[serde(default = "default_claim_expiry")]
    pub expires_in_secs: u32,
}

fn default_claim_expiry() -> u32 {
    pulsegate_schema::ClaimCheck::DEFAULT_EXPIRES_IN_SECS
}

impl DestinationConfig {
    /// The claim-check settings as stored.
    pub fn claim_check(&self) -> Option<pulsegate_schema::ClaimCheck> {
        self.claim_check
            .as_ref()
            .map(|c| pulsegate_schema::ClaimCheck {
                url: c.url.clone(),
                access_key_id: c.access_key_id.clone(),
                secret_access_key: pulsegate_schema::Secret::new(c.secret_access_key.clone()),
                threshold_bytes: c.threshold_bytes,
                expires_in_secs: c.expires_in_secs,
            })
    }

    /// The Kafka credentials, when both are set.
    pub fn kafka_auth(&self) -> Option<pulsegate_schema::KafkaAuth> {
        match (&self.kafka_username, &self.kafka_password) {
            (Some(u), Some(p)) => Some(pulsegate_schema::KafkaAuth {
                mechanism: self
                    .kafka_mechanism
                    .clone()
                    .unwrap_or_else(|| "PLAIN".into()),
                username: u.clone(),
                password: pulsegate_schema::Secret::new(p.clone()),
            }),
            _ => None,
        }
    }
}

fn yes() -> bool {
    true
}

impl Config {
    /// Reads the file (if given) and the environment. The error is one line naming the key.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::new();
        if let Some(path) = path {
            if !path.exists() {
                anyhow::bail!("config file {} does not exist", path.display());
            }
            figment = figment.merge(Toml::file(path));
        }
        // PULSEGATE_CONFIG names the file itself (see main.rs), it is not a key.
        figment = figment.merge(Env::prefixed("PULSEGATE_").ignore(&["config"]).split("__"));
        let mut config = Self::from_layers(figment)?;
        config.path = path.map(Path::to_path_buf);
        // The generated key file goes beside it (see keyfile.rs).
        config.security.config_file = path.map(Path::to_path_buf);
        Ok(config)
    }

    fn from_layers(figment: Figment) -> anyhow::Result<Self> {
        let mut config: Config = figment.extract().map_err(one_line)?;
        config.validate()?;
        config.admin.allow_private_networks = config.dispatcher.allow_private_networks;
        config.admin.file_destinations = config.destinations.iter().map(|d| d.id.clone()).collect();
        config.layers = figment;
        Ok(config)
    }

    /// This configuration with providers' stored credentials on top (they win over the
    /// file and the environment). `previous`: use the values being rotated out instead,
    /// for the verifiers that keep accepting them during the grace period.
    pub fn with_credentials(
        &self,
        stored: &[std::sync::Arc<pulsegate_schema::ProviderCredentials>],
        previous: bool,
    ) -> anyhow::Result<Self> {
        use pulsegate_provider::credentials::CredentialKind;
        use pulsegate_providers::credential_fields;
        let mut overlay = serde_json::Map::new();
        for c in stored {
            for field in credential_fields(c.provider) {
                let value = if previous {
                    c.previous
                        .get(field.name)
                        .or_else(|| c.fields.get(field.name))
                } else {
                    c.fields.get(field.name)
                };
                let Some(value) = value else { continue };
                let json = match field.kind {
                    CredentialKind::Number => match value.expose().parse::<u64>() {
                        Ok(n) => serde_json::Value::from(n),
                        Err(_) => continue,
                    },
                    _ => serde_json::Value::String(value.expose().to_string()),
                };
                for target in field.targets {
                    let mut node = &mut overlay;
                    let mut parts = target.split('.').peekable();
                    while let Some(part) = parts.next() {
                        if parts.peek().is_none() {
                            node.insert(part.to_string(), json.clone());
                        } else {
                            node = node
                                .entry(part.to_string())
                                .or_insert_with(|| serde_json::Value::Object(Default::default()))
                                .as_object_mut()
                                .expect("overlay nodes are objects");
                        }
                    }
                }
            }
        }
        if overlay.is_empty() {
            return Self::from_layers(self.layers.clone());
        }
        let layers = self
            .layers
            .clone()
            .merge(figment::providers::Serialized::defaults(overlay));
        Self::from_layers(layers).map_err(|e| anyhow::anyhow!("stored credentials: {e}"))
    }

    fn validate(&self) -> anyhow::Result<()> {
        check_admin_token(self.admin.token.expose())?;
        let s = &self.server;
        if s.max_connections == 0 || self.admin.max_connections == 0 {
            anyhow::bail!(
                "invalid config: server.max_connections and admin.max_connections must be at least 1"
            );
        }
        for (key, d) in [
            ("server.header_read_timeout", s.header_read_timeout),
            ("server.body_read_timeout", s.body_read_timeout),
            ("server.idle_timeout", s.idle_timeout),
            ("server.body_read_timeout_max", s.body_read_timeout_max),
        ] {
            if d.is_zero() {
                anyhow::bail!("invalid config: {key} must be more than 0");
            }
        }
        if s.body_read_timeout_max < s.body_read_timeout {
            anyhow::bail!(
                "invalid config: server.body_read_timeout_max must be at least server.body_read_timeout"
            );
        }
        if s.shutdown_grace_secs == 0 {
            anyhow::bail!("invalid config: server.shutdown_grace_secs must be at least 1");
        }
        // Every provider reads its own tables: build each once, naming the section.
        if let Err(e) =
            pulsegate_providers::check(&self.ingest.providers, &self.normalizer.providers)
        {
            anyhow::bail!("invalid config: {e}");
        }
        if self.bus.partitions == 0 || self.bus.partitions > 1024 {
            anyhow::bail!("invalid config: bus.partitions must be between 1 and 1024");
        }
        if self.bus.journal_mib < 64 {
            anyhow::bail!("invalid config: bus.journal_mib must be at least 64");
        }
        if self.bus.kind == BusKind::Kafka {
            match &self.bus.kafka {
                None => anyhow::bail!(
                    "invalid config: bus.kafka.brokers: required when bus.kind = \"kafka\""
                ),
                Some(k) => {
                    if let Err(e) = k.validate() {
                        anyhow::bail!("invalid config: bus.kafka: {e}");
                    }
                }
            }
        }
        for (i, d) in self.destinations.iter().enumerate() {
            if let Err(e) = pulsegate_dispatcher::parse_secret(&d.secret) {
                anyhow::bail!("invalid config: destinations[{i}].secret: {e}");
            }
            if let Err(e) = pulsegate_dispatcher::validate_destination_url(
                &d.url,
                self.dispatcher.allow_private_networks,
            ) {
                anyhow::bail!("invalid config: destinations[{i}].url: {e}");
            }
            if let Err(e) = pulsegate_dispatcher::check_s3_credentials(
                &d.url,
                d.s3_access_key_id.as_deref(),
                d.s3_secret_access_key.as_deref(),
            ) {
                anyhow::bail!("invalid config: destinations[{i}].{e}");
            }
            if let Err(e) = pulsegate_dispatcher::check_kafka_settings(
                &d.url,
                d.kafka_auth().as_ref(),
                d.kafka_ca_pem.as_deref(),
            ) {
                anyhow::bail!("invalid config: destinations[{i}]: {e}");
            }
            if let Err(e) = pulsegate_dispatcher::check_claim_check(
                &d.url,
                d.claim_check().as_ref(),
                self.dispatcher.allow_private_networks,
            ) {
                anyhow::bail!("invalid config: destinations[{i}].{e}");
            }
            if d.kafka_username.is_some() != d.kafka_password.is_some() {
                anyhow::bail!(
                    "invalid config: destinations[{i}]: kafka_username and kafka_password go together"
                );
            }
            if d.kafka_mechanism.is_some() && d.kafka_username.is_none() {
                anyhow::bail!(
                    "invalid config: destinations[{i}]: kafka_mechanism needs kafka_username and kafka_password"
                );
            }
            for t in &d.event_types {
                if serde_json::from_value::<pulsegate_schema::EventType>(serde_json::Value::String(
                    t.clone(),
                ))
                .is_err()
                {
                    anyhow::bail!(
                        "invalid config: destinations[{i}].event_types: unknown event type {t:?}"
                    );
                }
            }
            for p in &d.providers {
                if !pulsegate_schema::Provider::ALL
                    .iter()
                    .any(|k| k.terra_name() == p)
                {
                    anyhow::bail!(
                        "invalid config: destinations[{i}].providers: unknown provider {p:?} (Terra names: GARMIN, STRAVA, …)"
                    );
                }
            }
        }
        Ok(())
    }
}

/// Tokens that appeared in examples (this repository's configs, docs and tests): anyone
/// can read them.
const EXAMPLE_ADMIN_TOKENS: &[&str] = &[
    "change-me-admin-token",
    "change-me",
    "changeme",
    "test-admin-token",
    "bench-admin-token",
];
pub const MIN_ADMIN_TOKEN_LEN: usize = 32;

/// An admin token must be secret and long; empty means "generate one" (see
/// `admin_token.rs`). The error never repeats the token.
fn check_admin_token(token: &str) -> anyhow::Result<()> {
    if token.is_empty() {
        return Ok(());
    }
    let lower = token.trim().to_ascii_lowercase();
    if EXAMPLE_ADMIN_TOKENS.contains(&lower.as_str()) || lower.contains("change-me") {
        anyhow::bail!(
            "invalid config: admin.token is an example token; set a random one of at least \
             {MIN_ADMIN_TOKEN_LEN} characters (e.g. `openssl rand -hex 32`) or leave it empty to \
             have one generated"
        );
    }
    if token.chars().count() < MIN_ADMIN_TOKEN_LEN {
        anyhow::bail!(
            "invalid config: admin.token is shorter than {MIN_ADMIN_TOKEN_LEN} characters; set a \
             random one (e.g. `openssl rand -hex 32`) or leave it empty to have one generated"
        );
    }
    Ok(())
}

fn one_line(e: figment::Error) -> anyhow::Error {
    let mut parts = Vec::new();
    for err in e {
        let key = err.path.join(".");
        let mut kind = err.kind.to_string();
        if key.is_empty() {
            parts.push(format!("invalid config: {kind}"));
        } else {
            // figment reports env keys in lower case; name them as written in the file.
            kind = kind.replace('\n', " ");
            parts.push(format!("invalid config: {key}: {kind}"));
        }
    }
    anyhow::anyhow!(parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(toml: &str) -> anyhow::Result<Config> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, toml).unwrap();
        Config::load(Some(&p))
    }

    #[test]
    fn example_config_loads() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pulsegate.example.toml");
        Config::load(Some(&p)).expect("the example config is valid");
    }

    #[test]
    fn destination_providers_are_terra_names() {
        let d = "[[destinations]]\nid = \"d\"\nurl = \"https://example.com/h\"\n\
                 secret = \"whsec_BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSY=\"\n";
        let c = load_str(&format!("{d}providers = [\"GARMIN\", \"APPLE\"]\n")).unwrap();
        assert_eq!(c.destinations[0].providers, ["GARMIN", "APPLE"]);
        let e = load_str(&format!("{d}providers = [\"garmin\"]\n")).unwrap_err();
        assert!(e.to_string().contains("destinations[0].providers"), "{e}");
    }

    #[test]
    fn s3_destinations_need_credentials_beside_the_url() {
        let d = "[[destinations]]\nid = \"lake\"\n\
                 url = \"s3://lake/terra?endpoint=https://minio.example.com&region=eu-west-1\"\n\
                 secret = \"whsec_BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSY=\"\n";
        let c = load_str(&format!(
            "{d}s3_access_key_id = \"AKIAX\"\ns3_secret_access_key = \"sk-value\"\n"
        ))
        .unwrap();
        assert_eq!(c.destinations[0].s3_access_key_id.as_deref(), Some("AKIAX"));
        let e = load_str(&format!("{d}s3_access_key_id = \"AKIAX\"\n")).unwrap_err();
        assert!(
            e.to_string()
                .contains("destinations[0].s3_secret_access_key"),
            "{e}"
        );
        let e = load_str(
            "[[destinations]]\nid = \"lake\"\nurl = \"s3://lake/x?endpoint=http://10.0.0.1\"\n\
             secret = \"whsec_BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSY=\"\n\
             s3_access_key_id = \"A\"\ns3_secret_access_key = \"B\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("destinations[0].url"), "{e}");
    }

    #[test]
    fn claim_check_is_a_table_of_a_webhook_destination() {
        let d = "[[destinations]]\nid = \"hook\"\nurl = \"https://hooks.example.com/terra\"\n\
                 secret = \"whsec_BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSY=\"\n\
                 [destinations.claim_check]\n\
                 url = \"s3://claims/pings?endpoint=https://minio.example.com\"\n\
                 access_key_id = \"AKIAX\"\nsecret_access_key = \"sk-claim-value\"\n";
        let c = load_str(&format!("{d}threshold_bytes = 1000000\n")).unwrap();
        let cc = c.destinations[0].claim_check().unwrap();
        assert_eq!(cc.threshold_bytes, 1_000_000);
        assert_eq!(cc.expires_in_secs, 600, "Terra's ten minutes by default");
        let e = load_str(&format!("{d}expires_in_secs = 700000\n")).unwrap_err();
        assert!(
            e.to_string()
                .contains("destinations[0].claim_check.expires_in_secs"),
            "{e}"
        );
        assert!(!e.to_string().contains("sk-claim-value"), "{e}");
        let kafka = d.replace(
            "https://hooks.example.com/terra",
            "kafka://k.example.com:9092/t",
        );
        let e = load_str(&kafka).unwrap_err();
        assert!(e.to_string().contains("destinations[0].claim_check"), "{e}");
    }

    #[test]
    fn kafka_destinations() {
        let d = |url: &str, extra: &str| {
            format!(
                "[dispatcher]\nallow_private_networks = true\n[[destinations]]\nid = \"k\"\n\
                 url = \"{url}\"\n\
                 secret = \"whsec_BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSY=\"\n{extra}"
            )
        };
        let c = load_str(&d(
            "kafka://127.0.0.1:9092/events",
            "kafka_username = \"u\"\nkafka_password = \"p\"\n",
        ))
        .unwrap();
        let auth = c.destinations[0].kafka_auth().unwrap();
        assert_eq!(
            (auth.mechanism.as_str(), auth.username.as_str()),
            ("PLAIN", "u")
        );
        assert_eq!(auth.password.expose(), "p");
        // TLS with SCRAM and a private CA.
        let c = load_str(&d(
            "kafkas://127.0.0.1:9093/events",
            "kafka_mechanism = \"SCRAM-SHA-256\"\nkafka_username = \"u\"\nkafka_password = \"p\"\n\
             kafka_ca_pem = \"-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\"\n",
        ))
        .unwrap();
        assert_eq!(
            c.destinations[0].kafka_auth().unwrap().mechanism,
            "SCRAM-SHA-256"
        );
        assert!(c.destinations[0].kafka_ca_pem.is_some());
        for (url, extra, what) in [
            ("kafka://127.0.0.1:9092", "", "url"),
            (
                "kafka://127.0.0.1:9092/events",
                "kafka_ca_pem = \"-----BEGIN CERTIFICATE-----\"\n",
                "kafka_ca_pem",
            ),
            (
                "kafka://127.0.0.1:9092/events",
                "kafka_mechanism = \"GSSAPI\"\nkafka_username = \"u\"\nkafka_password = \"p\"\n",
                "mechanism",
            ),
            (
                "kafka://127.0.0.1:9092/events",
                "kafka_mechanism = \"PLAIN\"\n",
                "kafka_mechanism needs",
            ),
            (
                "https://example.com/h",
                "kafka_username = \"u\"\nkafka_password = \"p\"\n",
                "kafka_auth",
            ),
            (
                "kafka://127.0.0.1:9092/events",
                "kafka_username = \"u\"\n",
                "go together",
            ),
        ] {
            let e = load_str(&d(url, extra)).unwrap_err();
            assert!(e.to_string().contains(what), "{url}: {e}");
        }
    }

    #[test]
    fn bus_recovery_and_reserve() {
        let c = load_str("[bus]\n").unwrap();
        assert_eq!(
            (c.bus.recovery, c.bus.min_free_mib),
            (BusRecovery::Refuse, 256)
        );
        let c = load_str("[bus]\nrecovery = \"accept-loss\"\nmin_free_mib = 10\n").unwrap();
        assert_eq!(
            (c.bus.recovery, c.bus.min_free_mib),
            (BusRecovery::AcceptLoss, 10)
        );
        assert!(load_str("[bus]\nrecovery = \"yolo\"\n").is_err());
    }

    #[test]
    fn errors_name_the_key() {
        let e = load_str("[bus]\npartitions = \"many\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bus.partitions"), "{e}");
        assert!(!e.contains('\n'), "{e}");
        let e = load_str("[server]\nlisten = \"nope\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("server.listen"), "{e}");
        let e = load_str("[bus]\ntypo = 1\n").unwrap_err().to_string();
        assert!(e.contains("typo"), "{e}");
        let e = load_str(
            "[[destinations]]\nid=\"a\"\nurl=\"http://127.0.0.1:1/\"\nsecret=\"whsec_short\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("destinations[0].secret"), "{e}");
        assert!(!e.contains("whsec_short"), "secrets never in errors: {e}");
    }

    #[test]
    fn google_health_signature_settings_must_be_able_to_verify() {
        let e = load_str(
            "[ingest.google_health]\nauthorization = \"Bearer s3cr3t-value\"\nsignature = \"require\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("ingest.google_health.signature"), "{e}");
        assert!(!e.contains("s3cr3t-value"), "{e}");
        let c = load_str(
            "[ingest.google_health]\nauthorization = \"Bearer s3cr3t-value\"\nsignature = \"off\"\n",
        )
        .unwrap();
        let mounted = pulsegate_ingest::mount::registry(&c.ingest);
        assert!(mounted
            .iter()
            .any(|v| v.provider() == pulsegate_schema::Provider::GoogleHealth));
        assert!(load_str("[ingest.google_health]\nsignature = \"sometimes\"\n").is_err());
    }

    #[test]
    fn example_and_short_admin_tokens_are_refused() {
        for bad in ["change-me-admin-token", "CHANGE-ME", "test-admin-token"] {
            let e = load_str(&format!("[admin]\ntoken = \"{bad}\"\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("admin.token is an example token"), "{e}");
            assert!(!e.contains(bad) && !e.contains('\n'), "{e}");
        }
        let e = load_str("[admin]\ntoken = \"0123456789abcdef0123456789abcde\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("shorter than 32"), "{e}");
        load_str("[admin]\ntoken = \"0123456789abcdef0123456789abcdef\"\n").unwrap();
        load_str("[admin]\ntoken = \"\"\n").unwrap();
    }

    #[test]
    fn shutdown_settings() {
        let c = load_str("").unwrap();
        assert_eq!(
            (c.server.shutdown_delay_secs, c.server.shutdown_grace_secs),
            (0, 30)
        );
        let c = load_str("[server]\nshutdown_delay_secs = 5\nshutdown_grace_secs = 60\n").unwrap();
        assert_eq!(
            (c.server.shutdown_delay_secs, c.server.shutdown_grace_secs),
            (5, 60)
        );
        let e = load_str("[server]\nshutdown_grace_secs = 0\n").unwrap_err();
        assert!(e.to_string().contains("server.shutdown_grace_secs"), "{e}");
    }
}

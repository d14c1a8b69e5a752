//! The Kafka sink: a destination `kafka://host:port[,host:port…]/topic` gets each event
//! as one record on its topic.
//!
//! * One idempotent `acks=all` producer per destination, cached and rebuilt when the URL
//!   changes (or after a fatal producer error).
//! * Record key = the event's user id (one user's events share a partition and stay in
//!   order there); value = the body bytes a webhook would receive; headers
//!   `webhook-id`, `webhook-timestamp`, `webhook-signature`, `terra-signature`,
//!   `terra-reference`, signed exactly as for HTTP.
//! * Delivered only once the broker's delivery report says so; any error is a failed
//!   attempt, so the retry tiers, breaker and dead letters apply unchanged.
//! * SSRF: the bootstrap brokers are resolved and checked before a producer is built,
//!   and the brokers the cluster advertises in its metadata are checked before the
//!   first record is sent (unless `allow_private_networks`). librdkafka resolves names
//!   itself afterwards, so a later DNS change is not re-checked per connection as the
//!   HTTP client does.
//! * `kafka://` is plaintext, `kafkas://` TLS with the broker's certificate and host
//!   name verified (against the system's roots, or the destination's `kafka_ca_pem`);
//!   either with SASL `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` when the destination
//!   has `kafka_auth` (the password stored encrypted with the destination). librdkafka
//!   does TLS and SCRAM with OpenSSL, built in (`ssl-vendored`) so a fresh machine
//!   needs no system library.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use pulsegate_schema::{Destination, KafkaAuth};
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, FromClientConfigAndContext, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::util::Timeout;

use super::url::KafkaUrl;
use super::Message;
use crate::attempt::{unix_secs, Failure, Outcome};
use crate::ssrf::{check_host, resolve_and_check, UrlError};

/// How long a send waits for room in librdkafka's queue.
const QUEUE_WAIT: Duration = Duration::from_secs(1);

/// Routes librdkafka's logs to tracing at debug level: an unreachable customer broker
/// is the customer's problem, reported through delivery failures and metrics.
pub(crate) struct SinkContext {
    destination: String,
    /// The last client-level error (a failed TLS handshake or SASL login shows only
    /// here; the record itself just times out), told with the next failed attempt.
    last_error: LastError,
}

/// The client's last error, shared by its context (which librdkafka's producer keeps
/// to itself) and the cached producer.
type LastError = std::sync::Arc<Mutex<Option<(std::time::Instant, String)>>>;

/// How long a client error explains later failed attempts (librdkafka says it once).
const CAUSE_FOR: Duration = Duration::from_secs(300);

impl ClientContext for SinkContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, msg: &str) {
        tracing::debug!(destination = %self.destination, fac, "librdkafka: {msg}");
        // A failed TLS handshake or SASL login is only logged (and repeats are
        // suppressed), so the cause is taken from here too.
        if (level as i32) <= (RDKafkaLogLevel::Warning as i32) {
            self.note(msg);
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(destination = %self.destination, %error, reason, "kafka destination client error");
        self.note(reason);
    }
}

impl SinkContext {
    /// librdkafka's messages name brokers and causes, never credentials. A TLS or
    /// SASL cause is kept over the generic messages that follow it ("1/1 brokers are
    /// down") while it is recent.
    fn note(&self, message: &str) {
        let mut last = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
        let keep = last.as_ref().is_some_and(|(at, old)| {
            at.elapsed() < CAUSE_FOR && kind_of(old).is_some() && kind_of(message).is_none()
        });
        if !keep {
            *last = Some((
                std::time::Instant::now(),
                message.chars().take(300).collect(),
            ));
        }
    }
}

/// `tls_error` or `auth_error` if a librdkafka message is about TLS or SASL.
fn kind_of(message: &str) -> Option<&'static str> {
    let lower = message.to_ascii_lowercase();
    if lower.contains("ssl") || lower.contains("certificate") {
        Some("tls_error")
    } else if lower.contains("sasl") || lower.contains("authentication") {
        Some("auth_error")
    } else {
        None
    }
}

type SinkProducer = FutureProducer<SinkContext>;

#[derive(Clone)]
struct Cached {
    url: String,
    auth: Option<KafkaAuth>,
    ca_pem: Option<String>,
    last_error: LastError,
    topic: String,
    producer: SinkProducer,
}

/// The producers of every Kafka destination.
pub(crate) struct KafkaSinks {
    timeout: Duration,
    allow_private_networks: bool,
    producers: Mutex<HashMap<String, Cached>>,
}

impl KafkaSinks {
    pub fn new(timeout: Duration, allow_private_networks: bool) -> Self {
        Self {
            timeout,
            allow_private_networks,
            producers: Mutex::new(HashMap::new()),
        }
    }

    /// One attempt: `Delivered` once the broker acknowledged the record (`acks=all`).
    pub async fn deliver(&self, m: &Message<'_>) -> Outcome {
        let cached = match self.producer(m.dest).await {
            Ok(c) => c,
            Err(f) => return Outcome::Failed(f),
        };
        let signed = m.sign(unix_secs());
        let header =
            |key, value: &str| -> (&'static str, Vec<u8>) { (key, value.as_bytes().to_vec()) };
        let mut headers = OwnedHeaders::new_with_capacity(5);
        for (key, value) in [
            header("webhook-id", m.webhook_id),
            header("webhook-timestamp", &signed.timestamp),
            header("webhook-signature", &signed.standard),
            header("terra-signature", &signed.terra),
            header("terra-reference", m.reference),
        ] {
            headers = headers.insert(Header {
                key,
                value: Some(&value[..]),
            });
        }
        let mut record: FutureRecord<'_, str, [u8]> = FutureRecord::to(&cached.topic)
            .payload(&m.body[..])
            .headers(headers);
        if !m.user_id.is_empty() {
            record = record.key(m.user_id);
        }
        match cached
            .producer
            .send(record, Timeout::After(QUEUE_WAIT))
            .await
        {
            Ok(_) => Outcome::Delivered,
            Err((e, _)) => {
                if cached.producer.client().fatal_error().is_some() {
                    self.forget(&m.dest.id, &cached.url);
                }
                let mut f = failure(&e);
                let recent = cached
                    .last_error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone()
                    .filter(|(at, _)| at.elapsed() < CAUSE_FOR);
                if let Some((_, cause)) = recent {
                    if let Some(kind) = kind_of(&cause) {
                        f.kind = kind;
                    }
                    f.error = format!("{} ({cause})", f.error);
                }
                Outcome::Failed(f)
            }
        }
    }

    /// The destination's producer, built (and checked) if its URL is new.
    async fn producer(&self, dest: &Destination) -> Result<Cached, Failure> {
        {
            let map = self.producers.lock().expect("kafka producers lock");
            if let Some(c) = map.get(&dest.id).filter(|c| {
                c.url == dest.url && c.auth == dest.kafka_auth && c.ca_pem == dest.kafka_ca_pem
            }) {
                return Ok(c.clone());
            }
        }
        let url = KafkaUrl::parse(&dest.url).map_err(|e| blocked_or_invalid(&e))?;
        if !self.allow_private_networks {
            for (host, _) in &url.brokers {
                check_host(host.clone(), false).map_err(|e| blocked_or_invalid(&e))?;
                resolve_and_check(host.clone())
                    .await
                    .map_err(|e| blocked_or_invalid(&e))?;
            }
        }
        let mut c = ClientConfig::new();
        let timeout_ms = self.timeout.as_millis().max(1000).to_string();
        c.set("bootstrap.servers", url.bootstrap_servers())
            .set("client.id", "pulsegate-dispatcher")
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("message.timeout.ms", &timeout_ms)
            .set("socket.connection.setup.timeout.ms", &timeout_ms)
            .set("allow.auto.create.topics", "false");
        crate::sink::url::check_kafka_settings(
            &dest.url,
            dest.kafka_auth.as_ref(),
            dest.kafka_ca_pem.as_deref(),
        )
        .map_err(|error| Failure {
            kind: "invalid",
            error,
            retry_after: None,
        })?;
        c.set(
            "security.protocol",
            url.security_protocol(dest.kafka_auth.is_some()),
        );
        if let Some(auth) = &dest.kafka_auth {
            c.set("sasl.mechanism", &auth.mechanism)
                .set("sasl.username", &auth.username)
                .set("sasl.password", auth.password.expose());
        }
        if url.tls {
            // Host names are checked against the certificate (librdkafka's default,
            // stated so it cannot silently change).
            c.set("ssl.endpoint.identification.algorithm", "https");
            match &dest.kafka_ca_pem {
                Some(pem) => c.set("ssl.ca.pem", pem),
                // The built-in OpenSSL does not know where this system keeps its roots.
                None => c.set("ssl.ca.location", "probe"),
            };
        }
        let last_error = LastError::default();
        let context = SinkContext {
            destination: dest.id.clone(),
            last_error: last_error.clone(),
        };
        let producer = SinkProducer::from_config_and_context(&c, context).map_err(|e| Failure {
            kind: "invalid",
            error: format!("kafka producer: {e}"),
            retry_after: None,
        })?;
        if !self.allow_private_networks {
            self.check_advertised(&producer, &url.topic).await?;
        }
        let cached = Cached {
            url: dest.url.clone(),
            auth: dest.kafka_auth.clone(),
            ca_pem: dest.kafka_ca_pem.clone(),
            last_error,
            topic: url.topic,
            producer,
        };
        self.producers
            .lock()
            .expect("kafka producers lock")
            .insert(dest.id.clone(), cached.clone());
        Ok(cached)
    }

    /// The brokers the cluster advertises are where records really go: each must pass
    /// the same address rules as the bootstrap brokers.
    async fn check_advertised(&self, producer: &SinkProducer, topic: &str) -> Result<(), Failure> {
        let (p, t, timeout) = (producer.clone(), topic.to_string(), self.timeout);
        let hosts = tokio::task::spawn_blocking(move || {
            p.client().fetch_metadata(Some(&t), timeout).map(|md| {
                md.brokers()
                    .iter()
                    .map(|b| b.host().to_string())
                    .collect::<Vec<_>>()
            })
        })
        .await
        .map_err(|e| Failure {
            kind: "failed",
            error: format!("kafka metadata: {e}"),
            retry_after: None,
        })?
        .map_err(|e| failure(&e))?;
        for host in hosts {
            let host = if host.contains(':') && !host.starts_with('[') {
                format!("[{host}]")
            } else {
                host
            };
            check_host(host.clone(), false).map_err(|e| blocked_or_invalid(&e))?;
            resolve_and_check(host)
                .await
                .map_err(|e| blocked_or_invalid(&e))?;
        }
        Ok(())
    }

    /// Drops a deleted or disabled destination's producer (attempts in flight keep
    /// their handle; a later attempt builds a new one).
    pub fn remove(&self, destination_id: &str) {
        self.producers
            .lock()
            .expect("kafka producers lock")
            .remove(destination_id);
    }

    fn forget(&self, destination_id: &str, url: &str) {
        let mut map = self.producers.lock().expect("kafka producers lock");
        if map.get(destination_id).is_some_and(|c| c.url == url) {
            map.remove(destination_id);
        }
    }
}

fn blocked_or_invalid(e: &UrlError) -> Failure {
    let kind = match e {
        UrlError::Blocked { .. } | UrlError::Unresolvable(_) => "blocked",
        _ => "invalid",
    };
    Failure {
        kind,
        error: e.to_string(),
        retry_after: None,
    }
}

/// Broker unreachable, topic missing, timeouts: `connection_error`; anything else the
/// broker refused: `failed`. Either way retried by the tiers.
fn failure(e: &KafkaError) -> Failure {
    use RDKafkaErrorCode as C;
    let code = e.rdkafka_error_code();
    let kind = match code {
        Some(
            C::MessageTimedOut
            | C::AllBrokersDown
            | C::BrokerTransportFailure
            | C::Resolve
            | C::OperationTimedOut
            | C::UnknownPartition
            | C::RequestTimedOut
            | C::NetworkException
            | C::UnknownTopic
            | C::UnknownTopicOrPartition
            | C::LeaderNotAvailable
            | C::NotLeaderForPartition
            | C::QueueFull
            | C::TimedOutQueue,
        ) => "connection_error",
        Some(C::SSL) => "tls_error",
        Some(C::Authentication | C::SaslAuthenticationFailed) => "auth_error",
        _ => "failed",
    };
    Failure {
        kind,
        error: format!("kafka: {e}"),
        retry_after: None,
    }
}

//! S3-compatible object storage destinations: `s3://bucket/prefix?endpoint=…&region=…`.
//!
//! One object per event, at `<prefix>/<user_id>/<event_type>/<webhook-id>.json`; its body
//! is the exact bytes a webhook would carry, its user metadata the webhook's headers
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature`, `terra-signature`,
//! `terra-reference`), so a reader can verify it like a webhook. A PUT that succeeds is
//! [`Outcome::Delivered`]; any error is [`Outcome::Failed`] and takes the same retry
//! tiers, breaker and dead letters as HTTP (object_store's own retries are off).
//!
//! The credentials are not in the URL (the admin API shows URLs) but in the
//! destination's `s3_access_key_id` / `s3_secret_access_key`. With `endpoint` the
//! requests are path-style to that endpoint (MinIO, moto, R2, …); without it they go to
//! AWS (`https://<bucket>.s3.<region>.amazonaws.com`). The SSRF guard applies to the
//! endpoint: at registration ([`endpoint_of`], used by `ssrf`) and at connect time (a
//! resolver that drops non-global addresses).
//!
//! Clients (connection pools) are cached per destination and rebuilt when its URL or
//! credentials change. The URL and its checks: `s3_url`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::client::{HttpClient as OsHttpClient, HttpConnector};
use object_store::{
    Attribute, Attributes, ClientOptions, ObjectStore, PutOptions, PutPayload, RetryConfig,
};
use pulsegate_schema::Destination;

use super::Message;
use crate::attempt::{Failure, Outcome};
use crate::client::HttpClient;
use crate::ssrf::check_ip;

pub use super::s3_url::{check_credentials, endpoint_of, S3Url, SCHEME};

/// Whether `dest` is delivered to object storage.
pub(crate) fn is_s3(dest: &Destination) -> bool {
    dest.url.starts_with(SCHEME)
}

/// What an object carries besides its body.
pub(crate) struct ObjectMeta<'a> {
    pub user_id: &'a str,
    pub event_type: &'a str,
    pub webhook_id: &'a str,
    /// Header name and value, as a webhook would carry them.
    pub headers: [(&'static str, &'a str); 5],
}

/// Delivers `m` as an object, signed like the webhook at this moment. The status is
/// 200 when stored (for the recent-deliveries view).
pub(crate) async fn deliver(http: &HttpClient, m: &Message<'_>) -> (Outcome, Option<u16>) {
    let signed = m.sign(crate::attempt::unix_secs());
    let names = KeyNames::of(m.body);
    let user_id = if m.user_id.is_empty() {
        names.user_id()
    } else {
        m.user_id
    };
    let meta = ObjectMeta {
        user_id,
        event_type: names.event_type(),
        webhook_id: m.webhook_id,
        headers: [
            ("webhook-id", m.webhook_id),
            ("webhook-timestamp", &signed.timestamp),
            ("webhook-signature", &signed.standard),
            ("terra-signature", &signed.terra),
            ("terra-reference", m.reference),
        ],
    };
    let outcome = put(
        m.dest,
        meta,
        m.body.clone(),
        http.timeout(),
        http.allow_private(),
    )
    .await;
    let status = matches!(outcome, Outcome::Delivered).then_some(200);
    (outcome, status)
}

/// The event type of a Terra body (`type`), and its `user.user_id` where the message
/// has none, for the key; `_` where absent (a healthcheck has no user).
#[derive(serde::Deserialize, Default)]
struct KeyNames<'a> {
    #[serde(rename = "type", borrow, default)]
    event_type: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    user: Option<KeyUser<'a>>,
}

#[derive(serde::Deserialize)]
struct KeyUser<'a> {
    #[serde(borrow, default)]
    user_id: Option<std::borrow::Cow<'a, str>>,
}

impl<'a> KeyNames<'a> {
    fn of(body: &'a [u8]) -> Self {
        serde_json::from_slice(body).unwrap_or_default()
    }

    fn user_id(&self) -> &str {
        let id = self.user.as_ref().and_then(|u| u.user_id.as_deref());
        id.filter(|s| !s.is_empty()).unwrap_or("_")
    }

    fn event_type(&self) -> &str {
        let t = self.event_type.as_deref();
        t.filter(|s| !s.is_empty()).unwrap_or("_")
    }
}

/// PUTs one event's object.
async fn put(
    dest: &Destination,
    meta: ObjectMeta<'_>,
    body: Bytes,
    timeout: Duration,
    allow_private_networks: bool,
) -> Outcome {
    let (store, url) = match client(dest, timeout, allow_private_networks) {
        Ok(c) => c,
        Err(error) => {
            return Outcome::Failed(Failure {
                kind: "invalid",
                error,
                retry_after: None,
            })
        }
    };
    let key = url.object_key(meta.user_id, meta.event_type, meta.webhook_id);
    let mut attributes = Attributes::new();
    attributes.insert(Attribute::ContentType, "application/json".into());
    for (name, value) in meta.headers {
        attributes.insert(Attribute::Metadata(name.into()), value.to_string().into());
    }
    let opts = PutOptions {
        attributes,
        ..Default::default()
    };
    match store.put_opts(&key, PutPayload::from(body), opts).await {
        Ok(_) => Outcome::Delivered,
        Err(e) => {
            let (kind, error) = describe(&e);
            Outcome::Failed(Failure {
                kind,
                // The secret key is never part of an object_store error.
                error: format!("S3 PUT {}: {}", url.bucket, truncate(&error, 1024)),
                retry_after: None,
            })
        }
    }
}

/// The metrics label (`timeout`, `connection_error`, `failed`) and the message, with the
/// root cause appended (object_store's top line says only "error sending request").
pub(crate) fn describe(e: &object_store::Error) -> (&'static str, String) {
    use object_store::client::{HttpError, HttpErrorKind};
    let mut kind = "failed";
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(h) = s.downcast_ref::<HttpError>() {
            kind = match h.kind() {
                HttpErrorKind::Timeout => "timeout",
                HttpErrorKind::Connect => "connection_error",
                _ => kind,
            };
        }
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    (kind, message)
}

pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A client built for one destination's URL and credentials.
struct Cached {
    url: String,
    access_key_id: Option<String>,
    secret: Option<String>,
    timeout: Duration,
    allow_private: bool,
    parsed: Arc<S3Url>,
    store: Arc<AmazonS3>,
}

type ClientCache = Mutex<HashMap<String, Cached>>;

fn cache() -> &'static ClientCache {
    static CACHE: OnceLock<ClientCache> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The destination's client, from the cache unless its URL or credentials changed.
fn client(
    dest: &Destination,
    timeout: Duration,
    allow_private: bool,
) -> Result<(Arc<AmazonS3>, Arc<S3Url>), String> {
    let store = Store {
        cache_key: &dest.id,
        url: &dest.url,
        access_key_id: dest.s3_access_key_id.as_deref(),
        secret: dest.s3_secret_access_key.as_ref().map(|s| s.expose()),
    };
    store.client(timeout, allow_private)
}

/// An S3 store to reach: a destination's bucket or a claim-check store.
pub(crate) struct Store<'a> {
    /// Its entry in the client cache (one per destination and use).
    pub cache_key: &'a str,
    pub url: &'a str,
    pub access_key_id: Option<&'a str>,
    pub secret: Option<&'a str>,
}

impl Store<'_> {
    /// The client, from the cache unless the URL, credentials or settings changed.
    pub(crate) fn client(
        &self,
        timeout: Duration,
        allow_private: bool,
    ) -> Result<(Arc<AmazonS3>, Arc<S3Url>), String> {
        let (key_id, secret) = (self.access_key_id, self.secret);
        let mut cache = cache().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cache.get(self.cache_key) {
            if c.url == self.url
                && c.access_key_id.as_deref() == key_id
                && c.secret.as_deref() == secret
                && c.timeout == timeout
                && c.allow_private == allow_private
            {
                return Ok((c.store.clone(), c.parsed.clone()));
            }
        }
        let (store, parsed) = build_client(self.url, key_id, secret, timeout, allow_private)?;
        cache.insert(
            self.cache_key.to_string(),
            Cached {
                url: self.url.to_string(),
                access_key_id: key_id.map(str::to_string),
                secret: secret.map(str::to_string),
                timeout,
                allow_private,
                parsed: parsed.clone(),
                store: store.clone(),
            },
        );
        Ok((store, parsed))
    }
}

fn build_client(
    url: &str,
    key_id: Option<&str>,
    secret: Option<&str>,
    timeout: Duration,
    allow_private: bool,
) -> Result<(Arc<AmazonS3>, Arc<S3Url>), String> {
    let parsed = Arc::new(S3Url::parse(url).map_err(|e| e.to_string())?);
    // The URL was checked at registration; again here (the setting may have changed).
    crate::ssrf::validate_destination_url(url, allow_private).map_err(|e| e.to_string())?;
    let (Some(key_id), Some(secret)) = (key_id, secret) else {
        return Err("s3 destination has no access key id or secret access key".into());
    };
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(&parsed.bucket)
        .with_region(&parsed.region)
        .with_access_key_id(key_id)
        .with_secret_access_key(secret)
        .with_retry(RetryConfig {
            max_retries: 0,
            retry_timeout: timeout,
            ..Default::default()
        })
        .with_client_options(
            ClientOptions::new()
                .with_timeout(timeout)
                .with_connect_timeout(timeout)
                .with_allow_http(true),
        )
        .with_http_connector(GuardedConnector {
            allow_private,
            timeout,
        });
    builder = match &parsed.endpoint {
        Some(e) => builder
            .with_endpoint(e)
            .with_virtual_hosted_style_request(false),
        None => builder.with_virtual_hosted_style_request(true),
    };
    let store = Arc::new(builder.build().map_err(|e| e.to_string())?);
    Ok((store, parsed))
}

/// object_store's reqwest client with the SSRF guard: names resolve only to global
/// addresses (unless private networks are allowed), and no redirects are followed.
#[derive(Debug)]
struct GuardedConnector {
    allow_private: bool,
    /// Per request and per connect (reqwest has no default timeout).
    timeout: Duration,
}

impl HttpConnector for GuardedConnector {
    fn connect(&self, _options: &ClientOptions) -> object_store::Result<OsHttpClient> {
        // object_store builds its reqwest client in private code: the options that matter
        // (timeouts) are applied here.
        let mut b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("pulsegate/", env!("CARGO_PKG_VERSION")))
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(60));
        if !self.allow_private {
            b = b.dns_resolver(Arc::new(GuardedDns));
        }
        let client = b.build().map_err(|e| object_store::Error::Generic {
            store: "S3",
            source: Box::new(e),
        })?;
        Ok(OsHttpClient::new(client))
    }
}

struct GuardedDns;

impl reqwest::dns::Resolve for GuardedDns {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| check_ip(a.ip()).is_ok())
                .collect();
            if addrs.is_empty() {
                return Err(format!(
                    "destination address refused: {host} resolves to no global address"
                )
                .into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At connect time names resolve only to global addresses (DNS rebinding).
    #[tokio::test]
    async fn the_resolver_drops_non_global_addresses() {
        use reqwest::dns::Resolve;
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let err = GuardedDns.resolve(name).await.err().unwrap();
        assert!(
            err.to_string().contains("destination address refused"),
            "{err}"
        );
    }
}

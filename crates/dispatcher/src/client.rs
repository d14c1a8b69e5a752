//! The outbound HTTP client: hyper 1 with keep-alive pooling, rustls (ring, webpki
//! roots) for https, and the SSRF guard at resolve and connect time.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use crate::ssrf::{check_ip, literal_ip};
use crate::DispatchError;

/// Most response body bytes read: what the delivery history keeps of an answer, and
/// more than a failure's `last_error` keeps. The rest is never read (the connection is
/// closed), so a receiver's huge answer costs no memory.
pub const MAX_RESPONSE_BYTES: usize = 1024;
/// Idle keep-alive connections kept per host.
const POOL_MAX_IDLE_PER_HOST: usize = 256;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Connector = hyper_rustls::HttpsConnector<GuardedConnector>;

/// What came back from one exchange.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// At most [`MAX_RESPONSE_BYTES`].
    pub body: Bytes,
}

/// Why an exchange produced no response.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("destination address refused: {0}")]
    Blocked(String),
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("request failed: {0}")]
    Request(String),
    #[error("invalid destination URL")]
    InvalidUrl,
}

/// A cheap-to-clone pooled client.
#[derive(Clone)]
pub struct HttpClient {
    inner: Client<Connector, Full<Bytes>>,
    timeout: Duration,
    allow_private: bool,
}

impl HttpClient {
    pub fn new(timeout: Duration, allow_private_networks: bool) -> Result<Self, DispatchError> {
        let mut http = HttpConnector::new_with_resolver(GuardedResolver {
            allow_private: allow_private_networks,
        });
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(timeout));
        http.set_keepalive(Some(Duration::from_secs(60)));
        let guarded = GuardedConnector {
            inner: http,
            allow_private: allow_private_networks,
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(provider)
            .map_err(|e| DispatchError::Client(e.to_string()))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(guarded);
        let inner = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
            .pool_idle_timeout(Duration::from_secs(90))
            .build(https);
        Ok(Self {
            inner,
            timeout,
            allow_private: allow_private_networks,
        })
    }

    /// The per-attempt timeout (other sinks use it too).
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Whether the SSRF guard is off (other sinks apply it too).
    pub(crate) fn allow_private(&self) -> bool {
        self.allow_private
    }

    /// Sends `req`, reading at most [`MAX_RESPONSE_BYTES`] of the response, all within
    /// the configured timeout.
    pub async fn send(&self, req: Request<Full<Bytes>>) -> Result<Response, SendError> {
        match tokio::time::timeout(self.timeout, self.exchange(req)).await {
            Ok(r) => r,
            Err(_) => Err(SendError::Timeout(self.timeout)),
        }
    }

    async fn exchange(&self, req: Request<Full<Bytes>>) -> Result<Response, SendError> {
        let resp = self.inner.request(req).await.map_err(classify)?;
        let (parts, mut body) = resp.into_parts();
        let mut buf = Vec::new();
        while buf.len() < MAX_RESPONSE_BYTES {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        let take = data.len().min(MAX_RESPONSE_BYTES - buf.len());
                        buf.extend_from_slice(&data[..take]);
                    }
                }
                // A body cut short still leaves the status, which decides the outcome.
                Some(Err(_)) | None => break,
            }
        }
        Ok(Response {
            status: parts.status,
            headers: parts.headers,
            body: buf.into(),
        })
    }
}

fn classify(e: hyper_util::client::legacy::Error) -> SendError {
    // Walk the source chain for our own refusal.
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&e);
    while let Some(s) = source {
        if let Some(b) = s.downcast_ref::<Blocked>() {
            return SendError::Blocked(b.0.clone());
        }
        source = s.source();
    }
    let msg = pulsegate_schema::error_chain(&e);
    if e.is_connect() {
        SendError::Connect(msg)
    } else {
        SendError::Request(msg)
    }
}

/// The SSRF guard's refusal, found again in hyper's error chain.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Blocked(String);

/// Resolves names and drops addresses deliveries must not reach.
#[derive(Clone, Debug)]
struct GuardedResolver {
    allow_private: bool,
}

impl tower_service::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if allow_private {
                return Ok(all.into_iter());
            }
            let total = all.len();
            let allowed: Vec<SocketAddr> = all
                .into_iter()
                .filter(|a| check_ip(a.ip()).is_ok())
                .collect();
            if allowed.is_empty() && total > 0 {
                return Err(Box::new(Blocked(format!(
                    "{host} resolves only to non-global addresses"
                ))) as BoxError);
            }
            Ok(allowed.into_iter())
        })
    }
}

/// Refuses IP-literal hosts the resolver never sees, and checks the peer of every new
/// connection (defence in depth).
#[derive(Clone)]
struct GuardedConnector {
    inner: HttpConnector<GuardedResolver>,
    allow_private: bool,
}

impl tower_service::Service<Uri> for GuardedConnector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let allow_private = self.allow_private;
        let literal = dst.host().and_then(literal_ip);
        let connecting = self.inner.call(dst);
        Box::pin(async move {
            if !allow_private {
                if let Some(ip) = literal {
                    if let Err(reason) = check_ip(ip) {
                        return Err(Box::new(Blocked(format!("{ip}: {reason}"))) as BoxError);
                    }
                }
            }
            let stream = connecting.await?;
            if !allow_private {
                let peer = stream.inner().peer_addr()?;
                if let Err(reason) = check_ip(peer.ip()) {
                    return Err(Box::new(Blocked(format!("{}: {reason}", peer.ip()))) as BoxError);
                }
            }
            Ok(stream)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(url: &str) -> Request<Full<Bytes>> {
        Request::post(url)
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap()
    }

    #[tokio::test]
    async fn refuses_private_literals_at_connect_time() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let client = HttpClient::new(Duration::from_secs(2), false).unwrap();
        let err = client
            .send(post(&format!("http://127.0.0.1:{port}/")))
            .await
            .unwrap_err();
        assert!(matches!(err, SendError::Blocked(_)), "{err:?}");
        let err = client.send(post("http://[::1]:1/")).await.unwrap_err();
        assert!(matches!(err, SendError::Blocked(_)), "{err:?}");
    }

    #[tokio::test]
    async fn connection_refused_is_a_connect_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let client = HttpClient::new(Duration::from_secs(2), true).unwrap();
        let err = client
            .send(post(&format!("http://127.0.0.1:{port}/")))
            .await
            .unwrap_err();
        assert!(matches!(err, SendError::Connect(_)), "{err:?}");
    }
}

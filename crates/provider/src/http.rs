//! The HTTP client calls to providers go through (the normalizer's API calls, connect's
//! code exchange): hyper 1 with rustls (ring, webpki roots), `http` and `https` URLs, a
//! whole-request timeout and a bounded response body. Feature `http`.

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Largest response body read (bigger bodies fail the request).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Why a request got no response. Messages carry no URL query, header or body, so no
/// credential can leak through them.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("reading the response failed: {0}")]
    Body(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("TLS setup failed: {0}")]
    Tls(String),
}

impl HttpError {
    /// Timeouts and connection/body errors are worth retrying; a bad request is not.
    pub fn is_transient(&self) -> bool {
        !matches!(self, HttpError::InvalidRequest(_) | HttpError::Tls(_))
    }

    /// Short label for metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            HttpError::Timeout(_) => "timeout",
            HttpError::Connect(_) => "connect_error",
            HttpError::Body(_) => "body_error",
            HttpError::InvalidRequest(_) | HttpError::Tls(_) => "invalid_request",
        }
    }
}

/// A response, body fully read.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl HttpResponse {
    /// `Retry-After` in seconds, when present and numeric.
    pub fn retry_after(&self) -> Option<Duration> {
        self.headers
            .get(header::RETRY_AFTER)?
            .to_str()
            .ok()?
            .trim()
            .parse::<u64>()
            .ok()
            .map(Duration::from_secs)
    }
}

/// Cheap to clone: clones share the connection pool.
#[derive(Clone)]
pub struct HttpClient {
    inner: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl HttpClient {
    /// A client whose every request (connect, send, read the whole body) must finish
    /// within `timeout`.
    pub fn new(timeout: Duration) -> Result<Self, HttpError> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| HttpError::Tls(e.to_string()))?
            .https_or_http()
            .enable_http1()
            .build();
        let inner = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256)
            .build(https);
        Ok(Self { inner, timeout })
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends `req` and reads the whole response within the timeout.
    pub async fn send(&self, req: Request<Full<Bytes>>) -> Result<HttpResponse, HttpError> {
        let call = async {
            let resp = self
                .inner
                .request(req)
                .await
                .map_err(|e| HttpError::Connect(pulsegate_schema::error_chain(&e)))?;
            let (parts, body) = resp.into_parts();
            let body = Limited::new(body, MAX_BODY_BYTES)
                .collect()
                .await
                .map_err(|e| HttpError::Body(e.to_string()))?
                .to_bytes();
            Ok(HttpResponse {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| HttpError::Timeout(self.timeout))?
    }

    /// `GET url` with `Authorization: Bearer <token>`.
    pub async fn get_bearer(&self, url: &str, token: &str) -> Result<HttpResponse, HttpError> {
        let mut auth = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| HttpError::InvalidRequest("token is not a valid header value".into()))?;
        auth.set_sensitive(true);
        let req = Request::builder()
            .method(Method::GET)
            .uri(url)
            .header(header::AUTHORIZATION, auth)
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, USER_AGENT)
            .body(Full::new(Bytes::new()))
            .map_err(|e| HttpError::InvalidRequest(e.to_string()))?;
        self.send(req).await
    }

    /// `POST url` with `Authorization: Bearer <token>`, a body of `content_type`, and
    /// extra headers.
    pub async fn post_bearer(
        &self,
        url: &str,
        token: &str,
        content_type: &str,
        body: Bytes,
        extra_headers: &[(&str, &str)],
    ) -> Result<HttpResponse, HttpError> {
        let mut auth = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| HttpError::InvalidRequest("token is not a valid header value".into()))?;
        auth.set_sensitive(true);
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(url)
            .header(header::AUTHORIZATION, auth)
            .header(header::CONTENT_TYPE, content_type)
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, USER_AGENT);
        for (k, v) in extra_headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| HttpError::InvalidRequest(e.to_string()))?;
        self.send(req).await
    }

    /// `method url` with `Authorization: Bearer <token>` and, if given, a body of
    /// `(content_type, bytes)` (writes: `POST` a form, `DELETE`).
    pub async fn request_bearer(
        &self,
        method: Method,
        url: &str,
        token: &str,
        body: Option<(&str, Bytes)>,
    ) -> Result<HttpResponse, HttpError> {
        let mut auth = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| HttpError::InvalidRequest("token is not a valid header value".into()))?;
        auth.set_sensitive(true);
        let mut req = Request::builder()
            .method(method)
            .uri(url)
            .header(header::AUTHORIZATION, auth)
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, USER_AGENT);
        let body = match body {
            Some((content_type, bytes)) => {
                req = req.header(header::CONTENT_TYPE, content_type);
                bytes
            }
            None => Bytes::new(),
        };
        let req = req
            .body(Full::new(body))
            .map_err(|e| HttpError::InvalidRequest(e.to_string()))?;
        self.send(req).await
    }

    /// `DELETE url` with `Authorization: Bearer <token>`.
    pub async fn delete_bearer(&self, url: &str, token: &str) -> Result<HttpResponse, HttpError> {
        self.request_bearer(Method::DELETE, url, token, None).await
    }

    /// `POST url` with an `application/x-www-form-urlencoded` body.
    pub async fn post_form(
        &self,
        url: &str,
        fields: &[(&str, &str)],
    ) -> Result<HttpResponse, HttpError> {
        self.post_form_auth(url, fields, None).await
    }

    /// `POST url` with a form body and, if given, HTTP Basic `(user, password)`.
    pub async fn post_form_auth(
        &self,
        url: &str,
        fields: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> Result<HttpResponse, HttpError> {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(url)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, USER_AGENT);
        if let Some((user, password)) = basic {
            use base64::Engine;
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            let mut auth = HeaderValue::from_str(&format!("Basic {token}")).map_err(|_| {
                HttpError::InvalidRequest("client credentials are not a valid header".into())
            })?;
            auth.set_sensitive(true);
            req = req.header(header::AUTHORIZATION, auth);
        }
        let req = req
            .body(Full::new(Bytes::from(form_encode(fields))))
            .map_err(|e| HttpError::InvalidRequest(e.to_string()))?;
        self.send(req).await
    }
}

const USER_AGENT: &str = concat!("pulsegate/", env!("CARGO_PKG_VERSION"));

/// `application/x-www-form-urlencoded` serialisation.
pub use pulsegate_schema::form::encode as form_encode;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding() {
        assert_eq!(
            form_encode(&[("grant_type", "refresh_token"), ("x", "a b&c=d/é")]),
            "grant_type=refresh_token&x=a+b%26c%3Dd%2F%C3%A9"
        );
    }

    #[tokio::test]
    async fn refused_connection_and_timeout_are_transient() {
        let client = HttpClient::new(Duration::from_millis(300)).unwrap();
        // A port nobody listens on.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let err = client
            .get_bearer(&format!("http://127.0.0.1:{port}/x"), "tok")
            .await
            .unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert!(!err.to_string().contains("tok"));

        // A server that accepts and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                let (s, _) = listener.accept().await.unwrap();
                held.push(s);
            }
        });
        let err = client
            .get_bearer(&format!("http://{addr}/x"), "tok")
            .await
            .unwrap_err();
        assert!(matches!(err, HttpError::Timeout(_)), "{err}");
        hold.abort();
    }
}

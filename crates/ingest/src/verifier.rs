use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use pulsegate_schema::Provider;

/// One verified notification, ready for the bus.
#[derive(Debug)]
pub struct Notification {
    /// The provider's id of the user it concerns (decides the partition).
    pub provider_user_id: String,
    /// The provider's JSON for this notification, as received. The verifier has parsed
    /// it, so it is known to be one valid JSON value (it is not parsed again).
    pub body: Bytes,
}

/// Why a request was refused. Maps to a clear 4xx; the message never echoes secrets.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Rejection {
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("signature or token did not verify")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("not found")]
    NotFound,
}

impl Rejection {
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::Malformed(_) => StatusCode::BAD_REQUEST,
            Rejection::Unauthorized => StatusCode::UNAUTHORIZED,
            Rejection::Forbidden(_) => StatusCode::FORBIDDEN,
            Rejection::NotFound => StatusCode::NOT_FOUND,
        }
    }

    /// Short label for the `reason` metric.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::Malformed(_) => "malformed",
            Rejection::Unauthorized => "signature",
            Rejection::Forbidden(_) => "forbidden",
            Rejection::NotFound => "not_found",
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        crate::handler::json_error(self.status(), &self.to_string())
    }
}

/// A provider's side of ingest: its handshake and its verification.
pub trait ProviderVerifier: Send + Sync + 'static {
    fn provider(&self) -> Provider;

    /// Answers the provider's subscription/validation request (`GET`).
    fn handshake(&self, query: Option<&str>, headers: &HeaderMap) -> Response;

    /// Checks that a pushed request really comes from the provider and is well formed,
    /// and splits it into notifications. Must never panic, whatever the bytes.
    fn verify(&self, headers: &HeaderMap, body: &Bytes) -> Result<Vec<Notification>, Rejection>;
}

use std::collections::HashMap;
use std::net::IpAddr;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use pulsegate_schema::Provider;

/// A provider's push, as the verifier sees it.
#[derive(Debug, Clone, Copy)]
pub struct IngestRequest<'a> {
    pub headers: &'a HeaderMap,
    /// The raw query string, if any (some providers put a token there).
    pub query: Option<&'a str>,
    pub body: &'a Bytes,
    /// The TCP peer (for source-address allow-lists); `None` when unknown.
    pub peer: Option<IpAddr>,
    /// Now, in ms since the epoch (injected so tests can check timestamp windows).
    pub now_ms: u64,
}

impl<'a> IngestRequest<'a> {
    /// A request with no query and no known peer, received now.
    pub fn new(headers: &'a HeaderMap, body: &'a Bytes) -> Self {
        Self {
            headers,
            query: None,
            body,
            peer: None,
            now_ms: pulsegate_schema::now_ms(),
        }
    }
}

/// A replay guard's key for one accepted request (see
/// [`ProviderVerifier::replay_mark`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayMark {
    pub key: Vec<u8>,
    /// From now; after that the request is refused anyway (stale) or is news again.
    pub ttl_ms: u64,
}

/// One verified notification, ready for the bus.
#[derive(Debug)]
pub struct Notification {
    /// The provider's id of the user it concerns (decides the partition).
    pub provider_user_id: String,
    /// The provider's JSON for this notification, as received. The verifier has parsed
    /// it, so it is known to be one valid JSON value (it is not parsed again).
    pub body: Bytes,
}

/// The entries of a JSON-array push (Fitbit, Google Health) grouped by user, in order
/// of each user's first entry: one [`Notification`] per user, its body the array of that
/// user's entries as received, so one user's notifications stay in order on the bus.
#[derive(Default)]
pub struct PerUserBatches<'a> {
    order: Vec<&'a str>,
    by_user: HashMap<&'a str, Vec<&'a str>>,
}

impl<'a> PerUserBatches<'a> {
    /// Adds one entry (its original JSON) for `user`.
    pub fn push(&mut self, user: &'a str, entry: &'a str) {
        let order = &mut self.order;
        self.by_user
            .entry(user)
            .or_insert_with(|| {
                order.push(user);
                Vec::new()
            })
            .push(entry);
    }

    pub fn into_notifications(self) -> Vec<Notification> {
        self.order
            .into_iter()
            .map(|user| {
                let entries = &self.by_user[user];
                let mut body = String::with_capacity(entries.iter().map(|e| e.len() + 1).sum());
                body.push('[');
                body.push_str(&entries.join(","));
                body.push(']');
                Notification {
                    provider_user_id: user.to_string(),
                    body: Bytes::from(body),
                }
            })
            .collect()
    }
}

/// Why a request was refused. Maps to a clear 4xx; the message never echoes secrets.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Rejection {
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("signature or token did not verify")]
    Unauthorized,
    /// The signed timestamp is outside the accepted window.
    #[error("notification timestamp is outside the accepted window")]
    Stale,
    /// The same signed notification was already accepted.
    #[error("notification was already received")]
    Replayed,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("not found")]
    NotFound,
}

impl Rejection {
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::Malformed(_) => StatusCode::BAD_REQUEST,
            Rejection::Unauthorized | Rejection::Stale | Rejection::Replayed => {
                StatusCode::UNAUTHORIZED
            }
            Rejection::Forbidden(_) => StatusCode::FORBIDDEN,
            Rejection::NotFound => StatusCode::NOT_FOUND,
        }
    }

    /// A body that did not parse as `what`: the parser's message, cut to its first 120
    /// characters (the 400 says what was wrong without echoing a large body back).
    pub fn malformed(what: &str, error: impl std::fmt::Display) -> Self {
        let error = error.to_string();
        let cut = error
            .char_indices()
            .nth(120)
            .map_or(error.len(), |(i, _)| i);
        Rejection::Malformed(format!("{what}: {}", &error[..cut]))
    }

    /// Short label for the `reason` metric.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::Malformed(_) => "malformed",
            Rejection::Unauthorized => "signature",
            Rejection::Stale => "stale",
            Rejection::Replayed => "replay",
            Rejection::Forbidden(_) => "forbidden",
            Rejection::NotFound => "not_found",
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        json_error(self.status(), &self.to_string())
    }
}

/// A provider's side of ingest: its handshake and its verification.
pub trait ProviderVerifier: Send + Sync + 'static {
    fn provider(&self) -> Provider;

    /// Answers the provider's subscription/validation request (`GET` or `HEAD`).
    fn handshake(&self, query: Option<&str>, headers: &HeaderMap) -> Response;

    /// Checks that a pushed request really comes from the provider and is well formed,
    /// and splits it into notifications (none for a ping, which is answered 2xx and not
    /// enqueued). Must never panic, whatever the bytes.
    fn verify(&self, req: &IngestRequest<'_>) -> Result<Vec<Notification>, Rejection>;

    /// Called when the notifications `verify` admitted could not be enqueued (the
    /// provider gets 503 and will retry): a verifier with a replay guard forgets this
    /// request so the retry is not refused as a replay.
    fn forget(&self, _req: &IngestRequest<'_>) {}

    /// The replay key a successful `verify` of `req` recorded, and how long it must be
    /// remembered; the handler stores it on the bus with the notification, so the guard
    /// survives a restart. `None` for providers without a replay guard.
    fn replay_mark(&self, _req: &IngestRequest<'_>) -> Option<ReplayMark> {
        None
    }

    /// The status a successful push is answered with (Huawei and Fitbit expect 204).
    fn accepted_status(&self) -> StatusCode {
        StatusCode::OK
    }

    /// The status a verified request that enqueues nothing (a ping, a verification
    /// request) is answered with. Default: [`accepted_status`](Self::accepted_status);
    /// Google Health's endpoint verification expects 201.
    fn ping_status(&self, _req: &IngestRequest<'_>) -> StatusCode {
        self.accepted_status()
    }

    /// A body limit of its own, when the provider sends larger bodies than the global
    /// `max_body_bytes` (Garmin pushes the data itself).
    fn max_body_bytes(&self) -> Option<usize> {
        None
    }
}

/// A JSON error answer (`{"error": message}`).
pub fn json_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::Rejection;

    #[test]
    fn a_malformed_message_is_cut_at_120_characters_on_a_char_boundary() {
        let long = "é".repeat(300);
        let Rejection::Malformed(m) = Rejection::malformed("not a thing", &long) else {
            panic!("not Malformed");
        };
        assert_eq!(m, format!("not a thing: {}", "é".repeat(120)));
        let Rejection::Malformed(m) = Rejection::malformed("not a thing", "short") else {
            panic!("not Malformed");
        };
        assert_eq!(m, "not a thing: short");
    }
}

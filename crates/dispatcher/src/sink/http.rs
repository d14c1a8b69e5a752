//! The webhook sink: sign, POST, judge the answer.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, USER_AGENT};
use http::{HeaderValue, Request};
use http_body_util::Full;

use super::Message;
use crate::attempt::{judge, unix_secs, Failure, Outcome};
use crate::client::{HttpClient, SendError};

const UA: &str = concat!("pulsegate/", env!("CARGO_PKG_VERSION"));

/// The outcome and, if it answered, the receiver's HTTP status and answer body (at most
/// [`crate::client::MAX_RESPONSE_BYTES`]).
pub(crate) async fn deliver(
    client: &HttpClient,
    m: &Message<'_>,
) -> (Outcome, Option<u16>, Option<Bytes>) {
    let req = match request(m, unix_secs()) {
        Ok(r) => r,
        Err(error) => {
            let failure = Failure {
                kind: "invalid",
                error,
                retry_after: None,
            };
            return (Outcome::Failed(failure), None, None);
        }
    };
    match client.send(req).await {
        Ok(resp) => (
            judge(resp.status, &resp.headers, &resp.body),
            Some(resp.status.as_u16()),
            Some(resp.body),
        ),
        Err(e) => {
            let kind = match &e {
                SendError::Timeout(_) => "timeout",
                SendError::Blocked(_) => "blocked",
                SendError::InvalidUrl => "invalid",
                SendError::Connect(_) | SendError::Request(_) => "connection_error",
            };
            let failure = Failure {
                kind,
                error: e.to_string(),
                retry_after: None,
            };
            (Outcome::Failed(failure), None, None)
        }
    }
}

fn request(m: &Message<'_>, t: u64) -> Result<Request<Full<Bytes>>, String> {
    let uri: http::Uri = m
        .dest
        .url
        .parse()
        .map_err(|_| SendError::InvalidUrl.to_string())?;
    let signed = m.sign(t);
    let value =
        |s: &str| HeaderValue::from_str(s).map_err(|_| "header value not allowed".to_string());
    Request::post(uri)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header(USER_AGENT, HeaderValue::from_static(UA))
        .header("terra-reference", value(m.reference)?)
        .header("terra-signature", value(&signed.terra)?)
        .header("webhook-id", value(m.webhook_id)?)
        .header("webhook-timestamp", value(&signed.timestamp)?)
        .header("webhook-signature", value(&signed.standard)?)
        .body(Full::new(m.body.clone()))
        .map_err(|e| e.to_string())
}

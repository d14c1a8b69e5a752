//! Where a delivery goes: an HTTPS webhook, a customer-owned Kafka topic or an
//! S3-compatible bucket, chosen by the destination URL's scheme (`kafka://…` is Kafka,
//! `s3://…` object storage, anything else HTTP). All get the
//! same body bytes and the same signatures; the caller (`attempt`) does metrics, retries
//! and dead letters the same way for both. A webhook with a claim check gets large
//! bodies as Terra's `s3_payload` event instead (`claim_check`).

pub(crate) mod claim_check;
pub(crate) mod http;
pub(crate) mod kafka;
pub(crate) mod s3;
pub(crate) mod s3_url;
pub mod url;

use bytes::Bytes;
use pulsegate_schema::Destination;

use crate::attempt::Outcome;
use crate::client::HttpClient;
use crate::signing::{standard_signature_multi, terra_signature_multi, SigningKeys};
use url::KafkaUrl;

/// One message to deliver, with what signing needs.
#[derive(Clone, Copy)]
pub(crate) struct Message<'a> {
    pub dest: &'a Destination,
    /// The destination's keys: the previous secret signs too while its overlap lasts.
    pub keys: &'a SigningKeys,
    pub webhook_id: &'a str,
    pub reference: &'a str,
    /// The event's user (the Kafka record key, so one user's events share a partition).
    pub user_id: &'a str,
    pub body: &'a Bytes,
}

/// The signature headers of one attempt at unix time `t`.
pub(crate) struct Signed {
    pub timestamp: String,
    pub terra: String,
    pub standard: String,
}

impl Message<'_> {
    pub fn sign(&self, t: u64) -> Signed {
        let keys = self.keys.active(t.saturating_mul(1000));
        Signed {
            timestamp: t.to_string(),
            terra: terra_signature_multi(keys, t, self.body),
            standard: standard_signature_multi(keys, self.webhook_id, t, self.body),
        }
    }
}

/// Every kind of sink the dispatcher delivers to.
pub(crate) struct Sinks {
    pub http: HttpClient,
    pub kafka: kafka::KafkaSinks,
}

impl Sinks {
    /// One attempt: the outcome and, for HTTP, the receiver's status if it answered.
    /// The outcome, the receiver's HTTP status and (HTTP destinations) the first bytes
    /// of its answer body.
    pub async fn deliver(&self, m: &Message<'_>) -> (Outcome, Option<u16>, Option<Bytes>) {
        if KafkaUrl::is_kafka(&m.dest.url) {
            (self.kafka.deliver(m).await, None, None)
        } else if s3::is_s3(m.dest) {
            let (outcome, status) = s3::deliver(&self.http, m).await;
            (outcome, status, None)
        } else if let Some(cc) = claim_check::applies(m.dest, m.body) {
            match claim_check::check_in(&self.http, m, cc).await {
                Ok(ping) => {
                    let ping = Message { body: &ping, ..*m };
                    http::deliver(&self.http, &ping).await
                }
                Err(failure) => (Outcome::Failed(failure), None, None),
            }
        } else {
            http::deliver(&self.http, m).await
        }
    }
}

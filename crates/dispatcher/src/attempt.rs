//! One delivery attempt: sign afresh, hand to the destination's sink (see
//! [`crate::sink`]: POST, or produce to Kafka), and judge the outcome.

use std::borrow::Cow;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::header::RETRY_AFTER;
use http::StatusCode;
use pulsegate_schema::{Destination, EventType};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::metrics::DestinationMetrics;
use crate::recent::Observed;
use crate::signing::SigningKeys;
use crate::sink::{Message, Sinks};
/// Most characters of a failing response body kept in `last_error` (retry tasks, dead
/// letters): a receiver's answer may echo anything.
const ERROR_BODY_CHARS: usize = 256;
/// And most bytes: 256 characters of UTF-8 are at most 1 KiB already; the byte bound
/// keeps it so if the character count changes.
const ERROR_BODY_BYTES: usize = 1024;

/// The fields of an `events` record delivery needs, borrowed from the record bytes.
#[derive(Debug, Deserialize)]
pub(crate) struct EventView<'a> {
    #[serde(borrow)]
    pub event_id: Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    pub event_type: Cow<'a, str>,
    #[serde(borrow)]
    pub user_id: Cow<'a, str>,
    #[serde(borrow)]
    pub reference: Cow<'a, str>,
    #[serde(default)]
    pub received_at_ms: u64,
    #[serde(borrow)]
    pub body: &'a RawValue,
    /// The owning developer of the event's user (absent = operator-owned).
    #[serde(default, borrow)]
    pub dev_id: Option<Cow<'a, str>>,
}

impl<'a> EventView<'a> {
    /// Parses an `events` record payload (a `NormalizedEvent`).
    pub fn parse(payload: &'a [u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(payload)
    }

    /// Whether `dest` takes this event ([`Destination::takes`]).
    pub fn selected_by(&self, dest: &Destination) -> bool {
        dest.takes(&self.event_type, self.dev_id.as_deref(), self.body.get())
            && !(self.event_type == EventType::DestinationDisabled.as_str()
                && crate::disabled::is_about(self.body.get(), &dest.id))
    }

    /// The body bytes to send, sharing `payload`'s buffer (no copy).
    pub fn body_bytes(&self, payload: &Bytes) -> Bytes {
        payload.slice_ref(self.body.get().as_bytes())
    }
}

/// The Standard Webhooks id: the same for an event and destination on every retry and
/// after a crash, different per destination.
pub(crate) fn webhook_id(event_id: &str, destination_id: &str) -> String {
    format!(
        "msg_{}",
        pulsegate_schema::stable_id(&[event_id, destination_id])
    )
}

/// How an attempt ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    Delivered,
    /// 410: the customer asked us to stop.
    Gone,
    Failed(Failure),
}

impl Outcome {
    /// The destination's secret cannot sign: a failure like any other (retried, then
    /// dead-lettered), so the operator sees it and can fix the secret meanwhile.
    pub(crate) fn unusable_secret(e: impl std::fmt::Display) -> Self {
        Outcome::Failed(Failure {
            kind: "invalid",
            error: format!("destination secret is not usable: {e}"),
            retry_after: None,
        })
    }
}

#[derive(Debug)]
pub(crate) struct Failure {
    /// Metrics label: `failed`, `timeout`, `connection_error`, `blocked`, `invalid`.
    pub kind: &'static str,
    /// For the retry task and dead letter (no secrets).
    pub error: String,
    /// The receiver's `Retry-After`, if any.
    pub retry_after: Option<Duration>,
}

impl Failure {
    /// `error` for log lines: without the receiver's answer text (`HTTP 502`, not
    /// `HTTP 502: <what it answered>`), which is the customer's and is never logged.
    pub fn loggable(&self) -> &str {
        if self.kind == "failed" {
            self.error.split(": ").next().unwrap_or_default()
        } else {
            &self.error
        }
    }
}

/// One attempt to deliver `body` to `dest`.
pub(crate) struct DeliveryAttempt<'a> {
    pub sinks: &'a Sinks,
    pub dest: &'a Destination,
    pub keys: &'a SigningKeys,
    pub metrics: &'a DestinationMetrics,
    pub webhook_id: &'a str,
    pub reference: &'a str,
    /// The event's user (the Kafka record key).
    pub user_id: &'a str,
    pub body: Bytes,
    /// `NormalizedEvent.received_at_ms`, for end-to-end latency.
    pub received_at_ms: u64,
}

impl DeliveryAttempt<'_> {
    /// The outcome, and what the attempt observed (for [`crate::RecentDeliveries`]).
    pub async fn run(self) -> (Outcome, Observed) {
        let started = Instant::now();
        let message = Message {
            dest: self.dest,
            keys: self.keys,
            webhook_id: self.webhook_id,
            reference: self.reference,
            user_id: self.user_id,
            body: &self.body,
        };
        let (outcome, status, answer) = self.sinks.deliver(&message).await;
        let elapsed = started.elapsed();
        self.metrics.latency.record(elapsed.as_secs_f64());
        let observed = Observed {
            at_ms: pulsegate_schema::now_ms(),
            status,
            latency_ms: elapsed.as_millis() as u64,
            answer: answer.map(|body| first_kib(&body)),
        };
        match &outcome {
            Outcome::Delivered => {
                self.metrics.delivered.increment(1);
                self.metrics.sent.add(observed.at_ms);
                if self.received_at_ms > 0 {
                    let e2e = pulsegate_schema::now_ms().saturating_sub(self.received_at_ms);
                    self.metrics.end_to_end.record(e2e as f64 / 1000.0);
                }
            }
            Outcome::Gone => self.metrics.gone.increment(1),
            Outcome::Failed(f) => self.metrics.failure(f.kind).increment(1),
        }
        (outcome, observed)
    }
}

/// 2xx delivered; 410 gone; anything else (3xx, 4xx, 5xx) a failure to retry.
pub(crate) fn judge(status: StatusCode, headers: &http::HeaderMap, body: &[u8]) -> Outcome {
    if status.is_success() {
        return Outcome::Delivered;
    }
    if status == StatusCode::GONE {
        return Outcome::Gone;
    }
    let mut error = format!("HTTP {}", status.as_u16());
    if !body.is_empty() {
        let mut text = String::new();
        for c in String::from_utf8_lossy(&body[..body.len().min(4 * ERROR_BODY_BYTES)])
            .chars()
            .take(ERROR_BODY_CHARS)
        {
            if text.len() + c.len_utf8() > ERROR_BODY_BYTES {
                break;
            }
            text.push(c);
        }
        error.push_str(": ");
        error.push_str(text.trim());
    }
    let retry_after = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    Outcome::Failed(Failure {
        kind: "failed",
        error,
        retry_after,
    })
}

/// The first 1 KiB of an answer body as text: invalid UTF-8 replaced, cut at a
/// character boundary so the text itself stays within 1 KiB.
pub(crate) fn first_kib(body: &[u8]) -> String {
    let mut text = String::from_utf8_lossy(&body[..body.len().min(ERROR_BODY_BYTES)]).into_owned();
    let mut end = text.len().min(ERROR_BODY_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text
}

/// `Retry-After` as delay-seconds or an HTTP-date (relative to `now`).
pub(crate) fn parse_retry_after(v: &str, now: SystemTime) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs.min(1e9)));
        }
        return None;
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

pub(crate) fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dead letters and retry tasks keep at most the first 1 KiB of an answer.
    #[test]
    fn a_failing_answer_is_kept_to_its_first_kib() {
        for unit in ["x", "é", "😀", "\u{FFFD}"] {
            let mut body = unit.repeat(20_000).into_bytes();
            body.extend_from_slice(b"TAIL-OF-THE-ANSWER");
            let Outcome::Failed(f) = judge(StatusCode::BAD_GATEWAY, &http::HeaderMap::new(), &body)
            else {
                panic!("a 502 is a failure");
            };
            let kept = f.error.strip_prefix("HTTP 502: ").unwrap();
            assert!(kept.len() <= 1024, "{unit}: {} bytes", kept.len());
            assert!(!kept.is_empty());
            assert!(!f.error.contains("TAIL"));
        }
        // Invalid UTF-8 is kept lossily, still within the bound.
        let Outcome::Failed(f) = judge(
            StatusCode::INTERNAL_SERVER_ERROR,
            &http::HeaderMap::new(),
            &[0xFF; 5000],
        ) else {
            panic!("a 500 is a failure");
        };
        assert!(f.error.len() <= "HTTP 500: ".len() + 1024);
    }

    #[test]
    fn an_answer_is_kept_to_its_first_kib() {
        for unit in ["x", "é", "😀"] {
            let body = unit.repeat(5000);
            let kept = first_kib(body.as_bytes());
            assert!(
                kept.len() <= 1024 && kept.len() > 1020,
                "{unit}: {}",
                kept.len()
            );
            assert!(body.starts_with(&kept));
        }
        assert_eq!(first_kib(b"{\"ok\":true}"), "{\"ok\":true}");
        assert!(first_kib(&[0xFF; 3000]).len() <= 1024);
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after(" 1.5 ", now),
            Some(Duration::from_millis(1500))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(90))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn statuses() {
        let h = http::HeaderMap::new();
        assert!(matches!(judge(StatusCode::OK, &h, b""), Outcome::Delivered));
        assert!(matches!(
            judge(StatusCode::NO_CONTENT, &h, b""),
            Outcome::Delivered
        ));
        assert!(matches!(judge(StatusCode::GONE, &h, b""), Outcome::Gone));
        for s in [301u16, 400, 404, 429, 500, 503] {
            let Outcome::Failed(f) = judge(StatusCode::from_u16(s).unwrap(), &h, b"nope") else {
                panic!("{s} must fail");
            };
            assert_eq!(f.error, format!("HTTP {s}: nope"));
            assert_eq!(f.loggable(), format!("HTTP {s}"));
        }
        let mut h = http::HeaderMap::new();
        h.insert(RETRY_AFTER, http::HeaderValue::from_static("7"));
        let Outcome::Failed(f) = judge(StatusCode::TOO_MANY_REQUESTS, &h, b"") else {
            panic!()
        };
        assert_eq!(f.retry_after, Some(Duration::from_secs(7)));
    }

    #[test]
    fn event_view_borrows_body_verbatim() {
        let payload = Bytes::from_static(
            br#"{"event_id":"e1","type":"activity","user_id":"u","reference":"r","received_at_ms":5,"body":{"type": "activity", "data":[1, 2]}}"#,
        );
        let v = EventView::parse(&payload).unwrap();
        assert_eq!(v.event_id, "e1");
        assert_eq!(
            &v.body_bytes(&payload)[..],
            br#"{"type": "activity", "data":[1, 2]}"#
        );
        assert_eq!(webhook_id("e1", "d1"), webhook_id("e1", "d1"));
        assert_ne!(webhook_id("e1", "d1"), webhook_id("e1", "d2"));
        assert!(webhook_id("e1", "d1").starts_with("msg_"));
    }
}

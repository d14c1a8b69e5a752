//! Request body limits at the edge: a minimum rate for reading a body (as Apache's
//! mod_reqtimeout `body=20,MinRate=500`: the first `read_timeout`, extended by one
//! second per `min_rate` bytes received, never beyond `max_read_timeout`; a trickled
//! 1 GB body is cut off with 408), and a size limit per route checked against
//! `Content-Length` before anything is read (413 at once) and counted while streaming
//! (a chunked body is cut at the limit).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body::{Frame, SizeHint};

/// The body rules of one listener.
#[derive(Clone, Debug)]
pub struct BodyRules {
    pub listener: &'static str,
    /// How long reading a request's body may take before the rate counts.
    pub read_timeout: Duration,
    /// Bytes per second that extend the deadline (one second per `min_rate` bytes);
    /// 0: the deadline is `read_timeout` whatever arrives.
    pub min_rate: u64,
    /// The deadline never moves past this (from the start of the body).
    pub max_read_timeout: Duration,
    /// Routes without a rule of their own.
    pub default_limit: u64,
    /// `(path prefix, limit)`; the first match wins. `None`: the route's handler checks
    /// its own limit (provider pushes, whose limit depends on the provider).
    pub routes: Vec<(&'static str, Option<u64>)>,
}

impl BodyRules {
    fn limit_for(&self, path: &str) -> Option<u64> {
        self.routes
            .iter()
            .find(|(prefix, _)| path.starts_with(prefix))
            .map_or(Some(self.default_limit), |(_, limit)| *limit)
    }
}

const OK: u8 = 0;
const TIMED_OUT: u8 = 1;
const TOO_LARGE: u8 = 2;

/// Middleware: applies [`BodyRules`] to every request of the router it wraps.
pub async fn limit_bodies(
    State(rules): State<Arc<BodyRules>>,
    req: Request,
    next: Next,
) -> Response {
    match guard(&rules, req) {
        Guarded::Run(req, guard) => guard.settle(next.run(req).await),
        Guarded::Refused(refused) => refused,
    }
}

/// A request put under the body rules (see [`guard`]).
pub enum Guarded {
    /// The request to run, and the guard for its answer.
    Run(Request, BodyGuard),
    /// The answer to send at once.
    Refused(Response),
}

/// How a guarded body ended, for the answer (see [`guard`]).
pub struct BodyGuard {
    outcome: Arc<AtomicU8>,
    listener: &'static str,
}

/// Puts `req`'s body under `rules`: the request to run, and the guard that turns its
/// answer into 408 or 413 when the body was cut off; or the 413 to answer at once when
/// `Content-Length` is over the route's limit.
pub fn guard(rules: &BodyRules, req: Request) -> Guarded {
    let limit = rules.limit_for(req.uri().path());
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let (Some(limit), Some(declared)) = (limit, declared) {
        if declared > limit {
            return Guarded::Refused(too_large(rules.listener));
        }
    }
    let outcome = Arc::new(AtomicU8::new(OK));
    let start = tokio::time::Instant::now();
    let deadline = start + rules.read_timeout;
    let req = req.map(|inner| {
        Body::new(EdgeBody {
            inner,
            remaining: limit,
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            due: deadline,
            rate: (rules.min_rate > 0).then(|| RateRule {
                min_rate: rules.min_rate,
                latest: start + rules.max_read_timeout.max(rules.read_timeout),
            }),
            outcome: outcome.clone(),
        })
    });
    let guard = BodyGuard {
        outcome,
        listener: rules.listener,
    };
    Guarded::Run(req, guard)
}

impl BodyGuard {
    /// The answer to send for `response`, the handler's answer to the guarded request.
    pub fn settle(self, response: Response) -> Response {
        match self.outcome.load(Ordering::Acquire) {
            TIMED_OUT => {
                crate::listener::timeout("body", self.listener);
                let mut r = crate::http::json_error(
                    StatusCode::REQUEST_TIMEOUT,
                    "request body not received in time",
                );
                r.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                r
            }
            TOO_LARGE => too_large(self.listener),
            _ => response,
        }
    }
}

fn too_large(listener: &'static str) -> Response {
    metrics::counter!("pulsegate_http_bodies_refused_total", "listener" => listener, "reason" => "too_large")
        .increment(1);
    let mut r = (
        StatusCode::PAYLOAD_TOO_LARGE,
        axum::Json(serde_json::json!({ "error": "request body too large" })),
    )
        .into_response();
    // The rest of the body is not read: the connection cannot be reused.
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// Why the edge cut a body off (the handler sees it as a body read error).
#[derive(Debug)]
enum EdgeBodyError {
    TimedOut,
    TooLarge,
}

impl std::fmt::Display for EdgeBodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::TimedOut => "request body not received in time",
            Self::TooLarge => "request body too large",
        })
    }
}

impl std::error::Error for EdgeBodyError {}

struct EdgeBody {
    inner: Body,
    remaining: Option<u64>,
    /// Armed only when a read waits: a body that arrives whole never touches the timer.
    deadline: Pin<Box<tokio::time::Sleep>>,
    /// The deadline as the rate has moved it (`deadline` is reset to it when armed).
    due: tokio::time::Instant,
    rate: Option<RateRule>,
    outcome: Arc<AtomicU8>,
}

/// The minimum-rate part of the body deadline.
struct RateRule {
    min_rate: u64,
    /// The deadline's ceiling.
    latest: tokio::time::Instant,
}

impl RateRule {
    /// The deadline after `n` more bytes arrived.
    fn extend(&self, deadline: tokio::time::Instant, n: u64) -> tokio::time::Instant {
        let nanos = (u128::from(n) * 1_000_000_000 / u128::from(self.min_rate))
            .min(u128::from(u64::MAX)) as u64;
        deadline
            .checked_add(Duration::from_nanos(nanos))
            .map_or(self.latest, |d| d.min(self.latest))
    }
}

impl EdgeBody {
    fn fail(
        &mut self,
        outcome: u8,
        e: EdgeBodyError,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        self.outcome.store(outcome, Ordering::Release);
        self.remaining = Some(0);
        Poll::Ready(Some(Err(Box::new(e))))
    }
}

impl http_body::Body for EdgeBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        if this.outcome.load(Ordering::Acquire) != OK {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(remaining)) = (frame.data_ref(), this.remaining.as_mut()) {
                    let n = data.len() as u64;
                    if n > *remaining {
                        return this.fail(TOO_LARGE, EdgeBodyError::TooLarge);
                    }
                    *remaining -= n;
                }
                if let (Some(data), Some(rate)) = (frame.data_ref(), this.rate.as_ref()) {
                    // Resetting a `Sleep` registers it with the timer (a lock): only the
                    // due time moves here.
                    this.due = rate.extend(this.due, data.len() as u64);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                if this.deadline.deadline() != this.due {
                    let due = this.due;
                    this.deadline.as_mut().reset(due);
                }
                if this.deadline.as_mut().poll(cx).is_ready() {
                    return this.fail(TIMED_OUT, EdgeBodyError::TimedOut);
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_matching_prefix_wins() {
        let rules = BodyRules {
            listener: "public",
            read_timeout: Duration::from_secs(1),
            min_rate: 500,
            max_read_timeout: Duration::from_secs(10),
            default_limit: 10,
            routes: vec![("/v1/ingest/sdk/", Some(100)), ("/v1/ingest/", None)],
        };
        assert_eq!(rules.limit_for("/v1/ingest/sdk/apple"), Some(100));
        assert_eq!(rules.limit_for("/v1/ingest/garmin"), None);
        assert_eq!(rules.limit_for("/v2/users"), Some(10));
    }

    #[test]
    fn each_byte_buys_time_up_to_the_ceiling() {
        let start = tokio::time::Instant::now();
        let rule = RateRule {
            min_rate: 500,
            latest: start + Duration::from_secs(10),
        };
        let d = start + Duration::from_secs(2);
        assert_eq!(rule.extend(d, 500), d + Duration::from_secs(1));
        assert_eq!(rule.extend(d, 250), d + Duration::from_millis(500));
        assert_eq!(rule.extend(d, 0), d);
        assert_eq!(rule.extend(d, 1 << 40), start + Duration::from_secs(10));
        assert_eq!(rule.extend(d, u64::MAX), start + Duration::from_secs(10));
    }
}

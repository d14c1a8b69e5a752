//! Customer webhook sink servers on 127.0.0.1: they answer deliveries the way a
//! customer endpoint might (fine, failing, slow, rate limiting, gone) and remember what
//! they got.
//!
//! Two modes:
//! * [`Sink::start`] records every request (headers, raw body bytes, arrival time,
//!   status answered) for tests to inspect.
//! * [`Sink::start_counting`] keeps only counts, statuses and arrival offsets (4 bytes
//!   a request), for load runs of millions of requests.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::Router;
use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use tokio::sync::{oneshot, Notify};

/// How a sink answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// 200 to everything.
    Ok,
    /// This status to everything.
    Status(u16),
    /// `status` to the first `n` requests, then 200.
    FailFirst { n: usize, status: u16 },
    /// 500 to everything.
    FailAlways,
    /// 200, after waiting this long (the request is recorded on arrival).
    Slow(Duration),
    /// 429 with this `Retry-After` value (seconds or an HTTP date) to the first `n`
    /// requests, then 200.
    RateLimited { n: usize, retry_after: String },
    /// 410 Gone to everything.
    Gone,
    /// This status and body to everything.
    Answer { status: u16, body: Bytes },
}

/// One request as the sink received it.
#[derive(Clone, Debug)]
pub struct ReceivedRequest {
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Lower-case names; repeated headers joined with `", "`.
    pub headers: HashMap<String, String>,
    /// The body, byte for byte.
    pub body: Bytes,
    pub received_at: SystemTime,
    /// Since the sink started (monotonic; for ordering and gaps).
    pub since_start: Duration,
    /// The status the sink answered with.
    pub status: u16,
}

impl ReceivedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The body parsed as JSON (panics if it is not JSON: sinks are for tests).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("sink received a non-JSON body")
    }
}

/// Totals of a sink (both modes).
#[derive(Clone, Debug, Default)]
pub struct SinkStats {
    pub requests: u64,
    /// Requests by the status answered.
    pub by_status: HashMap<u16, u64>,
    /// Arrival of the first and last request, since the sink started.
    pub first: Option<Duration>,
    pub last: Option<Duration>,
}

struct Inner {
    behaviour: Mutex<Behaviour>,
    /// Numbers requests for `FailFirst`/`RateLimited`.
    numbered: AtomicUsize,
    /// Requests fully recorded.
    seen: AtomicUsize,
    recording: bool,
    requests: Mutex<Vec<ReceivedRequest>>,
    /// Arrival offsets since start in ms (counting mode).
    arrivals: Mutex<Vec<u32>>,
    ok: AtomicU64,
    statuses: Mutex<HashMap<u16, u64>>,
    arrived: Notify,
    started: Instant,
}

/// A customer endpoint on 127.0.0.1. Stops when dropped.
pub struct Sink {
    addr: SocketAddr,
    inner: Arc<Inner>,
    stop: Option<oneshot::Sender<()>>,
}

impl Sink {
    /// Starts a recording sink.
    pub async fn start(behaviour: Behaviour) -> Sink {
        Self::start_with(behaviour, true).await
    }

    /// Starts a sink that keeps counts and arrival times only.
    pub async fn start_counting(behaviour: Behaviour) -> Sink {
        Self::start_with(behaviour, false).await
    }

    async fn start_with(behaviour: Behaviour, recording: bool) -> Sink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a sink on 127.0.0.1");
        let addr = listener.local_addr().expect("sink address");
        let inner = Arc::new(Inner {
            behaviour: Mutex::new(behaviour),
            numbered: AtomicUsize::new(0),
            seen: AtomicUsize::new(0),
            recording,
            requests: Mutex::new(Vec::new()),
            arrivals: Mutex::new(Vec::new()),
            ok: AtomicU64::new(0),
            statuses: Mutex::new(HashMap::new()),
            arrived: Notify::new(),
            started: Instant::now(),
        });
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Sink {
            addr,
            inner,
            stop: Some(stop),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>/webhook`
    pub fn url(&self) -> String {
        format!("http://{}/webhook", self.addr)
    }

    /// Changes how later requests are answered (request numbering continues).
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *self.inner.behaviour.lock().expect("sink lock") = behaviour;
    }

    /// Requests received so far, in arrival order (empty in counting mode).
    pub fn received(&self) -> Vec<ReceivedRequest> {
        self.inner.requests.lock().expect("sink lock").clone()
    }

    /// Requests received so far (both modes).
    pub fn count(&self) -> usize {
        self.inner.seen.load(Ordering::Acquire)
    }

    /// Requests answered with a 2xx so far.
    pub fn ok_count(&self) -> u64 {
        self.inner.ok.load(Ordering::Acquire)
    }

    /// Waits until at least `n` requests arrived; false if `timeout` passed first.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.arrived.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.count() >= n {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.count() >= n;
            }
        }
    }

    /// Counts, statuses and first/last arrival.
    pub fn stats(&self) -> SinkStats {
        let by_status = self.inner.statuses.lock().expect("sink lock").clone();
        let (first, last) = if self.inner.recording {
            let r = self.inner.requests.lock().expect("sink lock");
            (
                r.first().map(|r| r.since_start),
                r.last().map(|r| r.since_start),
            )
        } else {
            let a = self.inner.arrivals.lock().expect("sink lock");
            let ms = |v: &u32| Duration::from_millis(u64::from(*v));
            (a.first().map(ms), a.last().map(ms))
        };
        SinkStats {
            requests: self.count() as u64,
            by_status,
            first,
            last,
        }
    }

    /// Arrival offsets since the sink started, in ms (counting mode; for rates over time).
    pub fn arrival_offsets_ms(&self) -> Vec<u32> {
        self.inner.arrivals.lock().expect("sink lock").clone()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn handle(State(inner): State<Arc<Inner>>, req: Request) -> Response {
    let since_start = inner.started.elapsed();
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();

    let behaviour = inner.behaviour.lock().expect("sink lock").clone();
    let answer = match &behaviour {
        Behaviour::Answer { body, .. } => Some(body.clone()),
        _ => None,
    };
    let (status, retry_after, delay) = {
        let nth = inner.numbered.fetch_add(1, Ordering::AcqRel);
        match &behaviour {
            Behaviour::Ok => (200, None, None),
            Behaviour::Status(s) => (*s, None, None),
            Behaviour::FailFirst { n, status } => {
                (if nth < *n { *status } else { 200 }, None, None)
            }
            Behaviour::FailAlways => (500, None, None),
            Behaviour::Slow(d) => (200, None, Some(*d)),
            Behaviour::RateLimited { n, retry_after } => {
                if nth < *n {
                    (429, Some(retry_after.clone()), None)
                } else {
                    (200, None, None)
                }
            }
            Behaviour::Gone => (410, None, None),
            Behaviour::Answer { status, .. } => (*status, None, None),
        }
    };

    if inner.recording {
        let mut headers: HashMap<String, String> = HashMap::new();
        for (name, value) in &parts.headers {
            let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
            headers
                .entry(name.as_str().to_string())
                .and_modify(|e| {
                    e.push_str(", ");
                    e.push_str(&v);
                })
                .or_insert(v);
        }
        let path = parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_string(), |p| p.to_string());
        inner
            .requests
            .lock()
            .expect("sink lock")
            .push(ReceivedRequest {
                method: parts.method.to_string(),
                path,
                headers,
                body,
                received_at: SystemTime::now(),
                since_start,
                status,
            });
    } else {
        let ms = u32::try_from(since_start.as_millis()).unwrap_or(u32::MAX);
        inner.arrivals.lock().expect("sink lock").push(ms);
    }
    *inner
        .statuses
        .lock()
        .expect("sink lock")
        .entry(status)
        .or_default() += 1;
    if (200..300).contains(&status) {
        inner.ok.fetch_add(1, Ordering::AcqRel);
    }
    inner.seen.fetch_add(1, Ordering::AcqRel);
    inner.arrived.notify_waiters();

    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let mut resp = Response::new(answer.map_or_else(Body::empty, Body::from));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(ra) = retry_after {
        if let Ok(v) = HeaderValue::from_str(&ra) {
            resp.headers_mut().insert(http::header::RETRY_AFTER, v);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn post(url: &str, body: &'static str) -> u16 {
        // A minimal HTTP/1.1 client, so testkit needs no client dependency.
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "POST /webhook HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-test: 1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out.split(' ').nth(1).unwrap().parse().unwrap()
    }

    #[tokio::test]
    async fn records_and_fails_first_n() {
        let sink = Sink::start(Behaviour::FailFirst { n: 2, status: 503 }).await;
        assert_eq!(post(&sink.url(), "{\"a\":1}").await, 503);
        assert_eq!(post(&sink.url(), "{}").await, 503);
        assert_eq!(post(&sink.url(), "{}").await, 200);
        assert!(sink.wait_for(3, Duration::from_secs(5)).await);
        let got = sink.received();
        assert_eq!(got.len(), 3);
        assert_eq!(&got[0].body[..], b"{\"a\":1}");
        assert_eq!(got[0].header("X-Test"), Some("1"));
        assert_eq!(got[0].json()["a"], 1);
        assert_eq!(
            got.iter().map(|r| r.status).collect::<Vec<_>>(),
            vec![503, 503, 200]
        );
        assert_eq!(sink.ok_count(), 1);
        assert!(!sink.wait_for(4, Duration::from_millis(50)).await);
    }

    #[tokio::test]
    async fn counting_mode_keeps_no_bodies() {
        let sink = Sink::start_counting(Behaviour::Gone).await;
        assert_eq!(post(&sink.url(), "{}").await, 410);
        sink.set_behaviour(Behaviour::Ok);
        assert_eq!(post(&sink.url(), "{}").await, 200);
        assert!(sink.received().is_empty());
        let stats = sink.stats();
        assert_eq!(stats.requests, 2);
        assert_eq!(stats.by_status[&410], 1);
        assert_eq!(sink.arrival_offsets_ms().len(), 2);
    }

    #[tokio::test]
    async fn rate_limited_sends_retry_after() {
        let sink = Sink::start(Behaviour::RateLimited {
            n: 1,
            retry_after: "3".into(),
        })
        .await;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(sink.addr()).await.unwrap();
        s.write_all(
            b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        )
        .await
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 429"), "{out}");
        assert!(out.to_ascii_lowercase().contains("retry-after: 3"), "{out}");
    }
}

//! HTTP load generation over keep-alive connections, closed loop (as fast as the
//! server answers) or open loop (a fixed rate, latency measured from the intended send
//! time so a stalled server cannot hide its queueing).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use tokio::net::TcpStream;

/// What one load run measured.
#[derive(Debug, Clone)]
pub struct LoadStats {
    pub ok: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Worst latency in each 100 ms window of the run (by intended send time), ms: where
    /// the tail comes from (a few stalls, or everything slow).
    pub window_max_ms: Vec<f64>,
    /// When the run started: request `intended` times and the windows count from here.
    pub started: Instant,
    /// Latency p99 in each [`LONG_WINDOW`] (10 s) of the run, by intended send time, ms,
    /// with the number of requests in it: the windows the half-load target applies to.
    pub long_windows: Vec<(f64, u64)>,
}

impl LoadStats {
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// The 100 ms windows whose worst latency passed `ms`, worst first: (start s, max ms).
    pub fn stalls_over(&self, ms: f64) -> Vec<(f64, f64)> {
        let mut v: Vec<(f64, f64)> = self
            .window_max_ms
            .iter()
            .enumerate()
            .filter(|(_, &m)| m > ms)
            .map(|(i, &m)| (i as f64 * WINDOW.as_secs_f64(), m))
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        v
    }
}

const WINDOW: Duration = Duration::from_millis(100);
/// The window of the half-load p99 target.
pub const LONG_WINDOW: Duration = Duration::from_secs(10);

fn new_hist() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?)
}

/// Makes the body for request number `n` (unique across the run).
pub type BodyFn = Arc<dyn Fn(u64) -> Bytes + Send + Sync>;

#[derive(Clone)]
pub struct LoadSpec {
    pub addr: std::net::SocketAddr,
    pub path: String,
    pub connections: usize,
    pub duration: Duration,
    /// Requests per second over all connections; `None` = closed loop.
    pub rate: Option<f64>,
    pub body: BodyFn,
    /// Extra request headers (name, value), e.g. Garmin's `garmin-client-id`.
    pub headers: Arc<Vec<(&'static str, String)>>,
    /// First request number (so successive runs use distinct ids).
    pub first: u64,
    /// Stop after this many requests (over all connections), even before `duration`.
    pub max_requests: Option<u64>,
}

pub async fn run(spec: LoadSpec) -> anyhow::Result<LoadStats> {
    let counter = Arc::new(AtomicU64::new(spec.first));
    let started = Instant::now();
    let deadline = started + spec.duration;
    let mut tasks = Vec::new();
    for c in 0..spec.connections {
        let spec = spec.clone();
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            connection(spec, counter, deadline, c).await
        }));
    }
    let mut hist = new_hist()?;
    let (mut ok, mut errors) = (0, 0);
    let mut windows: Vec<u64> = Vec::new();
    let mut long: Vec<Histogram<u64>> = Vec::new();
    for t in tasks {
        let (h, o, e, w, l) = t.await??;
        hist.add(h)?;
        while long.len() < l.len() {
            long.push(new_hist()?);
        }
        for (all, this) in long.iter_mut().zip(l) {
            all.add(this)?;
        }
        ok += o;
        errors += e;
        if windows.len() < w.len() {
            windows.resize(w.len(), 0);
        }
        for (all, this) in windows.iter_mut().zip(w) {
            *all = (*all).max(this);
        }
    }
    Ok(LoadStats {
        ok,
        errors,
        elapsed: started.elapsed(),
        p50_ms: hist.value_at_quantile(0.50) as f64 / 1000.0,
        p99_ms: hist.value_at_quantile(0.99) as f64 / 1000.0,
        max_ms: hist.max() as f64 / 1000.0,
        window_max_ms: windows.into_iter().map(|us| us as f64 / 1000.0).collect(),
        started,
        long_windows: long
            .iter()
            .map(|h| (h.value_at_quantile(0.99) as f64 / 1000.0, h.len()))
            .collect(),
    })
}

async fn connection(
    spec: LoadSpec,
    counter: Arc<AtomicU64>,
    deadline: Instant,
    index: usize,
) -> anyhow::Result<(Histogram<u64>, u64, u64, Vec<u64>, Vec<Histogram<u64>>)> {
    let mut hist = new_hist()?;
    let mut long: Vec<Histogram<u64>> = Vec::new();
    let start = deadline - spec.duration;
    let mut windows: Vec<u64> = Vec::new();
    let stream = TcpStream::connect(spec.addr).await?;
    stream.set_nodelay(true)?;
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(io).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let host = spec.addr.to_string();
    let (mut ok, mut errors) = (0u64, 0u64);
    // Open loop: this connection's share of the rate, phase-shifted per connection.
    let interval = spec
        .rate
        .map(|r| Duration::from_secs_f64(spec.connections as f64 / r.max(1.0)));
    let mut next_send = Instant::now()
        + interval.map_or(Duration::ZERO, |i| {
            i.mul_f64(index as f64 / spec.connections as f64)
        });
    loop {
        if interval.is_some() {
            let now = Instant::now();
            if next_send > now {
                tokio::time::sleep(next_send - now).await;
            }
        }
        let intended = if interval.is_some() {
            next_send
        } else {
            Instant::now()
        };
        if intended >= deadline {
            break;
        }
        if let Some(i) = interval {
            next_send += i;
        }
        let n = counter.fetch_add(1, Ordering::Relaxed);
        if spec.max_requests.is_some_and(|max| n - spec.first >= max) {
            break;
        }
        let req = Request::post(&spec.path)
            .header("host", &host)
            .header("content-type", "application/json");
        let req = spec
            .headers
            .iter()
            .fold(req, |r, (k, v)| r.header(*k, v.as_str()))
            .body(Full::new((spec.body)(n)))?;
        sender.ready().await?;
        match sender.send_request(req).await {
            Ok(resp) => {
                let status = resp.status();
                let _ = resp.into_body().collect().await;
                if status.is_success() {
                    ok += 1;
                    let us = intended.elapsed().as_micros().max(1) as u64;
                    hist.record(us.min(60_000_000))?;
                    let w = (intended.saturating_duration_since(start).as_millis()
                        / WINDOW.as_millis()) as usize;
                    if windows.len() <= w {
                        windows.resize(w + 1, 0);
                    }
                    windows[w] = windows[w].max(us);
                    let l = (intended.saturating_duration_since(start).as_millis()
                        / LONG_WINDOW.as_millis()) as usize;
                    while long.len() <= l {
                        long.push(new_hist()?);
                    }
                    long[l].record(us.min(60_000_000))?;
                } else {
                    errors += 1;
                }
            }
            Err(_) => {
                errors += 1;
                break;
            }
        }
    }
    Ok((hist, ok, errors, windows, long))
}

/// A bare hyper HTTP/1 server answering 200 to every request after reading its body:
/// the ceiling every ingest figure is a ratio of.
pub async fn bare_server(listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    use hyper::service::service_fn;
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let service = service_fn(|req: Request<hyper::body::Incoming>| async move {
                let _ = req.into_body().collect().await;
                Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::new())))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
    }
}

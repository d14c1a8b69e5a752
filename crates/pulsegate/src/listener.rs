//! The accept loop of both HTTP listeners: hyper's HTTP/1 connection with a header-read
//! timeout, an idle timeout, and a cap on open connections that sheds load before file
//! descriptors run out (`axum::serve` has none of these).
//!
//! At the cap, a new connection first evicts the oldest one with no request in flight
//! (a slowloris connection still sending its headers, or an idle keep-alive), so real
//! clients keep getting in; when every connection is busy it is answered `503` with
//! `Retry-After` and closed (on a TLS listener just closed: an answer would need a
//! handshake, the work shedding avoids).
//!
//! With TLS (`tls.rs`) the handshake must finish within the header-read timeout (a
//! client that opens a connection and never completes it is closed), then the first
//! request's headers get the timeout again.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Connection limits of one listener.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
}

/// Shed connections being answered at once; beyond this they are closed unanswered (an
/// answer costs a task and a descriptor for up to a second).
const SHED_ANSWERS: usize = 64;
const SHED_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 37\r\n\r\n\
{\"error\":\"too many open connections\"}";

struct Conn {
    opened: Instant,
    in_flight: Arc<AtomicUsize>,
    kill: CancellationToken,
}

/// The open connections of one listener.
#[derive(Default)]
struct Registry {
    conns: Mutex<HashMap<u64, Conn>>,
    next: AtomicU64,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Conn>> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a connection if there is room, evicting the oldest one with no request
    /// in flight when there is not. `None`: every connection is busy.
    fn admit(&self, cap: usize) -> Option<(u64, Arc<AtomicUsize>, CancellationToken, usize)> {
        let mut conns = self.lock();
        let mut evicted = false;
        if conns.len() >= cap {
            let victim = conns
                .iter()
                .filter(|(_, c)| c.in_flight.load(Ordering::Acquire) == 0)
                .min_by_key(|(_, c)| c.opened)
                .map(|(id, _)| *id)?;
            if let Some(c) = conns.remove(&victim) {
                c.kill.cancel();
                evicted = true;
            }
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let in_flight = Arc::new(AtomicUsize::new(0));
        let kill = CancellationToken::new();
        conns.insert(
            id,
            Conn {
                opened: Instant::now(),
                in_flight: in_flight.clone(),
                kill: kill.clone(),
            },
        );
        Some((id, in_flight, kill, usize::from(evicted)))
    }

    fn remove(&self, id: u64) -> usize {
        let mut conns = self.lock();
        conns.remove(&id);
        conns.len()
    }

    fn len(&self) -> usize {
        self.lock().len()
    }
}

/// An answer being computed by a [`FastRoute`].
pub type Answer = Pin<Box<dyn std::future::Future<Output = axum::response::Response> + Send>>;

/// Requests a listener serves before its router: the hot provider pushes, whose cost per
/// request the router's matching and layers would otherwise double.
pub trait FastRoute: Send + Sync + 'static {
    /// The answer to `req` if this route serves it; otherwise `req`, for the router.
    fn try_serve(self: Arc<Self>, req: hyper::Request<Incoming>) -> Routed;
}

/// Where a [`FastRoute`] sent a request.
#[allow(
    clippy::large_enum_variant,
    reason = "the request is moved on either way; boxing it would cost an allocation per request"
)]
pub enum Routed {
    Served(Answer),
    ToRouter(hyper::Request<Incoming>),
}

/// What a listener serves: its router, and optionally a [`FastRoute`] tried first.
#[derive(Clone)]
pub struct App {
    pub router: Router,
    pub fast: Option<Arc<dyn FastRoute>>,
}

/// Serves `app` on `listener` (over TLS with `tls`) until `stop`; then lets open
/// connections finish their requests (graceful shutdown).
pub async fn serve(
    listener: TcpListener,
    app: App,
    limits: Limits,
    name: &'static str,
    tls: Option<TlsAcceptor>,
    stop: CancellationToken,
) {
    let registry = Arc::new(Registry::default());
    let shed_answers = Arc::new(Semaphore::new(SHED_ANSWERS));
    let open = metrics::gauge!("pulsegate_http_connections_open", "listener" => name);
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            a = listener.accept() => a,
        };
        while tasks.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // EMFILE/ENFILE or an aborted handshake: the connection waits in the
                // backlog; try again shortly rather than spin.
                metrics::counter!("pulsegate_http_accept_errors_total", "listener" => name)
                    .increment(1);
                tracing::debug!(listener = name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let Some((id, in_flight, kill, evicted)) = registry.admit(limits.max_connections) else {
            shed(stream, &shed_answers, name, tls.is_none());
            continue;
        };
        if evicted > 0 {
            metrics::counter!("pulsegate_http_connections_shed_total", "listener" => name, "reason" => "evicted")
                .increment(1);
        }
        open.set(registry.len() as f64);
        let (app, registry, stop, open, tls) = (
            app.clone(),
            registry.clone(),
            stop.clone(),
            open.clone(),
            tls.clone(),
        );
        tasks.spawn(async move {
            let conn = Connection {
                peer,
                app,
                limits,
                name,
                in_flight,
                kill,
                stop,
            };
            conn.serve(stream, tls).await;
            open.set(registry.remove(id) as f64);
        });
    }
    // Graceful: each connection finishes its request in flight, then closes.
    while tasks.join_next().await.is_some() {}
}

/// Answers `503` with `Retry-After` and closes, or just closes when too many answers
/// are already under way (or the listener speaks TLS: `plaintext` false).
fn shed(mut stream: TcpStream, answers: &Arc<Semaphore>, name: &'static str, plaintext: bool) {
    metrics::counter!("pulsegate_http_connections_shed_total", "listener" => name, "reason" => "full")
        .increment(1);
    if !plaintext {
        return;
    }
    let Ok(permit) = answers.clone().try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let _permit = permit;
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            stream.write_all(SHED_RESPONSE).await?;
            stream.shutdown().await?;
            // Read what the client sent so closing does not reset the connection before
            // it reads the answer.
            let mut sink = [0u8; 4096];
            let mut total = 0;
            while total < 64 * 1024 {
                match stream.read(&mut sink).await? {
                    0 => break,
                    n => total += n,
                }
            }
            Ok::<_, std::io::Error>(())
        })
        .await;
    });
}

/// What one connection's task owns.
struct Connection {
    peer: SocketAddr,
    app: App,
    limits: Limits,
    name: &'static str,
    in_flight: Arc<AtomicUsize>,
    kill: CancellationToken,
    stop: CancellationToken,
}

impl Connection {
    /// The TLS handshake first (within the header-read timeout), then HTTP/1.1.
    async fn serve(self, stream: TcpStream, tls: Option<TlsAcceptor>) {
        let activity = Arc::new(AtomicU64::new(now_ms()));
        let watched = Watched {
            inner: stream,
            activity: activity.clone(),
        };
        let Some(acceptor) = tls else {
            return self.http(watched, activity).await;
        };
        let handshake =
            tokio::time::timeout(self.limits.header_read_timeout, acceptor.accept(watched));
        let secured = tokio::select! {
            done = handshake => match done {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    metrics::counter!("pulsegate_tls_handshake_failures_total", "listener" => self.name)
                        .increment(1);
                    tracing::debug!(listener = self.name, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    timeout("tls_handshake", self.name);
                    return;
                }
            },
            _ = self.kill.cancelled() => return,
            _ = self.stop.cancelled() => return,
        };
        self.http(secured, activity).await;
    }

    async fn http<I>(self, io: I, activity: Arc<AtomicU64>)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Connection {
            peer,
            app,
            limits,
            name,
            in_flight,
            kill,
            stop,
        } = self;
        let io = TokioIo::new(io);
        let busy = in_flight.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            // Peer addresses reach the ingest verifiers (source allow-lists) and the admin
            // API's failed-authentication throttle.
            req.extensions_mut().insert(ConnectInfo(peer));
            let guard = InFlight::enter(&busy);
            let fast = match &app.fast {
                Some(f) => f.clone().try_serve(req),
                None => Routed::ToRouter(req),
            };
            let answer = match fast {
                Routed::Served(answer) => Ok(answer),
                Routed::ToRouter(req) => Err(app.router.clone().oneshot(req)),
            };
            async move {
                let _guard = guard;
                match answer {
                    Ok(answer) => Ok(answer.await),
                    Err(routed) => routed.await,
                }
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .keep_alive(true);
        let conn = builder.serve_connection(io, service);
        tokio::pin!(conn);
        let tick =
            (limits.idle_timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
        let mut ticker = tokio::time::interval(tick);
        let idle_ms = u64::try_from(limits.idle_timeout.as_millis()).unwrap_or(u64::MAX);
        let mut draining = false;
        loop {
            tokio::select! {
                done = conn.as_mut() => {
                    if let Err(e) = done {
                        if e.is_timeout() {
                            timeout("header", name);
                        }
                        tracing::trace!(listener = name, error = %e, "connection ended with an error");
                    }
                    return;
                }
                _ = kill.cancelled() => return,
                _ = stop.cancelled(), if !draining => {
                    draining = true;
                    conn.as_mut().graceful_shutdown();
                }
                _ = ticker.tick() => {
                    // Nothing moved either way (a client that stopped reading its answer);
                    // a slow handler with a request in flight is not idle.
                    let quiet = now_ms().saturating_sub(activity.load(Ordering::Relaxed));
                    if quiet >= idle_ms && in_flight.load(Ordering::Acquire) == 0 {
                        timeout("idle", name);
                        return;
                    }
                }
            }
        }
    }
}

pub(crate) fn timeout(kind: &'static str, listener: &'static str) {
    metrics::counter!("pulsegate_http_timeouts_total", "kind" => kind, "listener" => listener)
        .increment(1);
}

/// Counts a request in flight on its connection while its handler runs.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn enter(n: &Arc<AtomicUsize>) -> Self {
        n.fetch_add(1, Ordering::AcqRel);
        Self(n.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    u64::try_from(EPOCH.get_or_init(Instant::now).elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// [`now_ms`] to within [`CLOCK_TICK`], kept by a clock thread: `touch` runs on every
/// read and write, and a clock read each time showed in the ingest profile. Precise
/// when the thread could not be started.
fn coarse_ms() -> u64 {
    static COARSE_MS: AtomicU64 = AtomicU64::new(0);
    static TICKING: OnceLock<bool> = OnceLock::new();
    let ticking = *TICKING.get_or_init(|| {
        COARSE_MS.store(now_ms(), Ordering::Relaxed);
        std::thread::Builder::new()
            .name("pulsegate-clock".into())
            .spawn(|| loop {
                std::thread::sleep(CLOCK_TICK);
                COARSE_MS.store(now_ms(), Ordering::Relaxed);
            })
            .is_ok()
    });
    if ticking {
        COARSE_MS.load(Ordering::Relaxed)
    } else {
        now_ms()
    }
}

/// The resolution of [`coarse_ms`] (idle timeouts are seconds).
const CLOCK_TICK: Duration = Duration::from_millis(50);

/// A stream that records when bytes last moved (for the idle timeout).
struct Watched {
    inner: TcpStream,
    activity: Arc<AtomicU64>,
}

impl Watched {
    fn touch(&self) {
        self.activity.store(coarse_ms(), Ordering::Relaxed);
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_cap_the_oldest_idle_connection_is_evicted_and_busy_ones_never() {
        let r = Registry::default();
        let (a, a_busy, a_kill, _) = r.admit(2).unwrap();
        let (_b, _b_busy, b_kill, _) = r.admit(2).unwrap();
        a_busy.fetch_add(1, Ordering::AcqRel);
        // `a` has a request in flight: `b` (idle) goes, though `a` is older.
        let (_c, c_busy, c_kill, evicted) = r.admit(2).unwrap();
        assert_eq!(evicted, 1);
        assert!(b_kill.is_cancelled() && !a_kill.is_cancelled());
        assert_eq!(r.len(), 2);
        // Every connection busy: nothing to evict, the new one is shed.
        c_busy.fetch_add(1, Ordering::AcqRel);
        assert!(r.admit(2).is_none());
        assert!(!c_kill.is_cancelled());
        // A connection that ends frees its slot.
        assert_eq!(r.remove(a), 1);
        assert!(r.admit(2).is_some());
    }
}

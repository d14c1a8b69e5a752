//! A webhook endpoint on 127.0.0.1 that keeps, per event, what a customer would
//! deduplicate on (webhook-id) and when it first arrived, for load and chaos runs of
//! hundreds of thousands of deliveries (no bodies kept). A hand-written HTTP/1.1 server,
//! so it can misbehave below HTTP too:
//!
//! * [`FaultSink::healthy`] answers 200 to everything (keep-alive).
//! * [`FaultSink::faulty`] cycles through faults by request number: 500s, 429 with
//!   `Retry-After`, connection resets (RST, no answer), slow reads (the request read
//!   in dribbles after a pause), slow answers (the 200 written a byte at a time), and
//!   every hundredth request a 30 s hang; the rest 200.
//! * [`FaultSink::gone`] answers 410 Gone to everything.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What the sink does with one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    Ok,
    Status500,
    RateLimited,
    Reset,
    SlowRead,
    SlowAnswer,
    Hang,
    Gone,
}

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Fault::Ok => "200",
            Fault::Status500 => "500",
            Fault::RateLimited => "429+Retry-After",
            Fault::Reset => "reset",
            Fault::SlowRead => "slow read",
            Fault::SlowAnswer => "slow answer",
            Fault::Hang => "30s hang",
            Fault::Gone => "410",
        }
    }

    /// Answered 2xx: delivered.
    fn delivers(self) -> bool {
        matches!(self, Fault::Ok | Fault::SlowRead | Fault::SlowAnswer)
    }
}

#[derive(Clone, Copy)]
enum Mode {
    Healthy,
    Faulty,
    Gone,
}

fn fault_for(mode: Mode, n: u64) -> Fault {
    match mode {
        Mode::Healthy => Fault::Ok,
        Mode::Gone => Fault::Gone,
        Mode::Faulty if n % 100 == 99 => Fault::Hang,
        Mode::Faulty => match n % 20 {
            0..=7 => Fault::Ok,
            8 | 9 => Fault::Status500,
            10 | 11 => Fault::RateLimited,
            12 | 13 => Fault::Reset,
            14 | 15 => Fault::SlowRead,
            16 | 17 => Fault::SlowAnswer,
            _ => Fault::Status500,
        },
    }
}

/// One event as the sink saw it delivered (answered 2xx).
#[derive(Clone, Debug)]
pub struct Delivered {
    pub webhook_id: String,
    /// 2xx answers for it (above 1: duplicates).
    pub times: u32,
    pub first: SystemTime,
}

#[derive(Default)]
struct Inner {
    requests: AtomicU64,
    faults: Mutex<BTreeMap<Fault, u64>>,
    /// By the body's `summary_id` (the provider's object id).
    delivered: Mutex<HashMap<u64, Delivered>>,
    /// 2xx answers in all.
    ok: AtomicU64,
}

/// A misbehaving (or counting) endpoint; stops when dropped.
pub struct FaultSink {
    addr: SocketAddr,
    inner: Arc<Inner>,
    accept: JoinHandle<()>,
}

impl FaultSink {
    pub async fn healthy() -> Self {
        Self::start(Mode::Healthy).await
    }

    pub async fn faulty() -> Self {
        Self::start(Mode::Faulty).await
    }

    pub async fn gone() -> Self {
        Self::start(Mode::Gone).await
    }

    async fn start(mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a sink on 127.0.0.1");
        let addr = listener.local_addr().expect("sink address");
        let inner = Arc::new(Inner::default());
        let shared = inner.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(stream, mode, shared.clone()));
            }
        });
        FaultSink {
            addr,
            inner,
            accept,
        }
    }

    /// `http://127.0.0.1:<port>/webhook`
    pub fn url(&self) -> String {
        format!("http://{}/webhook", self.addr)
    }

    /// Requests received (any outcome).
    pub fn requests(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// 2xx answers in all (duplicates included).
    pub fn ok_answers(&self) -> u64 {
        self.inner.ok.load(Ordering::Relaxed)
    }

    /// Distinct events delivered.
    pub fn distinct(&self) -> usize {
        self.inner.delivered.lock().expect("sink lock").len()
    }

    /// Events delivered, by object id.
    pub fn delivered(&self) -> HashMap<u64, Delivered> {
        self.inner.delivered.lock().expect("sink lock").clone()
    }

    /// Requests by what the sink did with them.
    pub fn faults(&self) -> BTreeMap<Fault, u64> {
        self.inner.faults.lock().expect("sink lock").clone()
    }
}

impl Drop for FaultSink {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";

/// Serves one connection's requests until it closes or a fault ends it.
async fn serve(mut stream: TcpStream, mode: Mode, inner: Arc<Inner>) {
    let mut buf = Vec::with_capacity(4096);
    loop {
        // The head.
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            if buf.len() > 64 * 1024 || !read_more(&mut stream, &mut buf).await {
                return;
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let length = header(&head, "content-length")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        let webhook_id = header(&head, "webhook-id").map(str::to_string);
        let n = inner.requests.fetch_add(1, Ordering::Relaxed);
        let fault = fault_for(mode, n);
        *inner
            .faults
            .lock()
            .expect("sink lock")
            .entry(fault)
            .or_default() += 1;
        // The body (slowly, for a slow read: a pause, then dribbles).
        if fault == Fault::SlowRead {
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
        while buf.len() < head_end + length {
            if fault == Fault::SlowRead {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if !read_more(&mut stream, &mut buf).await {
                return;
            }
        }
        let body = buf[head_end..head_end + length].to_vec();
        buf.drain(..head_end + length);

        let answered = match fault {
            Fault::Ok | Fault::SlowRead => stream.write_all(OK).await.is_ok(),
            Fault::SlowAnswer => {
                let mut ok = true;
                for b in OK {
                    tokio::time::sleep(Duration::from_millis(25)).await;
                    if stream.write_all(&[*b]).await.is_err() {
                        ok = false;
                        break;
                    }
                }
                ok
            }
            Fault::Status500 => {
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 5\r\n\r\noops!",
                    )
                    .await;
                false
            }
            Fault::RateLimited => {
                let _ = stream
                    .write_all(b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 1\r\ncontent-length: 0\r\n\r\n")
                    .await;
                false
            }
            Fault::Gone => {
                let _ = stream
                    .write_all(b"HTTP/1.1 410 Gone\r\ncontent-length: 0\r\n\r\n")
                    .await;
                false
            }
            Fault::Reset => {
                // RST instead of an answer.
                let _ = stream.set_zero_linger();
                return;
            }
            Fault::Hang => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                return;
            }
        };
        if answered && fault.delivers() {
            inner.ok.fetch_add(1, Ordering::Relaxed);
            if let (Some(id), Some(webhook_id)) = (summary_id(&body), webhook_id) {
                inner
                    .delivered
                    .lock()
                    .expect("sink lock")
                    .entry(id)
                    .and_modify(|d| d.times += 1)
                    .or_insert(Delivered {
                        webhook_id,
                        times: 1,
                        first: SystemTime::now(),
                    });
            }
        }
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 8192];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A header's value from a lower-cased head.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == name).then(|| v.trim())
    })
}

/// The Terra body's `data[0].metadata.summary_id` (a number in a string), found
/// without parsing the whole body.
fn summary_id(body: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b"\"summary_id\":\"";
    let at = find(body, KEY)? + KEY.len();
    let digits: &[u8] = &body[at..];
    let end = digits.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn post(addr: SocketAddr, id: &str, summary: u64) -> String {
        let body = format!("{{\"data\":[{{\"metadata\":{{\"summary_id\":\"{summary}\"}}}}]}}");
        let mut s = TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "POST /webhook HTTP/1.1\r\nhost: x\r\nwebhook-id: {id}\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = vec![0u8; 256];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut out))
            .await
            .map(|r| r.unwrap_or(0))
            .unwrap_or(0);
        String::from_utf8_lossy(&out[..n]).into_owned()
    }

    #[tokio::test]
    async fn healthy_counts_distinct_events_and_duplicates() {
        let sink = FaultSink::healthy().await;
        let addr: SocketAddr = sink.addr;
        assert!(post(addr, "msg_a", 7).await.starts_with("HTTP/1.1 200"));
        assert!(post(addr, "msg_a", 7).await.starts_with("HTTP/1.1 200"));
        assert!(post(addr, "msg_b", 8).await.starts_with("HTTP/1.1 200"));
        let d = sink.delivered();
        assert_eq!((d.len(), d[&7].times, sink.ok_answers()), (2, 2, 3));
        assert_eq!(d[&8].webhook_id, "msg_b");
    }

    #[tokio::test]
    async fn faulty_cycles_through_faults() {
        let sink = FaultSink::faulty().await;
        let mut answers = Vec::new();
        for i in 0..12u64 {
            answers.push(post(sink.addr, &format!("msg_{i}"), i).await);
        }
        assert!(answers[0].starts_with("HTTP/1.1 200"));
        assert!(answers[8].starts_with("HTTP/1.1 500"));
        assert!(answers[10].starts_with("HTTP/1.1 429"));
        assert!(answers[10].contains("retry-after: 1"));
        assert_eq!(sink.distinct(), 8);
        let gone = FaultSink::gone().await;
        assert!(post(gone.addr, "msg_x", 1)
            .await
            .starts_with("HTTP/1.1 410"));
        assert_eq!(gone.distinct(), 0);
    }
}

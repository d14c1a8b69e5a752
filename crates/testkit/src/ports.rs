//! Ports for processes a test starts (pulsegate, the broker): the test picks one, the
//! child binds it a moment later; and [`serve_local`] for the in-process mocks.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

/// A port on 127.0.0.1 that is free now and stays free until a child process binds
/// it. Taken below the kernel's ephemeral range (`ip_local_port_range`, 32768–60999 by
/// default): a port from `bind(:0)` is an ephemeral one, which any test's outgoing
/// connection can be given before the child binds it ("Address already in use").
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let low = ephemeral_low().unwrap_or(32768);
    const FIRST: u32 = 10_000;
    if low <= FIRST + 1000 {
        // An unusual range: no room below it, take an ephemeral port.
        return bind_any();
    }
    let span = low - FIRST;
    // Test binaries run one after another, but their children may still be exiting:
    // start each binary at its own offset.
    let start = std::process::id().wrapping_mul(7919);
    for _ in 0..span {
        let n = start.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed));
        let port = (FIRST + n % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    bind_any()
}

/// Serves `app` on a fresh 127.0.0.1 port (bound here, so no race) until the returned
/// sender is dropped.
pub async fn serve_local(
    app: axum::Router,
) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    (addr, stop)
}

fn bind_any() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a port on 127.0.0.1")
        .port()
}

fn ephemeral_low() -> Option<u32> {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_free_distinct_and_below_the_ephemeral_range() {
        let a = free_port();
        let b = free_port();
        assert_ne!(a, b);
        let low = ephemeral_low().unwrap_or(32768);
        if low > 11_000 {
            assert!(u32::from(a) < low && u32::from(b) < low, "{a} {b} {low}");
        }
        TcpListener::bind(("127.0.0.1", a)).unwrap();
    }
}

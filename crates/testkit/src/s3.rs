//! A throwaway S3-compatible server for tests: moto (`moto[server]` from PyPI, pinned in
//! test.sh) on 127.0.0.1, in memory. Starts in about a second; one per test is fine.
//!
//! Without moto, [`TestS3::start`] panics: tests that need object storage fail loudly
//! instead of being skipped. moto accepts any credentials.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::ports::free_port;

const INSTALL_HINT: &str = "moto's S3 server is needed for the S3 destination tests: \
     `python3 -m pip install 'moto[server]'` (./test.sh installs the pinned version)";

/// Credentials moto accepts (any would do).
pub const ACCESS_KEY_ID: &str = "AKIATESTPULSEGATE";
pub const SECRET_ACCESS_KEY: &str = "test-secret-access-key";

/// A running moto server; killed when dropped.
pub struct TestS3 {
    child: Child,
    /// moto's stderr (its request log), read if it fails to start.
    log_path: std::path::PathBuf,
    addr: SocketAddr,
}

impl TestS3 {
    /// Starts moto on a free 127.0.0.1 port and waits until it answers. Panics if moto
    /// is missing or does not come up.
    pub fn start() -> TestS3 {
        let port = free_port();
        let log_path = std::env::temp_dir().join(format!("pulsegate-moto-{port}.log"));
        let log = std::fs::File::create(&log_path).expect("moto log file");
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("starting python3 -m moto.server failed: {e}; {INSTALL_HINT}")
            });
        let mut s3 = TestS3 {
            child,
            log_path,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        s3.wait_ready(Duration::from_secs(60));
        s3
    }

    /// `http://127.0.0.1:<port>`, the endpoint for clients.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Creates a bucket (moto takes unsigned requests).
    pub fn create_bucket(&self, bucket: &str) {
        let status = self.raw("PUT", &format!("/{bucket}"));
        assert!(
            (200..300).contains(&status),
            "creating bucket {bucket}: HTTP {status}"
        );
    }

    /// One HTTP/1.1 request without a body; the response status.
    fn raw(&self, method: &str, path: &str) -> u16 {
        let mut s =
            TcpStream::connect_timeout(&self.addr, Duration::from_secs(5)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("read timeout");
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .expect("write to moto");
        let mut resp = String::new();
        let _ = s.read_to_string(&mut resp);
        resp.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP status from moto: {resp:?}"))
    }

    fn wait_ready(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let err = std::fs::read_to_string(&self.log_path).unwrap_or_default();
                panic!("moto exited during start-up with {status}: {err}\n{INSTALL_HINT}");
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                // Bound, but the app may still be loading: wait for an answer.
                if self.raw("GET", "/moto-api/") > 0 {
                    return;
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "moto did not accept connections on {} within {limit:?}",
                    self.addr
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TestS3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log_path);
    }
}

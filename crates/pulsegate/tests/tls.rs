//! TLS on both listeners, against the real binary: certificates from throwaway CAs
//! (rcgen), a client that trusts one CA only. A replaced pair applies to new
//! connections on SIGHUP (public listener) and on file change (admin listener); a
//! broken one is refused with an ERROR line and the previous one stays; a connection
//! that never sends a ClientHello is closed within the header-read timeout; the
//! connection cap still evicts; a mismatched pair refuses the start.

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pulsegate_testkit::ports::free_port;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

const TOKEN: &str = "tls-test-admin-token-0123456789abcdef0123456789";

struct Ca {
    key: KeyPair,
    cert: rcgen::Certificate,
}

impl Ca {
    fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Self { key, cert }
    }

    /// A server certificate for 127.0.0.1 and its key, as PEM.
    fn leaf(&self) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn client(&self) -> TlsConnector {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from(self.cert.der().to_vec()))
            .unwrap();
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        TlsConnector::from(Arc::new(config))
    }
}

/// `GET path` over TLS trusting `ca` only: the status, or the handshake's error.
async fn get(ca: &Ca, port: u16, path: &str) -> Result<u16, String> {
    fetch(ca, port, path).await.map(|(status, _)| status)
}

/// `GET path` over TLS trusting `ca` only: the status and the whole answer.
async fn fetch(ca: &Ca, port: u16, path: &str) -> Result<(u16, String), String> {
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let name = ServerName::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST).into());
    let mut tls = tokio::time::timeout(Duration::from_secs(5), ca.client().connect(name, tcp))
        .await
        .map_err(|_| "handshake timed out".to_string())?
        .map_err(|e| e.to_string())?;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let request = format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n");
    tls.write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    // The server may close without close_notify: what arrived is the answer.
    let _ = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|t| t.get(..3))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {text:?}"))?;
    Ok((status, text))
}

struct Files {
    cert: PathBuf,
    key: PathBuf,
}

impl Files {
    fn new(dir: &Path, name: &str, (cert, key): (String, String)) -> Self {
        let f = Self {
            cert: dir.join(format!("{name}-cert.pem")),
            key: dir.join(format!("{name}-key.pem")),
        };
        f.write((cert, key));
        f
    }

    /// Replaces both files (through a rename, as tools that rotate certificates do).
    fn write(&self, (cert, key): (String, String)) {
        for (path, text) in [(&self.key, key), (&self.cert, cert)] {
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, text).unwrap();
            std::fs::rename(&tmp, path).unwrap();
        }
    }

    fn toml(&self, reload: &str) -> String {
        format!(
            "cert_file = \"{}\"\nkey_file = \"{}\"\nreload_interval = \"{reload}\"\n",
            self.cert.display(),
            self.key.display()
        )
    }
}

struct Process {
    child: Child,
    log: PathBuf,
}

impl Process {
    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let logs = self.logs();
            if logs.contains(needle) {
                return logs;
            }
            assert!(Instant::now() < deadline, "no {needle:?} in:\n{logs}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn signal(&self, sig: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, sig).unwrap();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(dir: &Path, port: u16, admin_port: u16, server_tls: &str, admin_tls: &str) -> PathBuf {
    let path = dir.join("pulsegate.toml");
    let toml = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\nheader_read_timeout = \"2s\"\nmax_connections = 3\n\
         [server.tls]\n{server_tls}\
         [bus]\ndata_dir = \"{}\"\npartitions = 2\n\
         [log]\nlevel = \"info\"\n\
         [admin]\ntoken = \"{TOKEN}\"\nlisten = \"127.0.0.1:{admin_port}\"\n\
         [admin.tls]\n{admin_tls}",
        dir.join("data").display()
    );
    std::fs::write(&path, toml).unwrap();
    path
}

fn command(config: &Path, log: &Path) -> Command {
    let log = std::fs::File::create(log).unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_pulsegate"));
    c.arg("serve")
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_reload_on_sighup_and_on_file_change() {
    let dir = tempfile::tempdir().unwrap();
    let (ca1, ca2) = (
        Ca::new("pulsegate test CA 1"),
        Ca::new("pulsegate test CA 2"),
    );
    let public = Files::new(dir.path(), "public", ca1.leaf());
    let admin = Files::new(dir.path(), "admin", ca1.leaf());
    let (port, admin_port) = (free_port(), free_port());
    // Public: SIGHUP only. Admin: the files are checked every 300 ms.
    let cfg = config(
        dir.path(),
        port,
        admin_port,
        &public.toml("0s"),
        &admin.toml("300ms"),
    );
    let log = dir.path().join("pulsegate.log");
    let pg = Process {
        child: command(&cfg, &log).spawn().unwrap(),
        log,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(&ca1, port, "/readyz").await != Ok(200) {
        assert!(Instant::now() < deadline, "not ready:\n{}", pg.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(get(&ca1, admin_port, "/readyz").await, Ok(200));
    assert!(get(&ca2, port, "/readyz").await.is_err());
    // The public listener still has no admin route, TLS or not.
    assert_eq!(get(&ca1, port, "/v1/admin/log-level").await, Ok(404));
    // Each listener's certificate expiry is exported for the expiry alert.
    let (_, metrics) = fetch(&ca1, admin_port, "/metrics").await.unwrap();
    for listener in ["server.tls", "admin.tls"] {
        let series = format!(
            "pulsegate_tls_certificate_expiry_timestamp_seconds{{listener=\"{listener}\"}}"
        );
        assert!(metrics.contains(&series), "{series} in:\n{metrics}");
    }

    // New pairs from CA 2 on disk: the public listener waits for SIGHUP...
    public.write(ca2.leaf());
    admin.write(ca2.leaf());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(get(&ca1, port, "/readyz").await, Ok(200));
    pg.signal(rustix::process::Signal::HUP);
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(&ca2, port, "/readyz").await != Ok(200) {
        assert!(Instant::now() < deadline, "{}", pg.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let e = get(&ca1, port, "/readyz").await.unwrap_err();
    assert!(e.contains("certificate"), "{e}");
    // ... the admin listener saw the change by itself.
    assert_eq!(get(&ca2, admin_port, "/readyz").await, Ok(200));
    assert!(get(&ca1, admin_port, "/readyz").await.is_err());
    let logs = pg.logs();
    assert!(
        logs.contains("trigger=\"SIGHUP\"") && logs.contains("trigger=\"file change\""),
        "{logs}"
    );

    // The operator CLI over https: with the CA that signs the admin certificate it
    // works; with another CA, or none, it fails with its exit code and says why.
    let url = format!("https://127.0.0.1:{admin_port}");
    let (ca1_pem, ca2_pem) = (dir.path().join("ca1.pem"), dir.path().join("ca2.pem"));
    std::fs::write(&ca1_pem, ca1.cert.pem()).unwrap();
    std::fs::write(&ca2_pem, ca2.cert.pem()).unwrap();
    let cli = |ca: Option<&Path>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_pulsegate"));
        c.args([
            "topics",
            "describe",
            "--admin-url",
            &url,
            "--admin-token",
            TOKEN,
        ])
        .env_remove("PULSEGATE_ADMIN_CA")
        .stdin(std::process::Stdio::null());
        if let Some(ca) = ca {
            c.arg("--admin-ca").arg(ca);
        }
        c.output().unwrap()
    };
    let ok = cli(Some(&ca2_pem));
    assert!(
        ok.status.success() && String::from_utf8_lossy(&ok.stdout).contains("events"),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let wrong = cli(Some(&ca1_pem));
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert_eq!(wrong.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("certificate") && !stderr.contains(TOKEN),
        "{stderr}"
    );
    let none = cli(None);
    let stderr = String::from_utf8_lossy(&none.stderr);
    assert_eq!(none.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--admin-ca"), "{stderr}");

    // A broken certificate: refused with the reason, the CA 2 pair stays in use.
    let (_, key_pem) = ca1.leaf();
    std::fs::write(
        &public.cert,
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n",
    )
    .unwrap();
    pg.signal(rustix::process::Signal::HUP);
    let logs = pg
        .wait_for_log("TLS certificate not reloaded; the previous one stays in use")
        .await;
    let line = logs
        .lines()
        .find(|l| l.contains("not reloaded") && l.contains("server.tls"))
        .unwrap_or_else(|| panic!("{logs}"));
    assert!(
        line.contains("ERROR") && line.contains("not valid PEM"),
        "{line}"
    );
    assert_eq!(get(&ca2, port, "/readyz").await, Ok(200));
    // A key that is not the certificate's, on the admin listener's files: the same.
    std::fs::write(&admin.key, &key_pem).unwrap();
    let logs = pg.wait_for_log("is not the key of the certificate").await;
    let line = logs
        .lines()
        .find(|l| l.contains("not reloaded") && l.contains("admin.tls"))
        .unwrap_or_else(|| panic!("{logs}"));
    assert!(line.contains("ERROR"), "{line}");
    assert_eq!(get(&ca2, admin_port, "/readyz").await, Ok(200));
    // Never any key material in the log.
    for l in key_pem.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!logs.contains(l), "key material logged");
    }

    // A connection that never sends a ClientHello is closed within the header-read
    // timeout (2 s), not at once.
    let started = Instant::now();
    let mut idle = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(6), idle.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "still open after 6 s: {read:?}"
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(5),
        "{waited:?}"
    );

    // The connection cap (3) with TLS: a fourth connection evicts the oldest idle one.
    let mut held = Vec::new();
    for _ in 0..3 {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let name = ServerName::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST).into());
        held.push(ca2.client().connect(name, tcp).await.unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(get(&ca2, port, "/readyz").await, Ok(200));
    let mut oldest = held.remove(0);
    let read = tokio::time::timeout(Duration::from_secs(2), oldest.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the oldest idle connection was not evicted: {read:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_mismatched_pair_refuses_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("pulsegate test CA");
    let (cert, _) = ca.leaf();
    let (_, other_key) = ca.leaf();
    let public = Files::new(dir.path(), "public", (cert, other_key.clone()));
    let admin = Files::new(dir.path(), "admin", ca.leaf());
    let (port, admin_port) = (free_port(), free_port());
    for (server, admin_tls, expected) in [
        (
            public.toml("5s"),
            admin.toml("5s"),
            "invalid config: server.tls: key_file",
        ),
        (
            admin.toml("5s"),
            format!(
                "cert_file = \"{}\"\nkey_file = \"{}\"\n",
                dir.path().join("absent.pem").display(),
                admin.key.display()
            ),
            "invalid config: admin.tls: cert_file",
        ),
    ] {
        let cfg = config(dir.path(), port, admin_port, &server, &admin_tls);
        let log = dir.path().join("refused.log");
        let mut child = command(&cfg, &log).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "still running");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let out = std::fs::read_to_string(&log).unwrap();
        assert_eq!(status.code(), Some(2), "{out}");
        assert!(out.contains(expected), "{expected}: {out}");
        for l in other_key.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!out.contains(l), "key material in the error");
        }
    }
    let out = std::fs::read_to_string(dir.path().join("refused.log")).unwrap();
    assert!(out.contains("absent.pem: cannot read it"), "{out}");
}

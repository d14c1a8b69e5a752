//! TLS on the listeners (`[server.tls]`, `[admin.tls]`): rustls with ring (as the rest
//! of the tree), HTTP/1.1 by ALPN. The certificate and key are PEM files read at start
//! (a missing, unreadable or mismatched pair refuses the start) and read again on
//! `SIGHUP` or when the files change (checked every `reload_interval`): a new pair
//! applies to new connections; one that fails to load is logged at ERROR (never any
//! key material) and the pair in use stays.
//!
//! A certificate and its key are usually replaced one after the other: a change whose
//! pair does not load yet is tried again at the next check before it is reported.

use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use pulsegate_admin::ListenerTls;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// A listener's certificate and key, replaced in place on reload.
pub struct CertStore {
    /// The config section, for messages (`server.tls`, `admin.tls`).
    section: &'static str,
    files: ListenerTls,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    seen: Mutex<Seen>,
}

/// What the files looked like at the last load (or failed load), to notice a change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Stamp {
    cert: Option<FileStamp>,
    key: Option<FileStamp>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl Stamp {
    fn of(files: &ListenerTls) -> Self {
        Self {
            cert: FileStamp::of(&files.cert_file),
            key: FileStamp::of(&files.key_file),
        }
    }
}

impl FileStamp {
    fn of(path: &Path) -> Option<Self> {
        // Follows symlinks: a Kubernetes secret volume swaps its `..data` link.
        let m = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&m);
        #[cfg(not(unix))]
        let inode = 0;
        Some(Self {
            modified: m.modified().ok(),
            len: m.len(),
            inode,
        })
    }
}

#[derive(Default)]
struct Seen {
    /// The files as last loaded, or as last reported broken.
    settled: Stamp,
    /// A change that did not load once; reported if it still does not at the next check.
    pending: Option<Stamp>,
}

impl std::fmt::Debug for CertStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("CertStore")
            .field("section", &self.section)
            .field("cert_file", &self.files.cert_file)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

impl CertStore {
    /// Loads the pair; the error names the section and the file, and why.
    pub fn load(section: &'static str, files: &ListenerTls) -> anyhow::Result<Arc<Self>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let stamp = Stamp::of(files);
        let key = load_pair(files, &provider)
            .map_err(|e| anyhow::anyhow!("invalid config: {section}: {e}"))?;
        report_expiry(section, &key);
        Ok(Arc::new(Self {
            section,
            files: files.clone(),
            provider,
            current: RwLock::new(Arc::new(key)),
            seen: Mutex::new(Seen {
                settled: stamp,
                pending: None,
            }),
        }))
    }

    /// The acceptor of new connections: HTTP/1.1 by ALPN, this store's current pair.
    pub fn acceptor(self: &Arc<Self>) -> anyhow::Result<TlsAcceptor> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.section))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    /// Loads the files now (`SIGHUP`): a pair that fails is reported at once.
    pub fn reload(&self, trigger: &'static str) {
        let stamp = Stamp::of(&self.files);
        let result = load_pair(&self.files, &self.provider);
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.settled = stamp;
        seen.pending = None;
        match result {
            Ok(key) => self.apply(key, trigger),
            Err(e) => self.report(&e, trigger),
        }
    }

    /// The periodic check: loads the files when they changed since the last load.
    fn check(&self) {
        let stamp = Stamp::of(&self.files);
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if stamp == seen.settled {
            seen.pending = None;
            return;
        }
        match load_pair(&self.files, &self.provider) {
            Ok(key) => {
                seen.settled = stamp;
                seen.pending = None;
                self.apply(key, "file change");
            }
            // The same change failed at the last check too: the files are broken.
            Err(e) if seen.pending == Some(stamp) => {
                seen.settled = stamp;
                seen.pending = None;
                self.report(&e, "file change");
            }
            // Maybe half replaced (the certificate written, not yet its key).
            Err(e) => {
                tracing::debug!(listener = self.section, error = %e,
                    "TLS files changed but do not load yet; checking again");
                seen.pending = Some(stamp);
            }
        }
    }

    fn apply(&self, key: CertifiedKey, trigger: &'static str) {
        report_expiry(self.section, &key);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(key);
        metrics::counter!("pulsegate_tls_reloads_total", "listener" => self.section, "outcome" => "loaded")
            .increment(1);
        tracing::info!(
            listener = self.section,
            cert_file = %self.files.cert_file.display(),
            trigger,
            "TLS certificate reloaded; new connections use it"
        );
    }

    fn report(&self, error: &str, trigger: &'static str) {
        metrics::counter!("pulsegate_tls_reloads_total", "listener" => self.section, "outcome" => "failed")
            .increment(1);
        tracing::error!(
            listener = self.section,
            trigger,
            error,
            "TLS certificate not reloaded; the previous one stays in use"
        );
    }

    /// Checks the files every `reload_interval` until `stop` (never when it is 0).
    pub async fn watch(self: Arc<Self>, stop: CancellationToken) {
        let every = self.files.reload_interval;
        if every.is_zero() {
            return;
        }
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.cancelled() => return,
            }
            let store = self.clone();
            // File reads and key parsing off the runtime's workers.
            let _ = tokio::task::spawn_blocking(move || store.check()).await;
        }
    }
}

/// Reloads every store on `SIGHUP` until `stop`.
pub async fn reload_on_sighup(stores: Vec<Arc<CertStore>>, stop: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "SIGHUP not handled: TLS certificates reload only on file change");
                return;
            }
        };
        loop {
            tokio::select! {
                got = hup.recv() => if got.is_none() { return },
                _ = stop.cancelled() => return,
            }
            for store in &stores {
                let store = store.clone();
                let _ = tokio::task::spawn_blocking(move || store.reload("SIGHUP")).await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (stores, stop);
    }
}

/// Reads and checks a certificate chain and its key. Messages name the file and what is
/// wrong, never the file's content.
fn load_pair(files: &ListenerTls, provider: &CryptoProvider) -> Result<CertifiedKey, String> {
    let cert_path = files.cert_file.display();
    let key_path = files.key_file.display();
    let cert_pem = std::fs::read(&files.cert_file)
        .map_err(|e| format!("cert_file {cert_path}: cannot read it: {e}"))?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cert_file {cert_path}: {}", pem_problem(&e)))?;
    if chain.is_empty() {
        return Err(format!(
            "cert_file {cert_path}: no CERTIFICATE block in the file"
        ));
    }
    let key_pem = std::fs::read(&files.key_file)
        .map_err(|e| format!("key_file {key_path}: cannot read it: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
        pem::Error::NoItemsFound => {
            format!("key_file {key_path}: no PRIVATE KEY block (PKCS#8, RSA or EC) in the file")
        }
        e => format!("key_file {key_path}: {}", pem_problem(&e)),
    })?;
    let loaded = provider.key_provider.load_private_key(key).map_err(|_| {
        format!("key_file {key_path}: not a usable private key (RSA, ECDSA or Ed25519)")
    })?;
    let pair = CertifiedKey::new(chain, loaded);
    match pair.keys_match() {
        Ok(()) => Ok(pair),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => Err(
            format!("key_file {key_path} is not the key of the certificate in {cert_path}"),
        ),
        // The key type cannot tell its public key: nothing to compare.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(pair),
        Err(e) => Err(format!(
            "cert_file {cert_path}: the first certificate does not parse: {e}"
        )),
    }
}

/// Sets `pulsegate_tls_certificate_expiry_timestamp_seconds{listener}` to the served
/// certificate's notAfter (Unix seconds), which the expiry alert watches: a listener
/// whose certificate lapses refuses every provider's push.
fn report_expiry(section: &'static str, key: &CertifiedKey) {
    match key.end_entity_cert().ok().and_then(|c| not_after(c)) {
        Some(at) => metrics::gauge!("pulsegate_tls_certificate_expiry_timestamp_seconds",
            "listener" => section)
        .set(at as f64),
        None => tracing::warn!(
            listener = section,
            "the certificate's expiry could not be read; no expiry gauge for this listener"
        ),
    }
}

/// A DER certificate's notAfter, Unix seconds.
fn not_after(der: &CertificateDer<'_>) -> Option<i64> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// What is wrong with a PEM file, without quoting it.
fn pem_problem(e: &pem::Error) -> &'static str {
    match e {
        pem::Error::MissingSectionEnd { .. } => "not valid PEM (a block has no END line)",
        pem::Error::IllegalSectionStart { .. } => "not valid PEM (a malformed BEGIN line)",
        pem::Error::Base64Decode(_) => "not valid PEM (a block is not base64)",
        pem::Error::NoItemsFound => "no PEM block of the expected kind",
        pem::Error::SectionTooLarge => "not valid PEM (a block is too large)",
        _ => "not valid PEM",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path, cert: &str, key: &str) -> ListenerTls {
        let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&c, cert).unwrap();
        std::fs::write(&k, key).unwrap();
        ListenerTls {
            cert_file: c,
            key_file: k,
            reload_interval: ListenerTls::DEFAULT_RELOAD_INTERVAL,
        }
    }

    fn pair(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn the_served_certificates_expiry_is_read_from_it() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["a.example".to_string()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2031, 5, 6);
        let cert = params.self_signed(&key).unwrap();
        // 2031-05-06T00:00:00Z
        assert_eq!(not_after(cert.der()), Some(1_935_792_000));
        assert_eq!(
            not_after(&CertificateDer::from(vec![0x30, 0x03, 1, 2, 3])),
            None
        );
    }

    #[test]
    fn a_mismatched_or_broken_pair_is_refused_without_quoting_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let (cert_a, key_a) = pair("a.example");
        let (_, key_b) = pair("b.example");
        assert!(CertStore::load("server.tls", &files(dir.path(), &cert_a, &key_a)).is_ok());

        let e = CertStore::load("server.tls", &files(dir.path(), &cert_a, &key_b))
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not the key of the certificate"), "{e}");
        assert!(
            e.starts_with("invalid config: server.tls: key_file "),
            "{e}"
        );

        let body = key_a.lines().nth(1).unwrap();
        let broken_key = key_a.replace(body, "!!!not-base64!!!");
        let e = CertStore::load("admin.tls", &files(dir.path(), &cert_a, &broken_key))
            .unwrap_err()
            .to_string();
        assert!(e.contains("key_file") && e.contains("not valid PEM"), "{e}");
        assert!(!e.contains("not-base64"), "{e}");

        let e = CertStore::load("server.tls", &files(dir.path(), &key_a, &key_a))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no CERTIFICATE block"), "{e}");
        for l in key_a.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!e.contains(l), "{e}");
        }

        let missing = ListenerTls {
            cert_file: dir.path().join("nope.pem"),
            ..files(dir.path(), &cert_a, &key_a)
        };
        let e = CertStore::load("server.tls", &missing)
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope.pem: cannot read it"), "{e}");
    }

    #[test]
    fn a_change_that_does_not_load_is_retried_once_then_kept_out() {
        let dir = tempfile::tempdir().unwrap();
        let (cert_a, key_a) = pair("a.example");
        let (cert_b, key_b) = pair("b.example");
        let f = files(dir.path(), &cert_a, &key_a);
        let store = CertStore::load("server.tls", &f).unwrap();
        let served = |s: &CertStore| s.current.read().unwrap().cert[0].clone();
        let first = served(&store);
        // The certificate replaced before its key: not applied, not yet reported.
        std::fs::write(&f.cert_file, &cert_b).unwrap();
        store.check();
        assert_eq!(served(&store), first);
        assert!(store.seen.lock().unwrap().pending.is_some());
        // Then the key: applied.
        std::fs::write(&f.key_file, format!("{key_b}\n")).unwrap();
        store.check();
        assert_ne!(served(&store), first);
        assert!(store.seen.lock().unwrap().pending.is_none());
    }
}

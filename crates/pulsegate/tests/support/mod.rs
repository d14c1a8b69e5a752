//! Runs the real `pulsegate` binary against simulated providers and customers on
//! 127.0.0.1, and checks what customers receive independently of pulsegate's code.

#![allow(dead_code, reason = "shared by several test crates; each uses a part")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// At least 32 characters, and not an example token (pulsegate refuses those).
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef0123456789";
pub const VERIFY_TOKEN: &str = "test-verify-token";
pub const SUBSCRIPTION_ID: u64 = 4242;

/// Which bus the process runs on. Kafka tests start a real Kafka-protocol broker
/// (tansu) on 127.0.0.1; without one they fail, they never skip.
pub enum Backend {
    Embedded,
    Kafka(pulsegate_testkit::kafka::TestBroker),
}

impl Backend {
    pub fn kafka() -> Self {
        Backend::Kafka(pulsegate_testkit::kafka::TestBroker::start())
    }

    /// The `[bus]` section for this backend (data in `data`).
    pub fn bus_toml(&self, data: &Path) -> String {
        match self {
            Backend::Embedded => format!("[bus]\ndata_dir = \"{}\"\npartitions = 4\n", data.display()),
            // Short group timeouts: tansu's joins wait half the session timeout.
            Backend::Kafka(broker) => format!(
                "[bus]\nkind = \"kafka\"\npartitions = 4\n[bus.kafka]\nbrokers = \"{}\"\nreplication_factor = 1\n\
                 session_timeout = \"6s\"\nheartbeat_interval = \"1s\"\nmax_poll_interval = \"10s\"\n",
                broker.brokers()
            ),
        }
    }
}

/// Runs a test body once per backend: `both_backends!(name, body_fn)` defines
/// `name_embedded` and `name_kafka`.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() {
                super::$body(super::support::Backend::Embedded).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn kafka() {
                super::$body(super::support::Backend::kafka()).await
            }
        }
    };
}

/// A `pulsegate serve` process with its own data directory and port.
pub struct Pulsegate {
    pub dir: tempfile::TempDir,
    /// The public listener (`[server] listen`).
    pub port: u16,
    /// The admin listener (`[admin] listen`): admin API, dashboard, `/metrics`.
    pub admin_port: u16,
    /// RLIMIT_NOFILE of the started process, when set (before `spawn`).
    pub nofile: Option<u64>,
    /// `serve`, `ingest`, `normalize` or `dispatch`.
    pub role: &'static str,
    /// How long [`Pulsegate::spawn`] waits for `/readyz` (default 30 s).
    pub ready_within: Duration,
    child: Option<Child>,
    config: PathBuf,
}

pub use pulsegate_testkit::ports::free_port;

impl Pulsegate {
    /// Writes a config (`extra` is appended TOML: destinations, dispatcher settings…)
    /// and starts the process.
    pub async fn start(strava_api: &str, extra: &str) -> Self {
        Self::start_on(&Backend::Embedded, strava_api, extra).await
    }

    pub async fn start_on(backend: &Backend, strava_api: &str, extra: &str) -> Self {
        Self::start_role(backend, "serve", strava_api, extra).await
    }

    pub async fn start_role(
        backend: &Backend,
        role: &'static str,
        strava_api: &str,
        extra: &str,
    ) -> Self {
        let mut pg = Self::configure(backend, role, strava_api, extra);
        pg.spawn().await;
        pg
    }

    /// Writes the config like [`Pulsegate::start_role`] without starting the process.
    pub fn configure(backend: &Backend, role: &'static str, strava_api: &str, extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let admin_port = free_port();
        register_admin_port(port, admin_port);
        let config = dir.path().join("pulsegate.toml");
        let data = dir.path().join("data");
        let toml = format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
{bus}
[log]
level = "debug,hyper=info,h2=info,fjall=info,lsm_tree=info,reqwest=info,hyper_util=info"
[admin]
token = "{ADMIN_TOKEN}"
listen = "127.0.0.1:{admin_port}"
[ingest]
max_body_bytes = 4096
[ingest.strava]
subscription_id = {SUBSCRIPTION_ID}
verify_token = "{VERIFY_TOKEN}"
[normalizer.strava]
api_base = "{strava_api}"
client_id = "cid"
client_secret = "test-client-secret"
{extra}
"#,
            bus = backend.bus_toml(&data)
        );
        std::fs::write(&config, toml).unwrap();
        Self {
            dir,
            port,
            admin_port,
            nofile: None,
            role,
            ready_within: Duration::from_secs(30),
            child: None,
            config,
        }
    }

    pub fn config_path(&self) -> &Path {
        &self.config
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("pulsegate.log")
    }

    /// (Re)starts the process on the same config and data, and waits until ready.
    pub async fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let mut command = match self.nofile {
            // The soft and hard open-file limits set in the child before it execs the
            // binary (same pid), without a pre_exec hook (the workspace forbids unsafe).
            Some(n) => {
                let mut sh = Command::new("sh");
                sh.arg("-c")
                    .arg(r#"ulimit -n "$0" && exec "$@""#)
                    .arg(n.to_string())
                    .arg(env!("CARGO_BIN_EXE_pulsegate"));
                sh
            }
            None => Command::new(env!("CARGO_BIN_EXE_pulsegate")),
        };
        let child = command
            .arg(self.role)
            .arg("--config")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start pulsegate");
        self.child = Some(child);
        self.wait_ready().await;
    }

    pub async fn wait_ready(&mut self) {
        let deadline = Instant::now() + self.ready_within;
        let client = reqwest::Client::new();
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("pulsegate exited with {status}: {}", self.logs());
            }
            if let Ok(r) = client.get(self.url("/readyz")).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "pulsegate not ready: {}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// SIGTERM (graceful shutdown), then waits up to `within` for the process to exit;
    /// SIGKILL after that. Returns the exit status if it exited by itself.
    pub async fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        // Our own child's pid: it has not been reaped yet.
        let pid = rustix::process::Pid::from_child(&c);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = c.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                c.kill().unwrap();
                c.wait().unwrap();
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The exit status if the process has ended by itself (then it is no longer
    /// tracked: [`Pulsegate::spawn`] starts it again).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        self.child = None;
        Some(status)
    }

    /// Sends SIGTERM and returns at once (see [`Pulsegate::wait_exit`]).
    pub fn signal_term(&self) {
        if let Some(c) = &self.child {
            let pid = rustix::process::Pid::from_child(c);
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
    }

    /// Waits up to `within` for the process to exit by itself; SIGKILL after that
    /// (`None`). Returns its exit status.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = c.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                c.kill().unwrap();
                c.wait().unwrap();
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Adds `lines` (TOML keys) at the top of the config's `[server]` section, for the
    /// next (re)start.
    pub fn add_server_settings(&self, lines: &str) {
        let toml = std::fs::read_to_string(&self.config).unwrap();
        let toml = toml.replacen("[server]\n", &format!("[server]\n{lines}\n"), 1);
        std::fs::write(&self.config, toml).unwrap();
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// A URL on the admin listener (admin API, dashboard, `/metrics`).
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.admin_port, path)
    }

    /// The process id (while it runs).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = reqwest::Client::new()
            .request(method, self.admin_url(path))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    /// Registers a Strava athlete's connection; returns pulsegate's user_id.
    pub async fn connect_athlete(
        &self,
        owner_id: u64,
        access_token: &str,
        refresh_token: &str,
    ) -> String {
        let (status, body) = self
            .admin(
                reqwest::Method::POST,
                "/v1/admin/connections",
                Some(serde_json::json!({
                    "provider": "strava",
                    "provider_user_id": owner_id.to_string(),
                    "reference_id": format!("customer-user-{owner_id}"),
                    "access_token": access_token,
                    "refresh_token": refresh_token,
                    "expires_at": 4102444800i64,
                    "scopes": "activity:read_all"
                })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["user_id"].as_str().unwrap().to_string()
    }

    /// [`connect_athlete`](Self::connect_athlete), owned by developer account `dev_id`
    /// (only that account's `/v2` key sees it).
    pub async fn connect_athlete_for(
        &self,
        dev_id: &str,
        owner_id: u64,
        access_token: &str,
        refresh_token: &str,
    ) -> String {
        self.connect_owned(serde_json::json!({
            "provider": "strava",
            "provider_user_id": owner_id.to_string(),
            "reference_id": format!("customer-user-{owner_id}"),
            "access_token": access_token,
            "refresh_token": refresh_token,
            "expires_at": 4102444800i64,
            "scopes": "activity:read_all",
            "dev_id": dev_id,
        }))
        .await
    }

    /// [`connect`](Self::connect), owned by developer account `dev_id`.
    pub async fn connect_for(
        &self,
        dev_id: &str,
        provider: &str,
        provider_user_id: &str,
        access_token: &str,
        refresh_token: &str,
    ) -> String {
        self.connect_owned(serde_json::json!({
            "provider": provider,
            "provider_user_id": provider_user_id,
            "reference_id": format!("customer-{provider}-{provider_user_id}"),
            "access_token": access_token,
            "refresh_token": refresh_token,
            "expires_at": 4102444800i64,
            "dev_id": dev_id,
        }))
        .await
    }

    async fn connect_owned(&self, body: serde_json::Value) -> String {
        let (status, body) = self
            .admin(reqwest::Method::POST, "/v1/admin/connections", Some(body))
            .await;
        assert_eq!(status, 201, "{body}");
        body["user_id"].as_str().unwrap().to_string()
    }

    /// Registers a connection for any provider; returns pulsegate's user_id.
    pub async fn connect(
        &self,
        provider: &str,
        provider_user_id: &str,
        access_token: &str,
        refresh_token: &str,
    ) -> String {
        let (status, body) = self
            .admin(
                reqwest::Method::POST,
                "/v1/admin/connections",
                Some(serde_json::json!({
                    "provider": provider,
                    "provider_user_id": provider_user_id,
                    "reference_id": format!("customer-{provider}-{provider_user_id}"),
                    "access_token": access_token,
                    "refresh_token": refresh_token,
                    "expires_at": 4102444800i64,
                })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["user_id"].as_str().unwrap().to_string()
    }

    /// The push path of `provider` (with its path token for Strava, Garmin, Withings).
    pub async fn push_path(&self, provider: &str) -> String {
        push_path(self.port, provider).await
    }

    /// `POST` to `provider`'s push path with the given headers and body; returns the status
    /// and the response body.
    pub async fn push_raw(
        &self,
        provider: &str,
        headers: &[(&str, &str)],
        body: impl Into<reqwest::Body>,
    ) -> (u16, String) {
        let path = push_path(self.port, provider).await;
        let mut req = reqwest::Client::new().post(self.url(&path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.body(body).send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }

    /// How many pushes ingest accepted (appended) for `provider` (from /metrics).
    pub async fn accepted(&self, provider: &str) -> f64 {
        self.metric(&format!(
            "pulsegate_ingest_requests_total{{provider=\"{provider}\",outcome=\"accepted\""
        ))
        .await
    }

    pub async fn metric(&self, name_and_labels: &str) -> f64 {
        let text = reqwest::get(self.admin_url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|l| l.starts_with(name_and_labels))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

impl Drop for Pulsegate {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A Strava push body as Strava documents it.
pub fn strava_event(
    object_type: &str,
    object_id: u64,
    aspect: &str,
    owner_id: u64,
    updates: &str,
) -> String {
    format!(
        r#"{{"aspect_type":"{aspect}","event_time":1732550400,"object_id":{object_id},"object_type":"{object_type}","owner_id":{owner_id},"subscription_id":{SUBSCRIPTION_ID},"updates":{updates}}}"#
    )
}

/// The push path of `provider` on the pulsegate at `pg_port`, as the admin API gives it
/// (`/v1/ingest/<provider>/<token>` for providers authenticated by a path token).
/// Cached per port and provider; a test that rotates the token reads the API itself.
/// Public port → admin port of the processes this test started (the free functions
/// below know only the public port).
static ADMIN_PORTS: std::sync::Mutex<Option<std::collections::HashMap<u16, u16>>> =
    std::sync::Mutex::new(None);

fn register_admin_port(public: u16, admin: u16) {
    // A new process (new data dir, new path tokens) may reuse a finished test's port:
    // forget the push paths cached for that port.
    PUSH_PATHS
        .lock()
        .unwrap()
        .get_or_insert_default()
        .retain(|(port, _), _| *port != public);
    ADMIN_PORTS
        .lock()
        .unwrap()
        .get_or_insert_default()
        .insert(public, admin);
}

fn admin_port_of(public: u16) -> u16 {
    ADMIN_PORTS
        .lock()
        .unwrap()
        .get_or_insert_default()
        .get(&public)
        .copied()
        .unwrap_or(public)
}

static PUSH_PATHS: std::sync::Mutex<Option<std::collections::HashMap<(u16, String), String>>> =
    std::sync::Mutex::new(None);

/// Makes the process on `pg_port` use `path` (read from another process of the same
/// deployment) instead of asking its own admin API, which would generate a second token
/// if the first has not reached it yet.
pub fn share_push_path(pg_port: u16, provider: &str, path: &str) {
    PUSH_PATHS
        .lock()
        .unwrap()
        .get_or_insert_default()
        .insert((pg_port, provider.to_string()), path.to_string());
}

pub async fn push_path(pg_port: u16, provider: &str) -> String {
    use std::sync::Mutex;
    static CACHE: &Mutex<Option<std::collections::HashMap<(u16, String), String>>> = &PUSH_PATHS;
    let key = (pg_port, provider.to_string());
    if let Some(p) = CACHE.lock().unwrap().get_or_insert_default().get(&key) {
        return p.clone();
    }
    let resp = reqwest::Client::new()
        .get(format!(
            "http://127.0.0.1:{}/v1/admin/integrations/{provider}/push-url",
            admin_port_of(pg_port)
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("push-url");
    assert!(resp.status().is_success(), "push-url: {}", resp.status());
    let body: serde_json::Value = resp.json().await.expect("push-url JSON");
    let path = body["path"].as_str().expect("path").to_string();
    CACHE
        .lock()
        .unwrap()
        .get_or_insert_default()
        .insert(key, path.clone());
    path
}

pub async fn push(client: &reqwest::Client, pg_port: u16, body: String) -> u16 {
    push_with_reference(client, pg_port, body).await.0
}

/// [`push`], with the notification id ingest answered an acknowledgement with
/// (`x-pulsegate-notification-id`: what the logs name the notification by).
pub async fn push_with_reference(
    client: &reqwest::Client,
    pg_port: u16,
    body: String,
) -> (u16, Option<String>) {
    let path = push_path(pg_port, "strava").await;
    match client
        .post(format!("http://127.0.0.1:{pg_port}{path}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
    {
        Ok(r) => (
            r.status().as_u16(),
            r.headers()
                .get("x-pulsegate-notification-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        ),
        Err(_) => (0, None),
    }
}

/// Checks both signature schemes the way a customer would, written from the
/// specifications rather than with pulsegate's code. Returns an error text on failure.
pub fn verify_delivery(
    secret: &str,
    headers: &std::collections::HashMap<String, String>,
    body: &[u8],
) -> Result<(), String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // terra-signature: t=<ts>,v1=<hex hmac(secret utf-8, "<t>.<body>")>
    let ts_header = headers.get("terra-signature").ok_or("no terra-signature")?;
    let mut t = None;
    let mut v1 = Vec::new();
    for part in ts_header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.to_string()),
            Some(("v1", v)) => v1.push(v.to_string()),
            _ => {}
        }
    }
    let t = t.ok_or("no t=")?;
    let t_num: i64 = t.parse().map_err(|_| "t not a number")?;
    if (now - t_num).abs() > 300 {
        return Err("terra timestamp outside tolerance".into());
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected = hex::encode(mac.finalize().into_bytes());
    if !v1.contains(&expected) {
        return Err("terra-signature mismatch".into());
    }
    // Standard Webhooks.
    let id = headers.get("webhook-id").ok_or("no webhook-id")?;
    let ts = headers
        .get("webhook-timestamp")
        .ok_or("no webhook-timestamp")?;
    let ts_num: i64 = ts.parse().map_err(|_| "webhook-timestamp not a number")?;
    if (now - ts_num).abs() > 300 {
        return Err("webhook timestamp outside tolerance".into());
    }
    let key_b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key = base64::engine::general_purpose::STANDARD
        .decode(key_b64)
        .map_err(|_| "secret not base64")?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    let sigs = headers
        .get("webhook-signature")
        .ok_or("no webhook-signature")?;
    if !sigs.split(' ').any(|s| s == expected) {
        return Err("webhook-signature mismatch".into());
    }
    if headers.get("terra-reference").is_none_or(|r| r.is_empty()) {
        return Err("no terra-reference".into());
    }
    Ok(())
}

/// Config lines for one webhook destination `hook` at `url` (private addresses allowed,
/// as the local sinks are on 127.0.0.1).
pub fn hook_destination(url: &str) -> String {
    format!(
        "[dispatcher]\nallow_private_networks = true\n\
         [[destinations]]\nid = \"hook\"\nurl = \"{url}\"\nsecret = \"{}\"\n",
        test_secret(1)
    )
}

/// A fresh `whsec_` secret (32 random-ish bytes; tests only).
pub fn test_secret(seed: u8) -> String {
    let bytes: Vec<u8> = (0..32u8)
        .map(|i| i.wrapping_mul(31).wrapping_add(seed))
        .collect();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// Checks `deliveries` with terra-python 1.1.0 (tests/terra_client/check_webhooks.py):
/// each signature verifies with `secret` (and not with another), and each body parses
/// strictly as the client's webhook model for its `type`.
pub fn terra_check_webhooks(secret: &str, deliveries: &[pulsegate_testkit::sink::ReceivedRequest]) {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("deliveries.json");
    let deliveries: Vec<serde_json::Value> = deliveries
        .iter()
        .map(|d| {
            serde_json::json!({
                "headers": d.headers,
                "body": String::from_utf8_lossy(&d.body),
            })
        })
        .collect();
    std::fs::write(
        &job,
        serde_json::json!({"secret": secret, "deliveries": deliveries}).to_string(),
    )
    .unwrap();
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/terra_client/check_webhooks.py"
        ))
        .arg(&job)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "terra-python rejected a webhook:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches("ok: ").count(), deliveries.len(), "{stdout}");
}

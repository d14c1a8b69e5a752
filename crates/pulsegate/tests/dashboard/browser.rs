//! A headless Chromium driven through chromedriver, for the dashboard tests.

use std::future::Future;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::support::free_port;

fn binary(var: &str, default: &str, package: &str) -> PathBuf {
    let path = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    assert!(
        path.is_file(),
        "{} not found: the dashboard test needs Chromium and chromedriver. Install them \
         with `apt-get install -y --no-install-recommends chromium chromium-driver` (as \
         .ci/run does), or point {var} at the binary ({package}).",
        path.display()
    );
    path
}

/// chromedriver on a free 127.0.0.1 port, and a WebDriver session of headless Chromium
/// with a fresh profile. [`Browser::close`] ends the session; dropping it (a failed
/// test) kills chromedriver's process group, the browser included.
pub struct Browser {
    client: Option<Client>,
    driver: Child,
    dir: tempfile::TempDir,
}

impl Browser {
    pub async fn start() -> Browser {
        let chromium = binary("CHROMIUM_BIN", "/usr/bin/chromium", "package chromium");
        let chromedriver = binary(
            "CHROMEDRIVER_BIN",
            "/usr/bin/chromedriver",
            "package chromium-driver",
        );
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .arg(format!(
                "--log-path={}",
                dir.path().join("chromedriver.log").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, which the browser it starts joins.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let mut browser = Browser {
            client: None,
            driver,
            dir,
        };
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = browser.driver.try_wait().unwrap() {
                panic!(
                    "chromedriver exited with {status}: {}",
                    browser.driver_log()
                );
            }
            let ready = reqwest::get(format!("{url}/status"))
                .await
                .ok()
                .filter(|r| r.status().is_success())
                .is_some();
            if ready {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver not ready: {}",
                browser.driver_log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        let profile = browser.dir.path().join("profile");
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-breakpad",
                    "--disable-dev-shm-usage",
                    "--window-size=1400,1000",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "no Chromium session ({}): {e}\n{}",
                    chromium.display(),
                    browser.driver_log()
                )
            });
        browser.client = Some(client);
        browser
    }

    /// Ends the session (chromedriver quits the browser).
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            client.close().await.expect("close the WebDriver session");
        }
    }

    pub fn c(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    fn driver_log(&self) -> String {
        let log =
            std::fs::read_to_string(self.dir.path().join("chromedriver.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// Runs `script` (a function body) in the page and returns its result.
    pub async fn js(&self, script: &str) -> Value {
        self.c()
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    pub async fn click(&self, css: &str) {
        self.on_fresh(css, |e| async move { e.click().await.map(|_| ()) })
            .await
    }

    pub async fn text(&self, css: &str) -> String {
        self.on_fresh(css, |e| async move { e.text().await }).await
    }

    /// Runs `op` on the element `css` names, finding it again when a refresh replaced
    /// it between finding and acting (a stale element reference; seen under load).
    async fn on_fresh<T, F, Fut>(&self, css: &str, op: F) -> T
    where
        F: Fn(fantoccini::elements::Element) -> Fut,
        Fut: Future<Output = Result<T, fantoccini::error::CmdError>>,
    {
        let mut last = String::new();
        for _ in 0..20 {
            let e = self
                .c()
                .find(Locator::Css(css))
                .await
                .unwrap_or_else(|e| panic!("no {css}: {e}"));
            match op(e).await {
                Ok(v) => return v,
                Err(e) => {
                    last = e.to_string();
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        panic!("{css} kept being replaced: {last}")
    }

    /// The number of elements matching `css`.
    pub async fn count(&self, css: &str) -> usize {
        self.c().find_all(Locator::Css(css)).await.unwrap().len()
    }

    pub async fn wait_count(&self, css: &str, at_least: usize, refresh: bool) {
        eventually(&format!("{at_least} × {css}"), || async move {
            if refresh {
                self.refresh().await;
            }
            self.count(css).await >= at_least
        })
        .await;
    }

    /// Opens the dashboard at `url` and signs in with `token`.
    pub async fn sign_in(&self, url: &str, token: &str) {
        self.c().goto(url).await.unwrap();
        self.c()
            .find(Locator::Id("token"))
            .await
            .unwrap()
            .send_keys(token)
            .await
            .unwrap();
        self.click("#login-button").await;
        eventually("the dashboard loaded", || async move {
            self.js("return document.body.getAttribute('data-loaded')")
                .await
                .is_string()
        })
        .await;
    }

    /// Clicks Refresh and waits until the page has reloaded every section.
    pub async fn refresh(&self) {
        let before = self
            .js("return document.body.getAttribute('data-loaded')")
            .await;
        self.click("#refresh").await;
        let before = &before;
        eventually("the dashboard loaded", || async move {
            let now = self
                .js("return document.body.getAttribute('data-loaded')")
                .await;
            now.is_string() && now != *before
        })
        .await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver and the browser it started, whatever state the test left them in.
        let group = rustix::process::Pid::from_child(&self.driver);
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        let _ = self.driver.wait();
    }
}

/// Polls `f` for up to 20 s; panics naming `what` if it never holds.
pub async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if f().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

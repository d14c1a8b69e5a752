//! The admin API as the CLI reaches it: over HTTP, with the admin bearer token, the
//! way an operator's `curl` would. Failures are sorted by what the operator must do
//! (each its own exit code); none repeats the token.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

/// Why a command did not do its work.
#[derive(Debug)]
pub enum CliFailure {
    /// The arguments or the settings are unusable (exit 2, like clap's own errors).
    Usage(String),
    /// The admin listener could not be reached (exit 3).
    Unreachable(String),
    /// 401: the admin token was refused; 429: this address is throttled (exit 4).
    Unauthorized(String),
    /// Any other error answer, with the API's message (exit 1).
    Refused { status: u16, message: String },
}

impl CliFailure {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliFailure::Refused { .. } => 1,
            CliFailure::Usage(_) => 2,
            CliFailure::Unreachable(_) => 3,
            CliFailure::Unauthorized(_) => 4,
        }
    }
}

impl fmt::Display for CliFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliFailure::Usage(m) => write!(f, "{m}"),
            CliFailure::Unreachable(m) => write!(f, "admin API unreachable: {m}"),
            CliFailure::Unauthorized(m) => write!(f, "{m}"),
            CliFailure::Refused { status, message } => {
                write!(f, "the admin API answered {status}: {message}")
            }
        }
    }
}

pub struct AdminClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl AdminClient {
    /// `ca`: PEM certificates trusted for an https:// URL (the only ones: an admin
    /// listener's certificate comes from the operator's CA, not a public one).
    pub fn new(base: &str, token: String, ca: Option<&[u8]>) -> Result<Self, CliFailure> {
        let base = base.trim_end_matches('/').to_string();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            // A search scans the whole history topic: give it time.
            .timeout(Duration::from_secs(300));
        if base.starts_with("https://") {
            let ca = ca.ok_or_else(|| {
                CliFailure::Usage(
                    "an https:// admin URL needs --admin-ca: the CA certificates (PEM) that sign \
                     the admin listener's certificate"
                        .into(),
                )
            })?;
            let roots = reqwest::Certificate::from_pem_bundle(ca)
                .ok()
                .filter(|r| !r.is_empty())
                .ok_or_else(|| CliFailure::Usage("--admin-ca: no PEM certificate in it".into()))?;
            builder = builder.use_rustls_tls().tls_built_in_root_certs(false);
            for root in roots {
                builder = builder.add_root_certificate(root);
            }
        } else if !base.starts_with("http://") {
            return Err(CliFailure::Usage(format!(
                "--admin-url must be an http:// or https:// URL of the admin listener (got {base:?})"
            )));
        }
        let http = builder
            .build()
            .map_err(|e| CliFailure::Usage(format!("HTTP client: {e}")))?;
        Ok(Self { http, base, token })
    }

    pub async fn get(&self, path_and_query: &str) -> Result<Value, CliFailure> {
        self.send(self.http.get(self.url(path_and_query))).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, CliFailure> {
        self.send(self.http.post(self.url(path)).json(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value, CliFailure> {
        self.send(self.http.delete(self.url(path))).await
    }

    /// POSTs an empty body and hands the answer back unread, for a body to stream
    /// (`pulsegate backup`); an error answer is the same failure as [`Self::post`]'s.
    pub async fn post_streaming(
        &self,
        path: &str,
        timeout: Duration,
    ) -> Result<reqwest::Response, CliFailure> {
        let resp = self
            .http
            .post(self.url(path))
            .timeout(timeout)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| {
                CliFailure::Unreachable(format!(
                    "{} ({})",
                    self.base,
                    pulsegate_schema::error_chain(&e)
                ))
            })?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        Err(failure(status, &text))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Value, CliFailure> {
        let resp = req.bearer_auth(&self.token).send().await.map_err(|e| {
            // reqwest's text names the URL (no token): enough to see what was tried.
            CliFailure::Unreachable(format!(
                "{} ({})",
                self.base,
                pulsegate_schema::error_chain(&e)
            ))
        })?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| {
            CliFailure::Unreachable(format!(
                "{} ({})",
                self.base,
                pulsegate_schema::error_chain(&e)
            ))
        })?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return Ok(body);
        }
        Err(failure(status, &text))
    }
}

/// An error answer as the failure the operator sees.
fn failure(status: u16, text: &str) -> CliFailure {
    let body: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let message = body
        .get("error")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| text.chars().take(300).collect());
    match status {
        401 => CliFailure::Unauthorized(format!(
            "the admin token was refused (401): check --admin-token / \
             PULSEGATE_ADMIN__TOKEN ({message})"
        )),
        429 => CliFailure::Unauthorized(format!(
            "too many wrong admin tokens from this address (429): wait, then retry with \
             the right token ({message})"
        )),
        _ => CliFailure::Refused { status, message },
    }
}

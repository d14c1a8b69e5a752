//! Strava's REST API: activities and OAuth token refresh, with transient-failure retries
//! and the per-connection token lifecycle.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use http::StatusCode;
use pulsegate_schema::{Connection, Secret};
use serde::Deserialize;

use super::mapping::DetailedActivity;
use crate::dedupe::KeyedLocks;
use crate::http::{HttpClient, HttpError, HttpResponse};
use crate::retry::Backoff;
use crate::{Ctx, NormalizeError, RetryConfig, StravaConfig};

const PROVIDER: &str = "strava";
const EP_ACTIVITY: &str = "get_activity";
const EP_TOKEN: &str = "oauth_token";

/// Refresh when the access token expires within this many seconds.
pub const REFRESH_MARGIN_SECS: i64 = 300;

/// A non-transient answer from Strava.
#[derive(Debug)]
pub enum Reply<T> {
    Ok(T),
    /// 404.
    NotFound,
    /// 401: the token is not (or no longer) valid.
    Unauthorized,
    /// 403: the token lacks the scope.
    Forbidden,
    /// Any other 4xx (or 400 from the token endpoint).
    Rejected(StatusCode),
}

/// What fetching an activity for a connection came to.
pub enum Fetched {
    Activity(Box<DetailedActivity>),
    /// Strava refused the connection's credentials: a `connection_error` is due.
    ConnectionError(&'static str),
}

/// `POST /oauth/token` response.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: Secret,
    #[serde(default)]
    refresh_token: Option<Secret>,
    #[serde(default)]
    expires_at: i64,
    #[serde(default)]
    expires_in: Option<i64>,
}

pub struct StravaClient {
    http: HttpClient,
    api_base: String,
    client_id: String,
    client_secret: Secret,
    retry: RetryConfig,
    /// One token refresh per connection at a time.
    refresh_locks: KeyedLocks,
    /// Refreshed connections whose storing failed: Strava may have invalidated the old
    /// refresh token already, so the next attempt stores these instead of refreshing.
    unsaved: Mutex<HashMap<String, Connection>>,
}

impl StravaClient {
    pub fn new(cfg: &StravaConfig, retry: &RetryConfig) -> Result<Self, NormalizeError> {
        if cfg.client_id.is_empty() || cfg.client_secret.is_empty() {
            tracing::warn!(
                "strava client_id/client_secret not configured: token refresh will fail"
            );
        }
        Ok(Self {
            http: HttpClient::new(cfg.request_timeout)?,
            api_base: cfg.api_base.trim_end_matches('/').to_string(),
            client_id: cfg.client_id.clone(),
            client_secret: cfg.client_secret.clone(),
            retry: retry.clone(),
            refresh_locks: KeyedLocks::new(),
            unsaved: Mutex::new(HashMap::new()),
        })
    }

    /// Fetches activity `id` with `conn`'s token, refreshing it first when it is about to
    /// expire, or once after a 401. 404 → `Dropped("not_found")`.
    pub async fn fetch_activity(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        id: u64,
    ) -> Result<Fetched, NormalizeError> {
        let mut conn = conn.clone();
        let mut refreshed = false;
        if expires_soon(&conn) {
            match self.refresh_connection(&conn, ctx).await? {
                Ok(c) => conn = c,
                Err(why) => return Ok(Fetched::ConnectionError(why)),
            }
            refreshed = true;
        }
        loop {
            match self.get_activity(&conn.access_token, id).await? {
                Reply::Ok(a) => return Ok(Fetched::Activity(a)),
                Reply::NotFound => {
                    return Err(NormalizeError::dropped(
                        "not_found",
                        format!("Strava has no activity {id} for this athlete"),
                    ))
                }
                Reply::Unauthorized if !refreshed => {
                    tracing::info!("Strava answered 401; refreshing the access token once");
                    match self.refresh_connection(&conn, ctx).await? {
                        Ok(c) => conn = c,
                        Err(why) => return Ok(Fetched::ConnectionError(why)),
                    }
                    refreshed = true;
                }
                Reply::Unauthorized => {
                    return Ok(Fetched::ConnectionError(
                        "Strava rejected the access token (HTTP 401) after a refresh",
                    ))
                }
                Reply::Forbidden => {
                    return Ok(Fetched::ConnectionError(
                        "Strava refused access to the activity (HTTP 403)",
                    ))
                }
                Reply::Rejected(status) => {
                    return Err(NormalizeError::dropped(
                        "api_rejected",
                        format!("Strava answered HTTP {} for activity {id}", status.as_u16()),
                    ))
                }
            }
        }
    }

    /// `GET /api/v3/activities/{id}`.
    pub async fn get_activity(
        &self,
        token: &Secret,
        id: u64,
    ) -> Result<Reply<Box<DetailedActivity>>, NormalizeError> {
        let url = format!("{}/api/v3/activities/{id}", self.api_base);
        let resp = self
            .call(EP_ACTIVITY, || self.http.get_bearer(&url, token.expose()))
            .await?;
        Ok(match classify(&resp) {
            Reply::Ok(()) => match serde_json::from_slice::<DetailedActivity>(&resp.body) {
                Ok(a) => Reply::Ok(Box::new(a)),
                Err(e) => {
                    return Err(NormalizeError::dropped(
                        "bad_response",
                        format!("activity {id} is not a DetailedActivity: {e}"),
                    ))
                }
            },
            other => other.map_never(),
        })
    }

    /// Gets a fresh token for `conn` (or one another task just stored) and persists it.
    /// `Ok(Err(why))`: Strava refused; a `connection_error` is due.
    async fn refresh_connection(
        &self,
        conn: &Connection,
        ctx: &Ctx,
    ) -> Result<Result<Connection, &'static str>, NormalizeError> {
        let _one_at_a_time = self.refresh_locks.lock(&conn.user_id).await;
        let pending = self
            .unsaved
            .lock()
            .expect("unsaved lock")
            .remove(&conn.user_id);
        if let Some(c) = pending {
            return self.save(c, ctx).await.map(Ok);
        }
        let current = ctx
            .state
            .connection(&conn.user_id)
            .map(|c| (*c).clone())
            .unwrap_or_else(|| conn.clone());
        if current.access_token != conn.access_token && !expires_soon(&current) {
            // Refreshed while we waited for the lock.
            return Ok(Ok(current));
        }
        if current.refresh_token.is_empty() {
            count_refresh("missing");
            return Ok(Err("no refresh token is stored for this connection"));
        }
        let reply = match self.refresh(&current.refresh_token).await {
            Ok(r) => r,
            Err(e) => {
                count_refresh("error");
                return Err(e);
            }
        };
        match reply {
            Reply::Ok(tok) => {
                count_refresh("success");
                let mut c = current;
                c.access_token = tok.access_token;
                if let Some(rt) = tok.refresh_token.filter(|t| !t.is_empty()) {
                    c.refresh_token = rt;
                }
                c.expires_at = if tok.expires_at > 0 {
                    tok.expires_at
                } else {
                    tok.expires_in.map(|s| now_secs() + s).unwrap_or(0)
                };
                tracing::info!(
                    expires_at = c.expires_at,
                    "refreshed the Strava access token"
                );
                self.save(c, ctx).await.map(Ok)
            }
            _ => {
                count_refresh("rejected");
                Ok(Err("Strava refused to refresh the access token"))
            }
        }
    }

    async fn save(&self, c: Connection, ctx: &Ctx) -> Result<Connection, NormalizeError> {
        match ctx.state.put_connection(&c).await {
            Ok(()) => Ok(c),
            Err(e) => {
                self.unsaved
                    .lock()
                    .expect("unsaved lock")
                    .insert(c.user_id.clone(), c);
                Err(e.into())
            }
        }
    }

    /// `POST /oauth/token` with `grant_type=refresh_token`.
    async fn refresh(
        &self,
        refresh_token: &Secret,
    ) -> Result<Reply<TokenResponse>, NormalizeError> {
        let url = format!("{}/oauth/token", self.api_base);
        let fields = [
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
        ];
        let resp = self
            .call(EP_TOKEN, || self.http.post_form(&url, &fields))
            .await?;
        Ok(match classify(&resp) {
            Reply::Ok(()) => match serde_json::from_slice::<TokenResponse>(&resp.body) {
                Ok(t) if !t.access_token.is_empty() => Reply::Ok(t),
                // Never echo the body: it may hold tokens.
                _ => Reply::Rejected(resp.status),
            },
            // The token endpoint answers 400 for an invalid refresh token.
            other => other.map_never(),
        })
    }

    /// Runs one API call, retrying 429/5xx/timeouts/connection errors with backoff
    /// (honouring `Retry-After`). Returns the first non-transient response.
    async fn call<F, Fut>(
        &self,
        endpoint: &'static str,
        send: F,
    ) -> Result<HttpResponse, NormalizeError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<HttpResponse, HttpError>>,
    {
        let mut backoff = Backoff::new(&self.retry);
        loop {
            let started = Instant::now();
            let result = send().await;
            metrics::histogram!(
                "pulsegate_provider_api_seconds",
                "provider" => PROVIDER,
                "endpoint" => endpoint
            )
            .record(started.elapsed().as_secs_f64());
            let (outcome, transient, retry_after, last) = match &result {
                Ok(r) => (
                    status_outcome(r.status),
                    r.status == StatusCode::TOO_MANY_REQUESTS || r.status.is_server_error(),
                    r.retry_after(),
                    format!("HTTP {}", r.status.as_u16()),
                ),
                Err(e) => (e.outcome(), e.is_transient(), None, e.to_string()),
            };
            metrics::counter!(
                "pulsegate_provider_api_requests_total",
                "provider" => PROVIDER,
                "endpoint" => endpoint,
                "outcome" => outcome
            )
            .increment(1);
            if !transient {
                return result.map_err(NormalizeError::from);
            }
            if !backoff.record_attempt() {
                return Err(NormalizeError::TransientExhausted {
                    endpoint,
                    attempts: backoff.attempts(),
                    last,
                });
            }
            let delay = backoff.delay(retry_after);
            tracing::warn!(
                endpoint,
                attempt = backoff.attempts(),
                delay_ms = delay.as_millis() as u64,
                error = %last,
                "Strava call failed transiently; retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }
}

impl<T> Reply<T> {
    /// Re-types a non-`Ok` reply.
    fn map_never<U>(self) -> Reply<U> {
        match self {
            Reply::Ok(_) => unreachable!("map_never on Ok"),
            Reply::NotFound => Reply::NotFound,
            Reply::Unauthorized => Reply::Unauthorized,
            Reply::Forbidden => Reply::Forbidden,
            Reply::Rejected(s) => Reply::Rejected(s),
        }
    }
}

fn classify(resp: &HttpResponse) -> Reply<()> {
    match resp.status {
        s if s.is_success() => Reply::Ok(()),
        StatusCode::NOT_FOUND => Reply::NotFound,
        StatusCode::UNAUTHORIZED => Reply::Unauthorized,
        StatusCode::FORBIDDEN => Reply::Forbidden,
        s => Reply::Rejected(s),
    }
}

fn status_outcome(s: StatusCode) -> &'static str {
    match s.as_u16() {
        200..=299 => "ok",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        429 => "rate_limited",
        500..=599 => "server_error",
        _ => "client_error",
    }
}

fn count_refresh(outcome: &'static str) {
    metrics::counter!(
        "pulsegate_token_refresh_total",
        "provider" => PROVIDER,
        "outcome" => outcome
    )
    .increment(1);
}

/// True when the token expires within [`REFRESH_MARGIN_SECS`] (0 = unknown: never).
pub fn expires_soon(conn: &Connection) -> bool {
    conn.expires_at > 0 && conn.expires_at - now_secs() < REFRESH_MARGIN_SECS
}

fn now_secs() -> i64 {
    (pulsegate_schema::now_ms() / 1000) as i64
}

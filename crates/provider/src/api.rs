//! What every provider's REST client shares: transient-failure retries with backoff
//! (honouring `Retry-After`), per-endpoint metrics, and the OAuth2 token lifecycle of a
//! connection (refresh before expiry or once after a 401, one refresh per connection at
//! a time, the new tokens stored on the state topic). Provider modules add only their
//! URLs, their response types and their mapping.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::oauth::OAuthFacts;
use http::StatusCode;
use pulsegate_schema::{Connection, Secret};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::http::{HttpClient, HttpError, HttpResponse};
use crate::keyed_locks::KeyedLocks;
use crate::ratelimit::{AppLimiter, Decision, Lane, Limiters, RateLimitConfig};
use crate::retry::Backoff;
use crate::{Ctx, NormalizeError, RetryConfig};

/// Refresh when the access token expires within this many seconds.
pub const REFRESH_MARGIN_SECS: i64 = 300;

/// [`Authorized::ConnectionError`] messages that are the provider's own word that the
/// connection's credentials are dead (a 401 after one refresh, or a refused refresh), as
/// opposed to ones decided locally (no refresh token stored). Confirmation of an
/// unsigned revocation push relies on telling them apart.
pub const REJECTED_TOKEN: &str = "the provider rejected the access token (HTTP 401)";
pub const REFUSED_DATA: &str = "the provider refused access to the data (HTTP 403)";
pub const REFUSED_REFRESH: &str = "the provider refused to refresh the access token";
/// A refusal of the refresh token that says the grant itself is gone (`invalid_grant`:
/// revoked by the user, expired, or superseded), for providers that opt in with
/// [`ProviderApi::with_revoked_grant`] (Google Health, which has no deauthorization push).
pub const REVOKED_GRANT: &str =
    "the provider reports the refresh token was revoked or has expired (invalid_grant)";

/// A non-transient answer from a provider.
#[derive(Debug)]
pub enum Reply<T> {
    Ok(T),
    /// 404.
    NotFound,
    /// 401: the token is not (or no longer) valid.
    Unauthorized,
    /// 403: the token lacks the scope.
    Forbidden,
    /// Any other 4xx (or 400 from a token endpoint).
    Rejected(StatusCode),
}

impl<T> Reply<T> {
    /// Re-types a non-`Ok` reply.
    pub fn map_never<U>(self) -> Reply<U> {
        match self {
            Reply::Ok(_) => unreachable!("map_never on Ok"),
            Reply::NotFound => Reply::NotFound,
            Reply::Unauthorized => Reply::Unauthorized,
            Reply::Forbidden => Reply::Forbidden,
            Reply::Rejected(s) => Reply::Rejected(s),
        }
    }
}

/// What an authorized fetch for a connection came to.
#[derive(Debug)]
pub enum Authorized<T> {
    Ok(T),
    /// 404 from the provider.
    NotFound,
    /// The provider refused the connection's credentials (after one refresh): a
    /// `connection_error` is due. The message names no secret.
    ConnectionError(&'static str),
}

// How the application authenticates at the token endpoint, and the shape of its answer:
// provider facts, stated in each provider's `Descriptor` (`pulsegate-provider`).
pub use crate::oauth::{ClientAuth, TokenShape};

/// A provider application's OAuth2 token endpoint and credentials.
#[derive(Clone, Debug)]
pub struct OAuthApp {
    pub token_url: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub client_auth: ClientAuth,
    pub shape: TokenShape,
    /// Fields the provider wants on refresh besides the standard ones (its
    /// `OAuthFacts::refresh_params`).
    pub extra_refresh_fields: Vec<(&'static str, &'static str)>,
}

impl OAuthApp {
    /// The application `client_id`/`client_secret` at `token_url` (the configured one,
    /// or the provider's own), authenticating and refreshing as the provider's OAuth2
    /// facts say.
    pub fn new(
        facts: &OAuthFacts,
        token_url: String,
        client_id: &str,
        client_secret: &Secret,
    ) -> Self {
        Self {
            token_url,
            client_id: client_id.to_string(),
            client_secret: client_secret.clone(),
            client_auth: facts.client_auth,
            shape: facts.token_shape,
            extra_refresh_fields: facts.refresh_params.to_vec(),
        }
    }
}

/// One provider's API access: HTTP client, retries, metrics and token refresh.
pub struct ProviderApi {
    provider: &'static str,
    /// Display name used in messages ("Strava").
    name: &'static str,
    pub http: HttpClient,
    retry: RetryConfig,
    oauth: Option<OAuthApp>,
    refresh_locks: KeyedLocks,
    /// Refreshed connections whose storing failed: the provider may have invalidated
    /// the old refresh token already, so the next attempt stores these instead.
    unsaved: Mutex<HashMap<String, Connection>>,
    /// The application's rate limits, shared with every client of the same application
    /// in this process ([`Limiters`]).
    limiter: Arc<AppLimiter>,
    /// The `connection_error` message when the provider answers 410 Gone (API or token
    /// endpoint): the API was shut down ([`with_gone_message`](Self::with_gone_message)).
    gone: Option<&'static str>,
    /// Tell `invalid_grant` refusals apart ([`REVOKED_GRANT`]).
    revoked_grant: bool,
}

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

#[derive(Deserialize)]
struct WithingsTokenResponse {
    status: i64,
    #[serde(default)]
    body: Option<TokenResponse>,
}

impl ProviderApi {
    pub fn new(
        provider: &'static str,
        name: &'static str,
        timeout: Duration,
        retry: &RetryConfig,
        oauth: Option<OAuthApp>,
    ) -> Result<Self, NormalizeError> {
        if let Some(app) = &oauth {
            if app.client_id.is_empty() || app.client_secret.is_empty() {
                // Said once at debug level: most deployments use a few providers; a
                // refresh that fails for lack of credentials is logged when it happens.
                tracing::debug!(
                    provider,
                    "client_id/client_secret not configured: token refresh will fail"
                );
            }
        }
        Ok(Self {
            provider,
            name,
            http: HttpClient::new(timeout)?,
            retry: retry.clone(),
            oauth,
            refresh_locks: KeyedLocks::new(),
            unsaved: Mutex::new(HashMap::new()),
            limiter: Arc::new(AppLimiter::unlimited(provider)),
            gone: None,
            revoked_grant: false,
        })
    }

    /// A provider whose API was shut down answers 410 Gone: every call (and every
    /// refresh) then ends in `ConnectionError(message)` instead of a dropped
    /// `api_rejected`, so the connection is told why (Fitbit since 2026-11-02).
    pub fn with_gone_message(mut self, message: &'static str) -> Self {
        self.gone = Some(message);
        self
    }

    /// A refused refresh whose answer is OAuth2's `invalid_grant` ends in
    /// `ConnectionError(`[`REVOKED_GRANT`]`)`: the user revoked the application (or the
    /// grant expired), which a provider without a deauthorization push learns only so.
    pub fn with_revoked_grant(mut self) -> Self {
        self.revoked_grant = true;
        self
    }

    /// Counts calls against the provider application's limits (`cfg`), in the limiter
    /// every client of the same application (`api_base` + client id) shares.
    pub fn with_rate_limit(
        mut self,
        limiters: &Limiters,
        api_base: &str,
        cfg: &RateLimitConfig,
    ) -> Self {
        let client_id = self
            .oauth
            .as_ref()
            .map(|o| o.client_id.as_str())
            .unwrap_or("");
        self.limiter = limiters.app(self.provider, api_base, client_id, cfg);
        self
    }

    /// The application's limiter.
    pub fn limiter(&self) -> &Arc<AppLimiter> {
        &self.limiter
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// `GET url` with the connection's bearer token, refreshing the token first when it
    /// is about to expire, or once after a 401. The body is decoded as `T`; a body that
    /// does not decode drops the notification (`bad_response`).
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        endpoint: &'static str,
        url: &str,
    ) -> Result<Authorized<T>, NormalizeError> {
        let answer = self.get_authorized(conn, ctx, endpoint, url).await?;
        self.decode(endpoint, answer)
    }

    /// Like [`get_json`](Self::get_json), returning the raw body.
    pub async fn get_authorized(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        endpoint: &'static str,
        url: &str,
    ) -> Result<Authorized<bytes::Bytes>, NormalizeError> {
        self.send_authorized(conn, ctx, endpoint, |token| async move {
            self.http.get_bearer(url, &token).await
        })
        .await
    }

    /// `POST url` with the connection's bearer token and a JSON body, refreshing like
    /// [`get_json`](Self::get_json); the answer is decoded as `T`.
    pub async fn post_json<T: DeserializeOwned>(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        endpoint: &'static str,
        url: &str,
        body: bytes::Bytes,
        extra_headers: &[(&str, &str)],
    ) -> Result<Authorized<T>, NormalizeError> {
        let answer = self
            .send_authorized(conn, ctx, endpoint, |token| {
                let body = body.clone();
                async move {
                    self.http
                        .post_bearer(
                            url,
                            &token,
                            "application/json; charset=UTF-8",
                            body,
                            extra_headers,
                        )
                        .await
                }
            })
            .await?;
        self.decode(endpoint, answer)
    }

    /// A write with the connection's token: `POST url` with a form body (`form`, already
    /// encoded; `None`: empty), or `DELETE url` (`form` ignored). Refreshes like
    /// [`get_json`](Self::get_json); in [`Lane::Write`] nothing is retried.
    pub async fn write_authorized(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        endpoint: &'static str,
        method: http::Method,
        url: &str,
        form: Option<String>,
    ) -> Result<Authorized<bytes::Bytes>, NormalizeError> {
        let body = bytes::Bytes::from(form.unwrap_or_default());
        self.send_authorized(conn, ctx, endpoint, |token| {
            let (method, body) = (method.clone(), body.clone());
            async move {
                let body = (method == http::Method::POST)
                    .then_some(("application/x-www-form-urlencoded", body));
                self.http.request_bearer(method, url, &token, body).await
            }
        })
        .await
    }

    fn decode<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        answer: Authorized<bytes::Bytes>,
    ) -> Result<Authorized<T>, NormalizeError> {
        Ok(match answer {
            Authorized::Ok(body) => match serde_json::from_slice::<T>(&body) {
                Ok(v) => Authorized::Ok(v),
                Err(e) => {
                    return Err(NormalizeError::dropped(
                        "bad_response",
                        format!("{} {endpoint}: unexpected response: {e}", self.name),
                    ))
                }
            },
            Authorized::NotFound => Authorized::NotFound,
            Authorized::ConnectionError(m) => Authorized::ConnectionError(m),
        })
    }

    /// One call with the connection's access token (`send(token)`, owned so the
    /// future may hold it), refreshing the token
    /// first when it is about to expire, or once after a 401; transient failures are
    /// retried by [`call`](Self::call).
    pub async fn send_authorized<F, Fut>(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        endpoint: &'static str,
        send: F,
    ) -> Result<Authorized<bytes::Bytes>, NormalizeError>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<HttpResponse, HttpError>>,
    {
        let mut conn = conn.clone();
        let mut refreshed = false;
        if self.oauth.is_some() && expires_soon(&conn) {
            match self.refresh_connection(&conn, ctx).await? {
                Ok(c) => conn = c,
                Err(why) => return Ok(Authorized::ConnectionError(why)),
            }
            refreshed = true;
        }
        loop {
            let resp = self
                .call_lane(ctx.lane, Some(&conn.user_id), endpoint, || {
                    send(conn.access_token.expose().to_string())
                })
                .await?;
            match classify(&resp) {
                Reply::Ok(()) => return Ok(Authorized::Ok(resp.body)),
                Reply::NotFound => return Ok(Authorized::NotFound),
                Reply::Unauthorized if !refreshed && self.oauth.is_some() => {
                    tracing::info!(
                        provider = self.provider,
                        "provider answered 401; refreshing the access token once"
                    );
                    match self.refresh_connection(&conn, ctx).await? {
                        Ok(c) => conn = c,
                        Err(why) => return Ok(Authorized::ConnectionError(why)),
                    }
                    refreshed = true;
                }
                Reply::Unauthorized => return Ok(Authorized::ConnectionError(REJECTED_TOKEN)),
                Reply::Forbidden => return Ok(Authorized::ConnectionError(REFUSED_DATA)),
                Reply::Rejected(status) => {
                    if let (StatusCode::GONE, Some(gone)) = (status, self.gone) {
                        return Ok(Authorized::ConnectionError(gone));
                    }
                    return Err(NormalizeError::dropped(
                        "api_rejected",
                        format!(
                            "{} answered HTTP {} for {endpoint}",
                            self.name,
                            status.as_u16()
                        ),
                    ));
                }
            }
        }
    }

    /// Gets a fresh token for `conn` (or one another task just stored) and persists it.
    /// `Ok(Err(why))`: the provider refused; a `connection_error` is due.
    pub async fn refresh_connection(
        &self,
        conn: &Connection,
        ctx: &Ctx,
    ) -> Result<Result<Connection, &'static str>, NormalizeError> {
        let Some(app) = &self.oauth else {
            return Ok(Err("this provider's tokens cannot be refreshed"));
        };
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
            self.count_refresh("missing");
            return Ok(Err("no refresh token is stored for this connection"));
        }
        let reply = match self.refresh(app, &current.refresh_token).await {
            Ok(r) => r,
            Err(e) => {
                self.count_refresh("error");
                return Err(e);
            }
        };
        match reply {
            Ok(tok) => {
                self.count_refresh("success");
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
                    provider = self.provider,
                    expires_at = c.expires_at,
                    "refreshed the access token"
                );
                self.save(c, ctx).await.map(Ok)
            }
            Err(why) => {
                self.count_refresh("rejected");
                Ok(Err(why))
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

    /// The refresh-token grant at the application's token endpoint: the new tokens, or
    /// why the provider refused.
    async fn refresh(
        &self,
        app: &OAuthApp,
        refresh_token: &Secret,
    ) -> Result<Result<TokenResponse, &'static str>, NormalizeError> {
        let mut fields: Vec<(&str, &str)> = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
        ];
        if app.shape == TokenShape::Withings {
            fields.push(("action", "requesttoken"));
        }
        fields.extend(app.extra_refresh_fields.iter().copied());
        if app.client_auth == ClientAuth::Body {
            fields.push(("client_id", app.client_id.as_str()));
            fields.push(("client_secret", app.client_secret.expose()));
        }
        let basic = (app.client_auth == ClientAuth::Basic)
            .then(|| (app.client_id.as_str(), app.client_secret.expose()));
        let resp = self
            .call("oauth_token", || {
                self.http.post_form_auth(&app.token_url, &fields, basic)
            })
            .await?;
        if resp.status == StatusCode::GONE {
            if let Some(gone) = self.gone {
                return Ok(Err(gone));
            }
        }
        if self.revoked_grant && resp.status == StatusCode::BAD_REQUEST && invalid_grant(&resp.body)
        {
            return Ok(Err(REVOKED_GRANT));
        }
        Ok(match classify(&resp) {
            // Never echo the body: it may hold tokens.
            Reply::Ok(()) => parse_token(app.shape, &resp.body).ok_or(REFUSED_REFRESH),
            _ => Err(REFUSED_REFRESH),
        })
    }

    /// Runs one API call, retrying 429/5xx/timeouts/connection errors with backoff
    /// (honouring `Retry-After`). Returns the first non-transient response. Counted as
    /// live (push) traffic; see [`call_lane`](Self::call_lane).
    pub async fn call<F, Fut>(
        &self,
        endpoint: &'static str,
        send: F,
    ) -> Result<HttpResponse, NormalizeError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<HttpResponse, HttpError>>,
    {
        self.call_lane(Lane::Push, None, endpoint, send).await
    }

    /// [`call`](Self::call) in `lane` for `user`, drawing from the application's rate
    /// limits. Push calls always go (and count). Historical lanes never wait here: when
    /// the budget above the push reserve is used up, or the provider answered 429 (now
    /// or earlier, until its retry time), they get [`NormalizeError::RateLimited`] with
    /// the time to retry, and the caller waits (cancellably).
    pub async fn call_lane<F, Fut>(
        &self,
        lane: Lane,
        user: Option<&str>,
        endpoint: &'static str,
        send: F,
    ) -> Result<HttpResponse, NormalizeError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<HttpResponse, HttpError>>,
    {
        let mut backoff = Backoff::new(&self.retry);
        loop {
            if let Decision::Wait {
                until_ms,
                provider_block,
            } = self.limiter.acquire(lane, user)
            {
                return Err(self.rate_limited(lane, user, endpoint, until_ms, provider_block));
            }
            let started = Instant::now();
            let result = send().await;
            if let Ok(r) = &result {
                if r.status == StatusCode::TOO_MANY_REQUESTS {
                    let until = self.limiter.on_429(&r.headers, r.retry_after(), user);
                    tracing::warn!(
                        provider = self.provider,
                        endpoint,
                        lane = lane.as_str(),
                        retry_in_ms = until.saturating_sub(self.limiter.now_ms()),
                        "provider answered 429 (rate limited)"
                    );
                    if lane.reserved() {
                        metrics::counter!(
                            "pulsegate_provider_api_requests_total",
                            "provider" => self.provider,
                            "endpoint" => endpoint,
                            "outcome" => "rate_limited"
                        )
                        .increment(1);
                        return Err(self.rate_limited(lane, user, endpoint, until, true));
                    }
                } else {
                    self.limiter.observe(&r.headers, user);
                }
            }
            metrics::histogram!(
                "pulsegate_provider_api_seconds",
                "provider" => self.provider,
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
                "provider" => self.provider,
                "endpoint" => endpoint,
                "outcome" => outcome
            )
            .increment(1);
            // A write is sent once: after a timeout or a 5xx the provider may have
            // written it, and a second attempt could write it twice.
            if !transient || lane == Lane::Write {
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
                provider = self.provider,
                endpoint,
                attempt = backoff.attempts(),
                delay_ms = delay.as_millis() as u64,
                error = %last,
                "provider call failed transiently; retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }

    fn rate_limited(
        &self,
        lane: Lane,
        user: Option<&str>,
        endpoint: &'static str,
        until_ms: u64,
        provider_block: bool,
    ) -> NormalizeError {
        // Asynchronous requests announce a provider's block once (`rate_limit_hit`).
        let notify = provider_block && lane == Lane::Backfill && self.limiter.claim_notice(user);
        NormalizeError::RateLimited {
            provider: self.provider,
            endpoint,
            retry_at_ms: until_ms,
            provider_block,
            notify,
        }
    }

    fn count_refresh(&self, outcome: &'static str) {
        metrics::counter!(
            "pulsegate_token_refresh_total",
            "provider" => self.provider,
            "outcome" => outcome
        )
        .increment(1);
    }
}

fn parse_token(shape: TokenShape, body: &[u8]) -> Option<TokenResponse> {
    let t = match shape {
        TokenShape::Standard => serde_json::from_slice::<TokenResponse>(body).ok()?,
        TokenShape::Withings => {
            let w = serde_json::from_slice::<WithingsTokenResponse>(body).ok()?;
            if w.status != 0 {
                return None;
            }
            w.body?
        }
    };
    (!t.access_token.is_empty()).then_some(t)
}

/// OAuth2's `{"error": "invalid_grant"}` (RFC 6749 5.2).
fn invalid_grant(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct OAuthError {
        error: String,
    }
    serde_json::from_slice::<OAuthError>(body).is_ok_and(|e| e.error == "invalid_grant")
}

/// Sorts a response into a [`Reply`] by status.
pub fn classify(resp: &HttpResponse) -> Reply<()> {
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

/// True when the token expires within [`REFRESH_MARGIN_SECS`] (0 = unknown: never).
pub fn expires_soon(conn: &Connection) -> bool {
    conn.expires_at > 0 && conn.expires_at - now_secs() < REFRESH_MARGIN_SECS
}

fn now_secs() -> i64 {
    (pulsegate_schema::now_ms() / 1000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shapes() {
        let std = br#"{"access_token":"a","refresh_token":"r","expires_in":3600}"#;
        let t = parse_token(TokenShape::Standard, std).unwrap();
        assert_eq!(t.access_token.expose(), "a");
        assert_eq!(t.expires_in, Some(3600));
        let w = br#"{"status":0,"body":{"userid":"1","access_token":"a","refresh_token":"r","expires_in":10800}}"#;
        assert!(parse_token(TokenShape::Withings, w).is_some());
        let failed = br#"{"status":503,"error":"invalid refresh token"}"#;
        assert!(parse_token(TokenShape::Withings, failed).is_none());
        assert!(parse_token(TokenShape::Standard, br#"{"access_token":""}"#).is_none());
        assert!(parse_token(TokenShape::Standard, b"not json").is_none());
        assert!(invalid_grant(
            br#"{"error": "invalid_grant", "error_description": "Token has been expired or revoked."}"#
        ));
        assert!(!invalid_grant(br#"{"error": "invalid_client"}"#));
        assert!(!invalid_grant(b"<html>"));
    }
}

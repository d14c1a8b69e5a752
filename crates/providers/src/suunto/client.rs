//! Suunto's Cloud API with the member's token: the workout summary. Every call carries
//! the application's `Ocp-Apim-Subscription-Key` (apizone.suunto.com/how-to-start: "add
//! the subscription key to each request"). Token refresh (`POST
//! https://cloudapi-oauth.suunto.com/oauth/token`, HTTP Basic client credentials),
//! retries, rate limits and metrics come from [`ProviderApi`].

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request};
use http_body_util::Full;
use pulsegate_schema::{Connection, Secret};

use super::mapping::{Workout, WorkoutAnswer};
use super::SuuntoConfig;
use crate::api::{Authorized, OAuthApp, ProviderApi};
use crate::http::HttpError;
use crate::{Ctx, NormalizeError, RetryConfig};

/// Suunto's production API (paths below it start with `/v2`).
pub const DEFAULT_API_BASE: &str = crate::suunto::descriptor::OAUTH.api_base;
/// Suunto's OAuth2 token endpoint.
pub const DEFAULT_TOKEN_URL: &str = crate::suunto::descriptor::OAUTH.token_url;
/// The header Azure API Management reads the subscription key from.
pub const SUBSCRIPTION_HEADER: &str = "ocp-apim-subscription-key";

/// As the kit's own requests say who they are.
const USER_AGENT: &str = concat!("pulsegate/", env!("CARGO_PKG_VERSION"));

/// What a fetch for a connection came to.
pub enum Fetched<T> {
    Doc(Box<T>),
    /// Suunto refused the connection's credentials: a `connection_error` is due.
    ConnectionError(&'static str),
}

pub struct SuuntoClient {
    api: ProviderApi,
    api_base: String,
    subscription_key: Secret,
}

impl SuuntoClient {
    pub fn new(
        cfg: &SuuntoConfig,
        retry: &RetryConfig,
        limiters: &crate::ratelimit::Limiters,
    ) -> Result<Self, NormalizeError> {
        let oauth = OAuthApp::new(
            &crate::suunto::descriptor::OAUTH,
            cfg.token_url.clone(),
            &cfg.client_id,
            &cfg.client_secret,
        );
        Ok(Self {
            api: ProviderApi::new("suunto", "Suunto", cfg.request_timeout, retry, Some(oauth))?
                .with_rate_limit(limiters, &cfg.api_base, &cfg.rate_limit),
            api_base: cfg.api_base.trim_end_matches('/').to_string(),
            subscription_key: cfg.subscription_key.clone(),
        })
    }

    /// `GET /v2/workouts/{workoutKey}`: the workout summary (`payload`).
    pub async fn workout(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        key: &str,
    ) -> Result<Fetched<Workout>, NormalizeError> {
        if !safe_segment(key) {
            return Err(NormalizeError::dropped(
                "malformed",
                "workoutKey is not a plain id",
            ));
        }
        let url = format!("{}/v2/workouts/{key}", self.api_base);
        let answer = self
            .api
            .send_authorized(conn, ctx, "get_workout", |token| {
                let url = url.clone();
                async move { self.get(&url, &token).await }
            })
            .await?;
        let body = match answer {
            Authorized::Ok(b) => b,
            Authorized::NotFound => {
                return Err(NormalizeError::dropped(
                    "not_found",
                    "Suunto has no such workout for this member",
                ))
            }
            Authorized::ConnectionError(why) => return Ok(Fetched::ConnectionError(why)),
        };
        let answer: WorkoutAnswer = serde_json::from_slice(&body).map_err(|e| {
            NormalizeError::dropped(
                "bad_response",
                format!("Suunto get_workout: unexpected response: {e}"),
            )
        })?;
        match answer.payload {
            Some(w) => Ok(Fetched::Doc(Box::new(w))),
            None => Err(NormalizeError::dropped(
                "bad_response",
                match answer.error {
                    Some(e) if !e.is_null() => format!("Suunto get_workout: error {}", short(&e)),
                    _ => "Suunto get_workout: no payload".to_string(),
                },
            )),
        }
    }

    /// `GET url` with the bearer token and the subscription key.
    async fn get(&self, url: &str, token: &str) -> Result<crate::http::HttpResponse, HttpError> {
        let mut auth = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| HttpError::InvalidRequest("token is not a valid header value".into()))?;
        auth.set_sensitive(true);
        let mut key = HeaderValue::from_str(self.subscription_key.expose()).map_err(|_| {
            HttpError::InvalidRequest("subscription_key is not a valid header value".into())
        })?;
        key.set_sensitive(true);
        let req = Request::builder()
            .method(Method::GET)
            .uri(url)
            .header(header::AUTHORIZATION, auth)
            .header(SUBSCRIPTION_HEADER, key)
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, USER_AGENT)
            .body(Full::new(Bytes::new()))
            .map_err(|e| HttpError::InvalidRequest(e.to_string()))?;
        self.api.http.send(req).await
    }
}

/// A workout key that can go into a URL path as is (Suunto's are hex object ids).
pub fn safe_segment(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn short(v: &serde_json::Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(200) {
        Some((i, _)) => s[..i].to_string(),
        None => s,
    }
}

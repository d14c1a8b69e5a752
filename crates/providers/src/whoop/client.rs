//! WHOOP's REST API (v2) with the member's token: workouts, sleeps, cycles and their
//! recoveries. Token refresh (`POST https://api.prod.whoop.com/oauth/oauth2/token`,
//! client credentials in the form body), retries and metrics come from [`ProviderApi`].

use pulsegate_schema::Connection;
use serde::de::DeserializeOwned;

use super::mapping::{Cycle, Recovery, SleepActivity, Workout};
use super::WhoopConfig;
use crate::api::{Authorized, OAuthApp, ProviderApi};
use crate::{Ctx, NormalizeError, RetryConfig};

/// WHOOP's production API (paths below it start with `/v2`).
pub const DEFAULT_API_BASE: &str = crate::whoop::descriptor::OAUTH.api_base;
/// WHOOP's OAuth2 token endpoint.
pub const DEFAULT_TOKEN_URL: &str = crate::whoop::descriptor::OAUTH.token_url;

/// What a fetch for a connection came to.
pub enum Fetched<T> {
    Doc(Box<T>),
    /// WHOOP refused the connection's credentials: a `connection_error` is due.
    ConnectionError(&'static str),
}

pub struct WhoopClient {
    api: ProviderApi,
    api_base: String,
}

impl WhoopClient {
    pub fn new(
        cfg: &WhoopConfig,
        retry: &RetryConfig,
        limiters: &crate::ratelimit::Limiters,
    ) -> Result<Self, NormalizeError> {
        let oauth = OAuthApp::new(
            &crate::whoop::descriptor::OAUTH,
            cfg.token_url.clone(),
            &cfg.client_id,
            &cfg.client_secret,
        );
        Ok(Self {
            api: ProviderApi::new("whoop", "WHOOP", cfg.request_timeout, retry, Some(oauth))?
                .with_rate_limit(limiters, &cfg.api_base, &cfg.rate_limit),
            api_base: cfg.api_base.trim_end_matches('/').to_string(),
        })
    }

    /// `GET /v2/activity/workout/{id}`.
    pub async fn workout(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        id: &str,
    ) -> Result<Fetched<Workout>, NormalizeError> {
        self.get(
            conn,
            ctx,
            "get_workout",
            "workout",
            &format!("activity/workout/{}", seg(id)?),
        )
        .await
    }

    /// `GET /v2/activity/sleep/{id}`.
    pub async fn sleep(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        id: &str,
    ) -> Result<Fetched<SleepActivity>, NormalizeError> {
        self.get(
            conn,
            ctx,
            "get_sleep",
            "sleep",
            &format!("activity/sleep/{}", seg(id)?),
        )
        .await
    }

    /// `GET /v2/cycle/{cycle_id}/recovery`.
    pub async fn recovery(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        cycle_id: i64,
    ) -> Result<Fetched<Recovery>, NormalizeError> {
        self.get(
            conn,
            ctx,
            "get_recovery",
            "recovery",
            &format!("cycle/{cycle_id}/recovery"),
        )
        .await
    }

    /// `GET /v2/cycle/{cycle_id}`.
    pub async fn cycle(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        cycle_id: i64,
    ) -> Result<Fetched<Cycle>, NormalizeError> {
        self.get(
            conn,
            ctx,
            "get_cycle",
            "cycle",
            &format!("cycle/{cycle_id}"),
        )
        .await
    }

    async fn get<T: DeserializeOwned>(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        endpoint: &'static str,
        what: &str,
        path: &str,
    ) -> Result<Fetched<T>, NormalizeError> {
        let url = format!("{}/v2/{path}", self.api_base);
        match self.api.get_json::<T>(conn, ctx, endpoint, &url).await? {
            Authorized::Ok(d) => Ok(Fetched::Doc(Box::new(d))),
            Authorized::NotFound => Err(NormalizeError::dropped(
                "not_found",
                format!("WHOOP has no such {what} for this member"),
            )),
            Authorized::ConnectionError(why) => Ok(Fetched::ConnectionError(why)),
        }
    }
}

/// One page of a WHOOP collection.
#[derive(serde::Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
struct Page<T> {
    #[serde(default = "Vec::new")]
    records: Vec<T>,
    #[serde(default)]
    next_token: Option<String>,
}

/// Records per page (WHOOP's maximum).
const PAGE_LIMIT: &str = "25";

impl WhoopClient {
    /// Every record of the collection at `path` (`activity/workout`, `activity/sleep`,
    /// `recovery`, `cycle`) between `start` (inclusive) and `end` (exclusive), RFC 3339,
    /// following `nextToken`.
    pub async fn list<T: DeserializeOwned>(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        endpoint: &'static str,
        path: &str,
        (start, end): (&str, &str),
    ) -> Result<Authorized<Vec<T>>, NormalizeError> {
        let mut all = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..crate::range::MAX_PAGES {
            let mut q = vec![("start", start), ("end", end), ("limit", PAGE_LIMIT)];
            if let Some(t) = &next {
                q.push(("nextToken", t.as_str()));
            }
            let url = format!(
                "{}/v2/{path}?{}",
                self.api_base,
                crate::http::form_encode(&q)
            );
            let page: Page<T> = match self.api.get_json(conn, ctx, endpoint, &url).await? {
                Authorized::Ok(p) => p,
                Authorized::NotFound => break,
                Authorized::ConnectionError(m) => return Ok(Authorized::ConnectionError(m)),
            };
            all.extend(page.records);
            match page.next_token.filter(|t| !t.is_empty()) {
                Some(t) if next.as_deref() != Some(t.as_str()) => next = Some(t),
                _ => break,
            }
        }
        Ok(Authorized::Ok(all))
    }
}

/// An id that can go into a URL path as is (WHOOP v2 ids are UUIDs).
pub fn safe_segment(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn seg(id: &str) -> Result<&str, NormalizeError> {
    if safe_segment(id) {
        Ok(id)
    } else {
        Err(NormalizeError::dropped(
            "malformed",
            "id is not a UUID or integer",
        ))
    }
}

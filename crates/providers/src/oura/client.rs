//! Oura's REST API: `GET {api_base}/v2/usercollection/{data_type}/{document_id}` with the
//! user's token; token refresh (`POST {api_base}/oauth/token`, client credentials in the
//! form body), retries and metrics come from [`ProviderApi`].

use pulsegate_schema::Connection;
use serde::de::DeserializeOwned;

use super::types::Page;
use super::OuraConfig;
use crate::api::{Authorized, OAuthApp, ProviderApi};
use crate::{Ctx, NormalizeError, RetryConfig};

/// Oura's production API.
pub const DEFAULT_API_BASE: &str = crate::oura::descriptor::OAUTH.api_base;

/// What fetching a document for a connection came to.
pub enum Fetched<T> {
    Doc(Box<T>),
    /// Oura refused the connection's credentials: a `connection_error` is due.
    ConnectionError(&'static str),
}

pub struct OuraClient {
    api: ProviderApi,
    api_base: String,
}

impl OuraClient {
    pub fn new(
        cfg: &OuraConfig,
        retry: &RetryConfig,
        limiters: &crate::ratelimit::Limiters,
    ) -> Result<Self, NormalizeError> {
        let api_base = cfg.api_base.trim_end_matches('/').to_string();
        let token_url = if cfg.token_url.is_empty() {
            format!("{api_base}/oauth/token")
        } else {
            cfg.token_url.clone()
        };
        let oauth = OAuthApp::new(
            &crate::oura::descriptor::OAUTH,
            token_url,
            &cfg.client_id,
            &cfg.client_secret,
        );
        Ok(Self {
            api: ProviderApi::new("oura", "Oura", cfg.request_timeout, retry, Some(oauth))?
                .with_rate_limit(limiters, &cfg.api_base, &cfg.rate_limit),
            api_base,
        })
    }

    /// Fetches one document of `data_type` (a path segment Oura names, e.g. `workout`)
    /// with `conn`'s token. 404 → `Dropped("not_found")`.
    pub async fn fetch<T: DeserializeOwned>(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        endpoint: &'static str,
        data_type: &str,
        id: &str,
    ) -> Result<Fetched<T>, NormalizeError> {
        if !safe_segment(id) {
            return Err(NormalizeError::dropped(
                "malformed",
                "object_id is not a plain identifier",
            ));
        }
        let url = format!("{}/v2/usercollection/{data_type}/{id}", self.api_base);
        match self.api.get_json::<T>(conn, ctx, endpoint, &url).await? {
            Authorized::Ok(d) => Ok(Fetched::Doc(Box::new(d))),
            Authorized::NotFound => Err(NormalizeError::dropped(
                "not_found",
                format!("Oura has no {data_type} document {id} for this user"),
            )),
            Authorized::ConnectionError(why) => Ok(Fetched::ConnectionError(why)),
        }
    }
}

impl OuraClient {
    /// Every document of the collection `data_type` (`workout`, `sleep`,
    /// `daily_activity`, …) between `start_date` and `end_date` (`YYYY-MM-DD`),
    /// following `next_token`.
    pub async fn list<T: DeserializeOwned>(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        endpoint: &'static str,
        data_type: &str,
        (start_date, end_date): (&str, &str),
    ) -> Result<Authorized<Vec<T>>, NormalizeError> {
        let mut all = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..crate::range::MAX_PAGES {
            let mut q = vec![("start_date", start_date), ("end_date", end_date)];
            if let Some(t) = &next {
                q.push(("next_token", t.as_str()));
            }
            let url = format!(
                "{}/v2/usercollection/{data_type}?{}",
                self.api_base,
                crate::http::form_encode(&q)
            );
            let page: Page<T> = match self.api.get_json(conn, ctx, endpoint, &url).await? {
                Authorized::Ok(p) => p,
                Authorized::NotFound => break,
                Authorized::ConnectionError(m) => return Ok(Authorized::ConnectionError(m)),
            };
            all.extend(page.data);
            match page.next_token.filter(|t| !t.is_empty()) {
                Some(t) if next.as_deref() != Some(t.as_str()) => next = Some(t),
                _ => break,
            }
        }
        Ok(Authorized::Ok(all))
    }
}

/// An id that can go into a URL path as is (Oura's ids are UUID-like).
pub fn safe_segment(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && id != "."
        && id != ".."
}

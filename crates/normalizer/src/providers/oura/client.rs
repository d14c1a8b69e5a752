//! Oura's REST API: `GET {api_base}/v2/usercollection/{data_type}/{document_id}` with the
//! user's token; token refresh (`POST {api_base}/oauth/token`, client credentials in the
//! form body), retries and metrics come from [`ProviderApi`].

use pulsegate_schema::Connection;
use serde::de::DeserializeOwned;

use super::OuraConfig;
use crate::api::{Authorized, ClientAuth, OAuthApp, ProviderApi, TokenShape};
use crate::{Ctx, NormalizeError, RetryConfig};

/// Oura's production API.
pub const DEFAULT_API_BASE: &str = "https://api.ouraring.com";

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
    pub fn new(cfg: &OuraConfig, retry: &RetryConfig) -> Result<Self, NormalizeError> {
        let api_base = cfg.api_base.trim_end_matches('/').to_string();
        let token_url = if cfg.token_url.is_empty() {
            format!("{api_base}/oauth/token")
        } else {
            cfg.token_url.clone()
        };
        let oauth = OAuthApp {
            token_url,
            client_id: cfg.client_id.clone(),
            client_secret: cfg.client_secret.clone(),
            client_auth: ClientAuth::Body,
            shape: TokenShape::Standard,
            extra_refresh_fields: Vec::new(),
        };
        Ok(Self {
            api: ProviderApi::new("oura", "Oura", cfg.request_timeout, retry, Some(oauth))?,
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

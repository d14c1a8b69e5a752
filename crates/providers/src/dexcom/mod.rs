//! Dexcom continuous glucose monitors through the Dexcom API v3: no push, so the poll
//! lane and historical requests fetch `GET {api_base}/v3/users/self/egvs?startDate=…
//! &endDate=…` (at most 30 days per call) and map the readings into Terra's `body`, one
//! object per UTC day. See docs/providers/dexcom.md.

mod descriptor;
pub mod mapping;
mod plugin;
#[cfg(test)]
mod tests;

pub use descriptor::{DESCRIPTOR, OAUTH};
pub use plugin::DexcomPlugin;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{Days, NaiveDate};
use pulsegate_schema::{Connection, EventType, NormalizedEvent, RawNotification, Secret};
use serde::Deserialize;
use serde_json::Value;

use crate::api::{Authorized, OAuthApp, ProviderApi};
use crate::{Ctx, NormalizeError, ProviderNormalizer, RangeData, RangeSupport, RetryConfig};

/// Days per call: the longest time window the egvs endpoint answers.
pub const WINDOW_DAYS: u32 = 30;

/// Dexcom API settings (`[normalizer.dexcom]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DexcomConfig {
    /// Base of the API. Default `https://api.dexcom.com` (US); `https://api.dexcom.eu`
    /// (outside the US), `https://api.dexcom.jp`, or `https://sandbox-api.dexcom.com`;
    /// tests point it at a mock on 127.0.0.1.
    pub api_base: String,
    /// Token endpoint; empty = Dexcom's (`https://api.dexcom.com/v2/oauth2/token`).
    pub token_url: String,
    /// The OAuth application's client id.
    pub client_id: String,
    /// The OAuth application's client secret. Never logged.
    pub client_secret: Secret,
    /// Whole-request timeout for one API call. Default 10s.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// The application's rate limits (documented: 60,000 calls per hour per app).
    pub rate_limit: crate::ratelimit::RateLimitConfig,
}

impl Default for DexcomConfig {
    fn default() -> Self {
        Self {
            api_base: OAUTH.api_base.into(),
            token_url: String::new(),
            client_id: String::new(),
            client_secret: Secret::default(),
            request_timeout: Duration::from_secs(10),
            rate_limit: crate::ratelimit::RateLimitConfig::from(DESCRIPTOR.rate_limits),
        }
    }
}

pub struct DexcomNormalizer {
    api: ProviderApi,
    api_base: String,
}

impl DexcomNormalizer {
    pub fn new(
        cfg: &DexcomConfig,
        retry: &RetryConfig,
        limiters: &crate::ratelimit::Limiters,
    ) -> Result<Self, NormalizeError> {
        let token_url = if cfg.token_url.is_empty() {
            OAUTH.token_url.to_string()
        } else {
            cfg.token_url.clone()
        };
        let oauth = OAuthApp::new(&OAUTH, token_url, &cfg.client_id, &cfg.client_secret);
        let api = ProviderApi::new("dexcom", "Dexcom", cfg.request_timeout, retry, Some(oauth))?
            .with_rate_limit(limiters, &cfg.api_base, &cfg.rate_limit);
        Ok(Self {
            api,
            api_base: cfg.api_base.trim_end_matches('/').to_string(),
        })
    }

    /// The readings of the UTC days `[from, to)` (one call; at most [`WINDOW_DAYS`]).
    async fn egvs(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Authorized<Vec<mapping::Reading>>, NormalizeError> {
        let (start, end) = (mapping::query_time(from), mapping::query_time(to));
        let q = crate::http::form_encode(&[("startDate", start.as_str()), ("endDate", end.as_str())]);
        let url = format!("{}/v3/users/self/egvs?{q}", self.api_base);
        let got = self
            .api
            .get_json::<Value>(conn, ctx, "egvs", &url)
            .await?;
        Ok(match got {
            Authorized::Ok(answer) => Authorized::Ok(mapping::readings(&answer)),
            Authorized::NotFound => Authorized::Ok(Vec::new()),
            Authorized::ConnectionError(why) => Authorized::ConnectionError(why),
        })
    }
}

/// `[start, end)` cut into spans of at most [`WINDOW_DAYS`] days.
fn spans(start: NaiveDate, end: NaiveDate) -> Vec<(NaiveDate, NaiveDate)> {
    let mut out = Vec::new();
    let mut from = start;
    while from < end {
        let to = from
            .checked_add_days(Days::new(u64::from(WINDOW_DAYS)))
            .map_or(end, |t| t.min(end));
        out.push((from, to));
        from = to;
    }
    out
}

#[async_trait]
impl ProviderNormalizer for DexcomNormalizer {
    fn provider(&self) -> pulsegate_schema::Provider {
        pulsegate_schema::Provider::Dexcom
    }

    fn dedupe_key(&self, _raw: &RawNotification) -> Option<String> {
        None
    }

    /// Dexcom never pushes: anything on `raw` for it did not come from Dexcom.
    async fn normalize(
        &self,
        _raw: &RawNotification,
        _conn: &Connection,
        _ctx: &Ctx,
    ) -> Result<Vec<NormalizedEvent>, NormalizeError> {
        Err(NormalizeError::dropped(
            "unsupported",
            "Dexcom does not push notifications; its data is polled",
        ))
    }

    fn range_support(&self, data_type: EventType) -> Option<RangeSupport> {
        RangeSupport::for_types(data_type, &[EventType::Body], WINDOW_DAYS)
    }

    /// One egvs call per [`WINDOW_DAYS`] of `[start, end)`; each UTC day with readings
    /// maps to one `body`.
    async fn fetch_range(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        data_type: EventType,
        start: NaiveDate,
        end: NaiveDate,
        _with_samples: bool,
    ) -> Result<RangeData, NormalizeError> {
        if data_type != EventType::Body {
            return Err(crate::range::unsupported("Dexcom", data_type));
        }
        let mut readings = Vec::new();
        for (from, to) in spans(start, end) {
            match self.egvs(conn, ctx, from, to).await? {
                Authorized::Ok(r) => readings.extend(r),
                Authorized::NotFound => {}
                Authorized::ConnectionError(why) => return Ok(RangeData::ConnectionError(why)),
            }
        }
        let out = mapping::map_days(&readings, start, end)
            .iter()
            .map(crate::range::to_value)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RangeData::Objects(out))
    }
}

//! Ultrahuman (Ring AIR and the M1 CGM) through its Partner API: no push, so the poll
//! lane and historical requests fetch `GET {api_base}/user_data/metrics?date=YYYY-MM-DD`
//! (one day per call) and map the day into Terra's `sleep`, `daily` and `body`.
//! See docs/providers/ultrahuman.md.

mod descriptor;
pub mod mapping;
mod plugin;
#[cfg(test)]
mod tests;

pub use descriptor::{DESCRIPTOR, OAUTH};
pub use plugin::UltrahumanPlugin;

use std::time::Duration;

use async_trait::async_trait;
use chrono::NaiveDate;
use pulsegate_schema::{Connection, EventType, NormalizedEvent, RawNotification, Secret};
use serde::Deserialize;

use crate::api::{Authorized, OAuthApp, ProviderApi};
use crate::{Ctx, NormalizeError, ProviderNormalizer, RangeData, RangeSupport, RetryConfig};

/// Days per historical window: one call per day, so a week is seven calls.
pub const WINDOW_DAYS: u32 = 7;

/// Ultrahuman API settings (`[normalizer.ultrahuman]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UltrahumanConfig {
    /// Base of the Partner API. Default `https://partner.ultrahuman.com/api/partners/v1`;
    /// tests point it at a mock on 127.0.0.1.
    pub api_base: String,
    /// Token endpoint; empty = Ultrahuman's.
    pub token_url: String,
    /// The OAuth application's client id.
    pub client_id: String,
    /// The OAuth application's client secret. Never logged.
    pub client_secret: Secret,
    /// Whole-request timeout for one API call. Default 10s.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// The application's rate limits (unpublished; see the descriptor).
    pub rate_limit: crate::ratelimit::RateLimitConfig,
}

impl Default for UltrahumanConfig {
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

pub struct UltrahumanNormalizer {
    api: ProviderApi,
    api_base: String,
}

impl UltrahumanNormalizer {
    pub fn new(
        cfg: &UltrahumanConfig,
        retry: &RetryConfig,
        limiters: &crate::ratelimit::Limiters,
    ) -> Result<Self, NormalizeError> {
        let token_url = if cfg.token_url.is_empty() {
            OAUTH.token_url.to_string()
        } else {
            cfg.token_url.clone()
        };
        let oauth = OAuthApp::new(&OAUTH, token_url, &cfg.client_id, &cfg.client_secret);
        let api = ProviderApi::new(
            "ultrahuman",
            "Ultrahuman",
            cfg.request_timeout,
            retry,
            Some(oauth),
        )?
        .with_rate_limit(limiters, &cfg.api_base, &cfg.rate_limit);
        Ok(Self {
            api,
            api_base: cfg.api_base.trim_end_matches('/').to_string(),
        })
    }

    /// One day's metrics (`date` in the user's own calendar, as Ultrahuman files them).
    async fn day(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        date: NaiveDate,
    ) -> Result<Authorized<mapping::DayMetrics>, NormalizeError> {
        let q = crate::http::form_encode(&[("date", &crate::range::ymd(date))]);
        let url = format!("{}/user_data/metrics?{q}", self.api_base);
        let got = self
            .api
            .get_json::<mapping::MetricsResponse>(conn, ctx, "metrics", &url)
            .await?;
        Ok(match got {
            Authorized::Ok(r) => Authorized::Ok(r.into_day()),
            Authorized::NotFound => Authorized::Ok(mapping::DayMetrics::default()),
            Authorized::ConnectionError(why) => Authorized::ConnectionError(why),
        })
    }
}

#[async_trait]
impl ProviderNormalizer for UltrahumanNormalizer {
    fn provider(&self) -> pulsegate_schema::Provider {
        pulsegate_schema::Provider::Ultrahuman
    }

    fn dedupe_key(&self, _raw: &RawNotification) -> Option<String> {
        None
    }

    /// Ultrahuman never pushes: anything on `raw` for it did not come from Ultrahuman.
    async fn normalize(
        &self,
        _raw: &RawNotification,
        _conn: &Connection,
        _ctx: &Ctx,
    ) -> Result<Vec<NormalizedEvent>, NormalizeError> {
        Err(NormalizeError::dropped(
            "unsupported",
            "Ultrahuman does not push notifications; its data is polled",
        ))
    }

    fn range_support(&self, data_type: EventType) -> Option<RangeSupport> {
        RangeSupport::for_types(
            data_type,
            &[EventType::Sleep, EventType::Daily, EventType::Body],
            WINDOW_DAYS,
        )
    }

    /// One call per day of `[start, end)`, whatever the type (a day's answer holds all
    /// of them); each day maps to at most one object of `data_type`.
    async fn fetch_range(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        data_type: EventType,
        start: NaiveDate,
        end: NaiveDate,
        _with_samples: bool,
    ) -> Result<RangeData, NormalizeError> {
        let mut out = Vec::new();
        for date in crate::range::days(start, end) {
            let day = match self.day(conn, ctx, date).await? {
                Authorized::Ok(d) => d,
                Authorized::NotFound => continue,
                Authorized::ConnectionError(why) => return Ok(RangeData::ConnectionError(why)),
            };
            let object = match data_type {
                EventType::Sleep => mapping::map_sleep(&day)
                    .map(|s| crate::range::to_value(&s))
                    .transpose()?,
                EventType::Daily => mapping::map_daily(&day, date)
                    .map(|d| crate::range::to_value(&d))
                    .transpose()?,
                EventType::Body => mapping::map_body(&day, date)
                    .map(|b| crate::range::to_value(&b))
                    .transpose()?,
                other => return Err(crate::range::unsupported("Ultrahuman", other)),
            };
            out.extend(object);
        }
        Ok(RangeData::Objects(out))
    }
}

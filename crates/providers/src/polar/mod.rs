//! Polar AccessLink: webhook events are pointers (`EXERCISE` with a `url`, `SLEEP` /
//! `ACTIVITY_SUMMARY` / `CONTINUOUS_HEART_RATE` with a `date`); the data is fetched with
//! the user's token and mapped into Terra's `activity`, `sleep` and `daily`.
//! See docs/providers/polar.md.

#[cfg(test)]
mod conformance_tests;
mod descriptor;
mod plugin;
pub mod verify;
mod client;
pub mod mapping;
#[cfg(test)]
mod mapping_tests;
#[cfg(test)]
mod range_tests;
pub mod sport;

pub use descriptor::DESCRIPTOR;
pub use plugin::PolarPlugin;

use std::time::Duration;

use async_trait::async_trait;
use chrono::NaiveDate;
use crate::polar::descriptor::OAUTH;
use pulsegate_schema::terra::DataEvent;
use pulsegate_schema::{
    stable_id, Connection, EventType, NormalizedEvent, Provider, RawNotification, PAYLOAD_VERSION,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use client::{Fetched, PolarClient};

use super::range;
use crate::events::{build_event, terra_user};
use crate::{Ctx, NormalizeError, ProviderNormalizer, RangeData, RangeSupport, RetryConfig};

/// Polar API settings (`[normalizer.polar]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolarConfig {
    /// Base URL of Polar AccessLink. Default `https://www.polaraccesslink.com`; tests
    /// point it at a mock on 127.0.0.1. Exercise `url`s outside it are never fetched.
    pub api_base: String,
    /// Whole-request timeout for one API call. Default 10s.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// The application's rate limits (docs/BACKFILL.md has the defaults).
    pub rate_limit: crate::ratelimit::RateLimitConfig,
}

impl Default for PolarConfig {
    fn default() -> Self {
        Self {
            api_base: OAUTH.api_base.into(),
            request_timeout: Duration::from_secs(10),
            rate_limit: crate::ratelimit::RateLimitConfig::from(descriptor::DESCRIPTOR.rate_limits),
        }
    }
}

/// Polar's webhook body.
#[derive(Debug, Clone, Deserialize)]
pub struct PolarEvent {
    pub event: String,
    pub user_id: Value,
    #[serde(default)]
    pub entity_id: Option<String>,
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

impl PolarEvent {
    pub fn parse(body: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(body)
    }

    pub fn user(&self) -> String {
        match &self.user_id {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }

    /// Deterministic id of the change: event, user, object (entity or date) and time.
    pub fn key(&self) -> String {
        stable_id(&[
            "polar",
            &self.event,
            &self.user(),
            self.entity_id
                .as_deref()
                .or(self.date.as_deref())
                .unwrap_or(""),
            self.timestamp.as_deref().unwrap_or(""),
        ])
    }
}

pub struct PolarNormalizer {
    client: PolarClient,
}

impl PolarNormalizer {
    pub fn new(
        cfg: &PolarConfig,
        retry: &RetryConfig,
        limiters: &crate::ratelimit::Limiters,
    ) -> Result<Self, NormalizeError> {
        Ok(Self {
            client: PolarClient::new(cfg, retry, limiters)?,
        })
    }

    fn date(ev: &PolarEvent) -> Result<&str, NormalizeError> {
        ev.date.as_deref().ok_or_else(|| {
            NormalizeError::dropped("malformed", format!("{} without a date", ev.event))
        })
    }

    fn data_event<T: Serialize>(
        raw: &RawNotification,
        conn: &Connection,
        ev: &PolarEvent,
        event_type: EventType,
        item: T,
    ) -> Result<Vec<NormalizedEvent>, NormalizeError> {
        let user = terra_user(conn);
        let body = DataEvent {
            event_type: event_type.as_str(),
            user: &user,
            data: vec![item],
            version: PAYLOAD_VERSION,
        };
        Ok(vec![build_event(ev.key(), event_type, conn, raw, &body)?])
    }

    fn connection_error(
        raw: &RawNotification,
        conn: &Connection,
        ev: &PolarEvent,
        message: &str,
    ) -> Result<Vec<NormalizedEvent>, NormalizeError> {
        Ok(vec![crate::events::connection_error(
            "polar",
            &ev.key(),
            conn,
            raw,
            message,
        )?])
    }
}

/// Days per historical window by default.
pub const WINDOW_DAYS: u32 = 7;
/// AccessLink serves the last 28 days of sleep, activity and heart rate (and lists
/// the exercises of the last 30 days).
pub const HISTORY_DAYS: u32 = 28;

const EP_LIST_EXERCISES: &str = "list_exercises";

impl PolarNormalizer {
    /// One fetch of a historical window: `None` when Polar has nothing (404, 204).
    async fn fetch_opt<T: serde::de::DeserializeOwned>(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        endpoint: &'static str,
        url: &str,
    ) -> Result<Option<Fetched<T>>, NormalizeError> {
        match self.client.fetch::<T>(conn, ctx, endpoint, url).await {
            Ok(f) => Ok(Some(f)),
            Err(NormalizeError::Dropped {
                reason: "not_found" | "no_data",
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn range(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        data_type: EventType,
        (start, end): (NaiveDate, NaiveDate),
    ) -> Result<RangeData, NormalizeError> {
        let c = &self.client;
        let mut out = Vec::new();
        macro_rules! data {
            ($t:ty, $ep:expr, $url:expr) => {
                match self.fetch_opt::<$t>(conn, ctx, $ep, &$url).await? {
                    Some(Fetched::Data(d)) => Some(d),
                    Some(Fetched::ConnectionError(m)) => return Ok(RangeData::ConnectionError(m)),
                    None => None,
                }
            };
        }
        match data_type {
            EventType::Activity => {
                let url = format!("{}/v3/exercises", c.api_base());
                let list =
                    data!(Vec<mapping::Exercise>, EP_LIST_EXERCISES, url).unwrap_or_default();
                for x in &list {
                    // The local day the exercise started (`2018-05-15T14:22:24`).
                    let day = x.start_time.as_deref().and_then(|t| t.get(..10));
                    if !range::day_within(day, start, end) {
                        continue;
                    }
                    let id = x.id.clone().unwrap_or_default();
                    if let Some(a) = range::skip_unmapped(mapping::map_exercise(x, &id), "exercise")
                    {
                        out.push(range::to_value(&a)?);
                    }
                }
            }
            EventType::Sleep => {
                for day in range::days(start, end) {
                    let date = range::ymd(day);
                    if let Some(s) =
                        data!(mapping::PolarSleep, EP_SLEEP, c.dated_url("sleep", &date)?)
                    {
                        if let Some(x) =
                            range::skip_unmapped(mapping::map_sleep(&s, &date), "sleep")
                        {
                            out.push(range::to_value(&x)?);
                        }
                    }
                }
            }
            EventType::Daily => {
                for day in range::days(start, end) {
                    let date = range::ymd(day);
                    let url = c.dated_url("activities", &date)?;
                    if let Some(a) = data!(mapping::ActivitySummary, EP_ACTIVITY, url) {
                        let d = mapping::map_activity_summary(&a, &date);
                        if let Some(x) = range::skip_unmapped(d, "activity summary") {
                            out.push(range::to_value(&x)?);
                        }
                    }
                    let url = c.dated_url("continuous-heart-rate", &date)?;
                    if let Some(h) = data!(mapping::ContinuousHeartRate, EP_CHR, url) {
                        let d = mapping::map_continuous_hr(&h, &date);
                        if let Some(x) = range::skip_unmapped(d, "continuous heart rate") {
                            out.push(range::to_value(&x)?);
                        }
                    }
                }
            }
            other => return Err(range::unsupported("Polar", other)),
        }
        Ok(RangeData::Objects(out))
    }
}

const EP_EXERCISE: &str = "get_exercise";
const EP_SLEEP: &str = "get_sleep";
const EP_ACTIVITY: &str = "get_activity_summary";
const EP_CHR: &str = "get_continuous_heart_rate";

#[async_trait]
impl ProviderNormalizer for PolarNormalizer {
    fn provider(&self) -> Provider {
        Provider::Polar
    }

    fn data_type(&self, raw: &RawNotification) -> Option<EventType> {
        match crate::events::body_field(raw, "event").as_deref()? {
            "EXERCISE" => Some(EventType::Activity),
            "SLEEP" => Some(EventType::Sleep),
            "ACTIVITY_SUMMARY" | "CONTINUOUS_HEART_RATE" => Some(EventType::Daily),
            _ => None,
        }
    }

    fn dedupe_key(&self, raw: &RawNotification) -> Option<String> {
        PolarEvent::parse(raw.body.get().as_bytes())
            .ok()
            .map(|e| e.key())
    }

    fn range_support(&self, data_type: EventType) -> Option<RangeSupport> {
        RangeSupport::for_types(
            data_type,
            &[EventType::Activity, EventType::Sleep, EventType::Daily],
            WINDOW_DAYS,
        )
        .map(|r| RangeSupport {
            history_days: Some(HISTORY_DAYS),
            ..r
        })
    }

    /// `activity`: the exercise list (`GET /v3/exercises`, last 30 days) by local start
    /// day; `sleep`: `/v3/users/sleep/{date}` per day; `daily`: the day's activity
    /// summary and continuous heart rate, each its own `daily` as on the push path.
    async fn fetch_range(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        data_type: EventType,
        start: NaiveDate,
        end: NaiveDate,
        _with_samples: bool,
    ) -> Result<RangeData, NormalizeError> {
        self.range(conn, ctx, data_type, (start, end)).await
    }

    async fn normalize(
        &self,
        raw: &RawNotification,
        conn: &Connection,
        ctx: &Ctx,
    ) -> Result<Vec<NormalizedEvent>, NormalizeError> {
        let ev = PolarEvent::parse(raw.body.get().as_bytes()).map_err(|e| {
            NormalizeError::dropped("malformed", format!("not a Polar webhook event: {e}"))
        })?;
        if ev.user() != raw.provider_user_id {
            return Err(NormalizeError::dropped(
                "owner_mismatch",
                "user_id differs from the notification's user",
            ));
        }
        let c = &self.client;
        match ev.event.as_str() {
            "EXERCISE" => {
                let url = c.exercise_url(ev.url.as_deref(), ev.entity_id.as_deref())?;
                match c
                    .fetch::<mapping::Exercise>(conn, ctx, EP_EXERCISE, &url)
                    .await?
                {
                    Fetched::Data(x) => {
                        let id = ev.entity_id.as_deref().unwrap_or("");
                        let a = mapping::map_exercise(&x, id)?;
                        Self::data_event(raw, conn, &ev, EventType::Activity, a)
                    }
                    Fetched::ConnectionError(m) => Self::connection_error(raw, conn, &ev, m),
                }
            }
            "SLEEP" => {
                let date = Self::date(&ev)?;
                let url = c.dated_url("sleep", date)?;
                match c
                    .fetch::<mapping::PolarSleep>(conn, ctx, EP_SLEEP, &url)
                    .await?
                {
                    Fetched::Data(s) => {
                        let s = mapping::map_sleep(&s, date)?;
                        Self::data_event(raw, conn, &ev, EventType::Sleep, s)
                    }
                    Fetched::ConnectionError(m) => Self::connection_error(raw, conn, &ev, m),
                }
            }
            "ACTIVITY_SUMMARY" => {
                let date = Self::date(&ev)?;
                let url = c.dated_url("activities", date)?;
                match c
                    .fetch::<mapping::ActivitySummary>(conn, ctx, EP_ACTIVITY, &url)
                    .await?
                {
                    Fetched::Data(a) => {
                        let d = mapping::map_activity_summary(&a, date)?;
                        Self::data_event(raw, conn, &ev, EventType::Daily, d)
                    }
                    Fetched::ConnectionError(m) => Self::connection_error(raw, conn, &ev, m),
                }
            }
            "CONTINUOUS_HEART_RATE" => {
                let date = Self::date(&ev)?;
                let url = c.dated_url("continuous-heart-rate", date)?;
                match c
                    .fetch::<mapping::ContinuousHeartRate>(conn, ctx, EP_CHR, &url)
                    .await?
                {
                    Fetched::Data(h) => {
                        let d = mapping::map_continuous_hr(&h, date)?;
                        Self::data_event(raw, conn, &ev, EventType::Daily, d)
                    }
                    Fetched::ConnectionError(m) => Self::connection_error(raw, conn, &ev, m),
                }
            }
            other => Err(NormalizeError::dropped(
                "unsupported_event",
                format!("Polar event {other}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_polars_example_event_and_keys_it() {
        let body = br#"{"event":"EXERCISE","user_id":475,"entity_id":"aQlC83","timestamp":"2018-05-15T14:22:24Z","url":"https://www.polaraccesslink.com/v3/exercises/aQlC83"}"#;
        let ev = PolarEvent::parse(body).unwrap();
        assert_eq!(ev.user(), "475");
        assert_eq!(
            ev.key(),
            stable_id(&["polar", "EXERCISE", "475", "aQlC83", "2018-05-15T14:22:24Z"])
        );
        let sleep = PolarEvent::parse(
            br#"{"event":"SLEEP","user_id":"475","date":"2018-05-15","timestamp":"2018-05-15T14:22:24Z"}"#,
        )
        .unwrap();
        assert_eq!(sleep.user(), "475");
        assert_ne!(sleep.key(), ev.key());
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            if let Ok(ev) = PolarEvent::parse(&bytes) {
                let _ = ev.key();
            }
        }
    }
}

//! Polar AccessLink: webhook events are pointers (`EXERCISE` with a `url`, `SLEEP` /
//! `ACTIVITY_SUMMARY` / `CONTINUOUS_HEART_RATE` with a `date`); the data is fetched with
//! the user's token and mapped into Terra's `activity`, `sleep` and `daily`.
//! See docs/providers/polar.md.

mod client;
pub mod mapping;
#[cfg(test)]
mod mapping_tests;
pub mod sport;

use std::time::Duration;

use async_trait::async_trait;
use pulsegate_schema::terra::{DataEvent, StatusEvent};
use pulsegate_schema::{
    stable_id, Connection, EventType, NormalizedEvent, Provider, RawNotification, PAYLOAD_VERSION,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use client::{Fetched, PolarClient};

use crate::events::{build_event, terra_user};
use crate::{Ctx, NormalizeError, ProviderNormalizer, RetryConfig};

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
}

impl Default for PolarConfig {
    fn default() -> Self {
        Self {
            api_base: "https://www.polaraccesslink.com".into(),
            request_timeout: Duration::from_secs(10),
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
    pub fn new(cfg: &PolarConfig, retry: &RetryConfig) -> Result<Self, NormalizeError> {
        Ok(Self {
            client: PolarClient::new(cfg, retry)?,
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
        tracing::warn!(message, "Polar refused the connection's token");
        let user = terra_user(conn);
        let body = StatusEvent {
            event_type: EventType::ConnectionError.as_str(),
            user: &user,
            status: "warning",
            message,
        };
        let id = stable_id(&[&ev.key(), EventType::ConnectionError.as_str()]);
        Ok(vec![build_event(
            id,
            EventType::ConnectionError,
            conn,
            raw,
            &body,
        )?])
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

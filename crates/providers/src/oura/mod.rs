//! Oura v2: webhook notifications are pointers (`event_type`, `data_type`, `object_id`);
//! the document is fetched with the user's token (`GET /v2/usercollection/{data_type}/
//! {object_id}`) and mapped into Terra's `activity`, `sleep` or `daily`.
//! See docs/providers/oura.md.

#[cfg(test)]
mod conformance_tests;
mod descriptor;
mod plugin;
pub mod verify;
mod client;
pub mod mapping;
#[cfg(test)]
mod range_tests;
mod types;

pub use descriptor::DESCRIPTOR;
pub use plugin::OuraPlugin;

use std::time::Duration;

use async_trait::async_trait;
use chrono::NaiveDate;
use pulsegate_schema::terra::{ActivityDeletedEvent, DataEvent, DeletedSummary};
use pulsegate_schema::{
    stable_id, Connection, EventType, NormalizedEvent, Provider, RawNotification, Secret,
    PAYLOAD_VERSION,
};
use serde::{Deserialize, Serialize};

pub use client::{Fetched, OuraClient, DEFAULT_API_BASE};
use mapping::DailyKind;

use super::range;
use crate::api::Authorized;
use crate::events::{build_event, terra_user};
use crate::{Ctx, NormalizeError, ProviderNormalizer, RangeData, RangeSupport, RetryConfig};

/// Oura API settings (`[normalizer.oura]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OuraConfig {
    /// Base URL of Oura's API. Default `https://api.ouraring.com`; tests point it at a
    /// mock on 127.0.0.1.
    pub api_base: String,
    /// Token endpoint; empty = `{api_base}/oauth/token`.
    pub token_url: String,
    /// The API application's client id (used to refresh users' tokens).
    pub client_id: String,
    /// The API application's client secret. Never logged.
    pub client_secret: Secret,
    /// Whole-request timeout for one API call. Default 10s.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// The application's rate limits (docs/BACKFILL.md has the defaults).
    pub rate_limit: crate::ratelimit::RateLimitConfig,
}

impl Default for OuraConfig {
    fn default() -> Self {
        Self {
            api_base: DEFAULT_API_BASE.into(),
            token_url: String::new(),
            client_id: String::new(),
            client_secret: Secret::default(),
            request_timeout: Duration::from_secs(10),
            rate_limit: crate::ratelimit::RateLimitConfig::from(descriptor::DESCRIPTOR.rate_limits),
        }
    }
}

/// Oura's webhook notification body.
#[derive(Debug, Clone, Deserialize)]
pub struct OuraEvent {
    /// `create`, `update` or `delete`.
    pub event_type: String,
    /// `workout`, `sleep`, `daily_activity`, `daily_sleep`, `daily_readiness`, …
    pub data_type: String,
    pub object_id: String,
    /// ISO-8601.
    pub event_time: String,
    pub user_id: String,
}

impl OuraEvent {
    pub fn parse(body: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(body)
    }

    /// Deterministic id of the change this notification announces (Oura's retries and
    /// redeliveries yield the same id).
    pub fn key(&self) -> String {
        stable_id(&[
            "oura",
            &self.data_type,
            &self.object_id,
            &self.event_type,
            &self.event_time,
        ])
    }
}

/// The Oura normalizer.
pub struct OuraNormalizer {
    client: OuraClient,
}

impl OuraNormalizer {
    pub fn new(
        cfg: &OuraConfig,
        retry: &RetryConfig,
        limiters: &crate::ratelimit::Limiters,
    ) -> Result<Self, NormalizeError> {
        Ok(Self {
            client: OuraClient::new(cfg, retry, limiters)?,
        })
    }

    async fn fetch_map<T, U>(
        &self,
        raw: &RawNotification,
        conn: &Connection,
        ctx: &Ctx,
        ev: &OuraEvent,
        (endpoint, event_type): (&'static str, EventType),
        map: impl FnOnce(&T) -> Result<U, NormalizeError>,
    ) -> Result<Vec<NormalizedEvent>, NormalizeError>
    where
        T: serde::de::DeserializeOwned,
        U: Serialize,
    {
        let fetched = self
            .client
            .fetch::<T>(conn, ctx, endpoint, &ev.data_type, &ev.object_id)
            .await?;
        match fetched {
            Fetched::Doc(doc) => {
                let data = map(&doc)?;
                data_event(ev.key(), event_type, conn, raw, data)
            }
            Fetched::ConnectionError(message) => connection_error(raw, conn, ev, message),
        }
    }

    async fn fetch_sleep(
        &self,
        raw: &RawNotification,
        conn: &Connection,
        ctx: &Ctx,
        ev: &OuraEvent,
    ) -> Result<Vec<NormalizedEvent>, NormalizeError> {
        let id = ev.object_id.clone();
        self.fetch_map(
            raw,
            conn,
            ctx,
            ev,
            ("get_sleep", EventType::Sleep),
            |s: &mapping::SleepPeriod| {
                if s.sleep_type.as_deref() == Some("deleted") {
                    return Err(NormalizeError::dropped(
                        "deleted",
                        "the sleep period was deleted by the user",
                    ));
                }
                mapping::map_sleep(s, &id)
            },
        )
        .await
    }
}

/// Days per historical window by default.
pub const WINDOW_DAYS: u32 = 30;

impl OuraNormalizer {
    /// The documents of collection `data_type` whose `day` is in `[start, end)`,
    /// each mapped with `map` (the push path's mapping), as JSON.
    async fn collection<T, U>(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        (endpoint, data_type): (&'static str, &str),
        (start, end): (NaiveDate, NaiveDate),
        day_of: impl Fn(&T) -> Option<&str>,
        map: impl Fn(&T) -> Result<U, NormalizeError>,
    ) -> Result<Result<Vec<serde_json::Value>, &'static str>, NormalizeError>
    where
        T: serde::de::DeserializeOwned,
        U: Serialize,
    {
        // `end_date` is sent as the window's end and every document's day re-checked,
        // whether Oura reads it as inclusive or not.
        let (s, e) = (range::ymd(start), range::ymd(end));
        let docs: Vec<T> = match self
            .client
            .list(conn, ctx, endpoint, data_type, (&s, &e))
            .await?
        {
            Authorized::Ok(d) => d,
            Authorized::NotFound => Vec::new(),
            Authorized::ConnectionError(m) => return Ok(Err(m)),
        };
        let mut out = Vec::new();
        for d in docs
            .iter()
            .filter(|d| day_of(d).is_none_or(|day| range::day_within(Some(day), start, end)))
        {
            if let Some(v) = range::skip_unmapped(map(d), data_type) {
                out.push(range::to_value(&v)?);
            }
        }
        Ok(Ok(out))
    }
}

fn data_event<T: Serialize>(
    key: String,
    event_type: EventType,
    conn: &Connection,
    raw: &RawNotification,
    data: T,
) -> Result<Vec<NormalizedEvent>, NormalizeError> {
    let user = terra_user(conn);
    let body = DataEvent {
        event_type: event_type.as_str(),
        user: &user,
        data: vec![data],
        version: PAYLOAD_VERSION,
    };
    Ok(vec![build_event(key, event_type, conn, raw, &body)?])
}

fn connection_error(
    raw: &RawNotification,
    conn: &Connection,
    ev: &OuraEvent,
    message: &'static str,
) -> Result<Vec<NormalizedEvent>, NormalizeError> {
    Ok(vec![crate::events::connection_error(
        "oura",
        &ev.key(),
        conn,
        raw,
        message,
    )?])
}

fn workout_deleted(
    raw: &RawNotification,
    conn: &Connection,
    ev: &OuraEvent,
) -> Result<Vec<NormalizedEvent>, NormalizeError> {
    let user = terra_user(conn);
    let body = ActivityDeletedEvent {
        event_type: EventType::ActivityDeleted.as_str(),
        user: &user,
        data: vec![DeletedSummary {
            summary_id: ev.object_id.clone(),
        }],
        version: PAYLOAD_VERSION,
    };
    Ok(vec![build_event(
        ev.key(),
        EventType::ActivityDeleted,
        conn,
        raw,
        &body,
    )?])
}

#[async_trait]
impl ProviderNormalizer for OuraNormalizer {
    fn provider(&self) -> Provider {
        Provider::Oura
    }

    fn data_type(&self, raw: &RawNotification) -> Option<EventType> {
        match crate::events::body_field(raw, "data_type").as_deref()? {
            "workout" | "session" => Some(EventType::Activity),
            "sleep" => Some(EventType::Sleep),
            "daily_activity" | "daily_sleep" | "daily_readiness" => Some(EventType::Daily),
            _ => None,
        }
    }

    fn dedupe_key(&self, raw: &RawNotification) -> Option<String> {
        OuraEvent::parse(raw.body.get().as_bytes())
            .ok()
            .map(|e| e.key())
    }

    fn range_support(&self, data_type: EventType) -> Option<RangeSupport> {
        RangeSupport::for_types(
            data_type,
            &[EventType::Activity, EventType::Sleep, EventType::Daily],
            WINDOW_DAYS,
        )
    }

    /// `activity`: the `workout` collection; `sleep`: `sleep` (deleted periods left
    /// out); `daily`: `daily_activity`, `daily_sleep` and `daily_readiness`, each
    /// document its own Terra `daily` as on the push path.
    async fn fetch_range(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        data_type: EventType,
        start: NaiveDate,
        end: NaiveDate,
        _with_samples: bool,
    ) -> Result<RangeData, NormalizeError> {
        let days = (start, end);
        let id = |i: &Option<String>| i.clone().unwrap_or_default();
        let result = match data_type {
            EventType::Activity => {
                self.collection(
                    conn,
                    ctx,
                    ("list_workout", "workout"),
                    days,
                    |w: &mapping::Workout| w.day.as_deref(),
                    |w| mapping::map_workout(w, &id(&w.id)),
                )
                .await?
            }
            EventType::Sleep => {
                self.collection(
                    conn,
                    ctx,
                    ("list_sleep", "sleep"),
                    days,
                    |s: &mapping::SleepPeriod| s.day.as_deref(),
                    |s| {
                        if s.sleep_type.as_deref() == Some("deleted") {
                            return Err(NormalizeError::dropped("deleted", "deleted sleep period"));
                        }
                        mapping::map_sleep(s, &id(&s.id))
                    },
                )
                .await?
            }
            EventType::Daily => {
                let mut all = match self
                    .collection(
                        conn,
                        ctx,
                        ("list_daily_activity", "daily_activity"),
                        days,
                        |d: &mapping::DailyActivity| d.day.as_deref(),
                        mapping::map_daily_activity,
                    )
                    .await?
                {
                    Ok(v) => v,
                    Err(m) => return Ok(RangeData::ConnectionError(m)),
                };
                for (endpoint, collection, kind) in [
                    ("list_daily_sleep", "daily_sleep", DailyKind::Sleep),
                    (
                        "list_daily_readiness",
                        "daily_readiness",
                        DailyKind::Readiness,
                    ),
                ] {
                    match self
                        .collection(
                            conn,
                            ctx,
                            (endpoint, collection),
                            days,
                            |d: &mapping::DailyScore| d.day.as_deref(),
                            |d| mapping::map_daily_score(d, kind),
                        )
                        .await?
                    {
                        Ok(mut v) => all.append(&mut v),
                        Err(m) => return Ok(RangeData::ConnectionError(m)),
                    }
                }
                Ok(all)
            }
            other => return Err(range::unsupported("Oura", other)),
        };
        Ok(match result {
            Ok(objects) => RangeData::Objects(objects),
            Err(m) => RangeData::ConnectionError(m),
        })
    }

    async fn normalize(
        &self,
        raw: &RawNotification,
        conn: &Connection,
        ctx: &Ctx,
    ) -> Result<Vec<NormalizedEvent>, NormalizeError> {
        let ev = OuraEvent::parse(raw.body.get().as_bytes()).map_err(|e| {
            NormalizeError::dropped("malformed", format!("not an Oura webhook: {e}"))
        })?;
        if ev.user_id != raw.provider_user_id {
            return Err(NormalizeError::dropped(
                "owner_mismatch",
                "user_id differs from the notification's user",
            ));
        }
        let id = ev.object_id.clone();
        match (ev.event_type.as_str(), ev.data_type.as_str()) {
            ("delete", "workout") => workout_deleted(raw, conn, &ev),
            ("delete", other) => Err(NormalizeError::dropped(
                "deleted",
                format!("Oura deleted a {other} document"),
            )),
            ("create" | "update", "workout") => {
                self.fetch_map(
                    raw,
                    conn,
                    ctx,
                    &ev,
                    ("get_workout", EventType::Activity),
                    |w: &mapping::Workout| mapping::map_workout(w, &id),
                )
                .await
            }
            ("create" | "update", "sleep") => self.fetch_sleep(raw, conn, ctx, &ev).await,
            ("create" | "update", "daily_activity") => {
                self.fetch_map(
                    raw,
                    conn,
                    ctx,
                    &ev,
                    ("get_daily_activity", EventType::Daily),
                    mapping::map_daily_activity,
                )
                .await
            }
            ("create" | "update", "daily_sleep") => {
                self.fetch_map(
                    raw,
                    conn,
                    ctx,
                    &ev,
                    ("get_daily_sleep", EventType::Daily),
                    |d: &mapping::DailyScore| mapping::map_daily_score(d, DailyKind::Sleep),
                )
                .await
            }
            ("create" | "update", "daily_readiness") => {
                self.fetch_map(
                    raw,
                    conn,
                    ctx,
                    &ev,
                    ("get_daily_readiness", EventType::Daily),
                    |d: &mapping::DailyScore| mapping::map_daily_score(d, DailyKind::Readiness),
                )
                .await
            }
            (event, data) => Err(NormalizeError::dropped(
                "unsupported_event",
                format!("{data}/{event}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &[u8] = br#"{"event_type":"update","data_type":"sleep","object_id":"12345abc","event_time":"2023-01-01T08:00:00+00:00","user_id":"user123"}"#;

    #[test]
    fn parses_ouras_example_notification() {
        let ev = OuraEvent::parse(EXAMPLE).unwrap();
        assert_eq!(ev.data_type, "sleep");
        assert_eq!(ev.user_id, "user123");
        assert_eq!(
            ev.key(),
            stable_id(&[
                "oura",
                "sleep",
                "12345abc",
                "update",
                "2023-01-01T08:00:00+00:00"
            ])
        );
        let again = OuraEvent::parse(
            br#"{ "user_id":"user123", "object_id":"12345abc", "data_type":"sleep",
                  "event_type":"update", "event_time":"2023-01-01T08:00:00+00:00" }"#,
        )
        .unwrap();
        assert_eq!(again.key(), ev.key());
        let later = OuraEvent {
            event_time: "2023-01-01T08:00:01+00:00".into(),
            ..ev.clone()
        };
        assert_ne!(later.key(), ev.key());
        assert!(OuraEvent::parse(br#"{"event_type":"update"}"#).is_err());
    }

    #[test]
    fn ids_must_be_plain_path_segments() {
        assert!(client::safe_segment("8f9a5221-639e-4a85-81cb-4065ef23f979"));
        assert!(!client::safe_segment("../personal_info"));
        assert!(!client::safe_segment("a/b"));
        assert!(!client::safe_segment("a?b"));
        assert!(!client::safe_segment(""));
        assert!(!client::safe_segment(".."));
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            if let Ok(ev) = OuraEvent::parse(&bytes) {
                let _ = ev.key();
            }
        }
    }
}

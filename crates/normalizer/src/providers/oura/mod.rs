//! Oura v2: webhook notifications are pointers (`event_type`, `data_type`, `object_id`);
//! the document is fetched with the user's token (`GET /v2/usercollection/{data_type}/
//! {object_id}`) and mapped into Terra's `activity`, `sleep` or `daily`.
//! See docs/providers/oura.md.

mod client;
pub mod mapping;
mod types;

use std::time::Duration;

use async_trait::async_trait;
use pulsegate_schema::terra::{ActivityDeletedEvent, DataEvent, DeletedSummary, StatusEvent};
use pulsegate_schema::{
    stable_id, Connection, EventType, NormalizedEvent, Provider, RawNotification, Secret,
    PAYLOAD_VERSION,
};
use serde::{Deserialize, Serialize};

pub use client::{Fetched, OuraClient, DEFAULT_API_BASE};
use mapping::DailyKind;

use crate::events::{build_event, terra_user};
use crate::{Ctx, NormalizeError, ProviderNormalizer, RetryConfig};

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
}

impl Default for OuraConfig {
    fn default() -> Self {
        Self {
            api_base: DEFAULT_API_BASE.into(),
            token_url: String::new(),
            client_id: String::new(),
            client_secret: Secret::default(),
            request_timeout: Duration::from_secs(10),
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
    pub fn new(cfg: &OuraConfig, retry: &RetryConfig) -> Result<Self, NormalizeError> {
        Ok(Self {
            client: OuraClient::new(cfg, retry)?,
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
    tracing::warn!(message, "Oura refused the connection's credentials");
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

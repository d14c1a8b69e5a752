//! Suunto: a `WORKOUT_CREATED` webhook names a workout (`username`,
//! `workout.workoutKey`); the workout summary is fetched from the Cloud API with the
//! member's token and the application's subscription key and mapped into Terra's
//! `activity`. The other notification types are acknowledged and not mapped. See
//! docs/providers/suunto.md.

mod client;
#[cfg(test)]
mod conformance_tests;
mod descriptor;
pub mod mapping;
#[cfg(test)]
mod mapping_tests;
mod plugin;
pub mod verify;

pub use descriptor::DESCRIPTOR;
pub use plugin::SuuntoPlugin;

use std::time::Duration;

use async_trait::async_trait;
use pulsegate_schema::terra::DataEvent;
use pulsegate_schema::{
    stable_id, Connection, EventType, NormalizedEvent, Provider, RawNotification, Secret,
    PAYLOAD_VERSION,
};
use serde::Deserialize;

pub use client::{Fetched, SuuntoClient, DEFAULT_API_BASE, DEFAULT_TOKEN_URL};

use crate::events::{build_event, terra_user};
use crate::{Ctx, NormalizeError, ProviderNormalizer, RetryConfig};

/// Suunto API settings (`[normalizer.suunto]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SuuntoConfig {
    /// Base URL of Suunto's Cloud API (`/v2/...` below it). Default
    /// `https://cloudapi.suunto.com`; tests point it at a mock on 127.0.0.1.
    pub api_base: String,
    /// OAuth2 token endpoint. Default `https://cloudapi-oauth.suunto.com/oauth/token`.
    pub token_url: String,
    /// The OAuth application's client id (used to refresh members' tokens).
    pub client_id: String,
    /// The OAuth application's client secret. Never logged.
    pub client_secret: Secret,
    /// The API Zone subscription key (primary or secondary), sent as
    /// `Ocp-Apim-Subscription-Key` on every API call. Never logged.
    pub subscription_key: Secret,
    /// Whole-request timeout for one API call. Default 10s.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// The application's rate limits (Suunto publishes none; its 429s are honoured).
    pub rate_limit: crate::ratelimit::RateLimitConfig,
}

impl Default for SuuntoConfig {
    fn default() -> Self {
        Self {
            api_base: DEFAULT_API_BASE.into(),
            token_url: DEFAULT_TOKEN_URL.into(),
            client_id: String::new(),
            client_secret: Secret::default(),
            subscription_key: Secret::default(),
            request_timeout: Duration::from_secs(10),
            rate_limit: crate::ratelimit::RateLimitConfig::from(DESCRIPTOR.rate_limits),
        }
    }
}

/// A Suunto webhook body (the fields pulsegate reads).
#[derive(Debug, Clone, Deserialize)]
pub struct SuuntoEvent {
    /// `WORKOUT_CREATED`, `ROUTE_CREATED`, `SUUNTO_247_SLEEP_CREATED`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// The Suunto user (the token answer's `user`).
    pub username: String,
    #[serde(default)]
    pub workout: Option<WorkoutRef>,
    #[serde(default)]
    pub gear: Option<Gear>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkoutRef {
    #[serde(default)]
    pub workout_key: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Gear {
    #[serde(default)]
    pub name: Option<String>,
}

impl SuuntoEvent {
    pub fn parse(body: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(body)
    }

    /// The workout a `WORKOUT_CREATED` names.
    pub fn workout_key(&self) -> Option<&str> {
        self.workout
            .as_ref()
            .and_then(|w| w.workout_key.as_deref())
            .filter(|k| !k.is_empty())
    }

    /// Deterministic id of the event: type, user and workout, so Suunto's retries and
    /// pulsegate's redeliveries yield the same id.
    pub fn key(&self) -> String {
        stable_id(&[
            "suunto",
            &self.kind,
            &self.username,
            self.workout_key().unwrap_or(""),
        ])
    }
}

/// The Suunto normalizer.
pub struct SuuntoNormalizer {
    client: SuuntoClient,
}

impl SuuntoNormalizer {
    pub fn new(
        cfg: &SuuntoConfig,
        retry: &RetryConfig,
        limiters: &crate::ratelimit::Limiters,
    ) -> Result<Self, NormalizeError> {
        Ok(Self {
            client: SuuntoClient::new(cfg, retry, limiters)?,
        })
    }

    async fn workout(
        &self,
        raw: &RawNotification,
        conn: &Connection,
        ctx: &Ctx,
        ev: &SuuntoEvent,
    ) -> Result<Vec<NormalizedEvent>, NormalizeError> {
        let key = ev
            .workout_key()
            .ok_or_else(|| NormalizeError::dropped("malformed", "no workout.workoutKey"))?;
        let w = match self.client.workout(conn, ctx, key).await? {
            Fetched::Doc(w) => w,
            Fetched::ConnectionError(m) => {
                return Ok(vec![crate::events::connection_error(
                    "suunto",
                    &ev.key(),
                    conn,
                    raw,
                    m,
                )?])
            }
        };
        let device = ev.gear.as_ref().and_then(|g| g.name.as_deref());
        let activity = mapping::map_workout(&w, key, device)?;
        let user = terra_user(conn);
        let body = DataEvent {
            event_type: EventType::Activity.as_str(),
            user: &user,
            data: vec![activity],
            version: PAYLOAD_VERSION,
        };
        Ok(vec![build_event(
            ev.key(),
            EventType::Activity,
            conn,
            raw,
            &body,
        )?])
    }
}

#[async_trait]
impl ProviderNormalizer for SuuntoNormalizer {
    fn provider(&self) -> Provider {
        Provider::Suunto
    }

    fn data_type(&self, raw: &RawNotification) -> Option<EventType> {
        match crate::events::body_field(raw, "type")?.as_str() {
            verify::WORKOUT_CREATED => Some(EventType::Activity),
            _ => None,
        }
    }

    fn dedupe_key(&self, raw: &RawNotification) -> Option<String> {
        SuuntoEvent::parse(raw.body.get().as_bytes())
            .ok()
            .map(|e| e.key())
    }

    async fn normalize(
        &self,
        raw: &RawNotification,
        conn: &Connection,
        ctx: &Ctx,
    ) -> Result<Vec<NormalizedEvent>, NormalizeError> {
        let ev = SuuntoEvent::parse(raw.body.get().as_bytes()).map_err(|e| {
            NormalizeError::dropped("malformed", format!("not a Suunto notification: {e}"))
        })?;
        if ev.username != raw.provider_user_id {
            return Err(NormalizeError::dropped(
                "owner_mismatch",
                "username differs from the notification's user",
            ));
        }
        match ev.kind.as_str() {
            verify::WORKOUT_CREATED => self.workout(raw, conn, ctx, &ev).await,
            other => Err(NormalizeError::dropped(
                "unsupported_event",
                format!("Suunto {other} is not mapped"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &[u8] = include_bytes!("workout_created_example.json");

    #[test]
    fn parses_suuntos_example_and_keys_on_type_user_and_workout() {
        let ev = SuuntoEvent::parse(EXAMPLE).unwrap();
        assert_eq!(ev.kind, "WORKOUT_CREATED");
        assert_eq!(ev.username, "johndoe123");
        assert_eq!(ev.workout_key(), Some("67604889401b942184624cb8"));
        assert_eq!(
            ev.gear.as_ref().and_then(|g| g.name.as_deref()),
            Some("Suunto Vertical")
        );
        assert_eq!(
            ev.key(),
            stable_id(&[
                "suunto",
                "WORKOUT_CREATED",
                "johndoe123",
                "67604889401b942184624cb8"
            ])
        );
        // The same notification with its keys in another order: the same key.
        let again = SuuntoEvent::parse(
            br#"{"workout":{"workoutKey":"67604889401b942184624cb8"},"username":"johndoe123","type":"WORKOUT_CREATED"}"#,
        )
        .unwrap();
        assert_eq!(again.key(), ev.key());
        let sleep =
            SuuntoEvent::parse(br#"{"type":"SUUNTO_247_SLEEP_CREATED","username":"u"}"#).unwrap();
        assert_eq!(sleep.workout_key(), None);
        assert!(SuuntoEvent::parse(br#"{"type":"WORKOUT_CREATED"}"#).is_err());
    }

    #[test]
    fn workout_keys_must_be_plain_path_segments() {
        assert!(client::safe_segment("67604889401b942184624cb8"));
        assert!(!client::safe_segment("../users"));
        assert!(!client::safe_segment("a b"));
        assert!(!client::safe_segment("a?b"));
        assert!(!client::safe_segment(""));
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            if let Ok(ev) = SuuntoEvent::parse(&bytes) {
                let _ = ev.key();
                let _ = ev.workout_key();
            }
        }
    }
}

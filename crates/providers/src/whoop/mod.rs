//! WHOOP: webhooks are pointers (`{user_id, id, type, trace_id}`); the object is fetched
//! from the v2 API with the member's token and mapped into Terra's `activity` (workout),
//! `sleep` or `daily` (recovery). See docs/providers/whoop.md.

#[cfg(test)]
mod conformance_tests;
mod descriptor;
mod plugin;
pub mod verify;
mod client;
pub mod mapping;
#[cfg(test)]
mod range_tests;

pub use descriptor::DESCRIPTOR;
pub use plugin::WhoopPlugin;

use std::time::Duration;

use async_trait::async_trait;
use chrono::NaiveDate;
use pulsegate_schema::terra::{ActivityDeletedEvent, DataEvent, DeletedSummary};
use pulsegate_schema::{
    stable_id, Connection, EventType, NormalizedEvent, Provider, RawNotification, Secret,
    PAYLOAD_VERSION,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use client::{Fetched, WhoopClient, DEFAULT_API_BASE, DEFAULT_TOKEN_URL};

use super::range;
use crate::api::Authorized;
use crate::events::{build_event, terra_user};
use crate::{Ctx, NormalizeError, ProviderNormalizer, RangeData, RangeSupport, RetryConfig};

/// WHOOP API settings (`[normalizer.whoop]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WhoopConfig {
    /// Base URL of WHOOP's developer API (`/v2/...` below it). Default
    /// `https://api.prod.whoop.com/developer`; tests point it at a mock on 127.0.0.1.
    pub api_base: String,
    /// OAuth2 token endpoint. Default `https://api.prod.whoop.com/oauth/oauth2/token`.
    pub token_url: String,
    /// The WHOOP app's client id (used to refresh members' tokens).
    pub client_id: String,
    /// The WHOOP app's client secret. Never logged.
    pub client_secret: Secret,
    /// Whole-request timeout for one API call. Default 10s.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// The application's rate limits (docs/BACKFILL.md has the defaults).
    pub rate_limit: crate::ratelimit::RateLimitConfig,
}

impl Default for WhoopConfig {
    fn default() -> Self {
        Self {
            api_base: DEFAULT_API_BASE.into(),
            token_url: DEFAULT_TOKEN_URL.into(),
            client_id: String::new(),
            client_secret: Secret::default(),
            request_timeout: Duration::from_secs(10),
            rate_limit: crate::ratelimit::RateLimitConfig::from(descriptor::DESCRIPTOR.rate_limits),
        }
    }
}

/// The object a webhook points at: a v2 UUID, or a v1 int64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WhoopId {
    Uuid(String),
    Int(i64),
}

impl std::fmt::Display for WhoopId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WhoopId::Uuid(s) => f.write_str(s),
            WhoopId::Int(i) => write!(f, "{i}"),
        }
    }
}

/// WHOOP's webhook body.
#[derive(Debug, Clone, Deserialize)]
pub struct WhoopEvent {
    pub user_id: i64,
    id: Value,
    /// `workout.updated`, `sleep.deleted`, `recovery.updated`, …
    #[serde(rename = "type")]
    pub event_type: String,
    /// Unique per event; WHOOP's retries of an event keep it.
    pub trace_id: String,
}

impl WhoopEvent {
    pub fn parse(body: &[u8]) -> Result<Self, serde_json::Error> {
        let ev: Self = serde_json::from_slice(body)?;
        if ev.object_id().is_none() {
            return Err(serde::de::Error::custom("id must be an int64 or a string"));
        }
        Ok(ev)
    }

    pub fn object_id(&self) -> Option<WhoopId> {
        match &self.id {
            Value::String(s) if !s.is_empty() => Some(WhoopId::Uuid(s.clone())),
            Value::Number(n) => n.as_i64().map(WhoopId::Int),
            _ => None,
        }
    }

    fn id_text(&self) -> String {
        self.object_id().map(|i| i.to_string()).unwrap_or_default()
    }

    /// Deterministic id of the event: WHOOP's `trace_id` with the object and type, so
    /// WHOOP's retries and pulsegate's redeliveries yield the same id.
    pub fn key(&self) -> String {
        stable_id(&["whoop", &self.event_type, &self.id_text(), &self.trace_id])
    }
}

/// The WHOOP normalizer.
pub struct WhoopNormalizer {
    client: WhoopClient,
}

impl WhoopNormalizer {
    pub fn new(
        cfg: &WhoopConfig,
        retry: &RetryConfig,
        limiters: &crate::ratelimit::Limiters,
    ) -> Result<Self, NormalizeError> {
        Ok(Self {
            client: WhoopClient::new(cfg, retry, limiters)?,
        })
    }

    async fn workout(
        &self,
        raw: &RawNotification,
        conn: &Connection,
        ctx: &Ctx,
        ev: &WhoopEvent,
        id: &str,
    ) -> Result<Vec<NormalizedEvent>, NormalizeError> {
        match self.client.workout(conn, ctx, id).await? {
            Fetched::Doc(w) => data_event(
                ev,
                EventType::Activity,
                conn,
                raw,
                mapping::map_workout(&w, id)?,
            ),
            Fetched::ConnectionError(m) => connection_error(raw, conn, ev, m),
        }
    }

    async fn sleep(
        &self,
        raw: &RawNotification,
        conn: &Connection,
        ctx: &Ctx,
        ev: &WhoopEvent,
        id: &str,
    ) -> Result<Vec<NormalizedEvent>, NormalizeError> {
        match self.client.sleep(conn, ctx, id).await? {
            Fetched::Doc(s) => {
                data_event(ev, EventType::Sleep, conn, raw, mapping::map_sleep(&s, id)?)
            }
            Fetched::ConnectionError(m) => connection_error(raw, conn, ev, m),
        }
    }

    /// v2: `id` is the sleep's UUID → the sleep's `cycle_id`; v1: `id` is the cycle id.
    /// Then the cycle's recovery and the cycle itself (the day's bounds and strain).
    async fn recovery(
        &self,
        raw: &RawNotification,
        conn: &Connection,
        ctx: &Ctx,
        ev: &WhoopEvent,
        id: WhoopId,
    ) -> Result<Vec<NormalizedEvent>, NormalizeError> {
        let cycle_id = match id {
            WhoopId::Int(c) => c,
            WhoopId::Uuid(sleep_id) => match self.client.sleep(conn, ctx, &sleep_id).await? {
                Fetched::Doc(s) => s.cycle_id.ok_or_else(|| {
                    NormalizeError::dropped("bad_response", "sleep has no cycle_id")
                })?,
                Fetched::ConnectionError(m) => return connection_error(raw, conn, ev, m),
            },
        };
        let recovery = match self.client.recovery(conn, ctx, cycle_id).await? {
            Fetched::Doc(r) => r,
            Fetched::ConnectionError(m) => return connection_error(raw, conn, ev, m),
        };
        let cycle = match self.client.cycle(conn, ctx, cycle_id).await? {
            Fetched::Doc(c) => c,
            Fetched::ConnectionError(m) => return connection_error(raw, conn, ev, m),
        };
        let daily = mapping::map_recovery(&recovery, &cycle)?;
        data_event(ev, EventType::Daily, conn, raw, daily)
    }
}

/// Days per historical window by default.
pub const WINDOW_DAYS: u32 = 7;

impl WhoopNormalizer {
    /// `[start, end)` as WHOOP's `start`/`end` query times (UTC midnights).
    fn bounds(start: NaiveDate, end: NaiveDate) -> (String, String) {
        let t = |d: NaiveDate| format!("{}T00:00:00.000Z", range::ymd(d));
        (t(start), t(end))
    }

    /// Workouts, sleeps, or recoveries (each with its cycle, as the push path maps
    /// them) that started in `[start, end)`.
    async fn records(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        data_type: EventType,
        (start, end): (NaiveDate, NaiveDate),
    ) -> Result<RangeData, NormalizeError> {
        let (s, e) = Self::bounds(start, end);
        let b = (s.as_str(), e.as_str());
        let c = &self.client;
        macro_rules! list {
            ($t:ty, $ep:expr, $path:expr) => {
                match c.list::<$t>(conn, ctx, $ep, $path, b).await? {
                    Authorized::Ok(r) => r,
                    Authorized::NotFound => Vec::new(),
                    Authorized::ConnectionError(m) => return Ok(RangeData::ConnectionError(m)),
                }
            };
        }
        let mut out = Vec::new();
        match data_type {
            EventType::Activity => {
                for w in list!(mapping::Workout, "list_workout", "activity/workout") {
                    let id = w.id.clone().unwrap_or_default();
                    if let Some(a) = range::skip_unmapped(mapping::map_workout(&w, &id), "workout")
                    {
                        out.push(range::to_value(&a)?);
                    }
                }
            }
            EventType::Sleep => {
                for sl in list!(mapping::SleepActivity, "list_sleep", "activity/sleep") {
                    let id = sl.id.clone().unwrap_or_default();
                    if let Some(x) = range::skip_unmapped(mapping::map_sleep(&sl, &id), "sleep") {
                        out.push(range::to_value(&x)?);
                    }
                }
            }
            EventType::Daily => {
                let mut cycles: std::collections::HashMap<i64, mapping::Cycle> =
                    list!(mapping::Cycle, "list_cycle", "cycle")
                        .into_iter()
                        .filter_map(|cy| Some((cy.id?, cy)))
                        .collect();
                for r in list!(mapping::Recovery, "list_recovery", "recovery") {
                    let Some(cycle_id) = r.cycle_id else { continue };
                    if let std::collections::hash_map::Entry::Vacant(slot) = cycles.entry(cycle_id)
                    {
                        // A recovery listed without its cycle (at a window's edge).
                        match c.cycle(conn, ctx, cycle_id).await {
                            Ok(Fetched::Doc(cy)) => {
                                slot.insert(*cy);
                            }
                            Ok(Fetched::ConnectionError(m)) => {
                                return Ok(RangeData::ConnectionError(m))
                            }
                            Err(NormalizeError::Dropped { .. }) => continue,
                            Err(e) => return Err(e),
                        }
                    }
                    let cycle = &cycles[&cycle_id];
                    if let Some(d) =
                        range::skip_unmapped(mapping::map_recovery(&r, cycle), "recovery")
                    {
                        out.push(range::to_value(&d)?);
                    }
                }
            }
            other => return Err(range::unsupported("WHOOP", other)),
        }
        Ok(RangeData::Objects(out))
    }
}

fn data_event<T: Serialize>(
    ev: &WhoopEvent,
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
    Ok(vec![build_event(ev.key(), event_type, conn, raw, &body)?])
}

fn connection_error(
    raw: &RawNotification,
    conn: &Connection,
    ev: &WhoopEvent,
    message: &'static str,
) -> Result<Vec<NormalizedEvent>, NormalizeError> {
    Ok(vec![crate::events::connection_error(
        "whoop",
        &ev.key(),
        conn,
        raw,
        message,
    )?])
}

fn v1_unsupported(what: &str) -> NormalizeError {
    NormalizeError::dropped(
        "unsupported_event",
        format!("v1 (int64) {what} id: WHOOP's v2 API takes UUIDs; use the v2 webhook model"),
    )
}

#[async_trait]
impl ProviderNormalizer for WhoopNormalizer {
    fn provider(&self) -> Provider {
        Provider::Whoop
    }

    fn data_type(&self, raw: &RawNotification) -> Option<EventType> {
        let t = crate::events::body_field(raw, "type")?;
        match t.split('.').next()? {
            "workout" => Some(EventType::Activity),
            "sleep" => Some(EventType::Sleep),
            "recovery" => Some(EventType::Daily),
            _ => None,
        }
    }

    fn dedupe_key(&self, raw: &RawNotification) -> Option<String> {
        WhoopEvent::parse(raw.body.get().as_bytes())
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

    /// `activity`: `/v2/activity/workout`; `sleep`: `/v2/activity/sleep`; `daily`:
    /// `/v2/recovery` with each recovery's cycle (`/v2/cycle`).
    async fn fetch_range(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        data_type: EventType,
        start: NaiveDate,
        end: NaiveDate,
        _with_samples: bool,
    ) -> Result<RangeData, NormalizeError> {
        self.records(conn, ctx, data_type, (start, end)).await
    }

    async fn normalize(
        &self,
        raw: &RawNotification,
        conn: &Connection,
        ctx: &Ctx,
    ) -> Result<Vec<NormalizedEvent>, NormalizeError> {
        let ev = WhoopEvent::parse(raw.body.get().as_bytes()).map_err(|e| {
            NormalizeError::dropped("malformed", format!("not a WHOOP webhook: {e}"))
        })?;
        if ev.user_id.to_string() != raw.provider_user_id {
            return Err(NormalizeError::dropped(
                "owner_mismatch",
                "user_id differs from the notification's user",
            ));
        }
        let id = ev
            .object_id()
            .ok_or_else(|| NormalizeError::dropped("malformed", "no id"))?;
        match (ev.event_type.as_str(), id) {
            ("workout.updated", WhoopId::Uuid(u)) => self.workout(raw, conn, ctx, &ev, &u).await,
            ("sleep.updated", WhoopId::Uuid(u)) => self.sleep(raw, conn, ctx, &ev, &u).await,
            ("workout.updated", WhoopId::Int(_)) => Err(v1_unsupported("workout")),
            ("sleep.updated", WhoopId::Int(_)) => Err(v1_unsupported("sleep")),
            ("recovery.updated", id) => self.recovery(raw, conn, ctx, &ev, id).await,
            ("workout.deleted", id) => {
                let user = terra_user(conn);
                let body = ActivityDeletedEvent {
                    event_type: EventType::ActivityDeleted.as_str(),
                    user: &user,
                    data: vec![DeletedSummary {
                        summary_id: id.to_string(),
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
            ("sleep.deleted" | "recovery.deleted", _) => Err(NormalizeError::dropped(
                "deleted",
                format!("WHOOP {}", ev.event_type),
            )),
            (other, _) => Err(NormalizeError::dropped(
                "unsupported_event",
                other.to_string(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &[u8] = br#"{"user_id":10129,"id":10235,"type":"workout.updated","trace_id":"d3709ee7-104e-4f70-a928-2932964b017b"}"#;
    const V2: &[u8] = br#"{"user_id":456,"id":"550e8400-e29b-41d4-a716-446655440000","type":"sleep.updated","trace_id":"e369c784-5100-49e8-8098-75d35c47b31b"}"#;

    #[test]
    fn parses_whoops_examples_and_keys_on_trace_id() {
        let v1 = WhoopEvent::parse(V1).unwrap();
        assert_eq!(v1.object_id(), Some(WhoopId::Int(10235)));
        assert_eq!(v1.user_id, 10129);
        let v2 = WhoopEvent::parse(V2).unwrap();
        assert_eq!(
            v2.object_id(),
            Some(WhoopId::Uuid("550e8400-e29b-41d4-a716-446655440000".into()))
        );
        assert_eq!(
            v2.key(),
            stable_id(&[
                "whoop",
                "sleep.updated",
                "550e8400-e29b-41d4-a716-446655440000",
                "e369c784-5100-49e8-8098-75d35c47b31b"
            ])
        );
        // WHOOP's retry (same trace_id, other key order): same key; other trace: other key.
        let retry = WhoopEvent::parse(
            br#"{"trace_id":"e369c784-5100-49e8-8098-75d35c47b31b","type":"sleep.updated",
                 "id":"550e8400-e29b-41d4-a716-446655440000","user_id":456}"#,
        )
        .unwrap();
        assert_eq!(retry.key(), v2.key());
        let other = WhoopEvent {
            trace_id: "another".into(),
            ..v2.clone()
        };
        assert_ne!(other.key(), v2.key());
        assert!(
            WhoopEvent::parse(br#"{"user_id":1,"id":null,"type":"x","trace_id":"t"}"#).is_err()
        );
        assert!(WhoopEvent::parse(br#"{"user_id":1,"id":"","type":"x","trace_id":"t"}"#).is_err());
    }

    #[test]
    fn ids_must_be_plain_path_segments() {
        assert!(client::safe_segment("550e8400-e29b-41d4-a716-446655440000"));
        assert!(!client::safe_segment("../cycle"));
        assert!(!client::safe_segment("a b"));
        assert!(!client::safe_segment(""));
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            if let Ok(ev) = WhoopEvent::parse(&bytes) {
                let _ = ev.key();
            }
        }
    }
}

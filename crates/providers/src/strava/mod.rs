//! Strava: webhook events are pointers (`object_type`, `object_id`, `aspect_type`); the
//! activity itself is fetched with the athlete's token and mapped into Terra's `activity`.
//! Historical requests list the athlete's activities by date and map each one the same
//! way. `POST /v2/activity` creates manual activities ([`write`]). See
//! docs/providers/strava.md.

#[cfg(test)]
mod conformance_tests;
mod config;
mod descriptor;
mod plugin;
pub mod verify;
mod client;
pub mod mapping;
pub mod sport;
pub mod write;

pub use descriptor::DESCRIPTOR;
pub use plugin::StravaPlugin;
pub use config::StravaConfig;

use async_trait::async_trait;
use chrono::NaiveDate;
use pulsegate_schema::terra::{ActivityDeletedEvent, DataEvent, DeletedSummary, StatusEvent};
use pulsegate_schema::{
    stable_id, Connection, ConnectionStatus, EventType, NormalizedEvent, Provider, RawNotification,
    PAYLOAD_VERSION,
};
use serde::Deserialize;
use serde_json::{Map, Value};

pub use client::{Fetched, StravaClient};

use super::range;
use crate::api::Authorized;
use crate::confirm::Revocation;
use crate::events::{build_event, terra_user};
use crate::{
    Ctx, NormalizeError, ProviderNormalizer, RangeData, RangeSupport, RetryConfig,
    WriteOp, WriteResult,
};

/// Strava's webhook event body.
#[derive(Debug, Clone, Deserialize)]
pub struct StravaEvent {
    /// `activity` or `athlete`.
    pub object_type: String,
    /// The activity id, or the athlete id for athlete events.
    pub object_id: u64,
    /// `create`, `update` or `delete`.
    pub aspect_type: String,
    /// Changed fields (`title`, `type`, `private`; `authorized: "false"` on deauthorization).
    #[serde(default)]
    pub updates: Option<Map<String, Value>>,
    /// The athlete's id.
    pub owner_id: u64,
    #[serde(default)]
    pub subscription_id: Option<u64>,
    /// Unix seconds.
    pub event_time: i64,
}

impl StravaEvent {
    pub fn parse(body: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(body)
    }

    /// Deterministic id of the change this event announces: the same event delivered
    /// twice (or reprocessed after a crash) yields the same id.
    pub fn key(&self) -> String {
        stable_id(&[
            "strava",
            &self.object_type,
            &self.object_id.to_string(),
            &self.aspect_type,
            &self.event_time.to_string(),
        ])
    }

    /// An athlete revoking the application's access.
    pub fn is_deauthorization(&self) -> bool {
        self.object_type == "athlete"
            && self
                .updates
                .as_ref()
                .and_then(|u| u.get("authorized"))
                .is_some_and(|v| v == "false" || v == &Value::Bool(false))
    }
}

/// The Strava normalizer.
pub struct StravaNormalizer {
    client: StravaClient,
    per_page: u32,
    details: bool,
}

/// Days per historical window by default.
pub const WINDOW_DAYS: u32 = 7;

impl StravaNormalizer {
    pub fn new(
        cfg: &StravaConfig,
        retry: &RetryConfig,
        limiters: &crate::ratelimit::Limiters,
    ) -> Result<Self, NormalizeError> {
        Ok(Self {
            client: StravaClient::new(cfg, retry, limiters)?,
            per_page: cfg.backfill_per_page.clamp(1, 200),
            details: cfg.backfill_details,
        })
    }

    /// The athlete's activities that started on a UTC day in `[start, end)`: every
    /// page of the list (until a short page), then each activity's details, mapped
    /// as the push path maps them.
    async fn activities_in(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<RangeData, NormalizeError> {
        let fresh = || {
            ctx.state
                .connection(&conn.user_id)
                .map(|c| (*c).clone())
                .unwrap_or_else(|| conn.clone())
        };
        // Strava's bounds are "after" and "before" a time; the days are re-checked below.
        let bounds = (range::utc_midnight(start) - 1, range::utc_midnight(end));
        let mut listed: Vec<mapping::DetailedActivity> = Vec::new();
        for page in 1..=range::MAX_PAGES {
            let items = match self
                .client
                .list_activities(&fresh(), ctx, bounds, page, self.per_page)
                .await?
            {
                Authorized::Ok(items) => items,
                Authorized::NotFound => break,
                Authorized::ConnectionError(m) => return Ok(RangeData::ConnectionError(m)),
            };
            let full = items.len() >= self.per_page as usize;
            listed.extend(items);
            if !full {
                break;
            }
        }
        let mut seen = std::collections::HashSet::new();
        listed.retain(|a| {
            range::starts_within(a.start_date.as_deref(), start, end)
                && a.id.is_some_and(|id| seen.insert(id))
        });
        let mut out = Vec::with_capacity(listed.len());
        for summary in &listed {
            let id = summary.id.unwrap_or_default();
            let mapped = if self.details {
                match self.client.fetch_activity(&fresh(), ctx, id).await {
                    Ok(Fetched::Activity(a)) => mapping::map_activity(&a, id),
                    Ok(Fetched::ConnectionError(m)) => return Ok(RangeData::ConnectionError(m)),
                    // Deleted since it was listed.
                    Err(NormalizeError::Dropped {
                        reason: "not_found",
                        ..
                    }) => continue,
                    Err(e) => return Err(e),
                }
            } else {
                mapping::map_activity(summary, id)
            };
            if let Some(a) = range::skip_unmapped(mapped, "strava activity") {
                out.push(range::to_value(&a)?);
            }
        }
        Ok(RangeData::Objects(out))
    }

    fn parse(raw: &RawNotification) -> Option<StravaEvent> {
        StravaEvent::parse(raw.body.get().as_bytes()).ok()
    }

    async fn activity(
        &self,
        raw: &RawNotification,
        conn: &Connection,
        ctx: &Ctx,
        ev: &StravaEvent,
    ) -> Result<Vec<NormalizedEvent>, NormalizeError> {
        match self.client.fetch_activity(conn, ctx, ev.object_id).await? {
            Fetched::Activity(a) => {
                let activity = mapping::map_activity(&a, ev.object_id)?;
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
            Fetched::ConnectionError(message) => Ok(vec![crate::events::connection_error(
                "strava",
                &ev.key(),
                conn,
                raw,
                message,
            )?]),
        }
    }

    fn deleted(
        raw: &RawNotification,
        conn: &Connection,
        ev: &StravaEvent,
    ) -> Result<Vec<NormalizedEvent>, NormalizeError> {
        let user = terra_user(conn);
        let body = ActivityDeletedEvent {
            event_type: EventType::ActivityDeleted.as_str(),
            user: &user,
            data: vec![DeletedSummary {
                summary_id: ev.object_id.to_string(),
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

    async fn deauthorized(
        &self,
        raw: &RawNotification,
        conn: &Connection,
        ctx: &Ctx,
        ev: &StravaEvent,
    ) -> Result<Vec<NormalizedEvent>, NormalizeError> {
        if conn.status != ConnectionStatus::Revoked {
            // Strava does not sign pushes: the athlete's token decides, not the body.
            if let Revocation::Denied(why) = self.client.confirm_revoked(conn, ctx).await? {
                return Err(crate::confirm::unconfirmed(
                    "strava",
                    "deauthorization",
                    why,
                ));
            }
            ctx.state.revoke_connection(&conn.user_id).await?;
            tracing::info!("athlete deauthorized the application; connection revoked");
        }
        let user = terra_user(conn);
        let body = StatusEvent {
            event_type: EventType::Deauth.as_str(),
            user: &user,
            status: "success",
            message: "User has deauthenticated",
        };
        Ok(vec![build_event(
            ev.key(),
            EventType::Deauth,
            conn,
            raw,
            &body,
        )?])
    }
}

#[async_trait]
impl ProviderNormalizer for StravaNormalizer {
    fn provider(&self) -> Provider {
        Provider::Strava
    }

    fn data_type(&self, raw: &RawNotification) -> Option<EventType> {
        match crate::events::body_field(raw, "object_type").as_deref() {
            Some("activity") => Some(EventType::Activity),
            _ => None,
        }
    }

    fn dedupe_key(&self, raw: &RawNotification) -> Option<String> {
        Self::parse(raw).map(|e| e.key())
    }

    fn handles_revoked(&self, raw: &RawNotification) -> bool {
        // A deauthorization redelivered after its revoke was stored still emits `deauth`
        // (same event id, so receivers see a duplicate at worst, never a loss).
        Self::parse(raw).is_some_and(|e| e.is_deauthorization())
    }

    fn range_support(&self, data_type: EventType) -> Option<RangeSupport> {
        RangeSupport::for_types(data_type, &[EventType::Activity], WINDOW_DAYS)
    }

    async fn fetch_range(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        data_type: EventType,
        start: NaiveDate,
        end: NaiveDate,
        _with_samples: bool,
    ) -> Result<RangeData, NormalizeError> {
        match data_type {
            EventType::Activity => self.activities_in(conn, ctx, start, end).await,
            other => Err(range::unsupported("Strava", other)),
        }
    }

    /// `POST /v2/activity`: manual activities (see [`write`]).
    async fn write(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        op: WriteOp,
    ) -> Result<WriteResult, NormalizeError> {
        write::write(&self.client, conn, ctx, op).await
    }

    async fn normalize(
        &self,
        raw: &RawNotification,
        conn: &Connection,
        ctx: &Ctx,
    ) -> Result<Vec<NormalizedEvent>, NormalizeError> {
        let ev = StravaEvent::parse(raw.body.get().as_bytes()).map_err(|e| {
            NormalizeError::dropped("malformed", format!("not a Strava webhook event: {e}"))
        })?;
        if ev.owner_id.to_string() != raw.provider_user_id {
            return Err(NormalizeError::dropped(
                "owner_mismatch",
                format!(
                    "owner_id {} differs from the notification's user {}",
                    ev.owner_id, raw.provider_user_id
                ),
            ));
        }
        match (ev.object_type.as_str(), ev.aspect_type.as_str()) {
            ("activity", "create" | "update") => self.activity(raw, conn, ctx, &ev).await,
            ("activity", "delete") => Self::deleted(raw, conn, &ev),
            ("athlete", _) if ev.is_deauthorization() => {
                self.deauthorized(raw, conn, ctx, &ev).await
            }
            ("athlete", _) => Err(NormalizeError::dropped(
                "athlete_update_ignored",
                "athlete update other than a deauthorization",
            )),
            (object, aspect) => Err(NormalizeError::dropped(
                "unsupported_event",
                format!("{object}/{aspect}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stravas_example_event() {
        let body = br#"{"aspect_type":"update","event_time":1516126040,"object_id":1360128428,"object_type":"activity","owner_id":134815,"subscription_id":120475,"updates":{"title":"Messy"}}"#;
        let ev = StravaEvent::parse(body).unwrap();
        assert_eq!(ev.object_id, 1360128428);
        assert_eq!(ev.owner_id, 134815);
        assert!(!ev.is_deauthorization());
        assert_eq!(
            ev.key(),
            stable_id(&["strava", "activity", "1360128428", "update", "1516126040"])
        );
        // Same change, other key order and whitespace: same key. Other time: other key.
        let again = StravaEvent::parse(
            br#"{ "object_type":"activity", "object_id":1360128428, "aspect_type":"update",
                 "owner_id":134815, "event_time":1516126040, "updates":{} }"#,
        )
        .unwrap();
        assert_eq!(again.key(), ev.key());
        let later = StravaEvent {
            event_time: 1516126041,
            ..ev.clone()
        };
        assert_ne!(later.key(), ev.key());
    }

    #[test]
    fn deauthorization() {
        let ev = StravaEvent::parse(
            br#"{"object_type":"athlete","object_id":134815,"aspect_type":"update","updates":{"authorized":"false"},"owner_id":134815,"subscription_id":120475,"event_time":1516126040}"#,
        )
        .unwrap();
        assert!(ev.is_deauthorization());
        let other = StravaEvent::parse(
            br#"{"object_type":"athlete","object_id":1,"aspect_type":"update","updates":{"authorized":"true"},"owner_id":1,"event_time":1}"#,
        )
        .unwrap();
        assert!(!other.is_deauthorization());
        let null_updates = StravaEvent::parse(
            br#"{"object_type":"athlete","object_id":1,"aspect_type":"update","updates":null,"owner_id":1,"event_time":1}"#,
        )
        .unwrap();
        assert!(!null_updates.is_deauthorization());
    }
}

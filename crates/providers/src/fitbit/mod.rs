//! Fitbit (legacy Web API; shut down by Google on 2026-11-02 in favour of the Google
//! Health API, [`super::google_health`]). Since then Fitbit answers 410 Gone: the
//! connection gets one `connection_error` saying so (once per connection, remembered in
//! its metadata), later notifications are dropped (`provider_retired`).
//! A notification is a JSON array of one user's entries `{collectionType, date, ownerId,
//! ownerType, subscriptionId}`: pointers to a day of data, fetched with the user's token
//! and mapped into Terra's `daily` (+ `activity` per logged exercise), `sleep` and
//! `body`. `userRevokedAccess` / `deleteUser` revoke the connection (`deauth`).
//! Weight, body fat and activity logs can be written and deleted ([`write`]).
//! See docs/providers/fitbit.md.

#[cfg(test)]
mod conformance_tests;
mod descriptor;
mod plugin;
pub mod verify;
mod client;
pub mod mapping;
#[cfg(test)]
mod range_tests;
pub mod write;

pub use descriptor::DESCRIPTOR;
pub use plugin::FitbitPlugin;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{FixedOffset, NaiveDate};
use crate::fitbit::descriptor::OAUTH;
use pulsegate_schema::terra::{DataEvent, StatusEvent};
use pulsegate_schema::{
    stable_id, Connection, ConnectionStatus, EventType, NormalizedEvent, Provider, RawNotification,
    Secret, PAYLOAD_VERSION,
};
use serde::{Deserialize, Serialize};

pub use client::{FitbitClient, RETIRED};

/// The connection metadata key that remembers the shutdown was announced: the id of the
/// notification whose `connection_error` said so.
pub const RETIRED_MARKER: &str = "fitbit_retired";

use super::range;
use crate::api::Authorized;
use crate::events::{build_event, terra_user};
use crate::{
    Ctx, NormalizeError, ProviderNormalizer, RangeData, RangeSupport, RetryConfig, WriteOp,
    WriteResult,
};

/// Fitbit API settings (`[normalizer.fitbit]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FitbitConfig {
    /// Base URL of Fitbit's Web API. Default `https://api.fitbit.com`; tests point it at
    /// a mock on 127.0.0.1.
    pub api_base: String,
    /// OAuth2 token endpoint. Empty (default) = `{api_base}/oauth2/token`.
    pub token_url: String,
    /// The Fitbit application's client id (HTTP Basic user at the token endpoint).
    pub client_id: String,
    /// The application's client secret. Never logged.
    pub client_secret: Secret,
    /// Whole-request timeout for one API call. Default 10s.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// The application's rate limits (docs/BACKFILL.md has the defaults).
    pub rate_limit: crate::ratelimit::RateLimitConfig,
    /// On `activities` notifications, also fetch the day's activity logs and emit one
    /// `activity` event per logged exercise (besides `daily`). Default true.
    pub activity_logs: bool,
}

impl Default for FitbitConfig {
    fn default() -> Self {
        Self {
            api_base: OAUTH.api_base.into(),
            token_url: String::new(),
            client_id: String::new(),
            client_secret: Secret::default(),
            request_timeout: Duration::from_secs(10),
            rate_limit: crate::ratelimit::RateLimitConfig::from(descriptor::DESCRIPTOR.rate_limits),
            activity_logs: true,
        }
    }
}

/// One entry of a Fitbit notification.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FitbitEntry {
    pub collection_type: String,
    pub date: String,
    pub owner_id: String,
    #[serde(default)]
    pub owner_type: Option<String>,
    #[serde(default)]
    pub subscription_id: Option<serde_json::Value>,
}

impl FitbitEntry {
    /// A notification body: the entries of one user, as ingest stored them.
    pub fn parse_all(body: &[u8]) -> Result<Vec<FitbitEntry>, serde_json::Error> {
        serde_json::from_slice(body)
    }

    pub fn is_revocation(&self) -> bool {
        matches!(
            self.collection_type.as_str(),
            "userRevokedAccess" | "deleteUser"
        )
    }
}

/// The Fitbit normalizer.
pub struct FitbitNormalizer {
    client: FitbitClient,
    activity_logs: bool,
}

/// What one entry came to.
enum Outcome {
    Events(Vec<NormalizedEvent>),
    /// Nothing to emit (no data that day, or not found).
    Nothing,
    /// Not a collection pulsegate maps (foods, unknown).
    Unsupported,
    /// Fitbit refused the credentials: stop and emit `connection_error`.
    ConnectionError(&'static str),
}

impl FitbitNormalizer {
    pub fn new(
        cfg: &FitbitConfig,
        retry: &RetryConfig,
        limiters: &crate::ratelimit::Limiters,
    ) -> Result<Self, NormalizeError> {
        Ok(Self {
            client: FitbitClient::new(cfg, retry, limiters)?,
            activity_logs: cfg.activity_logs,
        })
    }

    fn parse(raw: &RawNotification) -> Option<Vec<FitbitEntry>> {
        FitbitEntry::parse_all(raw.body.get().as_bytes()).ok()
    }

    /// The connection as currently stored (a refresh earlier in this notification may
    /// have replaced its token).
    fn fresh(conn: &Connection, ctx: &Ctx) -> Connection {
        ctx.state
            .connection(&conn.user_id)
            .map(|c| (*c).clone())
            .unwrap_or_else(|| conn.clone())
    }

    fn data_event<T: Serialize>(
        kind: EventType,
        id_parts: &[&str],
        conn: &Connection,
        raw: &RawNotification,
        data: T,
    ) -> Result<NormalizedEvent, NormalizeError> {
        let user = terra_user(conn);
        // The id covers the mapped content: the same data (a Fitbit retry, a
        // reprocessing) keeps its id, changed data gets a new one.
        let content =
            serde_json::to_string(&data).map_err(|e| NormalizeError::Encode(e.to_string()))?;
        let mut parts = vec!["fitbit", kind.as_str()];
        parts.extend_from_slice(id_parts);
        parts.push(&content);
        let body = DataEvent {
            event_type: kind.as_str(),
            user: &user,
            data: vec![data],
            version: PAYLOAD_VERSION,
        };
        build_event(stable_id(&parts), kind, conn, raw, &body)
    }

    async fn offset(
        &self,
        cache: &mut Option<FixedOffset>,
        conn: &Connection,
        ctx: &Ctx,
    ) -> Result<FixedOffset, NormalizeError> {
        if let Some(o) = cache {
            return Ok(*o);
        }
        let o = self.client.offset(&Self::fresh(conn, ctx), ctx).await?;
        *cache = Some(o);
        Ok(o)
    }

    async fn entry(
        &self,
        raw: &RawNotification,
        conn: &Connection,
        ctx: &Ctx,
        e: &FitbitEntry,
        offset: &mut Option<FixedOffset>,
    ) -> Result<Outcome, NormalizeError> {
        let Some(date) = mapping::parse_date(&e.date) else {
            return Err(NormalizeError::dropped(
                "malformed",
                format!("invalid date in a {} notification", e.collection_type),
            ));
        };
        match e.collection_type.as_str() {
            "activities" => {
                let off = self.offset(offset, conn, ctx).await?;
                let day = self
                    .client
                    .daily(&Self::fresh(conn, ctx), ctx, &e.owner_id, &e.date)
                    .await?;
                let mut events = Vec::new();
                match day {
                    Authorized::Ok(d) => {
                        if let Some(s) = &d.summary {
                            let daily = mapping::map_daily(s, date, off);
                            events.push(Self::data_event(
                                EventType::Daily,
                                &[&e.owner_id, &e.date],
                                conn,
                                raw,
                                daily,
                            )?);
                        }
                    }
                    Authorized::NotFound => {}
                    Authorized::ConnectionError(why) => return Ok(Outcome::ConnectionError(why)),
                }
                if self.activity_logs {
                    let before = date
                        .pred_opt()
                        .unwrap_or(date)
                        .format("%Y-%m-%d")
                        .to_string();
                    match self
                        .client
                        .activity_logs(&Self::fresh(conn, ctx), ctx, &before)
                        .await?
                    {
                        Authorized::Ok(list) => {
                            for log in &list.activities {
                                let on_day = log.start().is_some_and(|s| s.date_naive() == date);
                                if let (true, Some(a)) = (on_day, mapping::map_activity_log(log)) {
                                    let id = a.metadata.summary_id.clone();
                                    events.push(Self::data_event(
                                        EventType::Activity,
                                        &[&e.owner_id, &id],
                                        conn,
                                        raw,
                                        a,
                                    )?);
                                }
                            }
                        }
                        Authorized::NotFound => {}
                        Authorized::ConnectionError(why) => {
                            return Ok(Outcome::ConnectionError(why))
                        }
                    }
                }
                Ok(events_or_nothing(events))
            }
            "sleep" => {
                let off = self.offset(offset, conn, ctx).await?;
                match self
                    .client
                    .sleep(&Self::fresh(conn, ctx), ctx, &e.date)
                    .await?
                {
                    Authorized::Ok(r) => {
                        let mut events = Vec::new();
                        for log in &r.sleep {
                            if let Some(s) = mapping::map_sleep(log, off) {
                                let id = s.metadata.summary_id.clone().unwrap_or_default();
                                events.push(Self::data_event(
                                    EventType::Sleep,
                                    &[&e.owner_id, &e.date, &id],
                                    conn,
                                    raw,
                                    s,
                                )?);
                            }
                        }
                        Ok(events_or_nothing(events))
                    }
                    Authorized::NotFound => Ok(Outcome::Nothing),
                    Authorized::ConnectionError(why) => Ok(Outcome::ConnectionError(why)),
                }
            }
            "body" => {
                let off = self.offset(offset, conn, ctx).await?;
                match self
                    .client
                    .weight(&Self::fresh(conn, ctx), ctx, &e.date)
                    .await?
                {
                    Authorized::Ok(r) => match mapping::map_body(&r.weight, date, off) {
                        Some(b) => Ok(Outcome::Events(vec![Self::data_event(
                            EventType::Body,
                            &[&e.owner_id, &e.date],
                            conn,
                            raw,
                            b,
                        )?])),
                        None => Ok(Outcome::Nothing),
                    },
                    Authorized::NotFound => Ok(Outcome::Nothing),
                    Authorized::ConnectionError(why) => Ok(Outcome::ConnectionError(why)),
                }
            }
            _ => Ok(Outcome::Unsupported),
        }
    }

    async fn deauthorized(
        raw: &RawNotification,
        conn: &Connection,
        ctx: &Ctx,
        e: &FitbitEntry,
    ) -> Result<Vec<NormalizedEvent>, NormalizeError> {
        if conn.status != ConnectionStatus::Revoked {
            ctx.state.revoke_connection(&conn.user_id).await?;
            tracing::info!("Fitbit user revoked access; connection revoked");
        }
        let user = terra_user(conn);
        let body = StatusEvent {
            event_type: EventType::Deauth.as_str(),
            user: &user,
            status: "success",
            message: "User has deauthenticated",
        };
        // Per connection: Fitbit's notification has only a date, and the same account
        // can revoke, reconnect (a new user) and revoke again that day.
        let id = stable_id(&[
            "fitbit",
            &e.owner_id,
            &e.collection_type,
            &e.date,
            &conn.user_id,
        ]);
        Ok(vec![build_event(id, EventType::Deauth, conn, raw, &body)?])
    }

    fn connection_error(
        raw: &RawNotification,
        conn: &Connection,
        message: &'static str,
    ) -> Result<NormalizedEvent, NormalizeError> {
        let key = pulsegate_schema::stable_id(&["fitbit", &raw.id]);
        crate::events::connection_error("fitbit", &key, conn, raw, message)
    }

    /// Fitbit answered 410 Gone: the API is shut down. The connection is told once
    /// (`connection_error` with [`RETIRED`]); the marker in its metadata makes later
    /// notifications a counted drop. The same notification processed again (its event
    /// was not stored) yields the same event.
    async fn retired(
        raw: &RawNotification,
        conn: &Connection,
        ctx: &Ctx,
    ) -> Result<NormalizedEvent, NormalizeError> {
        let current = Self::fresh(conn, ctx);
        match current.metadata.get(RETIRED_MARKER) {
            Some(by) if *by != raw.id => {
                return Err(NormalizeError::dropped(
                    "provider_retired",
                    "the Fitbit Web API is shut down; the connection was told already",
                ))
            }
            Some(_) => {}
            None => {
                let mut marked = current.clone();
                marked
                    .metadata
                    .insert(RETIRED_MARKER.to_string(), raw.id.clone());
                ctx.state.put_connection(&marked).await?;
                tracing::info!("Fitbit answered 410 Gone; the connection is told once");
            }
        }
        let key = stable_id(&["fitbit", "retired", &conn.user_id]);
        crate::events::connection_error("fitbit", &key, conn, raw, RETIRED)
    }
}

/// Days per historical window by default (the day endpoints take one call per day).
pub const WINDOW_DAYS: u32 = 7;

/// Pages of 100 activity logs followed for one window at most.
const MAX_LOG_PAGES: usize = 50;

impl FitbitNormalizer {
    /// The days `[start, end)` of `data_type` through the push path's day endpoints and
    /// mapping (activity logs through the list endpoint, by the day they started).
    async fn days(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        data_type: EventType,
        (start, end): (NaiveDate, NaiveDate),
    ) -> Result<RangeData, NormalizeError> {
        let off = self.client.offset(&Self::fresh(conn, ctx), ctx).await?;
        let mut out = Vec::new();
        macro_rules! fetched {
            ($call:expr) => {
                match $call.await? {
                    Authorized::Ok(v) => Some(v),
                    Authorized::NotFound => None,
                    Authorized::ConnectionError(m) => return Ok(RangeData::ConnectionError(m)),
                }
            };
        }
        match data_type {
            EventType::Daily => {
                for day in range::days(start, end) {
                    let date = range::ymd(day);
                    let c = Self::fresh(conn, ctx);
                    if let Some(d) =
                        fetched!(self.client.daily(&c, ctx, &conn.provider_user_id, &date))
                    {
                        if let Some(s) = &d.summary {
                            out.push(range::to_value(&mapping::map_daily(s, day, off))?);
                        }
                    }
                }
            }
            EventType::Sleep => {
                for day in range::days(start, end) {
                    let c = Self::fresh(conn, ctx);
                    if let Some(r) = fetched!(self.client.sleep(&c, ctx, &range::ymd(day))) {
                        for log in &r.sleep {
                            if let Some(s) = mapping::map_sleep(log, off) {
                                out.push(range::to_value(&s)?);
                            }
                        }
                    }
                }
            }
            EventType::Body => {
                for day in range::days(start, end) {
                    let c = Self::fresh(conn, ctx);
                    if let Some(r) = fetched!(self.client.weight(&c, ctx, &range::ymd(day))) {
                        if let Some(b) = mapping::map_body(&r.weight, day, off) {
                            out.push(range::to_value(&b)?);
                        }
                    }
                }
            }
            EventType::Activity => {
                let before = range::ymd(range::prev_day(start));
                let mut offset = 0usize;
                for _ in 0..MAX_LOG_PAGES {
                    let c = Self::fresh(conn, ctx);
                    let Some(list) =
                        fetched!(self.client.activity_logs_from(&c, ctx, &before, offset))
                    else {
                        break;
                    };
                    let n = list.activities.len();
                    let mut past_end = false;
                    for log in &list.activities {
                        let day = log.start().map(|s| s.date_naive());
                        past_end |= day.is_some_and(|d| d >= end);
                        if day.is_some_and(|d| d >= start && d < end) {
                            if let Some(a) = mapping::map_activity_log(log) {
                                out.push(range::to_value(&a)?);
                            }
                        }
                    }
                    if n < 100 || past_end {
                        break;
                    }
                    offset += n;
                }
            }
            other => return Err(range::unsupported("Fitbit", other)),
        }
        Ok(RangeData::Objects(out))
    }
}

fn events_or_nothing(events: Vec<NormalizedEvent>) -> Outcome {
    if events.is_empty() {
        Outcome::Nothing
    } else {
        Outcome::Events(events)
    }
}

#[async_trait]
impl ProviderNormalizer for FitbitNormalizer {
    fn provider(&self) -> Provider {
        Provider::Fitbit
    }

    /// Fitbit notifications carry no time or version (a user syncing twice in a day
    /// sends the same entry twice, both meaning "refetch"), so only redeliveries of the
    /// same ingested notification are duplicates.
    fn dedupe_key(&self, raw: &RawNotification) -> Option<String> {
        Self::parse(raw).map(|_| stable_id(&["fitbit", &raw.id]))
    }

    fn handles_revoked(&self, raw: &RawNotification) -> bool {
        Self::parse(raw).is_some_and(|es| es.iter().any(FitbitEntry::is_revocation))
    }

    /// Weight/fat logs and activity logs (see [`write`]).
    async fn write(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        op: WriteOp,
    ) -> Result<WriteResult, NormalizeError> {
        write::write(&self.client, conn, ctx, op).await
    }

    fn range_support(&self, data_type: EventType) -> Option<RangeSupport> {
        RangeSupport::for_types(
            data_type,
            &[
                EventType::Activity,
                EventType::Sleep,
                EventType::Daily,
                EventType::Body,
            ],
            WINDOW_DAYS,
        )
    }

    /// `daily`, `sleep`, `body`: the push path's day endpoints, one call per day;
    /// `activity`: the activity log list from the window's first day.
    async fn fetch_range(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        data_type: EventType,
        start: NaiveDate,
        end: NaiveDate,
        _with_samples: bool,
    ) -> Result<RangeData, NormalizeError> {
        self.days(conn, ctx, data_type, (start, end)).await
    }

    async fn normalize(
        &self,
        raw: &RawNotification,
        conn: &Connection,
        ctx: &Ctx,
    ) -> Result<Vec<NormalizedEvent>, NormalizeError> {
        let entries = FitbitEntry::parse_all(raw.body.get().as_bytes()).map_err(|e| {
            NormalizeError::dropped("malformed", format!("not a Fitbit notification: {e}"))
        })?;
        if let Some(other) = entries.iter().find(|e| e.owner_id != raw.provider_user_id) {
            return Err(NormalizeError::dropped(
                "owner_mismatch",
                format!(
                    "ownerId {} differs from the notification's user {}",
                    other.owner_id, raw.provider_user_id
                ),
            ));
        }
        if let Some(revoke) = entries.iter().find(|e| e.is_revocation()) {
            return Self::deauthorized(raw, conn, ctx, revoke).await;
        }
        if conn.status == ConnectionStatus::Revoked {
            return Err(NormalizeError::dropped("revoked", "connection is revoked"));
        }
        // The same collection and day twice in one batch is fetched once.
        let mut unique: Vec<&FitbitEntry> = Vec::new();
        for e in &entries {
            if !unique
                .iter()
                .any(|u| u.collection_type == e.collection_type && u.date == e.date)
            {
                unique.push(e);
            }
        }
        let mut events = Vec::new();
        let mut unsupported = Vec::new();
        let mut offset = None;
        for e in unique {
            match self.entry(raw, conn, ctx, e, &mut offset).await? {
                Outcome::Events(mut ev) => events.append(&mut ev),
                Outcome::Nothing => {}
                Outcome::Unsupported => unsupported.push(e.collection_type.clone()),
                Outcome::ConnectionError(why) if why == RETIRED => {
                    return match Self::retired(raw, conn, ctx).await {
                        Ok(e) => {
                            events.push(e);
                            Ok(events)
                        }
                        Err(NormalizeError::Dropped { .. }) if !events.is_empty() => Ok(events),
                        Err(e) => Err(e),
                    };
                }
                Outcome::ConnectionError(why) => {
                    events.push(Self::connection_error(raw, conn, why)?);
                    return Ok(events);
                }
            }
        }
        if events.is_empty() {
            return Err(if unsupported.len() == entries.len() {
                NormalizeError::dropped("unsupported_event", unsupported.join(","))
            } else {
                NormalizeError::dropped("no_data", "Fitbit has no data for the notified day")
            });
        }
        if !unsupported.is_empty() {
            // Mixed batch: the mapped entries go out, the others are counted.
            metrics::counter!(
                "pulsegate_normalizer_dropped_total",
                "provider" => "fitbit",
                "reason" => "unsupported_event"
            )
            .increment(unsupported.len() as u64);
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ingests_per_owner_body() {
        let body = br#"[{"collectionType":"activities","date":"2010-03-01","ownerId":"X1Y2Z3","ownerType":"user","subscriptionId":"2345"}]"#;
        let es = FitbitEntry::parse_all(body).unwrap();
        assert_eq!(es.len(), 1);
        assert_eq!(es[0].collection_type, "activities");
        assert_eq!(es[0].owner_id, "X1Y2Z3");
        assert!(!es[0].is_revocation());
        let revoke = br#"[{"collectionType":"userRevokedAccess","date":"2024-05-01","ownerId":"X1Y2Z3","ownerType":"user","subscriptionId":"1"}]"#;
        assert!(FitbitEntry::parse_all(revoke).unwrap()[0].is_revocation());
        assert!(FitbitEntry::parse_all(b"{}").is_err());
        assert!(FitbitEntry::parse_all(br#"[{"date":"2024-05-01"}]"#).is_err());
    }

    #[test]
    fn config_defaults() {
        let c: FitbitConfig =
            serde_json::from_str(r#"{"client_id": "23ABCD", "client_secret": "s"}"#).unwrap();
        assert_eq!(c.api_base, "https://api.fitbit.com");
        assert!(c.token_url.is_empty());
        assert!(c.activity_logs);
        assert_eq!(c.request_timeout, Duration::from_secs(10));
        assert!(serde_json::from_str::<FitbitConfig>(r#"{"secret": "x"}"#).is_err());
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = FitbitEntry::parse_all(&bytes);
        }
    }
}

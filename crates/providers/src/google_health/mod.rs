//! Google Health API (Fitbit's successor; Terra's `GOOGLE_HEALTH`). A notification is a
//! JSON array of one user's pointers `{"data": {healthUserId, dataType, operation,
//! intervals}}` carrying no data: each names a data type and the time ranges that
//! changed. The affected local days are rebuilt from the API with the user's token and
//! mapped into Terra's `daily` (dailyRollUp + daily summaries), `sleep` (sessions ending
//! that day, enriched with the night's summaries), `activity` (exercise sessions) and
//! `body` (weight, body fat, height, HRV and SpO2 samples). See
//! docs/providers/google-health.md.
//!
//! Google has no deauthorization push: a refresh answered `invalid_grant` is the user's
//! revocation (`deauth`, connection revoked). A type whose scope the user did not grant
//! is skipped, never a connection error. `DELETE` of a day-aggregated type rebuilds the
//! day; `DELETE` of a session (sleep, exercise) carries no data-point id, so it is
//! dropped and counted (`delete_unsupported`).

mod descriptor;
mod plan;
mod plugin;
pub mod verify;
#[cfg(test)]
mod api_tests;
mod client;
pub mod mapping;
pub mod types;

pub use descriptor::DESCRIPTOR;
pub use plugin::GoogleHealthPlugin;

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use pulsegate_schema::terra::{DataEvent, StatusEvent};
use pulsegate_schema::{
    stable_id, Connection, ConnectionStatus, EventType, NormalizedEvent, Provider, RawNotification,
    Secret, PAYLOAD_VERSION,
};
use serde::{Deserialize, Serialize};

pub use client::{granted, GoogleHealthClient, Got, ACCOUNT_NOT_LINKED};

use self::client::{day_filter, DataType};
use self::plan::{plan, Kind, Work};
pub use self::plan::kinds_of;
use self::types::{DataPoint, Notification};
use super::range;
use crate::api::REVOKED_GRANT;
use crate::events::{build_event, terra_user};
use crate::{Ctx, NormalizeError, ProviderNormalizer, RangeData, RangeSupport, RetryConfig};

/// Google Health API settings (`[normalizer.google_health]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GoogleHealthConfig {
    /// Base URL of the API. Default `https://health.googleapis.com`; tests point it at a
    /// mock on 127.0.0.1.
    pub api_base: String,
    /// Google's OAuth2 token endpoint. Default `https://oauth2.googleapis.com/token`.
    pub token_url: String,
    /// The OAuth client's id (Google Cloud console, "Web application").
    pub client_id: String,
    /// The OAuth client's secret. Never logged.
    pub client_secret: Secret,
    /// Whole-request timeout for one API call. Default 10s.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// The application's rate limits (default: 300 requests per user per minute).
    pub rate_limit: crate::ratelimit::RateLimitConfig,
    /// Days one notification may make pulsegate rebuild (the latest ones of a longer
    /// interval). Default 7.
    pub max_days_per_notification: u32,
}

impl Default for GoogleHealthConfig {
    fn default() -> Self {
        Self {
            api_base: "https://health.googleapis.com".into(),
            token_url: "https://oauth2.googleapis.com/token".into(),
            client_id: String::new(),
            client_secret: Secret::default(),
            request_timeout: Duration::from_secs(10),
            rate_limit: crate::ratelimit::RateLimitConfig::from(descriptor::DESCRIPTOR.rate_limits),
            max_days_per_notification: 7,
        }
    }
}

/// The Google Health normalizer.
pub struct GoogleHealthNormalizer {
    client: GoogleHealthClient,
    max_days: u32,
}

/// What a fetch came to: the data, or a `connection_error` message.
type Fetch<T> = Result<Result<T, &'static str>, NormalizeError>;

/// Unwraps a [`Got`]: data, or (not granted) nothing and a count, or return the
/// connection error.
macro_rules! take {
    ($got:expr, $t:expr) => {
        match $got.await? {
            Got::Data(v) => v,
            Got::NotGranted => {
                not_granted($t);
                Default::default()
            }
            Got::ConnectionError(m) => return Ok(Err(m)),
        }
    };
}

fn not_granted(t: DataType) {
    tracing::debug!(
        data_type = t.path,
        "scope not granted by the user; type skipped"
    );
    count_dropped("scope_not_granted", 1);
}

fn count_dropped(reason: &'static str, n: u64) {
    metrics::counter!(
        "pulsegate_normalizer_dropped_total",
        "provider" => "google_health",
        "reason" => reason
    )
    .increment(n);
}

/// Pages of one list call followed at most on the push path.
const PUSH_PAGES: u32 = 40;

impl GoogleHealthNormalizer {
    pub fn new(
        cfg: &GoogleHealthConfig,
        retry: &RetryConfig,
        limiters: &crate::ratelimit::Limiters,
    ) -> Result<Self, NormalizeError> {
        Ok(Self {
            client: GoogleHealthClient::new(cfg, retry, limiters)?,
            max_days: cfg.max_days_per_notification,
        })
    }

    fn parse(raw: &RawNotification) -> Option<Vec<Notification>> {
        serde_json::from_str(raw.body.get()).ok()
    }

    /// The days' offset: the notification's, else the user's current one, else UTC.
    async fn offset(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        hint: Option<FixedOffset>,
    ) -> Result<FixedOffset, NormalizeError> {
        if let Some(o) = hint {
            return Ok(o);
        }
        Ok(self
            .client
            .utc_offset(conn, ctx)
            .await?
            .unwrap_or_else(|| FixedOffset::east_opt(0).expect("UTC")))
    }

    async fn list_days(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        t: DataType,
        (from, to): (NaiveDate, NaiveDate),
        pages: u32,
    ) -> Result<Got<Vec<DataPoint>>, NormalizeError> {
        let size = if t == client::SLEEP || t == client::EXERCISE {
            25
        } else {
            1000
        };
        self.client
            .list(conn, ctx, t, &day_filter(t, from, to), Some(size), pages)
            .await
    }

    /// `daily` for the local days `[from, to)`.
    async fn daily(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        days: (NaiveDate, NaiveDate),
        offset: FixedOffset,
        pages: u32,
    ) -> Fetch<Vec<(NaiveDate, pulsegate_schema::terra::Daily)>> {
        let mut rollups = Vec::new();
        for t in client::DAILY_ROLLUPS {
            let got: Vec<_> = take!(self.client.daily_rollup(conn, ctx, t, days.0, days.1), t);
            rollups.extend(got);
        }
        let mut summaries = Vec::new();
        for t in client::DAILY_SUMMARIES {
            let got: Vec<_> = take!(self.list_days(conn, ctx, t, days, pages), t);
            summaries.extend(got);
        }
        Ok(Ok(range::days(days.0, days.1)
            .filter_map(|d| Some((d, mapping::map_daily(d, offset, &rollups, &summaries)?)))
            .collect()))
    }

    /// `sleep` for the sessions ending on the local days `[from, to)`.
    async fn sleep(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        days: (NaiveDate, NaiveDate),
        pages: u32,
    ) -> Fetch<Vec<pulsegate_schema::terra::Sleep>> {
        let sessions: Vec<DataPoint> = take!(
            self.list_days(conn, ctx, client::SLEEP, days, pages),
            client::SLEEP
        );
        let sessions = mapping::unique_sessions(&sessions);
        if sessions.is_empty() {
            return Ok(Ok(Vec::new()));
        }
        let mut summaries = Vec::new();
        for t in client::SLEEP_SUMMARIES {
            let got: Vec<_> = take!(self.list_days(conn, ctx, t, days, pages), t);
            summaries.extend(got);
        }
        // Breathing summaries are sampled at the session's end, which may be the day
        // after the window's last session started: one day more.
        let breath_days = (range::prev_day(days.0), range::next_day(days.1));
        let breathing: Vec<DataPoint> = take!(
            self.list_days(
                conn,
                ctx,
                client::RESPIRATORY_SLEEP_SUMMARY,
                breath_days,
                pages
            ),
            client::RESPIRATORY_SLEEP_SUMMARY
        );
        Ok(Ok(sessions
            .into_iter()
            .filter_map(|s| mapping::map_sleep(s, &summaries, &breathing))
            .collect()))
    }

    /// `activity` for the exercise sessions started on the local days `[from, to)`.
    async fn activities(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        days: (NaiveDate, NaiveDate),
        pages: u32,
    ) -> Fetch<Vec<(DataPoint, pulsegate_schema::terra::Activity)>> {
        let sessions: Vec<DataPoint> = take!(
            self.list_days(conn, ctx, client::EXERCISE, days, pages),
            client::EXERCISE
        );
        Ok(Ok(sessions
            .into_iter()
            .filter_map(|s| mapping::map_exercise(&s).map(|a| (s, a)))
            .collect()))
    }

    /// `body` for the local days `[from, to)`.
    async fn body(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        days: (NaiveDate, NaiveDate),
        offset: FixedOffset,
        pages: u32,
    ) -> Fetch<Vec<(NaiveDate, pulsegate_schema::terra::Body)>> {
        let mut samples = Vec::new();
        for t in client::BODY_SAMPLES {
            let got: Vec<_> = take!(self.list_days(conn, ctx, t, days, pages), t);
            samples.extend(got);
        }
        let mut summaries = Vec::new();
        for t in client::BODY_SUMMARIES {
            let got: Vec<_> = take!(self.list_days(conn, ctx, t, days, pages), t);
            summaries.extend(got);
        }
        // The latest height up to the window's end (lists are newest first).
        let height_filter = format!("height.sample_time.civil_time < \"{}\"", range::ymd(days.1));
        let heights: Vec<DataPoint> = take!(
            self.client
                .list(conn, ctx, client::HEIGHT, &height_filter, Some(1), 1),
            client::HEIGHT
        );
        Ok(Ok(range::days(days.0, days.1)
            .filter_map(|d| {
                let b = mapping::map_body(d, offset, &samples, heights.first(), &summaries)?;
                Some((d, b))
            })
            .collect()))
    }

    fn data_event<T: Serialize>(
        kind: EventType,
        key: &str,
        conn: &Connection,
        raw: &RawNotification,
        data: T,
    ) -> Result<NormalizedEvent, NormalizeError> {
        let user = terra_user(conn);
        // The id covers the mapped content: the same data keeps its id (a retry, a
        // reprocessing), changed data gets a new one.
        let content =
            serde_json::to_string(&data).map_err(|e| NormalizeError::Encode(e.to_string()))?;
        let id = stable_id(&[
            "google_health",
            kind.as_str(),
            &conn.provider_user_id,
            key,
            &content,
        ]);
        let body = DataEvent {
            event_type: kind.as_str(),
            user: &user,
            data: vec![data],
            version: PAYLOAD_VERSION,
        };
        build_event(id, kind, conn, raw, &body)
    }

    /// One rebuild's events.
    async fn work(
        &self,
        raw: &RawNotification,
        conn: &Connection,
        ctx: &Ctx,
        w: Work,
        hint: Option<FixedOffset>,
        exercise: &[(DateTime<Utc>, DateTime<Utc>)],
    ) -> Fetch<Vec<NormalizedEvent>> {
        let days = (w.day, range::next_day(w.day));
        let mut out = Vec::new();
        let kind = w.kind.event_type();
        match w.kind {
            Kind::Daily => {
                let offset = self.offset(conn, ctx, hint).await?;
                let daily = match self.daily(conn, ctx, days, offset, PUSH_PAGES).await? {
                    Ok(d) => d,
                    Err(m) => return Ok(Err(m)),
                };
                for (d, x) in daily {
                    out.push(Self::data_event(kind, &range::ymd(d), conn, raw, x)?);
                }
            }
            Kind::Body => {
                let offset = self.offset(conn, ctx, hint).await?;
                let body = match self.body(conn, ctx, days, offset, PUSH_PAGES).await? {
                    Ok(b) => b,
                    Err(m) => return Ok(Err(m)),
                };
                for (d, x) in body {
                    out.push(Self::data_event(kind, &range::ymd(d), conn, raw, x)?);
                }
            }
            Kind::Sleep => {
                let sleeps = match self.sleep(conn, ctx, days, PUSH_PAGES).await? {
                    Ok(s) => s,
                    Err(m) => return Ok(Err(m)),
                };
                for s in sleeps {
                    let id = s.metadata.summary_id.clone().unwrap_or_default();
                    out.push(Self::data_event(kind, &id, conn, raw, s)?);
                }
            }
            Kind::Activity => {
                let found = match self.activities(conn, ctx, days, PUSH_PAGES).await? {
                    Ok(a) => a,
                    Err(m) => return Ok(Err(m)),
                };
                for (p, a) in found {
                    if !overlaps(&p, exercise) {
                        continue;
                    }
                    let id = a.metadata.summary_id.clone();
                    out.push(Self::data_event(kind, &id, conn, raw, a)?);
                }
            }
        }
        Ok(Ok(out))
    }

    /// The user revoked the application (Google refused the refresh token with
    /// `invalid_grant`): the connection is revoked and `deauth` sent, once.
    async fn deauthorized(
        raw: &RawNotification,
        conn: &Connection,
        ctx: &Ctx,
    ) -> Result<Vec<NormalizedEvent>, NormalizeError> {
        if conn.status != ConnectionStatus::Revoked {
            ctx.state.revoke_connection(&conn.user_id).await?;
            tracing::info!("Google refused the refresh token (invalid_grant); connection revoked");
        }
        let user = terra_user(conn);
        let body = StatusEvent {
            event_type: EventType::Deauth.as_str(),
            user: &user,
            status: "success",
            message: "User has deauthenticated",
        };
        let id = stable_id(&["google_health", "deauth", &conn.user_id]);
        Ok(vec![build_event(id, EventType::Deauth, conn, raw, &body)?])
    }

    fn connection_error(
        raw: &RawNotification,
        conn: &Connection,
        message: &'static str,
    ) -> Result<NormalizedEvent, NormalizeError> {
        let key = stable_id(&["google_health", &raw.id]);
        if message != ACCOUNT_NOT_LINKED {
            return crate::events::connection_error("google_health", &key, conn, raw, message);
        }
        // Terra's own event for a Google account with no data source.
        tracing::warn!(user_id = %conn.user_id, "Google account without a Google Health profile");
        let user = terra_user(conn);
        let t = EventType::GoogleNoDatasource;
        let body = StatusEvent {
            event_type: t.as_str(),
            user: &user,
            status: "warning",
            message,
        };
        build_event(stable_id(&[&key, t.as_str()]), t, conn, raw, &body)
    }

    /// The Terra objects of `data_type` on the local days `[start, end)`.
    async fn range(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        data_type: EventType,
        days: (NaiveDate, NaiveDate),
    ) -> Result<RangeData, NormalizeError> {
        let pages = range::MAX_PAGES;
        let fetched = match data_type {
            EventType::Daily => {
                let offset = self.offset(conn, ctx, None).await?;
                self.daily(conn, ctx, days, offset, pages)
                    .await?
                    .map(|v| values(v.into_iter().map(|(_, d)| d)))
            }
            EventType::Body => {
                let offset = self.offset(conn, ctx, None).await?;
                self.body(conn, ctx, days, offset, pages)
                    .await?
                    .map(|v| values(v.into_iter().map(|(_, b)| b)))
            }
            EventType::Sleep => self
                .sleep(conn, ctx, days, pages)
                .await?
                .map(|v| values(v.into_iter())),
            EventType::Activity => self
                .activities(conn, ctx, days, pages)
                .await?
                .map(|v| values(v.into_iter().map(|(_, a)| a))),
            other => return Err(range::unsupported("Google Health", other)),
        };
        match fetched {
            Ok(objects) => Ok(RangeData::Objects(objects?)),
            Err(m) => Ok(RangeData::ConnectionError(m)),
        }
    }
}

fn values<T: Serialize>(
    items: impl Iterator<Item = T>,
) -> Result<Vec<serde_json::Value>, NormalizeError> {
    items.map(|x| range::to_value(&x)).collect()
}

/// True when the session overlaps a notified exercise interval (or none was given).
fn overlaps(p: &DataPoint, notified: &[(DateTime<Utc>, DateTime<Utc>)]) -> bool {
    if notified.is_empty() {
        return true;
    }
    let Some(e) = p.exercise.as_ref() else {
        return false;
    };
    let (Some(s), Some(t)) = (e.interval.start(), e.interval.end()) else {
        return false;
    };
    let (s, t) = (s.with_timezone(&Utc), t.with_timezone(&Utc));
    notified.iter().any(|(a, b)| s <= *b && *a <= t)
}

/// Days per historical window by default (rollups cover up to 14 days per call).
pub const WINDOW_DAYS: u32 = 7;

#[async_trait]
impl ProviderNormalizer for GoogleHealthNormalizer {
    fn provider(&self) -> Provider {
        Provider::GoogleHealth
    }

    /// Google repeats identical pointers for later changes in the same interval, so only
    /// redeliveries of the same ingested notification are duplicates.
    fn dedupe_key(&self, raw: &RawNotification) -> Option<String> {
        Self::parse(raw).map(|_| stable_id(&["google_health", &raw.id]))
    }

    /// The one Terra type every entry changes, when there is one.
    fn data_type(&self, raw: &RawNotification) -> Option<EventType> {
        let entries = Self::parse(raw)?;
        let kinds: BTreeSet<&str> = entries
            .iter()
            .flat_map(|e| kinds_of(&e.data.data_type).iter().map(|k| k.as_str()))
            .collect();
        let mut it = kinds.into_iter();
        match (it.next(), it.next()) {
            (Some(one), None) => {
                serde_json::from_value(serde_json::Value::String(one.to_string())).ok()
            }
            _ => None,
        }
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

    /// The push path's fetches over the whole window (rollups in pieces of ≤ 14 days,
    /// lists paged); the days are the user's local days at their current UTC offset
    /// (settings), UTC without the settings scope.
    async fn fetch_range(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        data_type: EventType,
        start: NaiveDate,
        end: NaiveDate,
        _with_samples: bool,
    ) -> Result<RangeData, NormalizeError> {
        if start >= end {
            return Ok(RangeData::Objects(Vec::new()));
        }
        self.range(conn, ctx, data_type, (start, end)).await
    }

    async fn normalize(
        &self,
        raw: &RawNotification,
        conn: &Connection,
        ctx: &Ctx,
    ) -> Result<Vec<NormalizedEvent>, NormalizeError> {
        let entries: Vec<Notification> = serde_json::from_str(raw.body.get()).map_err(|e| {
            NormalizeError::dropped(
                "malformed",
                format!("not a Google Health notification: {e}"),
            )
        })?;
        if let Some(other) = entries
            .iter()
            .find(|e| e.data.health_user_id != raw.provider_user_id)
        {
            return Err(NormalizeError::dropped(
                "owner_mismatch",
                format!(
                    "healthUserId {} differs from the notification's user {}",
                    other.data.health_user_id, raw.provider_user_id
                ),
            ));
        }
        if conn.status == ConnectionStatus::Revoked {
            return Err(NormalizeError::dropped("revoked", "connection is revoked"));
        }
        let plan = plan(&entries, self.max_days);
        if plan.deletes_dropped > 0 {
            count_dropped("delete_unsupported", plan.deletes_dropped as u64);
        }
        if plan.works.is_empty() {
            return Err(if plan.deletes_dropped > 0 {
                NormalizeError::dropped(
                    "delete_unsupported",
                    "a DELETE of a sleep or exercise session names no data point",
                )
            } else if !plan.unsupported.is_empty() && plan.no_interval == 0 {
                NormalizeError::dropped("unsupported_event", plan.unsupported.join(","))
            } else {
                NormalizeError::dropped("malformed", "no usable interval in the notification")
            });
        }
        let mut events = Vec::new();
        for (w, hint) in &plan.works {
            match self.work(raw, conn, ctx, *w, *hint, &plan.exercise).await? {
                Ok(mut ev) => events.append(&mut ev),
                Err(m) if m == REVOKED_GRANT => {
                    return Self::deauthorized(raw, conn, ctx).await;
                }
                Err(m) => {
                    events.push(Self::connection_error(raw, conn, m)?);
                    return Ok(events);
                }
            }
        }
        if !plan.unsupported.is_empty() {
            count_dropped("unsupported_event", plan.unsupported.len() as u64);
        }
        if events.is_empty() {
            return Err(NormalizeError::dropped(
                "no_data",
                "Google Health has no data (or no granted scope) for the notified days",
            ));
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults() {
        let c: GoogleHealthConfig =
            serde_json::from_str(r#"{"client_id": "x.apps.googleusercontent.com"}"#).unwrap();
        assert_eq!(c.api_base, "https://health.googleapis.com");
        assert_eq!(c.token_url, "https://oauth2.googleapis.com/token");
        assert_eq!(c.max_days_per_notification, 7);
        assert!(serde_json::from_str::<GoogleHealthConfig>(r#"{"secret": "x"}"#).is_err());
    }
}

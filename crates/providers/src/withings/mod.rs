//! Withings. Ingest turns the form-encoded notification into a JSON object `{userid,
//! appli, startdate?, enddate?, date?, deviceid?, action?}`: a pointer to a time range
//! of one category of data, fetched with the user's token (`POST`, bearer) and mapped
//! into Terra's `body` (appli 1 weight, 4 blood pressure), `daily` (16 activity) and
//! `sleep` (44). Appli 46 `unlink`/`delete` revokes the connection (`deauth`).
//! See docs/providers/withings.md.

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
pub use plugin::WithingsPlugin;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use crate::withings::descriptor::OAUTH;
use pulsegate_schema::terra::{DataEvent, StatusEvent};
use pulsegate_schema::{
    stable_id, Connection, ConnectionStatus, EventType, NormalizedEvent, Provider, RawNotification,
    Secret, PAYLOAD_VERSION,
};
use serde::{Deserialize, Serialize};

pub use client::WithingsClient;

use super::range;
use crate::api::Authorized;
use crate::events::{build_event, terra_user};
use crate::{Ctx, NormalizeError, ProviderNormalizer, RangeData, RangeSupport, RetryConfig};

/// Withings API settings (`[normalizer.withings]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WithingsConfig {
    /// Base URL of Withings' API. Default `https://wbsapi.withings.net`; tests point it
    /// at a mock on 127.0.0.1.
    pub api_base: String,
    /// OAuth2 token endpoint (`action=requesttoken`). Empty (default) =
    /// `{api_base}/v2/oauth2`.
    pub token_url: String,
    /// The Withings application's client id (sent in the token request body).
    pub client_id: String,
    /// The application's client secret. Never logged.
    pub client_secret: Secret,
    /// Whole-request timeout for one API call. Default 10s.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// The application's rate limits (docs/BACKFILL.md has the defaults).
    pub rate_limit: crate::ratelimit::RateLimitConfig,
}

impl Default for WithingsConfig {
    fn default() -> Self {
        Self {
            api_base: OAUTH.api_base.into(),
            token_url: String::new(),
            client_id: String::new(),
            client_secret: Secret::default(),
            request_timeout: Duration::from_secs(10),
            rate_limit: crate::ratelimit::RateLimitConfig::from(descriptor::DESCRIPTOR.rate_limits),
        }
    }
}

/// The notification ingest stored.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct WithingsNotification {
    pub userid: u64,
    pub appli: u32,
    #[serde(default)]
    pub startdate: Option<i64>,
    #[serde(default)]
    pub enddate: Option<i64>,
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub deviceid: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
}

impl WithingsNotification {
    pub fn parse(body: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(body)
    }

    /// Deterministic id of the change this notification announces.
    pub fn key(&self) -> String {
        let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        stable_id(&[
            "withings",
            &self.userid.to_string(),
            &self.appli.to_string(),
            &opt(self.startdate),
            &opt(self.enddate),
            self.date.as_deref().unwrap_or(""),
            self.action.as_deref().unwrap_or(""),
        ])
    }

    /// The user unlinked the application or was deleted.
    pub fn is_deauthorization(&self) -> bool {
        self.appli == 46 && matches!(self.action.as_deref(), Some("unlink" | "delete"))
    }

    /// The period in Unix seconds: `startdate..enddate`, else the UTC day of `date`.
    pub fn range(&self) -> Option<(i64, i64)> {
        match (self.startdate, self.enddate, &self.date) {
            (Some(s), Some(e), _) if s <= e => Some((s, e)),
            (_, _, Some(d)) => {
                let day = NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()?;
                let start = day.and_hms_opt(0, 0, 0)?.and_utc().timestamp();
                Some((start, start + 86_399))
            }
            _ => None,
        }
    }

    /// The days (`YYYY-MM-DD`) the period touches: `date` itself, else the UTC days of
    /// `startdate` and `enddate`.
    pub fn days(&self) -> Option<(String, String)> {
        if let Some(d) = &self.date {
            NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()?;
            return Some((d.clone(), d.clone()));
        }
        let (s, e) = self.range()?;
        let day = |t: i64| {
            DateTime::<Utc>::from_timestamp(t, 0).map(|d| d.format("%Y-%m-%d").to_string())
        };
        Some((day(s)?, day(e)?))
    }
}

/// Days per historical window by default.
pub const WINDOW_DAYS: u32 = 30;

/// The Withings normalizer.
pub struct WithingsNormalizer {
    client: WithingsClient,
}

impl WithingsNormalizer {
    pub fn new(
        cfg: &WithingsConfig,
        retry: &RetryConfig,
        limiters: &crate::ratelimit::Limiters,
    ) -> Result<Self, NormalizeError> {
        Ok(Self {
            client: WithingsClient::new(cfg, retry, limiters)?,
        })
    }

    fn parse(raw: &RawNotification) -> Option<WithingsNotification> {
        WithingsNotification::parse(raw.body.get().as_bytes()).ok()
    }

    fn data_event<T: Serialize>(
        kind: EventType,
        id_parts: &[&str],
        conn: &Connection,
        raw: &RawNotification,
        data: T,
    ) -> Result<NormalizedEvent, NormalizeError> {
        let user = terra_user(conn);
        // Same data → same id (retries, reprocessing); changed data → a new id.
        let content =
            serde_json::to_string(&data).map_err(|e| NormalizeError::Encode(e.to_string()))?;
        let mut parts = vec!["withings", kind.as_str()];
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

    fn status_event(
        kind: EventType,
        id: String,
        status: &str,
        message: &str,
        conn: &Connection,
        raw: &RawNotification,
    ) -> Result<Vec<NormalizedEvent>, NormalizeError> {
        let user = terra_user(conn);
        let body = StatusEvent {
            event_type: kind.as_str(),
            user: &user,
            status,
            message,
        };
        Ok(vec![build_event(id, kind, conn, raw, &body)?])
    }

    /// `body`: the measures of `[start, end)`, one Terra `body` per UTC day with
    /// measures; `daily`: `getactivity` per day; `sleep`: the nights `getsummary`
    /// lists for those days. Each mapped as the push path maps it.
    async fn range(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        data_type: EventType,
        (start, end): (NaiveDate, NaiveDate),
    ) -> Result<RangeData, NormalizeError> {
        let c = &self.client;
        let (from, to) = (range::ymd(start), range::ymd(range::prev_day(end)));
        let mut out = Vec::new();
        match data_type {
            EventType::Body => {
                let (s, e) = (range::utc_midnight(start), range::utc_midnight(end) - 1);
                let groups = match c.getmeas(conn, ctx, s, e).await? {
                    Authorized::Ok(m) => m.measuregrps,
                    Authorized::NotFound => Vec::new(),
                    Authorized::ConnectionError(m) => return Ok(RangeData::ConnectionError(m)),
                };
                for day in range::days(start, end) {
                    let (ds, de) = (range::utc_midnight(day), range::utc_midnight(day) + 86_399);
                    let same_day: Vec<mapping::MeasureGroup> = groups
                        .iter()
                        .filter(|g| g.date.is_some_and(|t| t >= ds && t <= de))
                        .cloned()
                        .collect();
                    if same_day.is_empty() {
                        continue;
                    }
                    if let Some(b) = mapping::map_body(&same_day, ds, de) {
                        out.push(range::to_value(&b)?);
                    }
                }
            }
            EventType::Daily => match c.getactivity(conn, ctx, &from, &to).await? {
                Authorized::Ok(a) => {
                    for day in &a.activities {
                        if !range::day_within(day.date.as_deref(), start, end) {
                            continue;
                        }
                        if let Some(d) = mapping::map_daily(day) {
                            out.push(range::to_value(&d)?);
                        }
                    }
                }
                Authorized::NotFound => {}
                Authorized::ConnectionError(m) => return Ok(RangeData::ConnectionError(m)),
            },
            EventType::Sleep => match c.sleep_summary(conn, ctx, &from, &to).await? {
                Authorized::Ok(s) => {
                    for night in &s.series {
                        if let Some(x) = mapping::map_sleep(night) {
                            out.push(range::to_value(&x)?);
                        }
                    }
                }
                Authorized::NotFound => {}
                Authorized::ConnectionError(m) => return Ok(RangeData::ConnectionError(m)),
            },
            other => return Err(range::unsupported("Withings", other)),
        }
        Ok(RangeData::Objects(out))
    }

    fn no_range() -> NormalizeError {
        NormalizeError::dropped("malformed", "notification has no usable date range")
    }

    async fn fetch(
        &self,
        raw: &RawNotification,
        conn: &Connection,
        ctx: &Ctx,
        n: &WithingsNotification,
    ) -> Result<Result<Vec<NormalizedEvent>, &'static str>, NormalizeError> {
        let user = n.userid.to_string();
        let mut events = Vec::new();
        match n.appli {
            1 | 4 => {
                let (start, end) = n.range().ok_or_else(Self::no_range)?;
                match self.client.getmeas(conn, ctx, start, end).await? {
                    Authorized::Ok(m) => {
                        if let Some(b) = mapping::map_body(&m.measuregrps, start, end) {
                            let (s, e) = (start.to_string(), end.to_string());
                            events.push(Self::data_event(
                                EventType::Body,
                                &[&user, &s, &e],
                                conn,
                                raw,
                                b,
                            )?);
                        }
                    }
                    Authorized::NotFound => {}
                    Authorized::ConnectionError(why) => return Ok(Err(why)),
                }
            }
            16 => {
                let (from, to) = n.days().ok_or_else(Self::no_range)?;
                match self.client.getactivity(conn, ctx, &from, &to).await? {
                    Authorized::Ok(a) => {
                        for day in &a.activities {
                            if let Some(d) = mapping::map_daily(day) {
                                let date = day.date.clone().unwrap_or_default();
                                events.push(Self::data_event(
                                    EventType::Daily,
                                    &[&user, &date],
                                    conn,
                                    raw,
                                    d,
                                )?);
                            }
                        }
                    }
                    Authorized::NotFound => {}
                    Authorized::ConnectionError(why) => return Ok(Err(why)),
                }
            }
            44 => {
                let (from, to) = n.days().ok_or_else(Self::no_range)?;
                let range = n.range();
                match self.client.sleep_summary(conn, ctx, &from, &to).await? {
                    Authorized::Ok(s) => {
                        for night in &s.series {
                            // Only the nights overlapping the notified period.
                            let overlaps = match (range, night.startdate, night.enddate) {
                                (Some((a, b)), Some(s), Some(e)) => s <= b && e >= a,
                                _ => true,
                            };
                            if let (true, Some(sleep)) = (overlaps, mapping::map_sleep(night)) {
                                let id = sleep.metadata.summary_id.clone().unwrap_or_default();
                                events.push(Self::data_event(
                                    EventType::Sleep,
                                    &[&user, &id],
                                    conn,
                                    raw,
                                    sleep,
                                )?);
                            }
                        }
                    }
                    Authorized::NotFound => {}
                    Authorized::ConnectionError(why) => return Ok(Err(why)),
                }
            }
            other => {
                return Err(NormalizeError::dropped(
                    "unsupported_event",
                    format!("appli {other}"),
                ))
            }
        }
        Ok(Ok(events))
    }
}

#[async_trait]
impl ProviderNormalizer for WithingsNormalizer {
    fn provider(&self) -> Provider {
        Provider::Withings
    }

    fn data_type(&self, raw: &RawNotification) -> Option<EventType> {
        match crate::events::body_field(raw, "appli").as_deref()? {
            "1" | "4" => Some(EventType::Body),
            "16" => Some(EventType::Daily),
            "44" => Some(EventType::Sleep),
            _ => None,
        }
    }

    fn dedupe_key(&self, raw: &RawNotification) -> Option<String> {
        Self::parse(raw).map(|n| n.key())
    }

    fn handles_revoked(&self, raw: &RawNotification) -> bool {
        Self::parse(raw).is_some_and(|n| n.is_deauthorization())
    }

    fn range_support(&self, data_type: EventType) -> Option<RangeSupport> {
        RangeSupport::for_types(
            data_type,
            &[EventType::Body, EventType::Daily, EventType::Sleep],
            WINDOW_DAYS,
        )
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
        self.range(conn, ctx, data_type, (start, end)).await
    }

    async fn normalize(
        &self,
        raw: &RawNotification,
        conn: &Connection,
        ctx: &Ctx,
    ) -> Result<Vec<NormalizedEvent>, NormalizeError> {
        let n = WithingsNotification::parse(raw.body.get().as_bytes()).map_err(|e| {
            NormalizeError::dropped("malformed", format!("not a Withings notification: {e}"))
        })?;
        if n.userid.to_string() != raw.provider_user_id {
            return Err(NormalizeError::dropped(
                "owner_mismatch",
                format!(
                    "userid {} differs from the notification's user {}",
                    n.userid, raw.provider_user_id
                ),
            ));
        }
        if n.is_deauthorization() {
            if conn.status != ConnectionStatus::Revoked {
                ctx.state.revoke_connection(&conn.user_id).await?;
                tracing::info!("Withings user unlinked the application; connection revoked");
            }
            return Self::status_event(
                EventType::Deauth,
                n.key(),
                "success",
                "User has deauthenticated",
                conn,
                raw,
            );
        }
        if n.appli == 46 || n.action.as_deref() == Some("delete") {
            return Err(NormalizeError::dropped(
                "unsupported_event",
                format!(
                    "appli {} action {}",
                    n.appli,
                    n.action.as_deref().unwrap_or("-")
                ),
            ));
        }
        match self.fetch(raw, conn, ctx, &n).await? {
            Ok(events) if events.is_empty() => Err(NormalizeError::dropped(
                "no_data",
                "Withings has no data for the notified period",
            )),
            Ok(events) => Ok(events),
            Err(message) => {
                tracing::warn!(message, "Withings refused the connection's credentials");
                Self::status_event(
                    EventType::ConnectionError,
                    stable_id(&[&n.key(), EventType::ConnectionError.as_str()]),
                    "warning",
                    message,
                    conn,
                    raw,
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ingests_json_and_derives_ranges() {
        let n = WithingsNotification::parse(
            br#"{"userid":12345,"appli":1,"startdate":1530576000,"enddate":1530698753}"#,
        )
        .unwrap();
        assert_eq!(n.range(), Some((1530576000, 1530698753)));
        assert_eq!(
            n.days(),
            Some(("2018-07-03".to_string(), "2018-07-04".to_string()))
        );
        assert!(!n.is_deauthorization());
        let same = WithingsNotification::parse(
            br#"{ "enddate":1530698753, "appli":1, "userid":12345, "startdate":1530576000 }"#,
        )
        .unwrap();
        assert_eq!(n.key(), same.key());
        let later = WithingsNotification {
            enddate: Some(1530698754),
            ..n.clone()
        };
        assert_ne!(n.key(), later.key());

        let d =
            WithingsNotification::parse(br#"{"userid":1,"appli":16,"date":"2024-05-01"}"#).unwrap();
        assert_eq!(
            d.days(),
            Some(("2024-05-01".to_string(), "2024-05-01".to_string()))
        );
        assert_eq!(d.range(), Some((1714521600, 1714521600 + 86_399)));
        let bad =
            WithingsNotification::parse(br#"{"userid":1,"appli":16,"date":"2024-13-01"}"#).unwrap();
        assert_eq!(bad.days(), None);

        let unlink =
            WithingsNotification::parse(br#"{"userid":1,"appli":46,"action":"unlink"}"#).unwrap();
        assert!(unlink.is_deauthorization());
        let update =
            WithingsNotification::parse(br#"{"userid":1,"appli":46,"action":"update"}"#).unwrap();
        assert!(!update.is_deauthorization());
        assert!(WithingsNotification::parse(br#"{"userid":"x","appli":1}"#).is_err());
    }

    #[test]
    fn config_defaults() {
        let c: WithingsConfig = serde_json::from_str(r#"{"client_id": "c"}"#).unwrap();
        assert_eq!(c.api_base, "https://wbsapi.withings.net");
        assert!(c.token_url.is_empty());
        assert!(serde_json::from_str::<WithingsConfig>(r#"{"secret": "x"}"#).is_err());
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            if let Ok(n) = WithingsNotification::parse(&bytes) {
                let _ = (n.key(), n.range(), n.days());
            }
        }

        #[test]
        fn ranges_never_panic(s in proptest::num::i64::ANY, e in proptest::num::i64::ANY) {
            let n = WithingsNotification { userid: 1, appli: 44, startdate: Some(s), enddate: Some(e),
                date: None, deviceid: None, action: None };
            let _ = (n.range(), n.days());
        }
    }
}

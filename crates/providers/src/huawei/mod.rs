//! Huawei Health Kit: subscription notifications are pointers (`openId`, `eventType`,
//! `metaData` time range); the records are fetched with the user's token and mapped into
//! Terra's `activity`, `daily` and `sleep`; account events become `deauth`,
//! `access_revoked` and `connection_error`. See docs/providers/huawei.md.

#[cfg(test)]
mod conformance_tests;
mod descriptor;
mod plugin;
pub mod verify;
mod client;
pub mod event;
pub mod mapping;
pub mod model;
#[cfg(test)]
mod range_tests;

pub use descriptor::DESCRIPTOR;
pub use plugin::HuaweiPlugin;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Days, FixedOffset, NaiveDate, NaiveTime};
use crate::huawei::descriptor::OAUTH;
use pulsegate_schema::terra::{ActivityDeletedEvent, DataEvent, DeletedSummary, StatusEvent};
use pulsegate_schema::{
    Connection, ConnectionStatus, EventType, NormalizedEvent, Provider, RawNotification, Secret,
    PAYLOAD_VERSION,
};
use serde::{Deserialize, Serialize};

pub use client::HuaweiClient;
pub use event::{HuaweiEvent, Kind};

use super::range;
use crate::api::Authorized;
use crate::events::{build_event, terra_user};
use crate::{Ctx, NormalizeError, ProviderNormalizer, RangeData, RangeSupport, RetryConfig};

/// The atomic data types whose updates produce a `daily` (and that are polymerized).
pub const DEFAULT_DAILY_TYPES: &[&str] = &[
    "com.huawei.continuous.steps.delta",
    "com.huawei.continuous.distance.delta",
    "com.huawei.continuous.calories.burnt",
    "com.huawei.instantaneous.heart_rate",
];

/// Huawei API settings (`[normalizer.huawei]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HuaweiConfig {
    /// Health Kit REST base; tests point it at a mock on 127.0.0.1.
    pub api_base: String,
    /// Huawei's OAuth 2.0 token endpoint (refresh-token grant, client credentials in
    /// the form body).
    pub token_url: String,
    pub client_id: String,
    /// Never logged.
    pub client_secret: Secret,
    /// Whole-request timeout for one API call. Default 10s.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// The application's rate limits (docs/BACKFILL.md has the defaults).
    pub rate_limit: crate::ratelimit::RateLimitConfig,
    /// Atomic data types polymerized into a `daily` when a `SAMPLESET_EVENT$UPDATE` for
    /// one of them arrives (request only the ones your app has scopes for).
    pub daily_data_types: Vec<String>,
    /// Map activity record updates/deletes.
    pub activities: bool,
    /// Map sample-set updates into `daily`.
    pub daily: bool,
    /// Map sleep health records into `sleep`.
    pub sleep: bool,
}

impl Default for HuaweiConfig {
    fn default() -> Self {
        Self {
            api_base: OAUTH.api_base.into(),
            token_url: OAUTH.token_url.into(),
            client_id: String::new(),
            client_secret: Secret::default(),
            request_timeout: Duration::from_secs(10),
            rate_limit: crate::ratelimit::RateLimitConfig::from(descriptor::DESCRIPTOR.rate_limits),
            daily_data_types: DEFAULT_DAILY_TYPES.iter().map(|s| s.to_string()).collect(),
            activities: true,
            daily: true,
            sleep: true,
        }
    }
}

/// Days per historical window by default (Huawei's queries span at most 31 days).
pub const WINDOW_DAYS: u32 = 30;

pub struct HuaweiNormalizer {
    client: HuaweiClient,
    cfg: HuaweiConfig,
}

impl HuaweiNormalizer {
    pub fn new(
        cfg: &HuaweiConfig,
        retry: &RetryConfig,
        limiters: &crate::ratelimit::Limiters,
    ) -> Result<Self, NormalizeError> {
        Ok(Self {
            client: HuaweiClient::new(cfg, retry, limiters)?,
            cfg: cfg.clone(),
        })
    }

    fn parse(raw: &RawNotification) -> Option<HuaweiEvent> {
        HuaweiEvent::parse(raw.body.get().as_bytes())
    }

    async fn dispatch(
        &self,
        raw: &RawNotification,
        conn: &Connection,
        ctx: &Ctx,
        ev: &HuaweiEvent,
    ) -> Result<Vec<NormalizedEvent>, NormalizeError> {
        let disabled = |what: &str| {
            Err(NormalizeError::dropped(
                "disabled",
                format!("{what} mapping is disabled"),
            ))
        };
        let range = || {
            ev.range_ms().ok_or_else(|| {
                NormalizeError::dropped("malformed", "metaData carries no usable time range")
            })
        };
        let tz = ev.time_zone();
        match ev.kind() {
            Kind::RevokeAll => {
                revoked(raw, conn, ctx, ev, EventType::Deauth, "User has deauthenticated").await
            }
            Kind::DeleteUser => {
                let msg = "User deleted their Huawei account";
                revoked(raw, conn, ctx, ev, EventType::AccessRevoked, msg).await
            }
            Kind::RefreshTokenInvalid => connection_error(
                raw,
                conn,
                ev,
                "Huawei reports the refresh token is no longer valid; the user must authorize again",
            ),
            Kind::ActivityUpdate | Kind::ActivityDelete if !self.cfg.activities => {
                disabled("activity")
            }
            Kind::ActivityUpdate => {
                let records = match self.client.activity_records(conn, ctx, range()?).await? {
                    Authorized::Ok(r) => r,
                    other => return unavailable(raw, conn, ev, other),
                };
                let data: Vec<_> = records
                    .activity_record
                    .iter()
                    .filter_map(|r| mapping::map_activity(r, tz))
                    .collect();
                data_event(raw, conn, ev, EventType::Activity, data)
            }
            Kind::ActivityDelete => {
                let records = match self.client.activity_records(conn, ctx, range()?).await? {
                    Authorized::Ok(r) => r,
                    other => return unavailable(raw, conn, ev, other),
                };
                let ids = records.deleted_ids();
                if ids.is_empty() {
                    return Err(NormalizeError::dropped(
                        "not_found",
                        "Huawei lists no deleted activity record in the notified range",
                    ));
                }
                let user = terra_user(conn);
                let body = ActivityDeletedEvent {
                    event_type: EventType::ActivityDeleted.as_str(),
                    user: &user,
                    data: ids
                        .into_iter()
                        .map(|summary_id| DeletedSummary { summary_id })
                        .collect(),
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
            Kind::SampleSet {
                update: true,
                data_type,
            } if self.cfg.daily_data_types.contains(&data_type) => {
                if !self.cfg.daily {
                    return disabled("daily");
                }
                let offset = tz
                    .and_then(model::parse_offset)
                    .unwrap_or_else(model::utc);
                let days = whole_days(range()?, offset);
                let zone = tz.unwrap_or("+0000");
                let stats = match self
                    .client
                    .daily_statistics(conn, ctx, days, &self.cfg.daily_data_types, zone)
                    .await?
                {
                    Authorized::Ok(s) => s,
                    other => return unavailable(raw, conn, ev, other),
                };
                let data: Vec<_> = stats
                    .group
                    .iter()
                    .filter_map(|g| mapping::map_daily(g, offset))
                    .collect();
                data_event(raw, conn, ev, EventType::Daily, data)
            }
            Kind::HealthRecord {
                update: true,
                data_type,
            } if data_type == mapping::DT_SLEEP_RECORD => self.sleep(raw, conn, ctx, ev).await,
            Kind::SampleSet {
                update: true,
                data_type,
            } if data_type == mapping::DT_SLEEP_FRAGMENT => self.sleep(raw, conn, ctx, ev).await,
            _ => Err(NormalizeError::dropped(
                "unsupported_event",
                ev.event_type.clone(),
            )),
        }
    }

    /// `activity`: activity records; `sleep`: sleep health records; `daily`: the
    /// configured daily statistics per UTC day (no time zone is known without a
    /// notification). Each mapped as the push path maps it.
    async fn range(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        data_type: EventType,
        (start, end): (NaiveDate, NaiveDate),
    ) -> Result<RangeData, NormalizeError> {
        let ms = (
            range::utc_midnight(start) * 1000,
            range::utc_midnight(end) * 1000 - 1,
        );
        let c = &self.client;
        macro_rules! fetched {
            ($call:expr) => {
                match $call.await? {
                    Authorized::Ok(v) => Some(v),
                    Authorized::NotFound => None,
                    Authorized::ConnectionError(m) => return Ok(RangeData::ConnectionError(m)),
                }
            };
        }
        let mut out = Vec::new();
        match data_type {
            EventType::Activity if self.cfg.activities => {
                if let Some(r) = fetched!(c.activity_records(conn, ctx, ms)) {
                    for a in r
                        .activity_record
                        .iter()
                        .filter_map(|r| mapping::map_activity(r, None))
                    {
                        out.push(range::to_value(&a)?);
                    }
                }
            }
            EventType::Sleep if self.cfg.sleep => {
                if let Some(r) = fetched!(c.health_records(conn, ctx, ms, mapping::DT_SLEEP_RECORD))
                {
                    for s in r
                        .health_records
                        .iter()
                        .filter(|r| {
                            r.data_type_name.is_empty()
                                || r.data_type_name == mapping::DT_SLEEP_RECORD
                        })
                        .filter_map(|r| mapping::map_sleep(r, None))
                    {
                        out.push(range::to_value(&s)?);
                    }
                }
            }
            EventType::Daily if self.cfg.daily => {
                let types = &self.cfg.daily_data_types;
                if let Some(stats) = fetched!(c.daily_statistics(conn, ctx, ms, types, "+0000")) {
                    for d in stats
                        .group
                        .iter()
                        .filter_map(|g| mapping::map_daily(g, model::utc()))
                    {
                        out.push(range::to_value(&d)?);
                    }
                }
            }
            other => return Err(range::unsupported("Huawei", other)),
        }
        Ok(RangeData::Objects(out))
    }

    async fn sleep(
        &self,
        raw: &RawNotification,
        conn: &Connection,
        ctx: &Ctx,
        ev: &HuaweiEvent,
    ) -> Result<Vec<NormalizedEvent>, NormalizeError> {
        if !self.cfg.sleep {
            return Err(NormalizeError::dropped(
                "disabled",
                "sleep mapping is disabled",
            ));
        }
        let range = ev.range_ms().ok_or_else(|| {
            NormalizeError::dropped("malformed", "metaData carries no usable time range")
        })?;
        let records = match self
            .client
            .health_records(conn, ctx, range, mapping::DT_SLEEP_RECORD)
            .await?
        {
            Authorized::Ok(r) => r,
            other => return unavailable(raw, conn, ev, other),
        };
        let data: Vec<_> = records
            .health_records
            .iter()
            .filter(|r| r.data_type_name.is_empty() || r.data_type_name == mapping::DT_SLEEP_RECORD)
            .filter_map(|r| mapping::map_sleep(r, ev.time_zone()))
            .collect();
        data_event(raw, conn, ev, EventType::Sleep, data)
    }
}

/// `[start, end]` widened to whole days in `offset` (the first day's midnight to the
/// last day's end), at most 31 days.
fn whole_days((start, end): (i64, i64), offset: FixedOffset) -> (i64, i64) {
    let day_start = |ms: i64| -> Option<i64> {
        let local = DateTime::from_timestamp_millis(ms)?.with_timezone(&offset);
        let midnight = local.date_naive().and_time(NaiveTime::MIN);
        Some(
            midnight
                .and_local_timezone(offset)
                .single()?
                .timestamp_millis(),
        )
    };
    let next_day = |ms: i64| -> Option<i64> {
        let local = DateTime::from_timestamp_millis(ms)?.with_timezone(&offset);
        let next = local.date_naive().checked_add_days(Days::new(1))?;
        Some(
            next.and_time(NaiveTime::MIN)
                .and_local_timezone(offset)
                .single()?
                .timestamp_millis()
                - 1,
        )
    };
    let s = day_start(start).unwrap_or(start);
    let e = next_day(end).unwrap_or(end);
    (s.max(e.saturating_sub(event::MAX_RANGE_MS)), e)
}

fn data_event<T: Serialize>(
    raw: &RawNotification,
    conn: &Connection,
    ev: &HuaweiEvent,
    event_type: EventType,
    data: Vec<T>,
) -> Result<Vec<NormalizedEvent>, NormalizeError> {
    if data.is_empty() {
        return Err(NormalizeError::dropped(
            "not_found",
            format!(
                "Huawei has no {} data in the notified range",
                event_type.as_str()
            ),
        ));
    }
    let user = terra_user(conn);
    let body = DataEvent {
        event_type: event_type.as_str(),
        user: &user,
        data,
        version: PAYLOAD_VERSION,
    };
    Ok(vec![build_event(ev.key(), event_type, conn, raw, &body)?])
}

fn connection_error(
    raw: &RawNotification,
    conn: &Connection,
    ev: &HuaweiEvent,
    message: &str,
) -> Result<Vec<NormalizedEvent>, NormalizeError> {
    Ok(vec![crate::events::connection_error(
        "huawei",
        &ev.key(),
        conn,
        raw,
        message,
    )?])
}

/// A fetch that did not return data: 404 drops, refused credentials → `connection_error`.
fn unavailable<T>(
    raw: &RawNotification,
    conn: &Connection,
    ev: &HuaweiEvent,
    outcome: Authorized<T>,
) -> Result<Vec<NormalizedEvent>, NormalizeError> {
    match outcome {
        Authorized::ConnectionError(why) => connection_error(raw, conn, ev, why),
        _ => Err(NormalizeError::dropped(
            "not_found",
            format!("Huawei answered 404 for {}", ev.event_type),
        )),
    }
}

async fn revoked(
    raw: &RawNotification,
    conn: &Connection,
    ctx: &Ctx,
    ev: &HuaweiEvent,
    event_type: EventType,
    message: &str,
) -> Result<Vec<NormalizedEvent>, NormalizeError> {
    if conn.status != ConnectionStatus::Revoked {
        ctx.state.revoke_connection(&conn.user_id).await?;
        tracing::info!(event = %ev.event_type, "Huawei user withdrew access; connection revoked");
    }
    let user = terra_user(conn);
    let body = StatusEvent {
        event_type: event_type.as_str(),
        user: &user,
        status: "success",
        message,
    };
    Ok(vec![build_event(ev.key(), event_type, conn, raw, &body)?])
}

#[async_trait]
impl ProviderNormalizer for HuaweiNormalizer {
    fn provider(&self) -> Provider {
        Provider::Huawei
    }

    fn data_type(&self, raw: &RawNotification) -> Option<EventType> {
        let t = crate::events::body_field(raw, "eventType")?;
        if t.starts_with("ACTIVITY_RECORD_EVENT") {
            Some(EventType::Activity)
        } else if t.starts_with("SAMPLESET_EVENT") {
            Some(EventType::Daily)
        } else if t.starts_with("HEALTH_RECORD_EVENT") && t.to_ascii_lowercase().contains("sleep") {
            Some(EventType::Sleep)
        } else {
            None
        }
    }

    fn dedupe_key(&self, raw: &RawNotification) -> Option<String> {
        Self::parse(raw).map(|e| e.key())
    }

    fn handles_revoked(&self, raw: &RawNotification) -> bool {
        // A revocation redelivered after its revoke was stored still emits its event
        // (same id: a duplicate at worst, never a loss).
        Self::parse(raw).is_some_and(|e| e.is_revocation())
    }

    fn range_support(&self, data_type: EventType) -> Option<RangeSupport> {
        let on = match data_type {
            EventType::Activity => self.cfg.activities,
            EventType::Sleep => self.cfg.sleep,
            EventType::Daily => self.cfg.daily,
            _ => false,
        };
        on.then_some(RangeSupport {
            window_days: WINDOW_DAYS,
            history_days: None,
        })
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
        let ev = Self::parse(raw).ok_or_else(|| {
            NormalizeError::dropped("malformed", "not a Huawei subscription notification")
        })?;
        if ev.open_id != raw.provider_user_id {
            return Err(NormalizeError::dropped(
                "owner_mismatch",
                "openId differs from the notification's user",
            ));
        }
        self.dispatch(raw, conn, ctx, &ev).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_days_in_the_users_zone() {
        let cst = model::parse_offset("+0800").unwrap();
        // 2020-06-23T17:45:52.721+08:00 .. 2020-06-23T17:56:47.222+08:00
        let (s, e) = whole_days((1592905552721, 1592906207222), cst);
        assert_eq!(
            model::format_ms(s, cst).unwrap(),
            "2020-06-23T00:00:00.000+08:00"
        );
        assert_eq!(
            model::format_ms(e, cst).unwrap(),
            "2020-06-23T23:59:59.999+08:00"
        );
        let (s, e) = whole_days((0, 40 * 86_400_000), model::utc());
        assert!(e - s <= event::MAX_RANGE_MS);
    }

    #[test]
    fn config_defaults_are_huaweis_endpoints() {
        let c: HuaweiConfig = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(c.api_base, "https://health-api.cloud.huawei.com");
        assert_eq!(
            c.token_url,
            "https://oauth-login.cloud.huawei.com/oauth2/v3/token"
        );
        assert_eq!(c.daily_data_types.len(), 4);
        assert!(serde_json::from_value::<HuaweiConfig>(serde_json::json!({"nope": 1})).is_err());
    }
}

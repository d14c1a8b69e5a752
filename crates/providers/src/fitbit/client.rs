//! Fitbit's Web API (`https://api.fitbit.com`): the day's activity summary and activity
//! logs, sleep logs, weight logs and the profile's UTC offset, with the user's token.
//! Token refresh (`POST {api_base}/oauth2/token`, HTTP Basic client credentials),
//! retries and metrics come from [`ProviderApi`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::FixedOffset;
use pulsegate_schema::Connection;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::mapping::{
    offset_from_millis, ActivityLogList, DailyActivityResponse, SleepResponse, WeightResponse,
};
use super::FitbitConfig;
use crate::api::{Authorized, OAuthApp, ProviderApi};
use crate::{Ctx, NormalizeError, RetryConfig};

pub const EP_DAILY: &str = "activities_date";
pub const EP_ACTIVITY_LIST: &str = "activities_list";
pub const EP_SLEEP: &str = "sleep_date";
pub const EP_WEIGHT: &str = "weight_date";
pub const EP_PROFILE: &str = "profile";

/// The `connection_error` message once Fitbit's API answers 410 Gone (its data endpoints
/// and its token endpoint do since the shutdown).
pub const RETIRED: &str =
    "Fitbit Web API was shut down by Google on 2026-11-02; reconnect through Google Health";

/// How long a user's UTC offset is remembered.
const OFFSET_TTL: Duration = Duration::from_secs(3600);
/// Users whose offset is remembered at most (oldest entries are dropped beyond).
const OFFSET_CAPACITY: usize = 100_000;

pub struct FitbitClient {
    pub(super) api: ProviderApi,
    api_base: String,
    offsets: Mutex<HashMap<String, (FixedOffset, Instant)>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Profile {
    user: ProfileUser,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ProfileUser {
    #[serde(rename = "offsetFromUTCMillis")]
    offset_from_utc_millis: Option<f64>,
}

impl FitbitClient {
    pub fn new(
        cfg: &FitbitConfig,
        retry: &RetryConfig,
        limiters: &crate::ratelimit::Limiters,
    ) -> Result<Self, NormalizeError> {
        let api_base = cfg.api_base.trim_end_matches('/').to_string();
        let token_url = if cfg.token_url.is_empty() {
            format!("{api_base}/oauth2/token")
        } else {
            cfg.token_url.clone()
        };
        let oauth = OAuthApp::new(
            &crate::fitbit::descriptor::OAUTH,
            token_url,
            &cfg.client_id,
            &cfg.client_secret,
        );
        Ok(Self {
            api: ProviderApi::new("fitbit", "Fitbit", cfg.request_timeout, retry, Some(oauth))?
                .with_rate_limit(limiters, &cfg.api_base, &cfg.rate_limit)
                .with_gone_message(RETIRED),
            api_base,
            offsets: Mutex::new(HashMap::new()),
        })
    }

    /// `{api_base}{path}`.
    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api_base)
    }

    async fn get<T: DeserializeOwned>(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        endpoint: &'static str,
        path: &str,
    ) -> Result<Authorized<T>, NormalizeError> {
        let url = format!("{}{path}", self.api_base);
        self.api.get_json(conn, ctx, endpoint, &url).await
    }

    /// `GET /1/user/{owner}/activities/date/{date}.json`.
    pub async fn daily(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        owner: &str,
        date: &str,
    ) -> Result<Authorized<DailyActivityResponse>, NormalizeError> {
        let path = format!("/1/user/{owner}/activities/date/{date}.json");
        self.get(conn, ctx, EP_DAILY, &path).await
    }

    /// `GET /1/user/-/activities/list.json?afterDate={day before}&sort=asc&offset=0&limit=100`
    /// (`afterDate` is exclusive; the caller keeps the logs that start on `date`).
    pub async fn activity_logs(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        day_before: &str,
    ) -> Result<Authorized<ActivityLogList>, NormalizeError> {
        self.activity_logs_from(conn, ctx, day_before, 0).await
    }

    /// The page of activity logs at `offset` (100 per page) after `day_before`.
    pub async fn activity_logs_from(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        day_before: &str,
        offset: usize,
    ) -> Result<Authorized<ActivityLogList>, NormalizeError> {
        let path = format!(
            "/1/user/-/activities/list.json?afterDate={day_before}&sort=asc&offset={offset}&limit=100"
        );
        self.get(conn, ctx, EP_ACTIVITY_LIST, &path).await
    }

    /// `GET /1.2/user/-/sleep/date/{date}.json`.
    pub async fn sleep(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        date: &str,
    ) -> Result<Authorized<SleepResponse>, NormalizeError> {
        let path = format!("/1.2/user/-/sleep/date/{date}.json");
        self.get(conn, ctx, EP_SLEEP, &path).await
    }

    /// `GET /1/user/-/body/log/weight/date/{date}.json`.
    pub async fn weight(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        date: &str,
    ) -> Result<Authorized<WeightResponse>, NormalizeError> {
        let path = format!("/1/user/-/body/log/weight/date/{date}.json");
        self.get(conn, ctx, EP_WEIGHT, &path).await
    }

    /// The user's current UTC offset (profile `offsetFromUTCMillis`), remembered for an
    /// hour. UTC when the profile cannot be read (e.g. no `profile` scope): the data
    /// calls that follow decide whether the connection works at all.
    pub async fn offset(
        &self,
        conn: &Connection,
        ctx: &Ctx,
    ) -> Result<FixedOffset, NormalizeError> {
        if let Some((off, at)) = self.lock().get(&conn.user_id) {
            if at.elapsed() < OFFSET_TTL {
                return Ok(*off);
            }
        }
        let off = match self
            .get::<Profile>(conn, ctx, EP_PROFILE, "/1/user/-/profile.json")
            .await
        {
            Ok(Authorized::Ok(p)) => p.user.offset_from_utc_millis.map(offset_from_millis),
            Ok(_) | Err(NormalizeError::Dropped { .. }) => None,
            Err(e) => return Err(e),
        };
        let Some(off) = off else {
            tracing::info!("Fitbit profile offset unavailable; times are given in UTC");
            return Ok(FixedOffset::east_opt(0).expect("UTC"));
        };
        let mut map = self.lock();
        if map.len() >= OFFSET_CAPACITY {
            map.retain(|_, (_, at)| at.elapsed() < OFFSET_TTL);
            if map.len() >= OFFSET_CAPACITY {
                map.clear();
            }
        }
        map.insert(conn.user_id.clone(), (off, Instant::now()));
        Ok(off)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (FixedOffset, Instant)>> {
        self.offsets.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_profile_offset() {
        // The fields of Fitbit's "Get Profile" example that matter here.
        let p: Profile = serde_json::from_str(
            r#"{"user": {"encodedId": "X1Y2Z3", "timezone": "America/Los_Angeles",
                "offsetFromUTCMillis": -25200000, "locale": "en_US"}}"#,
        )
        .unwrap();
        let off = p
            .user
            .offset_from_utc_millis
            .map(offset_from_millis)
            .unwrap();
        assert_eq!(off.local_minus_utc(), -7 * 3600);
        let empty: Profile = serde_json::from_str("{}").unwrap();
        assert!(empty.user.offset_from_utc_millis.is_none());
    }
}

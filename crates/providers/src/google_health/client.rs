//! The Google Health API (`https://health.googleapis.com/v4`) with the user's token:
//! `dataPoints` list (filtered, paged with `pageToken`) and `dataPoints:dailyRollUp`
//! (civil-date range, `windowSizeDays` 1, paged), and the user's settings (UTC offset).
//! Token refresh (`POST https://oauth2.googleapis.com/token`, client credentials in the
//! form body; `invalid_grant` told apart), retries and metrics come from
//! [`ProviderApi`].
//!
//! Granular consent: a user may grant some scopes and not others. A data type whose
//! scope the connection's granted set lacks is not called; one Google refuses with 403
//! `ACCESS_TOKEN_SCOPE_INSUFFICIENT` anyway is "not granted" ([`Got::NotGranted`]): the
//! type is skipped, the connection is fine. `ACCOUNT_NOT_LINKED` (a Google account
//! without a Google Health profile) is a connection error, told to the customer as
//! Terra's `google_no_datasource`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{FixedOffset, NaiveDate};
use http::StatusCode;
use pulsegate_schema::Connection;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::types::{self, CivilDate, DataPoint, ListResponse, RollupPoint, RollupResponse};
use super::GoogleHealthConfig;
use crate::api::{Authorized, ClientAuth, OAuthApp, ProviderApi, TokenShape};
use crate::http::{form_encode, HttpResponse};
use crate::{Ctx, NormalizeError, RetryConfig};

pub const EP_LIST: &str = "data_points_list";
pub const EP_ROLLUP: &str = "data_points_daily_rollup";
pub const EP_SETTINGS: &str = "settings";

/// The read scopes (the token's `scope` has them as full URLs).
pub const SCOPE_ACTIVITY: &str = "googlehealth.activity_and_fitness.readonly";
pub const SCOPE_METRICS: &str = "googlehealth.health_metrics_and_measurements.readonly";
pub const SCOPE_SLEEP: &str = "googlehealth.sleep.readonly";
pub const SCOPE_SETTINGS: &str = "googlehealth.settings.readonly";

/// The `google_no_datasource` (push) / connection error (requests) message for
/// `ACCOUNT_NOT_LINKED`.
pub const ACCOUNT_NOT_LINKED: &str =
    "the Google account has no Google Health profile (ACCOUNT_NOT_LINKED)";

/// How long a user's UTC offset (settings) is remembered.
const OFFSET_TTL: Duration = Duration::from_secs(3600);
const OFFSET_CAPACITY: usize = 100_000;
/// `dailyRollUp` allows at most 14 days for heart rate, calories and active minutes
/// (90 for the others): every range is asked in pieces of at most this.
pub const ROLLUP_MAX_DAYS: u64 = 14;

/// A Google Health data type: its path name (kebab case), its filter name (snake case)
/// and the read scope that grants it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataType {
    pub path: &'static str,
    pub filter: &'static str,
    pub scope: &'static str,
}

const fn dt(path: &'static str, filter: &'static str, scope: &'static str) -> DataType {
    DataType {
        path,
        filter,
        scope,
    }
}

pub const STEPS: DataType = dt("steps", "steps", SCOPE_ACTIVITY);
pub const DISTANCE: DataType = dt("distance", "distance", SCOPE_ACTIVITY);
pub const FLOORS: DataType = dt("floors", "floors", SCOPE_ACTIVITY);
pub const ALTITUDE: DataType = dt("altitude", "altitude", SCOPE_ACTIVITY);
pub const TOTAL_CALORIES: DataType = dt("total-calories", "total_calories", SCOPE_ACTIVITY);
pub const ACTIVE_ENERGY: DataType = dt(
    "active-energy-burned",
    "active_energy_burned",
    SCOPE_ACTIVITY,
);
pub const ACTIVE_MINUTES: DataType = dt("active-minutes", "active_minutes", SCOPE_ACTIVITY);
pub const SEDENTARY: DataType = dt("sedentary-period", "sedentary_period", SCOPE_ACTIVITY);
pub const HEART_RATE: DataType = dt("heart-rate", "heart_rate", SCOPE_METRICS);
pub const TIME_IN_ZONES: DataType = dt(
    "time-in-heart-rate-zone",
    "time_in_heart_rate_zone",
    SCOPE_ACTIVITY,
);
pub const DAILY_RESTING_HR: DataType = dt(
    "daily-resting-heart-rate",
    "daily_resting_heart_rate",
    SCOPE_METRICS,
);
pub const DAILY_HRV: DataType = dt(
    "daily-heart-rate-variability",
    "daily_heart_rate_variability",
    SCOPE_METRICS,
);
pub const DAILY_SPO2: DataType = dt(
    "daily-oxygen-saturation",
    "daily_oxygen_saturation",
    SCOPE_METRICS,
);
pub const DAILY_VO2: DataType = dt("daily-vo2-max", "daily_vo2_max", SCOPE_ACTIVITY);
pub const DAILY_RESPIRATORY: DataType = dt(
    "daily-respiratory-rate",
    "daily_respiratory_rate",
    SCOPE_METRICS,
);
pub const DAILY_SLEEP_TEMPERATURE: DataType = dt(
    "daily-sleep-temperature-derivations",
    "daily_sleep_temperature_derivations",
    SCOPE_METRICS,
);
pub const RESPIRATORY_SLEEP_SUMMARY: DataType = dt(
    "respiratory-rate-sleep-summary",
    "respiratory_rate_sleep_summary",
    SCOPE_METRICS,
);
pub const HRV: DataType = dt(
    "heart-rate-variability",
    "heart_rate_variability",
    SCOPE_METRICS,
);
pub const SPO2: DataType = dt("oxygen-saturation", "oxygen_saturation", SCOPE_METRICS);
pub const WEIGHT: DataType = dt("weight", "weight", SCOPE_METRICS);
pub const BODY_FAT: DataType = dt("body-fat", "body_fat", SCOPE_METRICS);
pub const HEIGHT: DataType = dt("height", "height", SCOPE_METRICS);
pub const SLEEP: DataType = dt("sleep", "sleep", SCOPE_SLEEP);
pub const EXERCISE: DataType = dt("exercise", "exercise", SCOPE_ACTIVITY);

/// The `dailyRollUp` types a `daily` is built from.
pub const DAILY_ROLLUPS: [DataType; 10] = [
    STEPS,
    DISTANCE,
    FLOORS,
    ALTITUDE,
    TOTAL_CALORIES,
    ACTIVE_ENERGY,
    ACTIVE_MINUTES,
    SEDENTARY,
    HEART_RATE,
    TIME_IN_ZONES,
];

/// The daily summaries a `daily` takes.
pub const DAILY_SUMMARIES: [DataType; 4] = [DAILY_RESTING_HR, DAILY_HRV, DAILY_SPO2, DAILY_VO2];

/// The daily summaries a main sleep takes.
pub const SLEEP_SUMMARIES: [DataType; 4] = [
    DAILY_RESPIRATORY,
    DAILY_SPO2,
    DAILY_HRV,
    DAILY_SLEEP_TEMPERATURE,
];

/// The samples a `body` is built from (by sample time).
pub const BODY_SAMPLES: [DataType; 4] = [WEIGHT, BODY_FAT, HRV, SPO2];

/// The daily summaries a `body` takes.
pub const BODY_SUMMARIES: [DataType; 2] = [DAILY_HRV, DAILY_SPO2];

/// What one call came to.
#[derive(Debug)]
pub enum Got<T> {
    Data(T),
    /// The user did not grant this type's scope: skipped.
    NotGranted,
    /// Google refused the connection's credentials (or the account): a
    /// `connection_error` (or, for [`crate::api::REVOKED_GRANT`], a `deauth`) is due.
    ConnectionError(&'static str),
}

/// Whether `scope` is in the connection's granted set (its token's `scope`). Unknown
/// (no scope stored): assumed granted, Google's answer decides.
pub fn granted(conn: &Connection, scope: &str) -> bool {
    let Some(scopes) = conn.scopes.as_deref().filter(|s| !s.trim().is_empty()) else {
        return true;
    };
    // The preview API's names had no `.readonly` suffix.
    let preview = scope.strip_suffix(".readonly").unwrap_or(scope);
    scopes
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .any(|s| {
            let short = s.rsplit('/').next().unwrap_or(s);
            short == scope || short == preview
        })
}

const SCOPE_INSUFFICIENT: u8 = 1;
const NOT_LINKED: u8 = 2;

/// Notes Google's error reasons that are not about the connection, and turns their
/// answer into a 404 so the shared classification does not make them a
/// `connection_error` (the note says what it was).
fn tag(resp: HttpResponse, note: &AtomicU8) -> HttpResponse {
    let special = match resp.status {
        StatusCode::FORBIDDEN | StatusCode::BAD_REQUEST => {
            let reasons = types::error_reasons(&resp.body);
            if reasons
                .iter()
                .any(|r| r == "ACCESS_TOKEN_SCOPE_INSUFFICIENT")
            {
                SCOPE_INSUFFICIENT
            } else if reasons.iter().any(|r| r == "ACCOUNT_NOT_LINKED") {
                NOT_LINKED
            } else {
                0
            }
        }
        _ => 0,
    };
    if special == 0 {
        return resp;
    }
    note.store(special, Ordering::Relaxed);
    HttpResponse {
        status: StatusCode::NOT_FOUND,
        ..resp
    }
}

pub struct GoogleHealthClient {
    pub(super) api: ProviderApi,
    api_base: String,
    offsets: Mutex<HashMap<String, (FixedOffset, Instant)>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Settings {
    utc_offset: Option<String>,
}

impl GoogleHealthClient {
    pub fn new(
        cfg: &GoogleHealthConfig,
        retry: &RetryConfig,
        limiters: &crate::ratelimit::Limiters,
    ) -> Result<Self, NormalizeError> {
        let oauth = OAuthApp {
            token_url: cfg.token_url.clone(),
            client_id: cfg.client_id.clone(),
            client_secret: cfg.client_secret.clone(),
            client_auth: ClientAuth::Body,
            shape: TokenShape::Standard,
            extra_refresh_fields: Vec::new(),
        };
        Ok(Self {
            api: ProviderApi::new(
                "google_health",
                "Google Health",
                cfg.request_timeout,
                retry,
                Some(oauth),
            )?
            .with_rate_limit(limiters, &cfg.api_base, &cfg.rate_limit)
            .with_revoked_grant(),
            api_base: cfg.api_base.trim_end_matches('/').to_string(),
            offsets: Mutex::new(HashMap::new()),
        })
    }

    /// The connection as currently stored (a refresh earlier may have replaced its
    /// token).
    fn fresh(conn: &Connection, ctx: &Ctx) -> Connection {
        ctx.state
            .connection(&conn.user_id)
            .map(|c| (*c).clone())
            .unwrap_or_else(|| conn.clone())
    }

    /// One authorized call (`GET`, or `POST` of a JSON `body`), Google's error reasons
    /// sorted out.
    async fn send(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        endpoint: &'static str,
        url: &str,
        body: Option<Bytes>,
    ) -> Result<Got<Option<Bytes>>, NormalizeError> {
        let conn = Self::fresh(conn, ctx);
        let note = AtomicU8::new(0);
        let answer = self
            .api
            .send_authorized(&conn, ctx, endpoint, |token| {
                let (body, note) = (body.clone(), &note);
                async move {
                    let resp = match body {
                        None => self.api.http.get_bearer(url, &token).await?,
                        Some(b) => {
                            self.api
                                .http
                                .post_bearer(url, &token, "application/json; charset=UTF-8", b, &[])
                                .await?
                        }
                    };
                    Ok(tag(resp, note))
                }
            })
            .await?;
        Ok(match answer {
            Authorized::Ok(b) => Got::Data(Some(b)),
            Authorized::NotFound => match note.load(Ordering::Relaxed) {
                SCOPE_INSUFFICIENT => Got::NotGranted,
                NOT_LINKED => Got::ConnectionError(ACCOUNT_NOT_LINKED),
                _ => Got::Data(None),
            },
            Authorized::ConnectionError(m) => Got::ConnectionError(m),
        })
    }

    fn decode<T: DeserializeOwned + Default>(
        &self,
        endpoint: &'static str,
        body: Option<Bytes>,
    ) -> Result<T, NormalizeError> {
        match body {
            None => Ok(T::default()),
            Some(b) => serde_json::from_slice(&b).map_err(|e| {
                NormalizeError::dropped(
                    "bad_response",
                    format!("Google Health {endpoint}: unexpected response: {e}"),
                )
            }),
        }
    }

    /// Every data point of `t` matching `filter` (AIP-160), following `nextPageToken`
    /// for at most `max_pages` pages.
    pub async fn list(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        t: DataType,
        filter: &str,
        page_size: Option<u32>,
        max_pages: u32,
    ) -> Result<Got<Vec<DataPoint>>, NormalizeError> {
        if !granted(conn, t.scope) {
            return Ok(Got::NotGranted);
        }
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        let size = page_size.map(|n| n.to_string());
        for _ in 0..max_pages.max(1) {
            let mut q: Vec<(&str, &str)> = vec![("filter", filter)];
            if let Some(s) = &size {
                q.push(("pageSize", s));
            }
            if let Some(t) = &token {
                q.push(("pageToken", t));
            }
            let url = format!(
                "{}/v4/users/me/dataTypes/{}/dataPoints?{}",
                self.api_base,
                t.path,
                form_encode(&q)
            );
            let page: ListResponse = match self.send(conn, ctx, EP_LIST, &url, None).await? {
                Got::Data(body) => self.decode(EP_LIST, body)?,
                Got::NotGranted => return Ok(Got::NotGranted),
                Got::ConnectionError(m) => return Ok(Got::ConnectionError(m)),
            };
            out.extend(page.data_points);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(next) => token = Some(next),
                None => return Ok(Got::Data(out)),
            }
        }
        tracing::warn!(
            data_type = t.path,
            max_pages,
            "Google Health kept paging; the rest is not fetched"
        );
        Ok(Got::Data(out))
    }

    /// The daily rollups of `t` for the civil days `[start, end)`, asked in pieces of at
    /// most [`ROLLUP_MAX_DAYS`] and followed through `nextPageToken`.
    pub async fn daily_rollup(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        t: DataType,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Got<Vec<RollupPoint>>, NormalizeError> {
        if !granted(conn, t.scope) {
            return Ok(Got::NotGranted);
        }
        let url = format!(
            "{}/v4/users/me/dataTypes/{}/dataPoints:dailyRollUp",
            self.api_base, t.path
        );
        let mut out = Vec::new();
        let mut from = start;
        while from < end {
            let to = from
                .checked_add_days(chrono::Days::new(ROLLUP_MAX_DAYS))
                .unwrap_or(end)
                .min(end);
            let mut token: Option<String> = None;
            for _ in 0..crate::range::MAX_PAGES {
                let body = rollup_request(from, to, token.as_deref());
                let page: RollupResponse =
                    match self.send(conn, ctx, EP_ROLLUP, &url, Some(body)).await? {
                        Got::Data(body) => self.decode(EP_ROLLUP, body)?,
                        Got::NotGranted => return Ok(Got::NotGranted),
                        Got::ConnectionError(m) => return Ok(Got::ConnectionError(m)),
                    };
                out.extend(page.rollup_data_points);
                match page.next_page_token.filter(|t| !t.is_empty()) {
                    Some(next) => token = Some(next),
                    None => break,
                }
            }
            from = to;
        }
        Ok(Got::Data(out))
    }

    /// The user's current UTC offset (settings `utcOffset`), remembered for an hour.
    /// `None` when it cannot be read (no settings scope): callers fall back to UTC.
    pub async fn utc_offset(
        &self,
        conn: &Connection,
        ctx: &Ctx,
    ) -> Result<Option<FixedOffset>, NormalizeError> {
        if let Some((off, at)) = self.lock().get(&conn.user_id) {
            if at.elapsed() < OFFSET_TTL {
                return Ok(Some(*off));
            }
        }
        if !granted(conn, SCOPE_SETTINGS) {
            return Ok(None);
        }
        let url = format!("{}/v4/users/me/settings", self.api_base);
        let off = match self.send(conn, ctx, EP_SETTINGS, &url, None).await {
            Ok(Got::Data(body)) => self
                .decode::<Settings>(EP_SETTINGS, body)
                .ok()
                .and_then(|s| s.utc_offset)
                .and_then(|o| types::offset(&o)),
            Ok(_) | Err(NormalizeError::Dropped { .. }) => None,
            Err(e) => return Err(e),
        };
        if let Some(off) = off {
            let mut map = self.lock();
            if map.len() >= OFFSET_CAPACITY {
                map.retain(|_, (_, at)| at.elapsed() < OFFSET_TTL);
                if map.len() >= OFFSET_CAPACITY {
                    map.clear();
                }
            }
            map.insert(conn.user_id.clone(), (off, Instant::now()));
        }
        Ok(off)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (FixedOffset, Instant)>> {
        self.offsets.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `DailyRollUpDataPointsRequest` for the civil days `[from, to)`: nested
/// `{"date": {…}}` (Google refuses a flat `{year, month, day}` under `range.start`),
/// numbers without leading zeros, one-day windows.
pub fn rollup_request(from: NaiveDate, to: NaiveDate, page_token: Option<&str>) -> Bytes {
    let date = |d: NaiveDate| {
        let c = CivilDate::of(d);
        serde_json::json!({"date": {"year": c.year, "month": c.month, "day": c.day}})
    };
    let mut body = serde_json::json!({
        "range": {"start": date(from), "end": date(to)},
        "windowSizeDays": 1,
    });
    if let Some(t) = page_token {
        body["pageToken"] = serde_json::Value::String(t.to_string());
    }
    Bytes::from(body.to_string())
}

/// The AIP-160 filter of civil days `[from, to)` for `t`, by how its type is
/// filtered: daily summaries by `date`, samples by `sample_time.civil_time`, exercise
/// by `interval.civil_start_time`, sleep by `interval.civil_end_time`.
pub fn day_filter(t: DataType, from: NaiveDate, to: NaiveDate) -> String {
    let member = if t.path.starts_with("daily-") {
        "date"
    } else if t == SLEEP {
        "interval.civil_end_time"
    } else if t == EXERCISE {
        "interval.civil_start_time"
    } else {
        "sample_time.civil_time"
    };
    let (f, m) = (t.filter, member);
    format!(
        "{f}.{m} >= \"{}\" AND {f}.{m} < \"{}\"",
        from.format("%Y-%m-%d"),
        to.format("%Y-%m-%d")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulsegate_schema::{ConnectionStatus, Provider, Secret};

    fn conn(scopes: Option<&str>) -> Connection {
        Connection {
            user_id: "u".into(),
            provider: Provider::GoogleHealth,
            provider_user_id: "h".into(),
            reference_id: None,
            access_token: Secret::new("a"),
            refresh_token: Secret::new("r"),
            expires_at: 0,
            scopes: scopes.map(str::to_string),
            status: ConnectionStatus::Active,
            created_at_ms: 0,
            dev_id: None,
            metadata: Default::default(),
        }
    }

    #[test]
    fn granted_scopes_come_from_the_token_response() {
        let token: serde_json::Value =
            serde_json::from_str(include_str!("fixtures/oauth_token_response.json")).unwrap();
        let c = conn(token["scope"].as_str());
        assert!(granted(&c, SCOPE_ACTIVITY));
        assert!(granted(&c, SCOPE_SLEEP));
        assert!(granted(&c, SCOPE_METRICS));
        assert!(!granted(&c, SCOPE_SETTINGS), "not in the fixture's grant");
        assert!(granted(&conn(None), SCOPE_SLEEP), "unknown: try");
        assert!(granted(
            &conn(Some("https://www.googleapis.com/auth/googlehealth.sleep")),
            SCOPE_SLEEP
        ));
        assert!(!granted(
            &conn(Some(
                "https://www.googleapis.com/auth/googlehealth.sleep.writeonly"
            )),
            SCOPE_SLEEP
        ));
    }

    #[test]
    fn filters_and_rollup_bodies_have_googles_shapes() {
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(
            day_filter(DAILY_RESTING_HR, d("2026-11-10"), d("2026-11-11")),
            r#"daily_resting_heart_rate.date >= "2026-11-10" AND daily_resting_heart_rate.date < "2026-11-11""#
        );
        assert_eq!(
            day_filter(SLEEP, d("2026-11-10"), d("2026-11-11")),
            r#"sleep.interval.civil_end_time >= "2026-11-10" AND sleep.interval.civil_end_time < "2026-11-11""#
        );
        assert_eq!(
            day_filter(EXERCISE, d("2026-11-10"), d("2026-11-11")),
            r#"exercise.interval.civil_start_time >= "2026-11-10" AND exercise.interval.civil_start_time < "2026-11-11""#
        );
        assert_eq!(
            day_filter(BODY_FAT, d("2026-11-10"), d("2026-11-11")),
            r#"body_fat.sample_time.civil_time >= "2026-11-10" AND body_fat.sample_time.civil_time < "2026-11-11""#
        );
        // Byte for byte the documented request (fixture), single digits unpadded.
        let want: serde_json::Value =
            serde_json::from_str(include_str!("fixtures/daily_rollup_request.json")).unwrap();
        let got: serde_json::Value =
            serde_json::from_slice(&rollup_request(d("2026-11-10"), d("2026-11-11"), None))
                .unwrap();
        assert_eq!(got, want);
        let paged: serde_json::Value = serde_json::from_slice(&rollup_request(
            d("2026-01-02"),
            d("2026-01-09"),
            Some("p2"),
        ))
        .unwrap();
        assert_eq!(paged["range"]["start"]["date"]["month"], 1);
        assert_eq!(paged["pageToken"], "p2");
    }

    #[test]
    fn google_error_reasons_are_told_apart() {
        let resp = |status: u16, body: &str| HttpResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers: Default::default(),
            body: Bytes::from(body.to_string()),
        };
        let note = AtomicU8::new(0);
        let scope = tag(
            resp(
                403,
                include_str!("fixtures/error_403_scope_insufficient.json"),
            ),
            &note,
        );
        assert_eq!(
            (scope.status, note.load(Ordering::Relaxed)),
            (StatusCode::NOT_FOUND, SCOPE_INSUFFICIENT)
        );
        let note = AtomicU8::new(0);
        let linked = tag(
            resp(
                400,
                include_str!("fixtures/error_400_account_not_linked.json"),
            ),
            &note,
        );
        assert_eq!(
            (linked.status, note.load(Ordering::Relaxed)),
            (StatusCode::NOT_FOUND, NOT_LINKED)
        );
        // Other 403s (the API disabled, …) stay 403: a connection error.
        let note = AtomicU8::new(0);
        let other = tag(
            resp(
                403,
                r#"{"error":{"code":403,"details":[{"reason":"SERVICE_DISABLED"}]}}"#,
            ),
            &note,
        );
        assert_eq!(
            (other.status, note.load(Ordering::Relaxed)),
            (StatusCode::FORBIDDEN, 0)
        );
        let unauth = tag(
            resp(401, include_str!("fixtures/error_401_unauthenticated.json")),
            &note,
        );
        assert_eq!(unauth.status, StatusCode::UNAUTHORIZED);
    }
}

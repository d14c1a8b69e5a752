//! Withings' API (`https://wbsapi.withings.net`): every data service is a `POST` of an
//! `application/x-www-form-urlencoded` body with `Authorization: Bearer <token>`, and
//! every answer is `{"status": 0, "body": {…}}` with HTTP 200 — a non-zero `status` is
//! the error. Status 401 (and the other authentication failures) refreshes the token
//! once through [`ProviderApi::refresh_connection`]; 601 (too many requests) is retried
//! with backoff.

use bytes::Bytes;
use pulsegate_schema::Connection;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::mapping::{has_more, ActivityBody, MeasureBody, SleepBody, SLEEP_FIELDS};
use super::WithingsConfig;
use crate::api::{classify, expires_soon, Authorized, OAuthApp, ProviderApi, Reply};
use crate::http::{form_encode, HttpError, HttpResponse};
use crate::{Backoff, Ctx, NormalizeError, RetryConfig};

pub const EP_GETMEAS: &str = "measure_getmeas";
pub const EP_GETACTIVITY: &str = "measure_getactivity";
pub const EP_SLEEP_SUMMARY: &str = "sleep_getsummary";

/// Measure types requested from `getmeas` (those the mapping knows).
pub const MEASTYPES: &str = "1,4,5,6,9,10,11,12,54,71,73,76,77,88,91,123";
/// Pages read at most for one notification.
const MAX_PAGES: usize = 10;

/// Withings' `status` values meaning the access token is not valid.
fn is_auth_failure(status: i64) -> bool {
    matches!(status, 100 | 101 | 102 | 200 | 401)
}

#[derive(Deserialize)]
struct Envelope<'a> {
    status: i64,
    #[serde(borrow, default)]
    body: Option<&'a RawValue>,
}

pub struct WithingsClient {
    pub(super) api: ProviderApi,
    api_base: String,
    retry: RetryConfig,
}

impl WithingsClient {
    pub fn new(
        cfg: &WithingsConfig,
        retry: &RetryConfig,
        limiters: &crate::ratelimit::Limiters,
    ) -> Result<Self, NormalizeError> {
        let api_base = cfg.api_base.trim_end_matches('/').to_string();
        let token_url = if cfg.token_url.is_empty() {
            format!("{api_base}/v2/oauth2")
        } else {
            cfg.token_url.clone()
        };
        let oauth = OAuthApp::new(
            &crate::withings::descriptor::OAUTH,
            token_url,
            &cfg.client_id,
            &cfg.client_secret,
        );
        Ok(Self {
            api: ProviderApi::new(
                "withings",
                "Withings",
                cfg.request_timeout,
                retry,
                Some(oauth),
            )?
            .with_rate_limit(limiters, &cfg.api_base, &cfg.rate_limit),
            api_base,
            retry: retry.clone(),
        })
    }

    /// `POST {api_base}/measure action=getmeas category=1` over `[start, end]` (every page).
    pub async fn getmeas(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        start: i64,
        end: i64,
    ) -> Result<Authorized<MeasureBody>, NormalizeError> {
        let url = format!("{}/measure", self.api_base);
        let (start, end) = (start.to_string(), end.to_string());
        let mut all = MeasureBody::default();
        let mut offset = 0i64;
        for _ in 0..MAX_PAGES {
            let off = offset.to_string();
            let mut fields = vec![
                ("action", "getmeas"),
                ("meastypes", MEASTYPES),
                ("category", "1"),
                ("startdate", start.as_str()),
                ("enddate", end.as_str()),
            ];
            if offset > 0 {
                fields.push(("offset", off.as_str()));
            }
            let page: MeasureBody = match self.post(conn, ctx, EP_GETMEAS, &url, &fields).await? {
                Authorized::Ok(p) => p,
                other => return Ok(other),
            };
            all.measuregrps.extend(page.measuregrps);
            match (has_more(&page.more), page.offset) {
                (true, Some(next)) if next > offset => offset = next,
                _ => break,
            }
        }
        Ok(Authorized::Ok(all))
    }

    /// `POST {api_base}/v2/measure action=getactivity` for the days `[from, to]`.
    pub async fn getactivity(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        from: &str,
        to: &str,
    ) -> Result<Authorized<ActivityBody>, NormalizeError> {
        let url = format!("{}/v2/measure", self.api_base);
        let fields = [
            ("action", "getactivity"),
            ("startdateymd", from),
            ("enddateymd", to),
            (
                "data_fields",
                "steps,distance,elevation,soft,moderate,intense,active,calories,totalcalories,\
                 hr_average,hr_min,hr_max,hr_zone_0,hr_zone_1,hr_zone_2,hr_zone_3",
            ),
        ];
        self.post(conn, ctx, EP_GETACTIVITY, &url, &fields).await
    }

    /// `POST {api_base}/v2/sleep action=getsummary` for the nights `[from, to]`.
    pub async fn sleep_summary(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        from: &str,
        to: &str,
    ) -> Result<Authorized<SleepBody>, NormalizeError> {
        let url = format!("{}/v2/sleep", self.api_base);
        let fields = [
            ("action", "getsummary"),
            ("startdateymd", from),
            ("enddateymd", to),
            ("data_fields", SLEEP_FIELDS),
        ];
        self.post(conn, ctx, EP_SLEEP_SUMMARY, &url, &fields).await
    }

    /// One authorized call: refresh first when the token is about to expire, refresh
    /// once on an authentication failure (HTTP 401 or `status` 401…), retry `status`
    /// 601 with backoff. The `body` is decoded as `T`.
    async fn post<T: DeserializeOwned>(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        endpoint: &'static str,
        url: &str,
        fields: &[(&str, &str)],
    ) -> Result<Authorized<T>, NormalizeError> {
        let mut conn = ctx
            .state
            .connection(&conn.user_id)
            .map(|c| (*c).clone())
            .unwrap_or_else(|| conn.clone());
        let mut refreshed = false;
        if expires_soon(&conn) {
            match self.api.refresh_connection(&conn, ctx).await? {
                Ok(c) => conn = c,
                Err(why) => return Ok(Authorized::ConnectionError(why)),
            }
            refreshed = true;
        }
        let body = Bytes::from(form_encode(fields));
        let mut backoff = Backoff::new(&self.retry);
        loop {
            let token = conn.access_token.expose().to_string();
            let resp = self
                .api
                .call_lane(ctx.lane, Some(&conn.user_id), endpoint, || {
                    self.send(url, &token, body.clone())
                })
                .await?;
            let status = match classify(&resp) {
                Reply::Ok(()) => match serde_json::from_slice::<Envelope<'_>>(&resp.body) {
                    Ok(env) if env.status == 0 => {
                        let raw = env.body.map(RawValue::get).unwrap_or("{}");
                        return serde_json::from_str::<T>(raw)
                            .map(Authorized::Ok)
                            .map_err(|e| {
                                NormalizeError::dropped(
                                    "bad_response",
                                    format!("Withings {endpoint}: unexpected response: {e}"),
                                )
                            });
                    }
                    Ok(env) => env.status,
                    Err(e) => {
                        return Err(NormalizeError::dropped(
                            "bad_response",
                            format!("Withings {endpoint}: unexpected response: {e}"),
                        ))
                    }
                },
                Reply::Unauthorized => 401,
                Reply::NotFound => return Ok(Authorized::NotFound),
                Reply::Forbidden => {
                    return Ok(Authorized::ConnectionError(
                        "the provider refused access to the data (HTTP 403)",
                    ))
                }
                Reply::Rejected(s) => {
                    return Err(NormalizeError::dropped(
                        "api_rejected",
                        format!("Withings answered HTTP {} for {endpoint}", s.as_u16()),
                    ))
                }
            };
            if is_auth_failure(status) {
                if refreshed {
                    return Ok(Authorized::ConnectionError(
                        "the provider rejected the access token (status 401)",
                    ));
                }
                tracing::info!(
                    "Withings answered status {status}; refreshing the access token once"
                );
                match self.api.refresh_connection(&conn, ctx).await? {
                    Ok(c) => conn = c,
                    Err(why) => return Ok(Authorized::ConnectionError(why)),
                }
                refreshed = true;
                continue;
            }
            if status == 601 {
                if !backoff.record_attempt() {
                    return Err(NormalizeError::TransientExhausted {
                        endpoint,
                        attempts: backoff.attempts(),
                        last: "status 601 (too many requests)".into(),
                    });
                }
                tokio::time::sleep(backoff.delay(None)).await;
                continue;
            }
            return Err(NormalizeError::dropped(
                "api_rejected",
                format!("Withings answered status {status} for {endpoint}"),
            ));
        }
    }

    /// `POST url` with the form `body` and the bearer token.
    async fn send(&self, url: &str, token: &str, body: Bytes) -> Result<HttpResponse, HttpError> {
        self.api
            .http
            .post_bearer(url, token, "application/x-www-form-urlencoded", body, &[])
            .await
    }
}

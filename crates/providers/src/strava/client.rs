//! Strava's REST API: `GET /api/v3/activities/{id}` and, for historical requests,
//! `GET /api/v3/athlete/activities` with the athlete's token; token refresh, retries,
//! rate limits and metrics come from [`ProviderApi`].

use super::mapping::DetailedActivity;
use crate::api::{Authorized, OAuthApp, ProviderApi};
use super::StravaConfig;
use crate::{Ctx, NormalizeError, RetryConfig};
use pulsegate_schema::Connection;

const EP_ACTIVITY: &str = "get_activity";
const EP_LIST: &str = "list_activities";
const EP_CREATE: &str = "create_activity";
const EP_ATHLETE: &str = "get_athlete";

/// What fetching an activity for a connection came to.
pub enum Fetched {
    Activity(Box<DetailedActivity>),
    /// Strava refused the connection's credentials: a `connection_error` is due.
    ConnectionError(&'static str),
}

pub struct StravaClient {
    api: ProviderApi,
    api_base: String,
}

impl StravaClient {
    pub fn new(
        cfg: &StravaConfig,
        retry: &RetryConfig,
        limiters: &crate::ratelimit::Limiters,
    ) -> Result<Self, NormalizeError> {
        let api_base = cfg.api_base.trim_end_matches('/').to_string();
        let oauth = OAuthApp::new(
            &crate::strava::descriptor::OAUTH,
            format!("{api_base}/oauth/token"),
            &cfg.client_id,
            &cfg.client_secret,
        );
        Ok(Self {
            api: ProviderApi::new("strava", "Strava", cfg.request_timeout, retry, Some(oauth))?
                .with_rate_limit(limiters, &cfg.api_base, &cfg.rate_limit),
            api_base,
        })
    }

    /// Fetches activity `id` with `conn`'s token, refreshing it first when it is about to
    /// expire, or once after a 401. 404 → `Dropped("not_found")`.
    pub async fn fetch_activity(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        id: u64,
    ) -> Result<Fetched, NormalizeError> {
        let url = format!("{}/api/v3/activities/{id}", self.api_base);
        match self
            .api
            .get_json::<DetailedActivity>(conn, ctx, EP_ACTIVITY, &url)
            .await?
        {
            Authorized::Ok(a) => Ok(Fetched::Activity(Box::new(a))),
            Authorized::NotFound => Err(NormalizeError::dropped(
                "not_found",
                format!("Strava has no activity {id} for this athlete"),
            )),
            Authorized::ConnectionError(why) => Ok(Fetched::ConnectionError(why)),
        }
    }

    /// Asks Strava whether the athlete really revoked the application: `GET
    /// /api/v3/athlete` with the athlete's own token (refreshed first when expired, or
    /// once after a 401). Only a 401 after that (or a refused refresh) confirms; a 200
    /// means the push was forged.
    pub async fn confirm_revoked(
        &self,
        conn: &Connection,
        ctx: &Ctx,
    ) -> Result<crate::confirm::Revocation, NormalizeError> {
        let url = format!("{}/api/v3/athlete", self.api_base);
        let answer = self
            .api
            .send_authorized(conn, ctx, EP_ATHLETE, |token| {
                let url = url.clone();
                async move { self.api.http.get_bearer(&url, &token).await }
            })
            .await?;
        Ok(crate::confirm::revocation(&answer, false))
    }

    /// One page of `GET /api/v3/athlete/activities?after=&before=&page=&per_page=`
    /// (Strava's `getLoggedInAthleteActivities`: the athlete's `SummaryActivity`s that
    /// started after `after` and before `before`, Unix seconds).
    pub async fn list_activities(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        (after, before): (i64, i64),
        page: u32,
        per_page: u32,
    ) -> Result<Authorized<Vec<DetailedActivity>>, NormalizeError> {
        let url = format!(
            "{}/api/v3/athlete/activities?after={after}&before={before}&page={page}&per_page={per_page}",
            self.api_base
        );
        self.api
            .get_json::<Vec<DetailedActivity>>(conn, ctx, EP_LIST, &url)
            .await
    }

    /// `POST /api/v3/activities` (Strava's `createActivity`: a manual activity) with the
    /// form `fields`, sent once (no retry). The created `DetailedActivity`.
    pub async fn create_activity(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        fields: &[(&str, String)],
    ) -> Result<Authorized<DetailedActivity>, NormalizeError> {
        let url = format!("{}/api/v3/activities", self.api_base);
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let form = crate::http::form_encode(&pairs);
        let answer = self
            .api
            .write_authorized(conn, ctx, EP_CREATE, http::Method::POST, &url, Some(form))
            .await?;
        Ok(match answer {
            Authorized::Ok(body) => match serde_json::from_slice::<DetailedActivity>(&body) {
                Ok(a) => Authorized::Ok(a),
                Err(e) => {
                    return Err(NormalizeError::dropped(
                        "bad_response",
                        format!("Strava {EP_CREATE}: unexpected response: {e}"),
                    ))
                }
            },
            Authorized::NotFound => Authorized::NotFound,
            Authorized::ConnectionError(m) => Authorized::ConnectionError(m),
        })
    }
}

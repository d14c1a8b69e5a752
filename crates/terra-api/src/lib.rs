//! The Terra-compatible customer API: what Terra's official clients (`terra-python`
//! 1.1.0 is the contract) call under `https://api.tryterra.co/v2`, served under `/v2` so
//! that a client works against pulsegate by changing only its base URL. Plus the
//! connect widget (`/widget/{session_id}`) and the mobile SDK's token exchange.
//!
//! - [`auth`]: every `/v2` call carries `dev-id` and `x-api-key` (developer accounts
//!   are created through `/v1/admin/developers`; keys stored hashed), except the two
//!   integrations listings, public as at Terra.
//! - [`authentication`]: `/v2/auth/*` (authenticateUser, generateWidgetSession,
//!   deauthenticateUser, generateAuthToken).
//! - [`widget`]: the provider picker a widget session's URL opens.
//! - [`sdk`]: `POST /v1/sdk/{provider}/connect`, where an app exchanges an auth token.
//! - [`users`]: userInfo, users/{id}, bulkUserInfo, subscriptions.
//! - [`integrations`]: integrations, integrations/detailed (public; with icons).
//! - [`data`]: the data endpoints (through [`HistoricalData`]); planned workouts (501).
//! - [`write`]: `POST`/`DELETE` on activity, body and nutrition, written at the user's
//!   provider where its API allows (Strava, Fitbit), else 501 naming the provider
//!   (through [`ProviderWrites`]).
//! - [`ports`]: those two ports; the binary adapts the normalizer to them.
//!
//! Every answer is Terra's shape; errors are `{"status":"error","message":"..."}`.
//! docs/TERRA-COMPATIBILITY.md lists every endpoint and every known difference.

#![allow(
    clippy::result_large_err,
    reason = "handlers answer errors as ready (Terra-shaped) `Response`s, as the admin crate does"
)]

mod auth;
mod authentication;
mod data;
mod integrations;
mod ports;
mod sdk;
mod users;
mod widget;
mod write;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{middleware, Json, Router};
use pulsegate_bus::Bus;
use pulsegate_connect::ConnectService;
use pulsegate_state::StateStore;

pub use ports::{BackfillFailure, HistoricalData, ProviderWrites};

/// `[terra_api]`.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TerraApiConfig {
    /// How long a widget session's URL works. Default 15m (Terra's `expires_in` 900).
    #[serde(with = "humantime_serde")]
    pub widget_session_ttl: Duration,
    /// How long a mobile SDK auth token can be exchanged. Default 3m.
    #[serde(with = "humantime_serde")]
    pub auth_token_ttl: Duration,
}

impl Default for TerraApiConfig {
    fn default() -> Self {
        Self {
            widget_session_ttl: Duration::from_secs(15 * 60),
            auth_token_ttl: Duration::from_secs(3 * 60),
        }
    }
}

#[derive(Clone)]
pub(crate) struct Api {
    pub(crate) state: Arc<StateStore>,
    pub(crate) bus: Arc<dyn Bus>,
    pub(crate) connect: Arc<ConnectService>,
    /// `None` in a build without backfill: the data endpoints validate and answer 501.
    pub(crate) backfill: Option<Arc<dyn HistoricalData>>,
    /// `None` in a build without provider writes: the write endpoints answer 501.
    pub(crate) writes: Option<Arc<dyn ProviderWrites>>,
    pub(crate) config: Arc<TerraApiConfig>,
}

/// `/v2/*` (behind `dev-id` + `x-api-key`, except `/v2/integrations` and
/// `/v2/integrations/detailed`, public as at Terra), `/widget/*` and
/// `/v1/sdk/{provider}/connect` (public: browsers and apps reach them with a session id
/// or a one-time token).
pub fn router(
    state: Arc<StateStore>,
    bus: Arc<dyn Bus>,
    connect: Arc<ConnectService>,
    backfill: Option<Arc<dyn HistoricalData>>,
    writes: Option<Arc<dyn ProviderWrites>>,
    config: TerraApiConfig,
) -> Router {
    let api = Api {
        state,
        bus,
        connect,
        backfill,
        writes,
        config: Arc::new(config),
    };
    let unsupported = data::unsupported;
    let v2 = Router::new()
        .route(
            "/v2/auth/authenticateUser",
            post(authentication::authenticate_user),
        )
        .route(
            "/v2/auth/generateWidgetSession",
            post(authentication::generate_widget_session),
        )
        .route(
            "/v2/auth/deauthenticateUser",
            axum::routing::delete(authentication::deauthenticate_user),
        )
        .route(
            "/v2/auth/generateAuthToken",
            post(authentication::generate_auth_token),
        )
        .route(
            "/v2/userInfo",
            get(users::user_info).patch(users::modify_by_query),
        )
        .route("/v2/users/{user_id}", patch(users::modify))
        .route("/v2/bulkUserInfo", post(users::bulk_user_info))
        .route("/v2/subscriptions", get(users::subscriptions))
        .route(
            "/v2/activity",
            get(data::activity)
                .post(write::activity)
                .delete(write::activity),
        )
        .route("/v2/athlete", get(data::athlete))
        .route(
            "/v2/body",
            get(data::body).post(write::body).delete(write::body),
        )
        .route("/v2/daily", get(data::daily))
        .route("/v2/menstruation", get(data::menstruation))
        .route(
            "/v2/nutrition",
            get(data::nutrition)
                .post(write::nutrition)
                .delete(write::nutrition),
        )
        .route("/v2/sleep", get(data::sleep))
        .route(
            "/v2/plannedWorkout",
            get(unsupported).post(unsupported).delete(unsupported),
        )
        .layer(middleware::from_fn_with_state(
            api.clone(),
            auth::require_developer,
        ));
    // Public as at Terra: which providers a deployment offers is no secret, and apps
    // list them before any developer key is at hand.
    let public = Router::new()
        .route("/v2/integrations", get(integrations::list))
        .route("/v2/integrations/detailed", get(integrations::detailed))
        .route("/widget/{session_id}", get(widget::page))
        .route("/widget/{session_id}/start/{provider}", get(widget::start))
        .route("/v1/sdk/{provider}/connect", post(sdk::connect));
    v2.merge(public).with_state(api)
}

/// Terra's error body, `{"status":"error","message":...}`.
pub(crate) fn terra_error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = serde_json::json!({ "status": "error", "message": message.into() });
    (status, Json(body)).into_response()
}

pub(crate) fn state_error(e: pulsegate_state::StateError) -> Response {
    tracing::error!(error = %e, "state write failed");
    terra_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "state store unavailable; try again",
    )
}

/// The query string's parameters (later values win).
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        Self(pulsegate_schema::form::pairs(raw.unwrap_or("")))
    }

    /// The last non-empty value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// A boolean as Python's `httpx` sends it (`true`/`false`), also `1`/`0`.
    pub(crate) fn flag(&self, name: &str, default: bool) -> Result<bool, Response> {
        match self.get(name) {
            None => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => Ok(false),
            Some(_) => Err(terra_error(
                StatusCode::BAD_REQUEST,
                format!("{name} must be true or false"),
            )),
        }
    }
}

/// A JSON request body, or Terra's 400. An empty body is `{}`.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| {
        let msg: String = e.to_string().chars().take(200).collect();
        terra_error(StatusCode::BAD_REQUEST, format!("invalid JSON body: {msg}"))
    })
}

#[cfg(test)]
mod tests;

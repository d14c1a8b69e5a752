//! `GET /v1/auth/{provider}/start?flow=<ticket>`: where the end user's browser first
//! reaches pulsegate. It binds the flow to this browser (a random value in an HttpOnly,
//! SameSite=Lax cookie; its hash in the `state`) and redirects to the provider. The
//! callback refuses a state whose cookie this browser does not hold.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use pulsegate_schema::{now_ms, Provider};

use crate::callback::page;
use crate::state_token::{self, Kind};
use crate::ConnectService;

/// The binding cookie's name for a flow (one per flow, so two flows in two tabs do not
/// overwrite each other's).
pub(crate) fn cookie_name(nonce: &str) -> String {
    format!("pg_oauth_{nonce}")
}

/// Only the callback needs the cookie.
const COOKIE_PATH: &str = "/v1/auth/";

/// The value of cookie `name` in the request's `Cookie` headers.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// A `Set-Cookie` that removes the flow's cookie (sent with the callback's answer).
pub(crate) fn clear_cookie(nonce: &str) -> String {
    format!(
        "{}=; Path={COOKIE_PATH}; Max-Age=0; HttpOnly; SameSite=Lax",
        cookie_name(nonce)
    )
}

pub(crate) async fn start(
    State(svc): State<Arc<ConnectService>>,
    Path(provider): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(p) = Provider::from_slug(&provider) else {
        return page(StatusCode::NOT_FOUND, "Unknown provider.");
    };
    let q = pulsegate_schema::form::pairs(query.as_deref().unwrap_or(""));
    let Some((_, ticket)) = q.iter().find(|(k, _)| k == "flow") else {
        return page(StatusCode::BAD_REQUEST, "Missing flow.");
    };
    let now = now_ms();
    let mut flow = match state_token::verify(&svc.state_key, Kind::Ticket, ticket, now) {
        Ok(f) if f.p == p.slug() => f,
        Ok(_) => {
            return page(
                StatusCode::BAD_REQUEST,
                "This link is for another provider.",
            )
        }
        Err(e) => {
            metrics::counter!("pulsegate_connect_completed_total", "provider" => p.slug(), "outcome" => "bad_ticket")
                .increment(1);
            return page(
                StatusCode::BAD_REQUEST,
                &format!("Cannot start: {e}. Start again from the app."),
            );
        }
    };
    // 244 random bits (two v4 UUIDs from the OS's generator).
    let mut raw = [0u8; 32];
    raw[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    raw[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    let binding = URL_SAFE_NO_PAD.encode(raw);
    flow.b = state_token::binding_hash(&binding);
    let location = match svc.authorize_url(p, &flow) {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(provider = p.slug(), error = %e, "could not build the authorize URL");
            return page(
                StatusCode::SERVICE_UNAVAILABLE,
                "This provider cannot be connected right now.",
            );
        }
    };
    let max_age = flow.exp.saturating_sub(now) / 1000;
    let secure = if svc.public_https() { "; Secure" } else { "" };
    let set_cookie = format!(
        "{}={binding}; Path={COOKIE_PATH}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
        cookie_name(&flow.n)
    );
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (header::SET_COOKIE, set_cookie),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
    )
        .into_response()
}

//! `/v1/admin/integrations/{provider}/push-url`: the push path to register with a
//! provider. Providers whose pushes carry no signature (push mode `PathToken` in the
//! provider registry, `pulsegate_provider`) are reached only through a secret path token (`/v1/ingest/<provider>/<token>`),
//! generated on first read; rotating it keeps the previous one valid for a grace
//! period (default 24 h). Signed providers have the plain path and nothing to rotate.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use pulsegate_provider::PushMode;
use pulsegate_providers::descriptor;
use pulsegate_schema::{now_ms, Provider};
use pulsegate_state::PushToken;
use serde::Deserialize;

use crate::{error, state_error, AdminState};

/// Default grace period of a rotated-out path token.
const DEFAULT_GRACE_SECS: u64 = 24 * 3600;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rotate {
    /// How long the previous token keeps working. Default 24 h.
    #[serde(default)]
    grace_secs: Option<u64>,
}

fn provider(slug: &str) -> Result<Provider, Response> {
    Provider::from_slug(slug)
        .filter(|p| !p.is_sdk())
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "unknown provider"))
}

/// Pushes authenticated by a path token, not a signature.
fn needs_push_token(p: Provider) -> bool {
    descriptor(p).push == PushMode::PathToken
}

fn view(t: &PushToken) -> Response {
    let now = now_ms();
    Json(serde_json::json!({
        "provider": t.provider.slug(),
        "path_token": true,
        "path": t.path(),
        "created_at_ms": t.created_at_ms,
        "previous_valid_until_ms": t.previous_at(now).map(|_| t.previous_until_ms),
    }))
    .into_response()
}

pub(crate) async fn get(State(s): State<AdminState>, Path(slug): Path<String>) -> Response {
    let p = match provider(&slug) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if !needs_push_token(p) {
        return Json(serde_json::json!({
            "provider": p.slug(),
            "path_token": false,
            "path": format!("/v1/ingest/{}", p.slug()),
        }))
        .into_response();
    }
    match s.state.ensure_push_token(p).await {
        Ok(t) => view(&t),
        Err(e) => state_error(e),
    }
}

pub(crate) async fn rotate(
    State(s): State<AdminState>,
    Path(slug): Path<String>,
    body: Option<Json<Rotate>>,
) -> Response {
    let p = match provider(&slug) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if !needs_push_token(p) {
        return error(
            StatusCode::NOT_FOUND,
            "this provider signs its pushes: its push path has no token",
        );
    }
    let grace = body
        .and_then(|Json(b)| b.grace_secs)
        .unwrap_or(DEFAULT_GRACE_SECS);
    match s
        .state
        .rotate_push_token(p, grace.saturating_mul(1000))
        .await
    {
        Ok(t) => {
            tracing::info!(
                provider = p.slug(),
                grace_secs = grace,
                "push path token rotated"
            );
            view(&t)
        }
        Err(e) => state_error(e),
    }
}

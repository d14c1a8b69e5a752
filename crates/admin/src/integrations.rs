//! `/v1/admin/integrations`: per provider of the registry (`pulsegate_providers::descriptors()`),
//! on or off and which data types are processed, in one call. Written to the state
//! topic, so every process applies it within moments: ingest answers 404 for a disabled
//! provider, the normalizer drops its queued notifications and any event of a data type
//! that is not enabled.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use pulsegate_provider::PushMode;
use pulsegate_providers::{descriptor, descriptors};
use pulsegate_schema::{now_ms, Integration, Provider, DATA_TYPES};
use serde::{Deserialize, Serialize};

use crate::{error, state_error, AdminState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IntegrationUpdate {
    enabled: bool,
    /// Omitted: unchanged. Empty: every data type.
    #[serde(default)]
    data_types: Option<Vec<String>>,
    /// Omitted: unchanged.
    #[serde(default)]
    scopes: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct IntegrationView {
    provider: &'static str,
    terra_name: &'static str,
    /// How people see it named (the provider registry's display name).
    name: &'static str,
    enabled: bool,
    /// Empty = every data type.
    data_types: Vec<String>,
    scopes: Option<String>,
    updated_at_ms: u64,
    /// How its data arrives: `signed` / `path_token` pushes, `poll`, `sdk` uploads.
    push: &'static str,
    /// For pushing providers: whether the route is configured (mounted) and what it
    /// received in this process; absent for polled and SDK providers.
    #[serde(skip_serializing_if = "Option::is_none")]
    receiving: Option<crate::PushReport>,
}

fn view(s: &AdminState, provider: Provider) -> IntegrationView {
    let i = s.state.integration(provider);
    IntegrationView {
        provider: provider.slug(),
        terra_name: provider.terra_name(),
        name: descriptor(provider).display_name,
        enabled: i.as_ref().is_none_or(|i| i.enabled),
        data_types: i.as_ref().map(|i| i.data_types.clone()).unwrap_or_default(),
        scopes: i.as_ref().and_then(|i| i.scopes.clone()),
        updated_at_ms: i.as_ref().map(|i| i.updated_at_ms).unwrap_or(0),
        push: match descriptor(provider).push {
            PushMode::Signed => "signed",
            PushMode::PathToken => "path_token",
            PushMode::Poll => "poll",
            PushMode::SdkUpload => "sdk",
        },
        receiving: match descriptor(provider).push {
            PushMode::Signed | PushMode::PathToken => s.ports.ingest.push(provider),
            PushMode::Poll | PushMode::SdkUpload => None,
        },
    }
}

pub(crate) async fn list(State(s): State<AdminState>) -> Response {
    let all: Vec<IntegrationView> = descriptors().map(|d| view(&s, d.id)).collect();
    Json(serde_json::json!({ "integrations": all })).into_response()
}

pub(crate) async fn get_one(State(s): State<AdminState>, Path(provider): Path<String>) -> Response {
    match Provider::from_slug(&provider) {
        Some(p) => Json(view(&s, p)).into_response(),
        None => error(StatusCode::NOT_FOUND, "unknown provider"),
    }
}

pub(crate) async fn put(
    State(s): State<AdminState>,
    Path(provider): Path<String>,
    body: Result<Json<IntegrationUpdate>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Some(provider) = Provider::from_slug(&provider) else {
        return error(StatusCode::NOT_FOUND, "unknown provider");
    };
    let Json(update) = match body {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.body_text()),
    };
    if let Some(types) = &update.data_types {
        if let Some(bad) = types.iter().find(|t| !DATA_TYPES.contains(&t.as_str())) {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!(
                    "unknown data type {bad:?}; known: {}",
                    DATA_TYPES.join(", ")
                ),
            );
        }
    }
    let current = s.state.integration(provider);
    let integration = Integration {
        provider,
        enabled: update.enabled,
        data_types: update
            .data_types
            .or_else(|| current.as_ref().map(|c| c.data_types.clone()))
            .unwrap_or_default(),
        scopes: update
            .scopes
            .or_else(|| current.as_ref().and_then(|c| c.scopes.clone())),
        updated_at_ms: now_ms(),
    };
    if let Err(e) = s.state.put_integration(&integration).await {
        return state_error(e);
    }
    tracing::info!(
        provider = provider.slug(),
        enabled = integration.enabled,
        "integration updated"
    );
    Json(view(&s, provider)).into_response()
}

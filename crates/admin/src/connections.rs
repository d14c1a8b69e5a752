use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use pulsegate_schema::{now_ms, Connection, ConnectionStatus, Provider, Secret};
use serde::{Deserialize, Serialize};

use crate::{error, state_error, AdminState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewConnection {
    provider: String,
    provider_user_id: String,
    #[serde(default)]
    reference_id: Option<String>,
    #[serde(default)]
    access_token: Secret,
    #[serde(default)]
    refresh_token: Secret,
    #[serde(default)]
    expires_at: i64,
    #[serde(default)]
    scopes: Option<String>,
    /// The developer account owning the user (`None` = operator-owned: no `/v2` key
    /// sees it, only operator destinations receive its events).
    #[serde(default)]
    dev_id: Option<String>,
}

/// What the API shows of a connection: tokens masked.
#[derive(Serialize)]
pub(crate) struct ConnectionView {
    user_id: String,
    provider: Provider,
    provider_user_id: String,
    reference_id: Option<String>,
    access_token: String,
    refresh_token: String,
    expires_at: i64,
    scopes: Option<String>,
    status: ConnectionStatus,
    created_at_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    dev_id: Option<String>,
    /// Provider facts learnt at connect time (Google Health: `legacy_user_id`).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    metadata: std::collections::BTreeMap<String, String>,
}

impl From<&Connection> for ConnectionView {
    fn from(c: &Connection) -> Self {
        Self {
            user_id: c.user_id.clone(),
            provider: c.provider,
            provider_user_id: c.provider_user_id.clone(),
            reference_id: c.reference_id.clone(),
            access_token: c.access_token.masked(),
            refresh_token: c.refresh_token.masked(),
            expires_at: c.expires_at,
            scopes: c.scopes.clone(),
            status: c.status,
            created_at_ms: c.created_at_ms,
            dev_id: c.dev_id.clone(),
            metadata: c.metadata.clone(),
        }
    }
}

pub(crate) async fn create(
    State(s): State<AdminState>,
    body: Result<Json<NewConnection>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(new) = match body {
        Ok(b) => b,
        Err(e) => return error(StatusCode::UNPROCESSABLE_ENTITY, &e.body_text()),
    };
    let Some(provider) = Provider::from_slug(&new.provider) else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "provider: unknown provider",
        );
    };
    if new.provider_user_id.trim().is_empty() {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "provider_user_id: must not be empty",
        );
    }
    // On-device sources upload with SDK tokens; they have no provider token.
    if new.access_token.is_empty() && !provider.is_sdk() {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "access_token: must not be empty",
        );
    }
    if let Some(d) = new.dev_id.as_deref() {
        if s.state.developer(d).is_none() {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "dev_id: no such developer",
            );
        }
    }
    // Connecting the same provider account again replaces the old connection's tokens
    // and keeps its user_id, as Terra does.
    let existing = s.state.connection_for(provider, &new.provider_user_id);
    let conn = Connection {
        user_id: existing
            .as_ref()
            .map(|c| c.user_id.clone())
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        provider,
        provider_user_id: new.provider_user_id,
        reference_id: new.reference_id,
        access_token: new.access_token,
        refresh_token: new.refresh_token,
        expires_at: new.expires_at,
        scopes: new.scopes,
        status: ConnectionStatus::Active,
        metadata: existing
            .as_ref()
            .map(|c| c.metadata.clone())
            .unwrap_or_default(),
        created_at_ms: existing.map_or_else(now_ms, |c| c.created_at_ms),
        dev_id: new.dev_id,
    };
    if let Err(e) = s.state.put_connection(&conn).await {
        return state_error(e);
    }
    tracing::info!(user_id = %conn.user_id, provider = provider.slug(), "connection stored");
    (StatusCode::CREATED, Json(ConnectionView::from(&conn))).into_response()
}

pub(crate) async fn list(State(s): State<AdminState>) -> Response {
    let all: Vec<ConnectionView> = s
        .state
        .connections()
        .iter()
        .map(|c| ConnectionView::from(c.as_ref()))
        .collect();
    Json(serde_json::json!({ "connections": all })).into_response()
}

pub(crate) async fn get_one(State(s): State<AdminState>, Path(user_id): Path<String>) -> Response {
    match s.state.connection(&user_id) {
        Some(c) => Json(ConnectionView::from(c.as_ref())).into_response(),
        None => error(StatusCode::NOT_FOUND, "no such connection"),
    }
}

/// Deauthorises a connection (see `ConnectService::deauthorize`): tokens destroyed,
/// `deauth` emitted, record deleted.
pub(crate) async fn delete(State(s): State<AdminState>, Path(user_id): Path<String>) -> Response {
    use pulsegate_connect::DeauthError;
    match s.connect.deauthorize(&user_id, "admin-delete").await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(DeauthError::NotFound) => error(StatusCode::NOT_FOUND, "no such connection"),
        Err(DeauthError::State(e)) => state_error(e),
        Err(DeauthError::Bus(_)) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "bus unavailable; the connection is revoked, try the delete again",
        ),
    }
}

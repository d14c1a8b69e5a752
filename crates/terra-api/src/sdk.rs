//! `POST /v1/sdk/{provider}/connect`: where a mobile app exchanges the auth token its
//! backend got from `POST /v2/auth/generateAuthToken` (Terra's SDK does the same inside
//! `initConnection`). The token is single-use and short-lived; the exchange creates the
//! on-device connection (Apple Health, Samsung Health, Health Connect), emits `auth`,
//! and returns the connection's SDK upload token for `POST /v1/ingest/sdk/{provider}`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use pulsegate_schema::{
    api_key_hash, now_ms, sdk_token_hash, Connection, ConnectionStatus, EventType, Provider,
    SdkToken,
};
use serde::Deserialize;
use serde_json::json;

use crate::{json_body, state_error, terra_error, Api};

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct ConnectBody {
    /// The customer's id for the user.
    reference_id: Option<String>,
    /// The device store's id for the user, if the app has one (a new id otherwise).
    /// Connecting the same one again keeps the user_id.
    provider_user_id: Option<String>,
}

pub(crate) async fn connect(
    State(api): State<Api>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(p) = Provider::from_slug(&provider).filter(|p| p.is_sdk()) else {
        return terra_error(
            StatusCode::NOT_FOUND,
            "not an on-device provider (apple, samsung, health_connect)",
        );
    };
    if !api.state.integration_enabled(p) {
        return terra_error(
            StatusCode::NOT_FOUND,
            format!("the {} integration is not enabled", p.terra_name()),
        );
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let hash = api_key_hash(token);
    let Some(auth) = api
        .state
        .auth_token(&hash, now_ms())
        .filter(|_| !token.is_empty())
    else {
        return terra_error(
            StatusCode::UNAUTHORIZED,
            "missing, unknown, used or expired auth token",
        );
    };
    let b: ConnectBody = match json_body(&body) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    // Used up before anything is created: a retried exchange needs a new token.
    if let Err(e) = api.state.delete_auth_token(&hash).await {
        return state_error(e);
    }
    let provider_user_id = b
        .provider_user_id
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let existing = api.state.connection_for(p, &provider_user_id);
    // The token's developer owns the connection; another owner's user is never taken
    // over (nor its data uploaded into) by naming its provider_user_id.
    if existing
        .as_ref()
        .is_some_and(|c| c.dev_id.as_deref() != Some(auth.dev_id.as_str()))
    {
        return terra_error(
            StatusCode::CONFLICT,
            "this provider_user_id is connected under another account",
        );
    }
    let conn = Connection {
        user_id: existing
            .as_ref()
            .map(|c| c.user_id.clone())
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        provider: p,
        provider_user_id,
        reference_id: b
            .reference_id
            .filter(|s| !s.is_empty())
            .or_else(|| existing.as_ref().and_then(|c| c.reference_id.clone())),
        access_token: Default::default(),
        refresh_token: Default::default(),
        expires_at: 0,
        scopes: None,
        status: ConnectionStatus::Active,
        created_at_ms: existing.map_or_else(now_ms, |c| c.created_at_ms),
        dev_id: Some(auth.dev_id.clone()),
        metadata: Default::default(),
    };
    if let Err(e) = api.state.put_connection(&conn).await {
        return state_error(e);
    }
    let sdk_token = format!(
        "pgsdk_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let record = SdkToken {
        token_id: uuid::Uuid::new_v4().to_string(),
        user_id: conn.user_id.clone(),
        created_at_ms: now_ms(),
    };
    if let Err(e) = api
        .state
        .put_sdk_token(&sdk_token_hash(&sdk_token), &record)
        .await
    {
        return state_error(e);
    }
    let user = pulsegate_connect::terra_user(&conn);
    let event = json!({
        "type": "auth",
        "status": "success",
        "user": user,
        "reference_id": conn.reference_id.clone().unwrap_or_default(),
        "widget_session_id": "",
        "message": pulsegate_connect::AUTH_SUCCESS_MESSAGE,
        "version": pulsegate_schema::PAYLOAD_VERSION,
    });
    if let Err(e) = pulsegate_connect::emit_lifecycle(
        &*api.bus,
        &conn,
        EventType::Auth,
        &record.token_id,
        event,
    )
    .await
    {
        tracing::error!(error = %e, "could not emit the auth event of an SDK connection");
    }
    tracing::info!(user_id = %conn.user_id, provider = p.slug(), "sdk connection created");
    (
        StatusCode::CREATED,
        Json(json!({
            "status": "success",
            "user": user,
            "token": sdk_token,
            "token_id": record.token_id,
            "upload_url": format!("{}/v1/ingest/sdk/{}", api.connect.public_url(), p.slug()),
        })),
    )
        .into_response()
}

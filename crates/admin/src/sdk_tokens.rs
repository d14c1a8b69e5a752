//! SDK upload tokens: a mobile app reading Apple Health, Samsung Health or Health
//! Connect uploads with one of these (`POST /v1/ingest/sdk/{provider}`). Issued per
//! connection, shown once, stored as a SHA-256 hash, revocable.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use pulsegate_schema::{now_ms, sdk_token_hash, SdkToken};

use crate::{error, state_error, AdminState};

/// `POST /v1/admin/connections/{user_id}/sdk-tokens`: issues a token (returned once).
pub(crate) async fn issue(State(s): State<AdminState>, Path(user_id): Path<String>) -> Response {
    let Some(conn) = s.state.connection(&user_id) else {
        return error(StatusCode::NOT_FOUND, "no such connection");
    };
    if !conn.provider.is_sdk() {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!(
                "{} data is not uploaded by an app: SDK tokens are for apple, samsung and \
                 health_connect connections",
                conn.provider.slug()
            ),
        );
    }
    let token = format!(
        "pgsdk_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let record = SdkToken {
        token_id: uuid::Uuid::new_v4().to_string(),
        user_id: user_id.clone(),
        created_at_ms: now_ms(),
    };
    if let Err(e) = s
        .state
        .put_sdk_token(&sdk_token_hash(&token), &record)
        .await
    {
        return state_error(e);
    }
    tracing::info!(%user_id, token_id = %record.token_id, "sdk token issued");
    (
        StatusCode::CREATED,
        Json(serde_json::json!({
            "token": token,
            "token_id": record.token_id,
            "user_id": user_id,
            "created_at_ms": record.created_at_ms,
        })),
    )
        .into_response()
}

/// `GET /v1/admin/connections/{user_id}/sdk-tokens`: ids only, never the tokens.
pub(crate) async fn list(State(s): State<AdminState>, Path(user_id): Path<String>) -> Response {
    if s.state.connection(&user_id).is_none() {
        return error(StatusCode::NOT_FOUND, "no such connection");
    }
    let tokens: Vec<serde_json::Value> = s
        .state
        .sdk_tokens_of(&user_id)
        .iter()
        .map(|t| serde_json::json!({"token_id": t.token_id, "created_at_ms": t.created_at_ms}))
        .collect();
    Json(serde_json::json!({ "sdk_tokens": tokens })).into_response()
}

/// `DELETE /v1/admin/sdk-tokens/{token_id}`: the token stops working at once.
pub(crate) async fn revoke(State(s): State<AdminState>, Path(token_id): Path<String>) -> Response {
    match s.state.revoke_sdk_token(&token_id).await {
        Ok(true) => {
            tracing::info!(%token_id, "sdk token revoked");
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => error(StatusCode::NOT_FOUND, "no such sdk token"),
        Err(e) => state_error(e),
    }
}

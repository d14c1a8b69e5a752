//! Developer accounts of the Terra-compatible API (`/v2`, `pulsegate-terra-api`): each
//! is a `dev-id` with an `x-api-key`. The key is shown once, in the answer that created
//! it, and stored as its SHA-256; deleting the account stops the key at once.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use pulsegate_schema::{api_key_hash, now_ms, Developer};
use serde::Deserialize;

use crate::{error, state_error, AdminState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewDeveloper {
    /// Chosen id (letters, digits, `.`, `_`, `-`; 3 to 64); generated when omitted.
    #[serde(default)]
    dev_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

fn valid_dev_id(id: &str) -> bool {
    (3..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

fn view(d: &Developer) -> serde_json::Value {
    serde_json::json!({
        "dev_id": d.dev_id,
        "name": d.name,
        "created_at_ms": d.created_at_ms,
    })
}

/// `POST /v1/admin/developers`: creates an account; the answer holds its API key, once.
pub(crate) async fn create(State(s): State<AdminState>, body: axum::body::Bytes) -> Response {
    // `{}` creates an account with a generated id.
    let new = match serde_json::from_slice::<NewDeveloper>(&body) {
        Ok(b) => b,
        Err(_) if body.is_empty() => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "a JSON body is required (`{}` for a generated dev_id)",
            );
        }
        Err(e) => return error(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
    };
    let dev_id = match new.dev_id {
        Some(id) if !valid_dev_id(&id) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "dev_id: 3 to 64 letters, digits, '.', '_' or '-'",
            )
        }
        Some(id) => id,
        None => format!("pg-{}", &uuid::Uuid::new_v4().simple().to_string()[..16]),
    };
    if s.state.developer(&dev_id).is_some() {
        return error(StatusCode::CONFLICT, "dev_id: already exists");
    }
    let api_key = format!(
        "pgkey_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let d = Developer {
        dev_id,
        name: new.name.filter(|n| !n.trim().is_empty()),
        key_hash: api_key_hash(&api_key),
        created_at_ms: now_ms(),
    };
    if let Err(e) = s.state.put_developer(&d).await {
        return state_error(e);
    }
    tracing::info!(dev_id = %d.dev_id, "developer account created");
    let mut body = view(&d);
    body["api_key"] = api_key.into();
    (StatusCode::CREATED, Json(body)).into_response()
}

/// `GET /v1/admin/developers`: ids and names, never keys.
pub(crate) async fn list(State(s): State<AdminState>) -> Response {
    let all: Vec<_> = s.state.developers().iter().map(|d| view(d)).collect();
    Json(serde_json::json!({ "developers": all })).into_response()
}

/// `DELETE /v1/admin/developers/{dev_id}`: the key stops working at once.
pub(crate) async fn delete(State(s): State<AdminState>, Path(dev_id): Path<String>) -> Response {
    match s.state.delete_developer(&dev_id).await {
        Ok(true) => {
            tracing::info!(%dev_id, "developer account deleted");
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => error(StatusCode::NOT_FOUND, "no such developer"),
        Err(e) => state_error(e),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn dev_ids() {
        for ok in ["abc", "my-app.dev_1", &"a".repeat(64)] {
            assert!(super::valid_dev_id(ok), "{ok}");
        }
        for bad in ["ab", "a b c", "ünï", "x/y", &"a".repeat(65)] {
            assert!(!super::valid_dev_id(bad), "{bad}");
        }
    }
}

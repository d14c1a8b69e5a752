//! `/v1/admin/integrations/{provider}/credentials`: a provider application's own
//! credentials (client id and secret, verify tokens, signing secrets…). Validated on
//! write against the provider's table (`pulsegate_provider::credentials`), stored
//! encrypted at rest on the state topic, never returned in full, never logged. They
//! override the config file on every process within moments. Rotation: a secret
//! replaced by a write keeps verifying for `grace_period_secs` (default one day).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use pulsegate_provider::credentials::validate_credential;
use pulsegate_providers::credential_fields;
use pulsegate_schema::{now_ms, Provider, ProviderCredentials, Secret};
use pulsegate_state::StateError;
use serde::Deserialize;

use crate::{error, state_error, AdminState};

const DEFAULT_GRACE_SECS: u64 = 24 * 3600;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CredentialsUpdate {
    /// Fields to set; fields not named keep their current value. A `null` removes one.
    fields: BTreeMap<String, Option<Secret>>,
    /// How long replaced secrets keep verifying. Default 86400; 0 ends them at once.
    #[serde(default)]
    grace_period_secs: Option<u64>,
}

fn view(p: Provider, c: Option<&ProviderCredentials>) -> serde_json::Value {
    let mut fields = serde_json::Map::new();
    for f in credential_fields(p) {
        let value = c.and_then(|c| c.fields.get(f.name));
        let shown = match value {
            None => serde_json::Value::Null,
            Some(v) if f.secret => v.masked().into(),
            Some(v) => v.expose().into(),
        };
        fields.insert(f.name.to_string(), shown);
    }
    let accepted: Vec<&str> = credential_fields(p).iter().map(|f| f.name).collect();
    serde_json::json!({
        "provider": p.slug(),
        "fields": fields,
        "accepted_fields": accepted,
        "rotating": c.map(|c| c.previous.keys().cloned().collect::<Vec<_>>()).unwrap_or_default(),
        "previous_valid_until_ms": c.map(|c| c.previous_until_ms).unwrap_or(0),
        "updated_at_ms": c.map(|c| c.updated_at_ms).unwrap_or(0),
    })
}

fn provider(slug: &str) -> Result<Provider, Response> {
    match Provider::from_slug(slug) {
        Some(p) if !credential_fields(p).is_empty() => Ok(p),
        Some(p) => Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!(
                "{} has no provider application: its data is uploaded with SDK tokens",
                p.slug()
            ),
        )),
        None => Err(error(StatusCode::NOT_FOUND, "unknown provider")),
    }
}

pub(crate) async fn get(State(s): State<AdminState>, Path(slug): Path<String>) -> Response {
    let p = match provider(&slug) {
        Ok(p) => p,
        Err(r) => return r,
    };
    Json(view(p, s.state.credentials(p).as_deref())).into_response()
}

pub(crate) async fn put(
    State(s): State<AdminState>,
    Path(slug): Path<String>,
    body: Result<Json<CredentialsUpdate>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let p = match provider(&slug) {
        Ok(p) => p,
        Err(r) => return r,
    };
    // The rejection text could quote the body; never echo it.
    let Ok(Json(update)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "expected {\"fields\": {name: value|null, …}, \"grace_period_secs\": n}",
        );
    };
    if !s.state.encrypts() {
        return error(
            StatusCode::CONFLICT,
            "credentials are stored only encrypted: set security.encryption_key \
             (PULSEGATE_SECURITY__ENCRYPTION_KEY) first",
        );
    }
    let table = credential_fields(p);
    for (name, value) in &update.fields {
        let Some(field) = table.iter().find(|f| f.name == name) else {
            let accepted: Vec<&str> = table.iter().map(|f| f.name).collect();
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!(
                    "{} takes no credential {name:?}; it takes {}",
                    p.slug(),
                    accepted.join(", ")
                ),
            );
        };
        if let Some(v) = value {
            if let Err(e) = validate_credential(field, v.expose()) {
                return error(StatusCode::UNPROCESSABLE_ENTITY, &e);
            }
        }
    }
    let now = now_ms();
    let grace_ms = update
        .grace_period_secs
        .unwrap_or(DEFAULT_GRACE_SECS)
        .saturating_mul(1000);
    let current = s.state.credentials(p);
    let mut next = current.as_deref().cloned().unwrap_or(ProviderCredentials {
        provider: p,
        fields: BTreeMap::new(),
        previous: BTreeMap::new(),
        previous_until_ms: 0,
        updated_at_ms: now,
    });
    if next.previous_until_ms <= now {
        next.previous.clear();
    }
    for (name, value) in update.fields {
        let secret = table.iter().any(|f| f.name == name && f.secret);
        let old = match value {
            Some(v) => next.fields.insert(name.clone(), v),
            None => next.fields.remove(&name),
        };
        match old {
            Some(old) if secret && grace_ms > 0 && next.fields.get(&name) != Some(&old) => {
                next.previous.insert(name, old);
            }
            _ => {}
        }
    }
    if grace_ms == 0 {
        next.previous.clear();
    }
    next.previous_until_ms = if next.previous.is_empty() {
        0
    } else {
        now + grace_ms
    };
    next.updated_at_ms = now;
    match s.state.put_credentials(&next).await {
        Ok(()) => {}
        Err(StateError::NoEncryptionKey) => {
            return error(StatusCode::CONFLICT, "security.encryption_key is not set")
        }
        Err(e) => return state_error(e),
    }
    let names: Vec<&String> = next.fields.keys().collect();
    tracing::info!(provider = p.slug(), fields = ?names, "provider credentials updated");
    Json(view(p, Some(&next))).into_response()
}

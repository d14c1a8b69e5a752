//! `GET /v1/auth/{provider}/callback`: state check (signature, expiry, this browser's
//! binding cookie, single use), code exchange, connection stored, `auth` (and
//! `user_reauth`) events emitted, browser redirected.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use pulsegate_provider::http::form_encode;
use pulsegate_schema::{now_ms, Connection, ConnectionStatus, EventType, Provider, Secret};
use serde_json::{json, Value};

use crate::lifecycle::{emit_lifecycle, user};
use crate::state_token::{self, FlowState, Kind};
use crate::{ConnectService, ResolvedProvider};
use pulsegate_provider::oauth::{ClientAuth, TokenShape, UserIdSource};

/// Why a flow failed, as the failure redirect's `reason` and the `auth` error event's.
struct Failure {
    reason: &'static str,
    message: String,
}

pub(crate) async fn callback(
    State(svc): State<Arc<ConnectService>>,
    Path(provider): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let (nonce, mut resp) = callback_inner(&svc, &provider, query.as_deref(), &headers).await;
    // The binding cookie has done its job (or the flow is dead): remove it.
    if let Some(v) = nonce.and_then(|n| HeaderValue::from_str(&crate::start::clear_cookie(&n)).ok())
    {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

fn refused(p: Provider, outcome: &'static str, message: &str) -> Response {
    metrics::counter!("pulsegate_connect_completed_total", "provider" => p.slug(), "outcome" => outcome)
        .increment(1);
    tracing::warn!(provider = p.slug(), outcome, "connect callback refused");
    page(StatusCode::BAD_REQUEST, message)
}

/// The callback's answer, and the flow's nonce once the state verified.
async fn callback_inner(
    svc: &Arc<ConnectService>,
    provider: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> (Option<String>, Response) {
    let svc = svc.clone();
    let Some(p) = Provider::from_slug(provider) else {
        return (None, page(StatusCode::NOT_FOUND, "Unknown provider."));
    };
    let query = query.map(str::to_string);
    let q = pulsegate_schema::form::pairs(query.as_deref().unwrap_or(""));
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let Some(raw_state) = get("state") else {
        return (None, page(StatusCode::BAD_REQUEST, "Missing state."));
    };
    let flow = match state_token::verify(&svc.state_key, Kind::State, raw_state, now_ms()) {
        Ok(f) if f.p == p.slug() => f,
        Ok(_) => {
            return (
                None,
                page(StatusCode::BAD_REQUEST, "State is for another provider."),
            )
        }
        Err(e) => {
            return (
                None,
                refused(
                    p,
                    "bad_state",
                    &format!("Cannot finish: {e}. Start again from the app."),
                ),
            )
        }
    };
    let nonce = Some(flow.n.clone());
    let binding = crate::start::cookie(headers, &crate::start::cookie_name(&flow.n));
    if !state_token::binding_matches(&flow, binding) {
        // Another browser than the one that started (or its cookie is gone): a code
        // that arrives here must not connect anything.
        return (
            nonce,
            refused(
                p,
                "foreign_browser",
                "Cannot finish: this sign-in was started in another browser (or its cookie \
                 was removed). Start again from the app, in this browser.",
            ),
        );
    }
    match svc.state.claim_oauth_state(&flow.n, flow.exp).await {
        Ok(true) => {
            // Expired claims (and sessions, tokens) need not stay on the state topic.
            if let Err(e) = svc.state.purge_expired_customer_records(now_ms(), 16).await {
                tracing::debug!(error = %e, "purging expired state records failed");
            }
        }
        Ok(false) => {
            return (
                nonce,
                refused(
                    p,
                    "state_reused",
                    "Cannot finish: this sign-in link was already used. Start again from the app.",
                ),
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "could not record the OAuth state as used");
            return (
                None,
                page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Cannot finish right now; try again in a moment.",
                ),
            );
        }
    }
    (
        nonce,
        finish(&svc, p, flow, get("error"), get("code")).await,
    )
}

async fn finish(
    svc: &ConnectService,
    p: Provider,
    flow: FlowState,
    error: Option<&str>,
    code: Option<&str>,
) -> Response {
    let span = tracing::info_span!("connect", provider = p.slug(), user_id = %flow.u);
    let _enter = span.enter();
    let result = match (error, code) {
        (Some(err), _) => Err(Failure {
            reason: if err == "access_denied" {
                "user_denied"
            } else {
                "provider_error"
            },
            message: format!("the provider answered error={err}"),
        }),
        (None, Some(code)) if !code.is_empty() => complete(svc, p, &flow, code).await,
        _ => Err(Failure {
            reason: "missing_code",
            message: "the provider sent no code".into(),
        }),
    };
    match result {
        Ok(conn) => {
            metrics::counter!("pulsegate_connect_completed_total", "provider" => p.slug(), "outcome" => "success")
                .increment(1);
            tracing::info!("connection authorised");
            match &flow.s {
                Some(url) => redirect(
                    url,
                    &[
                        ("user_id", conn.user_id.as_str()),
                        ("resource", p.terra_name()),
                        ("reference_id", flow.r.as_deref().unwrap_or("")),
                    ],
                ),
                None => page(StatusCode::OK, "Connected. You can close this window."),
            }
        }
        Err(f) => {
            metrics::counter!("pulsegate_connect_completed_total", "provider" => p.slug(), "outcome" => f.reason)
                .increment(1);
            tracing::warn!(reason = f.reason, message = %f.message, "connect flow failed");
            if let Err(e) = emit_auth_error(svc, p, &flow, &f).await {
                tracing::error!(error = %e, "could not emit the auth error event");
            }
            match &flow.f {
                Some(url) => redirect(
                    url,
                    &[
                        ("user_id", flow.u.as_str()),
                        ("resource", p.terra_name()),
                        ("reference_id", flow.r.as_deref().unwrap_or("")),
                        ("reason", f.reason),
                    ],
                ),
                None => page(StatusCode::BAD_REQUEST, "Connecting failed."),
            }
        }
    }
}

/// Exchanges the code, learns the user's provider id, stores the connection and emits
/// the events.
async fn complete(
    svc: &ConnectService,
    p: Provider,
    flow: &FlowState,
    code: &str,
) -> Result<Connection, Failure> {
    let r = svc.resolve(p).map_err(|e| Failure {
        reason: "not_configured",
        message: e.to_string(),
    })?;
    let token = exchange(svc, p, &r, flow, code).await?;
    let access = token
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Failure {
            reason: "token_exchange_failed",
            message: "the token response has no access_token".into(),
        })?
        .to_string();
    let (provider_user_id, metadata) = user_id(svc, &r, &token, &access).await?;
    let refresh = token
        .get("refresh_token")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let expires_at = token
        .get("expires_at")
        .and_then(Value::as_i64)
        .or_else(|| {
            token
                .get("expires_in")
                .and_then(Value::as_i64)
                .map(|s| (now_ms() / 1000) as i64 + s)
        })
        .unwrap_or(0);
    let scopes = token
        .get("scope")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| Some(flow.sc.clone()).filter(|s| !s.is_empty()));
    let conn = Connection {
        user_id: flow.u.clone(),
        provider: p,
        provider_user_id,
        reference_id: flow.r.clone(),
        access_token: Secret::new(access),
        refresh_token: Secret::new(refresh),
        expires_at,
        scopes,
        status: ConnectionStatus::Active,
        created_at_ms: now_ms(),
        dev_id: flow.d.clone(),
        metadata,
    };
    let old = svc
        .state
        .connection_for(p, &conn.provider_user_id)
        .filter(|old| old.user_id != conn.user_id);
    let store_failed = |e: pulsegate_state::StateError| Failure {
        reason: "internal_error",
        message: format!("storing the connection failed: {e}"),
    };
    svc.state
        .put_connection(&conn)
        .await
        .map_err(store_failed)?;
    if let Some(old) = &old {
        // Terra's behaviour: the same provider account connected again gets a new
        // user, and the old one is announced (user_reauth) and deleted.
        svc.state
            .delete_connection(&old.user_id)
            .await
            .map_err(store_failed)?;
        if old.dev_id != conn.dev_id {
            // Another account's user: announced to its owner only (as a deauth), and
            // never named to the new owner. A deauthorization like any other: the old
            // user's data key goes first, so its queued records are erased and the
            // `deauth` itself is sealed with the deployment key.
            svc.state
                .erase_user(&old.user_id)
                .await
                .map_err(store_failed)?;
            let body = json!({
                "type": "deauth",
                "user": user(old),
                "status": "success",
                "message": "User connected this provider account again elsewhere",
            });
            emit(svc, old, EventType::Deauth, &flow.n, body)
                .await
                .map_err(|e| Failure {
                    reason: "internal_error",
                    message: e,
                })?;
        }
    }
    if let Some(old) = old.as_ref().filter(|o| o.dev_id == conn.dev_id) {
        let body = json!({
            "type": "user_reauth",
            "new_user": user(&conn),
            "old_user": user(old),
            "status": "warning",
            "message": "User has reauthenticated",
        });
        emit(svc, &conn, EventType::UserReauth, &flow.n, body)
            .await
            .map_err(|e| Failure {
                reason: "internal_error",
                message: e,
            })?;
    }
    let body = json!({
        "type": "auth",
        "status": "success",
        "user": user(&conn),
        "reference_id": flow.r.clone().unwrap_or_default(),
        "widget_session_id": flow.w,
        "message": crate::AUTH_SUCCESS_MESSAGE,
        "version": pulsegate_schema::PAYLOAD_VERSION,
    });
    emit(svc, &conn, EventType::Auth, &flow.n, body)
        .await
        .map_err(|e| Failure {
            reason: "internal_error",
            message: e,
        })?;
    Ok(conn)
}

async fn exchange(
    svc: &ConnectService,
    p: Provider,
    r: &ResolvedProvider,
    flow: &FlowState,
    code: &str,
) -> Result<Value, Failure> {
    let redirect_uri = svc.redirect_uri(p);
    let verifier = state_token::pkce_verifier(&svc.state_key, &flow.n);
    let mut fields: Vec<(&str, &str)> = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", &redirect_uri),
    ];
    if r.facts.token_shape == TokenShape::Withings {
        fields.push(("action", "requesttoken"));
    }
    if r.facts.pkce {
        fields.push(("code_verifier", &verifier));
    }
    let basic = match r.facts.client_auth {
        ClientAuth::Basic => Some((r.app.client_id.as_str(), r.app.client_secret.expose())),
        ClientAuth::Body => {
            fields.push(("client_id", &r.app.client_id));
            fields.push(("client_secret", r.app.client_secret.expose()));
            None
        }
    };
    let failed = |message: String| Failure {
        reason: "token_exchange_failed",
        message,
    };
    let resp = svc
        .http
        .post_form_auth(&r.token_url, &fields, basic)
        .await
        .map_err(|e| failed(format!("token endpoint unreachable: {e}")))?;
    if !resp.status.is_success() {
        // Never echo the body: it may name the code or the client.
        return Err(failed(format!(
            "token endpoint answered HTTP {}",
            resp.status.as_u16()
        )));
    }
    let mut v: Value = serde_json::from_slice(&resp.body)
        .map_err(|_| failed("token endpoint answered something that is not JSON".into()))?;
    if r.facts.token_shape == TokenShape::Withings {
        if v.get("status").and_then(Value::as_i64) != Some(0) {
            return Err(failed("Withings refused the code".into()));
        }
        v = v.get("body").cloned().unwrap_or(Value::Null);
    }
    Ok(v)
}

/// The provider's id of the user, and the facts `r.facts.metadata` names, read from the
/// same document.
async fn user_id(
    svc: &ConnectService,
    r: &ResolvedProvider,
    token: &Value,
    access: &str,
) -> Result<(String, std::collections::BTreeMap<String, String>), Failure> {
    let missing = |what: &str| Failure {
        reason: "user_id_unavailable",
        message: format!("could not learn the provider's user id ({what})"),
    };
    let mut source: Option<Value> = None;
    let found = match r.facts.user_id {
        UserIdSource::TokenField(ptr) => {
            source = Some(token.clone());
            token.pointer(ptr).cloned()
        }
        UserIdSource::Endpoint(path, ptr) => {
            let url = format!("{}{path}", r.api_base);
            let resp = svc
                .http
                .get_bearer(&url, access)
                .await
                .map_err(|_| missing("user endpoint unreachable"))?;
            if !resp.status.is_success() {
                return Err(missing("user endpoint refused"));
            }
            source = serde_json::from_slice::<Value>(&resp.body).ok();
            source.as_ref().and_then(|v| v.pointer(ptr).cloned())
        }
        UserIdSource::IdTokenSub => token
            .get("id_token")
            .and_then(Value::as_str)
            .and_then(|jwt| jwt.split('.').nth(1))
            .and_then(|claims| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(claims.trim_end_matches('='))
                    .ok()
            })
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|c| c.get("sub").cloned()),
    };
    let id = match found {
        Some(Value::String(s)) if !s.is_empty() => s,
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(missing("not in the answer")),
    };
    let metadata = r
        .facts
        .metadata
        .iter()
        .filter_map(|(key, ptr)| {
            let v = match source.as_ref()?.pointer(ptr)? {
                Value::String(s) if !s.is_empty() && s.len() <= 256 => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            Some((key.to_string(), v))
        })
        .collect();
    Ok((id, metadata))
}

/// Appends a lifecycle event for `conn` to `events` (the flow's state is single use, so
/// a flow announces each outcome once).
async fn emit(
    svc: &ConnectService,
    conn: &Connection,
    event_type: EventType,
    nonce: &str,
    body: Value,
) -> Result<(), String> {
    emit_lifecycle(&*svc.bus, conn, event_type, nonce, body).await
}

async fn emit_auth_error(
    svc: &ConnectService,
    p: Provider,
    flow: &FlowState,
    f: &Failure,
) -> Result<(), String> {
    let conn = Connection {
        user_id: flow.u.clone(),
        provider: p,
        provider_user_id: String::new(),
        reference_id: flow.r.clone(),
        access_token: Secret::default(),
        refresh_token: Secret::default(),
        expires_at: 0,
        scopes: None,
        status: ConnectionStatus::Revoked,
        created_at_ms: now_ms(),
        dev_id: flow.d.clone(),
        metadata: Default::default(),
    };
    let body = json!({
        "type": "auth",
        "status": "error",
        "user": user(&conn),
        "provider": p.terra_name(),
        "message": f.message,
        "reason": f.reason,
        "reference_id": flow.r.clone().unwrap_or_default(),
        "widget_session_id": flow.w,
    });
    emit(svc, &conn, EventType::Auth, &flow.n, body).await
}

fn redirect(base: &str, params: &[(&str, &str)]) -> Response {
    let sep = if base.contains('?') { '&' } else { '?' };
    let location = format!("{base}{sep}{}", form_encode(params));
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

pub(crate) fn page(status: StatusCode, message: &str) -> Response {
    let html = format!(
        "<!doctype html><meta charset=utf-8><title>pulsegate</title><p>{}</p>",
        message
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response()
}

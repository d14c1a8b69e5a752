//! The connect widget: `GET /widget/{session_id}` lists the enabled integrations the
//! session offers; each OAuth provider links to `GET /widget/{session_id}/start/{p}`,
//! which starts the flow (`ConnectService::start` with the session's reference id,
//! redirect URLs and id) and sends the browser to the provider. The flow ends at the
//! connect callback, which redirects to the session's success URL with `user_id`,
//! `resource` and `reference_id`, as Terra's widget does.
//!
//! Sessions are records on the state topic (`widget/{session_id}`), so any ingest
//! process serves them; they expire after `terra_api.widget_session_ttl`. The page is
//! self-contained (no script, no external resource) and everything in it is escaped.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use pulsegate_connect::{ConnectError, StartRequest};
use pulsegate_schema::{now_ms, Provider, WidgetSession};

use crate::Api;

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;\
padding:0 1rem;color:#1d1d1f}h1{font-size:1.3rem}ul{list-style:none;padding:0}\
li{margin:.5rem 0}a,.off{display:block;padding:.8rem 1rem;border:1px solid #ccc;\
border-radius:.5rem;text-decoration:none;color:inherit}a:hover{border-color:#333}\
.off{color:#999;background:#f5f5f5}.off small{display:block;font-size:.8rem}";

pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn html(status: StatusCode, lang: &str, body: &str) -> Response {
    let page = format!(
        "<!doctype html><html lang=\"{}\"><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width,initial-scale=1\">\
         <title>Connect a device</title><style>{STYLE}</style><body>{body}</body></html>",
        escape(lang)
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; \
                 form-action 'none'; frame-ancestors 'none'",
            ),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        page,
    )
        .into_response()
}

fn message(status: StatusCode, text: &str) -> Response {
    html(status, "en", &format!("<p>{}</p>", escape(text)))
}

fn session(api: &Api, id: &str) -> Result<std::sync::Arc<WidgetSession>, Response> {
    api.state.widget_session(id, now_ms()).ok_or_else(|| {
        message(
            StatusCode::NOT_FOUND,
            "This link has expired or does not exist. Ask for a new one.",
        )
    })
}

/// The providers the session offers and the deployment has enabled.
fn offered(api: &Api, s: &WidgetSession) -> Vec<Provider> {
    let wanted: &[Provider] = if s.providers.is_empty() {
        &Provider::ALL
    } else {
        &s.providers
    };
    wanted
        .iter()
        .copied()
        .filter(|p| api.state.integration_enabled(*p))
        .collect()
}

/// A language tag as given (`en`, `pt-BR`), or `en`.
fn lang(s: &WidgetSession) -> &str {
    s.language
        .as_deref()
        .filter(|l| l.len() <= 16 && l.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-'))
        .unwrap_or("en")
}

pub(crate) async fn page(State(api): State<Api>, Path(session_id): Path<String>) -> Response {
    let s = match session(&api, &session_id) {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let mut items = String::new();
    for p in offered(&api, &s) {
        let name = escape(pulsegate_providers::descriptor(p).display_name);
        if p.is_sdk() {
            items.push_str(&format!(
                "<li><span class=off>{name}<small>Connect it from the app on your phone.</small></span></li>"
            ));
        } else {
            items.push_str(&format!(
                "<li><a href=\"/widget/{}/start/{}\">{name}</a></li>",
                escape(&s.session_id),
                p.slug()
            ));
        }
    }
    let body = if items.is_empty() {
        "<h1>Connect a device</h1><p>No integration is available.</p>".to_string()
    } else {
        format!("<h1>Connect a device</h1><p>Choose your provider:</p><ul>{items}</ul>")
    };
    html(StatusCode::OK, lang(&s), &body)
}

pub(crate) async fn start(
    State(api): State<Api>,
    Path((session_id, provider)): Path<(String, String)>,
) -> Response {
    let s = match session(&api, &session_id) {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let Some(p) = Provider::from_slug(&provider).filter(|p| offered(&api, &s).contains(p)) else {
        return message(
            StatusCode::NOT_FOUND,
            "This provider is not offered here. Go back and choose another.",
        );
    };
    let req = StartRequest {
        reference_id: s.reference_id.clone(),
        success_url: s.success_url.clone(),
        failure_url: s.failure_url.clone(),
        scopes: None,
        widget_session_id: Some(s.session_id.clone()),
        dev_id: Some(s.dev_id.clone()),
    };
    match api.connect.start(p, req) {
        Ok(r) => (StatusCode::FOUND, [(header::LOCATION, r.auth_url)]).into_response(),
        Err(e) => {
            let (status, text) = match e {
                ConnectError::NoOAuth(_) => (
                    StatusCode::NOT_FOUND,
                    "Connect this one from the app on your phone.",
                ),
                ConnectError::Disabled(_) => {
                    (StatusCode::NOT_FOUND, "This provider is not available.")
                }
                ConnectError::NotConfigured(_)
                | ConnectError::Invalid(_)
                | ConnectError::Http(_) => {
                    tracing::warn!(provider = p.slug(), error = %e, "widget could not start a flow");
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "This provider cannot be connected right now.",
                    )
                }
            };
            message(status, text)
        }
    }
}

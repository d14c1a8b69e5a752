//! The OAuth2 connect flow, as Terra's "authenticate a user" does it:
//!
//! 1. [`ConnectService::start`] (behind `POST /v1/admin/auth/{provider}`, the widget
//!    and `/v2/auth/authenticateUser`) assigns a `user_id` and returns pulsegate's start
//!    URL, `/v1/auth/{provider}/start?flow=<signed ticket>`.
//! 2. The browser opens it ([`start`]): pulsegate sets an HttpOnly, SameSite=Lax cookie
//!    with a random binding value and redirects to the provider's authorize URL with the
//!    client id, scopes, a signed expiring `state` carrying the binding's hash (and PKCE
//!    where the provider requires it).
//! 3. The provider sends the browser to `GET /v1/auth/{provider}/callback`: the state is
//!    verified, bound to this browser's cookie and claimed (single use, on the state
//!    topic), the code exchanged at the token endpoint, the provider's user id learnt,
//!    the connection stored on the state topic, an `auth` event appended to `events`
//!    (delivered like any event), and the browser redirected to the customer's success
//!    URL with `user_id`, `resource` and `reference_id` (or to the failure URL).

mod callback;
mod config;
mod deauth;
mod lifecycle;
mod start;
pub mod state_token;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use pulsegate_bus::Bus;
use pulsegate_provider::http::{form_encode, HttpClient};
use pulsegate_provider::oauth::OAuthFacts;
use pulsegate_schema::{now_ms, Provider};
use pulsegate_state::StateStore;

pub use config::{AppCredentials, ConnectConfig, ProviderOverrides};
pub use deauth::DeauthError;
pub use lifecycle::{emit_lifecycle, user as terra_user, AUTH_SUCCESS_MESSAGE};
use state_token::FlowState;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{0} has no OAuth connect flow (its data is uploaded by an app)")]
    NoOAuth(&'static str),
    #[error("{0}: client_id and client_secret are not configured")]
    NotConfigured(&'static str),
    #[error("the {0} integration is disabled")]
    Disabled(&'static str),
    #[error("{0}")]
    Invalid(String),
    #[error("the HTTP client could not be built: {0}")]
    Http(String),
}

/// What starting a flow needs.
#[derive(Debug, Default, Clone)]
pub struct StartRequest {
    pub reference_id: Option<String>,
    pub success_url: Option<String>,
    pub failure_url: Option<String>,
    /// Overrides the integration's / provider's default scopes.
    pub scopes: Option<Vec<String>>,
    /// The widget session this flow belongs to (a fresh id otherwise).
    pub widget_session_id: Option<String>,
    /// The developer account the connection will belong to (`None` = operator).
    pub dev_id: Option<String>,
}

/// The answer: where to send the end user (pulsegate's start URL, which binds the flow
/// to the browser that opens it), and the user id they will have.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StartResponse {
    pub user_id: String,
    pub auth_url: String,
    pub widget_session_id: String,
    pub expires_at_ms: u64,
}

/// What the connect flow needs to know of `p`'s OAuth2 (`None`: the on-device sources,
/// which upload instead). Every URL can be overridden in `[connect.<slug>]` (tests point
/// them at mocks on 127.0.0.1).
fn oauth_facts(p: Provider) -> Option<&'static OAuthFacts> {
    pulsegate_providers::descriptor(p).oauth
}

/// One provider, resolved: its facts with the configured overrides applied.
#[derive(Clone, Debug)]
pub(crate) struct ResolvedProvider {
    /// The provider's OAuth2 facts (its `Descriptor`'s).
    pub(crate) facts: &'static OAuthFacts,
    pub(crate) authorize_url: String,
    pub(crate) token_url: String,
    pub(crate) api_base: String,
    pub(crate) scopes: String,
    pub(crate) app: AppCredentials,
}

pub struct ConnectService {
    /// Swapped when providers' credentials change ([`reconfigure`](Self::reconfigure)).
    config: std::sync::RwLock<Arc<ConnectConfig>>,
    pub(crate) state_key: Vec<u8>,
    pub(crate) state: Arc<StateStore>,
    pub(crate) bus: Arc<dyn Bus>,
    pub(crate) http: HttpClient,
}

impl ConnectService {
    pub fn new(
        config: ConnectConfig,
        state: Arc<StateStore>,
        bus: Arc<dyn Bus>,
    ) -> Result<Arc<Self>, ConnectError> {
        if let Some(bad) = config
            .providers
            .keys()
            .find(|k| Provider::from_slug(k).and_then(oauth_facts).is_none())
        {
            return Err(ConnectError::Invalid(format!(
                "connect.{bad}: not a setting nor an OAuth provider"
            )));
        }
        let state_key = if config.state_secret.is_empty() {
            tracing::warn!(
                "connect.state_secret is not set: using a per-process key, so a flow must \
                 end on the process that started it"
            );
            uuid::Uuid::new_v4().as_bytes().to_vec()
        } else {
            config.state_secret.expose().as_bytes().to_vec()
        };
        let http = HttpClient::new(config.request_timeout)
            .map_err(|e| ConnectError::Http(e.to_string()))?;
        Ok(Arc::new(Self {
            config: std::sync::RwLock::new(Arc::new(config)),
            state_key,
            state,
            bus,
            http,
        }))
    }

    fn config(&self) -> Arc<ConnectConfig> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// New application credentials or overrides (the state key and public URL stay).
    pub fn reconfigure(&self, config: ConnectConfig) {
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
    }

    pub(crate) fn resolve(&self, p: Provider) -> Result<ResolvedProvider, ConnectError> {
        let config = self.config();
        let facts = oauth_facts(p).ok_or(ConnectError::NoOAuth(p.slug()))?;
        let o = config.providers.get(p.slug()).cloned().unwrap_or_default();
        let fallback = config.apps.get(&p).cloned().unwrap_or_default();
        let app = AppCredentials {
            client_id: o
                .client_id
                .clone()
                .filter(|c| !c.is_empty())
                .unwrap_or(fallback.client_id),
            client_secret: o
                .client_secret
                .clone()
                .filter(|c| !c.is_empty())
                .unwrap_or(fallback.client_secret),
        };
        let integration_scopes = self.state.integration(p).and_then(|i| i.scopes.clone());
        Ok(ResolvedProvider {
            authorize_url: o
                .authorize_url
                .unwrap_or_else(|| facts.authorize_url.into()),
            token_url: o.token_url.unwrap_or_else(|| facts.token_url.into()),
            api_base: o
                .api_base
                .unwrap_or_else(|| facts.api_base.into())
                .trim_end_matches('/')
                .to_string(),
            scopes: o
                .scopes
                .or(integration_scopes)
                .unwrap_or_else(|| facts.scopes.into()),
            facts,
            app,
        })
    }

    /// How browsers reach this deployment (`connect.public_url`, no trailing slash).
    pub fn public_url(&self) -> String {
        self.config().public_url.trim_end_matches('/').to_string()
    }

    /// The callback URL registered with the provider.
    pub fn redirect_uri(&self, p: Provider) -> String {
        format!(
            "{}/v1/auth/{}/callback",
            self.config().public_url.trim_end_matches('/'),
            p.slug()
        )
    }

    /// Starts a flow for `provider`.
    pub fn start(&self, p: Provider, req: StartRequest) -> Result<StartResponse, ConnectError> {
        let r = self.resolve(p)?;
        if !self.state.integration_enabled(p) {
            return Err(ConnectError::Disabled(p.slug()));
        }
        if r.app.client_id.is_empty() || r.app.client_secret.is_empty() {
            return Err(ConnectError::NotConfigured(p.slug()));
        }
        for url in [&req.success_url, &req.failure_url].into_iter().flatten() {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(ConnectError::Invalid(
                    "redirect URLs must be absolute http(s) URLs".into(),
                ));
            }
        }
        let scopes = match &req.scopes {
            Some(s) if !s.is_empty() => r.facts.join_scopes(s),
            _ => r.scopes.clone(),
        };
        let user_id = uuid::Uuid::new_v4().to_string();
        let widget_session_id = req
            .widget_session_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        let expires_at_ms = now_ms() + self.config().state_ttl.as_millis() as u64;
        let flow = FlowState {
            p: p.slug().into(),
            u: user_id.clone(),
            r: req.reference_id,
            s: req.success_url,
            f: req.failure_url,
            w: widget_session_id.clone(),
            sc: scopes.clone(),
            exp: expires_at_ms,
            n: uuid::Uuid::new_v4().simple().to_string(),
            d: req.dev_id,
            b: String::new(),
        };
        let ticket = state_token::sign(&self.state_key, state_token::Kind::Ticket, &flow);
        let auth_url = format!(
            "{}/v1/auth/{}/start?{}",
            self.public_url(),
            p.slug(),
            form_encode(&[("flow", ticket.as_str())])
        );
        metrics::counter!("pulsegate_connect_started_total", "provider" => p.slug()).increment(1);
        tracing::info!(provider = p.slug(), %user_id, "connect flow started");
        Ok(StartResponse {
            user_id,
            auth_url,
            widget_session_id,
            expires_at_ms,
        })
    }

    /// The provider's authorize URL for a flow whose state is bound to a browser.
    pub(crate) fn authorize_url(
        &self,
        p: Provider,
        flow: &FlowState,
    ) -> Result<String, ConnectError> {
        let r = self.resolve(p)?;
        let state = state_token::sign(&self.state_key, state_token::Kind::State, flow);
        let mut params: Vec<(&str, String)> = vec![
            ("response_type", "code".into()),
            ("client_id", r.app.client_id.clone()),
            ("redirect_uri", self.redirect_uri(p)),
            ("state", state),
        ];
        if !flow.sc.is_empty() {
            params.push(("scope", flow.sc.clone()));
        }
        if r.facts.pkce {
            let verifier = state_token::pkce_verifier(&self.state_key, &flow.n);
            params.push(("code_challenge", state_token::pkce_challenge(&verifier)));
            params.push(("code_challenge_method", "S256".into()));
        }
        for (k, v) in r.facts.authorize_params {
            params.push((k, (*v).to_string()));
        }
        let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let sep = if r.authorize_url.contains('?') {
            '&'
        } else {
            '?'
        };
        Ok(format!("{}{sep}{}", r.authorize_url, form_encode(&pairs)))
    }

    /// Whether browsers reach this deployment over HTTPS (the binding cookie is then
    /// `Secure`).
    pub(crate) fn public_https(&self) -> bool {
        self.config().public_url.starts_with("https://")
    }
}

/// `GET /v1/auth/{provider}/start` and `GET /v1/auth/{provider}/callback` (public:
/// browsers arrive here from the customer's app and from providers).
pub fn router(service: Arc<ConnectService>) -> Router {
    Router::new()
        .route("/v1/auth/{provider}/start", get(start::start))
        .route("/v1/auth/{provider}/callback", get(callback::callback))
        .with_state(service)
}

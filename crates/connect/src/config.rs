use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use pulsegate_schema::{Provider, Secret};
use serde::Deserialize;

/// `[connect]`: the OAuth2 connect flow. (Unknown keys land in `providers` and are
/// refused at start-up unless they name a provider.)
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct ConnectConfig {
    /// How browsers and providers reach this deployment; the callback is
    /// `{public_url}/v1/auth/{provider}/callback` (register it with each provider).
    pub public_url: String,
    /// Key that signs the flow's `state`. Must be the same on every ingest process;
    /// empty = a random per-process key (fine for one process). Never logged.
    pub state_secret: Secret,
    /// How long a started flow stays valid (from the start URL to the callback).
    /// Default 10m.
    #[serde(with = "humantime_serde")]
    pub state_ttl: Duration,
    /// Token exchange timeout. Default 10s.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Per provider slug: URL, scope and credential overrides.
    #[serde(flatten)]
    pub providers: BTreeMap<String, ProviderOverrides>,
    /// The application credentials the binary found in each provider's normalizer
    /// settings (used unless `[connect.<provider>]` sets its own).
    #[serde(skip)]
    pub apps: HashMap<Provider, AppCredentials>,
}

impl Default for ConnectConfig {
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:8080".into(),
            state_secret: Secret::default(),
            state_ttl: Duration::from_secs(10 * 60),
            request_timeout: Duration::from_secs(10),
            providers: BTreeMap::new(),
            apps: HashMap::new(),
        }
    }
}

/// `[connect.<provider>]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProviderOverrides {
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    /// Base of the API used to learn the user's id after the exchange.
    pub api_base: Option<String>,
    /// Scopes, separated as the provider separates them (the descriptor's
    /// `OAuthFacts::scope_separator`).
    pub scopes: Option<String>,
    /// This provider's application, if not the normalizer's.
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
}

/// A provider application's OAuth2 client credentials.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AppCredentials {
    pub client_id: String,
    pub client_secret: Secret,
}

//! Records of the Terra-compatible customer API (`/v2`, crate `pulsegate-terra-api`),
//! kept on the `state` topic like every other record.

use serde::{Deserialize, Serialize};

use crate::Provider;

/// A developer account: what Terra calls a `dev-id` with its `x-api-key`. On the state
/// topic as `developer/{dev_id}`. The key itself is shown once, when created; only its
/// SHA-256 is stored ([`api_key_hash`]).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Developer {
    pub dev_id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// Hex SHA-256 of the API key.
    pub key_hash: String,
    #[serde(default)]
    pub created_at_ms: u64,
}

/// A widget session (`POST /v2/auth/generateWidgetSession`): what the widget page and
/// the flows it starts need. On the state topic as `widget/{session_id}` until it
/// expires (expired sessions are deleted by later `generateWidgetSession` calls).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct WidgetSession {
    pub session_id: String,
    /// The developer who created it.
    pub dev_id: String,
    #[serde(default)]
    pub reference_id: Option<String>,
    #[serde(default)]
    pub success_url: Option<String>,
    #[serde(default)]
    pub failure_url: Option<String>,
    /// The providers to offer; empty = every enabled integration.
    #[serde(default)]
    pub providers: Vec<Provider>,
    #[serde(default)]
    pub language: Option<String>,
    pub expires_at_ms: u64,
    #[serde(default)]
    pub created_at_ms: u64,
}

/// A short-lived, single-use token a mobile app exchanges for an on-device connection
/// and its SDK upload token (`POST /v2/auth/generateAuthToken`). On the state topic as
/// `authtoken/{sha256 of the token}` until used or expired; the token is shown once.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AuthToken {
    pub dev_id: String,
    pub expires_at_ms: u64,
    #[serde(default)]
    pub created_at_ms: u64,
}

/// A claim on an OAuth flow's `state` (on the state topic as `oauthstate/{nonce}`
/// until it expires). Every process applies the topic in order and keeps the first
/// unexpired claim, so exactly one callback (the one whose `claim_id` is kept) proceeds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OAuthStateClaim {
    /// Random, per callback attempt.
    pub claim_id: String,
    /// When the state itself expires; the claim can be deleted after that.
    pub expires_at_ms: u64,
}

/// How developer API keys and SDK auth tokens are stored and looked up: hex SHA-256,
/// as [`sdk_token_hash`](crate::sdk_token_hash) (the values are long and random, so a
/// fast unsalted hash is enough).
pub fn api_key_hash(key: &str) -> String {
    crate::sdk_token_hash(key)
}

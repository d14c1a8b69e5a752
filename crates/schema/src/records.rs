use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::Secret;

/// Declares [`Provider`] from one table: each line is a variant, its Terra name and its
/// slug (routes, config sections). Adding a provider is one line here (its folder and
/// registry line are in `pulsegate-providers`).
macro_rules! providers {
    ($($(#[$doc:meta])* $variant:ident => ($terra:literal, $slug:literal)),+ $(,)?) => {
        /// Wearable providers pulsegate integrates.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum Provider {
            $($(#[$doc])* $variant,)+
        }

        impl Provider {
            /// Every provider, in the table's order.
            pub const ALL: [Provider; 0 $(+ one!($variant))+] = [$(Provider::$variant),+];

            /// Terra's spelling, used in customer payloads (`"STRAVA"`).
            pub fn terra_name(self) -> &'static str {
                match self {
                    $(Provider::$variant => $terra,)+
                }
            }

            /// Lower-case slug used in routes and config (`strava`).
            pub fn slug(self) -> &'static str {
                match self {
                    $(Provider::$variant => $slug,)+
                }
            }
        }
    };
}

macro_rules! one {
    ($x:ident) => {
        1
    };
}

providers! {
    Strava => ("STRAVA", "strava"),
    Huawei => ("HUAWEI", "huawei"),
    Fitbit => ("FITBIT", "fitbit"),
    Garmin => ("GARMIN", "garmin"),
    Oura => ("OURA", "oura"),
    Polar => ("POLAR", "polar"),
    Whoop => ("WHOOP", "whoop"),
    Withings => ("WITHINGS", "withings"),
    /// On-device sources: no server push; a mobile app uploads (`/v1/ingest/sdk/…`).
    AppleHealth => ("APPLE", "apple"),
    SamsungHealth => ("SAMSUNG", "samsung"),
    HealthConnect => ("HEALTH_CONNECT", "health_connect"),
    /// The Google Health API (Fitbit's successor since Google shut the Fitbit Web API
    /// down on 2026-11-02).
    GoogleHealth => ("GOOGLE_HEALTH", "google_health"),
    Ultrahuman => ("ULTRAHUMAN", "ultrahuman"),
    Dexcom => ("DEXCOM", "dexcom"),
    Suunto => ("SUUNTO", "suunto"),
}

impl Provider {
    /// On-device sources, whose data a mobile app uploads with an SDK token.
    pub fn is_sdk(self) -> bool {
        matches!(
            self,
            Provider::AppleHealth | Provider::SamsungHealth | Provider::HealthConnect
        )
    }

    /// Position in [`Provider::ALL`] (for per-provider tables).
    pub fn index(self) -> usize {
        self as usize
    }

    /// From a slug or Terra's name, case-insensitively.
    pub fn from_slug(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.slug().eq_ignore_ascii_case(s) || p.terra_name().eq_ignore_ascii_case(s))
    }
}

/// A provider's notification as received, verified, on the `raw` topic.
#[derive(Debug, Serialize, Deserialize)]
pub struct RawNotification {
    /// Assigned at receipt; becomes the `terra-reference` of what it causes.
    pub id: String,
    pub provider: Provider,
    /// The provider's id of the user the notification is about.
    pub provider_user_id: String,
    pub received_at_ms: u64,
    /// The provider's body, exactly as received (JSON providers) .
    pub body: Box<RawValue>,
}

impl RawNotification {
    /// The bus key: one provider user's notifications stay in order on one partition.
    pub fn bus_key(provider: Provider, provider_user_id: &str) -> String {
        format!("{}:{}", provider.slug(), provider_user_id)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    #[default]
    Active,
    /// The user or provider withdrew access; tokens are gone.
    Revoked,
}

/// A user's link to a provider account.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Connection {
    /// pulsegate's id for the connection (UUID), Terra's `user_id`.
    pub user_id: String,
    pub provider: Provider,
    pub provider_user_id: String,
    /// The customer's own id for the user.
    #[serde(default)]
    pub reference_id: Option<String>,
    pub access_token: Secret,
    #[serde(default)]
    pub refresh_token: Secret,
    /// Unix seconds when `access_token` expires (0 = unknown).
    #[serde(default)]
    pub expires_at: i64,
    #[serde(default)]
    pub scopes: Option<String>,
    #[serde(default)]
    pub status: ConnectionStatus,
    #[serde(default)]
    pub created_at_ms: u64,
    /// The developer account (`/v2` dev-id) that owns this user; `None` = operator-owned
    /// (created through the admin API without an owner, or before owners existed):
    /// visible to no developer key, delivered only to operator destinations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev_id: Option<String>,
    /// Facts about the provider account learnt at connect time that are not tokens
    /// (Google Health: `legacy_user_id`, the Fitbit user id of the same account, for
    /// linking an old Fitbit connection), and provider-side markers (`fitbit_retired`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub metadata: std::collections::BTreeMap<String, String>,
}

/// The data types customers can receive (Terra's data event types).
pub const DATA_TYPES: [&str; 7] = [
    "activity",
    "athlete",
    "body",
    "daily",
    "menstruation",
    "nutrition",
    "sleep",
];

/// A provider integration's switches, on the state topic as `integration/{provider}`.
/// No record = enabled with every data type (the config decides what is mounted).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Integration {
    pub provider: Provider,
    pub enabled: bool,
    /// Data types fetched and delivered (see [`DATA_TYPES`]); empty = all.
    #[serde(default)]
    pub data_types: Vec<String>,
    /// Scopes requested at connect time; `None` = the provider's defaults.
    #[serde(default)]
    pub scopes: Option<String>,
    #[serde(default)]
    pub updated_at_ms: u64,
}

impl Integration {
    /// Whether events of `event_type` are processed. Lifecycle events (auth, deauth,
    /// connection errors…) always are; data types only when enabled.
    pub fn wants(&self, event_type: &str) -> bool {
        !DATA_TYPES.contains(&event_type)
            || self.data_types.is_empty()
            || self.data_types.iter().any(|t| t == event_type)
    }
}

/// A provider application's own credentials, set through the admin API (client id and
/// secret, verify tokens, signing secrets…; which fields depends on the provider). They
/// override the config file's values. On rotation the replaced values stay in
/// `previous` until `previous_until_ms`, and notifications signed with them still verify.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ProviderCredentials {
    pub provider: Provider,
    pub fields: std::collections::BTreeMap<String, Secret>,
    #[serde(default)]
    pub previous: std::collections::BTreeMap<String, Secret>,
    #[serde(default)]
    pub previous_until_ms: u64,
    #[serde(default)]
    pub updated_at_ms: u64,
}

/// A per-connection upload token for on-device sources. Stored under the SHA-256 of
/// the token; the token itself is shown once, when issued.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SdkToken {
    /// Public handle for listing and revoking.
    pub token_id: String,
    pub user_id: String,
    pub created_at_ms: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// A customer webhook endpoint.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Destination {
    pub id: String,
    pub url: String,
    /// `whsec_` + base64 key (see the dispatcher's signing module).
    pub secret: Secret,
    /// When `secret` was set (ms since the epoch), for its age
    /// (`pulsegate_destination_secret_set_timestamp_seconds`). 0 = unknown: stored
    /// before this field existed, until its first rotation.
    #[serde(default)]
    pub secret_set_at_ms: u64,
    /// The secret before the last rotation, still signing beside `secret` until
    /// `previous_secret_until_ms`: the receiver's window to switch verifiers (both
    /// official verifiers accept any one of several signatures). Sealed at rest with
    /// the record; never shown by the admin API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret: Option<Secret>,
    /// Until when (ms since the epoch) `previous_secret` signs; 0 = it does not.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub previous_secret_until_ms: u64,
    /// Event types delivered; empty = all.
    #[serde(default)]
    pub event_types: Vec<String>,
    /// Providers whose users' events are delivered, by Terra name (`"GARMIN"`); empty =
    /// all. Events carrying no provider (none today) pass.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<String>,
    /// Each user's events delivered in order, one in flight per user (a failed one is
    /// retried before the user's next goes); other users are not held.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ordered: bool,
    /// When every attempt since began failing (ms); cleared by a delivery. Set by the
    /// dispatcher, not by operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since_ms: Option<u64>,
    /// Why the dispatcher disabled it (failing too long); cleared by an admin update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The developer account this destination belongs to: it receives only events of
    /// that developer's users. `None` = operator destination (every event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev_id: Option<String>,
    /// `s3://` destinations: the access key id (kept out of the URL, which the admin
    /// API shows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_access_key_id: Option<String>,
    /// `s3://` destinations: the secret access key. Encrypted at rest with the rest of
    /// the record, masked by the admin API like `secret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_secret_access_key: Option<Secret>,
    /// SASL credentials for a `kafka://` or `kafkas://` destination's brokers (the URL
    /// never carries them: URLs are shown by the admin API). Stored encrypted like
    /// `secret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka_auth: Option<KafkaAuth>,
    /// `kafkas://` destinations: the CA certificates (PEM) that sign the brokers'
    /// certificates, for a customer's private CA; without it the system's roots are
    /// trusted. Public data, not a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka_ca_pem: Option<String>,
    /// HTTP destinations: bodies over a size are stored in this object store and the
    /// webhook carries Terra's `s3_payload` event (a pre-signed GET URL) instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_check: Option<ClaimCheck>,
    /// Destinations from the config file (`[[destinations]]`): a digest of the file's
    /// entry as last applied. A start applies the file again only when its entry
    /// changed since, so what the admin API did meanwhile (a pause, a new secret, other
    /// filters) outlasts restarts. `None`: made through the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_entry: Option<String>,
}

impl Destination {
    /// Keeps what `earlier` knew of the secret (when it was set, a rotation's overlap)
    /// if this is the same secret: an update that does not change the secret changes
    /// neither; a new secret starts afresh (its time, no overlap).
    pub fn keep_secret_history_from(&mut self, earlier: &Destination) {
        if self.secret == earlier.secret {
            self.secret_set_at_ms = earlier.secret_set_at_ms;
            self.previous_secret = earlier.previous_secret.clone();
            self.previous_secret_until_ms = earlier.previous_secret_until_ms;
        }
    }
}

/// Claim-check delivery (Terra's ping / `s3_payload` mode) of one webhook destination.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ClaimCheck {
    /// `s3://bucket[/prefix][?endpoint=…&region=…]`, parsed like an S3 destination's URL.
    pub url: String,
    pub access_key_id: String,
    /// Encrypted at rest with the rest of the record, masked by the admin API.
    pub secret_access_key: Secret,
    /// Bodies longer than this many bytes go through the store; 0 = every body.
    pub threshold_bytes: u64,
    /// Lifetime of the pre-signed URL, in seconds (at most S3's 7 days).
    pub expires_in_secs: u32,
}

impl ClaimCheck {
    /// Terra's own pre-signed URLs expire after about 10 minutes.
    pub const DEFAULT_EXPIRES_IN_SECS: u32 = 600;
    /// S3's longest pre-signed URL lifetime (SigV4): 7 days.
    pub const MAX_EXPIRES_IN_SECS: u32 = 7 * 24 * 3600;
}

/// SASL credentials of a Kafka destination.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct KafkaAuth {
    /// The SASL mechanism: `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub mechanism: String,
    pub username: String,
    pub password: Secret,
}

fn yes() -> bool {
    true
}

impl Destination {
    pub fn wants(&self, event_type: &str) -> bool {
        self.event_types.is_empty() || self.event_types.iter().any(|t| t == event_type)
    }

    /// Whether this destination takes an event of `event_type` about a user owned by
    /// `owner`, whose customer body is `body`: its event types, its owner (a developer's
    /// destination gets only its own users' events) and its providers (the body's
    /// `user.provider`, read only when the destination filters by provider; an event
    /// naming no provider passes). The dispatcher and the admin API's resend both ask
    /// this.
    pub fn takes(&self, event_type: &str, owner: Option<&str>, body: &str) -> bool {
        self.wants(event_type)
            && self.receives_owner(owner)
            && (self.providers.is_empty()
                || body_provider(body).is_none_or(|p| self.providers.iter().any(|w| *w == p)))
    }

    /// Whether an event of a user owned by `owner` may reach this destination: an
    /// operator destination gets every event, a developer's only its own users'.
    pub fn receives_owner(&self, owner: Option<&str>) -> bool {
        match &self.dev_id {
            None => true,
            Some(mine) => owner == Some(mine.as_str()),
        }
    }
}

/// The Terra name in a customer body's `user.provider`, borrowed where possible.
fn body_provider(body: &str) -> Option<std::borrow::Cow<'_, str>> {
    #[derive(Deserialize)]
    struct Body<'b> {
        #[serde(borrow)]
        user: Option<User<'b>>,
    }
    #[derive(Deserialize)]
    struct User<'b> {
        #[serde(borrow)]
        provider: Option<std::borrow::Cow<'b, str>>,
    }
    serde_json::from_str::<Body<'_>>(body).ok()?.user?.provider
}

/// Keys on the `state` topic.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum StateKey {
    Connection(String),
    Destination(String),
    /// A dead letter (`partition:offset` on `dead_letters`) that was replayed.
    Replayed(String),
    /// A provider's integration settings (by slug).
    Integration(String),
    /// An SDK upload token, by the hex SHA-256 of the token (never the token itself).
    SdkToken(String),
    /// A provider application's own credentials (by slug); encrypted at rest.
    Credentials(String),
    /// A developer account of the Terra-compatible API (by `dev_id`); its key hashed.
    Developer(String),
    /// A widget session (by `session_id`), until it expires.
    WidgetSession(String),
    /// A mobile SDK auth token, by the hex SHA-256 of the token, until used or expired.
    AuthToken(String),
    /// The secret path token of an unsigned provider's push route (by slug); encrypted
    /// at rest.
    PushToken(String),
    /// An OAuth flow's `state` that was used (by its nonce), until it expires: the first
    /// claim on the topic wins, so a state completes at most once across processes.
    OAuthState(String),
    /// A user's data key (by `user_id`), which seals the records about that user on the
    /// log; replaced by an erasure marker (no key material) on deauthorization.
    /// Encrypted at rest.
    UserKey(String),
    /// How far the poll lane delivered one user's data of one type
    /// (`<user_id>/<data_type>`); sealed with the user's data key.
    PollCursor(String),
    /// When a webhook about a user (by `user_id`) was last delivered (Unix ms); sealed
    /// with the user's data key.
    WebhookAt(String),
    /// When this deployment first sealed with an encryption key (by the key's public
    /// 4-byte id in hex, never key material): the key-age gauge and alert.
    KeyInUse(String),
}

impl StateKey {
    /// Records under this key carry secrets (tokens, client secrets, destinations'
    /// signing secrets): encrypted at rest when a key is configured.
    pub fn is_sensitive(&self) -> bool {
        matches!(
            self,
            StateKey::Connection(_)
                | StateKey::Credentials(_)
                | StateKey::PushToken(_)
                | StateKey::Destination(_)
                | StateKey::UserKey(_)
        )
    }

    pub fn encode(&self) -> String {
        match self {
            StateKey::Connection(id) => format!("connection/{id}"),
            StateKey::Destination(id) => format!("destination/{id}"),
            StateKey::Replayed(id) => format!("replayed/{id}"),
            StateKey::Integration(p) => format!("integration/{p}"),
            StateKey::SdkToken(h) => format!("sdktoken/{h}"),
            StateKey::Credentials(p) => format!("credentials/{p}"),
            StateKey::Developer(id) => format!("developer/{id}"),
            StateKey::WidgetSession(id) => format!("widget/{id}"),
            StateKey::AuthToken(h) => format!("authtoken/{h}"),
            StateKey::PushToken(p) => format!("pushtoken/{p}"),
            StateKey::OAuthState(n) => format!("oauthstate/{n}"),
            StateKey::UserKey(id) => format!("userkey/{id}"),
            StateKey::PollCursor(id) => format!("pollcursor/{id}"),
            StateKey::WebhookAt(id) => format!("webhookat/{id}"),
            StateKey::KeyInUse(id) => format!("keyinuse/{id}"),
        }
    }

    pub fn decode(s: &str) -> Option<Self> {
        let (kind, id) = s.split_once('/')?;
        match kind {
            "connection" => Some(StateKey::Connection(id.to_string())),
            "destination" => Some(StateKey::Destination(id.to_string())),
            "replayed" => Some(StateKey::Replayed(id.to_string())),
            "integration" => Some(StateKey::Integration(id.to_string())),
            "sdktoken" => Some(StateKey::SdkToken(id.to_string())),
            "credentials" => Some(StateKey::Credentials(id.to_string())),
            "developer" => Some(StateKey::Developer(id.to_string())),
            "widget" => Some(StateKey::WidgetSession(id.to_string())),
            "authtoken" => Some(StateKey::AuthToken(id.to_string())),
            "pushtoken" => Some(StateKey::PushToken(id.to_string())),
            "oauthstate" => Some(StateKey::OAuthState(id.to_string())),
            "userkey" => Some(StateKey::UserKey(id.to_string())),
            "pollcursor" => Some(StateKey::PollCursor(id.to_string())),
            "webhookat" => Some(StateKey::WebhookAt(id.to_string())),
            "keyinuse" => Some(StateKey::KeyInUse(id.to_string())),
            _ => None,
        }
    }
}

/// A delivery waiting on a retry tier topic.
#[derive(Debug, Serialize, Deserialize)]
pub struct RetryTask {
    pub destination_id: String,
    /// Attempts already made.
    pub attempts: u32,
    /// Do not try before this time (ms since epoch); honours `Retry-After`.
    pub not_before_ms: u64,
    pub last_error: String,
    /// The `events` record being delivered, as it was on the bus.
    pub event: Box<RawValue>,
}

/// A delivery that exhausted its retries, on the `dead_letters` topic.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeadLetter {
    pub destination_id: String,
    pub attempts: u32,
    pub last_error: String,
    pub failed_at_ms: u64,
    pub event: Box<RawValue>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_destination_stored_before_secret_set_at_ms_reads_as_unknown() {
        let stored = r#"{"id":"d","url":"https://a.example/hook","secret":"whsec_abc"}"#;
        let d: Destination = serde_json::from_str(stored).unwrap();
        assert_eq!(d.secret_set_at_ms, 0);
        assert!(d.enabled);

        let set = Destination {
            secret_set_at_ms: 1_700_000_000_000,
            ..d
        };
        let again: Destination =
            serde_json::from_str(&serde_json::to_string(&set).unwrap()).unwrap();
        assert_eq!(again.secret_set_at_ms, 1_700_000_000_000);
    }
}

//! Google Health API (developers.google.com/health), Fitbit's successor: Google OAuth 2.0,
//! webhook notifications authenticated by the subscriber's `Authorization` secret and an
//! ECDSA signature, data fetched per data type (docs/providers/google-health.md).

use crate::credentials::{field as f, CredentialField, CredentialKind::*};
use crate::oauth::{ClientAuth, OAuthFacts, UserIdSource};
use crate::ratelimit::{HeaderStyle, RateLimits, WindowLimit, MIN};
use crate::{Descriptor, EventType, Provider, PushMode, Writes, PUSH_MAX_BODY_BYTES};

/// Read scopes for the data pulsegate maps (activity, sleep, body, daily), plus settings
/// (the user's UTC offset for historical days). Google's consent screen lets the user
/// untick any of them: the granted set is the token response's `scope`, stored with the
/// connection, and types outside it are skipped.
pub const SCOPES: &str =
    "https://www.googleapis.com/auth/googlehealth.activity_and_fitness.readonly \
     https://www.googleapis.com/auth/googlehealth.health_metrics_and_measurements.readonly \
     https://www.googleapis.com/auth/googlehealth.sleep.readonly \
     https://www.googleapis.com/auth/googlehealth.settings.readonly";

/// Offline access (a refresh token), granted again on a re-connect only with
/// `prompt=consent`; `include_granted_scopes` for incremental consent; PKCE (S256), which
/// Google recommends. The user id is the Identity's `healthUserId` (what notifications
/// carry); `legacyUserId` (the Fitbit id of the same account) is kept for linking an old
/// Fitbit connection.
pub const OAUTH: OAuthFacts = OAuthFacts {
    pkce: true,
    authorize_params: &[
        ("access_type", "offline"),
        ("prompt", "consent"),
        ("include_granted_scopes", "true"),
    ],
    metadata: &[("legacy_user_id", "/legacyUserId")],
    ..OAuthFacts::standard(
        "https://accounts.google.com/o/oauth2/v2/auth",
        "https://oauth2.googleapis.com/token",
        "https://health.googleapis.com",
        SCOPES,
        ClientAuth::Body,
        UserIdSource::Endpoint("/v4/users/me/identity", "/healthUserId"),
    )
};

const CREDENTIALS: &[CredentialField] = &[
    f(
        "client_id",
        Text,
        false,
        &["normalizer.google_health.client_id"],
    ),
    f(
        "client_secret",
        Text,
        true,
        &["normalizer.google_health.client_secret"],
    ),
    // The subscriber's `endpointAuthorization.secret`: the whole `Authorization` header
    // value Google sends with every notification (`Bearer …`).
    f(
        "authorization",
        Text,
        true,
        &["ingest.google_health.authorization"],
    ),
];

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: Provider::GoogleHealth,
    display_name: "Google Health",
    icon: "https://www.google.com/favicon.ico",
    push: PushMode::Signed,
    data_types: &[
        EventType::Activity,
        EventType::Body,
        EventType::Daily,
        EventType::Sleep,
    ],
    writes: Writes::NONE,
    // 300 requests per user per minute (5 QPS; the project-wide quotas, 120,000 per
    // minute and 86.4 M per day, are far above one user's budget). No usage headers are
    // documented; 429s are honoured.
    rate_limits: RateLimits {
        limits: &[WindowLimit::user(300, MIN)],
        headers: HeaderStyle::None,
    },
    max_body_bytes: PUSH_MAX_BODY_BYTES,
    oauth: Some(&OAUTH),
    credentials: CREDENTIALS,
};

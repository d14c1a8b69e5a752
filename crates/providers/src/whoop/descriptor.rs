//! WHOOP developer API v2 (developer.whoop.com): signed webhooks (`X-WHOOP-Signature`),
//! records fetched by id.

use crate::credentials::{field as f, CredentialField, CredentialKind::*};
use crate::oauth::{ClientAuth, OAuthFacts, UserIdSource};
use crate::ratelimit::{HeaderStyle, RateLimits, WindowLimit, DAY, MIN};
use crate::{Descriptor, EventType, Provider, PushMode, Writes, PUSH_MAX_BODY_BYTES};

pub const OAUTH: OAuthFacts = OAuthFacts {
    // Without `scope=offline` on refresh, the new token carries no refresh token.
    refresh_params: &[("scope", "offline")],
    ..OAuthFacts::standard(
        "https://api.prod.whoop.com/oauth/oauth2/auth",
        "https://api.prod.whoop.com/oauth/oauth2/token",
        "https://api.prod.whoop.com/developer",
        "offline read:profile read:workout read:sleep read:recovery read:cycles",
        ClientAuth::Body,
        UserIdSource::Endpoint("/v2/user/profile/basic", "/user_id"),
    )
};

const CREDENTIALS: &[CredentialField] = &[
    f("client_id", Text, false, &["normalizer.whoop.client_id"]),
    f(
        "client_secret",
        Text,
        true,
        &[
            "normalizer.whoop.client_secret",
            "ingest.whoop.client_secret",
        ],
    ),
];

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: Provider::Whoop,
    display_name: "WHOOP",
    icon: "https://www.whoop.com/favicon.ico",
    push: PushMode::Signed,
    data_types: &[EventType::Activity, EventType::Daily, EventType::Sleep],
    writes: Writes::NONE,
    // Per application, 100 requests per minute and 10,000 per day.
    rate_limits: RateLimits {
        limits: &[WindowLimit::app(100, MIN), WindowLimit::app(10_000, DAY)],
        headers: HeaderStyle::Remaining,
    },
    max_body_bytes: PUSH_MAX_BODY_BYTES,
    oauth: Some(&OAUTH),
    credentials: CREDENTIALS,
};

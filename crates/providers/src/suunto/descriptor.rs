//! Suunto Cloud API (apizone.suunto.com): signed webhooks (`X-HMAC-SHA256-Signature`),
//! workouts fetched by key with the member's token and the application's
//! `Ocp-Apim-Subscription-Key`. docs/providers/suunto.md lists the sources.

use crate::credentials::{field as f, CredentialField, CredentialKind::*};
use crate::oauth::{ClientAuth, OAuthFacts, UserIdSource};
use crate::ratelimit::RateLimits;
use crate::{Descriptor, EventType, Provider, PushMode, Writes, PUSH_MAX_BODY_BYTES};

/// Suunto's authorization server (`cloudapi-oauth.suunto.com`): the code is exchanged
/// with HTTP Basic client credentials (apizone.suunto.com/how-to-start), and the token
/// answer names the Suunto user in `user`, the name webhooks carry as `username`.
pub const OAUTH: OAuthFacts = OAuthFacts::standard(
    "https://cloudapi-oauth.suunto.com/oauth/authorize",
    "https://cloudapi-oauth.suunto.com/oauth/token",
    "https://cloudapi.suunto.com",
    "workout",
    ClientAuth::Basic,
    UserIdSource::TokenField("/user"),
);

const CREDENTIALS: &[CredentialField] = &[
    f("client_id", Text, false, &["normalizer.suunto.client_id"]),
    f(
        "client_secret",
        Text,
        true,
        &["normalizer.suunto.client_secret"],
    ),
    f(
        "subscription_key",
        Text,
        true,
        &["normalizer.suunto.subscription_key"],
    ),
    f(
        "notification_secret",
        Text,
        true,
        &["ingest.suunto.notification_secret"],
    ),
];

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: Provider::Suunto,
    display_name: "Suunto",
    icon: "https://www.suunto.com/favicon.ico",
    push: PushMode::Signed,
    data_types: &[EventType::Activity],
    writes: Writes::NONE,
    // Suunto documents no numeric limit in the pages found (API Management answers 429
    // with Retry-After, which the client honours): no self-imposed limit by default;
    // `[normalizer.suunto.rate_limit]` sets one.
    rate_limits: RateLimits::UNPUBLISHED,
    max_body_bytes: PUSH_MAX_BODY_BYTES,
    oauth: Some(&OAUTH),
    credentials: CREDENTIALS,
};

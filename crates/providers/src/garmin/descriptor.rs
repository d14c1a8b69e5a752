//! Garmin Connect Developer Program (Health API): unsigned pushes of the data itself, or
//! pings with a `callbackURL`, so the push path carries a secret token and bodies are
//! large.

use crate::credentials::{field as f, CredentialField, CredentialKind::*};
use crate::oauth::{ClientAuth, OAuthFacts, UserIdSource};
use crate::ratelimit::RateLimits;
use crate::{Descriptor, EventType, Provider, PushMode, Writes};

pub const OAUTH: OAuthFacts = OAuthFacts {
    pkce: true,
    ..OAuthFacts::standard(
        "https://connect.garmin.com/oauth2Confirm",
        "https://diauth.garmin.com/di-oauth2-service/oauth/token",
        "https://apis.garmin.com",
        "",
        ClientAuth::Body,
        UserIdSource::Endpoint("/wellness-api/rest/user/id", "/userId"),
    )
};

const CREDENTIALS: &[CredentialField] = &[
    f(
        "client_id",
        Text,
        false,
        &["normalizer.garmin.client_id", "ingest.garmin.client_id"],
    ),
    f(
        "client_secret",
        Text,
        true,
        &["normalizer.garmin.client_secret"],
    ),
];

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: Provider::Garmin,
    display_name: "Garmin",
    icon: "https://www.garmin.com/favicon.ico",
    push: PushMode::PathToken,
    data_types: &[
        EventType::Activity,
        EventType::Body,
        EventType::Daily,
        EventType::Sleep,
    ],
    writes: Writes::NONE,
    // Garmin publishes no per-application numbers: no local limit, 429s honoured.
    rate_limits: RateLimits::UNPUBLISHED,
    // Garmin pushes the data itself and requires accepting at least 10 MB.
    max_body_bytes: 16 * 1024 * 1024,
    oauth: Some(&OAUTH),
    credentials: CREDENTIALS,
};

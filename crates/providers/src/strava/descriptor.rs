//! Strava (developers.strava.com): webhook events are unsigned hints, so the push path
//! carries a secret token; the data is always fetched with the athlete's token.

use crate::credentials::{field as f, CredentialField, CredentialKind::*};
use crate::oauth::{ClientAuth, OAuthFacts, UserIdSource};
use crate::ratelimit::{HeaderStyle, RateLimits, WindowLimit, DAY, QUARTER};
use crate::{Descriptor, EventType, Provider, PushMode, Writes, PUSH_MAX_BODY_BYTES};

pub const OAUTH: OAuthFacts = OAuthFacts {
    scope_separator: ",",
    authorize_params: &[("approval_prompt", "auto")],
    ..OAuthFacts::standard(
        "https://www.strava.com/oauth/authorize",
        "https://www.strava.com/oauth/token",
        "https://www.strava.com",
        "read,activity:read_all",
        ClientAuth::Body,
        UserIdSource::TokenField("/athlete/id"),
    )
};

const CREDENTIALS: &[CredentialField] = &[
    f("client_id", Text, false, &["normalizer.strava.client_id"]),
    f(
        "client_secret",
        Text,
        true,
        &["normalizer.strava.client_secret"],
    ),
    f("verify_token", Text, true, &["ingest.strava.verify_token"]),
    f(
        "subscription_id",
        Number,
        false,
        &["ingest.strava.subscription_id"],
    ),
];

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: Provider::Strava,
    display_name: "Strava",
    icon: "https://www.strava.com/favicon.ico",
    push: PushMode::PathToken,
    data_types: &[EventType::Activity],
    // Manual activities (`createActivity`); Strava's API deletes nothing.
    writes: Writes {
        post: &[EventType::Activity],
        delete: &[],
    },
    // Per application, 100 reads per 15 minutes and 1,000 per day ("non-upload" limits;
    // every call pulsegate makes is a read, and they are lower than the overall
    // 200 / 2,000).
    rate_limits: RateLimits {
        limits: &[WindowLimit::app(100, QUARTER), WindowLimit::app(1_000, DAY)],
        headers: HeaderStyle::Strava,
    },
    max_body_bytes: PUSH_MAX_BODY_BYTES,
    oauth: Some(&OAUTH),
    credentials: CREDENTIALS,
};

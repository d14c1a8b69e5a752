//! Oura API v2 (cloud.ouraring.com/v2/docs): signed webhooks (`x-oura-signature`),
//! documents fetched by id.

use crate::credentials::{field as f, CredentialField, CredentialKind::*};
use crate::oauth::{ClientAuth, OAuthFacts, UserIdSource};
use crate::ratelimit::{HeaderStyle, RateLimits, WindowLimit, MIN};
use crate::{Descriptor, EventType, Provider, PushMode, Writes, PUSH_MAX_BODY_BYTES};

pub const OAUTH: OAuthFacts = OAuthFacts::standard(
    "https://cloud.ouraring.com/oauth/authorize",
    "https://api.ouraring.com/oauth/token",
    "https://api.ouraring.com",
    "personal daily heartrate workout session spo2",
    ClientAuth::Body,
    UserIdSource::Endpoint("/v2/usercollection/personal_info", "/id"),
);

const CREDENTIALS: &[CredentialField] = &[
    f("client_id", Text, false, &["normalizer.oura.client_id"]),
    f(
        "client_secret",
        Text,
        true,
        &["normalizer.oura.client_secret", "ingest.oura.client_secret"],
    ),
    f(
        "verification_token",
        Text,
        true,
        &["ingest.oura.verification_token"],
    ),
];

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: Provider::Oura,
    display_name: "Oura",
    icon: "https://ouraring.com/favicon.ico",
    push: PushMode::Signed,
    data_types: &[EventType::Activity, EventType::Daily, EventType::Sleep],
    writes: Writes::NONE,
    // 5,000 requests per 5 minutes per access token.
    rate_limits: RateLimits {
        limits: &[WindowLimit::user(5_000, 5 * MIN)],
        headers: HeaderStyle::None,
    },
    max_body_bytes: PUSH_MAX_BODY_BYTES,
    oauth: Some(&OAUTH),
    credentials: CREDENTIALS,
};

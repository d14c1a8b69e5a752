//! Polar AccessLink v3 (www.polar.com/accesslink-api): signed webhooks
//! (`Polar-Webhook-Signature`); tokens never expire, so the normalizer refreshes none and
//! the application's credentials are connect's (`[connect.polar]`).

use crate::credentials::{field as f, CredentialField, CredentialKind::*};
use crate::oauth::{ClientAuth, OAuthFacts, UserIdSource};
use crate::ratelimit::{HeaderStyle, RateLimits, WindowLimit, DAY, QUARTER};
use crate::{Descriptor, EventType, Provider, PushMode, Writes, PUSH_MAX_BODY_BYTES};

pub const OAUTH: OAuthFacts = OAuthFacts::standard(
    "https://flow.polar.com/oauth2/authorization",
    "https://polarremote.com/v2/oauth2/token",
    "https://www.polaraccesslink.com",
    "accesslink.read_all",
    ClientAuth::Basic,
    UserIdSource::TokenField("/x_user_id"),
);

const CREDENTIALS: &[CredentialField] = &[
    f("client_id", Text, false, &["connect.polar.client_id"]),
    f(
        "client_secret",
        Text,
        true,
        &["connect.polar.client_secret"],
    ),
    f(
        "signature_secret_key",
        Text,
        true,
        &["ingest.polar.signature_secret_key"],
    ),
];

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: Provider::Polar,
    display_name: "Polar",
    icon: "https://www.polar.com/favicon.ico",
    push: PushMode::Signed,
    data_types: &[EventType::Activity, EventType::Daily, EventType::Sleep],
    writes: Writes::NONE,
    // Per application, 500 (+20 per user) per 15 minutes and 5,000 (+100 per user) per
    // day; the user-independent part is the default.
    rate_limits: RateLimits {
        limits: &[WindowLimit::app(500, QUARTER), WindowLimit::app(5_000, DAY)],
        headers: HeaderStyle::Remaining,
    },
    max_body_bytes: PUSH_MAX_BODY_BYTES,
    oauth: Some(&OAUTH),
    credentials: CREDENTIALS,
};

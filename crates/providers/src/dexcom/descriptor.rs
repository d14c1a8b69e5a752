//! Dexcom API v3 (developer.dexcom.com): OAuth 2.0, no push at all, estimated glucose
//! values fetched by time window: polled.

use crate::credentials::{field as f, CredentialField, CredentialKind::*};
use crate::oauth::{ClientAuth, OAuthFacts, UserIdSource};
use crate::ratelimit::{HeaderStyle, RateLimits, WindowLimit, HOUR};
use crate::{Descriptor, EventType, Provider, PushMode, Writes, PUSH_MAX_BODY_BYTES};

pub const OAUTH: OAuthFacts = OAuthFacts::standard(
    // The sandbox is the same paths on https://sandbox-api.dexcom.com (the EU and Japan
    // production hosts are api.dexcom.eu and api.dexcom.jp): override the URLs in
    // `[connect.dexcom]` and `[normalizer.dexcom]`.
    "https://api.dexcom.com/v2/oauth2/login",
    "https://api.dexcom.com/v2/oauth2/token",
    "https://api.dexcom.com",
    // The only scope Dexcom documents; it grants the refresh token.
    "offline_access",
    // client_id and client_secret as form fields of the token request.
    ClientAuth::Body,
    // No user endpoint in v3: every data answer carries `userId` (per user and client);
    // dataRange is the cheapest call that returns it.
    UserIdSource::Endpoint("/v3/users/self/dataRange", "/userId"),
);

const CREDENTIALS: &[CredentialField] = &[
    f("client_id", Text, false, &["normalizer.dexcom.client_id"]),
    f(
        "client_secret",
        Text,
        true,
        &["normalizer.dexcom.client_secret"],
    ),
];

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: Provider::Dexcom,
    display_name: "Dexcom",
    icon: "https://www.dexcom.com/favicon.ico",
    push: PushMode::Poll,
    data_types: &[EventType::Body],
    writes: Writes::NONE,
    // "Request frequency is limited to 60,000 calls per app per hour" (HTTP 429 beyond);
    // no usage headers are documented.
    rate_limits: RateLimits {
        limits: &[WindowLimit::app(60_000, HOUR)],
        headers: HeaderStyle::None,
    },
    max_body_bytes: PUSH_MAX_BODY_BYTES,
    oauth: Some(&OAUTH),
    credentials: CREDENTIALS,
};

//! Ultrahuman Partner API (vision.ultrahuman.com/developer-docs?type=oauth): OAuth 2.0,
//! no push at all, one day of metrics per call: polled.

use crate::credentials::{field as f, CredentialField, CredentialKind::*};
use crate::oauth::{ClientAuth, OAuthFacts, UserIdSource};
use crate::ratelimit::{HeaderStyle, RateLimits, WindowLimit, MIN};
use crate::{Descriptor, EventType, Provider, PushMode, Writes, PUSH_MAX_BODY_BYTES};

pub const OAUTH: OAuthFacts = OAuthFacts::standard(
    // Every worked example spells the path `/authorise` (the docs' table `/authorize`).
    "https://auth.ultrahuman.com/authorise",
    "https://partner.ultrahuman.com/api/partners/oauth/token",
    "https://partner.ultrahuman.com/api/partners/v1",
    "profile ring_data cgm_data",
    ClientAuth::Body,
    UserIdSource::Endpoint("/user_data/user_info", "/user_id"),
);

const CREDENTIALS: &[CredentialField] = &[
    f("client_id", Text, false, &["normalizer.ultrahuman.client_id"]),
    f(
        "client_secret",
        Text,
        true,
        &["normalizer.ultrahuman.client_secret"],
    ),
];

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: Provider::Ultrahuman,
    display_name: "Ultrahuman",
    icon: "https://www.ultrahuman.com/favicon.ico",
    push: PushMode::Poll,
    data_types: &[EventType::Body, EventType::Daily, EventType::Sleep],
    writes: Writes::NONE,
    // Unpublished: a conservative local budget (one call per user-day is all a poll
    // needs); 429s are honoured whatever these say.
    rate_limits: RateLimits {
        limits: &[WindowLimit::app(300, MIN)],
        headers: HeaderStyle::None,
    },
    max_body_bytes: PUSH_MAX_BODY_BYTES,
    oauth: Some(&OAUTH),
    credentials: CREDENTIALS,
};

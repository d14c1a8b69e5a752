//! Withings Public API (developer.withings.com): unsigned notifications (a form body
//! naming the `appli` and the period), so the push path carries a secret token; token
//! answers are wrapped in `{"status":0,"body":{…}}`.

use crate::credentials::{field as f, CredentialField, CredentialKind::*};
use crate::oauth::{ClientAuth, OAuthFacts, TokenShape, UserIdSource};
use crate::ratelimit::{HeaderStyle, RateLimits, WindowLimit, MIN};
use crate::{Descriptor, EventType, Provider, PushMode, Writes, PUSH_MAX_BODY_BYTES};

pub const OAUTH: OAuthFacts = OAuthFacts {
    scope_separator: ",",
    token_shape: TokenShape::Withings,
    ..OAuthFacts::standard(
        "https://account.withings.com/oauth2_user/authorize2",
        "https://wbsapi.withings.net/v2/oauth2",
        "https://wbsapi.withings.net",
        "user.info,user.metrics,user.activity",
        ClientAuth::Body,
        UserIdSource::TokenField("/userid"),
    )
};

const CREDENTIALS: &[CredentialField] = &[
    f("client_id", Text, false, &["normalizer.withings.client_id"]),
    f(
        "client_secret",
        Text,
        true,
        &["normalizer.withings.client_secret"],
    ),
    f(
        "callback_token",
        Text,
        true,
        &["ingest.withings.callback_token"],
    ),
];

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: Provider::Withings,
    display_name: "Withings",
    icon: "https://www.withings.com/favicon.ico",
    push: PushMode::PathToken,
    data_types: &[EventType::Body, EventType::Daily, EventType::Sleep],
    writes: Writes::NONE,
    // 120 requests per minute per application.
    rate_limits: RateLimits {
        limits: &[WindowLimit::app(120, MIN)],
        headers: HeaderStyle::None,
    },
    max_body_bytes: PUSH_MAX_BODY_BYTES,
    oauth: Some(&OAUTH),
    credentials: CREDENTIALS,
};

//! Huawei Health Kit (developer.huawei.com): signed subscription notifications
//! (`x-notification-signature`), data fetched from the Health Kit REST API.

use crate::credentials::{field as f, CredentialField, CredentialKind::*};
use crate::oauth::{ClientAuth, OAuthFacts, UserIdSource};
use crate::ratelimit::RateLimits;
use crate::{Descriptor, EventType, Provider, PushMode, Writes, PUSH_MAX_BODY_BYTES};

pub const OAUTH: OAuthFacts = OAuthFacts {
    authorize_params: &[("access_type", "offline")],
    ..OAuthFacts::standard(
        "https://oauth-login.cloud.huawei.com/oauth2/v3/authorize",
        "https://oauth-login.cloud.huawei.com/oauth2/v3/token",
        "https://health-api.cloud.huawei.com",
        "openid https://www.huawei.com/healthkit/step.read \
         https://www.huawei.com/healthkit/activity.read \
         https://www.huawei.com/healthkit/sleep.read",
        ClientAuth::Body,
        UserIdSource::IdTokenSub,
    )
};

const CREDENTIALS: &[CredentialField] = &[
    f("client_id", Text, false, &["normalizer.huawei.client_id"]),
    f(
        "client_secret",
        Text,
        true,
        &["normalizer.huawei.client_secret"],
    ),
    f(
        "subscriber_secret",
        Base64,
        true,
        &["ingest.huawei.subscriber_secret"],
    ),
    f(
        "subscriber_id",
        Text,
        false,
        &["ingest.huawei.subscriber_id"],
    ),
    f("callback_address", HttpsUrl, false, &[]),
];

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: Provider::Huawei,
    display_name: "Huawei Health",
    icon: "https://consumer.huawei.com/favicon.ico",
    push: PushMode::Signed,
    data_types: &[EventType::Activity, EventType::Daily, EventType::Sleep],
    writes: Writes::NONE,
    // Huawei publishes no per-application numbers: no local limit, 429s honoured.
    rate_limits: RateLimits::UNPUBLISHED,
    max_body_bytes: PUSH_MAX_BODY_BYTES,
    oauth: Some(&OAUTH),
    credentials: CREDENTIALS,
};

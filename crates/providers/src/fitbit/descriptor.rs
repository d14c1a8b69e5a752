//! Fitbit Web API (dev.fitbit.com): signed subscriber notifications
//! (`X-Fitbit-Signature`), data fetched per collection and day.

use crate::credentials::{field as f, CredentialField, CredentialKind::*};
use crate::oauth::{ClientAuth, OAuthFacts, UserIdSource};
use crate::ratelimit::{HeaderStyle, RateLimits, WindowLimit, HOUR};
use crate::{Descriptor, EventType, Provider, PushMode, Writes, PUSH_MAX_BODY_BYTES};

pub const OAUTH: OAuthFacts = OAuthFacts::standard(
    "https://www.fitbit.com/oauth2/authorize",
    "https://api.fitbit.com/oauth2/token",
    "https://api.fitbit.com",
    "activity heartrate sleep weight profile",
    ClientAuth::Basic,
    UserIdSource::TokenField("/user_id"),
);

const CREDENTIALS: &[CredentialField] = &[
    f("client_id", Text, false, &["normalizer.fitbit.client_id"]),
    f(
        "client_secret",
        Text,
        true,
        &[
            "normalizer.fitbit.client_secret",
            "ingest.fitbit.client_secret",
        ],
    ),
    f(
        "verification_code",
        Text,
        true,
        &["ingest.fitbit.verification_code"],
    ),
];

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: Provider::Fitbit,
    display_name: "Fitbit",
    icon: "https://www.fitbit.com/favicon.ico",
    push: PushMode::Signed,
    data_types: &[
        EventType::Activity,
        EventType::Body,
        EventType::Daily,
        EventType::Sleep,
    ],
    // Weight and body-fat logs, activity logs; deleted by the log ids a post returned.
    writes: Writes {
        post: &[EventType::Body, EventType::Activity],
        delete: &[EventType::Body, EventType::Activity],
    },
    // 150 requests per user per hour (reset at the top of the hour).
    rate_limits: RateLimits {
        limits: &[WindowLimit::user(150, HOUR)],
        headers: HeaderStyle::Fitbit,
    },
    max_body_bytes: PUSH_MAX_BODY_BYTES,
    oauth: Some(&OAUTH),
    credentials: CREDENTIALS,
};

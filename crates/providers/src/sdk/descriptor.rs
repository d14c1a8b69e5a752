//! The on-device sources: no server, no OAuth; a mobile app uploads the records with a
//! per-connection SDK token (`POST /v1/ingest/sdk/{provider}`, docs/providers/sdk.md).

use crate::ratelimit::RateLimits;
use crate::{Descriptor, EventType, Provider, PushMode, Writes, SDK_MAX_BODY_BYTES};

/// What the three sources share: the same upload format and the same Terra types.
const fn on_device(id: Provider, display_name: &'static str, icon: &'static str) -> Descriptor {
    Descriptor {
        id,
        display_name,
        icon,
        push: PushMode::SdkUpload,
        data_types: &[
            EventType::Activity,
            EventType::Body,
            EventType::Daily,
            EventType::Sleep,
        ],
        writes: Writes::NONE,
        rate_limits: RateLimits::UNPUBLISHED,
        max_body_bytes: SDK_MAX_BODY_BYTES,
        oauth: None,
        credentials: &[],
    }
}

pub const APPLE_HEALTH: Descriptor = on_device(
    Provider::AppleHealth,
    "Apple Health",
    "https://www.apple.com/favicon.ico",
);

pub const SAMSUNG_HEALTH: Descriptor = on_device(
    Provider::SamsungHealth,
    "Samsung Health",
    "https://www.samsung.com/favicon.ico",
);

pub const HEALTH_CONNECT: Descriptor = on_device(
    Provider::HealthConnect,
    "Health Connect",
    "https://www.android.com/favicon.ico",
);

//! The provider kit: what a provider is to pulsegate, and what every provider shares.
//!
//! * The contract: a provider states its facts in a [`Descriptor`] (name, icon, push
//!   mode, data types, writes, documented rate limits, body limit, OAuth2 facts,
//!   credentials) and implements [`Plugin`], which builds its [`ProviderVerifier`]
//!   (handshake and verification of its pushes, for ingest) and its
//!   [`ProviderNormalizer`] (notification → fetch → Terra events, range fetches,
//!   writes, for the normalizer's lanes) from its own settings tables.
//! * The plumbing written once: the HTTP client ([`http`]), [`api::ProviderApi`]
//!   (retries with backoff, OAuth2 token refresh with one refresh per connection,
//!   metrics), rate limits per application ([`ratelimit`]: window math, usage headers,
//!   the [`Limiters`] handle), HMAC/timestamp-window/replay helpers for verifiers
//!   ([`signing`]), event builders ([`events`]), deauthorization confirmation
//!   ([`confirm`]), date-range paging ([`range`]) and write helpers ([`write`]).
//!
//! The providers themselves live one folder each in `pulsegate-providers`, which holds
//! the registry (the one list); this crate names no provider. The wire enum
//! ([`Provider`]: slug and Terra name) stays in `pulsegate-schema`.

pub mod api;
pub mod confirm;
#[cfg(feature = "testing")]
#[allow(clippy::unwrap_used, reason = "test suite: a failure is the test's")]
pub mod conformance;
pub mod credentials;
mod error;
pub mod events;
pub mod http;
pub mod keyed_locks;
mod normalize;
pub mod oauth;
mod plugin;
pub mod range;
pub mod ratelimit;
mod retry;
pub mod signing;
pub mod verify;
pub mod write;

pub use error::NormalizeError;
pub use normalize::{Ctx, ProviderNormalizer, RangeData, RangeSupport};
pub use plugin::{settings, split_section, Plugin, ProviderTables, ReplayGuardSpec, SettingsError};
pub use pulsegate_schema::{EventType, Provider, WriteOp, WriteResult};
pub use ratelimit::{Lane, Limiters};
pub use retry::{Backoff, RetryConfig};
pub use verify::{
    IngestRequest, Notification, PerUserBatches, ProviderVerifier, Rejection, ReplayMark,
};

use credentials::CredentialField;
use oauth::OAuthFacts;
use ratelimit::RateLimits;

/// Largest push body accepted by default from a provider that pushes notifications
/// (hints), not data: `[ingest] max_body_bytes`.
pub const PUSH_MAX_BODY_BYTES: usize = 256 * 1024;

/// Largest SDK upload accepted by default (`/v1/ingest/sdk/{provider}`, up to 1000
/// records): `[ingest] sdk_max_body_bytes`.
pub const SDK_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// How a provider's data reaches pulsegate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushMode {
    /// Signed webhooks (an HMAC over the body or its parts): `/v1/ingest/{provider}`.
    Signed,
    /// Unsigned pushes, authenticated only by a secret per-deployment path token:
    /// `/v1/ingest/{provider}/{token}` (token on the state topic, rotated through the
    /// admin API).
    PathToken,
    /// On-device data a mobile app uploads with an SDK token: `/v1/ingest/sdk/{provider}`.
    SdkUpload,
    /// No push at all: the provider must be polled.
    Poll,
}

/// The `/v2` writes a provider supports, by data type (everything else answers 501).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Writes {
    /// `POST /v2/<type>`: objects created at the provider.
    pub post: &'static [EventType],
    /// `DELETE /v2/<type>`: objects deleted by the ids a post returned.
    pub delete: &'static [EventType],
}

impl Writes {
    /// No writes.
    pub const NONE: Writes = Writes {
        post: &[],
        delete: &[],
    };
}

/// One provider's facts, as the provider documents them and as pulsegate maps them.
#[derive(Clone, Copy, Debug)]
pub struct Descriptor {
    /// The wire id (slug and Terra name live on [`Provider`]).
    pub id: Provider,
    /// How people see it named (the widget, `/v2/integrations/detailed`, the dashboard).
    pub display_name: &'static str,
    /// An icon URL for `/v2/integrations/detailed` (Terra's `IntegrationProvider.icon`):
    /// the favicon at the root of the provider's (or platform's) own public web site.
    /// pulsegate neither hosts nor checks it; it is the provider's own mark, at the
    /// conventional `/favicon.ico` location.
    pub icon: &'static str,
    /// How its data arrives.
    pub push: PushMode,
    /// Terra data types pulsegate maps and delivers for it (README's providers table).
    pub data_types: &'static [EventType],
    /// Terra data types customers can write to it through `/v2`.
    pub writes: Writes,
    /// Its documented API rate limits (the defaults of `[normalizer.<p>.rate_limit]`).
    pub rate_limits: RateLimits,
    /// Largest push body accepted by default ([`PUSH_MAX_BODY_BYTES`] unless the
    /// provider pushes the data itself; [`SDK_MAX_BODY_BYTES`] for SDK uploads).
    pub max_body_bytes: usize,
    /// Its OAuth2 facts (`None`: no OAuth, the on-device sources).
    pub oauth: Option<&'static OAuthFacts>,
    /// The credentials its application takes (empty for the on-device sources).
    pub credentials: &'static [CredentialField],
}

impl Descriptor {
    /// True if pulsegate delivers data type `t` (Terra's name, `"sleep"`) for it.
    pub fn delivers(&self, t: &str) -> bool {
        self.data_types.iter().any(|d| d.as_str() == t)
    }
}

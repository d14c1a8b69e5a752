//! What pulsegate knows of each provider, written once.
//!
//! Every provider has a [`Descriptor`]: a `const` in its own file under `providers/`,
//! holding the facts the stages and front doors used to restate in their own tables —
//! how it is named and shown, how its pushes arrive ([`PushMode`]), which Terra data
//! types pulsegate delivers for it and which it can write, its documented rate limits,
//! the largest push accepted, its OAuth2 facts ([`oauth::OAuthFacts`]) and the
//! credentials its application takes ([`credentials`]). [`ALL`] lists them, once, in
//! [`Provider::ALL`]'s order; [`descriptor`] looks one up.
//!
//! Who reads them: connect (the OAuth table), the normalizer (token shape, client
//! authentication, refresh parameters, API defaults, rate-limit defaults), ingest (path
//! tokens, body limits), terra-api (`/v2/integrations`, the widget), admin (credentials,
//! push URLs, the integrations list and dashboard) and the binary (credential overlay).
//! Tests in `tests/registry_docs.rs` fail when the admin OpenAPI enums, the README's
//! providers table or `pulsegate.example.toml` disagree with [`ALL`].
//!
//! The wire enum itself ([`Provider`]: slug and Terra name) stays in `pulsegate-schema`,
//! which everything already shares; this crate depends on schema only.

pub mod api;
pub mod confirm;
pub mod credentials;
mod error;
pub mod events;
pub mod http;
pub mod keyed_locks;
mod normalize;
pub mod oauth;
pub mod providers;
pub mod range;
pub mod ratelimit;
mod retry;
pub mod signing;
pub mod verify;
pub mod write;

pub use error::NormalizeError;
pub use normalize::{Ctx, ProviderNormalizer, RangeData, RangeSupport};
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

/// Every provider's descriptor, in [`Provider::ALL`]'s order.
pub static ALL: &[&Descriptor] = providers::LIST;

/// The descriptor of `p`.
pub fn descriptor(p: Provider) -> &'static Descriptor {
    ALL[p.index()]
}

// [`descriptor`] indexes [`ALL`] by the wire enum's position: the list must have one
// entry per provider, in the same order. Checked when the crate compiles.
const _: () = {
    let list = providers::LIST;
    assert!(
        list.len() == Provider::ALL.len(),
        "providers::LIST needs one descriptor per Provider"
    );
    let mut i = 0;
    while i < list.len() {
        assert!(
            list[i].id as usize == Provider::ALL[i] as usize,
            "providers::LIST is not in Provider::ALL's order"
        );
        i += 1;
    }
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_descriptor_per_provider_in_order() {
        assert_eq!(ALL.len(), Provider::ALL.len());
        for p in Provider::ALL {
            assert_eq!(descriptor(p).id, p);
        }
    }

    #[test]
    fn facts_agree_with_each_other() {
        for d in ALL {
            let p = d.id;
            assert!(!d.display_name.is_empty(), "{p:?}");
            assert!(d.icon.starts_with("https://"), "{p:?}");
            // The on-device sources upload through the SDK and have no OAuth; every
            // other provider has both an OAuth application and credentials.
            assert_eq!(p.is_sdk(), d.push == PushMode::SdkUpload, "{p:?}");
            assert_eq!(p.is_sdk(), d.oauth.is_none(), "{p:?}");
            assert_eq!(p.is_sdk(), d.credentials.is_empty(), "{p:?}");
            for t in d.writes.post.iter().chain(d.writes.delete) {
                assert!(d.data_types.contains(t), "{p:?} writes {t:?}");
            }
            if let Some(o) = d.oauth {
                assert!(o.authorize_url.starts_with("https://"), "{p:?}");
                assert!(o.token_url.starts_with("https://"), "{p:?}");
                assert!(o.api_base.starts_with("https://"), "{p:?}");
                assert!(!o.api_base.ends_with('/'), "{p:?}");
            }
            let body = match d.push {
                PushMode::SdkUpload => Some(SDK_MAX_BODY_BYTES),
                _ if p == Provider::Garmin => None,
                _ => Some(PUSH_MAX_BODY_BYTES),
            };
            if let Some(b) = body {
                assert_eq!(d.max_body_bytes, b, "{p:?}");
            }
        }
        assert!(descriptor(Provider::Strava).delivers("activity"));
        assert!(!descriptor(Provider::Strava).delivers("sleep"));
    }
}

//! Provider callbacks: `GET/POST /v1/ingest/{provider}`.
//!
//! Each provider has one [`ProviderVerifier`] (in its folder in `pulsegate-providers`,
//! mounted by [`mount`] from its `[ingest.<slug>]` table): it answers the provider's
//! handshake and turns a request into verified notifications, or a [`Rejection`]. The
//! shared handler then appends them to the `raw` topic and answers 2xx only once the
//! append is durable. Nothing that fails verification is ever enqueued.

mod activity;
mod config;
mod handler;
pub mod mount;
mod push_route;
pub mod replay;
mod sdk;
mod throttle;

// The provider kit: the verifier contract and the signing helpers providers share.
pub use pulsegate_provider::signing;
use pulsegate_provider::verify as verifier;

pub use activity::PushActivity;
pub use config::IngestConfig;
pub use handler::{
    encode_notification, router, router_durable, router_with_handle, routes_durable, IngestHandle,
    IngestRoutes,
};
pub use push_route::PushRoute;
pub use throttle::ThrottleConfig;
pub use verifier::{IngestRequest, Notification, ProviderVerifier, Rejection, ReplayMark};

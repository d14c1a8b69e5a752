use pulsegate_bus::BusError;
use pulsegate_state::StateError;

use crate::http::HttpError;

/// Why a notification produced no events. Messages never contain tokens or secrets.
#[derive(Debug, thiserror::Error)]
pub enum NormalizeError {
    /// Deliberately not turned into events (counted as
    /// `pulsegate_normalizer_dropped_total{reason}` and never retried).
    #[error("dropped ({reason}): {detail}")]
    Dropped {
        reason: &'static str,
        detail: String,
    },

    /// The provider stayed unavailable (429, 5xx, timeout, connection error) for every
    /// configured attempt; the notification is dropped.
    #[error("{endpoint} still failing after {attempts} attempts: {last}")]
    TransientExhausted {
        endpoint: &'static str,
        attempts: u32,
        last: String,
    },

    /// A historical (backfill or inline) call may not be made before `retry_at_ms`: the
    /// budget above the push reserve is used up for the window, or the provider answered
    /// 429 (`provider_block`). `notify`: the first to meet this provider block, so a
    /// `rate_limit_hit` is due. Never returned for push traffic.
    #[error("{provider} {endpoint}: rate limited until {retry_at_ms} ms")]
    RateLimited {
        provider: &'static str,
        endpoint: &'static str,
        retry_at_ms: u64,
        provider_block: bool,
        notify: bool,
    },

    /// Writing state (refreshed tokens, a revoke) failed: retried by the consumer loop.
    #[error(transparent)]
    State(#[from] StateError),

    /// The bus failed: retried by the consumer loop (or fatal from `run`).
    #[error(transparent)]
    Bus(#[from] BusError),

    /// The HTTP client could not be built.
    #[error(transparent)]
    Http(#[from] HttpError),

    /// A provider's settings do not read (named by section: `normalizer.strava: …`).
    #[error("invalid settings: {0}")]
    Config(String),

    /// An event body could not be serialised (a bug).
    #[error("event could not be encoded: {0}")]
    Encode(String),
}

impl NormalizeError {
    pub fn dropped(reason: &'static str, detail: impl Into<String>) -> Self {
        NormalizeError::Dropped {
            reason,
            detail: detail.into(),
        }
    }
}

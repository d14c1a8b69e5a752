//! The contract between a provider's API side and the normalizer's lanes: the
//! [`ProviderNormalizer`] trait a provider implements (parse a notification, fetch what it
//! points at, map it; fetch by date range; write), and what every implementation gets
//! ([`Ctx`]).

use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use pulsegate_schema::{Connection, EventType, NormalizedEvent, Provider, RawNotification};
use pulsegate_state::StateStore;

use crate::ratelimit::Lane;
use crate::write;
use crate::{NormalizeError, WriteOp, WriteResult};

/// What every provider normalizer may use besides its own configuration.
pub struct Ctx {
    /// Connections (tokens are refreshed and persisted through it).
    pub state: Arc<StateStore>,
    /// Whose API calls these are: live notifications, or historical requests (which
    /// only use the rate-limit budget above the push reserve).
    pub lane: Lane,
}

/// What a provider can fetch by date range for one data type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RangeSupport {
    /// Days per backfill window (each window is fetched, and delivered, on its own),
    /// unless `[normalizer.backfill] window_days` says otherwise.
    pub window_days: u32,
    /// How far back the provider keeps data, in days before today (Polar: 28). Older
    /// days yield nothing, without calls. `None`: no limit.
    pub history_days: Option<u32>,
}

impl RangeSupport {
    /// `window_days` windows without a history limit, for the listed data types only.
    pub fn for_types(data_type: EventType, types: &[EventType], window_days: u32) -> Option<Self> {
        types.contains(&data_type).then_some(Self {
            window_days,
            history_days: None,
        })
    }
}

/// Terra data objects of one date range (the push path's mapping, as JSON).
#[derive(Debug)]
pub enum RangeData {
    Objects(Vec<serde_json::Value>),
    /// The provider refused the connection's credentials: a `connection_error` is due.
    ConnectionError(&'static str),
}

/// One provider's notification handling: parse its notification body, fetch the data it
/// points at and map it into Terra-shaped events.
#[async_trait]
pub trait ProviderNormalizer: Send + Sync + 'static {
    fn provider(&self) -> Provider;

    /// A key identifying the provider-side change a notification announces (same
    /// object, same change, same time = same key), used to skip duplicates. `None` when
    /// the body cannot be parsed (then [`normalize`](Self::normalize) reports why).
    fn dedupe_key(&self, raw: &RawNotification) -> Option<String>;

    /// The data type this notification would produce, when the notification tells it
    /// without a fetch. A type the integration does not enable is then neither fetched
    /// nor delivered. `None`: unknown or several (the events are filtered after).
    fn data_type(&self, _raw: &RawNotification) -> Option<EventType> {
        None
    }

    /// True if this notification must be processed even though the user's connection is
    /// revoked (a deauthorization being redelivered after the revoke was stored).
    fn handles_revoked(&self, _raw: &RawNotification) -> bool {
        false
    }

    /// Produces the events for one notification. `Err(NormalizeError::Dropped)` means
    /// the notification is deliberately not turned into events (and is not retried).
    async fn normalize(
        &self,
        raw: &RawNotification,
        conn: &Connection,
        ctx: &Ctx,
    ) -> Result<Vec<NormalizedEvent>, NormalizeError>;

    /// Whether [`fetch_range`](Self::fetch_range) serves `data_type`, and how. `None`
    /// (the default): historical requests of this type are refused as unsupported.
    fn range_support(&self, _data_type: EventType) -> Option<RangeSupport> {
        None
    }

    /// The Terra data objects of `data_type` in the UTC days `[start, end)`, fetched
    /// from the provider and mapped exactly as the push path maps them. Calls go
    /// through the provider's API client in `ctx.lane`. The default: unsupported.
    async fn fetch_range(
        &self,
        _conn: &Connection,
        _ctx: &Ctx,
        data_type: EventType,
        _start: NaiveDate,
        _end: NaiveDate,
        _with_samples: bool,
    ) -> Result<RangeData, NormalizeError> {
        Err(NormalizeError::dropped(
            "unsupported",
            format!(
                "{} data cannot be fetched by date range from this provider",
                data_type.as_str()
            ),
        ))
    }

    /// Writes to the provider (`POST`/`DELETE` on the `/v2` data endpoints) with the
    /// connection's token, in `ctx.lane` ([`Lane::Write`]). The default: unsupported
    /// (`Dropped { reason: "unsupported" }`, naming the provider and the operation).
    async fn write(
        &self,
        _conn: &Connection,
        _ctx: &Ctx,
        op: WriteOp,
    ) -> Result<WriteResult, NormalizeError> {
        Err(write::unsupported(self.provider(), &op, ""))
    }
}

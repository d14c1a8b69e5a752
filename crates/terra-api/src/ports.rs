//! What the `/v2` endpoints need from the stages, as ports this crate owns:
//! [`HistoricalData`] (the data endpoints: fetch inline, or queue for webhooks) and
//! [`ProviderWrites`] (the write endpoints). The binary implements them with the
//! normalizer's backfill (`crates/pulsegate/src/adapters.rs`), this crate's tests with
//! scripted fakes; so this crate never imports a stage, and [`BackfillFailure`] is the
//! one error the endpoints map to Terra's answers.

use async_trait::async_trait;
use chrono::NaiveDate;
use pulsegate_schema::{Connection, EventType, WriteOp, WriteResult};

/// Why backfill did not answer with data; each becomes one of Terra's answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackfillFailure {
    /// The provider has no API for this data type by date range (or pulsegate maps
    /// none): Terra's `NoDataReturned` (200).
    Unsupported { provider: String, data_type: String },
    /// The provider refused or failed (the text holds no secret): 502.
    Provider(String),
    /// No call is allowed before this many seconds: Terra's "request processing"
    /// answer (202, `retry_after_seconds`).
    RateLimited { retry_after_seconds: u64 },
    /// An inline fetch met the rate limit and continues as a webhook request
    /// (`reference`); its `processing` event is sent: Terra's "request processing"
    /// answer (202) with that reference.
    Continued {
        reference: String,
        retry_after_seconds: u64,
    },
    /// The provider refused the user's credentials, or the connection is revoked: 400.
    ConnectionError(String),
    /// The range is unusable (too long, empty): 400.
    InvalidRange(String),
    /// The integration or the data type is switched off: 400.
    Disabled(String),
    /// The request could not be stored or state could not be read: 503.
    Unavailable(String),
    /// Writes: the provider (or pulsegate) cannot do this; the message names both: 501.
    WriteUnsupported(String),
    /// Writes: an object cannot be written as sent (the message names the field): 400.
    InvalidWrite(String),
}

/// Historical data by date range, from the user's provider (the data endpoints).
#[async_trait]
pub trait HistoricalData: Send + Sync + 'static {
    /// Fetches `[start, end)` from the provider and normalizes it: Terra data objects
    /// of `data_type`, answered inline (`to_webhook=false`).
    async fn fetch(
        &self,
        conn: &Connection,
        data_type: EventType,
        start: NaiveDate,
        end: NaiveDate,
        with_samples: bool,
    ) -> Result<Vec<serde_json::Value>, BackfillFailure>;

    /// Queues the same durably; the events reach destinations carrying the returned
    /// reference (`terra-reference`). `to_webhook=true`.
    async fn request(
        &self,
        conn: &Connection,
        data_type: EventType,
        start: NaiveDate,
        end: NaiveDate,
        with_samples: bool,
    ) -> Result<String, BackfillFailure>;
}

/// Writes at the user's provider (the write endpoints).
#[async_trait]
pub trait ProviderWrites: Send + Sync + 'static {
    /// Writes to the user's provider now (`POST`/`DELETE` on `/v2/activity`, `/v2/body`,
    /// `/v2/nutrition`). The default: unsupported.
    async fn write(&self, conn: &Connection, op: WriteOp) -> Result<WriteResult, BackfillFailure> {
        Err(BackfillFailure::WriteUnsupported(format!(
            "{} {} data at {} is not supported by pulsegate",
            op.verb(),
            op.data_type().as_str(),
            conn.provider.terra_name()
        )))
    }
}

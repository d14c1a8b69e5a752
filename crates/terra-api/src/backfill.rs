//! What the data endpoints need from backfill: [`Backfill`], implemented below for
//! `pulsegate_normalizer::backfill::Backfiller` (which the binary builds), and by
//! scripted fakes in this crate's tests.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use pulsegate_normalizer::backfill::{BackfillError, Backfiller};
use pulsegate_normalizer::{WriteOp, WriteResult};
use pulsegate_schema::{Connection, EventType};

/// Why backfill did not answer with data; each becomes one of Terra's answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackfillFailure {
    /// The provider has no API for this data type by date range (or pulsegate maps
    /// none): 501.
    Unsupported { provider: String, data_type: String },
    /// The provider refused or failed (the text holds no secret): 502.
    Provider(String),
    /// No call is allowed before this many seconds: Terra's "request processing"
    /// answer (202, `retry_after_seconds`).
    RateLimited { retry_after_seconds: u64 },
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

#[async_trait]
pub trait Backfill: Send + Sync + 'static {
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

impl From<BackfillError> for BackfillFailure {
    fn from(e: BackfillError) -> Self {
        match e {
            BackfillError::Unsupported {
                provider,
                data_type,
            } => Self::Unsupported {
                provider: provider.to_string(),
                data_type: data_type.to_string(),
            },
            BackfillError::Provider(m) => Self::Provider(m),
            BackfillError::RateLimited { retry_after } => Self::RateLimited {
                retry_after_seconds: retry_after.as_secs().max(1),
            },
            BackfillError::ConnectionError(m) => Self::ConnectionError(m.to_string()),
            BackfillError::InvalidRange(m) => Self::InvalidRange(m),
            BackfillError::Disabled(m) => Self::Disabled(m),
            BackfillError::Bus(e) => Self::Unavailable(e.to_string()),
            BackfillError::State(m) => Self::Unavailable(m),
            BackfillError::WriteUnsupported(m) => Self::WriteUnsupported(m),
            BackfillError::InvalidWrite(m) => Self::InvalidWrite(m),
        }
    }
}

/// The binary's backfill, as the data endpoints use it.
pub struct NormalizerBackfill(pub Arc<Backfiller>);

#[async_trait]
impl Backfill for NormalizerBackfill {
    async fn fetch(
        &self,
        conn: &Connection,
        data_type: EventType,
        start: NaiveDate,
        end: NaiveDate,
        with_samples: bool,
    ) -> Result<Vec<serde_json::Value>, BackfillFailure> {
        Ok(self
            .0
            .fetch(conn, data_type, start, end, with_samples)
            .await?)
    }

    async fn request(
        &self,
        conn: &Connection,
        data_type: EventType,
        start: NaiveDate,
        end: NaiveDate,
        with_samples: bool,
    ) -> Result<String, BackfillFailure> {
        Ok(self
            .0
            .request(conn, data_type, start, end, with_samples)
            .await?)
    }

    async fn write(&self, conn: &Connection, op: WriteOp) -> Result<WriteResult, BackfillFailure> {
        Ok(self.0.write(conn, op).await?)
    }
}

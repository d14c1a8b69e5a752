//! The stages seen through the front doors' ports. A port is a trait owned by the crate
//! that uses it (`pulsegate_terra_api::HistoricalData`, …); its adapter lives here, in
//! the one crate that sees both sides, so the front doors never import a stage and the
//! Cargo graph points one way.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use pulsegate_normalizer::backfill::{BackfillError, Backfiller};
use pulsegate_schema::{Connection, EventType, WriteOp, WriteResult};
use pulsegate_terra_api::{BackfillFailure, HistoricalData, ProviderWrites};

/// The normalizer's backfill as the `/v2` data and write endpoints use it.
pub(crate) struct NormalizerBackfill(pub(crate) Arc<Backfiller>);

#[async_trait]
impl HistoricalData for NormalizerBackfill {
    async fn fetch(
        &self,
        conn: &Connection,
        data_type: EventType,
        start: NaiveDate,
        end: NaiveDate,
        with_samples: bool,
    ) -> Result<Vec<serde_json::Value>, BackfillFailure> {
        self.0
            .fetch(conn, data_type, start, end, with_samples)
            .await
            .map_err(failure)
    }

    async fn request(
        &self,
        conn: &Connection,
        data_type: EventType,
        start: NaiveDate,
        end: NaiveDate,
        with_samples: bool,
    ) -> Result<String, BackfillFailure> {
        self.0
            .request(conn, data_type, start, end, with_samples)
            .await
            .map_err(failure)
    }
}

#[async_trait]
impl ProviderWrites for NormalizerBackfill {
    async fn write(&self, conn: &Connection, op: WriteOp) -> Result<WriteResult, BackfillFailure> {
        self.0.write(conn, op).await.map_err(failure)
    }
}

/// The normalizer's reasons as terra-api's one error type (each one Terra answer).
fn failure(e: BackfillError) -> BackfillFailure {
    match e {
        BackfillError::Unsupported {
            provider,
            data_type,
        } => BackfillFailure::Unsupported {
            provider: provider.to_string(),
            data_type: data_type.to_string(),
        },
        BackfillError::Provider(m) => BackfillFailure::Provider(m),
        BackfillError::RateLimited { retry_after } => BackfillFailure::RateLimited {
            retry_after_seconds: retry_after.as_secs().max(1),
        },
        BackfillError::ConnectionError(m) => BackfillFailure::ConnectionError(m.to_string()),
        BackfillError::InvalidRange(m) => BackfillFailure::InvalidRange(m),
        BackfillError::Disabled(m) => BackfillFailure::Disabled(m),
        BackfillError::Bus(e) => BackfillFailure::Unavailable(e.to_string()),
        BackfillError::State(m) => BackfillFailure::Unavailable(m),
        BackfillError::WriteUnsupported(m) => BackfillFailure::WriteUnsupported(m),
        BackfillError::InvalidWrite(m) => BackfillFailure::InvalidWrite(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backfill_errors_map_to_answers() {
        assert_eq!(
            failure(BackfillError::Unsupported {
                provider: "STRAVA",
                data_type: "sleep"
            }),
            BackfillFailure::Unsupported {
                provider: "STRAVA".into(),
                data_type: "sleep".into()
            }
        );
        assert_eq!(
            failure(BackfillError::RateLimited {
                retry_after: std::time::Duration::from_millis(10)
            }),
            BackfillFailure::RateLimited {
                retry_after_seconds: 1
            }
        );
        assert_eq!(
            failure(BackfillError::InvalidRange("too long".into())),
            BackfillFailure::InvalidRange("too long".into())
        );
        assert_eq!(
            failure(BackfillError::State("down".into())),
            BackfillFailure::Unavailable("down".into())
        );
    }
}

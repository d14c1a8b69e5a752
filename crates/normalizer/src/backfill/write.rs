//! Customers' writes to providers (`POST`/`DELETE` `/v2/activity`, `/v2/body`,
//! `/v2/nutrition`): the connection's provider does it through
//! [`ProviderNormalizer::write`](crate::ProviderNormalizer::write), in [`Lane::Write`].

use std::time::Duration;

use pulsegate_schema::{Connection, ConnectionStatus};

use super::{provider_error, BackfillError, Backfiller};
use crate::ratelimit::Lane;
use crate::write::{INVALID, UNSUPPORTED};
use crate::{Ctx, NormalizeError, WriteOp, WriteResult};

impl Backfiller {
    /// Runs `op` at `conn`'s provider now. [`BackfillError::WriteUnsupported`] when the
    /// provider (or pulsegate) cannot do it, [`BackfillError::InvalidWrite`] when an
    /// object cannot be written as sent.
    pub async fn write(
        &self,
        conn: &Connection,
        op: WriteOp,
    ) -> Result<WriteResult, BackfillError> {
        let (name, data_type, verb) = (
            conn.provider.terra_name(),
            op.data_type().as_str(),
            op.verb(),
        );
        let provider = self.setup().providers.get(&conn.provider).cloned();
        let Some(provider) = provider else {
            return Err(BackfillError::WriteUnsupported(format!(
                "{verb} {data_type} data at {name} is not supported by pulsegate"
            )));
        };
        if !self.state.integration_enabled(conn.provider) {
            return Err(BackfillError::Disabled(format!(
                "the {name} integration is disabled"
            )));
        }
        if conn.status == ConnectionStatus::Revoked {
            return Err(BackfillError::ConnectionError("the connection is revoked"));
        }
        let ctx = Ctx {
            state: self.state.clone(),
            lane: Lane::Write,
        };
        let conn = self.fresh(conn);
        let outcome = provider.write(&conn, &ctx, op).await;
        let label = match &outcome {
            Ok(WriteResult::ConnectionError(_)) => "connection_error",
            Ok(_) => "ok",
            Err(NormalizeError::Dropped { reason, .. }) => reason,
            Err(NormalizeError::RateLimited { .. }) => "rate_limited",
            Err(_) => "error",
        };
        metrics::counter!(
            "pulsegate_provider_writes_total",
            "provider" => conn.provider.slug(),
            "data_type" => data_type,
            "operation" => verb,
            "outcome" => label
        )
        .increment(1);
        match outcome {
            Ok(r) => Ok(r),
            Err(NormalizeError::Dropped { reason, detail }) if reason == UNSUPPORTED => {
                Err(BackfillError::WriteUnsupported(detail))
            }
            Err(NormalizeError::Dropped { reason, detail }) if reason == INVALID => {
                Err(BackfillError::InvalidWrite(detail))
            }
            Err(NormalizeError::RateLimited { retry_at_ms, .. }) => {
                let now = pulsegate_schema::now_ms();
                Err(BackfillError::RateLimited {
                    retry_after: Duration::from_millis(retry_at_ms.saturating_sub(now)),
                })
            }
            Err(e) => {
                tracing::warn!(
                    provider = conn.provider.slug(),
                    data_type,
                    operation = verb,
                    error = %e,
                    "write to the provider failed"
                );
                Err(match e {
                    // The provider's refusal as such (it names no secret).
                    NormalizeError::Dropped { detail, .. } => BackfillError::Provider(detail),
                    other => provider_error(other),
                })
            }
        }
    }
}

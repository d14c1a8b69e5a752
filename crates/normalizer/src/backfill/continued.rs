//! An inline fetch (`to_webhook=false`) that meets the provider's rate limit is not
//! refused: it is continued as a webhook request, and the customer is told so with
//! Terra's `processing` event ("data is being fetched asynchronously from the provider;
//! the data will be sent automatically via webhook, and you can safely request it after
//! `retry_after_seconds`"). The event carries the new request's reference, as its data
//! will, so the customer can tie them together.

use std::time::Duration;

use chrono::NaiveDate;
use pulsegate_schema::terra::User;
use pulsegate_schema::{BackfillTask, Connection, EventType, NormalizedEvent};
use serde::Serialize;

use super::notices::{event, event_id};
use super::{BackfillError, Backfiller};
use crate::events::terra_user;
use crate::NormalizeError;

/// Terra's `ProcessingEvent` (terra-python `terra.types.ProcessingEvent`).
#[derive(Debug, Serialize)]
pub struct ProcessingEvent<'a> {
    #[serde(rename = "type")]
    pub event_type: &'a str,
    pub status: &'a str,
    pub message: &'a str,
    pub user: &'a User,
    pub retry_after_seconds: u64,
}

/// Seconds the customer is told to wait: the rate limit's wait, at least one.
pub(crate) fn retry_after_seconds(retry_after: Duration) -> u64 {
    retry_after.as_secs_f64().ceil().max(1.0) as u64
}

/// The request's `processing` event; its id derives from the reference (one per request).
pub(super) fn processing(
    conn: &Connection,
    first: &BackfillTask,
    retry_after: Duration,
) -> Result<NormalizedEvent, NormalizeError> {
    let user = terra_user(conn);
    let body = ProcessingEvent {
        event_type: EventType::Processing.as_str(),
        status: "success",
        message: "The provider's rate limit is reached: the data is being fetched asynchronously and will be sent to your webhook with this request's reference",
        user: &user,
        retry_after_seconds: retry_after_seconds(retry_after),
    };
    event(
        event_id(&first.reference, "processing", None),
        EventType::Processing,
        conn,
        first,
        &body,
    )
}

impl Backfiller {
    /// Queues the inline request as a webhook request with its `processing` event; the
    /// answer for the caller: [`BackfillError::Continued`], or why it could not be queued.
    pub(super) async fn continue_as_webhook(
        &self,
        conn: &Connection,
        data_type: EventType,
        range: (NaiveDate, NaiveDate),
        with_samples: bool,
        retry_after: Duration,
    ) -> BackfillError {
        match self
            .request_with_notice(conn, data_type, range, with_samples, Some(retry_after))
            .await
        {
            Ok(reference) => {
                tracing::info!(%reference, provider = conn.provider.slug(),
                    data_type = data_type.as_str(), retry_after_secs = retry_after.as_secs(),
                    "inline fetch rate limited; continued as a webhook request");
                BackfillError::Continued {
                    reference,
                    retry_after,
                }
            }
            Err(e) => e,
        }
    }
}

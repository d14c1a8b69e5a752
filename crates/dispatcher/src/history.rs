//! The delivery history: every attempt (time, destination, event, user, webhook-id,
//! terra-reference, status, latency, outcome) appended to the `delivery_history` topic,
//! kept `history_retention` (default 14 days; the bus drops older records), so any
//! process can search it (`GET /v1/admin/deliveries/history`) and a restart keeps it.
//! Off the delivery path: attempts go through a bounded channel to one writer task that
//! appends them in batches; when the channel is full an attempt is left out of the
//! history and counted (`pulsegate_delivery_history_dropped_total`), never delaying a
//! delivery.

use std::sync::Arc;

use bytes::Bytes;
use pulsegate_bus::{Bus, Outgoing};
use pulsegate_schema::{topics, DeliveryRecord};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Attempts waiting for the writer at most.
const QUEUE: usize = 16_384;
/// Records per append.
const BATCH: usize = 512;

/// The sending side, held by [`crate::RecentDeliveries`].
pub(crate) struct HistoryWriter {
    tx: mpsc::Sender<DeliveryRecord>,
}

impl HistoryWriter {
    pub fn offer(&self, record: &DeliveryRecord) {
        if self.tx.try_send(record.clone()).is_err() {
            metrics::counter!("pulsegate_delivery_history_dropped_total").increment(1);
        }
    }
}

/// Starts the writer task; returns its sender, and the task, which ends once `stop`
/// fired and what was queued by then is written.
pub(crate) fn start(
    bus: Arc<dyn Bus>,
    stop: CancellationToken,
) -> (HistoryWriter, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<DeliveryRecord>(QUEUE);
    let task = tokio::spawn(async move {
        let mut buf = Vec::with_capacity(BATCH);
        loop {
            let n = tokio::select! {
                // Stopping wins: what is queued then goes in whole, not one batch of it.
                biased;
                _ = stop.cancelled() => {
                    // What is queued still goes in.
                    while let Ok(r) = rx.try_recv() { buf.push(r); }
                    buf.len()
                }
                n = rx.recv_many(&mut buf, BATCH) => n,
            };
            if n == 0 && stop.is_cancelled() {
                return;
            }
            let records: Vec<Outgoing> = buf
                .drain(..)
                .filter_map(|r| {
                    let payload = serde_json::to_vec(&r).ok()?;
                    Some(Outgoing::new(Bytes::from(r.destination_id), payload))
                })
                .collect();
            if !records.is_empty() {
                let count = records.len() as u64;
                if let Err(e) = bus.append_batch(topics::DELIVERY_HISTORY, records).await {
                    tracing::warn!(error = %e, count, "delivery history not written");
                    metrics::counter!("pulsegate_delivery_history_dropped_total").increment(count);
                }
            }
            if stop.is_cancelled() {
                return;
            }
        }
    });
    (HistoryWriter { tx }, task)
}

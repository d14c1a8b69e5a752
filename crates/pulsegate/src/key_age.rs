//! `pulsegate_encryption_key_age_seconds{key_id}`: how long this deployment has sealed
//! with its current encryption key, from the `keyinuse` record on the state topic (the
//! first process to start with a key writes it, every process reads it). The key-age
//! alert (deploy/prometheus/alerts.yml) asks for a rotation past a year. A deployment
//! upgraded to a version with this gauge counts from the upgrade: its key's earlier use
//! is not known.

use std::sync::Arc;
use std::time::Duration;

use pulsegate_schema::now_ms;
use pulsegate_state::StateStore;
use tokio_util::sync::CancellationToken;

/// Records the key's first use if no process did, then sets the gauge every minute
/// until `stop`. A failed record (the bus down at start) is retried each minute; the
/// gauge is absent until one succeeds.
pub fn spawn(state: Arc<StateStore>, key_id: String, stop: CancellationToken) {
    let gauge = metrics::gauge!("pulsegate_encryption_key_age_seconds", "key_id" => key_id.clone());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        let mut recorded = false;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            if !recorded {
                match state.record_key_in_use(&key_id).await {
                    Ok(_) => recorded = true,
                    Err(e) => {
                        tracing::warn!(error = %e, key_id = %key_id,
                            "the encryption key's first use is not recorded yet; retrying in a minute");
                        continue;
                    }
                }
            }
            // Read each time: another process's earlier record may have arrived since.
            if let Some(first) = state.key_first_used_ms(&key_id) {
                gauge.set(now_ms().saturating_sub(first) as f64 / 1000.0);
            }
        }
    });
}

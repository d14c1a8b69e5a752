//! A destination that keeps failing is switched off, as Junction does: the first failed
//! attempt after a success stamps `failing_since_ms` on the destination's record (one
//! state write per outage, none while it keeps failing or keeps succeeding); a success
//! clears it; a failure `disable_after_failing` (default 5 days) after the stamp
//! disables the destination with its reason. The operator sees it in the log, the
//! `pulsegate_destinations_disabled_total` counter, its alert and the admin API
//! (`enabled: false`, `disabled_reason`); the owner gets `destination_disabled` on its
//! other destinations (`disabled.rs`); an admin `PUT` re-enables it with a clean slate.

use pulsegate_schema::Destination;

use crate::context::Shared;
use crate::disabled::Cause;

impl Shared {
    /// A failed attempt to `dest` at `now_ms`.
    pub(crate) async fn note_failure(&self, dest: &Destination, now_ms: u64) {
        let limit = self.cfg.disable_after_failing;
        match dest.failing_since_ms {
            None => {
                self.update(&dest.id, |d| {
                    if d.failing_since_ms.is_some() {
                        return false;
                    }
                    d.failing_since_ms = Some(now_ms);
                    true
                })
                .await;
            }
            Some(since)
                if !limit.is_zero() && now_ms.saturating_sub(since) >= limit.as_millis() as u64 =>
            {
                let reason = format!(
                    "failing since {} (every attempt for {}); disabled",
                    chrono::DateTime::from_timestamp_millis(since as i64)
                        .map(|t| t.to_rfc3339())
                        .unwrap_or_default(),
                    humantime::format_duration(limit)
                );
                let disabled = self
                    .update(&dest.id, |d| {
                        if !d.enabled {
                            return false;
                        }
                        d.enabled = false;
                        d.disabled_reason = Some(reason.clone());
                        true
                    })
                    .await;
                if disabled {
                    self.announce_disabled(dest, Cause::Failing, &reason).await;
                }
            }
            Some(_) => {}
        }
    }

    /// A delivered attempt to `dest`: its outage, if any, is over.
    pub(crate) async fn note_success(&self, dest: &Destination) {
        if dest.failing_since_ms.is_some() {
            self.update(&dest.id, |d| d.failing_since_ms.take().is_some())
                .await;
        }
    }

    /// Applies `change` to the destination's current record (not a copy a worker held:
    /// an admin change meanwhile is kept) and stores it if `change` says so. Best effort:
    /// a failed write is logged and tried again at the next attempt.
    async fn update(&self, id: &str, change: impl FnOnce(&mut Destination) -> bool) -> bool {
        let Some(current) = self.state.destination(id) else {
            return false;
        };
        let mut d = (*current).clone();
        if !change(&mut d) {
            return false;
        }
        match self.state.put_destination(&d).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(destination = %id, error = %e, "could not store the destination's failure state");
                false
            }
        }
    }
}

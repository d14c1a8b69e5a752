//! Replay guards that survive restarts. Each provider with a replay guard (Huawei,
//! Fitbit, Google Health, Oura, Polar, WHOOP) has one [`ReplayGuard`] for the life of the process,
//! shared by its current and rotated-out verifiers. When durable, every accepted
//! request's replay key is appended to the provider's `replay_<slug>` topic together
//! with (concurrently to) its `raw` records, and the push is answered 2xx only when both
//! are durable; at start the topic is read back into the guard. The topic's retention
//! is the provider's replay window (twice the timestamp tolerance: a timestamp may be
//! that far ahead), so start-up reads at most one window of markers; the guard's
//! capacity bounds memory.
//!
//! Marker record: payload = expiry (ms since the epoch, 8 bytes big-endian) ‖ key. An
//! expiry of 0 forgets the key (its `raw` append failed, so the provider's retry must
//! get through).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use pulsegate_bus::{Bus, BusError, Outgoing, TopicSpec};
use pulsegate_schema::{now_ms, Provider};

use crate::signing::ReplayGuard;
use crate::verifier::ReplayMark;
use crate::IngestConfig;

/// The topic holding `provider`'s replay markers.
pub fn topic(provider: Provider) -> String {
    format!("replay_{}", provider.slug())
}

/// The providers with a replay guard, their capacity and window (ms), as each provider
/// reads its `[ingest.<slug>]` table (a table that does not read has none here; the
/// configuration check at start refuses it).
fn guarded(config: &IngestConfig) -> Vec<(Provider, usize, u64)> {
    pulsegate_providers::plugins()
        .filter_map(|plugin| {
            let p = plugin.descriptor().id;
            let spec = plugin
                .replay_guard(config.providers.get(p))
                .ok()
                .flatten()?;
            Some((p, spec.capacity, spec.window_ms))
        })
        .collect()
}

/// Every provider's replay guard, and whether accepted keys are recorded on the bus.
pub struct ReplayBook {
    guards: HashMap<Provider, Arc<ReplayGuard>>,
    durable: bool,
}

impl ReplayBook {
    /// Guards in memory only (lost at restart).
    pub fn in_memory(config: &IngestConfig) -> Self {
        Self {
            guards: guarded(config)
                .into_iter()
                .map(|(p, capacity, _)| (p, Arc::new(ReplayGuard::new(capacity))))
                .collect(),
            durable: false,
        }
    }

    /// Guards that survive restarts: creates each provider's marker topic if needed and
    /// loads the markers still in force.
    pub async fn durable(bus: &dyn Bus, config: &IngestConfig) -> Result<Self, BusError> {
        let mut book = Self::in_memory(config);
        book.durable = true;
        for (provider, capacity, window_ms) in guarded(config) {
            // Retention: the window, at least a minute (records are removed in passes).
            let retention = Duration::from_millis(window_ms.max(60_000));
            bus.ensure_topic(&TopicSpec::new(topic(provider), 1).retention(Some(retention)))
                .await?;
            if capacity == 0 {
                continue;
            }
            let guard = &book.guards[&provider];
            let mut consumer = bus.read_from_start(&topic(provider)).await?;
            let (mut loaded, now) = (0u64, now_ms());
            while !consumer.caught_up() {
                let records = consumer.poll(4096, Duration::from_millis(200)).await?;
                loaded += apply(provider, guard, &records, now);
            }
            if loaded > 0 {
                tracing::info!(provider = provider.slug(), loaded, "replay guard loaded");
            }
            // Then keep following the topic: markers other ingest processes write are
            // refused here too. Stops once the guard is dropped (the router is gone).
            let weak = Arc::downgrade(guard);
            tokio::spawn(async move {
                loop {
                    let polled = consumer.poll(1024, Duration::from_secs(1)).await;
                    let Some(guard) = weak.upgrade() else { return };
                    match polled {
                        Ok(records) => {
                            apply(provider, &guard, &records, now_ms());
                        }
                        Err(e) => {
                            tracing::warn!(provider = provider.slug(), error = %e, "replay marker read failed; retrying");
                            drop(guard);
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
            });
        }
        Ok(book)
    }

    pub fn guard(&self, provider: Provider) -> Option<Arc<ReplayGuard>> {
        self.guards.get(&provider).cloned()
    }

    /// The marker to append for an accepted request (`None` when not durable or the
    /// provider keeps no replay guard).
    pub(crate) fn marker(
        &self,
        provider: Provider,
        mark: Option<ReplayMark>,
        now_ms: u64,
    ) -> Option<(String, Outgoing, Vec<u8>)> {
        let mark = mark?;
        let guard = self.guards.get(&provider)?;
        if !self.durable || guard.capacity() == 0 {
            return None;
        }
        let expires = now_ms.saturating_add(mark.ttl_ms).max(1);
        Some((topic(provider), encode(expires, &mark.key), mark.key))
    }

    /// The record that forgets `key` on the bus.
    pub(crate) fn forget_marker(key: &[u8]) -> Outgoing {
        encode(0, key)
    }
}

/// Applies markers read from the bus; returns how many are in force.
fn apply(
    provider: Provider,
    guard: &ReplayGuard,
    records: &[pulsegate_bus::Record],
    now: u64,
) -> u64 {
    let mut in_force = 0;
    for r in records {
        match decode(&r.payload) {
            Some((0, key)) => guard.forget(key),
            Some((expires, key)) if expires > now => {
                guard.remember(key, expires, now);
                in_force += 1;
            }
            Some(_) => {}
            None => tracing::warn!(
                provider = provider.slug(),
                offset = r.offset,
                "unreadable replay marker; skipped"
            ),
        }
    }
    in_force
}

fn encode(expires_at_ms: u64, key: &[u8]) -> Outgoing {
    let mut payload = Vec::with_capacity(8 + key.len());
    payload.extend_from_slice(&expires_at_ms.to_be_bytes());
    payload.extend_from_slice(key);
    Outgoing::new(Vec::new(), payload)
}

fn decode(payload: &[u8]) -> Option<(u64, &[u8])> {
    let (expires, key) = payload.split_first_chunk::<8>()?;
    (!key.is_empty()).then(|| (u64::from_be_bytes(*expires), key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulsegate_bus::embedded::{EmbeddedBus, EmbeddedConfig};

    #[tokio::test]
    async fn markers_are_loaded_back_after_a_restart_and_forgotten_ones_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let config = IngestConfig::default();
        let now = now_ms();
        {
            let bus = EmbeddedBus::open(EmbeddedConfig::new(dir.path())).unwrap();
            let book = ReplayBook::durable(&bus, &config).await.unwrap();
            let mark = |key: &[u8], ttl_ms| ReplayMark {
                key: key.to_vec(),
                ttl_ms,
            };
            for (key, ttl) in [(b"kept" as &[u8], 600_000), (b"forgotten", 600_000)] {
                let (t, rec, _) = book
                    .marker(Provider::Oura, Some(mark(key, ttl)), now)
                    .unwrap();
                bus.append(&t, rec).await.unwrap();
            }
            // Expired already.
            let (t, rec, _) = book
                .marker(Provider::Oura, Some(mark(b"old", 1)), now - 10_000)
                .unwrap();
            bus.append(&t, rec).await.unwrap();
            bus.append(
                &topic(Provider::Oura),
                ReplayBook::forget_marker(b"forgotten"),
            )
            .await
            .unwrap();
            // Garbage is skipped, not fatal.
            bus.append(
                &topic(Provider::Oura),
                Outgoing::new(Vec::new(), b"x".to_vec()),
            )
            .await
            .unwrap();
            assert!(ReplayBook::in_memory(&config)
                .marker(Provider::Oura, Some(mark(b"k", 1)), now)
                .is_none());
            assert!(book
                .marker(Provider::Strava, Some(mark(b"k", 1)), now)
                .is_none());
        }
        // The first book's followers let go of the log within a poll once it is dropped.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let bus = loop {
            match EmbeddedBus::open(EmbeddedConfig::new(dir.path())) {
                Ok(bus) => break bus,
                Err(e) => {
                    assert!(std::time::Instant::now() < deadline, "{e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        let book = ReplayBook::durable(&bus, &config).await.unwrap();
        let g = book.guard(Provider::Oura).unwrap();
        assert_eq!(
            g.check_and_record_until(b"kept", u64::MAX, now_ms()),
            Err(crate::Rejection::Replayed)
        );
        assert!(g
            .check_and_record_until(b"forgotten", u64::MAX, now_ms())
            .is_ok());
        assert!(g.check_and_record_until(b"old", u64::MAX, now_ms()).is_ok());
        assert!(book.guard(Provider::Strava).is_none());
    }

    #[tokio::test]
    async fn markers_written_by_another_process_are_followed() {
        let dir = tempfile::tempdir().unwrap();
        let bus = EmbeddedBus::open(EmbeddedConfig::new(dir.path())).unwrap();
        let config = IngestConfig::default();
        let a = ReplayBook::durable(&bus, &config).await.unwrap();
        let b = ReplayBook::durable(&bus, &config).await.unwrap();
        let mark = ReplayMark {
            key: b"shared".to_vec(),
            ttl_ms: 600_000,
        };
        let (t, rec, _) = a.marker(Provider::Whoop, Some(mark), now_ms()).unwrap();
        bus.append(&t, rec).await.unwrap();
        let g = b.guard(Provider::Whoop).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !g.holds(b"shared", now_ms()) {
            assert!(std::time::Instant::now() < deadline, "marker not followed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

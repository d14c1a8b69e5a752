//! One raw record in, its events durably on the `events` topic (or a counted drop) out.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pulsegate_bus::{Bus, Handled, Outgoing, Record};
use pulsegate_schema::{
    topics, Connection, ConnectionStatus, NormalizedEvent, Provider, RawNotification,
};
use pulsegate_state::StateStore;
use tracing::{field::Empty, Instrument};

use crate::dedupe::RecentlySeen;
use crate::ratelimit::{Lane, Limiters};
use crate::KeyedLocks;
use crate::{providers, Ctx, NormalizeError, NormalizerConfig, ProviderNormalizer};

/// Delay before the consumer loop re-runs a record whose events could not be stored.
const STORE_RETRY: Duration = Duration::from_millis(500);

/// The record handler behind [`crate::run`], usable on its own (benches, tests).
pub struct Normalizer {
    bus: Arc<dyn Bus>,
    ctx: Ctx,
    /// Swapped whole when credentials change ([`reconfigure`](Self::reconfigure)).
    providers: std::sync::RwLock<Arc<HashMap<Provider, Arc<dyn ProviderNormalizer>>>>,
    seen: RecentlySeen,
    /// One notification per provider user at a time: keeps a user's notifications from
    /// racing each other (duplicates, token refreshes, create vs delete).
    user_locks: KeyedLocks,
    /// The provider applications' limiters, kept across reconfigurations.
    limiters: Limiters,
}

impl Normalizer {
    /// A normalizer with every provider of [`providers::registry`].
    pub fn new(
        bus: Arc<dyn Bus>,
        state: Arc<StateStore>,
        cfg: NormalizerConfig,
        limiters: Limiters,
    ) -> Result<Self, NormalizeError> {
        let registry = providers::registry(&cfg, &limiters)?;
        Ok(Self {
            limiters,
            ..Self::with_providers(bus, state, cfg.dedupe_capacity, registry)
        })
    }

    /// A normalizer with the given provider implementations (a reconfiguration builds
    /// its providers on limiters of their own).
    pub fn with_providers(
        bus: Arc<dyn Bus>,
        state: Arc<StateStore>,
        dedupe_capacity: usize,
        list: Vec<Arc<dyn ProviderNormalizer>>,
    ) -> Self {
        let providers: HashMap<_, _> = list.into_iter().map(|p| (p.provider(), p)).collect();
        Self {
            bus,
            ctx: Ctx {
                state,
                lane: Lane::Push,
            },
            providers: std::sync::RwLock::new(Arc::new(providers)),
            seen: RecentlySeen::new(dedupe_capacity),
            user_locks: KeyedLocks::new(),
            limiters: Limiters::new(),
        }
    }

    /// Rebuilds every provider normalizer from `cfg` (new application credentials).
    /// Notifications in flight finish with the normalizer they started with.
    pub fn reconfigure(&self, cfg: &NormalizerConfig) -> Result<(), NormalizeError> {
        let providers: HashMap<_, _> = providers::registry(cfg, &self.limiters)?
            .into_iter()
            .map(|p| (p.provider(), p))
            .collect();
        *self.providers.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(providers);
        Ok(())
    }

    /// Handles one `raw` record. `Done` once its events are durable or it was dropped;
    /// `RetryAfter` when the bus or the state store failed.
    pub async fn handle(&self, record: Record) -> Handled {
        let raw: RawNotification = match serde_json::from_slice(&record.payload) {
            Ok(raw) => raw,
            Err(e) => {
                count_dropped("unknown", "malformed");
                tracing::info!(
                    partition = record.partition,
                    offset = record.offset,
                    error = %e,
                    "unparseable raw record dropped"
                );
                return Handled::Done;
            }
        };
        let span = tracing::info_span!(
            "normalize",
            provider = raw.provider.slug(),
            user_id = Empty,
            notification = %raw.id,
            event_id = Empty,
        );
        // With the ingest's "enqueued" line: which record each offset held when read.
        tracing::debug!(parent: &span, partition = record.partition, offset = record.offset, "raw record read");
        self.handle_raw(&raw).instrument(span).await
    }

    /// Handles one parsed notification (see [`handle`](Self::handle)).
    pub async fn handle_raw(&self, raw: &RawNotification) -> Handled {
        let slug = raw.provider.slug();
        let provider = self
            .providers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&raw.provider)
            .cloned();
        let Some(provider) = provider else {
            count_dropped(slug, "no_normalizer");
            tracing::info!("no normalizer for this provider; dropped");
            return Handled::Done;
        };
        if let Some(t) = provider.data_type(raw) {
            // Not fetched at all when the integration does not enable this data type.
            if !self.ctx.state.integration_wants(raw.provider, t.as_str()) {
                count_dropped(slug, "data_type_disabled");
                tracing::info!(data_type = t.as_str(), "data type not enabled; dropped");
                return Handled::Done;
            }
        }
        if !self.ctx.state.integration_enabled(raw.provider) {
            count_dropped(slug, "integration_disabled");
            tracing::info!("integration disabled; dropped");
            return Handled::Done;
        }
        let _user = self
            .user_locks
            .lock(&RawNotification::bus_key(
                raw.provider,
                &raw.provider_user_id,
            ))
            .await;

        let key = provider.dedupe_key(raw);
        if key.as_deref().is_some_and(|k| self.seen.contains(k)) {
            count_dropped(slug, "duplicate");
            tracing::info!("duplicate notification skipped");
            return Handled::Done;
        }
        let found = match self.find_connection(raw).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "state barrier failed; will retry");
                return Handled::RetryAfter(STORE_RETRY);
            }
        };
        let Some(conn) = found else {
            count_dropped(slug, "unknown_user");
            tracing::info!(
                provider_user_id = %raw.provider_user_id,
                "no connection for this provider user; dropped"
            );
            return Handled::Done;
        };
        let span = tracing::Span::current();
        span.record("user_id", conn.user_id.as_str());
        if conn.status == ConnectionStatus::Revoked && !provider.handles_revoked(raw) {
            count_dropped(slug, "revoked");
            tracing::info!("connection is revoked; dropped");
            return Handled::Done;
        }

        match provider.normalize(raw, &conn, &self.ctx).await {
            Ok(mut events) => {
                // Data types the integration does not enable are never delivered.
                let before = events.len();
                events.retain(|e| {
                    self.ctx
                        .state
                        .integration_wants(raw.provider, e.event_type.as_str())
                });
                if events.len() < before {
                    count_dropped(slug, "data_type_disabled");
                }
                // Event ids are deterministic: one already stored is a duplicate.
                let before = events.len();
                events.retain(|e| !self.seen.contains(&e.event_id));
                if events.len() < before {
                    count_dropped(slug, "duplicate_event");
                }
                if let Some(first) = events.first() {
                    span.record("event_id", first.event_id.as_str());
                }
                if let Err(e) = self.store(&events).await {
                    tracing::warn!(error = %e, "appending events failed; will retry");
                    return Handled::RetryAfter(STORE_RETRY);
                }
                for e in &events {
                    metrics::counter!(
                        "pulsegate_normalized_events_total",
                        "provider" => slug,
                        "type" => e.event_type.as_str()
                    )
                    .increment(1);
                }
                if let Some(k) = key {
                    self.seen.insert(k);
                }
                for e in &events {
                    self.seen.insert(e.event_id.clone());
                }
                tracing::debug!(events = events.len(), "normalized");
                Handled::Done
            }
            Err(NormalizeError::Dropped { reason, detail }) => {
                count_dropped(slug, reason);
                tracing::info!(reason, detail = %detail, "notification dropped");
                Handled::Done
            }
            Err(
                e
                @ (NormalizeError::TransientExhausted { .. } | NormalizeError::RateLimited { .. }),
            ) => {
                count_dropped(slug, "provider_unavailable");
                tracing::error!(error = %e, "provider unavailable; notification dropped");
                Handled::Done
            }
            Err(e @ (NormalizeError::State(_) | NormalizeError::Bus(_))) => {
                tracing::warn!(error = %e, "storing state failed; will retry");
                Handled::RetryAfter(STORE_RETRY)
            }
            Err(
                e @ (NormalizeError::Http(_)
                | NormalizeError::Encode(_)
                | NormalizeError::Config(_)),
            ) => {
                count_dropped(slug, "internal_error");
                tracing::error!(error = %e, "notification could not be normalized; dropped");
                Handled::Done
            }
        }
    }

    /// The connection this notification belongs to. A miss is confirmed with a state
    /// barrier first: the connection may have been created (and the notification
    /// acknowledged) before this process's view of the state topic caught up.
    async fn find_connection(
        &self,
        raw: &RawNotification,
    ) -> Result<Option<Arc<Connection>>, pulsegate_state::StateError> {
        let state = &self.ctx.state;
        if let Some(c) = state.connection_for(raw.provider, &raw.provider_user_id) {
            return Ok(Some(c));
        }
        state.sync_since(Instant::now()).await?;
        Ok(state.connection_for(raw.provider, &raw.provider_user_id))
    }

    /// Appends `events` to the events topic; durable when this returns `Ok`.
    async fn store(&self, events: &[NormalizedEvent]) -> Result<(), NormalizeError> {
        let mut records = Vec::with_capacity(events.len());
        for e in events {
            let payload =
                serde_json::to_vec(e).map_err(|e| NormalizeError::Encode(e.to_string()))?;
            records.push(Outgoing::new(Bytes::from(e.user_id.clone()), payload));
        }
        match records.len() {
            0 => {}
            1 => {
                let r = records.pop().expect("one record");
                self.bus.append(topics::EVENTS, r).await?;
            }
            _ => {
                self.bus.append_batch(topics::EVENTS, records).await?;
            }
        }
        Ok(())
    }
}

fn count_dropped(provider: &'static str, reason: &'static str) {
    metrics::counter!(
        "pulsegate_normalizer_dropped_total",
        "provider" => provider,
        "reason" => reason
    )
    .increment(1);
}

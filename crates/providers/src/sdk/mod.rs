//! On-device sources (Apple Health, Samsung Health, Health Connect): the app uploads
//! Terra-shaped records, validated at ingest; each record becomes one event of its type.
//! Nothing is fetched. Event ids derive from the connection and the client's record id,
//! so an upload sent twice yields the same events (delivered once: the pipeline skips
//! event ids it has already stored). See docs/providers/sdk.md.

mod descriptor;

pub use descriptor::{APPLE_HEALTH, HEALTH_CONNECT, SAMSUNG_HEALTH};

use async_trait::async_trait;
use pulsegate_schema::sdk::{SdkData, SdkUpload};
use pulsegate_schema::terra::DataEvent;
use pulsegate_schema::{
    stable_id, Connection, EventType, NormalizedEvent, Provider, RawNotification, PAYLOAD_VERSION,
};
use serde::Serialize;

use crate::events::{build_event, terra_user};
use crate::{Ctx, NormalizeError, ProviderNormalizer};

pub struct SdkNormalizer {
    provider: Provider,
}

impl SdkNormalizer {
    pub fn new(provider: Provider) -> Self {
        debug_assert!(provider.is_sdk());
        Self { provider }
    }
}

fn event<T: Serialize>(
    id: String,
    event_type: EventType,
    conn: &Connection,
    raw: &RawNotification,
    data: T,
) -> Result<NormalizedEvent, NormalizeError> {
    let user = terra_user(conn);
    let body = DataEvent {
        event_type: event_type.as_str(),
        user: &user,
        data: vec![data],
        version: PAYLOAD_VERSION,
    };
    build_event(id, event_type, conn, raw, &body)
}

#[async_trait]
impl ProviderNormalizer for SdkNormalizer {
    fn provider(&self) -> Provider {
        self.provider
    }

    fn dedupe_key(&self, _raw: &RawNotification) -> Option<String> {
        // Per record, through the event ids (an upload may mix new and old records).
        None
    }

    async fn normalize(
        &self,
        raw: &RawNotification,
        conn: &Connection,
        _ctx: &Ctx,
    ) -> Result<Vec<NormalizedEvent>, NormalizeError> {
        let upload: SdkUpload = serde_json::from_str(raw.body.get())
            .map_err(|e| NormalizeError::dropped("malformed", format!("not an upload: {e}")))?;
        let mut events = Vec::with_capacity(upload.records.len());
        for r in &upload.records {
            let id = stable_id(&["sdk", self.provider.slug(), &conn.user_id, &r.id]);
            // Ingest validated every record; one that no longer decodes is skipped.
            let decoded = match r.decode() {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(record = %r.id, error = %e, "uploaded record skipped");
                    continue;
                }
            };
            events.push(match decoded {
                SdkData::Activity(a) => event(id, EventType::Activity, conn, raw, a)?,
                SdkData::Body(b) => event(id, EventType::Body, conn, raw, b)?,
                SdkData::Daily(d) => event(id, EventType::Daily, conn, raw, d)?,
                SdkData::Sleep(s) => event(id, EventType::Sleep, conn, raw, s)?,
            });
        }
        Ok(events)
    }
}

/// One on-device source as the stages see it: its facts and the mapping of its uploads
/// (no verifier: uploads are authenticated by SDK tokens at ingest; no settings).
pub struct SdkPlugin(pub &'static pulsegate_provider::Descriptor);

impl pulsegate_provider::Plugin for SdkPlugin {
    fn descriptor(&self) -> &'static pulsegate_provider::Descriptor {
        self.0
    }

    fn normalizer(
        &self,
        _api: &serde_json::Value,
        _retry: &crate::RetryConfig,
        _limiters: &crate::Limiters,
    ) -> Result<std::sync::Arc<dyn ProviderNormalizer>, pulsegate_provider::SettingsError> {
        Ok(std::sync::Arc::new(SdkNormalizer::new(self.0.id)))
    }
}

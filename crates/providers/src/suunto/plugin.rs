//! Suunto as the stages see it: its facts, its verifier and its API side, built from its
//! own settings tables (`[ingest.suunto]`, `[normalizer.suunto]`).

use std::sync::Arc;

use pulsegate_provider::signing::ReplayGuard;
use pulsegate_provider::{
    settings, Descriptor, Limiters, Plugin, ProviderNormalizer, ProviderVerifier,
    ReplayGuardSpec, RetryConfig, SettingsError,
};
use pulsegate_schema::Secret;
use serde_json::Value;

use super::{verify, SuuntoConfig, SuuntoNormalizer, DESCRIPTOR};

pub struct SuuntoPlugin;

impl Plugin for SuuntoPlugin {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn verifier(
        &self,
        push: &Value,
        replays: Option<Arc<ReplayGuard>>,
    ) -> Result<Option<Box<dyn ProviderVerifier>>, SettingsError> {
        let cfg: verify::SuuntoIngestConfig = settings(push)?;
        if !cfg.enabled() {
            return Ok(None);
        }
        let replays = replays.unwrap_or_else(|| Arc::new(ReplayGuard::new(cfg.replay_capacity)));
        Ok(Some(Box::new(verify::SuuntoVerifier::with_replays(
            cfg, replays,
        ))))
    }

    /// Suunto signs no timestamp: accepted bodies are remembered for
    /// `replay_window_secs` (default 24 h).
    fn replay_guard(&self, push: &Value) -> Result<Option<ReplayGuardSpec>, SettingsError> {
        let cfg: verify::SuuntoIngestConfig = settings(push)?;
        Ok(Some(ReplayGuardSpec {
            capacity: cfg.replay_capacity,
            window_ms: cfg.replay_window_secs.saturating_mul(1000),
        }))
    }

    fn normalizer(
        &self,
        api: &Value,
        retry: &RetryConfig,
        limiters: &Limiters,
    ) -> Result<Arc<dyn ProviderNormalizer>, SettingsError> {
        let cfg: SuuntoConfig = settings(api)?;
        let normalizer = SuuntoNormalizer::new(&cfg, retry, limiters)
            .map_err(|e| SettingsError(e.to_string()))?;
        Ok(Arc::new(normalizer))
    }

    fn oauth_app(&self, api: &Value) -> Result<Option<(String, Secret)>, SettingsError> {
        let cfg: SuuntoConfig = settings(api)?;
        Ok(Some((cfg.client_id, cfg.client_secret)))
    }
}

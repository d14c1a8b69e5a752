//! Whoop as the stages see it: its facts, its verifier and its API side, built from its
//! own settings tables (`[ingest.whoop]`, `[normalizer.whoop]`).

use std::sync::Arc;

use pulsegate_provider::signing::ReplayGuard;
use pulsegate_provider::{
    settings, Descriptor, Limiters, Plugin, ProviderNormalizer, ProviderVerifier, ReplayGuardSpec, RetryConfig,
    SettingsError,
};
use pulsegate_schema::Secret;
use serde_json::Value;

use super::{verify, WhoopConfig, WhoopNormalizer, DESCRIPTOR};

pub struct WhoopPlugin;

impl Plugin for WhoopPlugin {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn verifier(
        &self,
        push: &Value,
        replays: Option<Arc<ReplayGuard>>,
    ) -> Result<Option<Box<dyn ProviderVerifier>>, SettingsError> {
        let cfg: verify::WhoopConfig = settings(push)?;
        if !cfg.enabled() {
            return Ok(None);
        }
        let replays = replays.unwrap_or_else(|| Arc::new(ReplayGuard::new(cfg.replay_capacity)));
        Ok(Some(Box::new(verify::WhoopVerifier::with_replays(cfg, replays))))
    }

    fn replay_guard(&self, push: &Value) -> Result<Option<ReplayGuardSpec>, SettingsError> {
        let cfg: verify::WhoopConfig = settings(push)?;
        Ok(Some(ReplayGuardSpec {
            capacity: cfg.replay_capacity,
            window_ms: cfg.timestamp_tolerance_secs.saturating_mul(2000),
        }))
    }

    fn normalizer(
        &self,
        api: &Value,
        retry: &RetryConfig,
        limiters: &Limiters,
    ) -> Result<Arc<dyn ProviderNormalizer>, SettingsError> {
        let cfg: WhoopConfig = settings(api)?;
        let normalizer = WhoopNormalizer::new(&cfg, retry, limiters)
            .map_err(|e| SettingsError(e.to_string()))?;
        Ok(Arc::new(normalizer))
    }

    fn oauth_app(&self, api: &Value) -> Result<Option<(String, Secret)>, SettingsError> {
        let cfg: WhoopConfig = settings(api)?;
        Ok(Some((cfg.client_id, cfg.client_secret)))
    }
}

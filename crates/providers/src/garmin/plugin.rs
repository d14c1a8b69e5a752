//! Garmin as the stages see it: its facts, its verifier and its API side, built from its
//! own settings tables (`[ingest.garmin]`, `[normalizer.garmin]`).

use std::sync::Arc;

use pulsegate_provider::signing::ReplayGuard;
use pulsegate_provider::{
    settings, Descriptor, Limiters, Plugin, ProviderNormalizer, ProviderVerifier, RetryConfig,
    SettingsError,
};
use pulsegate_schema::Secret;
use serde_json::Value;

use super::{verify, GarminConfig, GarminNormalizer, DESCRIPTOR};

pub struct GarminPlugin;

impl Plugin for GarminPlugin {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn verifier(
        &self,
        push: &Value,
        _replays: Option<Arc<ReplayGuard>>,
    ) -> Result<Option<Box<dyn ProviderVerifier>>, SettingsError> {
        let cfg: verify::GarminConfig = settings(push)?;
        Ok(cfg
            .enabled()
            .then(|| Box::new(verify::GarminVerifier::new(cfg)) as Box<dyn ProviderVerifier>))
    }

    fn normalizer(
        &self,
        api: &Value,
        retry: &RetryConfig,
        limiters: &Limiters,
    ) -> Result<Arc<dyn ProviderNormalizer>, SettingsError> {
        let cfg: GarminConfig = settings(api)?;
        let normalizer = GarminNormalizer::new(&cfg, retry, limiters)
            .map_err(|e| SettingsError(e.to_string()))?;
        Ok(Arc::new(normalizer))
    }

    fn oauth_app(&self, api: &Value) -> Result<Option<(String, Secret)>, SettingsError> {
        let cfg: GarminConfig = settings(api)?;
        Ok(Some((cfg.client_id, cfg.client_secret)))
    }
}

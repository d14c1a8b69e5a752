//! Withings as the stages see it: its facts, its verifier and its API side, built from its
//! own settings tables (`[ingest.withings]`, `[normalizer.withings]`).

use std::sync::Arc;

use pulsegate_provider::signing::ReplayGuard;
use pulsegate_provider::{
    settings, Descriptor, Limiters, Plugin, ProviderNormalizer, ProviderVerifier, RetryConfig,
    SettingsError,
};
use pulsegate_schema::Secret;
use serde_json::Value;

use super::{verify, WithingsConfig, WithingsNormalizer, DESCRIPTOR};

pub struct WithingsPlugin;

impl Plugin for WithingsPlugin {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn verifier(
        &self,
        push: &Value,
        _replays: Option<Arc<ReplayGuard>>,
    ) -> Result<Option<Box<dyn ProviderVerifier>>, SettingsError> {
        let cfg: verify::WithingsConfig = settings(push)?;
        Ok(cfg
            .enabled()
            .then(|| Box::new(verify::WithingsVerifier::new(cfg)) as Box<dyn ProviderVerifier>))
    }

    fn normalizer(
        &self,
        api: &Value,
        retry: &RetryConfig,
        limiters: &Limiters,
    ) -> Result<Arc<dyn ProviderNormalizer>, SettingsError> {
        let cfg: WithingsConfig = settings(api)?;
        let normalizer = WithingsNormalizer::new(&cfg, retry, limiters)
            .map_err(|e| SettingsError(e.to_string()))?;
        Ok(Arc::new(normalizer))
    }

    fn oauth_app(&self, api: &Value) -> Result<Option<(String, Secret)>, SettingsError> {
        let cfg: WithingsConfig = settings(api)?;
        Ok(Some((cfg.client_id, cfg.client_secret)))
    }
}

//! Ultrahuman as the stages see it: its facts and its API side (no pushes, so no
//! verifier: the poll lane fetches its data), built from `[normalizer.ultrahuman]`.

use std::sync::Arc;

use pulsegate_provider::{
    settings, Descriptor, Limiters, Plugin, ProviderNormalizer, RetryConfig, SettingsError,
};
use pulsegate_schema::Secret;
use serde_json::Value;

use super::{UltrahumanConfig, UltrahumanNormalizer, DESCRIPTOR};

pub struct UltrahumanPlugin;

impl Plugin for UltrahumanPlugin {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn normalizer(
        &self,
        api: &Value,
        retry: &RetryConfig,
        limiters: &Limiters,
    ) -> Result<Arc<dyn ProviderNormalizer>, SettingsError> {
        let cfg: UltrahumanConfig = settings(api)?;
        let normalizer = UltrahumanNormalizer::new(&cfg, retry, limiters)
            .map_err(|e| SettingsError(e.to_string()))?;
        Ok(Arc::new(normalizer))
    }

    fn oauth_app(&self, api: &Value) -> Result<Option<(String, Secret)>, SettingsError> {
        let cfg: UltrahumanConfig = settings(api)?;
        Ok(Some((cfg.client_id, cfg.client_secret)))
    }
}

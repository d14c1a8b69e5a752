//! Dexcom as the stages see it: its facts and its API side (no pushes, so no
//! verifier: the poll lane fetches its data), built from `[normalizer.dexcom]`.

use std::sync::Arc;

use pulsegate_provider::{
    settings, Descriptor, Limiters, Plugin, ProviderNormalizer, RetryConfig, SettingsError,
};
use pulsegate_schema::Secret;
use serde_json::Value;

use super::{DexcomConfig, DexcomNormalizer, DESCRIPTOR};

pub struct DexcomPlugin;

impl Plugin for DexcomPlugin {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn normalizer(
        &self,
        api: &Value,
        retry: &RetryConfig,
        limiters: &Limiters,
    ) -> Result<Arc<dyn ProviderNormalizer>, SettingsError> {
        let cfg: DexcomConfig = settings(api)?;
        let normalizer = DexcomNormalizer::new(&cfg, retry, limiters)
            .map_err(|e| SettingsError(e.to_string()))?;
        Ok(Arc::new(normalizer))
    }

    fn oauth_app(&self, api: &Value) -> Result<Option<(String, Secret)>, SettingsError> {
        let cfg: DexcomConfig = settings(api)?;
        Ok(Some((cfg.client_id, cfg.client_secret)))
    }
}

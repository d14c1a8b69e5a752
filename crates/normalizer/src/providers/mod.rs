//! One module per provider. Adding a provider: a module implementing
//! [`ProviderNormalizer`](crate::ProviderNormalizer), its settings in
//! [`NormalizerConfig`](crate::NormalizerConfig), and one line in [`registry`].

use std::sync::Arc;

use crate::{NormalizeError, NormalizerConfig, ProviderNormalizer};

pub mod strava;

/// Every provider normalizer, built from the configuration.
pub fn registry(
    cfg: &NormalizerConfig,
) -> Result<Vec<Arc<dyn ProviderNormalizer>>, NormalizeError> {
    Ok(vec![Arc::new(strava::StravaNormalizer::new(
        &cfg.strava,
        &cfg.retry,
    )?)])
}

//! The providers' API sides, from the registry (`pulsegate-providers`): each built from
//! its own `[normalizer.<slug>]` table.

use std::sync::Arc;

pub use pulsegate_provider::range;

use crate::{Limiters, NormalizeError, NormalizerConfig, ProviderNormalizer};

/// Every provider's normalizer, built from the configuration.
pub fn registry(
    cfg: &NormalizerConfig,
    limiters: &Limiters,
) -> Result<Vec<Arc<dyn ProviderNormalizer>>, NormalizeError> {
    pulsegate_providers::normalizers(&cfg.providers, &cfg.retry, limiters)
}

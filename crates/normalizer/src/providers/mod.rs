//! One module per provider. Adding a provider: a module implementing
//! [`ProviderNormalizer`](crate::ProviderNormalizer) with its settings struct, a field in
//! [`NormalizerConfig`](crate::NormalizerConfig), and one line in [`registry`].

use std::sync::Arc;

use pulsegate_schema::Provider;

use crate::{NormalizeError, NormalizerConfig, ProviderNormalizer};

pub mod fitbit;
pub mod garmin;
pub mod huawei;
pub mod oura;
pub mod polar;
pub mod sdk;
pub mod strava;
pub mod whoop;
pub mod withings;

/// Every provider normalizer, built from the configuration.
pub fn registry(
    cfg: &NormalizerConfig,
) -> Result<Vec<Arc<dyn ProviderNormalizer>>, NormalizeError> {
    Ok(vec![
        Arc::new(strava::StravaNormalizer::new(&cfg.strava, &cfg.retry)?),
        Arc::new(huawei::HuaweiNormalizer::new(&cfg.huawei, &cfg.retry)?),
        Arc::new(fitbit::FitbitNormalizer::new(&cfg.fitbit, &cfg.retry)?),
        Arc::new(garmin::GarminNormalizer::new(&cfg.garmin, &cfg.retry)?),
        Arc::new(oura::OuraNormalizer::new(&cfg.oura, &cfg.retry)?),
        Arc::new(polar::PolarNormalizer::new(&cfg.polar, &cfg.retry)?),
        Arc::new(whoop::WhoopNormalizer::new(&cfg.whoop, &cfg.retry)?),
        Arc::new(withings::WithingsNormalizer::new(
            &cfg.withings,
            &cfg.retry,
        )?),
        Arc::new(sdk::SdkNormalizer::new(Provider::AppleHealth)),
        Arc::new(sdk::SdkNormalizer::new(Provider::SamsungHealth)),
        Arc::new(sdk::SdkNormalizer::new(Provider::HealthConnect)),
    ])
}

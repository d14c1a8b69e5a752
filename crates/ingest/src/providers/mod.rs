//! One file per provider: its handshake and its verification. Adding a provider: a
//! module here, its settings in [`IngestConfig`], one line in [`registry`].

use crate::verifier::ProviderVerifier;
use crate::IngestConfig;

pub mod fitbit;
pub mod garmin;
pub mod huawei;
pub mod oura;
pub mod polar;
pub mod strava;
pub mod whoop;
pub mod withings;

/// The verifiers of every configured provider (unconfigured ones are not mounted: 404).
pub fn registry(config: &IngestConfig) -> Vec<Box<dyn ProviderVerifier>> {
    let mut v: Vec<Box<dyn ProviderVerifier>> = Vec::new();
    if config.strava.enabled() {
        v.push(Box::new(strava::StravaVerifier::new(config.strava.clone())));
    }
    if config.huawei.enabled() {
        v.push(Box::new(huawei::HuaweiVerifier::new(config.huawei.clone())));
    }
    if config.fitbit.enabled() {
        v.push(Box::new(fitbit::FitbitVerifier::new(config.fitbit.clone())));
    }
    if config.garmin.enabled() {
        v.push(Box::new(garmin::GarminVerifier::new(config.garmin.clone())));
    }
    if config.oura.enabled() {
        v.push(Box::new(oura::OuraVerifier::new(config.oura.clone())));
    }
    if config.polar.enabled() {
        v.push(Box::new(polar::PolarVerifier::new(config.polar.clone())));
    }
    if config.whoop.enabled() {
        v.push(Box::new(whoop::WhoopVerifier::new(config.whoop.clone())));
    }
    if config.withings.enabled() {
        v.push(Box::new(withings::WithingsVerifier::new(
            config.withings.clone(),
        )));
    }
    v
}

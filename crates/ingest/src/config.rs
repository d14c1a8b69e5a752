use serde::Deserialize;

use crate::providers::strava::StravaConfig;
use crate::providers::{fitbit, garmin, google_health, huawei, oura, polar, whoop, withings};

/// Settings of the ingest endpoints (`[ingest]`, one sub-table per provider).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Largest request body accepted; larger ones get 413 and are not read further.
    /// Providers that push the data itself (Garmin) have their own limit.
    pub max_body_bytes: usize,
    /// Largest SDK upload (`/v1/ingest/sdk/{provider}`, up to 1000 records). Default 4 MiB.
    pub sdk_max_body_bytes: usize,
    /// Strava webhook subscription. Leave `verify_token` empty to disable the route.
    pub strava: StravaConfig,
    /// Huawei. Unconfigured = not mounted.
    pub huawei: huawei::HuaweiConfig,
    /// Fitbit. Unconfigured = not mounted.
    pub fitbit: fitbit::FitbitConfig,
    /// Garmin. Unconfigured = not mounted.
    pub garmin: garmin::GarminConfig,
    /// Oura. Unconfigured = not mounted.
    pub oura: oura::OuraConfig,
    /// Polar. Unconfigured = not mounted.
    pub polar: polar::PolarConfig,
    /// Whoop. Unconfigured = not mounted.
    pub whoop: whoop::WhoopConfig,
    /// Withings. Unconfigured = not mounted.
    pub withings: withings::WithingsConfig,
    /// Google Health. Unconfigured (no `authorization`) = not mounted.
    pub google_health: google_health::GoogleHealthConfig,
    /// Failed verifications throttled per source address.
    pub throttle: crate::throttle::ThrottleConfig,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: pulsegate_provider::PUSH_MAX_BODY_BYTES,
            sdk_max_body_bytes: pulsegate_provider::SDK_MAX_BODY_BYTES,
            strava: StravaConfig::default(),
            huawei: huawei::HuaweiConfig::default(),
            fitbit: fitbit::FitbitConfig::default(),
            garmin: garmin::GarminConfig::default(),
            oura: oura::OuraConfig::default(),
            polar: polar::PolarConfig::default(),
            whoop: whoop::WhoopConfig::default(),
            withings: withings::WithingsConfig::default(),
            google_health: google_health::GoogleHealthConfig::default(),
            throttle: crate::throttle::ThrottleConfig::default(),
        }
    }
}

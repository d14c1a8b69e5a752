//! One file per provider, each a `const` [`Descriptor`] (and the `OAUTH` facts it
//! points at). Adding a provider: its variant in `pulsegate_schema::Provider`, a file
//! here, and one line in [`LIST`] (at the variant's position in `Provider::ALL`; the
//! crate does not compile otherwise).

use crate::Descriptor;

pub mod fitbit;
pub mod garmin;
pub mod google_health;
pub mod huawei;
pub mod oura;
pub mod polar;
pub mod sdk;
pub mod strava;
pub mod whoop;
pub mod withings;

/// The one list every table of provider facts is read from ([`crate::ALL`]).
pub(crate) const LIST: &[&Descriptor] = &[
    &strava::DESCRIPTOR,
    &huawei::DESCRIPTOR,
    &fitbit::DESCRIPTOR,
    &garmin::DESCRIPTOR,
    &oura::DESCRIPTOR,
    &polar::DESCRIPTOR,
    &whoop::DESCRIPTOR,
    &withings::DESCRIPTOR,
    &sdk::APPLE_HEALTH,
    &sdk::SAMSUNG_HEALTH,
    &sdk::HEALTH_CONNECT,
    &google_health::DESCRIPTOR,
];

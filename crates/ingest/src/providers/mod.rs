//! One file per provider: its handshake and its verification.

pub mod strava;

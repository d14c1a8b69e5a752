//! Simulated outside world for tests and load runs. Everything binds 127.0.0.1 only.

pub mod fault_sink;
pub mod google_health;
pub mod kafka;
pub mod ports;
pub mod provider_api;
pub mod s3;
pub mod sink;
pub mod strava;
pub mod tls;

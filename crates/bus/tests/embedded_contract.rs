//! The bus contract on the embedded (fjall) backend.

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

#[macro_use]
mod contract;

use std::sync::Arc;

use contract::Harness;
use pulsegate_bus::embedded::{EmbeddedBus, EmbeddedConfig};

async fn setup() -> Harness {
    contract::init_tracing();
    let dir = tempfile::tempdir().expect("temp dir");
    let bus = EmbeddedBus::open(EmbeddedConfig::new(dir.path())).expect("open log");
    Harness {
        bus: Arc::new(bus),
        exclusive_members: false,
        guard: Box::new(dir),
    }
}

contract_tests!(setup);

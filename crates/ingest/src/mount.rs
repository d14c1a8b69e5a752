//! The verifiers ingest mounts: one per provider whose `[ingest.<slug>]` table configures
//! one, from the registry (`pulsegate-providers`).

use std::sync::Arc;

use pulsegate_provider::signing::ReplayGuard;

use crate::replay::ReplayBook;
use crate::verifier::ProviderVerifier;
use crate::IngestConfig;

/// The verifiers of every configured provider (unconfigured ones are not mounted: 404),
/// each with its own in-memory replay guard.
pub fn registry(config: &IngestConfig) -> Vec<Box<dyn ProviderVerifier>> {
    verifiers(config, &ReplayBook::in_memory(config))
}

/// [`registry`], the replay guards taken from `book` (shared across re-mounts). A
/// provider whose table does not build is left out, loudly (the check at start refuses
/// such a configuration; this is a reload through stored credentials).
pub fn verifiers(config: &IngestConfig, book: &ReplayBook) -> Vec<Box<dyn ProviderVerifier>> {
    pulsegate_providers::plugins()
        .filter_map(|plugin| {
            let p = plugin.descriptor().id;
            let table = config.providers.get(p);
            let guard = match plugin.replay_guard(table) {
                Ok(Some(spec)) => Some(
                    book.guard(p)
                        .unwrap_or_else(|| Arc::new(ReplayGuard::new(spec.capacity))),
                ),
                _ => None,
            };
            match plugin.verifier(table, guard) {
                Ok(v) => v,
                Err(e) => {
                    tracing::error!(provider = p.slug(), error = %e, "provider not mounted");
                    None
                }
            }
        })
        .collect()
}

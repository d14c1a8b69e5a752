//! Unsigned pushes are hints, never commands: a push that announces something
//! destructive (a revocation, a deregistration, a permission change) is checked against
//! the provider's API with the user's own token before pulsegate acts on it. Anyone who
//! can reach the route can send such a push; only the provider can make the user's token
//! stop working.

use crate::api::{Authorized, REFUSED_DATA, REFUSED_REFRESH, REJECTED_TOKEN, REVOKED_GRANT};
use crate::NormalizeError;

/// What the provider's API said about a connection a push claims is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// The provider refused the user's credentials: the push told the truth.
    Confirmed,
    /// The credentials still work (or the answer proves nothing): the push is ignored.
    Denied(&'static str),
}

/// Classifies an authorized call's outcome. `forbidden_confirms`: whether a 403 means
/// the user withdrew the application's access (Garmin) or only a missing scope (Strava).
/// Only the provider's own refusals count; a locally decided failure (no refresh token
/// stored) confirms nothing.
pub fn revocation<T>(answer: &Authorized<T>, forbidden_confirms: bool) -> Revocation {
    match answer {
        Authorized::Ok(_) => Revocation::Denied("the user's token still works"),
        Authorized::NotFound => Revocation::Denied("the provider answered 404"),
        Authorized::ConnectionError(m)
            if *m == REJECTED_TOKEN || *m == REFUSED_REFRESH || *m == REVOKED_GRANT =>
        {
            Revocation::Confirmed
        }
        Authorized::ConnectionError(m) if *m == REFUSED_DATA && forbidden_confirms => {
            Revocation::Confirmed
        }
        Authorized::ConnectionError(_) => {
            Revocation::Denied("the provider did not refuse the token")
        }
    }
}

/// Counts (`pulsegate_normalizer_unconfirmed_total{provider,kind}`) and logs a push the
/// provider's API did not confirm, and drops it. Nothing from the push is logged.
pub fn unconfirmed(provider: &'static str, kind: &'static str, why: &str) -> NormalizeError {
    metrics::counter!(
        "pulsegate_normalizer_unconfirmed_total",
        "provider" => provider,
        "kind" => kind
    )
    .increment(1);
    tracing::warn!(
        provider,
        kind,
        why,
        "unsigned push not confirmed by the provider's API; ignored"
    );
    NormalizeError::dropped(
        "unconfirmed",
        format!("{provider} {kind} not confirmed: {why}"),
    )
}

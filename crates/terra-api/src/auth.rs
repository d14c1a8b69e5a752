//! Every `/v2` call carries Terra's two headers, `dev-id` and `x-api-key` (except
//! `/v2/integrations` and `/v2/integrations/detailed`, public as at Terra: routed
//! outside this layer in `lib.rs`). The key's SHA-256 is compared, in constant time, with
//! the developer account's stored hash (accounts: `/v1/admin/developers`). Anything else
//! is 401 in Terra's error shape.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use pulsegate_schema::api_key_hash;
use pulsegate_schema::Connection;
use std::sync::Arc;
use subtle::ConstantTimeEq;

use crate::{terra_error, Api};

/// The authenticated developer, for handlers that record who did what.
#[derive(Clone, Debug)]
pub(crate) struct DevId(pub(crate) String);

impl DevId {
    /// Whether this developer owns the user. Operator-owned users (no owner) and other
    /// developers' users are invisible: every route answers them as "user not found".
    pub(crate) fn owns(&self, c: &Connection) -> bool {
        c.dev_id.as_deref() == Some(self.0.as_str())
    }

    /// The user `user_id`, if it exists and this developer owns it.
    pub(crate) fn user(&self, api: &Api, user_id: &str) -> Option<Arc<Connection>> {
        api.state.connection(user_id).filter(|c| self.owns(c))
    }

    /// Every user this developer owns (the state's order).
    pub(crate) fn users(&self, api: &Api) -> Vec<Arc<Connection>> {
        let mut all = api.state.connections();
        all.retain(|c| self.owns(c));
        all
    }
}

fn header<'a>(req: &'a Request, name: &str) -> &'a str {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or("")
}

pub(crate) async fn require_developer(
    State(api): State<Api>,
    mut req: Request,
    next: Next,
) -> Response {
    let dev_id = header(&req, "dev-id");
    let key = header(&req, "x-api-key");
    if dev_id.is_empty() || key.is_empty() {
        return terra_error(
            StatusCode::UNAUTHORIZED,
            "the dev-id and x-api-key headers are required",
        );
    }
    let presented = api_key_hash(key);
    let developer = api.state.developer(dev_id);
    // Hash and compare even for an unknown dev-id, so both refusals take as long.
    let expected = developer
        .as_ref()
        .map_or_else(|| api_key_hash(""), |d| d.key_hash.clone());
    let matches = presented.len() == expected.len()
        && bool::from(presented.as_bytes().ct_eq(expected.as_bytes()));
    if developer.is_none() || !matches {
        tracing::info!("v2 call refused: unknown dev-id or wrong x-api-key");
        return terra_error(
            StatusCode::UNAUTHORIZED,
            "unknown dev-id or wrong x-api-key",
        );
    }
    let dev_id = DevId(dev_id.to_string());
    req.extensions_mut().insert(dev_id);
    next.run(req).await
}

//! The push routes without the router: a server answering tens of thousands of pushes a
//! second hands a `POST /v1/ingest/{provider}[/{token}]` straight to [`PushRoute::serve`]
//! and every other request to [`crate::router`]. The router's matching and the layers
//! around it cost about as much CPU per push as the handler's own work (docs/
//! PERFORMANCE.md); what `serve` runs is the router's push handler, unchanged.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request};
use axum::http::Method;
use axum::response::{IntoResponse, Response};

use crate::handler::{gate, push_inner, IngestState};
use crate::verifier::Rejection;

/// The push routes of an ingest router (from [`crate::routes_durable`]). Cheap to clone.
#[derive(Clone)]
pub struct PushRoute(pub(crate) IngestState);

/// The segments of a push route's path.
struct PushPath<'a> {
    provider: &'a str,
    token: Option<&'a str>,
}

/// `/v1/ingest/{provider}` or `/v1/ingest/{provider}/{token}`, exactly as the router
/// matches them; anything the router would treat otherwise is `None` and stays the
/// router's: the SDK uploads, empty segments, percent-encoded ones (the router decodes).
fn parse(path: &str) -> Option<PushPath<'_>> {
    let rest = path.strip_prefix("/v1/ingest/")?;
    let mut segments = rest.split('/');
    let provider = segments.next()?;
    let token = segments.next();
    if segments.next().is_some() {
        return None;
    }
    let plain = |s: &str| !s.is_empty() && !s.contains('%');
    if !plain(provider) || provider == "sdk" || token.is_some_and(|t| !plain(t)) {
        return None;
    }
    Some(PushPath { provider, token })
}

impl PushRoute {
    /// Whether `serve` answers this request (a `POST` to a push route).
    pub fn matches(method: &Method, path: &str) -> bool {
        method == Method::POST && parse(path).is_some()
    }

    /// Answers a request [`matches`](Self::matches) accepted as the router's push
    /// handler would (anything else: 404). The client's address is the request's
    /// `ConnectInfo<SocketAddr>` extension, as for the router.
    pub async fn serve(&self, req: Request) -> Response {
        let (parts, body) = req.into_parts();
        let Some(path) = parse(parts.uri.path()) else {
            return Rejection::NotFound.into_response();
        };
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        if let Some(refused) = gate(&self.0, path.provider, path.token, peer, &parts.headers) {
            return refused;
        }
        let provider = path.provider.to_owned();
        let query = parts.uri.query().map(str::to_owned);
        push_inner(self.0.clone(), provider, query, peer, parts.headers, body).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_paths_the_router_sends_to_the_push_handlers_match() {
        let post = Method::POST;
        assert!(PushRoute::matches(&post, "/v1/ingest/strava"));
        assert!(PushRoute::matches(&post, "/v1/ingest/strava/s3cr3t"));
        assert!(!PushRoute::matches(&Method::GET, "/v1/ingest/strava"));
        assert!(!PushRoute::matches(
            &Method::HEAD,
            "/v1/ingest/strava/s3cr3t"
        ));
        for path in [
            "/v1/ingest/",
            "/v1/ingest//x",
            "/v1/ingest/strava/",
            "/v1/ingest/strava/a/b",
            "/v1/ingest/sdk/apple",
            "/v1/ingest/sdk",
            "/v1/ingest/str%61va",
            "/v1/ingest/strava/t%2Fk",
            "/v1/ingestx/strava",
            "/v2/users",
        ] {
            assert!(!PushRoute::matches(&post, path), "{path}");
        }
    }
}

//! The two listeners: public (`[server] listen`) and admin (`[admin] listen`), each
//! with its connection limits (`listener.rs`), body rules (`limits.rs`) and optional
//! TLS (`tls.rs`); and the access log of the public one: one line per request on
//! target `pulsegate::access` (method, route template, status, duration, provider,
//! request and trace ids; never the raw path, which may hold a push path token).
//! Provider pushes skip the public router: `PushFastPath` hands them to ingest's
//! `PushRoute` under the same body rules and access line.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use pulsegate_ingest::PushRoute;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::telemetry::ACCESS_TARGET;
use crate::tls::CertStore;
use crate::{http, limits, listener};

pub struct Servers {
    public: JoinHandle<()>,
    admin: JoinHandle<()>,
}

impl Servers {
    /// Waits until both listeners have stopped (after the shutdown token fired).
    pub async fn join(self) {
        let _ = self.public.await;
        let _ = self.admin.await;
    }
}

/// Binds both listeners and serves `public` and `admin` on them until `shutdown`;
/// `push`, the ingest role's push routes, is served on the public listener before its
/// router.
pub async fn start(
    config: &Config,
    sdk_max_body_bytes: usize,
    public: Router,
    push: Option<PushRoute>,
    admin: Router,
    shutdown: &CancellationToken,
) -> anyhow::Result<Servers> {
    let public_rules = limits::BodyRules {
        listener: "public",
        read_timeout: config.server.body_read_timeout,
        min_rate: config.server.body_min_rate,
        max_read_timeout: config.server.body_read_timeout_max,
        default_limit: config.server.max_body_bytes,
        // Provider pushes: the ingest handler checks each provider's own limit.
        routes: vec![
            ("/v1/ingest/sdk/", Some(sdk_max_body_bytes as u64)),
            ("/v1/ingest/", None),
        ],
    };
    let admin_rules = limits::BodyRules {
        listener: "admin",
        routes: Vec::new(),
        ..public_rules.clone()
    };
    let public_rules = Arc::new(public_rules);
    let public = listener::App {
        router: public
            .fallback(http::not_found)
            .layer(axum::middleware::from_fn_with_state(
                public_rules.clone(),
                limits::limit_bodies,
            ))
            .layer(axum::middleware::from_fn(access_log)),
        fast: push.map(|push| {
            Arc::new(PushFastPath {
                push,
                rules: public_rules,
            }) as Arc<dyn listener::FastRoute>
        }),
    };
    let admin = listener::App {
        router: admin
            .fallback(http::not_found)
            .layer(axum::middleware::from_fn_with_state(
                Arc::new(admin_rules),
                limits::limit_bodies,
            )),
        fast: None,
    };

    // Certificates first: a broken pair refuses the start before anything listens.
    let public_tls = match &config.server.tls {
        Some(files) => Some(CertStore::load("server.tls", files)?),
        None => None,
    };
    let admin_tls = match &config.admin.tls {
        Some(files) => Some(CertStore::load("admin.tls", files)?),
        None => None,
    };
    let public_acceptor = public_tls.as_ref().map(|s| s.acceptor()).transpose()?;
    let admin_acceptor = admin_tls.as_ref().map(|s| s.acceptor()).transpose()?;
    let stores: Vec<Arc<CertStore>> = public_tls.into_iter().chain(admin_tls).collect();
    if !stores.is_empty() {
        for store in &stores {
            tokio::spawn(store.clone().watch(shutdown.clone()));
        }
        tokio::spawn(crate::tls::reload_on_sighup(stores, shutdown.clone()));
    }

    let public_listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("server.listen: cannot listen on {}", config.server.listen))?;
    let admin_listener = tokio::net::TcpListener::bind(config.admin.listen)
        .await
        .with_context(|| format!("admin.listen: cannot listen on {}", config.admin.listen))?;
    let public_limits = listener::Limits {
        max_connections: crate::fd_limit::fit_to_fd_limit(
            config.server.max_connections,
            config.admin.max_connections,
        ),
        header_read_timeout: config.server.header_read_timeout,
        idle_timeout: config.server.idle_timeout,
    };
    let admin_limits = listener::Limits {
        max_connections: config.admin.max_connections,
        ..public_limits
    };
    tracing::info!(
        listen = %public_listener.local_addr()?,
        admin_listen = %admin_listener.local_addr()?,
        max_connections = public_limits.max_connections,
        public_tls = public_acceptor.is_some(),
        admin_tls = admin_acceptor.is_some(),
        "listening"
    );
    Ok(Servers {
        public: tokio::spawn(listener::serve(
            public_listener,
            public,
            public_limits,
            "public",
            public_acceptor,
            shutdown.clone(),
        )),
        admin: tokio::spawn(listener::serve(
            admin_listener,
            admin,
            admin_limits,
            "admin",
            admin_acceptor,
            shutdown.clone(),
        )),
    })
}

/// One line per request on the public listener (target `pulsegate::access`, INFO), and
/// its request id back in `x-request-id`. The route is the template
/// (`/v1/ingest/{provider}/{token}`): the path itself may carry a secret push token, the
/// query an OAuth code. No body, no header but the ids.
async fn access_log(req: Request, next: Next) -> Response {
    let access = Access::begin(&req, || {
        req.extensions()
            .get::<MatchedPath>()
            .cloned()
            .map(Route::Matched)
    });
    access.finish(next.run(req).await)
}

/// A request's route template, for its access line.
enum Route {
    Matched(MatchedPath),
    Fixed(&'static str),
}

impl Route {
    fn as_str(&self) -> &str {
        match self {
            Route::Matched(m) => m.as_str(),
            Route::Fixed(t) => t,
        }
    }
}

/// The access line of one request, begun before it runs.
struct Access {
    id: HeaderValue,
    /// Only when the access line is enabled.
    line: Option<AccessLine>,
}

struct AccessLine {
    started: Instant,
    method: Method,
    route: Option<Route>,
    provider: Option<&'static str>,
    trace_id: Option<String>,
}

impl Access {
    fn begin(req: &Request, route: impl FnOnce() -> Option<Route>) -> Self {
        let id = request_id(req.headers());
        if !tracing::enabled!(target: ACCESS_TARGET, tracing::Level::INFO) {
            return Self { id, line: None };
        }
        let route = route();
        let provider = route
            .as_ref()
            .and_then(|r| provider_of(r.as_str(), req.uri().path()));
        let line = AccessLine {
            started: Instant::now(),
            method: req.method().clone(),
            route,
            provider,
            trace_id: trace_id(req.headers()).map(str::to_owned),
        };
        Self {
            id,
            line: Some(line),
        }
    }

    /// Writes the line for `resp` and gives it back with its `x-request-id`.
    fn finish(self, mut resp: Response) -> Response {
        if let Some(line) = self.line {
            let elapsed = line.started.elapsed().as_secs_f64() * 1000.0;
            let reference = resp
                .headers()
                .get("x-pulsegate-notification-id")
                .and_then(|v| v.to_str().ok());
            tracing::info!(
                target: ACCESS_TARGET,
                method = %line.method,
                route = line.route.as_ref().map_or("unmatched", |r| r.as_str()),
                status = resp.status().as_u16(),
                duration_ms = (elapsed * 1000.0).round() / 1000.0,
                provider = line.provider,
                request_id = self.id.to_str().unwrap_or_default(),
                trace_id = line.trace_id,
                reference,
                "request"
            );
        }
        resp.headers_mut().insert("x-request-id", self.id);
        resp
    }
}

/// Provider pushes served outside the router (see [`PushRoute`]), with the same access
/// line and body rules as the router's routes; the router gets every other request.
struct PushFastPath {
    push: PushRoute,
    rules: Arc<limits::BodyRules>,
}

impl listener::FastRoute for PushFastPath {
    fn try_serve(self: Arc<Self>, req: hyper::Request<hyper::body::Incoming>) -> listener::Routed {
        if !PushRoute::matches(req.method(), req.uri().path()) {
            return listener::Routed::ToRouter(req);
        }
        let req = req.map(axum::body::Body::new);
        let with_token = req.uri().path()["/v1/ingest/".len()..].contains('/');
        let template = if with_token {
            "/v1/ingest/{provider}/{token}"
        } else {
            "/v1/ingest/{provider}"
        };
        let access = Access::begin(&req, || Some(Route::Fixed(template)));
        listener::Routed::Served(Box::pin(async move {
            let resp = match limits::guard(&self.rules, req) {
                limits::Guarded::Run(req, guard) => guard.settle(self.push.serve(req).await),
                limits::Guarded::Refused(refused) => refused,
            };
            access.finish(resp)
        }))
    }
}

/// The client's `x-request-id` when it is a plain token (at most 64 characters of
/// `[A-Za-z0-9._:-]`), else a fresh one.
fn request_id(headers: &HeaderMap) -> HeaderValue {
    headers
        .get("x-request-id")
        .filter(|v| {
            let b = v.as_bytes();
            !b.is_empty()
                && b.len() <= 64
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || b"._:-".contains(c))
        })
        .cloned()
        .unwrap_or_else(|| {
            // 16 hex digits written in place (one allocation: the value's own).
            let n = rand::random::<u64>();
            let mut hex = [0u8; 16];
            for (i, c) in hex.iter_mut().enumerate() {
                *c = b"0123456789abcdef"[((n >> (60 - 4 * i)) & 0xf) as usize];
            }
            HeaderValue::from_bytes(&hex).unwrap_or(HeaderValue::from_static("0"))
        })
}

/// The trace id of a W3C `traceparent` header (`00-<32 hex>-<16 hex>-<2 hex>`).
fn trace_id(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get("traceparent")?.to_str().ok()?;
    let mut parts = v.split('-');
    let (_version, trace) = (parts.next()?, parts.next()?);
    (trace.len() == 32 && trace.bytes().all(|c| c.is_ascii_hexdigit())).then_some(trace)
}

/// The provider a route names (`{provider}` in its template), if it is one pulsegate
/// knows (so the line never carries an arbitrary path segment).
fn provider_of(template: &str, path: &str) -> Option<&'static str> {
    let at = template.split('/').position(|s| s == "{provider}")?;
    let segment = path.split('/').nth(at)?;
    pulsegate_schema::Provider::from_slug(segment).map(|p| p.slug())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_access_line_takes_only_known_values_from_the_request() {
        assert_eq!(
            provider_of("/v1/ingest/{provider}/{token}", "/v1/ingest/strava/s3cr3t"),
            Some("strava")
        );
        assert_eq!(
            provider_of("/v1/ingest/{provider}", "/v1/ingest/made-up"),
            None
        );
        assert_eq!(provider_of("/healthz", "/healthz"), None);
        let mut h = HeaderMap::new();
        h.insert("x-request-id", HeaderValue::from_static("req-1.a:b"));
        h.insert(
            "traceparent",
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        assert_eq!(request_id(&h), "req-1.a:b");
        assert_eq!(trace_id(&h), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        h.insert("x-request-id", HeaderValue::from_static("has space"));
        h.insert("traceparent", HeaderValue::from_static("00-zz-01"));
        let fresh = request_id(&h);
        assert_eq!(fresh.len(), 16, "{fresh:?}");
        assert_eq!(trace_id(&h), None);
    }
}

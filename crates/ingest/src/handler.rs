use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use pulsegate_bus::{Bus, Outgoing};
use pulsegate_provider::PushMode;
use pulsegate_providers::descriptor;
use pulsegate_schema::{now_ms, topics, Provider, RawNotification};
use pulsegate_state::StateStore;

use crate::push_route::PushRoute;
use crate::replay::ReplayBook;
use crate::signing::constant_time_eq;
use crate::verifier::{IngestRequest, Notification, ProviderVerifier, Rejection};
use crate::IngestConfig;

/// What every ingest route shares; one `Arc`, so a request clones one pointer (axum
/// clones the state for each request).
#[derive(Clone)]
pub(crate) struct IngestState(Arc<IngestShared>);

impl std::ops::Deref for IngestState {
    type Target = IngestShared;
    fn deref(&self) -> &IngestShared {
        &self.0
    }
}

pub(crate) struct IngestShared {
    pub(crate) bus: Arc<dyn Bus>,
    /// Integrations switched off through the admin API answer 404.
    pub(crate) state: Arc<StateStore>,
    mounts: IngestHandle,
    /// The body limit of providers without one of their own.
    max_body_bytes: usize,
    pub(crate) sdk_max_body_bytes: usize,
    /// Failed verifications per source address.
    throttle: Arc<crate::throttle::Throttle>,
}

/// A provider's verifier and its metric handles (registered once per mount, not per
/// request).
struct Mounted {
    verifier: Box<dyn ProviderVerifier>,
    accepted: metrics::Counter,
    unavailable: metrics::Counter,
    latency: metrics::Histogram,
    append: metrics::Histogram,
}

impl Mounted {
    fn new(verifier: Box<dyn ProviderVerifier>) -> Self {
        let p = verifier.provider().slug();
        Self {
            accepted: metrics::counter!("pulsegate_ingest_requests_total", "provider" => p, "outcome" => "accepted"),
            unavailable: metrics::counter!("pulsegate_ingest_requests_total", "provider" => p, "outcome" => "unavailable"),
            latency: metrics::histogram!("pulsegate_ingest_seconds", "provider" => p),
            append: metrics::histogram!("pulsegate_bus_append_seconds", "topic" => topics::RAW),
            verifier,
        }
    }
}

/// The verifiers in use, and those of the credentials being rotated out.
struct Mounts {
    current: HashMap<&'static str, Mounted>,
    /// Built from the previous credentials; tried when the current ones refuse a
    /// signature, until `previous_until_ms`.
    previous: HashMap<&'static str, Box<dyn ProviderVerifier>>,
    previous_until_ms: u64,
}

impl Mounts {
    fn build(
        config: &IngestConfig,
        previous: Option<(&IngestConfig, u64)>,
        book: &ReplayBook,
    ) -> Self {
        let current = crate::mount::verifiers(config, book)
            .into_iter()
            .map(|v| (v.provider().slug(), Mounted::new(v)))
            .collect();
        let (previous, previous_until_ms) = match previous {
            Some((old, until)) => (
                crate::mount::verifiers(old, book)
                    .into_iter()
                    .map(|v| (v.provider().slug(), v))
                    .collect(),
                until,
            ),
            None => (HashMap::new(), 0),
        };
        Self {
            current,
            previous,
            previous_until_ms,
        }
    }

    /// The rotated-out verifier for `slug`, while its grace period lasts.
    fn fallback(&self, slug: &str, now_ms: u64) -> Option<&dyn ProviderVerifier> {
        (now_ms < self.previous_until_ms)
            .then(|| self.previous.get(slug).map(|v| v.as_ref()))
            .flatten()
    }
}

/// Swaps the providers' verifiers when their credentials change (through the admin API),
/// without restarting.
#[derive(Clone)]
pub struct IngestHandle {
    mounts: Arc<std::sync::RwLock<Arc<Mounts>>>,
    /// The replay guards, kept across re-mounts.
    replay: Arc<ReplayBook>,
    /// What each provider's route accepted and refused (kept across re-mounts).
    activity: Arc<crate::activity::Activity>,
}

impl IngestHandle {
    /// Mounts the providers `config` configures. `previous`: the configuration with the
    /// credentials being rotated out, and until when (ms) they still verify.
    pub fn reconfigure(&self, config: &IngestConfig, previous: Option<(&IngestConfig, u64)>) {
        let mounts = Arc::new(Mounts::build(config, previous, &self.replay));
        *self.mounts.write().unwrap_or_else(|e| e.into_inner()) = mounts;
    }

    /// `p`'s push route: mounted or not, and what it accepted and refused here.
    pub fn activity(&self, p: Provider) -> crate::PushActivity {
        let mounted = self.current().current.contains_key(p.slug());
        self.activity.of(p, mounted)
    }

    fn current(&self) -> Arc<Mounts> {
        self.mounts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The ingest routes: `GET|HEAD|POST /v1/ingest/{provider}`. Providers without
/// configuration are not mounted (404).
pub fn router(bus: Arc<dyn Bus>, state: Arc<StateStore>, config: &IngestConfig) -> Router {
    router_with_handle(bus, state, config).0
}

/// [`router`], and the handle that re-mounts providers when credentials change. Replay
/// guards are in memory only: see [`router_durable`].
pub fn router_with_handle(
    bus: Arc<dyn Bus>,
    state: Arc<StateStore>,
    config: &IngestConfig,
) -> (Router, IngestHandle) {
    let book = ReplayBook::in_memory(config);
    build(bus, state, config, book)
}

/// [`router_with_handle`] with replay guards that survive restarts: each accepted
/// request's replay key is stored on the bus with its notification, and read back here.
pub async fn router_durable(
    bus: Arc<dyn Bus>,
    state: Arc<StateStore>,
    config: &IngestConfig,
) -> Result<(Router, IngestHandle), pulsegate_bus::BusError> {
    routes_durable(bus, state, config)
        .await
        .map(|r| (r.router, r.handle))
}

/// The ingest routes, their handle, and the push routes for a server's fast path.
pub struct IngestRoutes {
    pub router: Router,
    pub handle: IngestHandle,
    /// The same push routes as `router`'s `POST /v1/ingest/{provider}[/{token}]`, to be
    /// called without going through the router (see [`PushRoute`]).
    pub push: PushRoute,
}

/// [`router_durable`], with the push routes apart.
pub async fn routes_durable(
    bus: Arc<dyn Bus>,
    state: Arc<StateStore>,
    config: &IngestConfig,
) -> Result<IngestRoutes, pulsegate_bus::BusError> {
    let book = ReplayBook::durable(&*bus, config).await?;
    Ok(build_routes(bus, state, config, book))
}

fn build(
    bus: Arc<dyn Bus>,
    state: Arc<StateStore>,
    config: &IngestConfig,
    book: ReplayBook,
) -> (Router, IngestHandle) {
    let routes = build_routes(bus, state, config, book);
    (routes.router, routes.handle)
}

fn build_routes(
    bus: Arc<dyn Bus>,
    state: Arc<StateStore>,
    config: &IngestConfig,
    book: ReplayBook,
) -> IngestRoutes {
    let mounts = Mounts::build(config, None, &book);
    // The body limit layer is fixed at start; a provider's own limit above it applies
    // after a restart.
    let largest = mounts
        .current
        .values()
        .filter_map(|m| m.verifier.max_body_bytes())
        .fold(config.max_body_bytes, usize::max)
        .max(config.sdk_max_body_bytes);
    let handle = IngestHandle {
        mounts: Arc::new(std::sync::RwLock::new(Arc::new(mounts))),
        replay: Arc::new(book),
        activity: Arc::default(),
    };
    let state = IngestState(Arc::new(IngestShared {
        bus,
        state,
        mounts: handle.clone(),
        max_body_bytes: config.max_body_bytes,
        sdk_max_body_bytes: config.sdk_max_body_bytes,
        throttle: Arc::new(crate::throttle::Throttle::new(config.throttle.clone())),
    }));
    let router = Router::new()
        .route("/v1/ingest/{provider}", get(handshake).post(push))
        // Providers without a signature: the path carries their secret token.
        .route(
            "/v1/ingest/{provider}/{token}",
            get(handshake_at).post(push_at),
        )
        .route(
            "/v1/ingest/sdk/{provider}",
            axum::routing::post(crate::sdk::upload),
        )
        .layer(DefaultBodyLimit::max(largest))
        .with_state(state.clone());
    IngestRoutes {
        router,
        handle,
        push: PushRoute(state),
    }
}

type Peer = Option<axum::Extension<ConnectInfo<std::net::SocketAddr>>>;

async fn handshake(
    State(state): State<IngestState>,
    Path(provider): Path<String>,
    RawQuery(query): RawQuery,
    peer: Peer,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = gate(&state, &provider, None, peer_ip(&peer), &headers) {
        return refused;
    }
    handshake_inner(state, provider, query, headers)
}

/// `GET /v1/ingest/{provider}/{token}`: the handshake of a provider with a path token.
async fn handshake_at(
    State(state): State<IngestState>,
    Path((provider, token)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    peer: Peer,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = gate(&state, &provider, Some(&token), peer_ip(&peer), &headers) {
        return refused;
    }
    handshake_inner(state, provider, query, headers)
}

fn handshake_inner(
    state: IngestState,
    provider: String,
    query: Option<String>,
    headers: HeaderMap,
) -> Response {
    let mounts = state.mounts.current();
    match mounts.current.get(provider.as_str()) {
        Some(m) if state.state.integration_enabled(m.verifier.provider()) => {
            let answer = m.verifier.handshake(query.as_deref(), &headers);
            // A verify token being rotated out still answers during its grace period.
            if answer.status().is_client_error() {
                if let Some(old) = mounts.fallback(provider.as_str(), now_ms()) {
                    let old_answer = old.handshake(query.as_deref(), &headers);
                    if old_answer.status().is_success() {
                        return old_answer;
                    }
                }
            }
            answer
        }
        Some(_) => disabled(),
        None => Rejection::NotFound.into_response(),
    }
}

async fn push(
    State(state): State<IngestState>,
    Path(provider): Path<String>,
    RawQuery(query): RawQuery,
    peer: Peer,
    request: axum::extract::Request,
) -> Response {
    // The request whole rather than a `HeaderMap` extractor, which clones the headers.
    let (parts, body) = request.into_parts();
    let peer = peer_ip(&peer);
    if let Some(refused) = gate(&state, &provider, None, peer, &parts.headers) {
        return refused;
    }
    push_inner(state, provider, query, peer, parts.headers, body).await
}

/// `POST /v1/ingest/{provider}/{token}`: a push of a provider with a path token.
async fn push_at(
    State(state): State<IngestState>,
    Path((provider, token)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    peer: Peer,
    request: axum::extract::Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let peer = peer_ip(&peer);
    if let Some(refused) = gate(&state, &provider, Some(&token), peer, &parts.headers) {
        return refused;
    }
    push_inner(state, provider, query, peer, parts.headers, body).await
}

fn mounts_replay(state: &IngestState) -> &ReplayBook {
    &state.mounts.replay
}

fn peer_ip(peer: &Peer) -> Option<std::net::IpAddr> {
    peer.as_ref().map(|p| p.0 .0.ip())
}

/// What every provider route checks first: a source with too many failed
/// verifications gets 429 (before any other work), and a provider authenticated by a
/// path token gets 404 unless the path carries its current token (or the previous one
/// during a rotation's grace period). Path tokens are compared in constant time.
pub(crate) fn gate(
    state: &IngestState,
    provider: &str,
    token: Option<&str>,
    peer: Option<std::net::IpAddr>,
    headers: &HeaderMap,
) -> Option<Response> {
    let now = now_ms();
    let source = state.throttle.source(peer, headers);
    let slug = Provider::from_slug(provider).map_or("unknown", |p| p.slug());
    if let Some(wait) = state.throttle.blocked(source, now) {
        count(slug, "rejected", Some("throttled"));
        let mut r = json_error(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed verifications from this address",
        );
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            r.headers_mut().insert("retry-after", v);
        }
        return Some(r);
    }
    let Some(p) = Provider::from_slug(provider) else {
        return Some(Rejection::NotFound.into_response());
    };
    if descriptor(p).push != PushMode::PathToken {
        // Signed providers have no token route.
        return token.map(|_| Rejection::NotFound.into_response());
    }
    if !state.mounts.current().current.contains_key(p.slug()) {
        return Some(Rejection::NotFound.into_response());
    }
    let stored = state.state.push_token(p);
    let valid = match (token, &stored) {
        (Some(t), Some(stored)) => {
            let current = constant_time_eq(t.as_bytes(), stored.token.expose().as_bytes());
            let previous = stored
                .previous_at(now)
                .is_some_and(|prev| constant_time_eq(t.as_bytes(), prev.as_bytes()));
            current | previous
        }
        _ => false,
    };
    if valid {
        return None;
    }
    tracing::debug!(provider = slug, "push without a valid path token refused");
    state.throttle.failed(source, now);
    state.mounts.activity.failed(p, now);
    count(slug, "rejected", Some("path_token"));
    Some(Rejection::NotFound.into_response())
}

/// Where each acknowledged notification went (debug), to follow one through the log: the
/// normalizer logs the offsets it reads (a broker that loses a record it acknowledged).
fn log_enqueued<'a>(
    slug: &str,
    ids: impl Iterator<Item = &'a String>,
    positions: &[pulsegate_bus::Position],
) {
    if tracing::enabled!(tracing::Level::DEBUG) {
        for (id, p) in ids.zip(positions) {
            tracing::debug!(provider = slug, notification = %id, partition = p.partition,
                offset = p.offset, "notification enqueued on raw");
        }
    }
}

pub(crate) async fn push_inner(
    state: IngestState,
    provider: String,
    query: Option<String>,
    peer: Option<std::net::IpAddr>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let started = Instant::now();
    let mounts = state.mounts.current();
    let Some(mounted) = mounts.current.get(provider.as_str()) else {
        return Rejection::NotFound.into_response();
    };
    let verifier = &mounted.verifier;
    let slug = verifier.provider().slug();
    if !state.state.integration_enabled(verifier.provider()) {
        count(slug, "rejected", Some("disabled"));
        return disabled();
    }
    // This provider's limit, checked against Content-Length before anything is read
    // and counted while reading (a chunked body is cut off at the limit).
    let limit = verifier.max_body_bytes().unwrap_or(state.max_body_bytes);
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        count(slug, "rejected", Some("body"));
        return json_error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
    }
    let body = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(e) => {
            count(slug, "rejected", Some("body"));
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            return if too_large {
                json_error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
            } else {
                json_error(StatusCode::BAD_REQUEST, "could not read the request body")
            };
        }
    };
    let request = IngestRequest {
        headers: &headers,
        query: query.as_deref(),
        body: &body,
        peer,
        now_ms: now_ms(),
    };
    let mut verified = verifier.verify(&request);
    let mut verifier: &dyn ProviderVerifier = verifier.as_ref();
    if matches!(verified, Err(Rejection::Unauthorized)) {
        // Signed with a secret being rotated out, still inside its grace period?
        if let Some(old) = mounts.fallback(provider.as_str(), request.now_ms) {
            let again = old.verify(&request);
            if again.is_ok() {
                verified = again;
                verifier = old;
            }
        }
    }
    let notifications = match verified {
        Ok(n) => n,
        Err(rejection) => {
            tracing::debug!(
                provider = slug,
                reason = rejection.reason(),
                "notification refused"
            );
            count(slug, "rejected", Some(rejection.reason()));
            if matches!(
                rejection,
                Rejection::Unauthorized | Rejection::Stale | Rejection::Replayed
            ) {
                state
                    .throttle
                    .failed(state.throttle.source(peer, &headers), request.now_ms);
                state
                    .mounts
                    .activity
                    .failed(verifier.provider(), request.now_ms);
            }
            return rejection.into_response();
        }
    };
    if notifications.is_empty() {
        // A ping or test notification: verified, nothing to enqueue.
        count(slug, "ping", None);
        return verifier.ping_status(&request).into_response();
    }

    let received_at_ms = now_ms();
    // The ids after the first: only a push that names several users has them (no
    // allocation for the usual one).
    let (mut first_id, mut more_ids) = (None, Vec::new());
    let mut records = Vec::with_capacity(notifications.len());
    for n in notifications {
        match encode_notification(verifier.provider(), n, received_at_ms) {
            Ok((id, record)) => {
                match first_id {
                    None => first_id = Some(id),
                    Some(_) => more_ids.push(id),
                }
                records.push(record);
            }
            Err(e) => {
                tracing::error!(error = %e, "could not encode a verified notification");
                count(slug, "error", None);
                return json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
            }
        }
    }

    let appended = Instant::now();
    let ids = || first_id.iter().chain(&more_ids);
    let raw = async {
        if records.len() == 1 {
            let record = records.pop().expect("one record");
            let p = state.bus.append(topics::RAW, record).await?;
            log_enqueued(slug, ids(), std::slice::from_ref(&p));
        } else {
            let positions = state.bus.append_batch(topics::RAW, records).await?;
            log_enqueued(slug, ids(), &positions);
        }
        Ok(())
    };
    // The replay marker goes to the bus at the same time; both must be durable
    // before the 2xx, or a restart would let a replay of this request through.
    let marker = mounts_replay(&state).marker(
        verifier.provider(),
        verifier.replay_mark(&request),
        request.now_ms,
    );
    let result = match marker {
        None => raw.await,
        Some((topic, record, key)) => {
            let (raw, marked) = tokio::join!(raw, state.bus.append(&topic, record));
            match (raw, marked) {
                (Ok(()), Ok(_)) => Ok(()),
                (raw, marked) => {
                    if marked.is_ok() {
                        // The notification was not stored: the provider's retry must not
                        // be refused after a restart either (best effort).
                        let bus = state.bus.clone();
                        tokio::spawn(async move {
                            let _ = bus.append(&topic, ReplayBook::forget_marker(&key)).await;
                        });
                    }
                    raw.and(marked.map(|_| ()))
                }
            }
        }
    };
    mounted.append.record(appended.elapsed().as_secs_f64());
    match result {
        Ok(()) => {
            mounted.accepted.increment(1);
            state
                .mounts
                .activity
                .accepted(verifier.provider(), received_at_ms);
            mounted.latency.record(started.elapsed().as_secs_f64());
            let mut response = verifier.accepted_status().into_response();
            if let Some(id) = first_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
                response
                    .headers_mut()
                    .insert("x-pulsegate-notification-id", id);
            }
            response
        }
        Err(e) => {
            tracing::warn!(provider = slug, error = %e, "bus refused a notification");
            verifier.forget(&request);
            mounted.unavailable.increment(1);
            let mut response = json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily unable to accept notifications",
            );
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
            response
        }
    }
}

/// Wraps a verified notification for the `raw` topic: a fresh id (returned, it becomes the
/// `terra-reference` of what the notification causes) and the bus key that keeps one
/// provider user's notifications in order. Written by hand rather than through serde:
/// the body was parsed by the verifier and goes in verbatim, without a second parse.
pub fn encode_notification(
    provider: Provider,
    n: Notification,
    received_at_ms: u64,
) -> Result<(String, Outgoing), serde_json::Error> {
    let id = notification_id();
    let key = RawNotification::bus_key(provider, &n.provider_user_id);
    let mut payload = Vec::with_capacity(n.body.len() + n.provider_user_id.len() + 128);
    payload.extend_from_slice(b"{\"id\":\"");
    payload.extend_from_slice(id.as_bytes());
    payload.extend_from_slice(b"\",\"provider\":");
    serde_json::to_writer(&mut payload, &provider)?;
    payload.extend_from_slice(b",\"provider_user_id\":");
    serde_json::to_writer(&mut payload, &n.provider_user_id)?;
    payload.extend_from_slice(b",\"received_at_ms\":");
    payload.extend_from_slice(received_at_ms.to_string().as_bytes());
    payload.extend_from_slice(b",\"body\":");
    payload.extend_from_slice(n.body.trim_ascii());
    payload.push(b'}');
    Ok((id, Outgoing::new(key, payload)))
}

/// A unique notification id without a syscall per request: a random per-process prefix
/// and a counter (unique across restarts because the prefix is new each time).
fn notification_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static PREFIX: OnceLock<String> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| uuid::Uuid::new_v4().simple().to_string()[..16].to_string());
    format!("{prefix}{:016x}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

fn count(provider: &'static str, outcome: &'static str, reason: Option<&'static str>) {
    metrics::counter!("pulsegate_ingest_requests_total", "provider" => provider, "outcome" => outcome)
        .increment(1);
    if let Some(reason) = reason {
        metrics::counter!("pulsegate_ingest_rejects_total", "provider" => provider, "reason" => reason)
            .increment(1);
    }
}

fn disabled() -> Response {
    json_error(StatusCode::NOT_FOUND, "integration disabled")
}

/// `{"error": message}` with the given status.
pub(crate) use pulsegate_provider::verify::json_error;

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn envelope_is_valid_json_with_the_body_verbatim() {
        let body = Bytes::from_static(b" {\"a\": [1, 2]}\n");
        let n = Notification {
            provider_user_id: "we\"ird\\id".into(),
            body,
        };
        let (id, rec) = encode_notification(Provider::Strava, n, 42).unwrap();
        let raw: RawNotification = serde_json::from_slice(&rec.payload).unwrap();
        assert_eq!(raw.id, id);
        assert_eq!(raw.provider_user_id, "we\"ird\\id");
        assert_eq!(raw.received_at_ms, 42);
        assert_eq!(raw.body.get(), "{\"a\": [1, 2]}");
        assert_eq!(rec.key.as_ref(), "strava:we\"ird\\id".as_bytes());
        let (id2, _) = encode_notification(
            Provider::Strava,
            Notification {
                provider_user_id: "1".into(),
                body: Bytes::from_static(b"{}"),
            },
            1,
        )
        .unwrap();
        assert_ne!(id, id2);
        assert_eq!(id.len(), 32);
    }
}

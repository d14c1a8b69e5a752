//! The conformance suite every provider's verifier runs (feature `testing`): the same
//! checks, whatever the provider, so a new provider cannot skip one.
//!
//! A provider's tests describe its pushes with a [`Subject`]: a verifier built from its
//! settings, a push signed as the provider documents it (computed by the test itself,
//! independently of the verifier), and how that push goes wrong (wrong secret, stale,
//! wrongly encoded signature). [`run`] then checks:
//!
//! * the handshake answers the right challenge and refuses a wrong token (when it
//!   carries one);
//! * the documented push verifies and yields notifications;
//! * a tampered body, a wrong secret, a stale timestamp and a wrongly encoded
//!   signature are refused with 401 (so nothing is enqueued: the ingest handler appends
//!   only what `verify` returned);
//! * the same push again is refused as a replay when the provider keeps a guard;
//! * whatever the bytes, headers and query, `verify` and `handshake` never panic
//!   ([`never_panics`], a property test).

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use bytes::Bytes;
use proptest::prelude::*;

use crate::{IngestRequest, ProviderVerifier, Rejection};

/// One push as it arrives: headers, query and body, at `now_ms`.
#[derive(Clone, Debug)]
pub struct Push {
    pub headers: HeaderMap,
    pub query: Option<String>,
    pub body: Bytes,
    pub now_ms: u64,
}

impl Push {
    pub fn new(body: impl Into<Bytes>, now_ms: u64) -> Self {
        Self {
            headers: HeaderMap::new(),
            query: None,
            body: body.into(),
            now_ms,
        }
    }

    /// Adds a header (test input: names and values are known to be valid).
    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        let value = HeaderValue::from_str(value).expect("test header value");
        self.headers.insert(HeaderName::from_static(name), value);
        self
    }

    pub fn query(mut self, q: &str) -> Self {
        self.query = Some(q.to_string());
        self
    }

    fn request(&self) -> IngestRequest<'_> {
        IngestRequest {
            headers: &self.headers,
            query: self.query.as_deref(),
            body: &self.body,
            peer: Some(std::net::IpAddr::from([127, 0, 0, 1])),
            now_ms: self.now_ms,
        }
    }
}

/// A provider's handshake: a request that must be answered with `status` and a body
/// containing `echo`, and one with a wrong token that must be refused.
pub struct Handshake {
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub status: StatusCode,
    pub echo: Option<String>,
    pub wrong_query: Option<String>,
    pub wrong_headers: HeaderMap,
    /// True if the handshake carries a token, so `wrong_query`/`wrong_headers` must be
    /// refused with a 4xx. False: a reachability check with no token (Withings' `HEAD`,
    /// answered 2xx whatever it asks), nothing to refuse; the wrong request is not sent.
    pub refuses_wrong: bool,
}

/// How a provider's pushes are verified, described by its tests.
pub trait Subject {
    /// A fresh verifier (fresh replay guard) from the provider's settings.
    fn verifier(&self) -> Box<dyn ProviderVerifier>;
    /// Its handshake, if it has one.
    fn handshake(&self) -> Option<Handshake>;
    /// A documented example push, signed correctly for `now_ms`.
    fn push(&self, now_ms: u64) -> Push;
    /// The same push signed with another secret.
    fn wrong_secret(&self, now_ms: u64) -> Push;
    /// The push with a timestamp outside the accepted window; `None`: the provider signs
    /// no timestamp (say why in the subject).
    fn stale(&self, now_ms: u64) -> Option<Push>;
    /// The push with its signature in another encoding (hex for Base64 and the other
    /// way round); `None`: no signature to encode (path tokens, allow-lists).
    fn wrongly_encoded(&self, now_ms: u64) -> Option<Push>;
    /// True if the body is covered by the signature (a changed body must be refused).
    fn body_is_signed(&self) -> bool {
        true
    }
    /// True if an accepted push is remembered and refused when sent again.
    fn replay_guarded(&self) -> bool;
}

const NOW_MS: u64 = 1_780_000_000_000;

fn refused_401(what: &str, r: Result<Vec<crate::Notification>, Rejection>) {
    match r {
        Err(e) => assert_eq!(e.status(), StatusCode::UNAUTHORIZED, "{what}: {e:?}"),
        Ok(n) => panic!("{what}: accepted ({} notifications)", n.len()),
    }
}

/// A body changed without breaking its JSON: a space after the first `{` or `[`.
fn tampered(body: &Bytes) -> Bytes {
    let mut v = body.to_vec();
    match v.iter().position(|b| *b == b'{' || *b == b'[') {
        Some(i) => v.insert(i + 1, b' '),
        None => v.push(b' '),
    }
    Bytes::from(v)
}

/// Runs every check on `subject`; panics naming the first that fails.
pub async fn run(subject: &dyn Subject) {
    if let Some(h) = subject.handshake() {
        let v = subject.verifier();
        let answer = v.handshake(h.query.as_deref(), &h.headers);
        assert_eq!(answer.status(), h.status, "handshake");
        if let Some(echo) = &h.echo {
            let body = axum::body::to_bytes(answer.into_body(), 1 << 20)
                .await
                .expect("handshake body");
            let body = String::from_utf8_lossy(&body);
            assert!(
                body.contains(echo.as_str()),
                "handshake echoes {echo}: {body}"
            );
        }
        if h.refuses_wrong {
            let refused = v.handshake(h.wrong_query.as_deref(), &h.wrong_headers);
            assert!(
                refused.status().is_client_error(),
                "a wrong handshake token is refused: {}",
                refused.status()
            );
        }
    }

    let v = subject.verifier();
    let push = subject.push(NOW_MS);
    let accepted = v.verify(&push.request());
    let notifications = accepted.unwrap_or_else(|e| panic!("documented push refused: {e:?}"));
    assert!(
        !notifications.is_empty(),
        "documented push yields notifications"
    );

    if subject.replay_guarded() {
        let again = v.verify(&push.request());
        assert!(
            matches!(again, Err(Rejection::Replayed)),
            "the same push again is a replay: {again:?}"
        );
        assert_eq!(Rejection::Replayed.status(), StatusCode::UNAUTHORIZED);
    }

    if subject.body_is_signed() {
        let mut t = subject.push(NOW_MS);
        t.body = tampered(&t.body);
        refused_401("tampered body", subject.verifier().verify(&t.request()));
    }
    let wrong = subject.wrong_secret(NOW_MS);
    refused_401("wrong secret", subject.verifier().verify(&wrong.request()));
    if let Some(stale) = subject.stale(NOW_MS) {
        refused_401("stale", subject.verifier().verify(&stale.request()));
    }
    if let Some(enc) = subject.wrongly_encoded(NOW_MS) {
        refused_401("wrongly encoded", subject.verifier().verify(&enc.request()));
    }
}

/// Header names providers sign with, so fuzzed headers reach the signature checks.
const HEADER_NAMES: &[&str] = &[
    "authorization",
    "content-type",
    "x-signature",
    "x-oura-signature",
    "x-oura-timestamp",
    "x-whoop-signature",
    "x-whoop-signature-timestamp",
    "polar-webhook-signature",
    "polar-webhook-event",
    "x-fitbit-signature",
    "x-hmac-sha256-signature",
    "x-goog-signature",
    "x-garmin-signature",
    "garmin-client-id",
    "x-forwarded-for",
    "sign",
    "timestamp",
];

fn headers_strategy() -> impl Strategy<Value = Vec<(usize, String)>> {
    proptest::collection::vec((0..HEADER_NAMES.len(), "[ -~]{0,80}"), 0..6)
}

/// Property: `verify` and `handshake` of the subject's verifier never panic, for any
/// body (random bytes, and the documented push with bytes changed), headers and query.
pub fn never_panics(subject: &dyn Subject) {
    let verifier = subject.verifier();
    let documented = subject.push(NOW_MS);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let strategy = (
        proptest::collection::vec(any::<u8>(), 0..512),
        headers_strategy(),
        proptest::option::of("[ -~]{0,120}"),
        any::<bool>(),
        any::<u64>(),
        any::<bool>(),
    );
    runner
        .run(
            &strategy,
            |(bytes, headers, query, mutate, offset, keep_headers)| {
                let body = if mutate && !documented.body.is_empty() {
                    // The documented body with a few bytes changed: still mostly valid JSON.
                    let mut b = documented.body.to_vec();
                    for (i, x) in bytes.iter().take(4).enumerate() {
                        let at = (offset as usize).wrapping_add(i * 7919) % b.len();
                        b[at] = *x;
                    }
                    Bytes::from(b)
                } else {
                    Bytes::from(bytes)
                };
                let mut h = if keep_headers {
                    documented.headers.clone()
                } else {
                    HeaderMap::new()
                };
                for (i, value) in headers {
                    if let Ok(v) = HeaderValue::from_str(&value) {
                        h.insert(HeaderName::from_static(HEADER_NAMES[i]), v);
                    }
                }
                let now_ms = NOW_MS.wrapping_add(offset % 1_000_000_000);
                let req = IngestRequest {
                    headers: &h,
                    query: query.as_deref(),
                    body: &body,
                    peer: None,
                    now_ms,
                };
                let _ = verifier.verify(&req);
                verifier.forget(&req);
                let _ = verifier.replay_mark(&req);
                let _ = verifier.handshake(query.as_deref(), &h);
                Ok(())
            },
        )
        .expect("verify never panics");
}

//! Suunto Cloud API webhooks (apizone.suunto.com/webhooks).
//!
//! No handshake: the notification URL and the notification secret are set in the
//! application's settings on Suunto's API Zone, so `GET` is answered 405.
//!
//! Every notification carries `X-HMAC-SHA256-Signature` = hex HMAC-SHA256(key = the
//! notification secret, msg = the raw body). It is checked, in constant time, before
//! the body is parsed; a missing, non-hex or wrong signature is 401. Suunto signs no
//! timestamp, so replays are refused by content: a body whose SHA-256 was accepted
//! within `replay_window_secs` (default 24 h) is refused (401 `replay`). A genuine
//! body names one workout (`workoutKey`) or one upload of samples, so it does not
//! repeat byte for byte, and a day covers Suunto's own retries.
//!
//! The body is JSON with `type` and `username` (the Suunto user, the connection's
//! provider user id); a `WORKOUT_CREATED` also carries `workout.workoutKey`. The other
//! documented types (`ROUTE_CREATED`, `SUUNTO_247_ACTIVITY_CREATED`,
//! `SUUNTO_247_SLEEP_CREATED`, `SUUNTO_247_RECOVERY_CREATED`) are accepted and
//! enqueued; the normalizer drops them as not mapped (docs/providers/suunto.md).

use std::borrow::Cow;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use pulsegate_schema::{Provider, Secret};
use serde::Deserialize;

use crate::signing::{check_hex, header, hmac_sha256, ReplayGuard};
use crate::verifier::{json_error, IngestRequest, Notification, ProviderVerifier, Rejection};

/// The signature header (matched case-insensitively, as every HTTP header).
pub const SIGNATURE: &str = "x-hmac-sha256-signature";

/// The notification type whose workout pulsegate fetches and maps.
pub const WORKOUT_CREATED: &str = "WORKOUT_CREATED";

/// Longest `username` or `workoutKey` accepted (both are short ids at Suunto).
const MAX_ID_LEN: usize = 256;

/// Suunto ingest settings (`[ingest.suunto]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SuuntoIngestConfig {
    /// The notification secret set in the application's settings on API Zone: the HMAC
    /// key. Empty disables Suunto (its route is not mounted).
    pub notification_secret: Secret,
    /// How long an accepted body is refused when it comes again (replay guard by
    /// content hash). Default 86 400 s (24 h); 0 disables.
    pub replay_window_secs: u64,
    /// Bodies remembered at most (oldest forgotten first). Default 100 000.
    pub replay_capacity: usize,
}

impl Default for SuuntoIngestConfig {
    fn default() -> Self {
        Self {
            notification_secret: Secret::default(),
            replay_window_secs: 86_400,
            replay_capacity: 100_000,
        }
    }
}

impl SuuntoIngestConfig {
    /// Mounted once the notification secret is configured.
    pub fn enabled(&self) -> bool {
        !self.notification_secret.is_empty()
    }
}

pub struct SuuntoVerifier {
    config: SuuntoIngestConfig,
    replays: std::sync::Arc<ReplayGuard>,
}

impl SuuntoVerifier {
    pub fn new(config: SuuntoIngestConfig) -> Self {
        let replays = std::sync::Arc::new(ReplayGuard::new(config.replay_capacity));
        Self { config, replays }
    }

    /// With a shared replay guard (kept across re-mounts, made durable by the handler).
    pub fn with_replays(config: SuuntoIngestConfig, replays: std::sync::Arc<ReplayGuard>) -> Self {
        Self { config, replays }
    }

    fn window_ms(&self) -> u64 {
        self.config.replay_window_secs.saturating_mul(1000)
    }

    /// Hex (either case) HMAC-SHA256 of the raw body under the notification secret.
    fn check_signature(&self, req: &IngestRequest<'_>) -> Result<(), Rejection> {
        let received = header(req.headers, SIGNATURE).map_err(|_| Rejection::Unauthorized)?;
        let expected = hmac_sha256(
            self.config.notification_secret.expose().as_bytes(),
            &[req.body.as_ref()],
        );
        check_hex(received, &expected, None)
    }
}

/// The part of a Suunto notification the verifier checks. The strings borrow from the
/// body unless they hold an escape (`Cow`: a valid body may escape any character).
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    username: Cow<'a, str>,
    #[serde(borrow, default)]
    workout: Option<WorkoutRef<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WorkoutRef<'a> {
    #[serde(borrow, default)]
    workout_key: Option<Cow<'a, str>>,
}

/// A `username` or `workoutKey` as pulsegate takes it: 1–256 visible ASCII characters.
pub fn plain_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_ID_LEN && s.bytes().all(|b| b.is_ascii_graphic())
}

impl ProviderVerifier for SuuntoVerifier {
    fn provider(&self) -> Provider {
        Provider::Suunto
    }

    fn handshake(&self, _query: Option<&str>, _headers: &HeaderMap) -> Response {
        json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "Suunto has no subscription handshake; POST notifications here",
        )
    }

    fn verify(&self, req: &IngestRequest<'_>) -> Result<Vec<Notification>, Rejection> {
        // The signature first: nothing of an unsigned body is parsed.
        self.check_signature(req)?;
        // serde_json over the body as it came: simd-json would need a copy to parse in
        // place, a second allocation of the body, and the workout it carries is skipped
        // cheaply by serde_json (`provider_decode` bench).
        let env: Envelope<'_> = serde_json::from_slice(req.body).map_err(|e| {
            Rejection::malformed("not a Suunto notification", e)
        })?;
        if env.kind.is_empty() || env.kind.len() > 64 {
            return Err(Rejection::Malformed("type must be set".into()));
        }
        if !plain_id(&env.username) {
            return Err(Rejection::Malformed("username must be set".into()));
        }
        if env.kind == WORKOUT_CREATED {
            let key = env.workout.and_then(|w| w.workout_key);
            if !key.is_some_and(|k| plain_id(&k)) {
                return Err(Rejection::Malformed(
                    "a WORKOUT_CREATED notification needs workout.workoutKey".into(),
                ));
            }
        }
        // Recorded last: a request refused above is refused the same way when replayed.
        if self.window_ms() > 0 {
            self.replays.check_and_record_until(
                &body_hash(req.body),
                req.now_ms.saturating_add(self.window_ms()),
                req.now_ms,
            )?;
        }
        Ok(vec![Notification {
            provider_user_id: env.username.into_owned(),
            body: req.body.clone(),
        }])
    }

    fn replay_mark(&self, req: &IngestRequest<'_>) -> Option<crate::verifier::ReplayMark> {
        (self.window_ms() > 0).then(|| crate::verifier::ReplayMark {
            key: body_hash(req.body),
            ttl_ms: self.window_ms(),
        })
    }

    fn forget(&self, req: &IngestRequest<'_>) {
        self.replays.forget(&body_hash(req.body));
    }
}

/// The replay key of a Suunto body: its SHA-256.
fn body_hash(body: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(body).to_vec()
}


#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use base64::Engine;
    use bytes::Bytes;
    use hmac::{Hmac, Mac};

    const SECRET: &str = "suunto-notification-secret";
    const NOW_MS: u64 = 1_702_733_000_000;
    const EXAMPLE: &str = include_str!("workout_created_example.json");

    fn verifier() -> SuuntoVerifier {
        SuuntoVerifier::new(SuuntoIngestConfig {
            notification_secret: Secret::new(SECRET),
            ..SuuntoIngestConfig::default()
        })
    }

    /// Independent implementation: HMAC-SHA256(secret, body), raw bytes.
    fn mac(secret: &str, body: &[u8]) -> Vec<u8> {
        let mut m = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        m.update(body);
        m.finalize().into_bytes().to_vec()
    }

    fn headers(sig: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("X-HMAC-SHA256-Signature", HeaderValue::from_str(sig).unwrap());
        h
    }

    fn run_at(
        v: &SuuntoVerifier,
        h: &HeaderMap,
        body: &str,
        now_ms: u64,
    ) -> Result<Vec<Notification>, Rejection> {
        let body = Bytes::from(body.to_string());
        v.verify(&IngestRequest {
            headers: h,
            query: None,
            body: &body,
            peer: None,
            now_ms,
        })
    }

    fn run(v: &SuuntoVerifier, h: &HeaderMap, body: &str) -> Result<Vec<Notification>, Rejection> {
        run_at(v, h, body, NOW_MS)
    }

    #[test]
    fn documented_example_is_accepted_in_either_hex_case() {
        let sig = hex::encode(mac(SECRET, EXAMPLE.as_bytes()));
        let n = run(&verifier(), &headers(&sig), EXAMPLE).unwrap();
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].provider_user_id, "johndoe123");
        assert_eq!(n[0].body.as_ref(), EXAMPLE.as_bytes());
        let upper = hex::encode_upper(mac(SECRET, EXAMPLE.as_bytes()));
        assert!(run(&verifier(), &headers(&upper), EXAMPLE).is_ok());
    }

    #[test]
    fn other_documented_types_are_accepted_for_the_normalizer_to_judge() {
        for kind in [
            "ROUTE_CREATED",
            "SUUNTO_247_ACTIVITY_CREATED",
            "SUUNTO_247_SLEEP_CREATED",
            "SUUNTO_247_RECOVERY_CREATED",
        ] {
            let body = format!(r#"{{"type":"{kind}","username":"johndoe123","samples":[]}}"#);
            let sig = hex::encode(mac(SECRET, body.as_bytes()));
            let n = run(&verifier(), &headers(&sig), &body).unwrap();
            assert_eq!(n[0].provider_user_id, "johndoe123", "{kind}");
        }
    }

    #[test]
    fn tampered_wrong_key_wrong_encoding_missing_and_replay_are_401() {
        let v = verifier();
        let good = hex::encode(mac(SECRET, EXAMPLE.as_bytes()));
        let tampered = EXAMPLE.replace("johndoe123", "johndoe124");
        assert_eq!(
            run(&v, &headers(&good), &tampered).unwrap_err(),
            Rejection::Unauthorized
        );
        let wrong_key = hex::encode(mac("another-secret", EXAMPLE.as_bytes()));
        assert_eq!(
            run(&v, &headers(&wrong_key), EXAMPLE).unwrap_err(),
            Rejection::Unauthorized
        );
        // Base64 is not Suunto's encoding; nor is a prefixed or truncated hex.
        let b64 = base64::engine::general_purpose::STANDARD.encode(mac(SECRET, EXAMPLE.as_bytes()));
        for wrong in [b64, format!("sha256={good}"), good[..63].to_string()] {
            assert_eq!(
                run(&v, &headers(&wrong), EXAMPLE).unwrap_err(),
                Rejection::Unauthorized,
                "{wrong}"
            );
        }
        assert_eq!(
            run(&v, &HeaderMap::new(), EXAMPLE).unwrap_err(),
            Rejection::Unauthorized
        );
        let mut garbled = HeaderMap::new();
        garbled.insert(SIGNATURE, HeaderValue::from_bytes(b"\xff\xfe").unwrap());
        assert_eq!(
            run(&v, &garbled, EXAMPLE).unwrap_err(),
            Rejection::Unauthorized
        );
        // Accepted once; the same body again within 24 h is a replay, after it news.
        assert!(run(&v, &headers(&good), EXAMPLE).is_ok());
        assert_eq!(
            run_at(&v, &headers(&good), EXAMPLE, NOW_MS + 86_399_000).unwrap_err(),
            Rejection::Replayed
        );
        assert!(run_at(&v, &headers(&good), EXAMPLE, NOW_MS + 86_400_001).is_ok());
        assert_eq!(Rejection::Replayed.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn a_refused_request_is_not_remembered_and_forget_lets_a_retry_through() {
        let v = verifier();
        let good = hex::encode(mac(SECRET, EXAMPLE.as_bytes()));
        let body = Bytes::from(EXAMPLE);
        let h = headers(&good);
        let req = IngestRequest {
            headers: &h,
            query: None,
            body: &body,
            peer: None,
            now_ms: NOW_MS,
        };
        assert!(v.verify(&req).is_ok());
        let mark = v.replay_mark(&req).unwrap();
        assert_eq!(mark.ttl_ms, 86_400_000);
        v.forget(&req);
        assert!(v.verify(&req).is_ok(), "forgotten: the retry is let through");
    }

    #[test]
    fn escaped_strings_are_read_like_plain_ones() {
        // JSON may escape any character; a parser that only borrows would refuse these.
        let escaped = EXAMPLE
            .replace("WORKOUT_CREATED", r"WORKOUT\u005fCREATED")
            .replace("johndoe123", r"j\u006fhndoe123")
            .replace("67604889", r"\u00367604889");
        assert_ne!(escaped, EXAMPLE);
        let sig = hex::encode(mac(SECRET, escaped.as_bytes()));
        let n = run(&verifier(), &headers(&sig), &escaped).unwrap();
        assert_eq!(n[0].provider_user_id, "johndoe123");
        assert_eq!(n[0].body.as_ref(), escaped.as_bytes());
    }

    #[test]
    fn signed_but_malformed_bodies_are_400() {
        let v = verifier();
        for body in [
            "not json",
            "[]",
            r#"{"type":"WORKOUT_CREATED"}"#,
            r#"{"type":"WORKOUT_CREATED","username":"johndoe123"}"#,
            r#"{"type":"WORKOUT_CREATED","username":"johndoe123","workout":{}}"#,
            r#"{"type":"WORKOUT_CREATED","username":"johndoe123","workout":{"workoutKey":""}}"#,
            r#"{"type":"WORKOUT_CREATED","username":"johndoe123","workout":{"workoutKey":7}}"#,
            r#"{"type":"","username":"johndoe123"}"#,
            r#"{"type":"WORKOUT_CREATED","username":"","workout":{"workoutKey":"k"}}"#,
            r#"{"type":"WORKOUT_CREATED","username":"a b","workout":{"workoutKey":"k"}}"#,
        ] {
            let sig = hex::encode(mac(SECRET, body.as_bytes()));
            assert!(
                matches!(run(&v, &headers(&sig), body), Err(Rejection::Malformed(_))),
                "{body}"
            );
        }
    }

    #[test]
    fn get_is_not_a_handshake() {
        assert_eq!(
            verifier().handshake(None, &HeaderMap::new()).status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_requests_never_panic(
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
            sig in proptest::collection::vec(proptest::num::u8::ANY, 0..80),
        ) {
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_bytes(&sig) { h.insert(SIGNATURE, v); }
            let body = Bytes::from(body);
            let _ = verifier().verify(&IngestRequest { headers: &h, query: None, body: &body, peer: None, now_ms: NOW_MS });
        }

        #[test]
        fn arbitrary_signed_bodies_never_panic(
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
        ) {
            let h = headers(&hex::encode(mac(SECRET, &body)));
            let body = Bytes::from(body);
            let _ = verifier().verify(&IngestRequest { headers: &h, query: None, body: &body, peer: None, now_ms: NOW_MS });
        }
    }
}

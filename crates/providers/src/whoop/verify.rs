//! WHOOP developer webhooks (v1 and v2 models).
//!
//! No handshake: the URL is set in the developer dashboard, so `GET` is answered 405.
//! Pushes carry `X-WHOOP-Signature-Timestamp` (ms since the epoch) and
//! `X-WHOOP-Signature` = Base64(HMAC-SHA256(key = client secret, msg = timestamp header
//! bytes ‖ raw body)), no separator. The timestamp must be within
//! `timestamp_tolerance_secs` of now, and an accepted (timestamp, signature) pair is
//! refused when replayed. WHOOP's own retries of an event keep its `trace_id`; the
//! normalizer dedupes on it. See docs/providers/whoop.md.

use std::borrow::Cow;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use pulsegate_schema::{Provider, Secret};
use serde::Deserialize;

use crate::verifier::json_error;
use crate::signing::{check_base64, check_window, header, hmac_sha256, ReplayGuard};
use crate::verifier::{IngestRequest, Notification, ProviderVerifier, Rejection};

const SIGNATURE: &str = "x-whoop-signature";
const TIMESTAMP: &str = "x-whoop-signature-timestamp";

/// WHOOP ingest settings (`[ingest.whoop]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WhoopConfig {
    /// The WHOOP app's client secret: the HMAC key. Empty disables WHOOP.
    pub client_secret: Secret,
    /// Accepted distance between the signed timestamp and now, either way. Default 300.
    pub timestamp_tolerance_secs: u64,
    /// How many accepted signatures are remembered to refuse replays. 0 disables.
    /// Default 100 000.
    pub replay_capacity: usize,
}

impl Default for WhoopConfig {
    fn default() -> Self {
        Self {
            client_secret: Secret::default(),
            timestamp_tolerance_secs: 300,
            replay_capacity: 100_000,
        }
    }
}

impl WhoopConfig {
    /// Mounted once the client secret is configured.
    pub fn enabled(&self) -> bool {
        !self.client_secret.is_empty()
    }
}

pub struct WhoopVerifier {
    config: WhoopConfig,
    replays: std::sync::Arc<ReplayGuard>,
}

impl WhoopVerifier {
    pub fn new(config: WhoopConfig) -> Self {
        let replays = std::sync::Arc::new(ReplayGuard::new(config.replay_capacity));
        Self { config, replays }
    }

    /// With a shared replay guard (kept across re-mounts, made durable by the handler).
    pub fn with_replays(config: WhoopConfig, replays: std::sync::Arc<ReplayGuard>) -> Self {
        Self { config, replays }
    }
}

/// An object id: an int64 (v1 model) or a UUID string (v2 model).
#[derive(Deserialize)]
#[serde(untagged)]
enum ObjectId {
    Int(i64),
    Str(String),
}

/// WHOOP's webhook body. Every field is required. The strings borrow from the body
/// unless they hold an escape (`Cow`: a valid body may escape any character).
#[derive(Deserialize)]
struct WhoopEvent<'a> {
    user_id: i64,
    id: ObjectId,
    #[serde(borrow, rename = "type")]
    event_type: Cow<'a, str>,
    #[serde(borrow)]
    trace_id: Cow<'a, str>,
}

impl ProviderVerifier for WhoopVerifier {
    fn provider(&self) -> Provider {
        Provider::Whoop
    }

    fn replay_mark(&self, req: &IngestRequest<'_>) -> Option<crate::verifier::ReplayMark> {
        Some(crate::verifier::ReplayMark {
            key: crate::signing::timestamped_key(
                self.config.client_secret.expose().as_bytes(),
                TIMESTAMP,
                req,
            )?,
            ttl_ms: self.config.timestamp_tolerance_secs.saturating_mul(2000),
        })
    }

    fn forget(&self, req: &IngestRequest<'_>) {
        crate::signing::forget_timestamped(
            &self.replays,
            self.config.client_secret.expose().as_bytes(),
            TIMESTAMP,
            req,
        );
    }

    fn handshake(&self, _query: Option<&str>, _headers: &HeaderMap) -> Response {
        json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "WHOOP has no subscription handshake; POST webhooks here",
        )
    }

    fn verify(&self, req: &IngestRequest<'_>) -> Result<Vec<Notification>, Rejection> {
        let signature = header(req.headers, SIGNATURE)?;
        let ts_raw = header(req.headers, TIMESTAMP)?;
        let ts_ms = parse_ms(ts_raw).ok_or(Rejection::Unauthorized)?;
        let mac = hmac_sha256(
            self.config.client_secret.expose().as_bytes(),
            &[ts_raw.as_bytes(), req.body],
        );
        check_base64(signature, &mac)?;
        check_window(
            ts_ms,
            req.now_ms,
            self.config.timestamp_tolerance_secs.saturating_mul(1000),
        )?;
        // serde_json over the body as it came: simd-json would need a copy to parse in
        // place, a second allocation of the body that costs more than it saves on a push
        // this small (`provider_decode` bench, Strava's push).
        let event: WhoopEvent<'_> = serde_json::from_slice(req.body).map_err(|e| {
            Rejection::malformed("not a WHOOP webhook", e)
        })?;
        let id_ok = match event.id {
            ObjectId::Int(i) => i > 0,
            ObjectId::Str(s) => !s.trim().is_empty(),
        };
        if event.user_id <= 0 || !id_ok {
            return Err(Rejection::Malformed(
                "user_id and id must be set (id: int64 or UUID)".into(),
            ));
        }
        if event.event_type.is_empty() || event.trace_id.is_empty() {
            return Err(Rejection::Malformed(
                "type and trace_id must not be empty".into(),
            ));
        }
        let key = crate::signing::timestamped_replay_key(ts_raw, &mac);
        self.replays.check_and_record(&key)?;
        Ok(vec![Notification {
            provider_user_id: event.user_id.to_string(),
            body: req.body.clone(),
        }])
    }
}

/// `X-WHOOP-Signature-Timestamp`: ms since the epoch, digits only.
fn parse_ms(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > 19 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}


#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use base64::Engine;
    use bytes::Bytes;
    use hmac::{Hmac, Mac};

    const SECRET: &str = "whoop-client-secret";
    const NOW_MS: u64 = 1_748_241_241_000;
    // WHOOP's documented examples: v1 (int64 id) and v2 (UUID id).
    const V1: &str = r#"{"user_id":10129,"id":10235,"type":"workout.updated","trace_id":"d3709ee7-104e-4f70-a928-2932964b017b"}"#;
    const V2: &str = r#"{"user_id":456,"id":"550e8400-e29b-41d4-a716-446655440000","type":"sleep.updated","trace_id":"e369c784-5100-49e8-8098-75d35c47b31b"}"#;

    fn verifier() -> WhoopVerifier {
        WhoopVerifier::new(WhoopConfig {
            client_secret: Secret::new(SECRET),
            ..WhoopConfig::default()
        })
    }

    /// Independent implementation: base64(HMAC-SHA256(secret, ts ‖ body)).
    fn mac(secret: &str, ts: &str, body: &[u8]) -> Vec<u8> {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(ts.as_bytes());
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }

    fn sign(secret: &str, ts: &str, body: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(mac(secret, ts, body))
    }

    fn headers(sig: &str, ts: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("X-WHOOP-Signature", HeaderValue::from_str(sig).unwrap());
        h.insert(
            "X-WHOOP-Signature-Timestamp",
            HeaderValue::from_str(ts).unwrap(),
        );
        h
    }

    fn run(v: &WhoopVerifier, h: &HeaderMap, body: &str) -> Result<Vec<Notification>, Rejection> {
        let body = Bytes::from(body.to_string());
        v.verify(&IngestRequest {
            headers: h,
            query: None,
            body: &body,
            peer: None,
            now_ms: NOW_MS,
        })
    }

    #[test]
    fn documented_examples_are_accepted() {
        let v = verifier();
        let ts = NOW_MS.to_string();
        for (body, user) in [(V1, "10129"), (V2, "456")] {
            let n = run(&v, &headers(&sign(SECRET, &ts, body.as_bytes()), &ts), body).unwrap();
            assert_eq!(n.len(), 1);
            assert_eq!(n[0].provider_user_id, user);
            assert_eq!(n[0].body.as_ref(), body.as_bytes());
        }
    }

    #[test]
    fn escaped_strings_are_read_like_plain_ones() {
        // JSON may escape any character; a parser that only borrows would refuse these.
        let v = verifier();
        let ts = NOW_MS.to_string();
        let escaped = V2
            .replace("sleep.updated", r"sl\u0065ep.updated")
            .replace("e369c784", r"\u0065369c784")
            .replace("550e8400", r"550\u00658400");
        let h = headers(&sign(SECRET, &ts, escaped.as_bytes()), &ts);
        let n = run(&v, &h, &escaped).unwrap();
        assert_eq!(n[0].provider_user_id, "456");
        assert_eq!(n[0].body.as_ref(), escaped.as_bytes());
    }

    #[test]
    fn tampered_wrong_key_wrong_encoding_stale_and_replay_are_401() {
        let v = verifier();
        let ts = NOW_MS.to_string();
        let good = sign(SECRET, &ts, V2.as_bytes());
        let tampered = V2.replace("sleep.updated", "sleep.deleted");
        assert_eq!(
            run(&v, &headers(&good, &ts), &tampered).unwrap_err(),
            Rejection::Unauthorized
        );
        assert_eq!(
            run(&v, &headers(&sign("other", &ts, V2.as_bytes()), &ts), V2).unwrap_err(),
            Rejection::Unauthorized
        );
        // Hex (either case) is not WHOOP's encoding.
        let raw = mac(SECRET, &ts, V2.as_bytes());
        for wrong in [hex::encode(&raw), hex::encode_upper(&raw)] {
            assert_eq!(
                run(&v, &headers(&wrong, &ts), V2).unwrap_err(),
                Rejection::Unauthorized
            );
        }
        // `ts.body` (a separator) is not WHOOP's layout.
        let dotted = sign(SECRET, &format!("{ts}."), V2.as_bytes());
        assert_eq!(
            run(&v, &headers(&dotted, &ts), V2).unwrap_err(),
            Rejection::Unauthorized
        );
        // A seconds timestamp signed correctly is 55 years stale.
        let secs = (NOW_MS / 1000).to_string();
        assert_eq!(
            run(&v, &headers(&sign(SECRET, &secs, V2.as_bytes()), &secs), V2).unwrap_err(),
            Rejection::Stale
        );
        for off in [-300_001i64, 300_001] {
            let ts = (NOW_MS as i64 + off).to_string();
            let sig = sign(SECRET, &ts, V2.as_bytes());
            assert_eq!(
                run(&v, &headers(&sig, &ts), V2).unwrap_err(),
                Rejection::Stale
            );
        }
        let ts = (NOW_MS - 299_000).to_string();
        let sig = sign(SECRET, &ts, V2.as_bytes());
        assert!(run(&v, &headers(&sig, &ts), V2).is_ok());
        assert_eq!(
            run(&v, &headers(&sig, &ts), V2).unwrap_err(),
            Rejection::Replayed
        );
        assert_eq!(
            run(&v, &HeaderMap::new(), V2).unwrap_err(),
            Rejection::Unauthorized
        );
        assert_eq!(
            run(&v, &headers(&good, "soon"), V2).unwrap_err(),
            Rejection::Unauthorized
        );
    }

    #[test]
    fn signed_but_malformed_bodies_are_400() {
        let v = verifier();
        let ts = NOW_MS.to_string();
        for body in [
            "[]",
            r#"{"user_id":1}"#,
            &V2.replace("456", "\"456\""),
            &V2.replace("456", "0"),
            &V1.replace("10235", "-1"),
            &V2.replace("\"550e8400-e29b-41d4-a716-446655440000\"", "\"\""),
            &V2.replace("\"e369c784-5100-49e8-8098-75d35c47b31b\"", "\"\""),
        ] {
            let h = headers(&sign(SECRET, &ts, body.as_bytes()), &ts);
            assert!(
                matches!(run(&v, &h, body), Err(Rejection::Malformed(_))),
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
            ts in proptest::collection::vec(proptest::num::u8::ANY, 0..24),
        ) {
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_bytes(&sig) { h.insert(SIGNATURE, v); }
            if let Ok(v) = HeaderValue::from_bytes(&ts) { h.insert(TIMESTAMP, v); }
            let body = Bytes::from(body);
            let _ = verifier().verify(&IngestRequest { headers: &h, query: None, body: &body, peer: None, now_ms: NOW_MS });
        }

        #[test]
        fn arbitrary_signed_bodies_never_panic(
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
        ) {
            let ts = NOW_MS.to_string();
            let h = headers(&sign(SECRET, &ts, &body), &ts);
            let body = Bytes::from(body);
            let _ = verifier().verify(&IngestRequest { headers: &h, query: None, body: &body, peer: None, now_ms: NOW_MS });
        }
    }
}

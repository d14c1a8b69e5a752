//! Oura API v2 webhooks.
//!
//! Handshake: `GET ?verification_token=…&challenge=…` answered `200 {"challenge": …}` when
//! the token matches the one the subscription was created with (401 otherwise, 400 when a
//! parameter is missing).
//!
//! Pushes carry `x-oura-timestamp` and `x-oura-signature` = UPPER-case hex of
//! HMAC-SHA256(key = client secret, msg = timestamp header bytes ‖ raw body), no
//! separator. Lower-case hex is refused (a wrong encoding). Oura documents the timestamp
//! as `1234567890` (Unix seconds); a 13-digit value is read as milliseconds. The
//! timestamp must be within `timestamp_tolerance_secs` of now, and an accepted
//! (timestamp, signature) pair is refused when replayed. See docs/providers/oura.md.

use std::borrow::Cow;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use pulsegate_schema::{Provider, Secret};
use serde::Deserialize;

use crate::verifier::json_error;
use crate::signing::{check_hex, check_window, constant_time_eq, header, hmac_sha256, ReplayGuard};
use crate::verifier::{IngestRequest, Notification, ProviderVerifier, Rejection};

const SIGNATURE: &str = "x-oura-signature";
const TIMESTAMP: &str = "x-oura-timestamp";

/// Oura ingest settings (`[ingest.oura]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OuraConfig {
    /// The API application's client secret: the HMAC key. Empty disables Oura.
    pub client_secret: Secret,
    /// The `verification_token` sent when creating the webhook subscriptions.
    pub verification_token: Secret,
    /// Accepted distance between `x-oura-timestamp` and now, either way. Default 300.
    pub timestamp_tolerance_secs: u64,
    /// How many accepted signatures are remembered to refuse replays. 0 disables.
    /// Default 100 000.
    pub replay_capacity: usize,
}

impl Default for OuraConfig {
    fn default() -> Self {
        Self {
            client_secret: Secret::default(),
            verification_token: Secret::default(),
            timestamp_tolerance_secs: 300,
            replay_capacity: 100_000,
        }
    }
}

impl OuraConfig {
    /// Mounted once the client secret is configured.
    pub fn enabled(&self) -> bool {
        !self.client_secret.is_empty()
    }
}

pub struct OuraVerifier {
    config: OuraConfig,
    replays: std::sync::Arc<ReplayGuard>,
}

impl OuraVerifier {
    pub fn new(config: OuraConfig) -> Self {
        let replays = std::sync::Arc::new(ReplayGuard::new(config.replay_capacity));
        Self { config, replays }
    }

    /// With a shared replay guard (kept across re-mounts, made durable by the handler).
    pub fn with_replays(config: OuraConfig, replays: std::sync::Arc<ReplayGuard>) -> Self {
        Self { config, replays }
    }
}

/// Oura's webhook body, as documented. Every field is required. The strings borrow from
/// the body unless they hold an escape (`Cow`: a valid body may escape any character).
#[derive(Deserialize)]
struct OuraEvent<'a> {
    #[serde(borrow)]
    event_type: Cow<'a, str>,
    #[serde(borrow)]
    data_type: Cow<'a, str>,
    #[serde(borrow)]
    object_id: Cow<'a, str>,
    #[allow(
        dead_code,
        reason = "required in the payload (shape check), never read"
    )]
    #[serde(borrow)]
    event_time: Cow<'a, str>,
    #[serde(borrow)]
    user_id: Cow<'a, str>,
}

/// `x-oura-timestamp` in ms since the epoch. Oura documents seconds (`1234567890`);
/// a value of 10^11 or more (13 digits) is already milliseconds.
pub(crate) fn timestamp_ms(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > 19 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: i64 = raw.parse().ok()?;
    if v >= 100_000_000_000 {
        Some(v)
    } else {
        v.checked_mul(1000)
    }
}

impl ProviderVerifier for OuraVerifier {
    fn provider(&self) -> Provider {
        Provider::Oura
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

    fn handshake(&self, query: Option<&str>, _headers: &HeaderMap) -> Response {
        let mut token = None;
        let mut challenge = None;
        for (k, v) in pulsegate_schema::form::pairs(query.unwrap_or("")) {
            match k.as_str() {
                "verification_token" => token = Some(v),
                "challenge" => challenge = Some(v),
                _ => {}
            }
        }
        let (Some(token), Some(challenge)) = (token, challenge) else {
            return json_error(
                StatusCode::BAD_REQUEST,
                "expected verification_token and challenge",
            );
        };
        let expected = self.config.verification_token.expose();
        if expected.is_empty() || !constant_time_eq(token.as_bytes(), expected.as_bytes()) {
            return json_error(
                StatusCode::UNAUTHORIZED,
                "verification_token does not match",
            );
        }
        (
            StatusCode::OK,
            axum::Json(serde_json::json!({ "challenge": challenge })),
        )
            .into_response()
    }

    fn verify(&self, req: &IngestRequest<'_>) -> Result<Vec<Notification>, Rejection> {
        let signature = header(req.headers, SIGNATURE)?;
        let ts_raw = header(req.headers, TIMESTAMP)?;
        let ts_ms = timestamp_ms(ts_raw).ok_or(Rejection::Unauthorized)?;
        let mac = hmac_sha256(
            self.config.client_secret.expose().as_bytes(),
            &[ts_raw.as_bytes(), req.body],
        );
        check_hex(signature, &mac, Some(true))?;
        check_window(
            ts_ms,
            req.now_ms,
            self.config.timestamp_tolerance_secs.saturating_mul(1000),
        )?;
        // serde_json over the body as it came: simd-json would need a copy to parse in
        // place, a second allocation of the body that costs more than it saves on a push
        // this small (`provider_decode` bench, Strava's push).
        let event: OuraEvent<'_> = serde_json::from_slice(req.body).map_err(|e| {
            Rejection::malformed("not an Oura webhook", e)
        })?;
        if !matches!(event.event_type.as_ref(), "create" | "update" | "delete") {
            return Err(Rejection::Malformed(
                "event_type must be create, update or delete".into(),
            ));
        }
        if event.data_type.is_empty() || event.object_id.is_empty() || event.user_id.is_empty() {
            return Err(Rejection::Malformed(
                "data_type, object_id and user_id must not be empty".into(),
            ));
        }
        // Recorded last: a replay of a request refused above is refused the same way.
        let key = crate::signing::timestamped_replay_key(ts_raw, &mac);
        self.replays.check_and_record(&key)?;
        Ok(vec![Notification {
            provider_user_id: event.user_id.into_owned(),
            body: req.body.clone(),
        }])
    }
}


#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use bytes::Bytes;
    use hmac::{Hmac, Mac};

    const SECRET: &str = "oura-client-secret";
    const NOW_MS: u64 = 1_700_000_000_000;
    // Oura's documented example notification body.
    const EXAMPLE: &str = r#"{"event_type":"update","data_type":"sleep","object_id":"12345abc","event_time":"2023-01-01T08:00:00+00:00","user_id":"user123"}"#;

    fn verifier() -> OuraVerifier {
        OuraVerifier::new(OuraConfig {
            client_secret: Secret::new(SECRET),
            verification_token: Secret::new("verify-me"),
            ..OuraConfig::default()
        })
    }

    /// Independent implementation: upper-case hex HMAC-SHA256(secret, ts ‖ body).
    fn sign(secret: &str, ts: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(ts.as_bytes());
        mac.update(body);
        hex::encode_upper(mac.finalize().into_bytes())
    }

    fn headers(sig: &str, ts: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(SIGNATURE, HeaderValue::from_str(sig).unwrap());
        h.insert(TIMESTAMP, HeaderValue::from_str(ts).unwrap());
        h
    }

    fn run(v: &OuraVerifier, h: &HeaderMap, body: &str) -> Result<Vec<Notification>, Rejection> {
        let body = Bytes::from(body.to_string());
        v.verify(&IngestRequest {
            headers: h,
            query: None,
            body: &body,
            peer: None,
            now_ms: NOW_MS,
        })
    }

    fn now_secs() -> String {
        (NOW_MS / 1000).to_string()
    }

    #[test]
    fn documented_example_is_accepted() {
        let ts = now_secs();
        let h = headers(&sign(SECRET, &ts, EXAMPLE.as_bytes()), &ts);
        let n = run(&verifier(), &h, EXAMPLE).unwrap();
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].provider_user_id, "user123");
        assert_eq!(n[0].body.as_ref(), EXAMPLE.as_bytes());
    }

    #[test]
    fn escaped_strings_are_read_like_plain_ones() {
        // JSON may escape any character; a parser that only borrows would refuse these.
        let escaped = EXAMPLE
            .replace(r#""update""#, r#""upd\u0061te""#)
            .replace(r#""user123""#, r#""us\u0065r123""#);
        let ts = now_secs();
        let h = headers(&sign(SECRET, &ts, escaped.as_bytes()), &ts);
        let n = run(&verifier(), &h, &escaped).unwrap();
        assert_eq!(n[0].provider_user_id, "user123");
        assert_eq!(n[0].body.as_ref(), escaped.as_bytes());
        let wrong = EXAMPLE.replace(r#""update""#, r#""upd\u0061tz""#);
        let h = headers(&sign(SECRET, &ts, wrong.as_bytes()), &ts);
        assert!(matches!(run(&verifier(), &h, &wrong), Err(Rejection::Malformed(_))));
    }

    #[test]
    fn millisecond_timestamps_are_accepted() {
        let ts = (NOW_MS - 1_000).to_string();
        let h = headers(&sign(SECRET, &ts, EXAMPLE.as_bytes()), &ts);
        assert!(run(&verifier(), &h, EXAMPLE).is_ok());
        assert_eq!(timestamp_ms("1234567890"), Some(1_234_567_890_000));
        assert_eq!(timestamp_ms("1234567890123"), Some(1_234_567_890_123));
        assert_eq!(timestamp_ms("-5"), None);
        assert_eq!(timestamp_ms(""), None);
        assert_eq!(timestamp_ms("99999999999999999999"), None);
    }

    #[test]
    fn tampered_wrong_key_wrong_encoding_stale_and_replay_are_401() {
        let v = verifier();
        let ts = now_secs();
        let good = sign(SECRET, &ts, EXAMPLE.as_bytes());
        let tampered = EXAMPLE.replace("12345abc", "12345abd");
        assert_eq!(
            run(&v, &headers(&good, &ts), &tampered).unwrap_err(),
            Rejection::Unauthorized
        );
        let wrong_key = sign("other-secret", &ts, EXAMPLE.as_bytes());
        assert_eq!(
            run(&v, &headers(&wrong_key, &ts), EXAMPLE).unwrap_err(),
            Rejection::Unauthorized
        );
        // Lower-case hex is not Oura's encoding; nor is Base64.
        assert_eq!(
            run(&v, &headers(&good.to_lowercase(), &ts), EXAMPLE).unwrap_err(),
            Rejection::Unauthorized
        );
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(ts.as_bytes());
        mac.update(EXAMPLE.as_bytes());
        let b64 = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            mac.finalize().into_bytes(),
        );
        assert_eq!(
            run(&v, &headers(&b64, &ts), EXAMPLE).unwrap_err(),
            Rejection::Unauthorized
        );
        // Signed with a separator: not Oura's layout.
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(format!("{ts}.").as_bytes());
        mac.update(EXAMPLE.as_bytes());
        let dotted = hex::encode_upper(mac.finalize().into_bytes());
        assert_eq!(
            run(&v, &headers(&dotted, &ts), EXAMPLE).unwrap_err(),
            Rejection::Unauthorized
        );
        // Stale: correctly signed, 301 s old (and 301 s in the future).
        for ts in [NOW_MS / 1000 - 301, NOW_MS / 1000 + 301] {
            let ts = ts.to_string();
            let sig = sign(SECRET, &ts, EXAMPLE.as_bytes());
            assert_eq!(
                run(&v, &headers(&sig, &ts), EXAMPLE).unwrap_err(),
                Rejection::Stale
            );
        }
        // 299 s old is inside the window; its replay is refused.
        let ts = (NOW_MS / 1000 - 299).to_string();
        let sig = sign(SECRET, &ts, EXAMPLE.as_bytes());
        assert!(run(&v, &headers(&sig, &ts), EXAMPLE).is_ok());
        assert_eq!(
            run(&v, &headers(&sig, &ts), EXAMPLE).unwrap_err(),
            Rejection::Replayed
        );
        // Missing headers.
        assert_eq!(
            run(&v, &HeaderMap::new(), EXAMPLE).unwrap_err(),
            Rejection::Unauthorized
        );
        assert_eq!(
            run(&v, &headers(&good, "yesterday"), EXAMPLE).unwrap_err(),
            Rejection::Unauthorized
        );
        assert_eq!(Rejection::Stale.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(Rejection::Replayed.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn signed_but_malformed_bodies_are_400() {
        let v = verifier();
        let ts = now_secs();
        for body in [
            "not json",
            r#"{"event_type":"update"}"#,
            &EXAMPLE.replace("\"update\"", "\"upsert\""),
            &EXAMPLE.replace("\"user123\"", "\"\""),
            &EXAMPLE.replace("\"12345abc\"", "12345"),
        ] {
            let h = headers(&sign(SECRET, &ts, body.as_bytes()), &ts);
            assert!(
                matches!(run(&v, &h, body), Err(Rejection::Malformed(_))),
                "{body}"
            );
        }
    }

    async fn body_of(resp: Response) -> (StatusCode, serde_json::Value) {
        use http_body_util::BodyExt;
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or_default())
    }

    #[tokio::test]
    async fn handshake_echoes_the_challenge_for_the_right_token() {
        let v = verifier();
        let (status, body) = body_of(v.handshake(
            Some("verification_token=verify-me&challenge=random%20string"),
            &HeaderMap::new(),
        ))
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, serde_json::json!({"challenge": "random string"}));
        let (status, _) = body_of(v.handshake(
            Some("verification_token=nope&challenge=x"),
            &HeaderMap::new(),
        ))
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = body_of(v.handshake(Some("challenge=x"), &HeaderMap::new())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        // Without a configured token, nothing matches (not even an empty one).
        let open = OuraVerifier::new(OuraConfig {
            client_secret: Secret::new(SECRET),
            ..OuraConfig::default()
        });
        let (status, _) =
            body_of(open.handshake(Some("verification_token=&challenge=x"), &HeaderMap::new()))
                .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
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
        fn arbitrary_valid_signatures_over_arbitrary_bodies_never_panic(
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
        ) {
            let ts = now_secs();
            let h = headers(&sign(SECRET, &ts, &body), &ts);
            let body = Bytes::from(body);
            let _ = verifier().verify(&IngestRequest { headers: &h, query: None, body: &body, peer: None, now_ms: NOW_MS });
        }

        #[test]
        fn arbitrary_queries_never_panic(q in ".{0,200}") {
            let _ = verifier().handshake(Some(&q), &HeaderMap::new());
        }
    }
}

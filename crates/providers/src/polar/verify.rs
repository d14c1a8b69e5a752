//! Polar AccessLink webhooks.
//!
//! No GET handshake: creating the webhook (`POST /v3/webhooks`) makes Polar POST a
//! `{"event":"PING","timestamp":…}` with `Polar-Webhook-Event: PING`, which must get 200.
//! The PING is accepted unsigned: the `signature_secret_key` is only returned by that
//! still-pending create call, so nobody can know it yet. A PING must not carry user data
//! (`user_id`, `entity_id`, `date`, `url`) and is never enqueued.
//!
//! Every other event must carry `Polar-Webhook-Signature` = hex(HMAC-SHA256(key =
//! `signature_secret_key` as UTF-8, msg = raw body)); either hex case is accepted (Polar
//! does not document the case; implementations send lower case). The body's `timestamp`
//! (ISO-8601) must be within `timestamp_tolerance_secs` (default 7 days: Polar retries a
//! failing webhook for up to 7 days before deactivating it), and an accepted signature is
//! refused when seen again (bounded replay guard). See docs/providers/polar.md.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use pulsegate_schema::{Provider, Secret};
use serde::Deserialize;
use serde_json::Value;

use crate::signing::{check_hex, check_window, hmac_sha256, ReplayGuard};
use crate::verifier::{IngestRequest, Notification, ProviderVerifier, Rejection};

/// Polar ingest settings (`[ingest.polar]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolarConfig {
    /// Mounts the route before the key is known (needed to answer the PING sent while
    /// the webhook is being created). With no key only PINGs are accepted.
    pub enabled: bool,
    /// The `signature_secret_key` returned by `POST /v3/webhooks`. Never logged.
    pub signature_secret_key: Secret,
    /// How far the body's `timestamp` may be from now, either way. Default 7 days.
    pub timestamp_tolerance_secs: u64,
    /// Signatures remembered to refuse replays (0 disables). Default 100 000.
    pub replay_capacity: usize,
}

impl Default for PolarConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            signature_secret_key: Secret::default(),
            timestamp_tolerance_secs: 7 * 24 * 3600,
            replay_capacity: 100_000,
        }
    }
}

impl PolarConfig {
    /// Mounted once enabled or once a signature key is configured.
    pub fn enabled(&self) -> bool {
        self.enabled || !self.signature_secret_key.is_empty()
    }
}

pub struct PolarVerifier {
    config: PolarConfig,
    replays: std::sync::Arc<ReplayGuard>,
}

impl PolarVerifier {
    pub fn new(config: PolarConfig) -> Self {
        let replays = std::sync::Arc::new(ReplayGuard::new(config.replay_capacity));
        Self { config, replays }
    }

    /// With a shared replay guard (kept across re-mounts, made durable by the handler).
    pub fn with_replays(config: PolarConfig, replays: std::sync::Arc<ReplayGuard>) -> Self {
        Self { config, replays }
    }
}

/// The fields ingest checks; the body itself is enqueued verbatim.
#[derive(Deserialize)]
struct PolarEvent {
    event: String,
    #[serde(default)]
    user_id: Option<Value>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    entity_id: Option<Value>,
    #[serde(default)]
    date: Option<Value>,
    #[serde(default)]
    url: Option<Value>,
}

const EVENT_HEADER: &str = "polar-webhook-event";
const SIGNATURE_HEADER: &str = "polar-webhook-signature";

impl ProviderVerifier for PolarVerifier {
    fn provider(&self) -> Provider {
        Provider::Polar
    }

    fn forget(&self, req: &IngestRequest<'_>) {
        // The replay key is the MAC, which equals the (verified) received signature.
        let received = req
            .headers
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok());
        if let Some(mac) = received.and_then(crate::signing::decode_hex) {
            self.replays.forget(&mac);
        }
    }

    fn replay_mark(&self, req: &IngestRequest<'_>) -> Option<crate::verifier::ReplayMark> {
        let received = req.headers.get(SIGNATURE_HEADER)?.to_str().ok()?;
        Some(crate::verifier::ReplayMark {
            key: crate::signing::decode_hex(received)?,
            ttl_ms: self.config.timestamp_tolerance_secs.saturating_mul(2000),
        })
    }

    /// Polar makes no GET request: 405 (the endpoint takes POSTs only).
    fn handshake(&self, _query: Option<&str>, _headers: &HeaderMap) -> Response {
        let mut r = crate::verifier::json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "Polar notifications are POSTed; there is no GET handshake",
        );
        r.headers_mut()
            .insert("allow", axum::http::HeaderValue::from_static("POST"));
        r.into_response()
    }

    fn verify(&self, req: &IngestRequest<'_>) -> Result<Vec<Notification>, Rejection> {
        let header_event = match req.headers.get(EVENT_HEADER) {
            Some(v) => Some(v.to_str().map_err(|_| {
                Rejection::Malformed("Polar-Webhook-Event is not valid text".into())
            })?),
            None => None,
        };
        let key = self.config.signature_secret_key.expose().as_bytes();
        let signature = req.headers.get(SIGNATURE_HEADER);
        // The signature is checked before the body is parsed: a tampered or forged body
        // gets 401. Unauthenticated bytes are parsed only when the event header says
        // PING (the creation PING is unsigned, or signed with a key we cannot know yet).
        let expected = match signature {
            Some(sig) if !key.is_empty() => {
                let sig = sig.to_str().map_err(|_| Rejection::Unauthorized)?;
                let expected = hmac_sha256(key, &[req.body.as_ref()]);
                match check_hex(sig, &expected, None) {
                    Ok(()) => expected,
                    Err(e) => return unsigned_ping(req.body, header_event).unwrap_or(Err(e)),
                }
            }
            _ => {
                return unsigned_ping(req.body, header_event)
                    .unwrap_or(Err(Rejection::Unauthorized))
            }
        };
        let ev: PolarEvent = serde_json::from_slice(req.body)
            .map_err(|_| Rejection::Malformed("not a Polar webhook event".into()))?;
        if let Some(h) = header_event {
            if h.trim() != ev.event {
                return Err(Rejection::Malformed(
                    "Polar-Webhook-Event differs from the body's event".into(),
                ));
            }
        }
        if ev.event == "PING" {
            return ping_result(&ev);
        }
        let ts = ev
            .timestamp
            .as_deref()
            .and_then(parse_iso8601_ms)
            .ok_or_else(|| Rejection::Malformed("timestamp must be ISO-8601".into()))?;
        check_window(
            ts,
            req.now_ms,
            self.config.timestamp_tolerance_secs.saturating_mul(1000),
        )?;
        let user = match &ev.user_id {
            Some(Value::Number(n)) if n.as_u64().is_some() => n.to_string(),
            Some(Value::String(s)) if !s.is_empty() && s.len() <= 64 => s.clone(),
            _ => {
                return Err(Rejection::Malformed(
                    "user_id must be a positive number".into(),
                ))
            }
        };
        if ev.event.is_empty() || ev.event.len() > 64 {
            return Err(Rejection::Malformed("event must be a short name".into()));
        }
        self.replays.check_and_record(&expected)?;
        Ok(vec![Notification {
            provider_user_id: user,
            body: req.body.clone(),
        }])
    }
}

/// The answer to a body that is not (validly) signed: `None` (refused as
/// unauthenticated) unless `Polar-Webhook-Event: PING` announces the creation PING,
/// which is then parsed: accepted with nothing enqueued, or 400 if it is not a clean
/// PING.
fn unsigned_ping(
    body: &[u8],
    header_event: Option<&str>,
) -> Option<Result<Vec<Notification>, Rejection>> {
    if header_event.map(str::trim) != Some("PING") {
        return None;
    }
    Some(match serde_json::from_slice::<PolarEvent>(body) {
        Ok(ev) if ev.event == "PING" => ping_result(&ev),
        Ok(_) => Err(Rejection::Malformed(
            "Polar-Webhook-Event differs from the body's event".into(),
        )),
        Err(_) => Err(Rejection::Malformed("not a Polar webhook event".into())),
    })
}

/// A PING is unsigned by necessity (see the module docs), so it may carry nothing.
fn ping_result(ev: &PolarEvent) -> Result<Vec<Notification>, Rejection> {
    if ev.user_id.is_some() || ev.entity_id.is_some() || ev.date.is_some() || ev.url.is_some() {
        return Err(Rejection::Malformed("a PING carries no user data".into()));
    }
    Ok(vec![])
}

/// `YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM|±HHMM]` → ms since the epoch (no zone = UTC).
fn parse_iso8601_ms(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut ms = 0i64;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let frac = &b[start..i.min(start + 3)];
        let mut v = 0i64;
        for (k, c) in frac.iter().enumerate() {
            v += i64::from(c - b'0') * [100, 10, 1][k];
        }
        ms = v;
    }
    let offset_secs = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let rest = &b[i + 1..];
            let (oh, om) = match rest.len() {
                5 if rest[2] == b':' => (num(i + 1..i + 3)?, num(i + 4..i + 6)?),
                4 => (num(i + 1..i + 3)?, num(i + 3..i + 5)?),
                _ => return None,
            };
            if oh > 14 || om > 59 {
                return None;
            }
            let v = oh * 3600 + om * 60;
            if sign == b'-' {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_secs;
    Some(secs * 1000 + ms)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use bytes::Bytes;
    use hmac::{Hmac, Mac};

    const KEY: &str = "e1f5a7c2-polar-signature-secret";
    // Polar's documented examples.
    const PING: &str = r#"{"event":"PING","timestamp":"2018-05-15T14:22:24Z"}"#;
    const EXERCISE: &str = r#"{"event":"EXERCISE","user_id":475,"entity_id":"aQlC83","timestamp":"2018-05-15T14:22:24Z","url":"https://www.polaraccesslink.com/v3/exercises/aQlC83"}"#;
    const SLEEP: &str = r#"{"event":"SLEEP","user_id":475,"date":"2018-05-15","timestamp":"2018-05-15T14:22:24Z","url":"https://www.polaraccesslink.com/v3/users/sleep/2018-05-15"}"#;
    /// 2018-05-15T14:22:24Z in ms.
    const EXAMPLE_MS: u64 = 1_526_394_144_000;

    fn verifier() -> PolarVerifier {
        PolarVerifier::new(PolarConfig {
            signature_secret_key: Secret::new(KEY),
            ..PolarConfig::default()
        })
    }

    /// An independent HMAC-SHA256 → lower-case hex.
    fn sign(key: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    fn headers(event: &str, sig: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(EVENT_HEADER, HeaderValue::from_str(event).unwrap());
        if let Some(s) = sig {
            h.insert(SIGNATURE_HEADER, HeaderValue::from_str(s).unwrap());
        }
        h
    }

    fn run(
        v: &PolarVerifier,
        h: &HeaderMap,
        body: &str,
        now_ms: u64,
    ) -> Result<Vec<Notification>, Rejection> {
        let body = Bytes::from(body.to_string());
        let mut req = IngestRequest::new(h, &body);
        req.now_ms = now_ms;
        v.verify(&req)
    }

    #[test]
    fn documented_exercise_and_sleep_are_accepted() {
        let v = verifier();
        for (event, body) in [("EXERCISE", EXERCISE), ("SLEEP", SLEEP)] {
            let sig = sign(KEY, body.as_bytes());
            let n = run(&v, &headers(event, Some(&sig)), body, EXAMPLE_MS + 60_000).unwrap();
            assert_eq!(n.len(), 1);
            assert_eq!(n[0].provider_user_id, "475");
            assert_eq!(n[0].body.as_ref(), body.as_bytes());
        }
    }

    #[test]
    fn ping_is_answered_unsigned_and_enqueues_nothing() {
        // Even before any key is configured.
        let v = PolarVerifier::new(PolarConfig {
            enabled: true,
            ..PolarConfig::default()
        });
        assert!(run(&v, &headers("PING", None), PING, EXAMPLE_MS)
            .unwrap()
            .is_empty());
        // A PING must not smuggle user data in.
        let with_user = r#"{"event":"PING","timestamp":"2018-05-15T14:22:24Z","user_id":475}"#;
        assert!(matches!(
            run(&v, &headers("PING", None), with_user, EXAMPLE_MS),
            Err(Rejection::Malformed(_))
        ));
        // Without a key nothing else is accepted.
        let sig = sign("", EXERCISE.as_bytes());
        assert_eq!(
            run(&v, &headers("EXERCISE", Some(&sig)), EXERCISE, EXAMPLE_MS).unwrap_err(),
            Rejection::Unauthorized
        );
        // Header and body must agree.
        assert!(matches!(
            run(&v, &headers("PING", None), EXERCISE, EXAMPLE_MS),
            Err(Rejection::Malformed(_))
        ));
        // Unsigned and not announced as a PING: not parsed, refused.
        assert_eq!(
            run(&v, &headers("EXERCISE", None), PING, EXAMPLE_MS).unwrap_err(),
            Rejection::Unauthorized
        );
    }

    #[test]
    fn tampered_wrong_key_wrong_encoding_missing_are_refused() {
        let v = verifier();
        let now = EXAMPLE_MS;
        let sig = sign(KEY, EXERCISE.as_bytes());
        let tampered = EXERCISE.replace("aQlC83\",\"timestamp", "aQlC84\",\"timestamp");
        assert_eq!(
            run(&v, &headers("EXERCISE", Some(&sig)), &tampered, now).unwrap_err(),
            Rejection::Unauthorized
        );
        let wrong = sign("another-key", EXERCISE.as_bytes());
        assert_eq!(
            run(&v, &headers("EXERCISE", Some(&wrong)), EXERCISE, now).unwrap_err(),
            Rejection::Unauthorized
        );
        // Base64 of the right MAC: wrong encoding.
        use base64::Engine;
        let raw = hex::decode(&sig).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
        assert_eq!(
            run(&v, &headers("EXERCISE", Some(&b64)), EXERCISE, now).unwrap_err(),
            Rejection::Unauthorized
        );
        assert_eq!(
            run(&v, &headers("EXERCISE", None), EXERCISE, now).unwrap_err(),
            Rejection::Unauthorized
        );
        // Upper-case hex of the right MAC is accepted (the case is not documented).
        let fresh = EXERCISE.replace("14:22:24Z", "14:22:25Z");
        let upper = sign(KEY, fresh.as_bytes()).to_uppercase();
        assert!(run(&v, &headers("EXERCISE", Some(&upper)), &fresh, now).is_ok());
    }

    /// Issue 10, finding 10: the signature is checked before the JSON is parsed, so a
    /// tampered body that no longer parses gets 401 (it got 400 before).
    #[test]
    fn a_tampered_body_is_refused_before_it_is_parsed() {
        let v = verifier();
        let sig = sign(KEY, EXERCISE.as_bytes());
        for tampered in [
            EXERCISE.replacen('{', "[", 1),
            format!("{EXERCISE}garbage"),
            EXERCISE[..EXERCISE.len() - 1].to_string(),
            "\u{0}\u{ff}".to_string(),
        ] {
            assert_eq!(
                run(&v, &headers("EXERCISE", Some(&sig)), &tampered, EXAMPLE_MS).unwrap_err(),
                Rejection::Unauthorized,
                "{tampered}"
            );
        }
        // Garbage announced as EXERCISE without a signature: 401, not 400.
        assert_eq!(
            run(&v, &headers("EXERCISE", None), "{not json", EXAMPLE_MS).unwrap_err(),
            Rejection::Unauthorized
        );
        // A signed PING is fine whatever key signed it.
        let other = sign("not-our-key", PING.as_bytes());
        assert!(run(&v, &headers("PING", Some(&other)), PING, EXAMPLE_MS)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn stale_and_replayed_are_refused() {
        let v = verifier();
        let sig = sign(KEY, EXERCISE.as_bytes());
        let h = headers("EXERCISE", Some(&sig));
        let eight_days = 8 * 24 * 3600 * 1000;
        assert_eq!(
            run(&v, &h, EXERCISE, EXAMPLE_MS + eight_days).unwrap_err(),
            Rejection::Stale
        );
        assert_eq!(
            run(&v, &h, EXERCISE, EXAMPLE_MS - eight_days).unwrap_err(),
            Rejection::Stale
        );
        // Six days late (a Polar retry) is fine, once.
        let six_days = 6 * 24 * 3600 * 1000;
        assert!(run(&v, &h, EXERCISE, EXAMPLE_MS + six_days).is_ok());
        assert_eq!(
            run(&v, &h, EXERCISE, EXAMPLE_MS + six_days).unwrap_err(),
            Rejection::Replayed
        );
        // The bus refused it (503): forgotten, so Polar's retry gets through, once.
        let body = Bytes::from_static(EXERCISE.as_bytes());
        v.forget(&IngestRequest::new(&h, &body));
        assert!(run(&v, &h, EXERCISE, EXAMPLE_MS + six_days).is_ok());
        assert_eq!(
            run(&v, &h, EXERCISE, EXAMPLE_MS + six_days).unwrap_err(),
            Rejection::Replayed
        );
        // A configured 5-minute window.
        let strict = PolarVerifier::new(PolarConfig {
            signature_secret_key: Secret::new(KEY),
            timestamp_tolerance_secs: 300,
            ..PolarConfig::default()
        });
        assert_eq!(
            run(&strict, &h, EXERCISE, EXAMPLE_MS + 301_000).unwrap_err(),
            Rejection::Stale
        );
    }

    #[test]
    fn signed_but_malformed() {
        let v = verifier();
        for body in [
            r#"{"event":"EXERCISE","user_id":475,"timestamp":"yesterday"}"#,
            r#"{"event":"EXERCISE","timestamp":"2018-05-15T14:22:24Z"}"#,
            r#"{"event":"EXERCISE","user_id":-3,"timestamp":"2018-05-15T14:22:24Z"}"#,
            r#"[1,2]"#,
        ] {
            let sig = sign(KEY, body.as_bytes());
            assert!(
                matches!(
                    run(&v, &headers("EXERCISE", Some(&sig)), body, EXAMPLE_MS),
                    Err(Rejection::Malformed(_))
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn iso8601() {
        assert_eq!(
            parse_iso8601_ms("2018-05-15T14:22:24Z"),
            Some(EXAMPLE_MS as i64)
        );
        assert_eq!(
            parse_iso8601_ms("2018-05-15T14:22:24"),
            Some(EXAMPLE_MS as i64)
        );
        assert_eq!(
            parse_iso8601_ms("2018-05-15T17:22:24.250+03:00"),
            Some(EXAMPLE_MS as i64 + 250)
        );
        assert_eq!(
            parse_iso8601_ms("2018-05-15T12:22:24-0200"),
            Some(EXAMPLE_MS as i64)
        );
        assert_eq!(parse_iso8601_ms("1970-01-01T00:00:00Z"), Some(0));
        for bad in [
            "",
            "2018-05-15",
            "2018-13-15T14:22:24Z",
            "2018-05-15T14:22:24Q",
            "2018-05-15T14:22:24+3",
        ] {
            assert_eq!(parse_iso8601_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn handshake_is_not_offered() {
        let r = verifier().handshake(Some("a=b"), &HeaderMap::new());
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_input_never_panics(
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
            event in "[ -~]{0,20}",
            sig in "[ -~]{0,80}",
        ) {
            let v = verifier();
            let mut h = HeaderMap::new();
            if let Ok(e) = HeaderValue::from_str(&event) { h.insert(EVENT_HEADER, e); }
            if let Ok(s) = HeaderValue::from_str(&sig) { h.insert(SIGNATURE_HEADER, s); }
            let body = Bytes::from(body);
            let _ = v.verify(&IngestRequest::new(&h, &body));
        }

        #[test]
        fn arbitrary_timestamps_never_panic(ts in ".{0,40}") {
            let _ = parse_iso8601_ms(&ts);
        }
    }
}

//! Huawei Health Kit (Health Service Kit) cloud data subscriptions.
//!
//! Handshake: the console's connectivity test must get **204 No Content**. It may be a
//! `GET`/`HEAD` (answered 204 by [`handshake`](HuaweiVerifier::handshake)) or a `POST`
//! that carries no notification (no `x-notification-signature` header and a body with
//! none of `openId`/`eventType`/`eventTime`): that is a ping, answered 204 and not
//! enqueued. Everything that looks like a notification must be signed.
//!
//! Verification (Huawei's "订阅事件通知" API page): `x-notification-signature` =
//! Base64(HMAC-SHA256(key = Base64-decode(subscriber Secret),
//! msg = UTF-8 `openId + "_" + eventType + "_" + eventTime`)). Only those three fields
//! are signed, not the body. `eventTime` is signed exactly as it appears in the body
//! (digits of a JSON number, or a string of digits). Its unit is not documented:
//! values ≥ 10^11 are read as milliseconds, smaller ones as seconds (10^11 s is the
//! year 5138, 10^11 ms is 1973), and the time must be within `tolerance_secs` of now.
//! A signature accepted once is refused again while remembered (replay guard).
//! Successful pushes are answered 204, as Huawei expects.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use pulsegate_schema::{Provider, Secret};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::signing::{check_base64, check_window, decode_base64, hmac_sha256, ReplayGuard};
use crate::verifier::{IngestRequest, Notification, ProviderVerifier, Rejection};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-notification-signature";

/// `eventTime` values at or above this are milliseconds; below, seconds.
const MS_THRESHOLD: u64 = 100_000_000_000;

/// Huawei ingest settings (`[ingest.huawei]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HuaweiConfig {
    /// The subscriber **Secret** shown on the Health Kit card of the console, as shown
    /// (Base64). A value that does not Base64-decode is refused at start-up. Empty
    /// disables Huawei.
    #[serde(deserialize_with = "base64_secret")]
    pub subscriber_secret: Secret,
    /// The Subscriber ID from the console card. When set, a notification whose body
    /// carries a different `subscriberId` is refused with 403 (bodies without that
    /// field are accepted: Huawei does not document it).
    pub subscriber_id: String,
    /// Accepted distance between `eventTime` and now, either way. Default 300 s.
    pub tolerance_secs: u64,
    /// How many accepted signatures are remembered to refuse replays. 0 disables.
    pub replay_capacity: usize,
}

impl Default for HuaweiConfig {
    fn default() -> Self {
        Self {
            subscriber_secret: Secret::default(),
            subscriber_id: String::new(),
            tolerance_secs: 300,
            replay_capacity: 100_000,
        }
    }
}

impl HuaweiConfig {
    /// Mounted once a subscriber secret is configured.
    pub fn enabled(&self) -> bool {
        !self.subscriber_secret.is_empty()
    }
}

/// The HMAC key: the Base64-decoded secret (Java's decoder, which Huawei's sample
/// uses, accepts it with or without padding). `None` if it does not decode.
pub fn decode_secret(secret: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let s = secret.trim();
    decode_base64(s)
        .or_else(|| {
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(s.as_bytes())
                .ok()
        })
        .filter(|k| !k.is_empty())
}

fn base64_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
    let s = String::deserialize(d)?;
    if !s.is_empty() && decode_secret(&s).is_none() {
        return Err(serde::de::Error::custom(
            "must be the Base64 subscriber Secret from the Health Kit console card (it does not Base64-decode)",
        ));
    }
    Ok(Secret::new(s))
}

pub struct HuaweiVerifier {
    config: HuaweiConfig,
    /// `None` when the secret does not decode (only possible when built without serde):
    /// every notification is then refused.
    key: Option<Vec<u8>>,
    replays: std::sync::Arc<ReplayGuard>,
}

impl HuaweiVerifier {
    pub fn new(config: HuaweiConfig) -> Self {
        let replays = std::sync::Arc::new(ReplayGuard::new(config.replay_capacity));
        Self::with_replays(config, replays)
    }

    /// With a shared replay guard (kept across re-mounts, made durable by the handler).
    pub fn with_replays(config: HuaweiConfig, replays: std::sync::Arc<ReplayGuard>) -> Self {
        let key = decode_secret(config.subscriber_secret.expose());
        if key.is_none() && config.enabled() {
            tracing::error!(
                "ingest.huawei.subscriber_secret does not Base64-decode: every notification will be refused"
            );
        }
        Self {
            config,
            key,
            replays,
        }
    }
}

/// The signed fields of a notification, `eventTime` as it appears in the body.
#[derive(Debug, PartialEq, Eq)]
pub struct SignedFields {
    pub open_id: String,
    pub event_type: String,
    pub event_time: String,
}

impl SignedFields {
    /// The signed string `openId_eventType_eventTime`.
    pub fn message(&self) -> String {
        format!("{}_{}_{}", self.open_id, self.event_type, self.event_time)
    }

    /// `eventTime` in ms since the epoch (see the module docs for the unit rule).
    pub fn event_time_ms(&self) -> Option<i64> {
        let v: u64 = self.event_time.parse().ok()?;
        let ms = if v >= MS_THRESHOLD {
            v
        } else {
            v.checked_mul(1000)?
        };
        i64::try_from(ms).ok()
    }
}

/// True if the object has any of the fields a notification carries.
fn looks_like_notification(v: &Value) -> bool {
    v.as_object().is_some_and(|o| {
        o.contains_key("openId") || o.contains_key("eventType") || o.contains_key("eventTime")
    })
}

/// The signed fields of a notification body.
pub fn signed_fields(obj: &Map<String, Value>) -> Result<SignedFields, Rejection> {
    let text = |name: &str| -> Result<String, Rejection> {
        match obj.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(_) => Err(Rejection::Malformed(format!(
                "{name} must be a non-empty string"
            ))),
            None => Err(Rejection::Malformed(format!("{name} is missing"))),
        }
    };
    let open_id = text("openId")?;
    let event_type = text("eventType")?;
    let event_time = match obj.get("eventTime") {
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) => v.to_string(),
            None => {
                return Err(Rejection::Malformed(
                    "eventTime must be a non-negative integer".into(),
                ))
            }
        },
        Some(Value::String(s))
            if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            s.clone()
        }
        Some(_) => {
            return Err(Rejection::Malformed(
                "eventTime must be an integer timestamp".into(),
            ))
        }
        None => return Err(Rejection::Malformed("eventTime is missing".into())),
    };
    Ok(SignedFields {
        open_id,
        event_type,
        event_time,
    })
}

impl ProviderVerifier for HuaweiVerifier {
    fn provider(&self) -> Provider {
        Provider::Huawei
    }

    fn forget(&self, req: &IngestRequest<'_>) {
        // The replay key is the MAC, which equals the (verified) received signature.
        let received = req
            .headers
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok());
        if let Some(mac) = received.and_then(crate::signing::decode_base64) {
            self.replays.forget(&mac);
        }
    }

    fn replay_mark(&self, req: &IngestRequest<'_>) -> Option<crate::verifier::ReplayMark> {
        let received = req.headers.get(SIGNATURE_HEADER)?.to_str().ok()?;
        Some(crate::verifier::ReplayMark {
            key: crate::signing::decode_base64(received)?,
            ttl_ms: self.config.tolerance_secs.saturating_mul(2000),
        })
    }

    /// The console's connectivity test by `GET`/`HEAD`: 204, whatever the query.
    fn handshake(&self, _query: Option<&str>, _headers: &HeaderMap) -> Response {
        StatusCode::NO_CONTENT.into_response()
    }

    fn verify(&self, req: &IngestRequest<'_>) -> Result<Vec<Notification>, Rejection> {
        let body = req.body;
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let Some(signature) = req.headers.get(SIGNATURE_HEADER) else {
            // Unsigned: a connectivity probe if it carries no notification.
            if body.trim_ascii().is_empty() {
                return Ok(vec![]);
            }
            return match parsed {
                Some(v) if looks_like_notification(&v) => Err(Rejection::Unauthorized),
                Some(_) => Ok(vec![]),
                None => Err(Rejection::Malformed("body is not JSON".into())),
            };
        };
        let signature = signature
            .to_str()
            .map_err(|_| Rejection::Malformed(format!("{SIGNATURE_HEADER} is not valid text")))?;
        let obj = match &parsed {
            Some(Value::Object(o)) => o,
            _ => return Err(Rejection::Malformed("body is not a JSON object".into())),
        };
        let fields = signed_fields(obj)?;
        let key = self.key.as_deref().ok_or(Rejection::Unauthorized)?;
        let expected = hmac_sha256(key, &[fields.message().as_bytes()]);
        check_base64(signature, &expected)?;
        let ts = fields.event_time_ms().ok_or(Rejection::Stale)?;
        check_window(
            ts,
            req.now_ms,
            self.config.tolerance_secs.saturating_mul(1000),
        )?;
        if !self.config.subscriber_id.is_empty() {
            if let Some(sid) = obj.get("subscriberId") {
                if sid.as_str() != Some(self.config.subscriber_id.as_str()) {
                    return Err(Rejection::Forbidden("unknown subscriberId"));
                }
            }
        }
        // The expected MAC equals the received one here; it is the replay key.
        self.replays.check_and_record(&expected)?;
        Ok(vec![Notification {
            provider_user_id: fields.open_id,
            body: body.clone(),
        }])
    }

    fn accepted_status(&self) -> StatusCode {
        StatusCode::NO_CONTENT
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use base64::Engine;
    use bytes::Bytes;
    use hmac::{Hmac, Mac};

    const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
    /// A subscriber Secret as the console shows it (Base64 of 32 bytes).
    const SECRET: &str = "c3Vic2NyaWJlci1zZWNyZXQtZm9yLXB1bHNlZ2F0ZSE=";
    const OPEN_ID: &str = "MDFAMTAxMjc4NTAxQDk4ZjE2ZTQ4ZmNkNTFkYWU2MDk5MGFlNWY1";
    const EVENT_TIME_MS: u64 = 1_592_911_122_916;

    /// Huawei's sample, re-done independently: HMAC-SHA256 keyed with the decoded
    /// Secret over `openId_eventType_eventTime`, Base64.
    fn raw_mac(key: &[u8], msg: &str) -> Vec<u8> {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
        mac.update(msg.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    fn sign(secret_b64: &str, open_id: &str, event_type: &str, event_time: &str) -> String {
        let key = B64.decode(secret_b64).unwrap();
        B64.encode(raw_mac(
            &key,
            &format!("{open_id}_{event_type}_{event_time}"),
        ))
    }

    fn verifier() -> HuaweiVerifier {
        HuaweiVerifier::new(HuaweiConfig {
            subscriber_secret: Secret::new(SECRET),
            subscriber_id: "sub-1".into(),
            ..HuaweiConfig::default()
        })
    }

    /// A notification with the fields Huawei documents (eventType, eventTime, openId,
    /// metaData with the activity-record metaKeys).
    fn example(event_type: &str, event_time: &str) -> String {
        format!(
            r#"{{"subscriberId":"sub-1","subscriptionId":"0000001","openId":"{OPEN_ID}","eventType":"{event_type}","eventTime":{event_time},"metaData":{{"startTime":"1592905552721","endTime":"1592906207222","activityType":"5","timeZone":"+0800"}}}}"#
        )
    }

    fn request<'a>(headers: &'a HeaderMap, body: &'a Bytes, now_ms: u64) -> IngestRequest<'a> {
        IngestRequest {
            now_ms,
            ..IngestRequest::new(headers, body)
        }
    }

    fn headers(sig: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(SIGNATURE_HEADER, HeaderValue::from_str(sig).unwrap());
        h
    }

    fn verify(
        v: &HuaweiVerifier,
        sig: &str,
        body: &str,
        now_ms: u64,
    ) -> Result<Vec<Notification>, Rejection> {
        let h = headers(sig);
        let b = Bytes::from(body.to_string());
        v.verify(&request(&h, &b, now_ms))
    }

    const ET: &str = "ACTIVITY_RECORD_EVENT$UPDATE";

    #[test]
    fn documented_notification_is_accepted() {
        let t = EVENT_TIME_MS.to_string();
        let body = example(ET, &t);
        let sig = sign(SECRET, OPEN_ID, ET, &t);
        let n = verify(&verifier(), &sig, &body, EVENT_TIME_MS + 2_000).unwrap();
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].provider_user_id, OPEN_ID);
        assert_eq!(n[0].body.as_ref(), body.as_bytes());
        assert_eq!(verifier().accepted_status(), StatusCode::NO_CONTENT);
    }

    #[test]
    fn event_time_in_seconds_or_as_string() {
        let secs = (EVENT_TIME_MS / 1000).to_string();
        let sig = sign(SECRET, OPEN_ID, ET, &secs);
        assert!(verify(&verifier(), &sig, &example(ET, &secs), EVENT_TIME_MS).is_ok());
        let quoted = format!("\"{EVENT_TIME_MS}\"");
        let sig = sign(SECRET, OPEN_ID, ET, &EVENT_TIME_MS.to_string());
        assert!(verify(&verifier(), &sig, &example(ET, &quoted), EVENT_TIME_MS).is_ok());
    }

    #[test]
    fn tampered_signed_fields_wrong_key_and_wrong_encodings_are_refused() {
        let t = EVENT_TIME_MS.to_string();
        let body = example(ET, &t);
        let good = sign(SECRET, OPEN_ID, ET, &t);
        let now = EVENT_TIME_MS;
        // Tampered: another user, another event type, another time.
        let other_user = body.replace(OPEN_ID, "someone-else");
        assert_eq!(
            verify(&verifier(), &good, &other_user, now).unwrap_err(),
            Rejection::Unauthorized
        );
        let other_type = body.replace(ET, "USER_EVENT$REVOKE_ALL");
        assert_eq!(
            verify(&verifier(), &good, &other_type, now).unwrap_err(),
            Rejection::Unauthorized
        );
        let other_time = example(ET, &(EVENT_TIME_MS + 1).to_string());
        assert_eq!(
            verify(&verifier(), &good, &other_time, now).unwrap_err(),
            Rejection::Unauthorized
        );
        // Wrong key.
        let wrong = sign("b3RoZXItc2VjcmV0", OPEN_ID, ET, &t);
        assert_eq!(
            verify(&verifier(), &wrong, &body, now).unwrap_err(),
            Rejection::Unauthorized
        );
        // The Secret used as is instead of Base64-decoded.
        let undecoded = B64.encode(raw_mac(SECRET.as_bytes(), &format!("{OPEN_ID}_{ET}_{t}")));
        assert_eq!(
            verify(&verifier(), &undecoded, &body, now).unwrap_err(),
            Rejection::Unauthorized
        );
        // Right MAC, wrong encodings: hex, unpadded and URL-safe Base64.
        let mac = raw_mac(&B64.decode(SECRET).unwrap(), &format!("{OPEN_ID}_{ET}_{t}"));
        let hex_sig = hex::encode(&mac);
        assert_eq!(
            verify(&verifier(), &hex_sig, &body, now).unwrap_err(),
            Rejection::Unauthorized
        );
        let unpadded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&mac);
        assert_ne!(unpadded, good);
        assert_eq!(
            verify(&verifier(), &unpadded, &body, now).unwrap_err(),
            Rejection::Unauthorized
        );
        // Separators matter: no underscores.
        let joined = B64.encode(raw_mac(
            &B64.decode(SECRET).unwrap(),
            &format!("{OPEN_ID}{ET}{t}"),
        ));
        assert_eq!(
            verify(&verifier(), &joined, &body, now).unwrap_err(),
            Rejection::Unauthorized
        );
        // The untouched notification still passes.
        assert!(verify(&verifier(), &good, &body, now).is_ok());
    }

    #[test]
    fn the_body_outside_the_signed_fields_is_not_protected() {
        // Documented by Huawei: only openId/eventType/eventTime are signed.
        let t = EVENT_TIME_MS.to_string();
        let sig = sign(SECRET, OPEN_ID, ET, &t);
        let body = example(ET, &t).replace("1592906207222", "1592906999999");
        assert!(verify(&verifier(), &sig, &body, EVENT_TIME_MS).is_ok());
    }

    #[test]
    fn stale_and_future_event_times_are_refused() {
        let t = EVENT_TIME_MS.to_string();
        let sig = sign(SECRET, OPEN_ID, ET, &t);
        let body = example(ET, &t);
        let v = verifier();
        assert_eq!(
            verify(&v, &sig, &body, EVENT_TIME_MS + 301_000).unwrap_err(),
            Rejection::Stale
        );
        assert_eq!(
            verify(&v, &sig, &body, EVENT_TIME_MS - 301_000).unwrap_err(),
            Rejection::Stale
        );
        assert_eq!(Rejection::Stale.status(), StatusCode::UNAUTHORIZED);
        // Inside the window it passes.
        assert!(verify(&v, &sig, &body, EVENT_TIME_MS + 299_000).is_ok());
        // A configurable window.
        let narrow = HuaweiVerifier::new(HuaweiConfig {
            subscriber_secret: Secret::new(SECRET),
            tolerance_secs: 10,
            ..HuaweiConfig::default()
        });
        assert_eq!(
            verify(&narrow, &sig, &body, EVENT_TIME_MS + 11_000).unwrap_err(),
            Rejection::Stale
        );
    }

    #[test]
    fn replays_are_refused() {
        let t = EVENT_TIME_MS.to_string();
        let sig = sign(SECRET, OPEN_ID, ET, &t);
        let body = example(ET, &t);
        let v = verifier();
        assert!(verify(&v, &sig, &body, EVENT_TIME_MS).is_ok());
        assert_eq!(
            verify(&v, &sig, &body, EVENT_TIME_MS).unwrap_err(),
            Rejection::Replayed
        );
        // A failed verification does not use up the signature.
        let v = verifier();
        assert!(verify(&v, &sig, &body, EVENT_TIME_MS + 400_000).is_err());
        assert!(verify(&v, &sig, &body, EVENT_TIME_MS).is_ok());
    }

    #[test]
    fn subscriber_id_is_checked_when_both_are_present() {
        let t = EVENT_TIME_MS.to_string();
        let sig = sign(SECRET, OPEN_ID, ET, &t);
        let other = example(ET, &t).replace("sub-1", "sub-2");
        assert_eq!(
            verify(&verifier(), &sig, &other, EVENT_TIME_MS).unwrap_err(),
            Rejection::Forbidden("unknown subscriberId")
        );
        let absent = example(ET, &t).replace(r#""subscriberId":"sub-1","#, "");
        assert!(verify(&verifier(), &sig, &absent, EVENT_TIME_MS).is_ok());
    }

    #[test]
    fn connectivity_probes_and_unsigned_notifications() {
        let v = verifier();
        let none = HeaderMap::new();
        for probe in ["", "  ", "{}", r#"{"test":true}"#, "[]"] {
            let b = Bytes::from(probe);
            assert!(
                v.verify(&request(&none, &b, EVENT_TIME_MS))
                    .unwrap()
                    .is_empty(),
                "{probe:?}"
            );
        }
        let unsigned = Bytes::from(example(ET, &EVENT_TIME_MS.to_string()));
        assert_eq!(
            v.verify(&request(&none, &unsigned, EVENT_TIME_MS))
                .unwrap_err(),
            Rejection::Unauthorized
        );
        let garbage = Bytes::from_static(b"not json");
        assert!(matches!(
            v.verify(&request(&none, &garbage, EVENT_TIME_MS)),
            Err(Rejection::Malformed(_))
        ));
        let r = v.handshake(Some("anything=1"), &none);
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }

    #[test]
    fn malformed_signed_bodies() {
        let sig = sign(SECRET, OPEN_ID, ET, "1");
        let cases = [
            "not json".to_string(),
            "[1,2]".to_string(),
            format!(r#"{{"openId":"{OPEN_ID}","eventType":"{ET}"}}"#),
            format!(r#"{{"openId":"{OPEN_ID}","eventType":"{ET}","eventTime":1.5}}"#),
            format!(r#"{{"openId":"{OPEN_ID}","eventType":"{ET}","eventTime":-3}}"#),
            format!(r#"{{"openId":"{OPEN_ID}","eventType":"{ET}","eventTime":"2020-06-23"}}"#),
            format!(r#"{{"openId":"","eventType":"{ET}","eventTime":1}}"#),
            format!(r#"{{"openId":7,"eventType":"{ET}","eventTime":1}}"#),
        ];
        for body in cases {
            assert!(
                matches!(
                    verify(&verifier(), &sig, &body, 0),
                    Err(Rejection::Malformed(_))
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn config_refuses_a_secret_that_does_not_decode() {
        let ok: HuaweiConfig =
            serde_json::from_value(serde_json::json!({"subscriber_secret": SECRET})).unwrap();
        assert!(ok.enabled());
        assert_eq!(ok.tolerance_secs, 300);
        let unpadded: HuaweiConfig = serde_json::from_value(
            serde_json::json!({"subscriber_secret": SECRET.trim_end_matches('=')}),
        )
        .unwrap();
        assert_eq!(
            decode_secret(unpadded.subscriber_secret.expose()),
            B64.decode(SECRET).ok()
        );
        let err = serde_json::from_value::<HuaweiConfig>(
            serde_json::json!({"subscriber_secret": "not base64!"}),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("Base64"), "{err}");
        assert!(
            !err.contains("not base64!"),
            "the message must not echo the secret: {err}"
        );
        let disabled: HuaweiConfig = serde_json::from_value(serde_json::json!({})).unwrap();
        assert!(!disabled.enabled());
        assert!(
            serde_json::from_value::<HuaweiConfig>(serde_json::json!({"secret": "x"})).is_err()
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bodies_and_headers_never_panic(
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
            sig in "[ -~]{0,80}",
            open_id in ".{0,20}",
            event_time in proptest::num::u64::ANY,
        ) {
            let v = verifier();
            let b = Bytes::from(body);
            let h = headers(&sig);
            let _ = v.verify(&request(&h, &b, EVENT_TIME_MS));
            let _ = v.verify(&request(&HeaderMap::new(), &b, EVENT_TIME_MS));
            let json = serde_json::json!({"openId": open_id, "eventType": ET, "eventTime": event_time});
            let b = Bytes::from(json.to_string());
            let _ = v.verify(&request(&h, &b, u64::MAX));
        }
    }
}

//! Fitbit Web API subscriptions (legacy; Fitbit retires this API in 2026 in favour of
//! the Google Health API — see docs/providers/fitbit.md).
//!
//! Handshake: Fitbit verifies the subscriber endpoint with two `GET ?verify=<code>`
//! requests: the right subscriber verification code must be answered 204, a wrong one
//! 404. Notifications are `POST`ed as a JSON array (possibly batching several users),
//! signed with `X-Fitbit-Signature` = Base64(HMAC-SHA1(key = client_secret + "&",
//! msg = raw body)). Accepted pushes are answered 204. Fitbit signs no timestamp, so
//! replays are refused by content: a body whose SHA-256 was accepted within
//! `replay_window_secs` (default 5 minutes) gets 401 `replay`. The window is short
//! because a genuine body repeats byte for byte every time a user syncs the same day
//! (a longer window would drop real updates); a replay after it only triggers a
//! refetch, and the normalizer's content-derived event ids make that harmless.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use pulsegate_schema::{Provider, Secret};
use serde::Deserialize;
use serde_json::value::RawValue;

use pulsegate_schema::form::pairs as form_pairs;
use crate::signing;
use crate::verifier::{IngestRequest, Notification, PerUserBatches, ProviderVerifier, Rejection};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-fitbit-signature";

/// Fitbit ingest settings (`[ingest.fitbit]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FitbitConfig {
    /// The subscriber verification code shown on the application's page at
    /// dev.fitbit.com (answered 204 on `GET ?verify=<code>`).
    pub verification_code: Secret,
    /// The application's client secret: the signature key is `client_secret + "&"`.
    pub client_secret: Secret,
    /// How long an accepted body is refused when it comes again (replay guard by
    /// content hash). Default 300 s; 0 disables.
    pub replay_window_secs: u64,
    /// Bodies remembered at most (oldest forgotten first). Default 100 000.
    pub replay_capacity: usize,
}

impl Default for FitbitConfig {
    fn default() -> Self {
        Self {
            verification_code: Secret::default(),
            client_secret: Secret::default(),
            replay_window_secs: 300,
            replay_capacity: 100_000,
        }
    }
}

impl FitbitConfig {
    /// Mounted once both the verification code and the client secret are configured.
    pub fn enabled(&self) -> bool {
        !self.verification_code.is_empty() && !self.client_secret.is_empty()
    }
}

pub struct FitbitVerifier {
    config: FitbitConfig,
    replays: std::sync::Arc<signing::ReplayGuard>,
}

impl FitbitVerifier {
    pub fn new(config: FitbitConfig) -> Self {
        let replays = std::sync::Arc::new(signing::ReplayGuard::new(config.replay_capacity));
        Self { config, replays }
    }

    /// With a shared replay guard (kept across re-mounts, made durable by the handler).
    pub fn with_replays(
        config: FitbitConfig,
        replays: std::sync::Arc<signing::ReplayGuard>,
    ) -> Self {
        Self { config, replays }
    }

    fn window_ms(&self) -> u64 {
        self.config.replay_window_secs.saturating_mul(1000)
    }

    fn check_signature(&self, req: &IngestRequest<'_>) -> Result<(), Rejection> {
        let received = signing::header(req.headers, SIGNATURE_HEADER)?;
        let mut key = self.config.client_secret.expose().as_bytes().to_vec();
        key.push(b'&');
        let expected = signing::hmac_sha1(&key, &[req.body.as_ref()]);
        signing::check_base64(received, &expected)
    }
}

/// One entry of Fitbit's notification array, as documented. Every field is required.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FitbitEntry<'a> {
    #[serde(borrow)]
    collection_type: &'a str,
    #[serde(borrow)]
    date: &'a str,
    #[serde(borrow)]
    owner_id: &'a str,
    #[serde(borrow)]
    owner_type: &'a str,
    #[allow(
        dead_code,
        reason = "required in the payload (shape check), never read"
    )]
    subscription_id: serde::de::IgnoredAny,
}

impl ProviderVerifier for FitbitVerifier {
    fn provider(&self) -> Provider {
        Provider::Fitbit
    }

    fn handshake(&self, query: Option<&str>, _headers: &HeaderMap) -> Response {
        let code = form_pairs(query.unwrap_or(""))
            .into_iter()
            .find(|(k, _)| k == "verify")
            .map(|(_, v)| v);
        match code {
            Some(code)
                if signing::constant_time_eq(
                    code.as_bytes(),
                    self.config.verification_code.expose().as_bytes(),
                ) =>
            {
                StatusCode::NO_CONTENT.into_response()
            }
            // Fitbit checks that a wrong code is refused with 404.
            _ => StatusCode::NOT_FOUND.into_response(),
        }
    }

    fn verify(&self, req: &IngestRequest<'_>) -> Result<Vec<Notification>, Rejection> {
        self.check_signature(req)?;
        let text = std::str::from_utf8(req.body)
            .map_err(|_| Rejection::Malformed("body is not UTF-8".into()))?;
        let items: Vec<&RawValue> = serde_json::from_str(text).map_err(|e| {
            Rejection::malformed("not a Fitbit notification array", e)
        })?;
        let mut batches = PerUserBatches::default();
        for item in &items {
            let entry: FitbitEntry<'_> = serde_json::from_str(item.get()).map_err(|e| {
                Rejection::malformed("not a Fitbit notification", e)
            })?;
            check_entry(&entry)?;
            batches.push(entry.owner_id, item.get());
        }
        // Recorded last: a request refused above is refused the same way when replayed.
        if self.window_ms() > 0 && !items.is_empty() {
            self.replays.check_and_record_until(
                &body_hash(req.body),
                req.now_ms.saturating_add(self.window_ms()),
                req.now_ms,
            )?;
        }
        Ok(batches.into_notifications())
    }

    fn accepted_status(&self) -> StatusCode {
        StatusCode::NO_CONTENT
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

/// The replay key of a Fitbit body: its SHA-256.
fn body_hash(body: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(body).to_vec()
}

fn check_entry(e: &FitbitEntry<'_>) -> Result<(), Rejection> {
    if e.collection_type.is_empty() || e.collection_type.len() > 64 {
        return Err(Rejection::Malformed("collectionType is invalid".into()));
    }
    if e.owner_type != "user" {
        return Err(Rejection::Malformed("ownerType must be user".into()));
    }
    let id_ok = !e.owner_id.is_empty()
        && e.owner_id.len() <= 64
        && e.owner_id.bytes().all(|b| b.is_ascii_alphanumeric());
    if !id_ok {
        return Err(Rejection::Malformed("ownerId is invalid".into()));
    }
    if !is_date(e.date) {
        return Err(Rejection::Malformed("date must be yyyy-MM-dd".into()));
    }
    Ok(())
}

/// `yyyy-MM-dd`, digits in the right places (the normalizer parses it fully).
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
}


#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use bytes::Bytes;
    use hmac::{Hmac, Mac};

    const SECRET: &str = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6";
    const CODE: &str = "2cd4f8e1a6b3d9c7";

    fn verifier() -> FitbitVerifier {
        FitbitVerifier::new(FitbitConfig {
            verification_code: Secret::new(CODE),
            client_secret: Secret::new(SECRET),
            ..FitbitConfig::default()
        })
    }

    // Fitbit's documented example notification (two users, one entry each), verbatim.
    const EXAMPLE: &str = r#"[{"collectionType":"foods","date":"2010-03-01","ownerId":"228S74","ownerType":"user","subscriptionId":"1234"},{"collectionType":"activities","date":"2010-03-01","ownerId":"X1Y2Z3","ownerType":"user","subscriptionId":"2345"}]"#;

    /// Independent signature: HMAC-SHA1 over the raw body with `secret&`, Base64.
    fn sign(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(format!("{secret}&").as_bytes()).unwrap();
        mac.update(body);
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }

    fn raw_mac(secret: &str, body: &[u8]) -> Vec<u8> {
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(format!("{secret}&").as_bytes()).unwrap();
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }

    fn verify_with(sig: Option<&str>, body: &str) -> Result<Vec<Notification>, Rejection> {
        let mut headers = HeaderMap::new();
        if let Some(sig) = sig {
            headers.insert(SIGNATURE_HEADER, sig.parse().unwrap());
        }
        let body = Bytes::from(body.to_string());
        verifier().verify(&IngestRequest::new(&headers, &body))
    }

    #[test]
    fn documented_example_is_split_per_owner() {
        let n = verify_with(Some(&sign(SECRET, EXAMPLE.as_bytes())), EXAMPLE).unwrap();
        assert_eq!(n.len(), 2);
        assert_eq!(n[0].provider_user_id, "228S74");
        assert_eq!(
            std::str::from_utf8(&n[0].body).unwrap(),
            r#"[{"collectionType":"foods","date":"2010-03-01","ownerId":"228S74","ownerType":"user","subscriptionId":"1234"}]"#
        );
        assert_eq!(n[1].provider_user_id, "X1Y2Z3");
        let v: serde_json::Value = serde_json::from_slice(&n[1].body).unwrap();
        assert_eq!(v[0]["collectionType"], "activities");
        assert_eq!(v.as_array().unwrap().len(), 1);
    }

    #[test]
    fn one_owners_entries_stay_together_in_order() {
        let body = r#"[
          {"collectionType":"activities","date":"2024-05-01","ownerId":"AAA111","ownerType":"user","subscriptionId":"s1"},
          {"collectionType":"sleep","date":"2024-05-01","ownerId":"BBB222","ownerType":"user","subscriptionId":"s2"},
          {"collectionType":"sleep","date":"2024-05-01","ownerId":"AAA111","ownerType":"user","subscriptionId":"s1"}]"#;
        let n = verify_with(Some(&sign(SECRET, body.as_bytes())), body).unwrap();
        assert_eq!(n.len(), 2);
        assert_eq!(n[0].provider_user_id, "AAA111");
        let v: serde_json::Value = serde_json::from_slice(&n[0].body).unwrap();
        assert_eq!(v[0]["collectionType"], "activities");
        assert_eq!(v[1]["collectionType"], "sleep");
        assert_eq!(n[1].provider_user_id, "BBB222");
    }

    /// Issue 10, finding 4: Fitbit had no replay guard; the same signed body within the
    /// window is now refused, let through again once forgotten (failed append) or once
    /// the window has passed.
    #[test]
    fn a_replayed_body_is_refused_within_the_window() {
        let v = verifier();
        let body = Bytes::from_static(EXAMPLE.as_bytes());
        let mut h = HeaderMap::new();
        h.insert(
            SIGNATURE_HEADER,
            sign(SECRET, EXAMPLE.as_bytes()).parse().unwrap(),
        );
        let at = |now_ms: u64| IngestRequest {
            now_ms,
            ..IngestRequest::new(&h, &body)
        };
        assert_eq!(v.verify(&at(1_000_000)).unwrap().len(), 2);
        assert_eq!(
            v.verify(&at(1_000_000 + 299_999)).unwrap_err(),
            Rejection::Replayed
        );
        v.forget(&at(1_000_000));
        assert!(v.verify(&at(1_000_000 + 299_999)).is_ok());
        assert!(v.verify(&at(1_000_000 + 299_999 + 300_000)).is_ok());
        let mark = v.replay_mark(&at(0)).unwrap();
        assert_eq!(mark.ttl_ms, 300_000);
        assert_eq!(mark.key.len(), 32);
        // Pings are not remembered.
        let empty = Bytes::from_static(b"[]");
        let mut h2 = HeaderMap::new();
        h2.insert(SIGNATURE_HEADER, sign(SECRET, b"[]").parse().unwrap());
        for _ in 0..2 {
            assert!(v
                .verify(&IngestRequest::new(&h2, &empty))
                .unwrap()
                .is_empty());
        }
    }

    #[test]
    fn empty_array_is_a_ping() {
        assert!(verify_with(Some(&sign(SECRET, b"[]")), "[]")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn bad_signatures_are_refused() {
        let good = sign(SECRET, EXAMPLE.as_bytes());
        // Tampered body.
        let tampered = EXAMPLE.replace("2010-03-01", "2010-03-02");
        assert_eq!(
            verify_with(Some(&good), &tampered).unwrap_err(),
            Rejection::Unauthorized
        );
        // Wrong key; key without the "&".
        let wrong = sign("another-secret", EXAMPLE.as_bytes());
        assert_eq!(
            verify_with(Some(&wrong), EXAMPLE).unwrap_err(),
            Rejection::Unauthorized
        );
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(EXAMPLE.as_bytes());
        let no_amp = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(
            verify_with(Some(&no_amp), EXAMPLE).unwrap_err(),
            Rejection::Unauthorized
        );
        // Wrong encodings of the right MAC: hex (either case), URL-safe unpadded Base64.
        let mac = raw_mac(SECRET, EXAMPLE.as_bytes());
        for wrong_encoding in [
            hex::encode(&mac),
            hex::encode_upper(&mac),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&mac),
        ] {
            assert_eq!(
                verify_with(Some(&wrong_encoding), EXAMPLE).unwrap_err(),
                Rejection::Unauthorized,
                "{wrong_encoding}"
            );
        }
        // SHA-256 instead of SHA-1.
        let mut mac256 =
            Hmac::<sha2::Sha256>::new_from_slice(format!("{SECRET}&").as_bytes()).unwrap();
        mac256.update(EXAMPLE.as_bytes());
        let sha256 =
            base64::engine::general_purpose::STANDARD.encode(mac256.finalize().into_bytes());
        assert_eq!(
            verify_with(Some(&sha256), EXAMPLE).unwrap_err(),
            Rejection::Unauthorized
        );
        // Missing header.
        assert_eq!(
            verify_with(None, EXAMPLE).unwrap_err(),
            Rejection::Unauthorized
        );
        assert_eq!(
            verify_with(None, EXAMPLE).unwrap_err().status(),
            StatusCode::UNAUTHORIZED
        );
    }

    #[test]
    fn signed_but_malformed_bodies_are_400() {
        for body in [
            "{}",
            "not json",
            r#"[{"collectionType":"sleep"}]"#,
            r#"[{"collectionType":"sleep","date":"yesterday","ownerId":"A1","ownerType":"user","subscriptionId":"1"}]"#,
            r#"[{"collectionType":"sleep","date":"2024-01-01","ownerId":"A 1","ownerType":"user","subscriptionId":"1"}]"#,
            r#"[{"collectionType":"sleep","date":"2024-01-01","ownerId":"A1","ownerType":"group","subscriptionId":"1"}]"#,
            r#"[{"collectionType":"","date":"2024-01-01","ownerId":"A1","ownerType":"user","subscriptionId":"1"}]"#,
        ] {
            let r = verify_with(Some(&sign(SECRET, body.as_bytes())), body);
            assert!(matches!(r, Err(Rejection::Malformed(_))), "{body}: {r:?}");
        }
    }

    #[test]
    fn handshake_answers_204_for_the_code_and_404_otherwise() {
        let h = HeaderMap::new();
        let v = verifier();
        assert_eq!(
            v.handshake(Some(&format!("verify={CODE}")), &h).status(),
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            v.handshake(Some("verify=wrongcode"), &h).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(v.handshake(None, &h).status(), StatusCode::NOT_FOUND);
        assert_eq!(
            v.handshake(Some("other=1"), &h).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(v.accepted_status(), StatusCode::NO_CONTENT);
        assert!(!FitbitConfig::default().enabled());
    }

    #[test]
    fn secrets_do_not_leak_into_messages() {
        let r = verify_with(Some("x"), EXAMPLE).unwrap_err();
        assert!(!r.to_string().contains(SECRET));
        assert!(!format!("{:?}", verifier().config).contains(SECRET));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_input_never_panics(
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
            sig in ".{0,80}",
            signed in proptest::bool::ANY,
        ) {
            let mut headers = HeaderMap::new();
            let sig = if signed { sign(SECRET, &body) } else { sig };
            if let Ok(v) = sig.parse() {
                headers.insert(SIGNATURE_HEADER, v);
            }
            let body = Bytes::from(body);
            let _ = verifier().verify(&IngestRequest::new(&headers, &body));
        }

        #[test]
        fn arbitrary_json_arrays_never_panic(owner in ".{0,20}", date in ".{0,12}", ty in ".{0,12}") {
            let body = serde_json::json!([{"collectionType": ty, "date": date, "ownerId": owner,
                "ownerType": "user", "subscriptionId": "1"}]).to_string();
            let r = verify_with(Some(&sign(SECRET, body.as_bytes())), &body);
            if let Ok(n) = r {
                for x in n {
                    serde_json::from_slice::<serde_json::Value>(&x.body).unwrap();
                }
            }
        }

        #[test]
        fn arbitrary_queries_never_panic(q in ".{0,200}") {
            let _ = verifier().handshake(Some(&q), &HeaderMap::new());
        }
    }
}

//! Verifier vectors. Signatures are made here independently of the verifier: with the
//! research's test key (`test_signing_key.pem`, the key that signed
//! `notification_batch_mixed.json` with Python's `cryptography`), or a key generated in
//! the test, through `ring`'s signing API; keysets are encoded here by hand.

use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256_SHA256_FIXED_SIGNING,
};

use super::*;
use bytes::Bytes;

const SECRET: &str = "Bearer gh-endpoint-secret-5f0c2a9e7d4b1c8a";
const BATCH: &str = include_str!("verify_fixtures/notification_batch_mixed.json");
const BATCH_SIGNATURE: &str =
    include_str!("verify_fixtures/notification_batch_mixed.signature.txt");
const KEYSET: &str = include_str!("verify_fixtures/test_webhooks_public_keyset.json");
const PEM: &str = include_str!("verify_fixtures/test_signing_key.pem");
const VERIFICATION: &str = include_str!("verify_fixtures/notification_verification.json");
const USER: &str = "7391827465019283746";
/// The key id of the fixture keyset.
const KEY_ID: u32 = 1_743_186_402;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn config(signature: Option<SignatureMode>, keyset: &str) -> GoogleHealthConfig {
    GoogleHealthConfig {
        authorization: Secret::new(SECRET),
        signature,
        keyset: keyset.to_string(),
        ..GoogleHealthConfig::default()
    }
}

fn verifier() -> GoogleHealthVerifier {
    GoogleHealthVerifier::new(config(None, KEYSET)).unwrap()
}

/// The fixture's private key (PKCS#8 in PEM).
fn fixture_key() -> EcdsaKeyPair {
    let der = base64::engine::general_purpose::STANDARD
        .decode(
            PEM.lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>(),
        )
        .unwrap();
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &der, &SystemRandom::new()).unwrap()
}

fn generated_key(alg: &'static ring::signature::EcdsaSigningAlgorithm) -> EcdsaKeyPair {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap()
}

/// Tink's signature header value: Base64(`0x01` ‖ key id BE ‖ signature).
fn tink_sign(key: &EcdsaKeyPair, key_id: u32, body: &[u8]) -> String {
    let sig = key.sign(&SystemRandom::new(), body).unwrap();
    let mut out = vec![0x01];
    out.extend_from_slice(&key_id.to_be_bytes());
    out.extend_from_slice(sig.as_ref());
    b64(&out)
}

fn varint(mut n: u64, out: &mut Vec<u8>) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn field_varint(num: u64, v: u64, out: &mut Vec<u8>) {
    varint(num << 3, out);
    varint(v, out);
}

fn field_bytes(num: u64, b: &[u8], out: &mut Vec<u8>) {
    varint((num << 3) | 2, out);
    varint(b.len() as u64, out);
    out.extend_from_slice(b);
}

/// A Tink JSON keyset holding `key`'s public key (`encoding` 2 = DER, 1 = P1363).
fn keyset_for(key: &EcdsaKeyPair, key_id: u32, encoding: u64, prefix: &str) -> String {
    let point = key.public_key().as_ref();
    assert_eq!(point.len(), 65);
    let mut params = Vec::new();
    field_varint(1, 3, &mut params); // SHA256
    field_varint(2, 2, &mut params); // NIST_P256
    field_varint(3, encoding, &mut params);
    let mut pubkey = Vec::new();
    field_varint(1, 0, &mut pubkey);
    field_bytes(2, &params, &mut pubkey);
    let mut x = vec![0u8]; // Tink writes a leading zero byte.
    x.extend_from_slice(&point[1..33]);
    field_bytes(3, &x, &mut pubkey);
    field_bytes(4, &point[33..], &mut pubkey);
    serde_json::json!({"primaryKeyId": key_id, "key": [{
        "keyData": {"typeUrl": ECDSA_PUBLIC_KEY_TYPE, "value": b64(&pubkey),
            "keyMaterialType": "ASYMMETRIC_PUBLIC"},
        "status": "ENABLED", "keyId": key_id, "outputPrefixType": prefix}]})
    .to_string()
}

fn request<'a>(headers: &'a HeaderMap, body: &'a Bytes, now_ms: u64) -> IngestRequest<'a> {
    IngestRequest {
        now_ms,
        ..IngestRequest::new(headers, body)
    }
}

fn headers(auth: Option<&str>, sig: Option<&str>) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("content-type", "application/json".parse().unwrap());
    if let Some(a) = auth {
        h.insert("authorization", a.parse().unwrap());
    }
    if let Some(s) = sig {
        h.insert(SIGNATURE_HEADER, s.parse().unwrap());
    }
    h
}

fn verify_with(
    v: &GoogleHealthVerifier,
    auth: Option<&str>,
    sig: Option<&str>,
    body: &str,
) -> Result<Vec<Notification>, Rejection> {
    let h = headers(auth, sig);
    let body = Bytes::from(body.to_string());
    v.verify(&IngestRequest::new(&h, &body))
}

#[test]
fn verification_handshake_is_201_with_the_secret_and_401_without() {
    let v = verifier();
    let body = Bytes::from_static(VERIFICATION.as_bytes());
    // 1. With the exact Authorization value: nothing enqueued, answered 201.
    let h = headers(Some(SECRET), None);
    let req = IngestRequest::new(&h, &body);
    assert!(v.verify(&req).unwrap().is_empty());
    assert_eq!(v.ping_status(&req), StatusCode::CREATED);
    // 2. Without Authorization (Google's second request), or a wrong one: 401.
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("gh-endpoint-secret-5f0c2a9e7d4b1c8a"),
    ] {
        let r = verify_with(&v, auth, None, VERIFICATION).unwrap_err();
        assert_eq!(r, Rejection::Unauthorized, "{auth:?}");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // Authenticated but not a verification object: 400, nothing enqueued.
    for body in [
        r#"{"type":"other"}"#,
        r#"{"type":"verification","x":1}"#,
        "{}",
    ] {
        let r = verify_with(&v, Some(SECRET), None, body);
        assert!(matches!(r, Err(Rejection::Malformed(_))), "{body}: {r:?}");
    }
    // A signed verification request is checked like any other.
    let sig = tink_sign(&fixture_key(), KEY_ID, VERIFICATION.as_bytes());
    assert!(verify_with(&v, Some(SECRET), Some(&sig), VERIFICATION).is_ok());
    let other = tink_sign(&fixture_key(), KEY_ID, b"{}");
    assert_eq!(
        verify_with(&v, Some(SECRET), Some(&other), VERIFICATION).unwrap_err(),
        Rejection::Unauthorized
    );
    // No GET handshake.
    assert_eq!(
        v.handshake(None, &HeaderMap::new()).status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(v.accepted_status(), StatusCode::NO_CONTENT);
    assert_eq!(v.max_body_bytes(), Some(MAX_BODY_BYTES));
}

#[test]
fn the_signed_fixture_verifies_and_stays_one_users_notification() {
    let v = verifier();
    let n = verify_with(&v, Some(SECRET), Some(BATCH_SIGNATURE.trim()), BATCH).unwrap();
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].provider_user_id, USER);
    let entries: serde_json::Value = serde_json::from_slice(&n[0].body).unwrap();
    let types: Vec<&str> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["data"]["dataType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "steps",
            "sleep",
            "exercise",
            "daily-resting-heart-rate",
            "weight"
        ]
    );
    // The older header name is accepted too.
    let v = verifier();
    let mut h = headers(Some(SECRET), None);
    h.insert(
        LEGACY_SIGNATURE_HEADER,
        BATCH_SIGNATURE.trim().parse().unwrap(),
    );
    let body = Bytes::from_static(BATCH.as_bytes());
    assert_eq!(v.verify(&request(&h, &body, 5)).unwrap().len(), 1);
}

#[test]
fn unauthenticated_or_tampered_notifications_are_refused() {
    let v = verifier();
    let good = BATCH_SIGNATURE.trim();
    let tampered = BATCH.replace("\"steps\"", "\"floors\"");
    let key = fixture_key();
    let other_key = generated_key(&ECDSA_P256_SHA256_ASN1_SIGNING);
    let raw_sig = base64::engine::general_purpose::STANDARD
        .decode(good)
        .unwrap();
    let cases: Vec<(&str, Option<&str>, Option<String>, &str)> = vec![
        ("tampered body", Some(SECRET), Some(good.into()), &tampered),
        (
            "wrong secret",
            Some("Bearer nope"),
            Some(good.into()),
            BATCH,
        ),
        ("no secret", None, Some(good.into()), BATCH),
        (
            "secret without its scheme",
            Some(&SECRET[7..]),
            Some(good.into()),
            BATCH,
        ),
        ("missing signature", Some(SECRET), None, BATCH),
        ("not Base64", Some(SECRET), Some("%%%".into()), BATCH),
        ("empty", Some(SECRET), Some(String::new()), BATCH),
        (
            "another key",
            Some(SECRET),
            Some(tink_sign(&other_key, KEY_ID, BATCH.as_bytes())),
            BATCH,
        ),
        (
            "unknown key id",
            Some(SECRET),
            Some(tink_sign(&key, KEY_ID + 1, BATCH.as_bytes())),
            BATCH,
        ),
        (
            "no Tink prefix",
            Some(SECRET),
            Some(b64(&raw_sig[5..])),
            BATCH,
        ),
        (
            "URL-safe Base64",
            Some(SECRET),
            Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw_sig)),
            BATCH,
        ),
        (
            "signature of another body",
            Some(SECRET),
            Some(tink_sign(&key, KEY_ID, b"[]")),
            BATCH,
        ),
    ];
    for (what, auth, sig, body) in cases {
        let r = verify_with(&v, auth, sig.as_deref(), body);
        assert_eq!(r.unwrap_err(), Rejection::Unauthorized, "{what}");
    }
}

#[test]
fn vectors_signed_in_the_test_verify_and_batches_split_per_user() {
    let v = verifier();
    let body = serde_json::json!([
        {"data": {"healthUserId": "aaa-1", "dataType": "steps", "operation": "UPSERT", "intervals": []}},
        {"data": {"healthUserId": "bbb-2", "dataType": "sleep", "operation": "UPSERT", "intervals": []}},
        {"data": {"healthUserId": "aaa-1", "dataType": "weight", "operation": "DELETE", "intervals": []}}
    ])
    .to_string();
    let sig = tink_sign(&fixture_key(), KEY_ID, body.as_bytes());
    let n = verify_with(&v, Some(SECRET), Some(&sig), &body).unwrap();
    assert_eq!(n.len(), 2);
    assert_eq!(n[0].provider_user_id, "aaa-1");
    let a: serde_json::Value = serde_json::from_slice(&n[0].body).unwrap();
    assert_eq!(a[0]["data"]["dataType"], "steps");
    assert_eq!(a[1]["data"]["dataType"], "weight");
    assert_eq!(n[1].provider_user_id, "bbb-2");
    // An empty array is a ping: 204, nothing enqueued.
    let sig = tink_sign(&fixture_key(), KEY_ID, b"[]");
    let h = headers(Some(SECRET), Some(&sig));
    let empty = Bytes::from_static(b"[]");
    let req = IngestRequest::new(&h, &empty);
    assert!(v.verify(&req).unwrap().is_empty());
    assert_eq!(v.ping_status(&req), StatusCode::NO_CONTENT);
}

#[test]
fn p1363_and_raw_keys_from_a_generated_keyset() {
    let key = generated_key(&ECDSA_P256_SHA256_FIXED_SIGNING);
    let v = GoogleHealthVerifier::new(config(None, &keyset_for(&key, 77, 1, "TINK"))).unwrap();
    let body = r#"[{"data":{"healthUserId":"u1","dataType":"steps"}}]"#;
    let sig = tink_sign(&key, 77, body.as_bytes());
    assert!(verify_with(&v, Some(SECRET), Some(&sig), body).is_ok());
    // The same key declared DER does not accept a fixed-width signature.
    let der_declared =
        GoogleHealthVerifier::new(config(None, &keyset_for(&key, 77, 2, "TINK"))).unwrap();
    assert_eq!(
        verify_with(&der_declared, Some(SECRET), Some(&sig), body).unwrap_err(),
        Rejection::Unauthorized
    );
    // RAW output prefix: the header is the bare signature.
    let key = generated_key(&ECDSA_P256_SHA256_ASN1_SIGNING);
    let v = GoogleHealthVerifier::new(config(None, &keyset_for(&key, 5, 2, "RAW"))).unwrap();
    let raw = key.sign(&SystemRandom::new(), body.as_bytes()).unwrap();
    assert!(verify_with(&v, Some(SECRET), Some(&b64(raw.as_ref())), body).is_ok());
    assert_eq!(
        verify_with(
            &v,
            Some(SECRET),
            Some(&tink_sign(&key, 5, body.as_bytes())),
            body
        )
        .unwrap_err(),
        Rejection::Unauthorized
    );
}

#[test]
fn signature_modes() {
    let unsigned = r#"[{"data":{"healthUserId":"u1","dataType":"steps"}}]"#;
    let bad_sig = tink_sign(&fixture_key(), KEY_ID, b"something else");
    // require (the default with a keyset): unsigned refused.
    let v = verifier();
    assert_eq!(v.mode, SignatureMode::Require);
    assert_eq!(
        verify_with(&v, Some(SECRET), None, unsigned).unwrap_err(),
        Rejection::Unauthorized
    );
    // verify_if_present: unsigned passes on the secret; a bad signature never does.
    let v =
        GoogleHealthVerifier::new(config(Some(SignatureMode::VerifyIfPresent), KEYSET)).unwrap();
    assert_eq!(
        verify_with(&v, Some(SECRET), None, unsigned).unwrap().len(),
        1
    );
    assert_eq!(
        verify_with(&v, Some(SECRET), Some(&bad_sig), unsigned).unwrap_err(),
        Rejection::Unauthorized
    );
    assert_eq!(
        verify_with(&v, None, None, unsigned).unwrap_err(),
        Rejection::Unauthorized
    );
    // off (the default without a keyset): the secret alone, still required.
    let v = GoogleHealthVerifier::new(config(None, "")).unwrap();
    assert_eq!(v.mode, SignatureMode::Off);
    assert_eq!(
        verify_with(&v, Some(SECRET), Some(&bad_sig), unsigned)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        verify_with(&v, Some("Bearer x"), None, unsigned).unwrap_err(),
        Rejection::Unauthorized
    );
    // The alias of the research's spelling.
    let c: GoogleHealthConfig = serde_json::from_str(r#"{"signature": "if_present"}"#).unwrap();
    assert_eq!(c.signature, Some(SignatureMode::VerifyIfPresent));
}

#[test]
fn settings_that_cannot_verify_are_refused() {
    assert!(GoogleHealthConfig::default().validate().is_ok(), "disabled");
    assert!(!GoogleHealthConfig::default().enabled());
    for (mode, keyset) in [
        (Some(SignatureMode::Require), ""),
        (Some(SignatureMode::VerifyIfPresent), ""),
        (None, "not json"),
        (None, r#"{"key": []}"#),
        (
            None,
            r#"{"key": [{"keyData": {"typeUrl": "type.googleapis.com/google.crypto.tink.EcdsaPublicKey", "value": "AAAA"}, "status": "ENABLED", "keyId": 1, "outputPrefixType": "TINK"}]}"#,
        ),
    ] {
        let c = config(mode, keyset);
        let e = c.validate().unwrap_err();
        assert!(!e.contains(SECRET), "{e}");
        assert!(GoogleHealthVerifier::new(c).is_err(), "{mode:?} {keyset}");
    }
    let mut both = config(None, KEYSET);
    both.keyset_file = Some("/nonexistent".into());
    assert!(both.validate().is_err());
    let mut missing = config(None, "");
    missing.keyset_file = Some("/nonexistent/keyset.json".into());
    assert!(missing
        .validate()
        .unwrap_err()
        .contains("/nonexistent/keyset.json"));
    assert!(config(Some(SignatureMode::Off), "").validate().is_ok());
}

#[test]
fn a_rotated_keyset_file_is_read_again_for_an_unknown_key_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyset.json");
    std::fs::write(&path, KEYSET).unwrap();
    let v = GoogleHealthVerifier::new(GoogleHealthConfig {
        authorization: Secret::new(SECRET),
        keyset_file: Some(path.clone()),
        ..GoogleHealthConfig::default()
    })
    .unwrap();
    assert!(verify_with(&v, Some(SECRET), Some(BATCH_SIGNATURE.trim()), BATCH).is_ok());
    // Google rotates to a new key; the operator's job refreshes the file.
    let new_key = generated_key(&ECDSA_P256_SHA256_ASN1_SIGNING);
    std::fs::write(&path, keyset_for(&new_key, 4242, 2, "TINK")).unwrap();
    let body = r#"[{"data":{"healthUserId":"u1","dataType":"sleep"}}]"#;
    let sig = tink_sign(&new_key, 4242, body.as_bytes());
    assert!(verify_with(&v, Some(SECRET), Some(&sig), body).is_ok());
    // Another unknown id within the minute does not read the file again.
    let third = generated_key(&ECDSA_P256_SHA256_ASN1_SIGNING);
    std::fs::write(&path, keyset_for(&third, 99, 2, "TINK")).unwrap();
    let sig = tink_sign(&third, 99, body.as_bytes());
    assert_eq!(
        verify_with(&v, Some(SECRET), Some(&sig), body).unwrap_err(),
        Rejection::Unauthorized
    );
}

#[test]
fn a_replayed_body_is_refused_within_the_window() {
    let v = verifier();
    let h = headers(Some(SECRET), Some(BATCH_SIGNATURE.trim()));
    let body = Bytes::from_static(BATCH.as_bytes());
    assert_eq!(v.verify(&request(&h, &body, 1_000_000)).unwrap().len(), 1);
    let again = v
        .verify(&request(&h, &body, 1_000_000 + 299_999))
        .unwrap_err();
    assert_eq!(again, Rejection::Replayed);
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
    // Forgotten when the append failed (Google's retry must get through), and news
    // again after the window.
    v.forget(&request(&h, &body, 0));
    assert!(v.verify(&request(&h, &body, 1_000_000 + 299_999)).is_ok());
    assert!(v.verify(&request(&h, &body, 1_000_000 + 600_000)).is_ok());
    let mark = v.replay_mark(&request(&h, &body, 0)).unwrap();
    assert_eq!((mark.ttl_ms, mark.key.len()), (300_000, 32));
    // A refused request is not remembered: the good one after it is not a replay.
    let fresh = verifier();
    let tampered = Bytes::from(BATCH.replace("UPSERT", "DELETE"));
    assert!(fresh.verify(&request(&h, &tampered, 1)).is_err());
    assert!(fresh.verify(&request(&h, &body, 2)).is_ok());
    // The verification handshake is never a replay.
    let vh = headers(Some(SECRET), None);
    let vb = Bytes::from_static(VERIFICATION.as_bytes());
    for _ in 0..2 {
        assert!(fresh.verify(&request(&vh, &vb, 3)).unwrap().is_empty());
    }
    assert!(fresh.replay_mark(&request(&vh, &vb, 3)).is_none());
}

#[test]
fn authenticated_but_malformed_bodies_are_400() {
    let v = GoogleHealthVerifier::new(config(Some(SignatureMode::Off), "")).unwrap();
    for body in [
        "not json",
        "[1]",
        r#"[{"data":{"dataType":"steps"}}]"#,
        r#"[{"data":{"healthUserId":"has space","dataType":"steps"}}]"#,
        r#"[{"data":{"healthUserId":"","dataType":"steps"}}]"#,
        &format!(
            r#"[{{"data":{{"healthUserId":"{}","dataType":"steps"}}}}]"#,
            "a".repeat(64)
        ),
        r#"[{"data":{"healthUserId":"u1","dataType":"a/b"}}]"#,
        r#"[{"data":{"healthUserId":"u1"}}]"#,
        r#"[{"healthUserId":"u1","dataType":"steps"}]"#,
    ] {
        let r = verify_with(&v, Some(SECRET), None, body);
        assert!(matches!(r, Err(Rejection::Malformed(_))), "{body}: {r:?}");
    }
    // Unauthenticated garbage is 401, never parsed.
    assert_eq!(
        verify_with(&v, None, None, "not json").unwrap_err(),
        Rejection::Unauthorized
    );
}

#[test]
fn secrets_do_not_leak_into_messages() {
    let v = verifier();
    let r = verify_with(&v, Some("Bearer x"), None, BATCH).unwrap_err();
    assert!(!r.to_string().contains(SECRET));
    assert!(!format!("{:?}", v.config).contains("gh-endpoint-secret"));
}

proptest::proptest! {
    #[test]
    fn arbitrary_input_never_panics(
        body in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
        sig in proptest::collection::vec(proptest::num::u8::ANY, 0..90),
        authed in proptest::bool::ANY,
    ) {
        let v = verifier();
        let mut h = HeaderMap::new();
        if authed {
            h.insert("authorization", SECRET.parse().unwrap());
        }
        if let Ok(s) = b64(&sig).parse() {
            h.insert(SIGNATURE_HEADER, s);
        }
        let body = Bytes::from(body);
        let _ = v.verify(&IngestRequest::new(&h, &body));
    }

    #[test]
    fn arbitrary_key_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
        let _ = ecdsa_public_key(&bytes);
    }
}

/// Google Health through the shared conformance suite: the endpoint secret in
/// `Authorization` and Tink's ECDSA P-256 signature of the body (signed here with the
/// fixture's private key). Its endpoint verification is a POST answered 201 (tested
/// above), not a GET handshake; it signs no timestamp (replays are caught by the guard).
struct Conformance;

impl pulsegate_provider::conformance::Subject for Conformance {
    fn verifier(&self) -> Box<dyn ProviderVerifier> {
        use pulsegate_provider::Plugin;
        super::super::GoogleHealthPlugin
            .verifier(
                &serde_json::json!({"authorization": SECRET, "keyset": KEYSET}),
                None,
            )
            .unwrap()
            .unwrap()
    }

    fn handshake(&self) -> Option<pulsegate_provider::conformance::Handshake> {
        None
    }

    fn push(&self, now_ms: u64) -> pulsegate_provider::conformance::Push {
        pulsegate_provider::conformance::Push::new(BATCH, now_ms)
            .header("authorization", SECRET)
            .header(
                SIGNATURE_HEADER,
                &tink_sign(&fixture_key(), KEY_ID, BATCH.as_bytes()),
            )
    }

    fn wrong_secret(&self, now_ms: u64) -> pulsegate_provider::conformance::Push {
        let mut p = self.push(now_ms);
        p.headers
            .insert("authorization", "Bearer another-secret".parse().unwrap());
        p
    }

    fn stale(&self, _now_ms: u64) -> Option<pulsegate_provider::conformance::Push> {
        None
    }

    fn wrongly_encoded(&self, now_ms: u64) -> Option<pulsegate_provider::conformance::Push> {
        let mut p = self.push(now_ms);
        let tink = tink_sign(&fixture_key(), KEY_ID, BATCH.as_bytes());
        let raw = base64::engine::general_purpose::STANDARD
            .decode(tink)
            .unwrap();
        p.headers
            .insert(SIGNATURE_HEADER, hex::encode(raw).parse().unwrap());
        Some(p)
    }

    fn replay_guarded(&self) -> bool {
        true
    }
}

#[tokio::test]
async fn conforms() {
    pulsegate_provider::conformance::run(&Conformance).await;
}

#[test]
fn never_panics_through_the_shared_suite() {
    pulsegate_provider::conformance::never_panics(&Conformance);
}

//! Every provider verifier (crates/providers/src/*): arbitrary headers, query,
//! peer and body through `ProviderVerifier::handshake` and `verify`, with realistic
//! credentials. In "signed" mode the target computes the provider's real signature over
//! the fuzzed bytes (and a timestamp near "now"), so the parse-after-verify path is
//! reached too. Must never panic.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use base64::Engine;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use pulsegate_ingest::{IngestConfig, IngestRequest, ProviderVerifier};
use pulsegate_schema::Provider;

const NOW_MS: u64 = 1_768_000_000_000;
const STRAVA_TOKEN: &str = "fuzz-strava-verify-token";
const HUAWEI_SECRET: &[u8] = b"fuzz-huawei-subscriber-secret-32";
const FITBIT_SECRET: &str = "fuzz-fitbit-client-secret";
const GARMIN_CLIENT: &str = "fuzz-garmin-client-id";
const OURA_SECRET: &str = "fuzz-oura-client-secret";
const POLAR_KEY: &str = "fuzz-polar-signature-secret-key";
const WHOOP_SECRET: &str = "fuzz-whoop-client-secret";
const WITHINGS_TOKEN: &str = "fuzz-withings-callback-token";
const GOOGLE_AUTHORIZATION: &str = "Bearer fuzz-google-health-endpoint-secret";
/// A Tink JSON public keyset (a test key): signatures in fuzzed headers are checked
/// against it when present (`verify_if_present`, so the parse path is reached unsigned).
const GOOGLE_KEYSET: &str = include_str!(
    "../../crates/providers/src/google_health/verify_fixtures/test_webhooks_public_keyset.json"
);

fn verifiers() -> &'static [Box<dyn ProviderVerifier>] {
    static V: OnceLock<Vec<Box<dyn ProviderVerifier>>> = OnceLock::new();
    V.get_or_init(|| {
        let b64 = base64::engine::general_purpose::STANDARD;
        // Built from JSON as the config file would be: robust to new fields.
        let config: IngestConfig = serde_json::from_value(serde_json::json!({
            "strava": {"subscription_id": 120475, "verify_token": STRAVA_TOKEN},
            "huawei": {"subscriber_secret": b64.encode(HUAWEI_SECRET)},
            "fitbit": {"verification_code": "fuzz-fitbit-code", "client_secret": FITBIT_SECRET},
            "garmin": {"client_id": GARMIN_CLIENT},
            "oura": {"client_secret": OURA_SECRET, "verification_token": "fuzz-oura-token"},
            "polar": {"signature_secret_key": POLAR_KEY},
            "whoop": {"client_secret": WHOOP_SECRET},
            "withings": {"enabled": true, "callback_token": WITHINGS_TOKEN,
                         "allowed_ips": ["127.0.0.0/8", "2001:db8::/32"]},
            "google_health": {"authorization": GOOGLE_AUTHORIZATION, "keyset": GOOGLE_KEYSET,
                              "signature": "verify_if_present"},
        }))
        .expect("fuzz ingest config");
        pulsegate_ingest::mount::registry(&config)
    })
}

#[derive(Arbitrary, Debug)]
enum Mode {
    Handshake,
    Raw,
    Signed,
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    provider: u8,
    mode: Mode,
    /// Seconds between the signed timestamp and now.
    skew_secs: i16,
    /// The timestamp header in ms (else seconds), where a provider accepts both.
    ts_in_ms: bool,
    query: Option<&'a str>,
    headers: Vec<(&'a str, &'a [u8])>,
    peer: Option<[u8; 4]>,
    body: &'a [u8],
}

fn hmac256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    parts.iter().for_each(|p| m.update(p));
    m.finalize().into_bytes().to_vec()
}

fn set(h: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

/// Adds what a genuine push from `provider` would carry for this body.
fn sign(provider: Provider, input: &Input<'_>, h: &mut HeaderMap, query: &mut Option<String>) {
    let b64 = base64::engine::general_purpose::STANDARD;
    let ts_ms = (NOW_MS as i64 + i64::from(input.skew_secs) * 1000).max(0);
    let ts = if input.ts_in_ms {
        ts_ms.to_string()
    } else {
        (ts_ms / 1000).to_string()
    };
    match provider {
        Provider::Huawei => {
            // The signed string comes from the body's fields, as ingest reads them.
            let obj = serde_json::from_slice::<serde_json::Value>(input.body).ok();
            let obj = obj.as_ref().and_then(|v| match v {
                serde_json::Value::Array(a) => a.first().and_then(|v| v.as_object()),
                v => v.as_object(),
            });
            if let Some(Ok(f)) = obj.map(pulsegate_providers::huawei::verify::signed_fields) {
                let mac = hmac256(HUAWEI_SECRET, &[f.message().as_bytes()]);
                set(h, "x-notification-signature", &b64.encode(mac));
            }
        }
        Provider::Fitbit => {
            let mut m =
                Hmac::<sha1::Sha1>::new_from_slice(format!("{FITBIT_SECRET}&").as_bytes()).unwrap();
            m.update(input.body);
            set(
                h,
                "x-fitbit-signature",
                &b64.encode(m.finalize().into_bytes()),
            );
        }
        Provider::Garmin => set(h, "garmin-client-id", GARMIN_CLIENT),
        Provider::Oura => {
            let mac = hmac256(OURA_SECRET.as_bytes(), &[ts.as_bytes(), input.body]);
            set(h, "x-oura-signature", &hex::encode_upper(mac));
            set(h, "x-oura-timestamp", &ts);
        }
        Provider::Polar => {
            let mac = hmac256(POLAR_KEY.as_bytes(), &[input.body]);
            set(h, "polar-webhook-signature", &hex::encode(mac));
        }
        Provider::Whoop => {
            let ts = ts_ms.to_string();
            let mac = hmac256(WHOOP_SECRET.as_bytes(), &[ts.as_bytes(), input.body]);
            set(h, "x-whoop-signature", &b64.encode(mac));
            set(h, "x-whoop-signature-timestamp", &ts);
        }
        Provider::Withings => {
            let extra = query.take().unwrap_or_default();
            *query = Some(format!("token={WITHINGS_TOKEN}&{extra}"));
        }
        Provider::GoogleHealth => set(h, "authorization", GOOGLE_AUTHORIZATION),
        _ => {}
    }
}

fuzz_target!(|input: Input<'_>| {
    let all = verifiers();
    let verifier = &all[input.provider as usize % all.len()];
    let mut headers = HeaderMap::new();
    for (k, v) in input.headers.iter().take(16) {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_bytes(v),
        ) {
            headers.append(k, v);
        }
    }
    let mut query = input.query.map(str::to_string);
    if matches!(input.mode, Mode::Handshake) {
        let _ = verifier.handshake(query.as_deref(), &headers);
        return;
    }
    if matches!(input.mode, Mode::Signed) {
        sign(verifier.provider(), &input, &mut headers, &mut query);
    }
    let body = Bytes::copy_from_slice(input.body);
    let req = IngestRequest {
        headers: &headers,
        query: query.as_deref(),
        body: &body,
        peer: Some(IpAddr::V4(
            input
                .peer
                .map(Ipv4Addr::from)
                .unwrap_or(Ipv4Addr::LOCALHOST),
        )),
        now_ms: NOW_MS,
    };
    if let Ok(notes) = verifier.verify(&req) {
        for n in &notes {
            // Verified notifications are valid JSON (the handler relies on it).
            assert!(
                serde_json::from_slice::<&serde_json::value::RawValue>(&n.body).is_ok(),
                "{:?} admitted a notification that is not JSON",
                verifier.provider()
            );
        }
        // A failed enqueue forgets the request; that must not panic either.
        verifier.forget(&req);
    }
});

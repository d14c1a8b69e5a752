//! Google Health API webhooks (Fitbit's successor; docs/providers/google-health.md).
//!
//! One subscriber per Google Cloud project posts to `/v1/ingest/google_health`. Every
//! request carries `Authorization` = the subscriber's `endpointAuthorization.secret`
//! verbatim (e.g. `Bearer …`), compared in constant time; notifications are also signed:
//! `GOOGLE-HEALTH-API-SIGNATURE` (older name `X-HEALTHAPI-SIGNATURE`) = Base64 of a Tink
//! signature (`0x01` ‖ key id, 4 bytes big-endian ‖ DER ECDSA P-256/SHA-256 over the raw
//! body) checked against a configured Tink JSON public keyset, as `signature` says:
//! `require`, `verify_if_present` or `off`. Both checks come before the body is parsed.
//!
//! Verification handshake (subscriber create/patch): two `POST {"type":"verification"}`,
//! one with the secret (answered **201**), one without (answered **401**). Notifications
//! are a JSON array of 1–99 `{"data": {healthUserId, dataType, operation, intervals,
//! …}}` pointers (no data in them), answered **204**; a batch is split per
//! `healthUserId` (one `raw` record per user, keyed `google_health:<healthUserId>`, so
//! one user's notifications stay in order). Google signs no timestamp, so replays are
//! refused by content, as for Fitbit: a body whose SHA-256 was accepted within
//! `replay_window_secs` gets 401 `replay`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use pulsegate_schema::{Provider, Secret};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::signing;
use crate::verifier::{
    IngestRequest, Notification, PerUserBatches, ProviderVerifier, Rejection, ReplayMark,
};

/// The signature header (current name).
pub const SIGNATURE_HEADER: &str = "google-health-api-signature";
/// The name the preview API used; still accepted.
pub const LEGACY_SIGNATURE_HEADER: &str = "x-healthapi-signature";

/// Tink's type URL of an ECDSA public key.
const ECDSA_PUBLIC_KEY_TYPE: &str = "type.googleapis.com/google.crypto.tink.EcdsaPublicKey";
/// The largest notification batch accepted (see `max_body_bytes`).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// How often an unknown key id may make the keyset file be read again (rotation).
const RELOAD_EVERY: Duration = Duration::from_secs(60);

/// What the signature header must satisfy.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SignatureMode {
    /// Every notification must carry a signature that verifies.
    Require,
    /// A signature, when sent, must verify; unsigned notifications pass on the
    /// `Authorization` secret alone.
    #[serde(alias = "if_present")]
    VerifyIfPresent,
    /// The header is ignored; the `Authorization` secret alone authenticates.
    Off,
}

/// Google Health ingest settings (`[ingest.google_health]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GoogleHealthConfig {
    /// The exact `Authorization` header value Google sends: the subscriber's
    /// `endpointAuthorization.secret`, scheme included (`Bearer <random>`). Required: the
    /// route is not mounted without it.
    pub authorization: Secret,
    /// `require`, `verify_if_present` or `off`. Unset: `require` when a keyset is
    /// configured, else `off` (the `Authorization` secret alone; a warning at start).
    pub signature: Option<SignatureMode>,
    /// A file holding Google's Tink JSON public keyset (downloaded from
    /// `https://www.gstatic.com/googlehealthapi/webhooks/webhooks_public_keyset.json`).
    /// Read at mount, and again (at most once a minute) when a signature names a key id
    /// it does not hold, so a rotated file is picked up.
    pub keyset_file: Option<PathBuf>,
    /// The keyset inline (JSON text), instead of `keyset_file`.
    pub keyset: String,
    /// How long an accepted body is refused when it comes again. Default 300 s; 0 disables.
    pub replay_window_secs: u64,
    /// Bodies remembered at most (oldest forgotten first). Default 100 000.
    pub replay_capacity: usize,
}

impl Default for GoogleHealthConfig {
    fn default() -> Self {
        Self {
            authorization: Secret::default(),
            signature: None,
            keyset_file: None,
            keyset: String::new(),
            replay_window_secs: 300,
            replay_capacity: 100_000,
        }
    }
}

impl GoogleHealthConfig {
    /// Mounted once the `Authorization` secret is configured (and [`validate`] passes).
    ///
    /// [`validate`]: Self::validate
    pub fn enabled(&self) -> bool {
        !self.authorization.is_empty()
    }

    fn has_keyset(&self) -> bool {
        self.keyset_file.is_some() || !self.keyset.trim().is_empty()
    }

    /// The mode in force (see [`signature`](Self::signature)).
    pub fn mode(&self) -> SignatureMode {
        self.signature.unwrap_or(if self.has_keyset() {
            SignatureMode::Require
        } else {
            SignatureMode::Off
        })
    }

    /// Checks the settings of an enabled provider: a mode that verifies signatures needs
    /// a keyset that loads and holds at least one usable key. The error names the key,
    /// never a secret.
    pub fn validate(&self) -> Result<(), String> {
        if !self.enabled() {
            return Ok(());
        }
        if self.keyset_file.is_some() && !self.keyset.trim().is_empty() {
            return Err("ingest.google_health: set keyset_file or keyset, not both".to_string());
        }
        match self.mode() {
            SignatureMode::Off => Ok(()),
            mode => {
                if !self.has_keyset() {
                    return Err(format!(
                        "ingest.google_health.signature = {mode:?} needs keyset_file or keyset"
                    ));
                }
                self.load_keys().map(|_| ())
            }
        }
    }

    fn load_keys(&self) -> Result<Keys, String> {
        let text = match &self.keyset_file {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("ingest.google_health.keyset_file {}: {e}", path.display()))?,
            None => self.keyset.clone(),
        };
        let keys = Keys::parse(&text).map_err(|e| format!("ingest.google_health keyset: {e}"))?;
        if keys.keys.is_empty() {
            return Err(
                "ingest.google_health keyset: no ENABLED ECDSA P-256 SHA-256 key".to_string(),
            );
        }
        Ok(keys)
    }
}

/// One usable public key of the keyset.
#[derive(Clone, Debug)]
struct PublicKey {
    id: u32,
    /// `TINK` output prefix (`0x01` ‖ id); else `RAW` (no prefix).
    tink_prefix: bool,
    /// DER (ASN.1) signatures; else IEEE P1363 (fixed `r ‖ s`).
    der: bool,
    /// Uncompressed SEC1 point: `0x04 ‖ x ‖ y`.
    point: Vec<u8>,
}

#[derive(Clone, Debug, Default)]
struct Keys {
    keys: Vec<PublicKey>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TinkKeyset {
    #[serde(default)]
    key: Vec<TinkKey>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TinkKey {
    key_data: TinkKeyData,
    #[serde(default)]
    status: String,
    key_id: u32,
    #[serde(default)]
    output_prefix_type: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TinkKeyData {
    type_url: String,
    value: String,
}

impl Keys {
    /// The ENABLED ECDSA P-256 / SHA-256 keys of a Tink JSON public keyset (others are
    /// skipped); an error only when the text is not a keyset at all.
    fn parse(text: &str) -> Result<Keys, String> {
        let set: TinkKeyset =
            serde_json::from_str(text).map_err(|e| format!("not a Tink JSON keyset: {e}"))?;
        let mut keys = Vec::new();
        for k in set.key {
            if k.status != "ENABLED" || k.key_data.type_url != ECDSA_PUBLIC_KEY_TYPE {
                continue;
            }
            let tink_prefix = match k.output_prefix_type.as_str() {
                "TINK" => true,
                "RAW" => false,
                other => {
                    tracing::warn!(
                        key_id = k.key_id,
                        output_prefix = other,
                        "Google Health keyset: key with an unsupported output prefix skipped"
                    );
                    continue;
                }
            };
            let Some(value) = signing::decode_base64(&k.key_data.value) else {
                return Err(format!("key {}: value is not Base64", k.key_id));
            };
            match ecdsa_public_key(&value) {
                Ok((point, der)) => keys.push(PublicKey {
                    id: k.key_id,
                    tink_prefix,
                    der,
                    point,
                }),
                Err(why) => {
                    tracing::warn!(key_id = k.key_id, why, "Google Health keyset: key skipped")
                }
            }
        }
        Ok(Keys { keys })
    }
}

/// Decodes Tink's `EcdsaPublicKey` protobuf (`version` = 1, `params` = 2 {`hash_type` =
/// 1, `curve` = 2, `encoding` = 3}, `x` = 3, `y` = 4): the uncompressed point and whether
/// signatures are DER. Only SHA-256 (Tink `HashType` 3) on NIST P-256 (`EllipticCurveType`
/// 2) is accepted.
fn ecdsa_public_key(bytes: &[u8]) -> Result<(Vec<u8>, bool), &'static str> {
    let (mut hash, mut curve, mut encoding) = (0u64, 0u64, 0u64);
    let (mut x, mut y): (&[u8], &[u8]) = (&[], &[]);
    for field in Proto::new(bytes) {
        match field? {
            (2, Wire::Bytes(params)) => {
                for p in Proto::new(params) {
                    match p? {
                        (1, Wire::Varint(v)) => hash = v,
                        (2, Wire::Varint(v)) => curve = v,
                        (3, Wire::Varint(v)) => encoding = v,
                        _ => {}
                    }
                }
            }
            (3, Wire::Bytes(b)) => x = b,
            (4, Wire::Bytes(b)) => y = b,
            _ => {}
        }
    }
    if hash != 3 {
        return Err("hash is not SHA-256");
    }
    if curve != 2 {
        return Err("curve is not NIST P-256");
    }
    let der = match encoding {
        2 => true,
        1 => false,
        _ => return Err("unknown signature encoding"),
    };
    let coordinate = |c: &[u8]| -> Result<[u8; 32], &'static str> {
        let start = c.iter().position(|b| *b != 0).unwrap_or(c.len());
        let c = &c[start..];
        if c.is_empty() || c.len() > 32 {
            return Err("coordinate is not a P-256 field element");
        }
        let mut out = [0u8; 32];
        out[32 - c.len()..].copy_from_slice(c);
        Ok(out)
    };
    let mut point = Vec::with_capacity(65);
    point.push(0x04);
    point.extend_from_slice(&coordinate(x)?);
    point.extend_from_slice(&coordinate(y)?);
    Ok((point, der))
}

enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Other,
}

/// A protobuf field reader (just what a public key needs: varints and length-delimited
/// fields; fixed-width fields are skipped).
struct Proto<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Proto<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            rest: bytes,
            failed: false,
        }
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let (b, rest) = self.rest.split_first()?;
            self.rest = rest;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.rest.len() < n {
            return None;
        }
        let (a, b) = self.rest.split_at(n);
        self.rest = b;
        Some(a)
    }

    fn field(&mut self) -> Option<(u64, Wire<'a>)> {
        let tag = self.varint()?;
        let wire = match tag & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Wire::Other
            }
            2 => {
                let n = usize::try_from(self.varint()?).ok()?;
                Wire::Bytes(self.take(n)?)
            }
            5 => {
                self.take(4)?;
                Wire::Other
            }
            _ => return None,
        };
        Some((tag >> 3, wire))
    }
}

impl<'a> Iterator for Proto<'a> {
    type Item = Result<(u64, Wire<'a>), &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        match self.field() {
            Some(f) => Some(Ok(f)),
            None => {
                self.failed = true;
                Some(Err("malformed protobuf"))
            }
        }
    }
}

/// The keys in use, and when the keyset file was last read.
struct KeyRing {
    keys: RwLock<Arc<Keys>>,
    file: Option<PathBuf>,
    /// `None` until the first reload: the file was read at mount.
    last_read: Mutex<Option<Instant>>,
}

impl KeyRing {
    fn current(&self) -> Arc<Keys> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Reads the keyset file again when it may hold a key `id` we do not know (at most
    /// once per [`RELOAD_EVERY`]); true if the keys changed.
    fn reload_for(&self, id: u32) -> bool {
        let Some(path) = &self.file else {
            return false;
        };
        {
            let mut last = self.last_read.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < RELOAD_EVERY) {
                return false;
            }
            *last = Some(Instant::now());
        }
        let keys = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| Keys::parse(&t));
        match keys {
            Ok(k) if k.keys.iter().any(|k| k.id == id) => {
                tracing::info!(key_id = id, "Google Health keyset reloaded with a new key");
                *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(k);
                true
            }
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(error = %e, "Google Health keyset could not be read again");
                false
            }
        }
    }
}

pub struct GoogleHealthVerifier {
    config: GoogleHealthConfig,
    mode: SignatureMode,
    keys: KeyRing,
    replays: Arc<signing::ReplayGuard>,
}

impl GoogleHealthVerifier {
    /// Fails when the settings do not validate (see [`GoogleHealthConfig::validate`]).
    pub fn new(config: GoogleHealthConfig) -> Result<Self, String> {
        let replays = Arc::new(signing::ReplayGuard::new(config.replay_capacity));
        Self::with_replays(config, replays)
    }

    /// With a shared replay guard (kept across re-mounts, made durable by the handler).
    pub fn with_replays(
        config: GoogleHealthConfig,
        replays: Arc<signing::ReplayGuard>,
    ) -> Result<Self, String> {
        config.validate()?;
        let mode = config.mode();
        let keys = if config.has_keyset() {
            config.load_keys()?
        } else {
            Keys::default()
        };
        if mode == SignatureMode::Off {
            tracing::warn!(
                "Google Health notifications are authenticated by the shared Authorization \
                 secret only (no keyset configured, or signature = \"off\")"
            );
        }
        Ok(Self {
            keys: KeyRing {
                keys: RwLock::new(Arc::new(keys)),
                file: config.keyset_file.clone(),
                last_read: Mutex::new(None),
            },
            mode,
            config,
            replays,
        })
    }

    fn window_ms(&self) -> u64 {
        self.config.replay_window_secs.saturating_mul(1000)
    }

    /// The `Authorization` header equals the configured secret (constant time).
    fn check_authorization(&self, headers: &HeaderMap) -> Result<(), Rejection> {
        let got = headers
            .get(axum::http::header::AUTHORIZATION)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        let want = self.config.authorization.expose().as_bytes();
        if signing::constant_time_eq(got, want) {
            Ok(())
        } else {
            Err(Rejection::Unauthorized)
        }
    }

    /// The signature header's value, current name first.
    fn signature_header(headers: &HeaderMap) -> Result<Option<&str>, Rejection> {
        for name in [SIGNATURE_HEADER, LEGACY_SIGNATURE_HEADER] {
            if let Some(v) = headers.get(name) {
                return v
                    .to_str()
                    .map(Some)
                    .map_err(|_| Rejection::Malformed(format!("{name} is not valid text")));
            }
        }
        Ok(None)
    }

    /// Applies the signature mode. `notification`: a data notification (which `require`
    /// wants signed) rather than a verification request (never required to be).
    fn check_signature(
        &self,
        req: &IngestRequest<'_>,
        notification: bool,
    ) -> Result<(), Rejection> {
        if self.mode == SignatureMode::Off {
            return Ok(());
        }
        match Self::signature_header(req.headers)? {
            None if notification && self.mode == SignatureMode::Require => {
                Err(Rejection::Unauthorized)
            }
            None => Ok(()),
            Some(value) => self.verify_signature(value, req.body),
        }
    }

    fn verify_signature(&self, value: &str, body: &[u8]) -> Result<(), Rejection> {
        let sig = signing::decode_base64(value).ok_or(Rejection::Unauthorized)?;
        let prefixed = match sig.as_slice() {
            [0x01, a, b, c, d, rest @ ..] => Some((u32::from_be_bytes([*a, *b, *c, *d]), rest)),
            _ => None,
        };
        let keys = self.keys.current();
        if verifies(&keys, prefixed, &sig, body) {
            return Ok(());
        }
        // A key id we do not hold: the keyset may have rotated.
        if let Some((id, _)) = prefixed {
            let known = keys.keys.iter().any(|k| k.tink_prefix && k.id == id);
            if !known
                && self.keys.reload_for(id)
                && verifies(&self.keys.current(), prefixed, &sig, body)
            {
                return Ok(());
            }
        }
        Err(Rejection::Unauthorized)
    }
}

/// True when a key of `keys` verifies: prefixed keys by id, then raw keys on the whole
/// value.
fn verifies(keys: &Keys, prefixed: Option<(u32, &[u8])>, whole: &[u8], body: &[u8]) -> bool {
    use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_FIXED};
    keys.keys.iter().any(|k| {
        let sig = match (k.tink_prefix, prefixed) {
            (true, Some((id, rest))) if id == k.id => rest,
            (true, _) => return false,
            (false, _) => whole,
        };
        let alg = if k.der {
            &ECDSA_P256_SHA256_ASN1
        } else {
            &ECDSA_P256_SHA256_FIXED
        };
        UnparsedPublicKey::new(alg, &k.point)
            .verify(body, sig)
            .is_ok()
    })
}

/// `{"type": "verification"}`, and nothing else.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Verification<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
}

/// One notification of a batch: only what routing needs is read here (the normalizer
/// reads the rest from the original JSON).
#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(borrow)]
    data: EntryData<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntryData<'a> {
    #[serde(borrow)]
    health_user_id: &'a str,
    #[serde(borrow)]
    data_type: &'a str,
}

/// Google's user id: 1–63 letters, digits and hyphens.
fn valid_user_id(id: &str) -> bool {
    (1..=63).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn valid_data_type(t: &str) -> bool {
    (1..=64).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The first byte that is not JSON whitespace.
fn first_byte(body: &[u8]) -> Option<u8> {
    body.iter().copied().find(|b| !b.is_ascii_whitespace())
}

impl ProviderVerifier for GoogleHealthVerifier {
    fn provider(&self) -> Provider {
        Provider::GoogleHealth
    }

    /// Google verifies the endpoint with `POST`s (see [`verify`](Self::verify)); there is
    /// no `GET` handshake.
    fn handshake(&self, _query: Option<&str>, _headers: &HeaderMap) -> Response {
        Rejection::NotFound.into_response()
    }

    fn verify(&self, req: &IngestRequest<'_>) -> Result<Vec<Notification>, Rejection> {
        // 1. The shared secret, before anything else is looked at.
        self.check_authorization(req.headers)?;
        let is_verification = first_byte(req.body) == Some(b'{');
        // 2. The signature (over the raw bytes), before the body is parsed. Verification
        //    requests are not documented as signed: checked only when they carry one.
        self.check_signature(req, !is_verification)?;
        let text = std::str::from_utf8(req.body)
            .map_err(|_| Rejection::Malformed("body is not UTF-8".into()))?;
        if is_verification {
            // Authenticated by the secret: answered 201 (see `ping_status`), nothing
            // enqueued.
            return match serde_json::from_str::<Verification<'_>>(text) {
                Ok(v) if v.kind == "verification" => Ok(Vec::new()),
                _ => Err(Rejection::Malformed(
                    "an object body must be {\"type\":\"verification\"}".into(),
                )),
            };
        }
        let items: Vec<&RawValue> = serde_json::from_str(text).map_err(|e| {
            Rejection::malformed("not a Google Health notification array", e)
        })?;
        let mut batches = PerUserBatches::default();
        for item in &items {
            let entry: Entry<'_> = serde_json::from_str(item.get()).map_err(|e| {
                Rejection::malformed("not a Google Health notification", e)
            })?;
            if !valid_user_id(entry.data.health_user_id) {
                return Err(Rejection::Malformed("healthUserId is invalid".into()));
            }
            if !valid_data_type(entry.data.data_type) {
                return Err(Rejection::Malformed("dataType is invalid".into()));
            }
            batches.push(entry.data.health_user_id, item.get());
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

    /// The verification request is answered 201 Created, as Google requires; an empty
    /// notification array 204.
    fn ping_status(&self, req: &IngestRequest<'_>) -> StatusCode {
        if first_byte(req.body) == Some(b'{') {
            StatusCode::CREATED
        } else {
            StatusCode::NO_CONTENT
        }
    }

    /// Google batches up to 99 notifications, each with its list of changed intervals
    /// (~1 KiB per interval): a full batch can pass the global 256 KiB default.
    fn max_body_bytes(&self) -> Option<usize> {
        Some(MAX_BODY_BYTES)
    }

    fn replay_mark(&self, req: &IngestRequest<'_>) -> Option<ReplayMark> {
        (self.window_ms() > 0 && first_byte(req.body) == Some(b'[')).then(|| ReplayMark {
            key: body_hash(req.body),
            ttl_ms: self.window_ms(),
        })
    }

    fn forget(&self, req: &IngestRequest<'_>) {
        self.replays.forget(&body_hash(req.body));
    }
}

/// The replay key of a body: its SHA-256.
fn body_hash(body: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(body).to_vec()
}


#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;

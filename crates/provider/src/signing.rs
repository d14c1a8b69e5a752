//! Signature checks the providers share: HMACs compared in constant time, timestamp
//! windows, and a replay guard. Providers differ only in key, signed bytes and encoding.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use base64::Engine;
use hmac::{Hmac, Mac};

use crate::verify::Rejection;

/// HMAC-SHA256 of the concatenated `parts` under `key`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// HMAC-SHA1 of the concatenated `parts` under `key`.
pub fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> [u8; 20] {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// Compares secrets without leaking where they differ through timing.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Standard Base64 (padded), as providers send it. `None` if it is not Base64.
pub fn decode_base64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim().as_bytes())
        .ok()
}

/// Hex in either case. `None` if it is not hex.
pub fn decode_hex(s: &str) -> Option<Vec<u8>> {
    hex::decode(s.trim()).ok()
}

/// Checks a Base64-encoded MAC against the expected bytes.
pub fn check_base64(received: &str, expected: &[u8]) -> Result<(), Rejection> {
    match decode_base64(received) {
        Some(sig) if constant_time_eq(&sig, expected) => Ok(()),
        _ => Err(Rejection::Unauthorized),
    }
}

/// Checks a hex-encoded MAC against the expected bytes. `uppercase`: the provider
/// documents upper-case hex and lower case is refused (a wrong encoding).
pub fn check_hex(
    received: &str,
    expected: &[u8],
    uppercase: Option<bool>,
) -> Result<(), Rejection> {
    let received = received.trim();
    match uppercase {
        Some(true) if received.bytes().any(|b| b.is_ascii_lowercase()) => {
            return Err(Rejection::Unauthorized)
        }
        Some(false) if received.bytes().any(|b| b.is_ascii_uppercase()) => {
            return Err(Rejection::Unauthorized)
        }
        _ => {}
    }
    match decode_hex(received) {
        Some(sig) if constant_time_eq(&sig, expected) => Ok(()),
        _ => Err(Rejection::Unauthorized),
    }
}

/// A header's value as text (`Malformed` if absent or not visible ASCII).
pub fn header<'a>(headers: &'a http::HeaderMap, name: &str) -> Result<&'a str, Rejection> {
    headers
        .get(name)
        .ok_or(Rejection::Unauthorized)?
        .to_str()
        .map_err(|_| Rejection::Malformed(format!("{name} is not valid text")))
}

/// Accepts `ts_ms` if it is within `tolerance_ms` of `now_ms` (either way).
pub fn check_window(ts_ms: i64, now_ms: u64, tolerance_ms: u64) -> Result<(), Rejection> {
    let now = now_ms as i128;
    if (now - ts_ms as i128).unsigned_abs() <= tolerance_ms as u128 {
        Ok(())
    } else {
        Err(Rejection::Stale)
    }
}

/// The replay key of a timestamped signature: the timestamp as sent and the MAC.
pub fn timestamped_replay_key(timestamp: &str, mac: &[u8]) -> Vec<u8> {
    let mut key = timestamp.trim().as_bytes().to_vec();
    key.push(b':');
    key.extend_from_slice(mac);
    key
}

/// For verifiers whose replay key is [`timestamped_replay_key`] of HMAC-SHA256(`key`,
/// timestamp ‖ body): forgets `req`'s key (its append failed; see
/// `ProviderVerifier::forget`).
pub fn forget_timestamped(
    guard: &ReplayGuard,
    key: &[u8],
    timestamp_header: &str,
    req: &crate::verify::IngestRequest<'_>,
) {
    if let Some(k) = timestamped_key(key, timestamp_header, req) {
        guard.forget(&k);
    }
}

/// The [`timestamped_replay_key`] of `req` (HMAC-SHA256(`key`, timestamp ‖ body)).
pub fn timestamped_key(
    key: &[u8],
    timestamp_header: &str,
    req: &crate::verify::IngestRequest<'_>,
) -> Option<Vec<u8>> {
    let ts = header(req.headers, timestamp_header).ok()?;
    let mac = hmac_sha256(key, &[ts.as_bytes(), req.body]);
    Some(timestamped_replay_key(ts, &mac))
}

/// Key → expiry (ms), and the keys in insertion order (for eviction).
type Seen = (HashMap<Vec<u8>, u64>, VecDeque<Vec<u8>>);

/// Remembers the signatures accepted recently (bounded, oldest forgotten first) so the
/// same signed notification is refused when replayed inside the timestamp window.
/// Each key is remembered until its expiry (after which the timestamp window refuses
/// the request anyway, or, for Fitbit, the same body is news again). Shared by a
/// provider's current and rotated-out verifiers, and made durable across restarts by
/// the handler (`replay` module), which records each accepted key on the bus.
pub struct ReplayGuard {
    capacity: usize,
    seen: Mutex<Seen>,
}

impl ReplayGuard {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            seen: Mutex::new((HashMap::new(), VecDeque::new())),
        }
    }

    /// Records `key` for good (until evicted); `Err(Replayed)` if it was already recorded.
    pub fn check_and_record(&self, key: &[u8]) -> Result<(), Rejection> {
        self.check_and_record_until(key, u64::MAX, 0)
    }

    /// Records `key` until `expires_at_ms`; `Err(Replayed)` if it is recorded and not
    /// expired at `now_ms`.
    pub fn check_and_record_until(
        &self,
        key: &[u8],
        expires_at_ms: u64,
        now_ms: u64,
    ) -> Result<(), Rejection> {
        if self.capacity == 0 {
            return Ok(());
        }
        let mut guard = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let (map, order) = &mut *guard;
        match map.get_mut(key) {
            Some(until) if *until > now_ms => return Err(Rejection::Replayed),
            Some(until) => *until = expires_at_ms,
            None => {
                map.insert(key.to_vec(), expires_at_ms);
                order.push_back(key.to_vec());
            }
        }
        while order.len() > self.capacity
            || order
                .front()
                .is_some_and(|k| map.get(k).is_none_or(|until| *until <= now_ms))
        {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
        Ok(())
    }

    /// Records `key` as loaded from the bus at start-up (no error if already there).
    pub fn remember(&self, key: &[u8], expires_at_ms: u64, now_ms: u64) {
        let _ = self.check_and_record_until(key, expires_at_ms, now_ms);
    }

    /// Forgets `key` (the notification it admitted was not enqueued after all, so the
    /// provider's retry of it must be let through).
    pub fn forget(&self, key: &[u8]) {
        let mut guard = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let (map, order) = &mut *guard;
        if map.remove(key).is_some() {
            order.retain(|k| k.as_slice() != key);
        }
    }

    /// True while `key` is remembered and not expired at `now_ms`.
    pub fn holds(&self, key: &[u8], now_ms: u64) -> bool {
        let guard = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        guard.0.get(key).is_some_and(|until| *until > now_ms)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // RFC 2202 test case 2 for HMAC-SHA1.
        let mac = hmac_sha1(b"Jefe", &[b"what do ya want for nothing?"]);
        assert_eq!(hex::encode(mac), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    }

    #[test]
    fn encodings_and_windows() {
        let mac = hmac_sha256(b"k", &[b"m"]);
        let hex_lower = hex::encode(mac);
        let hex_upper = hex_lower.to_uppercase();
        assert!(check_hex(&hex_upper, &mac, Some(true)).is_ok());
        assert_eq!(
            check_hex(&hex_lower, &mac, Some(true)),
            Err(Rejection::Unauthorized)
        );
        assert!(check_hex(&hex_lower, &mac, None).is_ok());
        let b64 = base64::engine::general_purpose::STANDARD.encode(mac);
        assert!(check_base64(&b64, &mac).is_ok());
        assert!(check_base64(&hex_lower, &mac).is_err());
        assert!(check_window(1_000, 1_500, 500).is_ok());
        assert_eq!(check_window(1_000, 1_501, 500), Err(Rejection::Stale));
        assert_eq!(check_window(2_001, 1_500, 500), Err(Rejection::Stale));
        assert_eq!(check_window(i64::MIN, u64::MAX, 500), Err(Rejection::Stale));
    }

    #[test]
    fn a_timestamped_signature_is_forgotten_when_its_append_failed() {
        let g = ReplayGuard::new(10);
        let body = bytes::Bytes::from_static(b"{}");
        let mut headers = http::HeaderMap::new();
        headers.insert("x-ts", http::HeaderValue::from_static("1700000000"));
        let mac = hmac_sha256(b"k", &[b"1700000000", b"{}"]);
        let key = timestamped_replay_key("1700000000", &mac);
        g.check_and_record(&key).unwrap();
        let req = crate::verify::IngestRequest::new(&headers, &body);
        forget_timestamped(&g, b"other-key", "x-ts", &req);
        assert_eq!(g.check_and_record(&key), Err(Rejection::Replayed));
        forget_timestamped(&g, b"k", "x-ts", &req);
        assert!(g.check_and_record(&key).is_ok());
    }

    #[test]
    fn replay_guard_is_bounded() {
        let g = ReplayGuard::new(2);
        assert!(g.check_and_record(b"a").is_ok());
        assert_eq!(g.check_and_record(b"a"), Err(Rejection::Replayed));
        g.check_and_record(b"b").unwrap();
        g.check_and_record(b"c").unwrap();
        // "a" was forgotten (capacity 2).
        assert!(g.check_and_record(b"a").is_ok());
        g.forget(b"a");
        assert!(g.check_and_record(b"a").is_ok());
    }

    #[test]
    fn keys_expire() {
        let g = ReplayGuard::new(10);
        g.check_and_record_until(b"k", 2_000, 1_000).unwrap();
        assert_eq!(
            g.check_and_record_until(b"k", 3_000, 1_999),
            Err(Rejection::Replayed)
        );
        // Expired: news again, and remembered anew.
        g.check_and_record_until(b"k", 5_000, 2_000).unwrap();
        assert_eq!(
            g.check_and_record_until(b"k", 6_000, 4_999),
            Err(Rejection::Replayed)
        );
        g.remember(b"j", 9_000, 5_000);
        assert_eq!(
            g.check_and_record_until(b"j", 9_000, 5_001),
            Err(Rejection::Replayed)
        );
    }
}

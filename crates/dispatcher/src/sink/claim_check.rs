//! Claim-check delivery: Terra's ping / `s3_payload` mode for webhook destinations.
//!
//! A body longer than the destination's `claim_check.threshold_bytes` (0: every body) is
//! PUT once to the claim-check store, at `<prefix>/<webhook-id>.json`, and the webhook
//! carries Terra's `S3PayloadEvent` instead: `{"type":"s3_payload","status":"success",
//! "url":<pre-signed GET>,"expires_in":<s>,"user":…,"reference":…,"payload_reference":…}`,
//! signed and sent like any body (same webhook-id, retries, dead letters, history). The
//! key is the webhook-id, so a retry overwrites the same object instead of adding one.
//! The URL is signed afresh on every attempt, so a late retry never carries an expired
//! link.
//!
//! An upload or signing failure is a failed attempt (retried, then dead-lettered):
//! the event is never sent without its data. `healthcheck` is always sent inline: it
//! tests the endpoint, and carries no data.

use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;
use object_store::path::{Path, PathPart};
use object_store::signer::Signer;
use object_store::{Attribute, Attributes, ObjectStore, PutOptions, PutPayload};
use pulsegate_schema::{ClaimCheck, Destination};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::s3::{self, describe, truncate, S3Url, Store};
use super::url::KafkaUrl;
use super::Message;
use crate::attempt::Failure;
use crate::client::HttpClient;

/// Terra's event type of a claim-check webhook.
pub const EVENT_TYPE: &str = "s3_payload";

/// The claim-check settings that apply to `body` going to `dest`, if any.
pub(crate) fn applies<'d>(dest: &'d Destination, body: &[u8]) -> Option<&'d ClaimCheck> {
    let cc = dest.claim_check.as_ref()?;
    // Only webhooks: Kafka and S3 destinations have no ping mode.
    if KafkaUrl::is_kafka(&dest.url) || s3::is_s3(dest) {
        return None;
    }
    if body.len() as u64 <= cc.threshold_bytes {
        return None;
    }
    (Peek::of(body).event_type.as_deref() != Some("healthcheck")).then_some(cc)
}

/// Stores `m.body` and answers the `s3_payload` body to send in its place.
pub(crate) async fn check_in(
    http: &HttpClient,
    m: &Message<'_>,
    cc: &ClaimCheck,
) -> Result<Bytes, Failure> {
    let cache_key = format!("{}#claim-check", m.dest.id);
    let store = Store {
        cache_key: &cache_key,
        url: &cc.url,
        access_key_id: Some(&cc.access_key_id),
        secret: Some(cc.secret_access_key.expose()),
    };
    let (client, url) = store
        .client(http.timeout(), http.allow_private())
        .map_err(|error| Failure {
            kind: "invalid",
            error: format!("claim-check store: {error}"),
            retry_after: None,
        })?;
    let key = object_key(&url, m.webhook_id);
    let mut attributes = Attributes::new();
    attributes.insert(Attribute::ContentType, "application/json".into());
    let opts = PutOptions {
        attributes,
        ..Default::default()
    };
    let failed = |what: &str, e: &object_store::Error| {
        let (kind, error) = describe(e);
        // object_store's errors never carry the secret key.
        Failure {
            kind,
            error: format!(
                "claim-check {what} {}: {}",
                url.bucket,
                truncate(&error, 1024)
            ),
            retry_after: None,
        }
    };
    client
        .put_opts(&key, PutPayload::from(m.body.clone()), opts)
        .await
        .map_err(|e| failed("PUT", &e))?;
    let expires_in = u64::from(cc.expires_in_secs.clamp(1, ClaimCheck::MAX_EXPIRES_IN_SECS));
    let signed = client
        .signed_url(reqwest::Method::GET, &key, Duration::from_secs(expires_in))
        .await
        .map_err(|e| failed("URL signing", &e))?;
    metrics::counter!("pulsegate_claim_checks_total", "destination" => m.dest.id.clone())
        .increment(1);
    let peek = Peek::of(m.body);
    let event = S3PayloadEvent {
        event_type: EVENT_TYPE,
        status: "success",
        url: signed.as_str(),
        expires_in,
        user: peek.user,
        reference: (!m.reference.is_empty()).then_some(m.reference),
        payload_reference: (!m.reference.is_empty()).then_some(m.reference),
    };
    serde_json::to_vec(&event)
        .map(Bytes::from)
        .map_err(|e| Failure {
            kind: "invalid",
            error: format!("claim-check event: {e}"),
            retry_after: None,
        })
}

/// `<prefix>/<webhook-id>.json`: one object per event and destination, rewritten by a
/// retry. The webhook-id is opaque: the key tells nothing about the user.
pub(crate) fn object_key(url: &S3Url, webhook_id: &str) -> Path {
    let base = if url.prefix.is_empty() {
        Path::default()
    } else {
        Path::from(url.prefix.as_str())
    };
    base.child(PathPart::from(format!("{webhook_id}.json").as_str()))
}

/// Terra's `S3PayloadEvent` (terra-python: `type`, `status`, `url`, `expires_in`; extra
/// fields allowed), with the event's `user` and `reference` for routing, and
/// `payload_reference` as Terra's help centre names it.
#[derive(Serialize)]
struct S3PayloadEvent<'a> {
    #[serde(rename = "type")]
    event_type: &'a str,
    status: &'a str,
    url: &'a str,
    expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<&'a str>,
    /// The same reference under the name Terra's `s3_payload` messages use for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    payload_reference: Option<&'a str>,
}

/// What the claim-check event copies from the body: its `type` and `user`, verbatim.
#[derive(Deserialize, Default)]
struct Peek<'a> {
    #[serde(rename = "type", borrow, default)]
    event_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    user: Option<&'a RawValue>,
}

impl<'a> Peek<'a> {
    fn of(body: &'a [u8]) -> Self {
        serde_json::from_slice(body).unwrap_or_default()
    }
}

/// Checks a destination's claim-check settings (admin API and config file): only on
/// webhook destinations, an `s3://` store URL the SSRF guard accepts, both keys, and
/// an expiry S3 can sign. The message names the field and never echoes the secret.
pub fn check_claim_check(
    destination_url: &str,
    cc: Option<&ClaimCheck>,
    allow_private_networks: bool,
) -> Result<(), String> {
    let Some(cc) = cc else {
        return Ok(());
    };
    if KafkaUrl::is_kafka(destination_url) || destination_url.starts_with(s3::SCHEME) {
        return Err("claim_check: only for HTTP webhook destinations".into());
    }
    if !cc.url.starts_with(s3::SCHEME) {
        return Err("claim_check.url: must be an s3:// URL".into());
    }
    crate::ssrf::validate_destination_url(&cc.url, allow_private_networks)
        .map_err(|e| format!("claim_check.url: {e}"))?;
    if cc.access_key_id.trim().is_empty() {
        return Err("claim_check.access_key_id: required".into());
    }
    if cc.secret_access_key.expose().trim().is_empty() {
        return Err("claim_check.secret_access_key: required".into());
    }
    if !(1..=ClaimCheck::MAX_EXPIRES_IN_SECS).contains(&cc.expires_in_secs) {
        return Err(format!(
            "claim_check.expires_in_secs: 1-{} (S3 signs URLs for at most 7 days)",
            ClaimCheck::MAX_EXPIRES_IN_SECS
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulsegate_schema::Secret;

    fn cc(threshold_bytes: u64) -> ClaimCheck {
        ClaimCheck {
            url: "s3://claims/pings?endpoint=https://s3.example.com".into(),
            access_key_id: "AKIA".into(),
            secret_access_key: Secret::new("very-secret-key"),
            threshold_bytes,
            expires_in_secs: 600,
        }
    }

    fn dest(url: &str, cc: Option<ClaimCheck>) -> Destination {
        let mut d: Destination = serde_json::from_value(serde_json::json!({
            "id": "d", "url": url, "secret": "whsec_x"
        }))
        .unwrap();
        d.claim_check = cc;
        d
    }

    #[test]
    fn applies_over_the_threshold_to_webhooks_only() {
        let body = br#"{"type":"activity","data":[1,2,3]}"#;
        let d = dest("https://h.example.com/w", Some(cc(10)));
        assert!(applies(&d, body).is_some());
        let d = dest("https://h.example.com/w", Some(cc(body.len() as u64)));
        assert!(applies(&d, body).is_none(), "at the threshold: inline");
        let d = dest("https://h.example.com/w", Some(cc(0)));
        assert!(applies(&d, body).is_some(), "0: every body (ping mode)");
        assert!(applies(&d, br#"{"type":"healthcheck"}"#).is_none());
        assert!(applies(&dest("https://h.example.com/w", None), body).is_none());
        assert!(applies(&dest("kafka://b:9092/t", Some(cc(0))), body).is_none());
        assert!(applies(&dest("s3://bkt/p", Some(cc(0))), body).is_none());
    }

    #[test]
    fn keys_are_the_webhook_id_under_the_prefix() {
        let u = S3Url::parse("s3://claims/a/b").unwrap();
        assert_eq!(object_key(&u, "msg_1").as_ref(), "a/b/msg_1.json");
        let u = S3Url::parse("s3://claims").unwrap();
        assert_eq!(object_key(&u, "msg_1").as_ref(), "msg_1.json");
    }

    #[test]
    fn settings_are_checked_field_by_field() {
        let web = "https://h.example.com/w";
        assert_eq!(check_claim_check(web, None, false), Ok(()));
        assert_eq!(check_claim_check(web, Some(&cc(0)), false), Ok(()));
        let e = check_claim_check("kafka://b:9092/t", Some(&cc(0)), true).unwrap_err();
        assert!(e.starts_with("claim_check:"), "{e}");
        let bad = |f: fn(&mut ClaimCheck)| {
            let mut c = cc(0);
            f(&mut c);
            let e = check_claim_check(web, Some(&c), false).unwrap_err();
            assert!(!e.contains("very-secret"), "{e}");
            e
        };
        assert!(bad(|c| c.url = "https://x.example.com".into()).starts_with("claim_check.url"));
        assert!(
            bad(|c| c.url = "s3://claims/p?endpoint=http://127.0.0.1:9".into())
                .starts_with("claim_check.url")
        );
        assert!(bad(|c| c.access_key_id = " ".into()).starts_with("claim_check.access_key_id"));
        assert!(bad(|c| c.secret_access_key = Secret::new(""))
            .starts_with("claim_check.secret_access_key"));
        assert!(bad(|c| c.expires_in_secs = 0).starts_with("claim_check.expires_in_secs"));
        assert!(bad(|c| c.expires_in_secs = 604_801).starts_with("claim_check.expires_in_secs"));
    }
}

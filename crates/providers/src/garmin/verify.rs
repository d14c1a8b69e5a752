//! Garmin Health / Activity API push and ping notifications.
//!
//! No handshake: endpoints are configured in Garmin's Endpoint Configuration Tool and
//! Garmin only POSTs (a GET is answered 405). Garmin signs nothing; every request carries
//! a `garmin-client-id` header holding the application's client id (consumer key), which
//! is compared in constant time with the configured one (missing or different → 401).
//!
//! Bodies are keyed by summary type (`activities`, `dailies`, `sleeps`, `bodyComps`,
//! `userMetrics`, `deregistrations`, `userPermissionsChange`, …), each an array of
//! records carrying `userId`: either the data itself (push) or a `callbackURL` to pull
//! (ping). A body is split per `userId` into one notification each, whose body is
//! `{"<summaryType>": [that user's records], …}` (records verbatim). Bodies can be large
//! (Garmin requires accepting ≥ 10 MB): `max_body_bytes` defaults to 16 MiB.

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use pulsegate_schema::Provider;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::signing::constant_time_eq;
use crate::verifier::{IngestRequest, Notification, ProviderVerifier, Rejection};

/// Garmin ingest settings (`[ingest.garmin]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GarminConfig {
    /// The application's client id (consumer key), as Garmin sends it in the
    /// `garmin-client-id` header. Empty disables Garmin.
    pub client_id: String,
    /// Largest push accepted (Garmin pushes the data itself). Default 16 MiB.
    pub max_body_bytes: usize,
}

impl Default for GarminConfig {
    fn default() -> Self {
        Self {
            client_id: String::new(),
            max_body_bytes: super::DESCRIPTOR.max_body_bytes,
        }
    }
}

impl GarminConfig {
    /// Mounted once a client id is configured.
    pub fn enabled(&self) -> bool {
        !self.client_id.is_empty()
    }
}

pub struct GarminVerifier {
    config: GarminConfig,
}

impl GarminVerifier {
    pub fn new(config: GarminConfig) -> Self {
        Self { config }
    }
}

const CLIENT_ID_HEADER: &str = "garmin-client-id";

/// Only the owner of a record is read here; the record goes on verbatim.
#[derive(Deserialize)]
struct Owner {
    #[serde(rename = "userId")]
    user_id: UserId,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum UserId {
    Text(String),
    Number(u64),
}

impl ProviderVerifier for GarminVerifier {
    fn provider(&self) -> Provider {
        Provider::Garmin
    }

    /// Garmin has no handshake and only POSTs: 405.
    fn handshake(&self, _query: Option<&str>, _headers: &HeaderMap) -> Response {
        let mut r = crate::verifier::json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "Garmin notifications are POSTed; there is no GET handshake",
        );
        r.headers_mut()
            .insert("allow", HeaderValue::from_static("POST"));
        r
    }

    fn verify(&self, req: &IngestRequest<'_>) -> Result<Vec<Notification>, Rejection> {
        let sent = req
            .headers
            .get(CLIENT_ID_HEADER)
            .ok_or(Rejection::Unauthorized)?;
        if !constant_time_eq(sent.as_bytes(), self.config.client_id.as_bytes()) {
            return Err(Rejection::Unauthorized);
        }
        split_by_user(req.body)
    }

    fn max_body_bytes(&self) -> Option<usize> {
        Some(self.config.max_body_bytes)
    }
}

/// `{"type": [records…], …}` → one notification per `userId` (first-seen order), each
/// `{"type": [that user's records…], …}` with the records verbatim (a push of one user
/// keeps its body as it came). No records = a ping
/// with nothing to do (`Ok(vec![])`).
fn split_by_user(body: &Bytes) -> Result<Vec<Notification>, Rejection> {
    let top: Vec<(String, Vec<&RawValue>)> = parse_top(body)?;
    // user → [(summary type, records)] in first-seen order.
    let mut order: Vec<String> = Vec::new();
    let mut per_user: HashMap<String, Vec<(&str, Vec<&RawValue>)>> = HashMap::new();
    for (summary_type, records) in &top {
        if summary_type.is_empty() || summary_type.len() > 64 {
            return Err(Rejection::Malformed("unexpected summary type".into()));
        }
        for record in records {
            if !record.get().starts_with('{') {
                return Err(Rejection::Malformed(format!(
                    "{summary_type}: records must be objects"
                )));
            }
            let owner: Owner = serde_json::from_str(record.get()).map_err(|_| {
                Rejection::Malformed(format!("{summary_type}: a record has no valid userId"))
            })?;
            let user = match owner.user_id {
                UserId::Text(s) if !s.is_empty() && s.len() <= 128 => s,
                UserId::Number(n) => n.to_string(),
                _ => return Err(Rejection::Malformed("userId must not be empty".into())),
            };
            let groups = per_user.entry(user.clone()).or_insert_with(|| {
                order.push(user);
                Vec::new()
            });
            match groups.iter_mut().find(|(t, _)| *t == summary_type.as_str()) {
                Some((_, recs)) => recs.push(record),
                None => groups.push((summary_type.as_str(), vec![*record])),
            }
        }
    }
    // One user (the usual push): the body goes on as it came, without a copy.
    if order.len() == 1 {
        return Ok(order
            .into_iter()
            .map(|user| Notification {
                provider_user_id: user,
                body: body.clone(),
            })
            .collect());
    }
    let mut out = Vec::with_capacity(order.len());
    for user in order {
        let groups = per_user.remove(&user).unwrap_or_default();
        // Sized up front: a push can be 16 MiB, and growing by doubling would allocate
        // about twice the body again on the way.
        let size: usize = groups
            .iter()
            .map(|(t, recs)| t.len() + 6 + recs.iter().map(|r| r.get().len() + 1).sum::<usize>())
            .sum();
        let mut buf = Vec::with_capacity(size + 2);
        buf.push(b'{');
        for (i, (summary_type, records)) in groups.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            serde_json::to_writer(&mut buf, summary_type)
                .map_err(|e| Rejection::Malformed(e.to_string()))?;
            buf.extend_from_slice(b":[");
            for (j, r) in records.iter().enumerate() {
                if j > 0 {
                    buf.push(b',');
                }
                buf.extend_from_slice(r.get().as_bytes());
            }
            buf.push(b']');
        }
        buf.push(b'}');
        out.push(Notification {
            provider_user_id: user,
            body: Bytes::from(buf),
        });
    }
    Ok(out)
}

/// The top level: an object whose every value is an array (of raw records), in body
/// order. A summary type named twice is refused: readers of the body would disagree on
/// which one counts.
fn parse_top(body: &[u8]) -> Result<Vec<(String, Vec<&RawValue>)>, Rejection> {
    struct TopLevel<'a>(Vec<(String, Vec<&'a RawValue>)>);

    impl<'de> Deserialize<'de> for TopLevel<'de> {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visit;
            impl<'de> serde::de::Visitor<'de> for Visit {
                type Value = TopLevel<'de>;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("an object of summary arrays")
                }
                fn visit_map<M: serde::de::MapAccess<'de>>(
                    self,
                    mut map: M,
                ) -> Result<Self::Value, M::Error> {
                    let mut out: Vec<(String, Vec<&'de RawValue>)> = Vec::new();
                    while let Some((k, v)) = map.next_entry::<String, Vec<&'de RawValue>>()? {
                        if out.iter().any(|(seen, _)| *seen == k) {
                            return Err(serde::de::Error::custom("a summary type appears twice"));
                        }
                        out.push((k, v));
                    }
                    Ok(TopLevel(out))
                }
            }
            d.deserialize_map(Visit)
        }
    }

    let top: TopLevel<'_> = serde_json::from_slice(body).map_err(|_| {
        Rejection::Malformed(
            "expected a JSON object of summary arrays (each type once), e.g. {\"dailies\": [...]}"
                .into(),
        )
    })?;
    Ok(top.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT_ID: &str = "a1b2c3d4-garmin-consumer-key";

    fn verifier() -> GarminVerifier {
        GarminVerifier::new(GarminConfig {
            client_id: CLIENT_ID.into(),
            ..GarminConfig::default()
        })
    }

    fn headers(client_id: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(c) = client_id {
            h.insert(CLIENT_ID_HEADER, HeaderValue::from_str(c).unwrap());
        }
        h
    }

    fn run(h: &HeaderMap, body: &str) -> Result<Vec<Notification>, Rejection> {
        let body = Bytes::from(body.to_string());
        verifier().verify(&IngestRequest::new(h, &body))
    }

    fn json(n: &Notification) -> serde_json::Value {
        serde_json::from_slice(&n.body).unwrap()
    }

    // A push as in Garmin's Health API examples, two users in one body.
    const PUSH: &str = r#"{"dailies":[{"userId":"4aacafe82427c251df9c9592d0c06768","summaryId":"x153a9f3-5a9478d4-6","calendarDate":"2016-01-11","steps":4210},{"userId":"9b1cd0b3e4f5","summaryId":"x2","calendarDate":"2016-01-11","steps":12}],
        "sleeps":[{"userId":"4aacafe82427c251df9c9592d0c06768","summaryId":"x153a9f3-5a9478d4-s","durationInSeconds":15264}]}"#;
    const PING: &str = r#"{"activities":[{"userId":"4aacafe82427c251df9c9592d0c06768","callbackURL":"https://apis.garmin.com/wellness-api/rest/activities?uploadStartTimeInSeconds=1444937651&uploadEndTimeInSeconds=1444937902&token=abc"}]}"#;

    #[test]
    fn push_is_split_per_user_with_records_verbatim() {
        let n = run(&headers(Some(CLIENT_ID)), PUSH).unwrap();
        assert_eq!(n.len(), 2);
        let a = n
            .iter()
            .find(|n| n.provider_user_id == "4aacafe82427c251df9c9592d0c06768")
            .unwrap();
        let v = json(a);
        assert_eq!(v["dailies"].as_array().unwrap().len(), 1);
        assert_eq!(v["dailies"][0]["steps"], 4210);
        assert_eq!(v["sleeps"][0]["durationInSeconds"], 15264);
        let b = n
            .iter()
            .find(|n| n.provider_user_id == "9b1cd0b3e4f5")
            .unwrap();
        let v = json(b);
        assert_eq!(v["dailies"][0]["summaryId"], "x2");
        assert!(v.get("sleeps").is_none());
    }

    #[test]
    fn ping_goes_through_unchanged() {
        let n = run(&headers(Some(CLIENT_ID)), PING).unwrap();
        assert_eq!(n.len(), 1);
        assert_eq!(
            json(&n[0]),
            serde_json::from_str::<serde_json::Value>(PING).unwrap()
        );
    }

    #[test]
    fn client_id_is_required_and_checked() {
        assert_eq!(
            run(&headers(None), PUSH).unwrap_err(),
            Rejection::Unauthorized
        );
        assert_eq!(
            run(&headers(Some("someone-else")), PUSH).unwrap_err(),
            Rejection::Unauthorized
        );
        assert_eq!(
            run(&headers(Some(&CLIENT_ID.to_uppercase())), PUSH).unwrap_err(),
            Rejection::Unauthorized
        );
        assert_eq!(
            run(&headers(Some("")), PUSH).unwrap_err(),
            Rejection::Unauthorized
        );
    }

    #[test]
    fn malformed_bodies() {
        let h = headers(Some(CLIENT_ID));
        for body in [
            "",
            "[]",
            r#"{"dailies": {"userId": "1"}}"#,
            r#"{"dailies": [{"summaryId": "no user"}]}"#,
            r#"{"dailies": [{"userId": ""}]}"#,
            r#"{"dailies": [{"userId": null}]}"#,
            r#"{"dailies": [42]}"#,
            r#"{"dailies": [{"userId": "1"}"#,
        ] {
            assert!(
                matches!(run(&h, body), Err(Rejection::Malformed(_))),
                "{body}"
            );
        }
        // Nothing to do: acknowledged, nothing enqueued.
        assert!(run(&h, r#"{"activities": []}"#).unwrap().is_empty());
        assert!(run(&h, "{}").unwrap().is_empty());
    }

    #[test]
    fn deregistration_and_numeric_user_ids() {
        let n = run(
            &headers(Some(CLIENT_ID)),
            r#"{"deregistrations":[{"userId":"u1"},{"userId":77}]}"#,
        )
        .unwrap();
        assert_eq!(n.len(), 2);
        assert_eq!(n[1].provider_user_id, "77");
    }

    #[test]
    fn handshake_and_limit() {
        let r = verifier().handshake(None, &HeaderMap::new());
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(verifier().max_body_bytes(), Some(16 * 1024 * 1024));
        assert!(!GarminConfig::default().enabled());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_input_never_panics(
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
            client in "[ -~]{0,40}",
        ) {
            let mut h = HeaderMap::new();
            if let Ok(c) = HeaderValue::from_str(&client) { h.insert(CLIENT_ID_HEADER, c); }
            let body = Bytes::from(body);
            let _ = verifier().verify(&IngestRequest::new(&h, &body));
        }

        #[test]
        fn arbitrary_json_shapes_never_panic(user in ".{0,20}", key in ".{0,10}") {
            let body = serde_json::json!({ key: [{ "userId": user }] }).to_string();
            let _ = run(&headers(Some(CLIENT_ID)), &body);
        }
    }

    #[test]
    fn a_one_user_push_keeps_its_body_without_a_copy() {
        let body = Bytes::from_static(
            br#"{"sleeps":[{"userId":"u1","summaryId":"s"}],"dailies":[{"userId":"u1","summaryId":"d"}]}"#,
        );
        let h = headers(Some(CLIENT_ID));
        let n = verifier().verify(&IngestRequest::new(&h, &body)).unwrap();
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].provider_user_id, "u1");
        // The same bytes, not a re-encoding: the same allocation.
        assert_eq!(n[0].body.as_ptr(), body.as_ptr());
    }

    #[test]
    fn a_summary_type_named_twice_is_malformed() {
        let body = r#"{"dailies":[{"userId":"u1"}],"dailies":[{"userId":"u2"}]}"#;
        assert!(matches!(
            run(&headers(Some(CLIENT_ID)), body),
            Err(Rejection::Malformed(_))
        ));
    }
}

//! Garmin Health / Activity API. A notification is one user's part of a push or ping:
//! `{"<summaryType>": [records…], …}`. Push records are the data itself and are mapped
//! inline; ping records carry a `callbackURL`, fetched with the user's token, whose
//! answer is mapped the same way. Garmin signs nothing, so `deregistrations` and
//! `userPermissionsChange` are only hints: the user permissions endpoint, asked with the
//! user's own token, decides (a deregistration revokes the connection only once the
//! token stopped working; a permission change takes the permissions from Garmin's
//! answer, not from the push). Push-mode records are delivered as pushed (Garmin has no
//! way to fetch them back) and counted in `pulsegate_normalizer_unverified_records_total`.
//! See docs/providers/garmin.md.

#[cfg(test)]
mod conformance_tests;
mod descriptor;
mod plugin;
pub mod verify;
mod client;
pub mod mapping;
#[cfg(test)]
mod mapping_tests;
pub mod sport;
pub mod summaries;

pub use descriptor::DESCRIPTOR;
pub use plugin::GarminPlugin;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use crate::garmin::descriptor::OAUTH;
use pulsegate_schema::terra::{DataEvent, StatusEvent, User};
use pulsegate_schema::{
    stable_id, Connection, ConnectionStatus, EventType, NormalizedEvent, Provider, RawNotification,
    Secret, PAYLOAD_VERSION,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use client::{Fetched, GarminClient, Permissions};

use crate::confirm::unconfirmed;
use crate::events::{build_event, terra_user};
use crate::{Ctx, NormalizeError, ProviderNormalizer, RetryConfig};

/// Garmin API settings (`[normalizer.garmin]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GarminConfig {
    /// Base URL of Garmin's API. Default `https://apis.garmin.com`; ping `callbackURL`s
    /// outside it are never fetched. Tests point it at a mock on 127.0.0.1.
    pub api_base: String,
    /// OAuth2 token endpoint (refresh grant). Default
    /// `https://diauth.garmin.com/di-oauth2-service/oauth/token`.
    pub token_url: String,
    pub client_id: String,
    /// Never logged.
    pub client_secret: Secret,
    /// Whole-request timeout for one API call. Default 10s.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// The application's rate limits (docs/BACKFILL.md has the defaults).
    pub rate_limit: crate::ratelimit::RateLimitConfig,
}

impl Default for GarminConfig {
    fn default() -> Self {
        Self {
            api_base: OAUTH.api_base.into(),
            token_url: OAUTH.token_url.into(),
            client_id: String::new(),
            client_secret: Secret::default(),
            request_timeout: Duration::from_secs(10),
            rate_limit: crate::ratelimit::RateLimitConfig::from(descriptor::DESCRIPTOR.rate_limits),
        }
    }
}

/// One user's notification: summary type → records.
pub type GarminBody = BTreeMap<String, Vec<Value>>;

pub fn parse(body: &[u8]) -> Result<GarminBody, serde_json::Error> {
    serde_json::from_slice(body)
}

/// Deterministic id of one record: its type, `summaryId` and full content (an updated
/// summary with the same `summaryId` is a new event; a redelivery is the same one).
pub fn record_id(summary_type: &str, record: &Value) -> String {
    let summary_id = record
        .get("summaryId")
        .and_then(Value::as_str)
        .unwrap_or("");
    stable_id(&["garmin", summary_type, summary_id, &record.to_string()])
}

const DEREGISTRATIONS: &str = "deregistrations";
const PERMISSIONS: &str = "userPermissionsChange";

/// Terra's `PermissionChangeEvent` (no shared model for it yet).
#[derive(Serialize)]
struct PermissionChangeEvent<'a> {
    #[serde(rename = "type")]
    event_type: &'a str,
    user: &'a User,
    status: &'a str,
    message: String,
    version: &'a str,
    scopes_added: String,
    scopes_removed: String,
}

pub struct GarminNormalizer {
    client: GarminClient,
}

impl GarminNormalizer {
    pub fn new(
        cfg: &GarminConfig,
        retry: &RetryConfig,
        limiters: &crate::ratelimit::Limiters,
    ) -> Result<Self, NormalizeError> {
        Ok(Self {
            client: GarminClient::new(cfg, retry, limiters)?,
        })
    }

    /// Maps one data record of `summary_type` (one of [`is_mapped`]).
    fn map_record(
        raw: &RawNotification,
        conn: &Connection,
        summary_type: &str,
        record: &Value,
    ) -> Result<NormalizedEvent, NormalizeError> {
        fn typed<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, NormalizeError> {
            T::deserialize(v).map_err(|e| {
                NormalizeError::dropped("bad_response", format!("unexpected Garmin summary: {e}"))
            })
        }
        fn event<T: Serialize>(
            raw: &RawNotification,
            conn: &Connection,
            id: String,
            et: EventType,
            item: T,
        ) -> Result<NormalizedEvent, NormalizeError> {
            let user = terra_user(conn);
            let body = DataEvent {
                event_type: et.as_str(),
                user: &user,
                data: vec![item],
                version: PAYLOAD_VERSION,
            };
            build_event(id, et, conn, raw, &body)
        }
        let id = record_id(summary_type, record);
        match summary_type {
            "activities" | "manuallyUpdatedActivities" => typed(record)
                .and_then(|a| mapping::map_activity(&a))
                .and_then(|a| event(raw, conn, id, EventType::Activity, a)),
            "dailies" => typed(record)
                .and_then(|d| mapping::map_daily(&d))
                .and_then(|d| event(raw, conn, id, EventType::Daily, d)),
            "sleeps" => typed(record)
                .and_then(|s| mapping::map_sleep(&s))
                .and_then(|s| event(raw, conn, id, EventType::Sleep, s)),
            "bodyComps" => typed(record)
                .and_then(|b| mapping::map_body_comp(&b))
                .and_then(|b| event(raw, conn, id, EventType::Body, b)),
            "userMetrics" => typed(record)
                .and_then(|m| mapping::map_user_metrics(&m))
                .and_then(|b| event(raw, conn, id, EventType::Body, b)),
            other => Err(NormalizeError::dropped(
                "unsupported_event",
                format!("Garmin summary type {other} is not mapped"),
            )),
        }
    }

    fn connection_error(
        raw: &RawNotification,
        conn: &Connection,
        key: &str,
        message: &str,
    ) -> Result<NormalizedEvent, NormalizeError> {
        crate::events::connection_error("garmin", key, conn, raw, message)
    }

    /// A `userPermissionsChange` record: the permissions are Garmin's answer for the
    /// user's token, never the push's `permissions` (anyone can send a push).
    async fn permissions_changed(
        &self,
        raw: &RawNotification,
        conn: &Connection,
        ctx: &Ctx,
        record: &Value,
    ) -> Result<NormalizedEvent, NormalizeError> {
        const KIND: &str = "permission_change";
        let granted = match self.client.permissions(conn, ctx).await? {
            Permissions::Granted(g) => g,
            Permissions::Revoked => {
                return Err(unconfirmed(
                    "garmin",
                    KIND,
                    "the user's token no longer works",
                ))
            }
            Permissions::Unknown(why) => return Err(unconfirmed("garmin", KIND, why)),
        };
        let before: Vec<String> = conn
            .scopes
            .as_deref()
            .map(|s| {
                s.split([' ', ','])
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let added: Vec<&str> = granted
            .iter()
            .filter(|p| !before.contains(p))
            .map(String::as_str)
            .collect();
        let removed: Vec<&str> = before
            .iter()
            .filter(|p| !granted.contains(p))
            .map(String::as_str)
            .collect();
        if added.is_empty() && removed.is_empty() {
            // Already applied (a redelivery), or a push announcing a change that did not
            // happen.
            return Err(NormalizeError::dropped(
                "permissions_unchanged",
                "Garmin reports the permissions the connection already has",
            ));
        }
        let scopes = granted.join(" ");
        // Keep the connection's scopes current (re-read: a refresh may have just stored
        // new tokens for it).
        if let Some(current) = ctx.state.connection(&conn.user_id) {
            if current.scopes.as_deref() != Some(scopes.as_str()) {
                let mut c = (*current).clone();
                c.scopes = Some(scopes.clone());
                ctx.state.put_connection(&c).await?;
            }
        }
        let mut user = terra_user(conn);
        user.scopes = Some(scopes.clone());
        let body = PermissionChangeEvent {
            event_type: EventType::PermissionChange.as_str(),
            user: &user,
            status: "warning",
            message: format!("User's Garmin permissions are now: {scopes}"),
            version: PAYLOAD_VERSION,
            scopes_added: added.join(" "),
            scopes_removed: removed.join(" "),
        };
        let id = record_id(PERMISSIONS, record);
        build_event(id, EventType::PermissionChange, conn, raw, &body)
    }

    /// A `deregistrations` record: acted on only once Garmin refuses the user's token.
    async fn deregistered(
        &self,
        raw: &RawNotification,
        conn: &Connection,
        ctx: &Ctx,
        record: &Value,
    ) -> Result<NormalizedEvent, NormalizeError> {
        const KIND: &str = "deregistration";
        if conn.status != ConnectionStatus::Revoked {
            match self.client.permissions(conn, ctx).await? {
                Permissions::Revoked => {}
                Permissions::Granted(_) => {
                    return Err(unconfirmed("garmin", KIND, "the user's token still works"))
                }
                Permissions::Unknown(why) => return Err(unconfirmed("garmin", KIND, why)),
            }
            ctx.state.revoke_connection(&conn.user_id).await?;
            tracing::info!("user deregistered from Garmin; connection revoked");
        }
        let user = terra_user(conn);
        let body = StatusEvent {
            event_type: EventType::Deauth.as_str(),
            user: &user,
            status: "success",
            message: "User has deauthenticated",
        };
        build_event(
            record_id(DEREGISTRATIONS, record),
            EventType::Deauth,
            conn,
            raw,
            &body,
        )
    }
}

/// The summary types mapped to Terra data events.
pub fn is_mapped(summary_type: &str) -> bool {
    matches!(
        summary_type,
        "activities"
            | "manuallyUpdatedActivities"
            | "dailies"
            | "sleeps"
            | "bodyComps"
            | "userMetrics"
    )
}

fn skipped(e: NormalizeError, first: &mut Option<NormalizeError>) {
    tracing::warn!(error = %e, "Garmin summary skipped");
    first.get_or_insert(e);
}

/// The key of one user's notification in its canonical form (summary types and object
/// keys sorted): the id of the `connection_error` it may cause, the same for a
/// redelivery with other spacing or order.
fn body_key(user: &str, body: &GarminBody) -> Option<String> {
    let canonical = serde_json::to_string(body).ok()?;
    Some(stable_id(&["garmin", user, &canonical]))
}

fn owner_matches(record: &Value, user: &str) -> bool {
    match record.get("userId") {
        None => true,
        Some(Value::String(s)) => s == user,
        Some(Value::Number(n)) => n.to_string() == user,
        Some(_) => false,
    }
}

#[async_trait]
impl ProviderNormalizer for GarminNormalizer {
    fn provider(&self) -> Provider {
        Provider::Garmin
    }

    /// The body's bytes as stored, hashed: no parse and no re-serialisation of a body
    /// that can be megabytes (this runs for every push). Garmin redelivers a push as it
    /// sent it; one re-sent with other spacing or key order gets past this check, and
    /// its events are then skipped by their ids, which come from each record's
    /// canonical form ([`record_id`]).
    fn dedupe_key(&self, raw: &RawNotification) -> Option<String> {
        Some(stable_id(&[
            "garmin-body",
            &raw.provider_user_id,
            raw.body.get(),
        ]))
    }

    fn handles_revoked(&self, raw: &RawNotification) -> bool {
        parse(raw.body.get().as_bytes()).is_ok_and(|b| b.contains_key(DEREGISTRATIONS))
    }

    async fn normalize(
        &self,
        raw: &RawNotification,
        conn: &Connection,
        ctx: &Ctx,
    ) -> Result<Vec<NormalizedEvent>, NormalizeError> {
        let body = parse(raw.body.get().as_bytes()).map_err(|e| {
            NormalizeError::dropped("malformed", format!("not a Garmin notification: {e}"))
        })?;
        let me = raw.provider_user_id.as_str();
        let revoked = conn.status == ConnectionStatus::Revoked;
        let mut events = Vec::new();
        let mut unsupported: Vec<&str> = Vec::new();
        let mut first_error: Option<NormalizeError> = None;
        let mut refused = false;
        for (summary_type, records) in &body {
            if revoked || summary_type == DEREGISTRATIONS || summary_type == PERMISSIONS {
                continue;
            }
            if !is_mapped(summary_type) {
                unsupported.push(summary_type);
                continue;
            }
            for record in records.iter().filter(|r| owner_matches(r, me)) {
                let fetched = match record.get("callbackURL").and_then(Value::as_str) {
                    None => {
                        // Push mode: the data came in the unsigned body (authenticated by
                        // the route alone) and cannot be fetched back from Garmin.
                        metrics::counter!(
                            "pulsegate_normalizer_unverified_records_total",
                            "provider" => "garmin"
                        )
                        .increment(1);
                        vec![record.clone()]
                    }
                    // One connection_error per notification is enough.
                    Some(_) if refused => continue,
                    Some(url) => match self.client.fetch_callback(conn, ctx, url).await {
                        Ok(Fetched::Records(rs)) => rs,
                        Ok(Fetched::ConnectionError(m)) => {
                            refused = true;
                            // The notification's key, from the body parsed above (only
                            // on this rare path: it serialises the whole body).
                            let key = body_key(me, &body).unwrap_or_default();
                            events.push(Self::connection_error(raw, conn, &key, m)?);
                            continue;
                        }
                        Err(e @ NormalizeError::Dropped { .. }) => {
                            skipped(e, &mut first_error);
                            continue;
                        }
                        Err(e) => return Err(e),
                    },
                };
                for r in fetched.iter().filter(|r| owner_matches(r, me)) {
                    match Self::map_record(raw, conn, summary_type, r) {
                        Ok(ev) => events.push(ev),
                        Err(e @ NormalizeError::Dropped { .. }) => skipped(e, &mut first_error),
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        if !revoked {
            for record in body.get(PERMISSIONS).into_iter().flatten() {
                if owner_matches(record, me) {
                    match self.permissions_changed(raw, conn, ctx, record).await {
                        Ok(ev) => events.push(ev),
                        Err(e @ NormalizeError::Dropped { .. }) => skipped(e, &mut first_error),
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        for record in body.get(DEREGISTRATIONS).into_iter().flatten() {
            if owner_matches(record, me) {
                match self.deregistered(raw, conn, ctx, record).await {
                    Ok(ev) => events.push(ev),
                    Err(e @ NormalizeError::Dropped { .. }) => skipped(e, &mut first_error),
                    Err(e) => return Err(e),
                }
            }
        }
        if !events.is_empty() {
            if !unsupported.is_empty() {
                tracing::debug!(?unsupported, "Garmin summary types not mapped");
            }
            return Ok(events);
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        Err(NormalizeError::dropped(
            "unsupported_event",
            if unsupported.is_empty() {
                "no records for this user".to_string()
            } else {
                format!(
                    "Garmin summary types not mapped: {}",
                    unsupported.join(", ")
                )
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_ids_follow_content() {
        let a: Value =
            serde_json::from_str(r#"{"summaryId":"x1","steps":10,"userId":"u"}"#).unwrap();
        let b: Value =
            serde_json::from_str(r#"{ "userId":"u", "steps":10, "summaryId":"x1" }"#).unwrap();
        let c: Value =
            serde_json::from_str(r#"{"summaryId":"x1","steps":11,"userId":"u"}"#).unwrap();
        assert_eq!(record_id("dailies", &a), record_id("dailies", &b));
        assert_ne!(record_id("dailies", &a), record_id("dailies", &c));
        assert_ne!(record_id("dailies", &a), record_id("epochs", &a));
    }

    #[test]
    fn owners() {
        let r: Value = serde_json::from_str(r#"{"userId":"u1"}"#).unwrap();
        assert!(owner_matches(&r, "u1"));
        assert!(!owner_matches(&r, "u2"));
        let n: Value = serde_json::from_str(r#"{"userId":12}"#).unwrap();
        assert!(owner_matches(&n, "12"));
        assert!(owner_matches(&Value::Object(Default::default()), "any"));
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            if let Ok(b) = parse(&bytes) {
                for (t, rs) in &b {
                    for r in rs {
                        let _ = record_id(t, r);
                    }
                }
            }
        }
    }
}

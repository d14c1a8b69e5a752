use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use pulsegate_schema::{now_ms, ClaimCheck, Destination, EventType, KafkaAuth, Provider, Secret};
use serde::{Deserialize, Serialize};

use crate::{error, state_error, AdminState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DestinationInput {
    #[serde(default)]
    id: Option<String>,
    url: String,
    /// `whsec_…`; generated when absent.
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    event_types: Vec<EventType>,
    /// Providers by Terra name (`GARMIN`, also the wire name `APPLE_HEALTH`); empty = all.
    #[serde(default)]
    providers: Vec<String>,
    /// Each user's events in order, one in flight per user.
    #[serde(default)]
    ordered: bool,
    #[serde(default = "yes")]
    enabled: bool,
    /// The developer account it belongs to: it then receives only the events of that
    /// developer's users. Absent = operator destination (every event).
    #[serde(default)]
    dev_id: Option<String>,
    /// `s3://` destinations only (required there): the access key id.
    #[serde(default)]
    s3_access_key_id: Option<String>,
    /// `s3://` destinations only (required there): the secret access key; kept on an
    /// update that omits it.
    #[serde(default)]
    s3_secret_access_key: Option<String>,
    /// SASL credentials of a `kafka://` / `kafkas://` destination. On update, absent
    /// keeps the stored ones (and an absent password the stored password).
    #[serde(default)]
    kafka_auth: Option<KafkaAuthInput>,
    /// `kafkas://` only: the CA certificates (PEM) that sign the brokers' certificates.
    /// On update, absent keeps the stored bundle while the URL stays `kafkas://`.
    #[serde(default)]
    kafka_ca_pem: Option<String>,
    /// Webhooks only: bodies over `threshold_bytes` go through this S3 store and the
    /// webhook carries Terra's `s3_payload` event. On update, absent keeps the stored
    /// settings (and an absent secret the stored secret); `null` removes them.
    #[serde(default, deserialize_with = "present")]
    claim_check: Option<Option<ClaimCheckInput>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClaimCheckInput {
    url: String,
    access_key_id: String,
    #[serde(default)]
    secret_access_key: Option<String>,
    /// 0 (the default): every body, Terra's ping mode.
    #[serde(default)]
    threshold_bytes: u64,
    #[serde(default = "default_expiry")]
    expires_in_secs: u32,
}

fn default_expiry() -> u32 {
    ClaimCheck::DEFAULT_EXPIRES_IN_SECS
}

/// `Some(None)` for an explicit `null`, so it differs from an absent field (`None`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Claim-check settings as the admin API shows them: the secret key masked.
#[derive(Serialize)]
pub(crate) struct ClaimCheckView {
    url: String,
    access_key_id: String,
    secret_access_key: String,
    threshold_bytes: u64,
    expires_in_secs: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KafkaAuthInput {
    #[serde(default = "plain")]
    mechanism: String,
    username: String,
    #[serde(default)]
    password: Option<String>,
}

fn plain() -> String {
    "PLAIN".into()
}

/// Kafka credentials as the admin API shows them: the password masked.
#[derive(Serialize)]
pub(crate) struct KafkaAuthView {
    mechanism: String,
    username: String,
    password: String,
}

fn yes() -> bool {
    true
}

#[derive(Serialize)]
pub(crate) struct DestinationView {
    id: String,
    url: String,
    secret: String,
    /// While a rotation's overlap lasts: until when the previous secret also signs
    /// (the secret itself is never shown again).
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_secret_signs_until_ms: Option<u64>,
    event_types: Vec<String>,
    providers: Vec<String>,
    ordered: bool,
    enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    failing_since_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disabled_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dev_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    s3_access_key_id: Option<String>,
    /// Masked like `secret`.
    #[serde(skip_serializing_if = "Option::is_none")]
    s3_secret_access_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kafka_auth: Option<KafkaAuthView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kafka_ca_pem: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    claim_check: Option<ClaimCheckView>,
}

impl DestinationView {
    fn masked(d: &Destination) -> Self {
        Self {
            id: d.id.clone(),
            url: d.url.clone(),
            secret: d.secret.masked(),
            previous_secret_signs_until_ms: (d.previous_secret.is_some()
                && d.previous_secret_until_ms > now_ms())
            .then_some(d.previous_secret_until_ms),
            event_types: d.event_types.clone(),
            providers: d.providers.clone(),
            ordered: d.ordered,
            enabled: d.enabled,
            failing_since_ms: d.failing_since_ms,
            disabled_reason: d.disabled_reason.clone(),
            dev_id: d.dev_id.clone(),
            s3_access_key_id: d.s3_access_key_id.clone(),
            s3_secret_access_key: d.s3_secret_access_key.as_ref().map(|s| s.masked()),
            kafka_auth: d.kafka_auth.as_ref().map(|a| KafkaAuthView {
                mechanism: a.mechanism.clone(),
                username: a.username.clone(),
                password: a.password.masked(),
            }),
            kafka_ca_pem: d.kafka_ca_pem.clone(),
            claim_check: d.claim_check.as_ref().map(|c| ClaimCheckView {
                url: c.url.clone(),
                access_key_id: c.access_key_id.clone(),
                secret_access_key: c.secret_access_key.masked(),
                threshold_bytes: c.threshold_bytes,
                expires_in_secs: c.expires_in_secs,
            }),
        }
    }
}

/// Validates input into a destination; the error names the field.
fn build(
    s: &AdminState,
    id: String,
    input: DestinationInput,
    existing: Option<&Destination>,
) -> Result<(Destination, bool), Response> {
    if id.is_empty()
        || id.len() > 128
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "id: 1-128 characters of A-Z a-z 0-9 - _",
        ));
    }
    let guard = &s.ports.destinations;
    if let Err(e) = guard.check_url(&input.url, s.config.allow_private_networks) {
        return Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("url: {e}"),
        ));
    }
    if let Err(e) = check_s3_credentials(
        &input.url,
        input.s3_access_key_id.as_deref(),
        input.s3_secret_access_key.as_deref(),
    ) {
        return Err(error(StatusCode::UNPROCESSABLE_ENTITY, &e));
    }
    if let Some(d) = input.dev_id.as_deref() {
        if s.state.developer(d).is_none() {
            return Err(error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "dev_id: no such developer",
            ));
        }
    }
    let mut providers = Vec::new();
    for name in &input.providers {
        match provider_named(name) {
            Some(p) if !providers.contains(&p) => providers.push(p),
            Some(_) => {}
            None => {
                return Err(error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &format!("providers: unknown provider {:?}", short(name)),
                ))
            }
        }
    }
    let stored_auth = existing.and_then(|d| d.kafka_auth.clone());
    let kafka_auth = match input.kafka_auth {
        Some(a) => {
            let password = match (a.password, &stored_auth) {
                (Some(p), _) => Secret::new(p),
                (None, Some(stored)) => stored.password.clone(),
                (None, None) => {
                    return Err(error(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "kafka_auth.password: required",
                    ))
                }
            };
            Some(KafkaAuth {
                mechanism: a.mechanism,
                username: a.username,
                password,
            })
        }
        // Kept on update while the destination stays a Kafka one.
        None => stored_auth.filter(|_| has_scheme(&input.url, &["kafka://", "kafkas://"])),
    };
    let kafka_ca_pem = match input.kafka_ca_pem {
        Some(pem) => Some(pem),
        None => existing
            .and_then(|d| d.kafka_ca_pem.clone())
            .filter(|_| has_scheme(&input.url, &["kafkas://"])),
    };
    if let Err(e) =
        guard.check_kafka_settings(&input.url, kafka_auth.as_ref(), kafka_ca_pem.as_deref())
    {
        return Err(error(StatusCode::UNPROCESSABLE_ENTITY, &e));
    }
    let stored_check = existing.and_then(|d| d.claim_check.clone());
    let claim_check = match input.claim_check {
        Some(Some(c)) => {
            let secret_access_key = match (c.secret_access_key, &stored_check) {
                (Some(s), _) => Secret::new(s),
                (None, Some(stored)) => stored.secret_access_key.clone(),
                (None, None) => {
                    return Err(error(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "claim_check.secret_access_key: required",
                    ))
                }
            };
            Some(ClaimCheck {
                url: c.url,
                access_key_id: c.access_key_id,
                secret_access_key,
                threshold_bytes: c.threshold_bytes,
                expires_in_secs: c.expires_in_secs,
            })
        }
        Some(None) => None,
        // Kept on update (the dashboard's editor does not send it).
        None => stored_check,
    };
    if let Err(e) = guard.check_claim_check(
        &input.url,
        claim_check.as_ref(),
        s.config.allow_private_networks,
    ) {
        return Err(error(StatusCode::UNPROCESSABLE_ENTITY, &e));
    }
    let (secret, generated) = match input.secret {
        Some(raw) => match guard.check_secret(&raw) {
            Ok(secret) => (secret, false),
            Err(e) => {
                return Err(error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &format!("secret: {e}"),
                ))
            }
        },
        None => (guard.new_secret(), true),
    };
    let mut d = Destination {
        id,
        url: input.url,
        secret,
        // A new secret's history; kept from `existing` below if it is the same one.
        secret_set_at_ms: now_ms(),
        previous_secret: None,
        previous_secret_until_ms: 0,
        event_types: input
            .event_types
            .iter()
            .map(|t| t.as_str().to_string())
            .collect(),
        providers: providers
            .iter()
            .map(|p| p.terra_name().to_string())
            .collect(),
        ordered: input.ordered,
        failing_since_ms: None,
        disabled_reason: None,
        enabled: input.enabled,
        dev_id: input.dev_id,
        s3_access_key_id: input.s3_access_key_id,
        s3_secret_access_key: input.s3_secret_access_key.map(Secret::new),
        kafka_auth,
        kafka_ca_pem,
        claim_check,
        // An update of a destination from the config file stays one (and stays until
        // the file's entry changes).
        file_entry: existing.and_then(|e| e.file_entry.clone()),
    };
    // An update that keeps the secret keeps its age (0 stays unknown) and a rotation's
    // overlap; a new secret ends the overlap (the one it replaces is not a rotation's).
    if let Some(e) = existing {
        d.keep_secret_history_from(e);
    }
    Ok((d, generated))
}

fn has_scheme(url: &str, schemes: &[&str]) -> bool {
    schemes.iter().any(|s| {
        url.get(..s.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(s))
    })
}

/// An `s3://` destination needs both keys; any other destination takes neither. The
/// message names the field (same rule as the dispatcher's `check_s3_credentials`).
fn check_s3_credentials(
    url: &str,
    key_id: Option<&str>,
    secret: Option<&str>,
) -> Result<(), String> {
    let given = |v: Option<&str>| v.is_some_and(|v| !v.trim().is_empty());
    if url.starts_with("s3://") {
        if !given(key_id) {
            return Err("s3_access_key_id: required for s3:// destinations".into());
        }
        if !given(secret) {
            return Err("s3_secret_access_key: required for s3:// destinations".into());
        }
    } else if key_id.is_some() || secret.is_some() {
        return Err("s3_access_key_id, s3_secret_access_key: only for s3:// destinations".into());
    }
    Ok(())
}

/// A provider by its Terra name (`APPLE`), slug or wire name (`APPLE_HEALTH`),
/// case-insensitively.
fn provider_named(name: &str) -> Option<Provider> {
    Provider::from_slug(name).or_else(|| {
        serde_json::from_value(serde_json::Value::String(name.to_ascii_uppercase())).ok()
    })
}

/// At most 40 characters of a client's input, for an error message.
fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

fn parse_body(
    body: Result<Json<DestinationInput>, JsonRejection>,
) -> Result<DestinationInput, Response> {
    body.map(|Json(b)| b)
        .map_err(|e| error(StatusCode::UNPROCESSABLE_ENTITY, &e.body_text()))
}

pub(crate) async fn create(
    State(s): State<AdminState>,
    body: Result<Json<DestinationInput>, JsonRejection>,
) -> Response {
    let input = match parse_body(body) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let id = input
        .id
        .clone()
        .unwrap_or_else(|| format!("dest_{}", uuid::Uuid::new_v4().simple()));
    if s.state.destination(&id).is_some() {
        return error(
            StatusCode::CONFLICT,
            "id: a destination with this id exists",
        );
    }
    let (dest, _) = match build(&s, id, input, None) {
        Ok(d) => d,
        Err(r) => return r,
    };
    if let Err(e) = s.ports.destinations.start_from_now(&*s.bus, &dest.id).await {
        tracing::error!(error = %e, "could not set the new destination's cursor");
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "bus unavailable; try again",
        );
    }
    if let Err(e) = s.state.put_destination(&dest).await {
        return state_error(e);
    }
    tracing::info!(destination = %dest.id, "destination created");
    // The one answer that carries the whole secret: the customer needs it to verify.
    let mut view = serde_json::to_value(DestinationView::masked(&dest)).unwrap_or_default();
    view["secret"] = serde_json::Value::String(dest.secret.expose().to_string());
    (StatusCode::CREATED, Json(view)).into_response()
}

pub(crate) async fn update(
    State(s): State<AdminState>,
    Path(id): Path<String>,
    body: Result<Json<DestinationInput>, JsonRejection>,
) -> Response {
    let mut input = match parse_body(body) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let Some(existing) = s.state.destination(&id) else {
        return error(StatusCode::NOT_FOUND, "no such destination");
    };
    let keep_secret = input.secret.is_none();
    if keep_secret {
        input.secret = Some(existing.secret.expose().to_string());
    }
    // S3 credentials omitted on an update of an S3 destination are kept (the dashboard
    // sends neither).
    if input.url.starts_with("s3://") {
        if input.s3_access_key_id.is_none() {
            input.s3_access_key_id = existing.s3_access_key_id.clone();
        }
        if input.s3_secret_access_key.is_none() {
            input.s3_secret_access_key = existing
                .s3_secret_access_key
                .as_ref()
                .map(|s| s.expose().to_string());
        }
    }
    let (dest, _) = match build(&s, id, input, Some(&existing)) {
        Ok(d) => d,
        Err(r) => return r,
    };
    if let Err(e) = s.state.put_destination(&dest).await {
        return state_error(e);
    }
    Json(DestinationView::masked(&dest)).into_response()
}

pub(crate) async fn list(State(s): State<AdminState>) -> Response {
    let all: Vec<DestinationView> = s
        .state
        .destinations()
        .iter()
        .map(|d| DestinationView::masked(d))
        .collect();
    Json(serde_json::json!({ "destinations": all })).into_response()
}

pub(crate) async fn get_one(State(s): State<AdminState>, Path(id): Path<String>) -> Response {
    match s.state.destination(&id) {
        Some(d) => Json(DestinationView::masked(&d)).into_response(),
        None => error(StatusCode::NOT_FOUND, "no such destination"),
    }
}

pub(crate) async fn delete(State(s): State<AdminState>, Path(id): Path<String>) -> Response {
    if s.state.destination(&id).is_none() {
        return error(StatusCode::NOT_FOUND, "no such destination");
    }
    // The next start would create it again from the file.
    if s.config.file_destinations.contains(&id) {
        return error(
            StatusCode::CONFLICT,
            &format!(
                "destination {id:?} is defined in the config file ([[destinations]]): remove \
                 it there and restart (the API can pause it meanwhile)"
            ),
        );
    }
    match s.state.delete_destination(&id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => state_error(e),
    }
}

/// `POST /v1/admin/destinations/{id}/pause`: stops delivery to the destination
/// (`enabled: false`); what arrives meanwhile waits on its cursor. Nothing else changes.
/// Pausing a paused or disabled destination changes nothing.
pub(crate) async fn pause(State(s): State<AdminState>, Path(id): Path<String>) -> Response {
    set_enabled(&s, &id, false).await
}

/// `POST /v1/admin/destinations/{id}/resume`: delivers again from where it stopped
/// (`enabled: true`), clearing a failure the dispatcher recorded (`failing_since_ms`,
/// `disabled_reason`) as a `PUT` does.
pub(crate) async fn resume(State(s): State<AdminState>, Path(id): Path<String>) -> Response {
    set_enabled(&s, &id, true).await
}

async fn set_enabled(s: &AdminState, id: &str, enabled: bool) -> Response {
    let Some(current) = s.state.destination(id) else {
        return error(StatusCode::NOT_FOUND, "no such destination");
    };
    let mut d = (*current).clone();
    d.enabled = enabled;
    if enabled {
        d.failing_since_ms = None;
        d.disabled_reason = None;
    }
    if d != *current {
        if let Err(e) = s.state.put_destination(&d).await {
            return state_error(e);
        }
        tracing::info!(destination = %d.id, enabled, "destination paused or resumed");
    }
    Json(DestinationView::masked(&d)).into_response()
}

/// The longest overlap a rotation may ask for: a week (Svix keeps an old secret a day).
pub(crate) const MAX_OVERLAP_SECS: u64 = 7 * 24 * 3600;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RotateQuery {
    /// Seconds the old secret keeps signing beside the new one (0, the default: it
    /// stops at once, as after a leak).
    #[serde(default)]
    overlap_secs: u64,
}

/// `POST /v1/admin/destinations/{id}/rotate-secret[?overlap_secs=N]`: a new signing
/// secret, generated like `create`'s, used for every attempt from now on (retries and
/// replays of earlier events included). With `overlap_secs` the old one signs too for
/// that long (each delivery carries both signatures; both official verifiers accept any
/// one that matches), so the owner can switch its verifier without refusing a delivery;
/// without, the old one stops at once (a leaked secret). The answer is the only one
/// that carries the new secret in full.
pub(crate) async fn rotate_secret(
    State(s): State<AdminState>,
    Path(id): Path<String>,
    query: Result<Query<RotateQuery>, QueryRejection>,
) -> Response {
    let overlap_secs = match query {
        Ok(Query(q)) if q.overlap_secs <= MAX_OVERLAP_SECS => q.overlap_secs,
        Ok(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("overlap_secs: at most {MAX_OVERLAP_SECS} (7 days)"),
            )
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.body_text()),
    };
    let Some(current) = s.state.destination(&id) else {
        return error(StatusCode::NOT_FOUND, "no such destination");
    };
    let mut d = (*current).clone();
    let now = now_ms();
    // A rotation inside an overlap drops the oldest secret: two sign at most.
    (d.previous_secret, d.previous_secret_until_ms) = if overlap_secs > 0 {
        (Some(d.secret.clone()), now + overlap_secs * 1000)
    } else {
        (None, 0)
    };
    d.secret = s.ports.destinations.new_secret();
    d.secret_set_at_ms = now;
    if let Err(e) = s.state.put_destination(&d).await {
        return state_error(e);
    }
    tracing::info!(destination = %d.id, overlap_secs, "destination signing secret rotated");
    let mut view = serde_json::to_value(DestinationView::masked(&d)).unwrap_or_default();
    view["secret"] = serde_json::Value::String(d.secret.expose().to_string());
    Json(view).into_response()
}

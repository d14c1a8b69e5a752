//! `GET /v2/integrations` and `GET /v2/integrations/detailed`: the providers this
//! deployment offers (the integrations switched on through
//! `PUT /v1/admin/integrations/{provider}`; no record = on), with their names, icons and
//! data types as the provider registry (`pulsegate_providers::descriptors()`) states them.

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use pulsegate_provider::PushMode;
use pulsegate_providers::{descriptor, descriptors};
use pulsegate_schema::{EventType, Provider};
use serde_json::{json, Value};

use crate::{Api, Query};

/// Terra's `IntegrationProviderTypes` fields, in its order.
const TERRA_TYPES: [&str; 6] = [
    "activity",
    "body",
    "nutrition",
    "daily",
    "sleep",
    "menstruation",
];

/// Whether `p` gives data type `t` at all (its registry descriptor): what the data
/// endpoints answer Terra's `NoDataReturned` for when not, and half of [`offers`].
pub(crate) fn provides(p: Provider, t: EventType) -> bool {
    descriptor(p).delivers(t.as_str())
}

/// Whether `data_type` of `p` reaches customers: mapped, and enabled in the integration.
pub(crate) fn offers(api: &Api, p: Provider, data_type: &str) -> bool {
    descriptor(p).delivers(data_type) && api.state.integration_wants(p, data_type)
}

/// `{"status":"success","providers":[...],"sdk_resource":[...]}`: enabled providers by
/// Terra's name, the on-device ones in `sdk_resource`.
pub(crate) async fn list(State(api): State<Api>) -> Response {
    let enabled = descriptors()
        .map(|d| d.id)
        .filter(|p| api.state.integration_enabled(*p));
    let (sdk, oauth): (Vec<Provider>, Vec<Provider>) = enabled.partition(|p| p.is_sdk());
    let names = |v: Vec<Provider>| -> Vec<&str> { v.into_iter().map(|p| p.terra_name()).collect() };
    Json(json!({
        "status": "success",
        "providers": names(oauth),
        "sdk_resource": names(sdk),
    }))
    .into_response()
}

/// `{"status":"success","providers":[IntegrationProvider]}`: every provider with
/// `enabled` and its `types`; the on-device ones only with `?sdk=true`.
pub(crate) async fn detailed(State(api): State<Api>, RawQuery(q): RawQuery) -> Response {
    let q = Query::parse(q.as_deref());
    let with_sdk = match q.flag("sdk", false) {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let providers: Vec<Value> = descriptors()
        .filter(|d| with_sdk || d.push != PushMode::SdkUpload)
        .map(|d| {
            let p = d.id;
            let types: serde_json::Map<String, Value> = TERRA_TYPES
                .iter()
                .map(|t| (t.to_string(), Value::Bool(offers(&api, p, t))))
                .collect();
            json!({
                "provider": p.terra_name(),
                "name": d.display_name,
                "icon": d.icon,
                "setup": if d.push == PushMode::SdkUpload { "SDK" } else { "API" },
                "enabled": api.state.integration_enabled(p),
                "types": types,
            })
        })
        .collect();
    Json(json!({ "status": "success", "providers": providers })).into_response()
}

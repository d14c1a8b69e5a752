//! terra-python's `user` client: `GET /v2/userInfo`, `PATCH /v2/users/{user_id}` (also
//! `PATCH /v2/userInfo?user_id=`), `POST /v2/bulkUserInfo`, `GET /v2/subscriptions`.
//! Users are pulsegate's connections; a developer sees only the users it owns (started
//! with its key); any other user is answered as not found.

use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use pulsegate_connect::terra_user;
use pulsegate_schema::terra::User;
use pulsegate_schema::{Connection, ConnectionStatus};
use serde::Deserialize;
use serde_json::json;

use crate::auth::DevId;
use crate::{json_body, state_error, terra_error, Api, Query};

/// Terra's default page size of `/subscriptions`.
const PER_PAGE: usize = 500;

fn users<'a>(
    api: &Api,
    conns: impl IntoIterator<Item = &'a std::sync::Arc<Connection>>,
) -> Vec<User> {
    conns.into_iter().map(|c| api_user(api, c)).collect()
}

/// A user in an API answer: [`terra_user`] with `last_webhook_update` = when this
/// process last delivered a webhook about the user (absent if it has not since it
/// started).
pub(crate) fn api_user(api: &Api, c: &Connection) -> User {
    let mut user = terra_user(c);
    user.last_webhook_update = api
        .state
        .last_webhook_update(&c.user_id)
        .map(pulsegate_schema::terra_timestamp);
    user
}

/// `?user_id=` → `{"status":"success","user":{...},"is_authenticated":bool}`;
/// `?reference_id=` → the list of that reference's users (possibly empty).
pub(crate) async fn user_info(
    State(api): State<Api>,
    Extension(dev): Extension<DevId>,
    RawQuery(q): RawQuery,
) -> Response {
    let q = Query::parse(q.as_deref());
    if let Some(user_id) = q.get("user_id") {
        return match dev.user(&api, user_id) {
            Some(c) => Json(json!({
                "status": "success",
                "user": api_user(&api, &c),
                "is_authenticated": c.status == ConnectionStatus::Active,
            }))
            .into_response(),
            None => terra_error(StatusCode::NOT_FOUND, "user not found"),
        };
    }
    if let Some(reference_id) = q.get("reference_id") {
        let all = dev.users(&api);
        let matching = all
            .iter()
            .filter(|c| c.reference_id.as_deref() == Some(reference_id));
        return Json(users(&api, matching)).into_response();
    }
    terra_error(
        StatusCode::BAD_REQUEST,
        "user_id or reference_id is required",
    )
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Modify {
    /// `null` or `""` removes it.
    #[serde(deserialize_with = "present")]
    reference_id: Option<Option<String>>,
    active: Option<bool>,
}

/// Distinguishes an explicit `null` (Some(None)) from an absent field (None).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// `PATCH /v2/users/{user_id}` (terra-python's `modifyuser`).
pub(crate) async fn modify(
    State(api): State<Api>,
    Extension(dev): Extension<DevId>,
    Path(user_id): Path<String>,
    body: Bytes,
) -> Response {
    modify_user(&api, &dev, &user_id, &body).await
}

/// `PATCH /v2/userInfo?user_id=`: the same, as Terra's API reference spells it.
pub(crate) async fn modify_by_query(
    State(api): State<Api>,
    Extension(dev): Extension<DevId>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let q = Query::parse(q.as_deref());
    match q.get("user_id") {
        Some(user_id) => modify_user(&api, &dev, user_id, &body).await,
        None => terra_error(StatusCode::BAD_REQUEST, "user_id is required"),
    }
}

async fn modify_user(api: &Api, dev: &DevId, user_id: &str, body: &[u8]) -> Response {
    let m: Modify = match json_body(body) {
        Ok(m) => m,
        Err(resp) => return resp,
    };
    // Apply every earlier state write (a token refresh by another process) before the
    // read-modify-write, so the record written back carries the current tokens.
    if let Err(e) = api.state.sync().await {
        return state_error(e);
    }
    let Some(current) = dev.user(api, user_id) else {
        return terra_error(StatusCode::NOT_FOUND, "user not found");
    };
    let active = current.status == ConnectionStatus::Active;
    if let Some(wanted) = m.active.filter(|w| *w != active) {
        return terra_error(
            StatusCode::BAD_REQUEST,
            if wanted {
                "active: a deauthenticated user cannot be reactivated; authenticate again"
            } else {
                "active: pulsegate cannot pause a user; deauthenticateUser stops their data"
            },
        );
    }
    let mut conn = (*current).clone();
    if let Some(reference_id) = m.reference_id {
        conn.reference_id = reference_id.filter(|r| !r.is_empty());
    }
    if conn != *current {
        if let Err(e) = api.state.put_connection(&conn).await {
            return state_error(e);
        }
        tracing::info!(%user_id, "user modified");
    }
    Json(json!({ "status": "success", "user": api_user(api, &conn) })).into_response()
}

/// `POST /v2/bulkUserInfo` with a JSON list of user ids: the list of those that exist.
pub(crate) async fn bulk_user_info(
    State(api): State<Api>,
    Extension(dev): Extension<DevId>,
    body: Bytes,
) -> Response {
    let ids: Vec<String> = match serde_json::from_slice(&body) {
        Ok(ids) => ids,
        Err(_) => {
            return terra_error(
                StatusCode::BAD_REQUEST,
                "the body must be a JSON list of user ids",
            )
        }
    };
    let found: Vec<User> = ids
        .iter()
        .filter_map(|id| dev.user(&api, id))
        .map(|c| api_user(&api, &c))
        .collect();
    Json(found).into_response()
}

/// `GET /v2/subscriptions`: `{"users":[...]}`, or with `?page=` (0-based) and
/// `per_page` (default 500) `{"data":{"next","max_page","results"}}`.
pub(crate) async fn subscriptions(
    State(api): State<Api>,
    Extension(dev): Extension<DevId>,
    RawQuery(q): RawQuery,
) -> Response {
    let q = Query::parse(q.as_deref());
    let all = dev.users(&api);
    let Some(page) = q.get("page") else {
        return Json(json!({ "users": users(&api, &all) })).into_response();
    };
    let number = |name: &str, v: &str, min: usize| match v.parse::<usize>() {
        Ok(n) if n >= min => Ok(n),
        _ => Err(terra_error(
            StatusCode::BAD_REQUEST,
            format!("{name} must be an integer >= {min}"),
        )),
    };
    let page = match number("page", page, 0) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let per_page = match q.get("per_page").map(|v| number("per_page", v, 1)) {
        None => PER_PAGE,
        Some(Ok(n)) => n,
        Some(Err(resp)) => return resp,
    };
    let max_page = all.len().div_ceil(per_page).saturating_sub(1);
    let results = users(
        &api,
        all.iter()
            .skip(page.saturating_mul(per_page))
            .take(per_page),
    );
    let next = (page < max_page).then_some(page + 1);
    Json(json!({ "data": { "next": next, "max_page": max_page, "results": results } }))
        .into_response()
}

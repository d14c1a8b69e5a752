//! The write endpoints: `POST` and `DELETE` on `/v2/activity`, `/v2/body` and
//! `/v2/nutrition`, carried out at the user's provider through [`ProviderWrites::write`]
//! where the provider's API allows it (docs/TERRA-COMPATIBILITY.md has the table);
//! elsewhere 501 naming the provider and the operation.
//!
//! * `POST`: `{"data": [<Terra object>, …]}` (terra-python's `write`) → `{"user",
//!   "log_ids": [one per object, in order], "message"}` (`…WriteResponse`).
//! * `DELETE`: `{"log_ids": [...]}` (body) or `{"data": [...]}` (nutrition), ids as a
//!   `POST` returned them → `{"user", "processed_data": [{"id", "response_code"}]}`
//!   (`…DeleteResponse`).
//!
//! The user is `?user_id=` (as on the other data endpoints), or `user_id` in the body
//! (terra-python's `write` sends none of its own: pass it with
//! `request_options={"additional_query_parameters": {"user_id": …}}`).
//!
//! [`ProviderWrites::write`]: crate::ProviderWrites::write

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use pulsegate_connect::terra_user;
use pulsegate_schema::{ConnectionStatus, EventType, WriteOp, WriteResult};
use serde_json::{json, Value};

use crate::auth::DevId;
use crate::ports::BackfillFailure;
use crate::{terra_error, Api, Query};
use axum::extract::Extension;

macro_rules! write_endpoint {
    ($name:ident, $t:expr) => {
        pub(crate) async fn $name(
            State(api): State<Api>,
            Extension(dev): Extension<DevId>,
            method: Method,
            uri: Uri,
            RawQuery(q): RawQuery,
            body: Bytes,
        ) -> Response {
            write(&api, &dev, $t, &method, uri.path(), q.as_deref(), &body).await
        }
    };
}

write_endpoint!(activity, EventType::Activity);
write_endpoint!(body, EventType::Body);
write_endpoint!(nutrition, EventType::Nutrition);

fn bad(message: impl Into<String>) -> Response {
    terra_error(StatusCode::BAD_REQUEST, message)
}

/// The ids of a `DELETE` body: `log_ids`, or `data` (nutrition); strings or numbers.
fn ids_of(body: &Value) -> Result<Vec<String>, String> {
    let list = body
        .get("log_ids")
        .filter(|v| !v.is_null())
        .or_else(|| body.get("data").filter(|v| !v.is_null()))
        .and_then(Value::as_array)
        .ok_or("log_ids: a non-empty list of ids is required")?;
    let ids = list
        .iter()
        .map(|v| match v {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .collect::<Option<Vec<String>>>()
        .ok_or("log_ids: every id must be a non-empty string")?;
    if ids.is_empty() {
        return Err("log_ids: a non-empty list of ids is required".into());
    }
    Ok(ids)
}

fn op_of(method: &Method, t: EventType, body: &Value) -> Result<WriteOp, String> {
    if method == Method::DELETE {
        return Ok(WriteOp::Delete {
            data_type: t,
            ids: ids_of(body)?,
        });
    }
    let data = body
        .get("data")
        .and_then(Value::as_array)
        .filter(|d| !d.is_empty() && d.iter().all(Value::is_object))
        .ok_or_else(|| {
            format!(
                "data: a non-empty list of Terra {} objects is required",
                t.as_str()
            )
        })?;
    Ok(WriteOp::Post {
        data_type: t,
        data: data.clone(),
    })
}

async fn write(
    api: &Api,
    dev: &DevId,
    t: EventType,
    method: &Method,
    path: &str,
    q: Option<&str>,
    raw: &[u8],
) -> Response {
    let q = Query::parse(q);
    let body: Value = if raw.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(raw) {
            Ok(v @ Value::Object(_)) => v,
            _ => return bad("the request body must be a JSON object"),
        }
    };
    let user_id = q.get("user_id").map(str::to_string).or_else(|| {
        body.get("user_id")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    let Some(user_id) = user_id else {
        return bad("user_id is required (query parameter)");
    };
    let Some(conn) = dev.user(api, &user_id) else {
        return terra_error(StatusCode::NOT_FOUND, "user not found");
    };
    if conn.status != ConnectionStatus::Active {
        return bad("the user is deauthenticated");
    }
    let provider = conn.provider.terra_name();
    let op = match op_of(method, t, &body) {
        Ok(op) => op,
        Err(m) => return bad(m),
    };
    let Some(writes) = api.writes.as_ref() else {
        return terra_error(
            StatusCode::NOT_IMPLEMENTED,
            format!("{method} {path} ({provider} user): writing to providers is not available in this pulsegate build"),
        );
    };
    let user = terra_user(&conn);
    match writes.write(&conn, op).await {
        Ok(WriteResult::Created(log_ids)) => {
            tracing::info!(%user_id, data_type = t.as_str(), written = log_ids.len(), "written at the provider");
            Json(json!({
                "user": user,
                "log_ids": log_ids,
                "message": format!("{} {} object(s) written to {provider}", log_ids.len(), t.as_str()),
            }))
            .into_response()
        }
        Ok(WriteResult::Deleted(processed)) => Json(json!({
            "user": user,
            "processed_data": processed
                .iter()
                .map(|(id, code)| json!({"id": id, "response_code": code}))
                .collect::<Vec<_>>(),
        }))
        .into_response(),
        Ok(WriteResult::ConnectionError(m)) => bad(format!("connection error: {m}")),
        Err(BackfillFailure::WriteUnsupported(m)) => terra_error(
            StatusCode::NOT_IMPLEMENTED,
            format!("{method} {path} ({provider} user): {m}"),
        ),
        // Nothing was written: try again later (not Terra's "processing", which would
        // promise a result).
        Err(BackfillFailure::RateLimited {
            retry_after_seconds,
        }) => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", retry_after_seconds.to_string())],
            Json(json!({
                "status": "error",
                "message": format!("{provider}'s rate limit is reached; nothing was written, try again after {retry_after_seconds} s"),
                "retry_after_seconds": retry_after_seconds,
            })),
        )
            .into_response(),
        Err(BackfillFailure::Provider(m)) => {
            let m: String = m.chars().take(500).collect();
            terra_error(
                StatusCode::BAD_GATEWAY,
                format!("{provider} did not accept the write: {m}"),
            )
        }
        Err(e) => crate::data::failure(e, &user),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bodies_as_terra_python_sends_them() {
        let post = json!({"data": [{"metadata": {"type": 8.0}}]});
        assert!(matches!(
            op_of(&Method::POST, EventType::Activity, &post),
            Ok(WriteOp::Post { data, .. }) if data.len() == 1
        ));
        for bad in [
            json!({}),
            json!({"data": []}),
            json!({"data": [1]}),
            json!({"data": {}}),
        ] {
            let e = op_of(&Method::POST, EventType::Body, &bad).unwrap_err();
            assert!(e.contains("Terra body objects"), "{bad}: {e}");
        }
        let body_delete = json!({"log_ids": ["1330991999000", 42]});
        assert_eq!(
            op_of(&Method::DELETE, EventType::Body, &body_delete),
            Ok(WriteOp::Delete {
                data_type: EventType::Body,
                ids: vec!["1330991999000".into(), "42".into()]
            })
        );
        // Nutrition's delete sends its ids as `data`.
        let nutrition_delete = json!({"data": ["a"]});
        assert!(op_of(&Method::DELETE, EventType::Nutrition, &nutrition_delete).is_ok());
        for bad in [
            json!({}),
            json!({"log_ids": []}),
            json!({"log_ids": [""]}),
            json!({"log_ids": null}),
        ] {
            assert!(
                op_of(&Method::DELETE, EventType::Body, &bad).is_err(),
                "{bad}"
            );
        }
    }
}

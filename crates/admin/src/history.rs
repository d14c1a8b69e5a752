//! `GET /v1/admin/deliveries/history`: every delivery attempt of every dispatch process,
//! from the `delivery_history` topic (kept `dispatcher.history_retention`, default 14
//! days), filtered by destination, user, event type, event id, webhook-id and time;
//! newest first. A scan of the topic: its cost grows with what retention keeps.

use std::collections::VecDeque;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use pulsegate_schema::topics;
use serde::Deserialize;
use serde_json::Value;

use crate::{error, AdminState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Search {
    destination: Option<String>,
    user_id: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    event_id: Option<String>,
    webhook_id: Option<String>,
    since_ms: Option<u64>,
    until_ms: Option<u64>,
    limit: Option<usize>,
}

impl Search {
    fn matches(&self, r: &Value) -> bool {
        let field = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default();
        let at = r.get("at_ms").and_then(Value::as_u64).unwrap_or(0);
        self.destination
            .as_deref()
            .is_none_or(|d| d == field("destination_id"))
            && self
                .user_id
                .as_deref()
                .is_none_or(|u| u == field("user_id"))
            && self
                .event_type
                .as_deref()
                .is_none_or(|t| t == field("type"))
            && self
                .event_id
                .as_deref()
                .is_none_or(|e| e == field("event_id"))
            && self
                .webhook_id
                .as_deref()
                .is_none_or(|w| w == field("webhook_id"))
            && self.since_ms.is_none_or(|t| at >= t)
            && self.until_ms.is_none_or(|t| at < t)
    }
}

pub(crate) async fn search(
    State(s): State<AdminState>,
    query: Result<Query<Search>, QueryRejection>,
) -> Response {
    let Query(q) = match query {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.body_text()),
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let mut reader = match s.bus.read_from_start(topics::DELIVERY_HISTORY).await {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("no delivery history here ({e}); is a dispatcher writing one?"),
            )
        }
    };
    let mut newest: VecDeque<Value> = VecDeque::with_capacity(limit);
    let mut scanned = 0u64;
    while !reader.caught_up() {
        let records = match reader.poll(2048, Duration::from_millis(200)).await {
            Ok(r) => r,
            Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        };
        for r in records {
            scanned += 1;
            let Ok(v) = serde_json::from_slice::<Value>(&r.payload) else {
                continue;
            };
            if q.matches(&v) {
                if newest.len() == limit {
                    newest.pop_front();
                }
                newest.push_back(v);
            }
        }
    }
    // Partitions interleave: newest first by the attempt's own time.
    let mut found: Vec<Value> = newest.into();
    found.sort_by_key(|v| std::cmp::Reverse(v.get("at_ms").and_then(Value::as_u64)));
    Json(serde_json::json!({ "deliveries": found, "scanned": scanned })).into_response()
}

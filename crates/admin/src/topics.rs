//! `GET /v1/admin/topics`: the log as an operator inspects it: each topic's partitions
//! and their end offsets, and for each consumer group that reads it the committed
//! offsets and the lag (end − committed: records written and not yet done).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::ports::TopicReading;
use crate::{error, AdminState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Filter {
    /// Only this topic.
    topic: Option<String>,
}

pub(crate) async fn describe(
    State(s): State<AdminState>,
    query: Result<Query<Filter>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(f) = match query {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.body_text()),
    };
    let mut destinations: Vec<String> = s
        .state
        .destinations()
        .iter()
        .map(|d| d.id.clone())
        .collect();
    destinations.sort();
    let topics = match s.ports.topics.read(&destinations).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "reading the log's offsets failed");
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("the bus did not answer: {e}"),
            );
        }
    };
    let topics: Vec<Value> = topics
        .iter()
        .filter(|t| f.topic.as_deref().is_none_or(|name| name == t.topic))
        .map(view)
        .collect();
    if topics.is_empty() && f.topic.is_some() {
        return error(StatusCode::NOT_FOUND, "no such topic");
    }
    Json(json!({ "bus": s.bus.kind(), "topics": topics })).into_response()
}

fn view(t: &TopicReading) -> Value {
    let partitions: Vec<Value> = t
        .end_offsets
        .iter()
        .enumerate()
        .map(|(p, end)| json!({ "partition": p, "end_offset": end }))
        .collect();
    let groups: Vec<Value> = t
        .groups
        .iter()
        .map(|g| {
            let mut total: Option<u64> = None;
            let partitions: Vec<Value> = t
                .end_offsets
                .iter()
                .enumerate()
                .map(|(p, end)| {
                    let committed = g.committed.get(p).copied().flatten();
                    // A broker that under-reports its high watermark can put a commit
                    // past the end: no lag, never a negative one.
                    let lag = committed.map(|c| end.saturating_sub(c));
                    if let Some(l) = lag {
                        total = Some(total.unwrap_or(0) + l);
                    }
                    json!({ "partition": p, "committed_offset": committed, "lag": lag })
                })
                .collect();
            json!({ "group": g.group, "lag": total, "partitions": partitions })
        })
        .collect();
    json!({
        "name": t.topic,
        "partitions": partitions,
        "end_offset_total": t.end_offsets.iter().sum::<u64>(),
        "groups": groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::GroupReading;

    #[test]
    fn lag_is_end_minus_committed_per_partition_and_in_total() {
        let v = view(&TopicReading {
            topic: "events".into(),
            end_offsets: vec![5, 3, 0],
            groups: vec![
                GroupReading {
                    group: "dispatch.a".into(),
                    committed: vec![Some(2), Some(3), None],
                },
                GroupReading {
                    group: "dispatch.b".into(),
                    committed: vec![None, None, None],
                },
                GroupReading {
                    group: "dispatch.c".into(),
                    // Past a under-reported end: lag 0.
                    committed: vec![Some(6)],
                },
            ],
        });
        assert_eq!(v["end_offset_total"], 8);
        assert_eq!(v["partitions"][1], json!({"partition": 1, "end_offset": 3}));
        let a = &v["groups"][0];
        assert_eq!(a["lag"], 3);
        assert_eq!(
            a["partitions"][0],
            json!({"partition": 0, "committed_offset": 2, "lag": 3})
        );
        assert_eq!(
            a["partitions"][2],
            json!({"partition": 2, "committed_offset": null, "lag": null})
        );
        assert_eq!(v["groups"][1]["lag"], Value::Null);
        assert_eq!(v["groups"][2]["lag"], 0);
        assert_eq!(v["groups"][2]["partitions"][1]["lag"], Value::Null);
    }
}

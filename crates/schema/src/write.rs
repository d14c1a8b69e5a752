//! Customers' writes to their providers (`POST`/`DELETE` on `/v2/activity`, `/v2/body`,
//! `/v2/nutrition`): what is asked ([`WriteOp`]) and what came of it ([`WriteResult`]).
//! Plain data shared by the front door that takes the request (terra-api) and the stage
//! that carries it out (the normalizer's providers), so neither owns the other's types.

use serde_json::Value;

use crate::EventType;

/// One write request.
#[derive(Clone, Debug, PartialEq)]
pub enum WriteOp {
    /// Create these Terra objects (`data`) of `data_type` at the provider.
    Post {
        data_type: EventType,
        data: Vec<Value>,
    },
    /// Delete these objects, identified by the ids a `Post` returned (`log_ids`).
    Delete {
        data_type: EventType,
        ids: Vec<String>,
    },
}

impl WriteOp {
    pub fn data_type(&self) -> EventType {
        match self {
            WriteOp::Post { data_type, .. } | WriteOp::Delete { data_type, .. } => *data_type,
        }
    }

    /// `writing` / `deleting`, for messages.
    pub fn verb(&self) -> &'static str {
        match self {
            WriteOp::Post { .. } => "writing",
            WriteOp::Delete { .. } => "deleting",
        }
    }
}

/// What a write came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteResult {
    /// The provider's ids of what was created, in the order the objects were posted.
    Created(Vec<String>),
    /// Per id: the provider's HTTP status for its deletion (2xx deleted, 404 unknown).
    Deleted(Vec<(String, u16)>),
    /// The provider refused the connection's credentials: a `connection_error`.
    ConnectionError(&'static str),
}

use thiserror::Error;

#[derive(Debug, Error)]
pub enum BusError {
    #[error("unknown topic {0:?}")]
    UnknownTopic(String),
    #[error("the log is closed")]
    Closed,
    #[error("the log is overloaded; try again")]
    Overloaded,
    #[error("storage failure: {0}")]
    Storage(String),
    #[error("broker failure: {0}")]
    Broker(String),
    #[error("corrupt record in {topic}/{partition}@{offset}")]
    Corrupt {
        topic: String,
        partition: u32,
        offset: u64,
    },
    /// A record that a layer above the backend (the sealing of values at rest) cannot
    /// read: altered, or sealed with a key that is not configured.
    #[error("record {topic}/{partition}@{offset} cannot be opened: {reason}")]
    Unreadable {
        topic: String,
        partition: u32,
        offset: u64,
        reason: String,
    },
}

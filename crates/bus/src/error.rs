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
}

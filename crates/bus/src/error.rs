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
    /// The log's disk is below its free-space reserve: appends are refused (retryable)
    /// before the disk fills, because a write that fails half-way poisons the store.
    #[error("the log's disk is nearly full ({free_mib} MiB free, {reserve_mib} MiB reserved); try again")]
    DiskFull { free_mib: u64, reserve_mib: u64 },
    /// Opening found that records acknowledged earlier are gone (see the message).
    #[error("{0}")]
    DataLoss(String),
    #[error("corrupt record in {topic}/{partition}@{offset} (checksum or format mismatch)")]
    Corrupt {
        topic: String,
        partition: u32,
        offset: u64,
    },
    /// The backend does not offer this operation (a backup or compaction on demand on
    /// Kafka): the message says what to use instead.
    #[error("{0}")]
    Unsupported(String),
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

impl BusError {
    /// Whether the same operation may succeed later without intervention (overload, a
    /// full disk): consumers pause and retry instead of stopping.
    pub fn is_retryable(&self) -> bool {
        matches!(self, BusError::Overloaded | BusError::DiskFull { .. })
    }
}

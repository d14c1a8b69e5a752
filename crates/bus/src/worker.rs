use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::{BusError, Consumer, OffsetTracker, Record};

/// What a record handler reports back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handled {
    /// The record's outcome is durable (or it was deliberately dropped): it may be committed.
    Done,
    /// Something transient failed (e.g. the bus refused a write): run the handler again
    /// for this record after the delay. Later records keep flowing; the commit point waits.
    RetryAfter(Duration),
}

/// How a consumer loop runs.
#[derive(Clone, Debug)]
pub struct ConsumerLoopConfig {
    /// Name used in logs and metrics (`consumer` label).
    pub name: String,
    /// Records processed at the same time.
    pub concurrency: usize,
    /// Most records taken in one poll.
    pub batch: usize,
    /// Commit finished offsets at least this often.
    pub commit_interval: Duration,
}

impl ConsumerLoopConfig {
    pub fn new(name: impl Into<String>, concurrency: usize) -> Self {
        Self {
            name: name.into(),
            concurrency: concurrency.max(1),
            batch: 256,
            commit_interval: Duration::from_millis(50),
        }
    }
}

/// Runs `handler` over every record of `consumer` with bounded concurrency, committing
/// each partition's contiguous prefix of finished records. Returns after `shutdown`
/// once in-flight work has finished and been committed.
pub async fn run_consumer<H, F>(
    mut consumer: Box<dyn Consumer>,
    cfg: ConsumerLoopConfig,
    shutdown: CancellationToken,
    handler: H,
) -> Result<(), BusError>
where
    H: Fn(Record) -> F + Send + Sync + 'static,
    F: Future<Output = Handled> + Send + 'static,
{
    let handler = Arc::new(handler);
    let mut tracker = OffsetTracker::new();
    let mut inflight: JoinSet<(u32, u64)> = JoinSet::new();
    let mut last_commit = Instant::now();
    let name: Arc<str> = cfg.name.clone().into();
    let processed = metrics::counter!("pulsegate_consumer_records_total", "consumer" => name.to_string());

    loop {
        let room = cfg.concurrency.saturating_sub(inflight.len());
        let wait = idle_wait(inflight.len());
        let busy = !inflight.is_empty();
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            Some(done) = inflight.join_next(), if busy => {
                finish(&mut tracker, done);
                processed.increment(1);
            }
            polled = consumer.poll(room.min(cfg.batch), wait), if room > 0 => {
                for record in polled? {
                    tracker.track(record.partition, record.offset);
                    inflight.spawn(process(handler.clone(), record));
                }
            }
        }
        if last_commit.elapsed() >= cfg.commit_interval {
            commit(&mut *consumer, &mut tracker).await?;
            last_commit = Instant::now();
        }
    }

    while let Some(done) = inflight.join_next().await {
        finish(&mut tracker, done);
    }
    commit(&mut *consumer, &mut tracker).await
}

fn idle_wait(in_flight: usize) -> Duration {
    // With work in flight, come back soon to collect completions and commit.
    if in_flight == 0 {
        Duration::from_millis(500)
    } else {
        Duration::from_millis(20)
    }
}

fn finish(tracker: &mut OffsetTracker, done: Result<(u32, u64), tokio::task::JoinError>) {
    match done {
        Ok((partition, offset)) => tracker.complete(partition, offset),
        // A panicking handler is a bug; its record stays uncommitted and is redelivered
        // after a restart rather than silently skipped.
        Err(e) => tracing::error!(error = %e, "record handler panicked"),
    }
}

async fn commit(consumer: &mut dyn Consumer, tracker: &mut OffsetTracker) -> Result<(), BusError> {
    let offsets = tracker.take_commits();
    if offsets.is_empty() {
        return Ok(());
    }
    consumer.commit(&offsets).await
}

async fn process<H, F>(handler: Arc<H>, record: Record) -> (u32, u64)
where
    H: Fn(Record) -> F + Send + Sync + 'static,
    F: Future<Output = Handled> + Send + 'static,
{
    let (partition, offset) = (record.partition, record.offset);
    loop {
        match handler(record.clone()).await {
            Handled::Done => return (partition, offset),
            Handled::RetryAfter(delay) => tokio::time::sleep(delay).await,
        }
    }
}

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
    /// Left unfinished on purpose (the loop is stopping, or the work no longer belongs
    /// to this consumer): never committed, so the group sees the record again later.
    /// Lets handlers that wait for long stretches (a retry due in hours, an open
    /// breaker) give up at shutdown without the record counting as done.
    Abandon,
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
    /// With records in flight, poll again only once this many slots are free: fewer,
    /// larger reads.
    pub poll_threshold: usize,
}

impl ConsumerLoopConfig {
    pub fn new(name: impl Into<String>, concurrency: usize) -> Self {
        let concurrency = concurrency.max(1);
        Self {
            name: name.into(),
            concurrency,
            batch: 256,
            commit_interval: Duration::from_millis(50),
            poll_threshold: (concurrency / 4).max(1),
        }
    }
}

/// Runs `handler` over every record of `consumer` with bounded concurrency, committing
/// each partition's contiguous prefix of finished records. Returns after `shutdown`
/// once in-flight work has finished (handlers should watch `shutdown` too and answer
/// [`Handled::Abandon`] rather than wait on) and what finished has been committed.
/// A bus error stops the loop after committing what finished.
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
    let mut inflight: JoinSet<(u32, u64, bool)> = JoinSet::new();
    let mut last_commit = Instant::now();
    let processed =
        metrics::counter!("pulsegate_consumer_records_total", "consumer" => cfg.name.clone());
    let mut result = Ok(());

    loop {
        let busy = !inflight.is_empty();
        let free = cfg.concurrency.saturating_sub(inflight.len());
        let room = if !busy || free >= cfg.poll_threshold {
            free
        } else {
            0
        };
        let wait = idle_wait(inflight.len());
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            Some(done) = inflight.join_next(), if busy => {
                finish(&mut tracker, done);
                processed.increment(1);
            }
            polled = consumer.poll(room.min(cfg.batch), wait), if room > 0 => match polled {
                Ok(records) => for record in records {
                    tracker.track(record.partition, record.offset);
                    inflight.spawn(process(handler.clone(), record));
                },
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if last_commit.elapsed() >= cfg.commit_interval {
            if let Err(e) = commit(&mut *consumer, &mut tracker).await {
                result = Err(e);
                break;
            }
            last_commit = Instant::now();
        }
    }

    while let Some(done) = inflight.join_next().await {
        finish(&mut tracker, done);
    }
    let committed = commit(&mut *consumer, &mut tracker).await;
    result.and(committed)
}

fn idle_wait(in_flight: usize) -> Duration {
    // With work in flight, come back soon to collect completions and commit.
    if in_flight == 0 {
        Duration::from_millis(500)
    } else {
        Duration::from_millis(20)
    }
}

fn finish(tracker: &mut OffsetTracker, done: Result<(u32, u64, bool), tokio::task::JoinError>) {
    match done {
        Ok((partition, offset, true)) => tracker.complete(partition, offset),
        Ok((_, _, false)) => {} // abandoned: stays uncommitted
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

/// Runs the handler until it finishes or abandons the record; `true` = finished.
async fn process<H, F>(handler: Arc<H>, record: Record) -> (u32, u64, bool)
where
    H: Fn(Record) -> F + Send + Sync + 'static,
    F: Future<Output = Handled> + Send + 'static,
{
    let (partition, offset) = (record.partition, record.offset);
    loop {
        match handler(record.clone()).await {
            Handled::Done => return (partition, offset, true),
            Handled::Abandon => return (partition, offset, false),
            Handled::RetryAfter(delay) => tokio::time::sleep(delay).await,
        }
    }
}

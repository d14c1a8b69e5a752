//! The consumer loop every dispatcher worker runs.
//!
//! Like `pulsegate_bus::run_consumer` (bounded concurrency, per-partition commit of the
//! contiguous prefix of finished records), with one addition the dispatcher needs: a
//! handler may *abandon* a record. Handlers wait for long stretches (a retry tier
//! sleeping until a task is due, a main worker waiting on its open breaker); at
//! shutdown or when their destination goes away they must stop waiting without the
//! record counting as finished. An abandoned record is never committed, so the group
//! sees it again after a restart: nothing acknowledged is lost.

use std::future::Future;
use std::time::{Duration, Instant};

use pulsegate_bus::{BusError, Consumer, OffsetTracker, Record};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// What a handler did with a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Its outcome is durable (delivered, scheduled for retry, dead-lettered or
    /// deliberately dropped): it may be committed.
    Done,
    /// Left unfinished (stopping): not committed, seen again after a restart.
    Abandon,
}

pub(crate) struct LoopConfig {
    pub concurrency: usize,
    pub batch: usize,
    /// Free slots needed before polling again while records are in flight.
    pub poll_threshold: usize,
    pub commit_interval: Duration,
}

impl LoopConfig {
    pub fn new(concurrency: usize) -> Self {
        let concurrency = concurrency.max(1);
        Self {
            concurrency,
            batch: 256,
            poll_threshold: (concurrency / 4).max(1),
            commit_interval: Duration::from_millis(50),
        }
    }
}

/// Runs `handler` over `consumer`'s records until `stop`, then waits for the records in
/// flight (handlers are expected to watch `stop` too) and commits what finished.
pub(crate) async fn consume<H, F>(
    consumer: &mut dyn Consumer,
    cfg: &LoopConfig,
    stop: &CancellationToken,
    handler: H,
) -> Result<(), BusError>
where
    H: Fn(Record) -> F,
    F: Future<Output = Step> + Send + 'static,
{
    let mut tracker = OffsetTracker::new();
    let mut inflight: JoinSet<(u32, u64, Step)> = JoinSet::new();
    let mut last_commit = Instant::now();
    let mut result = Ok(());

    loop {
        let busy = !inflight.is_empty();
        // Poll for a batch, not for every single freed slot: fewer, larger reads.
        let free = cfg.concurrency.saturating_sub(inflight.len());
        let room = if !busy || free >= cfg.poll_threshold {
            free
        } else {
            0
        };
        let wait = if busy {
            Duration::from_millis(20)
        } else {
            Duration::from_millis(500)
        };
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            Some(done) = inflight.join_next(), if busy => finish(&mut tracker, done),
            polled = consumer.poll(room.min(cfg.batch), wait), if room > 0 => match polled {
                Ok(records) => {
                    for record in records {
                        tracker.track(record.partition, record.offset);
                        let (p, o) = (record.partition, record.offset);
                        let fut = handler(record);
                        inflight.spawn(async move { (p, o, fut.await) });
                    }
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if last_commit.elapsed() >= cfg.commit_interval {
            if let Err(e) = commit(consumer, &mut tracker).await {
                result = Err(e);
                break;
            }
            last_commit = Instant::now();
        }
    }

    while let Some(done) = inflight.join_next().await {
        finish(&mut tracker, done);
    }
    let committed = commit(consumer, &mut tracker).await;
    result.and(committed)
}

fn finish(tracker: &mut OffsetTracker, done: Result<(u32, u64, Step), tokio::task::JoinError>) {
    match done {
        Ok((p, o, Step::Done)) => tracker.complete(p, o),
        Ok((_, _, Step::Abandon)) => {}
        // A panicking handler is a bug; its record stays uncommitted (redelivered after
        // a restart) rather than silently skipped.
        Err(e) => tracing::error!(error = %e, "delivery handler panicked"),
    }
}

async fn commit(consumer: &mut dyn Consumer, tracker: &mut OffsetTracker) -> Result<(), BusError> {
    let offsets = tracker.take_commits();
    if offsets.is_empty() {
        return Ok(());
    }
    consumer.commit(&offsets).await
}

/// Sleeps `d` unless `stop` comes first; false when stopped.
pub(crate) async fn sleep_or_stop(d: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(d) => true,
    }
}

use std::collections::{HashMap, VecDeque};
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
    /// Records with the same key run one after the other, in offset order (a later one
    /// waits for the earlier to finish); different keys still run concurrently. For
    /// consumers where a key's records must not overtake each other (one user's
    /// notifications: data before a deauthorization).
    pub ordered_by_key: bool,
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
            ordered_by_key: false,
        }
    }

    /// Same-key records one after the other (see [`ordered_by_key`](Self::ordered_by_key)).
    pub fn ordered_by_key(mut self) -> Self {
        self.ordered_by_key = true;
        self
    }
}

/// Records waiting for an earlier record with the same key (partition, key).
type Chains = HashMap<(u32, bytes::Bytes), VecDeque<Record>>;

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
    let mut inflight: JoinSet<Outcome> = JoinSet::new();
    let mut chains: Chains = HashMap::new();
    let mut queued = 0usize;
    let mut last_commit = Instant::now();
    // The loop neither polls nor collects while it commits: a slow commit (a broker
    // round trip) spaces the next one out, so committing takes at most a fifth of the time.
    let mut commit_every = cfg.commit_interval;
    let processed =
        metrics::counter!("pulsegate_consumer_records_total", "consumer" => cfg.name.clone());
    let commit_secs =
        metrics::histogram!("pulsegate_consumer_commit_seconds", "consumer" => cfg.name.clone());
    let mut result = Ok(());

    loop {
        let occupied = inflight.len() + queued;
        let busy = !inflight.is_empty();
        let free = cfg.concurrency.saturating_sub(occupied);
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
                if let Some(next) = finish(&mut tracker, &mut chains, done) {
                    queued -= 1;
                    inflight.spawn(process(handler.clone(), next, true));
                }
                processed.increment(1);
            }
            polled = consumer.poll(room.min(cfg.batch), wait), if room > 0 => match polled {
                Ok(records) => for record in records {
                    tracker.track(record.partition, record.offset);
                    if cfg.ordered_by_key && !record.key.is_empty() {
                        let chain_key = (record.partition, record.key.clone());
                        if let Some(waiting) = chains.get_mut(&chain_key) {
                            waiting.push_back(record);
                            queued += 1;
                            continue;
                        }
                        chains.insert(chain_key, VecDeque::new());
                        inflight.spawn(process(handler.clone(), record, true));
                    } else {
                        inflight.spawn(process(handler.clone(), record, false));
                    }
                },
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if last_commit.elapsed() >= commit_every {
            let started = Instant::now();
            if let Err(e) = commit(&mut *consumer, &mut tracker).await {
                result = Err(e);
                break;
            }
            let took = started.elapsed();
            commit_secs.record(took.as_secs_f64());
            commit_every = cfg.commit_interval.max(took * 4);
            last_commit = Instant::now();
        }
    }

    // Stopping: what is running finishes (or abandons); records still waiting behind
    // a key are left uncommitted and come back to the group.
    while let Some(done) = inflight.join_next().await {
        finish(&mut tracker, &mut chains, done);
    }
    let committed = commit(&mut *consumer, &mut tracker).await;
    result.and(committed)
}

/// A finished record: where it was, whether it is done, and its key when it was chained.
struct Outcome {
    partition: u32,
    offset: u64,
    finished: bool,
    chained_key: Option<bytes::Bytes>,
}

fn idle_wait(in_flight: usize) -> Duration {
    // With work in flight, come back soon to collect completions and commit.
    if in_flight == 0 {
        Duration::from_millis(500)
    } else {
        Duration::from_millis(20)
    }
}

/// Records the outcome; returns the next record waiting behind the same key, if any.
fn finish(
    tracker: &mut OffsetTracker,
    chains: &mut Chains,
    done: Result<Outcome, tokio::task::JoinError>,
) -> Option<Record> {
    match done {
        Ok(o) => {
            if o.finished {
                tracker.complete(o.partition, o.offset);
            }
            // Abandoned: stays uncommitted. Either way the key's next record may run.
            let key = o.chained_key?;
            let chain_key = (o.partition, key);
            let next = chains.get_mut(&chain_key).and_then(VecDeque::pop_front);
            if next.is_none() {
                chains.remove(&chain_key);
            }
            next
        }
        // A panicking handler is a bug; its record stays uncommitted and is redelivered
        // after a restart rather than silently skipped. (Its key's chain, if any, stays
        // blocked until then: later records of that key must not overtake it.)
        Err(e) => {
            tracing::error!(error = %e, "record handler panicked");
            None
        }
    }
}

async fn commit(consumer: &mut dyn Consumer, tracker: &mut OffsetTracker) -> Result<(), BusError> {
    let offsets = tracker.take_commits();
    if offsets.is_empty() {
        return Ok(());
    }
    match consumer.commit(&offsets).await {
        // A full disk (or overload) passes: keep the commit points and try again at the
        // next interval rather than stop the loop (and the process with it). Debug: the
        // log logs the full disk itself, once, and this repeats every interval.
        Err(e) if e.is_retryable() => {
            tracing::debug!(error = %e, "offset commit refused for now; retrying later");
            tracker.restore(&offsets);
            Ok(())
        }
        other => other,
    }
}

/// Runs the handler until it finishes or abandons the record.
///
/// The handler is called here, synchronously, before the returned future is spawned:
/// the loop calls it in poll order (offset order within a partition), so whatever a
/// handler does before its first `.await` point (the dispatcher registers a request's
/// `large_request_sending` there, for the request's data to wait on) happens in log
/// order even though the futures then run concurrently.
fn process<H, F>(handler: Arc<H>, record: Record, chained: bool) -> impl Future<Output = Outcome>
where
    H: Fn(Record) -> F + Send + Sync + 'static,
    F: Future<Output = Handled> + Send + 'static,
{
    let (partition, offset) = (record.partition, record.offset);
    let chained_key = chained.then(|| record.key.clone());
    let mut first = Some(handler(record.clone()));
    async move {
        loop {
            let attempt = match first.take() {
                Some(f) => f,
                None => handler(record.clone()),
            };
            let finished = match attempt.await {
                Handled::Done => true,
                Handled::Abandon => false,
                Handled::RetryAfter(delay) => {
                    tokio::time::sleep(delay).await;
                    continue;
                }
            };
            return Outcome {
                partition,
                offset,
                finished,
                chained_key,
            };
        }
    }
}

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
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
/// each partition's contiguous prefix of finished records. A bus error stops the loop
/// after committing what finished.
///
/// After `shutdown` nothing more is polled; the records already taken are finished:
/// those running, and those queued behind a running one of the same key (at most
/// `concurrency` in all; leaving them would stall their partition's commit point and
/// have every later finished record redelivered). Finished work is committed as it
/// finishes, every `commit_interval`, so a process cut off at its shutdown deadline
/// redelivers only what was really still running. Handlers should watch `shutdown`
/// too and answer [`Handled::Abandon`] rather than wait on; a [`Handled::RetryAfter`]
/// during shutdown abandons the record (it is redelivered), and a key whose record was
/// abandoned runs nothing more (its later records would overtake it). Returns once
/// nothing runs and what finished is committed; [`stopping_consumers`] lists the loops
/// still finishing meanwhile.
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
                if let Some(next) = finish(&mut tracker, &mut chains, &mut queued, done) {
                    inflight.spawn(process(handler.clone(), next, true, shutdown.clone()));
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
                        inflight.spawn(process(handler.clone(), record, true, shutdown.clone()));
                    } else {
                        inflight.spawn(process(handler.clone(), record, false, shutdown.clone()));
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

    // Stopping: what was taken finishes (or abandons), committed as it goes.
    let stopping = Stopping::register(&cfg.name, inflight.len() + queued);
    let mut tick = tokio::time::interval(commit_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !inflight.is_empty() {
        tokio::select! {
            Some(done) = inflight.join_next() => {
                let next = finish(&mut tracker, &mut chains, &mut queued, done);
                // After a bus error nothing new starts: the loop is given up.
                if let Some(next) = next.filter(|_| result.is_ok()) {
                    inflight.spawn(process(handler.clone(), next, true, shutdown.clone()));
                }
                processed.increment(1);
                stopping.set(inflight.len() + queued);
            }
            _ = tick.tick() => {}
        }
        if result.is_ok() && last_commit.elapsed() >= commit_every {
            if let Err(e) = commit(&mut *consumer, &mut tracker).await {
                result = Err(e);
            }
            last_commit = Instant::now();
        }
    }
    result?;
    commit(&mut *consumer, &mut tracker).await
}

/// Consumer loops finishing their taken records after shutdown, by name, with how many
/// records each still has running or queued (for the shutdown deadline's warning).
pub fn stopping_consumers() -> Vec<(String, usize)> {
    let loops = STOPPING.lock().unwrap_or_else(|e| e.into_inner());
    let mut out: Vec<(String, usize)> = loops
        .values()
        .map(|(name, left)| (name.clone(), left.load(Ordering::Relaxed)))
        .collect();
    out.sort();
    out
}

static STOPPING: Mutex<BTreeMap<u64, (String, Arc<AtomicUsize>)>> = Mutex::new(BTreeMap::new());
static STOPPING_IDS: AtomicU64 = AtomicU64::new(0);

/// A loop's entry in [`stopping_consumers`] while it finishes; removed when dropped.
struct Stopping {
    id: u64,
    left: Arc<AtomicUsize>,
}

impl Stopping {
    fn register(name: &str, left: usize) -> Self {
        let id = STOPPING_IDS.fetch_add(1, Ordering::Relaxed);
        let left = Arc::new(AtomicUsize::new(left));
        STOPPING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, (name.to_string(), left.clone()));
        Self { id, left }
    }

    fn set(&self, left: usize) {
        self.left.store(left, Ordering::Relaxed);
    }
}

impl Drop for Stopping {
    fn drop(&mut self) {
        STOPPING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
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

/// Records the outcome; returns the next record waiting behind the same key, if any,
/// taking it off `queued`.
fn finish(
    tracker: &mut OffsetTracker,
    chains: &mut Chains,
    queued: &mut usize,
    done: Result<Outcome, tokio::task::JoinError>,
) -> Option<Record> {
    match done {
        Ok(o) => {
            if o.finished {
                tracker.complete(o.partition, o.offset);
            }
            let key = o.chained_key?;
            let chain_key = (o.partition, key);
            if !o.finished {
                // Abandoned: stays uncommitted, and so do the key's waiting records (run
                // now, they would overtake it); the group sees them all again.
                if let Some(waiting) = chains.remove(&chain_key) {
                    *queued -= waiting.len();
                }
                return None;
            }
            let next = chains.get_mut(&chain_key).and_then(VecDeque::pop_front);
            match next {
                Some(_) => *queued -= 1,
                None => {
                    chains.remove(&chain_key);
                }
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

/// Runs the handler until it finishes or abandons the record (a retry due after
/// `shutdown` abandons it).
///
/// The handler is called here, synchronously, before the returned future is spawned:
/// the loop calls it in poll order (offset order within a partition), so whatever a
/// handler does before its first `.await` point (the dispatcher registers a request's
/// `large_request_sending` there, for the request's data to wait on) happens in log
/// order even though the futures then run concurrently.
fn process<H, F>(
    handler: Arc<H>,
    record: Record,
    chained: bool,
    shutdown: CancellationToken,
) -> impl Future<Output = Outcome>
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
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => continue,
                        _ = shutdown.cancelled() => false,
                    }
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

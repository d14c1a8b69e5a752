//! The backfill lane's consumer loop: like [`pulsegate_bus::run_consumer`], but the
//! records of one key (one user) run one at a time and in offset order (a request's
//! windows in order, `large_request_sending` before the first data), at most
//! `concurrency` at a time per class (per provider: a provider's rate-limit wait never
//! holds another provider's windows), and each finished record is committed at once.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use pulsegate_bus::{BusError, Consumer, Handled, OffsetTracker, Record};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Records read ahead and not yet finished, at most.
const MAX_BUFFERED: usize = 4096;

#[derive(Default)]
struct Class {
    /// Keys with queued records and nothing running, in arrival order.
    ready: VecDeque<Bytes>,
    running: usize,
}

/// Runs `handler` over every record of `consumer` until `shutdown` (then waits for the
/// running handlers, which should answer [`Handled::Abandon`] promptly, and commits what
/// finished). `class_of` names a record's class; its key is the record key.
pub async fn run_keyed<H, F, C>(
    mut consumer: Box<dyn Consumer>,
    name: &str,
    concurrency: usize,
    shutdown: CancellationToken,
    class_of: C,
    handler: H,
) -> Result<(), BusError>
where
    H: Fn(Record) -> F + Send + Sync + 'static,
    F: Future<Output = Handled> + Send + 'static,
    C: Fn(&Record) -> String,
{
    let concurrency = concurrency.max(1);
    let handler = Arc::new(handler);
    let mut tracker = OffsetTracker::new();
    let mut queues: HashMap<Bytes, (String, VecDeque<Record>)> = HashMap::new();
    let mut classes: HashMap<String, Class> = HashMap::new();
    // Keys with a record running (their next records wait).
    let mut busy: HashSet<Bytes> = HashSet::new();
    let mut running: HashMap<tokio::task::Id, (Bytes, String)> = HashMap::new();
    let mut inflight: JoinSet<(u32, u64, bool)> = JoinSet::new();
    let mut buffered = 0usize;
    let processed =
        metrics::counter!("pulsegate_consumer_records_total", "consumer" => name.to_string());
    let mut result = Ok(());

    loop {
        // Start what may start.
        for (class_name, class) in classes.iter_mut() {
            while class.running < concurrency {
                let Some(key) = class.ready.pop_front() else {
                    break;
                };
                let Some((_, queue)) = queues.get_mut(&key) else {
                    continue;
                };
                let Some(record) = queue.pop_front() else {
                    continue;
                };
                let h = handler.clone();
                let handle = inflight.spawn(process(h, record));
                running.insert(handle.id(), (key.clone(), class_name.clone()));
                busy.insert(key);
                class.running += 1;
            }
        }
        let room = MAX_BUFFERED.saturating_sub(buffered).min(256);
        let wait = if inflight.is_empty() {
            Duration::from_millis(500)
        } else {
            Duration::from_millis(50)
        };
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            Some(done) = inflight.join_next_with_id(), if !inflight.is_empty() => {
                let id = match &done {
                    Ok((id, _)) => *id,
                    Err(e) => e.id(),
                };
                let Some((key, class_name)) = running.remove(&id) else { continue };
                if let Some(class) = classes.get_mut(&class_name) {
                    class.running = class.running.saturating_sub(1);
                }
                match done {
                    Ok((_, (partition, offset, true))) => {
                        tracker.complete(partition, offset);
                        buffered = buffered.saturating_sub(1);
                        processed.increment(1);
                        busy.remove(&key);
                        let more = queues.get(&key).is_some_and(|(_, q)| !q.is_empty());
                        if more {
                            if let Some(class) = classes.get_mut(&class_name) {
                                class.ready.push_back(key);
                            }
                        } else {
                            queues.remove(&key);
                        }
                    }
                    // Abandoned (stopping): stays uncommitted, and the key's later records
                    // wait for it (they are seen again after a restart).
                    Ok((_, (_, _, false))) => {}
                    // A panicking handler is a bug: its record stays uncommitted and its
                    // key blocked, so nothing of that user runs out of order.
                    Err(e) => tracing::error!(error = %e, "backfill handler panicked"),
                }
                if let Err(e) = commit(&mut *consumer, &mut tracker).await {
                    result = Err(e);
                    break;
                }
            }
            polled = consumer.poll(room, wait), if room > 0 => match polled {
                Ok(records) => for record in records {
                    tracker.track(record.partition, record.offset);
                    buffered += 1;
                    let key = record.key.clone();
                    let class_name = class_of(&record);
                    let entry = queues
                        .entry(key.clone())
                        .or_insert_with(|| (class_name.clone(), VecDeque::new()));
                    let first = entry.1.is_empty();
                    entry.1.push_back(record);
                    if first && !busy.contains(&key) {
                        classes.entry(entry.0.clone()).or_default().ready.push_back(key);
                    }
                },
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
    }

    while let Some(done) = inflight.join_next().await {
        if let Ok((partition, offset, true)) = done {
            tracker.complete(partition, offset);
        }
    }
    let committed = commit(&mut *consumer, &mut tracker).await;
    result.and(committed)
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

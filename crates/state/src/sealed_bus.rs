//! [`SealingBus`]: any [`Bus`] with every record value sealed at rest (see
//! [`crate::seal`]). Keys stay in clear (the log partitions and compacts by them);
//! values (health payloads, dead letters, state records) are sealed on append and
//! opened on poll. A value that does not open is a poll error naming the record and
//! the key id, never a record silently skipped, with one exception: a record sealed
//! with an erased user data key (the user deauthorized, see [`crate::user_keys`]) is
//! skipped, counted (`pulsegate_records_erased_total{topic}`) and committed past.
//!
//! The state topic holds the users' keys itself, and a few records sealed with them (the
//! poll cursors): a record whose key is not known yet, after others in the same batch,
//! is handed out with the next poll instead, once the reader applied the batch (which
//! may hold the key).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use pulsegate_bus::{Bus, BusError, Consumer, OffsetReset, Outgoing, Position, Record, TopicSpec};
use pulsegate_schema::topics;

use crate::seal::{user_key_id_of, OpenError, Sealer};
use crate::UserKeys;

pub struct SealingBus {
    inner: Arc<dyn Bus>,
    sealer: Arc<Sealer>,
}

impl SealingBus {
    pub fn new(inner: Arc<dyn Bus>, sealer: Sealer) -> Self {
        Self {
            inner,
            sealer: Arc::new(sealer),
        }
    }

    /// The per-user data keys of this bus's sealer: give them to the
    /// [`StateStore`](crate::StateStore) ([`start_with`](crate::StateStore::start_with)).
    pub fn user_keys(&self) -> Arc<UserKeys> {
        self.sealer.user_keys()
    }

    /// The log below the sealing and the sealer, for re-sealing the state topic under
    /// the current key ([`StateStore::attach_key_view`](crate::StateStore::attach_key_view)).
    pub fn key_view(&self) -> crate::KeyView {
        crate::KeyView {
            raw: self.inner.clone(),
            sealer: self.sealer.clone(),
        }
    }

    fn seal(&self, topic: &str, mut r: Outgoing) -> Outgoing {
        r.payload = Bytes::from(self.sealer.seal(topic, &r.key, &r.payload));
        r
    }
}

#[async_trait]
impl Bus for SealingBus {
    async fn ensure_topic(&self, spec: &TopicSpec) -> Result<(), BusError> {
        self.inner.ensure_topic(spec).await
    }

    async fn append(&self, topic: &str, record: Outgoing) -> Result<Position, BusError> {
        self.inner.append(topic, self.seal(topic, record)).await
    }

    async fn append_batch(
        &self,
        topic: &str,
        records: Vec<Outgoing>,
    ) -> Result<Vec<Position>, BusError> {
        let sealed = records.into_iter().map(|r| self.seal(topic, r)).collect();
        self.inner.append_batch(topic, sealed).await
    }

    async fn subscribe(
        &self,
        topic: &str,
        group: &str,
        reset: OffsetReset,
    ) -> Result<Box<dyn Consumer>, BusError> {
        let inner = self.inner.subscribe(topic, group, reset).await?;
        Ok(Box::new(OpeningConsumer::new(
            inner,
            self.sealer.clone(),
            true,
        )))
    }

    async fn start_group_at_end(&self, topic: &str, group: &str) -> Result<(), BusError> {
        self.inner.start_group_at_end(topic, group).await
    }

    async fn read_from_start(&self, topic: &str) -> Result<Box<dyn Consumer>, BusError> {
        let inner = self.inner.read_from_start(topic).await?;
        Ok(Box::new(OpeningConsumer::new(
            inner,
            self.sealer.clone(),
            false,
        )))
    }

    fn is_healthy(&self) -> bool {
        self.inner.is_healthy()
    }

    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    /// Values are copied as stored: a backup stays sealed.
    async fn backup(&self) -> Result<Box<dyn pulsegate_bus::BackupSource>, BusError> {
        self.inner.backup().await
    }

    async fn compact(&self, topic: &str) -> Result<u64, BusError> {
        self.inner.compact(topic).await
    }
}

struct OpeningConsumer {
    inner: Box<dyn Consumer>,
    sealer: Arc<Sealer>,
    /// Per partition, what was handed out and skipped, to commit past erased records.
    partitions: HashMap<u32, Skips>,
    /// A group member: records it hands out are worked on until committed.
    grouped: bool,
    /// Handed out, opened with a user key, not committed yet (see [`UserKeys`]'s
    /// in-flight records): the topic and (partition, offset)s.
    held: Option<(Arc<str>, HeldRecords)>,
    /// Records taken from `inner` and not opened yet: the rest of a batch (a state
    /// record waiting for a key in an earlier one, see the module comment, or a poll
    /// dropped while catching up).
    pending: VecDeque<Record>,
    /// Opened and not returned yet (a poll dropped while catching up).
    opened: Vec<Record>,
    /// When the batch in `pending` was polled: the state barrier a catch-up waits for.
    polled_at: Instant,
    /// This batch already caught up with the state topic once.
    caught_up_once: bool,
}

type HeldRecords = BTreeSet<(u32, u64)>;

/// A partition's erased records after the last record handed out. Records skipped
/// between two handed-out ones need nothing: the caller's commit of the later one
/// passes them. Those after the last one are committed past once everything handed out
/// before them is committed (by widening the caller's commit, or by this consumer).
#[derive(Default)]
struct Skips {
    handed_out: Option<u64>,
    /// The caller's last commit point (next offset).
    committed: u64,
    /// Skipped offsets `[from, to)` after `handed_out`.
    tail: Option<(u64, u64)>,
}

impl Skips {
    fn handed_out_all_committed(&self) -> bool {
        self.handed_out.is_none_or(|h| self.committed > h)
    }
}

impl OpeningConsumer {
    fn new(inner: Box<dyn Consumer>, sealer: Arc<Sealer>, grouped: bool) -> Self {
        Self {
            inner,
            sealer,
            partitions: HashMap::new(),
            grouped,
            held: None,
            pending: VecDeque::new(),
            opened: Vec::new(),
            polled_at: Instant::now(),
            caught_up_once: false,
        }
    }

    fn hold(&mut self, r: &Record, sealed: &[u8]) {
        let Some(id) = user_key_id_of(sealed).filter(|_| self.grouped) else {
            return;
        };
        let (_, held) = self
            .held
            .get_or_insert_with(|| (r.topic.clone(), BTreeSet::new()));
        if held.insert((r.partition, r.offset)) {
            self.sealer
                .user_keys()
                .hold((r.topic.clone(), r.partition, r.offset), id);
        }
    }

    /// Lets go of held records below the committed offsets.
    fn release(&mut self, committed: &[(u32, u64)]) {
        let Some((topic, held)) = &mut self.held else {
            return;
        };
        let mut done = Vec::new();
        for &(p, next) in committed {
            done.extend(held.range((p, 0)..(p, next)).copied());
        }
        for r in &done {
            held.remove(r);
        }
        self.sealer.user_keys().release(topic, done.into_iter());
    }

    /// Commits past erased records nothing else would commit past (nothing followed
    /// them yet, and what came before is committed).
    async fn commit_skipped_tails(&mut self) -> Result<(), BusError> {
        let due: Vec<(u32, u64)> = self
            .partitions
            .iter()
            .filter(|(_, s)| s.handed_out_all_committed())
            .filter_map(|(p, s)| s.tail.map(|(_, to)| (*p, to)))
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        match self.inner.commit(&due).await {
            Ok(()) => {
                for (p, to) in due {
                    let s = self.partitions.entry(p).or_default();
                    s.tail = None;
                    s.committed = s.committed.max(to);
                }
                Ok(())
            }
            // Kept for the next poll.
            Err(e) if e.is_retryable() => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl Consumer for OpeningConsumer {
    /// Cancel-safe, as callers that `select!` over it need: records taken from the inner
    /// consumer wait in `pending` until opened, and opened ones in `opened` until
    /// returned, so a poll dropped at its one await (the catch-up with the state topic)
    /// loses none; the next poll goes on with them. (The inner consumer will not hand
    /// them out again: dropping them would skip them for good.)
    async fn poll(&mut self, max: usize, max_wait: Duration) -> Result<Vec<Record>, BusError> {
        if self.pending.is_empty() && self.opened.is_empty() {
            self.commit_skipped_tails().await?;
            self.polled_at = Instant::now();
            self.caught_up_once = false;
            self.pending = self.inner.poll(max, max_wait).await?.into();
        }
        while let Some(r) = self.pending.front() {
            let opened = self.sealer.open(&r.topic, &r.key, &r.payload);
            // On the state topic, the key may be in a record handed out before this one
            // and not applied yet: hand that out first, this one with the next poll.
            if matches!(opened, Err(OpenError::UnknownUserKey(_)))
                && &*r.topic == topics::STATE
                && !self.opened.is_empty()
            {
                break;
            }
            // A key another process created just before sealing this record may not be
            // applied here yet: catch up with the state topic once, then decide. (Never
            // for the state topic itself: its reader is the one that would catch up.)
            if matches!(opened, Err(OpenError::UnknownUserKey(_)))
                && !self.caught_up_once
                && &*r.topic != topics::STATE
            {
                tracing::debug!(topic = %r.topic, partition = r.partition, offset = r.offset,
                    "record sealed with a user key not applied yet: catching up with the state topic");
                self.sealer.user_keys().catch_up(self.polled_at).await;
                self.caught_up_once = true;
                continue;
            }
            let Some(mut r) = self.pending.pop_front() else {
                break;
            };
            if opened.is_ok() {
                self.hold(&r, &r.payload);
            }
            let skips = self.partitions.entry(r.partition).or_default();
            match opened {
                Ok(plain) => {
                    r.payload = Bytes::from(plain);
                    skips.handed_out = Some(r.offset);
                    skips.tail = None;
                    self.opened.push(r);
                }
                Err(OpenError::Erased(id)) => {
                    metrics::counter!("pulsegate_records_erased_total", "topic" => r.topic.to_string())
                        .increment(1);
                    tracing::debug!(topic = %r.topic, partition = r.partition, offset = r.offset,
                        key_id = %hex::encode(id), "record of an erased user skipped");
                    let from = skips.tail.map_or(r.offset, |(from, _)| from);
                    skips.tail = Some((from, r.offset + 1));
                }
                Err(e) => {
                    return Err(BusError::Unreadable {
                        topic: r.topic.to_string(),
                        partition: r.partition,
                        offset: r.offset,
                        reason: e.to_string(),
                    })
                }
            }
        }
        Ok(std::mem::take(&mut self.opened))
    }

    async fn commit(&mut self, offsets: &[(u32, u64)]) -> Result<(), BusError> {
        let mut widened = offsets.to_vec();
        for (p, next) in &mut widened {
            let s = self.partitions.entry(*p).or_default();
            let covers_handed_out = s.handed_out.is_none_or(|h| *next > h);
            if let Some((_, to)) = s.tail.filter(|_| covers_handed_out) {
                *next = (*next).max(to);
            }
        }
        // State moves only once committed: a refused commit is retried as it was.
        self.inner.commit(&widened).await?;
        self.release(&widened);
        for &(p, next) in &widened {
            let s = self.partitions.entry(p).or_default();
            s.committed = s.committed.max(next);
            if s.tail.is_some_and(|(_, to)| next >= to) {
                s.tail = None;
            }
        }
        Ok(())
    }

    fn caught_up(&self) -> bool {
        self.pending.is_empty() && self.opened.is_empty() && self.inner.caught_up()
    }
}

impl Drop for OpeningConsumer {
    fn drop(&mut self) {
        if let Some((topic, held)) = self.held.take() {
            self.sealer.user_keys().release(&topic, held.into_iter());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecurityConfig;
    use base64::Engine;
    use pulsegate_bus::embedded::{EmbeddedBus, EmbeddedConfig};
    use pulsegate_schema::Secret;

    fn config(current: u8, previous: &[u8]) -> SecurityConfig {
        let k = |b: u8| Secret::new(base64::engine::general_purpose::STANDARD.encode([b; 32]));
        SecurityConfig {
            encryption_key: k(current),
            previous_encryption_keys: previous.iter().map(|b| k(*b)).collect(),
            ..Default::default()
        }
    }

    fn sealing(inner: Arc<dyn Bus>, c: &SecurityConfig) -> SealingBus {
        SealingBus::new(inner, Sealer::from_config(c).unwrap().unwrap())
    }

    async fn read_all(bus: &dyn Bus, topic: &str) -> Result<Vec<Record>, BusError> {
        let mut c = bus.read_from_start(topic).await?;
        let mut out = Vec::new();
        while !c.caught_up() {
            out.extend(c.poll(100, Duration::from_millis(100)).await?);
        }
        Ok(out)
    }

    fn files_contain(dir: &std::path::Path, needle: &[u8]) -> bool {
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if let Ok(b) = std::fs::read(&p) {
                    if b.windows(needle.len()).any(|w| w == needle) {
                        return true;
                    }
                }
            }
        }
        false
    }

    #[tokio::test]
    async fn values_are_sealed_on_disk_opened_on_read_and_rotate() {
        let dir = tempfile::tempdir().unwrap();
        let plain: Arc<dyn Bus> =
            Arc::new(EmbeddedBus::open(EmbeddedConfig::new(dir.path())).unwrap());
        plain
            .ensure_topic(&TopicSpec::new("events", 2))
            .await
            .unwrap();
        let old = sealing(plain.clone(), &config(1, &[]));
        old.append("events", Outgoing::new("u1", "resting heart rate 52 bpm"))
            .await
            .unwrap();
        old.append_batch("events", vec![Outgoing::new("u2", "sleep score 88")])
            .await
            .unwrap();

        // The backend below holds sealed bytes only.
        let raw = read_all(&*plain, "events").await.unwrap();
        assert_eq!(raw.len(), 2);
        assert!(raw.iter().all(|r| r.payload[0] == crate::seal::SEALED_V1));
        drop((old, raw));

        // A new key with the old one as previous reads the old records.
        let rotated = sealing(plain.clone(), &config(2, &[1]));
        rotated
            .append("events", Outgoing::new("u1", "steps 12000"))
            .await
            .unwrap();
        let mut got: Vec<_> = read_all(&rotated, "events")
            .await
            .unwrap()
            .into_iter()
            .map(|r| String::from_utf8(r.payload.to_vec()).unwrap())
            .collect();
        got.sort();
        assert_eq!(
            got,
            ["resting heart rate 52 bpm", "sleep score 88", "steps 12000"]
        );

        // Without the old key: an error naming the key id (not a skipped record).
        let err = read_all(&sealing(plain.clone(), &config(2, &[])), "events")
            .await
            .unwrap_err();
        let id = crate::seal::Sealer::from_config(&config(1, &[]))
            .unwrap()
            .unwrap()
            .key_id();
        assert!(
            matches!(&err, BusError::Unreadable { reason, .. } if reason.contains(&id)),
            "{err}"
        );

        drop((rotated, plain));
        for needle in ["resting heart", "sleep score", "steps 12000"] {
            assert!(!files_contain(dir.path(), needle.as_bytes()), "{needle}");
        }
    }

    /// A poll dropped while it catches up with the state topic (the caller's `select!`
    /// chose another branch) loses none of the records it had taken from the log: the
    /// next poll hands them out. (Before, they were gone for good: the log below does
    /// not hand a record out twice, and later commits passed them.)
    #[tokio::test]
    async fn a_poll_dropped_while_catching_up_loses_no_record() {
        let dir = tempfile::tempdir().unwrap();
        let plain: Arc<dyn Bus> =
            Arc::new(EmbeddedBus::open(EmbeddedConfig::new(dir.path())).unwrap());
        plain
            .ensure_topic(&TopicSpec::new(topics::EVENTS, 1))
            .await
            .unwrap();
        let key = crate::user_keys::key_record_for_tests(9, 9);
        // The writer knows u1's data key and seals u1's events with it.
        let writer = sealing(plain.clone(), &config(1, &[]));
        writer.user_keys().apply("u1", &key);
        for n in 0..3 {
            writer
                .append(topics::EVENTS, Outgoing::new("u1", format!("event {n}")))
                .await
                .unwrap();
        }
        // The reader has not applied the key yet; its catch-up waits at a gate.
        let reader = sealing(plain.clone(), &config(1, &[]));
        let gate = Arc::new(tokio::sync::Notify::new());
        *reader.user_keys().catch_up_gate.lock().unwrap() = Some(gate.clone());
        let mut c = reader
            .subscribe(topics::EVENTS, "g", OffsetReset::Earliest)
            .await
            .unwrap();
        let dropped = tokio::time::timeout(
            Duration::from_millis(200),
            c.poll(10, Duration::from_secs(1)),
        )
        .await;
        assert!(dropped.is_err(), "the poll waits for the catch-up");

        // Caught up: the key is applied, the barrier passes.
        reader.user_keys().apply("u1", &key);
        gate.notify_one();
        let mut got = Vec::new();
        for _ in 0..5 {
            got.extend(c.poll(10, Duration::from_millis(100)).await.unwrap());
        }
        let got: Vec<String> = got
            .iter()
            .map(|r| String::from_utf8(r.payload.to_vec()).unwrap())
            .collect();
        assert_eq!(got, ["event 0", "event 1", "event 2"]);
    }

    #[tokio::test]
    async fn a_record_written_in_clear_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let plain: Arc<dyn Bus> =
            Arc::new(EmbeddedBus::open(EmbeddedConfig::new(dir.path())).unwrap());
        plain.ensure_topic(&TopicSpec::new("raw", 1)).await.unwrap();
        plain
            .append("raw", Outgoing::new("k", "{\"forged\":true}"))
            .await
            .unwrap();
        let err = read_all(&sealing(plain.clone(), &config(1, &[])), "raw")
            .await
            .unwrap_err();
        assert!(
            matches!(&err, BusError::Unreadable { topic, offset: 0, .. } if topic == "raw"),
            "{err}"
        );
    }
}

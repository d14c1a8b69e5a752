//! Re-sealing the `state` topic under the current deployment key (`pulsegate keys
//! rotate`), so a previous key can leave the key list.
//!
//! The state topic is compacted: what a start reads is the last record per key (and,
//! until compaction, the superseded ones). A pass reads the topic below the sealing
//! layer, and appends again, through the store's own write path (sealed with the
//! current key, or the user's key where the sealer says so), every key whose last
//! record is sealed with a previous key, in clear, or whose secret-bearing content is
//! encrypted (`enc1:`, [`crate::crypto`]) with a previous key. The content is the
//! record's own: nothing is rewritten from this process's view.
//!
//! Safe while serving: the pass holds the store's write gate exclusively from reading
//! the topic until its rewrites are appended, so no write of this process falls in
//! between and gets overwritten with older content. A write of another process (on
//! Kafka) can: a second read finds it between the first read's end and the rewrite,
//! and appends its content again, last. Then the topic is compacted where the log can
//! do it now (embedded), and read once more to count what is still sealed with a
//! previous key.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use pulsegate_bus::{Bus, BusError, Outgoing, Position, Record};
use pulsegate_schema::topics;

use crate::seal::{SealedWith, Sealer};
use crate::{StateError, StateStore};

/// How users' data key records are keyed on the state topic (`StateKey::UserKey`).
const USER_KEY_PREFIX: &str = "userkey/";

/// The log below the sealing layer and its sealer ([`crate::SealingBus::key_view`]).
pub struct KeyView {
    pub(crate) raw: Arc<dyn Bus>,
    pub(crate) sealer: Arc<Sealer>,
}

impl KeyView {
    /// The id of the key that seals (hex), safe to log.
    pub fn key_id(&self) -> String {
        self.sealer.key_id()
    }
}

/// What a pass found and did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ResealReport {
    /// The key that seals now (id, hex).
    pub current_key_id: String,
    /// Records on the topic when the pass read it (every version of every key).
    pub records_read: u64,
    /// Distinct keys: what the state is.
    pub keys: u64,
    /// Keys whose last record was appended again under the current key.
    pub resealed: u64,
    /// Keys whose last record was already sealed (and encrypted) with the current key.
    pub already_current: u64,
    /// Keys whose last record is sealed with a user's data key (not the deployment key's).
    pub user_key_sealed: u64,
    /// Of those, appended again after the re-sealed user key records: a start reads the
    /// topic in order and must meet a user's key before the records it sealed.
    pub user_key_sealed_moved: u64,
    /// Keys whose last record is a deletion marker (empty, never sealed).
    pub deletion_markers: u64,
    /// Older versions of keys, left to compaction.
    pub superseded: u64,
    /// Last records that do not open (altered, or under a key not configured).
    pub unreadable: u64,
    /// Keys another process wrote while the pass ran, appended again after its rewrite.
    pub rewritten_concurrently: u64,
    /// The topic was compacted by the pass (embedded log); false on Kafka.
    pub compacted: bool,
    /// Records still on the topic sealed or encrypted with a previous key (or in
    /// clear) after the pass: while not 0, the previous key is still needed.
    pub remaining_under_previous_keys: u64,
    /// Previous keys found before the pass (ids, hex).
    pub previous_key_ids: Vec<String>,
}

/// One read of the topic below the sealing layer.
struct Scan {
    records: u64,
    /// Per record key, its last record.
    latest: HashMap<Bytes, Record>,
    /// Per partition, the offset after the last record read.
    ends: HashMap<u32, u64>,
    /// Records `keep` selected, in order.
    kept: Vec<Record>,
}

async fn scan(raw: &dyn Bus, keep: impl Fn(&Record) -> bool) -> Result<Scan, BusError> {
    let mut c = raw.read_from_start(topics::STATE).await?;
    let mut s = Scan {
        records: 0,
        latest: HashMap::new(),
        ends: HashMap::new(),
        kept: Vec::new(),
    };
    while !c.caught_up() {
        for r in c.poll(4096, Duration::from_millis(200)).await? {
            s.records += 1;
            let end = s.ends.entry(r.partition).or_default();
            *end = (*end).max(r.offset + 1);
            if keep(&r) {
                s.kept.push(r.clone());
            }
            s.latest.insert(r.key.clone(), r);
        }
    }
    Ok(s)
}

impl StateStore {
    /// Gives the store the log below its sealing layer, for [`reseal_state`](Self::reseal_state).
    pub fn attach_key_view(&self, view: KeyView) {
        let _ = self.key_view.set(view);
    }

    /// Re-seals the state topic under the current key (see the module comment).
    pub async fn reseal_state(&self) -> Result<ResealReport, StateError> {
        let view = self.key_view.get().ok_or_else(|| {
            StateError::Unsupported("this process has no sealing layer to re-seal with".into())
        })?;
        let sealer = &view.sealer;
        let mut report = ResealReport {
            current_key_id: sealer.key_id(),
            ..Default::default()
        };
        let gate = self.write_gate.write().await;
        let first = scan(&*view.raw, |_| false).await?;
        report.records_read = first.records;
        report.keys = first.latest.len() as u64;
        report.superseded = first.records - report.keys;
        let mut previous = BTreeSet::new();
        let mut rewrites = Vec::new();
        let mut user_sealed = Vec::new();
        for r in first.latest.values() {
            let sealed_with = sealer.sealed_with(&r.payload);
            match sealed_with {
                SealedWith::Nothing => report.deletion_markers += 1,
                SealedWith::User => {
                    report.user_key_sealed += 1;
                    user_sealed.push(r);
                }
                SealedWith::Current | SealedWith::Previous(_) | SealedWith::Unsealed => {
                    if let SealedWith::Previous(id) = sealed_with {
                        previous.insert(id);
                    }
                    match self.current_content(sealer, r, &mut previous) {
                        Some((_, false)) if sealed_with == SealedWith::Current => {
                            report.already_current += 1
                        }
                        Some((content, _)) => rewrites.push((r.key.clone(), content)),
                        None => report.unreadable += 1,
                    }
                }
            }
        }
        report.previous_key_ids = previous.iter().map(hex::encode).collect();
        report.resealed = rewrites.len() as u64;
        let keys_moved = rewrites
            .iter()
            .any(|(k, _)| k.starts_with(USER_KEY_PREFIX.as_bytes()));
        if keys_moved {
            // Behind the key records (appended first): a user's records, opened with
            // their key; an erased user's (unreadable for good) become deletions.
            user_sealed.sort_by_key(|r| (r.partition, r.offset));
            for r in user_sealed {
                match sealer.open(&r.topic, &r.key, &r.payload) {
                    Ok(plain) => rewrites.push((r.key.clone(), Bytes::from(plain))),
                    Err(crate::seal::OpenError::Erased(_)) => {
                        rewrites.push((r.key.clone(), Bytes::new()))
                    }
                    Err(e) => {
                        tracing::warn!(partition = r.partition, offset = r.offset, error = %e,
                            "state record does not open; not moved behind its user's key");
                        report.unreadable += 1;
                        continue;
                    }
                }
                report.user_key_sealed_moved += 1;
            }
        }
        let mut fence = first.ends;
        let mut pending = self.append_rewrites(&rewrites).await?;
        drop(gate);
        self.wait_all_applied(&pending).await?;

        // Another process's write between the read and a rewrite goes last again.
        for _ in 0..5 {
            if pending.is_empty() {
                break;
            }
            let gate = self.write_gate.write().await;
            let again = scan(&*view.raw, |r| {
                pending.get(&r.key).is_some_and(|p| {
                    p.partition == r.partition
                        && r.offset < p.offset
                        && r.offset >= fence.get(&r.partition).copied().unwrap_or(0)
                })
            })
            .await?;
            let mut fixes: HashMap<Bytes, Bytes> = HashMap::new();
            for r in &again.kept {
                let ours_last = again
                    .latest
                    .get(&r.key)
                    .is_some_and(|l| pending.get(&r.key).is_some_and(|p| p.offset == l.offset));
                if !ours_last {
                    continue;
                }
                let content = match sealer.sealed_with(&r.payload) {
                    SealedWith::Nothing => Some(Bytes::new()),
                    _ => self
                        .current_content(sealer, r, &mut previous)
                        .map(|(c, _)| c),
                };
                match content {
                    Some(c) => {
                        fixes.insert(r.key.clone(), c);
                    }
                    None => report.unreadable += 1,
                }
            }
            let fixes: Vec<(Bytes, Bytes)> = fixes.into_iter().collect();
            report.rewritten_concurrently += fixes.len() as u64;
            fence = again.ends;
            pending = self.append_rewrites(&fixes).await?;
            drop(gate);
            self.wait_all_applied(&pending).await?;
        }

        report.compacted = match view.raw.compact(topics::STATE).await {
            Ok(_) => true,
            Err(BusError::Unsupported(_)) => false,
            Err(e) => {
                tracing::warn!(error = %e, "state topic not compacted after re-sealing");
                false
            }
        };
        let after = scan(&*view.raw, |r| {
            matches!(
                sealer.sealed_with(&r.payload),
                SealedWith::Previous(_) | SealedWith::Unsealed
            ) || (sealer.sealed_with(&r.payload) == SealedWith::Current
                && self.inner_is_previous(sealer, r))
        })
        .await?;
        report.remaining_under_previous_keys = after.kept.len() as u64;
        tracing::info!(
            key_id = %report.current_key_id,
            records = report.records_read,
            resealed = report.resealed,
            already_current = report.already_current,
            remaining = report.remaining_under_previous_keys,
            "state topic re-sealed under the current key"
        );
        Ok(report)
    }

    /// The record's content for a rewrite, and whether it changed (its secret-bearing
    /// part encrypted again under the current key); `None` when it does not open
    /// (logged, never its content).
    fn current_content(
        &self,
        sealer: &Sealer,
        r: &Record,
        previous: &mut BTreeSet<[u8; 4]>,
    ) -> Option<(Bytes, bool)> {
        let plain = match sealer.open(&r.topic, &r.key, &r.payload) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(partition = r.partition, offset = r.offset, error = %e,
                    "state record does not open; not re-sealed");
                return None;
            }
        };
        let Some(cipher) = &self.cipher else {
            return Some((Bytes::from(plain), false));
        };
        if let Some(id) = cipher.previous_key_of(&plain) {
            previous.insert(id);
        }
        match cipher.reencrypt(&plain) {
            Ok(Some(again)) => Some((Bytes::from(again), true)),
            Ok(None) => Some((Bytes::from(plain), false)),
            Err(e) => {
                tracing::warn!(partition = r.partition, offset = r.offset, error = %e,
                    "state record does not decrypt; not re-sealed");
                None
            }
        }
    }

    fn inner_is_previous(&self, sealer: &Sealer, r: &Record) -> bool {
        let Some(cipher) = &self.cipher else {
            return false;
        };
        sealer
            .open(&r.topic, &r.key, &r.payload)
            .is_ok_and(|p| cipher.previous_key_of(&p).is_some())
    }

    /// Appends (key, content) through the sealing layer, without the write gate (the
    /// caller holds it); where each landed.
    async fn append_rewrites(
        &self,
        rewrites: &[(Bytes, Bytes)],
    ) -> Result<HashMap<Bytes, Position>, StateError> {
        let mut at = HashMap::new();
        for chunk in rewrites.chunks(1000) {
            let records = chunk
                .iter()
                .map(|(k, v)| Outgoing::new(k.clone(), v.clone()))
                .collect();
            let positions = self.bus.append_batch(topics::STATE, records).await?;
            for ((k, _), p) in chunk.iter().zip(positions) {
                at.insert(k.clone(), p);
            }
        }
        Ok(at)
    }

    async fn wait_all_applied(&self, at: &HashMap<Bytes, Position>) -> Result<(), StateError> {
        let mut last: HashMap<u32, Position> = HashMap::new();
        for p in at.values() {
            let e = last.entry(p.partition).or_insert(*p);
            if p.offset > e.offset {
                *e = *p;
            }
        }
        for p in last.into_values() {
            self.wait_applied(p).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use pulsegate_bus::embedded::{EmbeddedBus, EmbeddedConfig};
    use pulsegate_schema::{Destination, Secret};
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::{SealingBus, SecurityConfig, StateCipher};

    fn config(current: u8, previous: &[u8]) -> SecurityConfig {
        let k = |b: u8| Secret::new(base64::engine::general_purpose::STANDARD.encode([b; 32]));
        SecurityConfig {
            encryption_key: k(current),
            previous_encryption_keys: previous.iter().map(|b| k(*b)).collect(),
            ..Default::default()
        }
    }

    async fn store(raw: Arc<dyn Bus>, c: &SecurityConfig) -> Arc<StateStore> {
        let sealing = SealingBus::new(raw, Sealer::from_config(c).unwrap().unwrap());
        let view = sealing.key_view();
        let keys = sealing.user_keys();
        let s = StateStore::start_with(
            Arc::new(sealing),
            CancellationToken::new(),
            StateCipher::from_config(c).unwrap(),
            Some(keys),
        )
        .await
        .unwrap();
        s.attach_key_view(view);
        s
    }

    fn destination(id: &str, url: &str) -> Destination {
        serde_json::from_value(serde_json::json!({
            "id": id, "url": url, "secret": "whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHQ=",
            "event_types": [], "providers": [], "enabled": true
        }))
        .unwrap()
    }

    /// Writes racing a pass are never overwritten with older content, and afterwards
    /// the new key alone reads the whole state.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_pass_under_concurrent_writes_keeps_the_newest_and_retires_the_old_key() {
        let dir = tempfile::tempdir().unwrap();
        let raw: Arc<dyn Bus> =
            Arc::new(EmbeddedBus::open(EmbeddedConfig::new(dir.path())).unwrap());
        let old = store(raw.clone(), &config(1, &[])).await;
        for i in 0..20 {
            old.put_destination(&destination(&format!("d{i}"), "https://a.example/0"))
                .await
                .unwrap();
        }
        old.ensure_user_key("u1").await.unwrap();
        drop(old);

        let s = store(raw.clone(), &config(2, &[1])).await;
        // What this process's view says of d0 never goes back to older content.
        let watcher = s.clone();
        let mut changes = s.changes();
        let seen = tokio::spawn(async move {
            let mut seen = Vec::new();
            while changes.changed().await.is_ok() {
                let url = watcher.destination("d0").unwrap().url.clone();
                let n: u32 = url.rsplit('/').next().unwrap().parse().unwrap();
                if seen.last() != Some(&n) {
                    seen.push(n);
                }
                if n == 30 {
                    break;
                }
            }
            seen
        });
        let writer = s.clone();
        let writes = tokio::spawn(async move {
            for n in 1..=30 {
                writer
                    .put_destination(&destination("d0", &format!("https://a.example/{n}")))
                    .await
                    .unwrap();
            }
        });
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let report = s.reseal_state().await.unwrap();
        writes.await.unwrap();
        let seen = seen.await.unwrap();
        assert!(
            seen.windows(2).all(|w| w[0] < w[1]),
            "d0 went back: {seen:?}"
        );
        assert!(report.resealed >= 20, "{report:?}");
        assert_eq!(report.unreadable, 0, "{report:?}");
        assert!(report.compacted);
        assert_eq!(report.remaining_under_previous_keys, 0, "{report:?}");
        assert!(!report.previous_key_ids.is_empty());
        drop(s);

        // Only the new key: everything opens, and d0 holds the last write.
        let fresh = store(raw, &config(2, &[])).await;
        assert_eq!(fresh.destinations().len(), 20);
        assert_eq!(fresh.destination("d0").unwrap().url, "https://a.example/30");
        assert!(fresh.user_key_id("u1").is_some());
    }
}

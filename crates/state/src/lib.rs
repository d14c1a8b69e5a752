//! Keyed state on the bus: connections, destinations, integrations, credentials, SDK
//! tokens. Secret-bearing records are encrypted at rest when a key is configured.
//!
//! Writers append a record to the compacted `state` topic; every process (ingest,
//! normalizer, dispatcher, on one machine or many) tails that topic from the start and
//! keeps the last value per key in memory. A write returns once this process has
//! applied it, so an admin call is read-your-writes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use pulsegate_bus::{Bus, BusError, Outgoing, Record, TopicSpec};
use pulsegate_schema::{
    topics, Connection, ConnectionStatus, Destination, Integration, Provider, ProviderCredentials,
    SdkToken, StateKey,
};

pub mod crypto;
mod customer_api;
mod keys_in_use;
mod poll_cursors;
mod push_tokens;
mod reseal;
pub mod seal;
mod sealed_bus;
pub mod user_keys;
pub mod webhook_updates;
pub use crypto::{SecurityConfig, StateCipher};
pub use poll_cursors::PollCursor;
pub use push_tokens::{generate_token, PushToken};
pub use reseal::{KeyView, ResealReport};
pub use seal::Sealer;
pub use sealed_bus::SealingBus;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
pub use user_keys::UserKeys;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error("state record could not be encoded: {0}")]
    Encode(String),
    #[error("timed out waiting for the state topic to apply a write")]
    Timeout,
    #[error("security.encryption_key is not set: credentials are never stored in clear")]
    NoEncryptionKey,
    /// Re-sealing needs the sealing layer ([`StateStore::attach_key_view`]).
    #[error("{0}")]
    Unsupported(String),
}

/// Key of the start-up barrier marker (one key, so compaction keeps one record).
const SYNC_KEY: &str = "sync/barrier";

#[derive(Default)]
struct Maps {
    connections: HashMap<String, Arc<Connection>>,
    by_provider_user: HashMap<(Provider, String), String>,
    destinations: HashMap<String, Arc<Destination>>,
    integrations: HashMap<Provider, Arc<Integration>>,
    /// SHA-256 (hex) of the token → token.
    sdk_tokens: HashMap<String, Arc<SdkToken>>,
    credentials: HashMap<Provider, Arc<ProviderCredentials>>,
    /// Dead letters already replayed (`partition:offset`).
    replayed: std::collections::HashSet<String>,
    /// Developer accounts, widget sessions and SDK auth tokens (`customer_api`).
    customer: customer_api::CustomerMaps,
    /// Path tokens of unsigned providers' push routes (`push_tokens`).
    push_tokens: HashMap<Provider, Arc<push_tokens::PushToken>>,
    /// The poll lane's cursors (`poll_cursors`).
    poll_cursors: poll_cursors::PollCursors,
    /// Encryption key id → when this deployment first used it, Unix ms (`keys_in_use`).
    keys_in_use: HashMap<String, u64>,
}

/// The materialised view of the `state` topic.
pub struct StateStore {
    bus: Arc<dyn Bus>,
    maps: RwLock<Maps>,
    /// Per partition, the next offset not yet applied; bumps on every applied record.
    applied: watch::Sender<Vec<u64>>,
    /// Serialises [`sync_since`](Self::sync_since) barriers; holds when the last
    /// completed one started.
    last_sync: tokio::sync::Mutex<Option<Instant>>,
    /// Serialises path-token generation and rotation in this process, so concurrent
    /// first reads all answer the one token that ends up stored.
    push_token_writes: tokio::sync::Mutex<()>,
    /// Per provider (by [`Provider::index`]): integration disabled. Read on every ingest
    /// request, so a flag rather than a map lookup under the lock.
    disabled: [AtomicBool; Provider::ALL.len()],
    /// Encrypts secret-bearing records at rest (connections, credentials), if configured.
    cipher: Option<StateCipher>,
    /// Bumped whenever a provider's credentials change (components re-read them).
    credentials_version: watch::Sender<u64>,
    /// The sealing layer's per-user data keys, kept current from the state topic.
    user_keys: Option<Arc<UserKeys>>,
    /// Serialises user key creation and erasure in this process.
    user_key_writes: tokio::sync::Mutex<()>,
    /// Per user, when a webhook about them was last delivered (Unix ms): the
    /// `last_webhook_update` of the `/v2` user answers (`webhook_updates`).
    webhook_updates: std::sync::Mutex<webhook_updates::WebhookUpdates>,
    /// Held shared by every append to the state topic, exclusively by a re-sealing pass
    /// between reading the topic and appending its rewrites (see [`reseal`]).
    write_gate: tokio::sync::RwLock<()>,
    /// The log below the sealing layer, for re-sealing ([`reseal`]).
    key_view: std::sync::OnceLock<KeyView>,
}

impl StateStore {
    /// The topic spec every process ensures.
    pub fn topic_spec() -> TopicSpec {
        TopicSpec::new(topics::STATE, 1).compacted()
    }

    /// Creates the topic if needed, loads everything on it, and keeps tailing it until
    /// `shutdown`. Returns once the initial load is complete.
    pub async fn start(
        bus: Arc<dyn Bus>,
        shutdown: CancellationToken,
    ) -> Result<Arc<Self>, StateError> {
        Self::start_with_cipher(bus, shutdown, None).await
    }

    /// [`start`](Self::start), encrypting connections and credentials at rest with
    /// `cipher` (and decrypting what was written with it or its previous keys).
    pub async fn start_with_cipher(
        bus: Arc<dyn Bus>,
        shutdown: CancellationToken,
        cipher: Option<StateCipher>,
    ) -> Result<Arc<Self>, StateError> {
        Self::start_with(bus, shutdown, cipher, None).await
    }

    /// [`start_with_cipher`](Self::start_with_cipher), keeping `user_keys` (those of
    /// the [`SealingBus`] below `bus`, see [`Sealer::user_keys`]) current: records about
    /// a user are then sealed with that user's data key, erased on deauthorization.
    pub async fn start_with(
        bus: Arc<dyn Bus>,
        shutdown: CancellationToken,
        cipher: Option<StateCipher>,
        user_keys: Option<Arc<UserKeys>>,
    ) -> Result<Arc<Self>, StateError> {
        bus.ensure_topic(&Self::topic_spec()).await?;
        let mut consumer = bus.read_from_start(topics::STATE).await?;
        let (applied, _) = watch::channel(Vec::new());
        let store = Arc::new(Self {
            bus,
            maps: RwLock::new(Maps::default()),
            applied,
            last_sync: tokio::sync::Mutex::new(None),
            push_token_writes: tokio::sync::Mutex::new(()),
            disabled: Default::default(),
            cipher,
            credentials_version: watch::channel(0).0,
            user_keys,
            user_key_writes: tokio::sync::Mutex::new(()),
            webhook_updates: std::sync::Mutex::new(Default::default()),
            write_gate: tokio::sync::RwLock::new(()),
            key_view: std::sync::OnceLock::new(),
        });
        if let Some(keys) = &store.user_keys {
            keys.attach(Arc::downgrade(&store));
        }
        // Initial load, synchronously, so the process starts with complete state.
        while !consumer.caught_up() {
            let records = consumer.poll(4096, Duration::from_millis(200)).await?;
            for r in &records {
                store.apply(r);
            }
        }
        let tail = store.clone();
        let barrier = store.clone();
        store.spawn_webhook_update_flusher(shutdown.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    polled = consumer.poll(1024, Duration::from_secs(1)) => match polled {
                        Ok(records) => for r in &records { tail.apply(r) },
                        Err(e) => {
                            tracing::error!(error = %e, "state topic read failed; retrying");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
            }
        });
        // `caught_up` trusts the backend's end offsets, which some Kafka-compatible
        // brokers under-report. A barrier does not: append a marker and wait until the
        // tail has applied it; then everything written before start-up is in the view.
        // On a full disk the marker is refused (retryably): wait for space, don't exit.
        loop {
            match barrier.sync().await {
                Err(StateError::Bus(e)) if e.is_retryable() => {
                    tracing::warn!(error = %e, "state barrier refused at start; waiting for the log");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                other => break other?,
            }
        }
        Ok(store)
    }

    /// Waits until every state write made before this call (by any process) is applied
    /// here.
    pub async fn sync(&self) -> Result<(), StateError> {
        let marker = format!("{:?}-{}", std::time::SystemTime::now(), std::process::id());
        self.append_and_wait(SYNC_KEY, Bytes::from(marker)).await
    }

    /// Like [`sync`](Self::sync), but coalesced: returns at once if a barrier that
    /// started at or after `since` has completed, and runs at most one barrier at a
    /// time. A consumer that finds no connection for a notification calls this with
    /// the time it read the record: the connection may have been written (and the
    /// notification acknowledged) before this process's tail applied it.
    pub async fn sync_since(&self, since: Instant) -> Result<(), StateError> {
        let mut last = self.last_sync.lock().await;
        if last.is_some_and(|t| t >= since) {
            return Ok(());
        }
        let started = Instant::now();
        self.sync().await?;
        *last = Some(started);
        Ok(())
    }

    fn apply(&self, r: &Record) {
        if r.key.as_ref() == SYNC_KEY.as_bytes() {
            self.mark_applied(r);
            return;
        }
        let Some(key) = std::str::from_utf8(&r.key).ok().and_then(StateKey::decode) else {
            tracing::warn!(offset = r.offset, "unrecognised state key; skipped");
            self.mark_applied(r);
            return;
        };
        let decrypted;
        let payload: &[u8] = if crypto::is_encrypted(&r.payload) {
            match self.cipher.as_ref().map(|c| c.decrypt(&r.payload)) {
                Some(Ok(Some(plain))) => {
                    decrypted = plain;
                    &decrypted
                }
                Some(Ok(None)) => &r.payload,
                Some(Err(e)) => {
                    tracing::error!(offset = r.offset, error = %e, "state record skipped");
                    self.mark_applied(r);
                    return;
                }
                None => {
                    tracing::error!(
                        offset = r.offset,
                        "encrypted state record skipped: security.encryption_key is not set"
                    );
                    self.mark_applied(r);
                    return;
                }
            }
        } else {
            &r.payload
        };
        let mut maps = self.maps.write().expect("state lock");
        match key {
            StateKey::Connection(id) => {
                if let Some(old) = maps.connections.remove(&id) {
                    maps.by_provider_user
                        .remove(&(old.provider, old.provider_user_id.clone()));
                    if let Some(keys) = &self.user_keys {
                        keys.unlink_raw(raw_key(&old), &id);
                    }
                }
                if !payload.is_empty() {
                    match serde_json::from_slice::<Connection>(payload) {
                        Ok(c) => {
                            maps.by_provider_user
                                .insert((c.provider, c.provider_user_id.clone()), id.clone());
                            if let Some(keys) = &self.user_keys {
                                keys.link_raw(raw_key(&c), &id);
                            }
                            maps.connections.insert(id, Arc::new(c));
                        }
                        Err(e) => tracing::warn!(error = %e, "bad connection record; skipped"),
                    }
                }
            }
            StateKey::Integration(slug) => {
                let Some(provider) = Provider::from_slug(&slug) else {
                    tracing::warn!(%slug, "integration for an unknown provider; skipped");
                    drop(maps);
                    self.mark_applied(r);
                    return;
                };
                maps.integrations.remove(&provider);
                let mut disabled = false;
                if !payload.is_empty() {
                    match serde_json::from_slice::<Integration>(payload) {
                        Ok(i) => {
                            disabled = !i.enabled;
                            maps.integrations.insert(provider, Arc::new(i));
                        }
                        Err(e) => tracing::warn!(error = %e, "bad integration record; skipped"),
                    }
                }
                self.disabled[provider.index()].store(disabled, Ordering::Release);
            }
            StateKey::Credentials(slug) => {
                if let Some(provider) = Provider::from_slug(&slug) {
                    maps.credentials.remove(&provider);
                    if !payload.is_empty() {
                        match serde_json::from_slice::<ProviderCredentials>(payload) {
                            Ok(c) => {
                                maps.credentials.insert(provider, Arc::new(c));
                            }
                            Err(e) => tracing::warn!(error = %e, "bad credentials record; skipped"),
                        }
                    }
                    self.credentials_version.send_modify(|v| *v += 1);
                }
            }
            StateKey::SdkToken(hash) => {
                maps.sdk_tokens.remove(&hash);
                if !payload.is_empty() {
                    match serde_json::from_slice::<SdkToken>(payload) {
                        Ok(t) => {
                            maps.sdk_tokens.insert(hash, Arc::new(t));
                        }
                        Err(e) => tracing::warn!(error = %e, "bad sdk token record; skipped"),
                    }
                }
            }
            StateKey::Replayed(id) => {
                if payload.is_empty() {
                    maps.replayed.remove(&id);
                } else {
                    maps.replayed.insert(id);
                }
            }
            StateKey::PushToken(slug) => Self::apply_push_token(&mut maps, &slug, payload),
            StateKey::PollCursor(id) => poll_cursors::apply(&mut maps.poll_cursors, &id, payload),
            StateKey::KeyInUse(id) => keys_in_use::apply(&mut maps.keys_in_use, &id, payload),
            StateKey::WebhookAt(id) => self
                .webhook_updates
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .apply(&id, payload),
            k @ (StateKey::Developer(_)
            | StateKey::WidgetSession(_)
            | StateKey::AuthToken(_)
            | StateKey::OAuthState(_)) => maps.customer.apply(k, payload),
            StateKey::UserKey(user_id) => {
                if let Some(keys) = &self.user_keys {
                    keys.apply(&user_id, payload);
                }
            }
            StateKey::Destination(id) => {
                maps.destinations.remove(&id);
                if !payload.is_empty() {
                    match serde_json::from_slice::<Destination>(payload) {
                        Ok(d) => {
                            maps.destinations.insert(id, Arc::new(d));
                        }
                        Err(e) => tracing::warn!(error = %e, "bad destination record; skipped"),
                    }
                }
            }
        }
        drop(maps);
        self.mark_applied(r);
    }

    fn mark_applied(&self, r: &Record) {
        self.applied.send_modify(|v| {
            let p = r.partition as usize;
            if v.len() <= p {
                v.resize(p + 1, 0);
            }
            v[p] = v[p].max(r.offset + 1);
        });
    }

    async fn write(&self, key: StateKey, payload: Bytes) -> Result<(), StateError> {
        let payload = match &self.cipher {
            Some(c) if key.is_sensitive() && !payload.is_empty() => {
                Bytes::from(c.encrypt(&payload))
            }
            _ => payload,
        };
        self.append_and_wait(&key.encode(), payload).await
    }

    /// True when secret-bearing records are encrypted at rest.
    pub fn encrypts(&self) -> bool {
        self.cipher.is_some()
    }

    /// A provider's stored credentials.
    pub fn credentials(&self, provider: Provider) -> Option<Arc<ProviderCredentials>> {
        self.maps
            .read()
            .expect("state lock")
            .credentials
            .get(&provider)
            .cloned()
    }

    /// Stores a provider's credentials (refused without an encryption key: they are
    /// never written in clear).
    pub async fn put_credentials(&self, c: &ProviderCredentials) -> Result<(), StateError> {
        if self.cipher.is_none() {
            return Err(StateError::NoEncryptionKey);
        }
        let payload = serde_json::to_vec(c).map_err(|e| StateError::Encode(e.to_string()))?;
        self.write(
            StateKey::Credentials(c.provider.slug().to_string()),
            payload.into(),
        )
        .await
    }

    /// Changes whenever any provider's credentials change.
    pub fn credentials_changes(&self) -> watch::Receiver<u64> {
        self.credentials_version.subscribe()
    }

    /// Appends to the state topic and waits until this process's view has applied it.
    async fn append_and_wait(&self, key: &str, payload: Bytes) -> Result<(), StateError> {
        let pos = {
            let _gate = self.write_gate.read().await;
            self.bus
                .append(topics::STATE, Outgoing::new(key.to_string(), payload))
                .await?
        };
        self.wait_applied(pos).await
    }

    /// Waits until this process's view has applied the record at `pos`.
    async fn wait_applied(&self, pos: pulsegate_bus::Position) -> Result<(), StateError> {
        let mut rx = self.applied.subscribe();
        let applied = tokio::time::timeout(Duration::from_secs(10), async {
            rx.wait_for(|v| {
                v.get(pos.partition as usize)
                    .is_some_and(|applied| *applied > pos.offset)
            })
            .await
            .is_ok()
        })
        .await;
        match applied {
            Ok(true) => Ok(()),
            _ => Err(StateError::Timeout),
        }
    }

    /// Watch this to learn that state changed (the value is per-partition progress).
    pub fn changes(&self) -> watch::Receiver<Vec<u64>> {
        self.applied.subscribe()
    }

    /// Stores a connection; an active one's user gets a data key first if it has none
    /// (so every process that sees the connection also has the key).
    pub async fn put_connection(&self, c: &Connection) -> Result<(), StateError> {
        if c.status == ConnectionStatus::Active {
            self.ensure_user_key(&c.user_id).await?;
        }
        let payload = serde_json::to_vec(c).map_err(|e| StateError::Encode(e.to_string()))?;
        self.write(StateKey::Connection(c.user_id.clone()), payload.into())
            .await
    }

    pub async fn delete_connection(&self, user_id: &str) -> Result<(), StateError> {
        self.delete_poll_cursors(user_id).await?;
        self.delete_webhook_update(user_id).await?;
        self.write(StateKey::Connection(user_id.to_string()), Bytes::new())
            .await
    }

    /// Marks a connection revoked and destroys its tokens, after erasing the user's data
    /// key ([`erase_user`](Self::erase_user)): every deauthorization revokes, so none
    /// leaves the user's records readable. Erasing first means a failed write is retried
    /// while the connection still looks active, and the `deauth` event that follows is
    /// sealed with the deployment key.
    pub async fn revoke_connection(&self, user_id: &str) -> Result<Option<Connection>, StateError> {
        let Some(mut c) = self.connection(user_id).map(|c| (*c).clone()) else {
            return Ok(None);
        };
        self.erase_user(user_id).await?;
        c.status = ConnectionStatus::Revoked;
        c.access_token = Default::default();
        c.refresh_token = Default::default();
        self.put_connection(&c).await?;
        Ok(Some(c))
    }

    pub async fn put_destination(&self, d: &Destination) -> Result<(), StateError> {
        let payload = serde_json::to_vec(d).map_err(|e| StateError::Encode(e.to_string()))?;
        self.write(StateKey::Destination(d.id.clone()), payload.into())
            .await
    }

    pub async fn delete_destination(&self, id: &str) -> Result<(), StateError> {
        self.write(StateKey::Destination(id.to_string()), Bytes::new())
            .await
    }

    pub async fn put_integration(&self, i: &Integration) -> Result<(), StateError> {
        let payload = serde_json::to_vec(i).map_err(|e| StateError::Encode(e.to_string()))?;
        self.write(
            StateKey::Integration(i.provider.slug().to_string()),
            payload.into(),
        )
        .await
    }

    /// The integration's settings, if any were ever written.
    pub fn integration(&self, provider: Provider) -> Option<Arc<Integration>> {
        self.maps
            .read()
            .expect("state lock")
            .integrations
            .get(&provider)
            .cloned()
    }

    /// False once the integration was disabled (true when never configured).
    pub fn integration_enabled(&self, provider: Provider) -> bool {
        !self.disabled[provider.index()].load(Ordering::Acquire)
    }

    /// Whether events of `event_type` from `provider` are processed.
    pub fn integration_wants(&self, provider: Provider, event_type: &str) -> bool {
        self.integration(provider)
            .is_none_or(|i| i.enabled && i.wants(event_type))
    }

    /// Stores an SDK token under the hex SHA-256 of its value.
    pub async fn put_sdk_token(&self, hash: &str, t: &SdkToken) -> Result<(), StateError> {
        let payload = serde_json::to_vec(t).map_err(|e| StateError::Encode(e.to_string()))?;
        self.write(StateKey::SdkToken(hash.to_string()), payload.into())
            .await
    }

    /// Revokes the SDK token with this public id; false if there is none.
    pub async fn revoke_sdk_token(&self, token_id: &str) -> Result<bool, StateError> {
        let hash = self
            .maps
            .read()
            .expect("state lock")
            .sdk_tokens
            .iter()
            .find(|(_, t)| t.token_id == token_id)
            .map(|(h, _)| h.clone());
        let Some(hash) = hash else {
            return Ok(false);
        };
        self.write(StateKey::SdkToken(hash), Bytes::new()).await?;
        Ok(true)
    }

    /// The live SDK token whose SHA-256 (hex) is `hash`.
    pub fn sdk_token(&self, hash: &str) -> Option<Arc<SdkToken>> {
        self.maps
            .read()
            .expect("state lock")
            .sdk_tokens
            .get(hash)
            .cloned()
    }

    /// The live SDK tokens of a connection.
    pub fn sdk_tokens_of(&self, user_id: &str) -> Vec<Arc<SdkToken>> {
        let mut v: Vec<_> = self
            .maps
            .read()
            .expect("state lock")
            .sdk_tokens
            .values()
            .filter(|t| t.user_id == user_id)
            .cloned()
            .collect();
        v.sort_by_key(|t| t.created_at_ms);
        v
    }

    /// Records that the dead letter at `partition:offset` was replayed.
    pub async fn mark_replayed(&self, dead_letter: &str) -> Result<(), StateError> {
        let at = pulsegate_schema::now_ms().to_string();
        self.write(StateKey::Replayed(dead_letter.to_string()), at.into())
            .await
    }

    pub fn was_replayed(&self, dead_letter: &str) -> bool {
        self.maps
            .read()
            .expect("state lock")
            .replayed
            .contains(dead_letter)
    }

    pub fn connection(&self, user_id: &str) -> Option<Arc<Connection>> {
        self.maps
            .read()
            .expect("state lock")
            .connections
            .get(user_id)
            .cloned()
    }

    pub fn connection_for(
        &self,
        provider: Provider,
        provider_user_id: &str,
    ) -> Option<Arc<Connection>> {
        let maps = self.maps.read().expect("state lock");
        let id = maps
            .by_provider_user
            .get(&(provider, provider_user_id.to_string()))?;
        maps.connections.get(id).cloned()
    }

    pub fn connections(&self) -> Vec<Arc<Connection>> {
        let mut v: Vec<_> = self
            .maps
            .read()
            .expect("state lock")
            .connections
            .values()
            .cloned()
            .collect();
        v.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        v
    }

    pub fn destination(&self, id: &str) -> Option<Arc<Destination>> {
        self.maps
            .read()
            .expect("state lock")
            .destinations
            .get(id)
            .cloned()
    }

    pub fn destinations(&self) -> Vec<Arc<Destination>> {
        let mut v: Vec<_> = self
            .maps
            .read()
            .expect("state lock")
            .destinations
            .values()
            .cloned()
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }
}

/// The `raw` record key of a connection's notifications.
fn raw_key(c: &Connection) -> String {
    pulsegate_schema::RawNotification::bus_key(c.provider, &c.provider_user_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulsegate_bus::embedded::{EmbeddedBus, EmbeddedConfig};
    use pulsegate_schema::Secret;

    fn conn(id: &str, puid: &str) -> Connection {
        Connection {
            user_id: id.into(),
            provider: Provider::Strava,
            provider_user_id: puid.into(),
            reference_id: Some("ref".into()),
            access_token: Secret::new("at"),
            refresh_token: Secret::new("rt"),
            expires_at: 0,
            scopes: None,
            status: ConnectionStatus::Active,
            created_at_ms: 0,
            dev_id: None,
            metadata: Default::default(),
        }
    }

    #[tokio::test]
    async fn writes_are_visible_here_and_in_a_second_view() {
        let dir = tempfile::tempdir().unwrap();
        let bus: Arc<dyn Bus> =
            Arc::new(EmbeddedBus::open(EmbeddedConfig::new(dir.path())).unwrap());
        let a = StateStore::start(bus.clone(), CancellationToken::new())
            .await
            .unwrap();
        a.put_connection(&conn("u1", "100")).await.unwrap();
        a.put_connection(&conn("u2", "200")).await.unwrap();
        assert_eq!(
            a.connection_for(Provider::Strava, "100").unwrap().user_id,
            "u1"
        );
        // Re-pointing a user: the old index entry goes away.
        a.put_connection(&conn("u1", "101")).await.unwrap();
        assert!(a.connection_for(Provider::Strava, "100").is_none());
        a.delete_connection("u2").await.unwrap();

        let b = StateStore::start(bus.clone(), CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(b.connections().len(), 1);
        assert_eq!(
            b.connection_for(Provider::Strava, "101").unwrap().user_id,
            "u1"
        );
        let revoked = a.revoke_connection("u1").await.unwrap().unwrap();
        assert_eq!(revoked.status, ConnectionStatus::Revoked);
        assert!(revoked.access_token.is_empty());
    }

    #[tokio::test]
    async fn webhook_updates_keep_the_latest_time_per_user() {
        let dir = tempfile::tempdir().unwrap();
        let bus: Arc<dyn Bus> =
            Arc::new(EmbeddedBus::open(EmbeddedConfig::new(dir.path())).unwrap());
        let s = StateStore::start(bus, CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(s.last_webhook_update("u1"), None);
        s.note_webhook_update("u1", 20);
        // A delivery finishing late with an older time does not move it back.
        s.note_webhook_update("u1", 10);
        s.note_webhook_update("u2", 5);
        assert_eq!(s.last_webhook_update("u1"), Some(20));
        assert_eq!(s.last_webhook_update("u2"), Some(5));
    }

    /// The times reach other processes and restarts through the state topic, for users
    /// who may be served; deleting the connection deletes them.
    #[tokio::test]
    async fn webhook_updates_are_shared_through_the_state_topic() {
        let dir = tempfile::tempdir().unwrap();
        let bus: Arc<dyn Bus> =
            Arc::new(EmbeddedBus::open(EmbeddedConfig::new(dir.path())).unwrap());
        let a = StateStore::start(bus.clone(), CancellationToken::new())
            .await
            .unwrap();
        let b = StateStore::start(bus.clone(), CancellationToken::new())
            .await
            .unwrap();
        a.put_connection(&conn("u1", "100")).await.unwrap();
        a.note_webhook_update("u1", 1_000);
        // No connection: not written (nothing to answer about, nothing to erase later).
        a.note_webhook_update("ghost", 2_000);
        assert_eq!(a.flush_webhook_updates().await.unwrap(), 1);
        assert_eq!(
            a.flush_webhook_updates().await.unwrap(),
            0,
            "only what changed"
        );
        b.sync().await.unwrap();
        assert_eq!(b.last_webhook_update("u1"), Some(1_000));
        assert_eq!(b.last_webhook_update("ghost"), None);
        // A later start reads it too.
        let c = StateStore::start(bus.clone(), CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(c.last_webhook_update("u1"), Some(1_000));
        // An older time from another process does not move it back.
        b.note_webhook_update("u1", 500);
        assert_eq!(b.flush_webhook_updates().await.unwrap(), 0);

        a.delete_connection("u1").await.unwrap();
        b.sync().await.unwrap();
        assert_eq!(a.last_webhook_update("u1"), None);
        assert_eq!(b.last_webhook_update("u1"), None);
    }

    /// Destinations' signing secrets (and Kafka passwords) are encrypted on the state
    /// topic, like tokens, even without the sealing layer below (found in clear on 35d039a).
    #[tokio::test]
    async fn destination_secrets_are_encrypted_in_the_state_record() {
        use base64::Engine;
        let dir = tempfile::tempdir().unwrap();
        let bus: Arc<dyn Bus> =
            Arc::new(EmbeddedBus::open(EmbeddedConfig::new(dir.path())).unwrap());
        let cipher = || {
            StateCipher::from_config(&SecurityConfig {
                encryption_key: Secret::new(
                    base64::engine::general_purpose::STANDARD.encode([4u8; 32]),
                ),
                ..Default::default()
            })
            .unwrap()
        };
        let a = StateStore::start_with_cipher(bus.clone(), CancellationToken::new(), cipher())
            .await
            .unwrap();
        let d = Destination {
            id: "d1".into(),
            url: "https://example.com/hook".into(),
            secret: Secret::new("whsec_S3cretDestinationKey"),
            secret_set_at_ms: 1_700_000_000_000,
            previous_secret: None,
            previous_secret_until_ms: 0,
            event_types: vec![],
            providers: vec![],
            ordered: false,
            failing_since_ms: None,
            disabled_reason: None,
            enabled: true,
            dev_id: None,
            // An S3 destination's secret access key is encrypted with the record too.
            s3_access_key_id: Some("AKIAEXAMPLE".into()),
            s3_secret_access_key: Some(Secret::new("S3cretAccessKeyValue")),
            kafka_auth: Some(pulsegate_schema::KafkaAuth {
                mechanism: "PLAIN".into(),
                username: "customer".into(),
                password: Secret::new("KafkaPassw0rdInState"),
            }),
            kafka_ca_pem: None,
            // And a claim-check store's.
            claim_check: Some(pulsegate_schema::ClaimCheck {
                url: "s3://claims/p".into(),
                access_key_id: "AKIACLAIM".into(),
                secret_access_key: Secret::new("ClaimCheckKeyInState"),
                threshold_bytes: 0,
                expires_in_secs: 600,
            }),
            file_entry: None,
        };
        a.put_destination(&d).await.unwrap();
        let mut raw = bus.read_from_start(topics::STATE).await.unwrap();
        let mut seen = false;
        while !raw.caught_up() {
            for r in raw.poll(100, Duration::from_millis(100)).await.unwrap() {
                if r.key.as_ref() == b"destination/d1" {
                    seen = true;
                    assert!(crypto::is_encrypted(&r.payload));
                    assert!(!r.payload.windows(6).any(|w| w == b"S3cret"));
                    // A Kafka destination's SASL password likewise.
                    assert!(!r.payload.windows(13).any(|w| w == b"KafkaPassw0rd"));
                    assert!(!r.payload.windows(13).any(|w| w == b"ClaimCheckKey"));
                }
            }
        }
        assert!(seen);
        let b = StateStore::start_with_cipher(bus.clone(), CancellationToken::new(), cipher())
            .await
            .unwrap();
        assert_eq!(*b.destination("d1").unwrap(), d);
    }
}

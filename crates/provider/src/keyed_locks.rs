//! Async mutexes by key (one token refresh per connection at a time).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Async mutexes by key, created on demand and removed when nobody holds or waits for
/// them (so the map stays as small as the set of keys in use).
#[derive(Default)]
pub struct KeyedLocks {
    map: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Holds one key's lock until dropped.
pub struct KeyedGuard<'a> {
    locks: &'a KeyedLocks,
    key: String,
    mutex: Arc<tokio::sync::Mutex<()>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl KeyedLocks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits for `key`'s lock (FIFO among waiters).
    pub async fn lock(&self, key: &str) -> KeyedGuard<'_> {
        let mutex = self
            .map
            .lock()
            .expect("locks map")
            .entry(key.to_string())
            .or_default()
            .clone();
        let guard = mutex.clone().lock_owned().await;
        KeyedGuard {
            locks: self,
            key: key.to_string(),
            mutex,
            guard: Some(guard),
        }
    }

    /// Keys with a live lock (held or waited for).
    pub fn len(&self) -> usize {
        self.map.lock().expect("locks map").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for KeyedGuard<'_> {
    fn drop(&mut self) {
        self.guard.take();
        let mut map = self.locks.map.lock().expect("locks map");
        // Clones are only taken under the map lock: the map's and ours are the last two.
        if Arc::strong_count(&self.mutex) == 2 {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn keyed_locks_exclude_per_key_and_clean_up() {
        let locks = Arc::new(KeyedLocks::new());
        let inside = Arc::new(AtomicUsize::new(0));
        let max_inside = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (locks, inside, max_inside) = (locks.clone(), inside.clone(), max_inside.clone());
            tasks.push(tokio::spawn(async move {
                let _g = locks.lock("user").await;
                let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                max_inside.fetch_max(n, Ordering::SeqCst);
                tokio::task::yield_now().await;
                inside.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(max_inside.load(Ordering::SeqCst), 1);
        assert!(locks.is_empty(), "entries removed once unused");

        // Different keys do not block each other.
        let a = locks.lock("a").await;
        let b = locks.lock("b").await;
        assert_eq!(locks.len(), 2);
        drop((a, b));
        assert!(locks.is_empty());
    }
}

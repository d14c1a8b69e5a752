//! A bounded recently-seen set (duplicate notifications within this process).

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

/// A bounded set of recently handled keys; the oldest is forgotten first (FIFO).
pub struct RecentlySeen {
    capacity: usize,
    inner: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    set: HashSet<String>,
    order: VecDeque<String>,
}

impl RecentlySeen {
    /// `capacity` 0 remembers nothing.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Seen::default()),
        }
    }

    pub fn contains(&self, key: &str) -> bool {
        self.capacity > 0 && self.inner.lock().expect("seen lock").set.contains(key)
    }

    /// Remembers `key`, forgetting the oldest keys beyond capacity.
    pub fn insert(&self, key: String) {
        if self.capacity == 0 {
            return;
        }
        let mut seen = self.inner.lock().expect("seen lock");
        if !seen.set.insert(key.clone()) {
            return;
        }
        seen.order.push_back(key);
        while seen.order.len() > self.capacity {
            if let Some(old) = seen.order.pop_front() {
                seen.set.remove(&old);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.inner.lock().expect("seen lock").order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_is_bounded_fifo() {
        let s = RecentlySeen::new(3);
        for k in ["a", "b", "c"] {
            s.insert(k.into());
        }
        s.insert("a".into()); // already there: no reordering, no growth
        assert!(s.contains("a") && s.contains("b") && s.contains("c"));
        s.insert("d".into());
        assert!(!s.contains("a"), "oldest forgotten");
        assert!(s.contains("d"));
        assert_eq!(s.len(), 3);

        let off = RecentlySeen::new(0);
        off.insert("x".into());
        assert!(!off.contains("x"));
    }
}

//! A small read-through cache with a time-to-live, for rows that rarely change
//! and are read on every request (API clients, wallets). A change made on this
//! replica is applied at once ([`TtlCache::forget`]); one made on another
//! replica is seen within the TTL.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most entries kept before the cache starts over.
const MAX_ENTRIES: usize = 100_000;

/// Values (including "absent") by id, each for at most `ttl`.
pub struct TtlCache<V> {
    entries: Mutex<HashMap<String, (V, Instant)>>,
    ttl: Duration,
}

impl<V: Clone> TtlCache<V> {
    /// A cache keeping entries for `ttl`.
    #[must_use]
    pub fn new(ttl: Duration) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    /// A fresh entry, if any.
    pub fn get(&self, id: &str) -> Option<V> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(id)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(v, _)| v.clone())
    }

    /// Stores an entry.
    pub fn put(&self, id: &str, value: V) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(id.to_owned(), (value, Instant::now()));
        }
    }

    /// Drops an entry (after a change on this replica).
    pub fn forget(&self, id: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_can_be_forgotten() {
        let c = TtlCache::new(Duration::from_millis(50));
        c.put("a", 1);
        assert_eq!(c.get("a"), Some(1));
        c.forget("a");
        assert_eq!(c.get("a"), None);
        c.put("b", 2);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(c.get("b"), None);
    }
}

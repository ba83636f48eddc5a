//! The ticket replay cache: every `jti` seen, kept until its ticket expires
//! (plus skew), so memory is bounded by the ticket rate times the TTL.

use std::collections::HashMap;
use std::sync::Mutex;

use signet_proto::ticket::SKEW_SECONDS;
use signet_proto::ErrorCode;

use crate::error::SignerError;

const SHARDS: usize = 16;

/// Seen ticket ids, sharded to keep lock contention low.
pub struct ReplayCache {
    shards: Vec<Mutex<HashMap<String, u64>>>,
    max_per_shard: usize,
}

impl ReplayCache {
    /// A cache holding at most about `max_entries` live tickets; beyond that
    /// new tickets get `busy` (never silently forgotten).
    #[must_use]
    pub fn new(max_entries: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            max_per_shard: max_entries.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, jti: &str) -> &Mutex<HashMap<String, u64>> {
        // FNV-1a: jti values are random, any spread will do.
        let h = jti.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        &self.shards[usize::try_from(h % SHARDS as u64).unwrap_or(0)]
    }

    /// Records `jti` (valid until `exp`), refusing it if already recorded.
    pub fn consume(&self, jti: &str, exp: u64, now: u64) -> Result<(), SignerError> {
        let mut shard = self
            .shard(jti)
            .lock()
            .map_err(|_| SignerError::new(ErrorCode::Internal, "replay cache lock poisoned"))?;
        if shard.contains_key(jti) {
            return Err(SignerError::new(
                ErrorCode::TicketReplayed,
                "ticket was already used",
            ));
        }
        if shard.len() >= self.max_per_shard {
            shard.retain(|_, e| e.saturating_add(SKEW_SECONDS) >= now);
            if shard.len() >= self.max_per_shard {
                return Err(SignerError::new(
                    ErrorCode::Busy,
                    "replay cache full; retry shortly",
                ));
            }
        }
        shard.insert(jti.to_owned(), exp);
        Ok(())
    }

    /// Drops entries whose tickets can no longer be accepted anyway.
    pub fn prune(&self, now: u64) {
        for shard in &self.shards {
            if let Ok(mut s) = shard.lock() {
                s.retain(|_, e| e.saturating_add(SKEW_SECONDS) >= now);
            }
        }
    }

    /// Live entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |s| s.len()))
            .sum()
    }

    /// Whether no entry is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_use_is_refused() {
        let c = ReplayCache::new(100);
        c.consume("a", 100, 50).unwrap();
        assert_eq!(
            c.consume("a", 100, 51).unwrap_err().code,
            ErrorCode::TicketReplayed
        );
        c.consume("b", 100, 51).unwrap();
    }

    #[test]
    fn memory_is_bounded_by_expiry() {
        let c = ReplayCache::new(400);
        for i in 0..10_000u64 {
            // Each ticket lives 10 s; time advances 1 s per 10 tickets.
            c.consume(&format!("t{i}"), i / 10 + 10, i / 10).unwrap();
        }
        assert!(c.len() <= 400, "{} entries", c.len());
        c.prune(10_000);
        assert!(c.is_empty());
    }

    #[test]
    fn full_cache_of_live_tickets_says_busy() {
        let c = ReplayCache::new(16);
        let mut refused = 0;
        for i in 0..64 {
            if let Err(e) = c.consume(&format!("t{i}"), 1_000, 0) {
                assert_eq!(e.code, ErrorCode::Busy);
                refused += 1;
            }
        }
        assert!(refused > 0);
        // An expired entry makes room again.
        c.prune(2_000);
        c.consume("fresh", 3_000, 2_000).unwrap();
    }
}

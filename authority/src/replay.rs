//! The signer's memory of request ids already used, so that one set of
//! approvals yields one action.
//!
//! Each id is remembered until its authorization expires (at most 600 s).
//! The memory is bounded; when it is full of unexpired ids it refuses new
//! ones rather than forgetting old ones, so flooding it cannot make it
//! forget an id that could still be replayed. Filling it takes valid owner
//! approvals, and it empties itself within 600 s.

use std::collections::{BTreeSet, HashMap};

use crate::approval::{ApprovalRefusal, Verified};

/// A request id refused by the [`ReplayGuard`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The id was already used.
    #[error("request id {} was already used; approve a new authorization", hex::encode(.0))]
    Replayed([u8; 16]),
    /// The authorization had expired: nothing to remember.
    #[error("the authorization expired at {0}")]
    Expired(u64),
    /// The memory is full of unexpired ids; try again later.
    #[error("too many approved requests in flight ({0}); try again in a few minutes")]
    Full(usize),
}

impl ReplayError {
    /// The approval refusal, for the two cases that are the approval's fault.
    #[must_use]
    pub fn refusal(&self) -> Option<ApprovalRefusal> {
        match self {
            Self::Replayed(_) => Some(ApprovalRefusal::Replayed),
            Self::Expired(_) => Some(ApprovalRefusal::Expired),
            Self::Full(_) => None,
        }
    }
}

/// Request ids remembered until their expiry, at most `capacity` at once.
#[derive(Debug, Clone)]
pub struct ReplayGuard {
    capacity: usize,
    expiry: HashMap<[u8; 16], u64>,
    by_expiry: BTreeSet<(u64, [u8; 16])>,
}

impl ReplayGuard {
    /// An empty guard holding at most `capacity` unexpired ids.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            expiry: HashMap::new(),
            by_expiry: BTreeSet::new(),
        }
    }

    /// Forgets ids whose authorization expired before `now_s` (an
    /// authorization is valid through its `expires_at` second).
    fn prune(&mut self, now_s: u64) {
        while let Some(&(at, id)) = self.by_expiry.first() {
            if at >= now_s {
                break;
            }
            self.by_expiry.remove(&(at, id));
            self.expiry.remove(&id);
        }
    }

    /// Whether `request_id` is remembered (used and not yet expired).
    pub fn contains(&mut self, request_id: &[u8; 16], now_s: u64) -> bool {
        self.prune(now_s);
        self.expiry.contains_key(request_id)
    }

    /// Remembers `request_id` until `expires_at`; refuses an id already
    /// remembered, an expired one, and any new one while full.
    pub fn remember(
        &mut self,
        request_id: [u8; 16],
        expires_at: u64,
        now_s: u64,
    ) -> Result<(), ReplayError> {
        self.prune(now_s);
        if self.expiry.contains_key(&request_id) {
            return Err(ReplayError::Replayed(request_id));
        }
        if expires_at < now_s {
            return Err(ReplayError::Expired(expires_at));
        }
        if self.expiry.len() >= self.capacity {
            return Err(ReplayError::Full(self.capacity));
        }
        self.expiry.insert(request_id, expires_at);
        self.by_expiry.insert((expires_at, request_id));
        Ok(())
    }

    /// Remembers the request of verified approvals.
    pub fn remember_verified(
        &mut self,
        verified: &Verified,
        now_s: u64,
    ) -> Result<(), ReplayError> {
        self.remember(verified.request_id, verified.expires_at, now_s)
    }

    /// How many ids are remembered (expired ones included until the next
    /// call that prunes).
    #[must_use]
    pub fn len(&self) -> usize {
        self.expiry.len()
    }

    /// Whether nothing is remembered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.expiry.is_empty()
    }
}

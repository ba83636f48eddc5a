//! Rate limits.
//!
//! [`RateLimiter`]: fixed windows on wall-clock boundaries, shared by every
//! replica through the database. Each replica counts locally and adds its
//! hits to the shared counter every [`RateLimiter::flush_interval`]; the
//! decision uses the shared total last read plus the local hits not yet
//! added (those on their way to the database included), so all replicas
//! together admit at most the limit plus what the others admitted within
//! one flush interval.
//!
//! [`PeerGuard`]: authentication failures per peer address. It bounds what
//! failures cost (audit rows, work), not who may use a valid token: a
//! peer's failures past the limit are refused (429) and counted rather than
//! recorded one by one: the first [`PeerGuard::LOGGED_PER_WINDOW`] of a
//! window are audit events, the rest are summed into one `AUTH_DENY_FLOOD`
//! event.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use signet_proto::time::now_ms;

use crate::store::Store;

/// Most keys tracked before old windows are dropped.
const MAX_KEYS: usize = 200_000;

/// A limit that refuses, named in its refusal by its configuration
/// variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// Requests (and JSON-RPC batch calls) per window per API client or
    /// user: `RATE_LIMIT_PER_USER`.
    PerClient,
    /// Signatures per window per wallet: `RATE_LIMIT_PER_IDENTITY_SIGN`.
    PerWalletSign,
    /// Failed authentications per peer address a minute:
    /// `RATE_LIMIT_AUTH_FAILURES_PER_IP`.
    AuthFailuresPerPeer,
    /// Login challenges per peer address a minute:
    /// `RATE_LIMIT_CHALLENGES_PER_IP`.
    ChallengesPerPeer,
}

impl Limit {
    /// The configuration variable that sets it.
    #[must_use]
    pub fn variable(self) -> &'static str {
        match self {
            Self::PerClient => "RATE_LIMIT_PER_USER",
            Self::PerWalletSign => "RATE_LIMIT_PER_IDENTITY_SIGN",
            Self::AuthFailuresPerPeer => "RATE_LIMIT_AUTH_FAILURES_PER_IP",
            Self::ChallengesPerPeer => "RATE_LIMIT_CHALLENGES_PER_IP",
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Counter {
    window: u64,
    /// Hits admitted here and not yet sent to the shared counter.
    pending: u64,
    /// Hits sent to the shared counter whose write has not come back yet.
    /// They still count: without them every flush would reopen the limit
    /// for as long as the database takes to answer.
    in_flight: u64,
    /// The shared total when last read.
    shared: u64,
}

impl Counter {
    /// Every hit this replica knows of in the window.
    fn counted(&self) -> u64 {
        self.shared
            .saturating_add(self.in_flight)
            .saturating_add(self.pending)
    }
}

/// How many of the hits asked for a limit admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admitted {
    /// Hits admitted: the first ones asked for.
    pub hits: u64,
    /// Seconds until the window ends, when some were refused.
    pub retry_after: Option<u64>,
}

/// `(key, window, hits)` on their way to the shared counters.
type Flight = Vec<(String, u64, u64)>;

/// Shared fixed-window counters.
pub struct RateLimiter {
    window_ms: u64,
    counters: Mutex<HashMap<String, Counter>>,
}

impl RateLimiter {
    /// Counters over windows of `window`.
    #[must_use]
    pub fn new(window: Duration) -> Self {
        Self {
            window_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1),
            counters: Mutex::new(HashMap::new()),
        }
    }

    /// How often local hits are added to the shared counters.
    #[must_use]
    pub fn flush_interval(&self) -> Duration {
        Duration::from_millis((self.window_ms / 10).clamp(20, 1000))
    }

    /// The window length in ms.
    #[must_use]
    pub fn window_ms(&self) -> u64 {
        self.window_ms
    }

    /// Counts one hit on `key`; `Err(retry_after_seconds)` past `limit`
    /// (0 = unlimited, nothing counted).
    pub async fn hit(&self, store: &Store, key: &str, limit: u64) -> Result<(), u64> {
        match self.hit_many(store, key, 1, limit).await {
            Admitted {
                retry_after: Some(retry_after),
                ..
            } => Err(retry_after),
            Admitted { .. } => Ok(()),
        }
    }

    /// Counts up to `n` hits on `key` at once, as many as `limit` still
    /// admits (0 = unlimited: all, nothing counted). The first hit of a key
    /// in a window reads what the other replicas counted so far.
    pub async fn hit_many(&self, store: &Store, key: &str, n: u64, limit: u64) -> Admitted {
        if limit == 0 || n == 0 {
            return Admitted {
                hits: n,
                retry_after: None,
            };
        }
        let now = now_ms();
        let window = now - now % self.window_ms;
        let known = self
            .counters
            .lock()
            .is_ok_and(|c| c.get(key).is_some_and(|c| c.window == window));
        if !known {
            match store.rate_totals(window, &[key.to_owned()]).await {
                Ok(totals) => self.learn(
                    window,
                    &[(key.to_owned(), totals.first().copied().unwrap_or(0))],
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "rate-limit counter not read; counting locally")
                }
            }
        }
        self.hit_at(key, n, limit, now)
    }

    /// Records shared totals of `window`.
    fn learn(&self, window: u64, totals: &[(String, u64)]) {
        let Ok(mut counters) = self.counters.lock() else {
            return;
        };
        for (key, total) in totals {
            let c = counters.entry(key.clone()).or_default();
            if c.window != window {
                *c = Counter {
                    window,
                    ..Counter::default()
                };
            }
            c.shared = c.shared.max(*total);
        }
    }

    fn hit_at(&self, key: &str, n: u64, limit: u64, now: u64) -> Admitted {
        if limit == 0 {
            return Admitted {
                hits: n,
                retry_after: None,
            };
        }
        let window = now - now % self.window_ms;
        let Ok(mut counters) = self.counters.lock() else {
            return Admitted {
                hits: n,
                retry_after: None,
            };
        };
        if counters.len() >= MAX_KEYS {
            counters.retain(|_, c| c.window == window);
        }
        let c = counters.entry(key.to_owned()).or_default();
        if c.window != window {
            *c = Counter {
                window,
                ..Counter::default()
            };
        }
        let hits = n.min(limit.saturating_sub(c.counted()));
        c.pending += hits;
        let retry_after = (hits < n).then(|| {
            let left_ms = window + self.window_ms - now;
            left_ms.div_ceil(1000).max(1)
        });
        Admitted { hits, retry_after }
    }

    /// Adds local hits to the shared counters and learns the totals, also
    /// of the keys counted this window without new local hits.
    pub async fn flush(&self, store: &Store) {
        let now = now_ms();
        let window = now - now % self.window_ms;
        let Some((flight, idle)) = self.take_pending(window) else {
            return;
        };
        if !flight.is_empty() {
            match store.add_rate_hits(&flight).await {
                Ok(totals) => self.land(&flight, Some(&totals)),
                Err(e) => {
                    tracing::warn!(error = %e, "rate-limit counters not shared this round");
                    self.land(&flight, None);
                }
            }
        }
        if !idle.is_empty() {
            match store.rate_totals(window, &idle).await {
                Ok(totals) => {
                    for (key, total) in idle.iter().zip(totals) {
                        self.learn_if_current(window, key, total);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "rate-limit counters not read this round"),
            }
        }
    }

    /// The hits to send to the shared counters (moved from pending to in
    /// flight, so they keep counting while the write is under way) and the
    /// keys of `window` without new hits, whose totals are re-read.
    fn take_pending(&self, window: u64) -> Option<(Flight, Vec<String>)> {
        let mut counters = self.counters.lock().ok()?;
        let mut flight = Vec::new();
        let mut idle = Vec::new();
        for (k, c) in counters.iter_mut() {
            if c.pending > 0 {
                let n = std::mem::take(&mut c.pending);
                c.in_flight += n;
                flight.push((k.clone(), c.window, n));
            } else if c.window == window {
                idle.push(k.clone());
            }
        }
        Some((flight, idle))
    }

    /// The write of `flight` came back: with the new shared totals (which
    /// hold its hits), or failed (`None`: its hits are pending again, for
    /// the next round).
    fn land(&self, flight: &[(String, u64, u64)], totals: Option<&[u64]>) {
        let Ok(mut counters) = self.counters.lock() else {
            return;
        };
        for (i, (key, window, n)) in flight.iter().enumerate() {
            let Some(c) = counters.get_mut(key).filter(|c| c.window == *window) else {
                continue;
            };
            c.in_flight = c.in_flight.saturating_sub(*n);
            match totals.and_then(|t| t.get(i)) {
                Some(total) => c.shared = c.shared.max(*total),
                None => c.pending += n,
            }
        }
    }

    fn learn_if_current(&self, window: u64, key: &str, total: u64) {
        if let Ok(mut counters) = self.counters.lock() {
            if let Some(c) = counters.get_mut(key).filter(|c| c.window == window) {
                c.shared = c.shared.max(total);
            }
        }
    }
}

/// What to do with one more authentication failure of a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureRecord {
    /// Record it as its own audit event.
    Log,
    /// Count it only (summed into the peer's next `AUTH_DENY_FLOOD`).
    Count,
}

#[derive(Clone, Copy, Debug, Default)]
struct PeerWindow {
    /// When this peer's current window began (its first failure in it), ms.
    start: u64,
    failures: u64,
    unlogged: u64,
}

/// Authentication failures per peer address (IPv6 peers by their /64: one
/// host usually holds a whole /64). A peer's window begins at its first
/// failure, so a burst is never split by a clock boundary. Only failures
/// are limited: a 256-bit token cannot be guessed, so the guard exists for
/// the audit log and the work failures cause, and a valid token from a
/// flooded address still passes.
pub struct PeerGuard {
    limit: u64,
    window_ms: u64,
    peers: Mutex<Peers>,
}

#[derive(Default)]
struct Peers {
    by_peer: HashMap<IpAddr, PeerWindow>,
    /// `(start, count)`: failures recorded one by one across every peer in
    /// the window that began at `start`.
    logged: (u64, u64),
}

/// The address failures are counted under.
fn peer_key(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(_) => peer,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut octets = v6.octets();
                octets[8..].fill(0);
                IpAddr::V6(octets.into())
            }
        },
    }
}

impl PeerGuard {
    /// Failures recorded one by one per peer and window; the rest are counted.
    pub const LOGGED_PER_WINDOW: u64 = 10;

    /// Failures recorded one by one per window across all peers (many
    /// addresses at once); the rest are counted.
    pub const LOGGED_PER_WINDOW_IN_ALL: u64 = 500;

    /// At most `limit` failures per peer per `window` (0 = no limit).
    #[must_use]
    pub fn new(limit: u64, window: Duration) -> Self {
        Self {
            limit,
            window_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1),
            peers: Mutex::new(Peers::default()),
        }
    }

    fn expired(&self, start: u64, now: u64) -> bool {
        now >= start.saturating_add(self.window_ms)
    }

    /// `Err(retry_after_seconds)` if `peer` is over its failure limit (the
    /// refusal is counted as one more failure, for the flood summary). For
    /// authentication it is asked once a request failed: a valid token
    /// passes whatever its peer did before.
    pub fn check(&self, peer: IpAddr) -> Result<(), u64> {
        if self.limit == 0 {
            return Ok(());
        }
        let now = now_ms();
        let Ok(mut peers) = self.peers.lock() else {
            return Ok(());
        };
        // Only peers that failed are tracked: no entry, nothing to refuse.
        match peers.by_peer.get_mut(&peer_key(peer)) {
            Some(w) if !self.expired(w.start, now) && w.failures >= self.limit => {
                w.unlogged += 1;
                Err((w.start + self.window_ms - now).div_ceil(1000).max(1))
            }
            _ => Ok(()),
        }
    }

    /// Counts one event of `peer` if it is under its limit, else
    /// `Err(retry_after_seconds)` (for limits on every request of a kind,
    /// not only on failures: login challenges).
    pub fn admit(&self, peer: IpAddr) -> Result<(), u64> {
        self.check(peer)?;
        if self.limit > 0 {
            self.failed(peer);
        }
        Ok(())
    }

    /// After a failed authentication: whether to record it or only count it.
    pub fn failed(&self, peer: IpAddr) -> FailureRecord {
        let now = now_ms();
        let Ok(mut peers) = self.peers.lock() else {
            return FailureRecord::Count;
        };
        let Peers { by_peer, logged } = &mut *peers;
        if self.expired(logged.0, now) {
            *logged = (now, 0);
        }
        if by_peer.len() >= MAX_KEYS {
            by_peer.retain(|_, w| !self.expired(w.start, now) || w.unlogged > 0);
        }
        let w = by_peer.entry(peer_key(peer)).or_default();
        if self.expired(w.start, now) {
            // A new window: the count restarts; unlogged failures wait for
            // the next summary.
            w.start = now;
            w.failures = 0;
        }
        w.failures += 1;
        if w.failures <= Self::LOGGED_PER_WINDOW && logged.1 < Self::LOGGED_PER_WINDOW_IN_ALL {
            logged.1 += 1;
            FailureRecord::Log
        } else {
            w.unlogged += 1;
            FailureRecord::Count
        }
    }

    /// Takes the counted-only failures per peer (for the flood summary) and
    /// forgets peers whose window has ended.
    pub fn take_unlogged(&self) -> Vec<(IpAddr, u64)> {
        let Ok(mut guard) = self.peers.lock() else {
            return Vec::new();
        };
        let out = guard
            .by_peer
            .iter_mut()
            .filter(|(_, w)| w.unlogged > 0)
            .map(|(ip, w)| (*ip, std::mem::take(&mut w.unlogged)))
            .collect();
        let now = now_ms();
        guard.by_peer.retain(|_, w| !self.expired(w.start, now));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One hit at `now`: `Err(retry_after)` past `limit`.
    fn one(l: &RateLimiter, key: &str, limit: u64, now: u64) -> Result<(), u64> {
        match l.hit_at(key, 1, limit, now) {
            Admitted {
                hits: 1,
                retry_after: None,
            } => Ok(()),
            Admitted {
                hits: 0,
                retry_after: Some(r),
            } => Err(r),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn counts_per_key_and_window() {
        let l = RateLimiter::new(Duration::from_secs(60));
        let t = 1_000_020_000;
        assert!(one(&l, "a", 2, t).is_ok());
        assert!(one(&l, "a", 2, t + 1).is_ok());
        let retry = one(&l, "a", 2, t + 2).unwrap_err();
        assert!((1..=60).contains(&retry), "{retry}");
        assert!(one(&l, "b", 2, t).is_ok());
        assert!(one(&l, "c", 0, t).is_ok());
        assert!(
            one(&l, "a", 2, t + 60_000).is_ok(),
            "a new window starts over"
        );
    }

    #[test]
    fn many_hits_at_once_admit_only_what_is_left_of_the_limit() {
        let l = RateLimiter::new(Duration::from_secs(60));
        let t = 1_000_020_000;
        assert!(one(&l, "a", 5, t).is_ok());
        let admitted = l.hit_at("a", 7, 5, t + 1);
        assert_eq!(admitted.hits, 4, "5 minus the one already counted");
        assert!(admitted.retry_after.is_some_and(|r| (1..=60).contains(&r)));
        assert_eq!(
            l.hit_at("a", 3, 5, t + 2),
            Admitted {
                hits: 0,
                retry_after: admitted.retry_after
            },
            "nothing is left"
        );
        assert_eq!(
            l.hit_at("b", 3, 5, t),
            Admitted {
                hits: 3,
                retry_after: None
            }
        );
        assert_eq!(
            l.hit_at("c", 500, 0, t),
            Admitted {
                hits: 500,
                retry_after: None
            },
            "0 is unlimited"
        );
    }

    /// Review finding (issue 23): a flush took the local hits before the
    /// database had added them, so while the write was under way the
    /// limit saw neither and admitted a whole limit's worth again.
    #[test]
    fn hits_on_their_way_to_the_database_still_count() {
        let l = RateLimiter::new(Duration::from_secs(60));
        let t = 1_000_020_000;
        let window = t - t % 60_000;
        for i in 0..3 {
            assert!(one(&l, "a", 4, t + i).is_ok());
        }
        let (flight, idle) = l.take_pending(window).unwrap();
        assert_eq!(flight, vec![("a".to_owned(), window, 3)]);
        assert!(idle.is_empty());
        // The write is under way: one hit is left, not four.
        assert!(one(&l, "a", 4, t + 10).is_ok());
        assert!(one(&l, "a", 4, t + 11).is_err());
        // It lands (the shared total holds the 3): still one pending here.
        l.land(&flight, Some(&[3]));
        assert!(one(&l, "a", 4, t + 12).is_err());
        // A write that fails puts its hits back to pending: they count on.
        let (flight, _) = l.take_pending(window).unwrap();
        assert_eq!(flight, vec![("a".to_owned(), window, 1)]);
        l.land(&flight, None);
        assert!(one(&l, "a", 4, t + 13).is_err());
        let (flight, _) = l.take_pending(window).unwrap();
        assert_eq!(flight, vec![("a".to_owned(), window, 1)], "sent again");
        l.land(&flight, Some(&[4]));
        assert!(one(&l, "a", 4, t + 14).is_err());
        let (flight, idle) = l.take_pending(window).unwrap();
        assert!(flight.is_empty());
        assert_eq!(idle, vec!["a".to_owned()]);
    }

    #[test]
    fn a_peer_over_its_failure_limit_is_refused_and_flood_is_counted() {
        let g = PeerGuard::new(15, Duration::from_secs(60));
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        let mut logged = 0;
        for _ in 0..15 {
            assert!(g.check(ip).is_ok());
            if g.failed(ip) == FailureRecord::Log {
                logged += 1;
            }
        }
        assert_eq!(logged, PeerGuard::LOGGED_PER_WINDOW);
        assert!(g.check(ip).is_err());
        assert!(g.check(ip).is_err());
        assert!(g.check(other).is_ok(), "other peers are not affected");
        let unlogged = g.take_unlogged();
        assert_eq!(unlogged, vec![(ip, 5 + 2)]);
        assert!(g.take_unlogged().is_empty());
    }

    #[test]
    fn ipv6_peers_count_by_their_64_and_many_peers_share_one_logging_budget() {
        let g = PeerGuard::new(1_000_000, Duration::from_secs(60));
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        for _ in 0..PeerGuard::LOGGED_PER_WINDOW {
            assert_eq!(g.failed(a), FailureRecord::Log);
        }
        assert_eq!(g.failed(b), FailureRecord::Count, "same /64, same budget");
        let mut logged = PeerGuard::LOGGED_PER_WINDOW;
        for i in 0..2_000u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0A00_0000 + i));
            if g.failed(ip) == FailureRecord::Log {
                logged += 1;
            }
        }
        assert_eq!(logged, PeerGuard::LOGGED_PER_WINDOW_IN_ALL);
    }
}

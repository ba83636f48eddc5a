//! Policy windows: what each wallet signed without owners lately, kept in
//! the signer's memory only.
//!
//! Each window of a wallet's policy (`windows[i]`: `seconds`,
//! `max_value_wei`, `max_count`) is counted in [`BUCKETS`] buckets of
//! `ceil(seconds / BUCKETS)` seconds. A request counts everything in the
//! buckets that overlap the last `seconds`, so the sum is never below the
//! true sliding-window sum (up to one bucket more): the limit is never
//! exceeded, and memory is bounded whatever the signing rate.
//!
//! A request **reserves** its value and one count in every window before it
//! is signed, under one lock, so concurrent requests cannot overshoot; a
//! signature that then fails releases its reservation.
//!
//! **Cold windows.** This signer knows only what it signed itself. Until it
//! has held a wallet for a whole window (since its start, or since it first
//! loaded the key), that window counts as full (`windows[i].cold`) unless
//! the wallet's owners signed `resume` here. Restarting a signer, or sending
//! the wallet to another one, therefore never adds budget; with N signers
//! the bound is N × the limit.
//!
//! Owner-approved signatures are not refused by windows but still count.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use signet_authority::{Amount, Denied, Window};

use crate::error::SignerError;

/// Buckets per window.
pub const BUCKETS: u64 = 64;

/// The most wallets whose windows a signer tracks; beyond it the least
/// recently used wallet is forgotten (and is cold again when it returns).
pub const MAX_WALLETS: usize = 100_000;

#[derive(Debug, Default)]
struct Counter {
    /// (bucket index, value, count), oldest first.
    buckets: VecDeque<(u64, Amount, u64)>,
}

impl Counter {
    fn prune(&mut self, first: u64) {
        while self.buckets.front().is_some_and(|b| b.0 < first) {
            self.buckets.pop_front();
        }
    }

    fn totals(&self) -> (Amount, u64) {
        self.buckets.iter().fold((Amount::ZERO, 0), |(v, c), b| {
            (v.saturating_add(b.1), c + b.2)
        })
    }

    fn add(&mut self, bucket: u64, value: Amount) {
        match self.buckets.back_mut() {
            Some(b) if b.0 == bucket => {
                b.1 = b.1.saturating_add(value);
                b.2 += 1;
            }
            _ => self.buckets.push_back((bucket, value, 1)),
        }
    }

    fn remove(&mut self, bucket: u64, value: Amount) {
        if let Some(b) = self.buckets.iter_mut().find(|b| b.0 == bucket) {
            b.1 = b.1.saturating_sub(value);
            b.2 = b.2.saturating_sub(1);
        }
    }
}

#[derive(Debug)]
struct WalletWindows {
    /// When this signer first held the wallet.
    since: u64,
    /// The owners signed `resume` on this signer.
    resumed: bool,
    /// Per window length (seconds): its counter. Keyed by length so that a
    /// record change keeping a window keeps its count.
    counters: HashMap<u64, Counter>,
    /// For the least-recently-used bound.
    last_used: u64,
}

/// One window's length and bucket, for releasing a reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    key_id: String,
    value: Amount,
    slots: Vec<(u64, u64)>,
}

/// Every wallet's windows on this signer.
#[derive(Debug, Default)]
pub struct Windows {
    inner: Mutex<HashMap<String, WalletWindows>>,
}

fn bucket_len(seconds: u64) -> u64 {
    seconds.div_ceil(BUCKETS).max(1)
}

/// How far a window is used: for `/check` and refusals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    /// Value counted in the window.
    pub value_wei: Amount,
    /// Signatures counted in the window.
    pub count: u64,
    /// The window is cold.
    pub cold: bool,
}

impl Windows {
    /// An empty set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, HashMap<String, WalletWindows>>, SignerError> {
        self.inner.lock().map_err(|_| {
            SignerError::new(signet_proto::ErrorCode::Internal, "windows lock poisoned")
        })
    }

    /// Notes that this signer holds `key_id` from `now` on (the start of its
    /// cold windows), if it did not already.
    pub fn hold(&self, key_id: &str, now: u64) -> Result<(), SignerError> {
        let mut map = self.lock()?;
        if !map.contains_key(key_id) {
            if map.len() >= MAX_WALLETS {
                if let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, w)| w.last_used)
                    .map(|(k, _)| k.clone())
                {
                    map.remove(&oldest);
                }
            }
            map.insert(
                key_id.to_owned(),
                WalletWindows {
                    since: now,
                    resumed: false,
                    counters: HashMap::new(),
                    last_used: now,
                },
            );
        }
        Ok(())
    }

    /// Notes a key this signer just generated: nothing was ever signed with
    /// it elsewhere, so its windows are not cold.
    pub fn fresh(&self, key_id: &str, now: u64) -> Result<(), SignerError> {
        self.hold(key_id, now)?;
        if let Some(w) = self.lock()?.get_mut(key_id) {
            w.since = 0;
        }
        Ok(())
    }

    /// A record change: a window of a length the old record did not count is
    /// cold from `now` (nothing counted it so far), like the others after a
    /// restart; the owners who approved the change can `resume`.
    pub fn changed(
        &self,
        key_id: &str,
        old: &[Window],
        new: &[Window],
        now: u64,
    ) -> Result<(), SignerError> {
        if new
            .iter()
            .all(|n| old.iter().any(|o| o.seconds == n.seconds))
        {
            return Ok(());
        }
        self.hold(key_id, now)?;
        if let Some(w) = self.lock()?.get_mut(key_id) {
            w.since = now;
            w.resumed = false;
        }
        Ok(())
    }

    /// The owners' `resume`: `key_id`'s windows are no longer cold here.
    pub fn resume(&self, key_id: &str, now: u64) -> Result<(), SignerError> {
        self.hold(key_id, now)?;
        if let Some(w) = self.lock()?.get_mut(key_id) {
            w.resumed = true;
        }
        Ok(())
    }

    /// Reserves `value` and one signature in each of `windows` for `key_id`
    /// at `now`. With `force` (owners approved) nothing is refused but the
    /// request still counts. Refused: the first window that is cold or would
    /// go over a limit, by its rule name (`windows[0].max_value_wei`).
    pub fn reserve(
        &self,
        key_id: &str,
        windows: &[Window],
        value: Amount,
        now: u64,
        force: bool,
    ) -> Result<Option<Reservation>, Result<Denied, SignerError>> {
        if windows.is_empty() {
            return Ok(None);
        }
        self.hold(key_id, now).map_err(Err)?;
        let mut map = self.lock().map_err(Err)?;
        let Some(w) = map.get_mut(key_id) else {
            return Err(Err(SignerError::new(
                signet_proto::ErrorCode::Internal,
                "windows: wallet not held",
            )));
        };
        w.last_used = now;
        if !force {
            if let Some(denied) = check(w, windows, value, now) {
                return Err(Ok(denied));
            }
        }
        let mut slots = Vec::with_capacity(windows.len());
        for win in windows {
            let len = bucket_len(win.seconds);
            let bucket = now / len;
            let counter = w.counters.entry(win.seconds).or_default();
            counter.prune(first_bucket(win.seconds, now));
            counter.add(bucket, value);
            slots.push((win.seconds, bucket));
        }
        Ok(Some(Reservation {
            key_id: key_id.to_owned(),
            value,
            slots,
        }))
    }

    /// Whether `value` would fit now, without reserving it (`/check`).
    pub fn would_refuse(
        &self,
        key_id: &str,
        windows: &[Window],
        value: Amount,
        now: u64,
    ) -> Result<Option<Denied>, SignerError> {
        if windows.is_empty() {
            return Ok(None);
        }
        let mut map = self.lock()?;
        match map.get_mut(key_id) {
            Some(w) => Ok(check(w, windows, value, now)),
            // Not held yet: it would be from now, so every window is cold.
            None => Ok(Some(cold_denial(0, &windows[0]))),
        }
    }

    /// Gives back a reservation whose signature failed.
    pub fn release(&self, reservation: &Reservation) {
        if let Ok(mut map) = self.inner.lock() {
            if let Some(w) = map.get_mut(&reservation.key_id) {
                for (seconds, bucket) in &reservation.slots {
                    if let Some(c) = w.counters.get_mut(seconds) {
                        c.remove(*bucket, reservation.value);
                    }
                }
            }
        }
    }

    /// Each window's use for `key_id` at `now`.
    pub fn usage(
        &self,
        key_id: &str,
        windows: &[Window],
        now: u64,
    ) -> Result<Vec<Usage>, SignerError> {
        let mut map = self.lock()?;
        let w = map.get_mut(key_id);
        Ok(match w {
            None => windows
                .iter()
                .map(|_| Usage {
                    value_wei: Amount::ZERO,
                    count: 0,
                    cold: true,
                })
                .collect(),
            Some(w) => windows
                .iter()
                .map(|win| {
                    let cold = is_cold(w, win, now);
                    let counter = w.counters.entry(win.seconds).or_default();
                    counter.prune(first_bucket(win.seconds, now));
                    let (value_wei, count) = counter.totals();
                    Usage {
                        value_wei,
                        count,
                        cold,
                    }
                })
                .collect(),
        })
    }
}

fn first_bucket(seconds: u64, now: u64) -> u64 {
    now.saturating_sub(seconds) / bucket_len(seconds)
}

fn is_cold(w: &WalletWindows, win: &Window, now: u64) -> bool {
    !w.resumed && now < w.since.saturating_add(win.seconds)
}

fn cold_denial(i: usize, win: &Window) -> Denied {
    Denied::new(
        format!("windows[{i}].cold"),
        format!(
            "this signer has not yet seen this wallet for a whole {} s window (it started or loaded the wallet since), so the window counts as full; the owners can sign `resume`, or wait",
            win.seconds
        ),
    )
}

fn check(w: &mut WalletWindows, windows: &[Window], value: Amount, now: u64) -> Option<Denied> {
    for (i, win) in windows.iter().enumerate() {
        if is_cold(w, win, now) {
            return Some(cold_denial(i, win));
        }
        let counter = w.counters.entry(win.seconds).or_default();
        counter.prune(first_bucket(win.seconds, now));
        let (spent, count) = counter.totals();
        if let Some(max) = win.max_count {
            if count >= max {
                return Some(Denied::new(
                    format!("windows[{i}].max_count"),
                    format!(
                        "{count} signatures in the last {} s: the window's max_count is {max}",
                        win.seconds
                    ),
                ));
            }
        }
        if let Some(max) = win.max_value_wei {
            let after = spent.saturating_add(value);
            if after > max {
                return Some(Denied::new(
                    format!("windows[{i}].max_value_wei"),
                    format!(
                        "{spent} wei sent in the last {} s; {value} more would pass the window's max_value_wei {max}",
                        win.seconds
                    ),
                ));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(max_wei: u128, max_count: u64) -> Vec<Window> {
        vec![Window {
            seconds: 86_400,
            max_value_wei: Some(Amount::from_u128(max_wei)),
            max_count: Some(max_count),
        }]
    }

    fn rule(r: Result<Option<Reservation>, Result<Denied, SignerError>>) -> Option<String> {
        match r {
            Ok(_) => None,
            Err(Ok(d)) => Some(d.rule),
            Err(Err(e)) => panic!("{e}"),
        }
    }

    #[test]
    fn a_window_is_cold_until_the_signer_has_seen_it_whole() {
        let w = Windows::new();
        let win = day(10, 10);
        w.hold("w", 1_000).unwrap();
        assert_eq!(
            rule(w.reserve("w", &win, Amount::ZERO, 1_000 + 86_399, false)).as_deref(),
            Some("windows[0].cold")
        );
        assert_eq!(
            rule(w.reserve("w", &win, Amount::ZERO, 1_000 + 86_400, false)),
            None
        );
    }

    #[test]
    fn resume_lifts_a_cold_window() {
        let w = Windows::new();
        let win = day(10, 10);
        w.hold("w", 0).unwrap();
        assert!(rule(w.reserve("w", &win, Amount::ZERO, 5, false)).is_some());
        w.resume("w", 5).unwrap();
        assert_eq!(rule(w.reserve("w", &win, Amount::ZERO, 6, false)), None);
    }

    #[test]
    fn the_value_limit_is_reached_exactly_and_not_passed_by_one_wei() {
        let w = Windows::new();
        let win = day(100, 1000);
        w.resume("w", 0).unwrap();
        assert_eq!(
            rule(w.reserve("w", &win, Amount::from_u128(60), 10, false)),
            None
        );
        assert_eq!(
            rule(w.reserve("w", &win, Amount::from_u128(41), 11, false)).as_deref(),
            Some("windows[0].max_value_wei")
        );
        assert_eq!(
            rule(w.reserve("w", &win, Amount::from_u128(40), 12, false)),
            None
        );
        assert_eq!(
            rule(w.reserve("w", &win, Amount::from_u128(1), 13, false)).as_deref(),
            Some("windows[0].max_value_wei")
        );
        // A day later (and one bucket) the budget is back.
        let later = 13 + 86_400 + 86_400 / BUCKETS + 1;
        assert_eq!(
            rule(w.reserve("w", &win, Amount::from_u128(100), later, false)),
            None
        );
    }

    #[test]
    fn the_count_limit_and_a_released_reservation() {
        let w = Windows::new();
        let win = day(100, 2);
        w.resume("w", 0).unwrap();
        let first = w
            .reserve("w", &win, Amount::ZERO, 1, false)
            .unwrap()
            .unwrap();
        assert_eq!(rule(w.reserve("w", &win, Amount::ZERO, 1, false)), None);
        assert_eq!(
            rule(w.reserve("w", &win, Amount::ZERO, 2, false)).as_deref(),
            Some("windows[0].max_count")
        );
        w.release(&first);
        assert_eq!(rule(w.reserve("w", &win, Amount::ZERO, 2, false)), None);
    }

    #[test]
    fn owner_approved_requests_pass_but_count() {
        let w = Windows::new();
        let win = day(100, 1);
        w.hold("w", 0).unwrap();
        // Cold, yet owners' approval goes through…
        assert_eq!(
            rule(w.reserve("w", &win, Amount::from_u128(500), 1, true)),
            None
        );
        w.resume("w", 1).unwrap();
        // …and counted.
        let usage = w.usage("w", &win, 2).unwrap();
        assert_eq!(
            (usage[0].value_wei, usage[0].count),
            (Amount::from_u128(500), 1)
        );
        assert!(rule(w.reserve("w", &win, Amount::ZERO, 2, false)).is_some());
    }

    #[test]
    fn concurrent_reservations_never_pass_the_limit() {
        let w = std::sync::Arc::new(Windows::new());
        let win = day(1_000, 1_000_000);
        w.resume("w", 0).unwrap();
        let threads: Vec<_> = (0..64)
            .map(|_| {
                let w = w.clone();
                let win = win.clone();
                std::thread::spawn(move || {
                    (0..100)
                        .filter(|_| {
                            w.reserve("w", &win, Amount::from_u128(7), 10, false)
                                .is_ok()
                        })
                        .count()
                })
            })
            .collect();
        let granted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(granted, 1_000 / 7);
        let usage = w.usage("w", &win, 10).unwrap();
        assert_eq!(usage[0].value_wei, Amount::from_u128(7 * (1_000 / 7)));
    }
}

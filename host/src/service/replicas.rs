//! The replicas sharing the database, for operators (`/v1/admin/status`,
//! `replicas`): every `serve` or `dev` process records a heartbeat (its id,
//! version and start time) at start and every [`HEARTBEAT_EVERY`]; one is
//! live while its latest heartbeat is at most [`LIVE_HEARTBEATS`] periods
//! old, so one late or failed write does not mark it gone. Rows not seen
//! for [`FORGET_AFTER`] are pruned with the other expired rows.
//!
//! Times are each replica's own clock: the liveness window assumes the
//! replicas' clocks agree to within a few seconds (NTP).

use std::time::Duration;

use signet_proto::time::now_ms;

use super::{Result, Service};
use crate::domain::Replica;

/// How often each replica records its heartbeat.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);

/// How many heartbeat periods a replica may miss and still be live.
pub const LIVE_HEARTBEATS: u32 = 3;

/// How long a replica not seen is still listed (as not live).
pub const FORGET_AFTER: Duration = Duration::from_secs(24 * 3600);

/// A replica as the operators' status shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaStatus {
    /// Its id, version and times.
    pub replica: Replica,
    /// Its latest heartbeat is recent (see [`is_live`]).
    pub live: bool,
    /// It is the replica answering this status.
    pub this: bool,
}

/// `d` in whole milliseconds.
fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Whether a replica last seen at `last_seen_at_ms` is live at `now` (ms):
/// seen within [`LIVE_HEARTBEATS`] × [`HEARTBEAT_EVERY`]. A heartbeat
/// stamped after `now` (a replica whose clock is ahead) is live.
#[must_use]
pub fn is_live(last_seen_at_ms: u64, now: u64) -> bool {
    now.saturating_sub(last_seen_at_ms) <= ms(HEARTBEAT_EVERY * LIVE_HEARTBEATS)
}

impl Service {
    /// This process as a replica, seen now.
    fn this_replica(&self) -> Replica {
        let now = now_ms();
        Replica {
            id: self.replica_id.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            // The wall-clock time of the start instant (kept as an
            // `Instant` for the uptime); the row keeps the first value.
            started_at_ms: now.saturating_sub(ms(self.started.elapsed())),
            last_seen_at_ms: now,
        }
    }

    /// Records this replica's heartbeat (periodic; a failure is logged and
    /// the next period tries again).
    pub async fn heartbeat(&self) {
        if let Err(e) = self.store.record_heartbeat(&self.this_replica()).await {
            tracing::warn!(error = %e, "cannot record this replica's heartbeat");
        }
    }

    /// Forgets the replicas not seen for [`FORGET_AFTER`] (with the pruning
    /// pass; logged, retried next time).
    pub(crate) async fn prune_replicas(&self, now: u64) {
        match self
            .store
            .prune_replicas(now.saturating_sub(ms(FORGET_AFTER)))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "forgot replicas not seen for a day"),
            Err(e) => tracing::warn!(error = %e, "pruning replicas failed; will retry"),
        }
    }

    /// Every recorded replica, whether it is live, and which one answers.
    pub(crate) async fn replicas(&self) -> Result<Vec<ReplicaStatus>> {
        let now = now_ms();
        Ok(self
            .store
            .replicas()
            .await?
            .into_iter()
            .map(|replica| ReplicaStatus {
                live: is_live(replica.last_seen_at_ms, now),
                this: replica.id == self.replica_id,
                replica,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    #[test]
    fn a_replica_is_live_for_three_heartbeat_periods() {
        assert_eq!(ms(HEARTBEAT_EVERY * LIVE_HEARTBEATS), 15_000);
        assert!(is_live(NOW, NOW));
        assert!(is_live(NOW - 15_000, NOW));
    }

    #[test]
    fn a_replica_whose_heartbeat_stopped_is_not_live() {
        assert!(!is_live(NOW - 15_001, NOW));
        assert!(!is_live(0, NOW));
    }

    #[test]
    fn a_replica_whose_clock_is_ahead_is_live() {
        assert!(is_live(NOW + 60_000, NOW));
    }
}

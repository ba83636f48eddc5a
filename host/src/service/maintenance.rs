//! Background work of every replica: sharing rate-limit counters, pruning
//! what has expired (every replica may prune; deleting twice is harmless),
//! summarizing authentication floods into one audit event per peer,
//! recording this replica's heartbeat ([`super::replicas`]) and, with KMS
//! sealing, retiring held sealing key versions once no recorded backup
//! needs them ([`super::sealing::retention`]).

use std::sync::Arc;
use std::time::Duration;

use signet_proto::time::now_ms;

use super::audit::{Action, Event, Outcome};
use super::Service;

/// How often expired rows are pruned.
pub const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// How long past its expiry a consumed ticket or an intent is kept (beyond
/// the signer's clock-skew allowance, so a ticket is refused as expired
/// before its consumption record is gone).
pub const PRUNE_GRACE_SECONDS: u64 = 300;

/// How often the latest backup's time is read for the metrics.
pub const BACKUP_CHECK_EVERY: Duration = Duration::from_secs(5);

/// How often flood summaries are written.
pub const FLOOD_SUMMARY_EVERY: Duration = Duration::from_secs(10);

/// Peers named in one flood summary; the others are summed into one event.
pub const FLOOD_PEERS_NAMED: usize = 20;

/// The running background tasks; dropping this stops them.
pub struct Background {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Background {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Service {
    /// Runs `job` every `period` on a task of its own (a late tick waits
    /// rather than bursting).
    fn every<F, Fut>(self: &Arc<Self>, period: Duration, job: F) -> tokio::task::JoinHandle<()>
    where
        F: Fn(Arc<Self>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let service = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                job(Arc::clone(&service)).await;
            }
        })
    }

    /// Publishes the latest recorded backup's time in
    /// `signet_last_backup_timestamp_seconds` (0 when none).
    async fn export_last_backup(&self) {
        match self.store.last_backup_at().await {
            Ok(at) => {
                let seconds = at.map_or(0, |ms| ms / 1000);
                self.metrics
                    .last_backup
                    .set(i64::try_from(seconds).unwrap_or(i64::MAX));
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the latest backup's time"),
        }
    }

    /// Starts the background tasks.
    #[must_use]
    pub fn start_background(self: &Arc<Self>) -> Background {
        let flush_every = self.limits.flush_interval();
        let mut tasks = vec![
            self.every(
                flush_every,
                |s| async move { s.limits.flush(&s.store).await },
            ),
            self.every(PRUNE_EVERY, |s| async move { s.prune_once().await }),
            self.every(FLOOD_SUMMARY_EVERY, |s| async move {
                s.summarize_floods().await;
            }),
            self.every(super::freeze::REFRESH_EVERY, |s| async move {
                s.refresh_freezes().await;
            }),
            self.every(BACKUP_CHECK_EVERY, |s| async move {
                s.export_last_backup().await;
            }),
            self.every(super::owners::DUE_PROPOSALS_EVERY, |s| async move {
                match s.apply_due_proposals().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(applied = n, "due record changes applied"),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot apply due record changes; retrying")
                    }
                }
            }),
            // The first tick is at once: the replica is listed from its start.
            self.every(super::replicas::HEARTBEAT_EVERY, |s| async move {
                s.heartbeat().await;
            }),
        ];
        if self.bot.is_some() {
            let service = Arc::clone(self);
            tasks.push(tokio::spawn(async move {
                match service.config.login.webhook.clone() {
                    // Webhook mode: register it (until Telegram accepts).
                    Some((url, secret)) => {
                        let mut backoff = std::time::Duration::from_secs(1);
                        loop {
                            match service.register_webhook(&url, &secret).await {
                                Ok(()) => {
                                    tracing::info!(%url, "Telegram webhook registered");
                                    break;
                                }
                                Err(e) => {
                                    tracing::error!(error = %e, retry_in = ?backoff, "cannot register the Telegram webhook");
                                    tokio::time::sleep(backoff).await;
                                    backoff = (backoff * 2).min(std::time::Duration::from_secs(60));
                                }
                            }
                        }
                    }
                    None => service.run_telegram_poller().await,
                }
            }));
        }
        if self.sealing_manager.is_some() {
            // Held sealing key versions whose backups left the window.
            tasks.push(self.every(
                super::sealing::retention::HELD_CHECK_EVERY,
                |s| async move { s.retire_due_sealing_versions().await },
            ));
            let service = Arc::clone(self);
            tasks.push(tokio::spawn(async move {
                // At start (so the signer unseals before the first request)
                // and then every 30 s (a rotation run by another replica).
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    service.sync_sealing().await;
                }
            }));
        }
        if let Some(sink) = self.audit_sink.clone() {
            tasks.push(tokio::spawn(Arc::clone(self).run_audit_export(sink)));
        }
        // Records for wallets from before records, once the signer's
        // deployment is known; then this task ends.
        let service = Arc::clone(self);
        tasks.push(tokio::spawn(async move {
            loop {
                match service.backfill_records().await {
                    Ok(true) => break,
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot write the records of wallets from before records; retrying"),
                }
                tokio::time::sleep(super::owners::BACKFILL_EVERY).await;
            }
        }));
        Background { tasks }
    }

    /// Gives up this replica's leases (after serving, on a clean shutdown).
    pub async fn release_leases(&self) {
        for lease in [super::export::EXPORT_NAME, super::telegram::POLLER] {
            if let Err(e) = self.store.release_lease(lease, &self.replica_id).await {
                tracing::warn!(error = %e, lease, "could not release a lease");
            }
        }
    }

    /// One pruning pass (logged; failures are retried next time).
    pub async fn prune_once(&self) {
        let now = now_ms();
        let keep_windows_ms = self.limits.window_ms().max(60_000) * 2;
        match self
            .store
            .prune(
                now / 1000,
                PRUNE_GRACE_SECONDS,
                now.saturating_sub(keep_windows_ms),
            )
            .await
        {
            Ok(p) if p == crate::store::Pruned::default() => {}
            Ok(p) => tracing::info!(
                intents = p.intents,
                proposals = p.proposals,
                tickets = p.tickets,
                rate_windows = p.rate_windows,
                "pruned expired rows"
            ),
            Err(e) => tracing::warn!(error = %e, "pruning failed; will retry"),
        }
        // Challenges and session revocations past their expiry (plus the
        // same grace): a revoked session that has expired is refused anyway.
        let cutoff = now.saturating_sub(PRUNE_GRACE_SECONDS.saturating_mul(1000));
        match self.store.prune_sessions(cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                rows = n,
                "pruned expired challenges and session revocations"
            ),
            Err(e) => tracing::warn!(error = %e, "pruning sessions failed; will retry"),
        }
        self.prune_replicas(now).await;
    }

    /// Records one `AUTH_DENY_FLOOD` event per peer whose refusals were
    /// counted, not recorded, since the last summary: the
    /// [`FLOOD_PEERS_NAMED`] peers with most, and one event for all others.
    pub async fn summarize_floods(&self) {
        let mut floods = self.peers.take_unlogged();
        floods.sort_unstable_by_key(|f| std::cmp::Reverse(f.1));
        let others = floods.split_off(floods.len().min(FLOOD_PEERS_NAMED));
        let rest: u64 = others.iter().map(|(_, n)| n).sum();
        let mut events: Vec<(String, u64)> = floods
            .into_iter()
            .map(|(peer, n)| (format!("peer:{peer}"), n))
            .collect();
        if !others.is_empty() {
            events.push((format!("peers:{} others", others.len()), rest));
        }
        for (target, count) in events {
            self.audit
                .record(Event::new(
                    "anonymous",
                    Action::AuthDenyFlood,
                    &target,
                    Outcome::Denied(format!("unauthenticated:{count}").into()),
                ))
                .await;
        }
    }
}

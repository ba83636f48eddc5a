//! Backup-aware retirement of sealing key versions. Retiring a version
//! strands every backup holding blobs sealed under it (KMS policy and the
//! signers refuse it from then on), so a superseded version is retired only
//! when no backup recorded by `signet-host admin backup` within
//! `SIGNET_BACKUP_RETENTION_DAYS` may hold such blobs; otherwise it is held
//! (blob kept, signers still unseal it) until the newest such backup is that
//! old. The decision, [`retirement`], is a pure function of the version, the
//! recorded backups, the retention and the clock; the rotation's retire step
//! and the periodic pass ([`Service::retire_due_sealing_versions`]) both go
//! through [`Service::settle_superseded`] and retire through one path,
//! [`Service::retire_sealing_version`].

use std::time::Duration;

use signet_proto::time::rfc3339_ms;
use signet_proto::Request;

use super::now_ms;
use crate::domain::{RecordedBackup, SealingVersion, VersionState};
use crate::service::audit::{Action, Event, Outcome};
use crate::service::{Result, Service};
use crate::signer::CallError;

/// How often every replica looks for held versions that are due.
pub const HELD_CHECK_EVERY: Duration = Duration::from_secs(60);

/// What to do with a superseded sealing key version now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Retirement {
    /// No recorded backup within the window may need it: retire it.
    Retire,
    /// Keep it until `until_ms` (Unix ms) for `backup`, the newest recorded
    /// backup within the window that may hold blobs sealed under it.
    Hold {
        /// `backup`'s time plus the retention.
        until_ms: u64,
        /// The backup that holds it.
        backup: RecordedBackup,
    },
}

/// A version held for a backup (the rotation report, the status).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldVersion {
    /// The version.
    pub version: u32,
    /// When it may be retired (Unix ms).
    pub retire_after_ms: u64,
    /// The backup that holds it.
    pub backup: RecordedBackup,
}

/// What one retire step did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settled {
    /// Versions retired.
    pub retired: Vec<u32>,
    /// Versions held (or still held).
    pub held: Vec<HeldVersion>,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The oldest backup time within `retention` of `now_ms`: older backups
/// never hold a version.
#[must_use]
pub fn window_start(retention: Duration, now_ms: u64) -> u64 {
    now_ms.saturating_sub(millis(retention))
}

/// Whether `backup` may hold blobs sealed under `version`: taken once the
/// version existed and before the rotation away from it finished re-sealing
/// (a version not superseded yet is needed by every backup since its
/// creation).
#[must_use]
pub fn may_need(version: &SealingVersion, backup: &RecordedBackup) -> bool {
    backup.taken_at_ms >= version.created_at_ms
        && version
            .superseded_at_ms
            .is_none_or(|superseded| backup.taken_at_ms < superseded)
}

/// What to do with the superseded `version` at `now_ms`, given the recorded
/// `backups` and the `retention`: hold it until the newest backup that may
/// need it is `retention` old, or retire it when there is none within the
/// window. A zero retention always retires (the behaviour before backups
/// were considered).
#[must_use]
pub fn retirement(
    version: &SealingVersion,
    backups: &[RecordedBackup],
    retention: Duration,
    now_ms: u64,
) -> Retirement {
    if retention.is_zero() {
        return Retirement::Retire;
    }
    let window = millis(retention);
    backups
        .iter()
        .filter(|b| may_need(version, b))
        .map(|b| (b.taken_at_ms.saturating_add(window), b))
        .filter(|(until, _)| *until > now_ms)
        .max_by(|(a, x), (b, y)| a.cmp(b).then_with(|| x.sha256.cmp(&y.sha256)))
        .map_or(Retirement::Retire, |(until_ms, backup)| Retirement::Hold {
            until_ms,
            backup: backup.clone(),
        })
}

impl Service {
    /// The decision for each unsealed version of `versions` at `now_ms`,
    /// with the recorded backups of the window. A dry run decides them as
    /// if they were superseded now.
    async fn decide_superseded<'v>(
        &self,
        versions: &'v [SealingVersion],
        now_ms: u64,
        dry_run: bool,
    ) -> Result<Vec<(&'v SealingVersion, Retirement)>> {
        let retention = self.config.backup_retention;
        let backups = self
            .store
            .recorded_backups(window_start(retention, now_ms))
            .await?;
        Ok(versions
            .iter()
            .filter(|v| v.state.unsealed())
            .map(|v| {
                let decided = if dry_run {
                    retirement(
                        &SealingVersion {
                            superseded_at_ms: Some(v.superseded_at_ms.unwrap_or(now_ms)),
                            ..v.clone()
                        },
                        &backups,
                        retention,
                        now_ms,
                    )
                } else {
                    retirement(v, &backups, retention, now_ms)
                };
                (v, decided)
            })
            .collect())
    }

    /// Decides each superseded version of `versions` (active or held, every
    /// one older than the current) at `now_ms`, and retires or holds it.
    pub(super) async fn settle_superseded(
        &self,
        versions: &[SealingVersion],
        now_ms: u64,
    ) -> Result<Settled> {
        let mut settled = Settled::default();
        for (row, decided) in self.decide_superseded(versions, now_ms, false).await? {
            match decided {
                Retirement::Retire => {
                    self.retire_sealing_version(row.version).await?;
                    settled.retired.push(row.version);
                }
                Retirement::Hold { until_ms, backup } => {
                    self.hold_sealing_version(row, until_ms, &backup).await?;
                    settled.held.push(HeldVersion {
                        version: row.version,
                        retire_after_ms: until_ms,
                        backup,
                    });
                }
            }
        }
        Ok(settled)
    }

    /// What [`Service::settle_superseded`] would do with `versions` were
    /// they superseded at `now_ms` (a dry run: nothing is changed).
    pub(super) async fn would_settle(
        &self,
        versions: &[SealingVersion],
        now_ms: u64,
    ) -> Result<Settled> {
        let mut settled = Settled::default();
        for (row, decided) in self.decide_superseded(versions, now_ms, true).await? {
            match decided {
                Retirement::Retire => settled.retired.push(row.version),
                Retirement::Hold { until_ms, backup } => settled.held.push(HeldVersion {
                    version: row.version,
                    retire_after_ms: until_ms,
                    backup,
                }),
            }
        }
        Ok(settled)
    }

    /// Retires `version`: its blob deleted from the database, forgotten by
    /// this replica's signer now (the others' at their next sync), one
    /// `sealing_key.retire` event. The one path of every retirement (a
    /// rotation's retire step, the periodic pass). False if another replica
    /// retired it first.
    pub(super) async fn retire_sealing_version(&self, version: u32) -> Result<bool> {
        let retired = self.store.retire_sealing_key(version).await?;
        match self
            .signer
            .call(Request::RetireSealingKey { version })
            .await
        {
            Ok(_) | Err(CallError::Refused(..)) => {}
            Err(e) => {
                tracing::warn!(version, error = ?e, "the signer will retire it at its next sync");
            }
        }
        if retired {
            self.audit
                .record(Event::new(
                    format!("replica:{}", self.replica_id),
                    Action::SealingKeyRetire,
                    &version.to_string(),
                    Outcome::Ok,
                ))
                .await;
            tracing::info!(version, "sealing key version retired");
        }
        Ok(retired)
    }

    /// Holds `version` until `until_ms` for `backup`; a `sealing_key.hold`
    /// event when the hold is new or changed (a later backup, another
    /// retention), none when it stands as it was.
    async fn hold_sealing_version(
        &self,
        version: &SealingVersion,
        until_ms: u64,
        backup: &RecordedBackup,
    ) -> Result<()> {
        let unchanged = version.state == VersionState::Held
            && version.retire_after_ms == Some(until_ms)
            && version.held_by.as_ref() == Some(backup);
        if unchanged {
            return Ok(());
        }
        if !self
            .store
            .hold_sealing_key(version.version, until_ms, backup)
            .await?
        {
            // Retired meanwhile by another replica: nothing to hold.
            return Ok(());
        }
        self.audit
            .record(
                Event::new(
                    format!("replica:{}", self.replica_id),
                    Action::SealingKeyHold,
                    &version.version.to_string(),
                    Outcome::Ok,
                )
                .detail(Some(serde_json::json!({
                    "retire_after": rfc3339_ms(until_ms),
                    "backup_sha256": backup.sha256,
                    "backup_taken_at": rfc3339_ms(backup.taken_at_ms),
                }))),
            )
            .await;
        tracing::info!(
            version = version.version,
            retire_after = %rfc3339_ms(until_ms),
            backup = %backup.sha256,
            "sealing key version held for a recorded backup"
        );
        Ok(())
    }

    /// Periodic (every replica, [`HELD_CHECK_EVERY`]): decides every held
    /// version again with the clock, the recorded backups and this
    /// replica's retention, and retires those no backup in the window
    /// needs any more (a hold is extended, never shortened below the
    /// newest backup's, when a backup that needs it is recorded late).
    /// Retiring twice from two replicas is harmless (one event).
    pub async fn retire_due_sealing_versions(&self) {
        if self.sealing_manager.is_none() {
            return;
        }
        let result = async {
            let held: Vec<SealingVersion> = self
                .store
                .sealing_keys()
                .await?
                .into_iter()
                .filter(|v| v.state == VersionState::Held)
                .collect();
            if held.is_empty() {
                return Ok(Settled::default());
            }
            self.settle_superseded(&held, now_ms()).await
        }
        .await;
        match result {
            Ok(settled) if !settled.retired.is_empty() => {
                tracing::info!(retired = ?settled.retired, "held sealing key versions retired: no recorded backup in the window needs them");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot check the held sealing key versions"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400_000;
    const RETENTION: Duration = Duration::from_secs(14 * 86_400);

    /// Version 1, created on day 10, superseded on day 20.
    fn version() -> SealingVersion {
        SealingVersion {
            version: 1,
            kms_key_id: "arn:aws:kms:us-east-1:111122223333:key/k".into(),
            ciphertext_blob: Some(vec![1]),
            key_check: None,
            state: VersionState::Active,
            created_at_ms: 10 * DAY,
            retired_at_ms: None,
            superseded_at_ms: Some(20 * DAY),
            retire_after_ms: None,
            held_by: None,
        }
    }

    fn backup(name: &str, taken_at_ms: u64) -> RecordedBackup {
        RecordedBackup {
            sha256: name.into(),
            taken_at_ms,
        }
    }

    #[test]
    fn no_backup_retires() {
        assert_eq!(
            retirement(&version(), &[], RETENTION, 20 * DAY),
            Retirement::Retire
        );
    }

    #[test]
    fn a_backup_outside_the_window_retires() {
        let old = backup("a", 12 * DAY);
        // 12 + 14 = 26: from day 26 on it is outside the window.
        assert_eq!(
            retirement(&version(), &[old], RETENTION, 26 * DAY),
            Retirement::Retire
        );
    }

    #[test]
    fn a_backup_inside_the_window_holds_until_its_time_plus_the_window() {
        let b = backup("a", 15 * DAY);
        assert_eq!(
            retirement(&version(), std::slice::from_ref(&b), RETENTION, 20 * DAY),
            Retirement::Hold {
                until_ms: 29 * DAY,
                backup: b.clone(),
            }
        );
        // Still held a millisecond before, retired at the time itself.
        assert!(matches!(
            retirement(
                &version(),
                std::slice::from_ref(&b),
                RETENTION,
                29 * DAY - 1
            ),
            Retirement::Hold { .. }
        ));
        assert_eq!(
            retirement(&version(), &[b], RETENTION, 29 * DAY),
            Retirement::Retire
        );
    }

    #[test]
    fn the_newest_backup_that_needs_it_sets_the_hold() {
        let (older, newer) = (backup("older", 12 * DAY), backup("newer", 18 * DAY));
        assert_eq!(
            retirement(&version(), &[newer.clone(), older], RETENTION, 20 * DAY),
            Retirement::Hold {
                until_ms: 32 * DAY,
                backup: newer,
            }
        );
    }

    #[test]
    fn a_backup_taken_before_the_version_existed_is_irrelevant() {
        let before = backup("before", 10 * DAY - 1);
        assert_eq!(
            retirement(&version(), &[before], RETENTION, 20 * DAY),
            Retirement::Retire
        );
        // Taken at the very millisecond of its creation: it may hold it.
        let at = backup("at", 10 * DAY);
        assert!(matches!(
            retirement(&version(), &[at], RETENTION, 20 * DAY),
            Retirement::Hold { .. }
        ));
    }

    #[test]
    fn a_backup_taken_after_it_was_superseded_is_irrelevant() {
        for after in [20 * DAY, 20 * DAY + 1, 21 * DAY] {
            let b = backup("after", after);
            assert_eq!(
                retirement(&version(), &[b], RETENTION, 21 * DAY),
                Retirement::Retire,
                "{after}"
            );
        }
        let just_before = backup("just-before", 20 * DAY - 1);
        assert!(matches!(
            retirement(&version(), &[just_before], RETENTION, 21 * DAY),
            Retirement::Hold { .. }
        ));
    }

    #[test]
    fn a_version_not_yet_superseded_is_needed_by_every_later_backup() {
        let current = SealingVersion {
            superseded_at_ms: None,
            ..version()
        };
        let b = backup("later", 25 * DAY);
        assert!(matches!(
            retirement(&current, &[b], RETENTION, 26 * DAY),
            Retirement::Hold { until_ms, .. } if until_ms == 39 * DAY
        ));
    }

    #[test]
    fn a_zero_retention_retires_at_once() {
        let b = backup("now", 20 * DAY);
        assert_eq!(
            retirement(&version(), &[b], Duration::ZERO, 20 * DAY),
            Retirement::Retire
        );
        // Even a backup stamped ahead of this clock (another machine's).
        let ahead = backup("ahead", 20 * DAY - 1);
        assert_eq!(
            retirement(&version(), &[ahead], Duration::ZERO, 19 * DAY),
            Retirement::Retire
        );
    }

    /// The periodic pass decides a held version again at each tick: held
    /// until the backup's time plus the window, retired at the first tick
    /// from then on.
    #[test]
    fn the_periodic_pass_retires_a_held_version_once_due() {
        let b = backup("a", 15 * DAY);
        let held = SealingVersion {
            state: VersionState::Held,
            retire_after_ms: Some(29 * DAY),
            held_by: Some(b.clone()),
            ..version()
        };
        let tick = millis(HELD_CHECK_EVERY);
        let mut now = 20 * DAY;
        while let Retirement::Hold { until_ms, .. } =
            retirement(&held, std::slice::from_ref(&b), RETENTION, now)
        {
            assert_eq!(until_ms, 29 * DAY);
            now += tick;
        }
        assert!(now >= 29 * DAY && now < 29 * DAY + tick, "{now}");
    }

    #[test]
    fn a_lower_retention_retires_a_held_version_sooner() {
        let b = backup("a", 15 * DAY);
        let held = SealingVersion {
            state: VersionState::Held,
            retire_after_ms: Some(29 * DAY),
            held_by: Some(b.clone()),
            ..version()
        };
        assert_eq!(
            retirement(&held, &[b], Duration::from_secs(3 * 86_400), 20 * DAY),
            Retirement::Retire
        );
    }

    #[test]
    fn the_window_starts_retention_before_now() {
        assert_eq!(window_start(RETENTION, 20 * DAY), 6 * DAY);
        assert_eq!(window_start(RETENTION, DAY), 0, "never before the epoch");
    }
}

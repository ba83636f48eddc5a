//! The sealing key rotation: a new version from KMS, every live blob
//! re-sealed inside the signer, verified, verified again after a grace
//! period, the old versions retired. One runner across replicas (a database
//! lease); a stopped rotation resumes from its phase and cursor. The phases
//! and their order are [`RotationPhase`]'s.

use std::sync::Arc;
use std::time::Duration;

use signet_proto::message::StoredDataKey;
use signet_proto::{ErrorCode, SealedKey};

use super::retention::Settled;
use super::{
    active, now_ms, RotationReport, SealingManager, SealingStatus, Via, LEASE_MS, PAGE,
    ROTATION_LEASE,
};
use crate::domain::{Pass, Rotation, RotationPhase, SealingVersion};
use crate::service::audit::{Action, Event, Outcome};
use crate::service::authz::{Principal, Scope};
use crate::service::{Error, Result, Service};
use crate::signer::CallError;

/// What a rotation request did.
#[derive(Clone, Debug)]
pub enum Requested {
    /// A dry run: what a rotation would do.
    DryRun(RotationReport),
    /// A rotation started in the background; the status as it began.
    Started(SealingStatus),
}

impl Service {
    /// `POST /v1/admin/sealing/rotate` (operators): a dry run answered at
    /// once, or a rotation started in the background.
    pub async fn request_sealing_rotation(
        self: &Arc<Self>,
        principal: &Principal,
        dry_run: bool,
    ) -> Result<Requested> {
        self.require(principal, Scope::Operator, "sealing").await?;
        if dry_run {
            return Ok(Requested::DryRun(
                self.rotate_sealing(&principal.actor(), true).await?,
            ));
        }
        Ok(Requested::Started(
            self.start_sealing_rotation(&principal.actor()).await?,
        ))
    }

    /// Starts [`Service::rotate_sealing`] in the background (it outlives the
    /// request; `/v1/admin/status` shows its progress), after the checks
    /// that can refuse at once.
    pub async fn start_sealing_rotation(self: &Arc<Self>, actor: &str) -> Result<SealingStatus> {
        let manager = self.sealing()?;
        // Held from here into the background run: a second request that
        // arrives before the run starts is refused, not started twice.
        let running = Arc::clone(&manager.rotating)
            .try_lock_owned()
            .map_err(|_| already_running())?;
        if !self
            .store
            .try_lease(ROTATION_LEASE, &self.replica_id, now_ms(), LEASE_MS)
            .await?
        {
            return Err(Error::Forbidden(
                "a sealing key rotation is running on another replica".into(),
            ));
        }
        // A resumed rotation's last error is cleared now, so its status
        // shows it running again.
        if let Some(mut row) = self
            .store
            .rotation()
            .await?
            .filter(|r| r.phase != RotationPhase::Done)
        {
            row.error = None;
            row.updated_at_ms = now_ms();
            self.store.save_rotation(&row).await?;
        }
        let service = Arc::clone(self);
        let actor = actor.to_owned();
        tokio::spawn(async move {
            match service
                .rotate_sealing_holding(&actor, false, Some(running))
                .await
            {
                Ok(report) => tracing::info!(
                    to = report.to_version,
                    resealed = report.resealed,
                    "sealing key rotation finished"
                ),
                Err(e) => {
                    tracing::error!(error = %e, "sealing key rotation stopped; run it again to resume")
                }
            }
        });
        self.sealing_status()
            .await?
            .ok_or_else(|| Error::internal("no sealing status"))
    }

    /// Rotates the sealing key: a new version from KMS, every live blob
    /// re-sealed inside the signer, a verify pass, the old versions retired.
    /// One runner across replicas (a database lease); resumes an unfinished
    /// rotation. `dry_run` only counts.
    pub async fn rotate_sealing(&self, actor: &str, dry_run: bool) -> Result<RotationReport> {
        self.rotate_sealing_holding(actor, dry_run, None).await
    }

    /// [`Service::rotate_sealing`], with this replica's rotation guard
    /// already `held` when the request that started it took it.
    async fn rotate_sealing_holding(
        &self,
        actor: &str,
        dry_run: bool,
        held: Option<tokio::sync::OwnedMutexGuard<()>>,
    ) -> Result<RotationReport> {
        let manager = Arc::clone(self.sealing()?);
        self.signer
            .ready()
            .await
            .map_err(|e| Error::SignerUnavailable(e.to_string()))?;
        let rows = self.store.sealing_keys().await?;
        let stored = active(&rows);
        let from = stored.iter().map(|k| k.version).max().ok_or_else(|| {
            Error::SignerUnavailable(
                "no sealing key exists yet; the signer must unseal first".into(),
            )
        })?;
        if dry_run {
            let (wallets, to_reseal) = self.count_older(from + 1).await?;
            let settled = self.would_settle(&rows, now_ms()).await?;
            return Ok(RotationReport {
                dry_run,
                from_version: from,
                to_version: from + 1,
                wallets,
                to_reseal,
                resealed: 0,
                verified: 0,
                retired: settled.retired,
                held: settled.held,
            });
        }
        let _running = match held {
            Some(guard) => guard,
            None => Arc::clone(&manager.rotating)
                .try_lock_owned()
                .map_err(|_| already_running())?,
        };
        let leased = self
            .store
            .try_lease(ROTATION_LEASE, &self.replica_id, now_ms(), LEASE_MS)
            .await?;
        if !leased {
            return Err(Error::Forbidden(
                "a sealing key rotation is running on another replica".into(),
            ));
        }
        let result = self.run_rotation(&manager, actor, stored).await;
        let _ = self
            .store
            .release_lease(ROTATION_LEASE, &self.replica_id)
            .await;
        result
    }

    async fn count_older(&self, to: u32) -> Result<(u64, u64)> {
        let (mut wallets, mut older, mut cursor) = (0u64, 0u64, String::new());
        loop {
            let page = self.store.sealed_wallets(&cursor, PAGE).await?;
            let Some(last) = page.last() else { break };
            cursor = last.id.clone();
            for row in &page {
                wallets += 1;
                let sealed = SealedKey::from_bytes(&row.sealed).map_err(|e| {
                    Error::internal(format!("stored sealed key of {}: {e}", row.id))
                })?;
                if sealed.sealing_key_version < to {
                    older += 1;
                }
            }
        }
        Ok((wallets, older))
    }

    async fn run_rotation(
        &self,
        manager: &SealingManager,
        actor: &str,
        stored: Vec<StoredDataKey>,
    ) -> Result<RotationReport> {
        let unfinished = self
            .store
            .rotation()
            .await?
            .filter(|r| r.phase != RotationPhase::Done);
        let mut row = match unfinished {
            Some(row) => {
                tracing::info!(from = row.from_version, to = row.to_version, phase = %row.phase, "resuming the sealing key rotation");
                row
            }
            None => self.start_rotation(manager, actor, stored).await?,
        };
        row.error = None;
        self.store.save_rotation(&row).await?;
        let outcome = self.continue_rotation(&mut row).await;
        if let Err(e) = &outcome {
            row.error = Some(e.to_string());
            row.updated_at_ms = now_ms();
            let _ = self.store.save_rotation(&row).await;
            self.audit
                .record(Event::new(
                    actor,
                    Action::SealingRotate,
                    &row.to_version.to_string(),
                    Outcome::Error(e.to_string().into()),
                ))
                .await;
        }
        outcome
    }

    async fn start_rotation(
        &self,
        manager: &SealingManager,
        actor: &str,
        stored: Vec<StoredDataKey>,
    ) -> Result<Rotation> {
        let via = Via::Pool(&self.signer);
        let state = via
            .state()
            .await
            .map_err(|e| Error::SignerUnavailable(e.to_string()))?;
        let all = self.store.sealing_keys().await?;
        let from = stored.iter().map(|k| k.version).max().unwrap_or(0);
        let highest = all
            .iter()
            .map(|r| r.version)
            .chain(state.versions.iter().copied())
            .max()
            .unwrap_or(0);
        let to = highest + 1;
        let unsealed = manager
            .unseal(via, stored.clone(), Some(to))
            .await
            .map_err(|e| Error::SignerUnavailable(e.to_string()))?;
        let generated = unsealed
            .generated
            .ok_or_else(|| Error::internal("the signer returned no new sealing key"))?;
        let inserted = self
            .store
            .insert_sealing_key(
                generated.version,
                &manager.kms.key_id,
                &generated.ciphertext_blob,
                generated.key_check.as_deref(),
            )
            .await?;
        if !inserted {
            return Err(Error::Forbidden(format!(
                "sealing key version {to} was stored by another replica meanwhile; run the rotation again"
            )));
        }
        let mut now_stored = stored;
        now_stored.push(generated);
        // Stored first, current second: no key is ever sealed under a
        // version whose blob the database lacks.
        manager
            .unseal(via, now_stored, None)
            .await
            .map_err(|e| Error::SignerUnavailable(e.to_string()))?;
        self.audit
            .record(Event::new(
                actor,
                Action::SealingKeyCreate,
                &to.to_string(),
                Outcome::Ok,
            ))
            .await;
        self.audit
            .record(Event::new(
                actor,
                Action::SealingRotate,
                &to.to_string(),
                Outcome::Ok,
            ))
            .await;
        let row = Rotation {
            from_version: from,
            to_version: to,
            phase: RotationPhase::Resealing,
            cursor: String::new(),
            resealed: 0,
            verified: 0,
            started_at_ms: now_ms(),
            updated_at_ms: now_ms(),
            error: None,
        };
        self.store.save_rotation(&row).await?;
        tracing::info!(from, to, "sealing key rotation started");
        Ok(row)
    }

    /// Re-seals `row` (if older than `to`) and checks the key is the
    /// wallet's; the new blob (stored if it changed).
    async fn reseal_one(
        &self,
        id: &str,
        public_key: &[u8],
        blob: &[u8],
    ) -> Result<Option<(SealedKey, bool)>> {
        let sealed = SealedKey::from_bytes(blob)
            .map_err(|e| Error::internal(format!("stored sealed key of {id}: {e}")))?;
        let before = sealed.sealing_key_version;
        let (new, key) = match self.signer.reseal(sealed).await {
            Ok(r) => r,
            // Destroyed meanwhile: nothing to move.
            Err(CallError::Refused(ErrorCode::KeyNotFound, _)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if key != public_key {
            return Err(Error::internal(format!(
                "the sealed key of {id} does not hold the wallet's public key; rotation stopped"
            )));
        }
        if new.sealing_key_version == before {
            return Ok(Some((new, false)));
        }
        let replaced = self.store.replace_sealed(id, blob, &new.to_bytes()).await?;
        self.wallets.forget(id);
        Ok(Some((new, replaced)))
    }

    /// One pass over every live blob from `row.cursor`, re-sealing what is
    /// older than the new version; with `verify`, every blob must then be
    /// under it (one created meanwhile on a replica whose signer had not yet
    /// moved is re-sealed here). Progress is saved per page and the lease
    /// renewed; losing the lease stops the pass.
    async fn rotation_pass(&self, row: &mut Rotation, pass: Pass) -> Result<()> {
        let to = row.to_version;
        let verify = pass == Pass::ResealAndVerify;
        if verify && row.cursor.is_empty() {
            row.verified = 0;
        }
        loop {
            let page = self.store.sealed_wallets(&row.cursor, PAGE).await?;
            let Some(last) = page.last().map(|w| w.id.clone()) else {
                return Ok(());
            };
            for w in &page {
                let Some((sealed, changed)) =
                    self.reseal_one(&w.id, &w.public_key, &w.sealed).await?
                else {
                    continue;
                };
                if changed {
                    row.resealed += 1;
                }
                if verify {
                    if sealed.sealing_key_version != to {
                        return Err(Error::internal(format!(
                            "the sealed key of {} is under version {}, not {to}",
                            w.id, sealed.sealing_key_version
                        )));
                    }
                    row.verified += 1;
                }
            }
            row.cursor = last;
            row.updated_at_ms = now_ms();
            self.store.save_rotation(row).await?;
            let renewed = self
                .store
                .try_lease(ROTATION_LEASE, &self.replica_id, now_ms(), LEASE_MS)
                .await?;
            if !renewed {
                return Err(Error::Forbidden(
                    "this replica lost the rotation lease; another one continues".into(),
                ));
            }
        }
    }

    async fn continue_rotation(&self, row: &mut Rotation) -> Result<RotationReport> {
        let to = row.to_version;
        // Resumed here (maybe on another replica): this signer must hold
        // every stored version with the new one current first.
        if let Some(manager) = self.sealing_manager.as_ref() {
            let stored = active(&self.store.sealing_keys().await?);
            manager
                .unseal(Via::Pool(&self.signer), stored, None)
                .await
                .map_err(|e| Error::SignerUnavailable(e.to_string()))?;
        }
        let grace = self
            .sealing_manager
            .as_ref()
            .map_or(Duration::ZERO, |m| m.grace);
        while let Some(pass) = row.phase.pass() {
            if row.phase == RotationPhase::Settling {
                // Other replicas' signers move to the new version at
                // their next sync (30 s) and wallets being created land:
                // wait, then one more pass, before anything is retired.
                tokio::time::sleep(grace).await;
            }
            self.rotation_pass(row, pass).await?;
            self.advance(row).await?;
        }
        let mut settled = Settled::default();
        if row.phase == RotationPhase::Retiring {
            // Every blob is under the new version from here: the older
            // versions are superseded now (a resumed rotation keeps the
            // first time), then each is retired, or held for a recorded
            // backup that may need it.
            let now = now_ms();
            let mut superseded = Vec::new();
            for old in self.store.sealing_keys().await? {
                if old.state.unsealed() && old.version < to {
                    self.store.supersede_sealing_key(old.version, now).await?;
                    superseded.push(SealingVersion {
                        superseded_at_ms: Some(old.superseded_at_ms.unwrap_or(now)),
                        ..old
                    });
                }
            }
            settled = self.settle_superseded(&superseded, now).await?;
            self.advance(row).await?;
            tracing::info!(
                from = row.from_version,
                to,
                resealed = row.resealed,
                verified = row.verified,
                retired = ?settled.retired,
                held = ?settled.held.iter().map(|h| h.version).collect::<Vec<_>>(),
                "sealing key rotation done"
            );
        }
        Ok(RotationReport {
            dry_run: false,
            from_version: row.from_version,
            to_version: to,
            wallets: row.verified,
            to_reseal: row.resealed,
            resealed: row.resealed,
            verified: row.verified,
            retired: settled.retired,
            held: settled.held,
        })
    }

    /// Moves the rotation to its next phase (by the transition table) and
    /// saves it, with the phase's cursor reset.
    async fn advance(&self, row: &mut Rotation) -> Result<()> {
        let next = row
            .phase
            .next()
            .and_then(|next| row.phase.advance(next).ok())
            .ok_or_else(|| Error::internal(format!("the rotation is already {}", row.phase)))?;
        row.phase = next;
        row.cursor = String::new();
        row.updated_at_ms = now_ms();
        self.store.save_rotation(row).await?;
        Ok(())
    }
}

fn already_running() -> Error {
    Error::Forbidden("a sealing key rotation is already running on this replica".into())
}

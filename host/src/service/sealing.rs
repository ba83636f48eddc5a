//! KMS sealing from the host's side: it stores each sealing key version's
//! KMS `CiphertextBlob` (never a plaintext key), has every new signer
//! connection's signer unseal them (KMS `Decrypt` inside the signer), makes
//! the first version on first boot (one replica, under a database lease),
//! and runs the rotation: a new version, every blob re-sealed through the
//! signer, a verify pass, the old versions retired.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use signet_proto::client::{ClientError, SignerClient};
use signet_proto::message::{HelloInfo, SealingState, StoredDataKey, UnsealRequest};
use signet_proto::{ErrorCode, Request, Response, SealedKey};

use super::audit::{Action, Event, Outcome};
use super::aws::Credentials;
use super::{Error, Result, Service};
use crate::config::KmsConfig;
use crate::signer::{CallError, OnConnect, SignerPool};
use crate::store::{RotationRow, SealingKeyRow, Store};

/// An `Unseal` waits on KMS (with the signer's own retries).
const UNSEAL_TIMEOUT: Duration = Duration::from_secs(90);
/// Lease held by the replica that makes the first version.
const INIT_LEASE: &str = "sealing-init";
/// Lease held by the replica that runs a rotation.
const ROTATION_LEASE: &str = "sealing-rotation";
/// How long the init and rotation leases last without renewal: longer than
/// the longest unseal (two KMS calls with all their retries).
const LEASE_MS: u64 = 600_000;
/// Wallet blobs handled per page of a rotation.
const PAGE: u32 = 100;

/// Where signer requests go: one connection (while it is being prepared)
/// or the pool.
#[derive(Clone, Copy)]
enum Via<'a> {
    Client(&'a SignerClient),
    Pool(&'a SignerPool),
}

impl Via<'_> {
    async fn call(
        self,
        request: Request,
        timeout: Duration,
    ) -> Result<Response, (Option<ErrorCode>, String)> {
        match self {
            Via::Client(c) => c.call_within(request, timeout).await.map_err(|e| match e {
                ClientError::Signer { code, message } => (Some(code), message),
                other => (None, other.to_string()),
            }),
            // Never opens a connection: that would run the on-connect hook,
            // which waits for the lock a periodic sync holds.
            Via::Pool(p) => p.call_existing(request).await.map_err(|e| match e {
                CallError::Refused(code, message) => (Some(code), message),
                CallError::Unavailable(m) => (None, m),
                CallError::Unexpected(w) => (None, w.to_owned()),
            }),
        }
    }

    async fn state(self) -> Result<SealingState, String> {
        match self.call(Request::Status, Duration::from_secs(10)).await {
            Ok(Response::Status(s)) => s
                .sealing
                .ok_or_else(|| "the signer does not seal keys".to_owned()),
            Ok(_) => Err("unexpected answer to status".into()),
            Err((_, m)) => Err(m),
        }
    }
}

/// What operators see of the sealing keys (`/v1/admin/status`).
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct SealingStatus {
    /// `kms`.
    pub mode: String,
    /// The pinned KMS key.
    pub kms_key_id: String,
    /// Whether the signer holds its sealing key.
    pub ready: bool,
    /// Why not, when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The signer's current version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<u32>,
    /// Stored versions: `active` or `retired`.
    pub versions: Vec<VersionView>,
    /// The last rotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation: Option<RotationView>,
}

/// A stored version.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct VersionView {
    /// Version.
    pub version: u32,
    /// `active` or `retired`.
    pub state: String,
    /// Unix ms.
    pub created_at: u64,
}

/// A rotation's progress.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RotationView {
    /// From this version (and older).
    pub from_version: u32,
    /// To this one.
    pub to_version: u32,
    /// `resealing`, `verifying`, `retiring`, `done`.
    pub phase: String,
    /// Blobs re-sealed.
    pub resealed: u64,
    /// Blobs verified.
    pub verified: u64,
    /// Unix ms.
    pub started_at: u64,
    /// Unix ms.
    pub updated_at: u64,
    /// Why it stopped (it resumes from where it was when run again).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<RotationRow> for RotationView {
    fn from(r: RotationRow) -> Self {
        Self {
            from_version: r.from_version,
            to_version: r.to_version,
            phase: r.phase,
            resealed: r.resealed,
            verified: r.verified,
            started_at: r.started_at,
            updated_at: r.updated_at,
            error: r.error,
        }
    }
}

/// What a rotation did (or, dry, would do).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RotationReport {
    /// Nothing was changed.
    pub dry_run: bool,
    /// From this version (and older).
    pub from_version: u32,
    /// To this one.
    pub to_version: u32,
    /// Live wallets with a sealed key.
    pub wallets: u64,
    /// Blobs under an older version (to re-seal).
    pub to_reseal: u64,
    /// Blobs re-sealed.
    pub resealed: u64,
    /// Blobs verified under the new version.
    pub verified: u64,
    /// Versions retired.
    pub retired: Vec<u32>,
}

struct Backoff {
    not_before: Instant,
    delay: Duration,
    reason: String,
}

/// Keeps the signer's sealing keys in step with the database.
pub struct SealingManager {
    store: Store,
    kms: KmsConfig,
    credentials: Credentials,
    replica_id: String,
    busy: tokio::sync::Mutex<()>,
    backoff: std::sync::Mutex<Option<Backoff>>,
    last: std::sync::Mutex<Option<String>>,
    audit: super::audit::Auditor,
    /// Held while this process runs a rotation.
    rotating: tokio::sync::Mutex<()>,
    /// After the verify pass, how long to wait (other replicas' signers move
    /// to the new version; wallets being created land) before a last pass
    /// and the retirement.
    grace: Duration,
}

fn active(rows: &[SealingKeyRow]) -> Vec<StoredDataKey> {
    rows.iter()
        .filter(|r| r.state == "active")
        .filter_map(|r| {
            r.ciphertext_blob.as_ref().map(|blob| StoredDataKey {
                version: r.version,
                ciphertext_blob: blob.clone(),
                key_check: r.key_check.clone(),
            })
        })
        .collect()
}

impl SealingManager {
    /// A manager for `kms`, with AWS credentials from the host's environment.
    pub fn new(
        store: Store,
        kms: KmsConfig,
        replica_id: String,
        audit: super::audit::Auditor,
        grace: Duration,
    ) -> std::result::Result<Self, String> {
        let credentials = match &kms.credentials {
            Some(fixed) => Credentials::fixed(fixed.clone()),
            None => Credentials::from_env(|k| std::env::var(k).ok())?,
        };
        Ok(Self {
            store,
            kms,
            credentials,
            replica_id,
            busy: tokio::sync::Mutex::new(()),
            backoff: std::sync::Mutex::new(None),
            last: std::sync::Mutex::new(None),
            audit,
            rotating: tokio::sync::Mutex::new(()),
            grace,
        })
    }

    /// Why the signer has no sealing key, if it has none (for `/ready`).
    #[must_use]
    pub fn last_failure(&self) -> Option<String> {
        self.last.lock().ok().and_then(|l| l.clone())
    }

    /// One `Unseal`, with fresh credentials once more if KMS said they
    /// expired.
    async fn unseal(
        &self,
        via: Via<'_>,
        data_keys: Vec<StoredDataKey>,
        generate: Option<u32>,
    ) -> std::result::Result<signet_proto::message::Unsealed, String> {
        for attempt in 0..2 {
            let credentials = self.credentials.get().await?;
            let request = Request::Unseal(UnsealRequest {
                credentials,
                data_keys: data_keys.clone(),
                generate,
            });
            match via.call(request, UNSEAL_TIMEOUT).await {
                Ok(Response::Unsealed(u)) => return Ok(u),
                Ok(_) => return Err("unexpected answer to unseal".into()),
                Err((Some(ErrorCode::CredentialsExpired), m)) if attempt == 0 => {
                    tracing::warn!(reason = %m, "AWS credentials expired; refreshing");
                    self.credentials.invalidate().await;
                }
                Err((code, m)) => {
                    return Err(match code {
                        Some(code) => format!("{code}: {m}"),
                        None => m,
                    })
                }
            }
        }
        Err("the AWS credentials keep expiring".into())
    }

    /// Brings the signer behind `via` to the stored versions: unseals what
    /// it lacks (and, on first boot, has one replica create version 1),
    /// retires what was retired. Failures back off (1 s doubling to 60 s)
    /// so a refusing KMS is not called at every request.
    async fn ensure(&self, via: Via<'_>) -> std::result::Result<(), String> {
        let _busy = self.busy.lock().await;
        // While backing off, a signer that already holds what is stored is
        // fine; only calls that need KMS wait.
        let waiting = self.backoff.lock().ok().and_then(|b| {
            b.as_ref()
                .filter(|b| Instant::now() < b.not_before)
                .map(|b| format!("{} (next attempt within {:?})", b.reason, b.delay))
        });
        let result = self.sync(via, waiting.as_deref()).await;
        if let Ok(mut backoff) = self.backoff.lock() {
            match (&result, &waiting) {
                (Ok(()), _) => *backoff = None,
                (Err(_), Some(_)) => {}
                (Err(reason), None) => {
                    let delay = backoff.as_ref().map_or(Duration::from_secs(1), |b| {
                        (b.delay * 2).min(Duration::from_secs(60))
                    });
                    tracing::error!(%reason, retry_in = ?delay, "the signer has no sealing key");
                    *backoff = Some(Backoff {
                        not_before: Instant::now() + delay,
                        delay,
                        reason: reason.clone(),
                    });
                }
            }
        }
        if let Ok(mut last) = self.last.lock() {
            *last = result.as_ref().err().cloned();
        }
        result
    }

    async fn sync(&self, via: Via<'_>, waiting: Option<&str>) -> std::result::Result<(), String> {
        let state = via.state().await?;
        let rows = self.store.sealing_keys().await.map_err(|e| e.to_string())?;
        for retired in rows.iter().filter(|r| r.state == "retired") {
            if state.versions.contains(&retired.version) {
                let _ = via
                    .call(
                        Request::RetireSealingKey {
                            version: retired.version,
                        },
                        Duration::from_secs(10),
                    )
                    .await;
            }
        }
        let mut stored = active(&rows);
        if stored.is_empty() {
            if let Some(w) = waiting {
                return Err(w.to_owned());
            }
            stored = self.first_version(via, &state).await?;
        }
        let top = stored.iter().map(|k| k.version).max();
        let lacks = stored.iter().any(|k| !state.versions.contains(&k.version));
        if lacks || state.current != top {
            if let Some(w) = waiting {
                return Err(w.to_owned());
            }
            let unsealed = self.unseal(via, stored, None).await?;
            tracing::info!(current = ?unsealed.state.current, versions = ?unsealed.state.versions, "the signer holds its sealing keys");
        }
        Ok(())
    }

    /// First boot: one replica (the lease holder) has the signer create
    /// version 1 and stores its blob; the others wait for it.
    async fn first_version(
        &self,
        via: Via<'_>,
        state: &SealingState,
    ) -> std::result::Result<Vec<StoredDataKey>, String> {
        let now = signet_proto::time::now_ms();
        let leased = self
            .store
            .try_lease(INIT_LEASE, &self.replica_id, now, LEASE_MS)
            .await
            .map_err(|e| e.to_string())?;
        if !leased {
            return Err("another replica is creating the first sealing key".into());
        }
        let result = async {
            let rows = self.store.sealing_keys().await.map_err(|e| e.to_string())?;
            if !rows.is_empty() {
                return Ok(active(&rows));
            }
            // A version the signer made but the database never got (a
            // crash in between) is skipped, never reused.
            let version = state.versions.last().map_or(1, |v| v + 1);
            let unsealed = self.unseal(via, Vec::new(), Some(version)).await?;
            let generated = unsealed
                .generated
                .ok_or("the signer returned no new sealing key")?;
            let stored = self
                .store
                .insert_sealing_key(
                    generated.version,
                    &self.kms.key_id,
                    &generated.ciphertext_blob,
                    generated.key_check.as_deref(),
                )
                .await
                .map_err(|e| e.to_string())?;
            if !stored {
                // Another replica stored this version meanwhile; ours is an
                // orphan the signer never makes current.
                return Err(format!(
                    "sealing key version {} was stored by another replica meanwhile; retrying",
                    generated.version
                ));
            }
            self.audit
                .record(Event::new(
                    format!("replica:{}", self.replica_id),
                    Action::SealingKeyCreate,
                    &generated.version.to_string(),
                    Outcome::Ok,
                ))
                .await;
            tracing::info!(version = generated.version, key = %self.kms.key_id, "first sealing key created in KMS and stored");
            Ok(vec![generated])
        }
        .await;
        let _ = self.store.release_lease(INIT_LEASE, &self.replica_id).await;
        result
    }
}

impl OnConnect for SealingManager {
    fn on_connect<'a>(
        &'a self,
        client: &'a SignerClient,
        hello: &'a HelloInfo,
    ) -> Pin<Box<dyn Future<Output = std::result::Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            // A signer that already holds every stored version as it
            // should needs nothing (most connections): checked in `sync`.
            let _ = hello;
            self.ensure(Via::Client(client)).await
        })
    }
}

fn now_ms() -> u64 {
    signet_proto::time::now_ms()
}

impl Service {
    fn sealing(&self) -> Result<&Arc<SealingManager>> {
        self.sealing_manager.as_ref().ok_or_else(|| {
            Error::bad_request("this host does not use KMS sealing (SIGNET_SEALING=kms)")
        })
    }

    /// The sealing keys' status (`None` unless KMS sealing).
    pub async fn sealing_status(&self) -> Result<Option<SealingStatus>> {
        let Some(manager) = self.sealing_manager.as_ref() else {
            return Ok(None);
        };
        let rows = self.store.sealing_keys().await?;
        let state = Via::Pool(&self.signer).state().await;
        let (ready, current, reason) = match &state {
            Ok(s) => (s.current.is_some(), s.current, manager.last_failure()),
            Err(e) => (
                false,
                None,
                Some(manager.last_failure().unwrap_or_else(|| e.clone())),
            ),
        };
        Ok(Some(SealingStatus {
            mode: "kms".into(),
            kms_key_id: manager.kms.key_id.clone(),
            ready,
            reason: if ready { None } else { reason },
            current,
            versions: rows
                .into_iter()
                .map(|r| VersionView {
                    version: r.version,
                    state: r.state,
                    created_at: r.created_at,
                })
                .collect(),
            rotation: self.store.rotation().await?.map(RotationView::from),
        }))
    }

    /// Periodic: brings this replica's signer to the stored versions (a
    /// rotation run by another replica, retirements).
    pub async fn sync_sealing(&self) {
        if let Some(manager) = self.sealing_manager.as_ref() {
            // A new connection is prepared by the hook itself.
            if self.signer.ready().await.is_err() {
                return;
            }
            if let Err(e) = manager.ensure(Via::Pool(&self.signer)).await {
                tracing::warn!(reason = %e, "sealing keys not in step");
            }
        }
    }

    /// Starts [`Service::rotate_sealing`] in the background (it outlives the
    /// request; `/v1/admin/status` shows its progress), after the checks
    /// that can refuse at once.
    pub async fn start_sealing_rotation(self: &Arc<Self>, actor: &str) -> Result<SealingStatus> {
        let manager = self.sealing()?;
        if manager.rotating.try_lock().is_err() {
            return Err(Error::Forbidden(
                "a sealing key rotation is already running on this replica".into(),
            ));
        }
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
        if let Some(mut row) = self.store.rotation().await?.filter(|r| r.phase != "done") {
            row.error = None;
            row.updated_at = now_ms();
            self.store.save_rotation(&row).await?;
        }
        let service = Arc::clone(self);
        let actor = actor.to_owned();
        tokio::spawn(async move {
            match service.rotate_sealing(&actor, false).await {
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
        let manager = Arc::clone(self.sealing()?);
        self.signer
            .ready()
            .await
            .map_err(Error::SignerUnavailable)?;
        let rows = self.store.sealing_keys().await?;
        let stored = active(&rows);
        let from = stored.iter().map(|k| k.version).max().ok_or_else(|| {
            Error::SignerUnavailable(
                "no sealing key exists yet; the signer must unseal first".into(),
            )
        })?;
        if dry_run {
            let (wallets, to_reseal) = self.count_older(from + 1).await?;
            return Ok(RotationReport {
                dry_run,
                from_version: from,
                to_version: from + 1,
                wallets,
                to_reseal,
                resealed: 0,
                verified: 0,
                retired: stored.iter().map(|k| k.version).collect(),
            });
        }
        let Ok(_running) = manager.rotating.try_lock() else {
            return Err(Error::Forbidden(
                "a sealing key rotation is already running on this replica".into(),
            ));
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
        let unfinished = self.store.rotation().await?.filter(|r| r.phase != "done");
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
            row.updated_at = now_ms();
            let _ = self.store.save_rotation(&row).await;
            self.audit
                .record(Event::new(
                    actor,
                    Action::SealingRotate,
                    &row.to_version.to_string(),
                    Outcome::Error(e.to_string()),
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
    ) -> Result<RotationRow> {
        let via = Via::Pool(&self.signer);
        let state = via.state().await.map_err(Error::SignerUnavailable)?;
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
            .map_err(Error::SignerUnavailable)?;
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
            .map_err(Error::SignerUnavailable)?;
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
        let row = RotationRow {
            from_version: from,
            to_version: to,
            phase: "resealing".into(),
            cursor: String::new(),
            resealed: 0,
            verified: 0,
            started_at: now_ms(),
            updated_at: now_ms(),
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
    async fn rotation_pass(&self, row: &mut RotationRow, verify: bool) -> Result<()> {
        let to = row.to_version;
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
            row.updated_at = now_ms();
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

    async fn continue_rotation(&self, row: &mut RotationRow) -> Result<RotationReport> {
        let to = row.to_version;
        // Resumed here (maybe on another replica): this signer must hold
        // every stored version with the new one current first.
        if let Some(manager) = self.sealing_manager.as_ref() {
            let stored = active(&self.store.sealing_keys().await?);
            manager
                .unseal(Via::Pool(&self.signer), stored, None)
                .await
                .map_err(Error::SignerUnavailable)?;
        }
        let grace = self
            .sealing_manager
            .as_ref()
            .map_or(Duration::ZERO, |m| m.grace);
        for (phase, verify, next) in [
            ("resealing", false, "verifying"),
            ("verifying", true, "settling"),
            ("settling", true, "retiring"),
        ] {
            if row.phase == phase {
                if phase == "settling" {
                    // Other replicas' signers move to the new version at
                    // their next sync (30 s) and wallets being created land:
                    // wait, then one more pass, before anything is retired.
                    tokio::time::sleep(grace).await;
                }
                self.rotation_pass(row, verify).await?;
                row.phase = next.into();
                row.cursor = String::new();
                self.store.save_rotation(row).await?;
            }
        }
        let mut retired = Vec::new();
        if row.phase == "retiring" {
            for old in self.store.sealing_keys().await? {
                if old.state == "active" && old.version < to {
                    self.store.retire_sealing_key(old.version).await?;
                    match self
                        .signer
                        .call(Request::RetireSealingKey {
                            version: old.version,
                        })
                        .await
                    {
                        Ok(_) | Err(CallError::Refused(..)) => {}
                        Err(e) => {
                            tracing::warn!(version = old.version, error = ?e, "the signer will retire it at its next sync")
                        }
                    }
                    self.audit
                        .record(Event::new(
                            format!("replica:{}", self.replica_id),
                            Action::SealingKeyRetire,
                            &old.version.to_string(),
                            Outcome::Ok,
                        ))
                        .await;
                    retired.push(old.version);
                }
            }
            row.phase = "done".into();
            row.updated_at = now_ms();
            self.store.save_rotation(row).await?;
            tracing::info!(
                from = row.from_version,
                to,
                resealed = row.resealed,
                verified = row.verified,
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
            retired,
        })
    }
}

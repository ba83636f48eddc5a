//! KMS sealing from the host's side: it stores each sealing key version's
//! KMS `CiphertextBlob` (never a plaintext key), has every new signer
//! connection's signer unseal them (KMS `Decrypt` inside the signer), makes
//! the first version on first boot (one replica, under a database lease),
//! and runs the rotation: a new version, every blob re-sealed through the
//! signer, a verify pass, the old versions retired, or held while a
//! recorded backup within the retention window may need them
//! ([`retention`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use signet_proto::client::{ClientError, SignerClient};
use signet_proto::message::{HelloInfo, SealingState, StoredDataKey, UnsealRequest};
use signet_proto::{ErrorCode, Request, Response};

use super::audit::{Action, Event, Outcome};
use super::aws::{AwsError, Credentials};
use super::{Error, Result, Service};
use crate::config::KmsConfig;
use crate::domain::{Rotation, SealingVersion, VersionState};
use crate::signer::{CallError, HookError, OnConnect, SignerPool};
use crate::store::{Store, StoreError};

pub mod retention;
mod rotation;

pub use retention::HeldVersion;
pub use rotation::Requested;

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

/// Why the signer does not hold its sealing keys (or a sealing call failed).
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealingError {
    /// The signer refused, with its code (`kms_unavailable`,
    /// `credentials_expired`, …).
    #[error("{code}: {message}")]
    Signer {
        /// The signer's code.
        code: ErrorCode,
        /// What it said.
        message: String,
    },
    /// The signer could not be reached, or answered out of protocol.
    #[error("{0}")]
    Unavailable(String),
    /// No AWS credentials for the signer's KMS calls.
    #[error(transparent)]
    Credentials(#[from] AwsError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another replica holds the first-version lease, or stored a version
    /// meanwhile.
    #[error("{0}")]
    Contended(String),
    /// An earlier failure, not retried yet (backing off).
    #[error("{reason} (next attempt within {delay:?})")]
    BackingOff {
        /// The earlier failure.
        reason: Box<SealingError>,
        /// Until the next attempt.
        delay: Duration,
    },
}

impl SealingError {
    /// The kind of failure, for `/ready` (a code only: ARNs and PCRs are
    /// for `/v1/admin/status`).
    #[must_use]
    pub fn kind(&self) -> Option<&'static str> {
        match self {
            Self::Signer { code, .. } => Some(code.as_str()),
            Self::Store(_) => Some("storage"),
            Self::BackingOff { reason, .. } => reason.kind(),
            Self::Unavailable(_) | Self::Credentials(_) | Self::Contended(_) => None,
        }
    }

    /// Whether this failure shows the signer lacks a sealing key version
    /// the database holds (it answered, and unsealing failed or waits). An
    /// unreachable signer or database shows nothing either way.
    fn shows_signer_sealed(&self) -> bool {
        match self {
            Self::Signer { .. }
            | Self::Credentials(_)
            | Self::Contended(_)
            | Self::BackingOff { .. } => true,
            Self::Unavailable(_) | Self::Store(_) => false,
        }
    }
}

/// Where signer requests go: one connection (while it is being prepared)
/// or the pool.
#[derive(Clone, Copy)]
enum Via<'a> {
    Client(&'a SignerClient),
    Pool(&'a SignerPool),
}

impl Via<'_> {
    async fn call(self, request: Request, timeout: Duration) -> Result<Response, SealingError> {
        match self {
            Via::Client(c) => c.call_within(request, timeout).await.map_err(|e| match e {
                ClientError::Signer { code, message, .. } => SealingError::Signer { code, message },
                other => SealingError::Unavailable(other.to_string()),
            }),
            // Never opens a connection: that would run the on-connect hook,
            // which waits for the lock a periodic sync holds.
            Via::Pool(p) => p.call_existing(request).await.map_err(|e| match e {
                CallError::Refused(code, message) => SealingError::Signer { code, message },
                other => SealingError::Unavailable(other.to_string()),
            }),
        }
    }

    async fn state(self) -> Result<SealingState, SealingError> {
        match self.call(Request::Status, Duration::from_secs(10)).await? {
            Response::Status(s) => s
                .sealing
                .ok_or_else(|| SealingError::Unavailable("the signer does not seal keys".into())),
            _ => Err(SealingError::Unavailable(
                "unexpected answer to status".into(),
            )),
        }
    }
}

/// What operators see of the sealing keys (`/v1/admin/status`).
#[derive(Clone, Debug, Default)]
pub struct SealingStatus {
    /// The pinned KMS key.
    pub kms_key_id: String,
    /// Whether the signer holds its sealing key.
    pub ready: bool,
    /// Why not, when not.
    pub reason: Option<String>,
    /// The signer's current version.
    pub current: Option<u32>,
    /// Stored versions.
    pub versions: Vec<SealingVersion>,
    /// The last rotation.
    pub rotation: Option<Rotation>,
}

/// What a rotation did (or, dry, would do).
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// Versions held (not retired) for a recorded backup within the
    /// retention window, each with when it may be retired and the backup.
    pub held: Vec<HeldVersion>,
}

struct Backoff {
    not_before: Instant,
    delay: Duration,
    reason: SealingError,
}

/// Keeps the signer's sealing keys in step with the database.
pub struct SealingManager {
    store: Store,
    kms: KmsConfig,
    credentials: Credentials,
    replica_id: String,
    busy: tokio::sync::Mutex<()>,
    backoff: std::sync::Mutex<Option<Backoff>>,
    last: std::sync::Mutex<Option<SealingError>>,
    audit: super::audit::Auditor,
    /// Held while this process runs a rotation.
    rotating: Arc<tokio::sync::Mutex<()>>,
    /// After the verify pass, how long to wait (other replicas' signers move
    /// to the new version; wallets being created land) before a last pass
    /// and the retirement.
    grace: Duration,
    /// `signet_kms_requests_total`, `signet_signer_sealed`.
    metrics: crate::metrics::SealingMetrics,
}

/// The stored versions signers unseal (active and held), as the signer
/// takes them.
fn active(rows: &[SealingVersion]) -> Vec<StoredDataKey> {
    rows.iter()
        .filter(|r| r.state.unsealed())
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
        metrics: crate::metrics::SealingMetrics,
    ) -> std::result::Result<Self, SealingError> {
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
            rotating: Arc::new(tokio::sync::Mutex::new(())),
            grace,
            metrics,
        })
    }

    /// Why the signer has no sealing key, if it has none (for `/ready`).
    #[must_use]
    pub fn last_failure(&self) -> Option<SealingError> {
        self.last.lock().ok().and_then(|l| l.clone())
    }

    /// Counts one KMS request of `operation` in `signet_kms_requests_total`.
    fn count_kms(&self, operation: &'static str, ok: bool) {
        self.metrics
            .kms_requests
            .get_or_create(&crate::metrics::KmsLabels {
                operation,
                outcome: if ok { "ok" } else { "error" },
            })
            .inc();
    }

    /// One `Unseal`, with fresh credentials once more if KMS said they
    /// expired. Each attempt is counted in `signet_kms_requests_total`.
    async fn unseal(
        &self,
        via: Via<'_>,
        data_keys: Vec<StoredDataKey>,
        generate: Option<u32>,
    ) -> std::result::Result<signet_proto::message::Unsealed, SealingError> {
        let operation = if generate.is_some() {
            "generate_data_key"
        } else {
            "decrypt"
        };
        for attempt in 0..2 {
            let credentials = match self.credentials.get().await {
                Ok(c) => c,
                Err(e) => {
                    // No request could be made: KMS is out of reach all the same.
                    self.count_kms(operation, false);
                    return Err(e.into());
                }
            };
            let request = Request::Unseal(UnsealRequest {
                credentials,
                data_keys: data_keys.clone(),
                generate,
            });
            let answer = via.call(request, UNSEAL_TIMEOUT).await;
            self.count_kms(operation, matches!(answer, Ok(Response::Unsealed(_))));
            match answer {
                Ok(Response::Unsealed(u)) => return Ok(u),
                Ok(_) => {
                    return Err(SealingError::Unavailable(
                        "unexpected answer to unseal".into(),
                    ))
                }
                Err(SealingError::Signer {
                    code: ErrorCode::CredentialsExpired,
                    message,
                }) if attempt == 0 => {
                    tracing::warn!(reason = %message, "AWS credentials expired; refreshing");
                    self.credentials.invalidate().await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(SealingError::Signer {
            code: ErrorCode::CredentialsExpired,
            message: "the AWS credentials keep expiring".into(),
        })
    }

    /// Brings the signer behind `via` to the stored versions: unseals what
    /// it lacks (and, on first boot, has one replica create version 1),
    /// retires what was retired. Failures back off (1 s doubling to 60 s)
    /// so a refusing KMS is not called at every request.
    async fn ensure(&self, via: Via<'_>) -> std::result::Result<(), SealingError> {
        let _busy = self.busy.lock().await;
        // While backing off, a signer that already holds what is stored is
        // fine; only calls that need KMS wait.
        let waiting = self.backoff.lock().ok().and_then(|b| {
            b.as_ref()
                .filter(|b| Instant::now() < b.not_before)
                .map(|b| SealingError::BackingOff {
                    reason: Box::new(b.reason.clone()),
                    delay: b.delay,
                })
        });
        let result = self.sync(via, waiting.as_ref()).await;
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
        match &result {
            Ok(()) => {
                self.metrics.signer_sealed.set(0);
            }
            Err(e) if e.shows_signer_sealed() => {
                self.metrics.signer_sealed.set(1);
            }
            // An unreachable signer or database leaves the gauge as it was:
            // `signet_signer_up` and the storage errors say those.
            Err(_) => {}
        }
        result
    }

    async fn sync(
        &self,
        via: Via<'_>,
        waiting: Option<&SealingError>,
    ) -> std::result::Result<(), SealingError> {
        let state = via.state().await?;
        let rows = self.store.sealing_keys().await?;
        for retired in rows.iter().filter(|r| r.state == VersionState::Retired) {
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
                return Err(w.clone());
            }
            stored = self.first_version(via, &state).await?;
        }
        let top = stored.iter().map(|k| k.version).max();
        let lacks = stored.iter().any(|k| !state.versions.contains(&k.version));
        if lacks || state.current != top {
            if let Some(w) = waiting {
                return Err(w.clone());
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
    ) -> std::result::Result<Vec<StoredDataKey>, SealingError> {
        let now = signet_proto::time::now_ms();
        let leased = self
            .store
            .try_lease(INIT_LEASE, &self.replica_id, now, LEASE_MS)
            .await?;
        if !leased {
            return Err(SealingError::Contended(
                "another replica is creating the first sealing key".into(),
            ));
        }
        let result = async {
            let rows = self.store.sealing_keys().await?;
            if !rows.is_empty() {
                return Ok(active(&rows));
            }
            // A version the signer made but the database never got (a
            // crash in between) is skipped, never reused.
            let version = state.versions.last().map_or(1, |v| v + 1);
            let unsealed = self.unseal(via, Vec::new(), Some(version)).await?;
            let generated = unsealed.generated.ok_or_else(|| {
                SealingError::Unavailable("the signer returned no new sealing key".into())
            })?;
            let stored = self
                .store
                .insert_sealing_key(
                    generated.version,
                    &self.kms.key_id,
                    &generated.ciphertext_blob,
                    generated.key_check.as_deref(),
                )
                .await?;
            if !stored {
                // Another replica stored this version meanwhile; ours is an
                // orphan the signer never makes current.
                return Err(SealingError::Contended(format!(
                    "sealing key version {} was stored by another replica meanwhile; retrying",
                    generated.version
                )));
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
    ) -> Pin<Box<dyn Future<Output = std::result::Result<(), HookError>> + Send + 'a>> {
        Box::pin(async move {
            // A signer that already holds every stored version as it
            // should needs nothing (most connections): checked in `sync`.
            let _ = hello;
            self.ensure(Via::Client(client))
                .await
                .map_err(HookError::from)
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
        let versions = self.store.sealing_keys().await?;
        let state = Via::Pool(&self.signer).state().await;
        let last = manager.last_failure().map(|e| e.to_string());
        let (ready, current, reason) = match &state {
            Ok(s) => (s.current.is_some(), s.current, last),
            Err(e) => (false, None, Some(last.unwrap_or_else(|| e.to_string()))),
        };
        Ok(Some(SealingStatus {
            kms_key_id: manager.kms.key_id.clone(),
            ready,
            reason: if ready { None } else { reason },
            current,
            versions,
            rotation: self.store.rotation().await?,
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
}

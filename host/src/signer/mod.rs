//! The host's connections to the signer: a small pool of pipelining
//! connections, each opened with a hello whose attestation document must pass
//! the configured policy before the connection is used, and a typed client
//! (one method per signer request) on top of it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use std::future::Future;
use std::pin::Pin;

use signet_proto::client::{ClientError, Provisioner, SignerClient};
use signet_proto::message::{
    GeneratedKey, HelloInfo, ProvisionSecrets, SealingState, SignRequest, SignatureInfo,
    SignerStatus,
};
use signet_proto::{KeyType, Request, Response, SealedKey, SharedSecret, SignerAddr};
use tokio::sync::Mutex;

use crate::config::{AttestationCheck, SealingConfig};

/// What the last successful hello told us.
#[derive(Clone, Debug, Default)]
pub struct SignerInfo {
    /// Backend name.
    pub backend: String,
    /// Attestation mode.
    pub attestation_mode: String,
    /// Module id of the last verified document.
    pub module_id: Option<String>,
    /// The signer's deployment (`--deployment`), which its records name.
    pub deployment: Option<String>,
}

/// Why an on-connect hook refused a connection (the operator's reason,
/// with its cause).
pub type HookError = Box<dyn std::error::Error + Send + Sync>;

/// Runs on every new, authenticated connection before it is used (the
/// sealing manager: it has a KMS-sealing signer unseal). `Err` = the
/// connection is not used, with the operator's reason.
pub trait OnConnect: Send + Sync {
    /// Prepares the signer behind `client`.
    fn on_connect<'a>(
        &'a self,
        client: &'a SignerClient,
        hello: &'a HelloInfo,
    ) -> Pin<Box<dyn Future<Output = Result<(), HookError>> + Send + 'a>>;
}

/// Checks a signer's attestation document against the host's policy; the
/// verified module id (`None` when attestation is not checked), or the
/// operator's reason.
fn check_attestation(
    check: &AttestationCheck,
    document: Option<&[u8]>,
    nonce: &[u8],
) -> Result<Option<String>, String> {
    match check {
        AttestationCheck::InsecureSkip => Ok(None),
        AttestationCheck::Policy { path, verifier, .. } => {
            let doc = document.ok_or_else(|| {
                format!(
                    "the signer sent no attestation document, but {} requires one",
                    path.display()
                )
            })?;
            let verified = verifier
                .as_ref()
                .clone()
                .expect_nonce(nonce.to_vec())
                .verify(doc)
                .map_err(|e| {
                    tracing::error!(error = %e, code = e.code(), "signer attestation refused; not using this signer");
                    let hint = if matches!(e.code(), "pcr_mismatch" | "no_pcr_set_matches") {
                        format!(
                            " — the signer's image is not one {} pins: was signet-enclave rebuilt or upgraded? (signet-host dev reads the binary's PCRs at start: restart it; in production add the new image's PCR set to the policy before the upgrade)",
                            path.display()
                        )
                    } else {
                        String::new()
                    };
                    format!("signer attestation refused: {e}{hint}")
                })?;
            Ok(Some(verified.doc.module_id))
        }
    }
}

/// The secrets a `--secrets host` signer is provisioned with, handed only
/// after its attestation passed the host's check.
struct Provisioning {
    secrets: ProvisionSecrets,
    check: AttestationCheck,
}

impl Provisioner for Provisioning {
    fn check(&self, document: Option<&[u8]>, nonce: &[u8]) -> Result<(), String> {
        check_attestation(&self.check, document, nonce)
            .map(|_| ())
            .map_err(|e| format!("{e}; its secrets were not sent"))
    }

    fn secrets(&self) -> ProvisionSecrets {
        self.secrets.clone()
    }
}

/// Connections to one signer.
pub struct SignerPool {
    addr: SignerAddr,
    key: SharedSecret,
    check: AttestationCheck,
    sealing: SealingConfig,
    provisioning: Provisioning,
    on_connect: std::sync::OnceLock<Arc<dyn OnConnect>>,
    timeout: Duration,
    slots: Vec<Mutex<Option<Arc<SignerClient>>>>,
    next: AtomicUsize,
    info: std::sync::Mutex<SignerInfo>,
    metrics: crate::metrics::SignerMetrics,
    /// Why the last connection attempt failed (for operators only).
    last_error: std::sync::Mutex<Option<String>>,
}

/// Why a signer call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The signer could not be reached (or refused our hello, or failed the
    /// attestation policy): 503, retryable.
    #[error("{0}")]
    Unavailable(String),
    /// The signer answered with a refusal.
    #[error("{1}")]
    Refused(signet_proto::ErrorCode, String),
    /// The signer's authority refused: the wallet's record or policy, or the
    /// owners' approvals (`policy_denied`, `owner_approval_required`,
    /// `approval_invalid`, `approval_replayed`, `record_mismatch`), with the
    /// rule or reason.
    #[error("{1}")]
    Decided(signet_proto::ErrorCode, String, Option<String>),
    /// The signer answered with a response of another kind (a bug).
    #[error("unexpected signer response to {0}")]
    Unexpected(&'static str),
}

/// A signer refusal: [`CallError::Decided`] for the authority's codes,
/// [`CallError::Refused`] for the others.
fn refused(code: signet_proto::ErrorCode, message: String, detail: Option<String>) -> CallError {
    use signet_proto::ErrorCode as C;
    match code {
        C::PolicyDenied
        | C::OwnerApprovalRequired
        | C::ApprovalInvalid
        | C::ApprovalReplayed
        | C::RecordMismatch
        | C::ChangeNotYetEffective => CallError::Decided(code, message, detail),
        _ => CallError::Refused(code, message),
    }
}

impl SignerPool {
    /// A pool of `size` connections to the signer of `config`.
    #[must_use]
    pub fn new(config: &crate::config::Config, metrics: crate::metrics::SignerMetrics) -> Self {
        let secrets = ProvisionSecrets {
            internal_api_key: config.internal_api_key.expose().to_vec(),
            ticket_signing_secret: config.ticket_secret.expose().to_vec(),
            ticket_signing_secret_previous: config
                .ticket_secret_previous
                .as_ref()
                .map(|s| s.expose().to_vec()),
        };
        let size = config.enclave_connections;
        Self {
            addr: config.enclave_addr.clone(),
            key: config.internal_api_key.clone(),
            check: config.attestation.clone(),
            sealing: config.sealing.clone(),
            provisioning: Provisioning {
                secrets,
                check: config.attestation.clone(),
            },
            on_connect: std::sync::OnceLock::new(),
            timeout: Duration::from_secs(10),
            slots: (0..size.max(1)).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
            info: std::sync::Mutex::new(SignerInfo::default()),
            metrics,
            last_error: std::sync::Mutex::new(None),
        }
    }

    /// Sets what runs on every new connection (once).
    pub fn set_on_connect(&self, hook: Arc<dyn OnConnect>) {
        let _ = self.on_connect.set(hook);
    }

    /// Refuses a signer whose sealing is not what this host is configured
    /// for: a dev-sealed signer behind a `SIGNET_SEALING=kms` host, or one
    /// pinned to another KMS key.
    fn check_sealing(&self, sealing: Option<&SealingState>) -> Result<(), String> {
        let SealingConfig::Kms(kms) = &self.sealing else {
            return Ok(());
        };
        match sealing {
            Some(s) if s.mode == "kms" && s.kms_key_id.as_deref() == Some(kms.key_id.as_str()) => {
                Ok(())
            }
            Some(s) if s.mode == "kms" => Err(format!(
                "the signer pins KMS key {}, this host is configured with {}",
                s.kms_key_id.as_deref().unwrap_or("(none)"),
                kms.key_id
            )),
            Some(s) => Err(format!(
                "SIGNET_SEALING=kms, but the signer uses {} sealing",
                s.mode
            )),
            None => Err("SIGNET_SEALING=kms, but the signer does not seal keys".into()),
        }
    }

    /// Why the last connection attempt failed, with paths and PCR values
    /// (operators only: `/v1/admin/status` and the log).
    #[must_use]
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }

    /// What the signer said in its last hello.
    #[must_use]
    pub fn info(&self) -> SignerInfo {
        self.info.lock().map(|i| i.clone()).unwrap_or_default()
    }

    /// Opens and checks a connection; on failure, what callers may be told
    /// (no paths, no PCR values) and the operator's detail.
    async fn connect(&self) -> Result<SignerClient, (&'static str, String)> {
        let (client, hello) = SignerClient::connect_provisioning(
            &self.addr,
            &self.key,
            self.timeout,
            Some(&self.provisioning),
        )
        .await
        .map_err(|e| match e {
            ClientError::SignerNotAuthenticated => (
                "signer: authentication failed",
                "the signer failed to prove it holds INTERNAL_API_KEY".to_owned(),
            ),
            ClientError::Provisioning(detail) => {
                tracing::error!(reason = %detail, "signer not provisioned");
                ("signer: attestation refused", detail)
            }
            other => (
                "signer: unreachable",
                format!("signer at {}: {other}", self.addr),
            ),
        })?;
        let module_id = check_attestation(
            &self.check,
            hello.info.attestation.as_deref(),
            &hello.client_nonce,
        )
        .map_err(|detail| ("signer: attestation refused", detail))?;
        self.check_sealing(hello.info.sealing.as_ref())
            .map_err(|detail| ("signer: sealing misconfigured", detail))?;
        if let Some(hook) = self.on_connect.get() {
            hook.on_connect(&client, &hello.info)
                .await
                .map_err(|e| ("signer: sealing key unavailable", e.to_string()))?;
        }
        tracing::info!(backend = %hello.info.backend, attestation = %hello.info.attestation_mode, module_id = ?module_id, "signer connection ready");
        if let Ok(mut info) = self.info.lock() {
            *info = SignerInfo {
                backend: hello.info.backend,
                attestation_mode: hello.info.attestation_mode,
                module_id,
                deployment: hello.info.deployment,
            };
        }
        Ok(client)
    }

    async fn client(&self) -> Result<Arc<SignerClient>, CallError> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let mut slot = self.slots[i].lock().await;
        if let Some(client) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(Arc::clone(client));
        }
        let lost = slot.take().is_some();
        let client = match self.connect().await {
            Ok(c) => Arc::new(c),
            Err((public, detail)) => {
                self.metrics.up.set(0);
                tracing::warn!(reason = %detail, "no signer connection");
                if let Ok(mut last) = self.last_error.lock() {
                    *last = Some(detail);
                }
                return Err(CallError::Unavailable(public.to_owned()));
            }
        };
        self.metrics.up.set(1);
        if let Ok(mut last) = self.last_error.lock() {
            *last = None;
        }
        if lost {
            self.metrics.restarts.inc();
        }
        *slot = Some(Arc::clone(&client));
        Ok(client)
    }

    /// One call on one connection; a broken connection is dropped so the
    /// next call reconnects. No retry here: callers know what is safe to retry.
    pub async fn call(&self, request: Request) -> Result<Response, CallError> {
        let client = self.client().await?;
        match client.call(request).await {
            Ok(r) => Ok(r),
            Err(ClientError::Signer {
                code,
                message,
                detail,
            }) => Err(refused(code, message, detail)),
            Err(e) => {
                tracing::warn!(error = %e, "signer call failed");
                Err(CallError::Unavailable(
                    "signer: connection lost; retry".into(),
                ))
            }
        }
    }

    /// One call on an already open connection, never opening one (so never
    /// running the on-connect hook): for the hook's own periodic work.
    pub async fn call_existing(&self, request: Request) -> Result<Response, CallError> {
        // `try_lock`: a slot being connected is skipped, never waited for
        // (its connect may be waiting for our caller's lock).
        let open = self.slots.iter().find_map(|slot| {
            slot.try_lock()
                .ok()
                .and_then(|s| s.as_ref().filter(|c| !c.is_closed()).map(Arc::clone))
        });
        let client =
            open.ok_or_else(|| CallError::Unavailable("signer: no open connection".into()))?;
        match client.call(request).await {
            Ok(r) => Ok(r),
            Err(ClientError::Signer {
                code,
                message,
                detail,
            }) => Err(refused(code, message, detail)),
            Err(e) => Err(CallError::Unavailable(format!("signer: {e}"))),
        }
    }

    /// Whether a connection can be had now (for `/ready`).
    pub async fn ready(&self) -> Result<(), CallError> {
        self.client().await.map(|_| ())
    }

    /// Generates a key in the signer.
    pub async fn generate(
        &self,
        key_id: &str,
        key_type: KeyType,
        settings: Option<String>,
    ) -> Result<GeneratedKey, CallError> {
        match self
            .call(Request::Generate {
                key_id: key_id.to_owned(),
                key_type,
                settings,
            })
            .await?
        {
            Response::Generated(g) => Ok(g),
            _ => Err(CallError::Unexpected("generate")),
        }
    }

    /// Replaces a wallet's record (the signer re-seals its key bound to it).
    pub async fn update_record(
        &self,
        request: signet_proto::message::UpdateRecordRequest,
    ) -> Result<GeneratedKey, CallError> {
        match self.call(Request::UpdateRecord(request)).await? {
            Response::Generated(g) => Ok(g),
            _ => Err(CallError::Unexpected("update_record")),
        }
    }

    /// What a sign request would get (a dry run in the signer).
    pub async fn check(
        &self,
        request: signet_proto::message::CheckRequest,
    ) -> Result<signet_proto::message::CheckResult, CallError> {
        match self.call(Request::Check(request)).await? {
            Response::Checked(c) => Ok(c),
            _ => Err(CallError::Unexpected("check")),
        }
    }

    /// The owners' `resume` of a wallet's cold windows.
    pub async fn resume(
        &self,
        request: signet_proto::message::ResumeRequest,
    ) -> Result<(), CallError> {
        match self.call(Request::Resume(request)).await? {
            Response::Resumed { .. } => Ok(()),
            _ => Err(CallError::Unexpected("resume")),
        }
    }

    /// Signs.
    pub async fn sign(&self, request: SignRequest) -> Result<SignatureInfo, CallError> {
        match self.call(Request::Sign(request)).await? {
            Response::Signed(s) => Ok(s),
            _ => Err(CallError::Unexpected("sign")),
        }
    }

    /// A fresh attestation document (of the signer, or binding a key).
    pub async fn attest(
        &self,
        nonce: Option<Vec<u8>>,
        key_id: Option<String>,
    ) -> Result<Option<Vec<u8>>, CallError> {
        match self.call(Request::Attest { nonce, key_id }).await? {
            Response::Attestation { document } => Ok(document),
            _ => Err(CallError::Unexpected("attest")),
        }
    }

    /// Destroys a key (zeroized in the signer, never loadable again there).
    pub async fn destroy(&self, key_id: &str) -> Result<(), CallError> {
        match self
            .call(Request::Destroy {
                key_id: key_id.to_owned(),
            })
            .await?
        {
            Response::Destroyed { .. } => Ok(()),
            _ => Err(CallError::Unexpected("destroy")),
        }
    }

    /// Loads a sealed key into the signer's cache, with the wallet's record
    /// (`None`: a wallet from before records).
    pub async fn load_sealed(
        &self,
        sealed: SealedKey,
        record: Option<String>,
    ) -> Result<(), CallError> {
        match self.call(Request::LoadSealed { sealed, record }).await? {
            Response::Loaded(_) => Ok(()),
            _ => Err(CallError::Unexpected("load_sealed")),
        }
    }

    /// Re-seals a blob under the signer's current version; the new blob
    /// and the key's public half.
    pub async fn reseal(&self, sealed: SealedKey) -> Result<(SealedKey, Vec<u8>), CallError> {
        match self.call(Request::Reseal { sealed }).await? {
            Response::Resealed { sealed, public_key } => Ok((sealed, public_key)),
            _ => Err(CallError::Unexpected("reseal")),
        }
    }

    /// The signer's status.
    pub async fn status(&self) -> Result<SignerStatus, CallError> {
        match self.call(Request::Status).await? {
            Response::Status(s) => Ok(s),
            _ => Err(CallError::Unexpected("status")),
        }
    }
}

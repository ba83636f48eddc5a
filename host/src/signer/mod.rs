//! The host's connections to the signer: a small pool of pipelining
//! connections, each opened with a hello whose attestation document must pass
//! the configured policy before the connection is used, and a typed client
//! (one method per signer request) on top of it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use signet_proto::client::{ClientError, SignerClient};
use signet_proto::message::{GeneratedKey, SignRequest, SignatureInfo, SignerStatus};
use signet_proto::{KeyType, Request, Response, SealedKey, SharedSecret, SignerAddr};
use tokio::sync::Mutex;

use crate::config::AttestationCheck;
use crate::service::Error;

/// What the last successful hello told us.
#[derive(Clone, Debug, Default)]
pub struct SignerInfo {
    /// Backend name.
    pub backend: String,
    /// Attestation mode.
    pub attestation_mode: String,
    /// Module id of the last verified document.
    pub module_id: Option<String>,
}

/// Connections to one signer.
pub struct SignerPool {
    addr: SignerAddr,
    key: SharedSecret,
    check: AttestationCheck,
    timeout: Duration,
    slots: Vec<Mutex<Option<Arc<SignerClient>>>>,
    next: AtomicUsize,
    info: std::sync::Mutex<SignerInfo>,
    metrics: crate::metrics::SignerMetrics,
    /// Why the last connection attempt failed (for operators only).
    last_error: std::sync::Mutex<Option<String>>,
}

/// Why a signer call failed.
#[derive(Debug)]
pub enum CallError {
    /// The signer could not be reached (or refused our hello, or failed the
    /// attestation policy): 503, retryable.
    Unavailable(String),
    /// The signer answered with a refusal.
    Refused(signet_proto::ErrorCode, String),
    /// The signer answered with a response of another kind (a bug).
    Unexpected(&'static str),
}

impl From<CallError> for Error {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Unavailable(m) => Error::SignerUnavailable(m),
            CallError::Refused(code, m) => Error::from_signer(code, &m),
            CallError::Unexpected(what) => {
                Error::internal(format!("unexpected signer response to {what}"))
            }
        }
    }
}

impl SignerPool {
    /// A pool of `size` connections to `addr`.
    #[must_use]
    pub fn new(
        addr: SignerAddr,
        key: SharedSecret,
        check: AttestationCheck,
        size: usize,
        metrics: crate::metrics::SignerMetrics,
    ) -> Self {
        Self {
            addr,
            key,
            check,
            timeout: Duration::from_secs(10),
            slots: (0..size.max(1)).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
            info: std::sync::Mutex::new(SignerInfo::default()),
            metrics,
            last_error: std::sync::Mutex::new(None),
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
        let (client, hello) = SignerClient::connect(&self.addr, &self.key, self.timeout)
            .await
            .map_err(|e| match e {
                ClientError::SignerNotAuthenticated => (
                    "signer: authentication failed",
                    "the signer failed to prove it holds INTERNAL_API_KEY".to_owned(),
                ),
                other => (
                    "signer: unreachable",
                    format!("signer at {}: {other}", self.addr),
                ),
            })?;
        let module_id = match &self.check {
            AttestationCheck::InsecureSkip => None,
            AttestationCheck::Policy { path, verifier } => {
                let doc = hello.info.attestation.as_ref().ok_or_else(|| {
                    (
                        "signer: attestation refused",
                        format!(
                            "the signer sent no attestation document, but {} requires one",
                            path.display()
                        ),
                    )
                })?;
                let verified = verifier
                    .as_ref()
                    .clone()
                    .expect_nonce(hello.client_nonce.clone())
                    .verify(doc)
                    .map_err(|e| {
                        tracing::error!(error = %e, code = e.code(), "signer attestation refused; not using this signer");
                        (
                            "signer: attestation refused",
                            format!("signer attestation refused: {e}"),
                        )
                    })?;
                Some(verified.doc.module_id)
            }
        };
        tracing::info!(backend = %hello.info.backend, attestation = %hello.info.attestation_mode, module_id = ?module_id, "signer connection ready");
        if let Ok(mut info) = self.info.lock() {
            *info = SignerInfo {
                backend: hello.info.backend,
                attestation_mode: hello.info.attestation_mode,
                module_id,
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
            Err(ClientError::Signer { code, message }) => Err(CallError::Refused(code, message)),
            Err(e) => {
                tracing::warn!(error = %e, "signer call failed");
                Err(CallError::Unavailable(
                    "signer: connection lost; retry".into(),
                ))
            }
        }
    }

    /// Whether a connection can be had now (for `/ready`).
    pub async fn ready(&self) -> Result<(), String> {
        match self.client().await {
            Ok(_) => Ok(()),
            Err(CallError::Unavailable(m) | CallError::Refused(_, m)) => Err(m),
            Err(CallError::Unexpected(what)) => Err(what.to_owned()),
        }
    }

    /// Generates a key in the signer.
    pub async fn generate(
        &self,
        key_id: &str,
        key_type: KeyType,
    ) -> Result<GeneratedKey, CallError> {
        match self
            .call(Request::Generate {
                key_id: key_id.to_owned(),
                key_type,
            })
            .await?
        {
            Response::Generated(g) => Ok(g),
            _ => Err(CallError::Unexpected("generate")),
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

    /// Loads a sealed key into the signer's cache.
    pub async fn load_sealed(&self, sealed: SealedKey) -> Result<(), CallError> {
        match self.call(Request::LoadSealed { sealed }).await? {
            Response::Loaded(_) => Ok(()),
            _ => Err(CallError::Unexpected("load_sealed")),
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

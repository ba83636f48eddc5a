//! The host's connections to the signer: a small pool of pipelining
//! connections, each opened with a hello whose attestation document must pass
//! the configured policy before the connection is used.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use signet_proto::client::{ClientError, SignerClient};
use signet_proto::{Request, Response, SharedSecret, SignerAddr};
use tokio::sync::Mutex;

use crate::config::AttestationCheck;
use crate::error::ApiError;

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
pub struct EnclavePool {
    addr: SignerAddr,
    key: SharedSecret,
    check: AttestationCheck,
    timeout: Duration,
    slots: Vec<Mutex<Option<Arc<SignerClient>>>>,
    next: AtomicUsize,
    info: std::sync::Mutex<SignerInfo>,
}

/// Why a signer call failed.
#[derive(Debug)]
pub enum CallError {
    /// The signer could not be reached (or refused our hello, or failed the
    /// attestation policy): 503, retryable.
    Unavailable(String),
    /// The signer answered with a refusal.
    Refused(signet_proto::ErrorCode, String),
}

impl From<CallError> for ApiError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Unavailable(m) => ApiError::enclave_unavailable(m),
            CallError::Refused(code, m) => ApiError::from_signer(code, &m),
        }
    }
}

impl EnclavePool {
    /// A pool of `size` connections to `addr`.
    #[must_use]
    pub fn new(addr: SignerAddr, key: SharedSecret, check: AttestationCheck, size: usize) -> Self {
        Self {
            addr,
            key,
            check,
            timeout: Duration::from_secs(10),
            slots: (0..size.max(1)).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
            info: std::sync::Mutex::new(SignerInfo::default()),
        }
    }

    /// What the signer said in its last hello.
    #[must_use]
    pub fn info(&self) -> SignerInfo {
        self.info.lock().map(|i| i.clone()).unwrap_or_default()
    }

    async fn connect(&self) -> Result<SignerClient, String> {
        let (client, hello) = SignerClient::connect(&self.addr, &self.key, self.timeout)
            .await
            .map_err(|e| match e {
                ClientError::SignerNotAuthenticated => {
                    "the signer failed to prove it holds INTERNAL_API_KEY".to_owned()
                }
                other => format!("signer at {}: {other}", self.addr),
            })?;
        let module_id = match &self.check {
            AttestationCheck::InsecureSkip => None,
            AttestationCheck::Policy { path, verifier } => {
                let doc = hello.info.attestation.as_ref().ok_or_else(|| {
                    format!(
                        "the signer sent no attestation document, but {} requires one",
                        path.display()
                    )
                })?;
                let verified = verifier
                    .as_ref()
                    .clone()
                    .expect_nonce(hello.client_nonce.clone())
                    .verify(doc)
                    .map_err(|e| {
                        tracing::error!(error = %e, code = e.code(), "signer attestation refused; not using this signer");
                        format!("signer attestation refused: {e}")
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
        *slot = None;
        let client = Arc::new(self.connect().await.map_err(CallError::Unavailable)?);
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
            Err(e) => Err(CallError::Unavailable(format!("signer: {e}"))),
        }
    }

    /// Whether a connection can be had now (for `/ready`).
    pub async fn ready(&self) -> Result<(), String> {
        match self.client().await {
            Ok(_) => Ok(()),
            Err(CallError::Unavailable(m) | CallError::Refused(_, m)) => Err(m),
        }
    }
}

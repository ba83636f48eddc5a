//! The running fake: its shared state, start-up, and the two listeners
//! (the KMS API over TLS, the control API over plain HTTP).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use signet_attestation::{PcrPolicy, TrustAnchor, Verifier};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::cms::ContentForm;
use crate::faults::{CallFault, FaultState, Tamper};
use crate::sigv4::Credential;
use crate::store::{EncryptionContext, KeySpec, KeyStore, StoreError};
use crate::tls::{self, TlsError};

/// How old an attestation document may be (KMS: five minutes).
pub const MAX_DOCUMENT_AGE: Duration = Duration::from_secs(5 * 60);
/// Calls kept for `GET /calls` (the oldest are dropped beyond this).
pub const MAX_CALL_LOG: usize = 10_000;
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything the fake is started with.
#[derive(Debug)]
pub struct Config {
    /// Where the CA, the server certificate and the key material live.
    pub dir: PathBuf,
    /// The region (`us-east-1`): key ARNs, credential scope, host name.
    pub region: String,
    /// The 12-digit account id of the keys.
    pub account: String,
    /// The keys and their policies.
    pub keys: Vec<KeySpec>,
    /// `(alias name, key id)` pairs.
    pub aliases: Vec<(String, String)>,
    /// Who may call.
    pub credentials: Vec<Credential>,
    /// The root attestation documents must chain to.
    pub attestation_root: TrustAnchor,
    /// The KMS API address.
    pub listen: SocketAddr,
    /// The control API address.
    pub control: SocketAddr,
    /// How `CiphertextForRecipient` content is encoded.
    pub cms_content: ContentForm,
}

/// Why the fake could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The TLS identity.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The key store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Creating the directory or binding a listener.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

/// One KMS API call, as `GET /calls` reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CallRecord {
    /// The `x-amzn-RequestId` answered.
    pub request_id: String,
    /// The operation (`X-Amz-Target` without `TrentService.`).
    pub operation: String,
    /// The key's ARN once resolved, else the `KeyId` sent, if any.
    pub key_id: Option<String>,
    /// Whether the request carried `Recipient`.
    pub recipient: bool,
    /// The HTTP status answered (0: the connection was closed instead).
    pub status: u16,
    /// The `__type` of the error answered, if any.
    pub error: Option<String>,
    /// The authenticated caller, if authentication got that far.
    pub principal: Option<String>,
    /// The encryption context sent.
    pub encryption_context: EncryptionContext,
    /// The fault or tampering applied, if any.
    pub fault: Option<&'static str>,
}

/// The shared state of a running fake.
#[derive(Debug)]
pub struct Fake {
    /// The region.
    pub region: String,
    /// The account id.
    pub account: String,
    pub(crate) store: Mutex<KeyStore>,
    pub(crate) credentials: Vec<Credential>,
    pub(crate) verifier: Verifier,
    pub(crate) cms_content: ContentForm,
    faults: Mutex<FaultState>,
    calls: Mutex<VecDeque<CallRecord>>,
}

/// Locks a mutex, also when a panicking thread poisoned it (the data are
/// counters and logs, always consistent between statements).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Fake {
    /// Builds the state: opens the key store in `config.dir` and the
    /// attestation verifier (any measurement, documents at most five
    /// minutes old, debug-mode documents accepted as KMS does — PCRs are
    /// the key policy's business).
    pub fn new(config: Config) -> Result<Self, StartError> {
        let store = KeyStore::open(
            &config.dir,
            &config.region,
            &config.account,
            config.keys,
            config.aliases,
        )?;
        let verifier = Verifier::new(
            config.attestation_root,
            PcrPolicy::accept_any_measurement_insecure(),
        )
        .allow_debug(true)
        .max_age(MAX_DOCUMENT_AGE);
        Ok(Self {
            region: config.region,
            account: config.account,
            store: Mutex::new(store),
            credentials: config.credentials,
            verifier,
            cms_content: config.cms_content,
            faults: Mutex::new(FaultState::default()),
            calls: Mutex::new(VecDeque::new()),
        })
    }

    /// The fault state.
    pub(crate) fn faults(&self) -> MutexGuard<'_, FaultState> {
        lock(&self.faults)
    }

    pub(crate) fn take_call_fault(&self) -> Option<CallFault> {
        self.faults().take_call_fault()
    }

    pub(crate) fn take_tamper(&self) -> Option<Tamper> {
        self.faults().take_tamper()
    }

    pub(crate) fn record(&self, call: CallRecord) {
        let mut calls = lock(&self.calls);
        if calls.len() >= MAX_CALL_LOG {
            calls.pop_front();
        }
        calls.push_back(call);
    }

    pub(crate) fn calls(&self) -> Vec<CallRecord> {
        lock(&self.calls).iter().cloned().collect()
    }

    pub(crate) fn clear_calls(&self) {
        lock(&self.calls).clear();
    }
}

/// A started fake. Dropping it stops the listeners.
#[derive(Debug)]
pub struct Running {
    /// The KMS API (TLS) address.
    pub https: SocketAddr,
    /// The control API address.
    pub control: SocketAddr,
    /// The state, for embedding tests.
    pub fake: Arc<Fake>,
    tasks: Vec<JoinHandle<()>>,
}

impl signet_fake_support::Ready for Running {
    fn addresses(&self) -> Vec<(&'static str, SocketAddr)> {
        vec![("https", self.https), ("control", self.control)]
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Creates the directory (0700), the TLS identity and the key store, binds
/// both listeners and starts serving.
pub async fn start(config: Config) -> Result<Running, StartError> {
    create_private_dir(&config.dir)?;
    let identity = tls::load_or_create(&config.dir, &config.region)?;
    let bind = |addr: SocketAddr, what: &'static str| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Io {
                what: format!("binding the {what} listener on {addr}"),
                source,
            })
    };
    let https_listener = bind(config.listen, "KMS API").await?;
    let control_listener = bind(config.control, "control").await?;
    let local = |l: &TcpListener| {
        l.local_addr().map_err(|source| StartError::Io {
            what: "reading a listener's address".into(),
            source,
        })
    };
    let (https, control) = (local(&https_listener)?, local(&control_listener)?);
    let fake = Arc::new(Fake::new(config)?);
    let acceptor = TlsAcceptor::from(identity.config);
    let tasks = vec![
        tokio::spawn(serve_kms(https_listener, acceptor, Arc::clone(&fake))),
        tokio::spawn(serve_control(control_listener, Arc::clone(&fake))),
    ];
    Ok(Running {
        https,
        control,
        fake,
        tasks,
    })
}

fn create_private_dir(dir: &std::path::Path) -> Result<(), StartError> {
    use std::os::unix::fs::DirBuilderExt as _;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| StartError::Io {
            what: format!("creating {}", dir.display()),
            source,
        })
}

async fn serve_kms(listener: TcpListener, acceptor: TlsAcceptor, fake: Arc<Fake>) {
    loop {
        let (tcp, peer) = signet_fake_support::accept(&listener).await;
        let (acceptor, fake) = (acceptor.clone(), Arc::clone(&fake));
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
            {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let service = service_fn(move |req| crate::api::handle(Arc::clone(&fake), req));
            if let Err(e) = signet_fake_support::http1_builder()
                .serve_connection(TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "KMS connection ended");
            }
        });
    }
}

async fn serve_control(listener: TcpListener, fake: Arc<Fake>) {
    signet_fake_support::serve_plain(listener, "control", move |req| {
        let fake = Arc::clone(&fake);
        async move { crate::control::handle(&fake, req).await }
    })
    .await;
}

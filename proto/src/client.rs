//! An async client for the signer: connects (unix or vsock), performs the
//! hello, then pipelines requests over one connection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand_core::RngCore as _;
use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::addr::SignerAddr;
use crate::error::ErrorCode;
use crate::frame::{self, FrameError, FrameReader};
use crate::hello;
use crate::message::{
    Envelope, HelloInfo, ProvisionSecrets, Request, Response, HELLO_NONCE_LEN, PROTOCOL_VERSION,
};
use crate::secret::SharedSecret;

/// A byte stream to or from a signer.
pub trait SignerStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> SignerStream for T {}

/// Opens a raw stream to `addr`.
pub async fn connect_stream(addr: &SignerAddr) -> std::io::Result<Box<dyn SignerStream>> {
    match addr {
        SignerAddr::Unix(path) => Ok(Box::new(tokio::net::UnixStream::connect(path).await?)),
        SignerAddr::Vsock { cid, port } => Ok(Box::new(
            tokio_vsock::VsockStream::connect(tokio_vsock::VsockAddr::new(*cid, *port)).await?,
        )),
    }
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The signer could not be reached or the connection broke.
    #[error("signer connection: {0}")]
    Io(#[from] std::io::Error),
    /// The connection is closed (the signer went away); reconnect.
    #[error("signer connection closed")]
    Closed,
    /// No answer within the timeout.
    #[error("signer did not answer within {0:?}")]
    Timeout(Duration),
    /// The signer sent something that is not the protocol.
    #[error("signer protocol: {0}")]
    Protocol(String),
    /// The signer could not prove it knows `INTERNAL_API_KEY`.
    #[error(
        "the signer's hello proof is wrong (INTERNAL_API_KEY differs, or not a Signet signer)"
    )]
    SignerNotAuthenticated,
    /// The signer asked for its secrets and we did not give them: no
    /// provisioner, or its attestation document failed the check.
    #[error("signer provisioning: {0}")]
    Provisioning(String),
    /// The signer refused the request.
    #[error("signer refused: {code}: {message}")]
    Signer {
        /// The code.
        code: ErrorCode,
        /// The signer's message.
        message: String,
        /// The rule or reason of a policy or approval refusal.
        detail: Option<String>,
    },
}

impl From<FrameError> for ClientError {
    fn from(e: FrameError) -> Self {
        match e {
            FrameError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Self::Closed,
            FrameError::Io(e) => Self::Io(e),
            other => Self::Protocol(other.to_string()),
        }
    }
}

impl ClientError {
    /// The signer's code, when it refused.
    #[must_use]
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Signer { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// What a host does when a signer started with `--secrets host` asks for
/// its runtime secrets: check the signer's attestation first, then hand them.
pub trait Provisioner: Send + Sync {
    /// Checks the signer's attestation document, which must carry `nonce`;
    /// `Err` (with the reason) means no secret is sent.
    fn check(&self, document: Option<&[u8]>, nonce: &[u8]) -> Result<(), String>;
    /// The secrets to send.
    fn secrets(&self) -> ProvisionSecrets;
}

/// What the hello established.
#[derive(Clone, Debug)]
pub struct Hello {
    /// What the signer said about itself, including its attestation document.
    pub info: HelloInfo,
    /// The nonce this client sent; the attestation document must carry it.
    pub client_nonce: Vec<u8>,
}

type Pending = Arc<Mutex<Option<HashMap<u64, oneshot::Sender<Response>>>>>;

/// One authenticated, pipelining connection to a signer.
pub struct SignerClient {
    writer: tokio::sync::Mutex<WriteHalf<Box<dyn SignerStream>>>,
    pending: Pending,
    next_id: AtomicU64,
    reader: JoinHandle<()>,
    timeout: Duration,
}

impl SignerClient {
    /// Connects and performs the hello. Fails with
    /// [`ClientError::SignerNotAuthenticated`] if the signer cannot prove it
    /// knows `key`, and with the signer's `unauthenticated` refusal if we cannot.
    pub async fn connect(
        addr: &SignerAddr,
        key: &SharedSecret,
        timeout: Duration,
    ) -> Result<(Self, Hello), ClientError> {
        Self::connect_provisioning(addr, key, timeout, None).await
    }

    /// [`SignerClient::connect`], provisioning a signer that asks for its
    /// secrets with `provisioner` (after its attestation passes the check).
    pub async fn connect_provisioning(
        addr: &SignerAddr,
        key: &SharedSecret,
        timeout: Duration,
        provisioner: Option<&dyn Provisioner>,
    ) -> Result<(Self, Hello), ClientError> {
        let stream = tokio::time::timeout(timeout, connect_stream(addr))
            .await
            .map_err(|_| ClientError::Timeout(timeout))??;
        tokio::time::timeout(timeout, Self::handshake(stream, key, timeout, provisioner))
            .await
            .map_err(|_| ClientError::Timeout(timeout))?
    }

    /// Pre-hello provisioning: attest with a fresh nonce, check, send the
    /// secrets.
    async fn provision(
        read: &mut FrameReader<ReadHalf<Box<dyn SignerStream>>>,
        write: &mut WriteHalf<Box<dyn SignerStream>>,
        buf: &mut Vec<u8>,
        provisioner: Option<&dyn Provisioner>,
    ) -> Result<(), ClientError> {
        let provisioner = provisioner.ok_or_else(|| {
            ClientError::Provisioning(
                "the signer waits for its secrets (--secrets host) and this client has none to give"
                    .into(),
            )
        })?;
        let mut nonce = vec![0u8; HELLO_NONCE_LEN];
        rand_core::OsRng.fill_bytes(&mut nonce);
        let attest = Request::Attest {
            nonce: Some(nonce.clone()),
            key_id: None,
        };
        frame::write_frame(
            write,
            &frame::encode(&Envelope {
                id: 1,
                body: attest,
            })?,
        )
        .await?;
        let document = match read_response(read, buf).await?.body {
            Response::Attestation { document } => document,
            other => return Err(unexpected(other)),
        };
        provisioner
            .check(document.as_deref(), &nonce)
            .map_err(ClientError::Provisioning)?;
        let body = Request::Provision(provisioner.secrets());
        frame::write_frame(write, &frame::encode(&Envelope { id: 2, body })?).await?;
        match read_response(read, buf).await?.body {
            Response::Provisioned => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    async fn handshake(
        stream: Box<dyn SignerStream>,
        key: &SharedSecret,
        timeout: Duration,
        provisioner: Option<&dyn Provisioner>,
    ) -> Result<(Self, Hello), ClientError> {
        let (read, mut write) = tokio::io::split(stream);
        // One reader from the challenge on: whatever it buffered during the
        // hello stays with it for the connection's read loop.
        let mut read = FrameReader::new(read);
        let mut buf = Vec::new();
        let challenge = match read_response(&mut read, &mut buf).await?.body {
            Response::Challenge {
                version,
                challenge,
                provisioning,
            } if version == PROTOCOL_VERSION => {
                if provisioning {
                    Self::provision(&mut read, &mut write, &mut buf, provisioner).await?;
                }
                challenge
            }
            Response::Challenge { version, .. } => {
                return Err(ClientError::Protocol(format!(
                    "signer speaks version {version}, we speak {PROTOCOL_VERSION}"
                )))
            }
            other => return Err(unexpected(other)),
        };
        let mut client_nonce = vec![0u8; HELLO_NONCE_LEN];
        rand_core::OsRng.fill_bytes(&mut client_nonce);
        let hello = Request::Hello {
            version: PROTOCOL_VERSION,
            client_nonce: client_nonce.clone(),
            proof: hello::host_proof(key, &challenge, &client_nonce),
        };
        frame::write_frame(
            &mut write,
            &frame::encode(&Envelope { id: 1, body: hello })?,
        )
        .await?;
        let info = match read_response(&mut read, &mut buf).await?.body {
            Response::Hello(info) => info,
            other => return Err(unexpected(other)),
        };
        if !hello::verify_signer_proof(key, &challenge, &client_nonce, &info.proof) {
            return Err(ClientError::SignerNotAuthenticated);
        }
        let pending: Pending = Arc::new(Mutex::new(Some(HashMap::new())));
        let reader = tokio::spawn(read_loop(read, Arc::clone(&pending)));
        let client = Self {
            writer: tokio::sync::Mutex::new(write),
            pending,
            next_id: AtomicU64::new(4),
            reader,
            timeout,
        };
        Ok((client, Hello { info, client_nonce }))
    }

    /// Sends a request and waits for its response; a signer refusal becomes
    /// [`ClientError::Signer`].
    pub async fn call(&self, body: Request) -> Result<Response, ClientError> {
        self.call_within(body, self.timeout).await
    }

    /// [`SignerClient::call`] with another timeout (an `Unseal` waits on
    /// KMS, with the signer's retries).
    pub async fn call_within(
        &self,
        body: Request,
        timeout: Duration,
    ) -> Result<Response, ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let bytes = frame::encode(&Envelope { id, body })?;
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.pending.lock().map_err(|_| ClientError::Closed)?;
            let map = pending.as_mut().ok_or(ClientError::Closed)?;
            map.insert(id, tx);
        }
        let sent = {
            let mut writer = self.writer.lock().await;
            frame::write_frame(&mut *writer, &bytes).await
        };
        if let Err(e) = sent {
            self.forget(id);
            return Err(e.into());
        }
        match tokio::time::timeout(timeout, rx).await {
            Err(_) => {
                self.forget(id);
                Err(ClientError::Timeout(timeout))
            }
            Ok(Err(_)) => Err(ClientError::Closed),
            Ok(Ok(refusal @ Response::Error { .. })) => Err(unexpected(refusal)),
            Ok(Ok(response)) => Ok(response),
        }
    }

    /// Whether the connection has ended (a new one is needed).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.reader.is_finished()
    }

    fn forget(&self, id: u64) {
        if let Ok(mut pending) = self.pending.lock() {
            if let Some(map) = pending.as_mut() {
                map.remove(&id);
            }
        }
    }
}

impl Drop for SignerClient {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

async fn read_loop(mut read: FrameReader<ReadHalf<Box<dyn SignerStream>>>, pending: Pending) {
    let mut buf = Vec::new();
    loop {
        match read_response(&mut read, &mut buf).await {
            Ok(Envelope { id, body }) => {
                let waiter = pending
                    .lock()
                    .ok()
                    .and_then(|mut p| p.as_mut().and_then(|m| m.remove(&id)));
                match waiter {
                    Some(tx) => {
                        let _ = tx.send(body);
                    }
                    // id 0 carries connection-level refusals (e.g. a frame
                    // the signer could not parse) before it closes.
                    None => tracing::debug!(id, "signer response without a waiter"),
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "signer connection ended");
                break;
            }
        }
    }
    // Dropping the senders wakes every waiter with `Closed`.
    if let Ok(mut p) = pending.lock() {
        p.take();
    }
}

async fn read_response<R: AsyncRead + Unpin>(
    reader: &mut FrameReader<R>,
    buf: &mut Vec<u8>,
) -> Result<Envelope<Response>, ClientError> {
    if !reader.read_frame(buf).await? {
        return Err(ClientError::Closed);
    }
    Ok(frame::decode(buf)?)
}

/// A response other than the one expected: the signer's refusal as
/// [`ClientError::Signer`], anything else a protocol error.
fn unexpected(response: Response) -> ClientError {
    match response {
        Response::Error {
            code,
            message,
            detail,
        } => ClientError::Signer {
            code,
            message,
            detail,
        },
        other => ClientError::Protocol(format!(
            "unexpected response {:?}",
            std::mem::discriminant(&other)
        )),
    }
}

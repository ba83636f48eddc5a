//! The connection loop: challenge, hello, then pipelined requests, each
//! answered on its own task; a bad frame closes only its own connection.

use std::sync::Arc;
use std::time::Duration;

use rand_core::RngCore as _;
use signet_proto::client::SignerStream;
use signet_proto::frame::{self, FrameError, FrameReader};
use signet_proto::message::{Envelope, PROTOCOL_VERSION};
use signet_proto::{ErrorCode, Request, Response};
use tokio::io::{AsyncWriteExt as _, BufWriter};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

use crate::service::Signer;
use crate::transport::Listener;

/// Limits of the server.
#[derive(Clone, Debug)]
pub struct ServerLimits {
    /// Connections served at once; further ones wait in the accept queue.
    pub max_connections: usize,
    /// Requests in flight per connection (pipelining depth).
    pub max_in_flight: usize,
    /// Time allowed for the hello.
    pub hello_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_connections: 64,
            max_in_flight: 256,
            hello_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves `listener` until `shutdown` resolves, then waits (up to 5 s) for
/// open connections to finish their requests.
pub async fn serve<L: Listener>(
    listener: L,
    signer: Arc<Signer>,
    limits: ServerLimits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    tracing::info!(listen = %listener.describe(), "signer listening");
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let signer = Arc::clone(&signer);
        let limits = limits.clone();
        connections.spawn(async move {
            serve_connection(stream, signer, &limits).await;
            drop(permit);
        });
        while connections.try_join_next().is_some() {}
    }
    tracing::info!("shutting down: no new connections");
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
}

/// The sending half of a connection: encoded frames go to its writer task.
#[derive(Clone)]
struct Outbox(mpsc::Sender<Vec<u8>>);

impl Outbox {
    async fn send(&self, id: u64, body: Response) {
        if let Ok(bytes) = frame::encode(&Envelope { id, body }) {
            let _ = self.0.send(bytes).await;
        }
    }
}

/// One connection: the handshake, then (if it authenticated) its requests,
/// answered concurrently up to `max_in_flight`, in whatever order they end.
async fn serve_connection(
    stream: Box<dyn SignerStream>,
    signer: Arc<Signer>,
    limits: &ServerLimits,
) {
    let (read, write) = tokio::io::split(stream);
    let mut read = FrameReader::new(read);
    let (tx, rx) = mpsc::channel::<Vec<u8>>(limits.max_in_flight);
    let writer = tokio::spawn(write_loop(write, rx));
    let outbox = Outbox(tx);
    let mut buf = Vec::new();
    if handshake(&mut read, &mut buf, &signer, limits, &outbox).await {
        serve_requests(&mut read, &mut buf, &signer, limits, &outbox).await;
    }
    drop(outbox);
    let _ = writer.await;
}

/// The challenge, then (for a signer waiting for its secrets) up to four
/// pre-hello requests (`Attest`, `Provision`), then the hello, all within
/// the hello timeout. Whether the peer authenticated.
async fn handshake<R: tokio::io::AsyncRead + Unpin>(
    read: &mut FrameReader<R>,
    buf: &mut Vec<u8>,
    signer: &Signer,
    limits: &ServerLimits,
    outbox: &Outbox,
) -> bool {
    let mut challenge = vec![0u8; 32];
    rand_core::OsRng.fill_bytes(&mut challenge);
    let provisioning = signer.needs_provisioning();
    outbox
        .send(
            0,
            Response::Challenge {
                version: PROTOCOL_VERSION,
                challenge: challenge.clone(),
                provisioning,
            },
        )
        .await;
    let deadline = tokio::time::Instant::now() + limits.hello_timeout;
    let mut pre_hello = 0;
    loop {
        let frame = tokio::time::timeout_at(deadline, read.read_frame(buf)).await;
        let request = match frame {
            Ok(Ok(true)) => frame::decode::<Request>(buf).map_err(|e| e.to_string()),
            Ok(Ok(false)) => Err("closed before hello".to_owned()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("hello timed out".to_owned()),
        };
        let Envelope { id, body } = match request {
            Ok(envelope) => envelope,
            Err(reason) => {
                tracing::warn!(%reason, "hello failed");
                outbox
                    .send(
                        0,
                        Response::error(ErrorCode::Unauthenticated, "a valid hello is required"),
                    )
                    .await;
                return false;
            }
        };
        if provisioning && !matches!(body, Request::Hello { .. }) && pre_hello < 4 {
            pre_hello += 1;
            // The frame held the secrets: wipe it, and the read buffer.
            zeroize::Zeroize::zeroize(buf);
            read.wipe();
            match signer.pre_hello(body) {
                Ok(response) => {
                    outbox.send(id, response).await;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(code = %e.code, reason = %e.message, "pre-hello request refused");
                    outbox.send(id, e.into_response()).await;
                    return false;
                }
            }
        }
        return match signer.hello(&challenge, body) {
            Ok(response) => {
                outbox.send(id, response).await;
                true
            }
            Err(e) => {
                tracing::warn!(code = %e.code, "hello refused");
                outbox.send(id, e.into_response()).await;
                false
            }
        };
    }
}

/// The requests of an authenticated connection until it closes, breaks the
/// framing or sends an oversized frame.
async fn serve_requests<R: tokio::io::AsyncRead + Unpin>(
    read: &mut FrameReader<R>,
    buf: &mut Vec<u8>,
    signer: &Arc<Signer>,
    limits: &ServerLimits,
    outbox: &Outbox,
) {
    let in_flight = Arc::new(Semaphore::new(limits.max_in_flight));
    let mut tasks = JoinSet::new();
    loop {
        match read.read_frame(buf).await {
            Ok(true) => {}
            Ok(false) => break,
            Err(FrameError::TooLarge(len)) => {
                tracing::warn!(len, "oversized frame; closing connection");
                outbox
                    .send(
                        0,
                        Response::error(
                            ErrorCode::FrameTooLarge,
                            format!("frame of {len} bytes exceeds the limit"),
                        ),
                    )
                    .await;
                break;
            }
            Err(e) => {
                tracing::debug!(error = %e, "connection read ended");
                break;
            }
        }
        let Envelope { id, body } = match frame::decode::<Request>(buf) {
            Ok(env) => {
                if matches!(env.body, Request::Unseal(_) | Request::Provision(_)) {
                    // The frame held AWS credentials or (a provisioning
                    // sent after the hello, refused) secrets: wipe it, and
                    // the read buffer.
                    zeroize::Zeroize::zeroize(buf);
                    read.wipe();
                }
                env
            }
            Err(e) => {
                // Whatever it held, it is not kept.
                zeroize::Zeroize::zeroize(buf);
                read.wipe();
                tracing::warn!(error = %e, "malformed frame; closing connection");
                outbox
                    .send(0, Response::error(ErrorCode::BadRequest, e.to_string()))
                    .await;
                break;
            }
        };
        let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else {
            break;
        };
        let signer = Arc::clone(signer);
        let outbox = outbox.clone();
        tasks.spawn(async move {
            let response = signer.serve(body).await;
            outbox.send(id, response).await;
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

async fn write_loop<W: tokio::io::AsyncWrite + Unpin>(write: W, mut rx: mpsc::Receiver<Vec<u8>>) {
    let mut out = BufWriter::new(write);
    while let Some(bytes) = rx.recv().await {
        if out.write_all(&bytes).await.is_err() {
            return;
        }
        // Batch whatever is already queued into one flush.
        while let Ok(more) = rx.try_recv() {
            if out.write_all(&more).await.is_err() {
                return;
            }
        }
        if out.flush().await.is_err() {
            return;
        }
    }
    let _ = out.shutdown().await;
}

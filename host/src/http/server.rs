//! Serving the router over plain HTTP (loopback, behind a TLS terminator) or
//! HTTPS with rustls, with graceful shutdown.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rustls::server::ResolvesServerCert;
use rustls::sign::CertifiedKey;
use tokio::net::TcpListener;

use crate::service::Service;

/// Why the TLS certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file cannot be read.
    #[error("{path}: {detail}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        detail: String,
    },
    /// A file does not hold what it should, or the pair does not match.
    #[error("{variable} {detail}")]
    Invalid {
        /// `SIGNET_TLS_CERT`, `SIGNET_TLS_KEY` or both.
        variable: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// rustls refused the configuration.
    #[error("TLS: {0}")]
    Config(#[from] rustls::Error),
}

fn invalid(variable: &'static str, path: &Path, detail: impl std::fmt::Display) -> TlsError {
    TlsError::Invalid {
        variable,
        detail: format!("{}: {detail}", path.display()),
    }
}

/// The server's certificate and key, read from their PEM files at start and
/// again on SIGHUP. Connections made before a reload keep the certificate
/// they were made with; new handshakes get the new one.
#[derive(Debug)]
pub struct CertificateFiles {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

/// When the leaf certificate of `key` expires (Unix seconds), if readable.
fn not_after(key: &CertifiedKey) -> Option<i64> {
    use der::Decode as _;
    let leaf = key.cert.first()?;
    let cert = x509_cert::Certificate::from_der(leaf.as_ref()).ok()?;
    i64::try_from(
        cert.tbs_certificate
            .validity
            .not_after
            .to_unix_duration()
            .as_secs(),
    )
    .ok()
}

impl CertificateFiles {
    fn read(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| TlsError::Read {
                path: p.display().to_string(),
                detail: e.to_string(),
            })
        };
        let certs = rustls_pemfile::certs(&mut read(cert)?.as_slice())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid("SIGNET_TLS_CERT", cert, e))?;
        if certs.is_empty() {
            return Err(invalid("SIGNET_TLS_CERT", cert, "no certificate found"));
        }
        let key_der = rustls_pemfile::private_key(&mut read(key)?.as_slice())
            .map_err(|e| invalid("SIGNET_TLS_KEY", key, e))?
            .ok_or_else(|| invalid("SIGNET_TLS_KEY", key, "no private key found"))?;
        let signing_key = rustls::crypto::ring::default_provider()
            .key_provider
            .load_private_key(key_der)
            .map_err(|e| invalid("SIGNET_TLS_KEY", key, e))?;
        let certified = CertifiedKey::new(certs, signing_key);
        certified.keys_match().map_err(|e| TlsError::Invalid {
            variable: "SIGNET_TLS_CERT/KEY:",
            detail: e.to_string(),
        })?;
        Ok(certified)
    }

    /// When the certificate served now expires (Unix seconds).
    #[must_use]
    pub fn not_after(&self) -> Option<i64> {
        self.current.read().ok().and_then(|c| not_after(&c))
    }

    /// Reads the files again; on any problem the current pair stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = Arc::new(Self::read(&self.cert, &self.key)?);
        if let Ok(mut current) = self.current.write() {
            *current = fresh;
        }
        Ok(())
    }
}

impl ResolvesServerCert for CertificateFiles {
    fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| Arc::clone(&c))
    }
}

/// A rustls server config from PEM files, and the handle that reloads them.
pub fn tls_config(
    cert: &Path,
    key: &Path,
) -> Result<(rustls::ServerConfig, Arc<CertificateFiles>), TlsError> {
    let files = Arc::new(CertificateFiles {
        current: RwLock::new(Arc::new(CertificateFiles::read(cert, key)?)),
        cert: cert.to_owned(),
        key: key.to_owned(),
    });
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_cert_resolver(Arc::clone(&files) as Arc<dyn ResolvesServerCert>);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((config, files))
}

/// Reloads the certificate on every SIGHUP, for as long as the task runs.
fn reload_on_sighup(
    files: Arc<CertificateFiles>,
    metrics: crate::metrics::Metrics,
) -> tokio::task::JoinHandle<()> {
    metrics.tls_expiry.set(files.not_after().unwrap_or(0));
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("cannot listen for SIGHUP; the TLS certificate will not reload");
            return;
        };
        while hup.recv().await.is_some() {
            match files.reload() {
                Ok(()) => {
                    metrics.tls_expiry.set(files.not_after().unwrap_or(0));
                    tracing::info!("SIGHUP: TLS certificate and key reloaded");
                }
                Err(e) => {
                    tracing::error!(error = %e, "SIGHUP: TLS reload failed; the previous certificate stays")
                }
            }
        }
    })
}

/// Serves `router` on `listener` until `shutdown`; then marks the state as
/// draining (so `/ready` fails), stops accepting, and lets open requests
/// finish for up to 10 s.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    service: Arc<Service>,
    tls: Option<(rustls::ServerConfig, Arc<CertificateFiles>)>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    // On the signal, `/ready` turns 503 at once; requests are still accepted
    // for the drain grace (a load balancer's deregistration delay), then no
    // new connection is, and open ones finish what they are doing.
    let grace = service.config().drain_grace;
    let draining = Arc::clone(&service);
    let shutdown = async move {
        shutdown.await;
        draining.start_draining();
        tracing::info!(
            grace_seconds = grace.as_secs(),
            "draining: /ready answers 503"
        );
        tokio::time::sleep(grace).await;
    };
    let reloader = tls
        .as_ref()
        .map(|(_, files)| reload_on_sighup(Arc::clone(files), service.metrics().clone()));
    let acceptor = tls.map(|(c, _)| tokio_rustls::TlsAcceptor::from(Arc::new(c)));
    // A slow client (half a request line, an idle keep-alive connection)
    // holds a connection for at most the header timeout, and at most
    // `max_connections` are served at once.
    let header_timeout = service.config().header_timeout;
    let slots = Arc::new(tokio::sync::Semaphore::new(
        service.config().max_connections,
    ));
    let mut connections = tokio::task::JoinSet::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer): (tokio::net::TcpStream, SocketAddr) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        // The peer's address, for the per-peer authentication limit.
        let service = TowerToHyperService::new(tower::ServiceExt::map_request(
            router.clone(),
            move |mut request: axum::http::Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                request
            },
        ));
        let acceptor = acceptor.clone();
        let mut stop = stop_rx.clone();
        connections.spawn(async move {
            let _permit = permit;
            // HTTP/1.1 only (the ALPN we offer): the header timer runs from
            // the first moment of the connection, even before any byte.
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let io: Box<dyn Io> = match acceptor {
                Some(acceptor) => {
                    let Ok(Ok(tls)) =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                            .await
                    else {
                        tracing::debug!(%peer, "TLS handshake failed");
                        return;
                    };
                    Box::new(tls)
                }
                None => Box::new(stream),
            };
            let conn = builder.serve_connection(TokioIo::new(io), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stop.changed() => { conn.as_mut().graceful_shutdown(); let _ = conn.await; }
            }
        });
        while connections.try_join_next().is_some() {}
    }
    service.start_draining();
    tracing::info!("no new connections; finishing open requests");
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if let Some(r) = reloader {
        r.abort();
    }
}

/// A connection's byte stream: plain TCP or TLS over it.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

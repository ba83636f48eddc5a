//! Listeners: vsock inside a Nitro enclave, unix sockets for development,
//! tests and HSM-fronting signers. The server is generic over [`Listener`].

use std::path::{Path, PathBuf};

use signet_proto::client::SignerStream;
use signet_proto::SignerAddr;

/// Accepts connections from the host.
pub trait Listener: Send + Sync + 'static {
    /// The next connection.
    fn accept(
        &self,
    ) -> impl std::future::Future<Output = std::io::Result<Box<dyn SignerStream>>> + Send;
    /// Where it listens, for logs.
    fn describe(&self) -> String;
}

/// A unix-socket listener; removes its socket file when dropped.
pub struct UnixSocketListener {
    inner: tokio::net::UnixListener,
    path: PathBuf,
}

impl UnixSocketListener {
    /// Binds `path` (mode 0600). A stale socket file nobody listens on is
    /// replaced; a live one is refused.
    pub async fn bind(path: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if !meta.file_type().is_socket() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    format!("{} exists and is not a socket", path.display()),
                ));
            }
            if tokio::net::UnixStream::connect(path).await.is_ok() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    format!("another process listens on {}", path.display()),
                ));
            }
            std::fs::remove_file(path)?;
        }
        let inner = tokio::net::UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        Ok(Self {
            inner,
            path: path.to_owned(),
        })
    }
}

impl Drop for UnixSocketListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Listener for UnixSocketListener {
    async fn accept(&self) -> std::io::Result<Box<dyn SignerStream>> {
        let (stream, _) = self.inner.accept().await?;
        Ok(Box::new(stream))
    }
    fn describe(&self) -> String {
        format!("unix:{}", self.path.display())
    }
}

/// A vsock listener (Nitro Enclaves).
pub struct VsockSocketListener {
    inner: tokio_vsock::VsockListener,
    port: u32,
}

impl VsockSocketListener {
    /// Binds `cid:port` (`VMADDR_CID_ANY` to accept from the parent instance).
    pub fn bind(cid: u32, port: u32) -> std::io::Result<Self> {
        let inner = tokio_vsock::VsockListener::bind(tokio_vsock::VsockAddr::new(cid, port))?;
        Ok(Self { inner, port })
    }
}

impl Listener for VsockSocketListener {
    async fn accept(&self) -> std::io::Result<Box<dyn SignerStream>> {
        let (stream, _) = self.inner.accept().await?;
        Ok(Box::new(stream))
    }
    fn describe(&self) -> String {
        format!("vsock://{}", self.port)
    }
}

/// Either listener, chosen by `--listen`.
pub enum AnyListener {
    /// `unix:PATH`.
    Unix(UnixSocketListener),
    /// `vsock://[CID:]PORT`.
    Vsock(VsockSocketListener),
}

impl AnyListener {
    /// Binds the listener `addr` names.
    pub async fn bind(addr: &SignerAddr) -> std::io::Result<Self> {
        Ok(match addr {
            SignerAddr::Unix(path) => Self::Unix(UnixSocketListener::bind(path).await?),
            SignerAddr::Vsock { cid, port } => Self::Vsock(VsockSocketListener::bind(*cid, *port)?),
        })
    }
}

impl Listener for AnyListener {
    async fn accept(&self) -> std::io::Result<Box<dyn SignerStream>> {
        match self {
            Self::Unix(l) => l.accept().await,
            Self::Vsock(l) => l.accept().await,
        }
    }
    fn describe(&self) -> String {
        match self {
            Self::Unix(l) => l.describe(),
            Self::Vsock(l) => l.describe(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unix_listener_replaces_stale_sockets_and_refuses_live_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let first = UnixSocketListener::bind(&path).await.unwrap();
        assert!(
            UnixSocketListener::bind(&path).await.is_err(),
            "live socket"
        );
        std::mem::forget(first); // leaves a stale file behind, as a crash would
                                 // The forgotten listener's fd still accepts connects, so close it by
                                 // replacing the file: a stale path is one nobody accepts on.
        std::fs::remove_file(&path).unwrap();
        std::os::unix::net::UnixListener::bind(&path)
            .map(drop)
            .unwrap();
        let again = UnixSocketListener::bind(&path).await.unwrap();
        drop(again);
        assert!(!path.exists(), "removed on drop");
        std::fs::write(&path, b"x").unwrap();
        assert!(
            UnixSocketListener::bind(&path).await.is_err(),
            "regular file"
        );
    }

    #[tokio::test]
    async fn vsock_addresses_reach_the_vsock_listener() {
        // Machines without a vsock transport refuse the bind with an I/O error;
        // where it exists, the listener must report the requested port.
        let addr: SignerAddr = "vsock://5005".parse().unwrap();
        match AnyListener::bind(&addr).await {
            Ok(l) => assert_eq!(l.describe(), "vsock://5005"),
            Err(e) => assert!(e.raw_os_error().is_some(), "{e}"),
        }
    }
}

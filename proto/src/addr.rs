//! Signer addresses: `unix:PATH` or `vsock://CID:PORT` (`vsock://PORT` to listen
//! on any CID).

use std::path::PathBuf;
use std::str::FromStr;

/// The vsock CID meaning "any" (listening) — `VMADDR_CID_ANY`.
pub const VSOCK_CID_ANY: u32 = u32::MAX;

/// Where the signer listens or the host connects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignerAddr {
    /// A unix-domain socket (dev, tests, and an HSM-fronting signer on the host).
    Unix(PathBuf),
    /// A vsock address (Nitro Enclaves).
    Vsock {
        /// Context id (the enclave's CID when connecting, any when listening).
        cid: u32,
        /// Port.
        port: u32,
    },
}

impl FromStr for SignerAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(path) = s.strip_prefix("unix:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err("unix: needs a socket path".into());
            }
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        if let Some(rest) = s.strip_prefix("vsock://") {
            let num = |v: &str| {
                v.parse::<u32>()
                    .map_err(|_| format!("`{v}` is not a number in `{s}`"))
            };
            return match rest.split_once(':') {
                Some((cid, port)) => Ok(Self::Vsock {
                    cid: num(cid)?,
                    port: num(port)?,
                }),
                None => Ok(Self::Vsock {
                    cid: VSOCK_CID_ANY,
                    port: num(rest)?,
                }),
            };
        }
        Err(format!("`{s}` is neither unix:PATH nor vsock://[CID:]PORT"))
    }
}

impl std::fmt::Display for SignerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unix(p) => write!(f, "unix:{}", p.display()),
            Self::Vsock { cid, port } if *cid == VSOCK_CID_ANY => write!(f, "vsock://{port}"),
            Self::Vsock { cid, port } => write!(f, "vsock://{cid}:{port}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(
            "unix:/tmp/s.sock".parse(),
            Ok(SignerAddr::Unix("/tmp/s.sock".into()))
        );
        assert_eq!(
            "vsock://16:5000".parse(),
            Ok(SignerAddr::Vsock {
                cid: 16,
                port: 5000
            })
        );
        assert_eq!(
            "vsock://5000".parse(),
            Ok(SignerAddr::Vsock {
                cid: VSOCK_CID_ANY,
                port: 5000
            })
        );
        for bad in [
            "tcp://1.2.3.4:5",
            "unix:",
            "vsock://x:1",
            "vsock://1:99999999999",
        ] {
            assert!(bad.parse::<SignerAddr>().is_err(), "{bad}");
        }
        assert_eq!(
            SignerAddr::Vsock { cid: 3, port: 9 }.to_string(),
            "vsock://3:9"
        );
    }
}

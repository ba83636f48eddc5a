//! What `signet-eif` refuses, as data.

use std::path::PathBuf;

use thiserror::Error;

/// Every failure of `signet-eif`; printed as `signet-eif: …`, exit 1.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EifError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// AWS's image-format crate could not read the EIF.
    #[error("{}: not a readable EIF: {reason}", path.display())]
    NotAnEif {
        /// The file.
        path: PathBuf,
        /// The crate's reason.
        reason: String,
    },
    /// The EIF's CRC does not match its bytes.
    #[error("{}: CRC mismatch (corrupt image)", path.display())]
    Crc {
        /// The file.
        path: PathBuf,
    },
    /// A required PCR is missing or not SHA-384 hex.
    #[error("{}: no SHA-384 PCR{index}", path.display())]
    MissingPcr {
        /// The file.
        path: PathBuf,
        /// The PCR.
        index: u8,
    },
    /// A `signet.pcrs.json` that is not one.
    #[error("{}: not a signet.pcrs.json: {reason}", path.display())]
    NotPcrsJson {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A line of a ramdisk manifest that cannot be used.
    #[error("{}: line {line}: {reason}", path.display())]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Why.
        reason: String,
    },
    /// An input of `build` is not a regular file.
    #[error("{} is not a file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// A `NAME=VALUE` argument without `=` or with an empty name.
    #[error("{0:?} is not NAME=VALUE")]
    NotNameValue(String),
    /// The kernel command line holds a NUL byte.
    #[error("the kernel command line holds a NUL byte")]
    NulInCmdline,
    /// Two PCR files disagree (`compare`).
    #[error("{0}")]
    Differ(String),
}

impl EifError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

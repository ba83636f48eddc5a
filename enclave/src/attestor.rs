//! Attestors: who signs the attestation documents (`--attestation nsm|dev|none`).

use std::collections::BTreeMap;
use std::path::Path;

use signet_attestation::dev::{dev_pcrs, DevDocument, DevIssuer};
use signet_proto::ErrorCode;

use crate::error::SignerError;

/// Produces attestation documents binding a public key, user data and a nonce.
pub trait Attestor: Send + Sync {
    /// `nsm`, `dev` or `none`.
    fn mode(&self) -> &'static str;
    /// A fresh document, or `None` when this attestor makes none.
    fn attest(
        &self,
        public_key: Option<&[u8]>,
        user_data: Option<&[u8]>,
        nonce: Option<&[u8]>,
    ) -> Result<Option<Vec<u8>>, SignerError>;
}

/// No attestation (`--attestation none`): documents are absent, and a host
/// with an attestation policy will refuse this signer.
pub struct NoAttestor;

impl Attestor for NoAttestor {
    fn mode(&self) -> &'static str {
        "none"
    }
    fn attest(
        &self,
        _: Option<&[u8]>,
        _: Option<&[u8]>,
        _: Option<&[u8]>,
    ) -> Result<Option<Vec<u8>>, SignerError> {
        Ok(None)
    }
}

/// Dev attestation: the attestation crate's dev issuer with its CA in
/// `--dev-dir`, PCR0 = SHA-384 of this binary. INSECURE: for development only.
pub struct DevAttestor {
    issuer: DevIssuer,
    pcrs: BTreeMap<u8, Vec<u8>>,
    module_id: String,
}

impl DevAttestor {
    /// Loads or creates the dev CA in `dir`; measures `binary`.
    pub fn new(dir: &Path, binary: &Path) -> Result<Self, String> {
        let issuer = DevIssuer::load_or_create(dir).map_err(|e| e.to_string())?;
        let bytes = std::fs::read(binary)
            .map_err(|e| format!("cannot measure {}: {e}", binary.display()))?;
        let mut id = [0u8; 6];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut id);
        Ok(Self {
            issuer,
            pcrs: dev_pcrs(&bytes),
            module_id: format!("dev-signet-{}", hex::encode(id)),
        })
    }

    /// The PCRs this attestor reports.
    #[must_use]
    pub fn pcrs(&self) -> &BTreeMap<u8, Vec<u8>> {
        &self.pcrs
    }
}

impl Attestor for DevAttestor {
    fn mode(&self) -> &'static str {
        "dev"
    }
    fn attest(
        &self,
        public_key: Option<&[u8]>,
        user_data: Option<&[u8]>,
        nonce: Option<&[u8]>,
    ) -> Result<Option<Vec<u8>>, SignerError> {
        let request = DevDocument {
            module_id: self.module_id.clone(),
            pcrs: self.pcrs.clone(),
            public_key: public_key.map(<[u8]>::to_vec),
            user_data: user_data.map(<[u8]>::to_vec),
            nonce: nonce.map(<[u8]>::to_vec),
        };
        self.issuer
            .issue(&request)
            .map(Some)
            .map_err(|e| SignerError::new(ErrorCode::AttestationUnavailable, e.to_string()))
    }
}

/// Attestation by the Nitro Secure Module (`/dev/nsm`). Only works inside a
/// Nitro enclave; elsewhere [`NsmAttestor::open`] fails and the signer refuses
/// to start with `--attestation nsm`.
pub struct NsmAttestor {
    fd: i32,
}

impl NsmAttestor {
    /// Opens `/dev/nsm`. Refuses, with one message naming the device and
    /// the OS error, where there is none (outside Nitro, or the enclave
    /// image's `nsm` driver found no NSM device).
    pub fn open() -> Result<Self, String> {
        // Checked first so that the refusal says why in one line (the
        // driver crate's own open would log its error separately).
        if let Err(e) = std::fs::metadata("/dev/nsm") {
            return Err(format!("cannot open /dev/nsm ({e}): not inside a Nitro enclave (use --attestation dev for development)"));
        }
        let fd = aws_nitro_enclaves_nsm_api::driver::nsm_init();
        if fd < 0 {
            return Err("cannot open /dev/nsm: not inside a Nitro enclave (use --attestation dev for development)".into());
        }
        Ok(Self { fd })
    }
}

impl Drop for NsmAttestor {
    fn drop(&mut self) {
        aws_nitro_enclaves_nsm_api::driver::nsm_exit(self.fd);
    }
}

impl Attestor for NsmAttestor {
    fn mode(&self) -> &'static str {
        "nsm"
    }
    fn attest(
        &self,
        public_key: Option<&[u8]>,
        user_data: Option<&[u8]>,
        nonce: Option<&[u8]>,
    ) -> Result<Option<Vec<u8>>, SignerError> {
        use aws_nitro_enclaves_nsm_api::api::{Request, Response};
        let buf = |b: Option<&[u8]>| b.map(|b| serde_bytes::ByteBuf::from(b.to_vec()));
        let request = Request::Attestation {
            user_data: buf(user_data),
            nonce: buf(nonce),
            public_key: buf(public_key),
        };
        match aws_nitro_enclaves_nsm_api::driver::nsm_process_request(self.fd, request) {
            Response::Attestation { document } => Ok(Some(document)),
            Response::Error(code) => Err(SignerError::new(
                ErrorCode::AttestationUnavailable,
                format!("NSM refused: {code:?}"),
            )),
            _ => Err(SignerError::new(
                ErrorCode::AttestationUnavailable,
                "unexpected NSM response",
            )),
        }
    }
}

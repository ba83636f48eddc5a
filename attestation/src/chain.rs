//! The certificate path from a document's leaf to a pinned root.

use const_oid::db::rfc5280::{ID_CE_BASIC_CONSTRAINTS, ID_CE_KEY_USAGE};
use const_oid::db::rfc5912::{ECDSA_WITH_SHA_384, ID_EC_PUBLIC_KEY, SECP_384_R_1};
use const_oid::ObjectIdentifier;
use der::{Decode, Encode, Reader, SliceReader};
use p384::ecdsa::signature::Verifier as _;
use p384::ecdsa::{DerSignature, VerifyingKey};
use sha2::{Digest, Sha256};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};
use x509_cert::Certificate;

use crate::error::VerifyError;

/// DER of the AWS Nitro Enclaves Root-G1 certificate, as published by AWS.
const AWS_NITRO_ROOT_G1_DER: &[u8] = include_bytes!("aws_nitro_root_g1.der");

/// SHA-256 of [`AWS_NITRO_ROOT_G1_DER`] as published by AWS; checked whenever
/// the pinned root is built.
pub const AWS_NITRO_ROOT_G1_SHA256: &str =
    "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b";

/// Extensions this verifier understands; any other critical extension makes
/// a certificate unusable (RFC 5280 section 4.2).
const UNDERSTOOD_CRITICAL: [ObjectIdentifier; 2] = [ID_CE_BASIC_CONSTRAINTS, ID_CE_KEY_USAGE];

/// A P-384 certificate with the parts path validation needs.
#[derive(Clone, Debug)]
pub(crate) struct ChainCert {
    which: String,
    tbs: Vec<u8>,
    signature: DerSignature,
    issuer: Vec<u8>,
    subject: Vec<u8>,
    key: VerifyingKey,
    not_before_ms: u64,
    not_after_ms: u64,
    is_ca: bool,
    path_len: Option<u8>,
    can_sign_certs: bool,
}

impl ChainCert {
    /// Decodes a DER certificate, refusing anything but an ECDSA-SHA384
    /// signature, a P-384 key, or unknown critical extensions.
    pub(crate) fn parse(der: &[u8], which: &str) -> Result<Self, VerifyError> {
        let bad = |problem: String| VerifyError::Certificate {
            which: which.to_owned(),
            problem,
        };
        let cert = Certificate::from_der(der).map_err(|e| bad(format!("not DER X.509: {e}")))?;
        let tbs = raw_tbs(der).map_err(|e| bad(format!("not DER X.509: {e}")))?;
        let tbs_cert = &cert.tbs_certificate;

        if cert.signature_algorithm.oid != ECDSA_WITH_SHA_384
            || tbs_cert.signature.oid != ECDSA_WITH_SHA_384
            || cert.signature_algorithm.parameters.is_some()
        {
            return Err(bad("is not signed with ecdsa-with-SHA384".into()));
        }
        let spki = &tbs_cert.subject_public_key_info;
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        if spki.algorithm.oid != ID_EC_PUBLIC_KEY || curve != Some(SECP_384_R_1) {
            return Err(bad("does not hold a P-384 public key".into()));
        }
        let key = VerifyingKey::from_sec1_bytes(spki.subject_public_key.raw_bytes())
            .map_err(|_| bad("has an invalid P-384 public key".into()))?;
        let signature = cert
            .signature
            .as_bytes()
            .and_then(|b| DerSignature::from_bytes(b).ok())
            .ok_or_else(|| bad("has a malformed ECDSA signature".into()))?;

        let mut is_ca = false;
        let mut path_len = None;
        let mut can_sign_certs = true;
        for ext in tbs_cert.extensions.iter().flatten() {
            if ext.extn_id == ID_CE_BASIC_CONSTRAINTS {
                let bc = BasicConstraints::from_der(ext.extn_value.as_bytes())
                    .map_err(|_| bad("has malformed basic constraints".into()))?;
                is_ca = bc.ca;
                path_len = bc.path_len_constraint;
            } else if ext.extn_id == ID_CE_KEY_USAGE {
                let ku = KeyUsage::from_der(ext.extn_value.as_bytes())
                    .map_err(|_| bad("has malformed key usage".into()))?;
                can_sign_certs = ku.key_cert_sign();
            } else if ext.critical && !UNDERSTOOD_CRITICAL.contains(&ext.extn_id) {
                return Err(bad(format!(
                    "has an unknown critical extension {}",
                    ext.extn_id
                )));
            }
        }

        let validity = &tbs_cert.validity;
        let millis = |t: x509_cert::time::Time| {
            u64::try_from(t.to_unix_duration().as_millis()).unwrap_or(u64::MAX)
        };
        Ok(Self {
            which: which.to_owned(),
            tbs: tbs.to_vec(),
            signature,
            issuer: tbs_cert
                .issuer
                .to_der()
                .map_err(|e| bad(format!("issuer: {e}")))?,
            subject: tbs_cert
                .subject
                .to_der()
                .map_err(|e| bad(format!("subject: {e}")))?,
            key,
            not_before_ms: millis(validity.not_before),
            not_after_ms: millis(validity.not_after),
            is_ca,
            path_len,
            can_sign_certs,
        })
    }

    /// The certificate's public key.
    pub(crate) fn key(&self) -> &VerifyingKey {
        &self.key
    }

    fn check_issued_by(&self, parent: &ChainCert) -> Result<(), VerifyError> {
        if self.issuer != parent.subject {
            return Err(VerifyError::IssuerMismatch {
                child: self.which.clone(),
                parent: parent.which.clone(),
            });
        }
        parent
            .key
            .verify(&self.tbs, &self.signature)
            .map_err(|_| VerifyError::ChainSignature {
                child: self.which.clone(),
                parent: parent.which.clone(),
            })
    }

    fn check_valid_at(&self, at_ms: u64) -> Result<(), VerifyError> {
        if at_ms < self.not_before_ms || at_ms > self.not_after_ms {
            return Err(VerifyError::CertificateNotValidAt {
                which: self.which.clone(),
                at_ms,
                not_before_ms: self.not_before_ms,
                not_after_ms: self.not_after_ms,
            });
        }
        Ok(())
    }

    /// `cas_below` is the number of CA certificates between this one and the
    /// leaf (the leaf itself not counted).
    fn check_may_issue(&self, cas_below: usize) -> Result<(), VerifyError> {
        let refuse = |problem| VerifyError::ChainConstraint {
            which: self.which.clone(),
            problem,
        };
        if !self.is_ca {
            return Err(refuse("is not a CA certificate"));
        }
        if !self.can_sign_certs {
            return Err(refuse("key usage does not allow signing certificates"));
        }
        if self
            .path_len
            .is_some_and(|limit| cas_below > usize::from(limit))
        {
            return Err(refuse("path length constraint exceeded"));
        }
        Ok(())
    }
}

/// The TBSCertificate exactly as encoded in `der` (signatures cover these
/// bytes, never a re-encoding).
fn raw_tbs(der: &[u8]) -> der::Result<&[u8]> {
    let mut reader = SliceReader::new(der)?;
    reader.sequence(|cert| {
        let tbs = cert.tlv_bytes()?;
        // Skip signatureAlgorithm and signatureValue; `sequence` insists the
        // whole certificate is consumed.
        cert.tlv_bytes()?;
        cert.tlv_bytes()?;
        Ok(tbs)
    })
}

/// A root certificate a verifier trusts. The document's own copy of the root
/// (`cabundle[0]`) is never used as an anchor.
#[derive(Clone, Debug)]
pub struct TrustAnchor {
    cert: ChainCert,
    sha256: [u8; 32],
}

impl TrustAnchor {
    /// The AWS Nitro Enclaves Root-G1, embedded in this crate.
    #[must_use]
    pub fn aws_nitro_root_g1() -> Self {
        // The embedded DER is a constant of this crate; a test proves it parses
        // and has the published fingerprint.
        #[allow(clippy::expect_used)]
        let anchor = Self::from_der(AWS_NITRO_ROOT_G1_DER).expect("embedded AWS root parses");
        anchor
    }

    /// A root from DER bytes (for example a dev root that a caller chose to trust).
    pub fn from_der(der: &[u8]) -> Result<Self, VerifyError> {
        let cert = ChainCert::parse(der, "root")?;
        Ok(Self {
            cert,
            sha256: Sha256::digest(der).into(),
        })
    }

    /// A root from a PEM `CERTIFICATE` block.
    pub fn from_pem(pem: &str) -> Result<Self, VerifyError> {
        let (label, der) =
            der::pem::decode_vec(pem.trim().as_bytes()).map_err(|e| VerifyError::Certificate {
                which: "root".into(),
                problem: format!("not a PEM certificate: {e}"),
            })?;
        if label != "CERTIFICATE" {
            return Err(VerifyError::Certificate {
                which: "root".into(),
                problem: format!("PEM block is `{label}`, not `CERTIFICATE`"),
            });
        }
        Self::from_der(&der)
    }

    /// SHA-256 of the root's DER, the fingerprint auditors compare.
    #[must_use]
    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }

    /// Whether this is the pinned AWS Nitro Enclaves Root-G1.
    #[must_use]
    pub fn is_aws_nitro_root_g1(&self) -> bool {
        hex::encode(self.sha256) == AWS_NITRO_ROOT_G1_SHA256
    }

    /// Validates `leaf → cabundle[n-1] → … → cabundle[1] → self` at `at_ms`.
    /// `cabundle[0]` (the document's copy of the
    /// root) is ignored: trust comes from `self` only.
    pub(crate) fn validate_path(
        &self,
        leaf: ChainCert,
        cabundle: &[Vec<u8>],
        at_ms: u64,
    ) -> Result<(), VerifyError> {
        let mut path = vec![leaf];
        for (i, der) in cabundle.iter().enumerate().skip(1).rev() {
            path.push(ChainCert::parse(der, &format!("cabundle[{i}]"))?);
        }
        // Signatures and names, bottom up, ending at the pinned root.
        for (i, child) in path.iter().enumerate() {
            let parent = path.get(i + 1).unwrap_or(&self.cert);
            child.check_issued_by(parent)?;
        }
        // CA constraints for every issuer in the path, the root included.
        for (i, ca) in path.iter().enumerate().skip(1) {
            ca.check_may_issue(i - 1)?;
        }
        self.cert.check_may_issue(path.len() - 1)?;
        for cert in path.iter().chain(std::iter::once(&self.cert)) {
            cert.check_valid_at(at_ms)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_root_has_the_published_fingerprint() {
        let root = TrustAnchor::aws_nitro_root_g1();
        assert_eq!(hex::encode(root.sha256()), AWS_NITRO_ROOT_G1_SHA256);
        assert!(root.is_aws_nitro_root_g1());
    }

    #[test]
    fn pem_root_matches_embedded_der() {
        let pem = include_str!("aws_nitro_root_g1.pem");
        let root = TrustAnchor::from_pem(pem).unwrap();
        assert!(root.is_aws_nitro_root_g1());
    }

    #[test]
    fn pem_with_wrong_label_is_refused() {
        let pem = include_str!("aws_nitro_root_g1.pem").replace("CERTIFICATE", "PUBLIC KEY");
        assert!(matches!(
            TrustAnchor::from_pem(&pem),
            Err(VerifyError::Certificate { .. })
        ));
    }

    #[test]
    fn raw_tbs_is_the_first_element() {
        let tbs = raw_tbs(AWS_NITRO_ROOT_G1_DER).unwrap();
        let cert = Certificate::from_der(AWS_NITRO_ROOT_G1_DER).unwrap();
        assert_eq!(tbs, cert.tbs_certificate.to_der().unwrap());
    }
}

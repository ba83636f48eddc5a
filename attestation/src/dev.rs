//! The dev issuer: a local P-384 CA that issues documents with exactly the
//! Nitro structure (COSE_Sign1 ES384 over the NSM CBOR map, leaf plus CA bundle).
//!
//! **Insecure by design.** Its keys sit in a directory on the host; anyone who
//! can read them can forge documents. No verifier trusts its root unless the
//! root is passed to it explicitly, and its module ids start with `dev-`.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use der::{Decode, Encode};
use p384::ecdsa::signature::Signer as _;
use p384::ecdsa::{DerSignature, Signature, SigningKey};
use p384::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rand_core::{OsRng, RngCore};
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::{Time, Validity};
use x509_cert::Certificate;

use crate::chain::TrustAnchor;
use crate::cose;
use crate::document::AttestationDoc;
use crate::error::VerifyError;
use crate::verify::now_ms;

/// Root certificate file in the dev directory (what verifiers must be told to trust).
pub const ROOT_CERT_FILE: &str = "attestation-root.pem";
const ROOT_KEY_FILE: &str = "attestation-root.key";
const INTERMEDIATE_CERT_FILE: &str = "attestation-intermediate.pem";
const INTERMEDIATE_KEY_FILE: &str = "attestation-intermediate.key";

/// A fresh leaf lives this long; it is replaced when less than
/// [`LEAF_RENEW_BEFORE`] remains (AWS leaves live about three hours).
pub const LEAF_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Renewal margin of the leaf certificate.
pub const LEAF_RENEW_BEFORE: Duration = Duration::from_secs(3600);

/// Why the dev issuer could not be loaded or could not issue.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevIssuerError {
    /// Reading or writing the dev directory failed.
    #[error("dev attestation CA in {dir}: {source}")]
    Io {
        /// The directory.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Some but not all CA files exist; regenerating would silently change the root.
    #[error("dev attestation CA in {0} is incomplete; remove its attestation-* files to create a new CA (verifiers must then trust the new root)")]
    Incomplete(PathBuf),
    /// A key or certificate file does not decode.
    #[error("dev attestation CA file {file}: {problem}")]
    Corrupt {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// Building a certificate failed.
    #[error("building a dev certificate: {0}")]
    Build(String),
    /// A document request is not acceptable.
    #[error("dev document: {0}")]
    Request(&'static str),
}

/// What the dev issuer puts into a document; the timestamp, certificate and
/// CA bundle are its own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DevDocument {
    /// Module id; must start with `dev-`.
    pub module_id: String,
    /// PCRs to report (DESIGN.md: PCR0 = SHA-384 of the signer binary, PCR1/2 of fixed labels).
    pub pcrs: BTreeMap<u8, Vec<u8>>,
    /// Public key to bind.
    pub public_key: Option<Vec<u8>>,
    /// User data to bind.
    pub user_data: Option<Vec<u8>>,
    /// Caller nonce.
    pub nonce: Option<Vec<u8>>,
}

struct Leaf {
    key: SigningKey,
    der: Vec<u8>,
    not_after_ms: u64,
}

/// A dev CA (root and intermediate, persisted or in memory) and the current
/// leaf certificate that signs documents.
pub struct DevIssuer {
    root_der: Vec<u8>,
    intermediate_der: Vec<u8>,
    intermediate_key: SigningKey,
    leaf: Mutex<Leaf>,
}

impl std::fmt::Debug for DevIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevIssuer")
            .field("root_sha256", &hex::encode(self.trust_anchor_sha256()))
            .field("keys", &"[redacted]")
            .finish()
    }
}

impl DevIssuer {
    /// Loads the CA from `dir`, or creates it there (files 0600, directory
    /// 0700) when none of its files exist.
    pub fn load_or_create(dir: &Path) -> Result<Self, DevIssuerError> {
        let io = |source| DevIssuerError::Io {
            dir: dir.to_owned(),
            source,
        };
        let files = [
            ROOT_CERT_FILE,
            ROOT_KEY_FILE,
            INTERMEDIATE_CERT_FILE,
            INTERMEDIATE_KEY_FILE,
        ]
        .map(|f| dir.join(f));
        let present = files.iter().filter(|f| f.exists()).count();
        if present == files.len() {
            let [root_cert, _root_key, int_cert, int_key] = &files;
            return Self::from_parts(
                read_cert(root_cert)?,
                read_cert(int_cert)?,
                read_key(int_key)?,
            );
        }
        if present != 0 {
            return Err(DevIssuerError::Incomplete(dir.to_owned()));
        }
        create_private_dir(dir).map_err(io)?;
        let (root_key, root_der) = new_root()?;
        let (int_key, int_der) = new_intermediate(&root_key, &root_der)?;
        let [root_cert, root_key_file, int_cert, int_key_file] = &files;
        write_private(root_key_file, key_pem(&root_key)?.as_bytes()).map_err(io)?;
        write_private(int_key_file, key_pem(&int_key)?.as_bytes()).map_err(io)?;
        write_private(root_cert, cert_pem(&root_der)?.as_bytes()).map_err(io)?;
        write_private(int_cert, cert_pem(&int_der)?.as_bytes()).map_err(io)?;
        Self::from_parts(root_der, int_der, int_key)
    }

    /// A CA that lives only in memory (tests, benchmarks).
    pub fn ephemeral() -> Result<Self, DevIssuerError> {
        let (root_key, root_der) = new_root()?;
        let (int_key, int_der) = new_intermediate(&root_key, &root_der)?;
        Self::from_parts(root_der, int_der, int_key)
    }

    fn from_parts(
        root_der: Vec<u8>,
        intermediate_der: Vec<u8>,
        intermediate_key: SigningKey,
    ) -> Result<Self, DevIssuerError> {
        let leaf = new_leaf(&intermediate_key, &intermediate_der)?;
        Ok(Self {
            root_der,
            intermediate_der,
            intermediate_key,
            leaf: Mutex::new(leaf),
        })
    }

    /// The dev root as a [`TrustAnchor`], for verifiers that choose to trust it.
    pub fn trust_anchor(&self) -> Result<TrustAnchor, VerifyError> {
        TrustAnchor::from_der(&self.root_der)
    }

    fn trust_anchor_sha256(&self) -> [u8; 32] {
        use sha2::Digest as _;
        sha2::Sha256::digest(&self.root_der).into()
    }

    /// The dev root certificate, PEM.
    pub fn root_pem(&self) -> Result<String, DevIssuerError> {
        cert_pem(&self.root_der)
    }

    /// The dev root certificate, DER.
    #[must_use]
    pub fn root_der(&self) -> &[u8] {
        &self.root_der
    }

    /// The intermediate CA certificate, DER.
    #[must_use]
    pub fn intermediate_der(&self) -> &[u8] {
        &self.intermediate_der
    }

    /// The CA bundle documents carry: `[root, intermediate]`.
    #[must_use]
    pub fn cabundle(&self) -> Vec<Vec<u8>> {
        vec![self.root_der.clone(), self.intermediate_der.clone()]
    }

    /// The current leaf certificate, DER (renewed first if it is near expiry).
    pub fn leaf_der(&self) -> Result<Vec<u8>, DevIssuerError> {
        self.with_leaf(|leaf| leaf.der.clone())
    }

    /// Issues a document: `request` plus the current time, the leaf and the
    /// CA bundle. Refuses module ids that do not start with `dev-`.
    pub fn issue(&self, request: &DevDocument) -> Result<Vec<u8>, DevIssuerError> {
        if !request.module_id.starts_with("dev-") {
            return Err(DevIssuerError::Request("module_id must start with `dev-`"));
        }
        self.with_leaf(|leaf| {
            let doc = AttestationDoc {
                module_id: request.module_id.clone(),
                digest: "SHA384".to_owned(),
                timestamp_ms: now_ms(),
                pcrs: request.pcrs.clone(),
                certificate: leaf.der.clone(),
                cabundle: self.cabundle(),
                public_key: request.public_key.clone(),
                user_data: request.user_data.clone(),
                nonce: request.nonce.clone(),
            };
            sign_cose(&leaf.key, &doc.to_payload())
        })
    }

    /// Signs any payload bytes with the current leaf key, as a COSE_Sign1.
    /// For tests that need documents with chosen (also malformed) contents.
    pub fn sign_payload(&self, payload: &[u8]) -> Result<Vec<u8>, DevIssuerError> {
        self.with_leaf(|leaf| sign_cose(&leaf.key, payload))
    }

    fn with_leaf<T>(&self, f: impl FnOnce(&Leaf) -> T) -> Result<T, DevIssuerError> {
        let mut leaf = self
            .leaf
            .lock()
            .map_err(|_| DevIssuerError::Build("leaf lock poisoned".into()))?;
        let renew_ms = u64::try_from(LEAF_RENEW_BEFORE.as_millis()).unwrap_or(u64::MAX);
        if now_ms().saturating_add(renew_ms) > leaf.not_after_ms {
            *leaf = new_leaf(&self.intermediate_key, &self.intermediate_der)?;
        }
        Ok(f(&leaf))
    }
}

/// Label hashed into PCR1 of dev documents.
pub const DEV_PCR1_LABEL: &[u8] = b"signet-dev/pcr1/kernel";
/// Label hashed into PCR2 of dev documents.
pub const DEV_PCR2_LABEL: &[u8] = b"signet-dev/pcr2/application";

/// The PCRs a dev signer reports (DESIGN.md): PCR0 = SHA-384 of the running
/// signer binary, PCR1/PCR2 = SHA-384 of fixed labels. Never all zero, so a
/// dev document is never mistaken for a debug-mode one. A host computes the
/// same values from the binary it starts, to build its expected policy.
#[must_use]
pub fn dev_pcrs(signer_binary: &[u8]) -> BTreeMap<u8, Vec<u8>> {
    use sha2::{Digest as _, Sha384};
    BTreeMap::from([
        (0, Sha384::digest(signer_binary).to_vec()),
        (1, Sha384::digest(DEV_PCR1_LABEL).to_vec()),
        (2, Sha384::digest(DEV_PCR2_LABEL).to_vec()),
    ])
}

/// Wraps `payload` in an untagged COSE_Sign1 signed ES384 by `key`, exactly as
/// the NSM lays it out (`[h'a1013822', {}, payload, sig]`).
#[must_use]
pub fn sign_cose(key: &SigningKey, payload: &[u8]) -> Vec<u8> {
    let protected = cose::es384_protected_header();
    let signature: Signature = key.sign(&cose::sig_structure(&protected, payload));
    let envelope = ciborium::value::Value::Array(vec![
        ciborium::value::Value::Bytes(protected),
        ciborium::value::Value::Map(Vec::new()),
        ciborium::value::Value::Bytes(payload.to_vec()),
        ciborium::value::Value::Bytes(signature.to_bytes().to_vec()),
    ]);
    let mut out = Vec::new();
    if ciborium::ser::into_writer(&envelope, &mut out).is_err() {
        out.clear();
    }
    out
}

fn new_root() -> Result<(SigningKey, Vec<u8>), DevIssuerError> {
    let key = SigningKey::random(&mut OsRng);
    let name = name("CN=Signet INSECURE dev attestation root,O=Signet dev")?;
    let der = build_cert(
        Profile::Root,
        name,
        &key,
        &key,
        Duration::from_secs(20 * 365 * 24 * 3600),
    )?;
    Ok((key, der))
}

fn new_intermediate(
    root_key: &SigningKey,
    root_der: &[u8],
) -> Result<(SigningKey, Vec<u8>), DevIssuerError> {
    let key = SigningKey::random(&mut OsRng);
    let profile = Profile::SubCA {
        issuer: subject_of(root_der)?,
        path_len_constraint: Some(0),
    };
    let name = name("CN=Signet INSECURE dev attestation intermediate,O=Signet dev")?;
    let der = build_cert(
        profile,
        name,
        &key,
        root_key,
        Duration::from_secs(10 * 365 * 24 * 3600),
    )?;
    Ok((key, der))
}

fn new_leaf(int_key: &SigningKey, int_der: &[u8]) -> Result<Leaf, DevIssuerError> {
    let key = SigningKey::random(&mut OsRng);
    let profile = Profile::Leaf {
        issuer: subject_of(int_der)?,
        enable_key_agreement: false,
        enable_key_encipherment: false,
    };
    let name = name("CN=dev-signet-enclave,O=Signet dev")?;
    let der = build_cert(profile, name, &key, int_key, LEAF_LIFETIME)?;
    let cert = Certificate::from_der(&der).map_err(|e| DevIssuerError::Build(e.to_string()))?;
    let not_after_ms = u64::try_from(
        cert.tbs_certificate
            .validity
            .not_after
            .to_unix_duration()
            .as_millis(),
    )
    .unwrap_or(u64::MAX);
    Ok(Leaf {
        key,
        der,
        not_after_ms,
    })
}

fn build_cert(
    profile: Profile,
    subject: Name,
    subject_key: &SigningKey,
    issuer_key: &SigningKey,
    lifetime: Duration,
) -> Result<Vec<u8>, DevIssuerError> {
    let build = |e: &dyn std::fmt::Display| DevIssuerError::Build(e.to_string());
    // Back-date a little so a verifier with a slightly slow clock accepts it.
    let now = SystemTime::now();
    let not_before = now.checked_sub(Duration::from_secs(300)).unwrap_or(now);
    let validity = Validity {
        not_before: Time::try_from(not_before).map_err(|e| build(&e))?,
        not_after: Time::try_from(now + lifetime).map_err(|e| build(&e))?,
    };
    let spki =
        SubjectPublicKeyInfoOwned::from_key(*subject_key.verifying_key()).map_err(|e| build(&e))?;
    let mut serial = [0u8; 16];
    OsRng.fill_bytes(&mut serial);
    serial[0] = (serial[0] & 0x7f) | 0x40;
    let serial = SerialNumber::new(&serial).map_err(|e| build(&e))?;
    let builder = CertificateBuilder::new(profile, serial, validity, subject, spki, issuer_key)
        .map_err(|e| build(&e))?;
    let cert = builder.build::<DerSignature>().map_err(|e| build(&e))?;
    cert.to_der().map_err(|e| build(&e))
}

fn name(s: &str) -> Result<Name, DevIssuerError> {
    Name::from_str(s).map_err(|e| DevIssuerError::Build(e.to_string()))
}

fn subject_of(der: &[u8]) -> Result<Name, DevIssuerError> {
    Certificate::from_der(der)
        .map(|c| c.tbs_certificate.subject)
        .map_err(|e| DevIssuerError::Build(e.to_string()))
}

fn key_pem(key: &SigningKey) -> Result<zeroize::Zeroizing<String>, DevIssuerError> {
    key.to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| DevIssuerError::Build(e.to_string()))
}

fn cert_pem(der: &[u8]) -> Result<String, DevIssuerError> {
    der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der)
        .map_err(|e| DevIssuerError::Build(e.to_string()))
}

fn read_cert(path: &Path) -> Result<Vec<u8>, DevIssuerError> {
    let corrupt = |problem: String| DevIssuerError::Corrupt {
        file: path.to_owned(),
        problem,
    };
    let pem = fs::read_to_string(path).map_err(|e| corrupt(e.to_string()))?;
    let (label, der) = der::pem::decode_vec(pem.as_bytes()).map_err(|e| corrupt(e.to_string()))?;
    if label != "CERTIFICATE" {
        return Err(corrupt(format!("PEM label `{label}`")));
    }
    Certificate::from_der(&der).map_err(|e| corrupt(e.to_string()))?;
    Ok(der)
}

fn read_key(path: &Path) -> Result<SigningKey, DevIssuerError> {
    let corrupt = |problem: String| DevIssuerError::Corrupt {
        file: path.to_owned(),
        problem,
    };
    let pem =
        zeroize::Zeroizing::new(fs::read_to_string(path).map_err(|e| corrupt(e.to_string()))?);
    // The decode error never contains key material.
    SigningKey::from_pkcs8_pem(&pem).map_err(|e| corrupt(e.to_string()))
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Writes `bytes` to `path` with mode 0600 via a temporary file and a rename,
/// so a crash never leaves a half-written key.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = path.with_extension("tmp");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PcrPolicy, PcrSet, Verifier};

    fn request() -> DevDocument {
        DevDocument {
            module_id: "dev-test".into(),
            pcrs: (0u8..3).map(|i| (i, vec![i + 1; 48])).collect(),
            public_key: Some(vec![4; 65]),
            user_data: Some(vec![9; 32]),
            nonce: Some(vec![1, 2, 3]),
        }
    }

    #[test]
    fn issued_documents_verify_against_the_dev_root_only() {
        let issuer = DevIssuer::ephemeral().unwrap();
        let doc = issuer.issue(&request()).unwrap();
        let pcrs = PcrPolicy::exactly(PcrSet::new(request().pcrs).unwrap());
        let verified = Verifier::new(issuer.trust_anchor().unwrap(), pcrs.clone())
            .verify(&doc)
            .unwrap();
        assert_eq!(verified.doc.nonce, Some(vec![1, 2, 3]));
        assert!(!verified.debug_mode);
        let err = Verifier::new(TrustAnchor::aws_nitro_root_g1(), pcrs)
            .verify(&doc)
            .unwrap_err();
        assert!(matches!(err, VerifyError::IssuerMismatch { .. }));
    }

    #[test]
    fn refuses_non_dev_module_id() {
        let issuer = DevIssuer::ephemeral().unwrap();
        let mut req = request();
        req.module_id = "i-0123-enc0123".into();
        assert!(matches!(
            issuer.issue(&req),
            Err(DevIssuerError::Request(_))
        ));
    }

    #[test]
    fn persists_and_reloads_the_same_root() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let ca_dir = dir.path().join("dev");
        let first = DevIssuer::load_or_create(&ca_dir).unwrap();
        let second = DevIssuer::load_or_create(&ca_dir).unwrap();
        assert_eq!(first.root_der(), second.root_der());
        assert_eq!(first.intermediate_der(), second.intermediate_der());
        for file in [ROOT_KEY_FILE, INTERMEDIATE_KEY_FILE] {
            let mode = fs::metadata(ca_dir.join(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
        // A document from the reloaded issuer verifies under the first root.
        let doc = second.issue(&request()).unwrap();
        let pcrs = PcrPolicy::exactly(PcrSet::new(request().pcrs).unwrap());
        Verifier::new(first.trust_anchor().unwrap(), pcrs)
            .verify(&doc)
            .unwrap();
    }

    #[test]
    fn refuses_an_incomplete_ca_directory() {
        let dir = tempfile::tempdir().unwrap();
        DevIssuer::load_or_create(dir.path()).unwrap();
        fs::remove_file(dir.path().join(INTERMEDIATE_KEY_FILE)).unwrap();
        assert!(matches!(
            DevIssuer::load_or_create(dir.path()),
            Err(DevIssuerError::Incomplete(_))
        ));
    }

    #[test]
    fn refuses_a_corrupt_key_file() {
        let dir = tempfile::tempdir().unwrap();
        DevIssuer::load_or_create(dir.path()).unwrap();
        fs::write(dir.path().join(INTERMEDIATE_KEY_FILE), "garbage").unwrap();
        assert!(matches!(
            DevIssuer::load_or_create(dir.path()),
            Err(DevIssuerError::Corrupt { .. })
        ));
    }

    /// Builds `root → a → b → leaf` where `a` and `b` are made by `make`,
    /// signs a document with the leaf, and verifies it against the root.
    fn verify_custom_chain(
        a_profile: impl FnOnce(Name) -> Profile,
        b_profile: impl FnOnce(Name) -> Profile,
    ) -> Result<(), VerifyError> {
        let (root_key, root_der) = new_root().unwrap();
        let a_key = SigningKey::random(&mut OsRng);
        let a_name = name("CN=a").unwrap();
        let a_der = build_cert(
            a_profile(subject_of(&root_der).unwrap()),
            a_name.clone(),
            &a_key,
            &root_key,
            LEAF_LIFETIME,
        )
        .unwrap();
        let b_key = SigningKey::random(&mut OsRng);
        let b_name = name("CN=b").unwrap();
        let b_der = build_cert(
            b_profile(a_name),
            b_name.clone(),
            &b_key,
            &a_key,
            LEAF_LIFETIME,
        )
        .unwrap();
        let leaf_key = SigningKey::random(&mut OsRng);
        let leaf_profile = Profile::Leaf {
            issuer: b_name,
            enable_key_agreement: false,
            enable_key_encipherment: false,
        };
        let leaf_der = build_cert(
            leaf_profile,
            name("CN=leaf").unwrap(),
            &leaf_key,
            &b_key,
            LEAF_LIFETIME,
        )
        .unwrap();
        let doc = AttestationDoc {
            module_id: "dev-chain".into(),
            digest: "SHA384".into(),
            timestamp_ms: now_ms(),
            pcrs: request().pcrs,
            certificate: leaf_der,
            cabundle: vec![root_der.clone(), a_der, b_der],
            public_key: None,
            user_data: None,
            nonce: None,
        };
        let bytes = sign_cose(&leaf_key, &doc.to_payload());
        let pcrs = PcrPolicy::exactly(PcrSet::new(request().pcrs).unwrap());
        Verifier::new(TrustAnchor::from_der(&root_der).unwrap(), pcrs)
            .verify(&bytes)
            .map(|_| ())
    }

    fn sub_ca(path_len: Option<u8>) -> impl FnOnce(Name) -> Profile {
        move |issuer| Profile::SubCA {
            issuer,
            path_len_constraint: path_len,
        }
    }

    #[test]
    fn a_two_level_chain_within_constraints_verifies() {
        verify_custom_chain(sub_ca(Some(1)), sub_ca(Some(0))).unwrap();
        verify_custom_chain(sub_ca(None), sub_ca(None)).unwrap();
    }

    #[test]
    fn path_length_constraint_is_enforced() {
        let err = verify_custom_chain(sub_ca(Some(0)), sub_ca(Some(0))).unwrap_err();
        assert!(
            matches!(err, VerifyError::ChainConstraint { ref which, problem } if which == "cabundle[1]" && problem.contains("path length")),
            "{err}"
        );
    }

    #[test]
    fn a_non_ca_certificate_cannot_issue() {
        let leaf_profile = |issuer| Profile::Leaf {
            issuer,
            enable_key_agreement: false,
            enable_key_encipherment: false,
        };
        let err = verify_custom_chain(sub_ca(None), leaf_profile).unwrap_err();
        assert!(
            matches!(err, VerifyError::ChainConstraint { ref which, problem } if which == "cabundle[2]" && problem.contains("not a CA")),
            "{err}"
        );
    }

    #[test]
    fn debug_output_is_redacted() {
        let issuer = DevIssuer::ephemeral().unwrap();
        let shown = format!("{issuer:?}");
        assert!(shown.contains("[redacted]"));
        assert!(!shown.contains("PRIVATE"));
    }
}

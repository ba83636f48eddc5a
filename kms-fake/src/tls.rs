//! The TLS identity of the fake endpoint: a P-384 CA created once in DIR
//! (`ca.pem`, which tests trust, and `ca.key`, mode 0600) and a server
//! certificate it issues at every start for `kms.<region>.amazonaws.com`,
//! `localhost` and `127.0.0.1` (`server.pem`, `server.key`). A separate leaf
//! because webpki refuses a CA certificate used as the server's.

use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use der::asn1::Ia5String;
use der::{Decode as _, Encode as _};
use p384::ecdsa::{DerSignature, SigningKey};
use p384::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, LineEnding};
use rand_core::{OsRng, RngCore as _};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use x509_cert::builder::{Builder as _, CertificateBuilder, Profile};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectAltName};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::{Time, Validity};
use x509_cert::Certificate;

/// The CA certificate clients must trust.
pub const CA_CERT_FILE: &str = "ca.pem";
const CA_KEY_FILE: &str = "ca.key";
/// The server certificate of the current run.
pub const SERVER_CERT_FILE: &str = "server.pem";
const SERVER_KEY_FILE: &str = "server.key";

const CA_LIFETIME: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
const LEAF_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);

/// Why the TLS identity could not be loaded or made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A CA file does not decode, or only one of the two exists.
    #[error("{path}: {problem}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// Building a certificate or the rustls configuration failed.
    #[error("TLS setup: {0}")]
    Build(String),
}

fn build(e: impl std::fmt::Display) -> TlsError {
    TlsError::Build(e.to_string())
}

/// The CA and server certificate in use, and the rustls configuration.
#[derive(Debug)]
pub struct TlsIdentity {
    /// The CA certificate, DER.
    pub ca_der: Vec<u8>,
    /// The server certificate, DER.
    pub leaf_der: Vec<u8>,
    /// rustls (ring) server configuration, ALPN `http/1.1`.
    pub config: Arc<rustls::ServerConfig>,
}

/// Loads the CA from `dir` (creating it the first time), issues a fresh
/// server certificate for `region`'s KMS endpoint and builds the rustls
/// configuration.
pub fn load_or_create(dir: &Path, region: &str) -> Result<TlsIdentity, TlsError> {
    let (ca_key, ca_der) = load_or_create_ca(dir)?;
    let ca_subject = Certificate::from_der(&ca_der)
        .map_err(build)?
        .tbs_certificate
        .subject;
    let leaf_key = SigningKey::random(&mut OsRng);
    let host = format!("kms.{region}.amazonaws.com");
    let profile = Profile::Leaf {
        issuer: ca_subject,
        enable_key_agreement: false,
        enable_key_encipherment: false,
    };
    let names = vec![
        GeneralName::DnsName(Ia5String::new(&host).map_err(build)?),
        GeneralName::DnsName(Ia5String::new("localhost").map_err(build)?),
        GeneralName::from(IpAddr::V4(Ipv4Addr::LOCALHOST)),
    ];
    let leaf_der = issue(
        profile,
        &format!("CN={host}"),
        &leaf_key,
        &ca_key,
        LEAF_LIFETIME,
        |b| {
            b.add_extension(&SubjectAltName(names))?;
            b.add_extension(&ExtendedKeyUsage(vec![
                der::oid::db::rfc5280::ID_KP_SERVER_AUTH,
            ]))
        },
    )?;
    let leaf_key_pkcs8 = leaf_key.to_pkcs8_der().map_err(build)?;
    write_file(
        &dir.join(SERVER_KEY_FILE),
        leaf_key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(build)?
            .as_bytes(),
    )?;
    write_file(&dir.join(SERVER_CERT_FILE), pem(&leaf_der)?.as_bytes())?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(build)?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf_der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key_pkcs8.as_bytes().to_vec())),
        )
        .map_err(build)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsIdentity {
        ca_der,
        leaf_der,
        config: Arc::new(config),
    })
}

fn load_or_create_ca(dir: &Path) -> Result<(SigningKey, Vec<u8>), TlsError> {
    let (cert_path, key_path) = (dir.join(CA_CERT_FILE), dir.join(CA_KEY_FILE));
    match (cert_path.exists(), key_path.exists()) {
        (true, true) => {
            let corrupt = |path: &Path, problem: String| TlsError::Corrupt {
                path: path.to_owned(),
                problem,
            };
            let cert_pem = read(&cert_path)?;
            let (label, der) = der::pem::decode_vec(cert_pem.as_bytes())
                .map_err(|e| corrupt(&cert_path, e.to_string()))?;
            if label != "CERTIFICATE" {
                return Err(corrupt(&cert_path, format!("PEM label `{label}`")));
            }
            let key_pem = zeroize::Zeroizing::new(read(&key_path)?);
            // The decode error never contains key material.
            let key = SigningKey::from_pkcs8_pem(&key_pem)
                .map_err(|e| corrupt(&key_path, e.to_string()))?;
            Ok((key, der))
        }
        (false, false) => {
            let key = SigningKey::random(&mut OsRng);
            let der = issue(
                Profile::Root,
                "CN=Signet kms-fake INSECURE test CA,O=Signet tests",
                &key,
                &key,
                CA_LIFETIME,
                |_| Ok(()),
            )?;
            write_file(
                &key_path,
                key.to_pkcs8_pem(LineEnding::LF).map_err(build)?.as_bytes(),
            )?;
            write_file(&cert_path, pem(&der)?.as_bytes())?;
            Ok((key, der))
        }
        _ => Err(TlsError::Corrupt {
            path: dir.to_owned(),
            problem: format!("only one of {CA_CERT_FILE} and {CA_KEY_FILE} exists"),
        }),
    }
}

type Extend<'b> = CertificateBuilder<'b, SigningKey>;

fn issue(
    profile: Profile,
    subject: &str,
    subject_key: &SigningKey,
    issuer_key: &SigningKey,
    lifetime: Duration,
    extend: impl FnOnce(&mut Extend<'_>) -> Result<(), x509_cert::builder::Error>,
) -> Result<Vec<u8>, TlsError> {
    // Back-dated a little for clients whose clock is slightly behind.
    let now = SystemTime::now();
    let not_before = now.checked_sub(Duration::from_secs(300)).unwrap_or(now);
    let validity = Validity {
        not_before: Time::try_from(not_before).map_err(build)?,
        not_after: Time::try_from(now + lifetime).map_err(build)?,
    };
    let spki = SubjectPublicKeyInfoOwned::from_key(*subject_key.verifying_key()).map_err(build)?;
    let mut serial = [0u8; 16];
    OsRng.fill_bytes(&mut serial);
    serial[0] = (serial[0] & 0x7f) | 0x40;
    let serial = SerialNumber::new(&serial).map_err(build)?;
    let subject = Name::from_str(subject).map_err(build)?;
    let mut builder = CertificateBuilder::new(profile, serial, validity, subject, spki, issuer_key)
        .map_err(build)?;
    extend(&mut builder).map_err(build)?;
    let cert = builder.build::<DerSignature>().map_err(build)?;
    cert.to_der().map_err(build)
}

fn pem(der: &[u8]) -> Result<String, TlsError> {
    der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der).map_err(build)
}

fn read(path: &Path) -> Result<String, TlsError> {
    fs::read_to_string(path).map_err(|source| TlsError::Io {
        path: path.to_owned(),
        source,
    })
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    let io = |source| TlsError::Io {
        path: path.to_owned(),
        source,
    };
    signet_proto::files::write_private(path, bytes).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::client::danger::ServerCertVerifier as _;
    use rustls::pki_types::{ServerName, UnixTime};

    fn verify(ca: &[u8], leaf: &[u8], name: &str) -> Result<(), rustls::Error> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(ca.to_vec())).unwrap();
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .unwrap();
        verifier
            .verify_server_cert(
                &CertificateDer::from(leaf.to_vec()),
                &[],
                &ServerName::try_from(name.to_owned()).unwrap(),
                &[],
                UnixTime::now(),
            )
            .map(|_| ())
    }

    #[test]
    fn webpki_accepts_the_leaf_for_its_names_only() {
        let dir = tempfile::tempdir().unwrap();
        let id = load_or_create(dir.path(), "us-east-1").unwrap();
        for name in ["kms.us-east-1.amazonaws.com", "localhost", "127.0.0.1"] {
            verify(&id.ca_der, &id.leaf_der, name).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        assert!(verify(&id.ca_der, &id.leaf_der, "kms.us-west-2.amazonaws.com").is_err());
        // The CA itself is not a server certificate.
        assert!(verify(&id.ca_der, &id.ca_der, "localhost").is_err());
    }

    #[test]
    fn the_ca_is_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path(), "us-east-1").unwrap();
        let second = load_or_create(dir.path(), "us-east-1").unwrap();
        assert_eq!(first.ca_der, second.ca_der);
        assert_ne!(first.leaf_der, second.leaf_der);
        verify(&first.ca_der, &second.leaf_der, "localhost").unwrap();
        for file in [CA_KEY_FILE, SERVER_KEY_FILE] {
            let mode = std::os::unix::fs::PermissionsExt::mode(
                &fs::metadata(dir.path().join(file)).unwrap().permissions(),
            );
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
        fs::remove_file(dir.path().join(CA_KEY_FILE)).unwrap();
        assert!(load_or_create(dir.path(), "us-east-1").is_err());
    }
}

//! Sealing: AES-256-GCM under a versioned sealing key, with AAD binding the
//! key id, key type and sealing key version, so a blob cannot be replayed for
//! another wallet, re-labelled as another type, or swapped between versions.
//! Format 2 also binds the hash of the wallet's record (owners, threshold,
//! policy), so a blob loads only with its own record.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand_core::{OsRng, RngCore};
use signet_proto::{ErrorCode, KeyType, SealedKey};
use zeroize::Zeroizing;

use crate::error::SignerError;

/// The sealed-key format of wallets from before records (no record hash).
pub const SEALED_FORMAT_V1: u16 = 1;
/// The sealed-key format binding the record's hash; new keys get it.
pub const SEALED_FORMAT: u16 = 2;
const AAD_LABEL: &[u8] = b"signet/seal/v1";
const AAD_LABEL_V2: &[u8] = b"signet/seal/v2";
const NONCE_LEN: usize = 12;

/// One version of the sealing key.
pub struct SealingKey {
    version: u32,
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealingKey(v{}, [redacted])", self.version)
    }
}

impl SealingKey {
    /// A sealing key from 32 bytes.
    #[must_use]
    pub fn new(version: u32, key: &Zeroizing<[u8; 32]>) -> Self {
        Self {
            version,
            cipher: Aes256Gcm::new(key.as_ref().into()),
        }
    }

    /// Its version.
    #[must_use]
    pub fn version(&self) -> u32 {
        self.version
    }
}

/// The sealing keys a signer holds: the current one seals; every held version
/// unseals (rotation re-seals under the current one). With KMS sealing the
/// set starts empty and fills when the host has the signer unseal it.
#[derive(Debug, Default)]
pub struct SealingKeys {
    inner: std::sync::RwLock<Held>,
}

#[derive(Debug, Default)]
struct Held {
    current: Option<u32>,
    keys: BTreeMap<u32, SealingKey>,
}

/// The AAD: format 1 `"signet/seal/v1" ‖ 0 ‖ key_id ‖ 0 ‖ key_type ‖ 0 ‖
/// version` (u32 BE); format 2 the same under `"signet/seal/v2"` followed by
/// `0 ‖ record_hash`.
fn aad(key_id: &str, key_type: KeyType, version: u32, record_hash: Option<&[u8; 32]>) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_LABEL_V2.len() + key_id.len() + 50);
    aad.extend_from_slice(if record_hash.is_some() {
        AAD_LABEL_V2
    } else {
        AAD_LABEL
    });
    aad.push(0);
    aad.extend_from_slice(key_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(key_type.as_str().as_bytes());
    aad.push(0);
    aad.extend_from_slice(&version.to_be_bytes());
    if let Some(hash) = record_hash {
        aad.push(0);
        aad.extend_from_slice(hash);
    }
    aad
}

/// The record hash a blob is bound to: `None` for format 1, the 32 bytes
/// for format 2; any other shape is refused.
pub fn bound_record_hash(sealed: &SealedKey) -> Result<Option<[u8; 32]>, SignerError> {
    let invalid = |m: &str| SignerError::new(ErrorCode::SealedKeyInvalid, m);
    match (sealed.format, sealed.record_hash.as_deref()) {
        (SEALED_FORMAT_V1, None) => Ok(None),
        (SEALED_FORMAT, Some(hash)) => hash
            .try_into()
            .map(Some)
            .map_err(|_| invalid("record hash must be 32 bytes")),
        (SEALED_FORMAT_V1 | SEALED_FORMAT, _) => Err(invalid(
            "a format 1 blob has no record hash and a format 2 blob has one",
        )),
        _ => Err(invalid("unknown sealed-key format")),
    }
}

fn poisoned() -> SignerError {
    SignerError::new(ErrorCode::Internal, "sealing key lock poisoned")
}

impl SealingKeys {
    /// Holds `keys`; the highest version seals.
    pub fn new(keys: Vec<SealingKey>) -> Result<Self, SignerError> {
        let keys: BTreeMap<u32, SealingKey> = keys.into_iter().map(|k| (k.version, k)).collect();
        let current = *keys
            .keys()
            .next_back()
            .ok_or_else(|| SignerError::new(ErrorCode::Internal, "no sealing key"))?;
        Ok(Self {
            inner: std::sync::RwLock::new(Held {
                current: Some(current),
                keys,
            }),
        })
    }

    /// No key yet (KMS sealing before the host has the signer unseal).
    #[must_use]
    pub fn empty() -> Self {
        Self::default()
    }

    /// Adds a version; with `current`, new keys are sealed under it from now
    /// on (unless a higher version is current). A version already held is
    /// kept as it is: blobs may already be sealed under it.
    pub fn install(&self, key: SealingKey, current: bool) -> Result<(), SignerError> {
        let mut held = self.inner.write().map_err(|_| poisoned())?;
        let version = key.version;
        held.keys.entry(version).or_insert(key);
        if current && held.current.is_none_or(|c| c < version) {
            held.current = Some(version);
        }
        Ok(())
    }

    /// Adds or replaces a version that is not the current one (a version
    /// held under the same number as another key the host stored).
    pub fn replace(&self, key: SealingKey) -> Result<(), SignerError> {
        let mut held = self.inner.write().map_err(|_| poisoned())?;
        if held.current == Some(key.version) {
            return Err(SignerError::new(
                ErrorCode::Internal,
                "the current sealing key version cannot be replaced",
            ));
        }
        held.keys.insert(key.version, key);
        Ok(())
    }

    /// Makes the held `version` the one new keys are sealed under (never
    /// lower than the current one).
    pub fn make_current(&self, version: u32) -> Result<(), SignerError> {
        let mut held = self.inner.write().map_err(|_| poisoned())?;
        if !held.keys.contains_key(&version) {
            return Err(SignerError::new(
                ErrorCode::Internal,
                "sealing key version not held",
            ));
        }
        if held.current.is_none_or(|c| c < version) {
            held.current = Some(version);
        }
        Ok(())
    }

    /// Whether `version` is held.
    #[must_use]
    pub fn holds(&self, version: u32) -> bool {
        self.inner
            .read()
            .is_ok_and(|held| held.keys.contains_key(&version))
    }

    /// Forgets `version` (zeroizing it); the current version cannot be retired.
    pub fn retire(&self, version: u32) -> Result<bool, SignerError> {
        let mut held = self.inner.write().map_err(|_| poisoned())?;
        if held.current == Some(version) {
            return Err(SignerError::bad_request(
                "the current sealing key version cannot be retired",
            ));
        }
        Ok(held.keys.remove(&version).is_some())
    }

    /// The sealing version new keys get; `None` before any key is held.
    #[must_use]
    pub fn current_version(&self) -> Option<u32> {
        self.inner.read().ok().and_then(|held| held.current)
    }

    /// Every version held, ascending.
    #[must_use]
    pub fn versions(&self) -> Vec<u32> {
        self.inner
            .read()
            .map(|held| held.keys.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Seals `secret` for `key_id`/`key_type` under the current key, bound to
    /// the record hashing to `record_hash` (format 2), or to none (format 1:
    /// only to re-seal a blob from before records as it was).
    pub fn seal(
        &self,
        key_id: &str,
        key_type: KeyType,
        secret: &[u8],
        record_hash: Option<&[u8; 32]>,
    ) -> Result<SealedKey, SignerError> {
        let held = self.inner.read().map_err(|_| poisoned())?;
        let (current, key) = held
            .current
            .and_then(|c| held.keys.get(&c).map(|k| (c, k)))
            .ok_or_else(|| {
                SignerError::new(
                    ErrorCode::SealingUnavailable,
                    "the signer has no sealing key yet",
                )
            })?;
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let aad = aad(key_id, key_type, current, record_hash);
        let ciphertext = key
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: secret,
                    aad: &aad,
                },
            )
            .map_err(|_| SignerError::new(ErrorCode::Internal, "sealing failed"))?;
        Ok(SealedKey {
            format: if record_hash.is_some() {
                SEALED_FORMAT
            } else {
                SEALED_FORMAT_V1
            },
            sealing_key_version: current,
            key_id: key_id.to_owned(),
            key_type,
            nonce: nonce.to_vec(),
            ciphertext,
            record_hash: record_hash.map(|h| h.to_vec()),
        })
    }

    /// Unseals, refusing any blob that fails authentication (tampered, sealed
    /// under another key, relabelled) or names an unknown format or version.
    pub fn unseal(&self, sealed: &SealedKey) -> Result<Zeroizing<Vec<u8>>, SignerError> {
        let invalid = |m: &str| SignerError::new(ErrorCode::SealedKeyInvalid, m);
        let record_hash = bound_record_hash(sealed)?;
        let nonce: [u8; NONCE_LEN] = sealed
            .nonce
            .as_slice()
            .try_into()
            .map_err(|_| invalid("nonce must be 12 bytes"))?;
        let held = self.inner.read().map_err(|_| poisoned())?;
        // A version not held is the host's to fix (have the signer unseal
        // it, or a newer blob): retryable, not a corrupt blob.
        let key = held.keys.get(&sealed.sealing_key_version).ok_or_else(|| {
            SignerError::new(
                ErrorCode::SealingUnavailable,
                format!(
                    "sealed under sealing key version {}, which this signer does not hold",
                    sealed.sealing_key_version
                ),
            )
        })?;
        let aad = aad(
            &sealed.key_id,
            sealed.key_type,
            sealed.sealing_key_version,
            record_hash.as_ref(),
        );
        key.cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| {
                invalid(
                    "authentication failed: tampered, sealed under another key, or for another key",
                )
            })
    }
}

/// File name of the dev sealing key (version 1) in `--dev-dir`.
pub const DEV_SEALING_KEY_FILE: &str = "sealing-key-v1";

/// Loads the dev sealing key from `dir`, creating it (0600, random) if missing.
///
/// INSECURE: anyone who reads this file can unseal every key. In a Nitro
/// enclave the sealing key is a KMS data key released only to the attested
/// image; this file stands in for it in development.
pub fn load_or_create_dev_sealing_key(dir: &Path) -> std::io::Result<SealingKey> {
    let path = dir.join(DEV_SEALING_KEY_FILE);
    if !path.exists() {
        signet_proto::files::private_dir(dir)?;
        let mut key = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(key.as_mut());
        let hex = Zeroizing::new(hex::encode(key.as_ref()));
        signet_proto::files::write_private(&path, hex.as_bytes())?;
    }
    let text = Zeroizing::new(fs::read_to_string(&path)?);
    let mut key = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text.trim(), key.as_mut()).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is not 64 hex digits", path.display()),
        )
    })?;
    Ok(SealingKey::new(1, &key))
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: [u8; 32] = [0x5e; 32];

    fn keys(byte: u8, version: u32) -> SealingKeys {
        SealingKeys::new(vec![SealingKey::new(version, &Zeroizing::new([byte; 32]))]).unwrap()
    }

    #[test]
    fn seal_unseal_round_trip() {
        let k = keys(1, 1);
        let sealed = k
            .seal("w1", KeyType::P256, b"secret-bytes", Some(&R))
            .unwrap();
        assert_eq!(sealed.sealing_key_version, 1);
        assert_eq!(k.unseal(&sealed).unwrap().as_slice(), b"secret-bytes");
        assert!(!format!("{sealed:?}").contains("secret"));
    }

    #[test]
    fn every_bit_of_the_ciphertext_and_nonce_is_authenticated() {
        let k = keys(1, 1);
        let sealed = k.seal("w1", KeyType::P256, &[9; 32], Some(&R)).unwrap();
        for i in 0..sealed.ciphertext.len() * 8 {
            let mut t = sealed.clone();
            t.ciphertext[i / 8] ^= 1 << (i % 8);
            assert_eq!(k.unseal(&t).unwrap_err().code, ErrorCode::SealedKeyInvalid);
        }
        for i in 0..NONCE_LEN * 8 {
            let mut t = sealed.clone();
            t.nonce[i / 8] ^= 1 << (i % 8);
            assert!(k.unseal(&t).is_err());
        }
    }

    #[test]
    fn relabelled_or_foreign_blobs_are_refused() {
        let k = keys(1, 1);
        let sealed = k.seal("w1", KeyType::P256, &[9; 32], Some(&R)).unwrap();
        let mut other_id = sealed.clone();
        other_id.key_id = "w2".into();
        assert!(k.unseal(&other_id).is_err());
        let mut other_type = sealed.clone();
        other_type.key_type = KeyType::Secp256k1;
        assert!(k.unseal(&other_type).is_err());
        assert!(keys(2, 1).unseal(&sealed).is_err(), "another sealing key");
        let mut other_version = sealed.clone();
        other_version.sealing_key_version = 2;
        assert!(k.unseal(&other_version).is_err());
        let mut other_format = sealed.clone();
        other_format.format = 3;
        assert!(k.unseal(&other_format).is_err());
        let mut as_v1 = sealed;
        as_v1.format = SEALED_FORMAT_V1;
        as_v1.record_hash = None;
        assert!(k.unseal(&as_v1).is_err(), "a v2 blob passed off as v1");
    }

    #[test]
    fn a_blob_is_bound_to_its_record_hash_and_format_1_to_none() {
        let k = keys(1, 1);
        let sealed = k.seal("w1", KeyType::P256, &[9; 32], Some(&R)).unwrap();
        assert_eq!(sealed.format, SEALED_FORMAT);
        assert_eq!(bound_record_hash(&sealed).unwrap(), Some(R));
        let mut other_record = sealed.clone();
        other_record.record_hash = Some(vec![0x5f; 32]);
        assert_eq!(
            k.unseal(&other_record).unwrap_err().code,
            ErrorCode::SealedKeyInvalid,
            "another record's hash fails authentication"
        );
        let mut short = sealed.clone();
        short.record_hash = Some(vec![0x5e; 31]);
        assert_eq!(
            k.unseal(&short).unwrap_err().code,
            ErrorCode::SealedKeyInvalid
        );
        let mut none = sealed;
        none.record_hash = None;
        assert!(k.unseal(&none).is_err(), "format 2 without a record hash");
        let legacy = k.seal("w1", KeyType::P256, &[9; 32], None).unwrap();
        assert_eq!(legacy.format, SEALED_FORMAT_V1);
        assert_eq!(bound_record_hash(&legacy).unwrap(), None);
        assert_eq!(k.unseal(&legacy).unwrap().as_slice(), &[9; 32]);
        let mut with_hash = legacy;
        with_hash.record_hash = Some(R.to_vec());
        assert!(k.unseal(&with_hash).is_err(), "format 1 with a record hash");
    }

    #[test]
    fn older_versions_still_unseal() {
        let old = keys(1, 1);
        let sealed = old
            .seal("w1", KeyType::Ed25519, &[3; 32], Some(&R))
            .unwrap();
        let both = SealingKeys::new(vec![
            SealingKey::new(1, &Zeroizing::new([1; 32])),
            SealingKey::new(2, &Zeroizing::new([2; 32])),
        ])
        .unwrap();
        assert_eq!(both.current_version(), Some(2));
        assert_eq!(both.unseal(&sealed).unwrap().as_slice(), &[3; 32]);
        assert_eq!(
            both.seal("w1", KeyType::Ed25519, &[3; 32], Some(&R))
                .unwrap()
                .sealing_key_version,
            2
        );
    }

    #[test]
    fn an_empty_set_refuses_until_a_key_is_installed_and_retired_versions_unseal_nothing() {
        let keys = SealingKeys::empty();
        assert_eq!(keys.current_version(), None);
        assert_eq!(
            keys.seal("w1", KeyType::P256, &[1; 32], Some(&R))
                .unwrap_err()
                .code,
            ErrorCode::SealingUnavailable
        );
        keys.install(SealingKey::new(1, &Zeroizing::new([1; 32])), true)
            .unwrap();
        let old = keys.seal("w1", KeyType::P256, &[1; 32], Some(&R)).unwrap();
        keys.install(SealingKey::new(2, &Zeroizing::new([2; 32])), true)
            .unwrap();
        assert_eq!(keys.current_version(), Some(2));
        assert_eq!(keys.versions(), vec![1, 2]);
        assert!(keys.retire(2).is_err(), "the current version stays");
        assert!(keys.retire(1).unwrap());
        assert_eq!(
            keys.unseal(&old).unwrap_err().code,
            ErrorCode::SealingUnavailable
        );
        // An older version installed later does not become current.
        keys.install(SealingKey::new(1, &Zeroizing::new([1; 32])), true)
            .unwrap();
        assert_eq!(keys.current_version(), Some(2));
        assert!(keys.unseal(&old).is_ok());
    }

    #[test]
    fn dev_key_file_is_private_and_stable() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create_dev_sealing_key(dir.path()).unwrap();
        let sealed = SealingKeys::new(vec![a])
            .unwrap()
            .seal("w", KeyType::P256, &[1; 32], Some(&R))
            .unwrap();
        let b = load_or_create_dev_sealing_key(dir.path()).unwrap();
        assert!(SealingKeys::new(vec![b]).unwrap().unseal(&sealed).is_ok());
        let mode = fs::metadata(dir.path().join(DEV_SEALING_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        fs::write(dir.path().join(DEV_SEALING_KEY_FILE), "zz").unwrap();
        assert!(load_or_create_dev_sealing_key(dir.path()).is_err());
    }
}

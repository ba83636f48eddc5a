//! Keys — their backing material, state and policy — and the
//! `CiphertextBlob` format.
//!
//! Backing material is 256 random bits per key, kept in memory and persisted
//! to `DIR/keys.json` (mode 0600) so a restarted fake still decrypts the
//! blobs it issued. Key state (enabled, policy replaced over the control API)
//! is not persisted: a restart starts from the command line again.
//!
//! Blob format (opaque to callers, as KMS's is):
//! `0x01 ‖ len(key id) as u8 ‖ key id ‖ 12-byte nonce ‖ AES-256-GCM(ciphertext ‖ tag)`,
//! with AAD = `"signet-kms-fake/blob/v1\0" ‖ key ARN ‖ 0x00 ‖ encryption
//! context` where the context is its pairs sorted by key, each as
//! `u32 BE len ‖ key ‖ u32 BE len ‖ value`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::policy::KeyPolicy;

/// The file backing material is persisted in.
pub const KEYS_FILE: &str = "keys.json";
const BLOB_VERSION: u8 = 1;
const AAD_LABEL: &[u8] = b"signet-kms-fake/blob/v1\0";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// An encryption context: string pairs, canonically sorted.
pub type EncryptionContext = BTreeMap<String, String>;

/// Why the key store could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Reading or writing the keys file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The keys file does not decode.
    #[error("{path}: {problem}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A key id or alias given on the command line is not acceptable.
    #[error("{0}")]
    Config(String),
}

/// A key to create (or reload) at start.
#[derive(Clone, Debug)]
pub struct KeySpec {
    /// The key id (the last part of its ARN).
    pub id: String,
    /// Its key policy.
    pub policy: KeyPolicy,
}

/// One KMS key.
pub struct Key {
    /// The key id.
    pub id: String,
    /// `arn:aws:kms:REGION:ACCOUNT:key/ID`.
    pub arn: String,
    material: Zeroizing<[u8; 32]>,
    /// The identifier of the backing material (`KeyMaterialId` in responses).
    pub material_id: String,
    /// `false` after `DisableKey`.
    pub enabled: bool,
    /// The key policy.
    pub policy: KeyPolicy,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("arn", &self.arn)
            .field("material", &"[redacted]")
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// A `CiphertextBlob` split into its parts (not yet authenticated).
#[derive(Clone, Copy, Debug)]
pub struct ParsedBlob<'a> {
    /// The key id the blob names.
    pub key_id: &'a str,
    nonce: [u8; NONCE_LEN],
    sealed: &'a [u8],
}

/// Splits a blob; `None` when it is not in this fake's format.
#[must_use]
pub fn parse_blob(blob: &[u8]) -> Option<ParsedBlob<'_>> {
    let (&version, rest) = blob.split_first()?;
    if version != BLOB_VERSION {
        return None;
    }
    let (&id_len, rest) = rest.split_first()?;
    let id_len = usize::from(id_len);
    if id_len == 0 || rest.len() < id_len + NONCE_LEN + TAG_LEN {
        return None;
    }
    let (id, rest) = rest.split_at(id_len);
    let (nonce, sealed) = rest.split_at(NONCE_LEN);
    Some(ParsedBlob {
        key_id: std::str::from_utf8(id).ok()?,
        nonce: nonce.try_into().ok()?,
        sealed,
    })
}

fn aad(arn: &str, context: &EncryptionContext) -> Vec<u8> {
    let mut aad = AAD_LABEL.to_vec();
    aad.extend_from_slice(arn.as_bytes());
    aad.push(0);
    for (k, v) in context {
        for part in [k, v] {
            let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
            aad.extend_from_slice(&len.to_be_bytes());
            aad.extend_from_slice(part.as_bytes());
        }
    }
    aad
}

impl Key {
    fn cipher(&self) -> Option<Aes256Gcm> {
        Aes256Gcm::new_from_slice(self.material.as_ref()).ok()
    }

    /// Encrypts `plaintext` under this key, bound to `context`.
    #[must_use]
    pub fn encrypt_blob(&self, plaintext: &[u8], context: &EncryptionContext) -> Option<Vec<u8>> {
        let id_len = u8::try_from(self.id.len()).ok()?;
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher()?
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad(&self.arn, context),
                },
            )
            .ok()?;
        let mut blob = vec![BLOB_VERSION, id_len];
        blob.extend_from_slice(self.id.as_bytes());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&sealed);
        Some(blob)
    }

    /// Decrypts a blob of this key; `None` if it was tampered with, made
    /// under other material, or bound to another context.
    #[must_use]
    pub fn decrypt_blob(
        &self,
        blob: &ParsedBlob<'_>,
        context: &EncryptionContext,
    ) -> Option<Zeroizing<Vec<u8>>> {
        if blob.key_id != self.id {
            return None;
        }
        self.cipher()?
            .decrypt(
                &Nonce::from(blob.nonce),
                Payload {
                    msg: blob.sealed,
                    aad: &aad(&self.arn, context),
                },
            )
            .ok()
            .map(Zeroizing::new)
    }
}

/// The keys of one fake account in one region.
#[derive(Debug)]
pub struct KeyStore {
    region: String,
    account: String,
    keys: BTreeMap<String, Key>,
    aliases: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Default)]
struct KeysFile {
    version: u32,
    keys: BTreeMap<String, StoredKey>,
}

#[derive(Serialize, Deserialize)]
struct StoredKey {
    material: String,
    material_id: String,
}

/// Key ids: what KMS's are made of (it issues UUIDs; any such token is accepted here).
fn valid_key_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn valid_alias(name: &str) -> bool {
    (1..=250).contains(&name.len())
        && !name.starts_with("aws/")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b))
}

impl KeyStore {
    /// Opens the store in `dir`: reloads the material of keys already in
    /// `DIR/keys.json`, creates the others, and writes the file back (keys
    /// in the file but not in `specs` are kept there, not served).
    /// `aliases` are `(name, key id)` pairs, the name with or without `alias/`.
    pub fn open(
        dir: &Path,
        region: &str,
        account: &str,
        specs: Vec<KeySpec>,
        aliases: Vec<(String, String)>,
    ) -> Result<Self, StoreError> {
        let path = dir.join(KEYS_FILE);
        let mut file: KeysFile = match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                path: path.clone(),
                problem: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => KeysFile {
                version: 1,
                keys: BTreeMap::new(),
            },
            Err(source) => return Err(StoreError::Io { path, source }),
        };
        let mut keys = BTreeMap::new();
        for spec in specs {
            if !valid_key_id(&spec.id) {
                return Err(StoreError::Config(format!(
                    "key id `{}` must be 1-128 letters, digits, `-` or `_`",
                    spec.id
                )));
            }
            if keys.contains_key(&spec.id) {
                return Err(StoreError::Config(format!("key `{}` given twice", spec.id)));
            }
            let stored = file.keys.entry(spec.id.clone()).or_insert_with(|| {
                let mut material = Zeroizing::new([0u8; 32]);
                OsRng.fill_bytes(material.as_mut());
                let mut material_id = [0u8; 32];
                OsRng.fill_bytes(&mut material_id);
                StoredKey {
                    material: hex::encode(material.as_ref()),
                    material_id: hex::encode(material_id),
                }
            });
            let corrupt = |problem: &str| StoreError::Corrupt {
                path: path.clone(),
                problem: format!("key `{}`: {problem}", spec.id),
            };
            let mut material = Zeroizing::new([0u8; 32]);
            hex::decode_to_slice(&stored.material, material.as_mut())
                .map_err(|_| corrupt("material is not 32 bytes of hex"))?;
            keys.insert(
                spec.id.clone(),
                Key {
                    arn: format!("arn:aws:kms:{region}:{account}:key/{}", spec.id),
                    id: spec.id,
                    material,
                    material_id: stored.material_id.clone(),
                    enabled: true,
                    policy: spec.policy,
                },
            );
        }
        let mut alias_map = BTreeMap::new();
        for (name, target) in aliases {
            let name = name.strip_prefix("alias/").unwrap_or(&name).to_owned();
            if !valid_alias(&name) {
                return Err(StoreError::Config(format!(
                    "alias `{name}` is not a valid alias name"
                )));
            }
            if !keys.contains_key(&target) {
                return Err(StoreError::Config(format!(
                    "alias `{name}` names unknown key `{target}`"
                )));
            }
            alias_map.insert(name, target);
        }
        write_private(&path, &file)?;
        Ok(Self {
            region: region.to_owned(),
            account: account.to_owned(),
            keys,
            aliases: alias_map,
        })
    }

    /// The ARN a key id would have in this account and region.
    #[must_use]
    pub fn key_arn(&self, id: &str) -> String {
        format!("arn:aws:kms:{}:{}:key/{id}", self.region, self.account)
    }

    /// The key a request's `KeyId` names: a key id, a key ARN, `alias/NAME`
    /// or an alias ARN. `Err` carries KMS's `NotFoundException` message.
    pub fn resolve(&self, key_id: &str) -> Result<&Key, String> {
        let arn_prefix = format!("arn:aws:kms:{}:{}:", self.region, self.account);
        let local = key_id.strip_prefix(&arn_prefix);
        let alias = match local {
            Some(rest) => rest.strip_prefix("alias/"),
            None => key_id.strip_prefix("alias/"),
        };
        if let Some(alias) = alias {
            let alias_arn = format!("{arn_prefix}alias/{alias}");
            return self
                .aliases
                .get(alias)
                .and_then(|id| self.keys.get(id))
                .ok_or_else(|| format!("Alias '{alias_arn}' is not found."));
        }
        let id = match local {
            Some(rest) => rest.strip_prefix("key/"),
            None if key_id.starts_with("arn:") => None,
            None => Some(key_id),
        };
        match id {
            Some(id) => self
                .keys
                .get(id)
                .ok_or_else(|| format!("Key '{}' does not exist", self.key_arn(id))),
            None if key_id.starts_with("arn:") => Err(format!("Key '{key_id}' does not exist")),
            None => Err(format!("Invalid keyId '{key_id}'")),
        }
    }

    /// The key with this exact id.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&Key> {
        self.keys.get(id)
    }

    /// The key with this exact id, to change its state or policy.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Key> {
        self.keys.get_mut(id)
    }
}

fn write_private(path: &Path, file: &KeysFile) -> Result<(), StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_owned(),
        source,
    };
    let json =
        Zeroizing::new(
            serde_json::to_vec_pretty(file).map_err(|e| StoreError::Corrupt {
                path: path.to_owned(),
                problem: e.to_string(),
            })?,
        );
    signet_proto::files::write_private(path, &json).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::default_policy_json;

    fn spec(id: &str) -> KeySpec {
        KeySpec {
            id: id.into(),
            policy: KeyPolicy::from_json(&default_policy_json("111122223333")).unwrap(),
        }
    }

    fn open(dir: &Path, ids: &[&str]) -> KeyStore {
        KeyStore::open(
            dir,
            "us-east-1",
            "111122223333",
            ids.iter().map(|i| spec(i)).collect(),
            vec![("alias/sealing".into(), ids[0].into())],
        )
        .unwrap()
    }

    fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn blobs_round_trip_and_bind_key_and_context() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), &["k1", "k2"]);
        let (k1, k2) = (store.get("k1").unwrap(), store.get("k2").unwrap());
        let c = ctx(&[("purpose", "sealing"), ("v", "1")]);
        let blob = k1.encrypt_blob(b"data key", &c).unwrap();
        let parsed = parse_blob(&blob).unwrap();
        assert_eq!(parsed.key_id, "k1");
        assert_eq!(
            k1.decrypt_blob(&parsed, &c).unwrap().as_slice(),
            b"data key"
        );
        assert!(k1
            .decrypt_blob(&parsed, &ctx(&[("purpose", "sealing")]))
            .is_none());
        assert!(k1.decrypt_blob(&parsed, &ctx(&[])).is_none());
        assert!(k2.decrypt_blob(&parsed, &c).is_none());
        for i in 0..blob.len() {
            let mut tampered = blob.clone();
            tampered[i] ^= 1;
            let ok = parse_blob(&tampered).and_then(|p| k1.decrypt_blob(&p, &c));
            assert!(ok.is_none(), "byte {i}");
        }
        let truncated = parse_blob(&blob[..blob.len() - 1]).and_then(|p| k1.decrypt_blob(&p, &c));
        assert!(truncated.is_none());
        assert!(parse_blob(&blob[..2 + 2 + NONCE_LEN + TAG_LEN - 1]).is_none());
        assert!(parse_blob(b"").is_none());
    }

    #[test]
    fn material_survives_a_restart_and_the_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let blob = {
            let store = open(dir.path(), &["k1"]);
            store
                .get("k1")
                .unwrap()
                .encrypt_blob(b"x", &ctx(&[]))
                .unwrap()
        };
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &fs::metadata(dir.path().join(KEYS_FILE))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        let store = open(dir.path(), &["k1", "k3"]);
        let k1 = store.get("k1").unwrap();
        assert_eq!(
            k1.decrypt_blob(&parse_blob(&blob).unwrap(), &ctx(&[]))
                .unwrap()
                .as_slice(),
            b"x"
        );
        // A fresh directory means fresh material.
        let other = tempfile::tempdir().unwrap();
        let store = open(other.path(), &["k1"]);
        assert!(store
            .get("k1")
            .unwrap()
            .decrypt_blob(&parse_blob(&blob).unwrap(), &ctx(&[]))
            .is_none());
    }

    #[test]
    fn resolves_ids_arns_and_aliases() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), &["k1", "k2"]);
        for name in ["k2", "arn:aws:kms:us-east-1:111122223333:key/k2"] {
            assert_eq!(store.resolve(name).unwrap().id, "k2", "{name}");
        }
        for name in [
            "alias/sealing",
            "arn:aws:kms:us-east-1:111122223333:alias/sealing",
        ] {
            assert_eq!(store.resolve(name).unwrap().id, "k1", "{name}");
        }
        assert_eq!(
            store.resolve("k9").unwrap_err(),
            "Key 'arn:aws:kms:us-east-1:111122223333:key/k9' does not exist"
        );
        assert!(store
            .resolve("alias/other")
            .unwrap_err()
            .starts_with("Alias 'arn:aws:kms:us-east-1:111122223333:alias/other'"));
        assert!(store
            .resolve("arn:aws:kms:us-west-2:111122223333:key/k1")
            .is_err());
        assert!(store
            .resolve("arn:aws:kms:us-east-1:999988887777:key/k1")
            .is_err());
    }

    #[test]
    fn refuses_bad_ids_and_aliases() {
        let dir = tempfile::tempdir().unwrap();
        let policy = spec("x").policy;
        let bad = |id: &str, aliases: Vec<(String, String)>| {
            KeyStore::open(
                dir.path(),
                "us-east-1",
                "111122223333",
                vec![KeySpec {
                    id: id.into(),
                    policy: policy.clone(),
                }],
                aliases,
            )
            .is_err()
        };
        assert!(bad("a/b", vec![]));
        assert!(bad("", vec![]));
        assert!(bad("k", vec![("x".into(), "nope".into())]));
        assert!(bad("k", vec![("aws/x".into(), "k".into())]));
        assert!(!bad("k", vec![("x".into(), "k".into())]));
    }
}

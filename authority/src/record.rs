//! The wallet record: made inside the signer together with the key, kept
//! beside it, bound into its sealed blob and its attestation. Canonical JSON
//! (RFC 8785) of exactly these keys:
//!
//! ```text
//! {"deployment":"prod-eu","key_type":"secp256k1","owners":[…],"policy":{"allow":[…]},
//!  "prev":null,"public_key":"04…","threshold":1,"v":1,"version":1,"wallet_id":"w_…"}
//! ```
//!
//! `record_hash` is SHA-256 of those bytes. [`Record::parse`] accepts only
//! text that is exactly its own canonical form, so one record has one text
//! and one hash.

use std::fmt;

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::canonical;
use crate::error::{FieldError, FieldErrorKind as K};
use crate::fields::{check_name, first_difference, hex_array, hex_vec, quote, Object};
use crate::owner::{check_owner_list, Owner, MAX_OWNERS};
use crate::policy::Policy;
use crate::MAX_SAFE_INTEGER;

/// The longest record text, in bytes.
pub const MAX_RECORD_LEN: usize = 16 * 1024;
/// The record format version this code reads and writes (`v`).
pub const RECORD_FORMAT: u64 = 1;
/// The longest deployment name.
pub const MAX_DEPLOYMENT_LEN: usize = 64;
/// The longest wallet id (the signer's key id limit).
pub const MAX_WALLET_ID_LEN: usize = 128;

const FIELDS: [&str; 10] = [
    "deployment",
    "key_type",
    "owners",
    "policy",
    "prev",
    "public_key",
    "threshold",
    "v",
    "version",
    "wallet_id",
];

/// A wallet key's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyType {
    /// ECDSA on secp256k1.
    Secp256k1,
    /// ECDSA on P-256.
    P256,
    /// Ed25519.
    Ed25519,
}

impl KeyType {
    /// Every key type.
    pub const ALL: [KeyType; 3] = [Self::Secp256k1, Self::P256, Self::Ed25519];

    /// The name used in the API, tickets and bindings.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Secp256k1 => "secp256k1",
            Self::P256 => "p256",
            Self::Ed25519 => "ed25519",
        }
    }

    /// The key type named `s`.
    #[must_use]
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// SHA-256 of a record's canonical text.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordHash(pub [u8; 32]);

impl RecordHash {
    /// The hash of `text`'s bytes.
    #[must_use]
    pub fn of(text: &str) -> Self {
        Self(Sha256::digest(text.as_bytes()).into())
    }

    /// Lower-case hex.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Reads 64 hex digits.
    #[must_use]
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        (s.len() == 64 && hex::decode_to_slice(s, &mut out).is_ok()).then_some(Self(out))
    }
}

impl fmt::Display for RecordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for RecordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordHash({})", self.to_hex())
    }
}

/// The key a record describes: where it lives and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletKey {
    /// The signer's deployment name (`--deployment`, `dev` under
    /// `signet-host dev`): `[A-Za-z0-9._-]{1,64}`.
    pub deployment: String,
    /// The wallet id, which is also the signer's key id:
    /// `[A-Za-z0-9._-]{1,128}`.
    pub wallet_id: String,
    /// The key's type.
    pub key_type: KeyType,
    /// The public key: uncompressed SEC1 (65 bytes) for secp256k1 and P-256,
    /// 32 bytes for Ed25519.
    pub public_key: Vec<u8>,
}

/// A validated wallet record, with its canonical text and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    key: WalletKey,
    owners: Vec<Owner>,
    policy: Policy,
    prev: Option<RecordHash>,
    threshold: u32,
    version: u64,
    text: String,
    hash: RecordHash,
}

impl Record {
    /// The first record of a wallet (`version` 1, `prev` null). Without
    /// `threshold`: 1 when there are owners (any one of them approves), 0
    /// without. Without `policy`: permissive without owners, `{"allow":[]}`
    /// with them.
    pub fn new_initial(
        key: WalletKey,
        owners: Vec<Owner>,
        threshold: Option<u32>,
        policy: Option<Policy>,
    ) -> Result<Self, FieldError> {
        let threshold = threshold.unwrap_or(u32::from(!owners.is_empty()));
        let policy = policy.unwrap_or_else(|| Policy::default_for(!owners.is_empty()));
        Self::build(key, owners, policy, None, threshold, 1)
    }

    /// The record of a wallet from before records, or created without
    /// owners and policy: no owners, threshold 0, permissive policy.
    pub fn legacy(key: WalletKey) -> Result<Self, FieldError> {
        Self::new_initial(key, Vec::new(), None, None)
    }

    /// Whether this is the record of a wallet from before records (or made
    /// without owners and policy): version 1, no owners, the permissive
    /// policy.
    #[must_use]
    pub fn is_legacy(&self) -> bool {
        self.version == 1
            && self.prev.is_none()
            && self.owners.is_empty()
            && self.policy == Policy::permissive()
    }

    /// The record that follows this one: same key, `version` + 1, `prev` =
    /// this record's hash.
    pub fn next(
        &self,
        owners: Vec<Owner>,
        threshold: u32,
        policy: Policy,
    ) -> Result<Self, FieldError> {
        let version = self.version + 1;
        if version > MAX_SAFE_INTEGER {
            return Err(FieldError::new(
                "version",
                K::OutOfRange,
                "this wallet's record cannot change any more",
            ));
        }
        Self::build(
            self.key.clone(),
            owners,
            policy,
            Some(self.hash),
            threshold,
            version,
        )
    }

    /// Checks that `next` may follow this record: the same deployment,
    /// wallet and key, `version` one more, `prev` this record's hash.
    pub fn check_next(&self, next: &Record) -> Result<(), FieldError> {
        let same = |field: &str, ok: bool| {
            if ok {
                Ok(())
            } else {
                Err(FieldError::new(
                    field,
                    K::BrokenChain,
                    format!("differs from the current record's: a record change keeps the {field}"),
                ))
            }
        };
        same("deployment", next.key.deployment == self.key.deployment)?;
        same("wallet_id", next.key.wallet_id == self.key.wallet_id)?;
        same("key_type", next.key.key_type == self.key.key_type)?;
        same("public_key", next.key.public_key == self.key.public_key)?;
        if next.version != self.version + 1 {
            return Err(FieldError::new(
                "version",
                K::BrokenChain,
                format!(
                    "is {}; the record after version {} is version {}",
                    next.version,
                    self.version,
                    self.version + 1
                ),
            ));
        }
        if next.prev != Some(self.hash) {
            return Err(FieldError::new(
                "prev",
                K::BrokenChain,
                format!("must be the current record's hash {}", self.hash),
            ));
        }
        Ok(())
    }

    fn build(
        key: WalletKey,
        owners: Vec<Owner>,
        policy: Policy,
        prev: Option<RecordHash>,
        threshold: u32,
        version: u64,
    ) -> Result<Self, FieldError> {
        check_name(
            &key.deployment,
            "deployment",
            "deployment",
            MAX_DEPLOYMENT_LEN,
        )?;
        check_name(&key.wallet_id, "wallet_id", "wallet id", MAX_WALLET_ID_LEN)?;
        check_wallet_key(key.key_type, &key.public_key)?;
        check_owner_list(&owners, "owners")?;
        let n = owners.len();
        let threshold_ok = if n == 0 {
            threshold == 0
        } else {
            (1..=n).contains(&(threshold as usize))
        };
        if !threshold_ok {
            return Err(FieldError::new(
                "threshold",
                K::InvalidThreshold,
                if n == 0 {
                    format!("is {threshold}, but a wallet without owners has threshold 0")
                } else {
                    format!("is {threshold}; with {n} owner(s) it must be 1 to {n}")
                },
            ));
        }
        if version == 0 || version > MAX_SAFE_INTEGER {
            return Err(FieldError::new(
                "version",
                K::OutOfRange,
                "a record's version counts from 1",
            ));
        }
        if (version == 1) != prev.is_none() {
            return Err(FieldError::new(
                "prev",
                K::BrokenChain,
                if version == 1 {
                    "the first record (version 1) has prev null"
                } else {
                    "a record after version 1 names the previous record's hash in prev"
                },
            ));
        }
        let mut record = Self {
            key,
            owners,
            policy,
            prev,
            threshold,
            version,
            text: String::new(),
            hash: RecordHash([0; 32]),
        };
        let text = canonical::to_text(&record.to_value())?;
        if text.len() > MAX_RECORD_LEN {
            return Err(FieldError::new(
                "",
                K::TooLarge,
                format!(
                    "the record would be {} bytes; at most {MAX_RECORD_LEN} (fewer owners or origins)",
                    text.len()
                ),
            ));
        }
        record.hash = RecordHash::of(&text);
        record.text = text;
        Ok(record)
    }

    /// Reads a record from its canonical text, refusing anything else: text
    /// over [`MAX_RECORD_LEN`], unknown or missing fields, invalid values, and
    /// any text that is not byte for byte its own canonical form.
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        if text.len() > MAX_RECORD_LEN {
            return Err(FieldError::new(
                "",
                K::TooLarge,
                format!("a record is at most {MAX_RECORD_LEN} bytes"),
            ));
        }
        let value: Value = serde_json::from_str(text)
            .map_err(|e| FieldError::new("", K::NotJson, format!("not a record (JSON): {e}")))?;
        let record = Self::from_value(&value)?;
        if let Some(path) = first_difference(&record.to_value(), &value, "") {
            return Err(FieldError::new(
                path,
                K::NotCanonical,
                "not in canonical form (lower-case hex, EIP-55 addresses, uncompressed points, unpadded base64url, `allow` in name order)",
            ));
        }
        if record.text != text {
            return Err(FieldError::new(
                "",
                K::NotCanonical,
                "the record is not RFC 8785 canonical JSON (keys sorted, no whitespace, each key once)",
            ));
        }
        Ok(record)
    }

    /// Reads a record from a JSON value (any formatting); [`Record::parse`]
    /// is the strict reader of record texts.
    fn from_value(value: &Value) -> Result<Self, FieldError> {
        let obj = Object::new(value, "", "a record", &FIELDS)?;
        let v = obj.integer("v")?;
        if v != RECORD_FORMAT {
            return Err(FieldError::new(
                "v",
                K::UnsupportedVersion,
                format!("record format {v} is unknown to this signer, which reads format {RECORD_FORMAT}"),
            ));
        }
        let key_type_name = obj.string("key_type")?;
        let key_type = KeyType::from_name(key_type_name).ok_or_else(|| {
            FieldError::new(
                "key_type",
                K::InvalidValue,
                format!(
                    "unknown key type {}; the types are secp256k1, p256, ed25519",
                    quote(key_type_name)
                ),
            )
        })?;
        let key = WalletKey {
            deployment: obj.string("deployment")?.to_owned(),
            wallet_id: obj.string("wallet_id")?.to_owned(),
            key_type,
            public_key: hex_vec(obj.string("public_key")?, "public_key", "public_key", 65)?,
        };
        let owners = Owner::list_from_value(obj.required("owners")?, "owners")?;
        let threshold = obj.integer("threshold")?;
        let threshold = u32::try_from(threshold)
            .ok()
            .filter(|t| *t as usize <= MAX_OWNERS)
            .ok_or_else(|| {
                FieldError::new(
                    "threshold",
                    K::InvalidThreshold,
                    format!("at most {MAX_OWNERS} (the most owners a record has)"),
                )
            })?;
        let policy = Policy::from_value(obj.required("policy")?, "policy")?;
        let prev = match obj.required("prev")? {
            Value::Null => None,
            other => {
                let s = crate::fields::as_str(other, "prev")?;
                Some(RecordHash(hex_array::<32>(s, "prev", "prev")?))
            }
        };
        let version = obj.integer("version")?;
        Self::build(key, owners, policy, prev, threshold, version)
    }

    /// The record as JSON (its canonical text is [`Record::text`]).
    #[must_use]
    pub fn to_value(&self) -> Value {
        json!({
            "deployment": self.key.deployment,
            "key_type": self.key.key_type.as_str(),
            "owners": self.owners.iter().map(Owner::to_value).collect::<Vec<_>>(),
            "policy": self.policy.to_value(),
            "prev": self.prev.map(|h| h.to_hex()),
            "public_key": hex::encode(&self.key.public_key),
            "threshold": self.threshold,
            "v": RECORD_FORMAT,
            "version": self.version,
            "wallet_id": self.key.wallet_id,
        })
    }

    /// The canonical text: what is hashed, sealed with the key and shown.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// SHA-256 of [`Record::text`].
    #[must_use]
    pub fn record_hash(&self) -> RecordHash {
        self.hash
    }

    /// The key this record describes.
    #[must_use]
    pub fn key(&self) -> &WalletKey {
        &self.key
    }

    /// The deployment the record was made in.
    #[must_use]
    pub fn deployment(&self) -> &str {
        &self.key.deployment
    }

    /// The wallet id.
    #[must_use]
    pub fn wallet_id(&self) -> &str {
        &self.key.wallet_id
    }

    /// The owners, in record order.
    #[must_use]
    pub fn owners(&self) -> &[Owner] {
        &self.owners
    }

    /// The owner with id `id`.
    #[must_use]
    pub fn owner(&self, id: &str) -> Option<&Owner> {
        self.owners.iter().find(|o| o.id() == id)
    }

    /// How many owners must approve what the policy does not allow (0: no
    /// owners).
    #[must_use]
    pub fn threshold(&self) -> u32 {
        self.threshold
    }

    /// The policy.
    #[must_use]
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The previous record's hash (`None` for version 1).
    #[must_use]
    pub fn prev(&self) -> Option<RecordHash> {
        self.prev
    }

    /// The record's version, from 1.
    #[must_use]
    pub fn version(&self) -> u64 {
        self.version
    }
}

/// The owner settings of a request that creates a wallet or changes its
/// record: `owners`, `threshold` and `policy`, each optional. Read from the
/// request's JSON object, whose other keys (the API's own) are left alone.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordSettings {
    /// `owners`, when given.
    pub owners: Option<Vec<Owner>>,
    /// `threshold`, when given.
    pub threshold: Option<u32>,
    /// `policy`, when given.
    pub policy: Option<Policy>,
}

impl RecordSettings {
    /// Reads `owners`, `threshold` and `policy` from a request object; a
    /// JSON `null` counts as absent. Refusals name the field
    /// (`owners[1].public_key`, `policy.allow[2]`).
    pub fn from_request(request: &Value) -> Result<Self, FieldError> {
        let obj = Object::open(request, "", "the request")?;
        let present = |k: &str| obj.get(k).filter(|v| !v.is_null());
        let owners = present("owners")
            .map(|v| Owner::list_from_value(v, "owners"))
            .transpose()?;
        let threshold = present("threshold")
            .map(|v| {
                crate::fields::as_integer(v, "threshold").and_then(|t| {
                    u32::try_from(t)
                        .ok()
                        .filter(|t| *t as usize <= MAX_OWNERS)
                        .ok_or_else(|| {
                            FieldError::new(
                                "threshold",
                                K::InvalidThreshold,
                                format!("at most {MAX_OWNERS} (the most owners a record has)"),
                            )
                        })
                })
            })
            .transpose()?;
        let policy = present("policy")
            .map(|v| Policy::from_value(v, "policy"))
            .transpose()?;
        Ok(Self {
            owners,
            threshold,
            policy,
        })
    }

    /// The first record of a new wallet with these settings (defaults as in
    /// [`Record::new_initial`]).
    pub fn initial(self, key: WalletKey) -> Result<Record, FieldError> {
        Record::new_initial(
            key,
            self.owners.unwrap_or_default(),
            self.threshold,
            self.policy,
        )
    }

    /// The record that would follow `current` with these settings; what is
    /// not given stays as it is.
    pub fn next(self, current: &Record) -> Result<Record, FieldError> {
        current.next(
            self.owners.unwrap_or_else(|| current.owners.clone()),
            self.threshold.unwrap_or(current.threshold),
            self.policy.unwrap_or_else(|| current.policy.clone()),
        )
    }
}

/// Whether the change from `old` to `new` loosens anything, so that it must
/// wait the wallet's change delay. It does when:
///
/// - a kind is added to `allow` (signable without owners that was not);
/// - the threshold is lowered;
/// - an owner is removed, or an owner's key, origins or relying party change
///   (an owner keeps the id but loses control);
/// - an owner is added (a new key can approve what the old owners alone
///   could: with no owners before, nothing outside the policy was signable
///   at all).
///
/// Raising the threshold and removing kinds from `allow` tighten; so does
/// nothing changing. The comparison is on whole owners (id and key), not
/// on their order.
#[must_use]
pub fn loosens(old: &Record, new: &Record) -> bool {
    let owner_removed = old.owners.iter().any(|o| !new.owners.contains(o));
    let owner_added = new.owners.iter().any(|o| !old.owners.contains(o));
    new.policy.loosens(&old.policy) || new.threshold < old.threshold || owner_removed || owner_added
}

/// Checks a wallet public key for its type.
fn check_wallet_key(key_type: KeyType, bytes: &[u8]) -> Result<(), FieldError> {
    let bad = |why: &str| {
        FieldError::new(
            "public_key",
            K::InvalidPublicKey,
            format!("not a {} public key: {why}", key_type.as_str()),
        )
    };
    match key_type {
        KeyType::Secp256k1 | KeyType::P256 => {
            if bytes.len() != 65 || bytes[0] != 0x04 {
                return Err(bad(
                    "a wallet key is an uncompressed SEC1 point (65 bytes starting 04)",
                ));
            }
            let valid = match key_type {
                KeyType::Secp256k1 => k256::ecdsa::VerifyingKey::from_sec1_bytes(bytes).is_ok(),
                _ => p256::ecdsa::VerifyingKey::from_sec1_bytes(bytes).is_ok(),
            };
            if !valid {
                return Err(bad("not a point on the curve"));
            }
            Ok(())
        }
        KeyType::Ed25519 => crate::owner::ed25519_key(bytes, "public_key").map(|_| ()),
    }
}

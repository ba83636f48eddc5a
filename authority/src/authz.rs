//! Authorization v1: the exact text an owner signs to approve one request.
//!
//! ```text
//! {"action":"sign","deployment":"prod-eu","digest":"<64 hex>","expires_at":1765000000,
//!  "payload_sha256":"<64 hex>","purpose":"signet.authz","record_hash":"<64 hex>",
//!  "request_id":"<32 hex>","v":1,"wallet_id":"w_…"}
//! ```
//!
//! RFC 8785 canonical JSON, UTF-8; `digest` is present exactly when `action`
//! is `sign`. `payload_sha256` binds the request: for `sign` the SHA-256 of
//! the request's content object in canonical form ([`payload_sha256`]); for
//! `update_record` the new record's hash; for `resume` the current record's
//! hash.

use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};

use crate::canonical;
use crate::error::{FieldError, FieldErrorKind as K};
use crate::fields::{check_name, first_difference, hex_array, quote, Object};
use crate::record::{Record, RecordHash, MAX_DEPLOYMENT_LEN, MAX_WALLET_ID_LEN};
use crate::MAX_SAFE_INTEGER;

/// The longest authorization text, in bytes (the longest valid one is about
/// 620).
pub const MAX_AUTHORIZATION_LEN: usize = 1024;
/// The `purpose` of every authorization.
pub const PURPOSE: &str = "signet.authz";
/// The authorization format this code reads and writes (`v`).
pub const AUTHORIZATION_FORMAT: u64 = 1;
/// How far ahead of the signer's clock `expires_at` may be, in seconds.
pub const MAX_LIFETIME_SECONDS: u64 = 600;

const FIELDS: [&str; 10] = [
    "action",
    "deployment",
    "digest",
    "expires_at",
    "payload_sha256",
    "purpose",
    "record_hash",
    "request_id",
    "v",
    "wallet_id",
];

/// What an authorization lets happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// Sign one request outside the policy.
    Sign,
    /// Replace the wallet's record (owners, threshold, policy).
    UpdateRecord,
    /// Lift the wallet's cold windows.
    Resume,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 3] = [Self::Sign, Self::UpdateRecord, Self::Resume];

    /// The name written in `action`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sign => "sign",
            Self::UpdateRecord => "update_record",
            Self::Resume => "resume",
        }
    }

    /// The action named `s`.
    #[must_use]
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// Whether a passkey must also verify its user (PIN, biometrics) for
    /// this action: record changes and resumes, not signatures.
    #[must_use]
    pub fn needs_user_verification(self) -> bool {
        !matches!(self, Self::Sign)
    }
}

/// One request to be approved, with what binds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// A signature: the content object's hash ([`payload_sha256`]) and the
    /// digest the signer will sign.
    Sign {
        /// SHA-256 of the request's content object in canonical form.
        payload_sha256: [u8; 32],
        /// What will be signed.
        digest: [u8; 32],
    },
    /// A record change to the record hashing to `new_record`.
    UpdateRecord {
        /// The proposed record's hash.
        new_record: RecordHash,
    },
    /// Lifting cold windows of the wallet under its current record.
    Resume,
}

impl Request {
    /// The request's action.
    #[must_use]
    pub fn action(&self) -> Action {
        match self {
            Self::Sign { .. } => Action::Sign,
            Self::UpdateRecord { .. } => Action::UpdateRecord,
            Self::Resume => Action::Resume,
        }
    }

    /// `payload_sha256` of this request against the record `current`.
    #[must_use]
    pub fn payload_sha256(&self, current: RecordHash) -> [u8; 32] {
        match self {
            Self::Sign { payload_sha256, .. } => *payload_sha256,
            Self::UpdateRecord { new_record } => new_record.0,
            Self::Resume => current.0,
        }
    }

    /// `digest`: present for signatures only.
    #[must_use]
    pub fn digest(&self) -> Option<[u8; 32]> {
        match self {
            Self::Sign { digest, .. } => Some(*digest),
            _ => None,
        }
    }
}

/// A validated authorization, with its canonical text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    action: Action,
    deployment: String,
    digest: Option<[u8; 32]>,
    expires_at: u64,
    payload_sha256: [u8; 32],
    record_hash: RecordHash,
    request_id: [u8; 16],
    wallet_id: String,
    text: String,
}

impl Authorization {
    /// The authorization of `request` on the wallet of `record` (its
    /// deployment, wallet id and hash), expiring at `expires_at` (Unix
    /// seconds), with `request_id` (16 random bytes).
    pub fn new(
        record: &Record,
        request: Request,
        expires_at: u64,
        request_id: [u8; 16],
    ) -> Result<Self, FieldError> {
        Self::build(
            request.action(),
            record.deployment().to_owned(),
            request.digest(),
            expires_at,
            request.payload_sha256(record.record_hash()),
            record.record_hash(),
            request_id,
            record.wallet_id().to_owned(),
        )
    }

    /// A new authorization valid for `lifetime_s` seconds (1 to
    /// [`MAX_LIFETIME_SECONDS`]) from `now_s`, its request id the 16
    /// `random` bytes the caller drew from a CSPRNG (this crate has no RNG).
    pub fn fresh(
        record: &Record,
        request: Request,
        now_s: u64,
        lifetime_s: u64,
        random: [u8; 16],
    ) -> Result<Self, FieldError> {
        if !(1..=MAX_LIFETIME_SECONDS).contains(&lifetime_s) {
            return Err(FieldError::new(
                "expires_at",
                K::OutOfRange,
                format!("an authorization lives 1 to {MAX_LIFETIME_SECONDS} seconds"),
            ));
        }
        Self::new(record, request, now_s.saturating_add(lifetime_s), random)
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        action: Action,
        deployment: String,
        digest: Option<[u8; 32]>,
        expires_at: u64,
        payload_sha256: [u8; 32],
        record_hash: RecordHash,
        request_id: [u8; 16],
        wallet_id: String,
    ) -> Result<Self, FieldError> {
        check_name(&deployment, "deployment", "deployment", MAX_DEPLOYMENT_LEN)?;
        check_name(&wallet_id, "wallet_id", "wallet id", MAX_WALLET_ID_LEN)?;
        if expires_at > MAX_SAFE_INTEGER {
            return Err(FieldError::new(
                "expires_at",
                K::OutOfRange,
                format!("must be at most {MAX_SAFE_INTEGER}"),
            ));
        }
        match (action, digest) {
            (Action::Sign, None) => {
                return Err(FieldError::new(
                    "digest",
                    K::Missing,
                    "an authorization to sign names the digest that will be signed",
                ))
            }
            (Action::UpdateRecord | Action::Resume, Some(_)) => {
                return Err(FieldError::new(
                    "digest",
                    K::UnknownField,
                    format!(
                        "only an authorization to sign has a digest, not one to {}",
                        action.as_str()
                    ),
                ))
            }
            _ => {}
        }
        let mut authz = Self {
            action,
            deployment,
            digest,
            expires_at,
            payload_sha256,
            record_hash,
            request_id,
            wallet_id,
            text: String::new(),
        };
        authz.text = canonical::to_text(&authz.to_value())?;
        Ok(authz)
    }

    /// Reads an authorization from its canonical text: at most
    /// [`MAX_AUTHORIZATION_LEN`] bytes, `purpose` `signet.authz`, `v` 1, no
    /// unknown field, `digest` exactly with `sign`, and byte for byte its own
    /// canonical form.
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        if text.len() > MAX_AUTHORIZATION_LEN {
            return Err(FieldError::new(
                "",
                K::TooLarge,
                format!("an authorization is at most {MAX_AUTHORIZATION_LEN} bytes"),
            ));
        }
        let value: Value = serde_json::from_str(text).map_err(|e| {
            FieldError::new("", K::NotJson, format!("not an authorization (JSON): {e}"))
        })?;
        let obj = Object::open(&value, "", "an authorization")?;
        // Purpose and version first: a text made for something else is
        // refused as that, not for its fields.
        let purpose = obj.string("purpose")?;
        if purpose != PURPOSE {
            return Err(FieldError::new(
                "purpose",
                K::WrongPurpose,
                format!(
                    "is {}: this text was not made as a Signet authorization (purpose {PURPOSE:?})",
                    quote(purpose)
                ),
            ));
        }
        let v = obj.integer("v")?;
        if v != AUTHORIZATION_FORMAT {
            return Err(FieldError::new(
                "v",
                K::UnsupportedVersion,
                format!("authorization format {v} is unknown to this signer, which reads format {AUTHORIZATION_FORMAT}"),
            ));
        }
        obj.only(&FIELDS, "an authorization")?;
        let action_name = obj.string("action")?;
        let action = Action::from_name(action_name).ok_or_else(|| {
            FieldError::new(
                "action",
                K::InvalidValue,
                format!(
                    "unknown action {}; the actions are sign, update_record, resume",
                    quote(action_name)
                ),
            )
        })?;
        let digest = match obj.optional_string("digest")? {
            None if obj.get("digest").is_some() => {
                return Err(FieldError::new(
                    "digest",
                    K::WrongType,
                    "leave digest out rather than null",
                ))
            }
            None => None,
            Some(s) => Some(hex_array::<32>(s, "digest", "digest")?),
        };
        let authz = Self::build(
            action,
            obj.string("deployment")?.to_owned(),
            digest,
            obj.integer("expires_at")?,
            hex_array::<32>(
                obj.string("payload_sha256")?,
                "payload_sha256",
                "payload_sha256",
            )?,
            RecordHash(hex_array::<32>(
                obj.string("record_hash")?,
                "record_hash",
                "record_hash",
            )?),
            hex_array::<16>(obj.string("request_id")?, "request_id", "request_id")?,
            obj.string("wallet_id")?.to_owned(),
        )?;
        if let Some(path) = first_difference(&authz.to_value(), &value, "") {
            return Err(FieldError::new(
                path,
                K::NotCanonical,
                "not in canonical form (hex is lower case)",
            ));
        }
        if authz.text != text {
            return Err(FieldError::new(
                "",
                K::NotCanonical,
                "the authorization is not RFC 8785 canonical JSON (keys sorted, no whitespace, each key once)",
            ));
        }
        Ok(authz)
    }

    fn to_value(&self) -> Value {
        let mut map = Map::new();
        map.insert("action".into(), json!(self.action.as_str()));
        map.insert("deployment".into(), json!(self.deployment));
        if let Some(d) = &self.digest {
            map.insert("digest".into(), json!(hex::encode(d)));
        }
        map.insert("expires_at".into(), json!(self.expires_at));
        map.insert(
            "payload_sha256".into(),
            json!(hex::encode(self.payload_sha256)),
        );
        map.insert("purpose".into(), json!(PURPOSE));
        map.insert("record_hash".into(), json!(self.record_hash.to_hex()));
        map.insert("request_id".into(), json!(hex::encode(self.request_id)));
        map.insert("v".into(), json!(AUTHORIZATION_FORMAT));
        map.insert("wallet_id".into(), json!(self.wallet_id));
        Value::Object(map)
    }

    /// The canonical text: the bytes owners sign.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// SHA-256 of the text: a passkey's WebAuthn challenge.
    #[must_use]
    pub fn sha256(&self) -> [u8; 32] {
        Sha256::digest(self.text.as_bytes()).into()
    }

    /// The action.
    #[must_use]
    pub fn action(&self) -> Action {
        self.action
    }

    /// The deployment the request is for.
    #[must_use]
    pub fn deployment(&self) -> &str {
        &self.deployment
    }

    /// The wallet the request is for.
    #[must_use]
    pub fn wallet_id(&self) -> &str {
        &self.wallet_id
    }

    /// The hash of the record the request is made under.
    #[must_use]
    pub fn record_hash(&self) -> RecordHash {
        self.record_hash
    }

    /// The hash binding the request (see the module docs).
    #[must_use]
    pub fn payload_sha256(&self) -> &[u8; 32] {
        &self.payload_sha256
    }

    /// The digest to be signed (`sign` only).
    #[must_use]
    pub fn digest(&self) -> Option<&[u8; 32]> {
        self.digest.as_ref()
    }

    /// When the authorization expires (Unix seconds; valid through that
    /// second).
    #[must_use]
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// The request id: never accepted twice.
    #[must_use]
    pub fn request_id(&self) -> &[u8; 16] {
        &self.request_id
    }
}

/// `payload_sha256` of a signing request: SHA-256 of the RFC 8785 form of its
/// content object, one of `{"transaction": …}`, `{"typed_data": …}`,
/// `{"message": …, "encoding": …}` or `{"digest": …}` (no other key).
/// Numbers must be integers within ±(2^53 − 1): canonical JSON writes numbers
/// as doubles, and a larger integer would be rounded (write it as a string).
pub fn payload_sha256(content: &Value) -> Result<[u8; 32], FieldError> {
    let obj = Object::open(content, "", "a request's content")?;
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let shape_ok = matches!(
        keys.as_slice(),
        ["transaction"] | ["typed_data"] | ["digest"] | ["encoding", "message"]
    );
    if !shape_ok {
        return Err(FieldError::new(
            "",
            K::InvalidValue,
            "the content is exactly one of {transaction}, {typed_data}, {message, encoding} or {digest}",
        ));
    }
    canonical::check_exact_numbers(content, "")?;
    let text = canonical::to_text(content)?;
    Ok(Sha256::digest(text.as_bytes()).into())
}

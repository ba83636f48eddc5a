//! Requests, responses and the structures they carry.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u16 = 1;

/// Longest key id accepted (the host uses UUID-like wallet ids).
pub const MAX_KEY_ID_LEN: usize = 128;

/// Longest Ed25519 message accepted (DESIGN.md: at most 64 KiB).
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;

/// Nonce length in the hello.
pub const HELLO_NONCE_LEN: usize = 32;

/// A signature algorithm and curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    /// ECDSA on secp256k1 (Ethereum, Bitcoin): 32-byte prehash, low-S, recovery id.
    Secp256k1,
    /// ECDSA on NIST P-256: 32-byte prehash, low-S.
    P256,
    /// PureEdDSA on Curve25519: signs the message itself.
    Ed25519,
}

impl KeyType {
    /// The name used in the API, tickets (`kty`) and bindings.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Secp256k1 => "secp256k1",
            Self::P256 => "p256",
            Self::Ed25519 => "ed25519",
        }
    }

    /// All key types.
    pub const ALL: [KeyType; 3] = [Self::Secp256k1, Self::P256, Self::Ed25519];
}

impl FromStr for KeyType {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|k| k.as_str() == s).ok_or(())
    }
}

impl std::fmt::Display for KeyType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key sealed (AES-256-GCM) under the signer's sealing key. The host stores
/// it opaquely and hands it back when the signer asks (`key_not_loaded`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedKey {
    /// Version of the sealed-key format.
    pub format: u16,
    /// Version of the sealing key it is sealed under.
    pub sealing_key_version: u32,
    /// The key's id (the wallet id); bound by the AAD.
    pub key_id: String,
    /// The key's type; bound by the AAD.
    pub key_type: KeyType,
    /// AES-GCM nonce (12 bytes).
    #[serde(with = "serde_bytes")]
    pub nonce: Vec<u8>,
    /// Ciphertext and tag of the private key.
    #[serde(with = "serde_bytes")]
    pub ciphertext: Vec<u8>,
    /// Format 2: SHA-256 of the wallet's record (bound by the AAD), so the
    /// blob loads only with that record. Absent in format 1 (wallets from
    /// before records), whose record is the permissive one without owners.
    #[serde(default, with = "serde_bytes", skip_serializing_if = "Option::is_none")]
    pub record_hash: Option<Vec<u8>>,
}

impl std::fmt::Debug for SealedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedKey")
            .field("format", &self.format)
            .field("sealing_key_version", &self.sealing_key_version)
            .field("key_id", &self.key_id)
            .field("key_type", &self.key_type)
            .field("record_hash", &self.record_hash.as_deref().map(hex::encode))
            .field("ciphertext", &"[sealed]")
            .finish()
    }
}

/// Largest encoded sealed key accepted.
pub const MAX_SEALED_LEN: usize = 1024;

impl SealedKey {
    /// The CBOR bytes the host stores.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if ciborium::ser::into_writer(self, &mut out).is_err() {
            out.clear();
        }
        out
    }

    /// Decodes stored bytes (size-capped, no trailing bytes).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() > MAX_SEALED_LEN {
            return Err(format!(
                "sealed key is {} bytes, over {MAX_SEALED_LEN}",
                bytes.len()
            ));
        }
        let mut rest = bytes;
        let sealed: Self =
            ciborium::de::from_reader(&mut rest).map_err(|e| format!("sealed key: {e}"))?;
        if !rest.is_empty() {
            return Err("sealed key: trailing bytes".into());
        }
        Ok(sealed)
    }
}

/// Ask the signer to sign. The ticket authorizes exactly this key and digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignRequest {
    /// Key (wallet) id.
    pub key_id: String,
    /// The ticket (JWT) minted by the host.
    pub ticket: String,
    /// The 32-byte digest: the prehash for ECDSA, SHA-256 of the message for Ed25519.
    #[serde(with = "serde_bytes")]
    pub digest: Vec<u8>,
    /// The message, for Ed25519 only (its SHA-256 must equal `digest`).
    #[serde(default, with = "serde_bytes")]
    pub message: Option<Vec<u8>>,
    /// Return an attestation document binding the signature.
    #[serde(default)]
    pub attest: bool,
    /// The key's sealed blob, so a signer that lost its cache can load it in
    /// the same round trip.
    #[serde(default)]
    pub sealed: Option<SealedKey>,
    /// The wallet's record text, with `sealed` (absent: the permissive
    /// record of a wallet without owners).
    #[serde(default)]
    pub record: Option<String>,
    /// What is signed, as the content object whose canonical form owners
    /// approve: `{"digest":…}`, `{"message":…,"encoding":…}`,
    /// `{"transaction":…}` or `{"typed_data":…}` (JSON). The signer computes
    /// the digest from it and refuses a `digest` that differs. Absent: the
    /// request is an opaque digest (kind `digest`).
    #[serde(default)]
    pub content: Option<String>,
    /// Owners' approvals of this exact request (authorization v1), needed
    /// when the wallet's policy does not allow the request on its own.
    #[serde(default)]
    pub approvals: Vec<signet_authority::Approval>,
}

/// Replace a wallet's record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateRecordRequest {
    /// Key (wallet) id.
    pub key_id: String,
    /// The key's sealed blob, for a signer that does not hold the key.
    #[serde(default)]
    pub sealed: Option<SealedKey>,
    /// The current record's text, with `sealed`.
    #[serde(default)]
    pub record: Option<String>,
    /// The next record's canonical text (version + 1, `prev` the current
    /// record's hash, the same key).
    pub new_record: String,
    /// The current owners' approvals of `update_record` to the new record's
    /// hash.
    #[serde(default)]
    pub approvals: Vec<signet_authority::Approval>,
}

/// A dry run of a sign request: what the wallet's record would decide,
/// nothing signed, nothing reserved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// Key (wallet) id.
    pub key_id: String,
    /// The key's sealed blob, for a signer that does not hold the key.
    #[serde(default)]
    pub sealed: Option<SealedKey>,
    /// The wallet's record text, with `sealed`.
    #[serde(default)]
    pub record: Option<String>,
    /// The content object, as in [`SignRequest::content`].
    pub content: String,
    /// Owners' approvals, as in [`SignRequest::approvals`] (checked, not
    /// used up).
    #[serde(default)]
    pub approvals: Vec<signet_authority::Approval>,
}

/// What a sign request would get.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckResult {
    /// It would be signed.
    pub allowed: bool,
    /// It would be signed only with the owners' approvals (false for a
    /// wallet without owners: then nobody can approve it).
    pub needs_owners: bool,
    /// The rule that refuses (`max_value_wei`, `windows[0].cold`).
    #[serde(default)]
    pub rule: Option<String>,
    /// Why, in words.
    #[serde(default)]
    pub message: Option<String>,
    /// What the signer decoded from the content (JSON): kind, chain,
    /// recipient, value, the call or permit.
    pub decoded: String,
}

/// The owners' `resume`: lift a wallet's cold windows on this signer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResumeRequest {
    /// Key (wallet) id.
    pub key_id: String,
    /// The key's sealed blob, for a signer that does not hold the key.
    #[serde(default)]
    pub sealed: Option<SealedKey>,
    /// The wallet's record text, with `sealed`.
    #[serde(default)]
    pub record: Option<String>,
    /// The owners' approvals of action `resume` for the current record.
    pub approvals: Vec<signet_authority::Approval>,
}

/// A request from the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// First frame of a connection: answers the signer's challenge.
    Hello {
        /// Protocol version.
        version: u16,
        /// Fresh random bytes of the host; the signer's attestation document
        /// carries them as its nonce.
        #[serde(with = "serde_bytes")]
        client_nonce: Vec<u8>,
        /// `HMAC-SHA256(INTERNAL_API_KEY, "signet/hello/host/v1" ‖ challenge ‖ client_nonce)`.
        #[serde(with = "serde_bytes")]
        proof: Vec<u8>,
    },
    /// Generate a key inside the signer.
    Generate {
        /// Key (wallet) id chosen by the host.
        key_id: String,
        /// Key type.
        key_type: KeyType,
        /// The record's settings as JSON, `{owners?, threshold?, policy?}`;
        /// absent: no owners and the permissive policy.
        #[serde(default)]
        settings: Option<String>,
    },
    /// Load a sealed key into the signer's cache.
    LoadSealed {
        /// The blob.
        sealed: SealedKey,
        /// The wallet's record text (absent: the permissive record of a
        /// wallet without owners); its hash must be the blob's.
        #[serde(default)]
        record: Option<String>,
    },
    /// Sign.
    Sign(SignRequest),
    /// Destroy a key: zeroized in the signer (and removed from the HSM).
    Destroy {
        /// Key id.
        key_id: String,
    },
    /// List the ids of keys currently loaded, in id order, one page at a
    /// time (a signer may hold more ids than one frame carries).
    List {
        /// Only ids after this one.
        #[serde(default)]
        after: Option<String>,
        /// At most this many (capped by the signer at [`MAX_LIST_PAGE`]).
        #[serde(default)]
        limit: Option<u32>,
    },
    /// Signer status.
    Status,
    /// Hands a signer started with `--secrets host` its runtime secrets.
    /// Accepted once, before the hello, on a signer that asked for it in its
    /// challenge; the host sends it only after checking the signer's
    /// attestation document (a pre-hello `Attest`).
    Provision(ProvisionSecrets),
    /// KMS sealing: obtain the sealing keys from KMS (Decrypt of each stored
    /// `CiphertextBlob`) and, with `generate`, a new version
    /// (GenerateDataKey), with the credentials given.
    Unseal(UnsealRequest),
    /// Re-seals a blob under the current sealing key version (rotation): the
    /// key is unsealed and sealed again inside the signer, never outside.
    Reseal {
        /// The blob, sealed under an older version.
        sealed: SealedKey,
    },
    /// Replaces a wallet's record with the next one (owners, threshold,
    /// policy): approved by the current record's owners (action
    /// `update_record`), or, for a wallet without owners, only when the
    /// change loosens nothing. The key is re-sealed bound to the new record;
    /// answered as `generated` (the new blob, record and attestation).
    UpdateRecord(UpdateRecordRequest),
    /// What a sign request would get: answered as `checked`.
    Check(CheckRequest),
    /// The owners' `resume`: answered as `resumed`.
    Resume(ResumeRequest),
    /// Forgets a sealing key version (after a rotation re-sealed every blob):
    /// blobs sealed under it are refused from then on.
    RetireSealingKey {
        /// The version.
        version: u32,
    },
    /// A fresh attestation document, optionally binding a key.
    Attest {
        /// Caller nonce (at most 512 bytes).
        #[serde(default, with = "serde_bytes")]
        nonce: Option<Vec<u8>>,
        /// Key to bind (its public key and key binding).
        #[serde(default)]
        key_id: Option<String>,
    },
}

/// Longest page of key ids a `List` answers.
pub const MAX_LIST_PAGE: u32 = 1000;

/// Runtime secrets a `--secrets host` signer receives from its host (inside
/// an enclave there is no environment to read them from).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisionSecrets {
    /// `INTERNAL_API_KEY`: the hello's shared key.
    #[serde(with = "serde_bytes")]
    pub internal_api_key: Vec<u8>,
    /// `TICKET_SIGNING_SECRET`.
    #[serde(with = "serde_bytes")]
    pub ticket_signing_secret: Vec<u8>,
    /// `TICKET_SIGNING_SECRET_PREVIOUS`, during a ticket secret rotation.
    #[serde(default, with = "serde_bytes")]
    pub ticket_signing_secret_previous: Option<Vec<u8>>,
}

impl std::fmt::Debug for ProvisionSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProvisionSecrets([redacted])")
    }
}

impl Drop for ProvisionSecrets {
    fn drop(&mut self) {
        use zeroize::Zeroize as _;
        self.internal_api_key.zeroize();
        self.ticket_signing_secret.zeroize();
        self.ticket_signing_secret_previous.zeroize();
    }
}

/// AWS credentials the host hands the signer for its KMS calls, with their
/// expiry (instance-role credentials expire; the host refreshes them).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsCredentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token (temporary credentials).
    #[serde(default)]
    pub session_token: Option<String>,
    /// Unix seconds after which they are no longer valid.
    #[serde(default)]
    pub expires_at: Option<u64>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Drop for AwsCredentials {
    fn drop(&mut self) {
        use zeroize::Zeroize as _;
        self.secret_access_key.zeroize();
        self.session_token.zeroize();
    }
}

/// One sealing key version as the host stores it: the KMS `CiphertextBlob`
/// of the data key (useless without KMS and the attested enclave).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredDataKey {
    /// Sealing key version (also in the KMS encryption context).
    pub version: u32,
    /// KMS `CiphertextBlob`.
    #[serde(with = "serde_bytes")]
    pub ciphertext_blob: Vec<u8>,
    /// SHA-256("signet/sealing-key-check/v1" ‖ data key), made by the signer
    /// when the version was created: a later `Decrypt` must give a key with
    /// the same check, or it is refused (a tampered answer never becomes a
    /// sealing key). Reveals nothing of a 256-bit random key.
    #[serde(default, with = "serde_bytes")]
    pub key_check: Option<Vec<u8>>,
}

/// Ask a KMS-sealing signer for its sealing keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnsealRequest {
    /// Credentials for the KMS calls.
    pub credentials: AwsCredentials,
    /// Stored versions to obtain with KMS `Decrypt` (those the signer
    /// already holds are skipped).
    pub data_keys: Vec<StoredDataKey>,
    /// Also create this new version with KMS `GenerateDataKey` (first boot,
    /// rotation); it becomes the current one.
    #[serde(default)]
    pub generate: Option<u32>,
}

/// The signer's sealing keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealingState {
    /// `dev` (a key file) or `kms`.
    pub mode: String,
    /// The version new keys are sealed under; `None` until unsealed.
    #[serde(default)]
    pub current: Option<u32>,
    /// Every version held.
    #[serde(default)]
    pub versions: Vec<u32>,
    /// The pinned KMS key (`--kms-key-id`), for `kms`.
    #[serde(default)]
    pub kms_key_id: Option<String>,
}

/// The answer to an `Unseal`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unsealed {
    /// The sealing keys now held.
    pub state: SealingState,
    /// The version created by `generate`, for the host to store.
    #[serde(default)]
    pub generated: Option<StoredDataKey>,
}

/// What the signer says about itself in the hello.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HelloInfo {
    /// Protocol version.
    pub version: u16,
    /// `HMAC-SHA256(INTERNAL_API_KEY, "signet/hello/signer/v1" ‖ challenge ‖ client_nonce)`.
    #[serde(with = "serde_bytes")]
    pub proof: Vec<u8>,
    /// Attestation document with `nonce = client_nonce` (absent with `--attestation none`).
    #[serde(default, with = "serde_bytes")]
    pub attestation: Option<Vec<u8>>,
    /// Key backend (`software`, `pkcs11`).
    pub backend: String,
    /// Attestation mode (`nsm`, `dev`, `none`).
    pub attestation_mode: String,
    /// The signer's deployment (`--deployment`), written in every record.
    #[serde(default)]
    pub deployment: Option<String>,
    /// Current sealing key version (software backend).
    #[serde(default)]
    pub sealing_key_version: Option<u32>,
    /// The sealing keys (software backend).
    #[serde(default)]
    pub sealing: Option<SealingState>,
}

/// A key's public half.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicKeyInfo {
    /// Key id.
    pub key_id: String,
    /// Key type.
    pub key_type: KeyType,
    /// SEC1 uncompressed (ECDSA) or 32 bytes (Ed25519).
    #[serde(with = "serde_bytes")]
    pub public_key: Vec<u8>,
}

/// A generated key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratedKey {
    /// The public half.
    pub key: PublicKeyInfo,
    /// The sealed private half (software backend; none for an HSM).
    #[serde(default)]
    pub sealed: Option<SealedKey>,
    /// Attestation document binding the key and its record (binding v2).
    #[serde(default, with = "serde_bytes")]
    pub attestation: Option<Vec<u8>>,
    /// The wallet's record, as made by the signer (canonical JSON).
    #[serde(default)]
    pub record: Option<String>,
}

/// A signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureInfo {
    /// Raw 64 bytes: `r‖s` (low-S) for ECDSA, the Ed25519 signature otherwise.
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
    /// secp256k1 recovery id (0 or 1).
    #[serde(default)]
    pub recovery_id: Option<u8>,
    /// The signing key's public key.
    #[serde(with = "serde_bytes")]
    pub public_key: Vec<u8>,
    /// Attestation document binding the signature, when asked.
    #[serde(default, with = "serde_bytes")]
    pub attestation: Option<Vec<u8>>,
}

/// Signer status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignerStatus {
    /// Key backend.
    pub backend: String,
    /// Attestation mode.
    pub attestation_mode: String,
    /// Keys loaded now.
    pub loaded_keys: u64,
    /// Capacity of the key cache.
    pub key_cache_capacity: u64,
    /// Tickets held in the replay cache.
    pub replay_cache_entries: u64,
    /// Current sealing key version.
    #[serde(default)]
    pub sealing_key_version: Option<u32>,
    /// The sealing keys (software backend).
    #[serde(default)]
    pub sealing: Option<SealingState>,
    /// Seconds since start.
    pub uptime_seconds: u64,
}

/// A response from the signer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Response {
    /// Sent by the signer as soon as a connection opens (request id 0).
    Challenge {
        /// Protocol version.
        version: u16,
        /// Fresh random challenge.
        #[serde(with = "serde_bytes")]
        challenge: Vec<u8>,
        /// The signer (`--secrets host`) waits for its runtime secrets: a
        /// pre-hello `Attest` then `Provision` are accepted.
        #[serde(default)]
        provisioning: bool,
    },
    /// The secrets were accepted; go on with the hello.
    Provisioned,
    /// The sealing keys were obtained.
    Unsealed(Unsealed),
    /// A re-sealed blob.
    Resealed {
        /// The blob under the current version.
        sealed: SealedKey,
        /// The key's public half (the host checks it is the wallet's).
        public_key: Vec<u8>,
    },
    /// The sealing keys after a change.
    Sealing(SealingState),
    /// The hello succeeded.
    Hello(HelloInfo),
    /// A key was generated.
    Generated(GeneratedKey),
    /// A sealed key was loaded.
    Loaded(PublicKeyInfo),
    /// A signature.
    Signed(SignatureInfo),
    /// A dry run's answer.
    Checked(CheckResult),
    /// The wallet's windows are no longer cold on this signer.
    Resumed {
        /// Key id.
        key_id: String,
    },
    /// A key was destroyed.
    Destroyed {
        /// Key id.
        key_id: String,
    },
    /// Loaded key ids, one page.
    Keys {
        /// Ids, in order.
        key_ids: Vec<String>,
        /// The id to pass as `after` for the next page; `None` on the last.
        #[serde(default)]
        next: Option<String>,
    },
    /// Status.
    Status(SignerStatus),
    /// An attestation document (absent with `--attestation none`).
    Attestation {
        /// COSE_Sign1 bytes.
        #[serde(default, with = "serde_bytes")]
        document: Option<Vec<u8>>,
    },
    /// A refusal.
    Error {
        /// What kind.
        code: ErrorCode,
        /// Human-readable detail; never contains secrets.
        message: String,
        /// For `policy_denied` and `owner_approval_required`, the rule that
        /// refused; for `approval_invalid`, the reason.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
}

impl Response {
    /// An error response.
    #[must_use]
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Error {
            code,
            message: message.into(),
            detail: None,
        }
    }
}

/// A frame's content: a request id and a body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope<T> {
    /// Request id, echoed in the response (0 for the signer's challenge).
    pub id: u64,
    /// The message.
    pub body: T,
}

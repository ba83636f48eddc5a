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
}

impl std::fmt::Debug for SealedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedKey")
            .field("format", &self.format)
            .field("sealing_key_version", &self.sealing_key_version)
            .field("key_id", &self.key_id)
            .field("key_type", &self.key_type)
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
    },
    /// Load a sealed key into the signer's cache.
    LoadSealed {
        /// The blob.
        sealed: SealedKey,
    },
    /// Sign.
    Sign(SignRequest),
    /// Destroy a key: zeroized in the signer (and removed from the HSM).
    Destroy {
        /// Key id.
        key_id: String,
    },
    /// List the ids of keys currently loaded.
    List,
    /// Signer status.
    Status,
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
    /// Current sealing key version (software backend).
    #[serde(default)]
    pub sealing_key_version: Option<u32>,
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
    /// Attestation document binding the key (DESIGN.md key binding).
    #[serde(default, with = "serde_bytes")]
    pub attestation: Option<Vec<u8>>,
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
    },
    /// The hello succeeded.
    Hello(HelloInfo),
    /// A key was generated.
    Generated(GeneratedKey),
    /// A sealed key was loaded.
    Loaded(PublicKeyInfo),
    /// A signature.
    Signed(SignatureInfo),
    /// A key was destroyed.
    Destroyed {
        /// Key id.
        key_id: String,
    },
    /// Loaded key ids.
    Keys {
        /// Ids.
        key_ids: Vec<String>,
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
    },
}

impl Response {
    /// An error response.
    #[must_use]
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Error {
            code,
            message: message.into(),
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

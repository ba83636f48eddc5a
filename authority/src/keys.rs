//! Owner secret keys held outside the signer (by API clients, in files),
//! their file formats, and making approvals with them.
//!
//! `signet owner keygen --type T --out FILE` writes two files:
//!
//! - `FILE`, mode 0600: `{"secret_key":"<64 hex>","type":"secp256k1"}` and a
//!   newline. The secret is the 32-byte scalar for `secp256k1` and `p256`,
//!   the 32-byte seed for `ed25519`.
//! - `FILE.pub`: the owner's description without its id, canonical JSON and a
//!   newline: `{"address":"0x…","type":"secp256k1"}`,
//!   `{"public_key":"<64 hex>","type":"ed25519"}` or
//!   `{"public_key":"04…","type":"p256"}`
//!   ([`crate::Owner::from_public_description`] reads it).
//!
//! Writing the files (and their mode) is the CLI's: this crate does no I/O.
//! Signatures are deterministic (RFC 6979 for ECDSA), so the same key over
//! the same text always gives the same approval.

use std::fmt;

use k256::elliptic_curve::rand_core::CryptoRngCore;
use p256::ecdsa::signature::Signer as _;
use serde::Deserialize;
use zeroize::{Zeroize, Zeroizing};

use crate::approval::{Approval, Proof};
use crate::authz::Authorization;
use crate::error::FieldError;
use crate::eth;
use crate::owner::{Ed25519Owner, Owner, P256Owner, Secp256k1Owner};

/// The longest key file accepted, in bytes.
pub const MAX_KEY_FILE_LEN: usize = 1024;

/// The owner types that have a secret key file (a passkey's key never
/// leaves its authenticator).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OwnerKeyType {
    /// An Ethereum key (approves with `personal_sign`).
    Secp256k1,
    /// An Ed25519 key.
    Ed25519,
    /// A P-256 key.
    P256,
}

impl OwnerKeyType {
    /// Every type.
    pub const ALL: [OwnerKeyType; 3] = [Self::Secp256k1, Self::Ed25519, Self::P256];

    /// The name written in `type`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Secp256k1 => "secp256k1",
            Self::Ed25519 => "ed25519",
            Self::P256 => "p256",
        }
    }

    /// The type named `s`.
    #[must_use]
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// Why a key file (or secret) was refused. Messages never contain secret
/// material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// Longer than [`MAX_KEY_FILE_LEN`].
    #[error("a key file is at most {MAX_KEY_FILE_LEN} bytes")]
    TooLarge,
    /// Not the key file's JSON shape.
    #[error("not a Signet owner key file ({{\"secret_key\":…,\"type\":…}}): {0}")]
    Malformed(String),
    /// An unknown `type`.
    #[error("unknown key type; the types are secp256k1, ed25519, p256")]
    UnknownType,
    /// The secret is not 32 bytes of hex, or not a valid scalar.
    #[error("the secret key is not a valid {0} secret (32 bytes as 64 hex digits)")]
    InvalidSecret(&'static str),
}

enum Secret {
    Secp256k1(k256::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::ecdsa::SigningKey),
}

/// An owner's secret key. Zeroized on drop (by the key types themselves);
/// `Debug` shows only the type.
pub struct OwnerSecretKey(Secret);

impl fmt::Debug for OwnerSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnerSecretKey")
            .field("type", &self.key_type().as_str())
            .field("secret", &"[redacted]")
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    #[serde(rename = "type")]
    ty: String,
    secret_key: String,
}

impl OwnerSecretKey {
    /// A new key of type `key_type` from `rng` (a CSPRNG: the OS's in the CLI).
    pub fn generate<R: CryptoRngCore>(key_type: OwnerKeyType, rng: &mut R) -> Self {
        Self(match key_type {
            OwnerKeyType::Secp256k1 => Secret::Secp256k1(k256::ecdsa::SigningKey::random(rng)),
            OwnerKeyType::Ed25519 => Secret::Ed25519(ed25519_dalek::SigningKey::generate(rng)),
            OwnerKeyType::P256 => Secret::P256(p256::ecdsa::SigningKey::random(rng)),
        })
    }

    /// The key from its 32 secret bytes (scalar, or Ed25519 seed).
    pub fn from_secret_bytes(key_type: OwnerKeyType, bytes: &[u8]) -> Result<Self, KeyFileError> {
        let invalid = || KeyFileError::InvalidSecret(key_type.as_str());
        if bytes.len() != 32 {
            return Err(invalid());
        }
        Ok(Self(match key_type {
            OwnerKeyType::Secp256k1 => Secret::Secp256k1(
                k256::ecdsa::SigningKey::from_slice(bytes).map_err(|_| invalid())?,
            ),
            OwnerKeyType::Ed25519 => {
                let mut seed = Zeroizing::new([0u8; 32]);
                seed.copy_from_slice(bytes);
                Secret::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed))
            }
            OwnerKeyType::P256 => {
                Secret::P256(p256::ecdsa::SigningKey::from_slice(bytes).map_err(|_| invalid())?)
            }
        }))
    }

    /// Reads a key file (see the module docs); surrounding whitespace is
    /// ignored.
    pub fn from_key_file(text: &str) -> Result<Self, KeyFileError> {
        if text.len() > MAX_KEY_FILE_LEN {
            return Err(KeyFileError::TooLarge);
        }
        // serde_json's messages for this shape carry positions and field
        // names, never the values.
        let file: KeyFile = serde_json::from_str(text.trim())
            .map_err(|e| KeyFileError::Malformed(e.to_string()))?;
        let secret_hex = Zeroizing::new(file.secret_key);
        let key_type = OwnerKeyType::from_name(&file.ty).ok_or(KeyFileError::UnknownType)?;
        let mut bytes = Zeroizing::new([0u8; 32]);
        if secret_hex.len() != 64
            || hex::decode_to_slice(secret_hex.as_bytes(), &mut bytes[..]).is_err()
        {
            return Err(KeyFileError::InvalidSecret(key_type.as_str()));
        }
        Self::from_secret_bytes(key_type, &bytes[..])
    }

    /// The key file's text (see the module docs). Write it readable by its
    /// owner only.
    #[must_use]
    pub fn to_key_file(&self) -> Zeroizing<String> {
        let secret = self.secret_bytes();
        let mut digits = Zeroizing::new([0u8; 64]);
        // 32 bytes always fit 64 digits.
        let _ = hex::encode_to_slice(&secret[..], &mut digits[..]);
        let ty = self.key_type().as_str();
        let mut out = Zeroizing::new(String::with_capacity(40 + 64 + ty.len()));
        out.push_str("{\"secret_key\":\"");
        for d in digits.iter() {
            out.push(char::from(*d));
        }
        out.push_str("\",\"type\":\"");
        out.push_str(ty);
        out.push_str("\"}\n");
        out
    }

    fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        match &self.0 {
            Secret::Secp256k1(k) => {
                let mut b = k.to_bytes();
                out.copy_from_slice(&b);
                b[..].zeroize();
            }
            Secret::Ed25519(k) => {
                let mut b = k.to_bytes();
                out.copy_from_slice(&b);
                b.zeroize();
            }
            Secret::P256(k) => {
                let mut b = k.to_bytes();
                out.copy_from_slice(&b);
                b[..].zeroize();
            }
        }
        out
    }

    /// The key's type.
    #[must_use]
    pub fn key_type(&self) -> OwnerKeyType {
        match &self.0 {
            Secret::Secp256k1(_) => OwnerKeyType::Secp256k1,
            Secret::Ed25519(_) => OwnerKeyType::Ed25519,
            Secret::P256(_) => OwnerKeyType::P256,
        }
    }

    /// The owner this key is, under `id`.
    pub fn owner(&self, id: &str) -> Result<Owner, FieldError> {
        Ok(match &self.0 {
            Secret::Secp256k1(k) => Owner::Secp256k1(Secp256k1Owner::new(
                id,
                &eth::to_checksummed(&eth::address_of(k.verifying_key())),
            )?),
            Secret::Ed25519(k) => {
                Owner::Ed25519(Ed25519Owner::new(id, k.verifying_key().as_bytes())?)
            }
            Secret::P256(k) => Owner::P256(P256Owner::new(
                id,
                k.verifying_key().to_encoded_point(false).as_bytes(),
            )?),
        })
    }

    /// The `.pub` file's text: the owner description without id, and a
    /// newline.
    pub fn public_description(&self) -> Result<String, FieldError> {
        // Any valid id: the description leaves it out.
        Ok(format!("{}\n", self.owner("x")?.public_description()))
    }

    /// The signature over `text` for this owner type, hex: EIP-191
    /// `personal_sign` `r‖s‖v` (v 27/28, low S) for secp256k1, Ed25519 over
    /// the bytes, ECDSA P-256 SHA-256 `r‖s` for p256.
    #[must_use]
    pub fn sign(&self, text: &str) -> String {
        match &self.0 {
            Secret::Secp256k1(k) => {
                let digest = eth::eip191_digest(text.as_bytes());
                // k256 signs low-S (normalizing and flipping the recovery id);
                // a failure would need a zero digest scalar, negligible.
                match k.sign_prehash_recoverable(&digest) {
                    Ok((sig, recid)) => {
                        let mut out = sig.to_bytes().to_vec();
                        out.push(27 + recid.to_byte());
                        hex::encode(out)
                    }
                    Err(_) => String::new(),
                }
            }
            Secret::Ed25519(k) => {
                use ed25519_dalek::Signer as _;
                hex::encode(k.sign(text.as_bytes()).to_bytes())
            }
            Secret::P256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(text.as_bytes());
                hex::encode(sig.to_bytes())
            }
        }
    }

    /// The approval of `authz` by owner `owner_id` with this key.
    #[must_use]
    pub fn approve(&self, owner_id: &str, authz: &Authorization) -> Approval {
        self.approve_text(owner_id, authz.text())
    }

    /// The approval of an authorization text by owner `owner_id` (the text
    /// as given, valid or not: for tests of refusals).
    #[must_use]
    pub fn approve_text(&self, owner_id: &str, text: &str) -> Approval {
        Approval {
            owner_id: owner_id.to_owned(),
            text: text.to_owned(),
            proof: Proof::Signature(self.sign(text)),
        }
    }
}

#[cfg(feature = "test-support")]
pub use soft::SoftPasskey;

#[cfg(feature = "test-support")]
mod soft {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use k256::elliptic_curve::rand_core::CryptoRngCore;
    use p256::ecdsa::signature::Signer as _;
    use sha2::{Digest as _, Sha256};

    use crate::approval::{Approval, Proof, WebAuthnProof};
    use crate::authz::Authorization;
    use crate::error::FieldError;
    use crate::owner::{Owner, PasskeyOwner};

    /// A software passkey for tests and demos: it makes the assertions a
    /// browser and an authenticator would, asserting user presence and
    /// verification without asking anyone. Never a production path (feature
    /// `test-support`).
    pub struct SoftPasskey {
        key: p256::ecdsa::SigningKey,
        /// The credential id.
        pub credential_id: Vec<u8>,
        /// The relying-party id.
        pub rp_id: String,
        /// The origin written in clientDataJSON.
        pub origin: String,
        /// The next signCount (0 stays 0, like synced passkeys).
        pub sign_count: u32,
    }

    impl SoftPasskey {
        /// A new passkey for `rp_id`, used from `origin`.
        pub fn generate<R: CryptoRngCore>(rng: &mut R, rp_id: &str, origin: &str) -> Self {
            let mut credential_id = vec![0u8; 16];
            rng.fill_bytes(&mut credential_id);
            Self {
                key: p256::ecdsa::SigningKey::random(rng),
                credential_id,
                rp_id: rp_id.to_owned(),
                origin: origin.to_owned(),
                sign_count: 0,
            }
        }

        /// A passkey from a fixed secret scalar and credential id
        /// (reproducible tests).
        pub fn from_secret(
            secret: &[u8; 32],
            credential_id: &[u8],
            rp_id: &str,
            origin: &str,
        ) -> Result<Self, crate::keys::KeyFileError> {
            Ok(Self {
                key: p256::ecdsa::SigningKey::from_slice(secret)
                    .map_err(|_| crate::keys::KeyFileError::InvalidSecret("p256"))?,
                credential_id: credential_id.to_vec(),
                rp_id: rp_id.to_owned(),
                origin: origin.to_owned(),
                sign_count: 0,
            })
        }

        /// The credential's public key (uncompressed SEC1).
        #[must_use]
        pub fn public_key(&self) -> Vec<u8> {
            self.key
                .verifying_key()
                .to_encoded_point(false)
                .as_bytes()
                .to_vec()
        }

        /// The owner: this key, rp_id and origin, its credential id pinned
        /// when `pin_credential`.
        pub fn owner(&self, id: &str, pin_credential: bool) -> Result<Owner, FieldError> {
            Ok(Owner::Passkey(PasskeyOwner::new(
                id,
                &self.public_key(),
                &self.rp_id,
                vec![self.origin.clone()],
                pin_credential.then(|| self.credential_id.clone()),
            )?))
        }

        /// clientDataJSON as a browser writes it for `challenge` at `origin`.
        #[must_use]
        pub fn client_data(challenge: &[u8], origin: &str) -> Vec<u8> {
            format!(
                r#"{{"type":"webauthn.get","challenge":"{}","origin":"{}","crossOrigin":false}}"#,
                URL_SAFE_NO_PAD.encode(challenge),
                origin
            )
            .into_bytes()
        }

        /// authenticatorData for `rp_id` with `flags` and `sign_count`.
        #[must_use]
        pub fn authenticator_data(rp_id: &str, flags: u8, sign_count: u32) -> Vec<u8> {
            let mut out = Sha256::digest(rp_id.as_bytes()).to_vec();
            out.push(flags);
            out.extend_from_slice(&sign_count.to_be_bytes());
            out
        }

        /// Signs `authenticator_data ‖ SHA-256(client_data_json)` (DER), as
        /// given: tests tamper with either.
        #[must_use]
        pub fn sign_assertion(
            &self,
            authenticator_data: &[u8],
            client_data_json: &[u8],
        ) -> Vec<u8> {
            let mut signed = authenticator_data.to_vec();
            signed.extend_from_slice(&Sha256::digest(client_data_json));
            let sig: p256::ecdsa::Signature = self.key.sign(&signed);
            sig.to_der().as_bytes().to_vec()
        }

        /// The proof for these parts, base64url.
        #[must_use]
        pub fn proof(
            &self,
            authenticator_data: &[u8],
            client_data_json: &[u8],
            signature: &[u8],
        ) -> WebAuthnProof {
            WebAuthnProof {
                credential_id: URL_SAFE_NO_PAD.encode(&self.credential_id),
                authenticator_data: URL_SAFE_NO_PAD.encode(authenticator_data),
                client_data_json: URL_SAFE_NO_PAD.encode(client_data_json),
                signature: URL_SAFE_NO_PAD.encode(signature),
            }
        }

        /// An assertion over `authz` (user present and verified), counting
        /// the signCount up when it is not 0.
        pub fn approve(&mut self, owner_id: &str, authz: &Authorization) -> Approval {
            let client = Self::client_data(&authz.sha256(), &self.origin);
            let data = Self::authenticator_data(&self.rp_id, 0x05, self.sign_count);
            if self.sign_count != 0 {
                self.sign_count = self.sign_count.wrapping_add(1);
            }
            let signature = self.sign_assertion(&data, &client);
            Approval {
                owner_id: owner_id.to_owned(),
                text: authz.text().to_owned(),
                proof: Proof::WebAuthn(self.proof(&data, &client, &signature)),
            }
        }
    }
}

//! Software keys of the three types: generation from the OS RNG, signing
//! (low-S ECDSA over a 32-byte prehash, PureEdDSA over the message), and the
//! secret bytes that get sealed. Secrets zeroize on drop and never print.
//!
//! secp256k1 keys sign with libsecp256k1 (the `secp256k1` crate, Bitcoin
//! Core's library): its deterministic nonces (RFC 6979) and low-S
//! normalization give exactly the signatures `k256` gives, in about half the
//! time (issue 29; the tests compare the two).

use ed25519_dalek::Signer as _;
use k256::ecdsa::signature::hazmat::PrehashSigner as _;
use rand_core::OsRng;
use signet_proto::{ErrorCode, KeyType};
use zeroize::Zeroizing;

use crate::error::SignerError;

/// A private key held in the signer's memory.
pub enum SoftKey {
    /// secp256k1: the key, and the same scalar for libsecp256k1.
    Secp256k1(k256::ecdsa::SigningKey, Libsecp256k1Key),
    /// NIST P-256.
    P256(p256::ecdsa::SigningKey),
    /// Ed25519.
    Ed25519(ed25519_dalek::SigningKey),
}

impl std::fmt::Debug for SoftKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SoftKey({}, [redacted])", self.key_type())
    }
}

/// A secp256k1 secret key in libsecp256k1's form, erased on drop.
pub struct Libsecp256k1Key(secp256k1::SecretKey);

impl Libsecp256k1Key {
    fn of(key: &k256::ecdsa::SigningKey) -> Result<Self, SignerError> {
        let secret = Zeroizing::new(key.to_bytes());
        secp256k1::SecretKey::from_slice(&secret[..])
            .map(Self)
            .map_err(|_| SignerError::new(ErrorCode::Internal, "secp256k1 key conversion failed"))
    }
}

impl Drop for Libsecp256k1Key {
    fn drop(&mut self) {
        // `SecretKey` has no `Zeroize`; this overwrites it in place.
        self.0.non_secure_erase();
    }
}

/// A raw signature and, for secp256k1, its recovery id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawSignature {
    /// 64 bytes.
    pub bytes: Vec<u8>,
    /// 0 or 1 for secp256k1.
    pub recovery_id: Option<u8>,
}

impl SoftKey {
    /// A fresh key from the OS RNG.
    pub fn generate(key_type: KeyType) -> Result<Self, SignerError> {
        Ok(match key_type {
            KeyType::Secp256k1 => Self::secp256k1(k256::ecdsa::SigningKey::random(&mut OsRng))?,
            KeyType::P256 => Self::P256(p256::ecdsa::SigningKey::random(&mut OsRng)),
            KeyType::Ed25519 => Self::Ed25519(ed25519_dalek::SigningKey::generate(&mut OsRng)),
        })
    }

    fn secp256k1(key: k256::ecdsa::SigningKey) -> Result<Self, SignerError> {
        let fast = Libsecp256k1Key::of(&key)?;
        Ok(Self::Secp256k1(key, fast))
    }

    /// Rebuilds a key from its 32 secret bytes (after unsealing).
    pub fn from_secret(key_type: KeyType, secret: &[u8]) -> Result<Self, SignerError> {
        let bad = || {
            SignerError::new(
                ErrorCode::SealedKeyInvalid,
                "sealed key material is not a valid key",
            )
        };
        Ok(match key_type {
            KeyType::Secp256k1 => {
                Self::secp256k1(k256::ecdsa::SigningKey::from_slice(secret).map_err(|_| bad())?)?
            }
            KeyType::P256 => {
                Self::P256(p256::ecdsa::SigningKey::from_slice(secret).map_err(|_| bad())?)
            }
            KeyType::Ed25519 => {
                let bytes: &[u8; 32] = secret.try_into().map_err(|_| bad())?;
                Self::Ed25519(ed25519_dalek::SigningKey::from_bytes(bytes))
            }
        })
    }

    /// The 32 secret bytes, for sealing only.
    #[must_use]
    pub fn secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(match self {
            Self::Secp256k1(k, _) => k.to_bytes().to_vec(),
            Self::P256(k) => k.to_bytes().to_vec(),
            Self::Ed25519(k) => k.to_bytes().to_vec(),
        })
    }

    /// The key type.
    #[must_use]
    pub fn key_type(&self) -> KeyType {
        match self {
            Self::Secp256k1(..) => KeyType::Secp256k1,
            Self::P256(_) => KeyType::P256,
            Self::Ed25519(_) => KeyType::Ed25519,
        }
    }

    /// SEC1 uncompressed (65 bytes) for ECDSA, 32 bytes for Ed25519.
    #[must_use]
    pub fn public_key(&self) -> Vec<u8> {
        match self {
            Self::Secp256k1(k, _) => k
                .verifying_key()
                .to_encoded_point(false)
                .as_bytes()
                .to_vec(),
            Self::P256(k) => k
                .verifying_key()
                .to_encoded_point(false)
                .as_bytes()
                .to_vec(),
            Self::Ed25519(k) => k.verifying_key().to_bytes().to_vec(),
        }
    }

    /// Signs. ECDSA keys sign the 32-byte `digest` (no message allowed) and
    /// return low-S `r‖s`; Ed25519 signs `message`, whose SHA-256 the caller
    /// has already matched to the ticket's digest.
    pub fn sign(&self, digest: &[u8], message: Option<&[u8]>) -> Result<RawSignature, SignerError> {
        let ecdsa_input = || -> Result<&[u8], SignerError> {
            if message.is_some() {
                return Err(SignerError::bad_request(
                    "ECDSA keys sign a digest, not a message",
                ));
            }
            if digest.len() != 32 {
                return Err(SignerError::bad_request("digest must be 32 bytes"));
            }
            Ok(digest)
        };
        let failed = |_| SignerError::new(ErrorCode::Internal, "signing failed");
        match self {
            Self::Secp256k1(_, fast) => {
                // libsecp256k1 signs low-S (RFC 6979 nonces) and returns
                // the recovery id of the normalized signature.
                let digest: [u8; 32] = ecdsa_input()?
                    .try_into()
                    .map_err(|_| SignerError::bad_request("digest must be 32 bytes"))?;
                let message = secp256k1::Message::from_digest(digest);
                let (recid, bytes) = secp256k1::SECP256K1
                    .sign_ecdsa_recoverable(&message, &fast.0)
                    .serialize_compact();
                let recid = u8::try_from(recid.to_i32())
                    .map_err(|_| SignerError::new(ErrorCode::Internal, "signing failed"))?;
                Ok(RawSignature {
                    bytes: bytes.to_vec(),
                    recovery_id: Some(recid),
                })
            }
            Self::P256(k) => {
                let sig: p256::ecdsa::Signature = k.sign_prehash(ecdsa_input()?).map_err(failed)?;
                let sig = sig.normalize_s().unwrap_or(sig);
                Ok(RawSignature {
                    bytes: sig.to_bytes().to_vec(),
                    recovery_id: None,
                })
            }
            Self::Ed25519(k) => {
                let message = message.ok_or_else(|| {
                    SignerError::bad_request("Ed25519 signs a message; none was sent")
                })?;
                Ok(RawSignature {
                    bytes: k.sign(message).to_bytes().to_vec(),
                    recovery_id: None,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_round_trip_keeps_the_public_key() {
        for kt in KeyType::ALL {
            let key = SoftKey::generate(kt).unwrap();
            let again = SoftKey::from_secret(kt, &key.secret_bytes()).unwrap();
            assert_eq!(key.public_key(), again.public_key());
            assert_eq!(again.key_type(), kt);
        }
    }

    /// libsecp256k1 gives exactly k256's signatures (RFC 6979, low-S) and
    /// recovery ids: k256 is the independent check.
    #[test]
    fn secp256k1_signatures_are_k256s_byte_for_byte() {
        use sha2::Digest as _;
        for i in 0..256u32 {
            let key = SoftKey::generate(KeyType::Secp256k1).unwrap();
            let SoftKey::Secp256k1(k, _) = &key else {
                unreachable!()
            };
            let digest: [u8; 32] = sha2::Sha256::digest(i.to_be_bytes()).into();
            let ours = key.sign(&digest, None).unwrap();
            let (theirs, recid) = k.sign_prehash_recoverable(&digest).unwrap();
            assert_eq!(ours.bytes, theirs.to_bytes().to_vec(), "at {i}");
            assert_eq!(ours.recovery_id, Some(recid.to_byte()), "at {i}");
            let recovered =
                k256::ecdsa::VerifyingKey::recover_from_prehash(&digest, &theirs, recid).unwrap();
            assert_eq!(&recovered, k.verifying_key());
        }
    }

    #[test]
    fn p256_signatures_are_low_s() {
        let key = SoftKey::generate(KeyType::P256).unwrap();
        for i in 0..64u8 {
            let sig = key.sign(&[i; 32], None).unwrap();
            let sig = p256::ecdsa::Signature::from_slice(&sig.bytes).unwrap();
            assert!(sig.normalize_s().is_none(), "high S at {i}");
        }
    }

    #[test]
    fn wrong_inputs_are_bad_requests() {
        let ec = SoftKey::generate(KeyType::Secp256k1).unwrap();
        assert_eq!(
            ec.sign(&[0; 31], None).unwrap_err().code,
            ErrorCode::BadRequest
        );
        assert_eq!(
            ec.sign(&[0; 32], Some(b"m")).unwrap_err().code,
            ErrorCode::BadRequest
        );
        let ed = SoftKey::generate(KeyType::Ed25519).unwrap();
        assert_eq!(
            ed.sign(&[0; 32], None).unwrap_err().code,
            ErrorCode::BadRequest
        );
        assert!(SoftKey::from_secret(KeyType::Ed25519, &[1; 31]).is_err());
        assert!(
            SoftKey::from_secret(KeyType::Secp256k1, &[0; 32]).is_err(),
            "zero scalar"
        );
        assert!(format!("{ec:?}").contains("redacted"));
    }
}

//! The ephemeral RSA-2048 recipient key KMS encrypts data keys to.
//!
//! The signer makes one per boot, puts its SubjectPublicKeyInfo in the
//! attestation document's `public_key`, and KMS answers `Recipient` requests
//! with a `CiphertextForRecipient` ([`super::cms`]) addressed to it by `rid` =
//! SHA-256 of that SubjectPublicKeyInfo. RSA and AES come from aws-lc-rs (not
//! the `rsa` crate: RUSTSEC-2023-0071).

use std::fmt;

use aws_lc_rs::cipher::{DecryptionContext, PaddedBlockDecryptingKey, UnboundCipherKey, AES_256};
use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rsa::{
    KeySize, OaepPrivateDecryptingKey, PrivateDecryptingKey, OAEP_SHA256_MGF1SHA256,
};
use zeroize::Zeroizing;

use super::cms::{self, CmsError, RID_LEN};

/// RSA modulus length KMS `Recipient` keys use here.
const KEY_BITS: usize = 2048;

/// AES-256 key length: what the RSA-OAEP unwrap must yield.
const CONTENT_KEY_LEN: usize = 32;

/// The DER prefix of every RSA-2048 SubjectPublicKeyInfo: `SEQUENCE (290)
/// { SEQUENCE { rsaEncryption, NULL }, BIT STRING (271) { 0 unused bits,`
/// followed by the PKCS#1 `RSAPublicKey`. Checked so that a change in what
/// aws-lc-rs's `as_der` returns (e.g. a bare PKCS#1 key) cannot silently
/// change the `rid`.
const SPKI_RSA2048_PREFIX: [u8; 24] = [
    0x30, 0x82, 0x01, 0x22, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01,
    0x01, 0x05, 0x00, 0x03, 0x82, 0x01, 0x0f, 0x00,
];

/// Total length of an RSA-2048 SubjectPublicKeyInfo.
const SPKI_RSA2048_LEN: usize = 294;

/// An ephemeral RSA-2048 key made per boot; KMS encrypts data keys to it.
///
/// `Debug` prints only the public `rid`.
pub struct RecipientKey {
    key: OaepPrivateDecryptingKey,
    spki: Vec<u8>,
    rid: [u8; RID_LEN],
}

impl fmt::Debug for RecipientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecipientKey")
            .field("rid", &hex::encode(self.rid))
            .finish_non_exhaustive()
    }
}

impl RecipientKey {
    /// Generates a fresh RSA-2048 key.
    ///
    /// # Errors
    /// [`CmsError::KeyGeneration`] if aws-lc-rs cannot generate one.
    pub fn generate() -> Result<Self, CmsError> {
        let key = PrivateDecryptingKey::generate(KeySize::Rsa2048)
            .map_err(|_| CmsError::KeyGeneration)?;
        Self::from_key(key)
    }

    /// Loads an RSA-2048 private key from PKCS#8 (v1) DER: for test vectors
    /// and tests, never for the per-boot key.
    ///
    /// # Errors
    /// [`CmsError::BadKey`] for anything that is not an RSA-2048 PKCS#8 key.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, CmsError> {
        let key = PrivateDecryptingKey::from_pkcs8(der)
            .map_err(|_| CmsError::BadKey("not an RSA PKCS#8 private key"))?;
        Self::from_key(key)
    }

    fn from_key(key: PrivateDecryptingKey) -> Result<Self, CmsError> {
        if key.key_size_bits() != KEY_BITS {
            return Err(CmsError::BadKey("not a 2048-bit RSA key"));
        }
        let spki = key
            .public_key()
            .as_der()
            .map_err(|_| CmsError::BadKey("cannot encode the public key"))?
            .as_ref()
            .to_vec();
        if spki.len() != SPKI_RSA2048_LEN || !spki.starts_with(&SPKI_RSA2048_PREFIX) {
            return Err(CmsError::BadKey(
                "public key is not an RSA-2048 SubjectPublicKeyInfo",
            ));
        }
        let rid = digest(&SHA256, &spki)
            .as_ref()
            .try_into()
            .map_err(|_| CmsError::BadKey("SHA-256 is not 32 bytes"))?;
        let key = OaepPrivateDecryptingKey::new(key)
            .map_err(|_| CmsError::BadKey("not usable for RSA-OAEP"))?;
        Ok(Self { key, spki, rid })
    }

    /// The DER SubjectPublicKeyInfo (goes into the attestation document's
    /// `public_key`).
    #[must_use]
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// The `rid` KMS addresses this key by: SHA-256 of [`Self::spki_der`].
    #[must_use]
    pub fn rid(&self) -> [u8; RID_LEN] {
        self.rid
    }

    /// Parses a `CiphertextForRecipient` ([`cms::parse`]), checks its `rid`
    /// is this key's, RSA-OAEP-SHA256 unwraps the 32-byte AES key, and
    /// AES-256-CBC/PKCS#7 decrypts the content.
    ///
    /// The content has no integrity protection of its own (CMS
    /// `EnvelopedData` with AES-CBC): only the TLS channel to KMS vouches for
    /// it, and a tampered ciphertext is caught only if it breaks the padding.
    /// Callers must not reveal to untrusted parties which of
    /// [`CmsError::KeyUnwrap`] and [`CmsError::BadPadding`] occurred.
    ///
    /// # Errors
    /// Every refusal of [`cms::parse`]; [`CmsError::RidMismatch`] for another
    /// recipient; [`CmsError::KeyUnwrap`] if RSA-OAEP fails;
    /// [`CmsError::BadContentKeyLength`] if the unwrapped key is not 32 bytes;
    /// [`CmsError::BadPadding`] if AES-CBC decryption or unpadding fails.
    pub fn decrypt(&self, ciphertext_for_recipient: &[u8]) -> Result<Zeroizing<Vec<u8>>, CmsError> {
        let enveloped = cms::parse(ciphertext_for_recipient)?;
        if enveloped.rid != self.rid {
            return Err(CmsError::RidMismatch);
        }

        let mut unwrapped = Zeroizing::new(vec![0u8; self.key.min_output_size()]);
        let content_key = self
            .key
            .decrypt(
                &OAEP_SHA256_MGF1SHA256,
                &enveloped.encrypted_key,
                unwrapped.as_mut_slice(),
                None,
            )
            .map_err(|_| CmsError::KeyUnwrap)?;
        if content_key.len() != CONTENT_KEY_LEN {
            return Err(CmsError::BadContentKeyLength(content_key.len()));
        }
        let cipher_key =
            UnboundCipherKey::new(&AES_256, content_key).map_err(|_| CmsError::BadPadding)?;
        let cipher =
            PaddedBlockDecryptingKey::cbc_pkcs7(cipher_key).map_err(|_| CmsError::BadPadding)?;

        let mut plaintext = Zeroizing::new(enveloped.ciphertext);
        let context = DecryptionContext::Iv128(FixedLength::from(enveloped.iv));
        let len = cipher
            .decrypt(plaintext.as_mut_slice(), context)
            .map_err(|_| CmsError::BadPadding)?
            .len();
        // Zeroizing<Vec> wipes the whole capacity on drop, padding included.
        plaintext.truncate(len);
        Ok(plaintext)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spki_is_a_subject_public_key_info_not_pkcs1() {
        let key = RecipientKey::generate().unwrap();
        let spki = key.spki_der();
        assert_eq!(spki.len(), SPKI_RSA2048_LEN);
        assert!(spki.starts_with(&SPKI_RSA2048_PREFIX));
        // A PKCS#1 RSAPublicKey would start `30 82 01 0a 02 82 01 01`.
        assert_ne!(&spki[4..6], &[0x02, 0x82]);
        // The BIT STRING holds exactly the PKCS#1 key.
        assert_eq!(&spki[24..28], &[0x30, 0x82, 0x01, 0x0a]);
    }

    #[test]
    fn rid_is_sha256_of_spki() {
        let key = RecipientKey::generate().unwrap();
        assert_eq!(
            key.rid().as_slice(),
            digest(&SHA256, key.spki_der()).as_ref()
        );
    }

    #[test]
    fn generated_keys_differ() {
        assert_ne!(
            RecipientKey::generate().unwrap().rid(),
            RecipientKey::generate().unwrap().rid()
        );
    }

    #[test]
    fn debug_prints_only_the_rid() {
        let key = RecipientKey::generate().unwrap();
        let debug = format!("{key:?}");
        assert_eq!(
            debug,
            format!("RecipientKey {{ rid: {:?}, .. }}", hex::encode(key.rid()))
        );
    }

    #[test]
    fn refuses_garbage_pkcs8() {
        assert!(matches!(
            RecipientKey::from_pkcs8(b"not a key"),
            Err(CmsError::BadKey(_))
        ));
    }

    #[test]
    fn refuses_rsa_3072_pkcs8() {
        let key = PrivateDecryptingKey::generate(KeySize::Rsa3072).unwrap();
        let der = key.as_der().unwrap();
        assert_eq!(
            RecipientKey::from_pkcs8(der.as_ref()).unwrap_err(),
            CmsError::BadKey("not a 2048-bit RSA key")
        );
    }

    #[test]
    fn pkcs8_round_trip_keeps_the_rid() {
        let key = PrivateDecryptingKey::generate(KeySize::Rsa2048).unwrap();
        let der = key.as_der().unwrap();
        let a = RecipientKey::from_pkcs8(der.as_ref()).unwrap();
        let b = RecipientKey::from_pkcs8(der.as_ref()).unwrap();
        assert_eq!(a.rid(), b.rid());
        assert_eq!(a.spki_der(), b.spki_der());
    }
}

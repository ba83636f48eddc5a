//! `CiphertextForRecipient`: a CMS `ContentInfo` holding `EnvelopedData`,
//! BER-encoded exactly as KMS lays it out (the captures in
//! `shared/vectors/kms/` are reproduced byte for byte by the tests below).
//!
//! Layout (indefinite lengths where KMS uses them, definite elsewhere):
//!
//! ```text
//! SEQUENCE (indef) {                                   ContentInfo
//!   OID envelopedData 1.2.840.113549.1.7.3
//!   [0] (indef) SEQUENCE (indef) {                     EnvelopedData
//!     INTEGER 2
//!     SET { SEQUENCE {                                 KeyTransRecipientInfo
//!       INTEGER 2
//!       [0] IMPLICIT OCTET STRING  SHA-256(recipient SPKI DER)
//!       SEQUENCE { OID rsaesOaep, SEQUENCE {
//!         [0] SEQUENCE { OID sha256, NULL }
//!         [1] SEQUENCE { OID mgf1, SEQUENCE { OID sha256, NULL } } } }
//!       OCTET STRING  RSA-OAEP-SHA256(content-encryption key)
//!     } }
//!     SEQUENCE (indef) {                               EncryptedContentInfo
//!       OID data 1.2.840.113549.1.7.1
//!       SEQUENCE { OID aes256-CBC, OCTET STRING iv }
//!       [0] (indef) { OCTET STRING chunk… }  or  [0] IMPLICIT primitive
//!     } } }
//! ```

use aws_lc_rs::cipher::{EncryptionContext, PaddedBlockEncryptingKey, UnboundCipherKey, AES_256};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA256_MGF1SHA256};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const OID_ENVELOPED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03];
const OID_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
const OID_RSAES_OAEP: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x07];
const OID_MGF1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08];
const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
const OID_AES256_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a];

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const NULL: u8 = 0x05;
const CONTEXT_0_CONSTRUCTED: u8 = 0xa0;
const CONTEXT_1_CONSTRUCTED: u8 = 0xa1;
const CONTEXT_0_PRIMITIVE: u8 = 0x80;

/// Longest OCTET STRING chunk inside a constructed `[0]` content.
pub const CHUNK_LEN: usize = 1024;

/// Smallest and largest recipient RSA keys KMS accepts (RSA_2048 … RSA_4096).
pub const RSA_BITS: std::ops::RangeInclusive<usize> = 2048..=4096;

/// How the encrypted content is encoded; KMS has sent both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ContentForm {
    /// `[0]` constructed, indefinite, of OCTET STRING chunks.
    #[default]
    Constructed,
    /// `[0]` IMPLICIT primitive.
    Primitive,
}

/// Why a recipient key or envelope was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CmsError {
    /// The document's public key is not an RSA SubjectPublicKeyInfo KMS accepts.
    #[error("the attestation document's public key is not a DER SubjectPublicKeyInfo of an RSA key of 2048 to 4096 bits")]
    BadRecipientKey,
    /// aws-lc refused to encrypt.
    #[error("encryption failed")]
    Crypto,
}

/// An enclave's RSA key, from the attestation document's `public_key`.
pub struct RecipientKey {
    spki_der: Vec<u8>,
    key: OaepPublicEncryptingKey,
}

impl std::fmt::Debug for RecipientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecipientKey")
            .field("rid", &hex::encode(self.rid()))
            .field("bits", &self.key.key_size_bits())
            .finish()
    }
}

impl RecipientKey {
    /// Accepts a DER SubjectPublicKeyInfo of an RSA key of 2048 to 4096 bits.
    pub fn from_spki(spki_der: &[u8]) -> Result<Self, CmsError> {
        let public =
            PublicEncryptingKey::from_der(spki_der).map_err(|_| CmsError::BadRecipientKey)?;
        if !RSA_BITS.contains(&public.key_size_bits()) {
            return Err(CmsError::BadRecipientKey);
        }
        let key = OaepPublicEncryptingKey::new(public).map_err(|_| CmsError::BadRecipientKey)?;
        Ok(Self {
            spki_der: spki_der.to_vec(),
            key,
        })
    }

    /// The recipient identifier KMS uses: SHA-256 of the SPKI DER.
    #[must_use]
    pub fn rid(&self) -> [u8; 32] {
        Sha256::digest(&self.spki_der).into()
    }
}

/// The variable parts of an envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// `rid`: SHA-256 of the recipient's SPKI.
    pub rid: Vec<u8>,
    /// The RSA-OAEP encrypted content-encryption key.
    pub encrypted_key: Vec<u8>,
    /// The AES-CBC IV.
    pub iv: [u8; 16],
    /// The AES-256-CBC ciphertext of the content.
    pub content: Vec<u8>,
}

/// What to deliberately get wrong (fault injection for tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Corruption {
    /// `rid` is 32 random bytes instead of the recipient's.
    pub wrong_rid: bool,
    /// One content ciphertext byte is flipped (the last byte of the
    /// second-to-last block, so the PKCS#7 padding check fails for sure).
    pub flip_content_byte: bool,
}

/// Encrypts `plaintext` to `recipient` as KMS does: a fresh AES-256 key and
/// IV, AES-256-CBC with PKCS#7 over the content, the key RSA-OAEP-SHA256
/// encrypted (no label), encoded in `form`.
pub fn seal(
    recipient: &RecipientKey,
    plaintext: &[u8],
    form: ContentForm,
    corruption: Corruption,
) -> Result<Vec<u8>, CmsError> {
    let mut cek = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(cek.as_mut());
    let mut iv = [0u8; 16];
    OsRng.fill_bytes(&mut iv);

    let aes = PaddedBlockEncryptingKey::cbc_pkcs7(
        UnboundCipherKey::new(&AES_256, cek.as_ref()).map_err(|_| CmsError::Crypto)?,
    )
    .map_err(|_| CmsError::Crypto)?;
    let mut content = plaintext.to_vec();
    aes.less_safe_encrypt(
        &mut content,
        EncryptionContext::Iv128(FixedLength::from(iv)),
    )
    .map_err(|_| CmsError::Crypto)?;

    let mut encrypted_key = vec![0u8; recipient.key.ciphertext_size()];
    let len = recipient
        .key
        .encrypt(
            &OAEP_SHA256_MGF1SHA256,
            cek.as_ref(),
            &mut encrypted_key,
            None,
        )
        .map_err(|_| CmsError::Crypto)?
        .len();
    encrypted_key.truncate(len);

    let mut rid = recipient.rid().to_vec();
    if corruption.wrong_rid {
        OsRng.fill_bytes(&mut rid);
    }
    if corruption.flip_content_byte && content.len() >= 32 {
        let at = content.len() - 17;
        content[at] ^= 0x80;
    }
    Ok(encode(
        &Envelope {
            rid,
            encrypted_key,
            iv,
            content,
        },
        form,
    ))
}

/// BER-encodes an envelope in KMS's layout.
#[must_use]
pub fn encode(envelope: &Envelope, form: ContentForm) -> Vec<u8> {
    let mut out = Vec::with_capacity(envelope.content.len() + envelope.encrypted_key.len() + 200);
    indefinite(&mut out, SEQUENCE, |out| {
        definite(out, OID, OID_ENVELOPED_DATA);
        indefinite(out, CONTEXT_0_CONSTRUCTED, |out| {
            indefinite(out, SEQUENCE, |out| {
                definite(out, INTEGER, &[2]);
                definite(out, SET, &key_trans_recipient_info(envelope));
                encrypted_content_info(out, envelope, form);
            });
        });
    });
    out
}

fn key_trans_recipient_info(envelope: &Envelope) -> Vec<u8> {
    let mut ktri = Vec::new();
    definite(&mut ktri, INTEGER, &[2]);
    definite(&mut ktri, CONTEXT_0_PRIMITIVE, &envelope.rid);
    definite(&mut ktri, SEQUENCE, &rsaes_oaep_sha256());
    definite(&mut ktri, OCTET_STRING, &envelope.encrypted_key);
    let mut seq = Vec::new();
    definite(&mut seq, SEQUENCE, &ktri);
    seq
}

/// `OID rsaesOaep, RSAES-OAEP-params { [0] sha256, [1] mgf1(sha256) }`, with
/// the explicit NULL parameters KMS writes for SHA-256.
fn rsaes_oaep_sha256() -> Vec<u8> {
    let sha256 = {
        let mut alg = Vec::new();
        definite(&mut alg, OID, OID_SHA256);
        definite(&mut alg, NULL, &[]);
        let mut seq = Vec::new();
        definite(&mut seq, SEQUENCE, &alg);
        seq
    };
    let mgf1 = {
        let mut alg = Vec::new();
        definite(&mut alg, OID, OID_MGF1);
        alg.extend_from_slice(&sha256);
        let mut seq = Vec::new();
        definite(&mut seq, SEQUENCE, &alg);
        seq
    };
    let mut params = Vec::new();
    definite(&mut params, CONTEXT_0_CONSTRUCTED, &sha256);
    definite(&mut params, CONTEXT_1_CONSTRUCTED, &mgf1);
    let mut alg = Vec::new();
    definite(&mut alg, OID, OID_RSAES_OAEP);
    definite(&mut alg, SEQUENCE, &params);
    alg
}

fn encrypted_content_info(out: &mut Vec<u8>, envelope: &Envelope, form: ContentForm) {
    indefinite(out, SEQUENCE, |out| {
        definite(out, OID, OID_DATA);
        let mut alg = Vec::new();
        definite(&mut alg, OID, OID_AES256_CBC);
        definite(&mut alg, OCTET_STRING, &envelope.iv);
        definite(out, SEQUENCE, &alg);
        match form {
            ContentForm::Primitive => definite(out, CONTEXT_0_PRIMITIVE, &envelope.content),
            ContentForm::Constructed => indefinite(out, CONTEXT_0_CONSTRUCTED, |out| {
                for chunk in envelope.content.chunks(CHUNK_LEN) {
                    definite(out, OCTET_STRING, chunk);
                }
            }),
        }
    });
}

/// Tag, definite length (short form below 128, else long form), content.
fn definite(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
}

/// Tag, indefinite length, content written by `f`, end-of-contents.
fn indefinite(out: &mut Vec<u8>, tag: u8, f: impl FnOnce(&mut Vec<u8>)) {
    out.extend_from_slice(&[tag, 0x80]);
    f(out);
    out.extend_from_slice(&[0, 0]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::cipher::{DecryptionContext, PaddedBlockDecryptingKey};
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::{KeySize, OaepPrivateDecryptingKey, PrivateDecryptingKey};

    fn vector(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../enclave/testdata/kms/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn manifest_envelope(name: &str) -> Envelope {
        let manifest: serde_json::Value = serde_json::from_slice(&vector("manifest.json")).unwrap();
        let entry = &manifest[name];
        let field = |f: &str| hex::decode(entry[f].as_str().unwrap()).unwrap();
        Envelope {
            rid: field("rid_sha256_spki"),
            encrypted_key: field("encrypted_key"),
            iv: field("iv").try_into().unwrap(),
            content: field("content_ciphertext"),
        }
    }

    #[test]
    fn reproduces_the_kms_capture_with_constructed_content() {
        let name = "aws_sdk_c_constructed_content.ber";
        assert_eq!(
            encode(&manifest_envelope(name), ContentForm::Constructed),
            vector(name)
        );
    }

    #[test]
    fn reproduces_the_kms_capture_with_primitive_content() {
        let name = "aws_sdk_c_primitive_content.ber";
        assert_eq!(
            encode(&manifest_envelope(name), ContentForm::Primitive),
            vector(name)
        );
    }

    #[test]
    fn reproduces_the_enclaver_vector() {
        let name = "enclaver_hello_world.ber";
        assert_eq!(
            encode(&manifest_envelope(name), ContentForm::Constructed),
            vector(name)
        );
    }

    #[test]
    fn long_lengths_and_chunks() {
        let mut out = Vec::new();
        definite(&mut out, OCTET_STRING, &[7u8; 300]);
        assert_eq!(&out[..4], &[0x04, 0x82, 0x01, 0x2c]);
        let mut out = Vec::new();
        definite(&mut out, OCTET_STRING, &[7u8; 200]);
        assert_eq!(&out[..3], &[0x04, 0x81, 0xc8]);
        let envelope = Envelope {
            rid: vec![1; 32],
            encrypted_key: vec![2; 256],
            iv: [3; 16],
            content: vec![4; 2 * CHUNK_LEN + 16],
        };
        let ber = encode(&envelope, ContentForm::Constructed);
        // Three chunks: two full, one of 16, then four end-of-contents pairs + [0]'s.
        let tail = &ber[ber.len() - 10 - 16 - 2..];
        assert_eq!(&tail[..2], &[0x04, 0x10]);
        assert_eq!(&ber[ber.len() - 10..], &[0; 10]);
    }

    /// Seals to a fresh key, then decrypts by the offsets of the fixed layout.
    fn open(ber: &[u8], private: &PrivateDecryptingKey, form: ContentForm) -> Result<Vec<u8>, ()> {
        assert_eq!(&ber[..19], &vector("enclaver_hello_world.ber")[..19]);
        let rid = &ber[33..65];
        let spki = private.public_key().as_der().unwrap();
        assert_eq!(rid, &Sha256::digest(spki.as_ref())[..]);
        assert_eq!(&ber[65..131], &vector("enclaver_hello_world.ber")[65..131]);
        let encrypted_key = &ber[131..387];
        let iv: [u8; 16] = ber[415..431].try_into().unwrap();
        let content = match form {
            ContentForm::Constructed => {
                assert_eq!(&ber[431..433], &[0xa0, 0x80]);
                let len = usize::from(ber[434]);
                &ber[435..435 + len]
            }
            ContentForm::Primitive => {
                assert_eq!(ber[431], 0x80);
                let len = usize::from(ber[432]);
                &ber[433..433 + len]
            }
        };
        let oaep = OaepPrivateDecryptingKey::new(private.clone()).unwrap();
        let mut cek = vec![0u8; oaep.min_output_size()];
        let cek = oaep
            .decrypt(&OAEP_SHA256_MGF1SHA256, encrypted_key, &mut cek, None)
            .unwrap();
        assert_eq!(cek.len(), 32);
        let aes =
            PaddedBlockDecryptingKey::cbc_pkcs7(UnboundCipherKey::new(&AES_256, cek).unwrap())
                .unwrap();
        let mut buf = content.to_vec();
        let out = aes
            .decrypt(&mut buf, DecryptionContext::Iv128(FixedLength::from(iv)))
            .map_err(|_| ())?;
        Ok(out.to_vec())
    }

    #[test]
    fn seal_round_trips_in_both_forms() {
        let private = PrivateDecryptingKey::generate(KeySize::Rsa2048).unwrap();
        let recipient =
            RecipientKey::from_spki(private.public_key().as_der().unwrap().as_ref()).unwrap();
        for form in [ContentForm::Constructed, ContentForm::Primitive] {
            let ber = seal(&recipient, &[9u8; 32], form, Corruption::default()).unwrap();
            assert_eq!(open(&ber, &private, form).unwrap(), vec![9u8; 32]);
        }
    }

    #[test]
    fn flipped_content_byte_breaks_padding() {
        let private = PrivateDecryptingKey::generate(KeySize::Rsa2048).unwrap();
        let recipient =
            RecipientKey::from_spki(private.public_key().as_der().unwrap().as_ref()).unwrap();
        for len in [16, 32, 31] {
            let corruption = Corruption {
                flip_content_byte: true,
                ..Corruption::default()
            };
            let ber = seal(
                &recipient,
                &vec![9u8; len],
                ContentForm::Constructed,
                corruption,
            )
            .unwrap();
            assert!(
                open(&ber, &private, ContentForm::Constructed).is_err(),
                "{len}"
            );
        }
    }

    #[test]
    fn refuses_non_rsa_and_small_keys() {
        assert_eq!(
            RecipientKey::from_spki(b"junk").unwrap_err(),
            CmsError::BadRecipientKey
        );
        // A P-384 SPKI.
        let p384 = p384::SecretKey::random(&mut OsRng).public_key();
        let der = p384::pkcs8::EncodePublicKey::to_public_key_der(&p384).unwrap();
        assert_eq!(
            RecipientKey::from_spki(der.as_bytes()).unwrap_err(),
            CmsError::BadRecipientKey
        );
    }
}

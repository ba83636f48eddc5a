//! The KMS `CiphertextForRecipient` vectors in `shared/vectors/kms`: two real
//! KMS captures and one with its recipient's private key. Each parses to
//! exactly its `manifest.json` fields; the keyed one decrypts, and tampering
//! with it or addressing it to another key is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use aws_lc_rs::cipher::{PaddedBlockEncryptingKey, UnboundCipherKey, AES_256};
use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA256_MGF1SHA256};
use serde_json::Value;
use signet_enclave::kms::cms::{self, CmsError};
use signet_enclave::kms::recipient::RecipientKey;

const ENCLAVER: &str = "enclaver_hello_world.ber";
const ENCLAVER_KEY: &str = "enclaver_hello_world_rsa2048_pkcs8.der";
const VECTORS: [&str; 3] = [
    "aws_sdk_c_constructed_content.ber",
    "aws_sdk_c_primitive_content.ber",
    ENCLAVER,
];

fn dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/kms"))
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("reading {name}: {e}"))
}

fn manifest() -> Value {
    serde_json::from_slice(&read("manifest.json")).unwrap()
}

fn hex_field(entry: &Value, field: &str) -> Vec<u8> {
    hex::decode(
        entry[field]
            .as_str()
            .unwrap_or_else(|| panic!("no {field}")),
    )
    .unwrap()
}

fn enclaver_key() -> RecipientKey {
    RecipientKey::from_pkcs8(&read(ENCLAVER_KEY)).unwrap()
}

/// Offset of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap()
}

/// `vector` with `field` (found by its bytes) replaced by `with`, same length.
fn replace(vector: &[u8], field: &[u8], with: &[u8]) -> Vec<u8> {
    assert_eq!(field.len(), with.len());
    let at = find(vector, field);
    let mut out = vector.to_vec();
    out[at..at + with.len()].copy_from_slice(with);
    out
}

#[test]
fn every_vector_parses_to_its_manifest_values() {
    let manifest = manifest();
    for name in VECTORS {
        let entry = &manifest[name];
        let parsed = cms::parse(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            parsed.rid.to_vec(),
            hex_field(entry, "rid_sha256_spki"),
            "{name}"
        );
        assert_eq!(
            parsed.encrypted_key,
            hex_field(entry, "encrypted_key"),
            "{name}"
        );
        assert_eq!(parsed.iv.to_vec(), hex_field(entry, "iv"), "{name}");
        assert_eq!(
            parsed.ciphertext,
            hex_field(entry, "content_ciphertext"),
            "{name}"
        );
    }
}

#[test]
fn manifest_lists_exactly_the_vectors() {
    let manifest = manifest();
    let mut names: Vec<&str> = manifest
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    assert_eq!(names, VECTORS);
}

#[test]
fn enclaver_key_rid_is_sha256_of_its_spki_and_matches_the_vector() {
    let manifest = manifest();
    let entry = &manifest[ENCLAVER];
    assert_eq!(entry["rid_matches_key"], Value::Bool(true));
    assert_eq!(entry["recipient_private_key"].as_str(), Some(ENCLAVER_KEY));
    let key = enclaver_key();
    assert_eq!(key.rid().to_vec(), hex_field(entry, "rid_sha256_spki"));
    assert_eq!(
        key.rid().as_slice(),
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.spki_der()).as_ref()
    );
}

#[test]
fn enclaver_vector_decrypts_to_hello_world() {
    let manifest = manifest();
    let plaintext = enclaver_key().decrypt(&read(ENCLAVER)).unwrap();
    assert_eq!(plaintext.as_slice(), b"Hello, World");
    assert_eq!(
        manifest[ENCLAVER]["plaintext"].as_str().unwrap().as_bytes(),
        plaintext.as_slice()
    );
}

#[test]
fn definite_length_copy_of_enclaver_vector_decrypts() {
    // The same message with every indefinite length made definite (lengths
    // computed by hand from the vector's layout: see `cms` unit tests for
    // the general re-encoder).
    let vector = read(ENCLAVER);
    let ed = cms::parse(&vector).unwrap();
    // recipientInfos SET (definite in the vector) is bytes 20..387.
    let set = &vector[20..387];
    let mut eci = vec![
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01,
    ];
    eci.extend_from_slice(&vector[400..431]); // contentEncryptionAlgorithm, definite
    eci.extend_from_slice(&[0x80, 0x10]);
    eci.extend_from_slice(&ed.ciphertext);
    let mut eci_seq = vec![0x30, eci.len() as u8];
    eci_seq.extend_from_slice(&eci);
    let mut enveloped = vec![0x02, 0x01, 0x02];
    enveloped.extend_from_slice(set);
    enveloped.extend_from_slice(&eci_seq);
    let wrap = |tag: u8, body: &[u8]| {
        let mut out = vec![tag, 0x82];
        out.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
        out.extend_from_slice(body);
        out
    };
    let enveloped = wrap(0x30, &enveloped);
    let explicit = wrap(0xa0, &enveloped);
    let mut content_info = vec![
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03,
    ];
    content_info.extend_from_slice(&explicit);
    let definite = wrap(0x30, &content_info);
    assert!(!definite.windows(2).any(|w| w == [0x30, 0x80]));
    assert_eq!(cms::parse(&definite).unwrap(), ed);
    assert_eq!(
        enclaver_key().decrypt(&definite).unwrap().as_slice(),
        b"Hello, World"
    );
}

#[test]
fn tampered_encrypted_key_is_refused() {
    let vector = read(ENCLAVER);
    let ed = cms::parse(&vector).unwrap();
    for index in [0, 100, 255] {
        let mut key = ed.encrypted_key.clone();
        key[index] ^= 0x01;
        let tampered = replace(&vector, &ed.encrypted_key, &key);
        assert_eq!(
            enclaver_key().decrypt(&tampered).unwrap_err(),
            CmsError::KeyUnwrap,
            "flip in byte {index}"
        );
    }
}

#[test]
fn tampered_content_ciphertext_is_refused() {
    // AES-CBC has no integrity: a flipped ciphertext bit garbles its block,
    // which this fixed flip turns into invalid padding.
    let vector = read(ENCLAVER);
    let ed = cms::parse(&vector).unwrap();
    let mut ciphertext = ed.ciphertext.clone();
    ciphertext[15] ^= 0x01;
    let tampered = replace(&vector, &ed.ciphertext, &ciphertext);
    assert_eq!(
        enclaver_key().decrypt(&tampered).unwrap_err(),
        CmsError::BadPadding
    );
}

#[test]
fn tampered_iv_breaking_the_padding_is_refused() {
    // The last plaintext byte is padding 0x04; flipping the IV's last bit
    // makes it 0x05, which the preceding 'd' contradicts.
    let vector = read(ENCLAVER);
    let ed = cms::parse(&vector).unwrap();
    let mut iv = ed.iv;
    iv[15] ^= 0x01;
    let tampered = replace(&vector, &ed.iv, &iv);
    assert_eq!(
        enclaver_key().decrypt(&tampered).unwrap_err(),
        CmsError::BadPadding
    );
}

#[test]
fn tampered_rid_is_refused() {
    let vector = read(ENCLAVER);
    let ed = cms::parse(&vector).unwrap();
    let mut rid = ed.rid;
    rid[0] ^= 0x80;
    let tampered = replace(&vector, &ed.rid, &rid);
    assert_eq!(
        enclaver_key().decrypt(&tampered).unwrap_err(),
        CmsError::RidMismatch
    );
}

#[test]
fn fresh_key_refuses_the_vector_with_the_rid_error() {
    let key = RecipientKey::generate().unwrap();
    let err = key.decrypt(&read(ENCLAVER)).unwrap_err();
    assert_eq!(err, CmsError::RidMismatch);
    assert_eq!(err.to_string(), "rid is not this key");
}

#[test]
fn enclaver_key_refuses_the_aws_captures_with_the_rid_error() {
    for name in &VECTORS[..2] {
        assert_eq!(
            enclaver_key().decrypt(&read(name)).unwrap_err(),
            CmsError::RidMismatch,
            "{name}"
        );
    }
}

#[test]
fn structural_refusals_come_before_the_rid_check() {
    let mut vector = read(ENCLAVER);
    vector.push(0);
    assert!(matches!(
        RecipientKey::generate().unwrap().decrypt(&vector),
        Err(CmsError::TrailingBytes { count: 1, .. })
    ));
}

/// The enclaver vector re-addressed to `key`, wrapping `content_key` and
/// carrying `plaintext` (at most 15 bytes, so the layout stays the same).
fn readdressed(key: &RecipientKey, content_key: &[u8], plaintext: &[u8]) -> Vec<u8> {
    assert!(plaintext.len() < 16);
    let vector = read(ENCLAVER);
    let ed = cms::parse(&vector).unwrap();

    let public =
        OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(key.spki_der()).unwrap())
            .unwrap();
    let mut wrapped = vec![0u8; public.ciphertext_size()];
    let wrapped = public
        .encrypt(&OAEP_SHA256_MGF1SHA256, content_key, &mut wrapped, None)
        .unwrap()
        .to_vec();

    let aes_key = if content_key.len() == 32 {
        content_key
    } else {
        &[7u8; 32][..]
    };
    let cipher =
        PaddedBlockEncryptingKey::cbc_pkcs7(UnboundCipherKey::new(&AES_256, aes_key).unwrap())
            .unwrap();
    let mut ciphertext = plaintext.to_vec();
    let context = cipher.encrypt(&mut ciphertext).unwrap();
    let iv: &[u8] = (&context).try_into().unwrap();

    let out = replace(&vector, &ed.rid, &key.rid());
    let out = replace(&out, &ed.encrypted_key, &wrapped);
    let out = replace(&out, &ed.iv, iv);
    replace(&out, &ed.ciphertext, &ciphertext)
}

#[test]
fn fresh_key_decrypts_a_message_addressed_to_it() {
    let key = RecipientKey::generate().unwrap();
    let message = readdressed(&key, &[0x42; 32], b"data key bytes!");
    assert_eq!(
        key.decrypt(&message).unwrap().as_slice(),
        b"data key bytes!"
    );
    let empty = readdressed(&key, &[0x42; 32], b"");
    assert!(key.decrypt(&empty).unwrap().is_empty());
}

#[test]
fn content_key_of_wrong_length_is_refused() {
    let key = RecipientKey::generate().unwrap();
    for len in [16, 24, 31, 33] {
        let message = readdressed(&key, &vec![0x42; len], b"x");
        assert_eq!(
            key.decrypt(&message).unwrap_err(),
            CmsError::BadContentKeyLength(len)
        );
    }
}

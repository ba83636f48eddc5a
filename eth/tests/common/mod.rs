//! Shared by the integration tests: signing with k256 as the signer does
//! (RFC 6979, low-S, recovery id 0/1).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use k256::ecdsa::{SigningKey, VerifyingKey};

/// `r ‖ s` and the recovery id for `hash` under `key`.
pub fn sign(key: &[u8; 32], hash: &[u8; 32]) -> ([u8; 64], u8) {
    let sk = SigningKey::from_slice(key).unwrap();
    let (sig, rec) = sk.sign_prehash_recoverable(hash).unwrap();
    assert!(sig.normalize_s().is_none(), "k256 returned high-S");
    let mut rs = [0u8; 64];
    rs.copy_from_slice(&sig.to_bytes());
    (rs, rec.to_byte())
}

/// The Ethereum address of a public key.
pub fn address_of(vk: &VerifyingKey) -> [u8; 20] {
    let point = vk.to_encoded_point(false);
    let hash = keccak(&point.as_bytes()[1..]);
    let mut out = [0u8; 20];
    out.copy_from_slice(&hash[12..]);
    out
}

/// The address that signed `hash`.
pub fn recover(hash: &[u8; 32], rs: &[u8; 64], rec: u8) -> [u8; 20] {
    let sig = k256::ecdsa::Signature::from_slice(rs).unwrap();
    let rec = k256::ecdsa::RecoveryId::from_byte(rec).unwrap();
    address_of(&VerifyingKey::recover_from_prehash(hash, &sig, rec).unwrap())
}

/// The address of a private key.
pub fn address_of_key(key: &[u8; 32]) -> [u8; 20] {
    address_of(SigningKey::from_slice(key).unwrap().verifying_key())
}

pub fn keccak(data: &[u8]) -> [u8; 32] {
    signet_eth::alloy::keccak256(data).0
}

pub fn h32(s: &str) -> [u8; 32] {
    hex::decode(s.trim_start_matches("0x"))
        .unwrap()
        .try_into()
        .unwrap()
}

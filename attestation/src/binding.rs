//! Signet's bindings: what `user_data` must hold for a key or a signature
//! (DESIGN.md, "Attestation binding").

use sha2::{Digest, Sha256};

/// Domain label of the key binding.
pub const KEY_BINDING_LABEL: &[u8] = b"signet/key/v1";
/// Domain label of the key binding v2, which also binds the wallet's record.
pub const KEY_BINDING_V2_LABEL: &[u8] = b"signet/key/v2";
/// Domain label of the signature binding.
pub const SIGNATURE_BINDING_LABEL: &[u8] = b"signet/sig/v1";

/// `SHA-256("signet/key/v1" ‖ 0 ‖ wallet_id ‖ 0 ‖ key_type ‖ 0 ‖ public_key)`.
///
/// `wallet_id` and `key_type` must not contain NUL (the separator); the
/// `check_*` helpers on [`crate::VerifiedDocument`] refuse such inputs.
#[must_use]
pub fn key_binding(wallet_id: &str, key_type: &str, public_key: &[u8]) -> [u8; 32] {
    key_hasher(KEY_BINDING_LABEL, wallet_id, key_type, public_key)
        .finalize()
        .into()
}

/// `SHA-256("signet/key/v2" ‖ 0 ‖ wallet_id ‖ 0 ‖ key_type ‖ 0 ‖ public_key ‖
/// 0 ‖ record_hash)`, with `public_key` and `record_hash` (SHA-256 of the
/// record's text) as raw bytes: the document binds the key *and* the record
/// (owners, threshold, policy) the signer holds it under.
#[must_use]
pub fn key_binding_v2(
    wallet_id: &str,
    key_type: &str,
    public_key: &[u8],
    record_hash: &[u8; 32],
) -> [u8; 32] {
    let mut h = key_hasher(KEY_BINDING_V2_LABEL, wallet_id, key_type, public_key);
    h.update([0]);
    h.update(record_hash);
    h.finalize().into()
}

/// `label ‖ 0 ‖ wallet_id ‖ 0 ‖ key_type ‖ 0 ‖ public_key`, hashing.
fn key_hasher(label: &[u8], wallet_id: &str, key_type: &str, public_key: &[u8]) -> Sha256 {
    let mut h = Sha256::new();
    h.update(label);
    h.update([0]);
    h.update(wallet_id.as_bytes());
    h.update([0]);
    h.update(key_type.as_bytes());
    h.update([0]);
    h.update(public_key);
    h
}

/// `SHA-256("signet/sig/v1" ‖ 0 ‖ wallet_id ‖ 0 ‖ digest ‖ 0 ‖ signature)`,
/// with `digest` the 32 raw bytes signed (for Ed25519, SHA-256 of the message)
/// and `signature` the raw 64-byte `r‖s` or Ed25519 signature.
#[must_use]
pub fn signature_binding(wallet_id: &str, digest: &[u8], signature: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(SIGNATURE_BINDING_LABEL);
    h.update([0]);
    h.update(wallet_id.as_bytes());
    h.update([0]);
    h.update(digest);
    h.update([0]);
    h.update(signature);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_binding_v2_matches_the_formula() {
        let mut input = b"signet/key/v2\0w1\0p256\0".to_vec();
        input.extend_from_slice(&[7; 65]);
        input.push(0);
        input.extend_from_slice(&[9; 32]);
        let expected: [u8; 32] = Sha256::digest(&input).into();
        assert_eq!(key_binding_v2("w1", "p256", &[7; 65], &[9; 32]), expected);
        assert_ne!(
            key_binding_v2("w1", "p256", &[7; 65], &[8; 32]),
            expected,
            "another record, another binding"
        );
        assert_ne!(key_binding("w1", "p256", &[7; 65]), expected);
    }

    #[test]
    fn key_binding_matches_the_formula() {
        let mut input = b"signet/key/v1\0w1\0ed25519\0".to_vec();
        input.extend_from_slice(&[7u8; 32]);
        let expected: [u8; 32] = Sha256::digest(&input).into();
        assert_eq!(key_binding("w1", "ed25519", &[7; 32]), expected);
    }

    #[test]
    fn bindings_are_domain_separated() {
        assert_ne!(
            key_binding("w", "p256", &[1; 32]),
            signature_binding("w", b"p256", &[1; 32])
        );
    }
}

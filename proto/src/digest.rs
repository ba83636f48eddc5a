//! Ethereum helpers shared by the host (hashing `personal_sign` messages,
//! wallet addresses) and the CLI (checking them offline).

use sha3::{Digest as _, Keccak256};

/// `keccak256("\x19Ethereum Signed Message:\n" ‖ len ‖ message)`.
#[must_use]
pub fn eip191_hash(message: &[u8]) -> [u8; 32] {
    let mut h = Keccak256::new();
    h.update(b"\x19Ethereum Signed Message:\n");
    h.update(message.len().to_string().as_bytes());
    h.update(message);
    h.finalize().into()
}

/// The EIP-55 checksummed address of an uncompressed secp256k1 public key.
#[must_use]
pub fn eth_address(public_key: &[u8]) -> Option<String> {
    if public_key.len() != 65 || public_key[0] != 4 {
        return None;
    }
    let hash = Keccak256::digest(&public_key[1..]);
    let lower = hex::encode(&hash[12..]);
    let check = hex::encode(Keccak256::digest(lower.as_bytes()));
    let mut out = String::from("0x");
    for (c, h) in lower.chars().zip(check.chars()) {
        let upper = h.to_digit(16).is_some_and(|v| v >= 8);
        out.push(if upper { c.to_ascii_uppercase() } else { c });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eip191_matches_known_vector() {
        // personal_sign("hello"): well-known hash.
        assert_eq!(
            hex::encode(eip191_hash(b"hello")),
            "50b2c43fd39106bafbba0da34fc430e1f91e3c96ea2acee2bc34119f92b37750"
        );
    }

    /// The uncompressed public key of private key 1 (the generator point).
    const KNOWN_PK: &str = "0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8";

    #[test]
    fn eip55_matches_known_vector() {
        // Private key 1: address 0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf.
        assert_eq!(
            eth_address(&hex::decode(KNOWN_PK).unwrap()).unwrap(),
            "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
        );
    }
}

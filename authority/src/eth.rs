//! The Ethereum pieces a `secp256k1` owner needs: addresses (EIP-55) and the
//! `personal_sign` digest (EIP-191).

use sha3::{Digest as _, Keccak256};

/// An Ethereum address: the last 20 bytes of Keccak-256 of the public key.
pub type Address = [u8; 20];

/// Keccak-256.
#[must_use]
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

/// The EIP-191 `personal_sign` digest of `message`: Keccak-256 of
/// `"\x19Ethereum Signed Message:\n"`, the message's length in bytes as
/// decimal digits, and the message.
#[must_use]
pub fn eip191_digest(message: &[u8]) -> [u8; 32] {
    let mut h = Keccak256::new();
    h.update(b"\x19Ethereum Signed Message:\n");
    h.update(message.len().to_string().as_bytes());
    h.update(message);
    h.finalize().into()
}

/// The address of a secp256k1 public key.
#[must_use]
pub fn address_of(key: &k256::ecdsa::VerifyingKey) -> Address {
    let point = key.to_encoded_point(false);
    let hash = keccak256(&point.as_bytes()[1..]);
    let mut out = [0u8; 20];
    out.copy_from_slice(&hash[12..]);
    out
}

/// `address` written with its EIP-55 checksum: `0x` and 40 hex digits, a
/// letter upper case where the matching nibble of Keccak-256 of the
/// lower-case digits is 8 or more.
#[must_use]
pub fn to_checksummed(address: &Address) -> String {
    let lower = hex::encode(address);
    let hash = keccak256(lower.as_bytes());
    let mut out = String::with_capacity(42);
    out.push_str("0x");
    for (i, c) in lower.chars().enumerate() {
        let byte = hash[i / 2];
        let nibble = if i % 2 == 0 { byte >> 4 } else { byte & 0x0f };
        out.push(if nibble >= 8 {
            c.to_ascii_uppercase()
        } else {
            c
        });
    }
    out
}

/// Why a text is not an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// Not `0x` followed by 40 hex digits.
    #[error("an address is 0x followed by 40 hex digits")]
    Malformed,
    /// Mixed case whose EIP-55 checksum does not match: a typo.
    #[error("the EIP-55 checksum (the mix of upper and lower case) is wrong: a character was mistyped; copy the address again, or write it all in lower case")]
    BadChecksum,
}

/// Reads an address written all lower case, all upper case, or with a
/// correct EIP-55 checksum (mixed case); refuses a mixed case that does not
/// match the checksum.
pub fn parse_address(s: &str) -> Result<Address, AddressError> {
    let digits = s.strip_prefix("0x").ok_or(AddressError::Malformed)?;
    let mut out = [0u8; 20];
    if digits.len() != 40 || hex::decode_to_slice(digits, &mut out).is_err() {
        return Err(AddressError::Malformed);
    }
    let has_lower = digits.bytes().any(|b| b.is_ascii_lowercase());
    let has_upper = digits.bytes().any(|b| b.is_ascii_uppercase());
    if has_lower && has_upper && to_checksummed(&out) != s {
        return Err(AddressError::BadChecksum);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // EIP-55's own examples (the specification's test cases).
    const EIP55: [&str; 4] = [
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ];

    #[test]
    fn checksums_match_eip55_examples() {
        for a in EIP55 {
            let parsed = parse_address(a).unwrap();
            assert_eq!(to_checksummed(&parsed), a);
            assert_eq!(parse_address(&a.to_lowercase()).unwrap(), parsed);
        }
    }

    #[test]
    fn refuses_a_wrong_checksum() {
        // One letter's case flipped.
        assert_eq!(
            parse_address("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"),
            Err(AddressError::BadChecksum)
        );
    }

    #[test]
    fn refuses_malformed_addresses() {
        for a in [
            "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beae",
            "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaedd",
            "0xzaaeb6053f3e94c9b9a09f33669435e7ef1beaed",
        ] {
            assert_eq!(parse_address(a), Err(AddressError::Malformed), "{a}");
        }
    }

    #[test]
    fn eip191_digest_matches_a_known_value() {
        // keccak256("\x19Ethereum Signed Message:\n5hello"), as eth-account's
        // `defunct_hash_message(text="hello")` gives it.
        assert_eq!(
            hex::encode(eip191_digest(b"hello")),
            "50b2c43fd39106bafbba0da34fc430e1f91e3c96ea2acee2bc34119f92b37750"
        );
    }
}

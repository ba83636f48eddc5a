//! What gets signed: DESIGN.md's digest rules, Ethereum's `personal_sign`
//! (EIP-191) hashing and EIP-55 addresses.

use base64::Engine as _;
use sha2::{Digest as _, Sha256};
pub use signet_proto::digest::{eip191_hash, eth_address};
use signet_proto::message::MAX_MESSAGE_LEN;
use signet_proto::KeyType;

use super::Error;

/// The digest to sign and, for Ed25519, the message itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignInput {
    /// 32 bytes: the ECDSA prehash, or SHA-256 of the Ed25519 message.
    pub digest: Vec<u8>,
    /// The Ed25519 message.
    pub message: Option<Vec<u8>>,
}

/// Applies the rules: ECDSA takes a 32-byte hex `digest` or an EIP-191
/// `message`; Ed25519 takes only a base64 `raw` message of at most 64 KiB.
pub fn sign_input(
    key_type: KeyType,
    digest: Option<&str>,
    message: Option<&str>,
    encoding: Option<&str>,
) -> Result<SignInput, Error> {
    match (key_type, digest, message) {
        (_, Some(_), Some(_)) => Err(Error::bad_request("send either `digest` or `message`, not both")),
        (_, None, None) => Err(Error::bad_request("send `digest` (hex) or `message` with `encoding`")),
        (KeyType::Ed25519, Some(_), None) => Err(Error::bad_request(
            "ed25519 signs the message itself: send `message` (base64) with `encoding: \"raw\"`",
        )),
        (KeyType::Ed25519, None, Some(m)) => match encoding {
            Some("raw") => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(m)
                    .map_err(|_| Error::bad_request("`message` is not valid base64"))?;
                if bytes.len() > MAX_MESSAGE_LEN {
                    return Err(Error::TooLarge("ed25519 messages are at most 64 KiB".into()));
                }
                Ok(SignInput { digest: Sha256::digest(&bytes).to_vec(), message: Some(bytes) })
            }
            _ => Err(Error::bad_request("ed25519 messages need `encoding: \"raw\"` (base64)")),
        },
        (_, Some(d), None) => {
            if encoding.is_some() {
                return Err(Error::bad_request("`encoding` goes with `message`, not with `digest`"));
            }
            let d = d.strip_prefix("0x").unwrap_or(d);
            let bytes = hex::decode(d).map_err(|_| Error::bad_request("`digest` is not hex"))?;
            if bytes.len() != 32 {
                return Err(Error::bad_request(format!("`digest` must be 32 bytes, got {}", bytes.len())));
            }
            Ok(SignInput { digest: bytes, message: None })
        }
        (_, None, Some(m)) => match encoding {
            Some("eip191") => Ok(SignInput { digest: eip191_hash(&eip191_bytes(m)?).to_vec(), message: None }),
            Some("raw") => Err(Error::bad_request(
                "raw messages are for ed25519; for ECDSA send the 32-byte `digest` or use `encoding: \"eip191\"`",
            )),
            _ => Err(Error::bad_request("`encoding` must be `eip191` (or `raw` for ed25519)")),
        },
    }
}

/// The bytes of an EIP-191 message: `0x…` hex is bytes, anything else UTF-8 text.
fn eip191_bytes(message: &str) -> Result<Vec<u8>, Error> {
    let bytes = match message.strip_prefix("0x") {
        Some(h) => hex::decode(h)
            .map_err(|_| Error::bad_request("`message` starts with 0x but is not hex"))?,
        None => message.as_bytes().to_vec(),
    };
    if bytes.len() > MAX_MESSAGE_LEN {
        return Err(Error::TooLarge("messages are at most 64 KiB".into()));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        let d = "11".repeat(32);
        assert_eq!(
            sign_input(KeyType::P256, Some(&d), None, None)
                .unwrap()
                .digest,
            vec![0x11; 32]
        );
        assert!(sign_input(KeyType::P256, Some("11"), None, None).is_err());
        assert!(sign_input(KeyType::P256, Some("zz"), None, None).is_err());
        assert!(sign_input(KeyType::Ed25519, Some(&d), None, None).is_err());
        assert!(sign_input(KeyType::Secp256k1, None, Some("hi"), Some("raw")).is_err());
        assert!(sign_input(KeyType::Secp256k1, None, Some("hi"), None).is_err());
        assert_eq!(
            sign_input(KeyType::Secp256k1, None, Some("hello"), Some("eip191"))
                .unwrap()
                .digest,
            eip191_hash(b"hello").to_vec()
        );
        assert_eq!(
            sign_input(
                KeyType::Secp256k1,
                None,
                Some("0x68656c6c6f"),
                Some("eip191")
            )
            .unwrap()
            .digest,
            eip191_hash(b"hello").to_vec(),
            "0x-hex messages are bytes"
        );
        let ed = sign_input(KeyType::Ed25519, None, Some("aGVsbG8="), Some("raw")).unwrap();
        assert_eq!(ed.message.unwrap(), b"hello");
        let big = base64::engine::general_purpose::STANDARD.encode(vec![0u8; MAX_MESSAGE_LEN + 1]);
        assert_eq!(
            sign_input(KeyType::Ed25519, None, Some(&big), Some("raw"))
                .unwrap_err()
                .code(),
            "too_large"
        );
        assert!(sign_input(KeyType::P256, Some(&d), Some("x"), Some("eip191")).is_err());
    }
}

//! What gets signed: DESIGN.md's digest rules, Ethereum's `personal_sign`
//! (EIP-191) hashing and EIP-55 addresses.

use base64::Engine as _;
use sha2::{Digest as _, Sha256};
pub use signet_proto::digest::{eip191_hash, eth_address};
use signet_proto::message::MAX_MESSAGE_LEN;
use signet_proto::KeyType;

use super::Error;

/// The digest to sign and, for Ed25519, the message itself.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SignInput {
    /// 32 bytes: the ECDSA prehash, or SHA-256 of the Ed25519 message.
    pub digest: Vec<u8>,
    /// The Ed25519 message.
    pub message: Option<Vec<u8>>,
    /// What the digest was computed from, when structured.
    pub content: Option<Content>,
    /// The content object the signer gets (it computes the digest from it
    /// again) and owners approve: `{digest}`, `{message, encoding}`,
    /// `{transaction}` or `{typed_data}`.
    pub payload: serde_json::Value,
    /// Owners' approvals of this request (when the wallet's policy does not
    /// allow it on a ticket alone).
    pub approvals: Vec<signet_authority::Approval>,
}

/// Structured content a digest is computed from (DESIGN.md's digest rules
/// for secp256k1 wallets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// An Ethereum transaction (JSON-RPC form), validated.
    Transaction(serde_json::Value),
    /// EIP-712 typed data, as `eth_signTypedData_v4` takes it.
    TypedData(serde_json::Value),
}

impl Content {
    /// The stored form (an intent's `content`).
    #[must_use]
    pub fn to_stored(&self) -> String {
        match self {
            Self::Transaction(v) => serde_json::json!({ "transaction": v }),
            Self::TypedData(v) => serde_json::json!({ "typed_data": v }),
        }
        .to_string()
    }

    /// The content object (`{transaction}` or `{typed_data}`).
    #[must_use]
    pub fn payload(&self) -> serde_json::Value {
        match self {
            Self::Transaction(v) => serde_json::json!({ "transaction": v }),
            Self::TypedData(v) => serde_json::json!({ "typed_data": v }),
        }
    }

    /// Reads the stored form back.
    pub fn from_stored(stored: &str) -> Result<Self, Error> {
        let v: serde_json::Value = serde_json::from_str(stored)
            .map_err(|_| Error::internal("an intent's content is not JSON"))?;
        match (v.get("transaction"), v.get("typed_data")) {
            (Some(t), None) => Ok(Self::Transaction(t.clone())),
            (None, Some(t)) => Ok(Self::TypedData(t.clone())),
            _ => Err(Error::internal(
                "an intent's content is neither a transaction nor typed data",
            )),
        }
    }
}

/// The digest of structured content for the wallet with public key
/// `public_key`, and its decoded form for the audit log (`detail`):
/// `{"transaction": {type, chain_id, nonce, to, value, gas, fees…}}` or
/// `{"typed_data": {domain, primary_type, message}}`.
pub fn content_digest(
    key_type: KeyType,
    public_key: &[u8],
    content: &Content,
) -> Result<([u8; 32], serde_json::Value), Error> {
    if key_type != KeyType::Secp256k1 {
        return Err(Error::bad_request(format!(
            "Ethereum transactions and typed data are signed by secp256k1 wallets; this one is {}",
            key_type.as_str()
        )));
    }
    let bad = |e: signet_eth::EthError| Error::bad_request(e.to_string());
    match content {
        Content::Transaction(v) => {
            let request = signet_eth::parse_request(v).map_err(bad)?;
            if let Some(from) = request.from {
                let wallet = eth_address(public_key).unwrap_or_default();
                if !wallet.eq_ignore_ascii_case(&format!("{from:#x}")) {
                    return Err(Error::bad_request(format!(
                        "transaction: `from` is {from:#x}, not this wallet's address {wallet}"
                    )));
                }
            }
            let tx = request.build().map_err(bad)?;
            let summary = serde_json::to_value(tx.summary())
                .map_err(|e| Error::internal(format!("transaction summary: {e}")))?;
            let input = tx.input();
            // What the call does, as approvers must see it: the function
            // and its arguments when the signer's decoder knows it, else
            // `readable: false` (the console then asks for an explicit "I
            // cannot read this call"); the full calldata either way.
            let (call, readable) = match signet_eth::decode_call(input) {
                Ok(Some(call)) => (call.to_json(), true),
                Ok(None) => (serde_json::Value::Null, input.is_empty()),
                Err(e) => (serde_json::json!({ "error": e.to_string() }), false),
            };
            Ok((
                tx.signing_hash(),
                serde_json::json!({
                    "transaction": summary,
                    "call": call,
                    "calldata": format!("0x{}", hex::encode(input)),
                    "readable": readable,
                }),
            ))
        }
        Content::TypedData(v) => {
            let typed = signet_eth::typed_data(v).map_err(bad)?;
            let permit = match signet_eth::permit(&typed.summary) {
                Ok(Some(p)) => p.to_json(),
                Ok(None) => serde_json::Value::Null,
                Err(e) => serde_json::json!({ "error": e.to_string() }),
            };
            let summary = serde_json::to_value(&typed.summary)
                .map_err(|e| Error::internal(format!("typed data summary: {e}")))?;
            Ok((
                typed.hash,
                serde_json::json!({ "typed_data": summary, "permit": permit }),
            ))
        }
    }
}

/// The signed transaction from a transaction's content and the signer's
/// `r‖s` and recovery id; `None` for typed data.
pub fn assemble(
    content: &Content,
    signature: &[u8],
    recovery_id: Option<u8>,
) -> Result<Option<signet_eth::SignedTx>, Error> {
    let Content::Transaction(v) = content else {
        return Ok(None);
    };
    let rs: &[u8; 64] = signature
        .try_into()
        .map_err(|_| Error::internal("the signer's secp256k1 signature is not 64 bytes"))?;
    let recovery_id =
        recovery_id.ok_or_else(|| Error::internal("the signer gave no recovery id"))?;
    let tx = signet_eth::parse_request(v)
        .and_then(|r| r.build())
        .map_err(|e| Error::internal(format!("transaction content: {e}")))?;
    tx.into_signed(rs, recovery_id)
        .map(Some)
        .map_err(|e| Error::internal(format!("assembling the transaction: {e}")))
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
                Ok(SignInput { digest: Sha256::digest(&bytes).to_vec(), message: Some(bytes), content: None, payload: serde_json::json!({"message": m, "encoding": "raw"}), approvals: Vec::new() })
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
            Ok(SignInput { digest: bytes, message: None, content: None, payload: serde_json::json!({"digest": d}), approvals: Vec::new() })
        }
        (_, None, Some(m)) => match encoding {
            Some("eip191") => Ok(SignInput { digest: eip191_hash(&eip191_bytes(m)?).to_vec(), message: None, content: None, payload: serde_json::json!({"message": m, "encoding": "eip191"}), approvals: Vec::new() }),
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

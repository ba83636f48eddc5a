//! What a sign request signs, decoded by the signer itself.
//!
//! The host sends the request's content object — the same JSON whose
//! canonical form owners approve (`payload_sha256`):
//!
//! - `{"digest": "<64 hex>"}` — an opaque prehash (kind `digest`): the only
//!   place a caller's digest is taken as it is;
//! - `{"message": "…", "encoding": "eip191"}` — an ECDSA wallet signs the
//!   EIP-191 `personal_sign` hash of the text (or of the bytes of `0x…` hex);
//! - `{"message": "<base64>", "encoding": "raw"}` — an Ed25519 wallet signs
//!   the bytes themselves;
//! - `{"transaction": {…}}` — an Ethereum transaction (JSON-RPC form, with
//!   nonce, gas and fees filled in), signed by its signing hash;
//! - `{"typed_data": {…}}` — EIP-712 typed data, signed by its hash.
//!
//! The signer computes the digest from the content: a host cannot make it
//! sign a digest under another kind's name.

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use signet_authority::eth::eip191_digest;
use signet_authority::{Amount, CallFacts, Facts, Kind, PermitFacts, TxFacts, TypedFacts};
use signet_proto::message::MAX_MESSAGE_LEN;
use signet_proto::KeyType;

use crate::error::SignerError;

/// The longest content object accepted, in bytes.
pub const MAX_CONTENT_LEN: usize = 128 * 1024;

/// A decoded content object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// Its kind, which the wallet's policy allows or not.
    pub kind: Kind,
    /// What will be signed: the ECDSA prehash, or SHA-256 of the Ed25519
    /// message.
    pub digest: [u8; 32],
    /// The Ed25519 message.
    pub message: Option<Vec<u8>>,
    /// The content object, whose canonical hash owners' authorizations
    /// carry ([`Decoded::payload_sha256`], computed only when approvals are
    /// checked).
    pub content: Value,
    /// A transaction, as it will be signed.
    pub tx: Option<signet_eth::UnsignedTx>,
    /// Typed data, decoded.
    pub typed: Option<signet_eth::TypedDataSummary>,
}

fn amount(u: signet_eth::alloy::U256) -> Amount {
    Amount::from_be_bytes(u.to_be_bytes::<32>())
}

fn address(a: signet_eth::alloy::Address) -> [u8; 20] {
    a.into_array()
}

impl Decoded {
    /// SHA-256 of the content object in canonical form (RFC 8785), as
    /// owners' authorizations carry it (`payload_sha256`).
    pub fn payload_sha256(&self) -> Result<[u8; 32], SignerError> {
        signet_authority::payload_sha256(&self.content).map_err(|e| bad(format!("content: {e}")))
    }
}

impl Decoded {
    /// What the policy looks at, decoded from the content itself.
    #[must_use]
    pub fn facts(&self) -> Facts {
        let transaction = self.tx.as_ref().map(|tx| {
            let input = tx.input();
            let call = match signet_eth::decode_call(input) {
                Ok(Some(call)) => CallFacts::Token {
                    counterparty: address(call.counterparty()),
                    amount: call.amount().map(amount),
                    unlimited: call.is_unlimited(),
                },
                Ok(None) => CallFacts::Unknown,
                Err(_) => CallFacts::Malformed,
            };
            TxFacts {
                chain_id: tx.chain_id(),
                to: tx.to().map(address),
                value_wei: amount(tx.value()),
                data_len: input.len(),
                selector: input.get(..4).and_then(|s| s.try_into().ok()),
                call,
                delegates: tx.delegates().into_iter().map(address).collect(),
            }
        });
        let typed_data = self.typed.as_ref().map(|t| TypedFacts {
            chain_id: t
                .domain
                .chain_id
                .as_deref()
                .map(|c| c.parse::<u64>().unwrap_or(u64::MAX)),
            verifying_contract: t
                .domain
                .verifying_contract
                .as_deref()
                .and_then(|a| signet_authority::eth::parse_address(a).ok()),
            permit: match signet_eth::permit(t) {
                Ok(Some(p)) => PermitFacts::Permit {
                    spender: address(p.spender),
                    grants: p
                        .grants
                        .iter()
                        .map(|(token, a)| (address(*token), amount(*a)))
                        .collect(),
                },
                Ok(None) => PermitFacts::None,
                Err(_) => PermitFacts::Malformed,
            },
        });
        Facts {
            kind: self.kind,
            transaction,
            typed_data,
        }
    }

    /// What the signer decoded, for `/check` and approvers: the kind, and
    /// for a transaction its fields, the full calldata and the call
    /// recognised in it (or `"call": null` and `"readable": false` when it
    /// is not one the signer knows); for typed data its domain, primary type
    /// and any token permit.
    /// Token amounts get `amount_units` where `policy` lists the token with
    /// its decimals.
    #[must_use]
    pub fn describe(&self, policy: &signet_authority::Policy) -> Value {
        let mut out = serde_json::json!({"kind": self.kind.as_str()});
        if let Some(tx) = &self.tx {
            let input = tx.input();
            out["transaction"] = serde_json::to_value(tx.summary()).unwrap_or(Value::Null);
            out["calldata"] = Value::String(format!("0x{}", hex::encode(input)));
            let (call, readable) = match signet_eth::decode_call(input) {
                Ok(Some(call)) => (call.to_json(), true),
                Ok(None) => (Value::Null, input.is_empty()),
                Err(e) => (serde_json::json!({"error": e.to_string()}), false),
            };
            out["call"] = call;
            out["readable"] = Value::Bool(readable);
        }
        if let Some(t) = &self.typed {
            out["domain"] = serde_json::to_value(&t.domain).unwrap_or(Value::Null);
            out["primary_type"] = Value::String(t.primary_type.clone());
            out["permit"] = match signet_eth::permit(t) {
                Ok(Some(p)) => p.to_json(),
                Ok(None) => Value::Null,
                Err(e) => serde_json::json!({"error": e.to_string()}),
            };
        }
        policy.annotate_units(&mut out);
        out
    }
}

fn bad(message: impl Into<String>) -> SignerError {
    SignerError::bad_request(message)
}

/// Decodes `text` for a `key_type` wallet whose public key is `public_key`.
pub fn decode(text: &str, key_type: KeyType, public_key: &[u8]) -> Result<Decoded, SignerError> {
    if text.len() > MAX_CONTENT_LEN {
        return Err(bad(format!(
            "content is {} bytes, over {MAX_CONTENT_LEN}",
            text.len()
        )));
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| bad(format!("content is not JSON: {e}")))?;
    let object = value
        .as_object()
        .ok_or_else(|| bad("content must be a JSON object"))?;
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let (mut tx, mut typed) = (None, None);
    let (kind, digest, message) = match keys.as_slice() {
        ["digest"] => digest_content(&object["digest"], key_type)?,
        ["encoding", "message"] => message_content(&object["message"], &object["encoding"], key_type)?,
        ["transaction"] => {
            let built = transaction_content(&object["transaction"], key_type, public_key)?;
            let parts = (Kind::Transaction, built.signing_hash(), None);
            tx = Some(built);
            parts
        }
        ["typed_data"] => {
            let hashed = typed_data_content(&object["typed_data"], key_type)?;
            let parts = (Kind::TypedData, hashed.hash, None);
            typed = Some(hashed.summary);
            parts
        }
        _ => {
            return Err(bad(
                "content must be exactly one of {digest}, {message, encoding}, {transaction}, {typed_data}",
            ))
        }
    };
    Ok(Decoded {
        kind,
        digest,
        message,
        content: value,
        tx,
        typed,
    })
}

type Parts = (Kind, [u8; 32], Option<Vec<u8>>);

fn digest_content(v: &Value, key_type: KeyType) -> Result<Parts, SignerError> {
    if key_type == KeyType::Ed25519 {
        return Err(bad(
            "ed25519 signs the message itself: content {message, encoding: \"raw\"}",
        ));
    }
    let text = v
        .as_str()
        .ok_or_else(|| bad("`digest` must be a hex string"))?;
    let hex_digits = text.strip_prefix("0x").unwrap_or(text);
    let mut digest = [0u8; 32];
    hex::decode_to_slice(hex_digits, &mut digest)
        .map_err(|_| bad("`digest` must be 32 bytes of hex"))?;
    Ok((Kind::Digest, digest, None))
}

fn message_content(m: &Value, encoding: &Value, key_type: KeyType) -> Result<Parts, SignerError> {
    let m = m
        .as_str()
        .ok_or_else(|| bad("`message` must be a string"))?;
    match (key_type, encoding.as_str()) {
        (KeyType::Ed25519, Some("raw")) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(m)
                .map_err(|_| bad("`message` is not valid base64"))?;
            if bytes.len() > MAX_MESSAGE_LEN {
                return Err(bad("ed25519 messages are at most 64 KiB"));
            }
            let digest: [u8; 32] = Sha256::digest(&bytes).into();
            Ok((Kind::Message, digest, Some(bytes)))
        }
        (KeyType::Ed25519, _) => Err(bad("ed25519 messages need `encoding: \"raw\"` (base64)")),
        (KeyType::Secp256k1 | KeyType::P256, Some("eip191")) => {
            let bytes = match m.strip_prefix("0x") {
                Some(h) => {
                    hex::decode(h).map_err(|_| bad("`message` starts with 0x but is not hex"))?
                }
                None => m.as_bytes().to_vec(),
            };
            if bytes.len() > MAX_MESSAGE_LEN {
                return Err(bad("messages are at most 64 KiB"));
            }
            Ok((Kind::Message, eip191_digest(&bytes), None))
        }
        (KeyType::Secp256k1 | KeyType::P256, _) => Err(bad(
            "ECDSA messages need `encoding: \"eip191\"`; raw messages are for ed25519",
        )),
    }
}

fn secp256k1_only(key_type: KeyType) -> Result<(), SignerError> {
    if key_type == KeyType::Secp256k1 {
        Ok(())
    } else {
        Err(bad(format!(
            "Ethereum transactions and typed data are signed by secp256k1 wallets; this one is {key_type}"
        )))
    }
}

fn transaction_content(
    v: &Value,
    key_type: KeyType,
    public_key: &[u8],
) -> Result<signet_eth::UnsignedTx, SignerError> {
    secp256k1_only(key_type)?;
    let request = signet_eth::parse_request(v).map_err(|e| bad(e.to_string()))?;
    if let Some(from) = request.from {
        let key = k256::ecdsa::VerifyingKey::from_sec1_bytes(public_key)
            .map_err(|_| SignerError::new(signet_proto::ErrorCode::Internal, "wallet key"))?;
        let ours = signet_authority::eth::address_of(&key);
        if from.as_slice() != ours.as_slice() {
            return Err(bad(format!(
                "transaction: `from` is {from:#x}, not this wallet's address"
            )));
        }
    }
    request.build().map_err(|e| bad(e.to_string()))
}

fn typed_data_content(
    v: &Value,
    key_type: KeyType,
) -> Result<signet_eth::TypedDataHash, SignerError> {
    secp256k1_only(key_type)?;
    signet_eth::typed_data(v).map_err(|e| bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use signet_proto::ErrorCode;

    fn k1() -> Vec<u8> {
        let sk = k256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap();
        sk.verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec()
    }

    #[test]
    fn a_digest_is_taken_as_it_is_only_under_its_own_kind() {
        let d = decode(
            &format!(r#"{{"digest":"0x{}"}}"#, "ab".repeat(32)),
            KeyType::P256,
            &[],
        )
        .unwrap();
        assert_eq!(d.kind, Kind::Digest);
        assert_eq!(d.digest, [0xab; 32]);
        for bad_digest in ["\"ab\"", "12", &format!("\"{}\"", "zz".repeat(32))] {
            let text = format!(r#"{{"digest":{bad_digest}}}"#);
            assert_eq!(
                decode(&text, KeyType::P256, &[]).unwrap_err().code,
                ErrorCode::BadRequest,
                "{text}"
            );
        }
        assert!(decode(
            &format!(r#"{{"digest":"{}"}}"#, "ab".repeat(32)),
            KeyType::Ed25519,
            &[]
        )
        .is_err());
    }

    #[test]
    fn messages_are_hashed_by_the_signer() {
        let d = decode(
            r#"{"message":"hello","encoding":"eip191"}"#,
            KeyType::Secp256k1,
            &k1(),
        )
        .unwrap();
        assert_eq!(d.kind, Kind::Message);
        assert_eq!(d.digest, eip191_digest(b"hello"));
        let hexed = decode(
            r#"{"encoding":"eip191","message":"0x68656c6c6f"}"#,
            KeyType::P256,
            &[],
        )
        .unwrap();
        assert_eq!(hexed.digest, d.digest);
        assert_ne!(
            hexed.payload_sha256().unwrap(),
            d.payload_sha256().unwrap(),
            "another content object"
        );
        let raw = decode(
            r#"{"message":"aGVsbG8=","encoding":"raw"}"#,
            KeyType::Ed25519,
            &[],
        )
        .unwrap();
        assert_eq!(raw.message.as_deref(), Some(&b"hello"[..]));
        assert_eq!(raw.digest, <[u8; 32]>::from(Sha256::digest(b"hello")));
        for (text, kt) in [
            (r#"{"message":"hello","encoding":"raw"}"#, KeyType::P256),
            (
                r#"{"message":"hello","encoding":"eip191"}"#,
                KeyType::Ed25519,
            ),
            (r#"{"message":"!!","encoding":"raw"}"#, KeyType::Ed25519),
            (r#"{"message":"0xzz","encoding":"eip191"}"#, KeyType::P256),
            (r#"{"message":1,"encoding":"eip191"}"#, KeyType::P256),
        ] {
            assert_eq!(
                decode(text, kt, &[]).unwrap_err().code,
                ErrorCode::BadRequest,
                "{text}"
            );
        }
    }

    #[test]
    fn the_payload_hash_is_of_the_canonical_form() {
        let a = decode(
            r#"{"message":"hi","encoding":"eip191"}"#,
            KeyType::P256,
            &[],
        )
        .unwrap();
        let b = decode(
            "{ \"encoding\" : \"eip191\", \"message\" : \"hi\" }",
            KeyType::P256,
            &[],
        )
        .unwrap();
        assert_eq!(a.payload_sha256().unwrap(), b.payload_sha256().unwrap());
        let jcs = br#"{"encoding":"eip191","message":"hi"}"#;
        assert_eq!(
            a.payload_sha256().unwrap(),
            <[u8; 32]>::from(Sha256::digest(jcs))
        );
    }

    #[test]
    fn transactions_and_typed_data_are_decoded_for_secp256k1_only() {
        let tx = r#"{"transaction":{"chainId":"0x1","nonce":"0x0","to":"0x000000000000000000000000000000000000dEaD","value":"0x1","gas":"0x5208","maxFeePerGas":"0x3b9aca00","maxPriorityFeePerGas":"0x1"}}"#;
        let d = decode(tx, KeyType::Secp256k1, &k1()).unwrap();
        assert_eq!(d.kind, Kind::Transaction);
        let request =
            signet_eth::parse_request(&serde_json::from_str::<Value>(tx).unwrap()["transaction"])
                .unwrap();
        assert_eq!(d.digest, request.build().unwrap().signing_hash());
        assert!(decode(tx, KeyType::P256, &[]).is_err());
        let someone_else = tx.replace(
            r#""chainId""#,
            r#""from":"0x000000000000000000000000000000000000dEaD","chainId""#,
        );
        assert_eq!(
            decode(&someone_else, KeyType::Secp256k1, &k1())
                .unwrap_err()
                .code,
            ErrorCode::BadRequest,
            "`from` another address"
        );
    }

    #[test]
    fn other_shapes_are_refused() {
        for text in [
            "[]",
            "{}",
            "not json",
            r#"{"digest":"00","message":"x"}"#,
            r#"{"message":"x"}"#,
            r#"{"transaction":{},"typed_data":{}}"#,
        ] {
            assert_eq!(
                decode(text, KeyType::P256, &[]).unwrap_err().code,
                ErrorCode::BadRequest,
                "{text}"
            );
        }
        let long = format!(
            r#"{{"message":"{}","encoding":"eip191"}}"#,
            "a".repeat(MAX_CONTENT_LEN)
        );
        assert!(decode(&long, KeyType::P256, &[]).is_err());
    }
}

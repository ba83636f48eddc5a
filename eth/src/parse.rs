//! Parsers for the scalar JSON values Ethereum clients send. Each returns the
//! reason for a refusal as a predicate (`must not be negative`); the caller
//! adds the scope and the field's path.
//!
//! Quantities (integers) are accepted as
//! - `0x`-prefixed hexadecimal strings, as JSON-RPC specifies and ethers, viem,
//!   web3.py and cast send them (`"0x0"`, `"0x1a"`; leading zeros and upper-case
//!   digits are accepted, an empty `"0x"` is not);
//! - strings of decimal digits (`"1000000000"`), for hand-written requests;
//! - JSON integers (`21000`), for hand-written requests. JSON numbers are only
//!   exact up to 2^53 in most clients; larger values belong in strings.
//!
//! Anything else is refused: signs (`-1`, `+1`), whitespace, `0X`, fractions,
//! exponents, unit suffixes, and values beyond the target width.

use alloy_primitives::{Address, Bytes, B256, U256};
use serde_json::Value;

/// Why a value was refused (a predicate on the field: "`nonce` {reason}").
pub(crate) type Reason = String;

/// A non-negative integer of at most 256 bits.
pub(crate) fn quantity(v: &Value) -> Result<U256, Reason> {
    match v {
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Ok(U256::from(u))
            } else if n.as_i64().is_some() {
                Err("must not be negative".into())
            } else {
                Err("must be an integer (write large values as 0x-prefixed hex strings)".into())
            }
        }
        Value::String(s) => quantity_str(s),
        _ => Err(format!(
            "must be a quantity (0x-prefixed hex string), not {}",
            kind(v)
        )),
    }
}

fn quantity_str(s: &str) -> Result<U256, Reason> {
    if s.starts_with('-') {
        return Err("must not be negative".into());
    }
    if let Some(hex) = s.strip_prefix("0x") {
        if hex.is_empty() {
            return Err("is an empty hex quantity (`0x`); zero is `0x0`".into());
        }
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("is not a valid hex quantity: {}", shown(s)));
        }
        return U256::from_str_radix(hex, 16)
            .map_err(|_| "is out of range (more than 256 bits)".to_string());
    }
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "is not a valid quantity (expected 0x-prefixed hex or decimal digits): {}",
            shown(s)
        ));
    }
    U256::from_str_radix(s, 10).map_err(|_| "is out of range (more than 256 bits)".to_string())
}

/// A quantity that must fit in 64 bits.
pub(crate) fn quantity_u64(v: &Value) -> Result<u64, Reason> {
    let q = quantity(v)?;
    u64::try_from(q).map_err(|_| "is out of range for a 64-bit quantity".to_string())
}

/// A quantity that must fit in 128 bits (fees: alloy keeps them as `u128`,
/// far beyond any real fee).
pub(crate) fn quantity_u128(v: &Value) -> Result<u128, Reason> {
    let q = quantity(v)?;
    u128::try_from(q).map_err(|_| "is out of range for a 128-bit quantity".to_string())
}

/// A signed integer of at most 256 bits for EIP-712 `intN`: the quantity forms,
/// plus a leading `-` on decimal strings and negative JSON integers. Returns
/// (negative, magnitude); `-0` is zero.
pub(crate) fn signed_integer(v: &Value) -> Result<(bool, U256), Reason> {
    match v {
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Ok((false, U256::from(u)))
            } else if let Some(i) = n.as_i64() {
                Ok((true, U256::from(i.unsigned_abs())))
            } else {
                Err("must be an integer (write large values as strings)".into())
            }
        }
        Value::String(s) => match s.strip_prefix('-') {
            Some(digits) => {
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!(
                        "is not a valid integer (a `-` takes decimal digits): {}",
                        shown(s)
                    ));
                }
                let mag = U256::from_str_radix(digits, 10)
                    .map_err(|_| "is out of range (more than 256 bits)".to_string())?;
                Ok((!mag.is_zero(), mag))
            }
            None => quantity_str(s).map(|m| (false, m)),
        },
        _ => Err(format!("must be an integer, not {}", kind(v))),
    }
}

/// Arbitrary bytes as a `0x`-prefixed hex string (`"0x"` is empty).
pub(crate) fn bytes(v: &Value) -> Result<Bytes, Reason> {
    let Value::String(s) = v else {
        return Err(format!("must be a 0x-prefixed hex string, not {}", kind(v)));
    };
    hex_bytes(s).map(Bytes::from)
}

fn hex_bytes(s: &str) -> Result<Vec<u8>, Reason> {
    let Some(hex) = s.strip_prefix("0x") else {
        return Err(format!("must be a 0x-prefixed hex string: {}", shown(s)));
    };
    if hex.len() % 2 != 0 {
        return Err("has an odd number of hex digits".into());
    }
    alloy_primitives::hex::decode(hex).map_err(|_| format!("is not valid hex: {}", shown(s)))
}

/// Exactly `n` bytes as a `0x`-prefixed hex string.
pub(crate) fn fixed_bytes(v: &Value, n: usize) -> Result<Vec<u8>, Reason> {
    let b = bytes(v)?;
    if b.len() != n {
        return Err(format!("must be exactly {n} bytes, got {}", b.len()));
    }
    Ok(b.to_vec())
}

/// A 32-byte word (`0x` + 64 hex digits).
pub(crate) fn b256(v: &Value) -> Result<B256, Reason> {
    fixed_bytes(v, 32).map(|b| B256::from_slice(&b))
}

/// A 20-byte address, `0x` + 40 hex digits. All-lower-case and all-upper-case
/// addresses are taken as they are; mixed case must be a valid EIP-55
/// checksum (a mistyped checksummed address is refused, as wallets do).
pub(crate) fn address(v: &Value) -> Result<Address, Reason> {
    let Value::String(s) = v else {
        return Err(format!(
            "must be an address (0x-prefixed, 40 hex digits), not {}",
            kind(v)
        ));
    };
    let Some(hex) = s.strip_prefix("0x") else {
        return Err(format!(
            "must be an address (0x-prefixed, 40 hex digits): {}",
            shown(s)
        ));
    };
    if hex.len() != 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "must be an address (0x-prefixed, 40 hex digits): {}",
            shown(s)
        ));
    }
    let lower = hex.bytes().any(|b| b.is_ascii_lowercase());
    let upper = hex.bytes().any(|b| b.is_ascii_uppercase());
    if lower && upper {
        return Address::parse_checksummed(s, None)
            .map_err(|_| format!("has an invalid EIP-55 checksum: {s}"));
    }
    let mut out = [0u8; 20];
    alloy_primitives::hex::decode_to_slice(hex, &mut out)
        .map_err(|_| format!("is not a valid address: {}", shown(s)))?;
    Ok(Address::from(out))
}

/// The JSON kind of a value, for messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A caller's string, quoted and cut short, for messages.
pub(crate) fn shown(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() <= MAX {
        format!("{s:?}")
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut:?}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantity_forms() {
        assert_eq!(quantity(&json!("0x0")).unwrap(), U256::ZERO);
        assert_eq!(quantity(&json!("0x1a")).unwrap(), U256::from(26));
        assert_eq!(quantity(&json!("0x01A")).unwrap(), U256::from(26));
        assert_eq!(quantity(&json!("26")).unwrap(), U256::from(26));
        assert_eq!(quantity(&json!(26)).unwrap(), U256::from(26));
        assert_eq!(
            quantity(&json!(format!("0x{}", "f".repeat(64)))).unwrap(),
            U256::MAX
        );
    }

    #[test]
    fn quantity_refusals() {
        for (v, why) in [
            (json!("0x"), "empty"),
            (json!("-1"), "negative"),
            (json!(-1), "negative"),
            (json!("0xg1"), "hex"),
            (json!(" 1"), "quantity"),
            (json!("+1"), "quantity"),
            (json!("1e3"), "quantity"),
            (json!("0X1"), "quantity"),
            (json!("0x0x1"), "hex"),
            (json!(""), "quantity"),
            (json!(1.5), "integer"),
            (json!(true), "boolean"),
            (json!(null), "null"),
            (json!(format!("0x1{}", "0".repeat(64))), "range"),
            (json!(format!("1{}", "0".repeat(78))), "range"),
        ] {
            let e = quantity(&v).unwrap_err();
            assert!(e.contains(why), "{v}: {e}");
        }
        assert!(quantity_u64(&json!("0x10000000000000000"))
            .unwrap_err()
            .contains("64-bit"));
        assert_eq!(
            quantity_u64(&json!("0xffffffffffffffff")).unwrap(),
            u64::MAX
        );
        assert!(quantity_u128(&json!(format!("0x1{}", "0".repeat(32))))
            .unwrap_err()
            .contains("128-bit"));
    }

    #[test]
    fn signed_forms() {
        assert_eq!(signed_integer(&json!("-5")).unwrap(), (true, U256::from(5)));
        assert_eq!(signed_integer(&json!(-5)).unwrap(), (true, U256::from(5)));
        assert_eq!(signed_integer(&json!("-0")).unwrap(), (false, U256::ZERO));
        assert_eq!(
            signed_integer(&json!("0x5")).unwrap(),
            (false, U256::from(5))
        );
        assert!(signed_integer(&json!("-0x5")).is_err());
        assert!(signed_integer(&json!("-")).is_err());
    }

    #[test]
    fn byte_and_address_forms() {
        assert_eq!(bytes(&json!("0x")).unwrap().len(), 0);
        assert_eq!(bytes(&json!("0xAbCd")).unwrap().to_vec(), vec![0xab, 0xcd]);
        assert!(bytes(&json!("abcd")).unwrap_err().contains("0x-prefixed"));
        assert!(bytes(&json!("0xabc")).unwrap_err().contains("odd"));
        assert!(bytes(&json!("0xzz")).unwrap_err().contains("not valid hex"));
        assert!(fixed_bytes(&json!("0x0102"), 4)
            .unwrap_err()
            .contains("exactly 4 bytes"));
        let a = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
        assert_eq!(address(&json!(a)).unwrap().to_checksum(None), a);
        assert!(address(&json!(a.to_lowercase())).is_ok());
        assert!(address(&json!(format!("0x{}", a[2..].to_uppercase()))).is_ok());
        // One letter's case flipped: a checksum error, not silently accepted.
        let bad = a.replacen("aA", "Aa", 1);
        assert!(address(&json!(bad)).unwrap_err().contains("checksum"));
        assert!(address(&json!("0x1234")).unwrap_err().contains("40 hex"));
        assert!(address(&json!(12)).unwrap_err().contains("number"));
    }
}

//! Token permits in EIP-712 typed data: signatures that let someone else move
//! the signer's tokens without a transaction from the signer, which the policy
//! engine must see as the approvals they are.
//!
//! Recognised by `primaryType` and then held to the exact field shape of the
//! standard: a typed-data object named like a permit whose fields do not match
//! is refused rather than passed as "not a permit", so a policy on permits
//! cannot be dodged by a near-miss shape.
//!
//! The summary carries the message but not the member types, so a permit is
//! recognised by its field names and values; a message whose types differ
//! from the standard's hashes to something the token or Permit2 contract
//! refuses anyway.

use alloy_primitives::{Address, U256};
use serde_json::{json, Map, Value};

use crate::error::{EthError, Scope};
use crate::parse;
use crate::typed::TypedDataSummary;

const S: Scope = Scope::TypedData;

/// `type(uint160).max`: Permit2 allowances are `uint160`, and this amount is
/// its unlimited allowance.
pub const PERMIT2_MAX_AMOUNT: U256 = U256::from_limbs([u64::MAX, u64::MAX, u32::MAX as u64, 0]);

/// `type(uint48).max`, the width of Permit2's `expiration` and allowance `nonce`.
const UINT48_MAX: U256 = U256::from_limbs([(1 << 48) - 1, 0, 0, 0]);

/// A token permit recognised in typed data: what it lets `spender` take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permit {
    /// `"EIP-2612"` (ERC-20 `permit`), `"DAI"` (DAI's older
    /// `permit(holder,spender,nonce,expiry,allowed)`) or `"Permit2"`
    /// (Uniswap's Permit2: `PermitSingle`, `PermitBatch`,
    /// `PermitTransferFrom`, `PermitBatchTransferFrom` and their `Witness`
    /// forms).
    pub standard: &'static str,
    /// Who may move the tokens.
    pub spender: Address,
    /// The tokens and how much of each, in base units: the allowance
    /// (EIP-2612, DAI, Permit2 `PermitSingle`/`PermitBatch`) or the most
    /// that one transfer may move (Permit2 `PermitTransferFrom`).
    pub grants: Vec<(Address, U256)>,
    /// Until when the signature may be used (a Unix time): `deadline`,
    /// DAI's `expiry` (0 means never expires), Permit2's `sigDeadline` or
    /// `deadline`.
    pub deadline: U256,
}

impl Permit {
    /// Whether `amount` is unlimited for this permit's standard: `2^256 - 1`
    /// for EIP-2612 and DAI; for Permit2, whose allowances are `uint160`,
    /// anything at or above `2^160 - 1` ([`PERMIT2_MAX_AMOUNT`]; a
    /// `PermitTransferFrom` amount that large exceeds any token's supply).
    pub fn is_unlimited_amount(&self, amount: U256) -> bool {
        if self.standard == PERMIT2 {
            amount >= PERMIT2_MAX_AMOUNT
        } else {
            amount == U256::MAX
        }
    }

    /// Whether any grant is unlimited ([`Permit::is_unlimited_amount`]).
    pub fn is_unlimited(&self) -> bool {
        self.grants
            .iter()
            .any(|(_, amount)| self.is_unlimited_amount(*amount))
    }

    /// The permit for approvers and the audit log:
    /// `{"standard","spender","tokens":[{"token","amount","unlimited"}],"deadline","unlimited"}`.
    /// Addresses are EIP-55, amounts and the deadline decimal strings;
    /// the top-level `unlimited` is [`Permit::is_unlimited`].
    pub fn to_json(&self) -> Value {
        let tokens: Vec<Value> = self
            .grants
            .iter()
            .map(|(token, amount)| {
                json!({
                    "token": token.to_checksum(None),
                    "amount": amount.to_string(),
                    "unlimited": self.is_unlimited_amount(*amount),
                })
            })
            .collect();
        json!({
            "standard": self.standard,
            "spender": self.spender.to_checksum(None),
            "tokens": tokens,
            "deadline": self.deadline.to_string(),
            "unlimited": self.is_unlimited(),
        })
    }
}

const EIP2612: &str = "EIP-2612";
const DAI: &str = "DAI";
const PERMIT2: &str = "Permit2";

/// The fields of a struct in a permit, and how many others it may have
/// (Permit2's witness transfers add exactly one, named by the application).
struct Shape {
    standard: &'static str,
    fields: &'static [&'static str],
    witness: bool,
}

const EIP2612_PERMIT: Shape = Shape {
    standard: EIP2612,
    fields: &["owner", "spender", "value", "nonce", "deadline"],
    witness: false,
};
const DAI_PERMIT: Shape = Shape {
    standard: DAI,
    fields: &["holder", "spender", "nonce", "expiry", "allowed"],
    witness: false,
};
const PERMIT_SINGLE: Shape = Shape {
    standard: PERMIT2,
    fields: &["details", "spender", "sigDeadline"],
    witness: false,
};
const PERMIT_DETAILS: Shape = Shape {
    standard: PERMIT2,
    fields: &["token", "amount", "expiration", "nonce"],
    witness: false,
};
const PERMIT_TRANSFER_FROM: Shape = Shape {
    standard: PERMIT2,
    fields: &["permitted", "spender", "nonce", "deadline"],
    witness: false,
};
const PERMIT_WITNESS_TRANSFER_FROM: Shape = Shape {
    standard: PERMIT2,
    fields: &["permitted", "spender", "nonce", "deadline"],
    witness: true,
};
const TOKEN_PERMISSIONS: Shape = Shape {
    standard: PERMIT2,
    fields: &["token", "amount"],
    witness: false,
};

/// Recognises a token permit in validated typed data (the summary from
/// [`crate::typed_data`]).
///
/// By `primaryType`:
/// - `Permit`: EIP-2612 (`owner, spender, value, nonce, deadline`), or DAI's
///   permit when the message has `holder` (`holder, spender, nonce, expiry,
///   allowed`; `allowed: true` is an unlimited allowance, `false` a
///   revocation, amount 0). The token is the domain's `verifyingContract`.
/// - Permit2: `PermitSingle {details {token, amount, expiration, nonce},
///   spender, sigDeadline}`, `PermitBatch` (`details` an array),
///   `PermitTransferFrom {permitted {token, amount}, spender, nonce,
///   deadline}`, `PermitBatchTransferFrom` (`permitted` an array), and
///   `PermitWitnessTransferFrom`/`PermitBatchWitnessTransferFrom` (the same
///   plus one witness field).
///
/// Other typed data is `Ok(None)`.
///
/// Refuses a permit `primaryType` whose message does not have exactly the
/// standard's fields (missing or extra fields, a struct where an array
/// belongs), values that are not addresses or integers where those belong,
/// Permit2 allowance amounts beyond `uint160` and expirations or nonces beyond
/// `uint48`, and an EIP-2612 or DAI permit whose domain has no
/// `verifyingContract` (a permit must name its token).
pub fn permit(summary: &TypedDataSummary) -> Result<Option<Permit>, EthError> {
    let primary = summary.primary_type.as_str();
    let message = &summary.message;
    let permit = match primary {
        "Permit" => {
            let dai = matches!(message, Value::Object(m) if m.contains_key("holder"));
            let shape = if dai { &DAI_PERMIT } else { &EIP2612_PERMIT };
            let m = fields(message, "message", primary, shape)?;
            let token = match &summary.domain.verifying_contract {
                Some(v) => parse::address(&Value::String(v.clone()))
                    .map_err(|e| EthError::invalid(S, "domain.verifyingContract", e))?,
                None => {
                    return Err(EthError::invalid(
                        S,
                        "domain",
                        format!(
                            "has no `verifyingContract`: a `Permit` ({} permit) must name its token there",
                            shape.standard
                        ),
                    ))
                }
            };
            if dai {
                address(m, "message", "holder")?;
                quantity(m, "message", "nonce")?;
                let allowed = match field(m, "allowed") {
                    Value::Bool(b) => *b,
                    other => {
                        return Err(EthError::invalid(
                            S,
                            "message.allowed",
                            format!("must be a boolean, not {}", parse::kind(other)),
                        ))
                    }
                };
                Permit {
                    standard: DAI,
                    spender: address(m, "message", "spender")?,
                    grants: vec![(token, if allowed { U256::MAX } else { U256::ZERO })],
                    deadline: quantity(m, "message", "expiry")?,
                }
            } else {
                address(m, "message", "owner")?;
                quantity(m, "message", "nonce")?;
                Permit {
                    standard: EIP2612,
                    spender: address(m, "message", "spender")?,
                    grants: vec![(token, quantity(m, "message", "value")?)],
                    deadline: quantity(m, "message", "deadline")?,
                }
            }
        }
        "PermitSingle" | "PermitBatch" => {
            let m = fields(message, "message", primary, &PERMIT_SINGLE)?;
            let grants = if primary == "PermitSingle" {
                vec![permit_details(
                    field(m, "details"),
                    "message.details",
                    primary,
                )?]
            } else {
                array(field(m, "details"), "message.details", primary)?
                    .iter()
                    .enumerate()
                    .map(|(i, d)| permit_details(d, &format!("message.details[{i}]"), primary))
                    .collect::<Result<_, _>>()?
            };
            Permit {
                standard: PERMIT2,
                spender: address(m, "message", "spender")?,
                grants,
                deadline: quantity(m, "message", "sigDeadline")?,
            }
        }
        "PermitTransferFrom"
        | "PermitBatchTransferFrom"
        | "PermitWitnessTransferFrom"
        | "PermitBatchWitnessTransferFrom" => {
            let shape = if primary.contains("Witness") {
                &PERMIT_WITNESS_TRANSFER_FROM
            } else {
                &PERMIT_TRANSFER_FROM
            };
            let m = fields(message, "message", primary, shape)?;
            let grants = if primary.starts_with("PermitBatch") {
                array(field(m, "permitted"), "message.permitted", primary)?
                    .iter()
                    .enumerate()
                    .map(|(i, p)| token_permissions(p, &format!("message.permitted[{i}]"), primary))
                    .collect::<Result<_, _>>()?
            } else {
                vec![token_permissions(
                    field(m, "permitted"),
                    "message.permitted",
                    primary,
                )?]
            };
            quantity(m, "message", "nonce")?;
            Permit {
                standard: PERMIT2,
                spender: address(m, "message", "spender")?,
                grants,
                deadline: quantity(m, "message", "deadline")?,
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(permit))
}

/// Permit2 `PermitDetails {token, amount (uint160), expiration (uint48),
/// nonce (uint48)}` → (token, amount).
fn permit_details(v: &Value, path: &str, primary: &str) -> Result<(Address, U256), EthError> {
    let m = fields(v, path, primary, &PERMIT_DETAILS)?;
    let amount = quantity(m, path, "amount")?;
    if amount > PERMIT2_MAX_AMOUNT {
        return Err(EthError::invalid(
            S,
            format!("{path}.amount"),
            "is out of range for uint160 (a Permit2 allowance)",
        ));
    }
    for field in ["expiration", "nonce"] {
        if quantity(m, path, field)? > UINT48_MAX {
            return Err(EthError::invalid(
                S,
                format!("{path}.{field}"),
                "is out of range for uint48 (Permit2)",
            ));
        }
    }
    Ok((address(m, path, "token")?, amount))
}

/// Permit2 `TokenPermissions {token, amount}` → (token, amount).
fn token_permissions(v: &Value, path: &str, primary: &str) -> Result<(Address, U256), EthError> {
    let m = fields(v, path, primary, &TOKEN_PERMISSIONS)?;
    Ok((address(m, path, "token")?, quantity(m, path, "amount")?))
}

/// `v` as an object with exactly `shape`'s fields (plus one witness field
/// where the shape has one).
fn fields<'a>(
    v: &'a Value,
    path: &str,
    primary: &str,
    shape: &Shape,
) -> Result<&'a Map<String, Value>, EthError> {
    let expected = || {
        format!(
            "a `{primary}` ({} permit) has {}{}",
            shape.standard,
            shape.fields.join(", "),
            if shape.witness {
                " and one witness field"
            } else {
                ""
            }
        )
    };
    let Value::Object(m) = v else {
        return Err(EthError::invalid(
            S,
            path,
            format!("must be an object, not {}: {}", parse::kind(v), expected()),
        ));
    };
    if let Some(f) = shape.fields.iter().find(|f| !m.contains_key(**f)) {
        return Err(EthError::invalid(
            S,
            format!("{path}.{f}"),
            format!("is missing: {}", expected()),
        ));
    }
    let mut others = m.keys().filter(|k| !shape.fields.contains(&k.as_str()));
    let allowed = usize::from(shape.witness);
    if let Some(extra) = others.nth(allowed) {
        return Err(EthError::invalid(
            S,
            format!("{path}.{extra}"),
            format!("is not a field of a permit: {}", expected()),
        ));
    }
    if shape.witness && m.len() != shape.fields.len() + 1 {
        return Err(EthError::invalid(
            S,
            path,
            format!("has no witness field: {}", expected()),
        ));
    }
    Ok(m)
}

/// `v` as an array (Permit2's batch forms).
fn array<'a>(v: &'a Value, path: &str, primary: &str) -> Result<&'a Vec<Value>, EthError> {
    match v {
        Value::Array(items) => Ok(items),
        other => Err(EthError::invalid(
            S,
            path,
            format!(
                "must be an array in a `{primary}` (Permit2), not {}",
                parse::kind(other)
            ),
        )),
    }
}

/// Field `name` of `m` (present: checked by [`fields`]; `null` otherwise).
fn field<'a>(m: &'a Map<String, Value>, name: &str) -> &'a Value {
    m.get(name).unwrap_or(&Value::Null)
}

/// Field `name` of `m` as an address.
fn address(m: &Map<String, Value>, path: &str, name: &str) -> Result<Address, EthError> {
    parse::address(field(m, name)).map_err(|e| EthError::invalid(S, format!("{path}.{name}"), e))
}

/// Field `name` of `m` as an unsigned integer (hex, decimal string or JSON
/// number, as typed data takes them).
fn quantity(m: &Map<String, Value>, path: &str, name: &str) -> Result<U256, EthError> {
    parse::quantity(field(m, name)).map_err(|e| EthError::invalid(S, format!("{path}.{name}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permit2_max_is_uint160_max() {
        assert_eq!(PERMIT2_MAX_AMOUNT, (U256::from(1) << 160) - U256::from(1));
        assert_eq!(UINT48_MAX, (U256::from(1) << 48) - U256::from(1));
    }
}

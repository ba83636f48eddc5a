//! EIP-712 typed data as `eth_signTypedData_v4` takes it: validated here, with
//! messages that say which field is wrong, then hashed by alloy.
//!
//! Stricter than MetaMask's eth-sig-util on purpose, because what an approver
//! sees (the message as given) must be exactly what is signed:
//! - every struct member must be present, and a message member that is not in
//!   the type is refused (eth-sig-util hashes absent members as zero and
//!   ignores extra ones);
//! - values must have the shape of their type: JSON booleans for `bool`, `0x`
//!   hex of the exact length for `bytesN`, `0x` hex for `bytes`, strings for
//!   `string`, in-range integers for `uintN`/`intN`;
//! - `types.EIP712Domain`, when given, must list exactly the fields present in
//!   `domain`, in EIP-712's order (the domain separator is computed from that
//!   order; a different order would make another wallet compute another hash);
//! - recursive (cyclic) types and `primaryType: "EIP712Domain"` are refused.

use std::collections::BTreeMap;

use alloy_dyn_abi::{Eip712Domain, Eip712Types, PropertyDef, Resolver, TypedData};
use alloy_primitives::{hex, U256};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{EthError, Scope};
use crate::parse;

const S: Scope = Scope::TypedData;

/// Upper bound on the number of members the primary type expands to (every
/// nested struct counted where it is used). The expansion is linear in the
/// message for most types, but struct arrays can make a tiny message stand for
/// an exponential type tree; real typed data is far below this.
const MAX_EXPANDED_MEMBERS: u64 = 4096;

/// The domain fields EIP-712 defines, in its order, with their types.
const DOMAIN_FIELDS: [(&str, &str); 5] = [
    ("name", "string"),
    ("version", "string"),
    ("chainId", "uint256"),
    ("verifyingContract", "address"),
    ("salt", "bytes32"),
];

/// The EIP-712 signing hash of a typed-data object and what an approver and
/// the audit log see of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedDataHash {
    /// `keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ hashStruct(message))`: the digest to sign.
    pub hash: [u8; 32],
    /// The decoded form.
    pub summary: TypedDataSummary,
}

/// Typed data in decoded form, for the audit log and approvers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TypedDataSummary {
    /// The domain's fields that are present.
    pub domain: DomainSummary,
    /// The struct type of the message.
    pub primary_type: String,
    /// The message, as the caller gave it (it is what is signed: extra or
    /// missing members are refused).
    pub message: Value,
}

/// The EIP-712 domain fields that are present, named as in EIP-712.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DomainSummary {
    /// `name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `version`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `chainId`, as a decimal string (it is a uint256).
    #[serde(rename = "chainId", skip_serializing_if = "Option::is_none")]
    pub chain_id: Option<String>,
    /// `verifyingContract`, EIP-55.
    #[serde(rename = "verifyingContract", skip_serializing_if = "Option::is_none")]
    pub verifying_contract: Option<String>,
    /// `salt`, `0x` hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
}

/// Validates and hashes EIP-712 typed data exactly as `eth_signTypedData_v4`
/// takes it: an object `{types, primaryType, domain, message}`, or a JSON
/// string holding that object (ethers and viem send the string). `types` may
/// include `EIP712Domain` or leave it out.
///
/// Refuses unknown top-level fields; undefined, malformed or cyclic types
/// (`types.Mail.to` naming a type that does not exist, `uint7`, `bytes33`,
/// duplicate members); a `primaryType` not in `types`; unknown domain fields
/// and a `types.EIP712Domain` that does not match the domain; message values
/// that are missing, extra, of the wrong shape or out of range (`uint8` 300,
/// `bytes4` of 3 bytes, a bad address or checksum, a fixed array of the wrong
/// length). Each error names the path of the offending value.
pub fn typed_data(v: &Value) -> Result<TypedDataHash, EthError> {
    let parsed;
    let v = match v {
        Value::String(s) => {
            parsed = serde_json::from_str::<Value>(s).map_err(|e| {
                EthError::malformed(S, format!("is a string that does not hold JSON: {e}"))
            })?;
            &parsed
        }
        other => other,
    };
    let Value::Object(top) = v else {
        return Err(EthError::malformed(
            S,
            format!(
                "must be a JSON object (or a string holding one), not {}",
                parse::kind(v)
            ),
        ));
    };
    if let Some(k) = top
        .keys()
        .find(|k| !["types", "primaryType", "domain", "message"].contains(&k.as_str()))
    {
        return Err(EthError::unknown(S, k.as_str()));
    }
    let get = |name: &str| {
        top.get(name)
            .filter(|v| !v.is_null())
            .ok_or_else(|| EthError::missing(S, name))
    };

    let (types, domain_type) = parse_types(get("types")?)?;
    let primary_type = match get("primaryType")? {
        Value::String(p) if p == "EIP712Domain" => {
            return Err(EthError::invalid(
                S,
                "primaryType",
                "`EIP712Domain` (signing a bare domain) is not supported",
            ))
        }
        Value::String(p) if types.contains_key(p) => p.clone(),
        Value::String(p) => {
            return Err(EthError::invalid(
                S,
                "primaryType",
                format!("`{p}` is not defined in `types`"),
            ))
        }
        other => {
            return Err(EthError::invalid(
                S,
                "primaryType",
                format!("must be a string, not {}", parse::kind(other)),
            ))
        }
    };
    check_acyclic(&types)?;
    check_expansion(&types, &primary_type)?;
    let (domain, domain_summary) = parse_domain(get("domain")?)?;
    if let Some(listed) = domain_type {
        check_domain_type(&listed, &domain_summary)?;
    }
    let message = get("message")?;
    let normalized =
        Walker { types: &types }.value(&TypeRef::structure(&primary_type), message, "message")?;

    let mut defs = BTreeMap::new();
    for (name, members) in &types {
        let props = members
            .iter()
            .map(|m| {
                PropertyDef::new(m.ty.text.clone(), m.name.clone()).map_err(|e| {
                    EthError::invalid(
                        S,
                        format!("types.{name}.{}", m.name),
                        format!("is refused by the EIP-712 parser: {e}"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        defs.insert(name.clone(), props);
    }
    let resolver = Resolver::from(Eip712Types::from(defs));
    let data = TypedData {
        domain,
        resolver,
        primary_type: primary_type.clone(),
        message: normalized,
    };
    let hash = data
        .eip712_signing_hash()
        .map_err(|e| EthError::malformed(S, format!("cannot be hashed: {e}")))?;
    Ok(TypedDataHash {
        hash: hash.0,
        summary: TypedDataSummary {
            domain: domain_summary,
            primary_type,
            message: message.clone(),
        },
    })
}

/// A member type: a base (atomic type or struct name) and array dimensions,
/// innermost first (`uint8[2][]` is a dynamic array of `uint8[2]`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct TypeRef {
    /// As written (it is hashed as written, in `encodeType`).
    text: String,
    base: Base,
    dims: Vec<Option<usize>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Base {
    Bool,
    Address,
    String,
    Bytes,
    FixedBytes(usize),
    Uint(usize),
    Int(usize),
    Struct(String),
}

impl TypeRef {
    fn structure(name: &str) -> Self {
        Self {
            text: name.to_owned(),
            base: Base::Struct(name.to_owned()),
            dims: Vec::new(),
        }
    }

    /// Parses a member type as written; `Err` is the reason.
    fn parse(text: &str) -> Result<Self, String> {
        let refuse = || format!("`{text}` is not a valid EIP-712 type");
        let base_end = text.find('[').unwrap_or(text.len());
        let (base, mut rest) = text.split_at(base_end);
        let mut dims = Vec::new();
        while !rest.is_empty() {
            if !rest.starts_with('[') {
                return Err(refuse());
            }
            let close = rest.find(']').ok_or_else(refuse)?;
            let inner = &rest[1..close];
            if inner.is_empty() {
                dims.push(None);
            } else {
                if inner.starts_with('0') || !inner.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!("`{text}` has an invalid array length `{inner}`"));
                }
                let n: usize = inner
                    .parse()
                    .map_err(|_| format!("`{text}` has an invalid array length `{inner}`"))?;
                dims.push(Some(n));
            }
            rest = &rest[close + 1..];
        }
        let base = match base {
            "bool" => Base::Bool,
            "address" => Base::Address,
            "string" => Base::String,
            "bytes" => Base::Bytes,
            b if reserved(b) => match (sized(b, "bytes"), sized(b, "uint"), sized(b, "int")) {
                (Some(n), _, _) if (1..=32).contains(&n) => Base::FixedBytes(n),
                (_, Some(n), _) if n % 8 == 0 && (8..=256).contains(&n) => Base::Uint(n),
                (_, _, Some(n)) if n % 8 == 0 && (8..=256).contains(&n) => Base::Int(n),
                _ => {
                    return Err(format!(
                    "`{b}` is not an EIP-712 type (uint8..uint256, int8..int256, bytes1..bytes32)"
                ))
                }
            },
            b if identifier(b) => Base::Struct(b.to_owned()),
            _ => return Err(refuse()),
        };
        Ok(Self {
            text: text.to_owned(),
            base,
            dims,
        })
    }
}

/// `uint256` with prefix `uint` → 256; `None` unless the rest is a canonical
/// decimal number.
fn sized(s: &str, prefix: &str) -> Option<usize> {
    let digits = s.strip_prefix(prefix)?;
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Names that are, or look like, Solidity elementary types; never struct names
/// (a parser could read `uint` as `uint256` where another reads a struct).
fn reserved(s: &str) -> bool {
    if [
        "bool", "address", "string", "bytes", "function", "tuple", "byte",
    ]
    .contains(&s)
    {
        return true;
    }
    ["uint", "int", "bytes", "fixed", "ufixed"].iter().any(|p| {
        s.strip_prefix(p)
            .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_digit() || b == b'x'))
    })
}

fn identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b'$')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
}

#[derive(Debug, Clone)]
struct Member {
    name: String,
    ty: TypeRef,
}

type Types = BTreeMap<String, Vec<Member>>;

/// `types` → the struct definitions (without `EIP712Domain`) and the
/// `EIP712Domain` members if listed.
fn parse_types(v: &Value) -> Result<(Types, Option<Vec<Member>>), EthError> {
    let Value::Object(obj) = v else {
        return Err(EthError::invalid(
            S,
            "types",
            format!("must be an object, not {}", parse::kind(v)),
        ));
    };
    let mut types = Types::new();
    let mut domain = None;
    for (name, members) in obj {
        let path = format!("types.{name}");
        if name != "EIP712Domain" && (!identifier(name) || reserved(name)) {
            return Err(EthError::invalid(S, &path, "is not a valid struct name"));
        }
        let list = parse_members(members, &path)?;
        if name == "EIP712Domain" {
            domain = Some(list);
        } else {
            types.insert(name.clone(), list);
        }
    }
    for (name, members) in &types {
        for m in members {
            if let Base::Struct(s) = &m.ty.base {
                if s == "EIP712Domain" {
                    return Err(EthError::invalid(
                        S,
                        format!("types.{name}.{}", m.name),
                        "must not use `EIP712Domain` as a member type",
                    ));
                }
                if !types.contains_key(s) {
                    return Err(EthError::invalid(
                        S,
                        format!("types.{name}.{}", m.name),
                        format!("refers to undefined type `{s}`"),
                    ));
                }
            }
        }
    }
    Ok((types, domain))
}

fn parse_members(v: &Value, path: &str) -> Result<Vec<Member>, EthError> {
    let Value::Array(items) = v else {
        return Err(EthError::invalid(
            S,
            path,
            format!("must be an array of {{name, type}}, not {}", parse::kind(v)),
        ));
    };
    let mut out: Vec<Member> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let Value::Object(o) = item else {
            return Err(EthError::invalid(
                S,
                &at,
                format!(
                    "must be an object {{name, type}}, not {}",
                    parse::kind(item)
                ),
            ));
        };
        if let Some(k) = o.keys().find(|k| *k != "name" && *k != "type") {
            return Err(EthError::unknown(S, format!("{at}.{k}")));
        }
        let name = match o.get("name") {
            Some(Value::String(n)) if identifier(n) => n.clone(),
            Some(Value::String(n)) => {
                return Err(EthError::invalid(
                    S,
                    format!("{at}.name"),
                    format!("{} is not a valid member name", parse::shown(n)),
                ))
            }
            Some(other) => {
                return Err(EthError::invalid(
                    S,
                    format!("{at}.name"),
                    format!("must be a string, not {}", parse::kind(other)),
                ))
            }
            None => return Err(EthError::missing(S, format!("{at}.name"))),
        };
        if out.iter().any(|m| m.name == name) {
            return Err(EthError::invalid(
                S,
                format!("{path}.{name}"),
                "is defined twice",
            ));
        }
        let ty = match o.get("type") {
            Some(Value::String(t)) => TypeRef::parse(t).map_err(|e| {
                EthError::invalid(S, format!("{path}.{name}"), format!("has type {e}"))
            })?,
            Some(other) => {
                return Err(EthError::invalid(
                    S,
                    format!("{at}.type"),
                    format!("must be a string, not {}", parse::kind(other)),
                ))
            }
            None => return Err(EthError::missing(S, format!("{at}.type"))),
        };
        out.push(Member { name, ty });
    }
    Ok(out)
}

/// Refuses any cycle among the struct types (including a struct that contains
/// itself through an array: EIP-712 allows it in theory, but alloy's encoder
/// and most wallets do not, and it has no bounded expansion).
fn check_acyclic(types: &Types) -> Result<(), EthError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit<'a>(
        types: &'a Types,
        name: &'a str,
        marks: &mut BTreeMap<&'a str, Mark>,
        stack: &mut Vec<&'a str>,
    ) -> Result<(), EthError> {
        match marks.get(name) {
            Some(Mark::Done) => return Ok(()),
            Some(Mark::Open) => {
                let from = stack.iter().position(|s| *s == name).unwrap_or(0);
                let mut cycle: Vec<&str> = stack[from..].to_vec();
                cycle.push(name);
                return Err(EthError::invalid(
                    S,
                    format!("types.{name}"),
                    format!(
                        "is cyclic ({}); recursive types are refused",
                        cycle.join(" → ")
                    ),
                ));
            }
            None => {}
        }
        marks.insert(name, Mark::Open);
        stack.push(name);
        for m in types.get(name).map(Vec::as_slice).unwrap_or_default() {
            if let Base::Struct(s) = &m.ty.base {
                visit(types, s, marks, stack)?;
            }
        }
        stack.pop();
        marks.insert(name, Mark::Done);
        Ok(())
    }
    let mut marks = BTreeMap::new();
    for name in types.keys() {
        visit(types, name, &mut marks, &mut Vec::new())?;
    }
    Ok(())
}

/// Refuses a primary type whose expansion (each struct counted where it is
/// used) exceeds [`MAX_EXPANDED_MEMBERS`]. Types are acyclic by now.
fn check_expansion(types: &Types, primary: &str) -> Result<(), EthError> {
    fn size<'a>(types: &'a Types, name: &'a str, memo: &mut BTreeMap<&'a str, u64>) -> u64 {
        if let Some(n) = memo.get(name) {
            return *n;
        }
        let mut n: u64 = 1;
        for m in types.get(name).map(Vec::as_slice).unwrap_or_default() {
            let add = match &m.ty.base {
                Base::Struct(s) => size(types, s, memo),
                _ => 1,
            };
            n = n.saturating_add(add);
        }
        memo.insert(name, n);
        n
    }
    if size(types, primary, &mut BTreeMap::new()) > MAX_EXPANDED_MEMBERS {
        return Err(EthError::invalid(
            S,
            "types",
            format!("expand to more than {MAX_EXPANDED_MEMBERS} nested members from `{primary}` (refused to bound the work)"),
        ));
    }
    Ok(())
}

fn parse_domain(v: &Value) -> Result<(Eip712Domain, DomainSummary), EthError> {
    let Value::Object(obj) = v else {
        return Err(EthError::invalid(
            S,
            "domain",
            format!("must be an object, not {}", parse::kind(v)),
        ));
    };
    let mut d = Eip712Domain::default();
    let mut summary = DomainSummary::default();
    for (key, val) in obj {
        let path = format!("domain.{key}");
        let at = |e: String| EthError::invalid(S, &path, e);
        let string = |v: &Value| match v {
            Value::String(s) => Ok(s.clone()),
            other => Err(format!("must be a string, not {}", parse::kind(other))),
        };
        match key.as_str() {
            "name" => {
                let s = string(val).map_err(at)?;
                d.name = Some(s.clone().into());
                summary.name = Some(s);
            }
            "version" => {
                let s = string(val).map_err(at)?;
                d.version = Some(s.clone().into());
                summary.version = Some(s);
            }
            "chainId" => {
                let c = parse::quantity(val).map_err(at)?;
                d.chain_id = Some(c);
                summary.chain_id = Some(c.to_string());
            }
            "verifyingContract" => {
                let a = parse::address(val).map_err(at)?;
                d.verifying_contract = Some(a);
                summary.verifying_contract = Some(a.to_checksum(None));
            }
            "salt" => {
                let s = parse::b256(val).map_err(at)?;
                d.salt = Some(s);
                summary.salt = Some(s.to_string());
            }
            _ => return Err(EthError::unknown(S, path)),
        }
    }
    Ok((d, summary))
}

/// `types.EIP712Domain`, when given, must be exactly the present fields in
/// EIP-712's order with EIP-712's types.
fn check_domain_type(listed: &[Member], d: &DomainSummary) -> Result<(), EthError> {
    let present = [
        d.name.is_some(),
        d.version.is_some(),
        d.chain_id.is_some(),
        d.verifying_contract.is_some(),
        d.salt.is_some(),
    ];
    let expected: Vec<(&str, &str)> = DOMAIN_FIELDS
        .iter()
        .zip(present)
        .filter(|(_, p)| *p)
        .map(|(f, _)| *f)
        .collect();
    let got: Vec<(&str, &str)> = listed
        .iter()
        .map(|m| (m.name.as_str(), m.ty.text.as_str()))
        .collect();
    if got != expected {
        let show = |l: &[(&str, &str)]| {
            l.iter()
                .map(|(n, t)| format!("{t} {n}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        return Err(EthError::invalid(
            S,
            "types.EIP712Domain",
            format!(
                "must list exactly the fields present in `domain`, in EIP-712 order: expected `EIP712Domain({})`, got `EIP712Domain({})`",
                show(&expected),
                show(&got)
            ),
        ));
    }
    Ok(())
}

/// Checks a message value against its type and returns it in the one form
/// alloy's coercion reads unambiguously (integers as decimal strings, bytes
/// and addresses as lower-case `0x` hex).
struct Walker<'a> {
    types: &'a Types,
}

impl Walker<'_> {
    fn value(&self, ty: &TypeRef, v: &Value, path: &str) -> Result<Value, EthError> {
        self.dims(ty, ty.dims.len(), v, path)
    }

    /// `v` at array depth `depth` of `ty` (`depth == 0`: the base type).
    fn dims(&self, ty: &TypeRef, depth: usize, v: &Value, path: &str) -> Result<Value, EthError> {
        if v.is_null() {
            return Err(EthError::invalid(S, path, "must not be null"));
        }
        let Some(outer) = depth.checked_sub(1) else {
            return self.base(&ty.base, v, path);
        };
        let Value::Array(items) = v else {
            return Err(EthError::invalid(
                S,
                path,
                format!(
                    "must be an array (type `{}`), not {}",
                    ty.text,
                    parse::kind(v)
                ),
            ));
        };
        if let Some(Some(n)) = ty.dims.get(outer) {
            if items.len() != *n {
                return Err(EthError::invalid(
                    S,
                    path,
                    format!("must have exactly {n} elements, got {}", items.len()),
                ));
            }
        }
        items
            .iter()
            .enumerate()
            .map(|(i, item)| self.dims(ty, outer, item, &format!("{path}[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array)
    }

    fn base(&self, base: &Base, v: &Value, path: &str) -> Result<Value, EthError> {
        let at = |e: String| EthError::invalid(S, path, e);
        Ok(match base {
            Base::Bool => match v {
                Value::Bool(b) => Value::Bool(*b),
                other => return Err(at(format!("must be a boolean, not {}", parse::kind(other)))),
            },
            Base::String => match v {
                Value::String(s) => Value::String(s.clone()),
                other => return Err(at(format!("must be a string, not {}", parse::kind(other)))),
            },
            Base::Address => Value::String(format!("{:x}", parse::address(v).map_err(at)?)),
            Base::Bytes => Value::String(hex::encode_prefixed(parse::bytes(v).map_err(at)?)),
            Base::FixedBytes(n) => {
                Value::String(hex::encode_prefixed(parse::fixed_bytes(v, *n).map_err(at)?))
            }
            Base::Uint(bits) => {
                let q = parse::quantity(v).map_err(at)?;
                if q.bit_len() > *bits {
                    return Err(at(format!("is out of range for uint{bits}")));
                }
                Value::String(q.to_string())
            }
            Base::Int(bits) => {
                let (negative, mag) = parse::signed_integer(v).map_err(at)?;
                let limit = U256::from(1u8) << (bits - 1);
                if (negative && mag > limit) || (!negative && mag >= limit) {
                    return Err(at(format!("is out of range for int{bits}")));
                }
                Value::String(if negative {
                    format!("-{mag}")
                } else {
                    mag.to_string()
                })
            }
            Base::Struct(name) => {
                let members = self.types.get(name).map(Vec::as_slice).unwrap_or_default();
                let Value::Object(obj) = v else {
                    return Err(at(format!(
                        "must be an object (struct `{name}`), not {}",
                        parse::kind(v)
                    )));
                };
                if let Some(k) = obj.keys().find(|k| !members.iter().any(|m| &m.name == *k)) {
                    return Err(EthError::unknown(S, format!("{path}.{k}")));
                }
                let mut out = Map::new();
                for m in members {
                    let at = format!("{path}.{}", m.name);
                    let value = obj.get(&m.name).ok_or_else(|| EthError::missing(S, &at))?;
                    out.insert(m.name.clone(), self.value(&m.ty, value, &at)?);
                }
                Value::Object(out)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_parsing() {
        let t = TypeRef::parse("uint8[2][]").unwrap();
        assert_eq!(t.base, Base::Uint(8));
        assert_eq!(t.dims, vec![Some(2), None]);
        assert_eq!(
            TypeRef::parse("bytes32").unwrap().base,
            Base::FixedBytes(32)
        );
        assert_eq!(
            TypeRef::parse("Person[]").unwrap().base,
            Base::Struct("Person".into())
        );
        for bad in [
            "uint7",
            "uint264",
            "uint",
            "int0",
            "bytes33",
            "bytes0",
            "uint08",
            "fixed128x18",
            "uint8[0]",
            "uint8[01]",
            "uint8[",
            "uint8]",
            "uint8[x]",
            "Per son",
            "",
            "tuple",
            "uint8[2]x",
        ] {
            assert!(TypeRef::parse(bad).is_err(), "{bad}");
        }
    }
}

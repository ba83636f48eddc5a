//! Ethereum transactions: the JSON-RPC transaction object in, the signing hash
//! and an audit summary out, and the signed EIP-2718 bytes once Signet has
//! signed the hash.

use alloy_consensus::{SignableTransaction, TxEip1559, TxEip2930, TxEip7702, TxLegacy};
use alloy_eips::eip2718::Encodable2718;
use alloy_eips::eip2930::{AccessList, AccessListItem};
use alloy_eips::eip7702::{Authorization, SignedAuthorization};
use alloy_primitives::{keccak256, Address, Bytes, Signature, TxKind, U256};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{EthError, Scope};
use crate::parse;

const T: Scope = Scope::Transaction;

/// The fields of a transaction object, as `eth_signTransaction`,
/// `eth_sendTransaction` and Signet's `{transaction: {...}}` take it. Every
/// field is optional at this stage; [`TxRequest::build`] says which are
/// required. Parse it with [`parse_request`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxRequest {
    /// `from`: the sender. Not part of the signed bytes; the host checks it is
    /// the wallet that signs.
    pub from: Option<Address>,
    /// `type`: the EIP-2718 type (0 legacy, 1 EIP-2930, 2 EIP-1559, 4 EIP-7702),
    /// or inferred from the fields (see [`TxRequest::tx_type`]).
    pub r#type: Option<u8>,
    /// `chainId`.
    pub chain_id: Option<u64>,
    /// `nonce`.
    pub nonce: Option<u64>,
    /// `to`: the recipient; `None` (absent or `null`) creates a contract.
    pub to: Option<Address>,
    /// `value` in wei; absent means zero.
    pub value: Option<U256>,
    /// `input` (or its older name `data`): call data or init code; absent means empty.
    pub input: Bytes,
    /// `gas` (or `gasLimit`): the gas limit.
    pub gas: Option<u64>,
    /// `gasPrice` (types 0 and 1).
    pub gas_price: Option<u128>,
    /// `maxFeePerGas` (types 2 and 4).
    pub max_fee_per_gas: Option<u128>,
    /// `maxPriorityFeePerGas` (types 2 and 4).
    pub max_priority_fee_per_gas: Option<u128>,
    /// `accessList` (types 1, 2 and 4).
    pub access_list: Option<AccessList>,
    /// `authorizationList` (type 4 only): the signed EIP-7702 delegations.
    pub authorization_list: Option<Vec<SignedAuthorization>>,
}

/// Parses the JSON-RPC transaction object.
///
/// Field names are camelCase as in JSON-RPC; quantities are `0x` hex strings,
/// decimal strings or JSON integers (see the crate docs); byte strings are
/// `0x` hex. `data` is accepted as an alias of `input` and `gasLimit` of `gas`
/// (both spellings at once must agree). A `null` value is the same as an absent
/// field (clients write `"to": null` for contract creation).
///
/// Refuses anything that is not an object, unknown fields (signatures, `hash`,
/// blob fields, typos: nothing is silently ignored), malformed or out-of-range
/// values. Consistency between fields is checked by [`TxRequest::tx_type`] and
/// [`TxRequest::build`].
pub fn parse_request(v: &Value) -> Result<TxRequest, EthError> {
    let Value::Object(obj) = v else {
        return Err(EthError::malformed(
            T,
            format!("must be a JSON object, not {}", parse::kind(v)),
        ));
    };
    let mut req = TxRequest::default();
    let mut input: Option<(&str, Bytes)> = None;
    let mut gas: Option<(&str, u64)> = None;
    for (key, val) in obj {
        if val.is_null() {
            if !KNOWN.contains(&key.as_str()) {
                return Err(EthError::unknown(T, key.as_str()));
            }
            continue;
        }
        let at = |e: String| EthError::invalid(T, key.as_str(), e);
        match key.as_str() {
            "from" => req.from = Some(parse::address(val).map_err(at)?),
            "type" => {
                let t = parse::quantity_u64(val).map_err(at)?;
                let t =
                    u8::try_from(t).map_err(|_| at(format!("{t} is not a transaction type")))?;
                req.r#type = Some(t);
            }
            "chainId" => req.chain_id = Some(parse::quantity_u64(val).map_err(at)?),
            "nonce" => req.nonce = Some(parse::quantity_u64(val).map_err(at)?),
            "to" => req.to = Some(parse::address(val).map_err(at)?),
            "value" => req.value = Some(parse::quantity(val).map_err(at)?),
            "input" | "data" => {
                let b = parse::bytes(val).map_err(at)?;
                if let Some((other, prev)) = &input {
                    if *prev != b {
                        return Err(EthError::conflict(
                            T,
                            format!("`{other}` and `{key}` are both given and differ"),
                        ));
                    }
                }
                input = Some((key.as_str(), b));
            }
            "gas" | "gasLimit" => {
                let g = parse::quantity_u64(val).map_err(at)?;
                if let Some((other, prev)) = gas {
                    if prev != g {
                        return Err(EthError::conflict(
                            T,
                            format!("`{other}` and `{key}` are both given and differ"),
                        ));
                    }
                }
                gas = Some((key.as_str(), g));
            }
            "gasPrice" => req.gas_price = Some(parse::quantity_u128(val).map_err(at)?),
            "maxFeePerGas" => req.max_fee_per_gas = Some(parse::quantity_u128(val).map_err(at)?),
            "maxPriorityFeePerGas" => {
                req.max_priority_fee_per_gas = Some(parse::quantity_u128(val).map_err(at)?)
            }
            "accessList" => req.access_list = Some(access_list(val)?),
            "authorizationList" => req.authorization_list = Some(authorization_list(val)?),
            other => return Err(EthError::unknown(T, other)),
        }
    }
    req.input = input.map(|(_, b)| b).unwrap_or_default();
    req.gas = gas.map(|(_, g)| g);
    Ok(req)
}

/// Every field [`parse_request`] knows.
const KNOWN: &[&str] = &[
    "from",
    "type",
    "chainId",
    "nonce",
    "to",
    "value",
    "input",
    "data",
    "gas",
    "gasLimit",
    "gasPrice",
    "maxFeePerGas",
    "maxPriorityFeePerGas",
    "accessList",
    "authorizationList",
];

fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, EthError> {
    v.as_object().ok_or_else(|| {
        EthError::invalid(
            T,
            path,
            format!("must be an object, not {}", parse::kind(v)),
        )
    })
}

fn array<'a>(v: &'a Value, path: &str) -> Result<&'a Vec<Value>, EthError> {
    v.as_array().ok_or_else(|| {
        EthError::invalid(T, path, format!("must be an array, not {}", parse::kind(v)))
    })
}

/// Takes the required fields `names` out of `obj`, refusing unknown ones.
fn fields<'a, const N: usize>(
    obj: &'a Map<String, Value>,
    path: &str,
    names: [&str; N],
) -> Result<[&'a Value; N], EthError> {
    if let Some(k) = obj.keys().find(|k| !names.contains(&k.as_str())) {
        return Err(EthError::unknown(T, format!("{path}.{k}")));
    }
    let mut out = [&Value::Null; N];
    for (slot, name) in out.iter_mut().zip(names) {
        *slot = obj
            .get(name)
            .filter(|v| !v.is_null())
            .ok_or_else(|| EthError::missing(T, format!("{path}.{name}")))?;
    }
    Ok(out)
}

fn access_list(v: &Value) -> Result<AccessList, EthError> {
    let mut items = Vec::new();
    for (i, item) in array(v, "accessList")?.iter().enumerate() {
        let path = format!("accessList[{i}]");
        let [address, keys] = fields(object(item, &path)?, &path, ["address", "storageKeys"])?;
        let address = parse::address(address)
            .map_err(|e| EthError::invalid(T, format!("{path}.address"), e))?;
        let keys_path = format!("{path}.storageKeys");
        let storage_keys = array(keys, &keys_path)?
            .iter()
            .enumerate()
            .map(|(j, k)| {
                parse::b256(k).map_err(|e| EthError::invalid(T, format!("{keys_path}[{j}]"), e))
            })
            .collect::<Result<_, _>>()?;
        items.push(AccessListItem {
            address,
            storage_keys,
        });
    }
    Ok(AccessList(items))
}

fn authorization_list(v: &Value) -> Result<Vec<SignedAuthorization>, EthError> {
    let mut out = Vec::new();
    for (i, item) in array(v, "authorizationList")?.iter().enumerate() {
        let path = format!("authorizationList[{i}]");
        let names = ["chainId", "address", "nonce", "yParity", "r", "s"];
        let [chain_id, address, nonce, y_parity, r, s] =
            fields(object(item, &path)?, &path, names)?;
        let at = |name: &'static str| {
            let path = path.clone();
            move |e: String| EthError::invalid(T, format!("{path}.{name}"), e)
        };
        let chain_id = parse::quantity(chain_id).map_err(at("chainId"))?;
        let address = parse::address(address).map_err(at("address"))?;
        let nonce = parse::quantity_u64(nonce).map_err(at("nonce"))?;
        let y_parity = parse::quantity_u64(y_parity).map_err(at("yParity"))?;
        if y_parity > 1 {
            return Err(at("yParity")("must be 0 or 1".into()));
        }
        let r = parse::quantity(r).map_err(at("r"))?;
        let s = parse::quantity(s).map_err(at("s"))?;
        // Not verified here: an authorization with a bad signature is skipped
        // by the chain, not fatal to the transaction (EIP-7702).
        out.push(SignedAuthorization::new_unchecked(
            Authorization {
                chain_id,
                address,
                nonce,
            },
            y_parity as u8,
            r,
            s,
        ));
    }
    Ok(out)
}

impl TxRequest {
    /// The transaction type: the explicit `type`, else inferred as ethers and
    /// viem do: `authorizationList` → 4, `maxFeePerGas`/`maxPriorityFeePerGas`
    /// → 2, `accessList` with `gasPrice` → 1, `gasPrice` → 0, none of these → 2.
    ///
    /// Refuses types other than 0, 1, 2 and 4 (3, blob transactions, cannot be
    /// signed here) and fields that contradict the type or each other:
    /// `gasPrice` with `maxFeePerGas`/`maxPriorityFeePerGas`, an `accessList`
    /// on a legacy transaction, EIP-1559 fees on types 0 and 1, `gasPrice` on
    /// types 2 and 4, an `authorizationList` on anything but type 4.
    pub fn tx_type(&self) -> Result<u8, EthError> {
        let dynamic_fees =
            self.max_fee_per_gas.is_some() || self.max_priority_fee_per_gas.is_some();
        if self.gas_price.is_some() && dynamic_fees {
            return Err(EthError::conflict(
                T,
                "`gasPrice` cannot be combined with `maxFeePerGas`/`maxPriorityFeePerGas` (legacy and EIP-1559 fees)",
            ));
        }
        let ty = match self.r#type {
            Some(t) => t,
            None if self.authorization_list.is_some() => 4,
            None if dynamic_fees => 2,
            None if self.gas_price.is_some() && self.access_list.is_some() => 1,
            None if self.gas_price.is_some() => 0,
            None => 2,
        };
        let name = match ty {
            0 => "type 0 (legacy)",
            1 => "type 1 (EIP-2930)",
            2 => "type 2 (EIP-1559)",
            4 => "type 4 (EIP-7702)",
            3 => {
                return Err(EthError::invalid(
                    T,
                    "type",
                    "3 (EIP-4844 blob transaction) is not supported",
                ))
            }
            t => {
                return Err(EthError::invalid(
                    T,
                    "type",
                    format!("{t} is not a supported transaction type (0, 1, 2, 4)"),
                ))
            }
        };
        let refuse = |field: &str| {
            Err(EthError::conflict(
                T,
                format!("{name} transactions have no `{field}`"),
            ))
        };
        if ty == 0 && self.access_list.is_some() {
            return refuse("accessList");
        }
        if ty <= 1 && self.max_fee_per_gas.is_some() {
            return refuse("maxFeePerGas");
        }
        if ty <= 1 && self.max_priority_fee_per_gas.is_some() {
            return refuse("maxPriorityFeePerGas");
        }
        if ty >= 2 && self.gas_price.is_some() {
            return refuse("gasPrice");
        }
        if ty != 4 && self.authorization_list.is_some() {
            return refuse("authorizationList");
        }
        Ok(ty)
    }

    /// The unsigned transaction, once every field it needs is present and
    /// consistent ([`TxRequest::tx_type`] first).
    ///
    /// Requires `chainId` (non-zero; legacy transactions are signed with
    /// EIP-155 replay protection, never without), `nonce` (below 2^64-1,
    /// EIP-2681), `gas`, `gasPrice` for types 0 and 1, `maxFeePerGas` and
    /// `maxPriorityFeePerGas` (not above `maxFeePerGas`) for types 2 and 4, and
    /// for type 4 a `to` and a non-empty `authorizationList`. Absent `value` is
    /// zero, absent `input` empty, absent `accessList` empty.
    pub fn build(&self) -> Result<UnsignedTx, EthError> {
        let ty = self.tx_type()?;
        let chain_id = self
            .chain_id
            .ok_or_else(|| EthError::missing(T, "chainId"))?;
        if chain_id == 0 {
            return Err(EthError::invalid(T, "chainId", "must not be 0"));
        }
        let nonce = self.nonce.ok_or_else(|| EthError::missing(T, "nonce"))?;
        if nonce == u64::MAX {
            return Err(EthError::invalid(
                T,
                "nonce",
                "is out of range (EIP-2681: at most 2^64-2)",
            ));
        }
        let gas_limit = self.gas.ok_or_else(|| EthError::missing(T, "gas"))?;
        let kind = self.to.map_or(TxKind::Create, TxKind::Call);
        let value = self.value.unwrap_or_default();
        let input = self.input.clone();
        let access_list = self.access_list.clone().unwrap_or_default();
        let inner = match ty {
            0 | 1 => {
                let gas_price = self
                    .gas_price
                    .ok_or_else(|| EthError::missing(T, "gasPrice"))?;
                if ty == 0 {
                    Inner::Legacy(TxLegacy {
                        chain_id: Some(chain_id),
                        nonce,
                        gas_price,
                        gas_limit,
                        to: kind,
                        value,
                        input,
                    })
                } else {
                    Inner::Eip2930(TxEip2930 {
                        chain_id,
                        nonce,
                        gas_price,
                        gas_limit,
                        to: kind,
                        value,
                        access_list,
                        input,
                    })
                }
            }
            _ => {
                let max_fee_per_gas = self
                    .max_fee_per_gas
                    .ok_or_else(|| EthError::missing(T, "maxFeePerGas"))?;
                let max_priority_fee_per_gas = self
                    .max_priority_fee_per_gas
                    .ok_or_else(|| EthError::missing(T, "maxPriorityFeePerGas"))?;
                if max_priority_fee_per_gas > max_fee_per_gas {
                    return Err(EthError::conflict(
                        T,
                        "`maxPriorityFeePerGas` must not exceed `maxFeePerGas`",
                    ));
                }
                if ty == 2 {
                    Inner::Eip1559(TxEip1559 {
                        chain_id,
                        nonce,
                        gas_limit,
                        max_fee_per_gas,
                        max_priority_fee_per_gas,
                        to: kind,
                        value,
                        access_list,
                        input,
                    })
                } else {
                    let to = self.to.ok_or_else(|| {
                        EthError::conflict(T, "`to` is required: type 4 (EIP-7702) transactions cannot create contracts")
                    })?;
                    let authorization_list = self
                        .authorization_list
                        .clone()
                        .ok_or_else(|| EthError::missing(T, "authorizationList"))?;
                    if authorization_list.is_empty() {
                        return Err(EthError::invalid(
                            T,
                            "authorizationList",
                            "must not be empty (EIP-7702)",
                        ));
                    }
                    Inner::Eip7702(TxEip7702 {
                        chain_id,
                        nonce,
                        gas_limit,
                        max_fee_per_gas,
                        max_priority_fee_per_gas,
                        to,
                        value,
                        access_list,
                        authorization_list,
                        input,
                    })
                }
            }
        };
        Ok(UnsignedTx(inner))
    }

    /// The request as a JSON-RPC transaction object (hex quantities, only the
    /// fields that are set, `input` for the call data): what a host forwards
    /// to `eth_estimateGas` before filling in a missing `gas`. Pure; no network.
    pub fn to_rpc_json(&self) -> Value {
        let mut m = Map::new();
        let q = |n: U256| Value::String(format!("{n:#x}"));
        if let Some(a) = self.from {
            m.insert("from".into(), a.to_checksum(None).into());
        }
        if let Some(t) = self.r#type {
            m.insert("type".into(), q(U256::from(t)));
        }
        if let Some(c) = self.chain_id {
            m.insert("chainId".into(), q(U256::from(c)));
        }
        if let Some(n) = self.nonce {
            m.insert("nonce".into(), q(U256::from(n)));
        }
        if let Some(a) = self.to {
            m.insert("to".into(), a.to_checksum(None).into());
        }
        if let Some(v) = self.value {
            m.insert("value".into(), q(v));
        }
        m.insert("input".into(), self.input.to_string().into());
        if let Some(g) = self.gas {
            m.insert("gas".into(), q(U256::from(g)));
        }
        for (name, fee) in [
            ("gasPrice", self.gas_price),
            ("maxFeePerGas", self.max_fee_per_gas),
            ("maxPriorityFeePerGas", self.max_priority_fee_per_gas),
        ] {
            if let Some(f) = fee {
                m.insert(name.into(), q(U256::from(f)));
            }
        }
        if let Some(list) = &self.access_list {
            let items = list
                .iter()
                .map(|i| {
                    let keys: Vec<Value> = i
                        .storage_keys
                        .iter()
                        .map(|k| Value::String(k.to_string()))
                        .collect();
                    serde_json::json!({"address": i.address.to_checksum(None), "storageKeys": keys})
                })
                .collect();
            m.insert("accessList".into(), Value::Array(items));
        }
        if let Some(list) = &self.authorization_list {
            let items = list
                .iter()
                .map(|a| {
                    serde_json::json!({
                        "chainId": q(a.chain_id),
                        "address": a.address.to_checksum(None),
                        "nonce": q(U256::from(a.nonce)),
                        "yParity": q(U256::from(a.y_parity())),
                        "r": q(a.r()),
                        "s": q(a.s()),
                    })
                })
                .collect();
            m.insert("authorizationList".into(), Value::Array(items));
        }
        Value::Object(m)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Inner {
    Legacy(TxLegacy),
    Eip2930(TxEip2930),
    Eip1559(TxEip1559),
    Eip7702(TxEip7702),
}

/// A complete, consistent, unsigned transaction of type 0 (with EIP-155
/// chain id), 1, 2 or 4: what [`TxRequest::build`] returns. Its
/// [`signing_hash`](UnsignedTx::signing_hash) is the digest Signet signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsignedTx(Inner);

impl From<TxEip2930> for UnsignedTx {
    fn from(tx: TxEip2930) -> Self {
        Self(Inner::Eip2930(tx))
    }
}

impl From<TxEip1559> for UnsignedTx {
    fn from(tx: TxEip1559) -> Self {
        Self(Inner::Eip1559(tx))
    }
}

impl From<TxEip7702> for UnsignedTx {
    fn from(tx: TxEip7702) -> Self {
        Self(Inner::Eip7702(tx))
    }
}

impl TryFrom<TxLegacy> for UnsignedTx {
    type Error = EthError;

    /// Refuses a legacy transaction without a chain id (pre-EIP-155, replayable
    /// on every chain).
    fn try_from(tx: TxLegacy) -> Result<Self, EthError> {
        match tx.chain_id {
            Some(c) if c != 0 => Ok(Self(Inner::Legacy(tx))),
            _ => Err(EthError::missing(T, "chainId")),
        }
    }
}

/// The signed transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTx {
    /// The EIP-2718 encoding (for legacy transactions, the plain RLP with an
    /// EIP-155 `v`): what `eth_sendRawTransaction` takes.
    pub raw: Vec<u8>,
    /// The transaction hash, keccak256 of `raw`.
    pub hash: [u8; 32],
}

/// The transaction in decoded form, for the audit log and approvers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TxSummary {
    /// `legacy`, `eip2930`, `eip1559` or `eip7702`.
    #[serde(rename = "type")]
    pub r#type: &'static str,
    /// The chain id.
    pub chain_id: u64,
    /// The nonce.
    pub nonce: u64,
    /// The recipient (EIP-55), or `null` for a contract creation.
    pub to: Option<String>,
    /// The value in wei, as a decimal string.
    pub value: String,
    /// The gas limit.
    pub gas: u64,
    /// Types 0 and 1: the gas price in wei (decimal string).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gas_price: Option<String>,
    /// Types 2 and 4: the fee cap in wei (decimal string).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_fee_per_gas: Option<String>,
    /// Types 2 and 4: the priority fee cap in wei (decimal string).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_priority_fee_per_gas: Option<String>,
    /// Length of the call data (or init code) in bytes.
    pub data_len: usize,
    /// The first 4 bytes of the call data (the function selector) as `0x` hex,
    /// when there are at least 4.
    pub selector: Option<String>,
    /// Number of access list entries (addresses).
    pub access_list_len: usize,
    /// Number of EIP-7702 authorizations (0 for other types).
    pub authorization_count: usize,
    /// Type 4: each authorization's chain id (decimal string, 0 = any chain),
    /// delegate contract (EIP-55) and nonce. The delegate gets full control of
    /// the signing account, so an approver must see it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub authorizations: Vec<AuthorizationSummary>,
}

/// One EIP-7702 authorization in a [`TxSummary`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthorizationSummary {
    /// The chain id it is valid on, decimal (`0`: every chain).
    pub chain_id: String,
    /// The contract the authorizing account delegates to (EIP-55).
    pub address: String,
    /// The authorizing account's nonce it is valid for.
    pub nonce: u64,
}

impl UnsignedTx {
    /// The EIP-2718 type: 0, 1, 2 or 4.
    pub fn tx_type(&self) -> u8 {
        match &self.0 {
            Inner::Legacy(_) => 0,
            Inner::Eip2930(_) => 1,
            Inner::Eip1559(_) => 2,
            Inner::Eip7702(_) => 4,
        }
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        match &self.0 {
            // Never `None`: `build` and `TryFrom<TxLegacy>` require it.
            Inner::Legacy(tx) => tx.chain_id.unwrap_or_default(),
            Inner::Eip2930(tx) => tx.chain_id,
            Inner::Eip1559(tx) => tx.chain_id,
            Inner::Eip7702(tx) => tx.chain_id,
        }
    }

    /// The digest to sign: keccak256 of the transaction's signing payload
    /// (for legacy, the EIP-155 RLP with `chainId, 0, 0`; for typed
    /// transactions, the type byte followed by the RLP of the fields).
    pub fn signing_hash(&self) -> [u8; 32] {
        match &self.0 {
            Inner::Legacy(tx) => tx.signature_hash(),
            Inner::Eip2930(tx) => tx.signature_hash(),
            Inner::Eip1559(tx) => tx.signature_hash(),
            Inner::Eip7702(tx) => tx.signature_hash(),
        }
        .0
    }

    /// The recipient; `None` for a contract creation.
    pub fn to(&self) -> Option<Address> {
        match &self.0 {
            Inner::Legacy(t) => t.to.to().copied(),
            Inner::Eip2930(t) => t.to.to().copied(),
            Inner::Eip1559(t) => t.to.to().copied(),
            Inner::Eip7702(t) => Some(t.to),
        }
    }

    /// The value in wei.
    pub fn value(&self) -> U256 {
        match &self.0 {
            Inner::Legacy(t) => t.value,
            Inner::Eip2930(t) => t.value,
            Inner::Eip1559(t) => t.value,
            Inner::Eip7702(t) => t.value,
        }
    }

    /// The calldata (or init code).
    pub fn input(&self) -> &[u8] {
        match &self.0 {
            Inner::Legacy(t) => &t.input,
            Inner::Eip2930(t) => &t.input,
            Inner::Eip1559(t) => &t.input,
            Inner::Eip7702(t) => &t.input,
        }
    }

    /// Type 4: the contracts the signing account delegates to (EIP-7702);
    /// empty for other types.
    pub fn delegates(&self) -> Vec<Address> {
        match &self.0 {
            Inner::Eip7702(t) => t.authorization_list.iter().map(|a| a.address).collect(),
            _ => Vec::new(),
        }
    }

    /// The decoded form for audit events and approvers.
    pub fn summary(&self) -> TxSummary {
        let (name, chain_id, nonce, to, value, gas, input): (
            _,
            _,
            _,
            Option<Address>,
            _,
            _,
            &Bytes,
        ) = match &self.0 {
            Inner::Legacy(t) => (
                "legacy",
                self.chain_id(),
                t.nonce,
                t.to.to().copied(),
                t.value,
                t.gas_limit,
                &t.input,
            ),
            Inner::Eip2930(t) => (
                "eip2930",
                t.chain_id,
                t.nonce,
                t.to.to().copied(),
                t.value,
                t.gas_limit,
                &t.input,
            ),
            Inner::Eip1559(t) => (
                "eip1559",
                t.chain_id,
                t.nonce,
                t.to.to().copied(),
                t.value,
                t.gas_limit,
                &t.input,
            ),
            Inner::Eip7702(t) => (
                "eip7702",
                t.chain_id,
                t.nonce,
                Some(t.to),
                t.value,
                t.gas_limit,
                &t.input,
            ),
        };
        let (gas_price, max_fee, max_priority) = match &self.0 {
            Inner::Legacy(t) => (Some(t.gas_price), None, None),
            Inner::Eip2930(t) => (Some(t.gas_price), None, None),
            Inner::Eip1559(t) => (
                None,
                Some(t.max_fee_per_gas),
                Some(t.max_priority_fee_per_gas),
            ),
            Inner::Eip7702(t) => (
                None,
                Some(t.max_fee_per_gas),
                Some(t.max_priority_fee_per_gas),
            ),
        };
        let access_list_len = match &self.0 {
            Inner::Legacy(_) => 0,
            Inner::Eip2930(t) => t.access_list.len(),
            Inner::Eip1559(t) => t.access_list.len(),
            Inner::Eip7702(t) => t.access_list.len(),
        };
        let authorizations: Vec<AuthorizationSummary> = match &self.0 {
            Inner::Eip7702(t) => t
                .authorization_list
                .iter()
                .map(|a| AuthorizationSummary {
                    chain_id: a.chain_id.to_string(),
                    address: a.address.to_checksum(None),
                    nonce: a.nonce,
                })
                .collect(),
            _ => Vec::new(),
        };
        TxSummary {
            r#type: name,
            chain_id,
            nonce,
            to: to.map(|a| a.to_checksum(None)),
            value: value.to_string(),
            gas,
            gas_price: gas_price.map(|p| p.to_string()),
            max_fee_per_gas: max_fee.map(|p| p.to_string()),
            max_priority_fee_per_gas: max_priority.map(|p| p.to_string()),
            data_len: input.len(),
            selector: input.get(..4).map(alloy_primitives::hex::encode_prefixed),
            access_list_len,
            authorization_count: authorizations.len(),
            authorizations,
        }
    }

    /// Assembles the signed transaction from Signet's secp256k1 signature over
    /// [`signing_hash`](UnsignedTx::signing_hash): `rs` is `r ‖ s` (32 bytes
    /// each, big-endian) and `recovery_id` the y-parity, 0 or 1. Legacy
    /// transactions get the EIP-155 `v = chainId * 2 + 35 + recovery_id`.
    ///
    /// Refuses a recovery id other than 0/1 and an `r`/`s` that is zero, not
    /// below the curve order, or (for `s`) in the upper half (EIP-2: nodes
    /// reject high-S). It does not check that the signature is by any
    /// particular key; the signer and the host know which wallet signed.
    pub fn into_signed(self, rs: &[u8; 64], recovery_id: u8) -> Result<SignedTx, EthError> {
        if recovery_id > 1 {
            return Err(EthError::Signature("recovery id must be 0 or 1"));
        }
        let r = U256::from_be_slice(&rs[..32]);
        let s = U256::from_be_slice(&rs[32..]);
        if r.is_zero() || r >= SECP256K1_N {
            return Err(EthError::Signature("r is out of range"));
        }
        if s.is_zero() || s > SECP256K1_HALF_N {
            return Err(EthError::Signature("s is zero or not low-S (EIP-2)"));
        }
        let sig = Signature::new(r, s, recovery_id == 1);
        let raw = match self.0 {
            Inner::Legacy(tx) => tx.into_signed(sig).encoded_2718(),
            Inner::Eip2930(tx) => tx.into_signed(sig).encoded_2718(),
            Inner::Eip1559(tx) => tx.into_signed(sig).encoded_2718(),
            Inner::Eip7702(tx) => tx.into_signed(sig).encoded_2718(),
        };
        let hash = keccak256(&raw).0;
        Ok(SignedTx { raw, hash })
    }
}

/// The order of secp256k1's group.
const SECP256K1_N: U256 = U256::from_be_bytes([
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
]);
/// floor(n / 2): the largest low-S `s`.
const SECP256K1_HALF_N: U256 = SECP256K1_N.wrapping_shr(1);

//! Every refusal of the transaction parser and builder as its own test, and
//! the shapes it accepts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use serde_json::{json, Value};
use signet_eth::{parse_request, EthError, Scope, TxRequest};

const TO: &str = "0x3535353535353535353535353535353535353535";
const AUTH: &str = "0x4242424242424242424242424242424242424242";

fn eip1559() -> Value {
    json!({
        "from": "0x9d8A62f656a8d1615C1294fd71e9CFb3E4855A4F",
        "chainId": "0x1",
        "nonce": "0x0",
        "to": TO,
        "value": "0xde0b6b3a7640000",
        "gas": "0x5208",
        "maxFeePerGas": "0x4a817c800",
        "maxPriorityFeePerGas": "0x3b9aca00",
    })
}

fn with(mut v: Value, key: &str, val: Value) -> Value {
    v[key] = val;
    v
}

fn without(mut v: Value, key: &str) -> Value {
    v.as_object_mut().unwrap().remove(key);
    v
}

/// The error of parse + build, as API users see it.
fn refusal(v: Value) -> String {
    let e = parse_request(&v).and_then(|r| r.build()).unwrap_err();
    assert_eq!(e.scope(), Some(Scope::Transaction));
    e.to_string()
}

fn authorization() -> Value {
    json!({
        "chainId": "0x1",
        "address": AUTH,
        "nonce": "0x1",
        "yParity": "0x0",
        "r": "0x1",
        "s": "0x2",
    })
}

// ---- refusals -------------------------------------------------------------

#[test]
fn refuses_unknown_field() {
    assert_eq!(
        refusal(with(eip1559(), "foo", json!(1))),
        "transaction: unknown field `foo`"
    );
    // Also when null, and signature fields of an already signed transaction.
    assert_eq!(
        refusal(with(eip1559(), "foo", Value::Null)),
        "transaction: unknown field `foo`"
    );
    assert_eq!(
        refusal(with(eip1559(), "r", json!("0x1"))),
        "transaction: unknown field `r`"
    );
    assert_eq!(
        refusal(with(eip1559(), "maxFeePerBlobGas", json!("0x1"))),
        "transaction: unknown field `maxFeePerBlobGas`"
    );
}

#[test]
fn refuses_non_object() {
    assert_eq!(
        refusal(json!([1])),
        "transaction: must be a JSON object, not an array"
    );
    assert_eq!(
        refusal(json!("0x02")),
        "transaction: must be a JSON object, not a string"
    );
}

#[test]
fn refuses_missing_chain_id() {
    assert_eq!(
        refusal(without(eip1559(), "chainId")),
        "transaction: `chainId` is required"
    );
    // Legacy too: never signed without EIP-155 replay protection.
    let legacy = json!({"nonce": "0x0", "gas": "0x5208", "gasPrice": "0x1", "to": TO});
    assert_eq!(refusal(legacy), "transaction: `chainId` is required");
}

#[test]
fn refuses_zero_chain_id() {
    assert_eq!(
        refusal(with(eip1559(), "chainId", json!("0x0"))),
        "transaction: `chainId` must not be 0"
    );
}

#[test]
fn refuses_missing_nonce_and_gas() {
    assert_eq!(
        refusal(without(eip1559(), "nonce")),
        "transaction: `nonce` is required"
    );
    assert_eq!(
        refusal(without(eip1559(), "gas")),
        "transaction: `gas` is required"
    );
}

#[test]
fn refuses_nonce_overflow() {
    let e = refusal(with(eip1559(), "nonce", json!("0x10000000000000000")));
    assert_eq!(
        e,
        "transaction: `nonce` is out of range for a 64-bit quantity"
    );
    // EIP-2681: 2^64-1 itself is not a valid nonce.
    let e = refusal(with(eip1559(), "nonce", json!("0xffffffffffffffff")));
    assert!(e.contains("EIP-2681"), "{e}");
}

#[test]
fn refuses_negative_value() {
    assert_eq!(
        refusal(with(eip1559(), "value", json!("-1"))),
        "transaction: `value` must not be negative"
    );
    assert_eq!(
        refusal(with(eip1559(), "value", json!(-1))),
        "transaction: `value` must not be negative"
    );
}

#[test]
fn refuses_value_overflow() {
    let e = refusal(with(
        eip1559(),
        "value",
        json!(format!("0x1{}", "0".repeat(64))),
    ));
    assert_eq!(
        e,
        "transaction: `value` is out of range (more than 256 bits)"
    );
}

#[test]
fn refuses_fee_overflow() {
    let e = refusal(with(
        eip1559(),
        "maxFeePerGas",
        json!(format!("0x1{}", "0".repeat(32))),
    ));
    assert_eq!(
        e,
        "transaction: `maxFeePerGas` is out of range for a 128-bit quantity"
    );
}

#[test]
fn refuses_malformed_hex() {
    let e = refusal(with(eip1559(), "value", json!("0xzz")));
    assert_eq!(
        e,
        "transaction: `value` is not a valid hex quantity: \"0xzz\""
    );
    let e = refusal(with(eip1559(), "nonce", json!("0x")));
    assert!(
        e.starts_with("transaction: `nonce` is an empty hex quantity"),
        "{e}"
    );
    let e = refusal(with(eip1559(), "gas", json!(" 21000")));
    assert!(
        e.starts_with("transaction: `gas` is not a valid quantity"),
        "{e}"
    );
    let e = refusal(with(eip1559(), "gas", json!(21000.5)));
    assert!(
        e.starts_with("transaction: `gas` must be an integer"),
        "{e}"
    );
    let e = refusal(with(eip1559(), "data", json!("0x123")));
    assert_eq!(e, "transaction: `data` has an odd number of hex digits");
    let e = refusal(with(eip1559(), "input", json!("deadbeef")));
    assert!(
        e.starts_with("transaction: `input` must be a 0x-prefixed hex string"),
        "{e}"
    );
}

#[test]
fn refuses_bad_addresses() {
    let e = refusal(with(eip1559(), "to", json!("0x3535")));
    assert!(e.starts_with("transaction: `to` must be an address"), "{e}");
    let e = refusal(with(
        eip1559(),
        "from",
        json!("0x9d8a62f656a8d1615C1294fd71e9CFb3E4855A4F"),
    ));
    assert!(
        e.starts_with("transaction: `from` has an invalid EIP-55 checksum"),
        "{e}"
    );
}

#[test]
fn refuses_gas_price_with_dynamic_fees() {
    let e = refusal(with(eip1559(), "gasPrice", json!("0x1")));
    assert!(
        e.starts_with("transaction: `gasPrice` cannot be combined with `maxFeePerGas`"),
        "{e}"
    );
}

#[test]
fn refuses_fields_foreign_to_the_type() {
    let legacy =
        json!({"type": "0x0", "chainId": 1, "nonce": 0, "gas": 21000, "gasPrice": 1, "to": TO});
    assert_eq!(
        refusal(with(legacy.clone(), "accessList", json!([]))),
        "transaction: type 0 (legacy) transactions have no `accessList`"
    );
    let t1 = with(with(eip1559(), "type", json!("0x1")), "chainId", json!(1));
    assert_eq!(
        refusal(t1),
        "transaction: type 1 (EIP-2930) transactions have no `maxFeePerGas`"
    );
    let t2 = with(
        without(without(legacy.clone(), "type"), "gasPrice"),
        "type",
        json!(2),
    );
    assert_eq!(
        refusal(with(t2, "gasPrice", json!(1))),
        "transaction: type 2 (EIP-1559) transactions have no `gasPrice`"
    );
    let t2 = with(eip1559(), "type", json!("0x2"));
    assert_eq!(
        refusal(with(t2, "authorizationList", json!([authorization()]))),
        "transaction: type 2 (EIP-1559) transactions have no `authorizationList`"
    );
}

#[test]
fn refuses_missing_fees() {
    assert_eq!(
        refusal(without(eip1559(), "maxFeePerGas")),
        "transaction: `maxFeePerGas` is required"
    );
    assert_eq!(
        refusal(without(eip1559(), "maxPriorityFeePerGas")),
        "transaction: `maxPriorityFeePerGas` is required"
    );
    let legacy = json!({"type": 0, "chainId": 1, "nonce": 0, "gas": 21000, "to": TO});
    assert_eq!(refusal(legacy), "transaction: `gasPrice` is required");
}

#[test]
fn refuses_priority_fee_above_fee_cap() {
    let e = refusal(with(
        eip1559(),
        "maxPriorityFeePerGas",
        json!("0x4a817c801"),
    ));
    assert_eq!(
        e,
        "transaction: `maxPriorityFeePerGas` must not exceed `maxFeePerGas`"
    );
}

#[test]
fn refuses_unsupported_types() {
    let e = refusal(with(eip1559(), "type", json!("0x3")));
    assert_eq!(
        e,
        "transaction: `type` 3 (EIP-4844 blob transaction) is not supported"
    );
    let e = refusal(with(eip1559(), "type", json!("0x7e")));
    assert_eq!(
        e,
        "transaction: `type` 126 is not a supported transaction type (0, 1, 2, 4)"
    );
    let e = refusal(with(eip1559(), "type", json!("0x100")));
    assert_eq!(e, "transaction: `type` 256 is not a transaction type");
}

#[test]
fn refuses_type4_without_to() {
    let t4 = with(
        without(eip1559(), "to"),
        "authorizationList",
        json!([authorization()]),
    );
    assert_eq!(
        refusal(t4),
        "transaction: `to` is required: type 4 (EIP-7702) transactions cannot create contracts"
    );
}

#[test]
fn refuses_type4_without_authorizations() {
    let t4 = with(eip1559(), "type", json!(4));
    assert_eq!(
        refusal(t4.clone()),
        "transaction: `authorizationList` is required"
    );
    let e = refusal(with(t4, "authorizationList", json!([])));
    assert_eq!(
        e,
        "transaction: `authorizationList` must not be empty (EIP-7702)"
    );
}

#[test]
fn refuses_malformed_authorization() {
    let mut a = authorization();
    a["yParity"] = json!("0x2");
    let e = refusal(with(eip1559(), "authorizationList", json!([a])));
    assert_eq!(
        e,
        "transaction: `authorizationList[0].yParity` must be 0 or 1"
    );
    let a = without(authorization(), "r");
    let e = refusal(with(
        eip1559(),
        "authorizationList",
        json!([authorization(), a]),
    ));
    assert_eq!(e, "transaction: `authorizationList[1].r` is required");
    let a = with(authorization(), "v", json!("0x1b"));
    let e = refusal(with(eip1559(), "authorizationList", json!([a])));
    assert_eq!(e, "transaction: unknown field `authorizationList[0].v`");
}

#[test]
fn refuses_malformed_access_list() {
    let e = refusal(with(eip1559(), "accessList", json!({})));
    assert_eq!(
        e,
        "transaction: `accessList` must be an array, not an object"
    );
    let e = refusal(with(
        eip1559(),
        "accessList",
        json!([{"address": TO, "storageKeys": ["0x01"]}]),
    ));
    assert_eq!(
        e,
        "transaction: `accessList[0].storageKeys[0]` must be exactly 32 bytes, got 1"
    );
    let e = refusal(with(eip1559(), "accessList", json!([{"address": TO}])));
    assert_eq!(e, "transaction: `accessList[0].storageKeys` is required");
    let e = refusal(with(
        eip1559(),
        "accessList",
        json!([{"address": TO, "storageKeys": [], "x": 1}]),
    ));
    assert_eq!(e, "transaction: unknown field `accessList[0].x`");
}

#[test]
fn refuses_differing_aliases() {
    let v = with(
        with(eip1559(), "data", json!("0x01")),
        "input",
        json!("0x02"),
    );
    assert_eq!(
        refusal(v),
        "transaction: `data` and `input` are both given and differ"
    );
    let v = with(eip1559(), "gasLimit", json!("0x5209"));
    assert!(refusal(v).contains("are both given and differ"));
}

#[test]
fn refuses_bad_signatures() {
    let tx = || parse_request(&eip1559()).unwrap().build().unwrap();
    let (rs, rec) = common::sign(&[7; 32], &tx().signing_hash());
    assert_eq!(
        tx().into_signed(&rs, 2).unwrap_err(),
        EthError::Signature("recovery id must be 0 or 1")
    );
    let mut zero_r = rs;
    zero_r[..32].fill(0);
    assert_eq!(
        tx().into_signed(&zero_r, rec).unwrap_err().to_string(),
        "signature: r is out of range"
    );
    // The same signature with s replaced by n - s (high-S) is refused.
    let n =
        hex::decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141").unwrap();
    let s = &rs[32..];
    let mut high = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = n[i] as i16 - s[i] as i16 - borrow;
        high[i] = d.rem_euclid(256) as u8;
        borrow = i16::from(d < 0);
    }
    let mut high_s = rs;
    high_s[32..].copy_from_slice(&high);
    assert_eq!(
        tx().into_signed(&high_s, rec ^ 1).unwrap_err().to_string(),
        "signature: s is zero or not low-S (EIP-2)"
    );
    assert!(tx().into_signed(&rs, rec).is_ok());
}

// ---- accepted shapes ------------------------------------------------------

fn summary(v: Value) -> Value {
    let tx = parse_request(&v).unwrap().build().unwrap();
    serde_json::to_value(tx.summary()).unwrap()
}

#[test]
fn accepts_legacy() {
    let s = summary(
        json!({"chainId": "0x1", "nonce": "0x9", "gasPrice": "20000000000", "gas": 21000, "to": TO, "value": "0x1"}),
    );
    assert_eq!(
        s,
        json!({
            "type": "legacy", "chain_id": 1, "nonce": 9, "to": TO, "value": "1", "gas": 21000,
            "gas_price": "20000000000", "data_len": 0, "selector": null, "access_list_len": 0,
            "authorization_count": 0,
        })
    );
}

#[test]
fn accepts_eip2930() {
    let v = json!({
        "chainId": "0x5", "nonce": "0x1", "gasPrice": "0x2", "gas": "0x7530", "to": TO,
        "accessList": [{"address": AUTH, "storageKeys": [format!("0x{}", "01".repeat(32))]}, {"address": TO, "storageKeys": []}],
        "input": "0xa9059cbb00",
    });
    let req = parse_request(&v).unwrap();
    assert_eq!(
        req.tx_type().unwrap(),
        1,
        "accessList + gasPrice infers type 1"
    );
    let s = summary(v);
    assert_eq!(s["type"], "eip2930");
    assert_eq!(s["access_list_len"], 2);
    assert_eq!(s["selector"], "0xa9059cbb");
    assert_eq!(s["data_len"], 5);
    assert_eq!(s["value"], "0");
}

#[test]
fn accepts_eip1559() {
    let s = summary(eip1559());
    assert_eq!(s["type"], "eip1559");
    assert_eq!(s["value"], "1000000000000000000");
    assert_eq!(s["max_fee_per_gas"], "20000000000");
    assert_eq!(s["max_priority_fee_per_gas"], "1000000000");
    assert!(s.get("gas_price").is_none());
    // Nothing fee-related at all infers type 2 (then fees are required).
    let bare = parse_request(&json!({"chainId": 1})).unwrap();
    assert_eq!(bare.tx_type().unwrap(), 2);
}

#[test]
fn accepts_eip7702() {
    let v = with(
        eip1559(),
        "authorizationList",
        json!([
            authorization(),
            with(authorization(), "chainId", json!("0x0"))
        ]),
    );
    assert_eq!(parse_request(&v).unwrap().tx_type().unwrap(), 4);
    let s = summary(v);
    assert_eq!(s["type"], "eip7702");
    assert_eq!(s["authorization_count"], 2);
    assert_eq!(
        s["authorizations"][0],
        json!({"chain_id": "1", "address": AUTH, "nonce": 1})
    );
    assert_eq!(s["authorizations"][1]["chain_id"], "0");
}

#[test]
fn accepts_contract_creation() {
    for to in [None, Some(Value::Null)] {
        let mut v = without(eip1559(), "to");
        if let Some(t) = to {
            v["to"] = t;
        }
        v["data"] = json!("0x6080604052");
        let tx = parse_request(&v).unwrap().build().unwrap();
        let s = serde_json::to_value(tx.summary()).unwrap();
        assert_eq!(s["to"], Value::Null);
        assert_eq!(s["data_len"], 5);
    }
}

#[test]
fn accepts_aliases_and_number_forms() {
    let a = parse_request(&eip1559()).unwrap();
    let b = parse_request(&json!({
        "from": "0x9d8a62f656a8d1615c1294fd71e9cfb3e4855a4f",
        "chainId": 1,
        "nonce": "0",
        "to": TO.to_uppercase().replace("0X", "0x"),
        "value": "1000000000000000000",
        "gasLimit": 21000,
        "gas": "0x5208",
        "maxFeePerGas": "0x04A817C800",
        "maxPriorityFeePerGas": 1000000000u64,
        "data": "0x",
        "input": "0x",
        "accessList": null,
    }))
    .unwrap();
    assert_eq!(a, b);
    assert_eq!(
        a.build().unwrap().signing_hash(),
        b.build().unwrap().signing_hash()
    );
}

#[test]
fn rpc_json_round_trips() {
    let v = with(eip1559(), "authorizationList", json!([authorization()]));
    let req = parse_request(&v).unwrap();
    let again: TxRequest = parse_request(&req.to_rpc_json()).unwrap();
    assert_eq!(req, again);
}

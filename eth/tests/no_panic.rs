//! The decoders take JSON from outside the process: whatever they are given,
//! they return a value or an error, never panic. Keys and strings are drawn
//! from the formats' own vocabulary so the inputs get past the first check.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use signet_eth::{parse_request, typed_data};

const KEYS: &[&str] = &[
    "type",
    "chainId",
    "nonce",
    "to",
    "from",
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
    "address",
    "storageKeys",
    "yParity",
    "r",
    "s",
    "types",
    "primaryType",
    "domain",
    "message",
    "name",
    "version",
    "verifyingContract",
    "salt",
    "EIP712Domain",
    "T",
    "a",
    "b",
];

const STRINGS: &[&str] = &[
    "0x",
    "0x0",
    "0x1",
    "0xff",
    "-1",
    "1",
    "",
    "uint8",
    "uint256[]",
    "T",
    "T[2]",
    "bytes4",
    "address",
    "bool",
    "string",
    "bytes",
    "int8",
    "0x3535353535353535353535353535353535353535",
    "EIP712Domain",
    "uint8[",
    "T[0]",
    "0xdeadbeef",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        proptest::sample::select(STRINGS).prop_map(|s| json!(s)),
        "[0-9a-fx\\-\\[\\]]{0,80}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((proptest::sample::select(KEYS), inner), 0..8).prop_map(
                |kv| Value::Object(
                    kv.into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<Map<_, _>>()
                )
            ),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn transactions_never_panic(v in json_value()) {
        if let Ok(req) = parse_request(&v) {
            let _ = req.tx_type();
            if let Ok(tx) = req.build() {
                let _ = tx.signing_hash();
                let _ = tx.summary();
            }
        }
    }

    #[test]
    fn typed_data_never_panics(v in json_value()) {
        let _ = typed_data(&v);
        let _ = typed_data(&Value::String(v.to_string()));
    }
}

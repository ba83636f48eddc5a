//! Every refusal of the EIP-712 validator as its own test, and the shapes it
//! accepts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{json, Value};
use signet_eth::{typed_data, Scope};

/// A typed-data object with one primary struct `T` whose members are `members`
/// (name, type) and message `message`.
fn one(members: &[(&str, &str)], message: Value) -> Value {
    let members: Vec<Value> = members
        .iter()
        .map(|(n, t)| json!({"name": n, "type": t}))
        .collect();
    json!({
        "types": {"T": members},
        "primaryType": "T",
        "domain": {"name": "Test", "chainId": "0x1"},
        "message": message,
    })
}

fn refusal(v: Value) -> String {
    let e = typed_data(&v).unwrap_err();
    assert_eq!(e.scope(), Some(Scope::TypedData));
    e.to_string()
}

fn nested() -> Value {
    json!({
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
                {"name": "salt", "type": "bytes32"},
            ],
            "Person": [{"name": "name", "type": "string"}, {"name": "wallets", "type": "address[]"}],
            "Group": [{"name": "name", "type": "string"}, {"name": "members", "type": "Person[]"}],
            "Mail": [
                {"name": "from", "type": "Person"},
                {"name": "to", "type": "Person[2]"},
                {"name": "groups", "type": "Group[]"},
                {"name": "amount", "type": "uint8"},
                {"name": "delta", "type": "int16"},
                {"name": "tag", "type": "bytes4"},
                {"name": "blob", "type": "bytes"},
                {"name": "ok", "type": "bool"},
                {"name": "grid", "type": "uint256[2][]"},
            ],
        },
        "primaryType": "Mail",
        "domain": {
            "name": "Nested",
            "chainId": 137,
            "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC",
            "salt": format!("0x{}", "ab".repeat(32)),
        },
        "message": {
            "from": {"name": "Cow", "wallets": ["0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826", "0xDeaDbeefdEAdbeefdEadbEEFdeadbeEFdEaDbeeF"]},
            "to": [
                {"name": "Bob", "wallets": []},
                {"name": "Alice", "wallets": ["0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"]},
            ],
            "groups": [{"name": "all", "members": [{"name": "Eve", "wallets": []}]}],
            "amount": 255,
            "delta": "-32768",
            "tag": "0xdeadbeef",
            "blob": "0x",
            "ok": true,
            "grid": [["0x1", "2"], [3, "0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"]],
        },
    })
}

// ---- refusals -------------------------------------------------------------

#[test]
fn refuses_undefined_member_type() {
    let v = one(&[("to", "Persn")], json!({"to": {}}));
    assert_eq!(
        refusal(v),
        "typed_data: `types.T.to` refers to undefined type `Persn`"
    );
}

#[test]
fn refuses_missing_types_and_primary_type() {
    let mut v = one(&[("a", "uint8")], json!({"a": 1}));
    v.as_object_mut().unwrap().remove("types");
    assert_eq!(refusal(v), "typed_data: `types` is required");
    let mut v = one(&[("a", "uint8")], json!({"a": 1}));
    v.as_object_mut().unwrap().remove("primaryType");
    assert_eq!(refusal(v), "typed_data: `primaryType` is required");
}

#[test]
fn refuses_bad_primary_type() {
    let mut v = one(&[("a", "uint8")], json!({"a": 1}));
    v["primaryType"] = json!("Mail");
    assert_eq!(
        refusal(v.clone()),
        "typed_data: `primaryType` `Mail` is not defined in `types`"
    );
    v["primaryType"] = json!("EIP712Domain");
    assert!(refusal(v.clone()).contains("is not supported"));
    v["primaryType"] = json!(7);
    assert_eq!(
        refusal(v),
        "typed_data: `primaryType` must be a string, not a number"
    );
}

#[test]
fn refuses_uint8_out_of_range() {
    let v = one(&[("amount", "uint8")], json!({"amount": 300}));
    assert_eq!(
        refusal(v),
        "typed_data: `message.amount` is out of range for uint8"
    );
    let v = one(&[("amount", "uint8")], json!({"amount": "0x100"}));
    assert_eq!(
        refusal(v),
        "typed_data: `message.amount` is out of range for uint8"
    );
    let v = one(&[("amount", "uint256")], json!({"amount": -1}));
    assert_eq!(
        refusal(v),
        "typed_data: `message.amount` must not be negative"
    );
}

#[test]
fn refuses_int_out_of_range() {
    let v = one(&[("d", "int8")], json!({"d": 128}));
    assert_eq!(
        refusal(v),
        "typed_data: `message.d` is out of range for int8"
    );
    let v = one(&[("d", "int8")], json!({"d": "-129"}));
    assert_eq!(
        refusal(v),
        "typed_data: `message.d` is out of range for int8"
    );
    assert!(typed_data(&one(&[("d", "int8")], json!({"d": -128}))).is_ok());
    assert!(typed_data(&one(&[("d", "int8")], json!({"d": "127"}))).is_ok());
}

#[test]
fn refuses_bytes4_of_wrong_length() {
    let v = one(&[("tag", "bytes4")], json!({"tag": "0xdeadbe"}));
    assert_eq!(
        refusal(v),
        "typed_data: `message.tag` must be exactly 4 bytes, got 3"
    );
    let v = one(&[("tag", "bytes4")], json!({"tag": "hello"}));
    assert!(refusal(v).starts_with("typed_data: `message.tag` must be a 0x-prefixed hex string"));
}

#[test]
fn refuses_bad_address() {
    let v = one(&[("who", "address")], json!({"who": "0x1234"}));
    assert!(refusal(v).starts_with("typed_data: `message.who` must be an address"));
    let v = one(
        &[("who", "address")],
        json!({"who": "0xcD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"}),
    );
    assert!(refusal(v).starts_with("typed_data: `message.who` has an invalid EIP-55 checksum"));
}

#[test]
fn refuses_cyclic_types() {
    let v = json!({
        "types": {
            "A": [{"name": "b", "type": "B"}],
            "B": [{"name": "a", "type": "A[]"}],
        },
        "primaryType": "A",
        "domain": {},
        "message": {"b": {"a": []}},
    });
    let e = refusal(v);
    assert!(
        e.starts_with("typed_data: `types.A` is cyclic (A → B → A)"),
        "{e}"
    );
    let v = json!({
        "types": {"Node": [{"name": "children", "type": "Node[]"}]},
        "primaryType": "Node",
        "domain": {},
        "message": {"children": []},
    });
    assert!(refusal(v).contains("is cyclic (Node → Node)"));
}

#[test]
fn refuses_invalid_member_types() {
    for (ty, why) in [
        ("uint7", "`uint7` is not an EIP-712 type"),
        ("uint", "`uint` is not an EIP-712 type"),
        ("bytes33", "`bytes33` is not an EIP-712 type"),
        ("uint8[0]", "invalid array length `0`"),
        ("uint8[", "is not a valid EIP-712 type"),
        ("string memory", "is not a valid EIP-712 type"),
    ] {
        let e = refusal(one(&[("a", ty)], json!({"a": 1})));
        assert!(
            e.starts_with("typed_data: `types.T.a` has type") && e.contains(why),
            "{ty}: {e}"
        );
    }
}

#[test]
fn refuses_malformed_type_definitions() {
    let v = json!({"types": {"T": [{"name": "a", "type": "uint8"}, {"name": "a", "type": "bool"}]}, "primaryType": "T", "domain": {}, "message": {}});
    assert_eq!(refusal(v), "typed_data: `types.T.a` is defined twice");
    let v = json!({"types": {"T": [{"name": "a,b", "type": "uint8"}]}, "primaryType": "T", "domain": {}, "message": {}});
    assert_eq!(
        refusal(v),
        "typed_data: `types.T[0].name` \"a,b\" is not a valid member name"
    );
    let v =
        json!({"types": {"T": [{"name": "a"}]}, "primaryType": "T", "domain": {}, "message": {}});
    assert_eq!(refusal(v), "typed_data: `types.T[0].type` is required");
    let v = json!({"types": {"uint256": [{"name": "a", "type": "bool"}]}, "primaryType": "uint256", "domain": {}, "message": {}});
    assert_eq!(
        refusal(v),
        "typed_data: `types.uint256` is not a valid struct name"
    );
    let v = json!({"types": {"T": [{"name": "a", "type": "bool", "indexed": true}]}, "primaryType": "T", "domain": {}, "message": {}});
    assert_eq!(refusal(v), "typed_data: unknown field `types.T[0].indexed`");
}

#[test]
fn refuses_missing_and_extra_members() {
    let v = one(&[("a", "uint8"), ("b", "string")], json!({"a": 1}));
    assert_eq!(refusal(v), "typed_data: `message.b` is required");
    let v = one(&[("a", "uint8")], json!({"a": 1, "b": "x"}));
    assert_eq!(refusal(v), "typed_data: unknown field `message.b`");
    let v = one(&[("a", "uint8")], json!({"a": null}));
    assert_eq!(refusal(v), "typed_data: `message.a` must not be null");
}

#[test]
fn refuses_wrong_shapes() {
    let v = one(&[("ok", "bool")], json!({"ok": "true"}));
    assert_eq!(
        refusal(v),
        "typed_data: `message.ok` must be a boolean, not a string"
    );
    let v = one(&[("s", "string")], json!({"s": 5}));
    assert_eq!(
        refusal(v),
        "typed_data: `message.s` must be a string, not a number"
    );
    let v = one(&[("xs", "uint8[2]")], json!({"xs": [1]}));
    assert_eq!(
        refusal(v),
        "typed_data: `message.xs` must have exactly 2 elements, got 1"
    );
    let v = one(&[("xs", "uint8[]")], json!({"xs": 1}));
    assert_eq!(
        refusal(v),
        "typed_data: `message.xs` must be an array (type `uint8[]`), not a number"
    );
    let v = one(&[("xs", "uint8[][]")], json!({"xs": [[1], [2, 256]]}));
    assert_eq!(
        refusal(v),
        "typed_data: `message.xs[1][1]` is out of range for uint8"
    );
    let mut v = nested();
    v["message"]["groups"][0]["members"][0]["wallets"] = json!(["0x12"]);
    assert!(refusal(v)
        .starts_with("typed_data: `message.groups[0].members[0].wallets[0]` must be an address"));
}

#[test]
fn refuses_bad_domain() {
    let mut v = one(&[("a", "uint8")], json!({"a": 1}));
    v["domain"]["foo"] = json!("bar");
    assert_eq!(refusal(v), "typed_data: unknown field `domain.foo`");
    let mut v = one(&[("a", "uint8")], json!({"a": 1}));
    v["domain"]["chainId"] = json!("-1");
    assert_eq!(
        refusal(v),
        "typed_data: `domain.chainId` must not be negative"
    );
    let mut v = one(&[("a", "uint8")], json!({"a": 1}));
    v["domain"]["salt"] = json!("0x01");
    assert_eq!(
        refusal(v),
        "typed_data: `domain.salt` must be exactly 32 bytes, got 1"
    );
}

#[test]
fn refuses_domain_type_mismatch() {
    // Listed fields that the domain does not have, in another order, or with
    // another type: another wallet would compute another separator.
    let mut v = nested();
    v["types"]["EIP712Domain"] = json!([{"name": "name", "type": "string"}]);
    let e = refusal(v);
    assert!(
        e.starts_with(
            "typed_data: `types.EIP712Domain` must list exactly the fields present in `domain`"
        ),
        "{e}"
    );
    let mut v = nested();
    v["types"]["EIP712Domain"]
        .as_array_mut()
        .unwrap()
        .swap(0, 1);
    assert!(refusal(v).contains("expected `EIP712Domain(string name,uint256 chainId,address verifyingContract,bytes32 salt)`"));
    let mut v = nested();
    v["types"]["EIP712Domain"][1]["type"] = json!("uint64");
    assert!(refusal(v).contains("must list exactly"));
}

#[test]
fn refuses_unknown_top_level_field_and_bad_json_string() {
    let mut v = one(&[("a", "uint8")], json!({"a": 1}));
    v["extra"] = json!(1);
    assert_eq!(refusal(v), "typed_data: unknown field `extra`");
    assert!(
        refusal(json!("{not json")).starts_with("typed_data: is a string that does not hold JSON")
    );
    assert_eq!(
        refusal(json!(5)),
        "typed_data: must be a JSON object (or a string holding one), not a number"
    );
}

#[test]
fn refuses_exponential_types() {
    // 20 levels of two struct arrays: a tiny message stands for 2^20 members.
    let mut types = serde_json::Map::new();
    for i in 0..20 {
        let next = format!("L{}", i + 1);
        types.insert(format!("L{i}"), json!([{"name": "a", "type": format!("{next}[]")}, {"name": "b", "type": format!("{next}[]")}]));
    }
    types.insert("L20".into(), json!([{"name": "x", "type": "uint8"}]));
    let v =
        json!({"types": types, "primaryType": "L0", "domain": {}, "message": {"a": [], "b": []}});
    assert!(refusal(v).starts_with("typed_data: `types` expand to more than 4096 nested members"));
}

// ---- accepted shapes ------------------------------------------------------

#[test]
fn accepts_arrays_and_nested_structs() {
    let h = typed_data(&nested()).unwrap();
    assert_eq!(h.summary.primary_type, "Mail");
    assert_eq!(
        h.summary.message,
        nested()["message"],
        "the message is shown as given"
    );
    let d = serde_json::to_value(&h.summary.domain).unwrap();
    assert_eq!(
        d,
        json!({"name": "Nested", "chainId": "137", "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC", "salt": format!("0x{}", "ab".repeat(32))})
    );
    // Every accepted spelling of the same values hashes the same.
    let mut v = nested();
    v["message"]["amount"] = json!("0xff");
    v["message"]["delta"] = json!(-32768);
    v["message"]["tag"] = json!("0xDEADBEEF");
    v["message"]["grid"][0] = json!([1, "0x2"]);
    v["message"]["from"]["wallets"][1] = json!("0xdeadbeefdeadbeefdeadbeefdeadbeefdeadbeef");
    assert_eq!(typed_data(&v).unwrap().hash, h.hash);
    // ... and a different value does not.
    v["message"]["grid"][0] = json!([1, 3]);
    assert_ne!(typed_data(&v).unwrap().hash, h.hash);
}

#[test]
fn accepts_json_string_form() {
    let h = typed_data(&nested()).unwrap();
    let s = typed_data(&Value::String(nested().to_string())).unwrap();
    assert_eq!(h, s);
}

#[test]
fn accepts_types_without_domain_type() {
    let mut v = nested();
    let h = typed_data(&v).unwrap().hash;
    v["types"].as_object_mut().unwrap().remove("EIP712Domain");
    assert_eq!(typed_data(&v).unwrap().hash, h);
}

#[test]
fn accepts_empty_domain_and_unused_types() {
    let mut v = one(
        &[("a", "uint256")],
        json!({"a": "115792089237316195423570985008687907853269984665640564039457584007913129639935"}),
    );
    v["domain"] = json!({});
    v["types"]["Unused"] = json!([{"name": "x", "type": "bool"}]);
    assert!(typed_data(&v).is_ok());
}

//! Policy rules: each refuses by name, and allows its boundary value.

use serde_json::{json, Value};
use signet_authority::{
    Amount, CallFacts, Facts, FieldErrorKind as K, Kind, PermitFacts, Policy, TxFacts, TypedFacts,
};

const TOKEN: &str = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48";
const BOB: &str = "0x000000000000000000000000000000000000b0b0";
const EVE: &str = "0x000000000000000000000000000000000000e0e0";

fn addr(s: &str) -> [u8; 20] {
    signet_authority::eth::parse_address(s).unwrap()
}

fn policy(v: Value) -> Policy {
    Policy::from_value(&v, "policy").unwrap()
}

fn refused_field(v: Value) -> (K, String) {
    let e = Policy::from_value(&v, "policy").unwrap_err();
    (e.kind, e.field)
}

/// A realistic policy: mainnet, two recipients, 0.1 ETH a transaction, USDC
/// at most 1,000 a call, one day's window.
fn realistic() -> Policy {
    policy(json!({
        "allow": ["message", "transaction", "typed_data"],
        "chain_ids": [1],
        "max_value_wei": "100000000000000000",
        "recipients": [BOB, TOKEN],
        "selectors": ["0xa9059cbb", "0x095ea7b3"],
        "tokens": [{"address": TOKEN, "max_amount": "1000000000"}],
        "typed_data_domains": [{"chain_id": 1, "verifying_contract": TOKEN}],
        "windows": [{"seconds": 86400, "max_value_wei": "1000000000000000000", "max_count": 100}],
        "change_delay_seconds": 86400
    }))
}

fn tx(to: &str, value: u128) -> TxFacts {
    TxFacts {
        chain_id: 1,
        to: Some(addr(to)),
        value_wei: Amount::from_u128(value),
        data_len: 0,
        selector: None,
        call: CallFacts::Unknown,
        delegates: Vec::new(),
    }
}

fn token_call(selector: [u8; 4], counterparty: &str, amount: Amount) -> TxFacts {
    TxFacts {
        data_len: 68,
        selector: Some(selector),
        call: CallFacts::Token {
            counterparty: addr(counterparty),
            amount: Some(amount),
            unlimited: amount == Amount::MAX,
        },
        ..tx(TOKEN, 0)
    }
}

fn of_tx(t: TxFacts) -> Facts {
    Facts {
        kind: Kind::Transaction,
        transaction: Some(t),
        typed_data: None,
    }
}

fn of_typed(t: TypedFacts) -> Facts {
    Facts {
        kind: Kind::TypedData,
        transaction: None,
        typed_data: Some(t),
    }
}

fn rule(p: &Policy, f: &Facts) -> Option<String> {
    p.evaluate(f).err().map(|d| d.rule)
}

const TRANSFER: [u8; 4] = [0xa9, 0x05, 0x9c, 0xbb];
const APPROVE: [u8; 4] = [0x09, 0x5e, 0xa7, 0xb3];

#[test]
fn a_realistic_policy_round_trips_canonically() {
    let p = realistic();
    let v = p.to_value();
    assert_eq!(Policy::from_value(&v, "policy").unwrap(), p);
    assert_eq!(
        v["recipients"][1],
        json!("0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"),
        "EIP-55"
    );
    let lower = json!({"allow": [], "recipients": [TOKEN.to_lowercase()]});
    assert_eq!(
        Policy::from_value(&lower, "policy").unwrap().to_value()["recipients"][0],
        json!(TOKEN)
    );
    assert!(p.has_rules());
    assert!(!Policy::permissive().has_rules());
    assert_eq!(p.windows().len(), 1);
    assert_eq!(p.change_delay_seconds(), 86400);
}

#[test]
fn rule_allow_refuses_a_kind_not_listed_and_digest_by_default() {
    let p = realistic();
    assert_eq!(
        rule(&p, &Facts::of_kind(Kind::Digest)).as_deref(),
        Some("allow")
    );
    assert_eq!(rule(&p, &Facts::of_kind(Kind::Message)), None);
}

#[test]
fn rule_chain_ids_refuses_another_chain() {
    let p = realistic();
    assert_eq!(rule(&p, &of_tx(tx(BOB, 0))), None);
    let other = TxFacts {
        chain_id: 10,
        ..tx(BOB, 0)
    };
    assert_eq!(rule(&p, &of_tx(other)).as_deref(), Some("chain_ids"));
}

#[test]
fn rule_max_value_wei_allows_the_limit_and_refuses_one_wei_more() {
    let p = realistic();
    assert_eq!(rule(&p, &of_tx(tx(BOB, 100_000_000_000_000_000))), None);
    assert_eq!(
        rule(&p, &of_tx(tx(BOB, 100_000_000_000_000_001))).as_deref(),
        Some("max_value_wei")
    );
}

#[test]
fn rule_recipients_refuses_another_to_a_contract_creation_and_a_token_recipient() {
    let p = realistic();
    assert_eq!(rule(&p, &of_tx(tx(EVE, 0))).as_deref(), Some("recipients"));
    let create = TxFacts {
        to: None,
        ..tx(BOB, 0)
    };
    assert_eq!(rule(&p, &of_tx(create)).as_deref(), Some("recipients"));
    // The token contract is listed, but the token goes to someone who is not.
    let to_eve = token_call(TRANSFER, EVE, Amount::from_u128(1));
    assert_eq!(rule(&p, &of_tx(to_eve)).as_deref(), Some("recipients"));
    let to_bob = token_call(TRANSFER, BOB, Amount::from_u128(1));
    assert_eq!(rule(&p, &of_tx(to_bob)), None);
    let malformed = TxFacts {
        call: CallFacts::Malformed,
        ..token_call(TRANSFER, BOB, Amount::ZERO)
    };
    assert_eq!(rule(&p, &of_tx(malformed)).as_deref(), Some("recipients"));
    let delegation = TxFacts {
        delegates: vec![addr(EVE)],
        ..tx(BOB, 0)
    };
    assert_eq!(rule(&p, &of_tx(delegation)).as_deref(), Some("recipients"));
}

#[test]
fn rule_selectors_refuses_another_function_and_allows_plain_transfers() {
    let p = policy(json!({"allow": ["transaction"], "selectors": ["0xa9059cbb"]}));
    assert_eq!(rule(&p, &of_tx(tx(BOB, 1))), None, "a plain transfer");
    assert_eq!(
        rule(&p, &of_tx(token_call(TRANSFER, BOB, Amount::MAX))),
        None
    );
    assert_eq!(
        rule(&p, &of_tx(token_call(APPROVE, BOB, Amount::from_u128(1)))).as_deref(),
        Some("selectors")
    );
    let stub = TxFacts {
        data_len: 3,
        ..tx(BOB, 0)
    };
    assert_eq!(rule(&p, &of_tx(stub)).as_deref(), Some("selectors"));
    let create = TxFacts {
        to: None,
        data_len: 100,
        ..tx(BOB, 0)
    };
    assert_eq!(rule(&p, &of_tx(create)).as_deref(), Some("selectors"));
    let delegation = TxFacts {
        delegates: vec![addr(BOB)],
        ..tx(BOB, 0)
    };
    assert_eq!(rule(&p, &of_tx(delegation)).as_deref(), Some("selectors"));
    let none = policy(json!({"allow": ["transaction"], "selectors": []}));
    assert_eq!(rule(&none, &of_tx(tx(BOB, 1))), None);
    assert_eq!(
        rule(&none, &of_tx(token_call(TRANSFER, BOB, Amount::ZERO))).as_deref(),
        Some("selectors")
    );
}

#[test]
fn rule_tokens_allows_the_max_amount_and_refuses_more_and_unlimited() {
    let p = realistic();
    let at = token_call(TRANSFER, BOB, Amount::from_u128(1_000_000_000));
    assert_eq!(rule(&p, &of_tx(at)), None);
    let over = token_call(TRANSFER, BOB, Amount::from_u128(1_000_000_001));
    assert_eq!(
        rule(&p, &of_tx(over)).as_deref(),
        Some("tokens[0].max_amount")
    );
    let unlimited = token_call(APPROVE, BOB, Amount::MAX);
    assert_eq!(
        rule(&p, &of_tx(unlimited)).as_deref(),
        Some("tokens[0].max_amount")
    );
    let all = TxFacts {
        call: CallFacts::Token {
            counterparty: addr(BOB),
            amount: None,
            unlimited: true,
        },
        ..token_call(APPROVE, BOB, Amount::ZERO)
    };
    let no_selectors = policy(
        json!({"allow": ["transaction"], "tokens": [{"address": TOKEN, "max_amount": "5"}]}),
    );
    assert_eq!(
        rule(&no_selectors, &of_tx(all)).as_deref(),
        Some("tokens[0].max_amount")
    );
    // A token not listed has no limit.
    let other = TxFacts {
        to: Some(addr(BOB)),
        ..token_call(APPROVE, BOB, Amount::MAX)
    };
    assert_eq!(rule(&no_selectors, &of_tx(other)), None);
}

fn typed(chain_id: Option<u64>, contract: Option<&str>, permit: PermitFacts) -> TypedFacts {
    TypedFacts {
        chain_id,
        verifying_contract: contract.map(addr),
        permit,
    }
}

#[test]
fn rule_typed_data_domains_refuses_another_domain() {
    let p = realistic();
    assert_eq!(
        rule(
            &p,
            &of_typed(typed(Some(1), Some(TOKEN), PermitFacts::None))
        ),
        None
    );
    assert_eq!(
        rule(&p, &of_typed(typed(Some(1), Some(BOB), PermitFacts::None))).as_deref(),
        Some("typed_data_domains")
    );
    assert_eq!(
        rule(
            &p,
            &of_typed(typed(Some(5), Some(TOKEN), PermitFacts::None))
        )
        .as_deref(),
        Some("chain_ids")
    );
    assert_eq!(
        rule(&p, &of_typed(typed(None, Some(TOKEN), PermitFacts::None))).as_deref(),
        Some("chain_ids"),
        "a domain without chainId is not on an allowed chain"
    );
}

#[test]
fn permits_are_held_to_recipients_and_tokens() {
    let p = realistic();
    let permit = |spender: &str, amount: Amount| PermitFacts::Permit {
        spender: addr(spender),
        grants: vec![(addr(TOKEN), amount)],
    };
    let ok = typed(
        Some(1),
        Some(TOKEN),
        permit(BOB, Amount::from_u128(1_000_000_000)),
    );
    assert_eq!(rule(&p, &of_typed(ok)), None);
    let eve = typed(Some(1), Some(TOKEN), permit(EVE, Amount::from_u128(1)));
    assert_eq!(rule(&p, &of_typed(eve)).as_deref(), Some("recipients"));
    let max = typed(Some(1), Some(TOKEN), permit(BOB, Amount::MAX));
    assert_eq!(
        rule(&p, &of_typed(max)).as_deref(),
        Some("tokens[0].max_amount")
    );
    let bad = typed(Some(1), Some(TOKEN), PermitFacts::Malformed);
    assert_eq!(rule(&p, &of_typed(bad)).as_deref(), Some("recipients"));
}

#[test]
fn a_policy_is_validated_naming_the_field() {
    let base = || json!({"allow": ["transaction"]});
    let with = |k: &str, v: Value| {
        let mut p = base();
        p[k] = v;
        p
    };
    let cases: Vec<(Value, K, &str)> = vec![
        (with("foo", json!(1)), K::UnknownField, "policy.foo"),
        (
            with("chain_ids", json!([1, 1])),
            K::Duplicate,
            "policy.chain_ids[1]",
        ),
        (
            with("chain_ids", json!([0])),
            K::OutOfRange,
            "policy.chain_ids[0]",
        ),
        (
            with("chain_ids", json!("1")),
            K::WrongType,
            "policy.chain_ids",
        ),
        (
            with("max_value_wei", json!(1)),
            K::WrongType,
            "policy.max_value_wei",
        ),
        (
            with("max_value_wei", json!("1e18")),
            K::InvalidValue,
            "policy.max_value_wei",
        ),
        (
            with("recipients", json!(["0x12"])),
            K::InvalidAddress,
            "policy.recipients[0]",
        ),
        (
            with(
                "recipients",
                json!(["0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"]),
            ),
            K::BadChecksum,
            "policy.recipients[0]",
        ),
        (
            with("selectors", json!(["0xA9059CBB"])),
            K::InvalidHex,
            "policy.selectors[0]",
        ),
        (
            with("selectors", json!(["a9059cbb"])),
            K::InvalidHex,
            "policy.selectors[0]",
        ),
        (
            with("tokens", json!([{"address": TOKEN}])),
            K::Missing,
            "policy.tokens[0].max_amount",
        ),
        (
            with(
                "tokens",
                json!([{"address": TOKEN, "max_amount": "1"}, {"address": TOKEN, "max_amount": "2"}]),
            ),
            K::Duplicate,
            "policy.tokens[1].address",
        ),
        (
            with(
                "tokens",
                json!([{"address": TOKEN, "max_amount": "1", "name": "USD Coin"}]),
            ),
            K::UnknownField,
            "policy.tokens[0].name",
        ),
        (
            with("typed_data_domains", json!([{}])),
            K::Missing,
            "policy.typed_data_domains[0]",
        ),
        (
            with("windows", json!([{"seconds": 0, "max_count": 1}])),
            K::OutOfRange,
            "policy.windows[0].seconds",
        ),
        (
            with("windows", json!([{"seconds": 60}])),
            K::Missing,
            "policy.windows[0]",
        ),
        (
            with("windows", json!([{"seconds": 60, "max_count": 0}])),
            K::OutOfRange,
            "policy.windows[0].max_count",
        ),
        (
            with(
                "windows",
                json!([{"seconds": 60, "max_count": 1}, {"seconds": 60, "max_count": 1}, {"seconds": 60, "max_count": 1}, {"seconds": 60, "max_count": 1}, {"seconds": 60, "max_count": 1}]),
            ),
            K::TooMany,
            "policy.windows",
        ),
        (
            with("change_delay_seconds", json!(-1)),
            K::WrongType,
            "policy.change_delay_seconds",
        ),
        (
            with("change_delay_seconds", json!(2_600_000)),
            K::OutOfRange,
            "policy.change_delay_seconds",
        ),
    ];
    for (v, kind, field) in cases {
        assert_eq!(refused_field(v.clone()), (kind, field.to_owned()), "{v}");
    }
}

/// An edit of a policy's JSON.
type Edit = Box<dyn Fn(&mut Value)>;

#[test]
fn loosening_is_any_rule_dropped_widened_or_raised() {
    let p = realistic();
    let v = p.to_value();
    let changed = |f: &dyn Fn(&mut Value)| {
        let mut w = v.clone();
        f(&mut w);
        Policy::from_value(&w, "policy").unwrap()
    };
    assert!(!p.loosens(&p));
    let loosenings: Vec<(&str, Edit)> = vec![
        (
            "allow digest",
            Box::new(|w| w["allow"] = json!(["digest", "message", "transaction", "typed_data"])),
        ),
        (
            "drop chain_ids",
            Box::new(|w| {
                w.as_object_mut().unwrap().remove("chain_ids");
            }),
        ),
        ("add a chain", Box::new(|w| w["chain_ids"] = json!([1, 10]))),
        (
            "raise max_value_wei",
            Box::new(|w| w["max_value_wei"] = json!("100000000000000001")),
        ),
        (
            "add a recipient",
            Box::new(|w| w["recipients"] = json!([BOB, TOKEN, EVE])),
        ),
        (
            "drop selectors",
            Box::new(|w| {
                w.as_object_mut().unwrap().remove("selectors");
            }),
        ),
        (
            "raise a token",
            Box::new(|w| w["tokens"][0]["max_amount"] = json!("1000000001")),
        ),
        ("drop a token", Box::new(|w| w["tokens"] = json!([]))),
        (
            "another domain",
            Box::new(|w| w["typed_data_domains"] = json!([{"chain_id": 1}])),
        ),
        (
            "shorter window",
            Box::new(|w| w["windows"][0]["seconds"] = json!(3600)),
        ),
        (
            "raise a window",
            Box::new(|w| w["windows"][0]["max_count"] = json!(101)),
        ),
        (
            "drop a window limit",
            Box::new(|w| {
                w["windows"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("max_value_wei");
            }),
        ),
        (
            "shorter delay",
            Box::new(|w| w["change_delay_seconds"] = json!(60)),
        ),
    ];
    for (name, f) in &loosenings {
        assert!(changed(f.as_ref()).loosens(&p), "{name}");
    }
    let tightenings: Vec<(&str, Edit)> = vec![
        (
            "drop a kind",
            Box::new(|w| w["allow"] = json!(["transaction"])),
        ),
        (
            "lower max_value_wei",
            Box::new(|w| w["max_value_wei"] = json!("1")),
        ),
        (
            "drop a recipient",
            Box::new(|w| w["recipients"] = json!([BOB])),
        ),
        (
            "reorder recipients",
            Box::new(|w| w["recipients"] = json!([TOKEN, BOB])),
        ),
        (
            "lower a token",
            Box::new(|w| w["tokens"][0]["max_amount"] = json!("1")),
        ),
        (
            "add a window",
            Box::new(
                |w| w["windows"] = json!([{"seconds": 86400, "max_value_wei": "1000000000000000000", "max_count": 100}, {"seconds": 60, "max_count": 1}]),
            ),
        ),
        (
            "longer delay",
            Box::new(|w| w["change_delay_seconds"] = json!(172800)),
        ),
    ];
    for (name, f) in &tightenings {
        assert!(!changed(f.as_ref()).loosens(&p), "{name}");
    }
}

#[test]
fn token_amounts_are_shown_in_units_when_the_policy_names_decimals() {
    let p = policy(json!({"allow": ["transaction"], "tokens": [
        {"address": TOKEN, "max_amount": "1000000000", "decimals": 6, "symbol": "USDC"},
        {"address": BOB, "max_amount": "5"}
    ]}));
    assert_eq!(Policy::from_value(&p.to_value(), "policy").unwrap(), p);
    let (i, usdc) = p.token(&addr(TOKEN)).unwrap();
    assert_eq!(i, 0);
    for (amount, shown) in [
        (1_000_500_000u128, "1000.5 USDC"),
        (1, "0.000001 USDC"),
        (0, "0 USDC"),
        (1_000_000, "1 USDC"),
    ] {
        assert_eq!(usdc.in_units(Amount::from_u128(amount)).unwrap(), shown);
    }
    assert_eq!(
        p.token(&addr(BOB))
            .unwrap()
            .1
            .in_units(Amount::from_u128(5)),
        None
    );
    let mut decoded = json!({
        "transaction": {"to": TOKEN},
        "call": {"function": "transfer", "amount": "2500000"},
    });
    p.annotate_units(&mut decoded);
    assert_eq!(decoded["call"]["amount_units"], "2.5 USDC");
    let mut permit = json!({"permit": {"tokens": [
        {"token": TOKEN, "amount": "7000000"}, {"token": EVE, "amount": "1"}
    ]}});
    p.annotate_units(&mut permit);
    assert_eq!(permit["permit"]["tokens"][0]["amount_units"], "7 USDC");
    assert!(permit["permit"]["tokens"][1].get("amount_units").is_none());
    for (token, field) in [
        (
            json!({"address": TOKEN, "max_amount": "1", "decimals": 37}),
            "policy.tokens[0].decimals",
        ),
        (
            json!({"address": TOKEN, "max_amount": "1", "symbol": "US DC"}),
            "policy.tokens[0].symbol",
        ),
        (
            json!({"address": TOKEN, "max_amount": "1", "symbol": ""}),
            "policy.tokens[0].symbol",
        ),
    ] {
        let e = Policy::from_value(&json!({"allow": [], "tokens": [token]}), "policy").unwrap_err();
        assert_eq!(e.field, field, "{e}");
    }
}

//! Policy properties over random inputs: the reader never panics and what it
//! accepts round-trips; `evaluate` allows only what every rule allows, read
//! here again from the rules as docs/policy.md states them (not from the
//! crate's code), and names the first rule broken when it refuses; a policy
//! that does not loosen another allows nothing the other refuses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use serde_json::{json, Map, Value};
use signet_authority::eth::{to_checksummed, Address};
use signet_authority::policy::{MAX_CHANGE_DELAY_SECONDS, MAX_WINDOW_SECONDS, RULES};
use signet_authority::{
    Amount, CallFacts, Facts, Kind, PermitFacts, Policy, TxFacts, TypedFacts, MAX_SAFE_INTEGER,
};

/// Cases per property: a few thousand, the file in seconds in a debug build.
const CASES: u32 = 3000;
/// Requests evaluated per random policy.
const FACTS_PER_POLICY: usize = 8;

/// The addresses policies name; facts also meet [`OUTSIDER`].
const ADDRS: [Address; 4] = [[0x11; 20], [0x22; 20], [0xab; 20], [0xcd; 20]];
const OUTSIDER: Address = [0xee; 20];
/// The chains policies name; facts also meet chain 2 and [`u64::MAX`] (a
/// typed-data chainId too large for any policy).
const CHAINS: [u64; 3] = [1, 10, 137];
const TRANSFER: [u8; 4] = [0xa9, 0x05, 0x9c, 0xbb];
const APPROVE: [u8; 4] = [0x09, 0x5e, 0xa7, 0xb3];
const TRANSFER_FROM: [u8; 4] = [0x23, 0xb8, 0x72, 0xdd];
const SELECTORS: [[u8; 4]; 3] = [TRANSFER, APPROVE, TRANSFER_FROM];
const OTHER_SELECTOR: [u8; 4] = [0xde, 0xad, 0xbe, 0xef];

const MAX_DECIMAL: &str =
    "115792089237316195423570985008687907853269984665640564039457584007913129639935";
const OVER_MAX_DECIMAL: &str =
    "115792089237316195423570985008687907853269984665640564039457584007913129639936";

fn amount(s: &str) -> Amount {
    Amount::parse_decimal(s, "x").unwrap()
}

/// Limits a policy sets.
fn limit() -> impl Strategy<Value = Amount> {
    select(vec!["0", "1000", "1000000000000000000", MAX_DECIMAL]).prop_map(amount)
}

/// Amounts a request moves: the limits, one either side, and the ends.
fn moved() -> impl Strategy<Value = Amount> {
    select(vec![
        "0",
        "1",
        "999",
        "1000",
        "1001",
        "999999999999999999",
        "1000000000000000000",
        "1000000000000000001",
        "115792089237316195423570985008687907853269984665640564039457584007913129639934",
        MAX_DECIMAL,
    ])
    .prop_map(amount)
}

fn any_address() -> impl Strategy<Value = Address> {
    select(vec![ADDRS[0], ADDRS[1], ADDRS[2], ADDRS[3], OUTSIDER])
}

fn hex_address(a: &Address) -> String {
    format!("0x{}", hex::encode(a))
}

// ---------------------------------------------------------------------------
// Valid policies, as the JSON a person writes.

/// `typed_data_domains[i]`: chain id and verifying contract.
type DomainSpec = (Option<u64>, Option<Address>);
/// `windows[i]`: seconds, max_value_wei, max_count.
type WindowSpec = (u64, Option<Amount>, Option<u64>);

/// A valid policy's rules, before they are written as JSON.
#[derive(Debug, Clone)]
struct Spec {
    allow: Vec<Kind>,
    chain_ids: Option<Vec<u64>>,
    max_value_wei: Option<Amount>,
    recipients: Option<Vec<Address>>,
    selectors: Option<Vec<[u8; 4]>>,
    tokens: Option<Vec<(Address, Amount)>>,
    domains: Option<Vec<DomainSpec>>,
    windows: Option<Vec<WindowSpec>>,
    change_delay_seconds: Option<u64>,
}

impl Spec {
    /// The policy's JSON: addresses lower case or EIP-55 (`checksummed`),
    /// lists in the given order.
    fn to_json(&self, checksummed: bool) -> Value {
        let address = |a: &Address| {
            if checksummed {
                to_checksummed(a)
            } else {
                hex_address(a)
            }
        };
        let mut m = Map::new();
        m.insert(
            "allow".into(),
            json!(self.allow.iter().map(|k| k.as_str()).collect::<Vec<_>>()),
        );
        if let Some(ids) = &self.chain_ids {
            m.insert("chain_ids".into(), json!(ids));
        }
        if let Some(v) = self.max_value_wei {
            m.insert("max_value_wei".into(), json!(v.to_string()));
        }
        if let Some(r) = &self.recipients {
            m.insert(
                "recipients".into(),
                json!(r.iter().map(address).collect::<Vec<_>>()),
            );
        }
        if let Some(s) = &self.selectors {
            m.insert(
                "selectors".into(),
                json!(s
                    .iter()
                    .map(|s| format!("0x{}", hex::encode(s)))
                    .collect::<Vec<_>>()),
            );
        }
        if let Some(t) = &self.tokens {
            let t: Vec<Value> = t
                .iter()
                .map(|(a, max)| json!({"address": address(a), "max_amount": max.to_string()}))
                .collect();
            m.insert("tokens".into(), Value::Array(t));
        }
        if let Some(d) = &self.domains {
            let d: Vec<Value> = d
                .iter()
                .map(|(c, a)| {
                    let mut o = Map::new();
                    if let Some(c) = c {
                        o.insert("chain_id".into(), json!(c));
                    }
                    if let Some(a) = a {
                        o.insert("verifying_contract".into(), json!(address(a)));
                    }
                    Value::Object(o)
                })
                .collect();
            m.insert("typed_data_domains".into(), Value::Array(d));
        }
        if let Some(w) = &self.windows {
            let w: Vec<Value> = w
                .iter()
                .map(|(seconds, value, count)| {
                    let mut o = Map::new();
                    o.insert("seconds".into(), json!(seconds));
                    if let Some(v) = value {
                        o.insert("max_value_wei".into(), json!(v.to_string()));
                    }
                    if let Some(c) = count {
                        o.insert("max_count".into(), json!(c));
                    }
                    Value::Object(o)
                })
                .collect();
            m.insert("windows".into(), Value::Array(w));
        }
        if let Some(s) = self.change_delay_seconds {
            m.insert("change_delay_seconds".into(), json!(s));
        }
        Value::Object(m)
    }

    fn policy(&self) -> Policy {
        let v = self.to_json(false);
        match Policy::from_value(&v, "policy") {
            Ok(p) => p,
            Err(e) => panic!("a valid policy was refused: {e} in {v}"),
        }
    }
}

/// A random subset of `pool`, in random order.
fn subset<T: Clone + std::fmt::Debug + 'static>(pool: Vec<T>) -> BoxedStrategy<Vec<T>> {
    let n = pool.len();
    subsequence(pool, 0..=n).prop_shuffle().boxed()
}

fn some_rule<T: Clone + std::fmt::Debug + 'static>(
    s: BoxedStrategy<T>,
) -> BoxedStrategy<Option<T>> {
    prop::option::weighted(0.5, s).boxed()
}

fn allow_rule() -> BoxedStrategy<Vec<Kind>> {
    prop_oneof![
        1 => Just(Kind::ALL.to_vec()),
        2 => subsequence(Kind::ALL.to_vec(), 0..=4),
    ]
    .boxed()
}

fn chain_ids_rule() -> BoxedStrategy<Option<Vec<u64>>> {
    some_rule(subset(CHAINS.to_vec()))
}

fn recipients_rule() -> BoxedStrategy<Option<Vec<Address>>> {
    some_rule(subset(ADDRS.to_vec()))
}

fn selectors_rule() -> BoxedStrategy<Option<Vec<[u8; 4]>>> {
    some_rule(subset(SELECTORS.to_vec()))
}

fn token_limits(tokens: Vec<Address>) -> BoxedStrategy<Vec<(Address, Amount)>> {
    let n = tokens.len();
    prop::collection::vec(limit(), n)
        .prop_map(move |limits| tokens.iter().copied().zip(limits).collect())
        .boxed()
}

fn tokens_rule() -> BoxedStrategy<Option<Vec<(Address, Amount)>>> {
    some_rule(subset(ADDRS.to_vec()).prop_flat_map(token_limits).boxed())
}

/// Every domain rule over chains 1 and 10 and two contracts (each names at
/// least one field).
fn all_domains() -> Vec<DomainSpec> {
    let mut out = Vec::new();
    for c in [None, Some(1), Some(10)] {
        for a in [None, Some(ADDRS[2]), Some(ADDRS[3])] {
            if c.is_some() || a.is_some() {
                out.push((c, a));
            }
        }
    }
    out
}

fn domains_rule() -> BoxedStrategy<Option<Vec<DomainSpec>>> {
    some_rule(subset(all_domains()))
}

/// A window of `seconds`: a value limit, a count limit, or both.
fn window(seconds: u64) -> impl Strategy<Value = WindowSpec> {
    (
        prop::option::of(limit()),
        prop::option::of(select(vec![1u64, 10, MAX_SAFE_INTEGER])),
    )
        .prop_map(move |(v, c)| {
            let c = if v.is_none() && c.is_none() {
                Some(1)
            } else {
                c
            };
            (seconds, v, c)
        })
}

/// Windows of distinct lengths.
fn windows_rule() -> BoxedStrategy<Option<Vec<WindowSpec>>> {
    let lengths = subset(vec![1, 3600, 86_400, MAX_WINDOW_SECONDS]);
    some_rule(
        lengths
            .prop_flat_map(|l| l.into_iter().map(window).collect::<Vec<_>>())
            .boxed(),
    )
}

fn delay_rule() -> BoxedStrategy<Option<u64>> {
    some_rule(select(vec![0, 60, 86_400, MAX_CHANGE_DELAY_SECONDS]).boxed())
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        allow_rule(),
        chain_ids_rule(),
        some_rule(limit().boxed()),
        recipients_rule(),
        selectors_rule(),
        tokens_rule(),
        domains_rule(),
        windows_rule(),
        delay_rule(),
    )
        .prop_map(
            |(
                allow,
                chain_ids,
                max_value_wei,
                recipients,
                selectors,
                tokens,
                domains,
                windows,
                change_delay_seconds,
            )| Spec {
                allow,
                chain_ids,
                max_value_wei,
                recipients,
                selectors,
                tokens,
                domains,
                windows,
                change_delay_seconds,
            },
        )
}

/// `old`, a list rule kept, narrowed to a subset (also from no rule: any
/// list is narrower than none) or drawn again.
fn list_near<T: Clone + std::fmt::Debug + 'static>(
    old: Option<Vec<T>>,
    pool: Vec<T>,
    fresh: BoxedStrategy<Option<Vec<T>>>,
) -> BoxedStrategy<Option<Vec<T>>> {
    let base = old.clone().unwrap_or(pool);
    prop_oneof![
        2 => Just(old),
        2 => subset(base).prop_map(Some),
        1 => fresh,
    ]
    .boxed()
}

fn keep_or<T: Clone + std::fmt::Debug + 'static>(
    old: T,
    fresh: BoxedStrategy<T>,
) -> BoxedStrategy<T> {
    prop_oneof![3 => Just(old), 1 => fresh].boxed()
}

/// A policy and another made from it by keeping, narrowing or redrawing
/// each rule: often one that does not loosen it, sometimes one that does.
fn spec_pair() -> impl Strategy<Value = (Spec, Spec)> {
    spec().prop_flat_map(|old| {
        let allow = prop_oneof![
            2 => Just(old.allow.clone()),
            2 => subsequence(old.allow.clone(), 0..=old.allow.len()),
            1 => allow_rule(),
        ];
        let tokens = match old.tokens.clone() {
            None => tokens_rule(),
            Some(t) => {
                let addresses: Vec<Address> = t.iter().map(|(a, _)| *a).collect();
                prop_oneof![
                    2 => Just(Some(t)),
                    2 => token_limits(addresses).prop_map(Some),
                    1 => tokens_rule(),
                ]
                .boxed()
            }
        };
        let new = (
            allow,
            list_near(old.chain_ids.clone(), CHAINS.to_vec(), chain_ids_rule()),
            keep_or(old.max_value_wei, some_rule(limit().boxed())),
            list_near(old.recipients.clone(), ADDRS.to_vec(), recipients_rule()),
            list_near(old.selectors.clone(), SELECTORS.to_vec(), selectors_rule()),
            tokens,
            list_near(old.domains.clone(), all_domains(), domains_rule()),
            keep_or(old.windows.clone(), windows_rule()),
            keep_or(old.change_delay_seconds, delay_rule()),
        )
            .prop_map(
                |(
                    allow,
                    chain_ids,
                    max_value_wei,
                    recipients,
                    selectors,
                    tokens,
                    domains,
                    windows,
                    change_delay_seconds,
                )| Spec {
                    allow,
                    chain_ids,
                    max_value_wei,
                    recipients,
                    selectors,
                    tokens,
                    domains,
                    windows,
                    change_delay_seconds,
                },
            );
        (Just(old), new)
    })
}

// ---------------------------------------------------------------------------
// Random, mostly malformed, policy JSON.

const JUNK_KEYS: &[&str] = &["Allow", "max_value", "recipient", "", "windows ", "address"];

fn leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        integer(),
        amount_text(),
        address_text(),
        selector_text(),
        kind_text(),
        "[a-z0-9_.:/ -]{0,12}".prop_map(Value::String),
    ]
    .boxed()
}

fn junk() -> BoxedStrategy<Value> {
    leaf()
        .prop_recursive(3, 24, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec((select(RULES.to_vec()), inner), 0..5).prop_map(|kv| {
                    Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                }),
            ]
        })
        .boxed()
}

fn integer() -> BoxedStrategy<Value> {
    prop_oneof![
        select(vec![
            json!(0),
            json!(1),
            json!(10),
            json!(137),
            json!(3600),
            json!(MAX_WINDOW_SECONDS),
            json!(MAX_WINDOW_SECONDS + 1),
            json!(MAX_CHANGE_DELAY_SECONDS),
            json!(MAX_CHANGE_DELAY_SECONDS + 1),
            json!(MAX_SAFE_INTEGER),
            json!(MAX_SAFE_INTEGER + 1),
            json!(u64::MAX),
            json!(-1),
            json!(1.5),
            json!(1e3),
            json!("1"),
        ]),
        (1u64..200).prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
    ]
    .boxed()
}

fn amount_text() -> BoxedStrategy<Value> {
    prop_oneof![
        select(vec![
            "0",
            "1",
            "1000",
            "01",
            "-1",
            "+1",
            "1e18",
            "1.0",
            "0x10",
            " 1",
            "",
            MAX_DECIMAL,
            OVER_MAX_DECIMAL,
        ])
        .prop_map(Value::from),
        any::<u128>().prop_map(|n| Value::from(n.to_string())),
        "[0-9]{1,80}".prop_map(Value::from),
    ]
    .boxed()
}

fn address_text() -> BoxedStrategy<Value> {
    prop_oneof![
        any_address().prop_map(|a| Value::from(hex_address(&a))),
        any_address().prop_map(|a| Value::from(to_checksummed(&a))),
        any_address().prop_map(|a| Value::from(format!("0x{}", hex::encode_upper(a)))),
        select(vec![
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0x5aaeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED",
            "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
            "0x",
        ])
        .prop_map(Value::from),
        "0x[0-9a-fA-F]{38,42}".prop_map(Value::from),
    ]
    .boxed()
}

fn selector_text() -> BoxedStrategy<Value> {
    prop_oneof![
        select(vec![
            "0xa9059cbb",
            "0x095ea7b3",
            "0xA9059CBB",
            "0xa9059cb",
            "0xa9059cbb0",
            "a9059cbb",
            "0Xa9059cbb",
        ])
        .prop_map(Value::from),
        "0x[0-9a-fA-F]{6,10}".prop_map(Value::from),
    ]
    .boxed()
}

fn kind_text() -> BoxedStrategy<Value> {
    prop_oneof![
        4 => select(Kind::ALL.to_vec()).prop_map(|k| Value::from(k.as_str())),
        1 => select(vec!["Digest", "typed-data", "sign", ""]).prop_map(Value::from),
    ]
    .boxed()
}

/// An object with some of `fields` (each with its value strategy) and now
/// and then a key it does not know.
fn object(fields: Vec<(&'static str, BoxedStrategy<Value>)>) -> BoxedStrategy<Value> {
    let fields: Vec<BoxedStrategy<Option<(&'static str, Value)>>> = fields
        .into_iter()
        .map(|(k, s)| prop::option::weighted(0.8, s.prop_map(move |v| (k, v))).boxed())
        .collect();
    (
        fields,
        prop::option::weighted(0.05, (select(JUNK_KEYS.to_vec()), leaf())),
    )
        .prop_map(move |(present, extra)| {
            let mut m = Map::new();
            for (k, v) in present.into_iter().flatten().chain(extra) {
                m.insert(k.to_owned(), v);
            }
            Value::Object(m)
        })
        .boxed()
}

/// A list of `item`, now and then not a list at all, or one too long.
fn list_of(item: BoxedStrategy<Value>, too_long: Value) -> BoxedStrategy<Value> {
    prop_oneof![
        12 => prop::collection::vec(prop_oneof![12 => item, 1 => leaf()], 0..5).prop_map(Value::Array),
        1 => junk(),
        1 => Just(too_long),
    ]
    .boxed()
}

fn nearly_a_policy() -> BoxedStrategy<Value> {
    let long_ints = Value::Array((1..=257).map(Value::from).collect());
    let long_addresses = Value::Array(
        (0..257u16)
            .map(|i| {
                let mut a = [0u8; 20];
                a[18..].copy_from_slice(&i.to_be_bytes());
                Value::from(hex_address(&a))
            })
            .collect(),
    );
    let rule = |s: BoxedStrategy<Value>| prop::option::weighted(0.5, s).boxed();
    let fields = (
        prop::option::weighted(
            0.9,
            list_of(
                kind_text(),
                json!(["digest", "message", "transaction", "typed_data", "digest"]),
            ),
        ),
        rule(list_of(integer(), long_ints.clone())),
        rule(prop_oneof![4 => amount_text(), 1 => leaf()].boxed()),
        rule(list_of(address_text(), long_addresses.clone())),
        rule(list_of(selector_text(), long_ints.clone())),
        rule(list_of(
            object(vec![
                ("address", address_text()),
                ("max_amount", amount_text()),
            ]),
            long_addresses,
        )),
        rule(list_of(
            object(vec![
                ("chain_id", integer()),
                ("verifying_contract", address_text()),
            ]),
            long_ints,
        )),
        rule(list_of(
            object(vec![
                ("seconds", integer()),
                ("max_value_wei", amount_text()),
                ("max_count", integer()),
            ]),
            Value::Array(vec![json!({"seconds": 1, "max_count": 1}); 5]),
        )),
        rule(prop_oneof![4 => integer(), 1 => leaf()].boxed()),
        prop::option::weighted(0.05, (select(JUNK_KEYS.to_vec()), junk())),
    );
    let object = fields.prop_map(
        |(allow, chain_ids, max, recipients, selectors, tokens, domains, windows, delay, extra)| {
            let mut m = Map::new();
            let rules = [
                ("allow", allow),
                ("chain_ids", chain_ids),
                ("max_value_wei", max),
                ("recipients", recipients),
                ("selectors", selectors),
                ("tokens", tokens),
                ("typed_data_domains", domains),
                ("windows", windows),
                ("change_delay_seconds", delay),
            ];
            for (k, v) in rules {
                if let Some(v) = v {
                    m.insert(k.to_owned(), v);
                }
            }
            if let Some((k, v)) = extra {
                m.insert(k.to_owned(), v);
            }
            Value::Object(m)
        },
    );
    prop_oneof![12 => object, 1 => junk()].boxed()
}

/// The fields of a policy's nested objects.
const INNER_KEYS: &[&str] = &[
    "address",
    "max_amount",
    "chain_id",
    "verifying_contract",
    "seconds",
    "max_value_wei",
    "max_count",
];

/// A valid policy with one edit: a rule replaced, a list entry replaced or
/// repeated, a field of an entry set or removed (or no edit at all).
fn mutated_policy() -> BoxedStrategy<Value> {
    (
        spec(),
        any::<bool>(),
        0u8..6,
        select(RULES.to_vec()),
        any::<prop::sample::Index>(),
        select(INNER_KEYS.to_vec()),
        prop_oneof![
            integer(),
            amount_text(),
            address_text(),
            selector_text(),
            kind_text(),
            leaf()
        ],
    )
        .prop_map(|(spec, checksummed, op, rule, at, key, new)| {
            let mut v = spec.to_json(checksummed);
            let m = v.as_object_mut().expect("an object");
            match (op, m.get_mut(rule)) {
                (0, _) => {
                    m.insert(rule.to_owned(), new);
                }
                (1, _) => {
                    m.remove(rule);
                }
                (2, Some(Value::Array(items))) if !items.is_empty() => {
                    let i = at.index(items.len());
                    items[i] = new;
                }
                (3, Some(Value::Array(items))) if !items.is_empty() => {
                    let i = at.index(items.len());
                    items.push(items[i].clone());
                }
                (4, Some(Value::Array(items))) if !items.is_empty() => {
                    let i = at.index(items.len());
                    if let Value::Object(o) = &mut items[i] {
                        o.insert(key.to_owned(), new);
                    }
                }
                (5, Some(Value::Array(items))) if !items.is_empty() => {
                    let i = at.index(items.len());
                    if let Value::Object(o) = &mut items[i] {
                        o.remove(key);
                    }
                }
                _ => {}
            }
            v
        })
        .boxed()
}

// ---------------------------------------------------------------------------
// Random facts.

fn call() -> impl Strategy<Value = CallFacts> {
    prop_oneof![
        2 => Just(CallFacts::Unknown),
        4 => (any_address(), moved()).prop_map(|(counterparty, a)| CallFacts::Token {
            counterparty,
            amount: Some(a),
            unlimited: a == Amount::MAX,
        }),
        // NFT transfers (no amount) and setApprovalForAll (unlimited).
        2 => (any_address(), any::<bool>()).prop_map(|(counterparty, unlimited)| CallFacts::Token {
            counterparty,
            amount: None,
            unlimited,
        }),
        1 => Just(CallFacts::Malformed),
    ]
}

fn tx() -> impl Strategy<Value = TxFacts> {
    (
        select(vec![1, 2, 10, 137]),
        prop::option::weighted(0.85, any_address()),
        moved(),
        select(vec![0usize, 0, 1, 3, 4, 68, 100]),
        select(vec![TRANSFER, APPROVE, TRANSFER_FROM, OTHER_SELECTOR]),
        call(),
        prop_oneof![3 => Just(Vec::new()), 1 => prop::collection::vec(any_address(), 1..3)],
    )
        .prop_map(
            |(chain_id, to, value_wei, data_len, selector, call, delegates)| {
                // What the signer decodes is consistent: a selector when there
                // are 4 bytes, a recognised call only then.
                let has_selector = data_len >= 4;
                TxFacts {
                    chain_id,
                    to,
                    value_wei,
                    data_len,
                    selector: has_selector.then_some(selector),
                    call: if has_selector {
                        call
                    } else {
                        CallFacts::Unknown
                    },
                    delegates,
                }
            },
        )
}

fn permit() -> impl Strategy<Value = PermitFacts> {
    prop_oneof![
        2 => Just(PermitFacts::None),
        4 => (any_address(), prop::collection::vec((any_address(), moved()), 0..3))
            .prop_map(|(spender, grants)| PermitFacts::Permit { spender, grants }),
        1 => Just(PermitFacts::Malformed),
    ]
}

fn typed() -> impl Strategy<Value = TypedFacts> {
    (
        prop::option::weighted(0.85, select(vec![1, 2, 10, 137, u64::MAX])),
        prop::option::weighted(0.85, any_address()),
        permit(),
    )
        .prop_map(|(chain_id, verifying_contract, permit)| TypedFacts {
            chain_id,
            verifying_contract,
            permit,
        })
}

/// A request as the signer decodes one: a transaction, typed data, or a
/// message or digest; the kind matches what was decoded, now and then not.
fn facts() -> impl Strategy<Value = Facts> {
    let kind = select(Kind::ALL.to_vec());
    prop_oneof![
        2 => (tx(), prop::option::weighted(0.2, kind.clone())).prop_map(|(t, k)| Facts {
            kind: k.unwrap_or(Kind::Transaction),
            transaction: Some(t),
            typed_data: None,
        }),
        2 => (typed(), prop::option::weighted(0.2, kind.clone())).prop_map(|(t, k)| Facts {
            kind: k.unwrap_or(Kind::TypedData),
            transaction: None,
            typed_data: Some(t),
        }),
        1 => select(vec![Kind::Message, Kind::Digest]).prop_map(Facts::of_kind),
    ]
}

// ---------------------------------------------------------------------------
// The rules, read again from docs/policy.md.

/// The rules `p` holds that `f` breaks, in the documented order (`allow`,
/// `chain_ids`, `max_value_wei`, `recipients`, `selectors`, `tokens`,
/// `typed_data_domains`), named as a refusal names them.
fn broken_rules(p: &Policy, f: &Facts) -> Vec<String> {
    let mut broken = Vec::new();
    let mut breaks = |rule: &str, holds: bool| {
        if !holds {
            broken.push(rule.to_owned());
        }
    };
    // allow: the kind is listed; and a transaction or typed data with
    // nothing decoded passes only a policy of `allow` alone.
    let undecoded = match f.kind {
        Kind::Transaction => f.transaction.is_none(),
        Kind::TypedData => f.typed_data.is_none(),
        _ => false,
    };
    let allow_alone = p.chain_ids().is_none()
        && p.max_value_wei().is_none()
        && p.recipients().is_none()
        && p.selectors().is_none()
        && p.tokens().is_none()
        && p.typed_data_domains().is_none()
        && p.windows().is_empty();
    breaks(
        "allow",
        p.allow().contains(&f.kind) && (!undecoded || allow_alone),
    );
    if let Some(tx) = &f.transaction {
        // chain_ids: the transaction's chain is listed.
        if let Some(ids) = p.chain_ids() {
            breaks("chain_ids", ids.contains(&tx.chain_id));
        }
        // max_value_wei: the value is at most the limit.
        if let Some(max) = p.max_value_wei() {
            breaks("max_value_wei", tx.value_wei <= max);
        }
        // recipients: `to` (a creation has none), a token call's
        // counterparty and every EIP-7702 delegate are listed; a call
        // that does not decode cannot be checked.
        if let Some(list) = p.recipients() {
            let to = tx.to.is_some_and(|to| list.contains(&to));
            let call = match &tx.call {
                CallFacts::Unknown => true,
                CallFacts::Token { counterparty, .. } => list.contains(counterparty),
                CallFacts::Malformed => false,
            };
            let delegates = tx.delegates.iter().all(|d| list.contains(d));
            breaks("recipients", to && call && delegates);
        }
        // selectors: a plain transfer (no data) is fine; data is a call to
        // a listed function (so at least 4 bytes, and not a creation's init
        // code) whose arguments decode; no delegation.
        if let Some(list) = p.selectors() {
            let function = if tx.data_len == 0 {
                true
            } else {
                tx.to.is_some()
                    && tx.data_len >= 4
                    && tx.selector.is_some_and(|s| list.contains(&s))
            };
            let decodes = tx.call != CallFacts::Malformed;
            breaks("selectors", function && decodes && tx.delegates.is_empty());
        }
        // tokens: a call to a listed token moves or approves at most its
        // max_amount, never an operator for all, and decodes.
        if let (Some(tokens), Some(to)) = (p.tokens(), tx.to) {
            for (i, t) in tokens.iter().enumerate() {
                if t.address != to {
                    continue;
                }
                let holds = match &tx.call {
                    CallFacts::Unknown => true,
                    CallFacts::Token {
                        amount: Some(a), ..
                    } => *a <= t.max_amount,
                    CallFacts::Token {
                        amount: None,
                        unlimited,
                        ..
                    } => !unlimited,
                    CallFacts::Malformed => false,
                };
                breaks(&format!("tokens[{i}].max_amount"), holds);
            }
        }
    }
    if let Some(td) = &f.typed_data {
        // chain_ids: the domain names a listed chainId.
        if let Some(ids) = p.chain_ids() {
            breaks("chain_ids", td.chain_id.is_some_and(|c| ids.contains(&c)));
        }
        // recipients: a permit's spender is listed; a permit that does not
        // decode cannot be checked.
        if let Some(list) = p.recipients() {
            let holds = match &td.permit {
                PermitFacts::None => true,
                PermitFacts::Permit { spender, .. } => list.contains(spender),
                PermitFacts::Malformed => false,
            };
            breaks("recipients", holds);
        }
        // tokens: each grant of a listed token is at most its max_amount.
        if let Some(tokens) = p.tokens() {
            match &td.permit {
                PermitFacts::None => {}
                PermitFacts::Permit { grants, .. } => {
                    for (token, a) in grants {
                        for (i, t) in tokens.iter().enumerate() {
                            if t.address == *token {
                                breaks(&format!("tokens[{i}].max_amount"), *a <= t.max_amount);
                            }
                        }
                    }
                }
                PermitFacts::Malformed => breaks("tokens", false),
            }
        }
        // typed_data_domains: some entry whose every field present matches.
        if let Some(domains) = p.typed_data_domains() {
            let matches = |d: &signet_authority::DomainRule| {
                d.chain_id.is_none_or(|c| td.chain_id == Some(c))
                    && d.verifying_contract
                        .is_none_or(|a| td.verifying_contract == Some(a))
            };
            breaks("typed_data_domains", domains.iter().any(matches));
        }
    }
    broken
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn policy_reader_never_panics_and_what_it_accepts_round_trips(
        v in prop_oneof![nearly_a_policy(), mutated_policy()],
    ) {
        if let Ok(p) = Policy::from_value(&v, "policy") {
            prop_assert_eq!(Policy::from_value(&p.to_value(), "policy"), Ok(p.clone()));
            prop_assert!(!p.loosens(&p));
        }
    }

    #[test]
    fn valid_policies_are_accepted_round_trip_and_do_not_loosen_themselves(
        s in spec(),
        checksummed in any::<bool>(),
    ) {
        let p = Policy::from_value(&s.to_json(checksummed), "policy");
        prop_assert_eq!(p.as_ref().ok(), Some(&s.policy()));
        let p = s.policy();
        prop_assert_eq!(Policy::from_value(&p.to_value(), "policy"), Ok(p.clone()));
        prop_assert!(!p.loosens(&p));
        prop_assert_eq!(p.to_value()["allow"].as_array().map(Vec::len), Some(s.allow.len()));
    }

    #[test]
    fn evaluate_allows_only_what_every_rule_allows_and_names_the_first_it_breaks(
        s in spec(),
        facts in prop::collection::vec(facts(), FACTS_PER_POLICY),
    ) {
        let p = s.policy();
        for f in &facts {
            let broken = broken_rules(&p, f);
            match p.evaluate(f) {
                Ok(()) => prop_assert!(broken.is_empty(), "allowed, but breaks {:?}: {:?}", broken, f),
                Err(d) => {
                    prop_assert!(!broken.is_empty(), "refused by {} ({}), but breaks nothing: {:?}", d.rule, d.message, f);
                    prop_assert_eq!(&d.rule, &broken[0], "{}: {:?}", d.message, f);
                }
            }
        }
    }

    #[test]
    fn a_policy_that_does_not_loosen_another_allows_nothing_the_other_refuses(
        (old, new) in spec_pair(),
        facts in prop::collection::vec(facts(), FACTS_PER_POLICY),
    ) {
        let (old, new) = (old.policy(), new.policy());
        if !new.loosens(&old) {
            for f in &facts {
                if new.evaluate(f).is_ok() {
                    prop_assert_eq!(old.evaluate(f), Ok(()), "{:?}", f);
                }
            }
        }
    }
}

//! The calldata decoder and the permit extractor: each recognised call and
//! permit, each refusal as its own test, and property tests that the decoder
//! never panics and only accepts canonical encodings.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use alloy_sol_types::{sol, SolCall};
use proptest::prelude::*;
use serde_json::{json, Value};
use signet_eth::alloy::{Address, Bytes, U256};
use signet_eth::{
    decode_call, is_known_selector, permit, typed_data, Call, Permit, Scope, KNOWN_SELECTORS,
    PERMIT2_MAX_AMOUNT,
};

// The encoders the tests build calldata with, declared independently of the
// crate's own.
sol! {
    function transfer(address to, uint256 value);
    function transferFrom(address from, address to, uint256 value);
    function approve(address spender, uint256 value);
    function increaseAllowance(address spender, uint256 addedValue);
    function setApprovalForAll(address operator, bool approved);
    interface IERC721 {
        function safeTransferFrom(address from, address to, uint256 tokenId);
        function safeTransferFrom(address from, address to, uint256 tokenId, bytes data);
    }
    interface IERC1155 {
        function safeTransferFrom(address from, address to, uint256 id, uint256 value, bytes data);
    }
}

const ALICE: Address = Address::repeat_byte(0xa1);
const BOB: Address = Address::repeat_byte(0xb0);
/// Uniswap's Permit2 contract (the same address on every chain).
const PERMIT2: &str = "0x000000000022D473030F116dDEE9F6B43aC78BA3";
/// USDC on Ethereum mainnet.
const USDC: &str = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48";

fn hex(s: &str) -> Vec<u8> {
    hex::decode(s.split_whitespace().collect::<String>()).unwrap()
}

fn decoded(input: &[u8]) -> Call {
    decode_call(input).unwrap().expect("a recognised call")
}

fn refusal(input: &[u8]) -> String {
    let e = decode_call(input).unwrap_err();
    assert_eq!(e.scope(), Some(Scope::Transaction));
    e.to_string()
}

fn approve_max_to_permit2() -> Vec<u8> {
    approveCall {
        spender: PERMIT2.parse().unwrap(),
        value: U256::MAX,
    }
    .abi_encode()
}

// ---- each call, from the sol! encoders ----

#[test]
fn decodes_transfer() {
    let input = transferCall {
        to: BOB,
        value: U256::from(1_000_000u64),
    }
    .abi_encode();
    let call = decoded(&input);
    assert_eq!(
        call,
        Call::Transfer {
            to: BOB,
            amount: U256::from(1_000_000u64)
        }
    );
    assert_eq!(call.function(), "transfer");
    assert_eq!(call.signature(), "transfer(address,uint256)");
    assert_eq!(call.counterparty(), BOB);
    assert_eq!(call.amount(), Some(U256::from(1_000_000u64)));
    assert!(!call.is_unlimited());
}

#[test]
fn decodes_transfer_from() {
    let input = transferFromCall {
        from: ALICE,
        to: BOB,
        value: U256::from(7),
    }
    .abi_encode();
    let call = decoded(&input);
    assert_eq!(
        call,
        Call::TransferFrom {
            from: ALICE,
            to: BOB,
            amount: U256::from(7)
        }
    );
    assert_eq!(call.counterparty(), BOB);
    assert_eq!(call.amount(), Some(U256::from(7)));
    assert_eq!(call.signature(), "transferFrom(address,address,uint256)");
}

#[test]
fn decodes_approve() {
    let input = approveCall {
        spender: BOB,
        value: U256::from(5),
    }
    .abi_encode();
    let call = decoded(&input);
    assert_eq!(
        call,
        Call::Approve {
            spender: BOB,
            amount: U256::from(5)
        }
    );
    assert_eq!(call.counterparty(), BOB);
    assert!(!call.is_unlimited());
}

#[test]
fn decodes_increase_allowance() {
    let input = increaseAllowanceCall {
        spender: BOB,
        addedValue: U256::MAX,
    }
    .abi_encode();
    let call = decoded(&input);
    assert_eq!(
        call,
        Call::IncreaseAllowance {
            spender: BOB,
            amount: U256::MAX
        }
    );
    assert!(call.is_unlimited());
    assert_eq!(call.signature(), "increaseAllowance(address,uint256)");
}

#[test]
fn decodes_erc721_safe_transfer_from() {
    let input = IERC721::safeTransferFrom_0Call {
        from: ALICE,
        to: BOB,
        tokenId: U256::from(42),
    }
    .abi_encode();
    let call = decoded(&input);
    assert_eq!(
        call,
        Call::SafeTransferFrom {
            from: ALICE,
            to: BOB,
            token_id: U256::from(42),
            amount: None,
            data: None
        }
    );
    assert_eq!(
        call.signature(),
        "safeTransferFrom(address,address,uint256)"
    );
    assert_eq!(call.counterparty(), BOB);
    assert_eq!(call.amount(), None);
}

#[test]
fn decodes_erc721_safe_transfer_from_with_data() {
    let input = IERC721::safeTransferFrom_1Call {
        from: ALICE,
        to: BOB,
        tokenId: U256::from(42),
        data: Bytes::from_static(b"a hook payload longer than one 32-byte word"),
    }
    .abi_encode();
    let call = decoded(&input);
    assert_eq!(
        call,
        Call::SafeTransferFrom {
            from: ALICE,
            to: BOB,
            token_id: U256::from(42),
            amount: None,
            data: Some(Bytes::from_static(
                b"a hook payload longer than one 32-byte word"
            ))
        }
    );
    assert_eq!(
        call.signature(),
        "safeTransferFrom(address,address,uint256,bytes)"
    );
}

#[test]
fn decodes_erc1155_safe_transfer_from() {
    let input = IERC1155::safeTransferFromCall {
        from: ALICE,
        to: BOB,
        id: U256::from(3),
        value: U256::from(10),
        data: Bytes::new(),
    }
    .abi_encode();
    let call = decoded(&input);
    assert_eq!(
        call,
        Call::SafeTransferFrom {
            from: ALICE,
            to: BOB,
            token_id: U256::from(3),
            amount: Some(U256::from(10)),
            data: Some(Bytes::new())
        }
    );
    assert_eq!(
        call.signature(),
        "safeTransferFrom(address,address,uint256,uint256,bytes)"
    );
    assert_eq!(call.amount(), Some(U256::from(10)));
}

#[test]
fn decodes_set_approval_for_all() {
    for approved in [true, false] {
        let input = setApprovalForAllCall {
            operator: BOB,
            approved,
        }
        .abi_encode();
        let call = decoded(&input);
        assert_eq!(
            call,
            Call::SetApprovalForAll {
                operator: BOB,
                approved
            }
        );
        assert_eq!(call.counterparty(), BOB);
        assert_eq!(call.amount(), None);
        assert_eq!(call.is_unlimited(), approved);
    }
}

// ---- hand-written vectors ----

#[test]
fn decodes_hand_written_unlimited_approve() {
    // approve(Permit2, 2^256 - 1), as wallets send it before a first swap.
    let input = hex("095ea7b3
        000000000000000000000000000000000022d473030f116ddee9f6b43ac78ba3
        ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
    assert_eq!(input, approve_max_to_permit2());
    let call = decoded(&input);
    assert_eq!(
        call,
        Call::Approve {
            spender: PERMIT2.parse().unwrap(),
            amount: U256::MAX
        }
    );
    assert!(call.is_unlimited());
}

#[test]
fn decodes_hand_written_usdc_transfer() {
    // transfer(0xb0b0…b0, 1 USDC = 1_000_000 base units).
    let input = hex("a9059cbb
        000000000000000000000000b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0
        00000000000000000000000000000000000000000000000000000000000f4240");
    assert_eq!(
        decoded(&input),
        Call::Transfer {
            to: BOB,
            amount: U256::from(1_000_000u64)
        }
    );
}

#[test]
fn decodes_hand_written_erc1155_transfer_with_empty_data() {
    let input = hex("f242432a
        000000000000000000000000a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1
        000000000000000000000000b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0
        0000000000000000000000000000000000000000000000000000000000000003
        000000000000000000000000000000000000000000000000000000000000000a
        00000000000000000000000000000000000000000000000000000000000000a0
        0000000000000000000000000000000000000000000000000000000000000000");
    assert_eq!(
        decoded(&input),
        Call::SafeTransferFrom {
            from: ALICE,
            to: BOB,
            token_id: U256::from(3),
            amount: Some(U256::from(10)),
            data: Some(Bytes::new())
        }
    );
}

// ---- JSON for approvers ----

#[test]
fn approve_json() {
    let call = decoded(&approve_max_to_permit2());
    assert_eq!(
        call.to_json(),
        json!({
            "function": "approve",
            "signature": "approve(address,uint256)",
            "spender": PERMIT2,
            "amount": U256::MAX.to_string(),
            "unlimited": true,
        })
    );
}

#[test]
fn transfer_and_nft_json() {
    let to =
        Address::parse_checksummed("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", None).unwrap();
    assert_eq!(
        Call::Transfer {
            to,
            amount: U256::from(12)
        }
        .to_json(),
        json!({
            "function": "transfer",
            "signature": "transfer(address,uint256)",
            "to": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "amount": "12",
        })
    );
    assert_eq!(
        Call::SafeTransferFrom {
            from: to,
            to,
            token_id: U256::from(9),
            amount: None,
            data: Some(Bytes::from_static(&[0xde, 0xad]))
        }
        .to_json(),
        json!({
            "function": "safeTransferFrom",
            "signature": "safeTransferFrom(address,address,uint256,bytes)",
            "from": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "to": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "token_id": "9",
            "data": "0xdead",
        })
    );
    assert_eq!(
        Call::SetApprovalForAll {
            operator: to,
            approved: false
        }
        .to_json(),
        json!({
            "function": "setApprovalForAll",
            "signature": "setApprovalForAll(address,bool)",
            "operator": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "approved": false,
            "unlimited": false,
        })
    );
}

// ---- not a recognised call ----

#[test]
fn empty_calldata_is_not_a_call() {
    assert_eq!(decode_call(&[]).unwrap(), None);
}

#[test]
fn calldata_shorter_than_a_selector_is_not_a_call() {
    for n in 1..4 {
        assert_eq!(decode_call(&[0x09, 0x5e, 0xa7][..n]).unwrap(), None);
    }
}

#[test]
fn unknown_selector_is_not_a_call() {
    // WETH deposit(): a call, just not one of ours.
    assert_eq!(decode_call(&hex("d0e30db0")).unwrap(), None);
    // An approve's arguments behind another selector.
    let mut input = approve_max_to_permit2();
    input[0] ^= 1;
    assert!(!is_known_selector(input[..4].try_into().unwrap()));
    assert_eq!(decode_call(&input).unwrap(), None);
}

// ---- refusals ----

#[test]
fn refuses_dirty_address_bits() {
    let mut input = approve_max_to_permit2();
    // The spender word's highest byte: Solidity would ignore it, so would a
    // lenient decoder, and the two would still agree; refuse it anyway.
    input[4] = 0x01;
    // The lenient (non-validating) decoder takes it: strictness is ours.
    assert!(approveCall::abi_decode(&input).is_ok());
    let e = refusal(&input);
    assert!(e.contains("approve(address,uint256)"), "{e}");
}

#[test]
fn refuses_dirty_address_bits_in_every_address_argument() {
    let inputs = [
        (
            transferFromCall {
                from: ALICE,
                to: BOB,
                value: U256::from(1),
            }
            .abi_encode(),
            vec![0, 1],
        ),
        (
            IERC1155::safeTransferFromCall {
                from: ALICE,
                to: BOB,
                id: U256::from(1),
                value: U256::from(1),
                data: Bytes::new(),
            }
            .abi_encode(),
            vec![0, 1],
        ),
        (
            setApprovalForAllCall {
                operator: BOB,
                approved: true,
            }
            .abi_encode(),
            vec![0],
        ),
    ];
    for (input, words) in inputs {
        for word in words {
            for byte in 0..12 {
                let mut dirty = input.clone();
                dirty[4 + 32 * word + byte] = 0x80;
                refusal(&dirty);
            }
        }
    }
}

#[test]
fn refuses_bool_two() {
    let mut input = setApprovalForAllCall {
        operator: BOB,
        approved: true,
    }
    .abi_encode();
    input[4 + 63] = 2;
    // Solidity reads 2 as true; a strict decoder refuses it.
    assert!(setApprovalForAllCall::abi_decode(&input).is_ok());
    let e = refusal(&input);
    assert!(e.contains("setApprovalForAll(address,bool)"), "{e}");
}

#[test]
fn refuses_bool_with_high_bits() {
    let mut input = setApprovalForAllCall {
        operator: BOB,
        approved: false,
    }
    .abi_encode();
    input[4 + 32] = 1;
    refusal(&input);
}

#[test]
fn refuses_selector_without_arguments() {
    for selector in KNOWN_SELECTORS {
        refusal(&selector);
    }
}

#[test]
fn refuses_short_arguments() {
    for input in every_call_encoded() {
        for len in 4..input.len() {
            let e = decode_call(&input[..len]).unwrap_err();
            assert_eq!(e.scope(), Some(Scope::Transaction), "{len}");
        }
    }
}

#[test]
fn refuses_trailing_bytes() {
    for input in every_call_encoded() {
        for extra in [&[0u8][..], &[0; 32], &[0xff; 33]] {
            let mut long = input.clone();
            long.extend_from_slice(extra);
            // The lenient decoder ignores what follows the arguments.
            if long[..4] == approveCall::SELECTOR {
                assert!(approveCall::abi_decode(&long).is_ok());
            }
            refusal(&long);
        }
    }
}

#[test]
fn refuses_non_canonical_bytes_offset() {
    // safeTransferFrom(from, to, id, data) with `data` placed one word later
    // than the canonical 0x80, the gap filled with zeros.
    let input = hex("b88d4fde
        000000000000000000000000a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1
        000000000000000000000000b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0
        0000000000000000000000000000000000000000000000000000000000000001
        00000000000000000000000000000000000000000000000000000000000000a0
        0000000000000000000000000000000000000000000000000000000000000000
        0000000000000000000000000000000000000000000000000000000000000000");
    refusal(&input);
}

#[test]
fn refuses_bytes_length_beyond_the_calldata() {
    let input = hex("b88d4fde
        000000000000000000000000a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1
        000000000000000000000000b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0
        0000000000000000000000000000000000000000000000000000000000000001
        0000000000000000000000000000000000000000000000000000000000000080
        0000000000000000000000000000000000000000000000000000000000000021
        dead000000000000000000000000000000000000000000000000000000000000");
    refusal(&input);
}

#[test]
fn refuses_dirty_bytes_padding() {
    let mut input = IERC721::safeTransferFrom_1Call {
        from: ALICE,
        to: BOB,
        tokenId: U256::from(1),
        data: Bytes::from_static(&[0xde, 0xad]),
    }
    .abi_encode();
    let last = input.len() - 1;
    input[last] = 1;
    refusal(&input);
}

#[test]
fn refusal_names_the_function() {
    let mut input = transferCall {
        to: BOB,
        value: U256::from(1),
    }
    .abi_encode();
    input.pop();
    let e = refusal(&input);
    assert!(
        e.starts_with(
            "transaction: `input` is calldata for transfer(address,uint256) that does not decode"
        ),
        "{e}"
    );
}

/// One canonical encoding of every recognised call.
fn every_call_encoded() -> Vec<Vec<u8>> {
    vec![
        transferCall {
            to: BOB,
            value: U256::from(1),
        }
        .abi_encode(),
        transferFromCall {
            from: ALICE,
            to: BOB,
            value: U256::from(1),
        }
        .abi_encode(),
        approve_max_to_permit2(),
        increaseAllowanceCall {
            spender: BOB,
            addedValue: U256::from(1),
        }
        .abi_encode(),
        IERC721::safeTransferFrom_0Call {
            from: ALICE,
            to: BOB,
            tokenId: U256::from(1),
        }
        .abi_encode(),
        IERC721::safeTransferFrom_1Call {
            from: ALICE,
            to: BOB,
            tokenId: U256::from(1),
            data: Bytes::from_static(&[1, 2, 3]),
        }
        .abi_encode(),
        IERC1155::safeTransferFromCall {
            from: ALICE,
            to: BOB,
            id: U256::from(1),
            value: U256::from(2),
            data: Bytes::from_static(&[0xab; 40]),
        }
        .abi_encode(),
        setApprovalForAllCall {
            operator: BOB,
            approved: true,
        }
        .abi_encode(),
    ]
}

// ---- properties ----

fn u256() -> impl Strategy<Value = U256> {
    prop_oneof![
        Just(U256::ZERO),
        Just(U256::MAX),
        any::<[u8; 32]>().prop_map(U256::from_be_bytes),
        any::<u64>().prop_map(U256::from),
    ]
}

fn address() -> impl Strategy<Value = Address> {
    any::<[u8; 20]>().prop_map(Address::from)
}

fn call() -> impl Strategy<Value = Call> {
    let data = proptest::collection::vec(any::<u8>(), 0..100).prop_map(Bytes::from);
    prop_oneof![
        (address(), u256()).prop_map(|(to, amount)| Call::Transfer { to, amount }),
        (address(), address(), u256()).prop_map(|(from, to, amount)| Call::TransferFrom {
            from,
            to,
            amount
        }),
        (address(), u256()).prop_map(|(spender, amount)| Call::Approve { spender, amount }),
        (address(), u256())
            .prop_map(|(spender, amount)| Call::IncreaseAllowance { spender, amount }),
        (
            address(),
            address(),
            u256(),
            proptest::option::of(u256()),
            proptest::option::of(data)
        )
            .prop_map(
                |(from, to, token_id, amount, data)| Call::SafeTransferFrom {
                    from,
                    to,
                    token_id,
                    // ERC-1155 always carries data.
                    data: if amount.is_some() {
                        Some(data.unwrap_or_default())
                    } else {
                        data
                    },
                    amount,
                }
            ),
        (address(), any::<bool>())
            .prop_map(|(operator, approved)| Call::SetApprovalForAll { operator, approved }),
    ]
}

/// Bytes that mostly get past the selector: random bytes, a known selector
/// and random words, or a canonical encoding with one byte changed, inserted
/// or removed (so many are accepted, and many are near misses).
fn calldata() -> impl Strategy<Value = Vec<u8>> {
    let mutated = (call(), any::<prop::sample::Index>(), any::<u8>(), 0..3u8).prop_map(
        |(call, at, byte, op)| {
            let mut v = call.abi_encode();
            let i = at.index(v.len());
            match op {
                0 => v[i] = byte,
                1 => v.insert(i, byte),
                _ => {
                    v.remove(i);
                }
            }
            v
        },
    );
    let words = proptest::collection::vec(
        prop_oneof![
            any::<[u8; 32]>(),
            any::<u8>().prop_map(|b| {
                let mut w = [0u8; 32];
                w[31] = b;
                w
            }),
        ],
        0..9,
    );
    prop_oneof![
        mutated,
        proptest::collection::vec(any::<u8>(), 0..300),
        (
            proptest::sample::select(KNOWN_SELECTORS.to_vec()),
            words,
            proptest::collection::vec(any::<u8>(), 0..3)
        )
            .prop_map(|(sel, words, tail)| {
                let mut v = sel.to_vec();
                v.extend(words.iter().flatten());
                v.extend(tail);
                v
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    /// Whatever the bytes, a value or an error; and every accepted calldata is
    /// the canonical encoding of what it decoded to.
    #[test]
    fn decode_never_panics_and_accepts_only_canonical(input in calldata()) {
        if let Ok(Some(call)) = decode_call(&input) {
            prop_assert_eq!(call.abi_encode(), input);
        }
    }

    #[test]
    fn every_call_round_trips(call in call()) {
        let input = call.abi_encode();
        prop_assert_eq!(decode_call(&input).unwrap(), Some(call));
    }
}

// ---- permits ----

fn summary(v: Value) -> signet_eth::TypedDataSummary {
    typed_data(&v).unwrap().summary
}

fn permit_of(v: Value) -> Permit {
    permit(&summary(v)).unwrap().expect("a permit")
}

fn permit_refusal(v: Value) -> String {
    let e = permit(&summary(v)).unwrap_err();
    assert_eq!(e.scope(), Some(Scope::TypedData));
    e.to_string()
}

fn eip2612_types() -> Value {
    json!({
        "EIP712Domain": [
            {"name": "name", "type": "string"},
            {"name": "version", "type": "string"},
            {"name": "chainId", "type": "uint256"},
            {"name": "verifyingContract", "type": "address"},
        ],
        "Permit": [
            {"name": "owner", "type": "address"},
            {"name": "spender", "type": "address"},
            {"name": "value", "type": "uint256"},
            {"name": "nonce", "type": "uint256"},
            {"name": "deadline", "type": "uint256"},
        ],
    })
}

/// A USDC permit as a dapp asks MetaMask for it.
fn usdc_permit(value: Value) -> Value {
    json!({
        "types": eip2612_types(),
        "primaryType": "Permit",
        "domain": {"name": "USD Coin", "version": "2", "chainId": 1, "verifyingContract": USDC},
        "message": {
            "owner": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "spender": PERMIT2,
            "value": value,
            "nonce": 0,
            "deadline": "0x6553f100",
        },
    })
}

#[test]
fn eip2612_usdc_permit() {
    let p = permit_of(usdc_permit(json!("25000000")));
    assert_eq!(
        p,
        Permit {
            standard: "EIP-2612",
            spender: PERMIT2.parse().unwrap(),
            grants: vec![(USDC.parse().unwrap(), U256::from(25_000_000u64))],
            deadline: U256::from(0x6553_f100u64),
        }
    );
    assert!(!p.is_unlimited());
    assert_eq!(
        p.to_json(),
        json!({
            "standard": "EIP-2612",
            "spender": PERMIT2,
            "tokens": [{"token": USDC, "amount": "25000000", "unlimited": false}],
            "deadline": "1700000000",
            "unlimited": false,
        })
    );
}

#[test]
fn eip2612_unlimited_permit() {
    let p = permit_of(usdc_permit(json!(format!("0x{}", "f".repeat(64)))));
    assert_eq!(p.grants[0].1, U256::MAX);
    assert!(p.is_unlimited());
    assert_eq!(p.to_json()["unlimited"], json!(true));
    assert_eq!(p.to_json()["tokens"][0]["unlimited"], json!(true));
}

#[test]
fn refuses_eip2612_permit_without_verifying_contract() {
    let mut v = usdc_permit(json!(1));
    v["domain"]
        .as_object_mut()
        .unwrap()
        .remove("verifyingContract");
    v["types"]["EIP712Domain"].as_array_mut().unwrap().pop();
    let e = permit_refusal(v);
    assert!(e.contains("verifyingContract"), "{e}");
}

#[test]
fn refuses_permit_without_spender() {
    let mut v = usdc_permit(json!(1));
    v["types"]["Permit"].as_array_mut().unwrap().remove(1);
    v["message"].as_object_mut().unwrap().remove("spender");
    let e = permit_refusal(v);
    assert!(e.contains("`message.spender` is missing"), "{e}");
}

#[test]
fn refuses_permit_with_an_extra_field() {
    let mut v = usdc_permit(json!(1));
    v["types"]["Permit"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "memo", "type": "string"}));
    v["message"]["memo"] = json!("hi");
    let e = permit_refusal(v);
    assert!(
        e.contains("`message.memo` is not a field of a permit"),
        "{e}"
    );
}

#[test]
fn dai_permit() {
    let v = json!({
        "types": {
            "Permit": [
                {"name": "holder", "type": "address"},
                {"name": "spender", "type": "address"},
                {"name": "nonce", "type": "uint256"},
                {"name": "expiry", "type": "uint256"},
                {"name": "allowed", "type": "bool"},
            ],
        },
        "primaryType": "Permit",
        "domain": {
            "name": "Dai Stablecoin", "version": "1", "chainId": 1,
            "verifyingContract": "0x6B175474E89094C44Da98b954EedeAC495271d0F",
        },
        "message": {"holder": PERMIT2, "spender": PERMIT2, "nonce": 3, "expiry": 0, "allowed": true},
    });
    let p = permit_of(v);
    assert_eq!(p.standard, "DAI");
    assert_eq!(p.grants[0].1, U256::MAX);
    assert!(p.is_unlimited());
}

fn permit2_domain() -> Value {
    json!({"name": "Permit2", "chainId": 1, "verifyingContract": PERMIT2})
}

fn permit_single(amount: Value) -> Value {
    json!({
        "types": {
            "PermitSingle": [
                {"name": "details", "type": "PermitDetails"},
                {"name": "spender", "type": "address"},
                {"name": "sigDeadline", "type": "uint256"},
            ],
            "PermitDetails": [
                {"name": "token", "type": "address"},
                {"name": "amount", "type": "uint160"},
                {"name": "expiration", "type": "uint48"},
                {"name": "nonce", "type": "uint48"},
            ],
        },
        "primaryType": "PermitSingle",
        "domain": permit2_domain(),
        "message": {
            "details": {"token": USDC, "amount": amount, "expiration": "1700000000", "nonce": "0"},
            "spender": "0x3fC91A3afd70395Cd496C647d5a6CC9D4B2b7FAD",
            "sigDeadline": "1699998200",
        },
    })
}

#[test]
fn permit2_permit_single() {
    let max = format!("0x{}", "f".repeat(40));
    let p = permit_of(permit_single(json!(max)));
    assert_eq!(
        p,
        Permit {
            standard: "Permit2",
            spender: "0x3fC91A3afd70395Cd496C647d5a6CC9D4B2b7FAD"
                .parse()
                .unwrap(),
            grants: vec![(USDC.parse().unwrap(), PERMIT2_MAX_AMOUNT)],
            deadline: U256::from(1_699_998_200u64),
        }
    );
    assert!(p.is_unlimited());
    assert_eq!(
        p.to_json()["tokens"][0],
        json!({"token": USDC, "amount": PERMIT2_MAX_AMOUNT.to_string(), "unlimited": true})
    );
    let limited = permit_of(permit_single(json!(5)));
    assert!(!limited.is_unlimited());
}

#[test]
fn permit2_permit_batch() {
    let mut v = permit_single(json!(1));
    let details = v["types"]["PermitSingle"].clone();
    v["types"].as_object_mut().unwrap().remove("PermitSingle");
    v["types"]["PermitBatch"] = details;
    v["types"]["PermitBatch"][0]["type"] = json!("PermitDetails[]");
    v["primaryType"] = json!("PermitBatch");
    let one = v["message"]["details"].clone();
    let mut two = one.clone();
    two["token"] = json!(PERMIT2);
    two["amount"] = json!(7);
    v["message"]["details"] = json!([one, two]);
    let p = permit_of(v);
    assert_eq!(
        p.grants,
        vec![
            (USDC.parse().unwrap(), U256::from(1)),
            (PERMIT2.parse().unwrap(), U256::from(7))
        ]
    );
}

#[test]
fn refuses_permit_single_with_a_details_array() {
    let mut v = permit_single(json!(1));
    v["types"]["PermitSingle"][0]["type"] = json!("PermitDetails[]");
    let one = v["message"]["details"].clone();
    v["message"]["details"] = json!([one]);
    let e = permit_refusal(v);
    assert!(e.contains("`message.details` must be an object"), "{e}");
}

#[test]
fn refuses_permit2_allowance_beyond_uint160() {
    let mut v = permit_single(json!(1));
    v["types"]["PermitDetails"][1]["type"] = json!("uint256");
    v["message"]["details"]["amount"] = json!(format!("0x1{}", "0".repeat(40)));
    let e = permit_refusal(v);
    assert!(e.contains("uint160"), "{e}");
}

fn permit_transfer_from() -> Value {
    json!({
        "types": {
            "PermitTransferFrom": [
                {"name": "permitted", "type": "TokenPermissions"},
                {"name": "spender", "type": "address"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
            "TokenPermissions": [
                {"name": "token", "type": "address"},
                {"name": "amount", "type": "uint256"},
            ],
        },
        "primaryType": "PermitTransferFrom",
        "domain": permit2_domain(),
        "message": {
            "permitted": {"token": USDC, "amount": "0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"},
            "spender": "0x3fC91A3afd70395Cd496C647d5a6CC9D4B2b7FAD",
            "nonce": "0x1234",
            "deadline": 1_700_000_000,
        },
    })
}

#[test]
fn permit2_permit_transfer_from() {
    let p = permit_of(permit_transfer_from());
    assert_eq!(p.standard, "Permit2");
    assert_eq!(p.grants, vec![(USDC.parse().unwrap(), U256::MAX)]);
    assert_eq!(p.deadline, U256::from(1_700_000_000u64));
    assert!(p.is_unlimited());
}

#[test]
fn permit2_witness_transfer_from() {
    let mut v = permit_transfer_from();
    let mut members = v["types"]["PermitTransferFrom"].clone();
    members
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "witness", "type": "Order"}));
    let types = v["types"].as_object_mut().unwrap();
    types.remove("PermitTransferFrom");
    types.insert("PermitWitnessTransferFrom".into(), members);
    types.insert(
        "Order".into(),
        json!([{"name": "minOut", "type": "uint256"}]),
    );
    v["primaryType"] = json!("PermitWitnessTransferFrom");
    v["message"]["witness"] = json!({"minOut": "1"});
    let p = permit_of(v);
    assert_eq!(p.standard, "Permit2");
    assert_eq!(p.grants[0].0, USDC.parse::<Address>().unwrap());
}

#[test]
fn refuses_permit_transfer_from_without_permitted() {
    let mut v = permit_transfer_from();
    v["types"]["PermitTransferFrom"]
        .as_array_mut()
        .unwrap()
        .remove(0);
    v["types"]
        .as_object_mut()
        .unwrap()
        .remove("TokenPermissions");
    v["message"].as_object_mut().unwrap().remove("permitted");
    let e = permit_refusal(v);
    assert!(e.contains("`message.permitted` is missing"), "{e}");
}

#[test]
fn other_typed_data_is_not_a_permit() {
    let v = json!({
        "types": {"Mail": [{"name": "contents", "type": "string"}]},
        "primaryType": "Mail",
        "domain": {"name": "Ether Mail", "version": "1", "chainId": 1},
        "message": {"contents": "Hello, Bob!"},
    });
    assert_eq!(permit(&summary(v)).unwrap(), None);
}

const PERMIT_KEYS: &[&str] = &[
    "owner",
    "holder",
    "spender",
    "value",
    "nonce",
    "deadline",
    "expiry",
    "allowed",
    "details",
    "sigDeadline",
    "token",
    "amount",
    "expiration",
    "permitted",
    "witness",
];

fn permit_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(|n| json!(n)),
        any::<i64>().prop_map(|n| json!(n)),
        Just(json!(PERMIT2)),
        Just(json!(format!("0x{}", "f".repeat(64)))),
        Just(json!(format!("0x{}", "f".repeat(41)))),
        "[0-9a-fx]{0,70}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 48, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(proptest::sample::select(PERMIT_KEYS), inner, 0..8)
                .prop_map(|kv| Value::Object(
                    kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
                )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whatever the message (summaries can be built by hand, not only by
    /// `typed_data`), a value or an error.
    #[test]
    fn permit_never_panics(
        primary in proptest::sample::select(vec![
            "Permit", "PermitSingle", "PermitBatch", "PermitTransferFrom",
            "PermitBatchTransferFrom", "PermitWitnessTransferFrom",
            "PermitBatchWitnessTransferFrom", "Mail",
        ]),
        verifying_contract in proptest::option::of(prop_oneof![
            Just(USDC.to_owned()),
            "[0-9a-fx]{0,42}",
        ]),
        message in permit_json(),
    ) {
        let mut s = summary(usdc_permit(json!(1)));
        s.primary_type = primary.to_owned();
        s.domain.verifying_contract = verifying_contract;
        s.message = message;
        if let Ok(Some(p)) = permit(&s) {
            let _ = p.to_json();
        }
    }
}

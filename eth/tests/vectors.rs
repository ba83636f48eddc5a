//! Known-answer tests from published vectors: the EIP-155 example, mainnet
//! transactions whose hashes anyone can look up, and EIP-712's "Mail" example.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{address_of_key, h32, keccak, recover, sign};
use serde_json::json;
use signet_eth::{parse_request, typed_data};

fn rs_of(r: &str, s: &str) -> [u8; 64] {
    let mut rs = [0u8; 64];
    rs[..32].copy_from_slice(&h32(r));
    rs[32..].copy_from_slice(&h32(s));
    rs
}

/// EIP-155's example: chain 1, nonce 9, 20 gwei, 21000 gas, 1 ether to
/// 0x3535…35, signed with the private key 0x4646…46.
#[test]
fn eip155_example() {
    let tx = parse_request(&json!({
        "chainId": "0x1",
        "nonce": "0x9",
        "gasPrice": "0x4a817c800",
        "gas": "0x5208",
        "to": "0x3535353535353535353535353535353535353535",
        "value": "0xde0b6b3a7640000",
        "data": "0x",
    }))
    .unwrap()
    .build()
    .unwrap();
    assert_eq!(tx.tx_type(), 0);
    let hash = tx.signing_hash();
    assert_eq!(
        hex::encode(hash),
        "daf5a779ae972f972197303d7b574746c7ef83eadac0f2791ad23db92e4c8e53"
    );
    let (rs, rec) = sign(&[0x46; 32], &hash);
    let signed = tx.into_signed(&rs, rec).unwrap();
    assert_eq!(
        hex::encode(&signed.raw),
        "f86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a76400008025a028ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276a067cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83"
    );
    assert_eq!(signed.hash, keccak(&signed.raw));
}

/// Mainnet legacy (EIP-155) transaction
/// 0x280cde7cdefe4b188750e76c888f13bd05ce9a4d7767730feefe8a0e50ca6fc4 (a
/// Uniswap v2 swap), rebuilt from its fields and its published signature.
#[test]
fn mainnet_legacy_transaction() {
    let tx = parse_request(&json!({
        "type": "0x0",
        "chainId": "0x1",
        "nonce": "0x78b",
        "gasPrice": "0x5d21dba00",
        "gas": "0x22ef1",
        "to": "0x7a250d5630B4cF539739dF2C5dAcb4c659F2488D",
        "value": "0xc46549a521b13d8",
        "input": "0x7ff36ab50000000000000000000000000000000000000000000066ab5a608bd00a23f2fe000000000000000000000000000000000000000000000000000000000000008000000000000000000000000048c04ed5691981c42154c6167398f95e8f38a7ff00000000000000000000000000000000000000000000000000000000632ceac70000000000000000000000000000000000000000000000000000000000000002000000000000000000000000c02aaa39b223fe8d0a0e5c4f27ead9083c756cc20000000000000000000000006c6ee5e31d828de241282b9606c8e98ea48526e2",
    }))
    .unwrap()
    .build()
    .unwrap();
    let summary = tx.summary();
    assert_eq!(summary.selector.as_deref(), Some("0x7ff36ab5"));
    let rs = rs_of(
        "c9077369501641a92ef7399ff81c21639ed4fd8fc69cb793cfa1dbfab342e10a",
        "615facb2f1bcf3274a354cfe384a38d0cc008a11c2dd23a69111bc6930ba27a8",
    );
    // v = 0x25 = 37 = 1 * 2 + 35 + 0.
    assert_eq!(
        hex::encode(recover(&tx.signing_hash(), &rs, 0)),
        "a12e1462d0ced572f396f58b6e2d03894cd7c8a4"
    );
    let signed = tx.into_signed(&rs, 0).unwrap();
    assert_eq!(
        hex::encode(signed.hash),
        "280cde7cdefe4b188750e76c888f13bd05ce9a4d7767730feefe8a0e50ca6fc4"
    );
    assert!(hex::encode(&signed.raw).starts_with("f9015482078b8505d21dba00"));
    assert!(hex::encode(&signed.raw).ends_with("25a0c9077369501641a92ef7399ff81c21639ed4fd8fc69cb793cfa1dbfab342e10aa0615facb2f1bcf3274a354cfe384a38d0cc008a11c2dd23a69111bc6930ba27a8"));
}

/// Mainnet EIP-1559 transaction
/// 0xce4dc6d7a7549a98ee3b071b67e970879ff51b5b95d1c340bacd80fa1e1aab31.
#[test]
fn mainnet_eip1559_transaction() {
    let tx = parse_request(&json!({
        "chainId": 1,
        "nonce": "2",
        "maxPriorityFeePerGas": "0x3b9aca00",
        "maxFeePerGas": "0x29e7822d6",
        "gasLimit": "0x98f0",
        "to": "0xd9e1459a7a482635700cbc20bbaf52d495ab9c96",
        "value": "0x0",
        "data": "0x1b55ba3a",
        "accessList": [],
    }))
    .unwrap()
    .build()
    .unwrap();
    assert_eq!(tx.tx_type(), 2);
    let rs = rs_of(
        "c199674fcb29f353693dd779c017823b954b3c69dffa3cd6b2a6ff7888798039",
        "28ca912de909e7e6cdef9cdcaf24c54dd8c1032946dfa1d85c206b32a9064fe8",
    );
    assert_eq!(
        hex::encode(recover(&tx.signing_hash(), &rs, 0)),
        "001e2b7de757ba469a57bf6b23d982458a07efce"
    );
    let signed = tx.into_signed(&rs, 0).unwrap();
    assert_eq!(
        hex::encode(&signed.raw),
        "02f86f0102843b9aca0085029e7822d68298f094d9e1459a7a482635700cbc20bbaf52d495ab9c9680841b55ba3ac080a0c199674fcb29f353693dd779c017823b954b3c69dffa3cd6b2a6ff7888798039a028ca912de909e7e6cdef9cdcaf24c54dd8c1032946dfa1d85c206b32a9064fe8"
    );
    assert_eq!(
        hex::encode(signed.hash),
        "ce4dc6d7a7549a98ee3b071b67e970879ff51b5b95d1c340bacd80fa1e1aab31"
    );
}

/// Mainnet EIP-1559 transaction
/// 0x0ec0b6a2df4d87424e5f6ad2a654e27aaeb7dac20ae9e8385cc09087ad532ee0 (an
/// ERC-721 setApprovalForAll), with its signing hash.
#[test]
fn mainnet_eip1559_set_approval() {
    let tx = parse_request(&json!({
        "type": "0x2",
        "chainId": "0x1",
        "nonce": "0x42",
        "gas": "0xad62",
        "to": "0x6069a6c32cf691f5982febae4faf8a6f3ab2f0f6",
        "value": "0x0",
        "input": "0xa22cb4650000000000000000000000005eee75727d804a2b13038928d36f8b188945a57a0000000000000000000000000000000000000000000000000000000000000000",
        "maxFeePerGas": "0x4a817c800",
        "maxPriorityFeePerGas": "0x3b9aca00",
    }))
    .unwrap()
    .build()
    .unwrap();
    let hash = tx.signing_hash();
    assert_eq!(
        hex::encode(hash),
        "0d5688ac3897124635b6cf1bc0e29d6dfebceebdc10a54d74f2ef8b56535b682"
    );
    let rs = rs_of(
        "840cfc572845f5786e702984c2a582528cad4b49b2a10b9db1be7fca90058565",
        "25e7109ceb98168d95b09b18bbf6b685130e0562f233877d492b94eee0c5b6d1",
    );
    assert_eq!(
        hex::encode(recover(&hash, &rs, 0)),
        "dd6b8b3dc6b7ad97db52f08a275ff4483e024cea"
    );
    let signed = tx.into_signed(&rs, 0).unwrap();
    assert_eq!(
        hex::encode(signed.hash),
        "0ec0b6a2df4d87424e5f6ad2a654e27aaeb7dac20ae9e8385cc09087ad532ee0"
    );
}

fn mail(with_domain_type: bool) -> serde_json::Value {
    let mut types = json!({
        "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
        "Mail": [
            {"name": "from", "type": "Person"},
            {"name": "to", "type": "Person"},
            {"name": "contents", "type": "string"},
        ],
    });
    if with_domain_type {
        types["EIP712Domain"] = json!([
            {"name": "name", "type": "string"},
            {"name": "version", "type": "string"},
            {"name": "chainId", "type": "uint256"},
            {"name": "verifyingContract", "type": "address"},
        ]);
    }
    json!({
        "types": types,
        "primaryType": "Mail",
        "domain": {
            "name": "Ether Mail",
            "version": "1",
            "chainId": 1,
            "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC",
        },
        "message": {
            "from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
            "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
            "contents": "Hello, Bob!",
        },
    })
}

/// EIP-712's example (assets/eip-712/Example.js): the Mail from Cow to Bob,
/// signed by keccak256("cow").
#[test]
fn eip712_mail_example() {
    const HASH: &str = "be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2";
    let with = typed_data(&mail(true)).unwrap();
    assert_eq!(hex::encode(with.hash), HASH);
    // eth_signTypedData_v4 callers may leave EIP712Domain out of `types`,
    // and ethers/viem send the whole object as a JSON string.
    assert_eq!(hex::encode(typed_data(&mail(false)).unwrap().hash), HASH);
    let as_string = serde_json::Value::String(mail(true).to_string());
    assert_eq!(hex::encode(typed_data(&as_string).unwrap().hash), HASH);

    let key = keccak(b"cow");
    assert_eq!(
        hex::encode(address_of_key(&key)),
        "cd2a3d9f938e13cd947ec05abc7fe734df8dd826"
    );
    let (rs, rec) = sign(&key, &with.hash);
    assert_eq!(rec, 1, "the example's v is 28");
    assert_eq!(
        hex::encode(&rs[..32]),
        "4355c47d63924e8a72e509b65029052eb6c299d53a04e167c5775fd466751c9d"
    );
    assert_eq!(
        hex::encode(&rs[32..]),
        "07299936d304c153f6443dfa05f40ff007d72911b6f72307f996231605b91562"
    );

    let summary = serde_json::to_value(&with.summary).unwrap();
    assert_eq!(
        summary,
        json!({
            "domain": {
                "name": "Ether Mail",
                "version": "1",
                "chainId": "1",
                "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC",
            },
            "primary_type": "Mail",
            "message": mail(true)["message"],
        })
    );
}

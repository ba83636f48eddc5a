//! Policy inside the signer, against the real `signet-enclave` binary, with
//! this process playing a compromised host (it mints its own tickets and
//! sends any frame it likes): every rule of a realistic policy refuses by
//! name what it does not allow, the boundary value signs (verified by an
//! independent implementation), windows reserve before signing and are cold
//! on a signer that has not seen them whole — after a restart and on a
//! second signer — until the owners sign `resume`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{generate, now_s, record, ticket, verify_independently, Checked, SignerProcess};
use rand_core::OsRng;
use serde_json::{json, Value};
use signet_authority::{
    payload_sha256, Authorization, OwnerKeyType, OwnerSecretKey, Request as AuthzRequest,
};
use signet_proto::client::{ClientError, SignerClient};
use signet_proto::message::{CheckRequest, CheckResult, GeneratedKey, ResumeRequest, SignRequest};
use signet_proto::{ErrorCode, KeyType, Request, Response};

const TOKEN: &str = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48";
const BOB: &str = "0x000000000000000000000000000000000000b0b0";
const EVE: &str = "0x000000000000000000000000000000000000e0e0";
/// 0.1 ETH.
const MAX_VALUE: u128 = 100_000_000_000_000_000;

/// Mainnet only; BOB and the token; 0.1 ETH a transaction; `transfer` and
/// `approve` only; at most 1,000 USDC a call; permits only on the token's
/// domain; 0.25 ETH and 5 signatures a day.
fn policy() -> Value {
    json!({
        "allow": ["message", "transaction", "typed_data"],
        "chain_ids": [1],
        "max_value_wei": MAX_VALUE.to_string(),
        "recipients": [BOB, TOKEN],
        "selectors": ["0xa9059cbb", "0x095ea7b3"],
        "tokens": [{"address": TOKEN, "max_amount": "1000000000"}],
        "typed_data_domains": [{"chain_id": 1, "verifying_contract": TOKEN}],
        "windows": [{"seconds": 86400, "max_value_wei": "250000000000000000", "max_count": 5}]
    })
}

static NONCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// An EIP-1559 transaction on `chain` to `to` sending `value` wei with
/// `data`, each with a fresh nonce (so each has its own digest).
fn tx(chain: u64, to: &str, value: u128, data: &str) -> Value {
    let nonce = NONCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    json!({"transaction": {
        "chainId": format!("{chain:#x}"), "nonce": format!("{nonce:#x}"), "to": to,
        "value": format!("{value:#x}"), "gas": "0x30000", "input": data,
        "maxFeePerGas": "0x3b9aca00", "maxPriorityFeePerGas": "0x1"
    }})
}

fn word(hex_digits: &str) -> String {
    format!("{hex_digits:0>64}")
}

/// ERC-20 `transfer(to, amount)` / `approve(spender, amount)` calldata.
fn erc20(selector: &str, who: &str, amount: &str) -> String {
    format!("0x{selector}{}{}", word(&who[2..]), word(amount))
}

fn digest_of(content: &Value) -> [u8; 32] {
    if let Some(t) = content.get("transaction") {
        signet_eth::parse_request(t)
            .unwrap()
            .build()
            .unwrap()
            .signing_hash()
    } else {
        signet_eth::typed_data(&content["typed_data"]).unwrap().hash
    }
}

fn request(id: &str, content: &Value) -> SignRequest {
    common::request(id, KeyType::Secp256k1, content, digest_of(content))
}

/// Signs `content` with a ticket only: the signature, or the refusal's code
/// and rule.
async fn sign(
    client: &SignerClient,
    req: SignRequest,
    public_key: &[u8],
) -> Result<(), (ErrorCode, Option<String>)> {
    let digest = req.digest.clone();
    match client.call(Request::Sign(req)).await {
        Ok(Response::Signed(s)) => {
            verify_independently(&[Checked {
                key_type: KeyType::Secp256k1,
                public_key: public_key.to_vec(),
                digest,
                message: None,
                signature: s.signature,
            }]);
            Ok(())
        }
        Err(ClientError::Signer { code, detail, .. }) => Err((code, detail)),
        other => panic!("{other:?}"),
    }
}

async fn check(client: &SignerClient, id: &str, content: &Value) -> CheckResult {
    match client
        .call(Request::Check(CheckRequest {
            key_id: id.into(),
            sealed: None,
            record: None,
            content: content.to_string(),
            approvals: Vec::new(),
        }))
        .await
        .unwrap()
    {
        Response::Checked(c) => c,
        other => panic!("{other:?}"),
    }
}

fn gated(rule: &str) -> Result<(), (ErrorCode, Option<String>)> {
    Err((ErrorCode::OwnerApprovalRequired, Some(rule.to_owned())))
}

fn typed(chain: u64, contract: &str, spender: &str, value: &str) -> Value {
    json!({"typed_data": {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}
            ],
            "Permit": [
                {"name": "owner", "type": "address"}, {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"}, {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"}
            ]
        },
        "primaryType": "Permit",
        "domain": {"name": "USD Coin", "version": "2", "chainId": chain, "verifyingContract": contract},
        "message": {"owner": BOB, "spender": spender, "value": value, "nonce": 0, "deadline": 1999999999}
    }})
}

#[tokio::test(flavor = "multi_thread")]
async fn a_compromised_host_exceeds_no_rule_of_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let signer = SignerProcess::start(dir.path());
    let (client, _) = signer.client().await;
    let ann = OwnerSecretKey::generate(OwnerKeyType::Secp256k1, &mut OsRng);
    let settings = json!({"owners": [ann.owner("ann").unwrap().to_value()], "policy": policy()});
    let g = generate(&client, "w", KeyType::Secp256k1, Some(settings.to_string())).await;
    let pk = g.key.public_key.clone();
    let s = |content: Value| request("w", &content);
    // In its first 600 s a signer takes only authorizations expiring after
    // its start + 600 s: not those made in its start's second.
    std::thread::sleep(std::time::Duration::from_millis(1100));

    // Each rule refuses by name what it does not allow…
    let transfer = "a9059cbb";
    let approve = "095ea7b3";
    let cases: Vec<(&str, Value, &str)> =
        vec![
        ("another chain", tx(10, BOB, 1, "0x"), "chain_ids"),
        ("one wei over", tx(1, BOB, MAX_VALUE + 1, "0x"), "max_value_wei"),
        ("another recipient", tx(1, EVE, 1, "0x"), "recipients"),
        (
            "tokens to another recipient",
            tx(1, TOKEN, 0, &erc20(transfer, EVE, "1")),
            "recipients",
        ),
        (
            "another function",
            tx(1, TOKEN, 0, &format!("0x39509351{}{}", word(&BOB[2..]), word("1"))),
            "selectors",
        ),
        (
            "one token unit over",
            tx(1, TOKEN, 0, &erc20(transfer, BOB, "3b9aca01")),
            "tokens[0].max_amount",
        ),
        (
            "an unlimited approval",
            tx(1, TOKEN, 0, &erc20(approve, BOB, &"f".repeat(64))),
            "tokens[0].max_amount",
        ),
        (
            "a malformed transfer",
            tx(1, TOKEN, 0, &format!("0x{transfer}{}", word(&BOB[2..]))),
            "recipients",
        ),
        (
            "a permit on another domain",
            typed(1, BOB, BOB, "1"),
            "typed_data_domains",
        ),
        (
            "a permit for another spender",
            typed(1, TOKEN, EVE, "1"),
            "recipients",
        ),
        (
            "an unlimited permit",
            typed(
                1,
                TOKEN,
                BOB,
                "115792089237316195423570985008687907853269984665640564039457584007913129639935",
            ),
            "tokens[0].max_amount",
        ),
    ];
    for (what, content, rule) in &cases {
        assert_eq!(
            sign(&client, s(content.clone()), &pk).await,
            gated(rule),
            "{what}"
        );
        let dry = check(&client, "w", content).await;
        assert_eq!(
            (dry.allowed, dry.needs_owners, dry.rule.as_deref()),
            (false, true, Some(*rule)),
            "{what}"
        );
    }
    // An opaque digest is never within a policy that does not list it.
    let digest = [9u8; 32];
    let mut opaque = request("w", &tx(1, BOB, 1, "0x"));
    opaque.content = Some(json!({"digest": hex::encode(digest)}).to_string());
    opaque.digest = digest.to_vec();
    opaque.ticket = ticket("w", &digest, KeyType::Secp256k1);
    assert_eq!(sign(&client, opaque, &pk).await, gated("allow"));

    // …and the boundary values sign.
    let dry = check(
        &client,
        "w",
        &tx(1, TOKEN, 0, &erc20(approve, BOB, "3b9aca00")),
    )
    .await;
    assert!(dry.allowed, "{dry:?}");
    let decoded: Value = serde_json::from_str(&dry.decoded).unwrap();
    assert_eq!(decoded["call"]["function"], "approve");
    assert_eq!(decoded["call"]["amount"], "1000000000");
    assert_eq!(decoded["readable"], true);
    sign(&client, s(tx(1, BOB, MAX_VALUE, "0x")), &pk)
        .await
        .unwrap();
    sign(
        &client,
        s(tx(1, TOKEN, 0, &erc20(transfer, BOB, "3b9aca00"))),
        &pk,
    )
    .await
    .unwrap();
    sign(&client, s(typed(1, TOKEN, BOB, "1000000000")), &pk)
        .await
        .unwrap();
    // The window: 0.1 ETH signed; 0.15 more is the limit, one wei more is not.
    assert_eq!(
        sign(&client, s(tx(1, BOB, 150_000_000_000_000_001, "0x")), &pk).await,
        gated("max_value_wei"),
        "per transaction first"
    );
    sign(&client, s(tx(1, BOB, MAX_VALUE, "0x")), &pk)
        .await
        .unwrap();
    assert_eq!(
        sign(&client, s(tx(1, BOB, 50_000_000_000_000_001, "0x")), &pk).await,
        gated("windows[0].max_value_wei")
    );
    // Five signatures a day: four so far.
    sign(&client, s(tx(1, BOB, 0, "0x")), &pk).await.unwrap();
    assert_eq!(
        sign(&client, s(tx(1, BOB, 0, "0x")), &pk).await,
        gated("windows[0].max_count")
    );

    // A refused request reserved nothing, and the owners still can: their
    // approval of that exact request signs it (and counts).
    let content = tx(1, EVE, 5, "0x");
    let mut with_owner = request("w", &content);
    let mut request_id = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut OsRng, &mut request_id);
    let authz = Authorization::new(
        &record(&g),
        AuthzRequest::Sign {
            payload_sha256: payload_sha256(&content).unwrap(),
            digest: digest_of(&content),
        },
        now_s() + 600,
        request_id,
    )
    .unwrap();
    with_owner.approvals = vec![ann.approve("ann", &authz)];
    sign(&client, with_owner, &pk).await.unwrap();
}

async fn resume(
    client: &SignerClient,
    g: &GeneratedKey,
    owner: &OwnerSecretKey,
) -> Result<(), (ErrorCode, Option<String>)> {
    let mut request_id = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut OsRng, &mut request_id);
    let authz =
        Authorization::new(&record(g), AuthzRequest::Resume, now_s() + 600, request_id).unwrap();
    match client
        .call(Request::Resume(ResumeRequest {
            key_id: g.key.key_id.clone(),
            sealed: g.sealed.clone(),
            record: g.record.clone(),
            approvals: vec![owner.approve("ann", &authz)],
        }))
        .await
    {
        Ok(Response::Resumed { .. }) => Ok(()),
        Err(ClientError::Signer { code, detail, .. }) => Err((code, detail)),
        other => panic!("{other:?}"),
    }
}

/// The same wallet's blob and record, as a host sends them to a signer that
/// does not hold the key.
fn loaded(g: &GeneratedKey, content: &Value) -> SignRequest {
    let mut req = request(&g.key.key_id, content);
    req.sealed.clone_from(&g.sealed);
    req.record.clone_from(&g.record);
    req
}

#[tokio::test(flavor = "multi_thread")]
async fn windows_are_cold_after_a_restart_and_on_a_second_signer_until_the_owners_resume() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = SignerProcess::start(dir.path());
    let (client, _) = first.client().await;
    let ann = OwnerSecretKey::generate(OwnerKeyType::Secp256k1, &mut OsRng);
    let settings = json!({"owners": [ann.owner("ann").unwrap().to_value()], "policy": policy()});
    let g = generate(&client, "w", KeyType::Secp256k1, Some(settings.to_string())).await;
    let pk = g.key.public_key.clone();
    // Generated here: this signer has seen everything the key ever signed.
    sign(&client, loaded(&g, &tx(1, BOB, 1, "0x")), &pk)
        .await
        .unwrap();

    // A second signer (the same sealing key, as a replica's) loads the
    // wallet: its window is cold, so no budget is gained there.
    let second_dir = tempfile::tempdir().unwrap();
    copy_dir(&dir.path().join("dev"), &second_dir.path().join("dev"));
    let second = SignerProcess::start(second_dir.path());
    let (other, _) = second.client().await;
    assert_eq!(
        sign(&other, loaded(&g, &tx(1, BOB, 1, "0x")), &pk).await,
        gated("windows[0].cold")
    );
    let dry = match other
        .call(Request::Check(CheckRequest {
            key_id: "w".into(),
            sealed: g.sealed.clone(),
            record: g.record.clone(),
            content: tx(1, BOB, 1, "0x").to_string(),
            approvals: Vec::new(),
        }))
        .await
        .unwrap()
    {
        Response::Checked(c) => c,
        other => panic!("{other:?}"),
    };
    assert_eq!(dry.rule.as_deref(), Some("windows[0].cold"));

    // A restart: cold as well.
    drop(client);
    first.kill();
    drop(first);
    let first = SignerProcess::start(dir.path());
    let (client, _) = first.client().await;
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(
        sign(&client, loaded(&g, &tx(1, BOB, 1, "0x")), &pk).await,
        gated("windows[0].cold")
    );
    // The owners' `resume` lifts it on the signer that took it, only there.
    resume(&client, &g, &ann).await.unwrap();
    sign(&client, loaded(&g, &tx(1, BOB, 1, "0x")), &pk)
        .await
        .unwrap();
    assert_eq!(
        sign(&other, loaded(&g, &tx(1, BOB, 1, "0x")), &pk).await,
        gated("windows[0].cold")
    );
    // Someone else's signature is no `resume`.
    let eve = OwnerSecretKey::generate(OwnerKeyType::Secp256k1, &mut OsRng);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(
        resume(&other, &g, &eve).await.unwrap_err().0,
        ErrorCode::ApprovalInvalid
    );
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_is_refused_naming_the_field_when_a_wallet_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let signer = SignerProcess::start(dir.path());
    let (client, _) = signer.client().await;
    for (policy, field) in [
        (
            json!({"allow": [], "windows": [{"seconds": 0, "max_count": 1}]}),
            "policy.windows[0].seconds",
        ),
        (
            json!({"allow": [], "recipients": ["0x1234"]}),
            "policy.recipients[0]",
        ),
        (json!({"allow": [], "limits": {}}), "policy.limits"),
    ] {
        match client
            .call(Request::Generate {
                key_id: "bad".into(),
                key_type: KeyType::Secp256k1,
                settings: Some(json!({"policy": policy}).to_string()),
            })
            .await
        {
            Err(ClientError::Signer { code, message, .. }) => {
                assert_eq!(code, ErrorCode::BadRequest);
                assert!(message.contains(field), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
}

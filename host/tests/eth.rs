//! Ethereum: REST `transaction` / `typed_data` and the JSON-RPC endpoint
//! `/v1/eth`, against a real anvil node, with signatures checked by an
//! independent implementation (eth-account) and the unmodified clients
//! (ethers, viem, web3.py, cast: `scripts/eth/run-walks.sh`).
//!
//! The tools come from `scripts/eth-deps.sh` (SIGNET_ANVIL, SIGNET_CAST,
//! SIGNET_ETH_PYTHON); `scripts/test.sh` sources it and sets
//! SIGNET_REQUIRE_ETH=1, so there these tests cannot skip.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{call, code, create_client, eventually, free_port, metric, DevHost};
use serde_json::{json, Value};
use signet_proto::audit::{AuditEvent, ChainVerifier};

/// anvil's account #0 (funds the wallets).
const FUNDER_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const FUNDER: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

struct Tools {
    anvil: PathBuf,
    cast: PathBuf,
    python: PathBuf,
}

fn tools() -> Option<Tools> {
    let get = |k: &str| std::env::var_os(k).map(PathBuf::from);
    match (
        get("SIGNET_ANVIL"),
        get("SIGNET_CAST"),
        get("SIGNET_ETH_PYTHON"),
    ) {
        (Some(anvil), Some(cast), Some(python)) => Some(Tools {
            anvil,
            cast,
            python,
        }),
        _ => {
            assert!(
                std::env::var("SIGNET_REQUIRE_ETH").as_deref() != Ok("1"),
                "SIGNET_REQUIRE_ETH=1 but SIGNET_ANVIL/SIGNET_CAST/SIGNET_ETH_PYTHON are not set (source scripts/eth-deps.sh)"
            );
            eprintln!("SKIPPED: the Ethereum tools are not installed (source scripts/eth-deps.sh)");
            None
        }
    }
}

struct Anvil {
    child: Child,
    url: String,
}

impl Anvil {
    fn start(tools: &Tools, dir: &Path) -> Self {
        let port = free_port();
        let log = std::fs::File::create(dir.join("anvil.log")).unwrap();
        let child = Command::new(&tools.anvil)
            .args(["--port", &port.to_string(), "--host", "127.0.0.1"])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let anvil = Self { child, url };
        assert!(
            eventually(Duration::from_secs(30), || anvil
                .rpc("eth_chainId", json!([]))
                .is_ok()),
            "anvil did not start"
        );
        anvil
    }

    fn rpc(&self, method: &str, params: Value) -> Result<Value, String> {
        let v: Value = ureq::post(&self.url)
            .send_json(json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
            .map_err(|e| e.to_string())?
            .into_json()
            .map_err(|e| e.to_string())?;
        match v.get("error") {
            Some(e) => Err(e.to_string()),
            None => Ok(v["result"].clone()),
        }
    }

    fn fund(&self, tools: &Tools, to: &str) {
        let out = Command::new(&tools.cast)
            .args([
                "send",
                "--rpc-url",
                &self.url,
                "--private-key",
                FUNDER_KEY,
                to,
                "--value",
                "10ether",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Submits raw bytes; returns the receipt once mined.
    fn submit(&self, raw: &str) -> Value {
        let hash = self.rpc("eth_sendRawTransaction", json!([raw])).unwrap();
        let mut receipt = Value::Null;
        assert!(eventually(Duration::from_secs(20), || {
            receipt = self
                .rpc("eth_getTransactionReceipt", json!([hash]))
                .unwrap_or(Value::Null);
            !receipt.is_null()
        }));
        receipt
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// eth-account (Python) recovers the senders of raw transactions and the
/// signers of typed data.
fn recover(tools: &Tools, raw: &[&str], typed: &[(&Value, &str)]) -> (Vec<String>, Vec<String>) {
    let script = r#"
import json, sys
from eth_account import Account
from eth_account.messages import encode_typed_data
req = json.load(sys.stdin)
print(json.dumps({
  "tx": [Account.recover_transaction(r) for r in req["raw"]],
  "typed": [Account.recover_message(encode_typed_data(full_message=t), signature=s) for t, s in req["typed"]],
}))
"#;
    let mut child = Command::new(&tools.python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input =
        json!({"raw": raw, "typed": typed.iter().map(|(t, s)| json!([t, s])).collect::<Vec<_>>()});
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = |k: &str| {
        v[k].as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    (list("tx"), list("typed"))
}

fn mail() -> Value {
    json!({
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}
            ],
            "Person": [{"name": "name", "type": "string"}, {"name": "wallets", "type": "address[]"}],
            "Mail": [{"name": "from", "type": "Person"}, {"name": "to", "type": "Person[]"},
                     {"name": "contents", "type": "string"}, {"name": "amount", "type": "uint8"}]
        },
        "primaryType": "Mail",
        "domain": {"name": "Ether Mail", "version": "1", "chainId": 31337,
                   "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},
        "message": {
            "from": {"name": "Cow", "wallets": ["0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"]},
            "to": [{"name": "Bob", "wallets": ["0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"]}],
            "contents": "Hello, Bob!",
            "amount": 7
        }
    })
}

fn rpc(url: &str, token: &str, body: &Value) -> Value {
    let (s, v) = call(url, Some(token), "POST", "/v1/eth", Some(body.clone()));
    assert_eq!(s, 200, "{v}");
    v
}

fn eth_call(url: &str, token: &str, method: &str, params: Value) -> Value {
    rpc(
        url,
        token,
        &json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}),
    )
}

#[test]
fn rest_transactions_and_typed_data_are_signed_decoded_and_audited() {
    let Some(tools) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let anvil = Anvil::start(&tools, dir.path());
    let host = DevHost::start(&dir.path().join("host"));
    let url = host.url();
    let token = create_client(
        url,
        &host.admin_token(),
        "acme",
        &["wallets:read", "wallets:write", "sign", "audit:read"],
    );
    let new_wallet = |kt: &str| {
        let (s, w) = call(
            url,
            Some(&token),
            "POST",
            "/v1/wallets",
            Some(json!({"key_type": kt})),
        );
        assert_eq!(s, 201, "{w}");
        w
    };
    let w = new_wallet("secp256k1");
    let id = w["id"].as_str().unwrap().to_owned();
    let address = w["address"].as_str().unwrap().to_owned();
    anvil.fund(&tools, &address);
    let sign = |body: Value| {
        call(
            url,
            Some(&token),
            "POST",
            &format!("/v1/wallets/{id}/sign"),
            Some(body),
        )
    };

    // EIP-1559, legacy (EIP-155) and EIP-2930, then a contract creation:
    // each signed, recovered to the wallet by eth-account, mined by anvil.
    let fee = json!({"maxFeePerGas": "0x77359400", "maxPriorityFeePerGas": "0x3b9aca00"});
    let txs = [
        json!({"chainId": "0x7a69", "nonce": "0x0", "to": FUNDER, "value": "0xde0b6b3a7640000", "gas": "0x5208", "maxFeePerGas": fee["maxFeePerGas"], "maxPriorityFeePerGas": fee["maxPriorityFeePerGas"]}),
        json!({"type": "0x0", "chainId": 31337, "nonce": 1, "to": FUNDER, "value": "1000", "gas": 21000, "gasPrice": "0x77359400"}),
        json!({"type": "0x1", "chainId": "0x7a69", "nonce": "0x2", "to": FUNDER, "value": "0x1", "gas": "0x7530", "gasPrice": "0x77359400", "accessList": [{"address": FUNDER, "storageKeys": []}]}),
        json!({"chainId": "0x7a69", "nonce": "0x3", "to": null, "gas": "0x30d40", "input": "0x602a60005260206000f3", "maxFeePerGas": "0x77359400", "maxPriorityFeePerGas": "0x1"}),
    ];
    let mut raws = Vec::new();
    let mut hashes = Vec::new();
    for tx in &txs {
        let (s, v) = sign(json!({"transaction": tx}));
        assert_eq!(s, 200, "{tx}: {v}");
        let raw = v["raw_transaction"].as_str().unwrap().to_owned();
        let receipt = anvil.submit(&raw);
        assert_eq!(receipt["status"], "0x1", "{receipt}");
        assert!(receipt["from"]
            .as_str()
            .unwrap()
            .eq_ignore_ascii_case(&address));
        assert_eq!(receipt["transactionHash"], v["transaction_hash"]);
        raws.push(raw);
        hashes.push(v["transaction_hash"].clone());
    }
    let typed = mail();
    let (s, v) = sign(json!({"typed_data": typed}));
    assert_eq!(s, 200, "{v}");
    let sig = format!(
        "0x{}{:02x}",
        v["signature"].as_str().unwrap(),
        27 + v["recovery_id"].as_u64().unwrap()
    );
    let raw_refs: Vec<&str> = raws.iter().map(String::as_str).collect();
    let (senders, signers) = recover(&tools, &raw_refs, &[(&typed, &sig)]);
    for s in senders.iter().chain(&signers) {
        assert!(s.eq_ignore_ascii_case(&address), "{s} != {address}");
    }

    // A ticket from sign-intent carries the transaction: the intent shows it
    // decoded, and signing with the ticket returns the raw transaction.
    let tx = json!({"chainId": "0x7a69", "nonce": "0x4", "to": FUNDER, "value": "0x2", "gas": "0x5208", "gasPrice": "0x77359400"});
    let (s, intent) = call(
        url,
        Some(&token),
        "POST",
        &format!("/v1/wallets/{id}/sign-intent"),
        Some(json!({"transaction": tx})),
    );
    assert_eq!(s, 201, "{intent}");
    assert_eq!(
        intent["detail"]["transaction"]["type"], "legacy",
        "{intent}"
    );
    assert_eq!(intent["detail"]["transaction"]["value"], "2");
    let (s, v) = sign(json!({"ticket": intent["ticket"]}));
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        anvil.submit(v["raw_transaction"].as_str().unwrap())["status"],
        "0x1"
    );

    // Refused, each with its message, nothing signed.
    let p256 = new_wallet("p256");
    let refusals = [
        (
            json!({"transaction": {"chainId": 1, "nonce": 0, "to": FUNDER, "gas": 21000, "gasPrice": 1, "bogus": 1}}),
            "bogus",
        ),
        (
            json!({"transaction": {"nonce": 0, "to": FUNDER, "gas": 21000, "gasPrice": 1}}),
            "chainId",
        ),
        (
            json!({"transaction": {"chainId": 1, "nonce": "0x1ffffffffffffffff", "to": FUNDER, "gas": 21000, "gasPrice": 1}}),
            "nonce",
        ),
        (
            json!({"transaction": {"chainId": 1, "nonce": 0, "to": FUNDER, "gas": 21000, "gasPrice": 1, "maxFeePerGas": 2}}),
            "gasPrice",
        ),
        (
            json!({"transaction": {"chainId": 1, "nonce": 0, "from": FUNDER, "to": FUNDER, "gas": 21000, "gasPrice": 1}}),
            "from",
        ),
        (
            json!({"typed_data": {"types": {"A": [{"name": "x", "type": "uint8"}]}, "primaryType": "A", "domain": {}, "message": {"x": 300}}}),
            "uint8",
        ),
        (
            json!({"typed_data": {"types": {}, "primaryType": "Nope", "domain": {}, "message": {}}}),
            "Nope",
        ),
        (
            json!({"transaction": txs[0], "digest": "11".repeat(32)}),
            "one of",
        ),
        (
            json!({"transaction": txs[0], "typed_data": typed}),
            "not both",
        ),
    ];
    for (body, needle) in &refusals {
        let (s, v) = sign(body.clone());
        assert_eq!((s, code(&v)), (400, "bad_request"), "{body}: {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(needle),
            "{needle}: {v}"
        );
    }
    let (s, v) = call(
        url,
        Some(&token),
        "POST",
        &format!("/v1/wallets/{}/sign", p256["id"].as_str().unwrap()),
        Some(json!({"transaction": txs[0]})),
    );
    assert_eq!((s, code(&v)), (400, "bad_request"), "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("secp256k1"),
        "{v}"
    );

    // The audit log records the payment decoded, and its chain still holds.
    let (s, page) = call(
        url,
        Some(&host.admin_token()),
        "GET",
        "/v1/audit?limit=1000",
        None,
    );
    assert_eq!(s, 200);
    let events: Vec<AuditEvent> = serde_json::from_value(page["events"].clone()).unwrap();
    let mut chain = ChainVerifier::default();
    for e in &events {
        chain.push(e).unwrap();
    }
    let signed: Vec<&AuditEvent> = events
        .iter()
        .filter(|e| e.action == "sign" && e.outcome == "ok")
        .collect();
    assert_eq!(signed.len(), 6);
    let first = signed[0].detail.as_ref().unwrap();
    assert_eq!(first["transaction"]["type"], "eip1559");
    assert_eq!(first["transaction"]["chain_id"], 31337);
    assert_eq!(first["transaction"]["value"], "1000000000000000000");
    assert!(first["transaction"]["to"]
        .as_str()
        .unwrap()
        .eq_ignore_ascii_case(FUNDER));
    assert_eq!(first["transaction_hash"], hashes[0]);
    assert_eq!(
        signed[3].detail.as_ref().unwrap()["transaction"]["to"],
        Value::Null
    );
    assert_eq!(
        signed[4].detail.as_ref().unwrap()["typed_data"]["primary_type"],
        "Mail"
    );
    assert_eq!(
        signed[4].detail.as_ref().unwrap()["typed_data"]["domain"]["name"],
        "Ether Mail"
    );
    // A digest signature has no detail.
    let (s, _) = sign(json!({"digest": "22".repeat(32)}));
    assert_eq!(s, 200);
}

#[test]
fn json_rpc_serves_wallet_clients_and_refuses_what_it_must() {
    let Some(tools) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let anvil = Anvil::start(&tools, dir.path());
    let host = DevHost::command(&dir.path().join("host"))
        .env("ETH_RPC_UPSTREAM", &anvil.url)
        .start();
    let url = host.url();
    let admin = host.admin_token();
    let token = create_client(
        url,
        &admin,
        "acme",
        &["wallets:read", "wallets:write", "sign"],
    );
    let other = create_client(
        url,
        &admin,
        "globex",
        &["wallets:read", "wallets:write", "sign"],
    );
    let wallet_of = |t: &str| {
        let (s, w) = call(
            url,
            Some(t),
            "POST",
            "/v1/wallets",
            Some(json!({"key_type": "secp256k1"})),
        );
        assert_eq!(s, 201, "{w}");
        w["address"].as_str().unwrap().to_owned()
    };
    let address = wallet_of(&token);
    let foreign = wallet_of(&other);

    // Single, batch, notifications, and the JSON-RPC refusals.
    let v = eth_call(url, &token, "eth_accounts", json!([]));
    assert_eq!(v["result"], json!([address]), "{v}");
    assert_eq!(
        eth_call(url, &token, "eth_chainId", Value::Null)["result"],
        "0x7a69"
    );
    let batch = rpc(
        url,
        &token,
        &json!([
            {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"},
            {"jsonrpc": "2.0", "method": "eth_chainId"},
            {"jsonrpc": "2.0", "id": 2, "method": "eth_blockNumber", "params": []},
            {"jsonrpc": "1.0", "id": 3, "method": "eth_chainId"},
        ]),
    );
    let batch = batch.as_array().unwrap();
    assert_eq!(batch.len(), 3, "the notification gets no answer: {batch:?}");
    assert_eq!(batch[0]["result"], "0x7a69");
    assert!(batch[1]["result"].is_string());
    assert_eq!(batch[2]["error"]["code"], -32600);
    // Only notifications: nothing to answer.
    let (s, _) = call(
        url,
        Some(&token),
        "POST",
        "/v1/eth",
        Some(json!({"jsonrpc": "2.0", "method": "eth_chainId"})),
    );
    assert_eq!(s, 204);
    for (body, code) in [
        (json!([]), -32600),
        (
            json!({"jsonrpc": "2.0", "id": 1, "method": "anvil_setBalance", "params": [address, "0x1"]}),
            -32601,
        ),
        (
            json!({"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": ["0x00"]}),
            -32601,
        ),
        (
            json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": {"a": 1}}),
            -32602,
        ),
        (
            json!({"jsonrpc": "2.0", "id": 1, "method": "personal_sign", "params": ["0x68656c6c6f", foreign]}),
            -32000,
        ),
        (
            json!({"jsonrpc": "2.0", "id": 1, "method": "eth_sign", "params": [foreign, "0x68656c6c6f"]}),
            -32000,
        ),
        (
            json!({"jsonrpc": "2.0", "id": 1, "method": "eth_sendTransaction", "params": [{"from": foreign, "to": address, "value": "0x1"}]}),
            -32000,
        ),
        (
            json!({"jsonrpc": "2.0", "id": 1, "method": "eth_signTransaction", "params": [{"from": address, "to": foreign, "bogus": 1}]}),
            -32602,
        ),
        (
            json!({"jsonrpc": "2.0", "id": 1, "method": "eth_signTypedData_v4", "params": [address, {"types": {}, "primaryType": "X", "domain": {}, "message": {}}]}),
            -32602,
        ),
    ] {
        let v = rpc(url, &token, &body);
        assert_eq!(v["error"]["code"], code, "{body}: {v}");
        assert!(v.get("result").is_none(), "no signature: {v}");
    }
    let (s, v) = call(
        url,
        None,
        "POST",
        "/v1/eth",
        Some(json!({"jsonrpc": "2.0", "id": 1, "method": "eth_accounts"})),
    );
    assert_eq!(s, 401, "{v}");
    // Not JSON, and no Content-Type (as web3.py may send).
    let v: Value = ureq::post(&format!("{url}/v1/eth"))
        .set("Authorization", &format!("Bearer {token}"))
        .send_bytes(b"{not json")
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(v["error"]["code"], -32700, "{v}");

    // The unmodified clients, each with its own walk against anvil.
    let out = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/eth/run-walks.sh"))
        .env("SIGNET_ETH_URL", format!("{url}/v1/eth"))
        .env("SIGNET_ETH_TOKEN", &token)
        .env("SIGNET_ETH_ADDRESS", &address)
        .env("SIGNET_ETH_UPSTREAM", &anvil.url)
        .env("SIGNET_ETH_FUNDER_KEY", FUNDER_KEY)
        .env("SIGNET_ETH_FOREIGN_ADDRESS", &foreign)
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{text}");
    assert!(out.status.success(), "the client walks failed:\n{text}");
    assert!(text.contains("eth walks: 4 passed, 0 failed"), "{text}");
}

/// How many times anvil logged `method` (it logs every call it serves).
fn served(dir: &Path, method: &str) -> usize {
    std::fs::read_to_string(dir.join("anvil.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.trim() == method)
        .count()
}

/// Issue 23.4: `/v1/eth` forwarded read-only calls for any token (a client
/// with only `metrics:read` made the operator's node answer 201 requests
/// from 3 calls). Forwarding needs `sign` or `wallets:read`; each forwarded
/// call of a batch counts against the caller's limit.
#[test]
fn forwarding_to_the_node_needs_a_wallet_scope_and_counts_against_the_limit() {
    let Some(tools) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let anvil = Anvil::start(&tools, dir.path());
    let host = DevHost::command(&dir.path().join("host"))
        .env("ETH_RPC_UPSTREAM", &anvil.url)
        .env("RATE_LIMIT_PER_USER", "5")
        .env("RATE_LIMIT_WINDOW_MS", "86400000")
        .start();
    let url = host.url();
    let admin = host.admin_token();
    let scraper = create_client(url, &admin, "scraper", &["metrics:read"]);
    let reader = create_client(url, &admin, "reader", &["wallets:read"]);
    let before = served(dir.path(), "eth_blockNumber");

    let batch: Vec<Value> = (0..3)
        .map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "eth_blockNumber", "params": []}))
        .collect();
    let v = rpc(url, &scraper, &json!(batch));
    for answer in v.as_array().unwrap() {
        assert_eq!(answer["error"]["data"]["code"], "scope_denied", "{v}");
        assert!(answer.get("result").is_none(), "{v}");
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        served(dir.path(), "eth_blockNumber"),
        before,
        "nothing reached the node"
    );
    common::assert_audited(url, &admin, "SCOPE_DENY for forwarding", |e| {
        e.action == "SCOPE_DENY" && e.target == "/v1/eth" && e.outcome == "denied:wallets:read"
    });

    // With wallets:read it forwards; a batch of 8 runs what the limit (5,
    // the request included) leaves and refuses the rest.
    let batch: Vec<Value> = (0..8)
        .map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "eth_blockNumber", "params": []}))
        .collect();
    let v = rpc(url, &reader, &json!(batch));
    let answers = v.as_array().unwrap();
    let ok = answers.iter().filter(|a| a.get("result").is_some()).count();
    let limited = answers
        .iter()
        .filter(|a| a["error"]["data"]["code"] == "rate_limited")
        .count();
    assert_eq!((ok, limited), (5, 3), "{v}");
    assert!(eventually(Duration::from_secs(5), || served(
        dir.path(),
        "eth_blockNumber"
    ) == before + 5));
}

/// A node that answers its first connections with `answers` in turn (a
/// status line and a body, `Connection: close`), then stops listening; its
/// URL, and its thread (joined: nobody listens any more).
fn canned_node(
    answers: Vec<(&'static str, &'static str)>,
) -> (String, std::thread::JoinHandle<()>) {
    use std::io::{BufRead as _, BufReader, Read as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let node = std::thread::spawn(move || {
        for (status, body) in answers {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap();
                    }
                }
            }
            let mut request = vec![0; length];
            reader.read_exact(&mut request).unwrap();
            write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
        }
    });
    (url, node)
}

/// What `SignetEthUpstreamErrors` watches: a result is `ok`, the node's
/// JSON-RPC error is `refused` (its verdict on the call, not a failure of
/// the node), a 503 and a node nobody answers for are `error`.
#[test]
fn upstream_calls_are_counted_by_outcome_and_an_unreachable_node_is_an_error() {
    let (node, answering) = canned_node(vec![
        ("200 OK", r#"{"jsonrpc":"2.0","id":1,"result":"0x10"}"#),
        (
            "200 OK",
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"header not found"}}"#,
        ),
        ("503 Service Unavailable", r#"{"message":"overloaded"}"#),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let host = DevHost::command(&dir.path().join("host"))
        .env("ETH_RPC_UPSTREAM", &node)
        .start();
    let url = host.url();
    let reader = create_client(url, &host.admin_token(), "reader", &["wallets:read"]);
    let counted = |outcome: &str| {
        metric(
            url,
            &format!("signet_eth_upstream_requests_total{{outcome=\"{outcome}\"}}"),
        )
    };
    let block_number = || eth_call(url, &reader, "eth_blockNumber", json!([]));

    let v = block_number();
    assert_eq!(v["result"], "0x10", "{v}");
    assert_eq!(counted("ok"), 1.0);
    let v = block_number();
    assert_eq!(v["error"]["code"], -32000, "{v}");
    assert_eq!(counted("refused"), 1.0);
    assert_eq!(
        counted("error"),
        0.0,
        "the node's refusal is no upstream error"
    );
    let v = block_number();
    assert!(v.get("result").is_none(), "{v}");
    assert_eq!(counted("error"), 1.0, "a 503");
    answering.join().unwrap();
    let v = block_number();
    assert!(v.get("result").is_none(), "{v}");
    assert_eq!(counted("error"), 2.0, "nobody listening");
    assert_eq!(counted("ok"), 1.0);
}

/// `eth_sendTransaction` on a wallet with an owner and a policy, against
/// anvil: inside the policy it is signed by the signer on its own and mined;
/// outside it (another recipient, more value), the -32000 `owner approval
/// required` answer with the intent the owner approves.
#[test]
fn eth_send_transaction_inside_the_policy_is_mined_and_outside_asks_the_owners() {
    let Some(tools) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let anvil = Anvil::start(&tools, dir.path());
    let host = DevHost::command(&dir.path().join("host"))
        .env("ETH_RPC_UPSTREAM", &anvil.url)
        .start();
    let url = host.url();
    let token = create_client(
        url,
        &host.admin_token(),
        "acme",
        &["wallets:read", "wallets:write", "sign"],
    );
    let ann = signet_authority::OwnerSecretKey::generate(
        signet_authority::OwnerKeyType::Secp256k1,
        &mut rand_core::OsRng,
    );
    let (s, w) = call(
        url,
        Some(&token),
        "POST",
        "/v1/wallets",
        Some(json!({
            "key_type": "secp256k1",
            "owners": [ann.owner("ann").unwrap().to_value()],
            "policy": {"allow": ["transaction"], "chain_ids": [31337],
                       "recipients": [FUNDER], "max_value_wei": "1000000000000000"},
        })),
    );
    assert_eq!(s, 201, "{w}");
    let address = w["address"].as_str().unwrap().to_owned();
    anvil.fund(&tools, &address);
    let send = |to: &str, value: &str| {
        eth_call(
            url,
            &token,
            "eth_sendTransaction",
            json!([{"from": address, "to": to, "value": value}]),
        )
    };
    // Inside: 0.001 ETH back to the funder.
    let v = send(FUNDER, "0x38d7ea4c68000");
    let hash = v["result"].as_str().unwrap_or_else(|| panic!("{v}"));
    let mut receipt = Value::Null;
    assert!(eventually(Duration::from_secs(20), || {
        receipt = anvil
            .rpc("eth_getTransactionReceipt", json!([hash]))
            .unwrap_or(Value::Null);
        !receipt.is_null()
    }));
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    // Outside: one wei more, or another recipient.
    for (to, value) in [
        (FUNDER, "0x38d7ea4c68001"),
        ("0x000000000000000000000000000000000000dEaD", "0x1"),
    ] {
        let v = send(to, value);
        assert_eq!(v["error"]["code"], -32000, "{v}");
        assert_eq!(v["error"]["message"], "owner approval required", "{v}");
        assert!(v["error"]["data"]["intent_id"].is_string(), "{v}");
    }
}

//! `signet-bench`: drives a real `signet-host` (its own `signet-host dev` by
//! default) over keep-alive HTTP/1.1 connections, and reports throughput,
//! latency percentiles, errors by status, the server's CPU time and peak
//! memory, and the ratio to raw single-core k256 signing measured in the same
//! run. A sample of signatures is re-verified with k256, so a fast
//! wrong answer counts as an error.

mod bare;
mod http;
mod pkcs11;
mod server;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use clap::{Parser, ValueEnum};
use rand_core::RngCore as _;
use serde_json::{json, Value};

use crate::http::Conn;
use crate::server::{cpu_seconds, rss_kb, DevHost};

/// Load generator for Signet.
#[derive(Parser, Clone)]
#[command(name = "signet-bench", version)]
struct Args {
    /// Scenarios to run, in order.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Scenario::Sign, Scenario::BareSign, Scenario::IntentSign, Scenario::Keygen, Scenario::Attest, Scenario::Verify])]
    scenarios: Vec<Scenario>,
    /// Seconds per scenario.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Wallets to spread signing over.
    #[arg(long, default_value_t = 16)]
    wallets: usize,
    /// Target an existing host instead of starting `signet-host dev`.
    #[arg(long, requires = "token")]
    url: Option<String>,
    /// API token for --url.
    #[arg(long, env = "SIGNET_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Server process ids to measure CPU/RSS of, with --url.
    #[arg(long = "server-pid")]
    server_pids: Vec<u32>,
    /// Flags passed to the started `signet-host dev` (e.g. `--backend=pkcs11`).
    #[arg(long = "dev-arg", allow_hyphen_values = true)]
    dev_args: Vec<String>,
    /// Also run every scenario against a `signet-host dev` on PostgreSQL: a
    /// fresh database made (and dropped after) with `psql` on this server
    /// URL, e.g. postgres://postgres@127.0.0.1:5432/postgres. Prints both
    /// tables and the PostgreSQL/SQLite throughput ratios of the same run.
    #[arg(long, conflicts_with = "url")]
    postgres: Option<String>,
    /// One JSON object per scenario instead of the table.
    #[arg(long)]
    json: bool,
    /// Run the started host with the PKCS#11 backend on this module (PIN in
    /// PKCS11_PIN, token config e.g. SOFTHSM2_CONF from the environment), and
    /// measure raw `C_Sign` on the same token as the baseline.
    #[arg(long, requires = "pkcs11_token_label")]
    pkcs11_module: Option<std::path::PathBuf>,
    /// Token label, with --pkcs11-module.
    #[arg(long)]
    pkcs11_token_label: Option<String>,
    /// Internal: run as the bare reference signer (started by the bench itself).
    #[arg(long, hide = true)]
    serve_bare: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// Direct digest signing (the host mints and consumes the ticket).
    Sign,
    /// The same `sign` request against a bare reference signer the bench
    /// starts (axum, one bearer token, k256 in-process; no audit, tickets or
    /// separate signer): what the guarantees cost, as `sign ÷ bare-sign`.
    BareSign,
    /// The two-step flow: sign-intent, then sign with the ticket.
    IntentSign,
    /// Wallet creation, each with its attestation document.
    Keygen,
    /// A fresh, nonce-bound attestation document of the signer.
    Attest,
    /// Offline verification of a wallet attestation document (no server).
    Verify,
    /// `eth_signTransaction` over `/v1/eth` (an EIP-1559 transfer, decoded,
    /// hashed and assembled by the host): compare with `sign`.
    EthSignTx,
    /// One-request signing on wallets whose every signature needs their
    /// owner (a secp256k1 owner key held by the bench): each request
    /// carries a fresh authorization v1 and the owner's EIP-191 approval,
    /// verified by the signer. Compare with `sign`.
    OwnerSign,
    /// REST signing of an EIP-1559 transfer (decoded and hashed by host and
    /// signer) on wallets without a policy beyond `allow`: the baseline of
    /// `policy-sign`.
    TxSign,
    /// The same transaction on wallets with a realistic policy (chain,
    /// recipients, value, one window), evaluated in the signer: compare
    /// with `tx-sign`.
    PolicySign,
}

/// The realistic policy of `policy-sign`: the bench chain, one recipient, a
/// per-transaction value limit and a day's window (wide enough not to
/// refuse during a run).
fn bench_policy() -> Value {
    json!({
        "allow": ["transaction"],
        "chain_ids": [31337],
        "recipients": [BENCH_RECIPIENT],
        "max_value_wei": "1000000000000000000",
        "windows": [{"seconds": 86400, "max_value_wei": "1000000000000000000000000", "max_count": 1_000_000_000u64}],
    })
}

/// Where the transaction scenarios send.
const BENCH_RECIPIENT: &str = "0x00000000000000000000000000000000000000b0";

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Self::Sign => "sign",
            Self::BareSign => "bare-sign",
            Self::IntentSign => "intent-sign",
            Self::Keygen => "keygen",
            Self::Attest => "attest",
            Self::Verify => "verify",
            Self::EthSignTx => "eth-sign-tx",
            Self::OwnerSign => "owner-sign",
            Self::TxSign => "tx-sign",
            Self::PolicySign => "policy-sign",
        }
    }
}

/// One scenario's measurements, printed once the closing baseline is in.
struct Row {
    scenario: Scenario,
    ops: f64,
    wall: f64,
    server_cpu: f64,
    cpu_by_process: Vec<f64>,
    peak_kb: u64,
    tally: Tally,
}

/// What one worker saw.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    errors: BTreeMap<String, u64>,
    checked: u64,
}

impl Tally {
    fn error(&mut self, kind: impl Into<String>) {
        *self.errors.entry(kind.into()).or_default() += 1;
    }
}

struct Target {
    authority: String,
    token: String,
    pids: Vec<u32>,
    dev_root: Option<std::path::PathBuf>,
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand_core::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// Single-core raw libsecp256k1 `sign_ecdsa_recoverable` per second: what
/// the signer signs secp256k1 with (the ratios stay against k256).
fn raw_libsecp256k1_per_second(seconds: f64) -> f64 {
    let Ok(key) = secp256k1::SecretKey::from_slice(&[0x42; 32]) else {
        return 0.0;
    };
    let mut digest = [0u8; 32];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        digest[..8].copy_from_slice(&n.to_be_bytes());
        let message = secp256k1::Message::from_digest(digest);
        let _ = std::hint::black_box(secp256k1::SECP256K1.sign_ecdsa_recoverable(&message, &key));
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Single-core raw k256 `sign_prehash_recoverable` per second.
fn raw_k256_per_second(seconds: f64) -> f64 {
    let key = k256::ecdsa::SigningKey::from_slice(&[0x42; 32])
        .unwrap_or_else(|_| k256::ecdsa::SigningKey::random(&mut rand_core::OsRng));
    let mut digest = [0u8; 32];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        digest[..8].copy_from_slice(&n.to_be_bytes());
        let _ = std::hint::black_box(key.sign_prehash_recoverable(&digest));
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Checks a secp256k1 signature with k256 (not the signer's libsecp256k1).
fn check_signature(public_key: &[u8], digest_hex: &str, response: &Value) -> bool {
    let (Ok(digest), Some(sig)) = (
        hex::decode(digest_hex),
        response["signature"]
            .as_str()
            .and_then(|s| hex::decode(s).ok()),
    ) else {
        return false;
    };
    k256_verifies(public_key, &digest, &sig)
}

/// Whether `sig` (`r‖s`) by `public_key` (SEC1) verifies over the prehash
/// `digest` with k256.
fn k256_verifies(public_key: &[u8], digest: &[u8], sig: &[u8]) -> bool {
    use k256::ecdsa::signature::hazmat::PrehashVerifier as _;
    let (Ok(pk), Ok(sig)) = (
        k256::ecdsa::VerifyingKey::from_sec1_bytes(public_key),
        k256::ecdsa::Signature::from_slice(sig),
    ) else {
        return false;
    };
    digest.len() == 32 && pk.verify_prehash(digest, &sig).is_ok()
}

/// A wallet under load: id, SEC1 public key, EIP-55 address, and for
/// owner-gated wallets their record and the owner's key.
struct Wallet {
    id: String,
    public_key: Vec<u8>,
    address: String,
    owned: Option<(
        signet_authority::Record,
        Arc<signet_authority::OwnerSecretKey>,
    )>,
}

async fn prepare_wallets(
    target: &Target,
    n: usize,
    owner: Option<Arc<signet_authority::OwnerSecretKey>>,
    policy: Option<Value>,
) -> Result<Vec<Wallet>, String> {
    let mut conn = Conn::open(&target.authority, &target.token).await?;
    let mut wallets = Vec::new();
    let mut body = json!({"key_type": "secp256k1", "label": "bench"});
    if let Some(key) = &owner {
        let o = key.owner("bench").map_err(|e| e.to_string())?;
        body["owners"] = json!([o.to_value()]);
    }
    if let Some(p) = policy {
        body["policy"] = p;
    }
    for _ in 0..n {
        let (status, body) = conn
            .call("POST", "/v1/wallets", Some(body.to_string()))
            .await?;
        let v: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        if status != 201 {
            return Err(format!("creating a wallet: {status} {v}"));
        }
        let pk = v["public_key"]
            .as_str()
            .and_then(|p| hex::decode(p).ok())
            .ok_or("no public key")?;
        let owned = match &owner {
            Some(key) => {
                let text = v["record"]
                    .as_str()
                    .ok_or("an owned wallet has no record")?;
                let record = signet_authority::Record::parse(text).map_err(|e| e.to_string())?;
                Some((record, Arc::clone(key)))
            }
            None => None,
        };
        wallets.push(Wallet {
            id: v["id"].as_str().unwrap_or_default().to_owned(),
            public_key: pk,
            address: v["address"].as_str().unwrap_or_default().to_owned(),
            owned,
        });
    }
    Ok(wallets)
}

async fn worker(
    scenario: Scenario,
    target: Arc<Target>,
    wallets: Arc<Vec<Wallet>>,
    index: usize,
    deadline: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let mut conn = match Conn::open(&target.authority, &target.token).await {
        Ok(c) => c,
        Err(e) => {
            tally.error(format!("connect: {e}"));
            return tally;
        }
    };
    let mut n = 0usize;
    while Instant::now() < deadline {
        let wallet = &wallets[(index + n) % wallets.len().max(1)];
        let started = Instant::now();
        let outcome = one_op(scenario, &mut conn, wallet, n, &mut tally).await;
        match outcome {
            Ok(()) => tally
                .latencies_us
                .push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX)),
            Err(kind) => {
                tally.error(kind);
                // A broken connection is replaced.
                if let Ok(c) = Conn::open(&target.authority, &target.token).await {
                    conn = c;
                }
            }
        }
        n += 1;
    }
    tally
}

/// The one-request body of `owner-sign` for `digest` (hex) on an owned
/// wallet: the content with a fresh authorization v1 approved by its owner.
fn owner_approved(wallet: &Wallet, digest: &str) -> Result<Value, String> {
    let (record, key) = wallet.owned.as_ref().ok_or("not an owned wallet")?;
    let mut raw = [0u8; 32];
    hex::decode_to_slice(digest, &mut raw).map_err(|e| e.to_string())?;
    let content = json!({ "digest": digest });
    let mut request_id = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut request_id);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let authz = signet_authority::Authorization::fresh(
        record,
        signet_authority::Request::Sign {
            payload_sha256: signet_authority::payload_sha256(&content)
                .map_err(|e| e.to_string())?,
            digest: raw,
        },
        now,
        600,
        request_id,
    )
    .map_err(|e| e.to_string())?;
    let mut body = content;
    body["approvals"] = json!([key.approve("bench", &authz)]);
    Ok(body)
}

async fn one_op(
    scenario: Scenario,
    conn: &mut Conn,
    wallet: &Wallet,
    n: usize,
    tally: &mut Tally,
) -> Result<(), String> {
    let (pk, check) = (&wallet.public_key, n % 50 == 0);
    let wallet_id = &wallet.id;
    let expect = |status: u16, body: &[u8], want: u16| -> Result<Value, String> {
        if status != want {
            let code = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
                .unwrap_or_default();
            return Err(format!("{status} {code}"));
        }
        serde_json::from_slice(body).map_err(|_| format!("{status} unparsable body"))
    };
    match scenario {
        Scenario::Sign | Scenario::BareSign | Scenario::IntentSign | Scenario::OwnerSign => {
            let digest = random_hex(32);
            let digest_body = Some(format!(r#"{{"digest":"{digest}"}}"#));
            let sign_body = match scenario {
                Scenario::IntentSign => {
                    let (s, b) = conn
                        .call(
                            "POST",
                            &format!("/v1/wallets/{wallet_id}/sign-intent"),
                            digest_body,
                        )
                        .await
                        .map_err(|e| format!("io: {e}"))?;
                    let intent = expect(s, &b, 201)?;
                    let ticket = intent["ticket"].as_str().unwrap_or_default();
                    Some(format!(r#"{{"ticket":"{ticket}"}}"#))
                }
                Scenario::OwnerSign => Some(owner_approved(wallet, &digest)?.to_string()),
                _ => digest_body,
            };
            let (s, b) = conn
                .call("POST", &format!("/v1/wallets/{wallet_id}/sign"), sign_body)
                .await
                .map_err(|e| format!("io: {e}"))?;
            let v = expect(s, &b, 200)?;
            if check {
                tally.checked += 1;
                if !check_signature(pk, &digest, &v) {
                    return Err("wrong signature".into());
                }
            }
        }
        Scenario::Keygen => {
            let (s, b) = conn
                .call(
                    "POST",
                    "/v1/wallets",
                    Some(r#"{"key_type":"secp256k1"}"#.into()),
                )
                .await
                .map_err(|e| format!("io: {e}"))?;
            let v = expect(s, &b, 201)?;
            if v["attestation"]["document"]
                .as_str()
                .is_none_or(str::is_empty)
            {
                return Err("wallet without attestation".into());
            }
        }
        Scenario::Attest => {
            let nonce = random_hex(16);
            let (s, b) = conn
                .call("GET", &format!("/v1/attestation?nonce={nonce}"), None)
                .await
                .map_err(|e| format!("io: {e}"))?;
            let v = expect(s, &b, 200)?;
            if v["attestation"]["document"]
                .as_str()
                .is_none_or(str::is_empty)
            {
                return Err("no document".into());
            }
        }
        Scenario::TxSign | Scenario::PolicySign => {
            let tx = json!({
                "to": BENCH_RECIPIENT, "value": format!("{:#x}", n + 1), "nonce": format!("{n:#x}"),
                "gas": "0x5208", "maxFeePerGas": "0x3b9aca00", "maxPriorityFeePerGas": "0x1",
                "chainId": "0x7a69",
            });
            let body = json!({ "transaction": tx });
            let (s, b) = conn
                .call(
                    "POST",
                    &format!("/v1/wallets/{wallet_id}/sign"),
                    Some(body.to_string()),
                )
                .await
                .map_err(|e| format!("io: {e}"))?;
            let v = expect(s, &b, 200)?;
            if check {
                tally.checked += 1;
                let raw = v["raw_transaction"]
                    .as_str()
                    .and_then(|r| hex::decode(r.trim_start_matches("0x")).ok())
                    .ok_or_else(|| format!("{s} no raw transaction"))?;
                if !check_raw_transaction(pk, &raw) {
                    return Err("wrong signed transaction".into());
                }
            }
        }
        Scenario::EthSignTx => {
            let tx = json!({
                "from": wallet.address, "to": "0x00000000000000000000000000000000000000b0",
                "value": format!("{n:#x}"), "nonce": format!("{n:#x}"), "gas": "0x5208",
                "maxFeePerGas": "0x3b9aca00", "maxPriorityFeePerGas": "0x1", "chainId": "0x7a69",
            });
            let body =
                json!({"jsonrpc": "2.0", "id": n, "method": "eth_signTransaction", "params": [tx]});
            let (s, b) = conn
                .call("POST", "/v1/eth", Some(body.to_string()))
                .await
                .map_err(|e| format!("io: {e}"))?;
            let v: Value =
                serde_json::from_slice(&b).map_err(|_| format!("{s} unparsable body"))?;
            if let Some(code) = v["error"]["code"].as_i64() {
                return Err(format!("{s} json-rpc {code}"));
            }
            let raw = v["result"]
                .as_str()
                .and_then(|r| hex::decode(r.trim_start_matches("0x")).ok())
                .ok_or_else(|| format!("{s} no raw transaction"))?;
            if check {
                tally.checked += 1;
                if !check_raw_transaction(pk, &raw) {
                    return Err("wrong signed transaction".into());
                }
            }
        }
        Scenario::Verify => return Err("verify runs offline".into()),
    }
    Ok(())
}

/// Decodes a signed EIP-2718 transaction with alloy and checks its signature
/// over the transaction's own signing hash with k256.
fn check_raw_transaction(public_key: &[u8], raw: &[u8]) -> bool {
    use alloy_consensus::transaction::SignableTransaction as _;
    use alloy_eips::eip2718::Decodable2718 as _;
    let Ok(alloy_consensus::TxEnvelope::Eip1559(signed)) =
        alloy_consensus::TxEnvelope::decode_2718(&mut &raw[..])
    else {
        return false;
    };
    let digest = signed.tx().signature_hash();
    let sig = signed.signature();
    let mut rs = [0u8; 64];
    rs[..32].copy_from_slice(&sig.r().to_be_bytes::<32>());
    rs[32..].copy_from_slice(&sig.s().to_be_bytes::<32>());
    k256_verifies(public_key, &digest.0, &rs)
}

/// Offline verification throughput of one wallet document on `threads` threads.
fn run_verify(
    target: &Target,
    doc: &[u8],
    threads: usize,
    duration: Duration,
) -> Result<Tally, String> {
    let root = target
        .dev_root
        .as_ref()
        .ok_or("verify needs the dev root (started host)")?;
    let pem = std::fs::read_to_string(root).map_err(|e| e.to_string())?;
    let anchor = signet_attestation::TrustAnchor::from_pem(&pem).map_err(|e| e.to_string())?;
    let parsed = signet_attestation::inspect_unverified(doc).map_err(|e| e.to_string())?;
    let set = signet_attestation::PcrSet::new(parsed.pcrs.clone()).map_err(|e| e.to_string())?;
    let verifier =
        signet_attestation::Verifier::new(anchor, signet_attestation::PcrPolicy::exactly(set));
    let deadline = Instant::now() + duration;
    let tallies: Vec<Tally> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads.max(1))
            .map(|_| {
                let verifier = verifier.clone();
                scope.spawn(move || {
                    let mut t = Tally::default();
                    while Instant::now() < deadline {
                        let started = Instant::now();
                        match verifier.verify(doc) {
                            Ok(_) => t.latencies_us.push(
                                u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX),
                            ),
                            Err(e) => t.error(e.code()),
                        }
                    }
                    t
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    Ok(merge(tallies))
}

/// Prints `a ÷ b` from the same run: throughput, and per server CPU (the
/// inverse ratio of CPU per operation, which the load generator sharing
/// the machine does not distort).
fn compare(rows: &[Row], a: Scenario, b: Scenario, json: bool) {
    let (Some(ra), Some(rb)) = (pooled(rows, a), pooled(rows, b)) else {
        return;
    };
    let (ra, rb) = (&ra, &rb);
    let cpu_per_op = |r: &Row| (r.ops > 0.0).then(|| r.server_cpu * 1e6 / (r.ops * r.wall));
    let ops = (rb.ops > 0.0).then(|| ra.ops / rb.ops);
    let per_cpu = cpu_per_op(ra)
        .zip(cpu_per_op(rb))
        .filter(|(ca, _)| *ca > 0.0)
        .map(|(ca, cb)| cb / ca);
    let name = format!("{} / {}", a.name(), b.name());
    if json {
        println!(
            "{}",
            json!({"comparison": name, "ops_ratio": ops, "per_cpu_ratio": per_cpu,
                   "cpu_us_per_op": [cpu_per_op(ra), cpu_per_op(rb)]})
        );
    } else if let (Some(ops), Some(per_cpu)) = (ops, per_cpu) {
        println!(
            "{name} (same run) = {ops:.2} in ops/s, {per_cpu:.2} per server CPU ({:.0} vs {:.0} µs cpu/op)",
            cpu_per_op(ra).unwrap_or_default(),
            cpu_per_op(rb).unwrap_or_default()
        );
    }
}

/// Every run of `scenario` in this bench pooled into one row (operations
/// and CPU summed over their wall time), so that a scenario listed twice —
/// `a,b,b,a`, to even out drift on a shared machine — is compared as a
/// whole.
fn pooled(rows: &[Row], scenario: Scenario) -> Option<Row> {
    let runs: Vec<&Row> = rows.iter().filter(|r| r.scenario == scenario).collect();
    if runs.is_empty() {
        return None;
    }
    let wall: f64 = runs.iter().map(|r| r.wall).sum();
    let ops = runs.iter().map(|r| r.ops * r.wall).sum::<f64>() / wall;
    let processes = runs
        .iter()
        .map(|r| r.cpu_by_process.len())
        .min()
        .unwrap_or(0);
    Some(Row {
        scenario,
        ops,
        wall,
        server_cpu: runs.iter().map(|r| r.server_cpu).sum(),
        cpu_by_process: (0..processes)
            .map(|i| runs.iter().map(|r| r.cpu_by_process[i]).sum())
            .collect(),
        peak_kb: runs.iter().map(|r| r.peak_kb).max().unwrap_or(0),
        tally: Tally::default(),
    })
}

/// The signer's CPU per operation in `a` minus in `b` (the signer is the
/// second process): for `policy-sign` against `tx-sign`, what evaluating
/// the policy costs the signer.
fn signer_difference(rows: &[Row], a: Scenario, b: Scenario, json: bool) {
    let find = |s: Scenario| pooled(rows, s);
    let signer_us = |r: &Row| {
        (r.ops > 0.0)
            .then(|| r.cpu_by_process.get(1).map(|c| c * 1e6 / (r.ops * r.wall)))
            .flatten()
    };
    let (Some(ua), Some(ub)) = (
        find(a).as_ref().and_then(signer_us),
        find(b).as_ref().and_then(signer_us),
    ) else {
        return;
    };
    if json {
        println!(
            "{}",
            json!({"signer_cpu_us_per_op": {a.name(): ua, b.name(): ub}, "difference_us": ua - ub})
        );
    } else {
        println!(
            "signer µs cpu/op: {} {ua:.1}, {} {ub:.1}: {:.1} µs more per operation",
            a.name(),
            b.name(),
            ua - ub
        );
    }
}

fn merge(tallies: Vec<Tally>) -> Tally {
    let mut all = Tally::default();
    for t in tallies {
        all.latencies_us.extend(t.latencies_us);
        all.checked += t.checked;
        for (k, v) in t.errors {
            *all.errors.entry(k).or_default() += v;
        }
    }
    all
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i.min(sorted.len() - 1)]) / 1000.0
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if args.serve_bare {
        return match bare::serve() {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("signet-bench (bare reference signer): {e}");
                std::process::ExitCode::from(2)
            }
        };
    }
    match run(&args) {
        Ok(clean) if clean => std::process::ExitCode::SUCCESS,
        Ok(_) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("signet-bench: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

/// A fresh PostgreSQL database for one bench run, dropped when done.
struct BenchDatabase {
    server: String,
    name: String,
}

impl BenchDatabase {
    fn psql(server: &str, sql: &str) -> Result<(), String> {
        let out = std::process::Command::new("psql")
            .arg(server)
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
            .output()
            .map_err(|e| format!("psql: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("psql: {}", String::from_utf8_lossy(&out.stderr)))
        }
    }

    fn create(server: &str) -> Result<Self, String> {
        let name = format!("signet_bench_{}", std::process::id());
        Self::psql(server, &format!("DROP DATABASE IF EXISTS {name}"))?;
        Self::psql(server, &format!("CREATE DATABASE {name}"))?;
        Ok(Self {
            server: server.to_owned(),
            name,
        })
    }

    fn url(&self) -> String {
        let base = self
            .server
            .rsplit_once('/')
            .map_or(self.server.as_str(), |(b, _)| b);
        format!("{base}/{}", self.name)
    }
}

impl Drop for BenchDatabase {
    fn drop(&mut self) {
        let _ = Self::psql(
            &self.server,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

fn run(args: &Args) -> Result<bool, String> {
    let Some(server) = &args.postgres else {
        return run_once(args, &[], "").map(|(clean, _)| clean);
    };
    let (clean_sqlite, sqlite) = run_once(args, &[], "SQLite")?;
    let database = BenchDatabase::create(server)?;
    let (clean_pg, postgres) = run_once(
        args,
        &[("SIGNET_DATABASE_URL".to_owned(), database.url())],
        "PostgreSQL",
    )?;
    drop(database);
    for ((scenario, lite), (_, pg)) in sqlite.iter().zip(&postgres) {
        if args.json {
            println!(
                "{}",
                json!({"scenario": scenario.name(), "postgres_over_sqlite": pg / lite})
            );
        } else {
            println!(
                "{:<12} PostgreSQL/SQLite throughput, same run: {:.2} ({pg:.0}/s vs {lite:.0}/s)",
                scenario.name(),
                pg / lite
            );
        }
    }
    Ok(clean_sqlite && clean_pg)
}

/// Runs the scenarios against one target; returns whether no request
/// failed and each scenario's ops/s.
fn run_once(
    args: &Args,
    env: &[(String, String)],
    label: &str,
) -> Result<(bool, Vec<(Scenario, f64)>), String> {
    if !label.is_empty() && !args.json {
        println!("\n=== database: {label}");
    }
    let mut dev_args = args.dev_args.clone();
    if let (Some(module), Some(label)) = (&args.pkcs11_module, &args.pkcs11_token_label) {
        dev_args.extend([
            "--backend".into(),
            "pkcs11".into(),
            "--pkcs11-module".into(),
            module.display().to_string(),
            "--pkcs11-token-label".into(),
            label.clone(),
        ]);
    }
    let dev = match &args.url {
        Some(_) => None,
        None => Some(DevHost::start(&dev_args, env)?),
    };
    let target = Arc::new(match (&dev, &args.url) {
        (Some(d), _) => Target {
            authority: d.authority.clone(),
            token: d.token.clone(),
            pids: d.pids(),
            dev_root: Some(d.dev_root()),
        },
        (None, Some(url)) => Target {
            authority: url
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_owned(),
            token: args.token.clone().unwrap_or_default(),
            pids: args.server_pids.clone(),
            dev_root: None,
        },
        (None, None) => return Err("no target".into()),
    });
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let wallets = Arc::new(rt.block_on(prepare_wallets(&target, args.wallets, None, None))?);
    // Owner-gated wallets for owner-sign, with one owner key.
    let owned = if args.scenarios.contains(&Scenario::OwnerSign) {
        let key = Arc::new(signet_authority::OwnerSecretKey::generate(
            signet_authority::OwnerKeyType::Secp256k1,
            &mut rand_core::OsRng,
        ));
        let owned = rt.block_on(prepare_wallets(&target, args.wallets, Some(key), None))?;
        // A signer takes, in its first 600 s, only authorizations expiring
        // after its start + 600 s: never one made in its start second.
        std::thread::sleep(Duration::from_millis(1100));
        Some(Arc::new(owned))
    } else {
        None
    };
    // Wallets with a realistic policy for policy-sign.
    let policed = if args.scenarios.contains(&Scenario::PolicySign) {
        Some(Arc::new(rt.block_on(prepare_wallets(
            &target,
            args.wallets,
            None,
            Some(bench_policy()),
        ))?))
    } else {
        None
    };
    // The bare reference signer, in this run, with as many wallets.
    let bare = if args.scenarios.contains(&Scenario::BareSign) {
        let server = bare::BareServer::start()?;
        let target = Arc::new(Target {
            authority: server.authority.clone(),
            token: server.token.clone(),
            pids: vec![server.pid()],
            dev_root: None,
        });
        let wallets = Arc::new(rt.block_on(prepare_wallets(&target, args.wallets, None, None))?);
        Some((server, target, wallets))
    } else {
        None
    };
    // A wallet document for the offline scenario.
    let doc = rt.block_on(async {
        let mut c = Conn::open(&target.authority, &target.token).await?;
        let (_, b) = c
            .call("GET", &format!("/v1/wallets/{}", wallets[0].id), None)
            .await?;
        let v: Value = serde_json::from_slice(&b).map_err(|e| e.to_string())?;
        base64::engine::general_purpose::STANDARD
            .decode(v["attestation"]["document"].as_str().unwrap_or_default())
            .map_err(|e| e.to_string())
    })?;

    // The baselines, in this run, before the load starts (raw C_Sign also
    // after it: the machine is shared, and the mean of both brackets the load).
    let raw = raw_k256_per_second(2.0);
    let raw_libsecp = raw_libsecp256k1_per_second(2.0);
    let c_sign = |when: &str| -> Result<Option<pkcs11::RawCSign>, String> {
        let (Some(m), Some(l)) = (&args.pkcs11_module, &args.pkcs11_token_label) else {
            return Ok(None);
        };
        let r = pkcs11::raw_c_sign_per_second(m, l, cores, 3.0)?;
        if !args.json {
            println!(
                "raw PKCS#11 C_Sign (CKM_ECDSA, secp256k1) on the same token, {cores} threads, {when} the load: {:.0}/s, {:.0} µs CPU each",
                r.per_s, r.cpu_us_per_op
            );
        }
        Ok(Some(r))
    };
    let c_sign_before = c_sign("before")?;
    if !args.json {
        println!("signet-bench: {} connections, {} s per scenario, {} wallets; {cores} cores on this machine", args.connections, args.duration, args.wallets);
        println!("raw k256 sign_prehash_recoverable, one core: {raw:.0}/s (same run; the ratios' yardstick)");
        println!("raw libsecp256k1 sign_ecdsa_recoverable, one core: {raw_libsecp:.0}/s (same run; what the signer signs secp256k1 with)");
    }
    let mut rows = Vec::new();
    let mut clean = true;
    for scenario in &args.scenarios {
        let (target, wallets) = match (&bare, &owned, scenario) {
            (Some((_, t, w)), _, Scenario::BareSign) => (t, w),
            (_, Some(w), Scenario::OwnerSign) => (&target, w),
            (_, _, Scenario::PolicySign) => match &policed {
                Some(w) => (&target, w),
                None => (&target, &wallets),
            },
            _ => (&target, &wallets),
        };
        let cpu0: Vec<f64> = target.pids.iter().filter_map(|p| cpu_seconds(*p)).collect();
        let started = Instant::now();
        let duration = Duration::from_secs(args.duration);
        let mut tally = if *scenario == Scenario::Verify {
            run_verify(target, &doc, cores, duration)?
        } else {
            let deadline = Instant::now() + duration;
            let tallies = rt.block_on(async {
                let mut set = tokio::task::JoinSet::new();
                for i in 0..args.connections {
                    set.spawn(worker(
                        *scenario,
                        Arc::clone(target),
                        Arc::clone(wallets),
                        i,
                        deadline,
                    ));
                }
                let mut all = Vec::new();
                while let Some(t) = set.join_next().await {
                    if let Ok(t) = t {
                        all.push(t);
                    }
                }
                all
            });
            merge(tallies)
        };
        let wall = started.elapsed().as_secs_f64();
        let cpu1: Vec<f64> = target.pids.iter().filter_map(|p| cpu_seconds(*p)).collect();
        let cpu_by_process: Vec<f64> = cpu1.iter().zip(&cpu0).map(|(b, a)| b - a).collect();
        let server_cpu: f64 = cpu_by_process.iter().sum();
        let peak_kb: u64 = target
            .pids
            .iter()
            .filter_map(|p| rss_kb(*p))
            .map(|(_, hwm)| hwm)
            .sum();
        tally.latencies_us.sort_unstable();
        let errors: u64 = tally.errors.values().sum();
        clean &= errors == 0;
        rows.push(Row {
            scenario: *scenario,
            ops: tally.latencies_us.len() as f64 / wall,
            wall,
            server_cpu,
            cpu_by_process,
            peak_kb,
            tally,
        });
    }
    let c_sign_after = c_sign("after")?;
    let raw_c_sign = c_sign_before
        .zip(c_sign_after)
        .map(|(a, b)| (a.per_s + b.per_s) / 2.0);
    let raw_c_sign_cpu_us = c_sign_before
        .zip(c_sign_after)
        .map(|(a, b)| (a.cpu_us_per_op + b.cpu_us_per_op) / 2.0);
    if !args.json {
        println!(
            "\n{:<12} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7} {:>9} {:>9} {:>10} {:>7}",
            "scenario",
            "ops/s",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
            "errors",
            "srv cores",
            "µs cpu/op",
            "srv MB pk",
            "ratio"
        );
    }
    for row in &rows {
        let Row {
            scenario,
            ops,
            wall,
            server_cpu,
            cpu_by_process,
            peak_kb,
            tally,
        } = row;
        // Host first, then the signer (the order of `Target::pids`).
        let us_per_op: Vec<f64> = cpu_by_process
            .iter()
            .map(|c| {
                if *ops > 0.0 {
                    c * 1e6 / (ops * wall)
                } else {
                    0.0
                }
            })
            .collect();
        let server_cores = (!cpu_by_process.is_empty() && *scenario != Scenario::Verify)
            .then(|| server_cpu / wall);
        let cpu_us_per_op = server_cores
            .filter(|_| *ops > 0.0)
            .map(|_| server_cpu * 1e6 / (ops * wall));
        let ratio = match (scenario, raw_c_sign) {
            // With an HSM the baseline is the token's own C_Sign rate.
            (Scenario::Sign, Some(c_sign)) => Some(ops / c_sign),
            (Scenario::IntentSign, Some(_)) => None,
            (
                Scenario::Sign
                | Scenario::IntentSign
                | Scenario::EthSignTx
                | Scenario::OwnerSign
                | Scenario::TxSign
                | Scenario::PolicySign,
                None,
            )
            | (Scenario::BareSign, _) => server_cores.filter(|c| *c > 0.0).map(|c| ops / (raw * c)),
            _ => None,
        };
        let (p50, p90, p99, max) = (
            percentile(&tally.latencies_us, 0.5),
            percentile(&tally.latencies_us, 0.9),
            percentile(&tally.latencies_us, 0.99),
            percentile(&tally.latencies_us, 1.0),
        );
        let errors: u64 = tally.errors.values().sum();
        if args.json {
            println!(
                "{}",
                json!({
                    "scenario": scenario.name(), "ops_per_s": ops, "p50_ms": p50, "p90_ms": p90, "p99_ms": p99, "max_ms": max,
                    "errors": errors, "errors_by_kind": tally.errors, "signatures_checked": tally.checked,
                    "raw_k256_sign_per_s": raw, "raw_libsecp256k1_sign_per_s": raw_libsecp, "raw_pkcs11_c_sign_per_s": raw_c_sign,
                    "raw_pkcs11_c_sign_before_per_s": c_sign_before.map(|r| r.per_s),
                    "raw_pkcs11_c_sign_after_per_s": c_sign_after.map(|r| r.per_s),
                    "raw_pkcs11_c_sign_cpu_us": raw_c_sign_cpu_us,
                    "server_cores": server_cores, "server_cpu_s": server_cpu, "server_cpu_us_per_op": cpu_us_per_op, "cpu_us_per_op_by_process": us_per_op,
                    "server_peak_rss_mb": *peak_kb as f64 / 1024.0, "ratio": ratio, "connections": args.connections, "duration_s": wall,
                })
            );
        } else {
            println!(
                "{:<12} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7} {:>9} {:>9} {:>10.1} {:>7}",
                scenario.name(),
                ops,
                p50,
                p90,
                p99,
                max,
                errors,
                server_cores.map_or("-".into(), |c| format!("{c:.2}")),
                cpu_us_per_op.map_or("-".into(), |c| format!("{c:.0}")),
                *peak_kb as f64 / 1024.0,
                ratio.map_or("-".into(), |r| format!("{r:.2}")),
            );
            for (kind, n) in &tally.errors {
                println!("    error {kind}: {n}");
            }
        }
    }
    if !args.json {
        if let (Some(r), Some(cpu)) = (raw_c_sign, raw_c_sign_cpu_us) {
            println!("\nratio (sign) = ops/s / raw C_Sign/s on the same token (mean of before and after: {r:.0}/s, {cpu:.0} µs CPU each);");
            println!("µs cpu/op = host + signer CPU per operation (SoftHSM computes inside the signer); sampled signatures re-verified with k256");
        } else {
            println!("\nratio = ops/s / (raw k256 per core x server cores used); sampled signatures re-verified with k256");
        }
        let ops_of = |s: Scenario| rows.iter().find(|r| r.scenario == s).map(|r| r.ops);
        if let (Some(sign), Some(eth)) = (ops_of(Scenario::Sign), ops_of(Scenario::EthSignTx)) {
            if sign > 0.0 {
                println!("eth-sign-tx / sign (same run) = {:.2}; signed transactions decoded with alloy, signatures re-verified with k256", eth / sign);
            }
        }
    }
    compare(&rows, Scenario::IntentSign, Scenario::Sign, args.json);
    compare(&rows, Scenario::Sign, Scenario::BareSign, args.json);
    compare(&rows, Scenario::OwnerSign, Scenario::Sign, args.json);
    compare(&rows, Scenario::PolicySign, Scenario::TxSign, args.json);
    signer_difference(&rows, Scenario::PolicySign, Scenario::TxSign, args.json);
    drop(bare);
    drop(dev);
    Ok((clean, rows.iter().map(|r| (r.scenario, r.ops)).collect()))
}

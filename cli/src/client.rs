//! The API client commands: wallets, signing, offline signature
//! verification, and the audit chain check.

use std::io::Read as _;

use base64::Engine as _;
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use signet_proto::audit::{AuditEvent, ChainVerifier};
use signet_proto::digest::{eip191_hash, eth_address};

use crate::attest::PolicyArgs;
use crate::http::{CallFailed, Endpoint};
use crate::output::{table, Node};
use crate::Outcome;

/// `signet wallet …`
#[derive(Subcommand)]
pub(crate) enum WalletCommand {
    /// Create a wallet (key generated inside the signer); prints it as JSON:
    /// id, key_type, label, address, public_key first, the attestation document last.
    Create {
        /// secp256k1, p256 or ed25519.
        #[arg(long)]
        key_type: String,
        /// A label.
        #[arg(long)]
        label: Option<String>,
        /// An owner: ID=FILE.pub (from `signet owner keygen`); repeatable.
        #[arg(long = "owner", value_name = "ID=FILE.pub")]
        owners: Vec<String>,
        /// How many owners must approve what the policy does not allow.
        #[arg(long)]
        threshold: Option<u32>,
        /// The kinds signable without the owners, comma-separated (digest,
        /// message, transaction, typed_data), or `none`.
        #[arg(long, value_name = "KINDS")]
        allow: Option<String>,
    },
    /// List your tenant's wallets (all pages): a table (id, key type, label,
    /// address or public key, created), or JSON with --json.
    List {
        /// Print `{"wallets": [...]}` as JSON (for scripts) instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Show one wallet as JSON, identifying fields first and its creation
    /// attestation document last (`signet wallet show ID > wallet.json` is the
    /// input of `verify-signature --wallet`).
    Show {
        /// Wallet id.
        id: String,
    },
    /// Destroy a wallet: the key is zeroized in the signer and its sealed copy shredded.
    Destroy {
        /// Wallet id.
        id: String,
    },
    /// Change a wallet's record (owners, threshold, policy): applied at once
    /// when the signer allows it, else proposed to the owners — prints the
    /// proposal (its `proposal_id` and the authorization each owner approves
    /// with `signet approve PROPOSAL --wallet ID`).
    Change {
        /// Wallet id.
        id: String,
        /// The new owners: ID=FILE.pub (from `signet owner keygen`);
        /// repeatable (absent: unchanged).
        #[arg(long = "owner", value_name = "ID=FILE.pub")]
        owners: Vec<String>,
        /// The new threshold (absent: unchanged).
        #[arg(long)]
        threshold: Option<u32>,
        /// The new policy as JSON, or @FILE (absent: unchanged; docs/policy.md).
        #[arg(long, value_name = "JSON|@FILE")]
        policy: Option<String>,
    },
    /// Offline: check a wallet's attestation (root, PCRs, the key and its
    /// record bound), then print its owners, threshold and policy plainly.
    Verify {
        /// The wallet as JSON (`signet wallet show ID > wallet.json`).
        wallet: String,
        #[command(flatten)]
        policy: PolicyArgs,
    },
}

/// What to sign or check: exactly one of these.
#[derive(Args, Clone)]
#[group(required = true, multiple = false)]
pub(crate) struct Data {
    /// A 32-byte prehash, hex (ECDSA wallets).
    #[arg(long)]
    digest: Option<String>,
    /// A text message: EIP-191 `personal_sign` for ECDSA wallets (`0x…` is
    /// bytes), the UTF-8 bytes themselves for ed25519.
    #[arg(long)]
    message: Option<String>,
    /// A file: its SHA-256 is the digest for ECDSA wallets; its bytes are the
    /// message for ed25519 (at most 64 KiB). `-` reads stdin.
    #[arg(long)]
    file: Option<String>,
}

/// The API body for `data` and a wallet of `key_type`, the 32-byte digest,
/// and (Ed25519) the message.
type SignBody = (Value, Vec<u8>, Option<Vec<u8>>);

fn sign_body(key_type: &str, data: &Data) -> Result<SignBody, String> {
    let ed = key_type == "ed25519";
    if let Some(d) = &data.digest {
        if ed {
            return Err("ed25519 wallets sign messages: use --message or --file".into());
        }
        let bytes = hex::decode(d.trim_start_matches("0x"))
            .map_err(|_| "--digest is not hex".to_owned())?;
        if bytes.len() != 32 {
            return Err("--digest must be 32 bytes".into());
        }
        return Ok((json!({"digest": hex::encode(&bytes)}), bytes, None));
    }
    let bytes = match (&data.message, &data.file) {
        (Some(m), _) if !ed => {
            let msg = match m.strip_prefix("0x") {
                Some(h) => hex::decode(h)
                    .map_err(|_| "--message starts with 0x but is not hex".to_owned())?,
                None => m.as_bytes().to_vec(),
            };
            return Ok((
                json!({"message": m, "encoding": "eip191"}),
                eip191_hash(&msg).to_vec(),
                None,
            ));
        }
        (Some(m), _) => m.as_bytes().to_vec(),
        (None, Some(path)) => read_file(path)?,
        (None, None) => return Err("give --digest, --message or --file".into()),
    };
    if ed {
        let body = json!({"message": base64::engine::general_purpose::STANDARD.encode(&bytes), "encoding": "raw"});
        Ok((body, Sha256::digest(&bytes).to_vec(), Some(bytes)))
    } else {
        let digest = Sha256::digest(&bytes).to_vec();
        Ok((json!({"digest": hex::encode(&digest)}), digest, None))
    }
}

fn read_file(path: &str) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    let limit = 64 * 1024 + 1;
    let r = if path == "-" {
        std::io::stdin().take(limit).read_to_end(&mut buf)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(limit).read_to_end(&mut buf))
    };
    r.map_err(|e| format!("cannot read {path}: {e}"))?;
    if buf.len() as u64 >= limit {
        return Err(format!(
            "{path} is over 64 KiB; for ECDSA sign its hash with --digest"
        ));
    }
    Ok(buf)
}

fn print(v: &Value) {
    out!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn failed(f: CallFailed) -> Outcome {
    eprintln!("signet: {}", f.message);
    if f.usage {
        Outcome::Usage
    } else {
        Outcome::Invalid
    }
}

/// The fields of a wallet that say which it is, printed first.
const WALLET_FIRST: &[&str] = &[
    "id",
    "key_type",
    "label",
    "address",
    "public_key",
    "created_at",
];

/// A wallet as JSON for people: identifying fields first, the 3 KB
/// attestation document last (the same JSON, reordered).
fn print_wallet(v: Value) {
    out!(
        "{}",
        Node::ordered(v, WALLET_FIRST, &["attestation"]).pretty()
    );
}

/// `wallet list`'s table: one wallet per line.
fn print_wallet_table(list: &Value) {
    let rows: Vec<Vec<String>> = list["wallets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| {
            let s = |k: &str| w[k].as_str().unwrap_or("-").to_owned();
            let key = match w["address"].as_str() {
                Some(address) => address.to_owned(),
                None => s("public_key"),
            };
            vec![s("id"), s("key_type"), s("label"), key, s("created_at")]
        })
        .collect();
    if rows.is_empty() {
        eprintln!(
            "no wallets (create one: signet wallet create --key-type secp256k1|p256|ed25519)"
        );
        return;
    }
    let header = ["ID", "KEY TYPE", "LABEL", "ADDRESS / PUBLIC KEY", "CREATED"];
    for line in table(&header, &rows) {
        out!("{line}");
    }
}

pub(crate) fn wallet(endpoint: &Endpoint, cmd: WalletCommand) -> Outcome {
    let shown = match &cmd {
        WalletCommand::Verify { wallet, policy } => return verify_wallet(wallet, policy),
        WalletCommand::Create { .. } | WalletCommand::Show { .. } => Shown::Wallet,
        WalletCommand::List { json: false } => Shown::Table,
        WalletCommand::List { json: true }
        | WalletCommand::Destroy { .. }
        | WalletCommand::Change { .. } => Shown::Json,
    };
    let result = match cmd {
        WalletCommand::Create {
            key_type,
            label,
            owners,
            threshold,
            allow,
        } => {
            let mut body = json!({"key_type": key_type});
            if let Some(l) = label {
                body["label"] = json!(l);
            }
            if let Err(f) = add_owners(&mut body, &owners, threshold) {
                return failed(f);
            }
            if let Some(kinds) = allow {
                let kinds: Vec<&str> = match kinds.as_str() {
                    "none" => Vec::new(),
                    list => list.split(',').map(str::trim).collect(),
                };
                body["policy"] = json!({ "allow": kinds });
            }
            endpoint.call("POST", "/v1/wallets", Some(&body))
        }
        WalletCommand::List { .. } => list(endpoint),
        WalletCommand::Show { id } => endpoint.call("GET", &format!("/v1/wallets/{id}"), None),
        WalletCommand::Destroy { id } => {
            endpoint.call("DELETE", &format!("/v1/wallets/{id}"), None)
        }
        WalletCommand::Change {
            id,
            owners,
            threshold,
            policy,
        } => {
            let mut body = json!({});
            if let Err(f) = add_owners(&mut body, &owners, threshold) {
                return failed(f);
            }
            if let Some(p) = policy {
                match json_arg("--policy", &p) {
                    Ok(v) => body["policy"] = v,
                    Err(message) => {
                        return failed(CallFailed {
                            message,
                            usage: true,
                        })
                    }
                }
            }
            if body.as_object().is_some_and(serde_json::Map::is_empty) {
                return failed(CallFailed {
                    message: "nothing to change: give --owner, --threshold or --policy".into(),
                    usage: true,
                });
            }
            endpoint.call("POST", &format!("/v1/wallets/{id}/record"), Some(&body))
        }
        WalletCommand::Verify { wallet, policy } => return verify_wallet(&wallet, &policy),
    };
    match result {
        Ok(v) => {
            match shown {
                Shown::Wallet => print_wallet(v),
                Shown::Table => print_wallet_table(&v),
                Shown::Json => print(&v),
            }
            Outcome::Valid
        }
        Err(f) => failed(f),
    }
}

/// Adds `--owner ID=FILE.pub…` (read from their files) and `--threshold`
/// to a wallet's create or record-change body, when given.
fn add_owners(
    body: &mut Value,
    owners: &[String],
    threshold: Option<u32>,
) -> Result<(), CallFailed> {
    let owners = crate::owner::owners_from_files(owners)?;
    if !owners.is_empty() {
        body["owners"] = json!(owners);
    }
    if let Some(t) = threshold {
        body["threshold"] = json!(t);
    }
    Ok(())
}

/// How a wallet command's reply is printed.
enum Shown {
    /// One wallet, identifying fields first.
    Wallet,
    /// The list as a table.
    Table,
    /// The JSON as the host sent it.
    Json,
}

fn list(endpoint: &Endpoint) -> Result<Value, CallFailed> {
    let mut all = Vec::new();
    let mut path = "/v1/wallets?limit=500".to_owned();
    loop {
        let page = endpoint.call("GET", &path, None)?;
        all.extend(page["wallets"].as_array().cloned().unwrap_or_default());
        match page["next"].as_str() {
            Some(next) => path = format!("/v1/wallets?limit=500&after={next}"),
            None => return Ok(json!({"wallets": all})),
        }
    }
}

/// `signet sign WALLET …`
#[derive(Args)]
pub(crate) struct SignArgs {
    /// Wallet id.
    wallet: String,
    #[command(flatten)]
    data: Data,
    /// Also return an attestation document binding the signature.
    #[arg(long)]
    attest: bool,
    #[command(flatten)]
    owners: crate::owner::OwnerKeys,
}

pub(crate) fn sign(endpoint: &Endpoint, args: &SignArgs) -> Outcome {
    let wallet = match endpoint.call("GET", &format!("/v1/wallets/{}", args.wallet), None) {
        Ok(w) => w,
        Err(f) => return failed(f),
    };
    let key_type = wallet["key_type"].as_str().unwrap_or_default();
    let (mut body, digest, _) = match sign_body(key_type, &args.data) {
        Ok(b) => b,
        Err(m) => {
            return failed(CallFailed {
                message: m,
                usage: true,
            })
        }
    };
    match crate::owner::approvals(&args.owners, &wallet, &body, &digest) {
        Ok(a) if !a.is_empty() => body["approvals"] = json!(a),
        Ok(_) => {}
        Err(f) => return failed(f),
    }
    if args.attest {
        body["attest"] = json!(true);
    }
    match endpoint.call(
        "POST",
        &format!("/v1/wallets/{}/sign", args.wallet),
        Some(&body),
    ) {
        Ok(v) => {
            print(&v);
            Outcome::Valid
        }
        Err(f) => failed(f),
    }
}

/// `signet check WALLET …`
#[derive(Args)]
pub(crate) struct CheckArgs {
    /// Wallet id.
    wallet: String,
    #[command(flatten)]
    what: CheckData,
    /// Print the host's answer as JSON.
    #[arg(long)]
    json: bool,
}

/// What `signet check` asks about: exactly one of these.
#[derive(Args)]
#[group(required = true, multiple = false)]
pub(crate) struct CheckData {
    /// A 32-byte prehash, hex (ECDSA wallets).
    #[arg(long)]
    digest: Option<String>,
    /// A text message, as for `sign`.
    #[arg(long)]
    message: Option<String>,
    /// A file, as for `sign`.
    #[arg(long)]
    file: Option<String>,
    /// An Ethereum transaction, JSON-RPC form (`{"chainId", "nonce", "to",
    /// "value", "input", "gas", "maxFeePerGas", …}`), or `@FILE`.
    #[arg(long)]
    transaction: Option<String>,
    /// EIP-712 typed data (`{types, primaryType, domain, message}`), or
    /// `@FILE`.
    #[arg(long)]
    typed_data: Option<String>,
}

/// JSON given inline or as `@FILE` (`@-`: stdin).
fn json_arg(flag: &str, v: &str) -> Result<Value, String> {
    let text = match v.strip_prefix('@') {
        Some(path) => String::from_utf8(read_file(path)?)
            .map_err(|_| format!("{flag}: {path} is not UTF-8"))?,
        None => v.to_owned(),
    };
    serde_json::from_str(&text).map_err(|e| format!("{flag} is not JSON: {e}"))
}

pub(crate) fn check(endpoint: &Endpoint, args: &CheckArgs) -> Outcome {
    let what = &args.what;
    let body = match (&what.transaction, &what.typed_data) {
        (Some(t), _) => json_arg("--transaction", t).map(|v| json!({"transaction": v})),
        (None, Some(t)) => json_arg("--typed-data", t).map(|v| json!({"typed_data": v})),
        (None, None) => endpoint
            .call("GET", &format!("/v1/wallets/{}", args.wallet), None)
            .map_err(|f| f.message)
            .and_then(|w| {
                let data = Data {
                    digest: what.digest.clone(),
                    message: what.message.clone(),
                    file: what.file.clone(),
                };
                sign_body(w["key_type"].as_str().unwrap_or_default(), &data)
            })
            .map(|(body, _, _)| body),
    };
    let body = match body {
        Ok(b) => b,
        Err(m) => {
            return failed(CallFailed {
                message: m,
                usage: true,
            })
        }
    };
    match endpoint.call(
        "POST",
        &format!("/v1/wallets/{}/check", args.wallet),
        Some(&body),
    ) {
        Ok(v) => {
            if args.json {
                print(&v);
            } else {
                print_check(&v);
            }
            if v["allowed"] == json!(true) {
                Outcome::Valid
            } else {
                Outcome::Invalid
            }
        }
        Err(f) => failed(f),
    }
}

/// The signer's verdict in words, then what it decoded.
fn print_check(v: &Value) {
    let rule = v["rule"].as_str().unwrap_or("?");
    let why = v["message"].as_str().unwrap_or("");
    match (v["allowed"].as_bool(), v["needs_owners"].as_bool()) {
        (Some(true), _) => out!("ALLOWED: the signer signs this on its own"),
        (_, Some(true)) => out!("NEEDS THE OWNERS (rule {rule}): {why}"),
        _ => out!("REFUSED (rule {rule}): {why}"),
    }
    let decoded = &v["decoded"];
    for line in describe_call(decoded) {
        out!("{line}");
    }
    out!(
        "decoded: {}",
        serde_json::to_string_pretty(decoded).unwrap_or_default()
    );
}

/// What a decoded content's call or permit does, in lines for a person:
/// the function and its arguments, UNLIMITED spelled out, or that the call
/// cannot be read.
pub(crate) fn describe_call(decoded: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(call) = decoded.get("call").filter(|c| !c.is_null()) {
        if let Some(e) = call.get("error").and_then(Value::as_str) {
            lines.push(format!("call: NOT READABLE: {e}"));
        } else {
            let mut line = format!("call: {}", call["signature"].as_str().unwrap_or("?"));
            for key in [
                "to", "from", "spender", "operator", "amount", "token_id", "approved",
            ] {
                if let Some(x) = call.get(key) {
                    let shown = x.as_str().map_or_else(|| x.to_string(), str::to_owned);
                    line.push_str(&format!(" {key}={shown}"));
                }
            }
            if let Some(u) = call.get("amount_units").and_then(Value::as_str) {
                line.push_str(&format!(" ({u})"));
            }
            if call["unlimited"] == json!(true) {
                line.push_str(" UNLIMITED");
            }
            lines.push(line);
        }
    } else if decoded["readable"] == json!(false) {
        lines.push(
            "call: NOT READABLE (a function the signer does not recognise): check the calldata yourself"
                .into(),
        );
    }
    if let Some(p) = decoded.get("permit").filter(|p| !p.is_null()) {
        lines.push(format!(
            "permit: {}{}",
            serde_json::to_string(p).unwrap_or_default(),
            if p["unlimited"] == json!(true) {
                " UNLIMITED"
            } else {
                ""
            }
        ));
    }
    lines
}

/// `signet verify-signature …`: offline.
#[derive(Args)]
pub(crate) struct VerifySignatureArgs {
    /// The wallet as JSON (`signet wallet show ID > wallet.json`).
    #[arg(long)]
    wallet: String,
    /// The signature as JSON (`signet sign … > sig.json`).
    #[arg(long)]
    signature: String,
    #[command(flatten)]
    data: Data,
    #[command(flatten)]
    policy: PolicyArgs,
}

fn read_json(path: &str) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{path} is not JSON: {e}"))
}

fn hex_field(v: &Value, field: &str) -> Result<Vec<u8>, String> {
    v[field]
        .as_str()
        .and_then(|s| hex::decode(s).ok())
        .ok_or_else(|| format!("`{field}` is missing or not hex"))
}

fn document(v: &Value) -> Option<Vec<u8>> {
    v["attestation"]["document"]
        .as_str()
        .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
}

/// A usage mistake in the inputs of `verify-signature`: a wallet given as
/// the signature or the other way round (swapped flags), or a file that is
/// neither.
fn check_roles(wallet: &Value, signature: &Value) -> Result<(), String> {
    let is_wallet = |v: &Value| v.get("key_type").is_some() && v.get("id").is_some();
    let is_signature = |v: &Value| v.get("signature").is_some();
    if is_signature(wallet) && is_wallet(signature) {
        return Err("--wallet and --signature are swapped: --wallet takes the wallet JSON (`signet wallet show ID`), --signature the signature JSON (`signet sign …`)".into());
    }
    if !is_wallet(wallet) {
        return Err("--wallet is not a wallet JSON (`signet wallet show ID > wallet.json`): it has no `id` and `key_type`".into());
    }
    if !is_signature(signature) {
        return Err("--signature is not a signature JSON (`signet sign … > sig.json`): it has no `signature`".into());
    }
    Ok(())
}

pub(crate) fn verify_signature(args: &VerifySignatureArgs) -> Outcome {
    let inputs = (|| {
        let wallet = read_json(&args.wallet)?;
        let signature = read_json(&args.signature)?;
        check_roles(&wallet, &signature)?;
        let verifier = args.policy.build(None)?;
        let hints = args.policy.hints(&verifier);
        Ok::<_, String>((wallet, signature, (verifier, hints)))
    })();
    let (wallet, signature, (verifier, hints)) = match inputs {
        Ok(i) => i,
        Err(m) => {
            return failed(CallFailed {
                message: m,
                usage: true,
            })
        }
    };
    match check_signature(&wallet, &signature, &args.data, &verifier, hints) {
        Ok(summary) => {
            out!("VALID: {summary}");
            Outcome::Valid
        }
        Err(reason) => {
            eprintln!("INVALID: {reason}");
            Outcome::Invalid
        }
    }
}

/// Whether a document from before records (binding v1, the key alone) may
/// stand for `record`: only for the record every such wallet has (no
/// owners, the permissive policy, version 1), which is what a signer holds
/// a key from before records under.
fn accepts_v1(record: &str) -> bool {
    signet_authority::Record::parse(record).is_ok_and(|r| r.is_legacy())
}

/// `signet wallet verify`: the wallet's attestation, then what its record
/// lets happen, in words.
fn verify_wallet(path: &str, policy: &PolicyArgs) -> Outcome {
    let inputs = (|| {
        let wallet = read_json(path)?;
        let verifier = policy.build(None)?;
        let hints = policy.hints(&verifier);
        Ok::<_, String>((wallet, verifier, hints))
    })();
    let (wallet, verifier, hints) = match inputs {
        Ok(i) => i,
        Err(m) => {
            return failed(CallFailed {
                message: m,
                usage: true,
            })
        }
    };
    match check_wallet(&wallet, &verifier, hints) {
        Ok(summary) => {
            for line in summary {
                out!("{line}");
            }
            Outcome::Valid
        }
        Err(reason) => {
            eprintln!("INVALID: {reason}");
            Outcome::Invalid
        }
    }
}

/// A wallet whose attestation checked out: its id, key type and public key,
/// and its record's text and hash (`None`: a wallet from before records).
struct Attested<'w> {
    verified: signet_attestation::VerifiedDocument,
    id: &'w str,
    key_type: &'w str,
    public_key: Vec<u8>,
    record: Option<(&'w str, [u8; 32])>,
}

/// Checks that the wallet's document verifies and binds its key, and its
/// record when it has one (binding v2; v1 only for the record every wallet
/// from before records has).
fn attested<'w>(
    wallet: &'w Value,
    verifier: &signet_attestation::Verifier,
    hints: crate::attest::Hints,
) -> Result<Attested<'w>, String> {
    let id = wallet["id"].as_str().ok_or("wallet `id` is missing")?;
    let key_type = wallet["key_type"]
        .as_str()
        .ok_or("wallet `key_type` is missing")?;
    let public_key = hex_field(wallet, "public_key")?;
    let doc = document(wallet).ok_or("the wallet has no attestation document")?;
    let verified = verifier
        .verify(&doc)
        .map_err(|e| format!("wallet attestation: {}", crate::attest::refusal(&e, hints)))?;
    let record = wallet["record"].as_str().map(|text| {
        let hash: [u8; 32] = sha2::Sha256::digest(text.as_bytes()).into();
        (text, hash)
    });
    match record {
        Some((text, hash)) => {
            verified.check_record_binding(id, key_type, &public_key, &hash, accepts_v1(text))
        }
        None => verified.check_key_binding(id, key_type, &public_key),
    }
    .map_err(|e| format!("wallet attestation: {e}"))?;
    Ok(Attested {
        verified,
        id,
        key_type,
        public_key,
        record,
    })
}

/// Checks that the wallet's document verifies and binds its key and record;
/// the lines describing the record.
fn check_wallet(
    wallet: &Value,
    verifier: &signet_attestation::Verifier,
    hints: crate::attest::Hints,
) -> Result<Vec<String>, String> {
    let Attested {
        id,
        key_type,
        public_key,
        record,
        ..
    } = attested(wallet, verifier, hints)?;
    let Some((text, hash)) = record else {
        return Ok(vec![
            format!(
                "VALID: wallet {id}'s {key_type} key is attested (a wallet from before records)"
            ),
            "owners: none; the operator can sign anything with it".into(),
        ]);
    };
    let record =
        signet_authority::Record::parse(text).map_err(|e| format!("the wallet's record: {e}"))?;
    if record.wallet_id() != id || record.key().public_key != public_key {
        return Err("the record describes another wallet or key".into());
    }
    let allow: Vec<&str> = record.policy().allow().iter().map(|k| k.as_str()).collect();
    let mut lines = vec![
        format!(
            "VALID: wallet {id}'s {key_type} key and its record {} are attested",
            hex::encode(hash)
        ),
        format!(
            "deployment: {}, record version {}",
            record.deployment(),
            record.version()
        ),
    ];
    if record.owners().is_empty() {
        lines.push("owners: none".into());
    } else {
        for o in record.owners() {
            lines.push(format!("owner: {}", o.public_description()));
        }
        lines.push(format!(
            "threshold: {} of {}",
            record.threshold(),
            record.owners().len()
        ));
    }
    lines.push(match (allow.is_empty(), record.owners().is_empty()) {
        (true, false) => "policy: every signature needs its owners".into(),
        (true, true) => "policy: nothing can be signed (no kind allowed, no owners)".into(),
        (false, _) => format!(
            "policy: the operator can sign {} without the owners{}",
            allow.join(", "),
            if record.owners().is_empty() {
                ""
            } else {
                "; anything else needs them"
            }
        ),
    });
    Ok(lines)
}

fn check_signature(
    wallet: &Value,
    signature: &Value,
    data: &Data,
    verifier: &signet_attestation::Verifier,
    hints: crate::attest::Hints,
) -> Result<String, String> {
    // 1. The key is attested: the document verifies and binds this
    // wallet's key (and its record).
    let Attested {
        verified,
        id,
        key_type,
        public_key,
        ..
    } = attested(wallet, verifier, hints)?;
    if let Some(address) = wallet["address"].as_str() {
        if eth_address(&public_key).as_deref() != Some(address) {
            return Err("the wallet's address does not belong to its public key".into());
        }
    }
    // 2. The signature is by that key over the data.
    if hex_field(signature, "public_key")? != public_key {
        return Err("the signature names another public key".into());
    }
    let sig = hex_field(signature, "signature")?;
    let (_, digest, message) = sign_body(key_type, data)?;
    match key_type {
        "secp256k1" => {
            use k256::ecdsa::signature::hazmat::PrehashVerifier as _;
            let vk = k256::ecdsa::VerifyingKey::from_sec1_bytes(&public_key)
                .map_err(|_| "bad secp256k1 public key")?;
            let s = k256::ecdsa::Signature::from_slice(&sig).map_err(|_| "malformed signature")?;
            vk.verify_prehash(&digest, &s)
                .map_err(|_| "signature does not verify")?;
            if let Some(recid) = signature["recovery_id"].as_u64() {
                let recid = k256::ecdsa::RecoveryId::from_byte(u8::try_from(recid).unwrap_or(9))
                    .ok_or("bad recovery_id")?;
                let recovered = k256::ecdsa::VerifyingKey::recover_from_prehash(&digest, &s, recid)
                    .map_err(|_| "recovery failed")?;
                if recovered != vk {
                    return Err("recovery_id recovers another key".into());
                }
            }
        }
        "p256" => {
            use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
            let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&public_key)
                .map_err(|_| "bad p256 public key")?;
            let s = p256::ecdsa::Signature::from_slice(&sig).map_err(|_| "malformed signature")?;
            vk.verify_prehash(&digest, &s)
                .map_err(|_| "signature does not verify")?;
        }
        "ed25519" => {
            let pk: [u8; 32] = public_key
                .as_slice()
                .try_into()
                .map_err(|_| "bad ed25519 public key")?;
            let vk = ed25519_dalek::VerifyingKey::from_bytes(&pk)
                .map_err(|_| "bad ed25519 public key")?;
            let s =
                ed25519_dalek::Signature::from_slice(&sig).map_err(|_| "malformed signature")?;
            vk.verify_strict(message.as_deref().unwrap_or_default(), &s)
                .map_err(|_| "signature does not verify")?;
        }
        other => return Err(format!("unknown key type `{other}`")),
    }
    // 3. If the signature came with a document, it must bind this signature.
    if let Some(sig_doc) = document(signature) {
        let v = verifier.verify(&sig_doc).map_err(|e| {
            format!(
                "signature attestation: {}",
                crate::attest::refusal(&e, hints)
            )
        })?;
        v.check_signature_binding(id, &digest, &sig)
            .map_err(|e| format!("signature attestation: {e}"))?;
    }
    Ok(format!(
        "{key_type} signature by wallet {id}; key attested by {} (root sha256:{})",
        verified.doc.module_id,
        hex::encode(verified.root_sha256)
    ))
}

/// `signet audit search` arguments: each filter is exact (`--outcome
/// denied` also matches `denied:<code>`).
#[derive(Args)]
pub(crate) struct AuditSearchArgs {
    /// Only this action (`sign`, `AUTH_DENY`, `LOGIN_REFUSED`, …).
    #[arg(long)]
    action: Option<String>,
    /// Only this outcome: `ok`, `denied`, `error`, or with its code.
    #[arg(long)]
    outcome: Option<String>,
    /// Only this actor (`client:<id>`, `user:<id>`, `telegram:<id>`, `anonymous`).
    #[arg(long)]
    actor: Option<String>,
    /// Only this target (a wallet id, a client id, a path).
    #[arg(long)]
    target: Option<String>,
    /// From this time (RFC 3339 UTC, e.g. 2026-12-06T10:00:00Z).
    #[arg(long)]
    since: Option<String>,
    /// Until this time (RFC 3339 UTC, exclusive).
    #[arg(long)]
    until: Option<String>,
    /// At most this many events (all by default).
    #[arg(long)]
    limit: Option<u64>,
}

/// `value` for a query string: unreserved characters as they are, the
/// rest percent-encoded.
fn query_value(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~:".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub(crate) fn audit_search(endpoint: &Endpoint, args: &AuditSearchArgs) -> Outcome {
    let mut filters = String::new();
    for (name, value) in [
        ("action", &args.action),
        ("outcome", &args.outcome),
        ("actor", &args.actor),
        ("target", &args.target),
        ("since", &args.since),
        ("until", &args.until),
    ] {
        if let Some(v) = value {
            filters.push_str(&format!("&{name}={}", query_value(v)));
        }
    }
    let wanted = args.limit.unwrap_or(u64::MAX);
    let (mut after, mut shown) = (0u64, 0u64);
    while shown < wanted {
        let page = (wanted - shown).min(1000);
        let path = format!("/v1/audit?after={after}&limit={page}{filters}");
        let v = match endpoint.call("GET", &path, None) {
            Ok(v) => v,
            Err(e) => return failed(e),
        };
        for event in v["events"].as_array().into_iter().flatten() {
            out!("{event}");
            shown += 1;
        }
        match v["next"].as_u64() {
            Some(next) => after = next,
            None => break,
        }
    }
    eprintln!("{shown} event(s)");
    Outcome::Valid
}

/// `signet audit verify` arguments.
#[derive(Args)]
pub(crate) struct AuditVerifyArgs {
    /// An export to check instead of the host's log: one event per line
    /// (`-` for standard input).
    #[arg(long)]
    file: Option<std::path::PathBuf>,
    /// With --file, for a range that does not start at event 1: the hash of
    /// the event before its first line (hex), from a trusted source.
    #[arg(long, requires = "file")]
    prev_hash: Option<String>,
}

pub(crate) fn audit_verify(endpoint: &Endpoint, args: &AuditVerifyArgs) -> Outcome {
    match &args.file {
        Some(path) => audit_verify_file(path, args.prev_hash.as_deref()),
        None => audit_verify_host(endpoint),
    }
}

/// Checks an export: every line an event, the chain intact from event 1 (or
/// from `prev_hash` for a range), no gap.
fn audit_verify_file(path: &std::path::Path, prev_hash: Option<&str>) -> Outcome {
    let text = if path.as_os_str() == "-" {
        let mut s = String::new();
        match std::io::stdin().read_to_string(&mut s) {
            Ok(_) => s,
            Err(e) => {
                eprintln!("standard input: {e}");
                return Outcome::Usage;
            }
        }
    } else {
        match std::fs::read_to_string(path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                return Outcome::Usage;
            }
        }
    };
    let mut chain: Option<ChainVerifier> = None;
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let event: AuditEvent = match serde_json::from_str(line) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("INVALID: line {} is not an audit event: {e}", n + 1);
                return Outcome::Invalid;
            }
        };
        let chain = chain.get_or_insert_with(|| match prev_hash {
            Some(hash) => ChainVerifier::resume(event.seq.saturating_sub(1), hash),
            None => ChainVerifier::default(),
        });
        if event.seq > 1 && chain.checked() == 0 && prev_hash.is_none() {
            eprintln!(
                "the export starts at event {}: give --prev-hash (the hash of event {}) to check a range",
                event.seq,
                event.seq - 1
            );
            return Outcome::Usage;
        }
        if let Err(e) = chain.push(&event) {
            eprintln!("BROKEN: {e} (after {} intact events)", chain.checked());
            return Outcome::Invalid;
        }
    }
    match chain {
        Some(chain) => {
            out!(
                "audit export intact: {} events, head {}",
                chain.checked(),
                chain.head()
            );
            Outcome::Valid
        }
        None => {
            eprintln!("INVALID: the export holds no event");
            Outcome::Invalid
        }
    }
}

fn audit_verify_host(endpoint: &Endpoint) -> Outcome {
    let mut chain = ChainVerifier::default();
    let mut after = 0u64;
    loop {
        let page = match endpoint.call("GET", &format!("/v1/audit?after={after}&limit=1000"), None)
        {
            Ok(p) => p,
            Err(f) => return failed(f),
        };
        let events: Vec<AuditEvent> = match serde_json::from_value(page["events"].clone()) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("INVALID: audit page does not parse: {e}");
                return Outcome::Invalid;
            }
        };
        for event in &events {
            if let Err(e) = chain.push_view(event) {
                eprintln!("BROKEN: {e} (after {} intact events)", chain.checked());
                return Outcome::Invalid;
            }
        }
        match page["next"].as_u64() {
            Some(next) if !events.is_empty() => after = next,
            _ => break,
        }
    }
    if chain.gaps() == 0 {
        out!(
            "audit chain intact: {} events, head {}",
            chain.checked(),
            chain.head()
        );
    } else {
        // A tenant's token sees only its tenant's events.
        out!(
            "tenant view intact: {} events, each hash recomputed, links checked where events are consecutive; {} gaps hold other tenants' events (an operator's token verifies the whole chain)",
            chain.checked(),
            chain.gaps()
        );
    }
    Outcome::Valid
}

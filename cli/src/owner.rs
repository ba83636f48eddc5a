//! Owners' keys and approvals (docs/owners.md): `signet owner keygen`,
//! owners at `wallet create`, `signet approve` of a sign intent, and the
//! approvals of a one-request `signet sign`. The secret key never leaves
//! this machine: the host only ever sees the signature over the
//! authorization text, which the signer checks.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;

use clap::{Args, Subcommand};
use serde_json::{json, Value};
use signet_authority::{
    payload_sha256, Approval, Authorization, Owner, OwnerKeyType, OwnerSecretKey, Record,
    Request as AuthzRequest,
};

use crate::http::{CallFailed, Endpoint};
use crate::Outcome;

/// How long the authorizations this CLI writes live: the most a signer
/// takes (and what a signer in its first 600 s requires).
const LIFETIME_S: u64 = signet_authority::authz::MAX_LIFETIME_SECONDS;

/// `signet owner …`.
#[derive(Subcommand)]
pub(crate) enum OwnerCommand {
    /// Make an owner key: FILE (the secret, mode 0600, never overwritten)
    /// and FILE.pub (the owner's public description, for `wallet create
    /// --owner ID=FILE.pub`).
    Keygen {
        /// secp256k1 (EIP-191 approvals), ed25519 or p256.
        #[arg(long = "type", value_name = "TYPE")]
        key_type: String,
        /// Where to write the secret key.
        #[arg(long, value_name = "FILE")]
        out: String,
    },
}

/// `signet approve INTENT --owner ID --key FILE`, or `signet approve
/// PROPOSAL --wallet ID --owner ID --key FILE` for a record change.
#[derive(Args)]
pub(crate) struct ApproveArgs {
    /// The sign intent's id, or a record proposal's (`rp_…`, with --wallet).
    intent: String,
    /// The wallet whose record proposal this is (`signet wallet change`).
    #[arg(long, value_name = "ID")]
    wallet: Option<String>,
    /// The owner's id in the wallet's record.
    #[arg(long, value_name = "ID")]
    owner: String,
    /// The owner's key file (`signet owner keygen`).
    #[arg(long, value_name = "FILE")]
    key: String,
}

/// `signet resume WALLET --owner ID --key FILE…`.
#[derive(Args)]
pub(crate) struct ResumeArgs {
    /// Wallet id.
    wallet: String,
    #[command(flatten)]
    owners: OwnerKeys,
}

/// Runs `signet resume`: asks the host for the `resume` authorization,
/// signs it with each owner's key, and sends the approvals.
pub(crate) fn resume(endpoint: &Endpoint, args: &ResumeArgs) -> Outcome {
    let run = || -> Result<Value, CallFailed> {
        if args.owners.ids.len() != args.owners.keys.len() || args.owners.ids.is_empty() {
            return Err(usage("give --owner ID --key FILE, in pairs"));
        }
        let path = format!("/v1/wallets/{}/resume", args.wallet);
        let asked = endpoint.call("POST", &path, Some(&json!({})))?;
        let text = asked["authorization"]["text"]
            .as_str()
            .ok_or_else(|| CallFailed {
                message: "the host sent no authorization to approve".into(),
                usage: false,
            })?;
        eprintln!("signet: approving: {text}");
        let approvals = args
            .owners
            .ids
            .iter()
            .zip(&args.owners.keys)
            .map(|(id, key)| Ok(read_key(key)?.approve_text(id, text)))
            .collect::<Result<Vec<Approval>, CallFailed>>()?;
        endpoint.call("POST", &path, Some(&json!({ "approvals": approvals })))
    };
    done(run())
}

/// Owners approving a one-request `signet sign`: `--owner ID --key FILE`,
/// repeated in pairs.
#[derive(Args, Default)]
pub(crate) struct OwnerKeys {
    /// An owner approving this request (with the `--key` at the same place).
    #[arg(long = "owner", value_name = "ID")]
    ids: Vec<String>,
    /// That owner's key file.
    #[arg(long = "key", value_name = "FILE")]
    keys: Vec<String>,
}

fn usage(message: impl Into<String>) -> CallFailed {
    CallFailed {
        message: message.into(),
        usage: true,
    }
}

fn done(result: Result<Value, CallFailed>) -> Outcome {
    match result {
        Ok(v) => {
            out!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            Outcome::Valid
        }
        Err(f) => {
            eprintln!("signet: {}", f.message);
            if f.usage {
                Outcome::Usage
            } else {
                Outcome::Invalid
            }
        }
    }
}

/// Runs `signet owner …`.
pub(crate) fn owner(cmd: &OwnerCommand) -> Outcome {
    match cmd {
        OwnerCommand::Keygen { key_type, out } => done(keygen(key_type, out)),
    }
}

fn keygen(key_type: &str, out: &str) -> Result<Value, CallFailed> {
    let ty = OwnerKeyType::from_name(key_type)
        .ok_or_else(|| usage("--type must be secp256k1, ed25519 or p256"))?;
    let key = OwnerSecretKey::generate(ty, &mut rand_core::OsRng);
    let public = key
        .public_description()
        .map_err(|e| usage(format!("owner key: {e}")))?;
    let public_path = format!("{out}.pub");
    let write = |path: &str, mode: u32, bytes: &[u8]| {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .and_then(|mut f| f.write_all(bytes))
            .map_err(|e| usage(format!("cannot write {path}: {e}")))
    };
    if std::path::Path::new(&public_path).exists() {
        return Err(usage(format!(
            "{public_path} exists; keys are never overwritten"
        )));
    }
    write(out, 0o600, key.to_key_file().as_bytes())?;
    write(&public_path, 0o644, format!("{public}\n").as_bytes())?;
    Ok(
        json!({"key_file": out, "public": public_path, "owner": serde_json::from_str::<Value>(&public).unwrap_or(Value::Null)}),
    )
}

fn read_key(path: &str) -> Result<OwnerSecretKey, CallFailed> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path).map_err(|e| usage(format!("cannot read {path}: {e}")))?,
    );
    OwnerSecretKey::from_key_file(&text).map_err(|e| usage(format!("{path}: {e}")))
}

/// The owners of `wallet create --owner ID=FILE.pub` (repeatable), as the
/// API takes them.
pub(crate) fn owners_from_files(specs: &[String]) -> Result<Vec<Value>, CallFailed> {
    specs
        .iter()
        .map(|spec| {
            let (id, path) = spec
                .split_once('=')
                .ok_or_else(|| usage(format!("--owner {spec}: write ID=FILE.pub")))?;
            let text = std::fs::read_to_string(path)
                .map_err(|e| usage(format!("cannot read {path}: {e}")))?;
            Owner::from_public_description(id, text.trim())
                .map(|o| o.to_value())
                .map_err(|e| usage(format!("--owner {spec}: {e}")))
        })
        .collect()
}

/// The approvals of signing `content` (whose digest is `digest`) on
/// `wallet` (its JSON, with `record`) by each `--owner`/`--key` pair: a
/// fresh authorization v1, signed by each key.
pub(crate) fn approvals(
    keys: &OwnerKeys,
    wallet: &Value,
    content: &Value,
    digest: &[u8],
) -> Result<Vec<Approval>, CallFailed> {
    if keys.ids.len() != keys.keys.len() {
        return Err(usage("give --owner and --key in pairs"));
    }
    if keys.ids.is_empty() {
        return Ok(Vec::new());
    }
    let record = wallet["record"]
        .as_str()
        .ok_or_else(|| usage("this wallet has no record: it has no owners to approve"))
        .and_then(|t| {
            Record::parse(t).map_err(|e| CallFailed {
                message: format!("the wallet's record: {e}"),
                usage: false,
            })
        })?;
    let digest: [u8; 32] = digest
        .try_into()
        .map_err(|_| usage("the digest is not 32 bytes"))?;
    let payload = payload_sha256(content).map_err(|e| usage(format!("content: {e}")))?;
    let mut request_id = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut request_id);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let authz = Authorization::fresh(
        &record,
        AuthzRequest::Sign {
            payload_sha256: payload,
            digest,
        },
        now,
        LIFETIME_S,
        request_id,
    )
    .map_err(|e| usage(format!("authorization: {e}")))?;
    keys.ids
        .iter()
        .zip(&keys.keys)
        .map(|(id, path)| Ok(read_key(path)?.approve(id, &authz)))
        .collect()
}

/// Runs `signet approve`: reads the intent's authorization, signs it with
/// the key, and sends the approval.
pub(crate) fn approve(endpoint: &Endpoint, args: &ApproveArgs) -> Outcome {
    let run = || -> Result<Value, CallFailed> {
        let key = read_key(&args.key)?;
        if let Some(wallet) = &args.wallet {
            return approve_proposal(endpoint, wallet, args, &key);
        }
        if args.intent.starts_with("rp_") {
            return Err(usage(
                "a record proposal is approved with --wallet ID (the wallet it changes)",
            ));
        }
        let intent = endpoint.call("GET", &format!("/v1/intents/{}", args.intent), None)?;
        let text = intent["authorization"]["text"]
            .as_str()
            .ok_or_else(|| CallFailed {
                message: "this intent does not wait for its wallet's owners".into(),
                usage: false,
            })?;
        // Shown before signing, so the owner sees what they approve.
        for line in crate::client::describe_call(&intent["content"]) {
            eprintln!("signet: {line}");
        }
        eprintln!("signet: approving, as {}: {text}", args.owner);
        let body = json!({"owner_id": args.owner, "signature": key.sign(text)});
        endpoint.call(
            "POST",
            &format!("/v1/intents/{}/approve", args.intent),
            Some(&body),
        )
    };
    done(run())
}

/// `signet approve PROPOSAL --wallet ID`: shows the record the owners
/// would give the wallet, then signs the proposal's authorization.
fn approve_proposal(
    endpoint: &Endpoint,
    wallet: &str,
    args: &ApproveArgs,
    key: &OwnerSecretKey,
) -> Result<Value, CallFailed> {
    let path = format!("/v1/wallets/{wallet}/record/{}", args.intent);
    let proposal = endpoint.call("GET", &path, None)?;
    let text = proposal["authorization"]["text"]
        .as_str()
        .ok_or_else(|| CallFailed {
            message: "the host sent no authorization to approve".into(),
            usage: false,
        })?;
    // Shown before signing: what the wallet's record becomes.
    eprintln!(
        "signet: the proposed record of wallet {wallet}: {}",
        proposal["record"].as_str().unwrap_or("(none)")
    );
    if let Some(at) = proposal["effective_at"].as_u64() {
        eprintln!(
            "signet: it loosens the policy: it takes effect at {at} (Unix seconds) at the earliest"
        );
    }
    eprintln!("signet: approving, as {}: {text}", args.owner);
    let body = json!({"owner_id": args.owner, "signature": key.sign(text)});
    endpoint.call("POST", &format!("{path}/approve"), Some(&body))
}

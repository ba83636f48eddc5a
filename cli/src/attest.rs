//! `signet attest verify | inspect`: the auditor's commands.

use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{json, Value};
use signet_attestation::{
    inspect_unverified, now_ms, AttestationDoc, PcrPolicy, PcrSet, PolicyFile, TrustAnchor,
    VerifiedDocument, Verifier, VerifyAt, VerifyError,
};

use crate::input::{decode_document, read_source};
use crate::output::Node;
use crate::Outcome;
use signet_proto::time::rfc3339_ms;

/// `signet attest …`
#[derive(Subcommand)]
pub(crate) enum AttestCommand {
    /// Verify a document: ES384 signature, certificate chain to a pinned root,
    /// validity at a chosen time, expected PCRs, debug mode, nonce and age.
    ///
    /// Exit status: 0 valid, 1 invalid (reason on stderr), 2 usage error.
    #[command(after_help = VERIFY_EXAMPLES)]
    Verify(VerifyArgs),
    /// Decode a document WITHOUT verifying anything, and print its fields as JSON.
    Inspect {
        /// The document: a file with raw COSE bytes, base64 or hex (detected), or `-` for stdin.
        doc: String,
    },
}

const VERIFY_EXAMPLES: &str = "\
Examples:
  signet attest verify doc.b64 --pcr 0=<96 hex> --pcr 1=<96 hex> --pcr 2=<96 hex>
  signet attest verify doc.cbor --policy pcrs.json --at doc --json
  signet attest verify doc.hex --root dev-root.pem --pcr 0=<hex> --nonce 0011 --max-age 300";

/// Flags of `signet attest verify`.
#[derive(Args)]
pub(crate) struct VerifyArgs {
    /// The document: a file with raw COSE bytes, base64 or hex, or a wallet or
    /// signature JSON from the API (detected), or `-` for stdin.
    doc: String,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Require this nonce (hex).
    #[arg(long, value_name = "HEX")]
    nonce: Option<String>,
    /// Refuse documents older than this many seconds at the verification time.
    #[arg(long, value_name = "SECONDS")]
    max_age: Option<u64>,
    /// Print one JSON object: {valid, module_id, timestamp_ms, pcrs, public_key,
    /// user_data, nonce, debug_mode, root_sha256, checked_at_ms, error?, error_code?}.
    #[arg(long)]
    json: bool,
}

/// Which root, time and measurements a verifier trusts (shared by
/// `signet attest verify` and `signet verify-signature`).
#[derive(Args)]
pub(crate) struct PolicyArgs {
    /// Trusted root: `aws` (the pinned AWS Nitro Enclaves Root-G1) or a PEM file
    /// (for example a `signet-host dev` data dir's dev-root.pem). Default: the
    /// `root` of the --policy file, else `aws`. The copy of the root inside the
    /// document is never trusted.
    #[arg(long, value_name = "aws|PEM")]
    root: Option<String>,
    /// When to check certificate validity: `now`, `doc` (the document's own
    /// timestamp, for audits of old documents) or Unix milliseconds.
    #[arg(long, default_value = "now", value_name = "now|doc|UNIX_MS")]
    at: String,
    /// An expected PCR value, `IDX=HEX` (repeatable). Expected PCRs are required:
    /// give --pcr, or --policy, or the explicit --any-pcrs.
    #[arg(long = "pcr", value_name = "IDX=HEX")]
    pcrs: Vec<String>,
    /// A JSON policy file (as written by `signet-eif`, and by `signet-host dev` as
    /// DATA/attestation-policy.json): `{"root": "aws"|PEM, "pcr_sets": [{"0": HEX, …}, …],
    /// "allow_debug": false, "max_age_seconds": N}`; several sets allow rolling upgrades.
    #[arg(long, value_name = "FILE", conflicts_with = "pcrs")]
    policy: Option<String>,
    /// Skip the PCR check. The document then proves only that *some* enclave
    /// under the root made it, not that it runs your image: never trust a key on this.
    #[arg(long, conflicts_with_all = ["pcrs", "policy"])]
    any_pcrs: bool,
    /// Accept debug-mode documents (PCR0/1/2 all zero). A debug enclave's memory
    /// is readable by its host, so such documents prove nothing about secrecy.
    #[arg(long)]
    allow_debug: bool,
}

pub(crate) fn run(cmd: AttestCommand) -> Outcome {
    match cmd {
        AttestCommand::Verify(args) => verify(&args),
        AttestCommand::Inspect { doc } => inspect(&doc),
    }
}

/// What a refusal's hint depends on: which root was trusted and when the
/// certificates were checked.
#[derive(Clone, Copy)]
pub(crate) struct Hints {
    /// The root was the default AWS Nitro Enclaves Root-G1.
    aws_root: bool,
    /// Certificates were checked at the verifier's clock (`--at now`).
    at_now: bool,
}

/// A verification refusal as the CLI says it: the library's words, with
/// dates instead of milliseconds, and the flag that fixes it where one does
/// (a debug-mode document is accepted with `--allow-debug`, a dev host's
/// document chains to its `dev-root.pem`, an archived one is checked with
/// `--at doc`).
pub(crate) fn refusal(e: &VerifyError, hints: Hints) -> String {
    match e {
        VerifyError::DebugMode => "debug-mode document (PCR0/1/2 all zero) refused: a debug enclave's memory is readable by its host; \
             pass --allow-debug to accept it (tests only)"
            .into(),
        VerifyError::IssuerMismatch { parent, .. } | VerifyError::ChainSignature { parent, .. }
            if parent == "root" =>
        {
            if hints.aws_root {
                format!(
                    "{e}: the document does not chain to the default root, AWS Nitro Enclaves Root-G1. \
                     A `signet-host dev` host's documents chain to its own root: pass --root DATA/dev-root.pem \
                     (or --policy DATA/attestation-policy.json) with DATA its data directory"
                )
            } else {
                format!(
                    "{e}: the document does not chain to the root given with --root (or the policy's root). \
                     An AWS Nitro document needs --root aws; a dev host's, that host's DATA/dev-root.pem \
                     (a dev root is made once per data directory)"
                )
            }
        }
        VerifyError::CertificateNotValidAt {
            which,
            at_ms,
            not_before_ms,
            not_after_ms,
        } => {
            let mut msg = format!(
                "{which} is not valid at {} (valid from {} to {})",
                rfc3339_ms(*at_ms),
                rfc3339_ms(*not_before_ms),
                rfc3339_ms(*not_after_ms)
            );
            if hints.at_now && at_ms > not_after_ms {
                msg.push_str(
                    ": the certificate has expired since the document was made (a Nitro leaf lives about three hours); \
                     to audit an archived document, check it at its own time with --at doc",
                );
            }
            msg
        }
        other => other.to_string(),
    }
}

fn usage(msg: &str) -> Outcome {
    eprintln!("signet attest: {msg}");
    Outcome::Usage
}

fn verify(args: &VerifyArgs) -> Outcome {
    let verifier = match build_verifier(args) {
        Ok(v) => v,
        Err(msg) => return usage(&msg),
    };
    let bytes = match read_source(&args.doc) {
        Ok(b) => decode_document(&b),
        Err(msg) => return usage(&msg),
    };
    let result = verifier.verify(&bytes);
    let root_sha256 = hex::encode(verifier.anchor().sha256());
    if args.json {
        out!(
            "{}",
            signet_attestation::report::verification_json(&result, &root_sha256, now_ms())
        );
    }
    match result {
        Ok(verified) => {
            if !args.json {
                print_human(&verified, verifier.anchor(), args.policy.any_pcrs);
            }
            Outcome::Valid
        }
        Err(e) => {
            eprintln!("INVALID: {}", refusal(&e, args.policy.hints(&verifier)));
            Outcome::Invalid
        }
    }
}

fn build_verifier(args: &VerifyArgs) -> Result<Verifier, String> {
    let verifier = args.policy.build(args.max_age)?;
    match &args.nonce {
        None => Ok(verifier),
        Some(n) => {
            let nonce = hex::decode(n.trim()).map_err(|_| "--nonce must be hex".to_owned())?;
            Ok(verifier.expect_nonce(nonce))
        }
    }
}

impl PolicyArgs {
    /// What a refusal by `verifier` (built from these flags) should hint at.
    pub(crate) fn hints(&self, verifier: &Verifier) -> Hints {
        Hints {
            aws_root: verifier.anchor().is_aws_nitro_root_g1(),
            at_now: self.at == "now",
        }
    }

    /// The verifier these flags describe (`max_age` from the caller or the
    /// policy file; the root from --root, the policy file, or AWS's).
    pub(crate) fn build(&self, max_age: Option<u64>) -> Result<Verifier, String> {
        let file = match &self.policy {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read policy {path}: {e}"))?;
                Some(PolicyFile::from_json(&text).map_err(|e| format!("--policy {path}: {e}"))?)
            }
            None => None,
        };
        let root = self
            .root
            .as_deref()
            .or_else(|| file.as_ref().and_then(|f| f.root.as_deref()))
            .unwrap_or("aws");
        let anchor = if root == "aws" {
            TrustAnchor::aws_nitro_root_g1()
        } else {
            let pem = std::fs::read_to_string(root)
                .map_err(|e| format!("cannot read root {root}: {e}"))?;
            TrustAnchor::from_pem(&pem).map_err(|e| format!("root {root}: {e}"))?
        };
        let mut allow_debug = self.allow_debug;
        let mut max_age = max_age;
        let pcrs = if self.any_pcrs {
            PcrPolicy::accept_any_measurement_insecure()
        } else if let (Some(file), Some(path)) = (&file, &self.policy) {
            allow_debug |= file.allow_debug;
            max_age = max_age.or(file.max_age_seconds);
            file.pcr_policy()
                .map_err(|e| format!("--policy {path}: {e}"))?
        } else if self.pcrs.is_empty() {
            return Err("expected PCRs are required: pass --pcr IDX=HEX (repeatable) or --policy FILE \
                        (`signet attest inspect DOC` shows a document's PCRs; --any-pcrs skips the check \
                        and proves nothing about which image runs)"
                .into());
        } else {
            let pairs = self
                .pcrs
                .iter()
                .map(|a| PcrSet::parse_arg(a).map_err(|e| e.to_string()))
                .collect::<Result<Vec<_>, _>>()?;
            let set = PcrSet::from_hex(pairs.iter().map(|(i, h)| (*i, h.as_str())))
                .map_err(|e| e.to_string())?;
            PcrPolicy::exactly(set)
        };
        let at =
            match self.at.as_str() {
                "now" => VerifyAt::Now,
                "doc" => VerifyAt::DocumentTimestamp,
                ms => VerifyAt::UnixMs(ms.parse().map_err(|_| {
                    format!("--at must be now, doc or Unix milliseconds, not `{ms}`")
                })?),
            };
        let mut verifier = Verifier::new(anchor, pcrs).allow_debug(allow_debug).at(at);
        if let Some(secs) = max_age {
            verifier = verifier.max_age(Duration::from_secs(secs));
        }
        Ok(verifier)
    }
}

fn hex_opt(v: &Option<Vec<u8>>) -> Value {
    v.as_ref()
        .map_or(Value::Null, |b| Value::String(hex::encode(b)))
}

/// The PCRs by number (0, 1, 2, …, 10), not as strings sort (0, 1, 10, 2).
fn pcrs_json(doc: &AttestationDoc) -> Node {
    Node::Object(
        doc.pcrs
            .iter()
            .map(|(i, v)| (i.to_string(), Node::Value(Value::String(hex::encode(v)))))
            .collect(),
    )
}

fn print_human(v: &VerifiedDocument, anchor: &TrustAnchor, any_pcrs: bool) {
    let root = if anchor.is_aws_nitro_root_g1() {
        "AWS Nitro Enclaves Root-G1"
    } else {
        "a root given with --root (not AWS)"
    };
    out!("VALID attestation document");
    out!("  module_id    {}", v.doc.module_id);
    out!(
        "  timestamp    {} ({} ms)",
        rfc3339_ms(v.doc.timestamp_ms),
        v.doc.timestamp_ms
    );
    out!(
        "  checked at   {} ({} ms)",
        rfc3339_ms(v.checked_at_ms),
        v.checked_at_ms
    );
    out!(
        "  root         {} sha256:{}",
        root,
        hex::encode(v.root_sha256)
    );
    out!(
        "  debug mode   {}",
        if v.debug_mode {
            "YES (memory readable by the host)"
        } else {
            "no"
        }
    );
    if any_pcrs {
        out!("  PCRs         NOT CHECKED (--any-pcrs)");
    }
    for (i, value) in &v.doc.pcrs {
        out!("  PCR{i:<2}        {}", hex::encode(value));
    }
    for (name, field) in [
        ("public_key", &v.doc.public_key),
        ("user_data", &v.doc.user_data),
        ("nonce", &v.doc.nonce),
    ] {
        if let Some(b) = field {
            out!("  {name:<12} {}", hex::encode(b));
        }
    }
}

fn inspect(path: &str) -> Outcome {
    let bytes = match read_source(path) {
        Ok(b) => decode_document(&b),
        Err(msg) => return usage(&msg),
    };
    eprintln!(
        "NOT VERIFIED: decoded only; use `signet attest verify` before trusting anything in it"
    );
    match inspect_unverified(&bytes) {
        Ok(doc) => {
            let field = |k: &str, v: Value| (k.to_owned(), Node::Value(v));
            let out = Node::Object(vec![
                field("verified", json!(false)),
                field("module_id", json!(doc.module_id)),
                field("digest", json!(doc.digest)),
                field("timestamp_ms", json!(doc.timestamp_ms)),
                field("timestamp", json!(rfc3339_ms(doc.timestamp_ms))),
                ("pcrs".to_owned(), pcrs_json(&doc)),
                field("debug_mode", json!(doc.is_debug_mode())),
                field("public_key", hex_opt(&doc.public_key)),
                field("user_data", hex_opt(&doc.user_data)),
                field("nonce", hex_opt(&doc.nonce)),
                field("certificate", json!(hex::encode(&doc.certificate))),
                field(
                    "cabundle",
                    json!(doc.cabundle.iter().map(hex::encode).collect::<Vec<_>>()),
                ),
            ]);
            out!("{}", out.pretty());
            Outcome::Valid
        }
        Err(e) => {
            eprintln!("cannot decode: {e}");
            Outcome::Invalid
        }
    }
}

//! `signet-kms-fake`: a faithful stand-in for AWS KMS, for Signet's tests and
//! local dev. See the library documentation; `--help` for the flags.
//!
//! When ready it prints exactly one line on stdout,
//! `signet-kms-fake listening https=ADDR control=ADDR`; logs go to stderr.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use signet_attestation::TrustAnchor;
use signet_kms_fake::cms::ContentForm;
use signet_kms_fake::policy::{default_policy_json, KeyPolicy};
use signet_kms_fake::server::{self, Config};
use signet_kms_fake::sigv4::Credential;
use signet_kms_fake::store::KeySpec;

/// A faithful stand-in for AWS KMS (tests and local dev only).
#[derive(Debug, Parser)]
#[command(name = "signet-kms-fake", version)]
struct Args {
    /// Directory for the CA (ca.pem), the server certificate and the key material.
    #[arg(long)]
    dir: PathBuf,
    /// The region served (key ARNs, SigV4 scope, kms.REGION.amazonaws.com).
    #[arg(long)]
    region: String,
    /// The 12-digit account id owning the keys.
    #[arg(long)]
    account: String,
    /// A key to serve, with its key policy file (default: everything to the account root).
    #[arg(long = "key", value_name = "ID[=POLICY_FILE]")]
    keys: Vec<String>,
    /// An alias for a key (`alias/NAME` then resolves to it).
    #[arg(long = "alias", value_name = "NAME=ID")]
    aliases: Vec<String>,
    /// A caller's credentials and the principal they authenticate as.
    #[arg(
        long = "credentials",
        value_name = "AKID:SECRET:PRINCIPAL_ARN[:SESSION_TOKEN[:EXPIRES_UNIX]]"
    )]
    credentials: Vec<String>,
    /// PEM root certificate attestation documents must chain to.
    #[arg(long, value_name = "PEM_FILE")]
    attestation_root: PathBuf,
    /// The KMS API (TLS) address.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The control API (plain HTTP) address.
    #[arg(long, default_value = "127.0.0.1:0")]
    control: SocketAddr,
    /// How CiphertextForRecipient encodes its content (KMS has sent both).
    #[arg(long, value_enum, default_value = "constructed")]
    cms_content: CmsContent,
    /// Also stop when standard input closes (so a test's fake dies with the test).
    #[arg(long)]
    exit_with_stdin: bool,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum CmsContent {
    Constructed,
    Primitive,
}

fn config(args: Args) -> Result<Config, String> {
    if args.account.len() != 12 || !args.account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "--account `{}` is not a 12-digit account id",
            args.account
        ));
    }
    if args.region.is_empty()
        || !args
            .region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!("--region `{}` is not a region name", args.region));
    }
    let mut keys = Vec::new();
    for spec in &args.keys {
        let (id, policy_text) = match spec.split_once('=') {
            Some((id, file)) => (
                id,
                std::fs::read_to_string(file).map_err(|e| format!("--key {id}: {file}: {e}"))?,
            ),
            None => (spec.as_str(), default_policy_json(&args.account)),
        };
        let policy = KeyPolicy::from_json(&policy_text).map_err(|e| format!("--key {id}: {e}"))?;
        keys.push(KeySpec {
            id: id.to_owned(),
            policy,
        });
    }
    let aliases = args
        .aliases
        .iter()
        .map(|a| {
            a.split_once('=')
                .map(|(n, id)| (n.to_owned(), id.to_owned()))
                .ok_or_else(|| format!("--alias `{a}` is not NAME=ID"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let credentials = args
        .credentials
        .iter()
        .map(|c| Credential::parse(c).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let root = std::fs::read_to_string(&args.attestation_root).map_err(|e| {
        format!(
            "--attestation-root {}: {e}",
            args.attestation_root.display()
        )
    })?;
    let attestation_root = TrustAnchor::from_pem(&root).map_err(|e| {
        format!(
            "--attestation-root {}: {e}",
            args.attestation_root.display()
        )
    })?;
    Ok(Config {
        dir: args.dir,
        region: args.region,
        account: args.account,
        keys,
        aliases,
        credentials,
        attestation_root,
        listen: args.listen,
        control: args.control,
        cms_content: match args.cms_content {
            CmsContent::Constructed => ContentForm::Constructed,
            CmsContent::Primitive => ContentForm::Primitive,
        },
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    let exit_with_stdin = args.exit_with_stdin;
    signet_fake_support::run(
        "signet-kms-fake",
        config(args),
        exit_with_stdin,
        server::start,
    )
}

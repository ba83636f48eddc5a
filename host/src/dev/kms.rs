//! `signet-host dev --sealing kms` without `KMS_ENDPOINT`: starts the
//! project's KMS (`signet-kms-fake`, beside this executable) for the dev
//! signer, with a key policy shaped like the Terraform module's (the dev
//! signer's PCRs, this deployment's encryption context, denied without a
//! recipient), so the production path runs locally with one command.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use rand_core::RngCore as _;
use signet_proto::message::AwsCredentials;
use tokio::io::AsyncBufReadExt as _;

use super::write_file;

/// The dev account, region, key and role.
const ACCOUNT: &str = "111111111111";
const REGION: &str = "us-east-1";
const ROLE: &str = "arn:aws:iam::111111111111:role/signet-dev";

/// The running KMS: stopped when dropped (and when this process dies: its
/// standard input is a pipe held here).
pub struct DevKmsProcess {
    _child: tokio::process::Child,
    _pipe: Option<tokio::process::ChildStdin>,
    /// `HOST:PORT` of its KMS API.
    pub endpoint: String,
    /// Its TLS root.
    pub ca_file: PathBuf,
    /// The key ARN.
    pub key_id: String,
    /// Credentials it accepts.
    pub credentials: AwsCredentials,
}

fn binary() -> Result<PathBuf, String> {
    if let Ok(p) = std::env::var("SIGNET_KMS_FAKE_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own executable: {e}"))?;
    let beside = exe.with_file_name("signet-kms-fake");
    if beside.exists() {
        Ok(beside)
    } else {
        Err(format!(
            "--sealing kms without KMS_ENDPOINT starts the project's KMS, but {} is not built (cargo build --release -p signet-kms-fake)",
            beside.display()
        ))
    }
}

/// The key policy: what the module renders, for the dev signer.
fn policy(pcrs: &BTreeMap<u8, Vec<u8>>, deployment: &str) -> serde_json::Value {
    let pcr = |i: u8| pcrs.get(&i).map(hex::encode).unwrap_or_default();
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EnclaveDecryptOnlyWithAttestation",
                "Effect": "Allow",
                "Principal": {"AWS": ROLE},
                "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                "Resource": "*",
                "Condition": {
                    "StringEqualsIgnoreCase": {
                        "kms:RecipientAttestation:ImageSha384": pcr(0),
                        "kms:RecipientAttestation:PCR1": pcr(1),
                        "kms:RecipientAttestation:PCR2": pcr(2),
                    },
                    "StringEquals": {
                        "kms:EncryptionContext:signet-deployment": deployment,
                        "kms:EncryptionContext:signet-purpose": "sealing-key",
                    },
                },
            },
            {
                "Sid": "DenyUseWithoutAttestation",
                "Effect": "Deny",
                "Principal": {"AWS": ROLE},
                "Action": ["kms:GenerateDataKey", "kms:Decrypt", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:CreateGrant"],
                "Resource": "*",
                "Condition": {"Null": {"kms:RecipientAttestation:ImageSha384": "true"}},
            },
        ],
    })
}

/// Starts the KMS in `data_dir/kms`, trusting `dev_root` for attestation.
pub async fn start(
    data_dir: &Path,
    dev_root: &Path,
    pcrs: &BTreeMap<u8, Vec<u8>>,
    deployment: &str,
) -> Result<DevKmsProcess, String> {
    let dir = data_dir.join("kms");
    let policy_path = data_dir.join("kms-policy.json");
    write_file(
        &policy_path,
        policy(pcrs, deployment).to_string().as_bytes(),
        0o600,
    )
    .map_err(|e| format!("{}: {e}", policy_path.display()))?;
    let mut secret = [0u8; 24];
    rand_core::OsRng.fill_bytes(&mut secret);
    let credentials = AwsCredentials {
        access_key_id: "AKIASIGNETDEV0000001".into(),
        secret_access_key: hex::encode(secret),
        session_token: None,
        expires_at: None,
    };
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data_dir.join("kms.log"))
        .map_err(|e| e.to_string())?;
    let mut child = tokio::process::Command::new(binary()?)
        .arg("--dir")
        .arg(&dir)
        .args(["--region", REGION, "--account", ACCOUNT, "--key"])
        .arg(format!("signet-dev={}", policy_path.display()))
        .arg("--credentials")
        .arg(format!(
            "{}:{}:{ROLE}",
            credentials.access_key_id, credentials.secret_access_key
        ))
        .arg("--attestation-root")
        .arg(dev_root)
        .arg("--exit-with-stdin")
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start signet-kms-fake: {e}"))?;
    let pipe = child.stdin.take();
    let stdout = child.stdout.take().ok_or("signet-kms-fake: no stdout")?;
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(30),
        tokio::io::BufReader::new(stdout).read_line(&mut line),
    )
    .await
    .map_err(|_| "signet-kms-fake did not start within 30 s (see kms.log)".to_owned())?
    .map_err(|e| format!("signet-kms-fake: {e}"))?;
    let endpoint = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("https="))
        .ok_or_else(|| format!("signet-kms-fake printed {line:?} (see kms.log)"))?
        .to_owned();
    Ok(DevKmsProcess {
        _child: child,
        _pipe: pipe,
        endpoint,
        ca_file: dir.join("ca.pem"),
        key_id: format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/signet-dev"),
        credentials,
    })
}

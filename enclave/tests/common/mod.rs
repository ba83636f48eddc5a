//! Starts the real `signet-enclave` binary on a unix socket and talks to it
//! with the proto client.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use signet_proto::client::SignerClient;
use signet_proto::ticket::{TicketClaims, TicketKeys, AUDIENCE};
use signet_proto::{KeyType, SharedSecret, SignerAddr};

pub mod softhsm;

pub const INTERNAL_KEY: &str = "test-internal-api-key-4f9c2a7e1b3d5f60";
pub const TICKET_SECRET: &str = "test-ticket-mac-key-9a8b7c6d5e4f3a2b1c0d";

pub struct SignerProcess {
    pub child: Child,
    pub socket: PathBuf,
    pub dev_dir: PathBuf,
}

impl SignerProcess {
    /// Starts the signer with dev attestation, its dev material in `dir/dev`.
    pub fn start(dir: &Path) -> Self {
        Self::start_with(
            dir,
            &[
                ("INTERNAL_API_KEY", INTERNAL_KEY),
                ("TICKET_SIGNING_SECRET", TICKET_SECRET),
            ],
            &[],
        )
    }

    pub fn start_with(dir: &Path, env: &[(&str, &str)], extra: &[&str]) -> Self {
        let socket = dir.join("signer.sock");
        let dev_dir = dir.join("dev");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_signet-enclave"));
        cmd.arg("--listen")
            .arg(format!("unix:{}", socket.display()))
            .args(["--attestation", "dev", "--dev-dir"])
            .arg(&dev_dir)
            .args(extra)
            .env_clear()
            .env("SIGNET_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("signer.log")).unwrap(),
            ));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        let process = Self {
            child,
            socket,
            dev_dir,
        };
        process.wait_ready();
        process
    }

    fn wait_ready(&self) {
        for _ in 0..1200 {
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!(
            "signer did not start; log: {}",
            std::fs::read_to_string(self.socket.with_file_name("signer.log")).unwrap_or_default()
        );
    }

    pub fn addr(&self) -> SignerAddr {
        SignerAddr::Unix(self.socket.clone())
    }

    pub async fn client(&self) -> (SignerClient, signet_proto::client::Hello) {
        SignerClient::connect(&self.addr(), &internal_key(), Duration::from_secs(10))
            .await
            .unwrap()
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.socket.with_file_name("signer.log")).unwrap_or_default()
    }
}

impl Drop for SignerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn internal_key() -> SharedSecret {
    SharedSecret::new_unchecked(INTERNAL_KEY.as_bytes().to_vec())
}

pub fn ticket_keys() -> TicketKeys {
    TicketKeys::new(
        SharedSecret::new_unchecked(TICKET_SECRET.as_bytes().to_vec()),
        None,
    )
}

pub fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn claims(wid: &str, digest: &[u8], kty: KeyType) -> TicketClaims {
    let mut jti = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut jti);
    TicketClaims {
        jti: hex::encode(jti),
        sub: "test-client".into(),
        wid: wid.into(),
        dig: hex::encode(digest),
        kty,
        iat: now_s(),
        exp: now_s() + 60,
        aud: AUDIENCE.into(),
    }
}

pub fn ticket(wid: &str, digest: &[u8], kty: KeyType) -> String {
    ticket_keys().mint(&claims(wid, digest, kty))
}

/// One signature for the independent verifier.
pub struct Checked {
    pub key_type: KeyType,
    pub public_key: Vec<u8>,
    pub digest: Vec<u8>,
    pub message: Option<Vec<u8>>,
    pub signature: Vec<u8>,
}

/// Verifies signatures with pyca/cryptography (OpenSSL), not with the Rust
/// crates that made them. `SIGNET_PYTHON` names the interpreter (set by
/// scripts/test.sh to one that has `cryptography`).
pub fn verify_independently(items: &[Checked]) {
    let python = std::env::var("SIGNET_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/independent_verify.py");
    let mut child = Command::new(&python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {python} (run scripts/test.sh, which installs it): {e}")
        });
    {
        let mut stdin = child.stdin.take().unwrap();
        for item in items {
            let line = serde_json::json!({
                "key_type": item.key_type.as_str(),
                "public_key": hex::encode(&item.public_key),
                "digest": hex::encode(&item.digest),
                "message": item.message.as_ref().map(hex::encode),
                "signature": hex::encode(&item.signature),
            });
            writeln!(stdin, "{line}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "independent verification failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), format!("ok {}", items.len()));
}

/// Generates key `id` of type `kt` with the record settings `settings`
/// (JSON), as a host would.
pub async fn generate(
    client: &SignerClient,
    id: &str,
    kt: KeyType,
    settings: Option<String>,
) -> signet_proto::message::GeneratedKey {
    match client
        .call(signet_proto::Request::Generate {
            key_id: id.into(),
            key_type: kt,
            settings,
        })
        .await
        .unwrap()
    {
        signet_proto::Response::Generated(g) => g,
        other => panic!("{other:?}"),
    }
}

/// The record a generated key came with.
pub fn record(g: &signet_proto::message::GeneratedKey) -> signet_authority::Record {
    signet_authority::Record::parse(g.record.as_deref().unwrap()).unwrap()
}

/// A request for `content` as a host would send it: its own ticket for the
/// content's digest (or for `digest` when given, to lie about it).
pub fn request(
    id: &str,
    kt: KeyType,
    content: &serde_json::Value,
    digest: [u8; 32],
) -> signet_proto::message::SignRequest {
    signet_proto::message::SignRequest {
        key_id: id.into(),
        ticket: ticket(id, &digest, kt),
        digest: digest.to_vec(),
        message: None,
        attest: false,
        sealed: None,
        record: None,
        content: Some(content.to_string()),
        approvals: Vec::new(),
    }
}

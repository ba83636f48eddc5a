//! The signer child of `signet-host dev`: started with a pipe on its
//! standard input so it dies with its parent, restarted when it exits, and a
//! signer left behind by an earlier run (its pid file names it) is stopped
//! before a new one takes over the socket.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use signet_proto::SharedSecret;
use tokio::process::Command;

use super::Backend;

/// The dev signer's KMS sealing settings.
#[derive(Clone, Debug)]
pub struct DevKms {
    /// Key ARN.
    pub key_id: String,
    /// Region.
    pub region: String,
    /// `tcp://127.0.0.1:PORT` of the host's relay.
    pub proxy: String,
    /// Extra TLS root.
    pub ca_file: Option<PathBuf>,
}

/// How to start the signer child.
#[derive(Clone)]
pub struct SignerCommand {
    pub(super) kms: Option<DevKms>,
    pub(super) binary: PathBuf,
    pub(super) socket: PathBuf,
    pub(super) dev_dir: PathBuf,
    pub(super) pid_file: PathBuf,
    pub(super) log_file: PathBuf,
    pub(super) internal_api_key: SharedSecret,
    pub(super) ticket_secret: SharedSecret,
    pub(super) ticket_secret_previous: Option<SharedSecret>,
    pub(super) backend: Backend,
}

impl SignerCommand {
    fn spawn(&self) -> std::io::Result<Running> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_file)?;
        let secret = |s: &SharedSecret| String::from_utf8_lossy(s.expose()).into_owned();
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--listen")
            .arg(format!("unix:{}", self.socket.display()))
            .args(["--attestation", "dev", "--dev-dir"])
            .arg(&self.dev_dir)
            .env_clear()
            // A pipe never written to: when this process dies, even by
            // SIGKILL, the signer sees it close and stops (--exit-with-stdin).
            .arg("--exit-with-stdin")
            // Named in every wallet record it makes (and, with KMS
            // sealing, in the encryption context).
            .args(["--deployment", super::DEV_DEPLOYMENT])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        match &self.kms {
            // As in the enclave image: KMS sealing, and the secrets come
            // from this host after it checked the signer's attestation.
            Some(kms) => {
                cmd.args(["--sealing", "kms", "--secrets", "host", "--kms-key-id"])
                    .arg(&kms.key_id)
                    .args(["--kms-region", &kms.region, "--kms-proxy", &kms.proxy]);
                if let Some(ca) = &kms.ca_file {
                    cmd.arg("--kms-ca").arg(ca);
                }
            }
            None => {
                cmd.env("INTERNAL_API_KEY", secret(&self.internal_api_key))
                    .env("TICKET_SIGNING_SECRET", secret(&self.ticket_secret));
                if let Some(prev) = &self.ticket_secret_previous {
                    cmd.env("TICKET_SIGNING_SECRET_PREVIOUS", secret(prev));
                }
            }
        }
        match &self.backend {
            Backend::Software => {
                cmd.args(["--backend", "software"]);
            }
            Backend::Pkcs11 {
                module,
                token_label,
            } => {
                cmd.args(["--backend", "pkcs11", "--pkcs11-module"])
                    .arg(module)
                    .args(["--pkcs11-token-label", token_label]);
            }
        }
        for name in [
            "SIGNET_LOG_FORMAT",
            "SIGNET_LOG",
            "PKCS11_PIN",
            "SOFTHSM2_CONF",
        ] {
            if let Ok(v) = std::env::var(name) {
                cmd.env(name, v);
            }
        }
        let mut child = cmd.spawn()?;
        if let Some(pid) = child.id() {
            let _ = std::fs::write(&self.pid_file, format!("{pid}\n"));
        }
        // Held apart from the child: `Child::wait` closes a stdin it holds.
        let pipe = child.stdin.take();
        Ok(Running { child, _pipe: pipe })
    }
}

/// A started signer and the write end of its standard input, which stays
/// open exactly as long as this process runs.
struct Running {
    child: tokio::process::Child,
    _pipe: Option<tokio::process::ChildStdin>,
}

/// Keeps the signer child running: restarts it (with backoff) whenever it
/// exits, and stops it when dropped.
pub struct Supervisor {
    task: tokio::task::JoinHandle<()>,
}

impl Supervisor {
    /// Stops a signer left running by an earlier run, starts the child and
    /// waits until its socket accepts connections.
    pub async fn start(command: SignerCommand) -> Result<Self, String> {
        stop_stale_signer(&command.pid_file, &command.socket).await;
        let mut running = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", command.binary.display()))?;
        wait_for_socket(&command.socket, &mut running.child).await?;
        let task = tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                let status = running.child.wait().await;
                tracing::warn!(
                    ?status,
                    "signer exited; restarting it (sealed keys come back on demand)"
                );
                loop {
                    tokio::time::sleep(backoff).await;
                    match command.spawn() {
                        Ok(r) => {
                            running = r;
                            backoff = Duration::from_millis(100);
                            break;
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "cannot restart the signer");
                            backoff = (backoff * 2).min(Duration::from_secs(5));
                        }
                    }
                }
            }
        });
        Ok(Self { task })
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        // Aborting drops the child handle, and `kill_on_drop` kills it.
        self.task.abort();
    }
}

async fn wait_for_socket(socket: &Path, child: &mut tokio::process::Child) -> Result<(), String> {
    for _ in 0..600 {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "the signer exited at start ({status}); see signer.log in the data directory"
            ));
        }
        if tokio::net::UnixStream::connect(socket).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err("the signer did not open its socket within 30 s".into())
}

/// Whether `pid` runs a signet-enclave serving `socket` (per /proc).
fn is_our_signer(pid: u32, socket: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let socket_arg = format!("unix:{}", socket.display());
    args.first().is_some_and(|a| a.ends_with(b"signet-enclave"))
        && args.contains(&socket_arg.as_bytes())
}

/// Sends `signal` to `pid` with the `kill` command (no unsafe code here).
fn signal(pid: u32, signal: &str) {
    let _ = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Stops the signer named by `pid_file` if it still runs on `socket` (an
/// orphan of a host that was killed before children died with their
/// parent): SIGTERM, then SIGKILL after 5 s.
async fn stop_stale_signer(pid_file: &Path, socket: &Path) {
    let Some(pid) = std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
    else {
        return;
    };
    if !is_our_signer(pid, socket) {
        return;
    }
    tracing::warn!(
        pid,
        "a signer from an earlier run still serves the socket; stopping it"
    );
    signal(pid, "-TERM");
    for _ in 0..50 {
        if !is_our_signer(pid, socket) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    signal(pid, "-KILL");
    for _ in 0..20 {
        if !is_our_signer(pid, socket) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

//! `signet-host dev`: the embedded default. Spawns and supervises a
//! `signet-enclave` child (software keys, dev attestation, unix socket) with
//! generated secrets, keeps SQLite and dev material under `--data-dir`,
//! creates an admin API client, and serves the API.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use signet_attestation::dev::{dev_pcrs, DevIssuer};
use signet_attestation::{PcrPolicy, PcrSet, Verifier};
use signet_proto::SharedSecret;
use tokio::process::Command;

use crate::config::{AttestationCheck, Config, Source};

/// Options of `signet-host dev`.
#[derive(Clone, Debug)]
pub struct DevOptions {
    /// Data directory.
    pub data_dir: PathBuf,
    /// Listen address (overrides `SIGNET_LISTEN`).
    pub listen: Option<String>,
    /// The signer binary (default: `signet-enclave` beside this executable).
    pub enclave_bin: Option<PathBuf>,
    /// The signer's key backend.
    pub backend: Backend,
}

/// Which key backend the dev signer uses.
#[derive(Clone, Debug, Default)]
pub enum Backend {
    /// Software keys sealed under the dev sealing key.
    #[default]
    Software,
    /// A PKCS#11 token (PIN from `PKCS11_PIN`, passed to the signer only).
    Pkcs11 {
        /// Module path.
        module: PathBuf,
        /// Token label.
        token_label: String,
    },
}

fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Finds the signer binary.
pub fn enclave_binary(explicit: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        return Ok(p.to_owned());
    }
    if let Ok(p) = std::env::var("SIGNET_ENCLAVE_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own executable: {e}"))?;
    let beside = exe.with_file_name("signet-enclave");
    if beside.exists() {
        Ok(beside)
    } else {
        Err(format!(
            "{} not found: build it (cargo build --release -p signet-enclave) or pass --enclave-bin",
            beside.display()
        ))
    }
}

/// Everything `dev` prepared.
pub struct Prepared {
    /// The configuration to serve with.
    pub config: Config,
    /// The supervisor of the signer child (stops it when dropped).
    pub supervisor: Supervisor,
    /// Where the admin token is.
    pub admin_token_path: PathBuf,
    /// Where the dev root is.
    pub dev_root_path: PathBuf,
}

/// Prepares the data directory, dev CA, secrets and the signer child.
pub async fn prepare(options: &DevOptions) -> Result<Prepared, String> {
    let dir = &options.data_dir;
    private_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let enclave_bin = enclave_binary(options.enclave_bin.as_deref())?;
    let dev_dir = dir.join("dev");
    let issuer =
        DevIssuer::load_or_create(&dev_dir.join("attestation")).map_err(|e| e.to_string())?;
    let root_pem = issuer.root_pem().map_err(|e| e.to_string())?;
    let dev_root_path = dir.join("dev-root.pem");
    write_file(&dev_root_path, root_pem.as_bytes(), 0o644)
        .map_err(|e| format!("{}: {e}", dev_root_path.display()))?;
    let binary =
        std::fs::read(&enclave_bin).map_err(|e| format!("{}: {e}", enclave_bin.display()))?;
    let pcrs = PcrSet::new(dev_pcrs(&binary)).map_err(|e| e.to_string())?;
    let verifier = Verifier::new(
        issuer.trust_anchor().map_err(|e| e.to_string())?,
        PcrPolicy::exactly(pcrs),
    )
    .max_age(Duration::from_secs(300));

    let mut source = Source::load(None).map_err(|e| e.to_string())?;
    let socket = dir.join("signer.sock");
    source.default_value("ENCLAVE_ADDR", format!("unix:{}", socket.display()));
    source.default_value(
        "SIGNET_DATABASE_URL",
        format!("sqlite://{}", dir.join("signet.db").display()),
    );
    for name in [
        "INTERNAL_API_KEY",
        "TICKET_SIGNING_SECRET",
        "SESSION_SIGNING_SECRET",
    ] {
        source.default_value(name, SharedSecret::generate_hex().as_str());
    }
    if let Some(listen) = &options.listen {
        source.set("SIGNET_LISTEN", listen);
    }
    let mut config = Config::from_source(&source, true).map_err(|e| e.to_string())?;
    config.attestation = AttestationCheck::Policy {
        path: dev_root_path.clone(),
        verifier: Box::new(verifier),
    };

    let supervisor = Supervisor::start(SignerCommand {
        binary: enclave_bin,
        socket,
        dev_dir,
        pid_file: dir.join("signer.pid"),
        log_file: dir.join("signer.log"),
        internal_api_key: config.internal_api_key.clone(),
        ticket_secret: config.ticket_secret.clone(),
        ticket_secret_previous: config.ticket_secret_previous.clone(),
        backend: options.backend.clone(),
    })
    .await?;
    Ok(Prepared {
        config,
        supervisor,
        admin_token_path: dir.join("admin-token"),
        dev_root_path,
    })
}

/// Ensures an admin API client exists and its token is in `path` (0600).
pub async fn ensure_admin(store: &crate::store::Store, path: &Path) -> Result<(), String> {
    if let Ok(token) = std::fs::read_to_string(path) {
        let id = token
            .trim()
            .strip_prefix("sgn_")
            .and_then(|r| r.split('_').next())
            .unwrap_or_default();
        if store
            .client(id)
            .await
            .map_err(|e| e.to_string())?
            .is_some_and(|c| c.revoked_at.is_none())
        {
            return Ok(());
        }
    }
    let (_, token) =
        crate::api::create_api_client(store, "operator", "admin", "default", vec!["*".into()])
            .await
            .map_err(|e| e.message)?;
    write_file(path, format!("{}\n", token.as_str()).as_bytes(), 0o600)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// How to start the signer child.
#[derive(Clone)]
pub struct SignerCommand {
    binary: PathBuf,
    socket: PathBuf,
    dev_dir: PathBuf,
    pid_file: PathBuf,
    log_file: PathBuf,
    internal_api_key: SharedSecret,
    ticket_secret: SharedSecret,
    ticket_secret_previous: Option<SharedSecret>,
    backend: Backend,
}

impl SignerCommand {
    fn spawn(&self) -> std::io::Result<tokio::process::Child> {
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
            .env("INTERNAL_API_KEY", secret(&self.internal_api_key))
            .env("TICKET_SIGNING_SECRET", secret(&self.ticket_secret))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        if let Some(prev) = &self.ticket_secret_previous {
            cmd.env("TICKET_SIGNING_SECRET_PREVIOUS", secret(prev));
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
        let child = cmd.spawn()?;
        if let Some(pid) = child.id() {
            let _ = std::fs::write(&self.pid_file, format!("{pid}\n"));
        }
        Ok(child)
    }
}

/// Keeps the signer child running: restarts it (with backoff) whenever it
/// exits, and stops it when dropped.
pub struct Supervisor {
    task: tokio::task::JoinHandle<()>,
}

impl Supervisor {
    /// Starts the child and waits until its socket accepts connections.
    pub async fn start(command: SignerCommand) -> Result<Self, String> {
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", command.binary.display()))?;
        wait_for_socket(&command.socket, &mut child).await?;
        let task = tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                let status = child.wait().await;
                tracing::warn!(
                    ?status,
                    "signer exited; restarting it (sealed keys come back on demand)"
                );
                tokio::time::sleep(backoff).await;
                match command.spawn() {
                    Ok(c) => {
                        child = c;
                        backoff = Duration::from_millis(100);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot restart the signer");
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        tokio::time::sleep(backoff).await;
                        if let Ok(c) = command.spawn() {
                            child = c;
                        } else {
                            continue;
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

/// Runs `dev` until SIGTERM/Ctrl-C.
pub async fn run(options: DevOptions) -> Result<(), String> {
    let prepared = prepare(&options).await?;
    let state = crate::build_state(prepared.config.clone())
        .await
        .map_err(|e| e.to_string())?;
    ensure_admin(&state.store, &prepared.admin_token_path).await?;
    let listener = tokio::net::TcpListener::bind(prepared.config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", prepared.config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let router = crate::api::router(Arc::clone(&state));
    println!("signet-host dev: listening on http://{addr}");
    println!("  admin token:  {}", prepared.admin_token_path.display());
    println!(
        "  dev root:     {} (trust it explicitly: signet attest verify --root …)",
        prepared.dev_root_path.display()
    );
    println!("  data:         {}", options.data_dir.display());
    println!("  INSECURE dev mode: dev attestation and a dev sealing key on disk; never hold real funds with it");
    crate::server::serve(
        listener,
        router,
        state,
        None,
        crate::server::shutdown_signal(),
    )
    .await;
    drop(prepared.supervisor);
    Ok(())
}

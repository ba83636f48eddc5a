//! `signet-host dev`: the embedded default. Spawns and supervises a
//! `signet-enclave` child (software keys, dev attestation, unix socket) with
//! generated secrets, keeps SQLite and dev material under `--data-dir`,
//! creates an admin API client, and serves the API.

mod bootstrap;
mod kms;
mod rotate;
mod supervisor;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use signet_attestation::dev::{dev_pcrs, DevIssuer};
use signet_attestation::{PcrPolicy, PcrSet, Verifier};
use signet_proto::SharedSecret;

pub use self::bootstrap::{ensure_admin, private_dir, write_file, ADMIN_SCOPES};
pub use self::rotate::{rotate_through, URL_FILE};
pub use self::supervisor::{DevKms, SignerCommand, Supervisor};
use crate::config::{AttestationCheck, Config, SealingConfig, Source};

/// The deployment name of the dev signer (its KMS encryption context).
pub const DEV_DEPLOYMENT: &str = "signet-dev";

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
    /// KMS sealing (`--sealing kms`) instead of the dev key file.
    pub kms_sealing: bool,
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
    /// Where the dev signer's attestation policy is (`attestation-policy.json`).
    pub policy_path: PathBuf,
    /// The relay of the signer's KMS connections (KMS sealing).
    pub kms_relay: Option<tokio::task::JoinHandle<()>>,
    /// The project's KMS, when `dev` started it (no `KMS_ENDPOINT`).
    pub kms: Option<kms::DevKmsProcess>,
    /// The exclusive lock on the data directory, held while `dev` runs.
    pub lock: std::fs::File,
}

/// Takes the exclusive lock of a data directory (`DIR/dev.lock`, holding the
/// PID of its holder): a second `dev` on the same directory would take the
/// signer's socket and rewrite the dev root under the first.
fn lock_data_dir(dir: &std::path::Path) -> Result<std::fs::File, String> {
    use std::io::{Read as _, Seek as _, Write as _};
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = dir.join("dev.lock");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let who = if holder.is_empty() {
                String::new()
            } else {
                format!(" (PID {holder})")
            };
            return Err(format!(
                "the data directory {} is already in use by another signet-host dev{who}: stop it first, or pass another --data-dir",
                dir.display()
            ));
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(format!("cannot lock {}: {e}", path.display()));
        }
    }
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(file)
}

/// Relays every connection accepted on `listener` to `upstream`, bytes as
/// they are: the signer's TLS session with KMS passes through untouched
/// (what vsock-proxy does in Nitro).
pub fn relay(listener: tokio::net::TcpListener, upstream: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let upstream = upstream.clone();
            tokio::spawn(async move {
                match tokio::net::TcpStream::connect(&upstream).await {
                    Ok(mut outbound) => {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                    Err(e) => {
                        tracing::warn!(%upstream, error = %e, "KMS relay: cannot reach the endpoint")
                    }
                }
            });
        }
    })
}

/// The file (in the data directory) with the dev signer's attestation
/// policy: its root's path and its binary's dev PCRs, in the format of
/// `ATTESTATION_POLICY` and `signet … --policy`.
pub const POLICY_FILE: &str = "attestation-policy.json";

/// The dev attestation material: the root verifiers must be told to trust
/// (written to `DIR/dev-root.pem`), the policy the host enforces on its own
/// signer (that root and the signer binary's dev PCRs, also written to
/// `DIR/attestation-policy.json` for verifiers).
struct DevAttestation {
    root_path: PathBuf,
    policy_path: PathBuf,
    check: AttestationCheck,
    /// The signer binary's dev PCRs.
    pcrs: std::collections::BTreeMap<u8, Vec<u8>>,
}

fn dev_attestation(
    dir: &Path,
    dev_dir: &Path,
    enclave_bin: &Path,
) -> Result<DevAttestation, String> {
    let issuer =
        DevIssuer::load_or_create(&dev_dir.join("attestation")).map_err(|e| e.to_string())?;
    let root_pem = issuer.root_pem().map_err(|e| e.to_string())?;
    let root_path = dir.join("dev-root.pem");
    write_file(&root_path, root_pem.as_bytes(), 0o644)
        .map_err(|e| format!("{}: {e}", root_path.display()))?;
    let binary =
        std::fs::read(enclave_bin).map_err(|e| format!("{}: {e}", enclave_bin.display()))?;
    let pcrs = dev_pcrs(&binary);
    let published = crate::config::published_policy(
        Some(&root_pem),
        &[pcrs
            .iter()
            .map(|(i, v)| (i.to_string(), hex::encode(v)))
            .collect()],
        false,
        300,
    );
    let policy_path = write_policy_file(dir, &root_path, &pcrs)?;
    let verifier = Verifier::new(
        issuer.trust_anchor().map_err(|e| e.to_string())?,
        PcrPolicy::exactly(PcrSet::new(pcrs.clone()).map_err(|e| e.to_string())?),
    )
    .max_age(Duration::from_secs(300));
    Ok(DevAttestation {
        check: AttestationCheck::Policy {
            path: root_path.clone(),
            verifier: Box::new(verifier),
            published,
        },
        root_path,
        policy_path,
        pcrs,
    })
}

/// Writes `DIR/attestation-policy.json`: the root by absolute path (the file
/// is read from any directory) and one PCR set, without a maximum age (a
/// wallet's creation document is checked long after it was made; the host
/// applies its own 300 s to its signer's fresh documents).
fn write_policy_file(
    dir: &Path,
    root_path: &Path,
    pcrs: &std::collections::BTreeMap<u8, Vec<u8>>,
) -> Result<PathBuf, String> {
    let root =
        std::fs::canonicalize(root_path).map_err(|e| format!("{}: {e}", root_path.display()))?;
    let set: serde_json::Map<String, serde_json::Value> = pcrs
        .iter()
        .map(|(i, v)| (i.to_string(), serde_json::Value::String(hex::encode(v))))
        .collect();
    let policy = serde_json::json!({
        "root": root.display().to_string(),
        "pcr_sets": [set],
        "allow_debug": false,
    });
    let text = serde_json::to_string_pretty(&policy).map_err(|e| e.to_string())?;
    let path = dir.join(POLICY_FILE);
    write_file(&path, format!("{text}\n").as_bytes(), 0o644)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// The environment (and file) with dev defaults: the signer's socket,
/// SQLite in the data directory, fresh secrets, and for `--sealing kms` the
/// project's KMS (started here unless `KMS_ENDPOINT` names one).
async fn dev_source(
    options: &DevOptions,
    attestation: &DevAttestation,
) -> Result<(Source, Option<kms::DevKmsProcess>), String> {
    let dir = &options.data_dir;
    let mut source = Source::load(None).map_err(|e| e.to_string())?;
    source.default_value(
        "ENCLAVE_ADDR",
        format!("unix:{}", dir.join("signer.sock").display()),
    );
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
    let mut own_kms = None;
    if options.kms_sealing {
        source.set("SIGNET_SEALING", "kms");
        if source.get("KMS_ENDPOINT").is_none() {
            let started = kms::start(
                dir,
                &attestation.root_path,
                &attestation.pcrs,
                DEV_DEPLOYMENT,
            )
            .await?;
            source.set("KMS_ENDPOINT", &started.endpoint);
            source.set("KMS_CA_FILE", started.ca_file.display().to_string());
            source.set("KMS_KEY_ID", &started.key_id);
            source.set("AWS_REGION", "us-east-1");
            own_kms = Some(started);
        }
    }
    Ok((source, own_kms))
}

/// With KMS sealing, the relay of the signer's KMS connections (what
/// vsock-proxy does in Nitro) and what the signer is told about KMS.
async fn kms_relay(
    sealing: &SealingConfig,
) -> Result<(Option<DevKms>, Option<tokio::task::JoinHandle<()>>), String> {
    let SealingConfig::Kms(k) = sealing else {
        return Ok((None, None));
    };
    let endpoint = k.endpoint.clone().ok_or(
        "--sealing kms in dev needs KMS_ENDPOINT (HOST:PORT of a KMS that trusts the dev attestation root, e.g. signet-kms-fake)",
    )?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("KMS relay: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    Ok((
        Some(DevKms {
            key_id: k.key_id.clone(),
            region: k.region.clone(),
            proxy: format!("tcp://127.0.0.1:{port}"),
            ca_file: k.ca_file.clone(),
        }),
        Some(relay(listener, endpoint)),
    ))
}

/// Prepares the data directory, dev CA, secrets and the signer child.
pub async fn prepare(options: &DevOptions) -> Result<Prepared, String> {
    let dir = &options.data_dir;
    private_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let lock = lock_data_dir(dir)?;
    let enclave_bin = enclave_binary(options.enclave_bin.as_deref())?;
    let dev_dir = dir.join("dev");
    let attestation = dev_attestation(dir, &dev_dir, &enclave_bin)?;
    let (source, own_kms) = dev_source(options, &attestation).await?;
    let mut config = Config::from_source(&source, true).map_err(|e| e.to_string())?;
    if let (Some(own), SealingConfig::Kms(k)) = (&own_kms, &mut config.sealing) {
        k.credentials = Some(own.credentials.clone());
    }
    config.attestation = attestation.check;
    let (kms, kms_relay) = kms_relay(&config.sealing).await?;
    let supervisor = Supervisor::start(SignerCommand {
        kms,
        binary: enclave_bin,
        socket: dir.join("signer.sock"),
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
        dev_root_path: attestation.root_path,
        policy_path: attestation.policy_path,
        kms_relay,
        kms: own_kms,
        lock,
    })
}

/// Runs `dev` until SIGTERM/Ctrl-C.
pub async fn run(options: DevOptions) -> Result<(), String> {
    let prepared = prepare(&options).await?;
    let listener = tokio::net::TcpListener::bind(prepared.config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", prepared.config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let mut config = prepared.config.clone();
    // The links dev hands out (approval pages) lead to where it listens.
    config
        .public_url
        .get_or_insert_with(|| format!("http://{addr}"));
    let service = Arc::new(
        crate::service::Service::open(config)
            .await
            .map_err(|e| e.to_string())?,
    );
    ensure_admin(service.store(), &prepared.admin_token_path).await?;
    let background = service.start_background();
    let router = crate::http::router(Arc::clone(&service));
    // Where this host listens, for the commands run beside it
    // (`admin rotate-sealing-key --data-dir`).
    let url_path = options.data_dir.join(URL_FILE);
    write_file(&url_path, format!("http://{addr}\n").as_bytes(), 0o644)
        .map_err(|e| format!("{}: {e}", url_path.display()))?;
    println!("signet-host dev: listening on http://{addr}");
    println!("  console:      http://{addr}/console/");
    println!("  admin token:  {}", prepared.admin_token_path.display());
    println!(
        "  dev root:     {} (trust it explicitly: signet attest verify --root …)",
        prepared.dev_root_path.display()
    );
    println!(
        "  policy:       {} (root and PCRs: signet verify-signature --policy …)",
        prepared.policy_path.display()
    );
    println!("  data:         {}", options.data_dir.display());
    println!(
        "  database:     {}",
        crate::config::database_display(&prepared.config.database_url)
    );
    println!(
        "  quick start:  export SIGNET_URL=http://{addr} SIGNET_TOKEN=$(cat {})",
        prepared.admin_token_path.display()
    );
    if prepared.config.login.test_mode {
        println!("  user login:   TEST MODE (POST /v1/auth/challenge {{\"telegram_user_id\": N}} resolves at once)");
    }
    if let Some(own) = &prepared.kms {
        println!(
            "  KMS:          the project's KMS at {} (key {}), log in kms.log",
            own.endpoint, own.key_id
        );
    }
    if prepared.kms_relay.is_some() {
        println!("  INSECURE dev mode: dev attestation (KMS sealing through the relay); never hold real funds with it");
    } else {
        println!("  INSECURE dev mode: dev attestation and a dev sealing key on disk; never hold real funds with it");
    }
    crate::http::server::serve(
        listener,
        router,
        Arc::clone(&service),
        None,
        crate::http::server::shutdown_signal(),
    )
    .await;
    drop(background);
    service.release_leases().await;
    drop(prepared.supervisor);
    if let Some(relay) = prepared.kms_relay {
        relay.abort();
    }
    Ok(())
}

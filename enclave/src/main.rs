//! `signet-enclave`: the signer process.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use signet_enclave::attestor::{Attestor, DevAttestor, NoAttestor, NsmAttestor};
use signet_enclave::backend::{KeyBackend, SoftwareBackend};
use signet_enclave::kms::client::{KmsClient, KmsProxy};
use signet_enclave::kms::sealer::KmsSealer;
use signet_enclave::pkcs11::Pkcs11Backend;
use signet_enclave::sealing::{load_or_create_dev_sealing_key, SealingKeys};
use signet_enclave::server::{serve, ServerLimits};
use signet_enclave::service::{Sealing, Signer};
use signet_enclave::transport::AnyListener;
use signet_proto::ticket::TicketKeys;
use signet_proto::{SharedSecret, SignerAddr};

/// The Signet signer: generates and seals keys, verifies tickets, signs, attests.
///
/// Secrets never come from flags. With `--secrets env` they come from the
/// environment: INTERNAL_API_KEY (the host proves knowledge of it in the
/// hello), TICKET_SIGNING_SECRET and, during rotation,
/// TICKET_SIGNING_SECRET_PREVIOUS. With `--secrets host` (inside an enclave,
/// where there is no environment) the host provisions them over the signer
/// socket after checking this signer's attestation.
#[derive(Parser, Debug)]
#[command(name = "signet-enclave", version)]
struct Args {
    /// Where to listen: vsock://PORT (in a Nitro enclave) or unix:PATH.
    #[arg(long, env = "SIGNET_SIGNER_LISTEN")]
    listen: SignerAddr,
    /// Key backend.
    #[arg(long, value_enum, default_value_t = BackendKind::Software)]
    backend: BackendKind,
    /// Attestation: nsm (/dev/nsm inside Nitro), dev (local CA in --dev-dir; INSECURE), none.
    #[arg(long, value_enum, default_value_t = AttestationKind::Nsm)]
    attestation: AttestationKind,
    /// PKCS#11 module (`--backend pkcs11`), e.g. /usr/lib/softhsm/libsofthsm2.so.
    /// The user PIN comes from PKCS11_PIN, never from a flag.
    #[arg(long, value_name = "PATH")]
    pkcs11_module: Option<PathBuf>,
    /// Label of the PKCS#11 token holding Signet's keys.
    #[arg(long, value_name = "LABEL")]
    pkcs11_token_label: Option<String>,
    /// Dedicated threads for PKCS#11 calls (each with its own logged-in
    /// session), for HSMs whose calls wait on a device or network: set it to
    /// the HSM's parallelism. 0 (default) calls the token on the async
    /// workers, one session per worker: fastest for in-process software
    /// tokens (SoftHSM), whose calls are CPU work anyway.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pkcs11_threads: usize,
    /// Directory of dev material: the dev attestation CA and the dev sealing
    /// key. INSECURE: anyone who reads it can unseal keys and forge documents.
    #[arg(long, value_name = "DIR")]
    dev_dir: Option<PathBuf>,
    /// Where the software backend's sealing key comes from: dev (a key file
    /// in --dev-dir; INSECURE) or kms (a KMS data key released only to this
    /// attested signer).
    #[arg(long, value_enum, default_value_t = SealingKind::Dev)]
    sealing: SealingKind,
    /// Where the runtime secrets come from: env, or host (provisioned over
    /// the signer socket before the first hello).
    #[arg(long, value_enum, default_value_t = SecretsFrom::Env)]
    secrets: SecretsFrom,
    /// The KMS key (ARN) that seals the data keys; pinned in the image.
    #[arg(long, env = "SIGNET_KMS_KEY_ID", value_name = "ARN")]
    kms_key_id: Option<String>,
    /// The KMS key's region; the TLS name is kms.REGION.amazonaws.com.
    #[arg(long, env = "SIGNET_KMS_REGION", value_name = "REGION")]
    kms_region: Option<String>,
    /// The host's relay to KMS: vsock://CID:PORT (vsock-proxy) or tcp://HOST:PORT.
    #[arg(long, env = "SIGNET_KMS_PROXY", value_name = "ADDR")]
    kms_proxy: Option<KmsProxy>,
    /// An extra TLS root for KMS (tests and dev, with the project's KMS).
    #[arg(long, value_name = "PEM")]
    kms_ca: Option<PathBuf>,
    /// The deployment's name, bound into the KMS encryption context.
    #[arg(
        long,
        env = "SIGNET_DEPLOYMENT",
        value_name = "NAME",
        default_value = "signet"
    )]
    deployment: String,
    /// Unsealed keys kept in memory; others are reloaded from sealed blobs.
    #[arg(long, default_value_t = NonZeroUsize::new(100_000).unwrap_or(NonZeroUsize::MIN))]
    key_cache_size: NonZeroUsize,
    /// Live tickets remembered for replay protection (beyond: `busy`).
    #[arg(long, default_value_t = 4_000_000)]
    replay_cache_size: usize,
    /// Host connections served at once.
    #[arg(long, default_value_t = 64)]
    max_connections: usize,
    /// Log format.
    #[arg(long, env = "SIGNET_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Stop when standard input closes. A supervising parent (`signet-host
    /// dev`) passes a pipe it never writes to: when the parent dies, even by
    /// SIGKILL, the kernel closes it and the signer stops instead of
    /// lingering as an orphan.
    #[arg(long)]
    exit_with_stdin: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum BackendKind {
    /// Keys in enclave memory, sealed under the sealing key for storage by the host.
    Software,
    /// Keys generated and used inside a PKCS#11 HSM (non-extractable token objects).
    Pkcs11,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum SealingKind {
    /// A key file in --dev-dir (INSECURE).
    Dev,
    /// A KMS data key obtained under attestation.
    Kms,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum SecretsFrom {
    /// The process environment.
    Env,
    /// Provisioned by the host after it checked this signer's attestation.
    Host,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum AttestationKind {
    Nsm,
    Dev,
    None,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Json,
    Text,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SIGNET_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Reads a secret from the environment; weak values are refused, except in
/// dev mode where they only warn.
fn secret(name: &str, dev: bool) -> Result<Option<SharedSecret>, String> {
    let Ok(value) = std::env::var(name) else {
        return Ok(None);
    };
    match SharedSecret::from_config_in_mode(&value, dev) {
        Ok((s, weak)) => {
            if let Some(e) = weak {
                tracing::warn!(variable = name, "weak secret accepted in dev mode: {e}");
            }
            Ok(Some(s))
        }
        Err(e) => Err(format!("{name} {e}")),
    }
}

/// The signer `args` describe: its attestor, key backend (and sealing),
/// and secrets; whether it runs in dev mode (weak secrets accepted).
fn build(args: &Args) -> Result<(Signer, bool), String> {
    let dev = args.attestation == AttestationKind::Dev;
    let attestor = attestor(args)?;
    let (backend, sealing) = match args.backend {
        BackendKind::Software => software_backend(args, &attestor)?,
        BackendKind::Pkcs11 => (pkcs11_backend(args)?, Sealing::Local),
    };
    Ok((signer(args, backend, attestor, sealing, dev)?, dev))
}

/// `--attestation nsm|dev|none`.
fn attestor(args: &Args) -> Result<Arc<dyn Attestor>, String> {
    Ok(match args.attestation {
        AttestationKind::Nsm => Arc::new(NsmAttestor::open()?),
        AttestationKind::Dev => {
            let dir = args
                .dev_dir
                .as_ref()
                .ok_or("--attestation dev needs --dev-dir")?;
            let exe =
                std::env::current_exe().map_err(|e| format!("cannot find own binary: {e}"))?;
            tracing::warn!(dir = %dir.display(), "INSECURE dev attestation: documents are signed by a local CA, not by Nitro hardware");
            Arc::new(DevAttestor::new(&dir.join("attestation"), &exe)?)
        }
        AttestationKind::None => {
            tracing::warn!("attestation disabled: hosts cannot check what this signer runs");
            Arc::new(NoAttestor)
        }
    })
}

/// Software keys sealed under a dev key file or a KMS data key.
fn software_backend(
    args: &Args,
    attestor: &Arc<dyn Attestor>,
) -> Result<(Arc<dyn KeyBackend>, Sealing), String> {
    let (keys, sealing) = match args.sealing {
        SealingKind::Dev => {
            let dir = args.dev_dir.as_ref().ok_or(
                "the software backend needs a sealing key: --sealing kms (a KMS data key \
                 released under attestation), or --dev-dir DIR (an INSECURE dev key file)",
            )?;
            let key = load_or_create_dev_sealing_key(dir)
                .map_err(|e| format!("dev sealing key in {}: {e}", dir.display()))?;
            tracing::warn!(dir = %dir.display(), "INSECURE dev sealing key: anyone who reads this file can unseal every key");
            let keys = Arc::new(SealingKeys::new(vec![key]).map_err(|e| e.to_string())?);
            (keys, Sealing::Local)
        }
        SealingKind::Kms => {
            let keys = Arc::new(SealingKeys::empty());
            let sealer = kms_sealer(args, attestor, &keys)?;
            (keys, Sealing::Kms(Arc::new(sealer)))
        }
    };
    Ok((
        Arc::new(SoftwareBackend::new(keys, args.key_cache_size)),
        sealing,
    ))
}

/// `--sealing kms`: the signer's own KMS client, pinned to its key.
fn kms_sealer(
    args: &Args,
    attestor: &Arc<dyn Attestor>,
    keys: &Arc<SealingKeys>,
) -> Result<KmsSealer, String> {
    if args.attestation == AttestationKind::None {
        return Err(
            "--sealing kms needs attestation (KMS releases the key only to an attested signer)"
                .into(),
        );
    }
    let key_id = args
        .kms_key_id
        .as_deref()
        .ok_or("--sealing kms needs --kms-key-id ARN")?;
    let region = args
        .kms_region
        .as_deref()
        .ok_or("--sealing kms needs --kms-region REGION")?;
    let proxy = args
        .kms_proxy
        .clone()
        .ok_or("--sealing kms needs --kms-proxy vsock://CID:PORT|tcp://HOST:PORT")?;
    let client = KmsClient::new(key_id, region, proxy, args.kms_ca.as_deref())?;
    let sealer = KmsSealer::new(
        client,
        Arc::clone(attestor),
        Arc::clone(keys),
        &args.deployment,
    )?;
    tracing::info!(key = key_id, region, deployment = %args.deployment, "KMS sealing: waiting for the host to have the sealing keys unsealed");
    Ok(sealer)
}

/// `--backend pkcs11`: keys generated and used inside the token.
fn pkcs11_backend(args: &Args) -> Result<Arc<dyn KeyBackend>, String> {
    if args.sealing == SealingKind::Kms {
        return Err(
            "--sealing kms is for the software backend; PKCS#11 keys never leave the HSM".into(),
        );
    }
    let module = args
        .pkcs11_module
        .as_ref()
        .ok_or("--backend pkcs11 needs --pkcs11-module PATH")?;
    let label = args
        .pkcs11_token_label
        .as_ref()
        .ok_or("--backend pkcs11 needs --pkcs11-token-label LABEL")?;
    let pin = std::env::var("PKCS11_PIN")
        .map_err(|_| "--backend pkcs11 needs the user PIN in PKCS11_PIN")?;
    // Unset it so no child or crash report can see it.
    std::env::remove_var("PKCS11_PIN");
    let backend = Pkcs11Backend::open(module, label, pin, args.pkcs11_threads)?;
    tracing::info!(module = %module.display(), token = %label, "PKCS#11 token opened");
    Ok(Arc::new(backend))
}

/// The signer with its secrets from the environment (`--secrets env`), or
/// waiting for the host to provision them (`--secrets host`).
fn signer(
    args: &Args,
    backend: Arc<dyn KeyBackend>,
    attestor: Arc<dyn Attestor>,
    sealing: Sealing,
    dev: bool,
) -> Result<Signer, String> {
    let signer = match args.secrets {
        SecretsFrom::Env => {
            let internal = secret("INTERNAL_API_KEY", dev)?.ok_or("INTERNAL_API_KEY is not set")?;
            let ticket =
                secret("TICKET_SIGNING_SECRET", dev)?.ok_or("TICKET_SIGNING_SECRET is not set")?;
            let previous = secret("TICKET_SIGNING_SECRET_PREVIOUS", dev)?;
            Signer::new(
                backend,
                attestor,
                TicketKeys::new(ticket, previous),
                internal,
                args.replay_cache_size,
            )
            .with_sealing(sealing)
        }
        SecretsFrom::Host => {
            for name in [
                "INTERNAL_API_KEY",
                "TICKET_SIGNING_SECRET",
                "TICKET_SIGNING_SECRET_PREVIOUS",
            ] {
                if std::env::var_os(name).is_some() {
                    return Err(format!("{name} is set, but --secrets host: the host provisions the secrets; unset it"));
                }
            }
            tracing::info!("waiting for the host to provision the runtime secrets");
            Signer::awaiting_secrets(backend, attestor, sealing, args.replay_cache_size, dev)
        }
    };
    signer
        .with_deployment(&args.deployment)
        .map_err(|e| e.message)
}

/// Resolves when standard input reaches its end (or fails). A plain thread
/// reads it, so a blocked read never holds up the runtime's shutdown.
fn stdin_closed() -> tokio::sync::oneshot::Receiver<()> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        use std::io::Read as _;
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 64];
        while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
        let _ = tx.send(());
    });
    rx
}

async fn shutdown_signal(exit_with_stdin: bool) {
    let parent_gone = async {
        if exit_with_stdin {
            let _ = stdin_closed().await;
            tracing::info!("standard input closed (the parent is gone); stopping");
        } else {
            std::future::pending::<()>().await;
        }
    };
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return parent_gone.await,
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
        () = parent_gone => {}
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("signet-enclave: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let (signer, _dev) = match build(&args) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("{e}");
                eprintln!("signet-enclave: {e}");
                return ExitCode::from(2);
            }
        };
        let listener = match AnyListener::bind(&args.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("signet-enclave: cannot listen on {}: {e}", args.listen);
                return ExitCode::FAILURE;
            }
        };
        let signer = Arc::new(signer);
        let pruner = {
            let signer = Arc::clone(&signer);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(10));
                loop {
                    tick.tick().await;
                    signer.prune_replay_cache();
                }
            })
        };
        let limits = ServerLimits {
            max_connections: args.max_connections.max(1),
            ..ServerLimits::default()
        };
        serve(
            listener,
            signer,
            limits,
            shutdown_signal(args.exit_with_stdin),
        )
        .await;
        pruner.abort();
        tracing::info!("signer stopped");
        ExitCode::SUCCESS
    })
}

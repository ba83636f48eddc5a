//! `signet-host`: the API server and its operator commands.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use signet_host::config::{AttestationCheck, Config, Source};
use signet_host::dev::{self, DevOptions};

/// mimalloc in place of glibc's malloc, whose allocations and frees were
/// 15 % of the host's CPU under signing load (issue 29, BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Signet host: HTTPS API in front of the signer.
#[derive(Parser)]
#[command(name = "signet-host", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (configuration from the environment, over an optional TOML file).
    Serve {
        /// TOML file with the same variable names as the environment.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Validate the configuration and secret strength; exit 1 naming every
    /// variable with a problem (all at once).
    CheckConfig {
        /// TOML file with the same variable names as the environment.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// The embedded default: a supervised signer child, SQLite and dev
    /// material under --data-dir, an admin token, the API. INSECURE (dev keys on disk).
    Dev {
        /// Data directory (created 0700).
        #[arg(long, default_value = "signet-data")]
        data_dir: PathBuf,
        /// Listen address (default 127.0.0.1:8080; port 0 picks a free one).
        #[arg(long)]
        listen: Option<String>,
        /// The signer binary (default: signet-enclave beside this executable).
        #[arg(long)]
        enclave_bin: Option<PathBuf>,
        /// The signer's key backend: software (sealed keys) or pkcs11 (an HSM; PIN in PKCS11_PIN).
        #[arg(long, default_value = "software", value_parser = ["software", "pkcs11"])]
        backend: String,
        /// PKCS#11 module, with --backend pkcs11.
        #[arg(long)]
        pkcs11_module: Option<PathBuf>,
        /// PKCS#11 token label, with --backend pkcs11.
        #[arg(long)]
        pkcs11_token_label: Option<String>,
        /// The signer's sealing key: dev (a key file) or kms (the production
        /// path: KMS_KEY_ID, KMS_ENDPOINT, KMS_CA_FILE and AWS credentials
        /// from the environment; the signer is provisioned by this host and
        /// reaches KMS through a relay here).
        #[arg(long, default_value = "dev", value_parser = ["dev", "kms"])]
        sealing: String,
    },
    /// Offline operator commands on the database (SIGNET_DATABASE_URL).
    Admin(AdminArgs),
    /// The audit log, read from the database (SIGNET_DATABASE_URL).
    Audit(AuditArgs),
}

#[derive(clap::Args)]
struct AdminArgs {
    /// TOML file with the same variable names as the environment (the
    /// environment wins).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(clap::Args)]
struct AuditArgs {
    /// TOML file with the same variable names as the environment (the
    /// environment wins).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Write the audit log to stdout as JSON lines (one event each, with its
    /// seq, prev_hash and hash), oldest first; `signet audit verify --file`
    /// checks the result.
    Export {
        /// Only events after this seq (resume an export).
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// Keep running and write new events as they are appended (until
        /// SIGTERM or Ctrl-C).
        #[arg(long)]
        follow: bool,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an API client and print its token once (to bootstrap `serve`).
    CreateClient {
        /// Name.
        #[arg(long)]
        name: String,
        /// Tenant.
        #[arg(long)]
        tenant: String,
        /// Comma-separated scopes (e.g. `*,operator` for an operator,
        /// `wallets:*,sign` for a tenant's signing client).
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
    },
    /// List API clients (never tokens).
    ListClients,
    /// Freeze a scope on the database: every running replica refuses
    /// signing, sign intents and approvals in it (423 `frozen`) within a
    /// second, until `unfreeze`. Works while the API is unreachable.
    Freeze {
        /// `all`, `tenant:<tenant>` or `wallet:<wallet id>`.
        #[arg(long)]
        scope: String,
        /// Why (shown to every refused caller, kept in the audit log).
        #[arg(long)]
        reason: String,
    },
    /// Lift a freeze on the database (offline: not subject to the quorum).
    Unfreeze {
        /// The frozen scope.
        #[arg(long)]
        scope: String,
    },
    /// List the freezes in force.
    ListFreezes,
    /// Back up the whole database while the hosts serve (SQLite: a
    /// consistent copy; PostgreSQL: pg_dump of one snapshot) into FILE, with
    /// what it holds in FILE.manifest.json. Keep both together.
    Backup {
        /// The backup file (must not exist).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Restore a backup into the empty database of SIGNET_DATABASE_URL
    /// (SQLite: a file that does not exist yet; PostgreSQL: a database with
    /// no table), after checking the file against its manifest.
    Restore {
        /// The backup file (its FILE.manifest.json beside it).
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// Then re-verify the audit chain, compare every count with the
        /// manifest, and have the signer unseal every wallet (runs with the
        /// host's configuration, as `serve` does: ENCLAVE_ADDR, secrets,
        /// sealing); names each wallet it cannot unseal and why.
        #[arg(long)]
        verify: bool,
    },
    /// Rotate the KMS sealing key: a new data key version, every wallet's
    /// sealed key re-sealed inside the signer, verified, the old versions
    /// retired. Runs with the host's configuration (the same environment as
    /// `serve`: the database, the signer, KMS settings); one runner across
    /// replicas; resumes an unfinished rotation.
    ///
    /// Beside a running `signet-host dev` (which keeps its secrets to
    /// itself), pass its `--data-dir`: the command then asks that host over
    /// HTTP (the URL in DIR/url, the token in DIR/admin-token) and waits for
    /// the rotation to finish.
    RotateSealingKey {
        /// Only count what would be re-sealed; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// The data directory of a running `signet-host dev`.
        #[arg(long, value_name = "DIR", conflicts_with = "config")]
        data_dir: Option<PathBuf>,
    },
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::CheckConfig { config } => check_config(config),
        Command::Serve { config } => serve(config),
        Command::Dev {
            data_dir,
            listen,
            enclave_bin,
            backend,
            pkcs11_module,
            pkcs11_token_label,
            sealing,
        } => {
            signet_host::init_logging(
                std::env::var("SIGNET_LOG_FORMAT").is_ok_and(|v| v == "json"),
            );
            let backend = match (backend.as_str(), pkcs11_module, pkcs11_token_label) {
                ("pkcs11", Some(module), Some(token_label)) => Ok(dev::Backend::Pkcs11 { module, token_label }),
                ("pkcs11", _, _) => Err("--backend pkcs11 needs --pkcs11-module and --pkcs11-token-label (PIN in PKCS11_PIN)".to_owned()),
                _ => Ok(dev::Backend::Software),
            };
            backend.and_then(|backend| {
                runtime().and_then(|rt| {
                    rt.block_on(dev::run(DevOptions {
                        data_dir,
                        listen,
                        enclave_bin,
                        backend,
                        kms_sealing: sealing == "kms",
                    }))
                })
            })
        }
        Command::Admin(AdminArgs { config, command }) => admin(command, config),
        Command::Audit(AuditArgs {
            config,
            command: AuditCommand::Export { after, follow },
        }) => audit_export(after, follow, config),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("signet-host: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load(config: Option<PathBuf>) -> Result<Config, String> {
    let source = Source::load(config.as_deref()).map_err(|e| e.to_string())?;
    Config::from_source(&source, false).map_err(|e| e.to_string())
}

/// Checks everything and names every problem at once (not one per run).
fn check_config(config: Option<PathBuf>) -> Result<(), String> {
    let source = Source::load(config.as_deref()).map_err(|e| e.to_string())?;
    let config = Config::check_source(&source, false).map_err(|e| e.to_string())?;
    let mut problems = Vec::new();
    if let Some((cert, key)) = &config.tls {
        if let Err(e) = signet_host::http::server::tls_config(cert, key) {
            problems.push(e.to_string());
        }
    }
    if let Some(export) = &config.audit_export {
        if let Err(e) = signet_host::service::export::AuditSink::new(export) {
            problems.push(e.to_string());
        }
    }
    match problems.as_slice() {
        [] => {}
        [one] => return Err(one.clone()),
        all => {
            return Err(format!(
                "{} configuration problems:\n  {}",
                all.len(),
                all.join("\n  ")
            ))
        }
    }
    println!(
        "configuration OK: listen {} ({}), signer {}, database {}, attestation {}",
        config.listen,
        if config.tls.is_some() {
            "https"
        } else {
            "http"
        },
        config.enclave_addr,
        signet_host::config::database_display(&config.database_url),
        match &config.attestation {
            AttestationCheck::Policy { path, .. } => path.display().to_string(),
            AttestationCheck::InsecureSkip => "NOT CHECKED (insecure-skip)".into(),
        }
    );
    Ok(())
}

fn serve(config: Option<PathBuf>) -> Result<(), String> {
    let config = load(config)?;
    signet_host::init_logging(config.log_json);
    if matches!(config.attestation, AttestationCheck::InsecureSkip) {
        tracing::warn!("ATTESTATION_POLICY=insecure-skip: the signer's attestation is NOT checked");
    }
    let tls = config
        .tls
        .as_ref()
        .map(|(c, k)| signet_host::http::server::tls_config(c, k))
        .transpose()
        .map_err(|e| e.to_string())?;
    if tls.is_none() && !config.listen.ip().is_loopback() {
        tracing::warn!(listen = %config.listen, "serving plain HTTP on a non-loopback address: put a TLS terminator in front or set SIGNET_TLS_CERT/KEY");
    }
    runtime()?.block_on(async move {
        let service = Arc::new(
            signet_host::service::Service::open(config.clone())
                .await
                .map_err(|e| e.to_string())?,
        );
        let background = service.start_background();
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        tracing::info!(listen = %config.listen, tls = tls.is_some(), "signet-host serving");
        let router = signet_host::http::router(Arc::clone(&service));
        signet_host::http::server::serve(
            listener,
            router,
            Arc::clone(&service),
            tls,
            signet_host::http::server::shutdown_signal(),
        )
        .await;
        drop(background);
        service.release_leases().await;
        Ok(())
    })
}

/// The database of the offline commands: `SIGNET_DATABASE_URL` from the
/// environment over the `--config` file (as `serve` reads it), else
/// `sqlite://signet.db`.
fn database_url(config: Option<PathBuf>) -> Result<String, String> {
    let source = Source::load(config.as_deref()).map_err(|e| e.to_string())?;
    Ok(source
        .get("SIGNET_DATABASE_URL")
        .unwrap_or("sqlite://signet.db")
        .to_owned())
}

fn audit_export(mut after: u64, follow: bool, config: Option<PathBuf>) -> Result<(), String> {
    use std::io::Write as _;
    let url = database_url(config)?;
    runtime()?.block_on(async move {
        let store = signet_host::store::Store::open(&url)
            .await
            .map_err(|e| e.to_string())?;
        let stop = signet_host::http::server::shutdown_signal();
        tokio::pin!(stop);
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        loop {
            let events = store
                .audit(after, 1000, None, &Default::default())
                .await
                .map_err(|e| e.to_string())?;
            for event in &events {
                let line = serde_json::to_string(event).map_err(|e| e.to_string())?;
                if writeln!(out, "{line}").is_err() {
                    return Ok(()); // the reader went away
                }
                after = event.seq;
            }
            if out.flush().is_err() {
                return Ok(());
            }
            if events.len() == 1000 {
                continue;
            }
            if !follow {
                return Ok(());
            }
            tokio::select! {
                () = &mut stop => return Ok(()),
                () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            }
        }
    })
}

fn rotate_sealing_key(dry_run: bool, config: Option<PathBuf>) -> Result<(), String> {
    let config = load(config).map_err(|e| {
        format!(
            "{e}\n  (this runs with the host's configuration, as `serve` does; beside a `signet-host dev`, \
             pass its data directory instead: signet-host admin rotate-sealing-key --data-dir DIR)"
        )
    })?;
    signet_host::init_logging(config.log_json);
    runtime()?.block_on(async move {
        let service = signet_host::service::Service::open(config)
            .await
            .map_err(|e| e.to_string())?;
        // Have the signer unseal first (this process's own connection).
        service.sync_sealing().await;
        let actor = format!("operator:{}", whoami());
        let report = service
            .rotate_sealing(&actor, dry_run)
            .await
            .map_err(|e| e.to_string())?;
        let view = signet_host::http::views::RotationReportView::from(&report);
        println!(
            "{}",
            serde_json::to_string_pretty(&view).map_err(|e| e.to_string())?
        );
        Ok(())
    })
}

/// `admin backup`.
fn backup(out: &Path, config: Option<PathBuf>) -> Result<(), String> {
    let url = database_url(config)?;
    runtime()?.block_on(async move {
        let started = std::time::Instant::now();
        let m = signet_host::backup::backup(&url, out)
            .await
            .map_err(|e| e.to_string())?;
        eprintln!(
            "backed up {} wallets ({} live), {} API clients, {} audit events (head {}), {} consumed tickets into {} and {} in {:.1} s",
            m.counts.wallets,
            m.counts.live_wallets,
            m.counts.api_clients,
            m.counts.audit_events,
            m.counts.audit_head_seq,
            m.counts.consumed_tickets,
            out.display(),
            signet_host::backup::manifest_path(out).display(),
            started.elapsed().as_secs_f64()
        );
        Ok(())
    })
}

/// `admin restore [--verify]`.
fn restore(from: &Path, verify: bool, config: Option<PathBuf>) -> Result<(), String> {
    // --verify needs the whole configuration (the signer): fail before
    // touching the database when it is missing.
    let host_config = if verify {
        Some(load(config.clone()).map_err(|e| {
            format!("{e}
  (restore --verify has the signer unseal every wallet: it runs with the host's configuration, as `serve` does)")
        })?)
    } else {
        None
    };
    let url = database_url(config)?;
    runtime()?.block_on(async move {
        let started = std::time::Instant::now();
        let (manifest, store) = signet_host::backup::restore(&url, from)
            .await
            .map_err(|e| e.to_string())?;
        eprintln!(
            "restored the backup of {} ({} wallets, {} audit events) in {:.1} s",
            manifest.taken_at,
            manifest.counts.wallets,
            manifest.counts.audit_events,
            started.elapsed().as_secs_f64()
        );
        let Some(host_config) = host_config else {
            return Ok(());
        };
        let verified = signet_host::backup::verify(&store, &manifest)
            .await
            .map_err(|e| e.to_string())?;
        store.close().await;
        eprintln!(
            "verified: the audit chain ({} events, head {}) and every count match the manifest",
            verified.audit_events, manifest.counts.audit_head_seq
        );
        let service = signet_host::service::Service::open(host_config)
            .await
            .map_err(|e| e.to_string())?;
        let (loaded, refused) = service
            .check_unsealable()
            .await
            .map_err(|e| format!("cannot check the wallets with the signer: {e}"))?;
        if refused.is_empty() {
            eprintln!(
                "verified: the signer unsealed all {loaded} sealed wallets ({:.1} s in all)",
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        for (id, why) in &refused {
            println!("{id}\t{why}");
        }
        Err(format!(
            "the signer could not unseal {} of {} wallets (listed above); the data is restored",
            refused.len(),
            loaded + refused.len() as u64
        ))
    })
}

/// The local user, for the audit log's actor.
fn whoami() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "cli".into())
}

fn admin(cmd: AdminCommand, config: Option<PathBuf>) -> Result<(), String> {
    match cmd {
        AdminCommand::Backup { out } => return backup(&out, config),
        AdminCommand::Restore { from, verify } => return restore(&from, verify, config),
        _ => {}
    }
    if let AdminCommand::RotateSealingKey { dry_run, data_dir } = cmd {
        return match data_dir {
            Some(dir) => dev::rotate_through(&dir, dry_run).map(|report| println!("{report}")),
            None => rotate_sealing_key(dry_run, config),
        };
    }
    let url = database_url(config)?;
    runtime()?.block_on(async move {
        let store = signet_host::store::Store::open(&url)
            .await
            .map_err(|e| e.to_string())?;
        match cmd {
            AdminCommand::CreateClient {
                name,
                tenant,
                scopes,
            } => {
                let (row, token) = signet_host::service::clients::create_client(
                    &store,
                    signet_host::service::clients::Creator::Operator,
                    &name,
                    &tenant,
                    scopes,
                )
                .await
                .map_err(|e| e.to_string())?;
                eprintln!(
                    "created API client {} (tenant {}, scopes {}); the token is shown once:",
                    row.id,
                    row.tenant,
                    row.scopes.join(",")
                );
                println!("{}", token.as_str());
            }
            AdminCommand::ListClients => {
                for c in store.clients(None).await.map_err(|e| e.to_string())? {
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        c.id,
                        c.name,
                        c.tenant,
                        c.scopes.join(","),
                        c.revoked_at_ms.map_or("active".into(), |t| format!(
                            "revoked at {}",
                            signet_proto::time::rfc3339_ms(t)
                        ))
                    );
                }
            }
            AdminCommand::Freeze { scope, reason } => {
                use signet_host::service::freeze;
                let f = freeze::new_freeze(&scope, &reason, format!("operator:{}", whoami()))
                    .map_err(|e| e.to_string())?;
                freeze::freeze_offline(&store, &f)
                    .await
                    .map_err(|e| e.to_string())?;
                eprintln!(
                    "frozen: {} ({}); running hosts refuse signing in it within a second",
                    f.scope, f.reason
                );
            }
            AdminCommand::Unfreeze { scope } => {
                use signet_host::service::freeze;
                let scope = freeze::parse_scope(&scope).map_err(|e| e.to_string())?;
                let actor = format!("operator:{}", whoami());
                if !freeze::unfreeze_offline(&store, &scope, &actor)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    return Err(format!("{scope} is not frozen"));
                }
                eprintln!("unfrozen: {scope}");
            }
            AdminCommand::ListFreezes => {
                for f in store.freezes().await.map_err(|e| e.to_string())? {
                    println!(
                        "{}\t{}\t{}\t{}",
                        f.scope,
                        signet_proto::time::rfc3339_ms(f.frozen_at),
                        f.frozen_by,
                        f.reason
                    );
                }
            }
            AdminCommand::RotateSealingKey { .. }
            | AdminCommand::Backup { .. }
            | AdminCommand::Restore { .. } => {}
        }
        Ok(())
    })
}

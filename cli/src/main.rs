//! `signet`: the command line for Signet's API clients and auditors.
//!
//! Exit codes: 0 success (a document or signature is valid), 1 invalid (the
//! reason on stderr), 2 usage error (bad flags, unreadable input).

/// `println!` for the command's output: when stdout is closed early
/// (`signet … | head`) the command ends quietly with success instead of
/// panicking on the broken pipe.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output_line(format_args!($($arg)*))
    };
}

mod attest;
mod client;
mod http;
mod input;
mod login;
mod output;
mod owner;

use std::process::ExitCode;

/// Writes one line of output; a closed stdout ends the process (status 0:
/// the reader had what it wanted), another write error is reported.
pub(crate) fn output_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_fmt(format_args!("{line}\n"))
        .and_then(|()| stdout.flush())
    {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("signet: cannot write the output: {e}");
        std::process::exit(1);
    }
}

use clap::{Parser, Subcommand};

/// Signet client and auditor CLI.
#[derive(Parser)]
#[command(name = "signet", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    endpoint: http::Endpoint,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Verify or inspect Nitro attestation documents (offline).
    #[command(subcommand)]
    Attest(attest::AttestCommand),
    /// Create, list, show and destroy wallets.
    #[command(subcommand)]
    Wallet(client::WalletCommand),
    /// Sign a digest, an EIP-191 message or a file with a wallet (with
    /// `--owner ID --key FILE` pairs: the owners' approvals in the same request).
    Sign(client::SignArgs),
    /// What the signer would decide for a sign request, nothing signed: a
    /// digest, message or file as for `sign`, or a transaction or typed data
    /// (JSON). Exit 0: signed on its own; 1: needs the owners or refused.
    Check(client::CheckArgs),
    /// The owners lift a wallet's cold windows on the signer (after a signer
    /// restart): `--owner ID --key FILE` pairs meeting its threshold.
    Resume(owner::ResumeArgs),
    /// Owner keys (offline).
    #[command(subcommand)]
    Owner(owner::OwnerCommand),
    /// Approve a sign intent as one of its wallet's owners, with their key.
    Approve(owner::ApproveArgs),
    /// Offline: check a wallet's attestation (root, PCRs, key binding), then a signature by it.
    VerifySignature(client::VerifySignatureArgs),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Sign in through Telegram (a deep link and a QR code); the session is
    /// kept (0600) for the other commands.
    Login(login::LoginArgs),
    /// End the stored session.
    Logout,
    /// Which host the commands go to and which credential they send (an API
    /// token from SIGNET_TOKEN, --token or --token-file, or the stored
    /// session of `signet login`).
    Whoami,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the audit log's hash chain and name the first broken link:
    /// fetched from the host, or read from an export (JSON lines, from
    /// `signet-host audit export` or a SIEM) with --file.
    Verify(client::AuditVerifyArgs),
    /// Search the audit log (the host's filters, indexed): events as JSON,
    /// one per line, oldest first, every page followed.
    Search(client::AuditSearchArgs),
}

/// How a command ended, mapped onto the documented exit codes.
pub(crate) enum Outcome {
    /// Exit 0.
    Valid,
    /// Exit 1: the input was checked and refused.
    Invalid,
    /// Exit 2: the command could not run as asked.
    Usage,
}

/// The command line, with the host flags (`--url`, `--token`,
/// `--token-file`) left out of the help of the offline commands, which never
/// use them.
fn command_line() -> clap::Command {
    let cmd = <Cli as clap::CommandFactory>::command();
    // A subcommand's own argument of the same id stops a global one from
    // being propagated into it: give the offline commands hidden, local
    // copies (still accepted, so a SIGNET_URL or a habit does no harm).
    let hidden: Vec<clap::Arg> = cmd
        .get_arguments()
        .filter(|a| ["url", "token", "token_file"].contains(&a.get_id().as_str()))
        .map(|a| a.clone().global(false).hide(true))
        .collect();
    let offline = |sub: clap::Command| sub.args(hidden.clone());
    cmd.mut_subcommand("attest", |attest| {
        offline(attest)
            .mut_subcommand("verify", offline)
            .mut_subcommand("inspect", offline)
    })
    .mut_subcommand("verify-signature", offline)
    .mut_subcommand("wallet", |wallet| wallet.mut_subcommand("verify", offline))
}

fn main() -> ExitCode {
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&command_line().get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let outcome = match cli.command {
        Command::Attest(cmd) => attest::run(cmd),
        Command::Wallet(cmd) => client::wallet(&cli.endpoint, cmd),
        Command::Sign(args) => client::sign(&cli.endpoint, &args),
        Command::Check(args) => client::check(&cli.endpoint, &args),
        Command::Resume(args) => owner::resume(&cli.endpoint, &args),
        Command::Owner(cmd) => owner::owner(&cmd),
        Command::Approve(args) => owner::approve(&cli.endpoint, &args),
        Command::VerifySignature(args) => client::verify_signature(&args),
        Command::Audit(AuditCommand::Verify(args)) => client::audit_verify(&cli.endpoint, &args),
        Command::Audit(AuditCommand::Search(args)) => client::audit_search(&cli.endpoint, &args),
        Command::Login(args) => login::login(&cli.endpoint, &args),
        Command::Logout => login::logout(&cli.endpoint),
        Command::Whoami => login::whoami(&cli.endpoint),
    };
    match outcome {
        Outcome::Valid => ExitCode::SUCCESS,
        Outcome::Invalid => ExitCode::from(1),
        Outcome::Usage => ExitCode::from(2),
    }
}

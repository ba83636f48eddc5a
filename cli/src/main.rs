//! `signet`: the command line for Signet's API clients and auditors.
//!
//! Exit codes: 0 success (a document or signature is valid), 1 invalid (the
//! reason on stderr), 2 usage error (bad flags, unreadable input).

mod attest;
mod input;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Signet client and auditor CLI.
#[derive(Parser)]
#[command(name = "signet", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Verify or inspect Nitro attestation documents (offline).
    #[command(subcommand)]
    Attest(attest::AttestCommand),
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Attest(cmd) => attest::run(cmd),
    };
    match outcome {
        Outcome::Valid => ExitCode::SUCCESS,
        Outcome::Invalid => ExitCode::from(1),
        Outcome::Usage => ExitCode::from(2),
    }
}

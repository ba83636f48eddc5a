//! `signet-telegram-fake`: a faithful stand-in for Telegram's Bot API, for
//! Signet's tests. See the library documentation; `--help` for the flags.
//!
//! When ready it prints exactly one line on stdout,
//! `signet-telegram-fake listening api=ADDR control=ADDR`; logs go to
//! stderr and never contain the token.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use signet_telegram_fake::server::{self, bot_id_of, Config};

/// A faithful stand-in for Telegram's Bot API server (tests only).
#[derive(Parser)]
#[command(name = "signet-telegram-fake", version)]
struct Args {
    /// The bot token the fake accepts (`<bot id>:<secret>`; the bot id is
    /// what getMe answers).
    #[arg(long, env = "TELEGRAM_FAKE_TOKEN", hide_env_values = true)]
    token: String,
    /// The bot's username (without `@`).
    #[arg(long)]
    bot_username: String,
    /// The bot's first name.
    #[arg(long, default_value = "Signet")]
    bot_first_name: String,
    /// The Bot API address.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The control API address.
    #[arg(long, default_value = "127.0.0.1:0")]
    control: SocketAddr,
    /// Accept webhooks on 127.0.0.1/::1/localhost over plain HTTP and on any
    /// port (Telegram accepts only public HTTPS hosts on 80, 88, 443, 8443).
    #[arg(long)]
    allow_http_webhook: bool,
    /// Also trust these PEM roots for HTTPS webhooks (besides the public
    /// web roots); Telegram's own `certificate` upload is not supported.
    #[arg(long, value_name = "PEM_FILE")]
    webhook_ca: Vec<PathBuf>,
    /// Also stop when standard input closes (so a test's fake dies with the test).
    #[arg(long)]
    exit_with_stdin: bool,
}

impl std::fmt::Debug for Args {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Args")
            .field("token", &"[redacted]")
            .field("bot_username", &self.bot_username)
            .finish_non_exhaustive()
    }
}

fn config(args: Args) -> Result<Config, String> {
    if bot_id_of(&args.token).is_none() {
        return Err("--token is not <bot id>:<secret>".into());
    }
    if args.bot_username.is_empty()
        || !args
            .bot_username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(format!(
            "--bot-username `{}` is not a Telegram username",
            args.bot_username
        ));
    }
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for file in &args.webhook_ca {
        let pem =
            std::fs::read(file).map_err(|e| format!("--webhook-ca {}: {e}", file.display()))?;
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert = cert.map_err(|e| format!("--webhook-ca {}: {e}", file.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("--webhook-ca {}: {e}", file.display()))?;
        }
    }
    Ok(Config {
        token: args.token,
        bot_username: args.bot_username,
        bot_first_name: args.bot_first_name,
        listen: args.listen,
        control: args.control,
        allow_http_webhook: args.allow_http_webhook,
        webhook_roots: roots,
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    let exit_with_stdin = args.exit_with_stdin;
    signet_fake_support::run(
        "signet-telegram-fake",
        config(args),
        exit_with_stdin,
        server::start,
    )
}

//! `signet login` and `signet logout`: a person signs in through Telegram
//! and the CLI keeps the session (mode 0600) for every other command.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{json, Value};

use crate::http::{CallFailed, Endpoint};
use crate::Outcome;

/// `signet login`.
#[derive(Args)]
pub(crate) struct LoginArgs {
    /// Test mode only (a host without a Telegram bot): resolve the challenge
    /// for this Telegram user id at once.
    #[arg(long)]
    telegram_user_id: Option<i64>,
    /// Give up after this many seconds (default: the challenge's lifetime).
    #[arg(long)]
    timeout: Option<u64>,
}

/// Where the session is kept: `SIGNET_SESSION_FILE`, else
/// `$XDG_CONFIG_HOME/signet/session` or `~/.config/signet/session`.
pub(crate) fn session_file() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("SIGNET_SESSION_FILE") {
        return Some(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("signet").join("session"))
}

fn store(path: &std::path::Path, token: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        signet_proto::files::private_dir(dir)?;
    }
    signet_proto::files::write_private(path, token.as_bytes())
}

fn failed(e: &CallFailed) -> Outcome {
    eprintln!("signet: {}", e.message);
    if e.usage {
        Outcome::Usage
    } else {
        Outcome::Invalid
    }
}

/// Challenge → deep link (and QR code) → waits for the Telegram side →
/// stores the session.
pub(crate) fn login(endpoint: &Endpoint, args: &LoginArgs) -> Outcome {
    let Some(path) = session_file() else {
        eprintln!("signet: no place for the session: set SIGNET_SESSION_FILE or HOME");
        return Outcome::Usage;
    };
    // A test-mode host has no bot: say so rather than print a link to a bot
    // that does not exist and wait for it.
    if args.telegram_user_id.is_none() {
        if let Ok(settings) = endpoint.get_anonymous("/console/config.json") {
            match settings["login"]["mode"].as_str() {
                Some("test") => {
                    eprintln!("signet: this host is in test mode (no Telegram bot): pass --telegram-user-id N to sign in as Telegram user N");
                    return Outcome::Usage;
                }
                Some("off") => {
                    eprintln!("signet: user login is not configured on this host (it has no Telegram bot); use an API token (SIGNET_TOKEN)");
                    return Outcome::Usage;
                }
                _ => {}
            }
        }
    }
    let body = match args.telegram_user_id {
        Some(id) => json!({"telegram_user_id": id}),
        None => json!({}),
    };
    let challenge = match endpoint.call_anonymous("POST", "/v1/auth/challenge", &body) {
        Ok(c) => c,
        Err(e) => return failed(&e),
    };
    let (Some(id), Some(link), Some(verifier), Some(code)) = (
        challenge["challenge_id"].as_str(),
        challenge["deep_link"].as_str(),
        challenge["verifier"].as_str(),
        challenge["code"].as_str(),
    ) else {
        eprintln!("signet: the host answered no challenge");
        return Outcome::Invalid;
    };
    if args.telegram_user_id.is_none() {
        eprintln!(
            "Open this link in Telegram, press Start, then press {code}:\n\n  {link}\n\nYour code: {code}\n(The bot shows three numbers: press only {code}. If it asks about a sign-in you did not start, press \"Not me\".)\n"
        );
        if let Ok(code) = qrcode::QrCode::new(link.as_bytes()) {
            let qr = code
                .render::<qrcode::render::unicode::Dense1x2>()
                .quiet_zone(true)
                .build();
            eprintln!("{qr}\n");
        }
        eprintln!("Waiting for Telegram… (your code: {code})");
    }
    let deadline = Instant::now() + Duration::from_secs(args.timeout.unwrap_or(300));
    // The verifier stays in this process: only it can exchange the challenge.
    let verify = json!({"challenge_id": id, "verifier": verifier});
    loop {
        match endpoint.call_anonymous("POST", "/v1/auth/verify", &verify) {
            Ok(session) => return save(&path, &session),
            Err(e) if e.message.contains("challenge_refused") => {
                eprintln!(
                    "signet: the sign-in was cancelled in Telegram (another number or \"Not me\" was pressed); nobody was signed in"
                );
                return Outcome::Invalid;
            }
            Err(e) if e.message.contains("challenge_pending") && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_secs(2));
            }
            Err(e) => return failed(&e),
        }
    }
}

fn save(path: &std::path::Path, session: &Value) -> Outcome {
    let Some(token) = session["token"].as_str() else {
        eprintln!("signet: the host answered no session");
        return Outcome::Invalid;
    };
    if let Err(e) = store(path, token) {
        eprintln!(
            "signet: cannot store the session in {}: {e}",
            path.display()
        );
        return Outcome::Usage;
    }
    eprintln!(
        "Signed in as user {} (Telegram {}); the session is in {} until {}.",
        session["user"]["id"].as_str().unwrap_or("?"),
        session["user"]["telegram_user_id"],
        path.display(),
        session["expires_at"].as_str().unwrap_or("?")
    );
    Outcome::Valid
}

/// Ends the stored session on the host and forgets it here.
pub(crate) fn logout(endpoint: &Endpoint) -> Outcome {
    let Some(path) = session_file().filter(|p| p.exists()) else {
        eprintln!("signet: not signed in");
        return Outcome::Usage;
    };
    let outcome = match endpoint.call("POST", "/v1/auth/logout", None) {
        Ok(_) => Outcome::Valid,
        // Already refused (expired, revoked): forgetting it is enough.
        Err(e) if e.message.starts_with("401") => Outcome::Valid,
        Err(e) => failed(&e),
    };
    if matches!(outcome, Outcome::Valid) {
        if let Err(e) = std::fs::remove_file(&path) {
            eprintln!("signet: cannot remove {}: {e}", path.display());
            return Outcome::Usage;
        }
        eprintln!("Signed out.");
    }
    outcome
}

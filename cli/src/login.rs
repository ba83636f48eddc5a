//! `signet login` and `signet logout`: a person signs in through Telegram
//! and the CLI keeps the session (mode 0600) for every other command.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::http::{CallFailed, Credential, Endpoint};
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

/// What the session file holds: the session token and the host that issued
/// it (a session is sent to that host only), with who signed in for
/// `signet whoami`.
#[derive(Serialize, Deserialize)]
pub(crate) struct StoredSession {
    /// The host URL the session was made on (no trailing `/`).
    pub url: String,
    /// The session token.
    pub token: String,
    /// The user's id on that host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The user's Telegram id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telegram_user_id: Option<i64>,
    /// When the session ends (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// The session file as found.
pub(crate) enum SessionFile {
    /// No file (or an empty one).
    Missing,
    /// A bare token, as written before sessions named their host: which host
    /// issued it is unknown, so it is never sent (log in again).
    Legacy,
    /// A session and its host.
    Stored(StoredSession),
}

/// Reads the session file at `path`.
pub(crate) fn read_session(path: &std::path::Path) -> SessionFile {
    let Ok(text) = std::fs::read_to_string(path) else {
        return SessionFile::Missing;
    };
    let text = text.trim();
    if text.is_empty() {
        return SessionFile::Missing;
    }
    match serde_json::from_str::<StoredSession>(text) {
        Ok(session) => SessionFile::Stored(session),
        Err(_) => SessionFile::Legacy,
    }
}

/// A URL as compared: without a trailing `/`.
pub(crate) fn same_host(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

fn store(path: &std::path::Path, session: &StoredSession) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        signet_proto::files::private_dir(dir)?;
    }
    let text = serde_json::to_string(session).map_err(std::io::Error::other)?;
    signet_proto::files::write_private(path, text.as_bytes())
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
            Ok(session) => return save(&path, endpoint.url(), &session),
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

fn save(path: &std::path::Path, url: &str, session: &Value) -> Outcome {
    let Some(token) = session["token"].as_str() else {
        eprintln!("signet: the host answered no session");
        return Outcome::Invalid;
    };
    let stored = StoredSession {
        url: url.trim_end_matches('/').to_owned(),
        token: token.to_owned(),
        user_id: session["user"]["id"].as_str().map(str::to_owned),
        telegram_user_id: session["user"]["telegram_user_id"].as_i64(),
        expires_at: session["expires_at"].as_str().map(str::to_owned),
    };
    if let Err(e) = store(path, &stored) {
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
    // The stored session is ended, on its own host (an API token in
    // SIGNET_TOKEN is not what logout ends).
    let session = match read_session(&path) {
        SessionFile::Stored(s) => s,
        SessionFile::Missing => {
            eprintln!("signet: not signed in");
            return Outcome::Usage;
        }
        SessionFile::Legacy => {
            // Its host is unknown: forget it here; it ends when it expires.
            if let Err(e) = std::fs::remove_file(&path) {
                eprintln!("signet: cannot remove {}: {e}", path.display());
                return Outcome::Usage;
            }
            eprintln!("Forgot the session in {} (an older file that does not say its host; it ends on the host when it expires).", path.display());
            return Outcome::Valid;
        }
    };
    if !same_host(&session.url, endpoint.url()) {
        eprintln!(
            "signet: the stored session is for {}, not {}: pass --url {}",
            session.url,
            endpoint.url(),
            session.url
        );
        return Outcome::Usage;
    }
    let outcome = match endpoint.call_as(&session.token, "POST", "/v1/auth/logout") {
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

/// An API token as shown: its public prefix (`sgn_ID_…`), never the secret.
fn token_label(token: &str) -> String {
    let mut parts = token.splitn(3, '_');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(kind), Some(id), Some(_)) => format!("{kind}_{id}_…"),
        _ => "a token (not shown)".into(),
    }
}

/// `signet whoami`: which host the commands go to and which credential they
/// send (and, when an API token wins over a stored session, that the session
/// is not used). Exit 2 when no credential would be sent.
pub(crate) fn whoami(endpoint: &Endpoint) -> Outcome {
    let url = endpoint.url();
    let url_source = match std::env::var("SIGNET_URL") {
        Ok(v) if v == url => "from SIGNET_URL",
        _ if url == crate::http::DEFAULT_URL => "the default",
        _ => "from --url",
    };
    out!("host:        {url} ({url_source})");
    let credential = match endpoint.credential() {
        Ok(c) => c,
        Err(e) => {
            out!("credential:  none usable");
            eprintln!("signet: {}", e.message);
            return Outcome::Usage;
        }
    };
    match &credential {
        Credential::TokenFile(path, t) => {
            out!(
                "credential:  API token {} from --token-file {path}",
                token_label(t)
            );
        }
        Credential::Flag(t) => out!("credential:  API token {} from --token", token_label(t)),
        Credential::Environment(t) => out!(
            "credential:  API token {} from SIGNET_TOKEN (environment)",
            token_label(t)
        ),
        Credential::Session(path, s) => out!(
            "credential:  session of user {} (Telegram {}) from `signet login`, in {}, until {}",
            s.user_id.as_deref().unwrap_or("?"),
            s.telegram_user_id
                .map_or_else(|| "?".to_owned(), |t| t.to_string()),
            path.display(),
            s.expires_at.as_deref().unwrap_or("?")
        ),
    }
    if !matches!(credential, Credential::Session(..)) {
        if let Some(path) = session_file() {
            match read_session(&path) {
                SessionFile::Stored(s) => out!(
                    "note:        the stored session for {} (user {}) in {} is NOT used: the API token wins; unset SIGNET_TOKEN to use it",
                    s.url,
                    s.user_id.as_deref().unwrap_or("?"),
                    path.display()
                ),
                SessionFile::Legacy => out!(
                    "note:        the session in {} is NOT used (an older file without its host)",
                    path.display()
                ),
                SessionFile::Missing => {}
            }
        }
    }
    Outcome::Valid
}

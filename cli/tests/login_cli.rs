//! `signet login` / `signet logout` against a real `signet-host dev` (its
//! test mode): the session is stored 0600 and used by the other commands.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

struct Host(Child, String);

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bin(name: &str) -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_signet")).with_file_name(name)
}

fn dev_host(dir: &Path) -> Host {
    dev_host_with(dir, &[])
}

/// `signet-host dev` on `dir/host` with extra environment (a bot, say).
fn dev_host_with(dir: &Path, env: &[(&str, &str)]) -> Host {
    let mut child = Command::new(bin("signet-host"))
        .args(["dev", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("host"))
        .env("SIGNET_LOG", "warn")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 {
        if let Some(url) = line.trim().strip_prefix("signet-host dev: listening on ") {
            let url = url.to_owned();
            std::thread::spawn(move || for _ in reader.lines() {});
            return Host(child, url);
        }
        line.clear();
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("signet-host dev did not start");
}

fn signet(host: &Host, session: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_signet"))
        .args(args)
        .env_clear()
        .env("SIGNET_URL", &host.1)
        .env("SIGNET_SESSION_FILE", session)
        .output()
        .unwrap()
}

#[test]
fn login_keeps_a_private_session_that_the_other_commands_use() {
    let dir = tempfile::tempdir().unwrap();
    let host = dev_host(dir.path());
    let session = dir.path().join("cfg").join("session");
    let out = signet(&host, &session, &["wallet", "list"]);
    assert_eq!(out.status.code(), Some(2), "no session yet");
    let out = signet(&host, &session, &["login", "--telegram-user-id", "31337"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("Signed in as user"));
    let mode = std::fs::metadata(&session).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the session file is private");
    let out = signet(
        &host,
        &session,
        &["wallet", "create", "--key-type", "ed25519"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = signet(&host, &session, &["wallet", "list", "--json"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches("\"id\"")
            .count(),
        1,
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&session).unwrap()).unwrap();
    assert_eq!(stored["url"], host.1.as_str(), "the session names its host");
    let token = stored["token"].as_str().unwrap().to_owned();
    let out = signet(&host, &session, &["logout"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!session.exists(), "forgotten here");
    // And refused by the host.
    let r = ureq::get(&format!("{}/v1/wallets", host.1))
        .set("Authorization", &format!("Bearer {}", token.trim()))
        .call();
    assert!(matches!(r, Err(ureq::Error::Status(401, _))));
    let out = signet(&host, &session, &["logout"]);
    assert_eq!(out.status.code(), Some(2), "not signed in");
}

/// `signet-telegram-fake` for bot `BOT`, killed on drop: its API and
/// control bases.
struct Telegram(Child, String, String);

impl Drop for Telegram {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const TOKEN: &str = "7712345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ";
const BOT: &str = "SignetLoginBot";

fn telegram() -> Telegram {
    let mut child = Command::new(bin("signet-telegram-fake"))
        .args(["--token", TOKEN, "--bot-username", BOT, "--exit-with-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let field = |p: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(p))
            .unwrap()
            .to_owned()
    };
    let (api, control) = (field("api="), field("control="));
    Telegram(child, format!("http://{api}"), format!("http://{control}"))
}

fn telegram_host(dir: &Path, tg: &Telegram) -> Host {
    dev_host_with(
        dir,
        &[
            ("TELEGRAM_BOT_TOKEN", TOKEN),
            ("TELEGRAM_BOT_USERNAME", BOT),
            ("TELEGRAM_API_BASE", &tg.1),
            ("TELEGRAM_POLL_TIMEOUT_SECONDS", "1"),
        ],
    )
}

/// Runs `signet login` against a host with a bot; a person (Telegram user
/// 4242) opens the link it prints and presses `answer(code)` under the
/// bot's question. The command's output, and the code it showed.
fn login_in_telegram(
    host: &Host,
    tg: &Telegram,
    session: &Path,
    answer: impl Fn(&str) -> String,
) -> (std::process::ExitStatus, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_signet"))
        .args(["login", "--timeout", "60"])
        .env_clear()
        .env("SIGNET_URL", &host.1)
        .env("SIGNET_SESSION_FILE", session)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut shown = String::new();
    let (mut code, mut challenge) = (None, None);
    let mut line = String::new();
    while code.is_none() || challenge.is_none() {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "{shown}");
        shown.push_str(&line);
        if let Some(c) = line.trim().strip_prefix("Your code: ") {
            code = Some(c.to_owned());
        }
        if let Some((_, id)) = line.trim().split_once("?start=") {
            challenge = Some(id.to_owned());
        }
    }
    let (code, challenge) = (code.unwrap(), challenge.unwrap());
    ureq::post(&format!("{}/users/4242/messages", tg.2))
        .send_json(serde_json::json!({"text": format!("/start {challenge}")}))
        .unwrap();
    let mut question = None;
    for _ in 0..300 {
        let sent: Vec<serde_json::Value> = ureq::get(&format!("{}/sent", tg.2))
            .call()
            .unwrap()
            .into_json()
            .unwrap();
        question = sent
            .into_iter()
            .find(|m| m["reply_markup"].to_string().contains(&challenge));
        if question.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let question = question.expect("the bot asks to confirm");
    ureq::post(&format!("{}/users/4242/press", tg.2))
        .send_json(serde_json::json!({"message_id": question["message_id"], "text": answer(&code)}))
        .unwrap();
    let status = child.wait().unwrap();
    std::io::Read::read_to_string(&mut stderr, &mut shown).unwrap();
    (status, shown, code)
}

#[test]
fn login_shows_the_code_to_press_in_telegram() {
    let dir = tempfile::tempdir().unwrap();
    let tg = telegram();
    let host = telegram_host(dir.path(), &tg);
    let session = dir.path().join("session");
    let (status, shown, code) = login_in_telegram(&host, &tg, &session, str::to_owned);
    assert!(status.success(), "{shown}");
    assert!(
        code.len() == 2
            && shown.contains(&format!("press {code}"))
            && shown.contains("Signed in as user"),
        "{shown}"
    );
    assert!(session.exists());
    // "Not me": refused, said so, nothing stored.
    let other = dir.path().join("other");
    let (status, shown, _) = login_in_telegram(&host, &tg, &other, |_| "Not me".into());
    assert_eq!(status.code(), Some(1), "{shown}");
    assert!(shown.contains("cancelled in Telegram"), "{shown}");
    assert!(!other.exists());
}

/// On a test-mode host (no bot) `signet login` says what to pass instead of
/// printing a link to a bot that does not exist and waiting five minutes.
#[test]
fn login_on_a_test_mode_host_says_to_pass_a_telegram_user_id() {
    let dir = tempfile::tempdir().unwrap();
    let host = dev_host(dir.path());
    let session = dir.path().join("session");
    let out = signet(&host, &session, &["login"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("test mode") && stderr.contains("--telegram-user-id N"),
        "{stderr}"
    );
    assert!(!stderr.contains("t.me/"), "no link to a bot: {stderr}");
    assert!(!session.exists());
}

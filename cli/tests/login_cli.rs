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
    let mut child = Command::new(bin("signet-host"))
        .args(["dev", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("host"))
        .env("SIGNET_LOG", "warn")
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
    let out = signet(&host, &session, &["wallet", "list"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches("\"id\"")
            .count(),
        1,
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let token = std::fs::read_to_string(&session).unwrap();
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

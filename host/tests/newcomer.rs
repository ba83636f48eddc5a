//! What tripped a new user following the README (issue 28), each shown by
//! the real binary on a real socket.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{call, code, eventually, host_binary, DevHost};

/// A second `signet-host dev` on the data directory of a running one is
/// refused with the first one's PID (before, it took the signer's socket and
/// rewrote the dev root, and the first host's signer looped on
/// `attestation refused`); the first keeps serving.
#[test]
fn a_second_dev_on_the_same_data_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("host");
    let first = DevHost::start(&data);
    let root_before = std::fs::read(data.join("dev-root.pem")).unwrap();
    let out = Command::new(host_binary())
        .args(["dev", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env("SIGNET_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("already in use by another signet-host dev")
            && stderr.contains(&format!("PID {}", first.pid())),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(data.join("dev-root.pem")).unwrap(),
        root_before,
        "the dev root is untouched"
    );
    // The first host still signs.
    let admin = first.admin_token();
    let (s, w) = call(
        first.url(),
        Some(&admin),
        "POST",
        "/v1/wallets",
        Some(serde_json::json!({"key_type": "ed25519"})),
    );
    assert_eq!(s, 201, "{w}");
    assert!(eventually(Duration::from_secs(5), || call(
        first.url(),
        None,
        "GET",
        "/ready",
        None
    )
    .0 == 200));
    // Stopped, the directory is free again.
    first.stop();
    let again = DevHost::start(&data);
    assert_eq!(call(again.url(), None, "GET", "/health", None).0, 200);
}

/// `GET /` leads to the console; a known route with the wrong method is a
/// JSON 405 like every other error (it was an empty body).
#[test]
fn the_root_leads_to_the_console_and_a_wrong_method_is_a_json_405() {
    let dir = tempfile::tempdir().unwrap();
    let host = DevHost::start(&dir.path().join("host"));
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let r = agent.get(&format!("{}/", host.url())).call().unwrap();
    assert!((300..400).contains(&r.status()), "{}", r.status());
    assert_eq!(r.header("location"), Some("/console/"));
    let admin = host.admin_token();
    let (s, v) = call(
        host.url(),
        Some(&admin),
        "GET",
        "/v1/wallets/w_x/sign",
        None,
    );
    assert_eq!((s, code(&v)), (405, "method_not_allowed"), "{v}");
    let (s, v) = call(host.url(), None, "DELETE", "/v1/auth/challenge", None);
    assert_eq!((s, code(&v)), (405, "method_not_allowed"), "{v}");
    let (s, v) = call(host.url(), None, "GET", "/v1/nothing-here", None);
    assert_eq!((s, code(&v)), (404, "not_found"), "{v}");
}

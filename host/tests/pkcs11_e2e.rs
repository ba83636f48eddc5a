//! `signet-host dev --backend pkcs11` on a real SoftHSM2 token: wallets of the
//! three types, signatures checked independently, a full restart, the same keys.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../enclave/tests/common/softhsm.rs"]
mod softhsm;

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use softhsm::{replace_key_pair, SoftHsm, TOKEN_LABEL, USER_PIN};

struct Host(Child, String);

impl Drop for Host {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        std::thread::sleep(Duration::from_millis(300));
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &Path, hsm: &SoftHsm) -> Host {
    let mut child = Command::new(env!("CARGO_BIN_EXE_signet-host"))
        .args([
            "dev",
            "--listen",
            "127.0.0.1:0",
            "--backend",
            "pkcs11",
            "--pkcs11-token-label",
            TOKEN_LABEL,
            "--pkcs11-module",
        ])
        .arg(hsm.module())
        .arg("--data-dir")
        .arg(dir)
        .env("SOFTHSM2_CONF", &hsm.conf)
        .env("PKCS11_PIN", USER_PIN)
        .env("SIGNET_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.with_extension("log"))
                .unwrap(),
        ))
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    std::thread::spawn(move || for _ in lines {});
    let url = first
        .split("listening on ")
        .nth(1)
        .unwrap()
        .trim()
        .to_owned();
    Host(child, url)
}

fn post(host: &Host, token: &str, path: &str, body: Value) -> Value {
    ureq::post(&format!("{}{path}", host.1))
        .set("Authorization", &format!("Bearer {token}"))
        .send_json(body)
        .unwrap()
        .into_json()
        .unwrap()
}

fn sign_body(kt: &str) -> (Value, String, Option<String>) {
    match kt {
        "ed25519" => (
            json!({"message": "aHNtIG1lc3NhZ2U=", "encoding": "raw"}),
            String::new(),
            Some(hex::encode(b"hsm message")),
        ),
        _ => (json!({"digest": "42".repeat(32)}), "42".repeat(32), None),
    }
}

#[test]
fn dev_with_an_hsm_survives_restarts() {
    let Some(hsm) = SoftHsm::new() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let host = start(&dir, &hsm);
    let token = std::fs::read_to_string(dir.join("admin-token"))
        .unwrap()
        .trim()
        .to_owned();
    let mut wallets = Vec::new();
    for kt in ["secp256k1", "p256", "ed25519"] {
        wallets.push(post(&host, &token, "/v1/wallets", json!({"key_type": kt})));
    }
    let mut checks = Vec::new();
    for w in &wallets {
        let kt = w["key_type"].as_str().unwrap();
        let (body, digest, message) = sign_body(kt);
        let s = post(
            &host,
            &token,
            &format!("/v1/wallets/{}/sign", w["id"].as_str().unwrap()),
            body,
        );
        assert_eq!(s["public_key"], w["public_key"]);
        checks.push(json!({"key_type": kt, "public_key": w["public_key"], "digest": digest, "message": message, "signature": s["signature"]}));
    }
    // Independent check (pyca/cryptography).
    let python = std::env::var("SIGNET_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut child = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/independent_verify.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    for c in &checks {
        writeln!(child.stdin.as_mut().unwrap(), "{c}").unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok 3");

    // Restart everything: host and signer; the token keeps the keys.
    drop(host);
    let host = start(&dir, &hsm);
    for w in &wallets {
        let (body, _, _) = sign_body(w["key_type"].as_str().unwrap());
        let s = post(
            &host,
            &token,
            &format!("/v1/wallets/{}/sign", w["id"].as_str().unwrap()),
            body,
        );
        assert_eq!(s["public_key"], w["public_key"], "same key after a restart");
    }
    drop(host);
    // No sealed blobs are stored for HSM wallets, and the PIN is in no log.
    let out = Command::new("python3")
        .args(["-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT COUNT(*) FROM wallets WHERE sealed IS NOT NULL').fetchone()[0])"])
        .arg(dir.join("signet.db"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
    for log in [dir.join("signer.log"), dir.with_extension("log")] {
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(!text.contains(USER_PIN), "PIN in {}", log.display());
    }

    // A wallet's key replaced on the token while Signet was down: after the
    // restart the signer knows only the token's new key, and the host refuses
    // a signature by any key other than the wallet's.
    let id = wallets[0]["id"].as_str().unwrap();
    replace_key_pair(&hsm.session(), id, false);
    let host = start(&dir, &hsm);
    let (body, _, _) = sign_body("secp256k1");
    let err = ureq::post(&format!("{}/v1/wallets/{id}/sign", host.1))
        .set("Authorization", &format!("Bearer {token}"))
        .send_json(body)
        .unwrap_err();
    let ureq::Error::Status(500, response) = err else {
        panic!("{err:?}")
    };
    let v: Value = response.into_json().unwrap();
    assert_eq!(v["error"]["code"], "internal", "{v}");
    drop(host);
    let log = std::fs::read_to_string(dir.with_extension("log")).unwrap();
    assert!(
        log.contains("the signer signed with a key other than the wallet's"),
        "{log}"
    );
}

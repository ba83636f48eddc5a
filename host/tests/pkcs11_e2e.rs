//! `signet-host dev --backend pkcs11` on a real SoftHSM2 token: wallets of the
//! three types, signatures checked independently, a full restart, the same keys.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../enclave/tests/common/softhsm.rs"]
mod softhsm;

mod common;

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use softhsm::{replace_key_pair, SoftHsm, USER_PIN};

use common::{call, code, verify_independently, DevHost};

/// `signet-host dev` on `hsm`'s token (the PIN reaches it through `PKCS11_PIN`).
fn start(dir: &Path, hsm: &SoftHsm) -> DevHost {
    DevHost::command(dir)
        .args(hsm.args())
        .envs(hsm.env())
        .env("SIGNET_LOG", "info")
        .start()
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

/// `POST /v1/wallets/{id}/sign` with the body for its key type.
fn sign(host: &DevHost, token: &str, w: &Value) -> (u16, Value) {
    let (body, _, _) = sign_body(w["key_type"].as_str().unwrap());
    call(
        host.url(),
        Some(token),
        "POST",
        &format!("/v1/wallets/{}/sign", w["id"].as_str().unwrap()),
        Some(body),
    )
}

#[test]
fn dev_with_an_hsm_survives_restarts() {
    let Some(hsm) = SoftHsm::new() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let host = start(&dir, &hsm);
    let token = host.admin_token();
    let mut wallets = Vec::new();
    for kt in ["secp256k1", "p256", "ed25519"] {
        let (s, w) = call(
            host.url(),
            Some(&token),
            "POST",
            "/v1/wallets",
            Some(json!({"key_type": kt})),
        );
        assert_eq!(s, 201, "{w}");
        wallets.push(w);
    }
    let mut checks = Vec::new();
    for w in &wallets {
        let kt = w["key_type"].as_str().unwrap();
        let (_, digest, message) = sign_body(kt);
        let (status, s) = sign(&host, &token, w);
        assert_eq!(status, 200, "{s}");
        assert_eq!(s["public_key"], w["public_key"]);
        checks.push(json!({"key_type": kt, "public_key": w["public_key"], "digest": digest, "message": message, "signature": s["signature"]}));
    }
    // Independent check (pyca/cryptography).
    verify_independently(&checks);

    // Restart everything: host and signer; the token keeps the keys.
    host.stop();
    let host = start(&dir, &hsm);
    for w in &wallets {
        let (status, s) = sign(&host, &token, w);
        assert_eq!(status, 200, "{s}");
        assert_eq!(s["public_key"], w["public_key"], "same key after a restart");
    }
    let host_log = host.log_path().to_owned();
    host.stop();
    // No sealed blobs are stored for HSM wallets, and the PIN is in no log.
    let out = Command::new("python3")
        .args(["-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT COUNT(*) FROM wallets WHERE sealed IS NOT NULL').fetchone()[0])"])
        .arg(dir.join("signet.db"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
    for log in [dir.join("signer.log"), host_log] {
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(!text.contains(USER_PIN), "PIN in {}", log.display());
    }

    // A wallet's key replaced on the token while Signet was down: after the
    // restart the signer knows only the token's new key, and the wallet's
    // record (which its record object on the token still names) describes
    // the old one: refused before anything is signed.
    let id = wallets[0]["id"].as_str().unwrap();
    replace_key_pair(&hsm.session(), id, false);
    let host = start(&dir, &hsm);
    let (status, v) = sign(&host, &token, &wallets[0]);
    assert_eq!((status, code(&v)), (409, "record_mismatch"), "{v}");
    host.stop();
}

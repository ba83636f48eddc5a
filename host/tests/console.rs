//! The web console in a real browser: Debian's Chromium driven by
//! playwright-core (scripts/console/walk.mjs) against a real `signet-host
//! dev`, signing in through `signet-telegram-fake`, approving and declining
//! payment requests of an API client, revoking another client of the
//! person's tenant, verifying attestation in the browser (the verifier
//! compiled to WebAssembly) with the same verdicts as the real `signet
//! attest verify` on the real AWS vectors, and flagging an audit row
//! altered in the database. The tools come from scripts/console-deps.sh;
//! scripts/test.sh sets SIGNET_REQUIRE_CONSOLE=1, so there it cannot skip.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use common::{call, eventually, signet_cli, DevHost, TelegramFake};
use serde_json::{json, Value};

const TOKEN: &str = "7712345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ";
const BOT: &str = "SignetConsoleBot";
const USER: i64 = 7_700_001;

fn node_modules() -> Option<String> {
    match std::env::var("SIGNET_CONSOLE_NODE_MODULES") {
        Ok(m) => Some(m),
        Err(_) => {
            assert!(
                std::env::var("SIGNET_REQUIRE_CONSOLE").as_deref() != Ok("1"),
                "SIGNET_REQUIRE_CONSOLE=1 but SIGNET_CONSOLE_NODE_MODULES is not set (source scripts/console-deps.sh)"
            );
            eprintln!("SKIPPED: the browser is not installed (source scripts/console-deps.sh)");
            None
        }
    }
}

/// Signs in once through the fake Telegram, so the user exists (the walk
/// signs in again as the same Telegram user): the user id.
fn first_sign_in(url: &str, fake: &TelegramFake) -> String {
    let (s, c) = call(url, None, "POST", "/v1/auth/challenge", Some(json!({})));
    assert_eq!(s, 201, "{c}");
    fake.open_and_press(USER, &c, c["code"].as_str().unwrap());
    let mut last = (0, Value::Null);
    assert!(
        eventually(Duration::from_secs(30), || {
            last = call(
                url,
                None,
                "POST",
                "/v1/auth/verify",
                Some(json!({"challenge_id": c["challenge_id"], "verifier": c["verifier"]})),
            );
            last.0 == 200
        }),
        "{last:?}"
    );
    last.1["user"]["id"].as_str().unwrap().to_owned()
}

/// The real AWS vectors with what the real CLI says of them: each at a time
/// it is valid and, for some, at a time it is not.
fn vector_cases(dir: &std::path::Path) -> PathBuf {
    let vectors = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../attestation/testdata/vectors");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(vectors.join("manifest.json")).unwrap())
            .unwrap();
    let mut cases = Vec::new();
    for (n, d) in manifest["documents"].as_array().unwrap().iter().enumerate() {
        let file = vectors.join(d["file"].as_str().unwrap());
        let bytes = std::fs::read(&file).unwrap();
        let debug = d["debug_mode"].as_bool().unwrap();
        let mut times = vec![d["expect"]["valid_at_ms"][0].as_u64().unwrap()];
        if n % 3 == 0 {
            times.push(d["expect"]["invalid_at_ms"][0].as_u64().unwrap());
        }
        for at in times {
            let mut cli = signet_cli();
            cli.args(["attest", "verify", "--json", "--at", &at.to_string()]);
            for (i, v) in d["pcrs"].as_object().unwrap() {
                cli.args(["--pcr", &format!("{i}={}", v.as_str().unwrap())]);
            }
            if debug {
                cli.arg("--allow-debug");
            }
            let out = cli.arg(&file).output().unwrap();
            let verdict: Value = serde_json::from_slice(&out.stdout).unwrap();
            cases.push(json!({
                "name": format!("{} at {at}", d["file"].as_str().unwrap()),
                "document_b64": base64::engine::general_purpose::STANDARD.encode(&bytes),
                "pcrs": d["pcrs"],
                "root": "aws",
                "at_ms": at,
                "allow_debug": debug,
                "expect_valid": verdict["valid"],
                "cli_error_code": verdict["error_code"],
            }));
        }
    }
    assert!(cases.iter().any(|c| c["expect_valid"] == false));
    let path = dir.join("vectors.json");
    std::fs::write(&path, serde_json::to_vec(&cases).unwrap()).unwrap();
    path
}

#[test]
fn the_console_walk_passes_in_chromium() {
    let Some(modules) = node_modules() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let fake = TelegramFake::start(dir.path(), TOKEN, BOT);
    let host = DevHost::command(&dir.path().join("host"))
        .with_telegram(&fake)
        .start();
    let url = host.url();
    let user = first_sign_in(url, &fake);
    // The merchant: an API client of the user's tenant.
    let (s, c) = call(
        url,
        Some(&host.admin_token()),
        "POST",
        "/v1/admin/api-clients",
        Some(
            json!({"name": "shop", "tenant": format!("user:{user}"), "scopes": ["sign", "wallets:read"]}),
        ),
    );
    assert_eq!(s, 201, "{c}");
    // A second client of the tenant, never used: the walk revokes it in the
    // console (the merchant's token serves later steps).
    let (s, spare) = call(
        url,
        Some(&host.admin_token()),
        "POST",
        "/v1/admin/api-clients",
        Some(
            json!({"name": "old-shop", "tenant": format!("user:{user}"), "scopes": ["wallets:read"]}),
        ),
    );
    assert_eq!(s, 201, "{spare}");
    let db = host.dir().join("signet.db");
    // Alters the newest wallet.create event of the user's view in the
    // database, behind the host's back; prints its seq.
    let tamper = format!(
        "python3 -c \"import sqlite3; c = sqlite3.connect('{}'); s = c.execute(\\\"SELECT MAX(seq) FROM audit_events WHERE actor = 'user:{user}' AND action = 'wallet.create'\\\").fetchone()[0]; c.execute(\\\"UPDATE audit_events SET outcome = 'denied:nothing_to_see' WHERE seq = ?\\\", (s,)); c.commit(); print(s)\"",
        db.display()
    );
    let shots = std::env::var_os("SIGNET_CONSOLE_SHOTS")
        .map_or_else(|| dir.path().join("shots"), PathBuf::from);
    let walk = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/console/walk.mjs");
    let out = Command::new("node")
        .arg(&walk)
        .env("SIGNET_URL", url)
        .env("SIGNET_TG_CONTROL", &fake.control)
        .env("SIGNET_TG_USER", USER.to_string())
        .env("SIGNET_API_TOKEN", c["token"].as_str().unwrap())
        .env("SIGNET_SPARE_TOKEN", spare["token"].as_str().unwrap())
        .env("SIGNET_VECTORS", vector_cases(dir.path()))
        .env("SIGNET_DEV_ROOT_PEM", host.dir().join("dev-root.pem"))
        .env("SIGNET_TAMPER_CMD", tamper)
        .env("SIGNET_SHOTS", &shots)
        .env("SIGNET_CONSOLE_NODE_MODULES", modules)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success() && stdout.contains("console walk:") && stdout.contains(" 0 failed"),
        "the console walk failed:\n{stdout}\n{stderr}\nhost log: {}",
        common::log_text(host.log_path())
    );
    // Every page was photographed.
    let pngs = std::fs::read_dir(&shots).unwrap().count();
    assert!(pngs >= 10, "{pngs} screenshots in {}", shots.display());
}

/// On a test-mode host (no bot) the sign-in page asks for the Telegram user
/// id and never shows a link to a bot that does not exist (issue 28.2).
#[test]
fn the_sign_in_page_on_a_test_mode_host_asks_for_the_user_id() {
    let Some(modules) = node_modules() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let host = DevHost::start(&dir.path().join("host"));
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/console/test-mode.mjs");
    let out = Command::new("node")
        .arg(&script)
        .env("SIGNET_URL", host.url())
        .env("SIGNET_CONSOLE_NODE_MODULES", modules)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("test mode: ok"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

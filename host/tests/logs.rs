//! The logs of a full walk, as an operator would ship them: JSON lines
//! (`SIGNET_LOG_FORMAT=json`) at debug level, every request's lines carrying
//! its id, and no secret anywhere — not a token, a secret of the
//! configuration, a ticket or its MAC, nor a sealed key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine as _;
use serde_json::{json, Value};

use common::{call, create_client, log_text, DevHost};

const INTERNAL: &str = "logscan-internal-key-7f6e5d4c3b2a19080706";
const TICKETS: &str = "logscan-ticket-key-0a1b2c3d4e5f6a7b8c9d0e";
const SESSIONS: &str = "logscan-session-key-f0e1d2c3b4a5968778695";

#[test]
fn a_full_walk_logs_json_lines_with_request_ids_and_no_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let host = DevHost::command(&dir)
        .env("SIGNET_LOG_FORMAT", "json")
        .env("SIGNET_LOG", "debug,hyper=info,h2=info")
        .env("INTERNAL_API_KEY", INTERNAL)
        .env("TICKET_SIGNING_SECRET", TICKETS)
        .env("SESSION_SIGNING_SECRET", SESSIONS)
        .start();
    let url = host.url().to_owned();
    let admin = host.admin_token();
    let alice = create_client(&url, &admin, "alice", &["wallets:*", "sign", "audit:read"]);
    let mut tickets = Vec::new();
    for kt in ["secp256k1", "p256", "ed25519"] {
        let (s, w) = call(
            &url,
            Some(&alice),
            "POST",
            "/v1/wallets",
            Some(json!({"key_type": kt})),
        );
        assert_eq!(s, 201, "{w}");
        let id = w["id"].as_str().unwrap();
        let body = if kt == "ed25519" {
            json!({"message": "aGVsbG8=", "encoding": "raw"})
        } else {
            json!({"digest": "44".repeat(32)})
        };
        let (s, intent) = call(
            &url,
            Some(&alice),
            "POST",
            &format!("/v1/wallets/{id}/sign-intent"),
            Some(body.clone()),
        );
        assert_eq!(s, 201, "{intent}");
        let ticket = intent["ticket"].as_str().unwrap().to_owned();
        let path = format!("/v1/wallets/{id}/sign");
        let redeem = || {
            call(
                &url,
                Some(&alice),
                "POST",
                &path,
                Some(json!({"ticket": ticket})),
            )
            .0
        };
        assert_eq!(redeem(), 200);
        assert_eq!(redeem(), 409, "a replay");
        assert_eq!(call(&url, Some(&alice), "POST", &path, Some(body)).0, 200);
        tickets.push(ticket);
    }
    // Refusals log too.
    assert_eq!(
        call(
            &url,
            Some("sgn_000000000000000000000000_bad"),
            "GET",
            "/v1/wallets",
            None
        )
        .0,
        401
    );
    assert_eq!(
        call(
            &url,
            None,
            "GET",
            &format!("/v1/wallets?token={alice}"),
            None
        )
        .0,
        401
    );
    assert_eq!(call(&url, Some(&alice), "GET", "/v1/audit", None).0, 200);
    // Sealed keys, as stored (the file is SQLite; read it as an operator would).
    let sealed = std::process::Command::new("python3")
        .arg("-c")
        .arg("import sqlite3,sys; print('\\n'.join(r[0].hex() for r in sqlite3.connect(sys.argv[1]).execute('select sealed from wallets where sealed is not null')))")
        .arg(dir.join("signet.db"))
        .output()
        .unwrap();
    assert!(
        sealed.status.success(),
        "{}",
        String::from_utf8_lossy(&sealed.stderr)
    );
    let sealed: Vec<String> = String::from_utf8(sealed.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(sealed.len(), 3);
    let signer_log = dir.join("signer.log");
    host.stop();

    let mut secrets: Vec<(String, String)> = vec![
        ("INTERNAL_API_KEY".into(), INTERNAL.into()),
        ("TICKET_SIGNING_SECRET".into(), TICKETS.into()),
        ("SESSION_SIGNING_SECRET".into(), SESSIONS.into()),
    ];
    for (name, token) in [("admin token", &admin), ("alice's token", &alice)] {
        let secret = token.rsplit('_').next().unwrap().to_owned();
        secrets.push((format!("{name} secret"), secret));
    }
    for t in &tickets {
        secrets.push(("a ticket".into(), t.clone()));
        secrets.push((
            "a ticket's MAC".into(),
            t.rsplit('.').next().unwrap().to_owned(),
        ));
    }
    for blob in &sealed {
        let bytes = hex::decode(blob).unwrap();
        // The ciphertext (the blob also carries public fields: the key id,
        // the record's hash), in hex and base64.
        let sealed = signet_proto::SealedKey::from_bytes(&bytes).unwrap();
        let tail = &sealed.ciphertext[sealed.ciphertext.len() - 32..];
        secrets.push(("a sealed key (hex)".into(), hex::encode(tail)));
        secrets.push((
            "a sealed key (as Debug prints bytes)".into(),
            tail[..8]
                .iter()
                .map(u8::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        ));
        secrets.push((
            "a sealed key (base64)".into(),
            base64::engine::general_purpose::STANDARD.encode(&tail[..30]),
        ));
    }
    let host_log = log_text(host_log_path(&dir).as_path());
    let signer_log = log_text(&signer_log);
    let mut request_lines = 0;
    for (which, text) in [("host", &host_log), ("signer", &signer_log)] {
        assert!(
            text.lines().count() >= 3,
            "the {which} logged almost nothing:\n{text}"
        );
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{which} log line is not JSON ({e}): {line}"));
            for (what, secret) in &secrets {
                assert!(
                    !line.contains(secret.as_str()),
                    "{what} in the {which} log: {line}"
                );
            }
            if v["fields"]["message"] == "request" {
                request_lines += 1;
                assert!(
                    v["span"]["request_id"]
                        .as_str()
                        .is_some_and(|id| id.len() >= 16),
                    "a request line without its id: {line}"
                );
            }
        }
    }
    assert!(request_lines >= 15, "{request_lines} request lines");
}

/// `DevHost` appends the host's stderr to `DIR.log`.
fn host_log_path(dir: &std::path::Path) -> std::path::PathBuf {
    dir.with_extension("log")
}

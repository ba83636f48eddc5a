//! The README quick start and the runbook's operator commands, run as a user
//! would: the real binaries, `signet-host dev`, `serve`, `check-config`,
//! `admin`, and the `signet` CLI.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{json, Value};

use common::{
    assert_ok, bootstrap_operator, call, code, eventually, host_binary, self_signed, serve_env,
    signer_pcrs, signet_cli, write_policy, DevHost, ServeHost, Signer,
};

/// `signet ARGS --url URL --token-file FILE`.
fn signet(url: &str, token_file: &Path, args: &[&str]) -> Output {
    signet_cli()
        .args(args)
        .args(["--url", url, "--token-file"])
        .arg(token_file)
        .output()
        .unwrap()
}

fn ok_json(out: &Output) -> Value {
    assert_ok(out);
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn quick_start_with_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("signet-data");
    let host = DevHost::start(&data);
    let url = host.url();
    let token = data.join("admin-token");
    let root = data.join("dev-root.pem");
    let pcrs = signer_pcrs();
    let pcr_args: Vec<String> = pcrs
        .iter()
        .flat_map(|(i, v)| ["--pcr".to_owned(), format!("{i}={}", hex::encode(v))])
        .collect();

    for (kt, data_args) in [
        ("secp256k1", vec!["--message", "hello from the quick start"]),
        ("p256", vec!["--digest", &"5a".repeat(32)]),
        ("ed25519", vec!["--message", "an ed25519 message"]),
    ] {
        let wallet = ok_json(&signet(
            url,
            &token,
            &[
                "wallet",
                "create",
                "--key-type",
                kt,
                "--label",
                "quick start",
            ],
        ));
        let id = wallet["id"].as_str().unwrap();
        let shown = ok_json(&signet(url, &token, &["wallet", "show", id]));
        assert_eq!(shown["public_key"], wallet["public_key"]);
        let wallet_file = tmp.path().join(format!("{kt}-wallet.json"));
        std::fs::write(&wallet_file, serde_json::to_vec(&shown).unwrap()).unwrap();
        // The README's way to read a dev signer's PCRs: inspect the wallet JSON.
        let inspect = signet_cli()
            .args(["attest", "inspect"])
            .arg(&wallet_file)
            .output()
            .unwrap();
        let inspected: Value = serde_json::from_slice(&inspect.stdout).unwrap();
        assert_eq!(inspected["pcrs"]["0"], hex::encode(&pcrs[&0]));

        let mut sign_args = vec!["sign", id];
        sign_args.extend(data_args.iter().copied());
        sign_args.push("--attest");
        let sig = ok_json(&signet(url, &token, &sign_args));
        let sig_file = tmp.path().join(format!("{kt}-sig.json"));
        std::fs::write(&sig_file, serde_json::to_vec(&sig).unwrap()).unwrap();

        // Offline verification, as an auditor would; `root: None` trusts no
        // dev root (the default).
        let verify = |data: &[&str], root: Option<&Path>, pcrs: &[String]| {
            let mut cmd = signet_cli();
            cmd.args(["verify-signature", "--wallet"])
                .arg(&wallet_file)
                .arg("--signature")
                .arg(&sig_file)
                .args(data);
            if let Some(root) = root {
                cmd.arg("--root").arg(root);
            }
            cmd.args(pcrs).output().unwrap()
        };
        let out = verify(&data_args, Some(root.as_path()), &pcr_args);
        assert!(
            out.status.success(),
            "{kt}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("VALID"));
        // Other data, another image, or the AWS root: refused.
        let other = if kt == "p256" {
            vec!["--digest".to_owned(), "5b".repeat(32)]
        } else {
            vec!["--message".to_owned(), "tampered".to_owned()]
        };
        let other: Vec<&str> = other.iter().map(String::as_str).collect();
        assert_eq!(
            verify(&other, Some(root.as_path()), &pcr_args)
                .status
                .code(),
            Some(1),
            "{kt}: other data"
        );
        let wrong_pcr = vec!["--pcr".to_owned(), format!("0={}", "00".repeat(48))];
        assert_eq!(
            verify(&data_args, Some(root.as_path()), &wrong_pcr)
                .status
                .code(),
            Some(1),
            "{kt}: other image"
        );
        assert_eq!(
            verify(&data_args, None, &pcr_args).status.code(),
            Some(1),
            "{kt}: the dev root is not trusted by default"
        );
    }
    let list = ok_json(&signet(url, &token, &["wallet", "list", "--json"]));
    assert_eq!(list["wallets"].as_array().unwrap().len(), 3);
    let id = list["wallets"][0]["id"].as_str().unwrap().to_owned();
    ok_json(&signet(url, &token, &["wallet", "destroy", &id]));
    let out = signet(url, &token, &["wallet", "show", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("404"));
    let out = signet(url, &token, &["audit", "verify"]);
    assert_ok(&out);

    // The signer's attestation through the API, verified with `signet attest verify`.
    let (s, v) = call(
        url,
        Some(&host.admin_token()),
        "GET",
        "/v1/attestation?nonce=0102",
        None,
    );
    assert_eq!(s, 200, "{v}");
    let doc = tmp.path().join("signer.doc");
    std::fs::write(&doc, v["attestation"]["document"].as_str().unwrap()).unwrap();
    let out = signet_cli()
        .args(["attest", "verify"])
        .arg(&doc)
        .arg("--root")
        .arg(&root)
        .args(&pcr_args)
        .args(["--nonce", "0102", "--max-age", "60"])
        .output()
        .unwrap();
    assert_ok(&out);
}

#[test]
fn check_config_names_the_variable_and_serve_refuses_weak_secrets() {
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::new(host_binary());
        cmd.args(args).env_clear();
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let good = [
        ("ENCLAVE_ADDR", "unix:/tmp/nowhere.sock"),
        (
            "INTERNAL_API_KEY",
            "7d1e0c2b4a59687f3e2d1c0b9a8f7e6d5c4b3a29",
        ),
        (
            "TICKET_SIGNING_SECRET",
            "a9b8c7d6e5f40312f1e2d3c4b5a69788796a5b4c",
        ),
        (
            "SESSION_SIGNING_SECRET",
            "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c",
        ),
        ("ATTESTATION_POLICY", "insecure-skip"),
    ];
    let out = run(&["check-config"], &good);
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("configuration OK"));
    for (var, value) in [
        ("INTERNAL_API_KEY", "short-key"),
        (
            "TICKET_SIGNING_SECRET",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ),
        ("ENCLAVE_ADDR", "tcp://1.2.3.4:5"),
    ] {
        let env: Vec<(&str, &str)> = good
            .iter()
            .map(|(k, v)| if *k == var { (*k, value) } else { (*k, *v) })
            .collect();
        for cmd in ["check-config", "serve"] {
            let out = run(&[cmd], &env);
            assert_eq!(out.status.code(), Some(1), "{cmd} with bad {var}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains(var), "{cmd}: {stderr}");
            assert!(
                !stderr.contains(value) || var == "ENCLAVE_ADDR",
                "secret values are never echoed: {stderr}"
            );
        }
    }
    let env: Vec<(&str, &str)> = good
        .iter()
        .copied()
        .filter(|(k, _)| *k != "ATTESTATION_POLICY")
        .collect();
    let out = run(&["check-config"], &env);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ATTESTATION_POLICY"));
}

#[test]
fn serve_with_a_policy_file_tls_and_an_admin_created_client() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let signer = Signer::start(dir);
    // The policy: the dev root and the signer binary's PCRs.
    let set: serde_json::Map<String, Value> = signer_pcrs()
        .iter()
        .map(|(i, v)| (i.to_string(), Value::String(hex::encode(v))))
        .collect();
    let policy = write_policy(dir, &signer.dev_root(), &set);
    // A self-signed TLS certificate.
    let (key, cert) = self_signed(
        dir,
        "tls",
        "localhost",
        &["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
    );
    let db = format!("sqlite://{}", dir.join("serve.db").display());
    let mut env = serve_env(&signer, &db, &policy);
    env.push(("SIGNET_TLS_CERT", cert.display().to_string()));
    env.push(("SIGNET_TLS_KEY", key.display().to_string()));
    // Bootstrap: an operator creates the first client offline.
    let token = bootstrap_operator(&db);
    let host = ServeHost::start(dir, &env);
    let url = host.url();
    assert!(url.starts_with("https://"), "{url}");
    let curl = |args: &[&str]| {
        Command::new("curl")
            .args(["-s", "--cacert"])
            .arg(&cert)
            .args(args)
            .output()
            .unwrap()
    };
    let ready = eventually(Duration::from_secs(10), || {
        let out = curl(&[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("{url}/ready"),
        ]);
        out.stdout == b"200"
    });
    assert!(
        ready,
        "serve over TLS with an attested signer became ready; its log:\n{}",
        common::log_text(host.log_path())
    );
    let out = curl(&[
        "-H",
        &format!("Authorization: Bearer {token}"),
        "-H",
        "content-type: application/json",
        "-d",
        r#"{"key_type":"p256"}"#,
        &format!("{url}/v1/wallets"),
    ]);
    let wallet: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(wallet["key_type"], "p256", "{wallet}");
    // Plain HTTP to the TLS port gets nothing useful.
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("http://127.0.0.1:{}/health", host.port()),
        ])
        .output()
        .unwrap();
    assert_ne!(out.stdout, b"200");
}

#[test]
fn serve_refuses_a_signer_that_fails_the_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let signer = Signer::start(dir);
    // Right root, wrong image.
    let mut wrong = serde_json::Map::new();
    wrong.insert("0".into(), Value::String("ab".repeat(48)));
    let policy = write_policy(dir, &signer.dev_root(), &wrong);
    let db = format!("sqlite://{}", dir.join("x.db").display());
    let host = ServeHost::start(dir, &serve_env(&signer, &db, &policy));
    let (s, v) = call(host.url(), None, "GET", "/ready", None);
    assert_eq!(s, 503, "{v}");
    assert_eq!(v["ready"], false);
    // Anyone may ask /ready: no PCR values, no socket path there.
    assert_eq!(v["reasons"], json!(["signer: attestation refused"]), "{v}");
    // The operator sees why.
    let token = bootstrap_operator(&db);
    let (s, status) = call(
        host.url(),
        Some(token.as_str()),
        "GET",
        "/v1/admin/status",
        None,
    );
    assert_eq!(s, 200, "{status}");
    assert_eq!(status["signer"]["reachable"], false);
    let detail = status["signer"]["last_connect_error"]
        .as_str()
        .unwrap_or_default();
    assert!(detail.contains("PCR0"), "{status}");
    assert!(
        detail.contains("was signet-enclave rebuilt or upgraded?") && detail.contains("restart it"),
        "the operator is told the likely cause: {status}"
    );
    // A client gets the same generic reason.
    let (s, v) = call(
        host.url(),
        Some(token.as_str()),
        "POST",
        "/v1/wallets",
        Some(json!({"key_type": "p256"})),
    );
    assert_eq!((s, code(&v)), (503, "enclave_unavailable"), "{v}");
    assert!(
        !v.to_string().contains(".sock") && !v.to_string().contains("PCR"),
        "{v}"
    );
}

/// `signet-host audit export` → JSON lines → `signet audit verify --file`:
/// the whole log, a range given its predecessor's hash, a tampered line,
/// and `--follow` picking up new events.
#[test]
fn audit_export_is_verified_offline_whole_as_a_range_and_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let host = DevHost::start(&dir);
    let admin_token = host.admin_token();
    for kt in ["p256", "ed25519", "secp256k1"] {
        let (s, v) = call(
            host.url(),
            Some(&admin_token),
            "POST",
            "/v1/wallets",
            Some(json!({"key_type": kt})),
        );
        assert_eq!(s, 201, "{v}");
    }
    let db = format!("sqlite://{}", dir.join("signet.db").display());
    let export = |args: &[&str]| {
        let out = Command::new(host_binary())
            .args(["audit", "export"])
            .args(args)
            .env("SIGNET_DATABASE_URL", &db)
            .output()
            .unwrap();
        assert_ok(&out);
        String::from_utf8(out.stdout).unwrap()
    };
    let verify = |text: &str, extra: &[&str]| {
        let file = tmp.path().join("export.jsonl");
        std::fs::write(&file, text).unwrap();
        signet_cli()
            .args(["audit", "verify", "--file"])
            .arg(&file)
            .args(extra)
            .output()
            .unwrap()
    };
    let whole = export(&[]);
    let lines: Vec<&str> = whole.lines().collect();
    assert!(lines.len() >= 4, "{whole}");
    let out = verify(&whole, &[]);
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("{} events", lines.len())));
    // A range: refused without its anchor, valid with it, invalid with another.
    let range = export(&["--after", "2"]);
    assert_eq!(range.lines().count(), lines.len() - 2);
    assert_eq!(verify(&range, &[]).status.code(), Some(2));
    let second: Value = serde_json::from_str(lines[1]).unwrap();
    let anchor = second["hash"].as_str().unwrap();
    assert_ok(&verify(&range, &["--prev-hash", anchor]));
    let wrong = "00".repeat(32);
    assert_eq!(
        verify(&range, &["--prev-hash", &wrong]).status.code(),
        Some(1)
    );
    // A tampered line is named.
    let tampered = whole.replacen("\"outcome\":\"ok\"", "\"outcome\":\"denied\"", 1);
    let out = verify(&tampered, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("BROKEN"));
    // --follow writes what comes later.
    let mut follower = Command::new(host_binary())
        .args(["audit", "export", "--follow", "--after"])
        .arg(lines.len().to_string())
        .env("SIGNET_DATABASE_URL", &db)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (s, _) = call(
        host.url(),
        Some(&admin_token),
        "POST",
        "/v1/wallets",
        Some(json!({"key_type": "p256"})),
    );
    assert_eq!(s, 201);
    let mut reader = std::io::BufReader::new(follower.stdout.take().unwrap());
    let mut next = String::new();
    std::io::BufRead::read_line(&mut reader, &mut next).unwrap();
    let event: Value = serde_json::from_str(&next).unwrap();
    assert_eq!(event["seq"], json!(lines.len() + 1));
    assert_eq!(event["action"], "wallet.create");
    let _ = follower.kill();
    let _ = follower.wait();
}

/// SIGHUP reloads the TLS certificate: a connection made before keeps
/// working, new handshakes get the new certificate, and a broken new pair
/// is refused while the current one stays.
#[test]
fn sighup_reloads_the_tls_certificate_without_dropping_connections() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let signer = Signer::start(dir);
    let policy = signer.policy(dir);
    let san = ["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"];
    let (key_a, cert_a) = self_signed(dir, "a", "localhost", &san);
    let (key_b, cert_b) = self_signed(dir, "b", "localhost", &san);
    let (key, cert) = (dir.join("tls.key"), dir.join("tls.crt"));
    std::fs::copy(&key_a, &key).unwrap();
    std::fs::copy(&cert_a, &cert).unwrap();
    let db = format!("sqlite://{}", dir.join("tls.db").display());
    let mut env = serve_env(&signer, &db, &policy);
    env.push(("SIGNET_TLS_CERT", cert.display().to_string()));
    env.push(("SIGNET_TLS_KEY", key.display().to_string()));
    let host = ServeHost::start(dir, &env);
    let port = host.port();
    let trusts = |ca: &Path| {
        Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(ca)
            .arg(format!("https://localhost:{port}/health"))
            .output()
            .unwrap()
            .stdout
            == b"200"
    };
    assert!(eventually(Duration::from_secs(10), || trusts(&cert_a)));
    assert!(!trusts(&cert_b));
    // A keep-alive connection made now, pinned to A, held across the reload.
    let script = r#"
import http.client, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
c = http.client.HTTPSConnection("localhost", int(sys.argv[1]), context=ctx)
c.request("GET", "/health"); r = c.getresponse(); r.read(); print("first", r.status, flush=True)
sys.stdin.readline()
c.request("GET", "/health"); r = c.getresponse(); r.read(); print("again", r.status, flush=True)
"#;
    let mut held = Command::new("python3")
        .args(["-c", script, &port.to_string()])
        .arg(&cert_a)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(held.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line.trim(), "first 200");
    // A broken pair (B's certificate with A's key) is refused; A stays.
    std::fs::copy(&cert_b, &cert).unwrap();
    assert!(common::send_signal("HUP", host.pid()));
    std::thread::sleep(Duration::from_millis(500));
    assert!(trusts(&cert_a), "a broken pair replaced the certificate");
    // The real swap.
    std::fs::copy(&key_b, &key).unwrap();
    assert!(common::send_signal("HUP", host.pid()));
    assert!(
        eventually(Duration::from_secs(10), || trusts(&cert_b)),
        "new handshakes do not get the new certificate"
    );
    assert!(!trusts(&cert_a));
    std::io::Write::write_all(&mut held.stdin.take().unwrap(), b"go\n").unwrap();
    line.clear();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(
        line.trim(),
        "again 200",
        "the connection made before the reload broke"
    );
    let _ = held.wait();
    assert!(common::log_text(host.log_path()).contains("TLS reload failed"));
}

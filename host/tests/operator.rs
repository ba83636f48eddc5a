//! The README quick start and the runbook's operator commands, run as a user
//! would: the real binaries, `signet-host dev`, `serve`, `check-config`,
//! `admin`, and the `signet` CLI.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

fn sibling(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_signet-host")).with_file_name(name);
    assert!(
        p.exists(),
        "{} is not built: run scripts/test.sh",
        p.display()
    );
    p
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_dev(dir: &Path) -> (Running, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_signet-host"))
        .args(["dev", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("SIGNET_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
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
    (Running(child), url)
}

fn signet(url: &str, token_file: &Path, args: &[&str]) -> Output {
    Command::new(sibling("signet"))
        .args(args)
        .args(["--url", url, "--token-file"])
        .arg(token_file)
        .output()
        .unwrap()
}

fn ok_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn quick_start_with_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("signet-data");
    let (_host, url) = start_dev(&data);
    let token = data.join("admin-token");
    let root = data.join("dev-root.pem");
    let enclave = std::fs::read(sibling("signet-enclave")).unwrap();
    let pcrs = signet_attestation::dev::dev_pcrs(&enclave);
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
            &url,
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
        let shown = ok_json(&signet(&url, &token, &["wallet", "show", id]));
        assert_eq!(shown["public_key"], wallet["public_key"]);
        let wallet_file = tmp.path().join(format!("{kt}-wallet.json"));
        std::fs::write(&wallet_file, serde_json::to_vec(&shown).unwrap()).unwrap();
        // The README's way to read a dev signer's PCRs: inspect the wallet JSON.
        let inspect = Command::new(sibling("signet"))
            .args(["attest", "inspect"])
            .arg(&wallet_file)
            .output()
            .unwrap();
        let inspected: Value = serde_json::from_slice(&inspect.stdout).unwrap();
        assert_eq!(inspected["pcrs"]["0"], hex::encode(&pcrs[&0]));

        let mut sign_args = vec!["sign", id];
        sign_args.extend(data_args.iter().copied());
        sign_args.push("--attest");
        let sig = ok_json(&signet(&url, &token, &sign_args));
        let sig_file = tmp.path().join(format!("{kt}-sig.json"));
        std::fs::write(&sig_file, serde_json::to_vec(&sig).unwrap()).unwrap();

        // Offline verification, as an auditor would.
        let verify = |data: &[&str], pcrs: &[String]| {
            let mut cmd = Command::new(sibling("signet"));
            cmd.args(["verify-signature", "--wallet"])
                .arg(&wallet_file)
                .arg("--signature")
                .arg(&sig_file)
                .args(data)
                .arg("--root")
                .arg(&root)
                .args(pcrs);
            cmd.output().unwrap()
        };
        let out = verify(&data_args, &pcr_args);
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
            verify(&other, &pcr_args).status.code(),
            Some(1),
            "{kt}: other data"
        );
        let wrong_pcr = vec!["--pcr".to_owned(), format!("0={}", "00".repeat(48))];
        assert_eq!(
            verify(&data_args, &wrong_pcr).status.code(),
            Some(1),
            "{kt}: other image"
        );
        let mut cmd = Command::new(sibling("signet"));
        let out = cmd
            .args(["verify-signature", "--wallet"])
            .arg(&wallet_file)
            .arg("--signature")
            .arg(&sig_file)
            .args(&data_args)
            .args(&pcr_args)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{kt}: the dev root is not trusted by default"
        );
    }
    let list = ok_json(&signet(&url, &token, &["wallet", "list"]));
    assert_eq!(list["wallets"].as_array().unwrap().len(), 3);
    let id = list["wallets"][0]["id"].as_str().unwrap().to_owned();
    ok_json(&signet(&url, &token, &["wallet", "destroy", &id]));
    let out = signet(&url, &token, &["wallet", "show", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("404"));
    let out = signet(&url, &token, &["audit", "verify"]);
    assert!(out.status.success());

    // The signer's attestation through the API, verified with `signet attest verify`.
    let bearer = format!("Bearer {}", std::fs::read_to_string(&token).unwrap().trim());
    let v: Value = ureq::get(&format!("{url}/v1/attestation?nonce=0102"))
        .set("Authorization", &bearer)
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    let doc = tmp.path().join("signer.doc");
    std::fs::write(&doc, v["attestation"]["document"].as_str().unwrap()).unwrap();
    let mut cmd = Command::new(sibling("signet"));
    let out = cmd
        .args(["attest", "verify"])
        .arg(&doc)
        .arg("--root")
        .arg(&root)
        .args(&pcr_args)
        .args(["--nonce", "0102", "--max-age", "60"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_config_names_the_variable_and_serve_refuses_weak_secrets() {
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_signet-host"));
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
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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

const INTERNAL: &str = "4e3d2c1b0a99887766554433221100ffeeddccbb";
const TICKET: &str = "b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e";

/// A dev-attested signer on a unix socket, as an operator would run it beside `serve`.
fn start_signer(dir: &Path, socket: &Path) -> Running {
    let signer = Running(
        Command::new(sibling("signet-enclave"))
            .arg("--listen")
            .arg(format!("unix:{}", socket.display()))
            .args(["--attestation", "dev", "--dev-dir"])
            .arg(dir.join("dev"))
            .env_clear()
            .env("INTERNAL_API_KEY", INTERNAL)
            .env("TICKET_SIGNING_SECRET", TICKET)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    for _ in 0..400 {
        if socket.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    signer
}

#[test]
fn serve_with_a_policy_file_tls_and_an_admin_created_client() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (internal, ticket) = (INTERNAL, TICKET);
    let socket = dir.join("signer.sock");
    let signer = start_signer(dir, &socket);
    // The policy: the dev root and the signer binary's PCRs.
    let root = dir
        .join("dev/attestation")
        .join(signet_attestation::dev::ROOT_CERT_FILE);
    let pcrs =
        signet_attestation::dev::dev_pcrs(&std::fs::read(sibling("signet-enclave")).unwrap());
    let set: serde_json::Map<String, Value> = pcrs
        .iter()
        .map(|(i, v)| (i.to_string(), Value::String(hex::encode(v))))
        .collect();
    let policy = dir.join("policy.json");
    std::fs::write(
        &policy,
        serde_json::json!({"root": root, "pcr_sets": [set]}).to_string(),
    )
    .unwrap();
    // A self-signed TLS certificate.
    let key = dir.join("tls.key");
    let cert = dir.join("tls.crt");
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let db = format!("sqlite://{}", dir.join("serve.db").display());
    let env = [
        ("SIGNET_LISTEN", format!("127.0.0.1:{port}")),
        ("SIGNET_DATABASE_URL", db.clone()),
        ("ENCLAVE_ADDR", format!("unix:{}", socket.display())),
        ("INTERNAL_API_KEY", internal.to_owned()),
        ("TICKET_SIGNING_SECRET", ticket.to_owned()),
        (
            "SESSION_SIGNING_SECRET",
            "c0d1e2f3a4b5968778695a4b3c2d1e0f99aabbcc".to_owned(),
        ),
        ("ATTESTATION_POLICY", policy.display().to_string()),
        ("SIGNET_TLS_CERT", cert.display().to_string()),
        ("SIGNET_TLS_KEY", key.display().to_string()),
        ("SIGNET_LOG", "warn".to_owned()),
    ];
    // Bootstrap: an operator creates the first client offline.
    let out = Command::new(env!("CARGO_BIN_EXE_signet-host"))
        .args([
            "admin",
            "create-client",
            "--name",
            "ops",
            "--tenant",
            "ops",
            "--scopes",
            "*",
        ])
        .env("SIGNET_DATABASE_URL", &db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(token.starts_with("sgn_"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_signet-host"));
    cmd.arg("serve").env_clear().stderr(Stdio::null());
    for (k, v) in &env {
        cmd.env(k, v);
    }
    let _host = Running(cmd.spawn().unwrap());
    let url = format!("https://127.0.0.1:{port}");
    let curl = |args: &[&str]| {
        Command::new("curl")
            .args(["-s", "--cacert"])
            .arg(&cert)
            .args(args)
            .output()
            .unwrap()
    };
    let mut ready = None;
    for _ in 0..100 {
        let out = curl(&[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("{url}/ready"),
        ]);
        if out.stdout == b"200" {
            ready = Some(());
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        ready.is_some(),
        "serve over TLS with an attested signer became ready"
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
            &format!("http://127.0.0.1:{port}/health"),
        ])
        .output()
        .unwrap();
    assert_ne!(out.stdout, b"200");
    drop(signer);
}

#[test]
fn serve_refuses_a_signer_that_fails_the_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (internal, ticket) = (INTERNAL, TICKET);
    let socket = dir.join("signer.sock");
    let _signer = start_signer(dir, &socket);
    // Right root, wrong image.
    let root = dir
        .join("dev/attestation")
        .join(signet_attestation::dev::ROOT_CERT_FILE);
    let policy = dir.join("policy.json");
    std::fs::write(
        &policy,
        serde_json::json!({"root": root, "pcr_sets": [{"0": "ab".repeat(48)}]}).to_string(),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _host = Running(
        Command::new(env!("CARGO_BIN_EXE_signet-host"))
            .arg("serve")
            .env_clear()
            .env("SIGNET_LISTEN", format!("127.0.0.1:{port}"))
            .env(
                "SIGNET_DATABASE_URL",
                format!("sqlite://{}", dir.join("x.db").display()),
            )
            .env("ENCLAVE_ADDR", format!("unix:{}", socket.display()))
            .env("INTERNAL_API_KEY", internal)
            .env("TICKET_SIGNING_SECRET", ticket)
            .env(
                "SESSION_SIGNING_SECRET",
                "c0d1e2f3a4b5968778695a4b3c2d1e0f99aabbcc",
            )
            .env("ATTESTATION_POLICY", &policy)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(out) = Command::new("curl")
            .args(["-s", &format!("http://127.0.0.1:{port}/ready")])
            .output()
        {
            last = String::from_utf8_lossy(&out.stdout).into_owned();
            if !last.is_empty() {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let v: Value = serde_json::from_str(&last).unwrap();
    assert_eq!(v["ready"], false);
    assert!(v["reasons"].to_string().contains("PCR0"), "{v}");
}

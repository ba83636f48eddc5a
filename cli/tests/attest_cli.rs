//! `signet attest verify | inspect` run as a user would: the real binary, real
//! AWS documents, files, stdin, and the documented exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use serde_json::Value;
use signet_attestation::dev::{DevDocument, DevIssuer};

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../attestation/testdata/vectors")
}

fn manifest() -> Vec<Value> {
    let text = std::fs::read_to_string(vectors_dir().join("manifest.json")).unwrap();
    let m: Value = serde_json::from_str(&text).unwrap();
    m["documents"].as_array().unwrap().clone()
}

fn signet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_signet"))
        .args(args)
        .output()
        .unwrap()
}

fn signet_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_signet"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn pcr_args(doc: &Value) -> Vec<String> {
    doc["pcrs"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(i, v)| ["--pcr".to_owned(), format!("{i}={}", v.as_str().unwrap())])
        .collect()
}

fn verify_vector(doc: &Value, extra: &[&str]) -> Output {
    let path = vectors_dir().join(doc["file"].as_str().unwrap());
    let mut args = vec![
        "attest".to_owned(),
        "verify".into(),
        path.display().to_string(),
    ];
    args.extend(pcr_args(doc));
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    signet(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[test]
fn every_vector_verifies_at_its_timestamp_with_its_pcrs() {
    for doc in manifest() {
        let debug = doc["debug_mode"].as_bool().unwrap();
        let mut extra = vec!["--at", "doc", "--json"];
        if debug {
            extra.push("--allow-debug");
        }
        let out = verify_vector(&doc, &extra);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            doc["file"],
            String::from_utf8_lossy(&out.stderr)
        );
        let j = json_of(&out);
        assert_eq!(j["valid"], true);
        assert_eq!(j["module_id"], doc["module_id"]);
        assert_eq!(j["timestamp_ms"], doc["timestamp_ms"]);
        assert_eq!(j["checked_at_ms"], doc["timestamp_ms"]);
        assert_eq!(j["debug_mode"], doc["debug_mode"]);
        assert_eq!(
            j["root_sha256"],
            "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b"
        );
        for (i, v) in doc["pcrs"].as_object().unwrap() {
            assert_eq!(&j["pcrs"][i], v, "{} PCR{i}", doc["file"]);
        }
        // The same at the explicit valid times, human output.
        for at in doc["expect"]["valid_at_ms"].as_array().unwrap() {
            let at = at.to_string();
            let mut extra = vec!["--at", at.as_str()];
            if debug {
                extra.push("--allow-debug");
            }
            let out = verify_vector(&doc, &extra);
            assert_eq!(out.status.code(), Some(0));
            assert!(String::from_utf8_lossy(&out.stdout).starts_with("VALID"));
        }
    }
}

#[test]
fn vectors_are_invalid_at_the_manifest_invalid_times_and_now() {
    for doc in manifest() {
        let mut times: Vec<String> = doc["expect"]["invalid_at_ms"]
            .as_array()
            .unwrap()
            .iter()
            .map(Value::to_string)
            .collect();
        times.push("now".into());
        for at in &times {
            let out = verify_vector(&doc, &["--allow-debug", "--at", at]);
            assert_eq!(out.status.code(), Some(1), "{} at {at}", doc["file"]);
            assert!(String::from_utf8_lossy(&out.stderr).contains("not valid at"));
        }
    }
}

#[test]
fn debug_documents_need_allow_debug() {
    for doc in manifest().iter().filter(|d| d["debug_mode"] == true) {
        let out = verify_vector(doc, &["--at", "doc", "--json"]);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(json_of(&out)["error_code"], "debug_mode");
    }
}

#[test]
fn wrong_pcr_nonce_or_root_is_invalid() {
    let docs = manifest();
    let doc = docs
        .iter()
        .find(|d| {
            d["file"]
                .as_str()
                .unwrap()
                .starts_with("evervault_beta_nondebug")
        })
        .unwrap();
    let path = vectors_dir()
        .join(doc["file"].as_str().unwrap())
        .display()
        .to_string();

    let mut wrong = doc["pcrs"]["0"].as_str().unwrap().to_owned();
    wrong.replace_range(0..2, if wrong.starts_with("00") { "01" } else { "00" });
    let arg = format!("0={wrong}");
    let out = signet(&[
        "attest", "verify", &path, "--at", "doc", "--pcr", &arg, "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let j = json_of(&out);
    assert_eq!(j["valid"], false);
    assert_eq!(j["error_code"], "pcr_mismatch");
    assert_eq!(
        j["module_id"],
        Value::Null,
        "nothing from an invalid document is echoed"
    );

    let out = verify_vector(doc, &["--at", "doc", "--nonce", "00ff", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_of(&out)["error_code"], "nonce_mismatch");

    let dir = tempfile::tempdir().unwrap();
    let dev = DevIssuer::ephemeral().unwrap();
    let root = dir.path().join("dev-root.pem");
    std::fs::write(&root, dev.root_pem().unwrap()).unwrap();
    let out = verify_vector(
        doc,
        &["--at", "doc", "--root", root.to_str().unwrap(), "--json"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_of(&out)["error_code"], "issuer_mismatch");
}

#[test]
fn dev_documents_verify_only_with_their_root() {
    let dir = tempfile::tempdir().unwrap();
    let dev = DevIssuer::load_or_create(&dir.path().join("ca")).unwrap();
    let pcr = "ab".repeat(48);
    let nonce = "0011223344";
    let bytes = dev
        .issue(&DevDocument {
            module_id: "dev-cli".into(),
            pcrs: [(0u8, hex::decode(&pcr).unwrap())].into(),
            nonce: Some(hex::decode(nonce).unwrap()),
            ..Default::default()
        })
        .unwrap();
    let doc = dir.path().join("doc.cbor");
    std::fs::write(&doc, &bytes).unwrap();
    let root = dir
        .path()
        .join("ca")
        .join(signet_attestation::dev::ROOT_CERT_FILE);
    let pcr_arg = format!("0={pcr}");
    let d = doc.to_str().unwrap();
    let r = root.to_str().unwrap();

    let ok = signet(&[
        "attest",
        "verify",
        d,
        "--root",
        r,
        "--pcr",
        &pcr_arg,
        "--nonce",
        nonce,
        "--max-age",
        "60",
    ]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("not AWS"));

    let aws = signet(&["attest", "verify", d, "--pcr", &pcr_arg]);
    assert_eq!(
        aws.status.code(),
        Some(1),
        "the dev root is never trusted by default"
    );

    // Policy file with two sets, one matching.
    let policy = dir.path().join("policy.json");
    std::fs::write(
        &policy,
        format!(
            r#"{{"pcr_sets":[{{"0":"{}"}},{{"0":"{pcr}"}}],"max_age_seconds":60}}"#,
            "cd".repeat(48)
        ),
    )
    .unwrap();
    let out = signet(&[
        "attest",
        "verify",
        d,
        "--root",
        r,
        "--policy",
        policy.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(
        &policy,
        format!(r#"{{"pcr_sets":[{{"0":"{}"}}]}}"#, "cd".repeat(48)),
    )
    .unwrap();
    let out = signet(&[
        "attest",
        "verify",
        d,
        "--root",
        r,
        "--policy",
        policy.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));

    // --any-pcrs checks the chain but not the image.
    let out = signet(&["attest", "verify", d, "--root", r, "--any-pcrs"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("NOT CHECKED"));
}

#[test]
fn base64_hex_and_stdin_inputs() {
    let doc = manifest()
        .into_iter()
        .find(|d| d["debug_mode"] == false)
        .unwrap();
    let raw = std::fs::read(vectors_dir().join(doc["file"].as_str().unwrap())).unwrap();
    let mut args = vec![
        "attest".to_owned(),
        "verify".into(),
        "-".into(),
        "--at".into(),
        "doc".into(),
    ];
    args.extend(pcr_args(&doc));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&raw) + "\n";
    for input in [
        raw.clone(),
        hex::encode(&raw).into_bytes(),
        b64.into_bytes(),
    ] {
        let out = signet_stdin(&args, &input);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = signet_stdin(&args, b"definitely not a document");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn usage_errors_exit_2() {
    let doc = vectors_dir().join("evervault_beta_nondebug_2022-10-13.bin");
    let d = doc.to_str().unwrap();
    let pcr = format!("0={}", "00".repeat(48));
    let cases: Vec<Vec<&str>> = vec![
        vec!["attest", "verify", d], // no expected PCRs
        vec!["attest", "verify", d, "--pcr", &pcr, "--at", "later"], // bad --at
        vec!["attest", "verify", d, "--pcr", "zero=00"], // bad --pcr
        vec!["attest", "verify", d, "--pcr", "0=abcd"], // short PCR
        vec!["attest", "verify", d, "--pcr", &pcr, "--nonce", "xyz"],
        vec!["attest", "verify", "/nonexistent/doc", "--pcr", &pcr],
        vec![
            "attest",
            "verify",
            d,
            "--pcr",
            &pcr,
            "--root",
            "/nonexistent.pem",
        ],
        vec!["attest", "verify", d, "--pcr", &pcr, "--any-pcrs"],
        vec!["attest", "verify", d, "--pcr", &pcr, "--bogus"],
        vec!["attest", "verify"],
    ];
    for args in cases {
        let out = signet(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stderr.is_empty());
    }
}

#[test]
fn inspect_decodes_and_says_it_did_not_verify() {
    let doc = vectors_dir().join("qos_mock_attestation_doc_2022-07-06.bin");
    let out = signet(&["attest", "inspect", doc.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NOT VERIFIED"));
    let j = json_of(&out);
    assert_eq!(j["verified"], false);
    assert_eq!(j["cabundle"].as_array().unwrap().len(), 4);
    let out = signet_stdin(&["attest", "inspect", "-"], b"\x84\x01");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn help_explains_every_flag() {
    let out = signet(&["attest", "verify", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--root",
        "--at",
        "--pcr",
        "--policy",
        "--any-pcrs",
        "--allow-debug",
        "--nonce",
        "--max-age",
        "--json",
        "Exit status",
    ] {
        assert!(help.contains(flag), "help lacks {flag}");
    }
    let out = signet(&["attest", "--help"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("inspect"));
}

/// `signet … | head`: a reader that goes away before the output is written
/// ends the command quietly with success (it panicked on the broken pipe).
#[test]
#[allow(clippy::incompatible_msrv)] // std::io::pipe (1.87), in a test run on the pinned toolchain
fn a_closed_stdout_ends_the_command_quietly() {
    let doc = vectors_dir().join("evervault_beta_debug_2022-10-12.bin");
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_signet"))
        .args(["attest", "inspect", doc.to_str().unwrap()])
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

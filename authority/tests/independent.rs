//! Cross-checks against implementations that share no code with this crate
//! (tests/independent.py): approvals made by Python's eth-account (EIP-191)
//! and pyca/cryptography (P-256 with low and high S, Ed25519, WebAuthn
//! assertions assembled byte by byte) are accepted by `verify_approvals`, and
//! the signatures this crate makes verify there. Keys and authorizations are
//! random on every run (they are printed on failure).
//!
//! Interpreters: eth-account from `SIGNET_ETH_PYTHON` (the venv of
//! scripts/eth-deps.sh); without it the eth check prints a loud SKIPPED line,
//! unless `SIGNET_REQUIRE_ETH` is set, when it fails. pyca/cryptography from
//! `SIGNET_PYTHON` (scripts/test-deps.sh exports it), else `python3`; when
//! that lacks the module the check prints SKIPPED, unless `SIGNET_PYTHON` or
//! `SIGNET_REQUIRE_PYTHON` is set, when it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use rand_core::{OsRng, RngCore as _};
use serde_json::{json, Value};
use signet_authority::owner::{Ed25519Owner, P256Owner, PasskeyOwner, Secp256k1Owner};
use signet_authority::{
    verify_approvals, Approval, Authorization, Owner, OwnerKeyType, OwnerSecretKey, Policy, Proof,
    Record, Request, WebAuthnProof,
};

use common::*;

const ROUNDS: usize = 16;

fn eth_python() -> Option<String> {
    match std::env::var("SIGNET_ETH_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            if std::env::var_os("SIGNET_REQUIRE_ETH").is_some() {
                panic!("SIGNET_ETH_PYTHON is required (SIGNET_REQUIRE_ETH) but unset; scripts/eth-deps.sh sets it");
            }
            eprintln!("SKIPPED: SIGNET_ETH_PYTHON is unset (source scripts/eth-deps.sh); the eth-account cross-check did not run");
            None
        }
    }
}

fn crypto_python() -> Option<String> {
    let explicit = std::env::var("SIGNET_PYTHON")
        .ok()
        .filter(|p| !p.is_empty());
    let python = explicit.clone().unwrap_or_else(|| "python3".into());
    let has = Command::new(&python)
        .args(["-c", "import cryptography"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if has {
        return Some(python);
    }
    if explicit.is_some() || std::env::var_os("SIGNET_REQUIRE_PYTHON").is_some() {
        panic!("{python} cannot import cryptography (pip install cryptography; scripts/test-deps.sh does it)");
    }
    eprintln!("SKIPPED: {python} lacks pyca/cryptography (source scripts/test-deps.sh); the P-256/Ed25519/WebAuthn cross-check did not run");
    None
}

/// Runs tests/independent.py in `mode` over `requests`, one answer each.
fn python(interpreter: &str, mode: &str, requests: &[Value]) -> Vec<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/independent.py");
    let mut child = Command::new(interpreter)
        .arg(script)
        .arg(mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        for r in requests {
            writeln!(stdin, "{r}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "independent.py {mode} failed: {}\nrequests: {requests:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(answers.len(), requests.len());
    answers
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    OsRng.fill_bytes(&mut b);
    b
}

/// A random authorization of a random request on `record`.
fn random_authz(record: &Record, request: Request) -> Authorization {
    Authorization::fresh(
        record,
        request,
        NOW,
        1 + u64::from(random::<1>()[0]) * 2,
        random(),
    )
    .unwrap()
}

fn random_sign_request() -> Request {
    Request::Sign {
        payload_sha256: random(),
        digest: random(),
    }
}

fn record_with(owner: Owner) -> Record {
    Record::new_initial(
        wallet_key(&format!("w_{}", hex::encode(random::<8>()))),
        vec![owner],
        None,
        Some(Policy::owners_only()),
    )
    .unwrap()
}

fn accepted(record: &Record, request: &Request, approval: Approval) {
    let r = verify_approvals(
        record,
        &expected(record, request),
        std::slice::from_ref(&approval),
        NOW,
    );
    assert!(
        r.is_ok(),
        "{:?}\nrecord {}\napproval {approval:?}",
        r.err(),
        record.text()
    );
}

#[test]
fn eth_account_approvals_are_accepted_and_ours_recover_there() {
    let Some(py) = eth_python() else { return };
    let keys: Vec<OwnerSecretKey> = (0..ROUNDS)
        .map(|_| OwnerSecretKey::generate(OwnerKeyType::Secp256k1, &mut OsRng))
        .collect();
    let records: Vec<Record> = keys
        .iter()
        .map(|k| record_with(k.owner("eth").unwrap()))
        .collect();
    let requests: Vec<Request> = (0..ROUNDS).map(|_| random_sign_request()).collect();
    let authzs: Vec<Authorization> = records
        .iter()
        .zip(&requests)
        .map(|(r, q)| random_authz(r, *q))
        .collect();
    let secret_hex = |k: &OwnerSecretKey| {
        let file = k.to_key_file();
        let v: Value = serde_json::from_str(&file).unwrap();
        v["secret_key"].as_str().unwrap().to_owned()
    };
    // Theirs, checked here.
    let signs: Vec<Value> = keys
        .iter()
        .zip(&authzs)
        .map(|(k, a)| json!({"op": "sign", "key": secret_hex(k), "text": a.text()}))
        .collect();
    let theirs = python(&py, "eth", &signs);
    for (i, answer) in theirs.iter().enumerate() {
        let Owner::Secp256k1(o) = records[i].owner("eth").unwrap() else {
            panic!()
        };
        assert_eq!(
            answer["address"].as_str().unwrap(),
            signet_authority::eth::to_checksummed(o.address()),
            "the same address (EIP-55) from the same key"
        );
        let approval = Approval {
            owner_id: "eth".into(),
            text: authzs[i].text().into(),
            proof: Proof::Signature(answer["signature"].as_str().unwrap().into()),
        };
        accepted(&records[i], &requests[i], approval);
        // Both make deterministic (RFC 6979) low-S signatures: the same bytes.
        assert_eq!(
            answer["signature"].as_str().unwrap(),
            keys[i].sign(authzs[i].text()),
            "eth-account and signet-authority sign identically"
        );
    }
    // Ours, recovered there.
    let recovers: Vec<Value> = keys
        .iter()
        .zip(&authzs)
        .map(|(k, a)| json!({"op": "recover", "text": a.text(), "signature": k.sign(a.text())}))
        .collect();
    for (i, answer) in python(&py, "eth", &recovers).iter().enumerate() {
        assert_eq!(answer["address"], theirs[i]["address"]);
    }
    // An owner given the address eth-account derived accepts ours too.
    let o = Secp256k1Owner::new("x", theirs[0]["address"].as_str().unwrap()).unwrap();
    let r = record_with(Owner::Secp256k1(o));
    let a = random_authz(&r, requests[0]);
    accepted(&r, &requests[0], keys[0].approve("x", &a));
}

#[test]
fn cryptography_p256_approvals_with_low_and_high_s_are_accepted() {
    let Some(py) = crypto_python() else { return };
    let scalars: Vec<[u8; 32]> = (0..ROUNDS)
        .map(|_| loop {
            let s = random::<32>();
            if p256::ecdsa::SigningKey::from_slice(&s).is_ok() {
                break s;
            }
        })
        .collect();
    let texts: Vec<String> = (0..ROUNDS).map(|i| format!("placeholder {i}")).collect();
    // Their public keys first (derived by OpenSSL), to build the owners.
    let derive: Vec<Value> = scalars
        .iter()
        .zip(&texts)
        .map(|(s, t)| json!({"op": "p256_sign", "key": hex::encode(s), "text": t}))
        .collect();
    let keys = python(&py, "crypto", &derive);
    let mut setups = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let pk = hex::decode(k["public_key"].as_str().unwrap()).unwrap();
        let ours = OwnerSecretKey::from_secret_bytes(OwnerKeyType::P256, &scalars[i]).unwrap();
        assert_eq!(
            Owner::P256(P256Owner::new("pk", &pk).unwrap()),
            ours.owner("pk").unwrap()
        );
        let record = record_with(Owner::P256(P256Owner::new("pk", &pk).unwrap()));
        let request = random_sign_request();
        let a = random_authz(&record, request);
        setups.push((record, request, a, ours));
    }
    let signs: Vec<Value> = setups
        .iter()
        .zip(&scalars)
        .map(
            |((_, _, a, _), s)| json!({"op": "p256_sign", "key": hex::encode(s), "text": a.text()}),
        )
        .collect();
    for ((record, request, a, _), answer) in setups.iter().zip(python(&py, "crypto", &signs)) {
        for variant in ["low", "high"] {
            let approval = Approval {
                owner_id: "pk".into(),
                text: a.text().into(),
                proof: Proof::Signature(answer[variant].as_str().unwrap().into()),
            };
            accepted(record, request, approval);
        }
    }
    let verifies: Vec<Value> = setups
        .iter()
        .map(|(_, _, a, ours)| {
            let Owner::P256(o) = ours.owner("pk").unwrap() else {
                panic!()
            };
            json!({
                "op": "p256_verify",
                "public_key": hex::encode(o.public_key().to_encoded_point(false).as_bytes()),
                "text": a.text(),
                "signature": ours.sign(a.text()),
            })
        })
        .collect();
    for answer in python(&py, "crypto", &verifies) {
        assert_eq!(answer["ok"], json!(true));
    }
}

#[test]
fn cryptography_ed25519_approvals_are_accepted_and_ours_verify_there() {
    let Some(py) = crypto_python() else { return };
    let seeds: Vec<[u8; 32]> = (0..ROUNDS).map(|_| random()).collect();
    let mut setups = Vec::new();
    for seed in &seeds {
        let ours = OwnerSecretKey::from_secret_bytes(OwnerKeyType::Ed25519, seed).unwrap();
        let record = record_with(ours.owner("ed").unwrap());
        let request = random_sign_request();
        let a = random_authz(&record, request);
        setups.push((record, request, a, ours));
    }
    let signs: Vec<Value> = setups
        .iter()
        .zip(&seeds)
        .map(|((_, _, a, _), s)| json!({"op": "ed25519_sign", "seed": hex::encode(s), "text": a.text()}))
        .collect();
    let theirs = python(&py, "crypto", &signs);
    for ((record, request, a, ours), answer) in setups.iter().zip(&theirs) {
        let pk = hex::decode(answer["public_key"].as_str().unwrap()).unwrap();
        assert_eq!(
            Owner::Ed25519(Ed25519Owner::new("ed", &pk).unwrap()),
            ours.owner("ed").unwrap()
        );
        let approval = Approval {
            owner_id: "ed".into(),
            text: a.text().into(),
            proof: Proof::Signature(answer["signature"].as_str().unwrap().into()),
        };
        accepted(record, request, approval);
        // Ed25519 is deterministic: the same signature.
        assert_eq!(answer["signature"].as_str().unwrap(), ours.sign(a.text()));
    }
    let verifies: Vec<Value> = setups
        .iter()
        .zip(&theirs)
        .map(|((_, _, a, ours), t)| {
            json!({"op": "ed25519_verify", "public_key": t["public_key"], "text": a.text(), "signature": ours.sign(a.text())})
        })
        .collect();
    for answer in python(&py, "crypto", &verifies) {
        assert_eq!(answer["ok"], json!(true));
    }
}

#[test]
fn cryptography_webauthn_assertions_are_accepted() {
    let Some(py) = crypto_python() else { return };
    let mut cases = Vec::new();
    for i in 0..ROUNDS {
        let scalar = loop {
            let s = random::<32>();
            if p256::ecdsa::SigningKey::from_slice(&s).is_ok() {
                break s;
            }
        };
        let credential_id = random::<16>();
        let signing = p256::ecdsa::SigningKey::from_slice(&scalar).unwrap();
        let owner = Owner::Passkey(
            PasskeyOwner::new(
                "ann",
                signing.verifying_key().to_encoded_point(false).as_bytes(),
                RP_ID,
                vec![ORIGIN.into()],
                Some(credential_id.to_vec()),
            )
            .unwrap(),
        );
        let record = record_with(owner);
        // Half signatures (user presence), half record changes (verified user).
        let request = if i % 2 == 0 {
            random_sign_request()
        } else {
            Request::UpdateRecord {
                new_record: signet_authority::RecordHash(random()),
            }
        };
        let flags = if i % 2 == 0 { 0x01 } else { 0x05 };
        let a = random_authz(&record, request);
        let req = json!({
            "op": "webauthn", "key": hex::encode(scalar), "text": a.text(), "rp_id": RP_ID,
            "origin": ORIGIN, "flags": flags, "count": i, "high_s": i % 4 < 2,
            "credential_id": hex::encode(credential_id),
        });
        cases.push((record, request, a, req));
    }
    let requests: Vec<Value> = cases.iter().map(|c| c.3.clone()).collect();
    for ((record, request, a, _), answer) in cases.iter().zip(python(&py, "crypto", &requests)) {
        let proof: WebAuthnProof = serde_json::from_value(answer["webauthn"].clone()).unwrap();
        let approval = Approval {
            owner_id: "ann".into(),
            text: a.text().into(),
            proof: Proof::WebAuthn(proof),
        };
        let v = verify_approvals(record, &expected(record, request), &[approval], NOW)
            .unwrap_or_else(|e| panic!("{e}\n{answer}"));
        assert_eq!(v.sign_counts.len(), 1);
    }
    // And one made in a cross-origin frame is refused.
    let (record, request, _, req) = &cases[0];
    let mut cross = req.clone();
    cross["cross_origin"] = json!(true);
    let answer = &python(&py, "crypto", &[cross])[0];
    let approval = Approval {
        owner_id: "ann".into(),
        text: req["text"].as_str().unwrap().into(),
        proof: Proof::WebAuthn(serde_json::from_value(answer["webauthn"].clone()).unwrap()),
    };
    let e = verify_approvals(record, &expected(record, request), &[approval], NOW).unwrap_err();
    assert_eq!(
        e.refusal,
        signet_authority::ApprovalRefusal::WebauthnCrossOrigin
    );
}

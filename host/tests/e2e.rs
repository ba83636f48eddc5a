//! End to end, over real HTTP: `signet-host dev` with its real signer child,
//! walked the way docs/RUNBOOK.md walks it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use signet_attestation::dev::dev_pcrs;
use signet_attestation::{PcrPolicy, PcrSet, TrustAnchor, Verifier};
use signet_proto::audit::{AuditEvent, ChainVerifier};
use signet_proto::ticket::{TicketClaims, TicketKeys, AUDIENCE};
use signet_proto::{KeyType, SharedSecret};

const TICKET_SECRET: &str = "e2e-ticket-mac-key-5d4c3b2a1908f7e6d5c4";

fn sibling(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_signet-host")).with_file_name(name);
    assert!(
        p.exists(),
        "{} is not built: run the workspace tests (scripts/test.sh) so every binary is built",
        p.display()
    );
    p
}

struct Host {
    child: Child,
    url: String,
    dir: PathBuf,
}

impl Host {
    fn start(dir: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_signet-host"))
            .args(["dev", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .env("TICKET_SIGNING_SECRET", TICKET_SECRET)
            .env("SIGNET_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::create(dir.with_extension("host.log")).unwrap(),
            ))
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().expect("host printed nothing").unwrap();
        let url = first
            .split("listening on ")
            .nth(1)
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .trim()
            .to_owned();
        // Keep draining stdout so the host never blocks on it.
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            url,
            dir: dir.to_owned(),
        }
    }

    fn admin_token(&self) -> String {
        std::fs::read_to_string(self.dir.join("admin-token"))
            .unwrap()
            .trim()
            .to_owned()
    }

    fn signer_pid(&self) -> u32 {
        std::fs::read_to_string(self.dir.join("signer.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    fn stop(mut self) {
        unsafe_free_sigterm(self.child.id());
        let _ = self.child.wait();
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SIGTERM via the `kill` command (no unsafe code in tests either).
fn unsafe_free_sigterm(pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    std::thread::sleep(Duration::from_millis(300));
}

fn sigkill(pid: u32) {
    assert!(Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap()
        .success());
}

/// (status, JSON body)
fn call(
    host: &Host,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req =
        ureq::request(method, &format!("{}{path}", host.url)).timeout(Duration::from_secs(30));
    if let Some(t) = token {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    let resp = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    match resp {
        Ok(r) => (r.status(), r.into_json().unwrap_or(Value::Null)),
        Err(ureq::Error::Status(s, r)) => {
            let retry_after = r.header("retry-after").map(str::to_owned);
            let mut v: Value = r.into_json().unwrap_or(Value::Null);
            if let Some(ra) = retry_after {
                v["retry_after"] = json!(ra);
            }
            (s, v)
        }
        Err(e) => panic!("{method} {path}: {e}"),
    }
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

fn create_client(host: &Host, admin: &str, tenant: &str, scopes: &[&str]) -> String {
    let (s, v) = call(
        host,
        Some(admin),
        "POST",
        "/v1/admin/api-clients",
        Some(json!({"name": tenant, "tenant": tenant, "scopes": scopes})),
    );
    assert_eq!(s, 201, "{v}");
    v["token"].as_str().unwrap().to_owned()
}

fn dev_verifier(host: &Host) -> Verifier {
    let pem = std::fs::read_to_string(host.dir.join("dev-root.pem")).unwrap();
    let pcrs = PcrSet::new(dev_pcrs(&std::fs::read(sibling("signet-enclave")).unwrap())).unwrap();
    Verifier::new(
        TrustAnchor::from_pem(&pem).unwrap(),
        PcrPolicy::exactly(pcrs),
    )
}

fn b64d(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap()
}

fn hexd(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

/// EIP-55 computed here with the sha3 crate, independently of the host's code.
fn eip55(public_key: &[u8]) -> String {
    use sha3::Keccak256;
    let lower = hex::encode(&Keccak256::digest(&public_key[1..])[12..]);
    let check = hex::encode(Keccak256::digest(lower.as_bytes()));
    let mut out = String::from("0x");
    for (c, h) in lower.chars().zip(check.chars()) {
        out.push(if u8::from_str_radix(&h.to_string(), 16).unwrap() >= 8 {
            c.to_ascii_uppercase()
        } else {
            c
        });
    }
    out
}

/// pyca/cryptography (OpenSSL) checks every signature.
fn verify_independently(items: &[Value]) {
    let python = std::env::var("SIGNET_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/independent_verify.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        for item in items {
            writeln!(stdin, "{item}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "independent verification: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("ok {}", items.len())
    );
}

/// libsecp256k1 recovers the wallet's key from signature and recovery id.
fn check_recovery(sig: &Value, digest: &[u8], public_key: &[u8]) {
    use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
    let recid =
        RecoveryId::from_i32(i32::try_from(sig["recovery_id"].as_u64().unwrap()).unwrap()).unwrap();
    let rec = RecoverableSignature::from_compact(&hexd(&sig["signature"]), recid).unwrap();
    let msg = secp256k1::Message::from_digest(digest.try_into().unwrap());
    let pk = secp256k1::SECP256K1.recover_ecdsa(&msg, &rec).unwrap();
    assert_eq!(pk.serialize_uncompressed().to_vec(), public_key);
}

fn eip191(message: &[u8]) -> Vec<u8> {
    use sha3::Keccak256;
    let mut h = Keccak256::new();
    h.update(format!("\x19Ethereum Signed Message:\n{}", message.len()).as_bytes());
    h.update(message);
    h.finalize().to_vec()
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn the_runbook_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let host = Host::start(&dir);
    let admin = host.admin_token();
    let verifier = dev_verifier(&host);

    // Startup and health.
    assert_eq!(call(&host, None, "GET", "/health", None).0, 200);
    let (s, v) = call(&host, None, "GET", "/ready", None);
    assert_eq!((s, &v["ready"]), (200, &json!(true)));
    let mode = std::fs::metadata(dir.join("admin-token")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );

    // API clients: two tenants and a read-only one.
    let alice = create_client(&host, &admin, "alice", &["wallets:*", "sign", "audit:read"]);
    let bob = create_client(&host, &admin, "bob", &["wallets:*", "sign"]);
    let reader = create_client(&host, &admin, "alice", &["wallets:read"]);
    let (s, v) = call(&host, Some(&admin), "GET", "/v1/admin/api-clients", None);
    assert_eq!(s, 200);
    assert!(!v.to_string().contains("sgn_"), "tokens are never listed");

    // Wallets of the three key types, each attested.
    let mut wallets = Vec::new();
    for kt in KeyType::ALL {
        let (s, w) = call(
            &host,
            Some(&alice),
            "POST",
            "/v1/wallets",
            Some(json!({"key_type": kt.as_str(), "label": format!("{kt} wallet")})),
        );
        assert_eq!(s, 201, "{w}");
        let pk = hexd(&w["public_key"]);
        let doc = verifier
            .verify(&b64d(&w["attestation"]["document"]))
            .unwrap();
        doc.check_key_binding(w["id"].as_str().unwrap(), kt.as_str(), &pk)
            .unwrap();
        if kt == KeyType::Secp256k1 {
            assert_eq!(w["address"].as_str().unwrap(), eip55(&pk));
        } else {
            assert!(w.get("address").is_none());
        }
        // A fresh, nonce-bound document for the wallet.
        let (s, a) = call(
            &host,
            Some(&alice),
            "GET",
            &format!(
                "/v1/wallets/{}/attestation?nonce=c0ffee",
                w["id"].as_str().unwrap()
            ),
            None,
        );
        assert_eq!(s, 200, "{a}");
        let fresh = verifier
            .clone()
            .expect_nonce(vec![0xc0, 0xff, 0xee])
            .verify(&b64d(&a["attestation"]["document"]))
            .unwrap();
        fresh
            .check_key_binding(w["id"].as_str().unwrap(), kt.as_str(), &pk)
            .unwrap();
        wallets.push((kt, w));
    }
    let (_, list) = call(&host, Some(&alice), "GET", "/v1/wallets?limit=2", None);
    assert_eq!(list["wallets"].as_array().unwrap().len(), 2);
    let next = list["next"].as_str().unwrap();
    let (_, rest) = call(
        &host,
        Some(&alice),
        "GET",
        &format!("/v1/wallets?limit=2&after={next}"),
        None,
    );
    assert_eq!(rest["wallets"].as_array().unwrap().len(), 1);
    let (_, alias) = call(&host, Some(&alice), "GET", "/v1/identities", None);
    assert_eq!(
        alias["wallets"].as_array().unwrap().len(),
        3,
        "/v1/identities aliases /v1/wallets"
    );

    // Signatures, each checked by an independent implementation.
    let mut checked = Vec::new();
    for (kt, w) in &wallets {
        let id = w["id"].as_str().unwrap();
        let pk = hexd(&w["public_key"]);
        let bodies: Vec<(Value, Vec<u8>, Option<Vec<u8>>)> = match kt {
            KeyType::Ed25519 => {
                let msg = b"an ed25519 message".to_vec();
                vec![(
                    json!({"message": base64::engine::general_purpose::STANDARD.encode(&msg), "encoding": "raw", "attest": true}),
                    Sha256::digest(&msg).to_vec(),
                    Some(msg),
                )]
            }
            KeyType::Secp256k1 => vec![
                (
                    json!({"digest": "ab".repeat(32), "attest": true}),
                    vec![0xab; 32],
                    None,
                ),
                (
                    json!({"message": "hello signet", "encoding": "eip191"}),
                    eip191(b"hello signet"),
                    None,
                ),
                (
                    json!({"message": "0x68656c6c6f", "encoding": "eip191"}),
                    eip191(b"hello"),
                    None,
                ),
            ],
            KeyType::P256 => vec![(
                json!({"digest": "cd".repeat(32), "attest": true}),
                vec![0xcd; 32],
                None,
            )],
        };
        for (body, digest, message) in bodies {
            let attest = body["attest"] == json!(true);
            let (s, sig) = call(
                &host,
                Some(&alice),
                "POST",
                &format!("/v1/wallets/{id}/sign"),
                Some(body),
            );
            assert_eq!(s, 200, "{sig}");
            assert_eq!(hexd(&sig["public_key"]), pk);
            if *kt == KeyType::Secp256k1 {
                check_recovery(&sig, &digest, &pk);
            }
            if *kt != KeyType::Ed25519 {
                let der = hexd(&sig["signature_der"]);
                assert_eq!(der[0], 0x30, "DER sequence");
            }
            if attest {
                let d = verifier
                    .verify(&b64d(&sig["attestation"]["document"]))
                    .unwrap();
                d.check_signature_binding(id, &digest, &hexd(&sig["signature"]))
                    .unwrap();
            }
            checked.push(json!({"key_type": kt.as_str(), "public_key": hex::encode(&pk), "digest": hex::encode(&digest), "message": message.map(hex::encode), "signature": sig["signature"]}));
        }
    }
    verify_independently(&checked);

    let (_, secp) = &wallets[0];
    let secp_id = secp["id"].as_str().unwrap().to_owned();

    // Two-step signing: intent, then ticket; a replay is refused.
    let (s, intent) = call(
        &host,
        Some(&alice),
        "POST",
        &format!("/v1/wallets/{secp_id}/sign-intent"),
        Some(json!({"digest": "11".repeat(32)})),
    );
    assert_eq!(s, 201, "{intent}");
    let ticket = intent["ticket"].as_str().unwrap();
    let (s, v) = call(
        &host,
        Some(&alice),
        "POST",
        &format!("/v1/wallets/{secp_id}/sign"),
        Some(json!({"ticket": ticket})),
    );
    assert_eq!(s, 200, "{v}");
    let (s, v) = call(
        &host,
        Some(&alice),
        "POST",
        &format!("/v1/wallets/{secp_id}/sign"),
        Some(json!({"ticket": ticket})),
    );
    assert_eq!((s, code(&v)), (409, "ticket_replayed"));
    // Ed25519 intents keep the message for the ticket.
    let (_, ed) = &wallets[2];
    let ed_id = ed["id"].as_str().unwrap();
    let (s, intent) = call(
        &host,
        Some(&alice),
        "POST",
        &format!("/v1/wallets/{ed_id}/sign-intent"),
        Some(json!({"message": "aGk=", "encoding": "raw"})),
    );
    assert_eq!(s, 201);
    let (s, v) = call(
        &host,
        Some(&alice),
        "POST",
        &format!("/v1/wallets/{ed_id}/sign"),
        Some(json!({"ticket": intent["ticket"]})),
    );
    assert_eq!(s, 200, "{v}");
    verify_independently(&[
        json!({"key_type": "ed25519", "public_key": ed["public_key"], "message": hex::encode(b"hi"), "digest": "", "signature": v["signature"]}),
    ]);

    // Expired ticket (minted with the configured secret, exp in the past).
    let keys = TicketKeys::new(
        SharedSecret::new_unchecked(TICKET_SECRET.as_bytes().to_vec()),
        None,
    );
    let old = TicketClaims {
        jti: "expired-1".into(),
        sub: "t".into(),
        wid: secp_id.clone(),
        dig: "11".repeat(32),
        kty: KeyType::Secp256k1,
        iat: now_s() - 600,
        exp: now_s() - 540,
        aud: AUDIENCE.into(),
    };
    let (s, v) = call(
        &host,
        Some(&alice),
        "POST",
        &format!("/v1/wallets/{secp_id}/sign"),
        Some(json!({"ticket": keys.mint(&old)})),
    );
    assert_eq!((s, code(&v)), (410, "ticket_expired"));
    // A ticket for another wallet, and a forged one.
    let other = TicketClaims {
        jti: "other-1".into(),
        exp: now_s() + 60,
        iat: now_s(),
        wid: wallets[1].1["id"].as_str().unwrap().into(),
        ..old.clone()
    };
    let (s, v) = call(
        &host,
        Some(&alice),
        "POST",
        &format!("/v1/wallets/{secp_id}/sign"),
        Some(json!({"ticket": keys.mint(&other)})),
    );
    assert_eq!((s, code(&v)), (403, "ticket_invalid"));
    let forged = TicketKeys::new(
        SharedSecret::new_unchecked(b"forged-key-0123456789abcdef0123456789".to_vec()),
        None,
    )
    .mint(&TicketClaims {
        wid: secp_id.clone(),
        ..other
    });
    let (s, v) = call(
        &host,
        Some(&alice),
        "POST",
        &format!("/v1/wallets/{secp_id}/sign"),
        Some(json!({"ticket": forged})),
    );
    assert_eq!((s, code(&v)), (403, "ticket_invalid"));

    // Another tenant sees nothing.
    for (method, path, body) in [
        ("GET", format!("/v1/wallets/{secp_id}"), None),
        (
            "POST",
            format!("/v1/wallets/{secp_id}/sign"),
            Some(json!({"digest": "11".repeat(32)})),
        ),
        ("DELETE", format!("/v1/wallets/{secp_id}"), None),
    ] {
        let (s, v) = call(&host, Some(&bob), method, &path, body);
        assert_eq!((s, code(&v)), (404, "not_found"), "{method} {path}");
    }
    let (_, v) = call(&host, Some(&bob), "GET", "/v1/wallets", None);
    assert_eq!(v["wallets"], json!([]));

    // Bad inputs.
    let sign_path = format!("/v1/wallets/{secp_id}/sign");
    for (body, status) in [
        (json!({"digest": "11".repeat(32), "extra": 1}), 400),
        (json!({"digest": "zz"}), 400),
        (json!({"digest": "11".repeat(31)}), 400),
        (json!({"message": "x", "encoding": "raw"}), 400),
        (json!({}), 400),
    ] {
        let (s, v) = call(&host, Some(&alice), "POST", &sign_path, Some(body.clone()));
        assert_eq!((s, code(&v)), (status, "bad_request"), "{body}");
    }
    let (s, v) = call(
        &host,
        Some(&alice),
        "POST",
        "/v1/wallets",
        Some(json!({"key_type": "rsa"})),
    );
    assert_eq!((s, code(&v)), (400, "bad_request"));
    let (s, v) = call(
        &host,
        Some(&alice),
        "POST",
        &sign_path,
        Some(json!({"digest": "11".repeat(66_000)})),
    );
    assert_eq!((s, code(&v)), (413, "too_large"));
    let (s, v) = call(&host, None, "GET", "/v1/wallets", None);
    assert_eq!((s, code(&v)), (401, "unauthenticated"));
    let (s, _) = call(
        &host,
        Some("sgn_000000000000000000000000_nope"),
        "GET",
        "/v1/wallets",
        None,
    );
    assert_eq!(s, 401);
    let (s, _) = call(
        &host,
        None,
        "GET",
        &format!("/v1/wallets?token={alice}"),
        None,
    );
    assert_eq!(s, 400, "tokens in query strings are refused");
    let (s, v) = call(
        &host,
        Some(&reader),
        "POST",
        "/v1/wallets",
        Some(json!({"key_type": "p256"})),
    );
    assert_eq!((s, code(&v)), (403, "scope_denied"));
    let (s, v) = call(&host, Some(&reader), "GET", "/v1/audit", None);
    assert_eq!((s, code(&v)), (403, "scope_denied"));

    // Destroy: gone for good.
    let p256_id = wallets[1].1["id"].as_str().unwrap().to_owned();
    assert_eq!(
        call(
            &host,
            Some(&alice),
            "DELETE",
            &format!("/v1/wallets/{p256_id}"),
            None
        )
        .0,
        200
    );
    assert_eq!(
        call(
            &host,
            Some(&alice),
            "GET",
            &format!("/v1/wallets/{p256_id}"),
            None
        )
        .0,
        404
    );
    assert_eq!(
        call(
            &host,
            Some(&alice),
            "POST",
            &format!("/v1/wallets/{p256_id}/sign"),
            Some(json!({"digest": "11".repeat(32)}))
        )
        .0,
        404
    );

    // Revocation with a grace period, then at once.
    let doomed = create_client(&host, &admin, "alice", &["wallets:read"]);
    let doomed_id = doomed.split('_').nth(1).unwrap();
    assert_eq!(
        call(
            &host,
            Some(&admin),
            "DELETE",
            &format!("/v1/admin/api-clients/{doomed_id}?grace_seconds=3600"),
            None
        )
        .0,
        200
    );
    assert_eq!(
        call(&host, Some(&doomed), "GET", "/v1/wallets", None).0,
        200,
        "still valid during grace"
    );
    assert_eq!(
        call(
            &host,
            Some(&admin),
            "DELETE",
            &format!("/v1/admin/api-clients/{doomed_id}"),
            None
        )
        .0,
        200
    );
    assert_eq!(
        call(&host, Some(&doomed), "GET", "/v1/wallets", None).0,
        401
    );

    // The audit chain verifies, and records the refusals.
    let events = fetch_audit(&host, &alice);
    let mut chain = ChainVerifier::default();
    events.iter().try_for_each(|e| chain.push(e)).unwrap();
    for action in [
        "TENANT_DENY",
        "SCOPE_DENY",
        "AUTH_DENY",
        "wallet.create",
        "wallet.destroy",
        "sign",
        "api_client.revoke",
    ] {
        assert!(
            events.iter().any(|e| e.action == action),
            "no {action} event"
        );
    }
    assert!(events.iter().any(|e| e.outcome == "denied:ticket_replayed"));
    let cli = sibling("signet");
    let out = Command::new(&cli)
        .args(["audit", "verify", "--url", &host.url])
        .env("SIGNET_TOKEN", &alice)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("audit chain intact"));

    // Restart the host with the same data dir: wallets survive.
    host.stop();
    let host = Host::start(&dir);
    let (s, v) = call(
        &host,
        Some(&alice),
        "POST",
        &format!("/v1/wallets/{secp_id}/sign"),
        Some(json!({"digest": "22".repeat(32)})),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["public_key"], secp["public_key"]);
    assert_eq!(
        host.admin_token(),
        admin,
        "the admin token survives restarts"
    );

    // A tampered audit row is found, and named.
    drop(host);
    let db = dir.join("signet.db");
    let status = Command::new("python3")
        .args(["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"UPDATE audit_events SET target='forged' WHERE seq=3\"); c.commit()"])
        .arg(&db)
        .status()
        .unwrap();
    assert!(status.success());
    let host = Host::start(&dir);
    let out = Command::new(&cli)
        .args(["audit", "verify", "--url", &host.url])
        .env("SIGNET_TOKEN", &alice)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("event 3"), "{stderr}");
}

fn fetch_audit(host: &Host, token: &str) -> Vec<AuditEvent> {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let (s, v) = call(
            host,
            Some(token),
            "GET",
            &format!("/v1/audit?after={after}&limit=1000"),
            None,
        );
        assert_eq!(s, 200);
        let page: Vec<AuditEvent> = serde_json::from_value(v["events"].clone()).unwrap();
        all.extend(page);
        match v["next"].as_u64() {
            Some(n) => after = n,
            None => return all,
        }
    }
}

#[test]
fn killing_the_signer_mid_signing_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let host = Host::start(&dir);
    let admin = host.admin_token();
    let mut wallets = Vec::new();
    for kt in KeyType::ALL {
        let (s, w) = call(
            &host,
            Some(&admin),
            "POST",
            "/v1/wallets",
            Some(json!({"key_type": kt.as_str()})),
        );
        assert_eq!(s, 201);
        wallets.push(w);
    }
    let body = |w: &Value| match w["key_type"].as_str().unwrap() {
        "ed25519" => json!({"message": "aGVsbG8=", "encoding": "raw"}),
        _ => json!({"digest": "33".repeat(32)}),
    };
    let statuses = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    std::thread::scope(|scope| {
        for w in &wallets {
            let (host, admin, statuses) = (&host, &admin, std::sync::Arc::clone(&statuses));
            scope.spawn(move || {
                for _ in 0..60 {
                    let (s, v) = call(
                        host,
                        Some(admin),
                        "POST",
                        &format!("/v1/wallets/{}/sign", w["id"].as_str().unwrap()),
                        Some(body(w)),
                    );
                    if s == 200 {
                        assert_eq!(v["public_key"], w["public_key"]);
                    }
                    statuses.lock().unwrap().push((s, code(&v).to_owned()));
                    std::thread::sleep(Duration::from_millis(10));
                }
            });
        }
        std::thread::sleep(Duration::from_millis(150));
        sigkill(host.signer_pid());
        std::thread::sleep(Duration::from_millis(200));
        sigkill(host.signer_pid()); // the restarted one too
    });
    let statuses = statuses.lock().unwrap();
    assert!(
        statuses
            .iter()
            .all(|(s, c)| *s == 200 || (*s == 503 && c == "enclave_unavailable")),
        "{statuses:?}"
    );
    assert!(statuses.iter().filter(|(s, _)| *s == 200).count() > 100);
    // After the supervisor restarted it, every wallet signs with its original key.
    std::thread::sleep(Duration::from_millis(500));
    for w in &wallets {
        let (s, v) = call(
            &host,
            Some(&admin),
            "POST",
            &format!("/v1/wallets/{}/sign", w["id"].as_str().unwrap()),
            Some(body(w)),
        );
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["public_key"], w["public_key"]);
    }
    let (s, _) = call(&host, None, "GET", "/ready", None);
    assert_eq!(s, 200);
}

//! Wallets with owners over real HTTP: a `serve` host and its signer, on
//! SQLite and PostgreSQL. Owners are named at creation and written by the
//! signer in the wallet's record; what the policy does not allow signs only
//! with their approvals (one request, or a sign intent they approve), which
//! the signer verifies; a record edited in the database behind the host's
//! back is refused by the signer after a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{call, code, fresh_postgres_db, verify_independently, ServeSetup as Setup};
use rand_core::OsRng;
use serde_json::{json, Value};
use signet_authority::eth::eip191_digest;
use signet_authority::{
    payload_sha256, Approval, Authorization, OwnerKeyType, OwnerSecretKey, Record,
    Request as AuthzRequest,
};

fn id(w: &Value) -> &str {
    w["id"].as_str().unwrap()
}

fn record(w: &Value) -> Record {
    Record::parse(w["record"].as_str().expect("the wallet's record")).unwrap()
}

/// An authorization of signing `content` on `w`, for 600 s (the longest the
/// signer takes, which a signer in its first 600 s requires).
fn authorization(w: &Value, content: &Value, digest: [u8; 32]) -> Authorization {
    let mut request_id = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut OsRng, &mut request_id);
    Authorization::fresh(
        &record(w),
        AuthzRequest::Sign {
            payload_sha256: payload_sha256(content).unwrap(),
            digest,
        },
        common::now_s(),
        600,
        request_id,
    )
    .unwrap()
}

fn sign(url: &str, token: &str, w: &Value, body: Value) -> (u16, Value) {
    call(
        url,
        Some(token),
        "POST",
        &format!("/v1/wallets/{}/sign", id(w)),
        Some(body),
    )
}

fn with_approvals(content: &Value, approvals: &[Approval]) -> Value {
    let mut body = content.clone();
    body["approvals"] = serde_json::to_value(approvals).unwrap();
    body
}

fn owners() -> (OwnerSecretKey, OwnerSecretKey) {
    (
        OwnerSecretKey::generate(OwnerKeyType::Secp256k1, &mut OsRng),
        OwnerSecretKey::generate(OwnerKeyType::P256, &mut OsRng),
    )
}

fn create_gated(url: &str, token: &str, ann: &OwnerSecretKey, cat: &OwnerSecretKey) -> Value {
    let (s, w) = call(
        url,
        Some(token),
        "POST",
        "/v1/wallets",
        Some(json!({
            "key_type": "secp256k1",
            "owners": [ann.owner("ann").unwrap().to_value(), cat.owner("cat").unwrap().to_value()],
            "threshold": 1,
        })),
    );
    assert_eq!(s, 201, "{w}");
    w
}

#[test]
fn owners_approve_what_the_policy_does_not_allow_and_the_signer_checks_them() {
    let (_db, setup) = Setup::on_sqlite();
    let (url, alice) = (setup.url(), setup.token.clone());
    let (ann, cat) = owners();
    let w = create_gated(&url, &alice, &ann, &cat);
    // The record: the owners, threshold 1, and no kind without them.
    let rec = record(&w);
    assert_eq!(rec.owners().len(), 2);
    assert_eq!(rec.threshold(), 1);
    assert_eq!(rec.policy().allow(), &[]);
    assert_eq!(w["record_hash"], rec.record_hash().to_hex());

    // Without approvals: refused, naming the rule.
    let pay = json!({"message": "pay 1 ETH to bob", "encoding": "eip191"});
    let digest = eip191_digest(b"pay 1 ETH to bob");
    let (s, v) = sign(&url, &alice, &w, pay.clone());
    assert_eq!((s, code(&v)), (403, "owner_approval_required"), "{v}");
    assert_eq!(v["error"]["rule"], "allow", "{v}");

    // One request with ann's approval (EIP-191): signed, and verified
    // independently.
    let authz = authorization(&w, &pay, digest);
    let approvals = vec![ann.approve("ann", &authz)];
    let (s, v) = sign(&url, &alice, &w, with_approvals(&pay, &approvals));
    assert_eq!(s, 200, "{v}");
    verify_independently(&[json!({
        "key_type": "secp256k1", "public_key": w["public_key"], "digest": hex::encode(digest),
        "message": null, "signature": v["signature"],
    })]);
    // The same approvals again: the signer remembers the request id.
    let (s, v) = sign(&url, &alice, &w, with_approvals(&pay, &approvals));
    assert_eq!((s, code(&v)), (409, "approval_replayed"), "{v}");
    // Approvals of another request, and a signature by a key not the owner's.
    let coffee = json!({"message": "buy a coffee", "encoding": "eip191"});
    let other = authorization(&w, &coffee, eip191_digest(b"buy a coffee"));
    let (s, v) = sign(
        &url,
        &alice,
        &w,
        with_approvals(&pay, &[ann.approve("ann", &other)]),
    );
    assert_eq!((s, code(&v)), (403, "approval_invalid"), "{v}");
    let stranger = OwnerSecretKey::generate(OwnerKeyType::Secp256k1, &mut OsRng);
    let authz = authorization(&w, &pay, digest);
    let (s, v) = sign(
        &url,
        &alice,
        &w,
        with_approvals(&pay, &[stranger.approve("ann", &authz)]),
    );
    assert_eq!((s, code(&v)), (403, "approval_invalid"), "{v}");
    assert_eq!(v["error"]["reason"], "bad_signature", "{v}");

    // A sign intent: pending, with the authorization its owners sign.
    let (s, intent) = call(
        &url,
        Some(&alice),
        "POST",
        &format!("/v1/wallets/{}/sign-intent", id(&w)),
        Some(pay.clone()),
    );
    assert_eq!(s, 201, "{intent}");
    assert_eq!(intent["state"], "pending", "{intent}");
    let text = intent["authorization"]["text"].as_str().unwrap().to_owned();
    let parsed = Authorization::parse(&text).unwrap();
    assert_eq!(parsed.digest(), Some(&digest));
    assert_eq!(parsed.wallet_id(), id(&w));
    let ticket = intent["ticket"].as_str().unwrap().to_owned();
    let intent_id = intent["intent_id"].as_str().unwrap().to_owned();
    let (s, v) = sign(&url, &alice, &w, json!({"ticket": ticket}));
    assert_eq!((s, code(&v)), (409, "approval_pending"), "{v}");
    // A wrong approval is refused at once, with the reason.
    let approve = |body: Value| {
        call(
            &url,
            Some(&alice),
            "POST",
            &format!("/v1/intents/{intent_id}/approve"),
            Some(body),
        )
    };
    let (s, v) = approve(json!({"owner_id": "cat", "signature": stranger.sign(&text)}));
    assert_eq!((s, code(&v)), (403, "approval_invalid"), "{v}");
    let (s, v) = approve(json!({"owner_id": "nobody", "signature": cat.sign(&text)}));
    assert_eq!(v["error"]["reason"], "unknown_owner", "{s} {v}");
    // Cat's P-256 approval meets the threshold: approved, and the ticket signs.
    let (s, v) = approve(json!({"owner_id": "cat", "signature": cat.sign(&text)}));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "approved", "{v}");
    assert_eq!(v["approved_by"], json!(["cat"]), "{v}");
    let (s, v) = sign(&url, &alice, &w, json!({"ticket": ticket}));
    assert_eq!(s, 200, "{v}");
    verify_independently(&[json!({
        "key_type": "secp256k1", "public_key": w["public_key"], "digest": hex::encode(digest),
        "message": null, "signature": v["signature"],
    })]);

    // No owners, messages only: a digest is refused, a message signs.
    let (s, open) = call(
        &url,
        Some(&alice),
        "POST",
        "/v1/wallets",
        Some(json!({"key_type": "p256", "policy": {"allow": ["message"]}})),
    );
    assert_eq!(s, 201, "{open}");
    let (s, v) = sign(&url, &alice, &open, json!({"digest": "ab".repeat(32)}));
    assert_eq!((s, code(&v)), (403, "policy_denied"), "{v}");
    assert_eq!(v["error"]["rule"], "allow");
    let (s, v) = sign(
        &url,
        &alice,
        &open,
        json!({"message": "hello", "encoding": "eip191"}),
    );
    assert_eq!(s, 200, "{v}");

    // Settings the signer cannot take: 400 naming the field.
    for (body, field) in [
        (
            json!({"key_type": "p256", "policy": {"allow": ["everything"]}}),
            "policy.allow[0]",
        ),
        (
            json!({"key_type": "p256", "owners": [ann.owner("ann").unwrap().to_value()], "threshold": 2}),
            "threshold",
        ),
        (
            json!({"key_type": "p256", "owners": [{"id": "Ann", "type": "p256", "public_key": "04"}]}),
            "owners[0]",
        ),
        (
            json!({"key_type": "p256", "policy": {"allow": [], "max_value_wei": "1.5"}}),
            "policy.max_value_wei",
        ),
    ] {
        let (s, v) = call(&url, Some(&alice), "POST", "/v1/wallets", Some(body));
        assert_eq!((s, code(&v)), (400, "bad_request"), "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(field),
            "{field}: {v}"
        );
    }
}

/// A gated wallet; its stored record edited to the permissive one without
/// owners while host and signer are down; after the restart, signing on
/// the host's ticket alone is refused by the signer (`record_mismatch`),
/// and the owners' approvals against the real record still work once the
/// record is put back.
fn a_record_edited_in_the_database_is_refused(db: &str, run_sql: impl Fn(&str)) {
    let mut setup = Setup::start(db);
    let (ann, cat) = owners();
    let w = create_gated(&setup.url(), &setup.token, &ann, &cat);
    let real = w["record"].as_str().unwrap().to_owned();
    let loose = Record::legacy(record(&w).key().clone()).unwrap();
    let quote = |s: &str| s.replace('\'', "''");
    setup.restart_after(|| {
        run_sql(&format!(
            "UPDATE wallets SET record = '{}' WHERE id = '{}'",
            quote(loose.text()),
            id(&w)
        ));
    });
    let (url, alice) = (setup.url(), setup.token.clone());
    let digest_body = json!({"digest": "77".repeat(32)});
    let (s, v) = sign(&url, &alice, &w, digest_body.clone());
    assert_eq!((s, code(&v)), (409, "record_mismatch"), "{v}");
    // Deleting the record (a wallet "from before records"): refused too.
    setup.restart_after(|| {
        run_sql(&format!(
            "UPDATE wallets SET record = NULL WHERE id = '{}'",
            id(&w)
        ))
    });
    let url = setup.url();
    let (s, v) = sign(&url, &alice, &w, digest_body.clone());
    assert_eq!((s, code(&v)), (409, "record_mismatch"), "{v}");
    // The real record back: the owners decide again.
    setup.restart_after(|| {
        run_sql(&format!(
            "UPDATE wallets SET record = '{}' WHERE id = '{}'",
            quote(&real),
            id(&w)
        ));
    });
    let url = setup.url();
    let (s, v) = sign(&url, &alice, &w, digest_body.clone());
    assert_eq!((s, code(&v)), (403, "owner_approval_required"), "{v}");
    let authz = authorization(&w, &digest_body, [0x77; 32]);
    let (s, v) = sign(
        &url,
        &alice,
        &w,
        with_approvals(&digest_body, &[ann.approve("ann", &authz)]),
    );
    assert_eq!(s, 200, "{v}");
}

#[test]
fn a_record_edited_in_sqlite_behind_the_hosts_back_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("signet.db");
    let db = format!("sqlite://{}", path.display());
    a_record_edited_in_the_database_is_refused(&db, |sql| common::sqlite_exec(&path, sql));
}

#[test]
fn a_record_edited_in_postgres_behind_the_hosts_back_is_refused() {
    let Some(db) = fresh_postgres_db("owners") else {
        return;
    };
    a_record_edited_in_the_database_is_refused(&db, |sql| psql(&db, sql));
}

fn cli(url: &str, token: &str, args: &[&str]) -> std::process::Output {
    common::signet_cli()
        .args(args)
        .args(["--url", url])
        .env("SIGNET_TOKEN", token)
        .output()
        .unwrap()
}

fn stdout_json(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_cli_makes_owner_keys_creates_owned_wallets_approves_and_verifies_records() {
    let (_db, setup) = Setup::on_sqlite();
    let (url, alice) = (setup.url(), setup.token.clone());
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("ann.key");
    let key = key.to_str().unwrap();
    let made = stdout_json(&cli(
        &url,
        &alice,
        &["owner", "keygen", "--type", "secp256k1", "--out", key],
    ));
    assert_eq!(made["owner"]["type"], "secp256k1", "{made}");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the secret key is the owner's only");
    let again = cli(
        &url,
        &alice,
        &["owner", "keygen", "--type", "p256", "--out", key],
    );
    assert_eq!(
        again.status.code(),
        Some(2),
        "a key file is never overwritten"
    );

    let w = stdout_json(&cli(
        &url,
        &alice,
        &[
            "wallet",
            "create",
            "--key-type",
            "secp256k1",
            "--owner",
            &format!("ann={key}.pub"),
            "--allow",
            "none",
        ],
    ));
    assert_eq!(record(&w).owners()[0].id(), "ann", "{w}");
    // Without the owner's key: refused (exit 1) with the signer's reason.
    let refused = cli(&url, &alice, &["sign", id(&w), "--message", "hello"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("owners must approve"));
    // One request with the owner's key.
    let signed = stdout_json(&cli(
        &url,
        &alice,
        &[
            "sign",
            id(&w),
            "--message",
            "hello",
            "--owner",
            "ann",
            "--key",
            key,
        ],
    ));
    verify_independently(&[json!({
        "key_type": "secp256k1", "public_key": w["public_key"],
        "digest": hex::encode(eip191_digest(b"hello")), "message": null, "signature": signed["signature"],
    })]);
    // A sign intent approved with `signet approve`, then its ticket signs.
    let (s, intent) = call(
        &url,
        Some(&alice),
        "POST",
        &format!("/v1/wallets/{}/sign-intent", id(&w)),
        Some(json!({"digest": "12".repeat(32)})),
    );
    assert_eq!(s, 201, "{intent}");
    let intent_id = intent["intent_id"].as_str().unwrap();
    let approved = stdout_json(&cli(
        &url,
        &alice,
        &["approve", intent_id, "--owner", "ann", "--key", key],
    ));
    assert_eq!(approved["state"], "approved", "{approved}");
    let (s, v) = sign(&url, &alice, &w, json!({"ticket": intent["ticket"]}));
    assert_eq!(s, 200, "{v}");

    // Offline: the wallet's document binds its key and this record.
    let file = keys.path().join("wallet.json");
    std::fs::write(&file, w.to_string()).unwrap();
    let signer = setup.signer.as_ref().unwrap();
    let mut pcrs = Vec::new();
    for (i, v) in common::signer_pcrs() {
        pcrs.push("--pcr".to_owned());
        pcrs.push(format!("{i}={}", hex::encode(v)));
    }
    let verify = |path: &std::path::Path| {
        let mut cmd = common::signet_cli();
        cmd.args(["wallet", "verify"])
            .arg(path)
            .arg("--root")
            .arg(signer.dev_root())
            .args(&pcrs);
        cmd.output().unwrap()
    };
    let out = verify(&file);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("every signature needs its owners"), "{text}");
    assert!(text.contains("threshold: 1 of 1"), "{text}");
    // A record that is not the attested one (owners removed): INVALID.
    let mut forged = w.clone();
    forged["record"] = json!(Record::legacy(record(&w).key().clone()).unwrap().text());
    std::fs::write(&file, forged.to_string()).unwrap();
    let out = verify(&file);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("record"));
}

#[test]
fn an_owner_gated_eth_call_answers_with_an_intent_for_the_owners() {
    let (_db, setup) = Setup::on_sqlite();
    let (url, alice) = (setup.url(), setup.token.clone());
    let (ann, cat) = owners();
    let w = create_gated(&url, &alice, &ann, &cat);
    let (s, v) = call(
        &url,
        Some(&alice),
        "POST",
        "/v1/eth",
        Some(
            json!({"jsonrpc": "2.0", "id": 1, "method": "personal_sign", "params": ["0x68656c6c6f", w["address"]]}),
        ),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["error"]["code"], -32000, "{v}");
    assert_eq!(v["error"]["message"], "owner approval required", "{v}");
    let data = &v["error"]["data"];
    assert_eq!(data["code"], "owner_approval_required", "{v}");
    let intent_id = data["intent_id"].as_str().unwrap();
    assert!(
        data["approval_url"].as_str().unwrap().ends_with(intent_id),
        "{v}"
    );
    // The intent waits for the owners, with what they sign.
    let (s, intent) = call(
        &url,
        Some(&alice),
        "GET",
        &format!("/v1/intents/{intent_id}"),
        None,
    );
    assert_eq!(s, 200, "{intent}");
    assert_eq!(intent["state"], "pending");
    let text = intent["authorization"]["text"].as_str().unwrap();
    assert_eq!(
        Authorization::parse(text).unwrap().digest(),
        Some(&eip191_digest(b"hello"))
    );
}

/// A wallet as a signer and host from before records left it, on `db`
/// (`run_sql` runs a statement there; `bytes` writes a byte literal).
fn a_wallet_from_before_records_keeps_signing(
    db: &str,
    run_sql: impl Fn(&str),
    bytes: impl Fn(&[u8]) -> String,
) {
    let mut setup = Setup::start(db);
    // A wallet as a signer and host from before records left it: its key
    // sealed in format 1 (no record hash) under the signer's dev sealing
    // key, no record in the database.
    let secret = k256::ecdsa::SigningKey::random(&mut OsRng);
    let public_key = secret
        .verifying_key()
        .to_encoded_point(false)
        .as_bytes()
        .to_vec();
    let wallet_id = format!("w_{}", "ab".repeat(16));
    let key =
        signet_enclave::sealing::load_or_create_dev_sealing_key(&setup.dir.join("dev")).unwrap();
    let sealed = signet_enclave::sealing::SealingKeys::new(vec![key])
        .unwrap()
        .seal(
            &wallet_id,
            signet_proto::KeyType::Secp256k1,
            &secret.to_bytes(),
            None,
        )
        .unwrap();
    assert_eq!(sealed.format, signet_enclave::sealing::SEALED_FORMAT_V1);
    let insert = format!(
        "INSERT INTO wallets (id, owner, key_type, public_key, label, sealed, attestation, created_at, destroyed_at, require_approval, record) VALUES ('{wallet_id}', 'tenant:alice', 'secp256k1', {}, 'old', {}, NULL, {}, NULL, 0, NULL)",
        bytes(&public_key),
        bytes(&sealed.to_bytes()),
        common::now_s() * 1000
    );
    setup.restart_after(|| run_sql(&insert));
    let (url, alice) = (setup.url(), setup.token.clone());
    // It signs on the host's ticket, as before (the permissive record).
    let w = json!({"id": wallet_id});
    let (s, v) = sign(&url, &alice, &w, json!({"digest": "34".repeat(32)}));
    assert_eq!(s, 200, "{v}");
    verify_independently(&[json!({
        "key_type": "secp256k1", "public_key": hex::encode(&public_key),
        "digest": "34".repeat(32), "message": null, "signature": v["signature"],
    })]);
    // The host wrote its record: no owners, the permissive policy, the
    // signer's deployment.
    let mut shown = Value::Null;
    assert!(
        common::eventually(std::time::Duration::from_secs(20), || {
            shown = call(
                &url,
                Some(&alice),
                "GET",
                &format!("/v1/wallets/{wallet_id}"),
                None,
            )
            .1;
            shown["record"].is_string()
        }),
        "no record written: {shown}"
    );
    let rec = record(&shown);
    assert!(rec.is_legacy(), "{}", rec.text());
    assert_eq!(rec.deployment(), "signet");
    assert_eq!(rec.key().public_key, public_key);
    // A fresh attestation binds the key and that record (v2).
    let (s, a) = call(
        &url,
        Some(&alice),
        "GET",
        &format!("/v1/wallets/{wallet_id}/attestation"),
        None,
    );
    assert_eq!(s, 200, "{a}");
    let signer = setup.signer.as_ref().unwrap();
    let pem = std::fs::read_to_string(signer.dev_root()).unwrap();
    let pcrs = signet_attestation::PcrSet::new(common::signer_pcrs()).unwrap();
    let verifier = signet_attestation::Verifier::new(
        signet_attestation::TrustAnchor::from_pem(&pem).unwrap(),
        signet_attestation::PcrPolicy::exactly(pcrs),
    );
    let doc = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        a["attestation"]["document"].as_str().unwrap(),
    )
    .unwrap();
    verifier
        .verify(&doc)
        .unwrap()
        .check_record_binding(
            &wallet_id,
            "secp256k1",
            &public_key,
            &rec.record_hash().0,
            false,
        )
        .unwrap();
    // Its record loads with its blob after a restart too, and still signs.
    setup.restart_after(|| {});
    let (s, v) = sign(&setup.url(), &alice, &w, json!({"digest": "35".repeat(32)}));
    assert_eq!(s, 200, "{v}");
}

#[test]
fn a_wallet_from_before_records_keeps_signing_and_gets_its_record_on_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("signet.db");
    let db = format!("sqlite://{}", path.display());
    a_wallet_from_before_records_keeps_signing(
        &db,
        |sql| common::sqlite_exec(&path, sql),
        |b| format!("X'{}'", hex::encode(b)),
    );
}

#[test]
fn a_wallet_from_before_records_keeps_signing_and_gets_its_record_on_postgres() {
    let Some(db) = fresh_postgres_db("legacy") else {
        return;
    };
    a_wallet_from_before_records_keeps_signing(
        &db,
        |sql| psql(&db, sql),
        |b| format!("decode('{}', 'hex')", hex::encode(b)),
    );
}

/// Runs `sql` on the PostgreSQL database `db`.
fn psql(db: &str, sql: &str) {
    let out = std::process::Command::new("psql")
        .arg(db)
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn owners_change_a_wallets_record_and_the_signer_holds_the_new_one() {
    let (_db, setup) = Setup::on_sqlite();
    let (url, alice) = (setup.url(), setup.token.clone());
    let (ann, cat) = owners();
    let w = create_gated(&url, &alice, &ann, &cat);
    let change = |body: Value| {
        call(
            &url,
            Some(&alice),
            "POST",
            &format!("/v1/wallets/{}/record", id(&w)),
            Some(body),
        )
    };
    // Without approvals: nothing changes; the record and what to sign.
    let (s, proposal) = change(json!({"threshold": 2}));
    assert_eq!(s, 202, "{proposal}");
    let next = Record::parse(proposal["record"].as_str().unwrap()).unwrap();
    assert_eq!((next.version(), next.threshold()), (2, 2));
    assert_eq!(proposal["record_hash"], next.record_hash().to_hex());
    let text = proposal["authorization"]["text"].as_str().unwrap();
    assert_eq!(
        Authorization::parse(text).unwrap().action().as_str(),
        "update_record"
    );
    let (_, still) = call(
        &url,
        Some(&alice),
        "GET",
        &format!("/v1/wallets/{}", id(&w)),
        None,
    );
    assert_eq!(record(&still).version(), 1, "nothing changed yet");
    // A stranger's signature over it: refused by the signer.
    let stranger = OwnerSecretKey::generate(OwnerKeyType::P256, &mut OsRng);
    let (s, v) = change(json!({"threshold": 2, "approvals": [stranger.approve_text("cat", text)]}));
    assert_eq!((s, code(&v)), (403, "approval_invalid"), "{v}");
    // Ann (threshold 1 today) approves: version 2, bound in a new attestation.
    let (s, changed) =
        change(json!({"threshold": 2, "approvals": [ann.approve_text("ann", text)]}));
    assert_eq!(s, 200, "{changed}");
    assert_eq!(changed["record"].as_str(), Some(next.text()));
    assert_ne!(changed["attestation"], w["attestation"]);
    // From now on one owner is not enough to sign.
    let pay = json!({"digest": "56".repeat(32)});
    let authz = authorization(&changed, &pay, [0x56; 32]);
    let (s, v) = sign(
        &url,
        &alice,
        &changed,
        with_approvals(&pay, &[ann.approve("ann", &authz)]),
    );
    assert_eq!(v["error"]["reason"], "below_threshold", "{s} {v}");
    let authz = authorization(&changed, &pay, [0x56; 32]);
    let (s, v) = sign(
        &url,
        &alice,
        &changed,
        with_approvals(
            &pay,
            &[ann.approve("ann", &authz), cat.approve("cat", &authz)],
        ),
    );
    assert_eq!(s, 200, "{v}");
    // A wallet without owners that signs everything takes owners at once.
    let (s, open) = call(
        &url,
        Some(&alice),
        "POST",
        "/v1/wallets",
        Some(json!({"key_type": "p256"})),
    );
    assert_eq!(s, 201, "{open}");
    let (s, v) = call(
        &url,
        Some(&alice),
        "POST",
        &format!("/v1/wallets/{}/record", id(&open)),
        Some(
            json!({"owners": [ann.owner("ann").unwrap().to_value()], "threshold": 1, "policy": {"allow": []}}),
        ),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(record(&v).owners().len(), 1);
    let (s, v) = sign(&url, &alice, &v, json!({"digest": "57".repeat(32)}));
    assert_eq!((s, code(&v)), (403, "owner_approval_required"), "{v}");
}

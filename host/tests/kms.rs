//! The KMS production path end to end: `signet-host dev --sealing kms` (the
//! signer provisioned by the host, `--sealing kms --secrets host`, its KMS
//! connections through the host's relay) against `signet-kms-fake` (SigV4,
//! Recipient attestation checked against the dev root, the key policy that
//! the Terraform module renders), and the refusals.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{
    call, eventually, log_text, metric, sibling, sigkill, signer_pcrs, verify_independently,
    DevHost, Fake, START_TIMEOUT,
};
use serde_json::{json, Value};

const ACCOUNT: &str = "111122223333";
const REGION: &str = "us-east-1";
const KEY: &str = "sealing";
const INSTANCE_ROLE: &str = "arn:aws:iam::111122223333:role/signet-instance";
const ADMIN_ROLE: &str = "arn:aws:iam::111122223333:role/signet-key-admin";
const AKID: &str = "AKIASIGNETTEST000001";
const SECRET: &str = "kms-fake-secret-of-the-signet-instance-role";

fn key_arn() -> String {
    format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{KEY}")
}

/// The infra venv's Python (python-hcl2), made by scripts/test-infra.sh.
fn infra_python() -> PathBuf {
    if let Ok(p) = std::env::var("SIGNET_INFRA_PYTHON") {
        return PathBuf::from(p);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let cache = std::env::var("XDG_CACHE_HOME").unwrap_or_else(|_| format!("{home}/.cache"));
    PathBuf::from(cache).join("signet/infra-venv/bin/python")
}

/// The sealing key policy exactly as the Terraform module renders it, for
/// these PCRs and retired versions.
fn render_policy(dir: &Path, name: &str, pcrs: &BTreeMap<u8, Vec<u8>>, retired: &[u32]) -> PathBuf {
    render_policy_sets(dir, name, &[pcrs], retired)
}

/// The module's key policy admitting every image in `sets` (an upgrade
/// lists the running image and the next).
fn render_policy_sets(
    dir: &Path,
    name: &str,
    sets: &[&BTreeMap<u8, Vec<u8>>],
    retired: &[u32],
) -> PathBuf {
    let module = Path::new(env!("CARGO_MANIFEST_DIR")).join("../terraform/modules/signet");
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../terraform/tests/render_kms_policy.py");
    let python = infra_python();
    let out = Command::new(&python)
        .arg(script)
        .arg(module)
        .args(["--var", "name=signet-dev"])
        .arg("--var")
        .arg(format!(
            "enclave_pcr_sets={}",
            Value::Array(
                sets.iter()
                    .map(|pcrs| json!({
                        "pcr0": hex::encode(&pcrs[&0]),
                        "pcr1": hex::encode(&pcrs[&1]),
                        "pcr2": hex::encode(&pcrs[&2]),
                    }))
                    .collect()
            )
        ))
        .arg("--var")
        .arg(format!("kms_admin_role_arns=[\"{ADMIN_ROLE}\"]"))
        .arg("--var")
        .arg(format!("retired_sealing_key_versions={}", json!(retired)))
        .args([
            "--account",
            ACCOUNT,
            "--region",
            REGION,
            "--instance-role-arn",
            INSTANCE_ROLE,
        ])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run scripts/test-infra.sh once to create it)",
                python.display()
            )
        });
    assert!(
        out.status.success(),
        "render_kms_policy.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

/// A running `signet-kms-fake`.
struct Kms {
    _process: Fake,
    https: String,
    control: String,
    dir: PathBuf,
    log: PathBuf,
}

impl Kms {
    fn start(dir: &Path, root: &Path, policy: &Path) -> Self {
        let kms_dir = dir.join("kms");
        let log = dir.join("kms.log");
        let args: Vec<std::ffi::OsString> = vec![
            "--dir".into(),
            kms_dir.clone().into_os_string(),
            "--region".into(),
            REGION.into(),
            "--account".into(),
            ACCOUNT.into(),
            "--key".into(),
            format!("{KEY}={}", policy.display()).into(),
            "--credentials".into(),
            format!("{AKID}:{SECRET}:{INSTANCE_ROLE}").into(),
            "--attestation-root".into(),
            root.as_os_str().to_owned(),
        ];
        let process = Fake::spawn("signet-kms-fake", args, &log);
        Self {
            https: process.field("https"),
            control: process.field("control"),
            _process: process,
            dir: kms_dir,
            log,
        }
    }

    fn faults(&self, faults: Value) {
        ureq::post(&format!("http://{}/faults", self.control))
            .send_json(faults)
            .unwrap();
    }

    fn put_policy(&self, policy: &Path) {
        ureq::put(&format!("http://{}/policy?key={KEY}", self.control))
            .send_bytes(&std::fs::read(policy).unwrap())
            .unwrap();
    }

    fn calls(&self) -> Vec<Value> {
        ureq::get(&format!("http://{}/calls", self.control))
            .call()
            .unwrap()
            .into_json()
            .unwrap()
    }

    /// Successful calls of `operation`.
    fn ok_calls(&self, operation: &str) -> usize {
        self.calls()
            .iter()
            .filter(|c| c["operation"] == operation && c["status"] == 200)
            .count()
    }
}

/// A dev host on `data` with KMS sealing through the fake.
fn host(data: &Path, kms: &Kms) -> DevHost {
    DevHost::command(data)
        .args(["--sealing", "kms"])
        .envs([
            ("KMS_KEY_ID", key_arn()),
            ("AWS_REGION", REGION.to_owned()),
            ("KMS_ENDPOINT", kms.https.clone()),
            ("KMS_CA_FILE", kms.dir.join("ca.pem").display().to_string()),
            ("AWS_ACCESS_KEY_ID", AKID.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET.to_owned()),
            ("SIGNET_ROTATION_GRACE_SECONDS", "1".to_owned()),
        ])
        .start()
}

/// The dev attestation root the host's signer will use (made before the
/// host starts, so the fake KMS can trust it).
fn dev_root(data: &Path) -> PathBuf {
    ca_root(
        &data.join("dev").join("attestation"),
        &data.with_extension("root.pem"),
    )
}

/// Creates the dev CA in `attestation_dir`; its root, written to `pem`.
fn ca_root(attestation_dir: &Path, pem: &Path) -> PathBuf {
    let issuer = signet_attestation::dev::DevIssuer::load_or_create(attestation_dir).unwrap();
    std::fs::write(pem, issuer.root_pem().unwrap()).unwrap();
    pem.to_owned()
}

/// A world: the fake KMS with the module's policy for the signer's PCRs.
fn world(dir: &Path) -> (PathBuf, Kms) {
    let data = dir.join("host");
    let root = dev_root(&data);
    let policy = render_policy(dir, "policy", &signer_pcrs(), &[]);
    let kms = Kms::start(dir, &root, &policy);
    (data, kms)
}

fn ready(url: &str) -> (u16, Value) {
    call(url, None, "GET", "/ready", None)
}

fn wait_ready(host: &DevHost, kms: &Kms) {
    let mut last = (0, Value::Null);
    if !eventually(START_TIMEOUT, || {
        last = ready(host.url());
        last.0 == 200
    }) {
        panic!(
            "not ready: {last:?}\nhost log:\n{}\nsigner log:\n{}\nkms log:\n{}",
            log_text(host.log_path()),
            log_text(&host.dir().join("signer.log")),
            log_text(&kms.log)
        );
    }
}

fn create_wallet(host: &DevHost, key_type: &str) -> Value {
    let (s, v) = call(
        host.url(),
        Some(&host.admin_token()),
        "POST",
        "/v1/wallets",
        Some(json!({"key_type": key_type})),
    );
    assert_eq!(s, 201, "{v}");
    v
}

/// Signs a fresh digest with `wallet`; the signature, checked independently.
fn sign(host: &DevHost, wallet: &Value) -> (u16, Value) {
    use base64::Engine as _;
    use sha2::Digest as _;
    let random = rand_digest();
    let id = wallet["id"].as_str().unwrap();
    let ed25519 = wallet["key_type"] == "ed25519";
    let (body, digest, message) = if ed25519 {
        let digest = sha2::Sha256::digest(random);
        (
            json!({"message": base64::engine::general_purpose::STANDARD.encode(random), "encoding": "raw"}),
            hex::encode(digest),
            Some(hex::encode(random)),
        )
    } else {
        (
            json!({"digest": hex::encode(random)}),
            hex::encode(random),
            None,
        )
    };
    let (s, v) = call(
        host.url(),
        Some(&host.admin_token()),
        "POST",
        &format!("/v1/wallets/{id}/sign"),
        Some(body),
    );
    if s == 200 {
        verify_independently(&[json!({
            "key_type": wallet["key_type"],
            "public_key": wallet["public_key"],
            "digest": digest,
            "message": message,
            "signature": v["signature"],
        })]);
    }
    (s, v)
}

fn rand_digest() -> [u8; 32] {
    let mut d = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut d);
    d
}

fn status(host: &DevHost) -> Value {
    let (s, v) = call(
        host.url(),
        Some(&host.admin_token()),
        "GET",
        "/v1/admin/status",
        None,
    );
    assert_eq!(s, 200, "{v}");
    v
}

/// Starts a rotation (202) and waits until it is done or stopped with an
/// error; the rotation's view in `/v1/admin/status`.
fn rotate_and_wait(host: &DevHost) -> Value {
    let (s, v) = rotate(host, false);
    assert_eq!(s, 202, "{v}");
    let mut rotation = Value::Null;
    assert!(
        eventually(Duration::from_secs(60), || {
            rotation = status(host)["sealing"]["rotation"].clone();
            rotation["phase"] == "done" || !rotation["error"].is_null()
        }),
        "{rotation}"
    );
    rotation
}

fn rotate(host: &DevHost, dry_run: bool) -> (u16, Value) {
    call(
        host.url(),
        Some(&host.admin_token()),
        "POST",
        "/v1/admin/sealing/rotate",
        Some(json!({"dry_run": dry_run})),
    )
}

#[test]
fn a_kms_sealed_wallet_survives_signer_kill_host_restart_and_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let (data, kms) = world(dir.path());
    let host1 = host(&data, &kms);
    wait_ready(&host1, &kms);
    // First boot: one GenerateDataKey with a Recipient, and one Decrypt of
    // its blob (the signer checks KMS gives the same key back).
    assert_eq!(kms.ok_calls("GenerateDataKey"), 1, "{:?}", kms.calls());
    assert_eq!(kms.ok_calls("Decrypt"), 1, "{:?}", kms.calls());
    assert!(
        kms.calls().iter().all(|c| c["recipient"] == true),
        "{:?}",
        kms.calls()
    );
    let sealing = &status(&host1)["sealing"];
    assert_eq!(sealing["current"], 1, "{sealing}");
    assert_eq!(sealing["versions"][0]["state"], "active");

    let wallets: Vec<Value> = ["secp256k1", "p256", "ed25519"]
        .iter()
        .map(|t| create_wallet(&host1, t))
        .collect();
    for w in &wallets {
        for _ in 0..3 {
            assert_eq!(sign(&host1, w).0, 200);
        }
    }
    assert_eq!(kms.calls().len(), 2, "KMS is never called per signature");

    // The signer dies: its successor gets the key from KMS (Decrypt of the
    // stored blob) and the wallets come back from their sealed blobs.
    let old_signer = host1.signer_pid();
    sigkill(old_signer);
    assert!(eventually(START_TIMEOUT, || {
        host1.signer_pid() != old_signer && sign(&host1, &wallets[0]).0 == 200
    }));
    assert_eq!(kms.ok_calls("Decrypt"), 2, "{:?}", kms.calls());
    host1.stop();

    // The host restarts (and with it the signer).
    let host2 = host(&data, &kms);
    wait_ready(&host2, &kms);
    for w in &wallets {
        assert_eq!(sign(&host2, w).0, 200);
    }
    assert_eq!(kms.ok_calls("Decrypt"), 3);
    assert_eq!(kms.ok_calls("GenerateDataKey"), 1);

    // Rotation: dry run counts, the real one moves every blob to v2.
    let (s, dry) = rotate(&host2, true);
    assert_eq!(s, 200, "{dry}");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["to_reseal"], 3, "{dry}");
    assert_eq!(kms.ok_calls("GenerateDataKey"), 1, "a dry run calls no KMS");
    let report = rotate_and_wait(&host2);
    assert_eq!(report["phase"], "done", "{report}");
    assert_eq!(report["to_version"], 2, "{report}");
    assert_eq!(report["resealed"], 3, "{report}");
    assert_eq!(report["verified"], 3, "{report}");
    let sealing = &status(&host2)["sealing"];
    assert_eq!(sealing["current"], 2, "{sealing}");
    assert_eq!(sealing["rotation"]["phase"], "done", "{sealing}");
    assert_eq!(sealing["versions"][0]["state"], "retired", "{sealing}");
    for w in &wallets {
        assert_eq!(sign(&host2, w).0, 200);
    }
    let created_after = create_wallet(&host2, "p256");
    host2.stop();

    // After a restart only v2 is asked for.
    let decrypts = kms.ok_calls("Decrypt");
    let host3 = host(&data, &kms);
    wait_ready(&host3, &kms);
    for w in wallets.iter().chain([&created_after]) {
        assert_eq!(sign(&host3, w).0, 200);
    }
    assert_eq!(kms.ok_calls("Decrypt"), decrypts + 1);
    let contexts: Vec<Value> = kms
        .calls()
        .iter()
        .filter(|c| c["operation"] == "Decrypt")
        .map(|c| c["encryption_context"]["signet-sealing-key-version"].clone())
        .collect();
    assert_eq!(contexts.last(), Some(&json!("2")), "{contexts:?}");
    // The audit log has the sealing events, and still verifies.
    let events = common::fetch_audit(host3.url(), &host3.admin_token());
    for action in [
        "sealing_key.create",
        "sealing_key.rotate",
        "sealing_key.retire",
    ] {
        assert!(events.iter().any(|e| e.action == action), "{action}");
    }
}

/// The host stays up but not ready, with the reason; nothing signs and no
/// sealing key is stored.
fn assert_unsealed(host: &DevHost, kms: &Kms, reason_has: &str) {
    let mut last = (0, Value::Null);
    assert!(
        eventually(Duration::from_secs(30), || {
            last = ready(host.url());
            last.0 == 503 && last.1.to_string().contains(reason_has)
        }),
        "{last:?}\nhost log:\n{}",
        log_text(host.log_path())
    );
    let (s, v) = call(
        host.url(),
        Some(&host.admin_token()),
        "POST",
        "/v1/wallets",
        Some(json!({"key_type": "p256"})),
    );
    assert_eq!(s, 503, "{v}");
    let sealing = &status(host)["sealing"];
    assert_eq!(sealing["ready"], false, "{sealing}");
    assert_eq!(
        sealing["versions"],
        json!([]),
        "no sealing key stored: {sealing}"
    );
    let _ = kms;
}

#[test]
fn a_policy_for_another_image_keeps_the_signer_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("host");
    let root = dev_root(&data);
    let mut other = signer_pcrs();
    other.insert(0, vec![0x5a; 48]);
    let policy = render_policy(dir.path(), "other-pcr0", &other, &[]);
    let kms = Kms::start(dir.path(), &root, &policy);
    let host = host(&data, &kms);
    assert_unsealed(&host, &kms, "kms_refused");
    let sealing = &status(&host)["sealing"];
    assert!(
        sealing["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("AccessDeniedException"),
        "{sealing}"
    );
    assert!(kms
        .calls()
        .iter()
        .all(|c| c["error"] == "AccessDeniedException"));
    // What SignetKmsRequestsFailing and SignetSignerSealed watch.
    let generate = |outcome: &str| {
        metric(
            host.url(),
            &format!(
                "signet_kms_requests_total{{operation=\"generate_data_key\",outcome=\"{outcome}\"}}"
            ),
        )
    };
    assert!(
        eventually(Duration::from_secs(10), || generate("error") >= 1.0),
        "the refusal is counted"
    );
    assert_eq!(generate("ok"), 0.0);
    assert!(
        eventually(Duration::from_secs(10), || metric(
            host.url(),
            "signet_signer_sealed"
        ) == 1.0),
        "the signer is reported sealed"
    );
    // The right policy arrives: the host gets there by itself.
    kms.put_policy(&render_policy(dir.path(), "policy", &signer_pcrs(), &[]));
    wait_ready(&host, &kms);
    assert_eq!(generate("ok"), 1.0);
    assert_eq!(metric(host.url(), "signet_signer_sealed"), 0.0);
    let w = create_wallet(&host, "secp256k1");
    assert_eq!(sign(&host, &w).0, 200);
}

fn refused_answer(fault: &str, reason_in_status: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (data, kms) = world(dir.path());
    kms.faults(json!({ fault: 1000 }));
    let host = host(&data, &kms);
    assert_unsealed(&host, &kms, "kms_refused");
    let sealing = &status(&host)["sealing"];
    assert!(
        sealing["reason"]
            .as_str()
            .unwrap_or_default()
            .contains(reason_in_status),
        "{fault}: {sealing}"
    );
    assert!(
        !log_text(&host.dir().join("signer.log")).contains("sealing key created"),
        "{fault}: nothing was installed"
    );
}

#[test]
fn an_answer_carrying_plaintext_is_refused() {
    refused_answer("plaintext_too", "Plaintext");
}

#[test]
fn an_answer_for_another_key_is_refused() {
    refused_answer("other_key_id", "not the pinned");
}

#[test]
fn a_cms_for_another_recipient_is_refused() {
    refused_answer("wrong_rid", "rid");
}

#[test]
fn a_tampered_cms_is_refused() {
    refused_answer("tamper_cms", "CiphertextForRecipient");
}

#[test]
fn a_data_key_of_the_wrong_length_is_refused() {
    refused_answer("short_key", "32 expected");
}

#[test]
fn throttling_5xx_resets_and_expired_credentials_are_retried() {
    let dir = tempfile::tempdir().unwrap();
    let (data, kms) = world(dir.path());
    kms.faults(json!({"throttle": 2, "internal_error": 1, "reset": 1, "expired_token": 1}));
    let host = host(&data, &kms);
    wait_ready(&host, &kms);
    let calls = kms.calls();
    let errors: Vec<&str> = calls.iter().filter_map(|c| c["error"].as_str()).collect();
    for e in [
        "ThrottlingException",
        "KMSInternalException",
        "ExpiredTokenException",
    ] {
        assert!(errors.contains(&e), "{e} in {calls:?}");
    }
    assert_eq!(kms.ok_calls("GenerateDataKey"), 1, "{calls:?}");
    let w = create_wallet(&host, "ed25519");
    assert_eq!(sign(&host, &w).0, 200);
}

/// Destroyed stays destroyed against a host that kept the old blobs, once
/// the old version is retired in the key policy.
#[test]
fn a_destroyed_wallet_stays_destroyed_after_rotation_and_policy_retirement() {
    let dir = tempfile::tempdir().unwrap();
    let (data, kms) = world(dir.path());
    let host1 = host(&data, &kms);
    wait_ready(&host1, &kms);
    let doomed = create_wallet(&host1, "secp256k1");
    let kept = create_wallet(&host1, "p256");
    let db = format!("sqlite://{}", data.join("signet.db").display());
    let (old_blob, old_v1) = tokio_rt().block_on(async {
        let store = signet_host::store::Store::open(&db).await.unwrap();
        let row = store
            .wallet(doomed["id"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap();
        let keys = store.sealing_keys().await.unwrap();
        (
            row.sealed.unwrap(),
            keys[0].ciphertext_blob.clone().unwrap(),
        )
    });
    let id = doomed["id"].as_str().unwrap();
    let (s, v) = call(
        host1.url(),
        Some(&host1.admin_token()),
        "DELETE",
        &format!("/v1/wallets/{id}"),
        None,
    );
    assert_eq!(s, 200, "{v}");
    let report = rotate_and_wait(&host1);
    assert_eq!(report["phase"], "done", "{report}");
    assert_eq!(report["resealed"], 1, "only the live wallet: {report}");
    host1.stop();
    // The operator retires v1 in the key policy (Terraform).
    kms.put_policy(&render_policy(dir.path(), "retired", &signer_pcrs(), &[1]));

    // A compromised host puts back what it kept: version 1's blob and the
    // destroyed wallet's sealed key.
    tokio_rt().block_on(async {
        use sqlx::Connection as _;
        let mut conn = sqlx::SqliteConnection::connect(&db).await.unwrap();
        sqlx::query("UPDATE sealing_keys SET state = 'active', ciphertext_blob = ?1, retired_at = NULL WHERE version = 1")
            .bind(&old_v1)
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("UPDATE wallets SET destroyed_at = NULL, sealed = ?1 WHERE id = ?2")
            .bind(&old_blob)
            .bind(id)
            .execute(&mut conn)
            .await
            .unwrap();
    });
    let host2 = host(&data, &kms);
    // KMS refuses version 1 to everyone, even the attested signer.
    assert_version_1_denied(&kms);
    let (s, v) = sign(&host2, &doomed);
    assert_ne!(s, 200, "the destroyed key never signs again: {v}");
    let _ = kept;
}

/// Rollback of records, both halves (DESIGN "Rollback of records"): after
/// its owners tighten a wallet's record, a compromised host that puts the
/// older blob and record back is refused by the running signer
/// (`record_mismatch`); once the sealing key is rotated and the older
/// version retired in the key policy, the older blob never loads again, not
/// even by a restarted signer that remembers nothing.
#[test]
fn a_tightened_record_cannot_be_rolled_back_while_running_or_after_rotation_and_retirement() {
    use signet_authority::{OwnerKeyType, OwnerSecretKey};
    let dir = tempfile::tempdir().unwrap();
    let (data, kms) = world(dir.path());
    let host1 = host(&data, &kms);
    wait_ready(&host1, &kms);
    let admin = host1.admin_token();
    let ann = OwnerSecretKey::generate(OwnerKeyType::Secp256k1, &mut rand_core::OsRng);
    let (s, wallet) = call(
        host1.url(),
        Some(&admin),
        "POST",
        "/v1/wallets",
        Some(json!({
            "key_type": "secp256k1",
            "owners": [ann.owner("ann").unwrap().to_value()],
            "threshold": 1,
            "policy": {"allow": ["digest"]},
        })),
    );
    assert_eq!(s, 201, "{wallet}");
    let id = wallet["id"].as_str().unwrap().to_owned();
    let (s, v) = sign(&host1, &wallet);
    assert_eq!(s, 200, "the loose record signs digests alone: {v}");
    let db = format!("sqlite://{}", data.join("signet.db").display());
    let kept = || {
        tokio_rt().block_on(async {
            let store = signet_host::store::Store::open(&db).await.unwrap();
            let row = store.wallet(&id).await.unwrap().unwrap();
            let keys = store.sealing_keys().await.unwrap();
            (
                row.sealed.unwrap(),
                row.record.unwrap(),
                keys[0].ciphertext_blob.clone().unwrap(),
            )
        })
    };
    let (loose_blob, loose_record, old_v1) = kept();

    // The owner tightens it: every signature needs them now. (A signer
    // takes, in its first 600 s, only authorizations expiring after its
    // start + 600 s: not those made in its start's second.)
    std::thread::sleep(Duration::from_millis(1100));
    let (s, proposal) = call(
        host1.url(),
        Some(&admin),
        "POST",
        &format!("/v1/wallets/{id}/record"),
        Some(json!({"policy": {"allow": []}})),
    );
    assert_eq!(s, 202, "{proposal}");
    let text = proposal["authorization"]["text"].as_str().unwrap();
    let (s, v) = call(
        host1.url(),
        Some(&admin),
        "POST",
        &format!(
            "/v1/wallets/{id}/record/{}/approve",
            proposal["proposal_id"].as_str().unwrap()
        ),
        Some(json!({"owner_id": "ann", "signature": ann.sign(text)})),
    );
    assert_eq!((s, v["state"].as_str()), (200, Some("applied")), "{v}");
    let (s, v) = sign(&host1, &wallet);
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("owner_approval_required")),
        "{v}"
    );

    // First half: the host puts the loose blob and record back while the
    // signer runs; the signer has seen the newer record and refuses.
    let put_back = |blob: &[u8], record: &str| {
        tokio_rt().block_on(async {
            use sqlx::Connection as _;
            let mut conn = sqlx::SqliteConnection::connect(&db).await.unwrap();
            sqlx::query("UPDATE wallets SET sealed = ?1, record = ?2 WHERE id = ?3")
                .bind(blob)
                .bind(record)
                .bind(&id)
                .execute(&mut conn)
                .await
                .unwrap();
        });
    };
    let (tight_blob, tight_record, _) = kept();
    put_back(&loose_blob, &loose_record);
    // Past the host's wallet cache (2 s): the host now sends the loose
    // record; the signer holds the newer one (`owner_approval_required`) or,
    // loading the blob again, refuses the older (`record_mismatch`).
    let until = std::time::Instant::now() + Duration::from_secs(4);
    while std::time::Instant::now() < until {
        let (s, v) = sign(&host1, &wallet);
        assert!(s == 403 || s == 409, "{s} {v}");
        assert!(
            ["owner_approval_required", "record_mismatch"]
                .contains(&v["error"]["code"].as_str().unwrap_or_default()),
            "the running signer refuses the older record: {s} {v}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    put_back(&tight_blob, &tight_record);

    // Second half: rotate (the live blob is re-sealed under version 2),
    // retire version 1 in the key policy, and let a compromised host put
    // back version 1 and the loose blob for a restarted signer.
    let report = rotate_and_wait(&host1);
    assert_eq!(report["phase"], "done", "{report}");
    host1.stop();
    kms.put_policy(&render_policy(dir.path(), "retired", &signer_pcrs(), &[1]));
    tokio_rt().block_on(async {
        use sqlx::Connection as _;
        let mut conn = sqlx::SqliteConnection::connect(&db).await.unwrap();
        sqlx::query("UPDATE sealing_keys SET state = 'active', ciphertext_blob = ?1, retired_at = NULL WHERE version = 1")
            .bind(&old_v1)
            .execute(&mut conn)
            .await
            .unwrap();
    });
    put_back(&loose_blob, &loose_record);
    let host2 = host(&data, &kms);
    assert_version_1_denied(&kms);
    let (s, v) = sign(&host2, &wallet);
    assert_ne!(s, 200, "the loose record never signs alone again: {v}");
}

/// Waits until the fake KMS refused to decrypt sealing version 1
/// (`AccessDeniedException`): the key policy retired it, so not even the
/// attested signer gets it.
fn assert_version_1_denied(kms: &Kms) {
    assert!(
        eventually(Duration::from_secs(30), || {
            kms.calls().iter().any(|c| {
                c["operation"] == "Decrypt"
                    && c["encryption_context"]["signet-sealing-key-version"] == "1"
                    && c["error"] == "AccessDeniedException"
            })
        }),
        "{:?}",
        kms.calls()
    );
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The enclave image's own command line (what signet-init, the image's
/// PID 1, starts: its fixed arguments and the pinned key, region and
/// deployment of `/etc/signet/signer.conf`) with only what cannot run here
/// replaced: the NSM by the dev attestor, vsock by a unix socket (listen)
/// and TCP (the KMS proxy).
/// A running image signer: killed and reaped when dropped (a failing test
/// included), and, through `--exit-with-stdin`, gone with the test process.
struct ImageSigner(Child);

impl Drop for ImageSigner {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn image_signer(dir: &Path, kms: &Kms) -> (ImageSigner, PathBuf) {
    image_signer_of(&sibling("signet-enclave"), dir, kms)
}

/// [`image_signer`] running the signer executable `binary` (another image).
fn image_signer_of(binary: &Path, dir: &Path, kms: &Kms) -> (ImageSigner, PathBuf) {
    let config = signet_init::SignerConfig::parse(
        signet_init::SignerConfig {
            kms_key_id: key_arn(),
            kms_region: REGION.into(),
            deployment: "signet-dev".into(),
        }
        .to_file()
        .as_bytes(),
    )
    .unwrap();
    let entrypoint = config.signer_args();
    let socket = dir.join("image-signer.sock");
    let mut args: Vec<String> = Vec::new();
    let mut it = entrypoint.iter();
    while let Some(a) = it.next() {
        let value = |it: &mut std::slice::Iter<String>| it.next().unwrap().clone();
        match a.as_str() {
            "--listen" => {
                assert!(value(&mut it).starts_with("vsock://"));
                args.extend(["--listen".into(), format!("unix:{}", socket.display())]);
            }
            "--attestation" => {
                assert_eq!(value(&mut it), "nsm");
                args.extend([
                    "--attestation".into(),
                    "dev".into(),
                    "--dev-dir".into(),
                    dir.join("image-dev").display().to_string(),
                ]);
            }
            "--kms-proxy" => {
                assert_eq!(value(&mut it), "vsock://3:8000");
                args.extend(["--kms-proxy".into(), format!("tcp://{}", kms.https)]);
            }
            other => args.push(other.to_owned()),
        }
    }
    for required in [
        "--sealing",
        "kms",
        "--secrets",
        "host",
        "--backend",
        "software",
    ] {
        assert!(
            args.iter().any(|a| a == required),
            "{required} in {entrypoint:?}"
        );
    }
    let log = dir.join("image-signer.log");
    let child = ImageSigner(
        Command::new(binary)
            .args(&args)
            .arg("--kms-ca")
            .arg(kms.dir.join("ca.pem"))
            .arg("--exit-with-stdin")
            .env_clear()
            .env("SIGNET_LOG", "info")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .unwrap(),
            )
            .spawn()
            .unwrap(),
    );
    assert!(
        eventually(START_TIMEOUT, || std::os::unix::net::UnixStream::connect(
            &socket
        )
        .is_ok()),
        "the image's signer did not listen: {}",
        log_text(&log)
    );
    (child, socket)
}

/// The fake KMS with the module's policy and the image's signer, whose dev
/// CA (in `image-dev/attestation`) the KMS trusts: (root, KMS, signer, socket).
fn image_world(dir: &Path) -> (PathBuf, Kms, ImageSigner, PathBuf) {
    let root = ca_root(&dir.join("image-dev/attestation"), &dir.join("root.pem"));
    let policy = render_policy(dir, "policy", &signer_pcrs(), &[]);
    let kms = Kms::start(dir, &root, &policy);
    let (signer, socket) = image_signer(dir, &kms);
    (root, kms, signer, socket)
}

fn serve_env(
    dir: &Path,
    socket: &Path,
    root: &Path,
    pcrs: &BTreeMap<u8, Vec<u8>>,
) -> Vec<(&'static str, String)> {
    let set: serde_json::Map<String, Value> = pcrs
        .iter()
        .map(|(i, v)| (i.to_string(), Value::String(hex::encode(v))))
        .collect();
    let policy = common::write_policy(dir, root, &set);
    vec![
        (
            "SIGNET_DATABASE_URL",
            format!("sqlite://{}", dir.join("serve.db").display()),
        ),
        ("ENCLAVE_ADDR", format!("unix:{}", socket.display())),
        ("INTERNAL_API_KEY", common::INTERNAL_API_KEY.to_owned()),
        (
            "TICKET_SIGNING_SECRET",
            common::SIGNER_TICKET_SECRET.to_owned(),
        ),
        (
            "SESSION_SIGNING_SECRET",
            "c0d1e2f3a4b5968778695a4b3c2d1e0f99aabbcc".to_owned(),
        ),
        ("ATTESTATION_POLICY", policy.display().to_string()),
        ("SIGNET_SEALING", "kms".to_owned()),
        ("KMS_KEY_ID", key_arn()),
        ("AWS_REGION", REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID", AKID.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", SECRET.to_owned()),
        ("SIGNET_LOG", "warn".to_owned()),
    ]
}

#[test]
fn the_enclave_images_command_line_boots_provisions_unseals_and_signs() {
    let dir = tempfile::tempdir().unwrap();
    let (root, kms, signer, socket) = image_world(dir.path());
    let env = serve_env(dir.path(), &socket, &root, &signer_pcrs());
    let db = env[0].1.clone();
    let host = common::ServeHost::start(dir.path(), &env);
    let token = common::bootstrap_operator(&db);
    let mut last = (0, Value::Null);
    assert!(
        eventually(START_TIMEOUT, || {
            last = ready(host.url());
            last.0 == 200
        }),
        "{last:?}: {}\n{}",
        log_text(&dir.path().join("serve.log")),
        log_text(&dir.path().join("image-signer.log"))
    );
    let signer_log = log_text(&dir.path().join("image-signer.log"));
    assert!(
        signer_log.contains("runtime secrets provisioned by the host"),
        "{signer_log}"
    );
    assert!(
        !signer_log.contains(common::INTERNAL_API_KEY),
        "secrets are never logged"
    );
    let (s, w) = call(
        host.url(),
        Some(&token),
        "POST",
        "/v1/wallets",
        Some(json!({"key_type": "secp256k1"})),
    );
    assert_eq!(s, 201, "{w}");
    let sign_once = || {
        call(
            host.url(),
            Some(&token),
            "POST",
            &format!("/v1/wallets/{}/sign", w["id"].as_str().unwrap()),
            Some(json!({"digest": "44".repeat(32)})),
        )
    };
    assert_eq!(sign_once().0, 200);
    // The image signer restarts (an enclave restart): the host provisions
    // it again and it unseals the stored version.
    drop(signer);
    let (signer, _) = image_signer(dir.path(), &kms);
    assert!(eventually(START_TIMEOUT, || sign_once().0 == 200));
    assert_eq!(kms.ok_calls("GenerateDataKey"), 1);
    assert_eq!(kms.ok_calls("Decrypt"), 2, "{:?}", kms.calls());
    drop(signer);
}

#[test]
fn a_signer_whose_attestation_fails_the_host_policy_gets_no_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let (root, kms, signer, socket) = image_world(dir.path());
    let mut expected = signer_pcrs();
    expected.insert(0, vec![0x77; 48]);
    let host = common::ServeHost::start(
        dir.path(),
        &serve_env(dir.path(), &socket, &root, &expected),
    );
    let mut last = (0, Value::Null);
    assert!(
        eventually(Duration::from_secs(20), || {
            last = ready(host.url());
            last.0 == 503 && last.1.to_string().contains("attestation refused")
        }),
        "{last:?}"
    );
    let signer_log = log_text(&dir.path().join("image-signer.log"));
    assert!(!signer_log.contains("provisioned"), "{signer_log}");
    assert!(
        kms.calls().is_empty(),
        "no KMS call without secrets: {:?}",
        kms.calls()
    );
    drop(signer);
}

/// `signet-host dev --sealing kms` alone: it starts the project's KMS itself
/// (with a policy for the dev signer's PCRs) and runs the production path.
#[test]
fn dev_with_kms_sealing_needs_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("host");
    let start = || DevHost::command(&data).args(["--sealing", "kms"]).start();
    let host = start();
    let mut last = (0, Value::Null);
    assert!(
        eventually(START_TIMEOUT, || {
            last = ready(host.url());
            last.0 == 200
        }),
        "{last:?}\n{}",
        log_text(host.log_path())
    );
    let w = create_wallet(&host, "secp256k1");
    assert_eq!(sign(&host, &w).0, 200);
    assert_eq!(status(&host)["sealing"]["current"], 1);
    assert!(
        !data.join("dev").join("sealing-key-v1").exists(),
        "no dev key file"
    );
    host.stop();
    let host = start();
    assert!(eventually(START_TIMEOUT, || sign(&host, &w).0 == 200));
}

/// A rotation that stops half-way (here: a stored blob it cannot read)
/// keeps its phase and error; run again, it resumes the same version.
#[test]
fn an_interrupted_rotation_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let (data, kms) = world(dir.path());
    let host = host(&data, &kms);
    wait_ready(&host, &kms);
    let wallets: Vec<Value> = (0..4).map(|_| create_wallet(&host, "p256")).collect();
    let db = format!("sqlite://{}", data.join("signet.db").display());
    let last_id = wallets
        .iter()
        .map(|w| w["id"].as_str().unwrap().to_owned())
        .max()
        .unwrap();
    let run_sql = |sql: &str, blob: Option<Vec<u8>>| {
        tokio_rt().block_on(async {
            use sqlx::Connection as _;
            let mut conn = sqlx::SqliteConnection::connect(&db).await.unwrap();
            let q = sqlx::query(sql);
            let q = match &blob {
                Some(b) => q.bind(b.clone()),
                None => q,
            };
            q.bind(&last_id).execute(&mut conn).await.unwrap();
        })
    };
    let original: Vec<u8> = tokio_rt().block_on(async {
        let store = signet_host::store::Store::open(&db).await.unwrap();
        store
            .wallet(&last_id)
            .await
            .unwrap()
            .unwrap()
            .sealed
            .unwrap()
    });
    run_sql(
        "UPDATE wallets SET sealed = ?1 WHERE id = ?2",
        Some(b"not a sealed key".to_vec()),
    );
    let rotation = &rotate_and_wait(&host);
    assert_eq!(rotation["to_version"], 2, "{rotation}");
    assert_eq!(rotation["phase"], "resealing", "{rotation}");
    assert!(
        rotation["error"].as_str().unwrap().contains(&last_id),
        "{rotation}"
    );
    // Fixed, and run again: the same version 2, no new KMS key.
    run_sql(
        "UPDATE wallets SET sealed = ?1 WHERE id = ?2",
        Some(original),
    );
    let generated = kms.ok_calls("GenerateDataKey");
    let report = rotate_and_wait(&host);
    assert_eq!(report["phase"], "done", "{report}");
    assert_eq!(report["to_version"], 2, "{report}");
    assert_eq!(report["verified"], 4, "{report}");
    assert_eq!(
        kms.ok_calls("GenerateDataKey"),
        generated,
        "resumed, not restarted"
    );
    for w in &wallets {
        assert_eq!(sign(&host, w).0, 200);
    }
    // A finished rotation can start anew; while it runs (its grace), a
    // second one is refused.
    let (s, v) = rotate(&host, false);
    assert_eq!(s, 202, "{v}");
    let (s, v) = rotate(&host, false);
    assert_eq!((s, common::code(&v)), (403, "forbidden"), "{v}");
    let mut rotation = Value::Null;
    assert!(
        eventually(Duration::from_secs(60), || {
            rotation = status(&host)["sealing"]["rotation"].clone();
            rotation["phase"] == "done" && rotation["to_version"] == 3
        }),
        "{rotation}"
    );
}

/// Two `serve` replicas on one PostgreSQL database, each with its own image
/// signer: one of them creates the first version, both hold the same key,
/// and after a rotation on one, the other signs the re-sealed wallets at
/// once (it brings its signer to the new version when it meets a blob under
/// it) and its new wallets are sealed under the new version.
#[test]
fn two_replicas_on_postgres_share_the_sealing_key_through_a_rotation() {
    let Some(db) = common::fresh_postgres_db("kms_replicas") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a_dir).unwrap();
    std::fs::create_dir_all(b_dir.join("image-dev")).unwrap();
    let root = ca_root(
        &a_dir.join("image-dev/attestation"),
        &dir.path().join("root.pem"),
    );
    // Both signers run the same image with the same (dev) attestation CA.
    assert!(Command::new("cp")
        .arg("-r")
        .arg(a_dir.join("image-dev/attestation"))
        .arg(b_dir.join("image-dev/attestation"))
        .status()
        .unwrap()
        .success());
    let policy = render_policy(dir.path(), "policy", &signer_pcrs(), &[]);
    let kms = Kms::start(dir.path(), &root, &policy);
    let (signer_a, socket_a) = image_signer(&a_dir, &kms);
    let (signer_b, socket_b) = image_signer(&b_dir, &kms);
    let env = |d: &Path, socket: &Path| {
        let mut env = serve_env(d, socket, &root, &signer_pcrs());
        env.retain(|(k, _)| *k != "SIGNET_DATABASE_URL");
        env.push(("SIGNET_DATABASE_URL", db.clone()));
        env.push(("SIGNET_ROTATION_GRACE_SECONDS", "1".to_owned()));
        env
    };
    let a = common::ServeHost::start(&a_dir, &env(&a_dir, &socket_a));
    let b = common::ServeHost::start(&b_dir, &env(&b_dir, &socket_b));
    let token = common::bootstrap_operator(&db);
    for host in [&a, &b] {
        let mut last = (0, Value::Null);
        assert!(
            eventually(START_TIMEOUT, || {
                last = ready(host.url());
                last.0 == 200
            }),
            "{last:?}"
        );
    }
    assert_eq!(
        kms.ok_calls("GenerateDataKey"),
        1,
        "one replica made version 1: {:?}",
        kms.calls()
    );
    let wallet = |url: &str| {
        let (s, w) = call(
            url,
            Some(&token),
            "POST",
            "/v1/wallets",
            Some(json!({"key_type": "secp256k1"})),
        );
        assert_eq!(s, 201, "{w}");
        w
    };
    let sign_on = |url: &str, w: &Value| {
        call(
            url,
            Some(&token),
            "POST",
            &format!("/v1/wallets/{}/sign", w["id"].as_str().unwrap()),
            Some(json!({"digest": "55".repeat(32)})),
        )
        .0
    };
    let from_a = wallet(a.url());
    assert_eq!(
        sign_on(b.url(), &from_a),
        200,
        "one sealing key for both replicas"
    );
    // Never loaded in B's signer: after the rotation B gets only its
    // version-2 blob.
    let unseen_by_b = wallet(a.url());

    let (s, v) = call(
        a.url(),
        Some(&token),
        "POST",
        "/v1/admin/sealing/rotate",
        Some(json!({})),
    );
    assert_eq!(s, 202, "{v}");
    let mut rotation = Value::Null;
    assert!(
        eventually(Duration::from_secs(60), || {
            let (_, st) = call(a.url(), Some(&token), "GET", "/v1/admin/status", None);
            rotation = st["sealing"]["rotation"].clone();
            rotation["phase"] == "done"
        }),
        "{rotation}"
    );
    assert_eq!(rotation["to_version"], 2);
    // B has not synced yet (30 s): it meets a version-2 blob and catches up.
    assert_eq!(sign_on(b.url(), &unseen_by_b), 200);
    assert_eq!(sign_on(b.url(), &from_a), 200);
    let from_b = wallet(b.url());
    assert_eq!(sign_on(a.url(), &from_b), 200);
    let (_, st) = call(b.url(), Some(&token), "GET", "/v1/admin/status", None);
    assert_eq!(st["sealing"]["current"], 2, "{}", st["sealing"]);
    drop((signer_a, signer_b));
}

/// The runbook's upgrade and rollback (section 7) while serving: two `serve`
/// replicas on PostgreSQL, each with its own image signer, roll from image A
/// to image B (another build: its own PCR0) one replica at a time and back to
/// A. The KMS key policy and the hosts' `ATTESTATION_POLICY` list both
/// images, so each new signer gets the sealing key and its host accepts it:
/// no lockout, and a client signing all along through the replicas in
/// service (a load balancer routes on `/ready`, and each replica is taken
/// out of it before its signer is replaced) is never refused. A signer on an
/// image that neither lists stays sealed (`a_policy_for_another_image_…`).
#[test]
fn two_replicas_roll_from_image_a_to_b_and_back_without_a_refused_signature() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    let Some(db) = common::fresh_postgres_db("kms_roll") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Image B: the same signer with 16 bytes appended, so another PCR0.
    let image_a = sibling("signet-enclave");
    let image_b = dir.path().join("image-b/signet-enclave");
    std::fs::create_dir_all(image_b.parent().unwrap()).unwrap();
    let mut bytes = std::fs::read(&image_a).unwrap();
    bytes.extend_from_slice(b"image B, build 2");
    std::fs::write(&image_b, &bytes).unwrap();
    std::fs::set_permissions(
        &image_b,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let (pcrs_a, pcrs_b) = (signer_pcrs(), signet_attestation::dev::dev_pcrs(&bytes));
    assert_ne!(pcrs_a[&0], pcrs_b[&0], "two images");

    let dirs: Vec<PathBuf> = ["r0", "r1"].iter().map(|r| dir.path().join(r)).collect();
    for d in &dirs {
        std::fs::create_dir_all(d.join("image-dev")).unwrap();
    }
    // Every signer has the same (dev) attestation CA, as every Nitro
    // enclave has AWS's.
    let root = ca_root(
        &dirs[0].join("image-dev/attestation"),
        &dir.path().join("root.pem"),
    );
    assert!(Command::new("cp")
        .arg("-r")
        .arg(dirs[0].join("image-dev/attestation"))
        .arg(dirs[1].join("image-dev/attestation"))
        .status()
        .unwrap()
        .success());
    // Step 2 of the runbook: both images accepted, still running A.
    let key_policy = render_policy_sets(dir.path(), "policy", &[&pcrs_a, &pcrs_b], &[]);
    let kms = Kms::start(dir.path(), &root, &key_policy);
    let hex_set = |pcrs: &BTreeMap<u8, Vec<u8>>| -> serde_json::Map<String, Value> {
        pcrs.iter()
            .map(|(i, v)| (i.to_string(), Value::String(hex::encode(v))))
            .collect()
    };
    let mut signers: Vec<Option<ImageSigner>> = Vec::new();
    let mut replicas = Vec::new();
    for d in &dirs {
        let (signer, socket) = image_signer_of(&image_a, d, &kms);
        signers.push(Some(signer));
        let mut env = serve_env(d, &socket, &root, &pcrs_a);
        let host_policy = d.join("policy-a-and-b.json");
        std::fs::write(
            &host_policy,
            json!({"root": root, "pcr_sets": [hex_set(&pcrs_a), hex_set(&pcrs_b)]}).to_string(),
        )
        .unwrap();
        env.retain(|(k, _)| *k != "SIGNET_DATABASE_URL" && *k != "ATTESTATION_POLICY");
        env.push(("SIGNET_DATABASE_URL", db.clone()));
        env.push(("ATTESTATION_POLICY", host_policy.display().to_string()));
        // The client signs every 5 ms on four wallets, past the default 120
        // signatures a minute per wallet: this test is about the roll.
        env.push(("RATE_LIMIT_PER_IDENTITY_SIGN", "0".to_owned()));
        env.push(("RATE_LIMIT_PER_USER", "0".to_owned()));
        replicas.push(common::ServeHost::start(d, &env));
    }
    let urls: Vec<String> = replicas.iter().map(|r| r.url().to_owned()).collect();
    let token = common::bootstrap_operator(&db);
    let until_ready = |url: &str| {
        let mut last = (0, Value::Null);
        assert!(
            eventually(START_TIMEOUT, || {
                last = ready(url);
                last.0 == 200
            }),
            "{url} not ready: {last:?}"
        );
    };
    for url in &urls {
        until_ready(url);
    }
    let wallets: Vec<Value> = (0..4)
        .map(|i| {
            let (s, w) = call(
                &urls[i % 2],
                Some(&token),
                "POST",
                "/v1/wallets",
                Some(json!({"key_type": if i % 2 == 0 { "secp256k1" } else { "p256" }})),
            );
            assert_eq!(s, 201, "{w}");
            w
        })
        .collect();

    // The client: signs in a loop through the replicas in service (the load
    // balancer's view), round robin, and keeps every answer that is not 200.
    let in_service = Arc::new([AtomicBool::new(true), AtomicBool::new(true)]);
    let stop = Arc::new(AtomicBool::new(false));
    let signed = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(Mutex::new(Vec::new()));
    let client = {
        let (in_service, stop, signed, refused) = (
            Arc::clone(&in_service),
            Arc::clone(&stop),
            Arc::clone(&signed),
            Arc::clone(&refused),
        );
        let (urls, token, wallets) = (urls.clone(), token.clone(), wallets.clone());
        std::thread::spawn(move || {
            let mut n = 0usize;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let r = n % 2;
                let r = if in_service[r].load(Ordering::SeqCst) {
                    r
                } else {
                    1 - r
                };
                let w = &wallets[n % wallets.len()];
                let (s, v) = call(
                    &urls[r],
                    Some(&token),
                    "POST",
                    &format!("/v1/wallets/{}/sign", w["id"].as_str().unwrap()),
                    Some(json!({"digest": format!("{n:064x}")})),
                );
                if s == 200 {
                    signed.fetch_add(1, Ordering::SeqCst);
                } else {
                    refused.lock().unwrap().push((r, s, v));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    // Replaces replica `r`'s signer with one running `image`: out of
    // service, the old signer stopped, the new one started on the same
    // socket, back in service once `/ready` says the host attested it and
    // holds the sealing key.
    let mut roll = |r: usize, image: &Path, pcrs: &BTreeMap<u8, Vec<u8>>| {
        in_service[r].store(false, Ordering::SeqCst);
        // Requests already sent to it finish first (the client is sequential).
        std::thread::sleep(Duration::from_millis(200));
        drop(signers[r].take());
        let (signer, _) = image_signer_of(image, &dirs[r], &kms);
        signers[r] = Some(signer);
        until_ready(&urls[r]);
        let (s, doc) = call(
            &urls[r],
            Some(&token),
            "GET",
            "/v1/attestation?nonce=00112233445566778899aabbccddeeff",
            None,
        );
        assert_eq!(s, 200, "{doc}");
        // The host verified it against its policy; which image is it?
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(doc["attestation"]["document"].as_str().unwrap())
            .unwrap();
        let running = signet_attestation::inspect_unverified(&bytes).unwrap();
        assert_eq!(running.pcrs[&0], pcrs[&0], "replica {r} runs the new image");
        in_service[r].store(true, Ordering::SeqCst);
        // A while in service on the new image.
        std::thread::sleep(Duration::from_millis(500));
    };
    let decrypts = kms.ok_calls("Decrypt");
    roll(0, &image_b, &pcrs_b);
    roll(1, &image_b, &pcrs_b);
    roll(0, &image_a, &pcrs_a);
    roll(1, &image_a, &pcrs_a);
    stop.store(true, Ordering::SeqCst);
    client.join().unwrap();
    let refused = refused.lock().unwrap();
    assert!(refused.is_empty(), "refused while rolling: {refused:?}");
    let signed = signed.load(Ordering::SeqCst);
    println!("signed {signed} times through the roll A -> B -> A, none refused");
    assert!(signed > 20, "the client signed all along");
    assert!(
        kms.ok_calls("Decrypt") >= decrypts + 4,
        "each new signer got the sealing key from KMS: {:?}",
        kms.calls()
    );
    // Every wallet still signs on both replicas, back on image A.
    for url in &urls {
        for w in &wallets {
            let (s, v) = call(
                url,
                Some(&token),
                "POST",
                &format!("/v1/wallets/{}/sign", w["id"].as_str().unwrap()),
                Some(json!({"digest": "77".repeat(32)})),
            );
            assert_eq!(s, 200, "{v}");
        }
    }
}

// ---------------------------------------------------------------------------
// Backup-aware retirement (issue 26): a sealing key version that a recorded
// backup within SIGNET_BACKUP_RETENTION_DAYS may need is held, not retired.

/// `signet-host admin ARGS` with exactly `env`.
fn admin_with(env: &[(&'static str, String)], args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(common::host_binary());
    cmd.arg("admin").args(args).env_clear();
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn with_database(env: &[(&'static str, String)], db: &str) -> Vec<(&'static str, String)> {
    let mut env: Vec<_> = env
        .iter()
        .filter(|(k, _)| *k != "SIGNET_DATABASE_URL")
        .cloned()
        .collect();
    env.push(("SIGNET_DATABASE_URL", db.to_owned()));
    env
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A `serve` replica with KMS sealing on `db` and the image's signer, three
/// wallets sealed under version 1, and a backup of them (`admin backup`)
/// taken before any rotation.
struct BackedUp {
    dir: tempfile::TempDir,
    kms: Kms,
    signer: Option<ImageSigner>,
    env: Vec<(&'static str, String)>,
    host: Option<common::ServeHost>,
    token: String,
    wallets: Vec<Value>,
    /// The backup file and its manifest.
    file: PathBuf,
    manifest: Value,
    /// The test's clock around `admin backup`.
    taken_between: (u64, u64),
}

impl BackedUp {
    fn start(db: &str, extra: &[(&'static str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (root, kms, signer, socket) = image_world(dir.path());
        let mut env = with_database(&serve_env(dir.path(), &socket, &root, &signer_pcrs()), db);
        env.push(("SIGNET_ROTATION_GRACE_SECONDS", "1".to_owned()));
        for (k, v) in extra {
            env.push((k, (*v).to_owned()));
        }
        let host_dir = dir.path().join("host");
        std::fs::create_dir_all(&host_dir).unwrap();
        let host = common::ServeHost::start(&host_dir, &env);
        let token = common::bootstrap_operator(db);
        let mut last = (0, Value::Null);
        assert!(
            eventually(START_TIMEOUT, || {
                last = ready(host.url());
                last.0 == 200
            }),
            "{last:?}\n{}",
            log_text(host.log_path())
        );
        let wallets: Vec<Value> = ["secp256k1", "p256", "ed25519"]
            .iter()
            .map(|kt| common::new_wallet(host.url(), &token, kt))
            .collect();
        let file = dir.path().join("before-rotation.backup");
        let before = now_ms();
        let out = admin_with(&env, &["backup", "--out", file.to_str().unwrap()]);
        let after = now_ms();
        assert!(out.status.success(), "{}", output_text(&out));
        let manifest: Value = serde_json::from_slice(
            &std::fs::read(dir.path().join("before-rotation.backup.manifest.json")).unwrap(),
        )
        .unwrap();
        Self {
            dir,
            kms,
            signer: Some(signer),
            env,
            host: Some(host),
            token,
            wallets,
            file,
            manifest,
            taken_between: (before, after),
        }
    }

    fn host(&self) -> &common::ServeHost {
        self.host.as_ref().unwrap()
    }

    fn status(&self) -> Value {
        let (s, v) = call(
            self.host().url(),
            Some(&self.token),
            "GET",
            "/v1/admin/status",
            None,
        );
        assert_eq!(s, 200, "{v}");
        v["sealing"].clone()
    }

    /// A rotation over HTTP, waited for; the sealing status after it.
    fn rotate(&self) -> Value {
        let (s, v) = call(
            self.host().url(),
            Some(&self.token),
            "POST",
            "/v1/admin/sealing/rotate",
            Some(json!({})),
        );
        assert_eq!(s, 202, "{v}");
        let mut sealing = Value::Null;
        assert!(
            eventually(Duration::from_secs(60), || {
                sealing = self.status();
                sealing["rotation"]["phase"] == "done" || !sealing["rotation"]["error"].is_null()
            }),
            "{sealing}"
        );
        assert_eq!(sealing["rotation"]["phase"], "done", "{sealing}");
        sealing
    }

    fn sign(&self, wallet: &Value) -> (u16, Value) {
        let body = if wallet["key_type"] == "ed25519" {
            json!({"message": "c2lnbmV0", "encoding": "raw"})
        } else {
            json!({"digest": "66".repeat(32)})
        };
        call(
            self.host().url(),
            Some(&self.token),
            "POST",
            &format!("/v1/wallets/{}/sign", wallet["id"].as_str().unwrap()),
            Some(body),
        )
    }

    fn actions(&self) -> Vec<String> {
        common::fetch_audit(self.host().url(), &self.token)
            .into_iter()
            .map(|e| e.action)
            .collect()
    }

    /// The runbook's step after a rotation: the versions `/v1/admin/status`
    /// lists as `retired` go into the module's `retired_sealing_key_versions`
    /// (the key policy then denies them to everyone).
    fn retire_in_policy_what_status_says(&self, sealing: &Value) -> Vec<u32> {
        let retired: Vec<u32> = sealing["versions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["state"] == "retired")
            .map(|v| u32::try_from(v["version"].as_u64().unwrap()).unwrap())
            .collect();
        self.kms.put_policy(&render_policy(
            self.dir.path(),
            "after-rotation",
            &signer_pcrs(),
            &retired,
        ));
        retired
    }

    /// The data is lost: the replica and its enclave are gone. A new
    /// enclave (the image's signer, fresh: it holds no sealing key) and
    /// `admin restore --verify` of the backup into the empty database
    /// `fresh`.
    fn restore_into(&mut self, fresh: &str) -> std::process::Output {
        drop(self.host.take());
        drop(self.signer.take());
        let (signer, _) = image_signer(self.dir.path(), &self.kms);
        self.signer = Some(signer);
        admin_with(
            &with_database(&self.env, fresh),
            &["restore", "--from", self.file.to_str().unwrap(), "--verify"],
        )
    }
}

/// (a) A backup taken before a rotation keeps the old version held (the
/// status and the audit log say until when and for which backup); the
/// operator retires in the key policy only what the status lists as
/// retired, and the backup restores with `--verify` into a fresh database,
/// every wallet unsealed by a new enclave.
fn a_backup_before_a_rotation_holds_the_old_version_and_restores(db: &str, fresh: &str) {
    let mut world = BackedUp::start(db, &[]);
    let sealing = world.rotate();
    assert_eq!(sealing["current"], 2, "{sealing}");
    let v1 = &sealing["versions"][0];
    assert_eq!(v1["version"], 1, "{sealing}");
    assert_eq!(v1["state"], "held", "{sealing}");
    assert_eq!(v1["held_by"]["sha256"], world.manifest["sha256"], "{v1}");
    let taken_at = v1["held_by"]["taken_at"].as_u64().unwrap();
    let (before, after) = world.taken_between;
    assert!(
        (before..=after).contains(&taken_at),
        "{taken_at} in {before}..={after}"
    );
    assert_eq!(
        v1["retire_after"].as_u64().unwrap(),
        taken_at + 14 * 86_400_000,
        "the default retention, 14 days: {v1}"
    );
    assert!(v1["superseded_at"].as_u64().unwrap() > after, "{v1}");
    assert_eq!(sealing["versions"][1]["state"], "active", "{sealing}");
    assert!(sealing["versions"][1]["held_by"].is_null(), "{sealing}");
    let actions = world.actions();
    assert!(
        actions.iter().any(|a| a == "sealing_key.hold"),
        "{actions:?}"
    );
    assert!(
        !actions.iter().any(|a| a == "sealing_key.retire"),
        "{actions:?}"
    );
    for w in &world.wallets {
        let (s, v) = world.sign(w);
        assert_eq!(s, 200, "re-sealed under version 2 and signing: {v}");
    }
    assert_eq!(
        world.retire_in_policy_what_status_says(&sealing),
        Vec::<u32>::new()
    );

    let out = world.restore_into(fresh);
    let text = output_text(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("the signer unsealed all 3 sealed wallets"),
        "{text}"
    );
}

#[test]
fn a_backup_before_a_rotation_holds_the_old_version_and_restores_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("signet.db").display());
    let fresh = format!("sqlite://{}", dir.path().join("restored.db").display());
    a_backup_before_a_rotation_holds_the_old_version_and_restores(&db, &fresh);
}

#[test]
fn a_backup_before_a_rotation_holds_the_old_version_and_restores_on_postgres() {
    let (Some(db), Some(fresh)) = (
        common::fresh_postgres_db("held"),
        common::fresh_postgres_db("held_restored"),
    ) else {
        return;
    };
    a_backup_before_a_rotation_holds_the_old_version_and_restores(&db, &fresh);
}

/// (b) With SIGNET_BACKUP_RETENTION_DAYS=0 the old version is retired at
/// once, as before backups were considered, and the backup taken before the
/// rotation is stranded once the key policy retires that version: the new
/// enclave cannot unseal its wallets (what (a) prevents).
#[test]
fn with_zero_backup_retention_the_old_version_is_retired_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("signet.db").display());
    let fresh = format!("sqlite://{}", dir.path().join("restored.db").display());
    let mut world = BackedUp::start(&db, &[("SIGNET_BACKUP_RETENTION_DAYS", "0")]);
    let sealing = world.rotate();
    let v1 = &sealing["versions"][0];
    assert_eq!(v1["state"], "retired", "{sealing}");
    assert!(
        v1["held_by"].is_null() && v1["retire_after"].is_null(),
        "{v1}"
    );
    let actions = world.actions();
    assert!(
        actions.iter().any(|a| a == "sealing_key.retire"),
        "{actions:?}"
    );
    assert!(
        !actions.iter().any(|a| a == "sealing_key.hold"),
        "{actions:?}"
    );
    assert_eq!(world.retire_in_policy_what_status_says(&sealing), [1]);

    let out = world.restore_into(&fresh);
    let text = output_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("sealing key unavailable"), "{text}");
    assert!(
        world.kms.calls().iter().any(|c| {
            c["operation"] == "Decrypt"
                && c["encryption_context"]["signet-sealing-key-version"] == "1"
                && c["error"] == "AccessDeniedException"
        }),
        "KMS refused version 1 to the new enclave: {:?}",
        world.kms.calls()
    );
}

/// The hosts' periodic pass retires a held version once the backup that
/// holds it leaves the window (here: its record and the version made 15
/// days older, as if that time had passed), through the path a rotation
/// retires by: the database, the signer, one `sealing_key.retire` event.
#[test]
fn a_held_version_is_retired_by_the_hosts_once_its_backup_leaves_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("signet.db").display());
    let mut world = BackedUp::start(&db, &[]);
    let sealing = world.rotate();
    assert_eq!(sealing["versions"][0]["state"], "held", "{sealing}");

    drop(world.host.take());
    let fifteen_days = 15 * 86_400_000i64;
    tokio_rt().block_on(async {
        use sqlx::Connection as _;
        let mut conn = sqlx::SqliteConnection::connect(&db).await.unwrap();
        sqlx::query("UPDATE backups SET taken_at = taken_at - ?1")
            .bind(fifteen_days)
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("UPDATE sealing_keys SET created_at = created_at - ?1 WHERE version = 1")
            .bind(fifteen_days)
            .execute(&mut conn)
            .await
            .unwrap();
    });
    // The pass runs at start, then every minute.
    let host_dir = world.dir.path().join("host");
    world.host = Some(common::ServeHost::start(&host_dir, &world.env));
    let mut sealing = Value::Null;
    assert!(
        eventually(Duration::from_secs(30), || {
            sealing = world.status();
            sealing["versions"][0]["state"] == "retired"
        }),
        "{sealing}"
    );
    assert!(sealing["versions"][0]["held_by"].is_null(), "{sealing}");
    // The event follows the database's change (then the signer's).
    let mut actions = Vec::new();
    assert!(
        eventually(Duration::from_secs(30), || {
            actions = world.actions();
            actions.iter().any(|a| a == "sealing_key.retire")
        }),
        "{actions:?}"
    );
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "sealing_key.retire")
            .count(),
        1,
        "{actions:?}"
    );
    assert!(
        eventually(Duration::from_secs(30), || log_text(
            &world.dir.path().join("image-signer.log")
        )
        .contains("sealing key version retired")),
        "the signer forgot it"
    );
    for w in &world.wallets {
        let (s, v) = world.sign(w);
        assert_eq!(s, 200, "the wallets are under version 2: {v}");
    }
}

//! The PKCS#11 backend on a real SoftHSM2 token, through the real signer:
//! the same conformance as the software backend, plus proof that keys are
//! sensitive and never extractable and that the PIN is never logged. Then
//! wallets with owners: each key's record hash is a record object on the
//! token, and a host (this process, holding every host secret) gets only
//! the record that object names admitted, even after a restart of the
//! signer and even when another signer on the token changed it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::softhsm::{destroy_key_pair, replace_key_pair, SoftHsm, TOKEN_LABEL, USER_PIN};
use common::{
    generate, now_s, record, ticket, verify_independently, Checked, SignerProcess, INTERNAL_KEY,
    TICKET_SECRET,
};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use rand_core::OsRng;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use signet_authority::eth::eip191_digest;
use signet_authority::{
    payload_sha256, Approval, Authorization, OwnerKeyType, OwnerSecretKey, Policy, Record,
    Request as AuthzRequest,
};
use signet_proto::client::{ClientError, SignerClient};
use signet_proto::message::{GeneratedKey, SignRequest, SignatureInfo, UpdateRecordRequest};
use signet_proto::{ErrorCode, KeyType, Request, Response};

fn start(dir: &std::path::Path, hsm: &SoftHsm) -> SignerProcess {
    start_with(dir, hsm, &[])
}

fn start_with(dir: &std::path::Path, hsm: &SoftHsm, extra: &[&str]) -> SignerProcess {
    let env: Vec<(String, String)> = hsm
        .env()
        .into_iter()
        .chain([
            ("INTERNAL_API_KEY".into(), INTERNAL_KEY.into()),
            ("TICKET_SIGNING_SECRET".into(), TICKET_SECRET.into()),
        ])
        .collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let args = hsm.args();
    let args: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .chain(extra.iter().copied())
        .collect();
    SignerProcess::start_with(dir, &env, &args)
}

fn request(key_id: &str, kt: KeyType, payload: &[u8]) -> SignRequest {
    let digest = Sha256::digest(payload).to_vec();
    SignRequest {
        key_id: key_id.into(),
        ticket: ticket(key_id, &digest, kt),
        message: (kt == KeyType::Ed25519).then(|| payload.to_vec()),
        digest,
        attest: false,
        sealed: None,
        record: None,
        content: None,
        approvals: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn conformance_on_softhsm() {
    let Some(hsm) = SoftHsm::new() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut signer = start(dir.path(), &hsm);
    let (client, hello) = signer.client().await;
    assert_eq!(hello.info.backend, "pkcs11");
    assert_eq!(hello.info.sealing_key_version, None);

    let mut keys: Vec<(String, KeyType, GeneratedKey)> = Vec::new();
    for (i, kt) in KeyType::ALL.into_iter().enumerate() {
        let id = format!("hsm-{i}");
        let g = match client
            .call(Request::Generate {
                key_id: id.clone(),
                key_type: kt,
                settings: None,
            })
            .await
            .unwrap()
        {
            Response::Generated(g) => g,
            r => panic!("{r:?}"),
        };
        assert!(g.sealed.is_none(), "HSM keys have no sealed blob");
        assert_eq!(
            g.key.public_key.len(),
            if kt == KeyType::Ed25519 { 32 } else { 65 }
        );
        // Attestation still binds the HSM key's public key.
        let doc = signet_attestation::inspect_unverified(g.attestation.as_ref().unwrap()).unwrap();
        assert_eq!(doc.public_key.as_deref(), Some(&g.key.public_key[..]));
        keys.push((id, kt, g));
    }
    let err = client
        .call(Request::Generate {
            key_id: "hsm-0".into(),
            key_type: KeyType::P256,
            settings: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::KeyExists));

    // Many signatures: SoftHSM returns high-S about half the time; every one
    // must come back low-S with a correct recovery id.
    let mut checked = Vec::new();
    for (id, kt, g) in &keys {
        for n in 0..24u32 {
            let req = request(id, *kt, format!("hsm message {n}").as_bytes());
            let s = match client.call(Request::Sign(req.clone())).await.unwrap() {
                Response::Signed(s) => s,
                r => panic!("{r:?}"),
            };
            assert_eq!(&s.public_key, &g.key.public_key);
            if *kt == KeyType::Secp256k1 {
                use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
                let rec = RecoverableSignature::from_compact(
                    &s.signature,
                    RecoveryId::from_i32(i32::from(s.recovery_id.unwrap())).unwrap(),
                )
                .unwrap();
                let pk = secp256k1::SECP256K1
                    .recover_ecdsa(
                        &secp256k1::Message::from_digest(req.digest.clone().try_into().unwrap()),
                        &rec,
                    )
                    .unwrap();
                assert_eq!(pk.serialize_uncompressed().to_vec(), g.key.public_key);
            }
            checked.push(Checked {
                key_type: *kt,
                public_key: s.public_key,
                digest: req.digest,
                message: req.message,
                signature: s.signature,
            });
        }
    }
    verify_independently(&checked);

    // Restart everything: the HSM is the persistence. This time calls run
    // on dedicated threads (the setting for network HSMs), many at once.
    drop(client);
    signer.kill();
    let signer = start_with(dir.path(), &hsm, &["--pkcs11-threads", "3"]);
    let (client, _) = signer.client().await;
    let client = std::sync::Arc::new(client);
    let mut calls = tokio::task::JoinSet::new();
    for (id, kt, g) in keys.clone() {
        for n in 0..8u32 {
            let client = std::sync::Arc::clone(&client);
            let (id, public_key) = (id.clone(), g.key.public_key.clone());
            calls.spawn(async move {
                let req = request(&id, kt, format!("after restart {n}").as_bytes());
                match client.call(Request::Sign(req.clone())).await.unwrap() {
                    Response::Signed(s) => {
                        assert_eq!(s.public_key, public_key);
                        Checked {
                            key_type: kt,
                            public_key: s.public_key,
                            digest: req.digest,
                            message: req.message,
                            signature: s.signature,
                        }
                    }
                    r => panic!("{r:?}"),
                }
            });
        }
    }
    let mut after_restart = Vec::new();
    while let Some(c) = calls.join_next().await {
        after_restart.push(c.unwrap());
    }
    assert_eq!(after_restart.len(), 24);
    verify_independently(&after_restart);
    // Destroy removes both objects.
    client
        .call(Request::Destroy {
            key_id: "hsm-1".into(),
        })
        .await
        .unwrap();
    let err = client
        .call(Request::Sign(request("hsm-1", KeyType::P256, b"gone")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::KeyNotFound));
    match client
        .call(Request::List {
            after: None,
            limit: None,
        })
        .await
        .unwrap()
    {
        Response::Keys { mut key_ids, .. } => {
            key_ids.sort();
            assert_eq!(key_ids, ["hsm-0", "hsm-2"]);
        }
        r => panic!("{r:?}"),
    }
    // The private keys are sensitive and never extractable: ask the token directly.
    let token = hsm.session();
    check_non_extractable(&token);

    // Keys changed on the token by another process, behind the signer's
    // back: a removed key is `key_not_found`; a key replaced under the same
    // id is refused (it is not the key this signer generated), never used.
    destroy_key_pair(&token, "hsm-0");
    let err = client
        .call(Request::Sign(request("hsm-0", KeyType::Secp256k1, b"gone")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::KeyNotFound), "{err}");
    replace_key_pair(&token, "hsm-2", true);
    let err = client
        .call(Request::Sign(request(
            "hsm-2",
            KeyType::Ed25519,
            b"swapped",
        )))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Internal), "{err}");
    assert!(err.to_string().contains("does not verify"), "{err}");

    drop(client);
    drop(signer);
    let log = std::fs::read_to_string(dir.path().join("signer.log")).unwrap();
    assert!(!log.contains(USER_PIN), "the PIN appears in the signer log");
    assert!(log.contains("PKCS#11 token opened"));
}

fn check_non_extractable(session: &cryptoki::session::Session) {
    use cryptoki::object::{AttributeInfo, AttributeType};
    let private = session
        .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
        .unwrap();
    assert_eq!(private.len(), 2);
    let wrapping = session
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Token(false),
                Attribute::ValueLen(32.into()),
                Attribute::Wrap(true),
                Attribute::Encrypt(true),
            ],
        )
        .unwrap();
    for key in private {
        let info = session
            .get_attribute_info(key, &[AttributeType::Value])
            .unwrap();
        assert!(
            matches!(info[0], AttributeInfo::Sensitive),
            "CKA_VALUE is readable: {info:?}"
        );
        let attrs = session
            .get_attributes(
                key,
                &[
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                    AttributeType::NeverExtractable,
                    AttributeType::Value,
                ],
            )
            .unwrap();
        assert!(attrs.contains(&Attribute::Sensitive(true)));
        assert!(attrs.contains(&Attribute::Extractable(false)));
        assert!(attrs.contains(&Attribute::NeverExtractable(true)));
        assert!(
            !attrs.iter().any(|a| matches!(a, Attribute::Value(_))),
            "private value returned"
        );
        assert!(
            session
                .wrap_key(&Mechanism::AesKeyWrapPad, wrapping, key)
                .is_err(),
            "wrapping a private key succeeded"
        );
    }
}

#[test]
fn a_wrong_pin_stops_the_signer_without_printing_it() {
    let Some(hsm) = SoftHsm::new() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "--listen".to_owned(),
        format!("unix:{}", dir.path().join("s.sock").display()),
        "--attestation".into(),
        "none".into(),
    ];
    args.extend(hsm.args());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_signet-enclave"))
        .args(&args)
        .env_clear()
        .env("SOFTHSM2_CONF", &hsm.conf)
        .env("PKCS11_PIN", "000111222")
        .env("INTERNAL_API_KEY", INTERNAL_KEY)
        .env("TICKET_SIGNING_SECRET", TICKET_SECRET)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("wrong PKCS11_PIN"), "{stderr}");
    assert!(!stderr.contains("000111222"));
    // A missing PIN and a missing token are refused too.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_signet-enclave"))
        .args(&args)
        .env_clear()
        .env("SOFTHSM2_CONF", &hsm.conf)
        .env("INTERNAL_API_KEY", INTERNAL_KEY)
        .env("TICKET_SIGNING_SECRET", TICKET_SECRET)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("PKCS11_PIN"));
    let wrong_label: Vec<String> = args
        .iter()
        .map(|a| {
            if a == TOKEN_LABEL {
                "no-such-token".into()
            } else {
                a.clone()
            }
        })
        .collect();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_signet-enclave"))
        .args(&wrong_label)
        .env_clear()
        .env("SOFTHSM2_CONF", &hsm.conf)
        .env("PKCS11_PIN", USER_PIN)
        .env("INTERNAL_API_KEY", INTERNAL_KEY)
        .env("TICKET_SIGNING_SECRET", TICKET_SECRET)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("no PKCS#11 token labelled"));
}

// ---------------------------------------------------------------------------
// Record objects: wallets with owners on the HSM.
// ---------------------------------------------------------------------------

/// `CKA_APPLICATION` of the signer's record objects.
const RECORD_APPLICATION: &[u8] = b"signet/record";

/// Two owners of the HSM wallets: an Ed25519 key and a P-256 key.
struct Owners {
    bob: OwnerSecretKey,
    cat: OwnerSecretKey,
}

impl Owners {
    fn new() -> Self {
        Self {
            bob: OwnerSecretKey::generate(OwnerKeyType::Ed25519, &mut OsRng),
            cat: OwnerSecretKey::generate(OwnerKeyType::P256, &mut OsRng),
        }
    }

    /// Record settings: both owners, `threshold` of them, and `allow`.
    fn settings(&self, threshold: u32, allow: &[&str]) -> String {
        json!({
            "owners": [
                self.bob.owner("bob").unwrap().to_value(),
                self.cat.owner("cat").unwrap().to_value(),
            ],
            "threshold": threshold,
            "policy": {"allow": allow},
        })
        .to_string()
    }

    /// Both owners' approvals of `authz`.
    fn both(&self, authz: &Authorization) -> Vec<Approval> {
        vec![
            self.bob.approve("bob", authz),
            self.cat.approve("cat", authz),
        ]
    }
}

/// An EIP-191 message for a secp256k1 wallet, and its digest.
fn message(text: &str) -> (Value, [u8; 32]) {
    (
        json!({"message": text, "encoding": "eip191"}),
        eip191_digest(text.as_bytes()),
    )
}

/// A host's request to sign `content` on the secp256k1 wallet `id`,
/// presenting `record` as the wallet's record.
fn sign_request(id: &str, content: &Value, digest: [u8; 32], record: Option<&str>) -> SignRequest {
    let mut req = common::request(id, KeyType::Secp256k1, content, digest);
    req.record = record.map(str::to_owned);
    req
}

fn random_id() -> [u8; 16] {
    let mut id = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut OsRng, &mut id);
    id
}

/// The owners' authorization of signing `content` on the wallet of `record`.
fn sign_authorization(record: &Record, content: &Value, digest: [u8; 32]) -> Authorization {
    Authorization::new(
        record,
        AuthzRequest::Sign {
            payload_sha256: payload_sha256(content).unwrap(),
            digest,
        },
        now_s() + 600,
        random_id(),
    )
    .unwrap()
}

/// The owners' authorization of changing `current` into `next`.
fn change_authorization(current: &Record, next: &Record) -> Authorization {
    Authorization::new(
        current,
        AuthzRequest::UpdateRecord {
            new_record: next.record_hash(),
        },
        now_s() + 600,
        random_id(),
    )
    .unwrap()
}

/// Signs, or the refusal's code and detail.
async fn sign(
    client: &SignerClient,
    req: SignRequest,
) -> Result<SignatureInfo, (ErrorCode, Option<String>)> {
    match client.call(Request::Sign(req)).await {
        Ok(Response::Signed(s)) => Ok(s),
        Err(ClientError::Signer { code, detail, .. }) => Err((code, detail)),
        other => panic!("{other:?}"),
    }
}

/// Signs, then verifies the signature independently.
async fn signs(client: &SignerClient, req: SignRequest, public_key: &[u8]) {
    let digest = req.digest.clone();
    let s = sign(client, req).await.unwrap();
    verify_independently(&[Checked {
        key_type: KeyType::Secp256k1,
        public_key: public_key.to_vec(),
        digest,
        message: None,
        signature: s.signature,
    }]);
}

/// Changes `key_id`'s record to `next`, presenting `current` as its record.
async fn update(
    client: &SignerClient,
    key_id: &str,
    current: Option<&str>,
    next: &Record,
    approvals: Vec<Approval>,
) -> Result<GeneratedKey, (ErrorCode, Option<String>)> {
    let request = UpdateRecordRequest {
        key_id: key_id.into(),
        sealed: None,
        record: current.map(str::to_owned),
        new_record: next.text().to_owned(),
        approvals,
    };
    match client.call(Request::UpdateRecord(request)).await {
        Ok(Response::Generated(g)) => Ok(g),
        Err(ClientError::Signer { code, detail, .. }) => Err((code, detail)),
        other => panic!("{other:?}"),
    }
}

/// The values of `key_id`'s record objects, read from the token directly.
fn record_objects(hsm: &SoftHsm, key_id: &str) -> Vec<Vec<u8>> {
    let token = hsm.session();
    let found = token
        .find_objects(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Application(RECORD_APPLICATION.to_vec()),
            Attribute::Label(format!("signet:{key_id}").into_bytes()),
        ])
        .unwrap();
    found
        .into_iter()
        .map(|h| {
            let attrs = token
                .get_attributes(h, &[AttributeType::Private, AttributeType::Value])
                .unwrap();
            assert!(
                attrs.contains(&Attribute::Private(true)),
                "a record object is a private object"
            );
            attrs
                .into_iter()
                .find_map(|a| match a {
                    Attribute::Value(v) => Some(v),
                    _ => None,
                })
                .unwrap()
        })
        .collect()
}

/// Every object labelled as `key_id`'s on the token, of any class.
fn objects_of(hsm: &SoftHsm, key_id: &str) -> usize {
    hsm.session()
        .find_objects(&[Attribute::Label(format!("signet:{key_id}").into_bytes())])
        .unwrap()
        .len()
}

/// Removes `key_id`'s record objects from the token: its key is then one
/// made before record objects.
fn remove_record_objects(hsm: &SoftHsm, key_id: &str) {
    let token = hsm.session();
    for h in token
        .find_objects(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Application(RECORD_APPLICATION.to_vec()),
            Attribute::Label(format!("signet:{key_id}").into_bytes()),
        ])
        .unwrap()
    {
        token.destroy_object(h).unwrap();
    }
}

/// Authorizations made from here on expire after the signer's start +
/// 600 s, the only ones a signer takes in its first 600 s.
fn past_the_start_second() {
    std::thread::sleep(std::time::Duration::from_millis(1100));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_hsm_wallet_with_owners_signs_only_with_their_approval() {
    let Some(hsm) = SoftHsm::new() else { return };
    let dir = tempfile::tempdir().unwrap();
    let signer = start(dir.path(), &hsm);
    let (client, _) = signer.client().await;
    let owners = Owners::new();
    let g = generate(
        &client,
        "owned",
        KeyType::Secp256k1,
        Some(owners.settings(2, &[])),
    )
    .await;
    assert!(g.sealed.is_none(), "HSM keys have no sealed blob");
    let rec = record(&g);
    assert_eq!(rec.owners().len(), 2);
    assert_eq!(rec.policy().allow(), &[]);
    assert_eq!(
        record_objects(&hsm, "owned"),
        [rec.record_hash().0.to_vec()],
        "the token keeps the record's hash beside the key"
    );
    past_the_start_second();
    let (pay, digest) = message("pay 1 ETH to 0xabc");
    let text = Some(rec.text());
    assert_eq!(
        sign(&client, sign_request("owned", &pay, digest, text))
            .await
            .unwrap_err(),
        (ErrorCode::OwnerApprovalRequired, Some("allow".into()))
    );
    let authz = sign_authorization(&rec, &pay, digest);
    let mut one = sign_request("owned", &pay, digest, text);
    one.approvals = vec![owners.cat.approve("cat", &authz)];
    assert_eq!(
        sign(&client, one).await.unwrap_err(),
        (ErrorCode::ApprovalInvalid, Some("below_threshold".into()))
    );
    let mut both = sign_request("owned", &pay, digest, text);
    both.approvals = owners.both(&authz);
    signs(&client, both, &g.key.public_key).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_restart_an_hsm_wallet_takes_only_the_record_its_record_object_names() {
    let Some(hsm) = SoftHsm::new() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut signer = start(dir.path(), &hsm);
    let (client, _) = signer.client().await;
    let owners = Owners::new();
    let gated = generate(
        &client,
        "gated",
        KeyType::Secp256k1,
        Some(owners.settings(1, &[])),
    )
    .await;
    let open = generate(&client, "open", KeyType::Secp256k1, None).await;
    // Restart: nothing is held, every record comes from the host and must
    // be the one the token names.
    drop(client);
    signer.kill();
    let signer = start(dir.path(), &hsm);
    let (client, _) = signer.client().await;
    let (pay, digest) = message("pay");
    let text = gated.record.clone().unwrap();
    let edits = [
        (
            "an edited record (no threshold)",
            Some(text.replace("\"threshold\":1", "\"threshold\":0")),
        ),
        (
            "an edited record (a looser policy)",
            Some(text.replace("\"allow\":[]", "\"allow\":[\"message\"]")),
        ),
        ("another wallet's record", open.record.clone()),
        (
            "the record of a key from before record objects",
            Some(
                Record::legacy(record(&gated).key().clone())
                    .unwrap()
                    .text()
                    .to_owned(),
            ),
        ),
        ("no record", None),
    ];
    for (what, edited) in edits {
        assert_ne!(edited.as_deref(), Some(text.as_str()), "{what}: not edited");
        assert_eq!(
            sign(
                &client,
                sign_request("gated", &pay, digest, edited.as_deref())
            )
            .await
            .unwrap_err()
            .0,
            ErrorCode::RecordMismatch,
            "{what}"
        );
    }
    // With its own record it is admitted, and its record decides.
    assert_eq!(
        sign(&client, sign_request("gated", &pay, digest, Some(&text)))
            .await
            .unwrap_err(),
        (ErrorCode::OwnerApprovalRequired, Some("allow".into()))
    );
    // The wallet without owners signs on the host's ticket with its record.
    signs(
        &client,
        sign_request("open", &pay, digest, open.record.as_deref()),
        &open.key.public_key,
    )
    .await;
    // A fresh attestation binds the key and the record the token names,
    // with no record text sent.
    let document = match client
        .call(Request::Attest {
            nonce: None,
            key_id: Some("gated".into()),
        })
        .await
        .unwrap()
    {
        Response::Attestation { document } => document.unwrap(),
        other => panic!("{other:?}"),
    };
    let doc = signet_attestation::inspect_unverified(&document).unwrap();
    let binding = signet_attestation::key_binding_v2(
        "gated",
        "secp256k1",
        &gated.key.public_key,
        &record(&gated).record_hash().0,
    );
    assert_eq!(doc.user_data.as_deref(), Some(&binding[..]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_record_change_on_an_hsm_wallet_is_never_taken_back_even_after_a_restart() {
    let Some(hsm) = SoftHsm::new() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut signer = start(dir.path(), &hsm);
    let (client, _) = signer.client().await;
    let owners = Owners::new();
    // v1: the host's ticket alone signs messages.
    let g = generate(
        &client,
        "w",
        KeyType::Secp256k1,
        Some(owners.settings(1, &["message"])),
    )
    .await;
    let pk = g.key.public_key.clone();
    let v1 = record(&g);
    let (pay, digest) = message("pay");
    signs(
        &client,
        sign_request("w", &pay, digest, Some(v1.text())),
        &pk,
    )
    .await;
    // v2: every signature needs an owner. Not without their approval…
    let v2 = v1
        .next(v1.owners().to_vec(), 1, Policy::owners_only())
        .unwrap();
    assert_eq!(
        update(&client, "w", Some(v1.text()), &v2, Vec::new())
            .await
            .unwrap_err(),
        (ErrorCode::OwnerApprovalRequired, Some("record".into()))
    );
    past_the_start_second();
    let change = change_authorization(&v1, &v2);
    let changed = update(
        &client,
        "w",
        Some(v1.text()),
        &v2,
        vec![owners.bob.approve("bob", &change)],
    )
    .await
    .unwrap();
    // … then applied: no blob, the new record, its hash on the token.
    assert!(changed.sealed.is_none(), "an HSM key has no blob to store");
    assert_eq!(changed.record.as_deref(), Some(v2.text()));
    assert_eq!(record_objects(&hsm, "w"), [v2.record_hash().0.to_vec()]);
    assert_eq!(
        sign(&client, sign_request("w", &pay, digest, Some(v1.text())))
            .await
            .unwrap_err(),
        (ErrorCode::OwnerApprovalRequired, Some("allow".into())),
        "the new record decides at once"
    );

    // The rollback a sealed blob cannot close (after a restart it loads
    // with its own older record): here the token keeps the newest hash, so
    // a restarted signer still refuses v1.
    drop(client);
    signer.kill();
    let signer = start(dir.path(), &hsm);
    let (client, _) = signer.client().await;
    assert_eq!(
        sign(&client, sign_request("w", &pay, digest, Some(v1.text())))
            .await
            .unwrap_err()
            .0,
        ErrorCode::RecordMismatch,
        "the older, looser record after a restart"
    );
    let sideways = v1.next(Vec::new(), 0, Policy::permissive()).unwrap();
    assert_eq!(
        update(
            &client,
            "w",
            Some(v1.text()),
            &sideways,
            owners.both(&change_authorization(&v1, &sideways))
        )
        .await
        .unwrap_err()
        .0,
        ErrorCode::RecordMismatch,
        "a change from the older record"
    );
    assert_eq!(
        sign(&client, sign_request("w", &pay, digest, Some(v2.text())))
            .await
            .unwrap_err(),
        (ErrorCode::OwnerApprovalRequired, Some("allow".into()))
    );
    past_the_start_second();
    let mut approved = sign_request("w", &pay, digest, Some(v2.text()));
    approved.approvals = vec![owners
        .cat
        .approve("cat", &sign_authorization(&v2, &pay, digest))];
    signs(&client, approved, &pk).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_record_changed_by_another_signer_on_the_token_counts_at_once() {
    let Some(hsm) = SoftHsm::new() else { return };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (start(dir_a.path(), &hsm), start(dir_b.path(), &hsm));
    let ((a, _), (b, _)) = (a.client().await, b.client().await);
    let owners = Owners::new();
    let g = generate(
        &a,
        "shared",
        KeyType::Secp256k1,
        Some(owners.settings(1, &["message"])),
    )
    .await;
    let pk = g.key.public_key.clone();
    let v1 = record(&g);
    let (pay, digest) = message("pay");
    // Both signers hold v1.
    for client in [&a, &b] {
        signs(
            client,
            sign_request("shared", &pay, digest, Some(v1.text())),
            &pk,
        )
        .await;
    }
    past_the_start_second();
    let v2 = v1
        .next(v1.owners().to_vec(), 1, Policy::owners_only())
        .unwrap();
    update(
        &b,
        "shared",
        Some(v1.text()),
        &v2,
        vec![owners.bob.approve("bob", &change_authorization(&v1, &v2))],
    )
    .await
    .unwrap();
    // The first signer reads the token, not its memory of v1.
    assert_eq!(
        sign(&a, sign_request("shared", &pay, digest, Some(v1.text())))
            .await
            .unwrap_err()
            .0,
        ErrorCode::RecordMismatch,
        "the record another signer replaced"
    );
    assert_eq!(
        sign(&a, sign_request("shared", &pay, digest, Some(v2.text())))
            .await
            .unwrap_err(),
        (ErrorCode::OwnerApprovalRequired, Some("allow".into()))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_hsm_key_from_before_record_objects_keeps_the_legacy_record_and_no_other() {
    let Some(hsm) = SoftHsm::new() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut signer = start(dir.path(), &hsm);
    let (client, _) = signer.client().await;
    let g = generate(&client, "old", KeyType::Secp256k1, None).await;
    let pk = g.key.public_key.clone();
    // What a signer before record objects left on the token: the key pair
    // alone.
    remove_record_objects(&hsm, "old");
    drop(client);
    signer.kill();
    // A restarted signer holds no record: each one presented is checked.
    let signer = start(dir.path(), &hsm);
    let (client, _) = signer.client().await;
    let legacy = Record::legacy(record(&g).key().clone()).unwrap();
    let (pay, digest) = message("pay");
    // Any record other than the legacy one, however genuine it looks, is
    // refused…
    let owners = Owners::new();
    let owned = legacy
        .next(
            vec![owners.bob.owner("bob").unwrap()],
            1,
            Policy::owners_only(),
        )
        .unwrap();
    assert_eq!(
        sign(
            &client,
            sign_request("old", &pay, digest, Some(owned.text()))
        )
        .await
        .unwrap_err()
        .0,
        ErrorCode::RecordMismatch
    );
    // … and the legacy one signs on the host's ticket, given or not.
    signs(
        &client,
        sign_request("old", &pay, digest, Some(legacy.text())),
        &pk,
    )
    .await;
    signs(&client, sign_request("old", &pay, digest, None), &pk).await;
    // A record change gives it its first record object (no owners and
    // everything signable before: nothing to approve).
    let changed = update(&client, "old", Some(legacy.text()), &owned, Vec::new())
        .await
        .unwrap();
    assert_eq!(changed.record.as_deref(), Some(owned.text()));
    assert_eq!(
        record_objects(&hsm, "old"),
        [owned.record_hash().0.to_vec()]
    );
    drop(client);
    drop(signer);
    let signer = start(dir.path(), &hsm);
    let (client, _) = signer.client().await;
    assert_eq!(
        sign(
            &client,
            sign_request("old", &pay, digest, Some(legacy.text()))
        )
        .await
        .unwrap_err()
        .0,
        ErrorCode::RecordMismatch,
        "the legacy record, once the key has a record object"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn destroying_an_hsm_key_removes_its_record_object() {
    let Some(hsm) = SoftHsm::new() else { return };
    let dir = tempfile::tempdir().unwrap();
    let signer = start(dir.path(), &hsm);
    let (client, _) = signer.client().await;
    let owners = Owners::new();
    let g = generate(
        &client,
        "gone",
        KeyType::P256,
        Some(owners.settings(1, &[])),
    )
    .await;
    assert_eq!(
        record_objects(&hsm, "gone"),
        [record(&g).record_hash().0.to_vec()]
    );
    assert_eq!(objects_of(&hsm, "gone"), 3, "key pair and record object");
    client
        .call(Request::Destroy {
            key_id: "gone".into(),
        })
        .await
        .unwrap();
    assert_eq!(objects_of(&hsm, "gone"), 0, "nothing left on the token");

    // A record object left without its key (the key pair removed by hand)
    // is replaced when the id is generated again, never taken for the new
    // key's.
    let first = generate(
        &client,
        "again",
        KeyType::P256,
        Some(owners.settings(1, &[])),
    )
    .await;
    destroy_key_pair(&hsm.session(), "again");
    assert_eq!(record_objects(&hsm, "again").len(), 1);
    // A signer that did not see the key go still knows it: restart.
    drop(client);
    drop(signer);
    let signer = start(dir.path(), &hsm);
    let (client, _) = signer.client().await;
    let second = generate(&client, "again", KeyType::P256, None).await;
    assert_ne!(first.key.public_key, second.key.public_key);
    assert_eq!(
        record_objects(&hsm, "again"),
        [record(&second).record_hash().0.to_vec()]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wallet_whose_record_cannot_be_made_leaves_no_key_on_the_token() {
    let Some(hsm) = SoftHsm::new() else { return };
    let dir = tempfile::tempdir().unwrap();
    let signer = start(dir.path(), &hsm);
    let (client, _) = signer.client().await;
    // A threshold of two without owners: read, but no record can be made.
    let err = client
        .call(Request::Generate {
            key_id: "half".into(),
            key_type: KeyType::Ed25519,
            settings: Some(json!({"threshold": 2}).to_string()),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::BadRequest), "{err}");
    assert_eq!(objects_of(&hsm, "half"), 0, "the key pair was removed");
    // The id is free: the next generate makes a whole wallet.
    let g = generate(&client, "half", KeyType::Ed25519, None).await;
    assert_eq!(
        record_objects(&hsm, "half"),
        [record(&g).record_hash().0.to_vec()]
    );
}

//! The PKCS#11 backend on a real SoftHSM2 token, through the real signer:
//! the same conformance as the software backend, plus proof that keys are
//! sensitive and never extractable and that the PIN is never logged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::softhsm::{destroy_key_pair, replace_key_pair, SoftHsm, TOKEN_LABEL, USER_PIN};
use common::{ticket, verify_independently, Checked, SignerProcess, INTERNAL_KEY, TICKET_SECRET};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass};
use sha2::{Digest as _, Sha256};
use signet_proto::message::{GeneratedKey, SignRequest};
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

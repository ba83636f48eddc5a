//! The real `signet-enclave` binary on a real unix socket, driven with the
//! proto client: keys, signatures checked independently, every ticket
//! refusal, authentication, bad frames, crash recovery and sealing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{
    claims, internal_key, ticket, ticket_keys, verify_independently, Checked, SignerProcess,
};
use sha2::{Digest as _, Sha256};
use signet_attestation::dev::dev_pcrs;
use signet_attestation::{PcrPolicy, PcrSet, TrustAnchor, Verifier};
use signet_proto::client::{ClientError, SignerClient};
use signet_proto::frame;
use signet_proto::message::{Envelope, GeneratedKey, SignRequest, SignatureInfo};
use signet_proto::{hello, ErrorCode, KeyType, Request, Response, SealedKey, SharedSecret};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

fn dev_verifier(signer: &SignerProcess) -> Verifier {
    let pem = std::fs::read_to_string(
        signer
            .dev_dir
            .join("attestation")
            .join(signet_attestation::dev::ROOT_CERT_FILE),
    )
    .unwrap();
    let binary = std::fs::read(env!("CARGO_BIN_EXE_signet-enclave")).unwrap();
    let pcrs = PcrSet::new(dev_pcrs(&binary)).unwrap();
    Verifier::new(
        TrustAnchor::from_pem(&pem).unwrap(),
        PcrPolicy::exactly(pcrs),
    )
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}

async fn generate(client: &SignerClient, key_id: &str, key_type: KeyType) -> GeneratedKey {
    match client
        .call(Request::Generate {
            key_id: key_id.into(),
            key_type,
            settings: None,
        })
        .await
        .unwrap()
    {
        Response::Generated(g) => g,
        other => panic!("{other:?}"),
    }
}

fn sign_request(key_id: &str, key_type: KeyType, payload: &[u8]) -> SignRequest {
    let (digest, message) = match key_type {
        KeyType::Ed25519 => (Sha256::digest(payload).to_vec(), Some(payload.to_vec())),
        _ => (Sha256::digest(payload).to_vec(), None),
    };
    SignRequest {
        key_id: key_id.into(),
        ticket: ticket(key_id, &digest, key_type),
        digest,
        message,
        attest: false,
        sealed: None,
        record: None,
        content: None,
        approvals: Vec::new(),
    }
}

async fn sign(client: &SignerClient, req: SignRequest) -> Result<SignatureInfo, ClientError> {
    match client.call(Request::Sign(req)).await? {
        Response::Signed(s) => Ok(s),
        other => panic!("{other:?}"),
    }
}

fn code(result: Result<impl std::fmt::Debug, ClientError>) -> ErrorCode {
    result
        .unwrap_err()
        .code()
        .unwrap_or_else(|| panic!("not a signer refusal"))
}

#[tokio::test(flavor = "multi_thread")]
async fn every_key_type_generates_signs_and_verifies_independently() {
    let dir = tempfile::tempdir().unwrap();
    let signer = SignerProcess::start(dir.path());
    let (client, hello) = signer.client().await;
    assert_eq!(hello.info.backend, "software");
    assert_eq!(hello.info.attestation_mode, "dev");
    let verifier = dev_verifier(&signer);

    // The hello's document is fresh: it carries our nonce.
    let doc = verifier
        .clone()
        .expect_nonce(hello.client_nonce.clone())
        .verify(hello.info.attestation.as_ref().unwrap())
        .unwrap();
    assert!(doc.doc.module_id.starts_with("dev-"));

    let mut checked = Vec::new();
    for (i, kt) in KeyType::ALL.into_iter().enumerate() {
        let id = format!("wallet-{i}");
        let g = generate(&client, &id, kt).await;
        assert_eq!(
            g.key.public_key.len(),
            if kt == KeyType::Ed25519 { 32 } else { 65 }
        );
        assert!(g.sealed.is_some());
        // The key's document binds its public key.
        let v = verifier.verify(g.attestation.as_ref().unwrap()).unwrap();
        let record = g.record.as_deref().unwrap();
        v.check_record_binding(
            &id,
            kt.as_str(),
            &g.key.public_key,
            &sha256(record.as_bytes()),
            false,
        )
        .unwrap();
        assert!(
            v.check_key_binding(&id, kt.as_str(), &g.key.public_key)
                .is_err(),
            "a new key's document binds its record (v2), not the key alone"
        );

        for n in 0..8u8 {
            let payload = format!("message {n} for {id}").into_bytes();
            let mut req = sign_request(&id, kt, &payload);
            req.attest = n == 0;
            let s = sign(&client, req.clone()).await.unwrap();
            assert_eq!(s.public_key, g.key.public_key);
            assert_eq!(s.signature.len(), 64);
            if n == 0 {
                let v = verifier.verify(s.attestation.as_ref().unwrap()).unwrap();
                v.check_signature_binding(&id, &req.digest, &s.signature)
                    .unwrap();
                assert_eq!(v.doc.public_key.as_deref(), Some(&g.key.public_key[..]));
            }
            if kt == KeyType::Secp256k1 {
                check_recovery(&s, &req.digest);
            } else {
                assert_eq!(s.recovery_id, None);
            }
            checked.push(Checked {
                key_type: kt,
                public_key: g.key.public_key.clone(),
                digest: req.digest,
                message: req.message,
                signature: s.signature,
            });
        }
    }
    verify_independently(&checked);
}

/// libsecp256k1 (bitcoin-core's C library) recovers the same public key from
/// the signature and recovery id, and accepts the signature as low-S.
fn check_recovery(s: &SignatureInfo, digest: &[u8]) {
    use secp256k1::ecdsa::{RecoverableSignature, RecoveryId, Signature};
    let msg = secp256k1::Message::from_digest(digest.try_into().unwrap());
    let recid = RecoveryId::from_i32(i32::from(s.recovery_id.unwrap())).unwrap();
    assert!(s.recovery_id.unwrap() <= 1);
    let rec = RecoverableSignature::from_compact(&s.signature, recid).unwrap();
    let pk = secp256k1::SECP256K1.recover_ecdsa(&msg, &rec).unwrap();
    assert_eq!(pk.serialize_uncompressed().to_vec(), s.public_key);
    let sig = Signature::from_compact(&s.signature).unwrap();
    secp256k1::SECP256K1.verify_ecdsa(&msg, &sig, &pk).unwrap(); // libsecp256k1 refuses high-S
}

#[tokio::test(flavor = "multi_thread")]
async fn tickets_are_refused_for_every_reason() {
    let dir = tempfile::tempdir().unwrap();
    let signer = SignerProcess::start(dir.path());
    let (client, _) = signer.client().await;
    generate(&client, "w1", KeyType::Secp256k1).await;
    generate(&client, "w2", KeyType::Secp256k1).await;
    generate(&client, "ed", KeyType::Ed25519).await;

    // Replayed.
    let req = sign_request("w1", KeyType::Secp256k1, b"once");
    sign(&client, req.clone()).await.unwrap();
    assert_eq!(
        code(sign(&client, req.clone()).await),
        ErrorCode::TicketReplayed
    );
    // Replay on another connection is refused too.
    let (other, _) = signer.client().await;
    assert_eq!(code(sign(&other, req).await), ErrorCode::TicketReplayed);

    // Expired.
    let mut req = sign_request("w1", KeyType::Secp256k1, b"late");
    let mut c = claims("w1", &req.digest, KeyType::Secp256k1);
    c.iat -= 600;
    c.exp = c.iat + 60;
    req.ticket = ticket_keys().mint(&c);
    assert_eq!(code(sign(&client, req).await), ErrorCode::TicketExpired);

    // Tampered MAC.
    let mut req = sign_request("w1", KeyType::Secp256k1, b"tamper");
    let last = req.ticket.pop().unwrap();
    req.ticket.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(code(sign(&client, req).await), ErrorCode::TicketInvalid);

    // A ticket for w1 used on w2.
    let mut req = sign_request("w1", KeyType::Secp256k1, b"wrong wallet");
    req.key_id = "w2".into();
    assert_eq!(code(sign(&client, req).await), ErrorCode::TicketInvalid);

    // A ticket for one digest used with another.
    let mut req = sign_request("w1", KeyType::Secp256k1, b"digest a");
    req.digest = Sha256::digest(b"digest b").to_vec();
    assert_eq!(code(sign(&client, req).await), ErrorCode::TicketInvalid);

    // Minted with a secret the signer does not hold (unknown kid).
    let mut req = sign_request("w1", KeyType::Secp256k1, b"kid");
    let foreign = signet_proto::ticket::TicketKeys::new(
        SharedSecret::new_unchecked(b"another-secret-0123456789abcdef0123".to_vec()),
        None,
    );
    req.ticket = foreign.mint(&claims("w1", &req.digest, KeyType::Secp256k1));
    assert_eq!(code(sign(&client, req).await), ErrorCode::TicketInvalid);

    // Ticket for another key type.
    let mut req = sign_request("w1", KeyType::Secp256k1, b"kty");
    req.ticket = ticket("w1", &req.digest, KeyType::P256);
    assert_eq!(code(sign(&client, req).await), ErrorCode::TicketInvalid);

    // Ed25519: the message must hash to the ticket's digest.
    let mut req = sign_request("ed", KeyType::Ed25519, b"the real message");
    req.message = Some(b"another message".to_vec());
    assert_eq!(code(sign(&client, req).await), ErrorCode::TicketInvalid);

    // A refused ticket was not consumed: the honest request still works.
    let req = sign_request("w1", KeyType::Secp256k1, b"after refusals");
    sign(&client, req).await.unwrap();

    // Malformed requests.
    let mut req = sign_request("w1", KeyType::Secp256k1, b"short");
    req.digest.pop();
    assert_eq!(code(sign(&client, req).await), ErrorCode::BadRequest);
    let mut req = sign_request("w1", KeyType::Secp256k1, b"msg");
    req.message = Some(b"msg".to_vec());
    assert_eq!(code(sign(&client, req).await), ErrorCode::BadRequest);
    assert_eq!(
        code(sign(&client, sign_request("nope", KeyType::P256, b"x")).await),
        ErrorCode::KeyNotLoaded
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_internal_api_key_gets_nothing_but_a_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let signer = SignerProcess::start(dir.path());
    let wrong = SharedSecret::new_unchecked(b"wrong-internal-api-key-0123456789abcdef".to_vec());
    let err = SignerClient::connect(&signer.addr(), &wrong, Duration::from_secs(5))
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), Some(ErrorCode::Unauthenticated), "{err}");

    // Raw: skip the hello and ask for work; the answer is a refusal, then EOF.
    let mut raw = tokio::net::UnixStream::connect(&signer.socket)
        .await
        .unwrap();
    let _challenge = read_raw(&mut raw).await.unwrap();
    raw.write_all(
        &frame::encode(&Envelope {
            id: 5,
            body: Request::Status,
        })
        .unwrap(),
    )
    .await
    .unwrap();
    match read_raw(&mut raw).await.unwrap().body {
        Response::Error { code, .. } => assert_eq!(code, ErrorCode::Unauthenticated),
        other => panic!("{other:?}"),
    }
    assert!(read_raw(&mut raw).await.is_none(), "connection closed");
    // The signer still serves the right key.
    signer.client().await;
}

async fn read_raw(stream: &mut tokio::net::UnixStream) -> Option<Envelope<Response>> {
    let mut buf = Vec::new();
    match frame::read_frame(stream, &mut buf).await {
        Ok(true) => Some(frame::decode(&buf).unwrap()),
        _ => None,
    }
}

async fn raw_authenticated(signer: &SignerProcess) -> tokio::net::UnixStream {
    let mut raw = tokio::net::UnixStream::connect(&signer.socket)
        .await
        .unwrap();
    let Response::Challenge { challenge, .. } = read_raw(&mut raw).await.unwrap().body else {
        panic!()
    };
    let nonce = vec![7u8; 32];
    let proof = hello::host_proof(&internal_key(), &challenge, &nonce);
    let hello = Request::Hello {
        version: 1,
        client_nonce: nonce,
        proof,
    };
    raw.write_all(&frame::encode(&Envelope { id: 1, body: hello }).unwrap())
        .await
        .unwrap();
    assert!(matches!(
        read_raw(&mut raw).await.unwrap().body,
        Response::Hello(_)
    ));
    raw
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_and_garbage_frames_close_only_their_connection() {
    let dir = tempfile::tempdir().unwrap();
    let signer = SignerProcess::start(dir.path());
    let (client, _) = signer.client().await;
    generate(&client, "w", KeyType::P256).await;
    sign(&client, sign_request("w", KeyType::P256, b"before"))
        .await
        .unwrap();

    // Oversized: the prefix alone is refused; the body is never read.
    let mut raw = raw_authenticated(&signer).await;
    raw.write_all(&(frame::MAX_FRAME_LEN as u32 + 1).to_be_bytes())
        .await
        .unwrap();
    match read_raw(&mut raw).await.unwrap().body {
        Response::Error { code, .. } => assert_eq!(code, ErrorCode::FrameTooLarge),
        other => panic!("{other:?}"),
    }
    assert!(read_raw(&mut raw).await.is_none());

    // Garbage CBOR of a valid length.
    let mut raw = raw_authenticated(&signer).await;
    let garbage = [0xffu8, 0x00, 0x13, 0x37, 0x42];
    raw.write_all(&(garbage.len() as u32).to_be_bytes())
        .await
        .unwrap();
    raw.write_all(&garbage).await.unwrap();
    match read_raw(&mut raw).await.unwrap().body {
        Response::Error { code, .. } => assert_eq!(code, ErrorCode::BadRequest),
        other => panic!("{other:?}"),
    }
    assert!(read_raw(&mut raw).await.is_none());

    // A frame that is well-formed CBOR but not a request (unknown field).
    let mut raw = raw_authenticated(&signer).await;
    let bogus = frame::encode(&Envelope {
        id: 3,
        body: Response::Keys {
            key_ids: vec![],
            next: None,
        },
    })
    .unwrap();
    raw.write_all(&bogus).await.unwrap();
    assert!(matches!(
        read_raw(&mut raw).await.unwrap().body,
        Response::Error {
            code: ErrorCode::BadRequest,
            ..
        }
    ));

    // Zero-length frame, then a connection cut mid-frame.
    let mut raw = raw_authenticated(&signer).await;
    raw.write_all(&[0, 0, 0, 0]).await.unwrap();
    let mut rest = Vec::new();
    let _ = raw.read_to_end(&mut rest).await;
    let mut raw = raw_authenticated(&signer).await;
    raw.write_all(&[0, 0, 1, 0, 1, 2]).await.unwrap();
    drop(raw);

    // The first connection never noticed.
    sign(&client, sign_request("w", KeyType::P256, b"after"))
        .await
        .unwrap();
    assert!(!client.is_closed());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_signer_recovers_every_key_from_sealed_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let mut signer = SignerProcess::start(dir.path());
    let (client, _) = signer.client().await;
    let mut keys = Vec::new();
    for (i, kt) in KeyType::ALL.into_iter().enumerate() {
        let id = format!("k{i}");
        keys.push((id.clone(), kt, generate(&client, &id, kt).await));
    }
    drop(client);
    signer.kill();
    let signer = SignerProcess::start(dir.path());
    let (client, _) = signer.client().await;
    let mut checked = Vec::new();
    for (id, kt, g) in &keys {
        // Not in the restarted signer's memory ...
        assert_eq!(
            code(sign(&client, sign_request(id, *kt, b"after crash")).await),
            ErrorCode::KeyNotLoaded
        );
        // ... the same ticket works once the sealed blob is attached.
        let mut req = sign_request(id, *kt, b"after crash, with blob");
        req.sealed = g.sealed.clone();
        req.record = g.record.clone();
        req.record = g.record.clone();
        let s = sign(&client, req.clone()).await.unwrap();
        assert_eq!(s.public_key, g.key.public_key, "same key after restart");
        checked.push(Checked {
            key_type: *kt,
            public_key: s.public_key,
            digest: req.digest,
            message: req.message,
            signature: s.signature,
        });
    }
    // LoadSealed also works and is idempotent.
    let (id, _, g) = &keys[0];
    match client
        .call(Request::LoadSealed {
            sealed: g.sealed.clone().unwrap(),
            record: g.record.clone(),
        })
        .await
        .unwrap()
    {
        Response::Loaded(info) => assert_eq!(&info.key_id, id),
        other => panic!("{other:?}"),
    }
    verify_independently(&checked);
    assert!(
        signer.log().contains("INSECURE"),
        "dev mode is flagged loudly"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tampered_foreign_and_relabelled_sealed_blobs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let signer = SignerProcess::start(dir.path());
    let (client, _) = signer.client().await;
    let g = generate(&client, "victim", KeyType::Secp256k1).await;
    let sealed = g.sealed.clone().unwrap();
    let load = |s: SealedKey| {
        let client = &client;
        let record = g.record.clone();
        async move { client.call(Request::LoadSealed { sealed: s, record }).await }
    };

    let mut flipped = sealed.clone();
    flipped.ciphertext[5] ^= 0x10;
    // A blob made by another signer, with its own dev sealing key.
    let other_dir = tempfile::tempdir().unwrap();
    let other = SignerProcess::start(other_dir.path());
    let (other_client, _) = other.client().await;
    let foreign = match other_client
        .call(Request::Generate {
            key_id: "foreign".into(),
            key_type: KeyType::Secp256k1,
            settings: None,
        })
        .await
        .unwrap()
    {
        Response::Generated(g) => g.sealed.unwrap(),
        r => panic!("{r:?}"),
    };
    // Sealed under another signer's sealing key.
    assert_eq!(code(load(foreign).await), ErrorCode::SealedKeyInvalid);

    // Restart the signer on the same dev dir, so nothing is cached and every
    // load below must unseal.
    drop(client);
    let restarted_dir = dir.path();
    drop(signer);
    let signer = SignerProcess::start(restarted_dir);
    let (client, _) = signer.client().await;
    let load = |s: SealedKey| {
        let client = &client;
        let record = g.record.clone();
        async move { client.call(Request::LoadSealed { sealed: s, record }).await }
    };
    assert_eq!(
        code(load(flipped).await),
        ErrorCode::SealedKeyInvalid,
        "one flipped bit"
    );
    let mut relabelled = sealed.clone();
    relabelled.key_id = "attacker-wallet".into();
    assert_eq!(
        code(load(relabelled).await),
        ErrorCode::SealedKeyInvalid,
        "another key id"
    );
    let mut retyped = sealed.clone();
    retyped.key_type = KeyType::P256;
    assert_eq!(
        code(load(retyped).await),
        ErrorCode::SealedKeyInvalid,
        "another key type"
    );
    // A sealed blob for one id attached to a sign request for another.
    let mut req = sign_request("attacker-wallet", KeyType::Secp256k1, b"x");
    req.sealed = Some(sealed.clone());
    req.record = g.record.clone();
    assert_eq!(code(sign(&client, req).await), ErrorCode::SealedKeyInvalid);
    // The genuine blob still loads.
    assert!(matches!(load(sealed).await.unwrap(), Response::Loaded(_)));
}

#[tokio::test(flavor = "multi_thread")]
async fn destroy_status_list_and_attest() {
    let dir = tempfile::tempdir().unwrap();
    let signer = SignerProcess::start(dir.path());
    let (client, _) = signer.client().await;
    let verifier = dev_verifier(&signer);
    let g = generate(&client, "d1", KeyType::Ed25519).await;
    generate(&client, "d2", KeyType::P256).await;

    match client
        .call(Request::Attest {
            nonce: Some(vec![1, 2, 3]),
            key_id: Some("d1".into()),
        })
        .await
        .unwrap()
    {
        Response::Attestation { document } => {
            let v = verifier
                .clone()
                .expect_nonce(vec![1, 2, 3])
                .verify(&document.unwrap())
                .unwrap();
            v.check_record_binding(
                "d1",
                "ed25519",
                &g.key.public_key,
                &sha256(g.record.as_deref().unwrap().as_bytes()),
                false,
            )
            .unwrap();
        }
        r => panic!("{r:?}"),
    }
    assert_eq!(
        code(
            client
                .call(Request::Attest {
                    nonce: Some(vec![0; 513]),
                    key_id: None
                })
                .await
        ),
        ErrorCode::BadRequest
    );

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
            assert_eq!(key_ids, ["d1", "d2"]);
        }
        r => panic!("{r:?}"),
    }
    assert!(matches!(
        client
            .call(Request::Destroy {
                key_id: "d1".into()
            })
            .await
            .unwrap(),
        Response::Destroyed { .. }
    ));
    assert_eq!(
        code(sign(&client, sign_request("d1", KeyType::Ed25519, b"gone")).await),
        ErrorCode::KeyNotLoaded
    );
    let mut req = sign_request("d1", KeyType::Ed25519, b"gone, with blob");
    req.sealed = g.sealed.clone();
    req.record = g.record.clone();
    assert_eq!(
        code(sign(&client, req).await),
        ErrorCode::KeyNotFound,
        "a destroyed key is not resurrected from its blob"
    );
    match client.call(Request::Status).await.unwrap() {
        Response::Status(s) => {
            assert_eq!(s.loaded_keys, 1);
            assert_eq!(s.backend, "software");
            assert_eq!(s.sealing_key_version, Some(1));
        }
        r => panic!("{r:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pipelined_requests_on_one_connection_all_complete() {
    let dir = tempfile::tempdir().unwrap();
    let signer = SignerProcess::start(dir.path());
    let (client, _) = signer.client().await;
    let g = generate(&client, "p", KeyType::Secp256k1).await;
    let client = std::sync::Arc::new(client);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..300u32 {
        let client = std::sync::Arc::clone(&client);
        tasks.spawn(async move {
            let payload = i.to_be_bytes();
            let req = sign_request("p", KeyType::Secp256k1, &payload);
            let s = sign(&client, req.clone()).await.unwrap();
            Checked {
                key_type: KeyType::Secp256k1,
                public_key: s.public_key,
                digest: req.digest,
                message: None,
                signature: s.signature,
            }
        });
    }
    let mut checked = Vec::new();
    while let Some(r) = tasks.join_next().await {
        checked.push(r.unwrap());
    }
    assert_eq!(checked.len(), 300);
    assert!(checked.iter().all(|c| c.public_key == g.key.public_key));
    verify_independently(&checked);
}

#[tokio::test(flavor = "multi_thread")]
async fn weak_or_missing_secrets_stop_a_non_dev_signer() {
    let dir = tempfile::tempdir().unwrap();
    let run = |env: &[(&str, &str)], attestation: &str| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_signet-enclave"));
        cmd.args([
            "--listen",
            &format!("unix:{}", dir.path().join("s.sock").display()),
            "--attestation",
            attestation,
        ])
        .arg("--dev-dir")
        .arg(dir.path().join("dev"))
        .env_clear();
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let out = run(&[("TICKET_SIGNING_SECRET", common::TICKET_SECRET)], "none");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("INTERNAL_API_KEY is not set"));
    let out = run(
        &[
            ("INTERNAL_API_KEY", "short"),
            ("TICKET_SIGNING_SECRET", common::TICKET_SECRET),
        ],
        "none",
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("INTERNAL_API_KEY") && stderr.contains("32"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("short"),
        "the secret itself is never printed"
    );
    // nsm outside Nitro: a clear refusal.
    let out = run(
        &[
            ("INTERNAL_API_KEY", common::INTERNAL_KEY),
            ("TICKET_SIGNING_SECRET", common::TICKET_SECRET),
        ],
        "nsm",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/dev/nsm"));
}

//! The real `signet-enclave` with `--secrets host` (as in the enclave image):
//! it answers only an `Attest` and one `Provision` before the hello; start-up
//! refusals of inconsistent flags; `List` paging past one frame.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{internal_key, SignerProcess, INTERNAL_KEY, TICKET_SECRET};
use signet_proto::client::{ClientError, Provisioner, SignerClient};
use signet_proto::frame;
use signet_proto::message::{Envelope, ProvisionSecrets, MAX_LIST_PAGE};
use signet_proto::{hello, ErrorCode, KeyType, Request, Response};
use tokio::io::AsyncWriteExt as _;

fn secrets() -> ProvisionSecrets {
    ProvisionSecrets {
        internal_api_key: INTERNAL_KEY.as_bytes().to_vec(),
        ticket_signing_secret: TICKET_SECRET.as_bytes().to_vec(),
        ticket_signing_secret_previous: None,
    }
}

fn awaiting(dir: &std::path::Path) -> SignerProcess {
    SignerProcess::start_with(dir, &[], &["--secrets", "host"])
}

async fn send(raw: &mut tokio::net::UnixStream, id: u64, body: Request) -> Response {
    raw.write_all(&frame::encode(&Envelope { id, body }).unwrap())
        .await
        .unwrap();
    let mut buf = Vec::new();
    assert!(frame::read_frame(raw, &mut buf).await.unwrap());
    frame::decode::<Response>(&buf).unwrap().body
}

async fn read_challenge(raw: &mut tokio::net::UnixStream) -> (Vec<u8>, bool) {
    let mut buf = Vec::new();
    assert!(frame::read_frame(raw, &mut buf).await.unwrap());
    match frame::decode::<Response>(&buf).unwrap().body {
        Response::Challenge {
            challenge,
            provisioning,
            ..
        } => (challenge, provisioning),
        other => panic!("{other:?}"),
    }
}

fn refused(r: &Response, code: ErrorCode) {
    assert!(
        matches!(r, Response::Error { code: c, .. } if *c == code),
        "{r:?}"
    );
}

#[tokio::test]
async fn a_waiting_signer_answers_attest_then_provision_then_the_hello() {
    let dir = tempfile::tempdir().unwrap();
    let signer = awaiting(dir.path());
    let mut raw = tokio::net::UnixStream::connect(&signer.socket)
        .await
        .unwrap();
    let (challenge, provisioning) = read_challenge(&mut raw).await;
    assert!(provisioning, "the challenge says it waits for its secrets");
    let nonce = vec![9u8; 32];
    let doc = match send(
        &mut raw,
        1,
        Request::Attest {
            nonce: Some(nonce.clone()),
            key_id: None,
        },
    )
    .await
    {
        Response::Attestation { document } => document.unwrap(),
        other => panic!("{other:?}"),
    };
    let pem = std::fs::read_to_string(
        signer
            .dev_dir
            .join("attestation")
            .join(signet_attestation::dev::ROOT_CERT_FILE),
    )
    .unwrap();
    let verified = signet_attestation::Verifier::new(
        signet_attestation::TrustAnchor::from_pem(&pem).unwrap(),
        signet_attestation::PcrPolicy::accept_any_measurement_insecure(),
    )
    .expect_nonce(nonce)
    .verify(&doc)
    .unwrap();
    assert!(verified.doc.module_id.starts_with("dev-"));
    assert_eq!(
        send(&mut raw, 2, Request::Provision(secrets())).await,
        Response::Provisioned
    );
    let client_nonce = vec![3u8; 32];
    let proof = hello::host_proof(&internal_key(), &challenge, &client_nonce);
    let r = send(
        &mut raw,
        3,
        Request::Hello {
            version: 1,
            client_nonce,
            proof,
        },
    )
    .await;
    assert!(matches!(r, Response::Hello(_)), "{r:?}");
    assert!(
        !signer.log().contains(INTERNAL_KEY),
        "secrets are never logged"
    );

    // A second connection: provisioned already, so hello first; a second
    // Provision is refused.
    let mut raw = tokio::net::UnixStream::connect(&signer.socket)
        .await
        .unwrap();
    let (_, provisioning) = read_challenge(&mut raw).await;
    assert!(!provisioning);
    refused(
        &send(&mut raw, 1, Request::Provision(secrets())).await,
        ErrorCode::Unauthenticated,
    );
}

#[tokio::test]
async fn a_waiting_signer_refuses_a_hello_and_other_requests_before_its_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let signer = awaiting(dir.path());
    let mut raw = tokio::net::UnixStream::connect(&signer.socket)
        .await
        .unwrap();
    let (challenge, _) = read_challenge(&mut raw).await;
    let proof = hello::host_proof(&internal_key(), &challenge, &[1; 32]);
    refused(
        &send(
            &mut raw,
            1,
            Request::Hello {
                version: 1,
                client_nonce: vec![1; 32],
                proof,
            },
        )
        .await,
        ErrorCode::Unauthenticated,
    );
    for body in [
        Request::Generate {
            key_id: "k".into(),
            key_type: KeyType::P256,
            settings: None,
        },
        Request::Attest {
            nonce: None,
            key_id: Some("k".into()),
        },
        Request::Status,
    ] {
        let mut raw = tokio::net::UnixStream::connect(&signer.socket)
            .await
            .unwrap();
        read_challenge(&mut raw).await;
        refused(&send(&mut raw, 1, body).await, ErrorCode::Unauthenticated);
    }
    // Weak secrets are refused outside dev attestation only; here (dev) a
    // non-UTF-8 key is still refused.
    let mut raw = tokio::net::UnixStream::connect(&signer.socket)
        .await
        .unwrap();
    read_challenge(&mut raw).await;
    let mut bad = secrets();
    bad.internal_api_key = vec![0xff, 0xfe];
    refused(
        &send(&mut raw, 1, Request::Provision(bad)).await,
        ErrorCode::BadRequest,
    );
}

struct Host;

impl Provisioner for Host {
    fn check(&self, document: Option<&[u8]>, _nonce: &[u8]) -> Result<(), String> {
        document.map(|_| ()).ok_or_else(|| "no document".into())
    }
    fn secrets(&self) -> ProvisionSecrets {
        secrets()
    }
}

struct Refuses;

impl Provisioner for Refuses {
    fn check(&self, _: Option<&[u8]>, _: &[u8]) -> Result<(), String> {
        Err("PCR0 is not the expected one".into())
    }
    fn secrets(&self) -> ProvisionSecrets {
        panic!("secrets must not be asked for after a failed check")
    }
}

#[tokio::test]
async fn the_client_provisions_only_after_its_check_passes() {
    let dir = tempfile::tempdir().unwrap();
    let signer = awaiting(dir.path());
    let t = Duration::from_secs(10);
    match SignerClient::connect(&signer.addr(), &internal_key(), t).await {
        Err(ClientError::Provisioning(m)) => assert!(m.contains("waits for its secrets"), "{m}"),
        other => panic!("{:?}", other.map(|_| ())),
    }
    match SignerClient::connect_provisioning(&signer.addr(), &internal_key(), t, Some(&Refuses))
        .await
    {
        Err(ClientError::Provisioning(m)) => assert!(m.contains("PCR0"), "{m}"),
        other => panic!("{:?}", other.map(|_| ())),
    }
    let (client, hello) =
        SignerClient::connect_provisioning(&signer.addr(), &internal_key(), t, Some(&Host))
            .await
            .unwrap();
    assert_eq!(hello.info.sealing.as_ref().unwrap().mode, "dev");
    assert!(matches!(
        client.call(Request::Status).await.unwrap(),
        Response::Status(_)
    ));
}

fn start_fails(args: &[&str], env: &[(&str, &str)], says: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_signet-enclave"))
        .arg("--listen")
        .arg(format!("unix:{}", dir.path().join("s.sock").display()))
        .args(["--dev-dir"])
        .arg(dir.path().join("dev"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(says), "{args:?}: {err}");
}

#[test]
fn inconsistent_sealing_and_secret_flags_refuse_to_start() {
    start_fails(
        &["--attestation", "dev", "--sealing", "kms"],
        &[],
        "--kms-key-id",
    );
    start_fails(
        &[
            "--attestation",
            "none",
            "--sealing",
            "kms",
            "--kms-key-id",
            "arn:aws:kms:us-east-1:111122223333:key/k",
            "--kms-region",
            "us-east-1",
            "--kms-proxy",
            "tcp://127.0.0.1:1",
        ],
        &[
            ("INTERNAL_API_KEY", INTERNAL_KEY),
            ("TICKET_SIGNING_SECRET", TICKET_SECRET),
        ],
        "needs attestation",
    );
    start_fails(
        &[
            "--attestation",
            "dev",
            "--sealing",
            "kms",
            "--kms-key-id",
            "alias/signet",
            "--kms-region",
            "us-east-1",
            "--kms-proxy",
            "tcp://127.0.0.1:1",
        ],
        &[],
        "key ARN",
    );
    start_fails(
        &["--attestation", "dev", "--secrets", "host"],
        &[("INTERNAL_API_KEY", INTERNAL_KEY)],
        "--secrets host",
    );
}

#[tokio::test]
async fn list_pages_past_one_frame() {
    let dir = tempfile::tempdir().unwrap();
    let signer = SignerProcess::start(dir.path());
    let (client, _) = signer.client().await;
    // 2,100 ids of 128 bytes: ~270 KB of ids, more than one 256 KiB frame.
    let ids: Vec<String> = (0..2100).map(|i| format!("{i:0>128}")).collect();
    let client = std::sync::Arc::new(client);
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in ids.chunks(300) {
        let (client, chunk) = (std::sync::Arc::clone(&client), chunk.to_vec());
        tasks.spawn(async move {
            for id in chunk {
                let r = client
                    .call(Request::Generate {
                        key_id: id,
                        key_type: KeyType::Ed25519,
                        settings: None,
                    })
                    .await
                    .unwrap();
                assert!(matches!(r, Response::Generated(_)));
            }
        });
    }
    while let Some(t) = tasks.join_next().await {
        t.unwrap();
    }
    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let r = client
            .call(Request::List {
                after: after.clone(),
                limit: None,
            })
            .await
            .unwrap();
        let Response::Keys { key_ids, next } = r else {
            panic!("{r:?}")
        };
        assert!(key_ids.len() <= MAX_LIST_PAGE as usize);
        pages += 1;
        seen.extend(key_ids);
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids, "every id once, in order");
    let r = client
        .call(Request::List {
            after: None,
            limit: Some(5),
        })
        .await
        .unwrap();
    let Response::Keys { key_ids, next } = r else {
        panic!()
    };
    assert_eq!(key_ids.len(), 5);
    assert_eq!(next.as_deref(), Some(ids[4].as_str()));
}

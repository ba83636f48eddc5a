//! The KMS fake as a process: real TLS, SigV4-signed calls, Recipient
//! envelopes opened with the enclave's key, key policies, faults, control API.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::*;
use serde_json::{json, Value};

const SEALING: &str = "sealing";
const OPEN: &str = "open";
const CONTEXT: &str = "signet-sealing";

fn arn(id: &str) -> String {
    format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{id}")
}

/// `sealing` under the Terraform policy (alias `signet-sealing`), `open`
/// under KMS's default policy.
fn start(env: &Env, extra: &[&str]) -> FakeKms {
    let policy = env.terraform_policy(&pcrs());
    let sealing = format!("{SEALING}={}", path_str(&policy));
    let mut args = vec![
        "--key",
        &sealing,
        "--key",
        OPEN,
        "--alias",
        "signet-sealing=sealing",
    ];
    args.extend_from_slice(extra);
    env.start(&args)
}

fn context() -> Value {
    json!({"purpose": CONTEXT})
}

fn generate_data_key(key: &str, recipient: Option<Value>) -> Value {
    let mut body = json!({"KeyId": key, "KeySpec": "AES_256", "EncryptionContext": context()});
    if let Some(r) = recipient {
        body["Recipient"] = r;
    }
    body
}

fn decrypt(blob: &[u8], recipient: Option<Value>) -> Value {
    let mut body = json!({"CiphertextBlob": b64(blob), "EncryptionContext": context()});
    if let Some(r) = recipient {
        body["Recipient"] = r;
    }
    body
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Opens `CiphertextForRecipient` of a reply with the test enclave's key.
fn open_reply(env: &Env, reply: &Reply) -> Result<Vec<u8>, String> {
    let envelope = read_envelope(&reply.b64("CiphertextForRecipient"))?;
    if envelope.rid != env.enclave.rid() {
        return Err("rid is not the enclave's key".into());
    }
    env.enclave.open(&envelope)
}

#[tokio::test]
async fn generate_data_key_with_recipient_returns_only_an_envelope_for_the_enclave() {
    let env = Env::new();
    let kms = start(&env, &[]);
    let reply = kms
        .ok_call(
            &INSTANCE,
            "GenerateDataKey",
            &generate_data_key(SEALING, Some(env.recipient())),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.json());
    assert_eq!(reply.headers["content-type"], "application/x-amz-json-1.1");
    assert!(reply.headers.contains_key("x-amzn-requestid"));
    assert!(
        !reply.has("Plaintext"),
        "KMS never returns Plaintext with Recipient"
    );
    assert!(!reply.has("KeyMaterialId"));
    assert_eq!(reply.json()["KeyId"], arn(SEALING));

    let envelope = read_envelope(&reply.b64("CiphertextForRecipient")).unwrap();
    assert_eq!(envelope.rid, env.enclave.rid());
    assert_eq!(
        envelope.key_encryption_algorithm,
        captured_key_encryption_algorithm()
    );
    assert!(envelope.constructed_content);
    assert_eq!(envelope.iv.len(), 16);
    let data_key = env.enclave.open(&envelope).unwrap();
    assert_eq!(data_key.len(), 32);

    // Decrypt of the blob, with a fresh document, by key id, ARN or alias.
    let blob = reply.b64("CiphertextBlob");
    for key_id in [
        None,
        Some(SEALING.to_owned()),
        Some(arn(SEALING)),
        Some("alias/signet-sealing".to_owned()),
    ] {
        let mut body = decrypt(&blob, Some(env.recipient()));
        if let Some(k) = &key_id {
            body["KeyId"] = json!(k);
        }
        let reply = kms.ok_call(&INSTANCE, "Decrypt", &body).await;
        assert_eq!(reply.status, 200, "{key_id:?}: {}", reply.json());
        assert!(!reply.has("Plaintext"));
        assert_eq!(reply.json()["KeyId"], arn(SEALING));
        assert_eq!(reply.json()["EncryptionAlgorithm"], "SYMMETRIC_DEFAULT");
        assert_eq!(open_reply(&env, &reply).unwrap(), data_key);
    }
}

#[tokio::test]
async fn the_terraform_policy_refuses_without_recipient_other_images_and_admins() {
    let env = Env::new();
    let kms = start(&env, &[]);
    let plain = kms
        .ok_call(
            &INSTANCE,
            "GenerateDataKey",
            &generate_data_key(SEALING, None),
        )
        .await;
    assert_eq!(plain.error_type(), "AccessDeniedException");
    let message = plain.json()["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains(&format!("User: {INSTANCE_ARN} is not authorized to perform: kms:GenerateDataKey on resource: {}", arn(SEALING))),
        "{message}"
    );
    assert!(message.contains("explicit deny"), "{message}");

    let blob = kms
        .ok_call(
            &INSTANCE,
            "GenerateDataKey",
            &generate_data_key(SEALING, Some(env.recipient())),
        )
        .await
        .b64("CiphertextBlob");
    let plain = kms
        .ok_call(&INSTANCE, "Decrypt", &decrypt(&blob, None))
        .await;
    assert_eq!(plain.error_type(), "AccessDeniedException");
    assert!(plain.json()["message"]
        .as_str()
        .unwrap()
        .contains("kms:Decrypt"));

    let mut other = pcrs();
    other.insert(0, vec![0x42; 48]);
    let other_image = kms
        .ok_call(
            &INSTANCE,
            "Decrypt",
            &decrypt(&blob, Some(recipient(&env.document(other)))),
        )
        .await;
    assert_eq!(other_image.error_type(), "AccessDeniedException");
    assert!(other_image.json()["message"]
        .as_str()
        .unwrap()
        .contains("because no resource-based policy allows the kms:Decrypt action"));

    let mut other_pcr2 = pcrs();
    other_pcr2.insert(2, vec![0x42; 48]);
    let reply = kms
        .ok_call(
            &INSTANCE,
            "Decrypt",
            &decrypt(&blob, Some(recipient(&env.document(other_pcr2)))),
        )
        .await;
    assert_eq!(reply.error_type(), "AccessDeniedException");

    let admin = kms
        .ok_call(&ADMIN, "Decrypt", &decrypt(&blob, Some(env.recipient())))
        .await;
    assert_eq!(admin.error_type(), "AccessDeniedException");
    let dev = kms
        .ok_call(&DEV, "Decrypt", &decrypt(&blob, Some(env.recipient())))
        .await;
    assert_eq!(dev.error_type(), "AccessDeniedException");
}

#[tokio::test]
async fn a_permissive_policy_returns_plaintext_as_kms_does() {
    let env = Env::new();
    let kms = start(&env, &[]);
    let reply = kms
        .ok_call(&DEV, "GenerateDataKey", &generate_data_key(OPEN, None))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.json());
    let data_key = reply.b64("Plaintext");
    assert_eq!(data_key.len(), 32);
    assert!(reply.has("KeyMaterialId"));
    assert!(!reply.has("CiphertextForRecipient"));
    let blob = reply.b64("CiphertextBlob");

    let reply = kms.ok_call(&DEV, "Decrypt", &decrypt(&blob, None)).await;
    assert_eq!(reply.b64("Plaintext"), data_key);
    assert_eq!(reply.json()["KeyId"], arn(OPEN));

    // And with Recipient, the envelope instead.
    let reply = kms
        .ok_call(&DEV, "Decrypt", &decrypt(&blob, Some(env.recipient())))
        .await;
    assert!(!reply.has("Plaintext"));
    assert_eq!(open_reply(&env, &reply).unwrap(), data_key);

    let sized = kms
        .ok_call(
            &DEV,
            "GenerateDataKey",
            &json!({"KeyId": OPEN, "NumberOfBytes": 64}),
        )
        .await;
    assert_eq!(sized.b64("Plaintext").len(), 64);
    let aes128 = kms
        .ok_call(
            &DEV,
            "GenerateDataKey",
            &json!({"KeyId": OPEN, "KeySpec": "AES_128"}),
        )
        .await;
    assert_eq!(aes128.b64("Plaintext").len(), 16);

    let random = kms
        .ok_call(&DEV, "GenerateRandom", &json!({"NumberOfBytes": 48}))
        .await;
    assert_eq!(random.b64("Plaintext").len(), 48);
    let random = kms
        .ok_call(
            &DEV,
            "GenerateRandom",
            &json!({"NumberOfBytes": 48, "Recipient": env.recipient()}),
        )
        .await;
    assert!(!random.has("Plaintext"));
    assert_eq!(open_reply(&env, &random).unwrap().len(), 48);
}

#[tokio::test]
async fn decrypt_refuses_other_contexts_tampered_blobs_and_other_keys() {
    let env = Env::new();
    let kms = start(&env, &[]);
    let blob = kms
        .ok_call(&DEV, "GenerateDataKey", &generate_data_key(OPEN, None))
        .await
        .b64("CiphertextBlob");

    let mut other_context = decrypt(&blob, None);
    other_context["EncryptionContext"] = json!({"purpose": "other"});
    let reply = kms.ok_call(&DEV, "Decrypt", &other_context).await;
    assert_eq!(reply.error_type(), "InvalidCiphertextException");
    let mut no_context = decrypt(&blob, None);
    no_context
        .as_object_mut()
        .unwrap()
        .remove("EncryptionContext");
    assert_eq!(
        kms.ok_call(&DEV, "Decrypt", &no_context).await.error_type(),
        "InvalidCiphertextException"
    );

    let mut tampered = blob.clone();
    *tampered.last_mut().unwrap() ^= 1;
    assert_eq!(
        kms.ok_call(&DEV, "Decrypt", &decrypt(&tampered, None))
            .await
            .error_type(),
        "InvalidCiphertextException"
    );
    assert_eq!(
        kms.ok_call(&DEV, "Decrypt", &decrypt(b"not a blob", None))
            .await
            .error_type(),
        "InvalidCiphertextException"
    );

    let mut wrong_key = decrypt(&blob, None);
    wrong_key["KeyId"] = json!(SEALING);
    assert_eq!(
        kms.ok_call(&DEV, "Decrypt", &wrong_key).await.error_type(),
        "IncorrectKeyException"
    );
    wrong_key["KeyId"] = json!("no-such-key");
    assert_eq!(
        kms.ok_call(&DEV, "Decrypt", &wrong_key).await.error_type(),
        "NotFoundException"
    );
    let mut asymmetric = decrypt(&blob, None);
    asymmetric["EncryptionAlgorithm"] = json!("RSAES_OAEP_SHA_256");
    assert_eq!(
        kms.ok_call(&DEV, "Decrypt", &asymmetric).await.error_type(),
        "InvalidKeyUsageException"
    );
}

#[tokio::test]
async fn each_fault_applies_once() {
    let env = Env::new();
    let kms = start(&env, &[]);
    let gdk = || generate_data_key(SEALING, Some(env.recipient()));

    // Call faults.
    kms.faults(r#"{"reset":1}"#).await;
    assert!(
        kms.call(&INSTANCE, "GenerateDataKey", &gdk())
            .await
            .is_err(),
        "the connection is closed"
    );
    assert_eq!(
        kms.ok_call(&INSTANCE, "GenerateDataKey", &gdk())
            .await
            .status,
        200
    );

    for (fault, status, error) in [
        ("throttle", 400, "ThrottlingException"),
        ("internal_error", 500, "KMSInternalException"),
        ("expired_token", 400, "ExpiredTokenException"),
    ] {
        kms.faults(&format!(r#"{{"{fault}":1}}"#)).await;
        let reply = kms.ok_call(&INSTANCE, "GenerateDataKey", &gdk()).await;
        assert_eq!(
            (reply.status, reply.error_type().as_str()),
            (status, error),
            "{fault}"
        );
        assert_eq!(
            kms.ok_call(&INSTANCE, "GenerateDataKey", &gdk())
                .await
                .status,
            200,
            "{fault} applies once"
        );
    }

    kms.faults(r#"{"delay_ms":400,"delay_count":1}"#).await;
    let started = Instant::now();
    assert_eq!(
        kms.ok_call(&INSTANCE, "GenerateDataKey", &gdk())
            .await
            .status,
        200
    );
    assert!(started.elapsed() >= Duration::from_millis(400));

    // Tampering of Recipient responses.
    kms.faults(r#"{"plaintext_too":1}"#).await;
    let reply = kms.ok_call(&INSTANCE, "GenerateDataKey", &gdk()).await;
    assert_eq!(reply.b64("Plaintext"), open_reply(&env, &reply).unwrap());
    assert!(!kms
        .ok_call(&INSTANCE, "GenerateDataKey", &gdk())
        .await
        .has("Plaintext"));

    kms.faults(r#"{"other_key_id":1}"#).await;
    let reply = kms.ok_call(&INSTANCE, "GenerateDataKey", &gdk()).await;
    let key_id = reply.json()["KeyId"].as_str().unwrap().to_owned();
    assert_ne!(key_id, arn(SEALING));
    assert!(
        key_id.starts_with(&format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/")),
        "{key_id}"
    );
    assert_eq!(
        kms.ok_call(&INSTANCE, "GenerateDataKey", &gdk())
            .await
            .json()["KeyId"],
        arn(SEALING)
    );

    kms.faults(r#"{"wrong_rid":1}"#).await;
    let reply = kms.ok_call(&INSTANCE, "GenerateDataKey", &gdk()).await;
    let envelope = read_envelope(&reply.b64("CiphertextForRecipient")).unwrap();
    assert_ne!(envelope.rid, env.enclave.rid());
    assert_eq!(envelope.rid.len(), 32);
    assert_eq!(
        env.enclave.open(&envelope).unwrap().len(),
        32,
        "only the rid is wrong"
    );

    kms.faults(r#"{"tamper_cms":1}"#).await;
    let reply = kms.ok_call(&INSTANCE, "GenerateDataKey", &gdk()).await;
    assert!(open_reply(&env, &reply).is_err());

    kms.faults(r#"{"short_key":1}"#).await;
    let reply = kms.ok_call(&INSTANCE, "GenerateDataKey", &gdk()).await;
    assert_eq!(open_reply(&env, &reply).unwrap().len(), 16);
    // The blob still holds the whole key: Decrypt returns 32 bytes.
    let blob = reply.b64("CiphertextBlob");
    let reply = kms
        .ok_call(&INSTANCE, "Decrypt", &decrypt(&blob, Some(env.recipient())))
        .await;
    assert_eq!(open_reply(&env, &reply).unwrap().len(), 32);

    let (_, state) = kms.control("GET", "/faults", "").await;
    for (name, value) in state.as_object().unwrap() {
        if name != "delay_ms" {
            assert_eq!(value, 0, "{name} left over");
        }
    }
    let (status, _) = kms.control("POST", "/faults", r#"{"thrtotle":1}"#).await;
    assert_eq!(status, 400, "typos are refused");

    let faults: Vec<Value> = kms
        .calls()
        .await
        .into_iter()
        .map(|c| c["fault"].clone())
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(
        faults,
        [
            "reset",
            "throttle",
            "internal_error",
            "expired_token",
            "delay",
            "plaintext_too",
            "other_key_id",
            "wrong_rid",
            "tamper_cms",
            "short_key"
        ]
        .map(Value::from)
    );
}

#[tokio::test]
async fn a_disabled_key_refuses_every_use_until_enabled() {
    let env = Env::new();
    let kms = start(&env, &[]);
    let blob = kms
        .ok_call(
            &INSTANCE,
            "GenerateDataKey",
            &generate_data_key(SEALING, Some(env.recipient())),
        )
        .await
        .b64("CiphertextBlob");

    // The instance may not disable the key; the administrator may.
    let reply = kms
        .ok_call(&INSTANCE, "DisableKey", &json!({"KeyId": SEALING}))
        .await;
    assert_eq!(reply.error_type(), "AccessDeniedException");
    let reply = kms
        .ok_call(&ADMIN, "DisableKey", &json!({"KeyId": arn(SEALING)}))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({}));

    for (op, body) in [
        (
            "GenerateDataKey",
            generate_data_key(SEALING, Some(env.recipient())),
        ),
        ("Decrypt", decrypt(&blob, Some(env.recipient()))),
    ] {
        let reply = kms.ok_call(&INSTANCE, op, &body).await;
        assert_eq!(reply.error_type(), "DisabledException", "{op}");
        assert!(reply.json()["message"]
            .as_str()
            .unwrap()
            .contains(&arn(SEALING)));
    }
    assert_eq!(
        kms.ok_call(&ADMIN, "EnableKey", &json!({"KeyId": SEALING}))
            .await
            .status,
        200
    );
    assert_eq!(
        kms.ok_call(&INSTANCE, "Decrypt", &decrypt(&blob, Some(env.recipient())))
            .await
            .status,
        200
    );

    // The control API does the same without a policy.
    let (status, body) = kms.control("POST", "/disable?key=open", "").await;
    assert_eq!((status, body["enabled"].clone()), (200, json!(false)));
    let reply = kms
        .ok_call(&DEV, "GenerateDataKey", &generate_data_key(OPEN, None))
        .await;
    assert_eq!(reply.error_type(), "DisabledException");
    assert_eq!(kms.control("POST", "/enable?key=open", "").await.0, 200);
    assert_eq!(
        kms.ok_call(&DEV, "GenerateDataKey", &generate_data_key(OPEN, None))
            .await
            .status,
        200
    );
    assert_eq!(kms.control("POST", "/disable?key=nope", "").await.0, 404);
}

#[tokio::test]
async fn calls_are_logged_and_can_be_cleared() {
    let env = Env::new();
    let kms = start(&env, &[]);
    kms.ok_call(
        &INSTANCE,
        "GenerateDataKey",
        &generate_data_key("alias/signet-sealing", Some(env.recipient())),
    )
    .await;
    kms.ok_call(
        &INSTANCE,
        "GenerateDataKey",
        &generate_data_key(SEALING, None),
    )
    .await;
    kms.ok_call(
        &INSTANCE.with_secret("wrong"),
        "GenerateRandom",
        &json!({"NumberOfBytes": 8}),
    )
    .await;
    let calls = kms.calls().await;
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[0]["operation"], "GenerateDataKey");
    assert_eq!(calls[0]["key_id"], arn(SEALING));
    assert_eq!(calls[0]["recipient"], true);
    assert_eq!(calls[0]["status"], 200);
    assert_eq!(calls[0]["error"], Value::Null);
    assert_eq!(calls[0]["principal"], INSTANCE_ARN);
    assert_eq!(calls[0]["encryption_context"], context());
    assert_eq!(calls[1]["recipient"], false);
    assert_eq!(calls[1]["status"], 400);
    assert_eq!(calls[1]["error"], "AccessDeniedException");
    assert_eq!(calls[2]["operation"], "GenerateRandom");
    assert_eq!(calls[2]["error"], "InvalidSignatureException");
    assert_eq!(calls[2]["principal"], Value::Null);
    let log = kms.log();
    assert!(
        !log.contains("instance-secret") && !log.contains("instance-session-token"),
        "secrets in the log"
    );
    assert!(
        kms.extra_stdout().is_empty(),
        "stdout carries only the ready line"
    );

    assert_eq!(kms.control("DELETE", "/calls", "").await.0, 200);
    assert!(kms.calls().await.is_empty());
    assert_eq!(kms.control("GET", "/health", "").await.0, 200);
}

#[tokio::test]
async fn authentication_failures_get_aws_errors() {
    let env = Env::new();
    let expired = "AKIAOLD:old-secret:arn:aws:iam::111122223333:user/old::1000000000";
    let kms = start(&env, &["--credentials", expired]);
    let body = serde_json::to_vec(&generate_data_key(OPEN, None)).unwrap();
    let now = SystemTime::now();

    let reply = kms
        .call(
            &DEV.with_secret("wrong"),
            "GenerateDataKey",
            &generate_data_key(OPEN, None),
        )
        .await
        .unwrap();
    assert_eq!(reply.error_type(), "InvalidSignatureException");
    assert!(reply.headers.contains_key("x-amzn-requestid"));
    assert_eq!(reply.headers["content-type"], "application/x-amz-json-1.1");

    let stale = kms
        .send(signed_request(
            &DEV,
            "GenerateDataKey",
            body.clone(),
            now - Duration::from_secs(600),
        ))
        .await
        .unwrap();
    assert_eq!(stale.error_type(), "InvalidSignatureException");
    assert!(stale.json()["message"]
        .as_str()
        .unwrap()
        .starts_with("Signature expired"));

    let other_region = kms
        .send(signed_request_for(
            &DEV,
            "GenerateDataKey",
            body.clone(),
            now,
            "us-west-2",
        ))
        .await
        .unwrap();
    assert_eq!(other_region.error_type(), "InvalidSignatureException");

    let mut altered = signed_request(&DEV, "GenerateDataKey", body.clone(), now);
    *altered.body_mut() = http_body_util::Full::new(bytes::Bytes::from(
        serde_json::to_vec(&generate_data_key(SEALING, None)).unwrap(),
    ));
    altered.headers_mut().remove("content-length");
    assert_eq!(
        kms.send(altered).await.unwrap().error_type(),
        "InvalidSignatureException"
    );

    let mut unsigned = signed_request(&DEV, "GenerateDataKey", body.clone(), now);
    unsigned.headers_mut().remove("authorization");
    assert_eq!(
        kms.send(unsigned).await.unwrap().error_type(),
        "MissingAuthenticationTokenException"
    );

    let stranger = Caller {
        akid: "AKIASTRANGER",
        secret: "x",
        token: None,
        arn: DEV_ARN,
    };
    assert_eq!(
        kms.send(signed_request(
            &stranger,
            "GenerateDataKey",
            body.clone(),
            now
        ))
        .await
        .unwrap()
        .error_type(),
        "UnrecognizedClientException"
    );
    let no_token = Caller {
        token: None,
        ..INSTANCE
    };
    assert_eq!(
        kms.send(signed_request(
            &no_token,
            "GenerateDataKey",
            body.clone(),
            now
        ))
        .await
        .unwrap()
        .error_type(),
        "UnrecognizedClientException"
    );
    let old = Caller {
        akid: "AKIAOLD",
        secret: "old-secret",
        token: None,
        arn: "arn:aws:iam::111122223333:user/old",
    };
    assert_eq!(
        kms.send(signed_request(&old, "GenerateDataKey", body, now))
            .await
            .unwrap()
            .error_type(),
        "ExpiredTokenException"
    );
}

#[tokio::test]
async fn malformed_requests_are_refused() {
    let env = Env::new();
    let kms = start(&env, &[]);
    let raw = |op: &str, body: &[u8]| signed_request(&DEV, op, body.to_vec(), SystemTime::now());

    assert_eq!(
        kms.send(raw("CreateKey", b"{}"))
            .await
            .unwrap()
            .error_type(),
        "UnknownOperationException"
    );
    assert_eq!(
        kms.send(raw("GenerateDataKey", b"{not json"))
            .await
            .unwrap()
            .error_type(),
        "SerializationException"
    );
    assert_eq!(
        kms.send(raw("GenerateDataKey", br#"{"KeyId": 7}"#))
            .await
            .unwrap()
            .error_type(),
        "SerializationException"
    );
    let big = vec![b' '; 65 * 1024];
    assert_eq!(
        kms.send(raw("GenerateDataKey", &big)).await.unwrap().status,
        413
    );

    for (op, body, expected) in [
        (
            "GenerateDataKey",
            json!({"KeySpec": "AES_256"}),
            "ValidationException",
        ),
        (
            "GenerateDataKey",
            json!({"KeyId": OPEN}),
            "ValidationException",
        ),
        (
            "GenerateDataKey",
            json!({"KeyId": OPEN, "KeySpec": "AES_256", "NumberOfBytes": 32}),
            "ValidationException",
        ),
        (
            "GenerateDataKey",
            json!({"KeyId": OPEN, "NumberOfBytes": 1025}),
            "ValidationException",
        ),
        (
            "GenerateDataKey",
            json!({"KeyId": OPEN, "KeySpec": "AES_512"}),
            "ValidationException",
        ),
        (
            "GenerateDataKey",
            json!({"KeyId": "no-such-key", "KeySpec": "AES_256"}),
            "NotFoundException",
        ),
        (
            "GenerateDataKey",
            json!({"KeyId": "alias/nope", "KeySpec": "AES_256"}),
            "NotFoundException",
        ),
        (
            "GenerateDataKey",
            json!({"KeyId": OPEN, "KeySpec": "AES_256", "DryRun": true}),
            "DryRunOperationException",
        ),
        ("Decrypt", json!({}), "ValidationException"),
        (
            "GenerateRandom",
            json!({"NumberOfBytes": 0}),
            "ValidationException",
        ),
        ("DisableKey", json!({}), "ValidationException"),
    ] {
        let reply = kms.ok_call(&DEV, op, &body).await;
        assert_eq!(reply.error_type(), expected, "{op} {body}");
    }
}

#[tokio::test]
async fn recipients_must_be_verified_attestation_documents_with_an_rsa_key() {
    let env = Env::new();
    let kms = start(&env, &[]);
    let refused = |reply: Reply| {
        assert_eq!(
            reply.error_type(),
            "ValidationException",
            "{}",
            reply.json()
        );
        reply.json()["message"].as_str().unwrap().to_owned()
    };

    // Another (untrusted) dev CA.
    let stranger = signet_attestation::dev::DevIssuer::ephemeral().unwrap();
    let doc = stranger
        .issue(&signet_attestation::dev::DevDocument {
            module_id: "dev-stranger".into(),
            pcrs: pcrs(),
            public_key: Some(env.enclave.spki.clone()),
            ..Default::default()
        })
        .unwrap();
    refused(
        kms.ok_call(
            &DEV,
            "GenerateDataKey",
            &generate_data_key(OPEN, Some(recipient(&doc))),
        )
        .await,
    );

    let mut tampered = env.document(pcrs());
    let at = tampered.len() - 10;
    tampered[at] ^= 1;
    refused(
        kms.ok_call(
            &DEV,
            "GenerateDataKey",
            &generate_data_key(OPEN, Some(recipient(&tampered))),
        )
        .await,
    );

    let no_key = env
        .issuer
        .issue(&signet_attestation::dev::DevDocument {
            module_id: "dev-x".into(),
            pcrs: pcrs(),
            ..Default::default()
        })
        .unwrap();
    let message = refused(
        kms.ok_call(
            &DEV,
            "GenerateDataKey",
            &generate_data_key(OPEN, Some(recipient(&no_key))),
        )
        .await,
    );
    assert!(message.contains("public key"), "{message}");

    let ec_key = env
        .issuer
        .issue(&signet_attestation::dev::DevDocument {
            module_id: "dev-x".into(),
            pcrs: pcrs(),
            public_key: Some(p384_spki()),
            ..Default::default()
        })
        .unwrap();
    refused(
        kms.ok_call(
            &DEV,
            "GenerateDataKey",
            &generate_data_key(OPEN, Some(recipient(&ec_key))),
        )
        .await,
    );

    let mut sha1 = env.recipient();
    sha1["KeyEncryptionAlgorithm"] = json!("RSAES_OAEP_SHA_1");
    refused(
        kms.ok_call(
            &DEV,
            "GenerateDataKey",
            &generate_data_key(OPEN, Some(sha1)),
        )
        .await,
    );
    refused(
        kms.ok_call(
            &DEV,
            "GenerateDataKey",
            &generate_data_key(OPEN, Some(json!({}))),
        )
        .await,
    );
}

fn p384_spki() -> Vec<u8> {
    use p384::pkcs8::EncodePublicKey as _;
    let key = p384::SecretKey::random(&mut rand_core::OsRng).public_key();
    key.to_public_key_der().unwrap().as_bytes().to_vec()
}

#[tokio::test]
async fn policies_can_be_replaced_over_the_control_api() {
    let env = Env::new();
    let kms = start(&env, &[]);
    let deny_dev = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Principal": {"AWS": DEV_ARN}, "Action": "kms:GenerateDataKey", "Resource": "*"}
    ]});
    assert_eq!(
        kms.control("PUT", "/policy?key=open", &deny_dev.to_string())
            .await
            .0,
        200
    );
    assert_eq!(
        kms.ok_call(&DEV, "GenerateDataKey", &generate_data_key(OPEN, None))
            .await
            .error_type(),
        "AccessDeniedException"
    );
    assert_eq!(
        kms.ok_call(&ADMIN, "GenerateDataKey", &generate_data_key(OPEN, None))
            .await
            .status,
        200
    );
    assert_eq!(
        kms.control("PUT", "/policy?key=open", r#"{"Statement": 3}"#)
            .await
            .0,
        400
    );
    assert_eq!(
        kms.control("PUT", "/policy?key=open", "nonsense").await.0,
        400
    );
    assert_eq!(
        kms.control("PUT", "/policy?key=nope", &deny_dev.to_string())
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn a_restarted_fake_keeps_its_ca_and_decrypts_its_blobs() {
    let env = Env::new();
    let (ca, blob, data_key) = {
        let kms = start(&env, &[]);
        let reply = kms
            .ok_call(&DEV, "GenerateDataKey", &generate_data_key(OPEN, None))
            .await;
        (
            std::fs::read(kms.dir.join("ca.pem")).unwrap(),
            reply.b64("CiphertextBlob"),
            reply.b64("Plaintext"),
        )
    };
    let kms = start(&env, &[]);
    assert_eq!(std::fs::read(kms.dir.join("ca.pem")).unwrap(), ca);
    assert_eq!(
        kms.ok_call(&DEV, "Decrypt", &decrypt(&blob, None))
            .await
            .b64("Plaintext"),
        data_key
    );
}

#[tokio::test]
async fn primitive_content_is_available() {
    let env = Env::new();
    let kms = start(&env, &["--cms-content", "primitive"]);
    let reply = kms
        .ok_call(
            &INSTANCE,
            "GenerateDataKey",
            &generate_data_key(SEALING, Some(env.recipient())),
        )
        .await;
    let envelope = read_envelope(&reply.b64("CiphertextForRecipient")).unwrap();
    assert!(!envelope.constructed_content);
    assert_eq!(env.enclave.open(&envelope).unwrap().len(), 32);
}

#[test]
fn stops_on_sigterm_and_when_stdin_closes() {
    let env = Env::new();
    let kms = env.start(&["--key", OPEN]);
    assert!(kms.terminate_and_wait(Duration::from_secs(10)).success());
    let kms = env.start(&["--key", OPEN]);
    assert!(kms.close_stdin_and_wait(Duration::from_secs(10)).success());
}

/// The policy as the Terraform module renders it (terraform/tests/render_kms_policy.py
/// over modules/signet, with the infra venv's Python), for `pcrs`, the
/// instance role and `retired` versions.
fn module_policy(
    env: &Env,
    pcrs: &std::collections::BTreeMap<u8, Vec<u8>>,
    retired: &[u32],
) -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = std::env::var("SIGNET_INFRA_PYTHON").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
        format!("{home}/.cache/signet/infra-venv/bin/python")
    });
    let out = std::process::Command::new(&python)
        .arg(root.join("terraform/tests/render_kms_policy.py"))
        .arg(root.join("terraform/modules/signet"))
        .args(["--var", "name=signet-test"])
        .arg("--var")
        .arg(format!(
            "enclave_pcr_sets={}",
            json!([{
                "pcr0": hex::encode(&pcrs[&0]),
                "pcr1": hex::encode(&pcrs[&1]),
                "pcr2": hex::encode(&pcrs[&2]),
            }])
        ))
        .arg("--var")
        .arg(format!("kms_admin_role_arns=[\"{ADMIN_ARN}\"]"))
        .arg("--var")
        .arg(format!("retired_sealing_key_versions={}", json!(retired)))
        .args(["--account", ACCOUNT, "--region", REGION])
        .args([
            "--instance-role-arn",
            "arn:aws:iam::111122223333:role/signet-instance",
        ])
        .output()
        .unwrap_or_else(|e| panic!("{python}: {e} (scripts/test-infra.sh creates it)"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = env
        .dir
        .path()
        .join(format!("module-policy-{}.json", retired.len()));
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

fn signet_context(version: u32) -> Value {
    json!({"signet-purpose": "sealing-key", "signet-deployment": "signet-test", "signet-sealing-key-version": version.to_string()})
}

#[tokio::test]
async fn the_policy_the_module_renders_releases_the_key_only_to_the_attested_image() {
    let env = Env::new();
    let policy = module_policy(&env, &pcrs(), &[]);
    let key = format!("{SEALING}={}", path_str(&policy));
    let kms = env.start(&["--key", &key, "--key", OPEN]);
    let body = |version: u32, recipient: Option<Value>| {
        let mut b = json!({"KeyId": arn(SEALING), "KeySpec": "AES_256", "EncryptionContext": signet_context(version)});
        if let Some(r) = recipient {
            b["Recipient"] = r;
        }
        b
    };
    // Without a Recipient (the host asking for the plaintext key): denied.
    let plain = kms
        .ok_call(&INSTANCE, "GenerateDataKey", &body(1, None))
        .await;
    assert_eq!(plain.error_type(), "AccessDeniedException");
    assert!(!plain.has("Plaintext"));
    // The same call on a key with KMS's default policy returns Plaintext:
    // the refusal is the module policy's doing.
    let open = kms
        .ok_call(
            &INSTANCE,
            "GenerateDataKey",
            &json!({"KeyId": arn(OPEN), "KeySpec": "AES_256"}),
        )
        .await;
    assert!(open.has("Plaintext"), "{:?}", open.json());
    // Another deployment's context: denied.
    let mut foreign = body(1, Some(env.recipient()));
    foreign["EncryptionContext"]["signet-deployment"] = json!("another");
    assert_eq!(
        kms.ok_call(&INSTANCE, "GenerateDataKey", &foreign)
            .await
            .error_type(),
        "AccessDeniedException"
    );
    // Another image: denied.
    let mut other = pcrs();
    other.insert(0, vec![0x42; 48]);
    let reply = kms
        .ok_call(
            &INSTANCE,
            "GenerateDataKey",
            &body(1, Some(recipient(&env.document(other)))),
        )
        .await;
    assert_eq!(reply.error_type(), "AccessDeniedException");
    // The attested image: an envelope, no plaintext.
    let reply = kms
        .ok_call(
            &INSTANCE,
            "GenerateDataKey",
            &body(1, Some(env.recipient())),
        )
        .await;
    assert!(
        reply.has("CiphertextForRecipient") && !reply.has("Plaintext"),
        "{:?}",
        reply.json()
    );
    let blob = reply.b64("CiphertextBlob");

    // Version 1 retired in the policy: nobody can decrypt it any more,
    // not even the attested image; version 2 still works.
    kms.control(
        "PUT",
        &format!("/policy?key={SEALING}"),
        &std::fs::read_to_string(module_policy(&env, &pcrs(), &[1])).unwrap(),
    )
    .await;
    let decrypt_v1 = json!({"KeyId": arn(SEALING), "CiphertextBlob": b64(&blob), "EncryptionContext": signet_context(1), "Recipient": env.recipient()});
    let refused = kms.ok_call(&INSTANCE, "Decrypt", &decrypt_v1).await;
    assert_eq!(refused.error_type(), "AccessDeniedException");
    let v2 = kms
        .ok_call(
            &INSTANCE,
            "GenerateDataKey",
            &body(2, Some(env.recipient())),
        )
        .await;
    assert!(v2.has("CiphertextForRecipient"), "{:?}", v2.json());
}

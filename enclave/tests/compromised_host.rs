//! The compromised host, as a test: this process holds every host secret
//! (`INTERNAL_API_KEY`, `TICKET_SIGNING_SECRET`), every sealed blob and
//! record a host database would hold, and the signer socket. It speaks the
//! signer protocol directly — hello, generate, load, sign with tickets it
//! mints itself — against the real `signet-enclave` binary, and tries to get
//! a signature from an owner-gated wallet without its owners. Each attempt
//! must fail with the named refusal; only the owners' approvals of that exact
//! request get a signature, which an independent implementation verifies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{generate, now_s, record, request, verify_independently, Checked, SignerProcess};
use rand_core::OsRng;
use serde_json::{json, Value};
use signet_authority::eth::eip191_digest;
use signet_authority::keys::SoftPasskey;
use signet_authority::{
    payload_sha256, Authorization, OwnerKeyType, OwnerSecretKey, Record, Request as AuthzRequest,
};
use signet_proto::client::{ClientError, SignerClient};
use signet_proto::message::{GeneratedKey, SignRequest, SignatureInfo};
use signet_proto::{ErrorCode, KeyType, Request, Response};

const ORIGIN: &str = "https://signet.example";
const RP_ID: &str = "signet.example";

/// The owners of the gated wallets: an EIP-191 key, an Ed25519 key, a
/// P-256 key and a passkey.
struct Owners {
    ann: OwnerSecretKey,
    bob: OwnerSecretKey,
    cat: OwnerSecretKey,
    dan: SoftPasskey,
}

impl Owners {
    fn new() -> Self {
        Self {
            ann: OwnerSecretKey::generate(OwnerKeyType::Secp256k1, &mut OsRng),
            bob: OwnerSecretKey::generate(OwnerKeyType::Ed25519, &mut OsRng),
            cat: OwnerSecretKey::generate(OwnerKeyType::P256, &mut OsRng),
            dan: SoftPasskey::generate(&mut OsRng, RP_ID, ORIGIN),
        }
    }

    fn settings(&self, threshold: u32, policy: Option<Value>) -> String {
        let mut s = json!({
            "owners": [
                self.ann.owner("ann").unwrap().to_value(),
                self.bob.owner("bob").unwrap().to_value(),
                self.cat.owner("cat").unwrap().to_value(),
                self.dan.owner("dan", false).unwrap().to_value(),
            ],
            "threshold": threshold,
        });
        if let Some(p) = policy {
            s["policy"] = p;
        }
        s.to_string()
    }
}

/// The authorization of signing `content` (whose digest is `digest`) on the
/// wallet of `record`, living the full 600 s.
fn authorization(
    record: &Record,
    content: &Value,
    digest: [u8; 32],
    lifetime: u64,
) -> Authorization {
    let mut request_id = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut OsRng, &mut request_id);
    Authorization::new(
        record,
        AuthzRequest::Sign {
            payload_sha256: payload_sha256(content).unwrap(),
            digest,
        },
        now_s() + lifetime,
        request_id,
    )
    .unwrap()
}

async fn sign(client: &SignerClient, req: SignRequest) -> Result<SignatureInfo, ClientError> {
    match client.call(Request::Sign(req)).await? {
        Response::Signed(s) => Ok(s),
        other => panic!("{other:?}"),
    }
}

/// The refusal's code and detail (rule or reason).
fn refusal(result: Result<SignatureInfo, ClientError>) -> (ErrorCode, Option<String>) {
    match result {
        Err(ClientError::Signer { code, detail, .. }) => (code, detail),
        other => panic!("expected a signer refusal, got {other:?}"),
    }
}

fn message(text: &str) -> (Value, [u8; 32]) {
    (
        json!({"message": text, "encoding": "eip191"}),
        eip191_digest(text.as_bytes()),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_compromised_host_gets_no_signature_from_an_owner_gated_wallet_without_its_owners() {
    let dir = tempfile::tempdir().unwrap();
    let signer = SignerProcess::start(dir.path());
    let (client, _) = signer.client().await;
    let mut owners = Owners::new();
    // Two owners of four must approve; no kind is signable on a ticket alone.
    let gated = generate(
        &client,
        "gated",
        KeyType::Secp256k1,
        Some(owners.settings(2, None)),
    )
    .await;
    let other = generate(
        &client,
        "other",
        KeyType::Secp256k1,
        Some(owners.settings(2, None)),
    )
    .await;
    let (gated_record, other_record) = (record(&gated), record(&other));
    assert_eq!(
        gated_record.policy().allow(),
        &[],
        "owners and no policy: every signature needs them"
    );
    let (pay, pay_digest) = message("pay 1 ETH to 0xabc");

    // 1. The host's own ticket, no approvals: refused, naming the rule.
    assert_eq!(
        refusal(
            sign(
                &client,
                request("gated", KeyType::Secp256k1, &pay, pay_digest)
            )
            .await
        ),
        (ErrorCode::OwnerApprovalRequired, Some("allow".into()))
    );
    // ... also as an opaque digest, with no content at all.
    let mut bare = request("gated", KeyType::Secp256k1, &pay, pay_digest);
    bare.content = None;
    assert_eq!(
        refusal(sign(&client, bare).await),
        (ErrorCode::OwnerApprovalRequired, Some("allow".into()))
    );

    // 2. Real approvals, but of another request.
    let (coffee, coffee_digest) = message("buy a coffee");
    let for_coffee = authorization(&gated_record, &coffee, coffee_digest, 600);
    let mut req = request("gated", KeyType::Secp256k1, &pay, pay_digest);
    req.approvals = vec![
        owners.ann.approve("ann", &for_coffee),
        owners.dan.approve("dan", &for_coffee),
    ];
    assert_eq!(
        refusal(sign(&client, req).await).0,
        ErrorCode::ApprovalInvalid,
        "another request"
    );
    // ... the coffee approvals with the payment's digest but the coffee's content.
    let mut req = request("gated", KeyType::Secp256k1, &coffee, pay_digest);
    req.approvals = vec![
        owners.ann.approve("ann", &for_coffee),
        owners.dan.approve("dan", &for_coffee),
    ];
    assert_eq!(
        refusal(sign(&client, req).await).0,
        ErrorCode::TicketInvalid,
        "a digest that is not the content's"
    );

    // 3. Approvals of this payment, but on another wallet.
    let on_other = authorization(&other_record, &pay, pay_digest, 600);
    let mut req = request("gated", KeyType::Secp256k1, &pay, pay_digest);
    req.approvals = vec![
        owners.ann.approve("ann", &on_other),
        owners.bob.approve("bob", &on_other),
    ];
    assert_eq!(
        refusal(sign(&client, req).await),
        (ErrorCode::ApprovalInvalid, Some("wrong_wallet".into())),
        "another wallet"
    );

    // 4. Expired, and made to expire within the signer's first 600 s.
    let expired = authorization(&gated_record, &pay, pay_digest, 0);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let mut req = request("gated", KeyType::Secp256k1, &pay, pay_digest);
    req.approvals = vec![
        owners.ann.approve("ann", &expired),
        owners.bob.approve("bob", &expired),
    ];
    assert_eq!(
        refusal(sign(&client, req).await),
        (ErrorCode::ApprovalInvalid, Some("expired".into()))
    );
    let short = authorization(&gated_record, &pay, pay_digest, 300);
    let mut req = request("gated", KeyType::Secp256k1, &pay, pay_digest);
    req.approvals = vec![
        owners.ann.approve("ann", &short),
        owners.bob.approve("bob", &short),
    ];
    assert_eq!(
        refusal(sign(&client, req).await),
        (ErrorCode::ApprovalInvalid, Some("before_start".into())),
        "an approval that may predate the signer's start"
    );

    // 5. One owner twice, and one owner alone.
    let right = authorization(&gated_record, &pay, pay_digest, 600);
    let mut req = request("gated", KeyType::Secp256k1, &pay, pay_digest);
    req.approvals = vec![
        owners.ann.approve("ann", &right),
        owners.ann.approve("ann", &right),
    ];
    assert_eq!(
        refusal(sign(&client, req).await),
        (ErrorCode::ApprovalInvalid, Some("duplicate_owner".into()))
    );
    let mut req = request("gated", KeyType::Secp256k1, &pay, pay_digest);
    req.approvals = vec![owners.cat.approve("cat", &right)];
    assert_eq!(
        refusal(sign(&client, req).await),
        (ErrorCode::ApprovalInvalid, Some("below_threshold".into()))
    );
    // ... an approval signed by one owner's key under another owner's id.
    let mut req = request("gated", KeyType::Secp256k1, &pay, pay_digest);
    req.approvals = vec![
        owners.ann.approve("bob", &right),
        owners.cat.approve("cat", &right),
    ];
    assert_eq!(
        refusal(sign(&client, req).await).0,
        ErrorCode::ApprovalInvalid,
        "a forged owner"
    );

    // 6. The right approvals: signed, and verified independently.
    let mut req = request("gated", KeyType::Secp256k1, &pay, pay_digest);
    req.approvals = vec![
        owners.dan.approve("dan", &right),
        owners.cat.approve("cat", &right),
    ];
    let approved = req.approvals.clone();
    let signature = sign(&client, req).await.unwrap();
    verify_independently(&[Checked {
        key_type: KeyType::Secp256k1,
        public_key: gated.key.public_key.clone(),
        digest: pay_digest.to_vec(),
        message: None,
        signature: signature.signature,
    }]);

    // 7. The same approvals again, with a fresh ticket: replayed.
    let mut req = request("gated", KeyType::Secp256k1, &pay, pay_digest);
    req.approvals = approved;
    assert_eq!(
        refusal(sign(&client, req).await).0,
        ErrorCode::ApprovalReplayed
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blob_loads_only_with_its_own_record_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut signer = SignerProcess::start(dir.path());
    let (client, _) = signer.client().await;
    let owners = Owners::new();
    let gated = generate(
        &client,
        "gated",
        KeyType::Secp256k1,
        Some(owners.settings(1, None)),
    )
    .await;
    let open = generate(&client, "open", KeyType::Secp256k1, None).await;
    // Restart: nothing is held, every key comes from its blob and record.
    drop(client);
    signer.kill();
    let signer = SignerProcess::start(dir.path());
    let (client, _) = signer.client().await;
    let (pay, pay_digest) = message("pay");
    let attempt = |record: Option<String>| {
        let mut req = request("gated", KeyType::Secp256k1, &pay, pay_digest);
        req.sealed = gated.sealed.clone();
        req.record = record;
        req
    };
    let text = gated.record.clone().unwrap();
    let edits = [
        // The host's database edited: no owners, the permissive policy.
        (
            "an edited record",
            text.replace("\"threshold\":1", "\"threshold\":0"),
        ),
        // Another wallet's record, genuine.
        ("another wallet's record", open.record.clone().unwrap()),
        // The record every wallet from before records has.
        (
            "the legacy record",
            Record::legacy(record(&gated).key().clone())
                .unwrap()
                .text()
                .to_owned(),
        ),
    ];
    for (what, edited) in edits {
        assert_eq!(
            refusal(sign(&client, attempt(Some(edited))).await).0,
            ErrorCode::RecordMismatch,
            "{what}"
        );
    }
    assert_eq!(
        refusal(sign(&client, attempt(None)).await).0,
        ErrorCode::RecordMismatch,
        "no record: a bound blob needs its own"
    );
    // The blob relabelled as one from before records (format 1, no hash).
    let mut relabelled = attempt(None);
    if let Some(s) = relabelled.sealed.as_mut() {
        s.format = 1;
        s.record_hash = None;
    }
    assert_eq!(
        refusal(sign(&client, relabelled).await).0,
        ErrorCode::SealedKeyInvalid
    );
    // With its own record it loads, and its record still decides.
    assert_eq!(
        refusal(sign(&client, attempt(Some(text))).await),
        (ErrorCode::OwnerApprovalRequired, Some("allow".into()))
    );
    // The open wallet (no owners, permissive) signs on the host's ticket.
    let mut req = request("open", KeyType::Secp256k1, &pay, pay_digest);
    req.sealed = open.sealed.clone();
    req.record = open.record.clone();
    sign(&client, req).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_signer_decides_the_kind_from_what_it_signs() {
    let dir = tempfile::tempdir().unwrap();
    let signer = SignerProcess::start(dir.path());
    let (client, _) = signer.client().await;
    // No owners; messages only.
    let settings = json!({"policy": {"allow": ["message"]}}).to_string();
    let messages = generate(&client, "messages", KeyType::Secp256k1, Some(settings)).await;
    assert!(record(&messages).owners().is_empty());
    let (hello, hello_digest) = message("hello");
    sign(
        &client,
        request("messages", KeyType::Secp256k1, &hello, hello_digest),
    )
    .await
    .unwrap();
    // An opaque digest, or a digest passed off as a message: refused.
    let digest_content = json!({"digest": hex::encode([7u8; 32])});
    assert_eq!(
        refusal(
            sign(
                &client,
                request("messages", KeyType::Secp256k1, &digest_content, [7; 32])
            )
            .await
        ),
        (ErrorCode::PolicyDenied, Some("allow".into()))
    );
    assert_eq!(
        refusal(
            sign(
                &client,
                request("messages", KeyType::Secp256k1, &hello, [7; 32])
            )
            .await
        )
        .0,
        ErrorCode::TicketInvalid,
        "the host's digest is not the message's"
    );
    let typed = json!({"typed_data": {
        "types": {"EIP712Domain": [{"name": "name", "type": "string"}], "Mail": [{"name": "body", "type": "string"}]},
        "primaryType": "Mail",
        "domain": {"name": "test"},
        "message": {"body": "hi"}
    }});
    let typed_digest = signet_eth::typed_data(&typed["typed_data"]).unwrap().hash;
    assert_eq!(
        refusal(
            sign(
                &client,
                request("messages", KeyType::Secp256k1, &typed, typed_digest)
            )
            .await
        ),
        (ErrorCode::PolicyDenied, Some("allow".into()))
    );
    // The PKCS#11-only rule does not apply here, but a bad policy is named.
    match client
        .call(Request::Generate {
            key_id: "bad".into(),
            key_type: KeyType::P256,
            settings: Some(json!({"policy": {"allow": ["everything"]}}).to_string()),
        })
        .await
    {
        Err(ClientError::Signer { code, message, .. }) => {
            assert_eq!(code, ErrorCode::BadRequest);
            assert!(message.contains("policy.allow[0]"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

async fn update(
    client: &SignerClient,
    key_id: &str,
    new_record: &Record,
    approvals: Vec<signet_authority::Approval>,
) -> Result<GeneratedKey, ClientError> {
    match client
        .call(Request::UpdateRecord(
            signet_proto::message::UpdateRecordRequest {
                key_id: key_id.into(),
                sealed: None,
                record: None,
                new_record: new_record.text().to_owned(),
                approvals,
            },
        ))
        .await?
    {
        Response::Generated(g) => Ok(g),
        other => panic!("{other:?}"),
    }
}

fn refused(result: Result<GeneratedKey, ClientError>) -> (ErrorCode, Option<String>) {
    match result {
        Err(ClientError::Signer { code, detail, .. }) => (code, detail),
        other => panic!("expected a signer refusal, got {other:?}"),
    }
}

fn change_authorization(current: &Record, next: &Record) -> Authorization {
    let mut request_id = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut OsRng, &mut request_id);
    Authorization::new(
        current,
        AuthzRequest::UpdateRecord {
            new_record: next.record_hash(),
        },
        now_s() + 600,
        request_id,
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_record_changes_only_as_its_owners_say_and_never_back_while_the_signer_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut signer = SignerProcess::start(dir.path());
    let (client, _) = signer.client().await;
    // Let authorizations made from here on expire after start + 600 s.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let owners = Owners::new();
    let (pay, pay_digest) = message("pay");

    // A wallet without owners that signs everything gets owners: nothing
    // was safer before, so no approval is needed.
    let open = generate(&client, "w", KeyType::Secp256k1, None).await;
    let v1 = record(&open);
    let owned: Vec<_> = vec![
        owners.ann.owner("ann").unwrap(),
        owners.bob.owner("bob").unwrap(),
    ];
    let v2 = v1
        .next(owned.clone(), 2, signet_authority::Policy::owners_only())
        .unwrap();
    let changed = update(&client, "w", &v2, Vec::new()).await.unwrap();
    assert_eq!(changed.record.as_deref(), Some(v2.text()));
    let v2_blob = changed.sealed.clone().unwrap();
    assert_eq!(
        refusal(sign(&client, request("w", KeyType::Secp256k1, &pay, pay_digest)).await).0,
        ErrorCode::OwnerApprovalRequired,
        "the new record decides at once"
    );
    // The host presents the old blob and its older, looser record: refused
    // while this signer runs.
    let mut old = request("w", KeyType::Secp256k1, &pay, pay_digest);
    old.sealed = open.sealed.clone();
    old.record = open.record.clone();
    match client
        .call(Request::LoadSealed {
            sealed: open.sealed.clone().unwrap(),
            record: open.record.clone(),
        })
        .await
    {
        Err(ClientError::Signer { code, .. }) => assert_eq!(code, ErrorCode::RecordMismatch),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        refusal(sign(&client, old.clone()).await).0,
        ErrorCode::OwnerApprovalRequired,
        "the record held is still the newest"
    );

    // Back to no owners: not without them; not with approvals of another
    // change, of a signature, or below the threshold; then with both.
    let v3 = v2
        .next(Vec::new(), 0, signet_authority::Policy::permissive())
        .unwrap();
    assert_eq!(
        refused(update(&client, "w", &v3, Vec::new()).await),
        (ErrorCode::OwnerApprovalRequired, Some("record".into()))
    );
    let elsewhere = v2
        .next(
            owned[..1].to_vec(),
            1,
            signet_authority::Policy::owners_only(),
        )
        .unwrap();
    let other_change = change_authorization(&v2, &elsewhere);
    assert_eq!(
        refused(
            update(
                &client,
                "w",
                &v3,
                vec![
                    owners.ann.approve("ann", &other_change),
                    owners.bob.approve("bob", &other_change)
                ]
            )
            .await
        )
        .0,
        ErrorCode::ApprovalInvalid
    );
    let a_signature = authorization(&v2, &pay, pay_digest, 600);
    assert_eq!(
        refused(
            update(
                &client,
                "w",
                &v3,
                vec![
                    owners.ann.approve("ann", &a_signature),
                    owners.bob.approve("bob", &a_signature)
                ]
            )
            .await
        ),
        (ErrorCode::ApprovalInvalid, Some("wrong_action".into()))
    );
    let this_change = change_authorization(&v2, &v3);
    assert_eq!(
        refused(
            update(
                &client,
                "w",
                &v3,
                vec![owners.ann.approve("ann", &this_change)]
            )
            .await
        ),
        (ErrorCode::ApprovalInvalid, Some("below_threshold".into()))
    );
    // A record that does not follow (version skipped) is refused outright.
    assert_eq!(
        refused(update(&client, "w", &v1, Vec::new()).await).0,
        ErrorCode::BadRequest
    );
    let back = update(
        &client,
        "w",
        &v3,
        vec![
            owners.ann.approve("ann", &this_change),
            owners.bob.approve("bob", &this_change),
        ],
    )
    .await
    .unwrap();
    assert_eq!(back.record.as_deref(), Some(v3.text()));
    sign(&client, request("w", KeyType::Secp256k1, &pay, pay_digest))
        .await
        .unwrap();
    // The v2 blob (owners) is now the older record: refused too.
    match client
        .call(Request::LoadSealed {
            sealed: v2_blob,
            record: Some(v2.text().to_owned()),
        })
        .await
    {
        Err(ClientError::Signer { code, .. }) => assert_eq!(code, ErrorCode::RecordMismatch),
        other => panic!("{other:?}"),
    }

    // A wallet without owners whose policy is narrower cannot loosen it.
    let narrow = generate(
        &client,
        "n",
        KeyType::Secp256k1,
        Some(json!({"policy": {"allow": ["message"]}}).to_string()),
    )
    .await;
    let wider = record(&narrow)
        .next(Vec::new(), 0, signet_authority::Policy::permissive())
        .unwrap();
    assert_eq!(
        refused(update(&client, "n", &wider, Vec::new()).await).0,
        ErrorCode::PolicyDenied
    );

    // What no enclave memory closes: after a restart the old blob loads with
    // its own older record (SECURITY.md: a sealing rotation that retires
    // the old versions closes it).
    drop(client);
    signer.kill();
    let signer = SignerProcess::start(dir.path());
    let (client, _) = signer.client().await;
    sign(&client, old).await.unwrap();
}

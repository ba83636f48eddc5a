//! The parsers take bytes from outside the signer: whatever they are given,
//! they return a value or an error, never panic. Inputs are drawn from the
//! formats' own vocabulary (and by mutating valid texts) so they get past the
//! first checks; what is accepted must be canonical. Valid records and
//! authorizations round-trip.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use proptest::prelude::*;
use serde_json::{Map, Value};
use signet_authority::webauthn::{verify_assertion, AssertionCheck, AuthenticatorData, ClientData};
use signet_authority::{
    verify_approvals, Approval, Authorization, Kind, Owner, OwnerKeyType, Policy, Proof, Record,
    RecordHash, Request, WalletKey, WebAuthnProof,
};

use common::*;

const KEYS: &[&str] = &[
    "v",
    "deployment",
    "key_type",
    "owners",
    "policy",
    "prev",
    "public_key",
    "threshold",
    "version",
    "wallet_id",
    "type",
    "id",
    "address",
    "rp_id",
    "origins",
    "credential_id",
    "allow",
    "max_value_wei",
    "action",
    "digest",
    "expires_at",
    "payload_sha256",
    "purpose",
    "record_hash",
    "request_id",
    "challenge",
    "origin",
    "crossOrigin",
    "topOrigin",
];

const STRINGS: &[&str] = &[
    "",
    "secp256k1",
    "p256",
    "ed25519",
    "passkey",
    "sign",
    "update_record",
    "resume",
    "signet.authz",
    "webauthn.get",
    "webauthn.create",
    "digest",
    "message",
    "transaction",
    "typed_data",
    "test-eu",
    "w_fixture",
    "ann",
    "https://signet.example",
    "signet.example",
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "04",
    "00",
    "ff",
    "YW5u",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (0u64..20).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        prop::sample::select(STRINGS).prop_map(|s| Value::String(s.to_owned())),
        prop::collection::vec(any::<u8>(), 0..70).prop_map(|b| Value::String(hex::encode(b))),
        "[a-z0-9_.:/-]{0,20}".prop_map(Value::String),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..12).prop_map(|kv| {
                Value::Object(
                    kv.into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

/// `text` with one edit at `at`: a deletion, an insertion or a replacement.
fn mutate(text: &str, at: usize, op: u8, c: char) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let i = at % (chars.len() + 1);
    match op % 3 {
        0 if i < chars.len() => {
            chars.remove(i);
        }
        1 => chars.insert(i, c),
        _ if i < chars.len() => chars[i] = c,
        _ => chars.push(c),
    }
    chars.into_iter().collect()
}

fn any_char() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::sample::select(vec![
            '"', ',', ':', '{', '}', '[', ']', '0', '1', 'a', 'A', ' ', '\\', 'é'
        ]),
        any::<char>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn record_parser_never_panics_on_text(s in ".{0,300}") {
        if let Ok(r) = Record::parse(&s) {
            prop_assert_eq!(r.text(), s.as_str());
        }
    }

    #[test]
    fn record_parser_never_panics_on_json(v in json()) {
        let text = serde_json_canonicalizer::to_string(&v).unwrap();
        if let Ok(r) = Record::parse(&text) {
            prop_assert_eq!(r.text(), text.as_str());
        }
    }

    #[test]
    fn record_parser_never_panics_on_mutated_records(at in any::<usize>(), op in any::<u8>(), c in any_char()) {
        let text = mutate(fixture(2).record.text(), at, op, c);
        if let Ok(r) = Record::parse(&text) {
            prop_assert_eq!(r.text(), text.as_str());
        }
    }

    #[test]
    fn owner_and_policy_readers_never_panic(v in json()) {
        let _ = Owner::from_value(&v, "owners[0]");
        let _ = Owner::list_from_value(&v, "owners");
        let _ = Policy::from_value(&v, "policy");
        let _ = signet_authority::payload_sha256(&v);
        if let Ok(text) = serde_json::to_string(&v) {
            let _ = Owner::from_public_description("o", &text);
        }
    }

    #[test]
    fn authorization_parser_never_panics_on_text(s in ".{0,300}") {
        if let Ok(a) = Authorization::parse(&s) {
            prop_assert_eq!(a.text(), s.as_str());
        }
    }

    #[test]
    fn authorization_parser_never_panics_on_json(v in json()) {
        let text = serde_json_canonicalizer::to_string(&v).unwrap();
        let _ = Authorization::parse(&text);
    }

    #[test]
    fn authorization_parser_never_panics_on_mutated_texts(at in any::<usize>(), op in any::<u8>(), c in any_char()) {
        let f = fixture(1);
        let text = mutate(authz(&f.record, sign_request()).text(), at, op, c);
        if let Ok(a) = Authorization::parse(&text) {
            prop_assert_eq!(a.text(), text.as_str());
        }
    }

    #[test]
    fn client_data_parser_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300), v in json()) {
        let _ = ClientData::parse(&bytes);
        let _ = ClientData::parse(serde_json::to_string(&v).unwrap().as_bytes());
    }

    #[test]
    fn client_data_parser_never_panics_on_mutated_client_data(at in any::<usize>(), op in any::<u8>(), c in any_char()) {
        let text = String::from_utf8(signet_authority::keys::SoftPasskey::client_data(&[7; 32], ORIGIN)).unwrap();
        let _ = ClientData::parse(mutate(&text, at, op, c).as_bytes());
    }

    #[test]
    fn authenticator_data_parser_never_panics(
        bytes in prop::collection::vec(any::<u8>(), 0..200),
        flags in any::<u8>(),
        tail in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let _ = AuthenticatorData::parse(&bytes);
        let mut d = vec![0u8; 32];
        d.push(flags);
        d.extend_from_slice(&[0, 0, 0, 1]);
        d.extend_from_slice(&tail);
        let _ = AuthenticatorData::parse(&d);
    }

    #[test]
    fn assertion_verifier_never_panics(
        data in prop::collection::vec(any::<u8>(), 0..120),
        client in prop::collection::vec(any::<u8>(), 0..200),
        sig in prop::collection::vec(any::<u8>(), 0..80),
        uv in any::<bool>(),
    ) {
        let pk = passkey();
        let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&pk.public_key()).unwrap();
        let origins = [ORIGIN.to_owned()];
        let check = AssertionCheck {
            public_key: &key,
            rp_id: RP_ID,
            origins: &origins,
            challenge: &[7; 32],
            require_user_verification: uv,
        };
        prop_assert!(verify_assertion(&check, &data, &client, &sig).is_err());
    }

    #[test]
    fn approval_json_and_verification_never_panic(v in json(), text in ".{0,200}", proof in "[0-9a-fA-Fx_=+/-]{0,140}") {
        let f = fixture(2);
        let req = sign_request();
        let exp = expected(&f.record, &req);
        if let Ok(a) = serde_json::from_value::<Approval>(v) {
            let _ = verify_approvals(&f.record, &exp, &[a], NOW);
        }
        for owner in ["eth", "ed", "pk", "ann", "nobody"] {
            let a = Approval { owner_id: owner.into(), text: text.clone(), proof: Proof::Signature(proof.clone()) };
            prop_assert!(verify_approvals(&f.record, &exp, &[a], NOW).is_err());
            let good_text = authz(&f.record, req).text().to_owned();
            let w = Approval {
                owner_id: owner.into(),
                text: good_text,
                proof: Proof::WebAuthn(WebAuthnProof {
                    credential_id: proof.clone(),
                    authenticator_data: URL_SAFE_NO_PAD.encode(text.as_bytes()),
                    client_data_json: proof.clone(),
                    signature: proof.clone(),
                }),
            };
            prop_assert!(verify_approvals(&f.record, &exp, &[w], NOW).is_err());
        }
    }
}

/// A random owner of any type, from a seed (ids are made unique by index).
fn owner(kind: u8, seed: [u8; 32], i: usize, pin: bool) -> Option<Owner> {
    let id = format!("o{i}");
    match kind % 4 {
        0 => secret_from(OwnerKeyType::Secp256k1, &seed)?.owner(&id).ok(),
        1 => secret_from(OwnerKeyType::Ed25519, &seed)?.owner(&id).ok(),
        2 => secret_from(OwnerKeyType::P256, &seed)?.owner(&id).ok(),
        _ => signet_authority::keys::SoftPasskey::from_secret(&seed, &seed[..8], RP_ID, ORIGIN)
            .ok()?
            .owner(&id, pin)
            .ok(),
    }
}

fn secret_from(t: OwnerKeyType, seed: &[u8; 32]) -> Option<signet_authority::OwnerSecretKey> {
    signet_authority::OwnerSecretKey::from_secret_bytes(t, seed).ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn made_records_round_trip(
        specs in prop::collection::vec((any::<u8>(), any::<[u8; 32]>(), any::<bool>()), 0..6),
        threshold_pick in any::<u32>(),
        allow in prop::sample::subsequence(Kind::ALL.to_vec(), 0..=4),
        wallet_id in "[A-Za-z0-9._-]{1,40}",
        deployment in "[A-Za-z0-9._-]{1,20}",
        changes in 0u8..3,
    ) {
        let owners: Vec<Owner> = specs.iter().enumerate().filter_map(|(i, (k, s, pin))| owner(*k, *s, i, *pin)).collect();
        let threshold = if owners.is_empty() { 0 } else { 1 + threshold_pick % owners.len() as u32 };
        let key = WalletKey { deployment, ..wallet_key(&wallet_id) };
        let mut record = match Record::new_initial(key, owners.clone(), Some(threshold), Some(Policy::with_allow(&allow).unwrap())) {
            Ok(r) => r,
            // Random keys may repeat a point only with negligible probability.
            Err(e) => return Err(TestCaseError::fail(e.to_string())),
        };
        for _ in 0..changes {
            let next = record.next(owners.clone(), threshold, Policy::permissive()).unwrap();
            record.check_next(&next).unwrap();
            record = next;
        }
        let again = Record::parse(record.text()).unwrap();
        prop_assert_eq!(&again, &record);
        prop_assert_eq!(again.record_hash(), RecordHash::of(record.text()));
    }

    #[test]
    fn made_authorizations_round_trip(
        action in 0u8..3,
        payload in any::<[u8; 32]>(),
        digest in any::<[u8; 32]>(),
        expires_at in 0u64..=signet_authority::MAX_SAFE_INTEGER,
        request_id in any::<[u8; 16]>(),
    ) {
        let f = fixture(1);
        let request = match action {
            0 => Request::Sign { payload_sha256: payload, digest },
            1 => Request::UpdateRecord { new_record: RecordHash(payload) },
            _ => Request::Resume,
        };
        let a = Authorization::new(&f.record, request, expires_at, request_id).unwrap();
        let again = Authorization::parse(a.text()).unwrap();
        prop_assert_eq!(&again, &a);
        prop_assert_eq!(again.request_id(), &request_id);
    }
}

//! verify_approvals: each refusal its own test, the boundaries that are
//! accepted, and each owner type's signature format.

use serde_json::json;
use signet_authority::{
    verify_approvals, Approval, ApprovalError, ApprovalRefusal as R, Authorization, Expected,
    OwnerKeyType, Proof, Record, ReplayGuard, Request,
};

use crate::common::*;

fn check(
    record: &Record,
    request: &Request,
    approvals: &[Approval],
) -> Result<signet_authority::Verified, ApprovalError> {
    verify_approvals(record, &expected(record, request), approvals, NOW)
}

fn refusal(record: &Record, request: &Request, approvals: &[Approval]) -> R {
    check(record, request, approvals)
        .expect_err("must be refused")
        .refusal
}

/// The fixture (threshold 1), a sign request and `eth`'s approval of it.
fn one() -> (Fixture, Request, Approval) {
    let f = fixture(1);
    let req = sign_request();
    let a = f.eth.approve("eth", &authz(&f.record, req));
    (f, req, a)
}

/// An authorization text with `edit` applied to its JSON, re-canonicalized.
fn edited(a: &Authorization, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut v: serde_json::Value = serde_json::from_str(a.text()).unwrap();
    edit(&mut v);
    serde_json_canonicalizer::to_string(&v).unwrap()
}

#[test]
fn accepts_each_owner_type() {
    let mut f = fixture(1);
    let req = sign_request();
    let a = authz(&f.record, req);
    for approval in [
        f.eth.approve("eth", &a),
        f.ed.approve("ed", &a),
        f.p256.approve("pk", &a),
        f.ann.approve("ann", &a),
    ] {
        let v = check(&f.record, &req, std::slice::from_ref(&approval))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v.owners, vec![approval.owner_id.clone()]);
        assert_eq!(v.request_id, [0x11; 16]);
        assert_eq!(v.expires_at, NOW + 300);
    }
}

#[test]
fn accepts_threshold_exactly_met() {
    let f = fixture(3);
    let req = sign_request();
    let a = authz(&f.record, req);
    let v = check(
        &f.record,
        &req,
        &[
            f.eth.approve("eth", &a),
            f.ed.approve("ed", &a),
            f.p256.approve("pk", &a),
        ],
    )
    .unwrap();
    assert_eq!(v.owners, ["eth", "ed", "pk"]);
}

#[test]
fn refuses_below_threshold() {
    let f = fixture(3);
    let req = sign_request();
    let a = authz(&f.record, req);
    let e = check(
        &f.record,
        &req,
        &[f.eth.approve("eth", &a), f.ed.approve("ed", &a)],
    )
    .unwrap_err();
    assert_eq!(e.refusal, R::BelowThreshold);
    assert!(e.message.contains("needs 3"), "{e}");
}

#[test]
fn refuses_no_approvals() {
    let f = fixture(1);
    assert_eq!(refusal(&f.record, &sign_request(), &[]), R::BelowThreshold);
}

#[test]
fn refuses_approvals_for_a_wallet_without_owners() {
    let r = Record::legacy(wallet_key("w_legacy")).unwrap();
    assert_eq!(refusal(&r, &sign_request(), &[]), R::BelowThreshold);
    let a = secret(OwnerKeyType::Secp256k1, 1).approve("eth", &authz(&r, sign_request()));
    assert_eq!(refusal(&r, &sign_request(), &[a]), R::BelowThreshold);
}

#[test]
fn refuses_unknown_owner() {
    let (f, req, mut a) = one();
    a.owner_id = "mallory".into();
    let e = check(&f.record, &req, &[a]).unwrap_err();
    assert_eq!(e.refusal, R::UnknownOwner);
    assert_eq!(
        (e.approval, e.owner_id.as_deref()),
        (Some(0), Some("mallory"))
    );
}

#[test]
fn refuses_unknown_owner_without_echoing_an_invalid_id() {
    let (f, req, mut a) = one();
    a.owner_id = "\u{1b}[31mroot".into();
    let e = check(&f.record, &req, &[a]).unwrap_err();
    assert_eq!((e.refusal, e.owner_id.as_deref()), (R::UnknownOwner, None));
    assert!(!e.to_string().contains('\u{1b}'), "{e}");
}

#[test]
fn refuses_duplicate_owner() {
    let f = fixture(2);
    let req = sign_request();
    let a = f.eth.approve("eth", &authz(&f.record, req));
    let e = check(&f.record, &req, &[a.clone(), a]).unwrap_err();
    assert_eq!((e.refusal, e.approval), (R::DuplicateOwner, Some(1)));
}

#[test]
fn refuses_malformed_text() {
    let (f, req, _) = one();
    let a = f.eth.approve_text("eth", "please sign");
    assert_eq!(refusal(&f.record, &req, &[a]), R::Malformed);
}

#[test]
fn refuses_wrong_purpose() {
    let (f, req, _) = one();
    let text = edited(&authz(&f.record, req), |v| {
        v["purpose"] = json!("signet.login")
    });
    let e = check(&f.record, &req, &[f.eth.approve_text("eth", &text)]).unwrap_err();
    assert_eq!(e.refusal, R::WrongPurpose);
}

#[test]
fn refuses_wrong_version() {
    let (f, req, _) = one();
    let text = edited(&authz(&f.record, req), |v| v["v"] = json!(2));
    assert_eq!(
        refusal(&f.record, &req, &[f.eth.approve_text("eth", &text)]),
        R::WrongVersion
    );
}

#[test]
fn refuses_wrong_deployment() {
    let (f, req, a) = one();
    let mut exp = expected(&f.record, &req);
    exp.deployment = "prod-us".into();
    let e = verify_approvals(&f.record, &exp, &[a], NOW).unwrap_err();
    assert_eq!(e.refusal, R::WrongDeployment);
    assert!(
        e.message.contains("\"test-eu\"") && e.message.contains("\"prod-us\""),
        "{e}"
    );
}

#[test]
fn refuses_wrong_wallet() {
    let (f, req, _) = one();
    let text = edited(&authz(&f.record, req), |v| {
        v["wallet_id"] = json!("w_other")
    });
    assert_eq!(
        refusal(&f.record, &req, &[f.eth.approve_text("eth", &text)]),
        R::WrongWallet
    );
}

#[test]
fn refuses_wrong_record() {
    let (f, req, _) = one();
    // Approved under the record that a pending change would install.
    let next = f
        .record
        .next(f.record.owners().to_vec(), 1, f.record.policy().clone())
        .unwrap();
    let a = f.eth.approve("eth", &authz(&next, req));
    assert_eq!(refusal(&f.record, &req, &[a]), R::WrongRecord);
}

#[test]
fn refuses_wrong_action() {
    let (f, req, _) = one();
    let a = f.eth.approve("eth", &authz(&f.record, Request::Resume));
    assert_eq!(refusal(&f.record, &req, &[a]), R::WrongAction);
}

#[test]
fn refuses_payload_mismatch() {
    let (f, req, _) = one();
    let other = Request::Sign {
        payload_sha256: signet_authority::payload_sha256(
            &json!({"message": "bye", "encoding": "utf8"}),
        )
        .unwrap(),
        digest: [0xd1; 32],
    };
    let a = f.eth.approve("eth", &authz(&f.record, other));
    assert_eq!(refusal(&f.record, &req, &[a]), R::PayloadMismatch);
}

#[test]
fn refuses_payload_mismatch_on_update_record() {
    let (f, _, _) = one();
    let proposed = Request::UpdateRecord {
        new_record: f
            .record
            .next(f.record.owners().to_vec(), 2, f.record.policy().clone())
            .unwrap()
            .record_hash(),
    };
    let other = Request::UpdateRecord {
        new_record: f
            .record
            .next(f.record.owners().to_vec(), 3, f.record.policy().clone())
            .unwrap()
            .record_hash(),
    };
    let a = f.eth.approve("eth", &authz(&f.record, other));
    assert_eq!(refusal(&f.record, &proposed, &[a]), R::PayloadMismatch);
}

#[test]
fn refuses_digest_mismatch() {
    let (f, req, _) = one();
    let Request::Sign { payload_sha256, .. } = req else {
        panic!()
    };
    let other = Request::Sign {
        payload_sha256,
        digest: [0xd2; 32],
    };
    let a = f.eth.approve("eth", &authz(&f.record, other));
    assert_eq!(refusal(&f.record, &req, &[a]), R::DigestMismatch);
}

fn expiring_at(f: &Fixture, req: Request, expires_at: u64) -> Approval {
    let a = Authorization::new(&f.record, req, expires_at, [0x11; 16]).unwrap();
    f.eth.approve("eth", &a)
}

#[test]
fn refuses_expired() {
    let (f, req, _) = one();
    let a = expiring_at(&f, req, NOW - 1);
    assert_eq!(refusal(&f.record, &req, &[a]), R::Expired);
}

#[test]
fn accepts_expiring_this_very_second() {
    let (f, req, _) = one();
    let a = expiring_at(&f, req, NOW);
    assert!(check(&f.record, &req, &[a]).is_ok());
}

#[test]
fn refuses_expires_too_far() {
    let (f, req, _) = one();
    let a = expiring_at(&f, req, NOW + 601);
    assert_eq!(refusal(&f.record, &req, &[a]), R::ExpiresTooFar);
}

#[test]
fn accepts_expiring_exactly_600_seconds_ahead() {
    let (f, req, _) = one();
    let a = expiring_at(&f, req, NOW + 600);
    assert_eq!(check(&f.record, &req, &[a]).unwrap().expires_at, NOW + 600);
}

#[test]
fn refuses_request_mismatch() {
    let f = fixture(2);
    let req = sign_request();
    let first = f.eth.approve("eth", &authz(&f.record, req));
    let second = Authorization::new(&f.record, req, NOW + 300, [0x22; 16]).unwrap();
    let e = check(&f.record, &req, &[first, f.ed.approve("ed", &second)]).unwrap_err();
    assert_eq!((e.refusal, e.approval), (R::RequestMismatch, Some(1)));
}

#[test]
fn approvals_of_one_request_may_expire_at_different_times() {
    let f = fixture(2);
    let req = sign_request();
    let early = Authorization::new(&f.record, req, NOW + 100, [0x11; 16]).unwrap();
    let late = Authorization::new(&f.record, req, NOW + 500, [0x11; 16]).unwrap();
    let v = check(
        &f.record,
        &req,
        &[f.eth.approve("eth", &early), f.ed.approve("ed", &late)],
    )
    .unwrap();
    assert_eq!(v.expires_at, NOW + 500, "remembered until the last expires");
}

#[test]
fn refuses_replayed_request_id() {
    let (f, req, a) = one();
    let mut guard = ReplayGuard::new(16);
    let v = check(&f.record, &req, std::slice::from_ref(&a)).unwrap();
    guard.remember_verified(&v, NOW).unwrap();
    // The same approvals again verify, and the guard refuses them.
    let again = check(&f.record, &req, &[a]).unwrap();
    let e = guard.remember_verified(&again, NOW + 1).unwrap_err();
    assert_eq!(e.refusal(), Some(R::Replayed));
}

#[test]
fn refuses_bad_signature_secp256k1_of_another_key() {
    let (f, req, _) = one();
    let a = secret(OwnerKeyType::Secp256k1, 8).approve("eth", &authz(&f.record, req));
    let e = check(&f.record, &req, &[a]).unwrap_err();
    assert_eq!(e.refusal, R::BadSignature);
    assert!(e.message.contains("not this owner's"), "{e}");
}

#[test]
fn refuses_bad_signature_ed25519_of_another_key() {
    let (f, req, _) = one();
    let a = secret(OwnerKeyType::Ed25519, 8).approve("ed", &authz(&f.record, req));
    assert_eq!(refusal(&f.record, &req, &[a]), R::BadSignature);
}

#[test]
fn refuses_bad_signature_p256_of_another_key() {
    let (f, req, _) = one();
    let a = secret(OwnerKeyType::P256, 8).approve("pk", &authz(&f.record, req));
    assert_eq!(refusal(&f.record, &req, &[a]), R::BadSignature);
}

#[test]
fn refuses_bad_signature_over_other_text() {
    // A signature made over one authorization, presented with another.
    let (f, req, _) = one();
    let signed = authz(&f.record, req);
    let other = Authorization::new(&f.record, req, NOW + 299, [0x11; 16]).unwrap();
    for key in [&f.eth, &f.ed, &f.p256] {
        let owner = match key.key_type() {
            OwnerKeyType::Secp256k1 => "eth",
            OwnerKeyType::Ed25519 => "ed",
            _ => "pk",
        };
        let mut a = key.approve(owner, &signed);
        a.text = other.text().to_owned();
        assert_eq!(refusal(&f.record, &req, &[a]), R::BadSignature, "{owner}");
    }
}

/// `s` replaced by `n - s` (the other valid signature of the same message).
fn flip_s_k256(sig: &[u8]) -> Vec<u8> {
    let s = k256::ecdsa::Signature::from_slice(&sig[..64]).unwrap();
    let (r, s) = s.split_scalars();
    let flipped = k256::ecdsa::Signature::from_scalars(r, -*s).unwrap();
    let mut out = flipped.to_bytes().to_vec();
    out.push(55 - sig[64]); // 27 <-> 28
    out
}

#[test]
fn refuses_high_s_secp256k1() {
    let (f, req, a) = one();
    let Proof::Signature(s) = &a.proof else {
        panic!()
    };
    let high = flip_s_k256(&hex::decode(s).unwrap());
    // The high-S form is a valid ECDSA signature of the same message (its
    // recovery id flipped): refused only for being high.
    let mut b = a.clone();
    b.proof = Proof::Signature(hex::encode(high));
    let e = check(&f.record, &req, &[b]).unwrap_err();
    assert_eq!(e.refusal, R::HighS);
}

#[test]
fn accepts_high_s_and_low_s_p256() {
    let (f, req, _) = one();
    let a = f.p256.approve("pk", &authz(&f.record, req));
    let Proof::Signature(s) = &a.proof else {
        panic!()
    };
    let sig = p256::ecdsa::Signature::from_slice(&hex::decode(s).unwrap()).unwrap();
    let (r, s) = sig.split_scalars();
    let flipped = p256::ecdsa::Signature::from_scalars(r, -*s).unwrap();
    let (low, high) = if sig.normalize_s().is_none() {
        (sig, flipped)
    } else {
        (flipped, sig)
    };
    assert!(high.normalize_s().is_some() && low.normalize_s().is_none());
    for variant in [low, high] {
        let mut b = a.clone();
        b.proof = Proof::Signature(hex::encode(variant.to_bytes()));
        assert!(check(&f.record, &req, &[b]).is_ok());
    }
}

#[test]
fn accepts_secp256k1_signatures_with_v_0_or_1_and_a_0x_prefix() {
    let (f, req, a) = one();
    let Proof::Signature(s) = &a.proof else {
        panic!()
    };
    let mut bytes = hex::decode(s).unwrap();
    assert!(bytes[64] == 27 || bytes[64] == 28);
    bytes[64] -= 27;
    let mut b = a.clone();
    b.proof = Proof::Signature(format!("0x{}", hex::encode(&bytes)));
    assert!(check(&f.record, &req, &[b]).is_ok());
}

#[test]
fn refuses_a_secp256k1_signature_with_another_v() {
    let (f, req, a) = one();
    let Proof::Signature(s) = &a.proof else {
        panic!()
    };
    let mut bytes = hex::decode(s).unwrap();
    bytes[64] = 35;
    let mut b = a.clone();
    b.proof = Proof::Signature(hex::encode(&bytes));
    assert_eq!(refusal(&f.record, &req, &[b]), R::Malformed);
}

#[test]
fn refuses_a_signature_of_the_wrong_length() {
    let (f, req, a) = one();
    let Proof::Signature(s) = &a.proof else {
        panic!()
    };
    let mut b = a.clone();
    b.proof = Proof::Signature(s[..128].to_owned());
    assert_eq!(refusal(&f.record, &req, &[b]), R::Malformed);
    let mut c = a.clone();
    c.proof = Proof::Signature(format!("{}zz", &s[..128]));
    assert_eq!(refusal(&f.record, &req, &[c]), R::Malformed);
}

#[test]
fn refuses_a_zero_signature() {
    let (f, req, a) = one();
    let mut b = a.clone();
    b.proof = Proof::Signature(format!("{}1b", "00".repeat(64)));
    assert_eq!(refusal(&f.record, &req, &[b]), R::BadSignature);
}

#[test]
fn refuses_webauthn_proof_from_a_signature_owner() {
    let (mut f, req, _) = one();
    let mut a = f.ann.approve("ann", &authz(&f.record, req));
    a.owner_id = "eth".into();
    assert_eq!(refusal(&f.record, &req, &[a]), R::Malformed);
}

#[test]
fn refuses_signature_proof_from_a_passkey_owner() {
    let (f, req, mut a) = one();
    a.owner_id = "ann".into();
    assert_eq!(refusal(&f.record, &req, &[a]), R::Malformed);
}

#[test]
fn every_refusal_has_a_stable_distinct_name() {
    let names: std::collections::BTreeSet<&str> = R::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(names.len(), R::ALL.len());
    for n in &names {
        assert!(
            n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{n}"
        );
    }
    assert!(names.contains("webauthn_cross_origin") && names.contains("below_threshold"));
}

#[test]
fn approvals_read_and_write_the_api_json() {
    let (mut f, req, a) = one();
    let v = serde_json::to_value(&a).unwrap();
    assert_eq!(v.as_object().unwrap().len(), 3);
    assert!(v["signature"].is_string() && v.get("webauthn").is_none());
    assert_eq!(serde_json::from_value::<Approval>(v).unwrap(), a);
    let w = f.ann.approve("ann", &authz(&f.record, req));
    let v = serde_json::to_value(&w).unwrap();
    let keys: Vec<&String> = v["webauthn"].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 4, "{v}");
    assert_eq!(serde_json::from_value::<Approval>(v).unwrap(), w);
}

#[test]
fn refuses_api_json_with_both_or_neither_proof() {
    let (_, _, a) = one();
    let mut both = serde_json::to_value(&a).unwrap();
    both["webauthn"] = json!({"credential_id": "", "authenticator_data": "", "client_data_json": "", "signature": ""});
    assert!(serde_json::from_value::<Approval>(both).is_err());
    let mut neither = serde_json::to_value(&a).unwrap();
    neither.as_object_mut().unwrap().remove("signature");
    assert!(serde_json::from_value::<Approval>(neither).is_err());
    let mut extra = serde_json::to_value(&a).unwrap();
    extra["note"] = json!(1);
    assert!(serde_json::from_value::<Approval>(extra).is_err());
}

#[test]
fn expected_values_come_from_what_the_signer_knows() {
    let f = fixture(1);
    let e: Expected = expected(&f.record, &Request::Resume);
    assert_eq!(e.payload_sha256, f.record.record_hash().0);
    assert_eq!(e.digest, None);
    assert_eq!(e.wallet_id, "w_fixture");
}

#[test]
fn refuses_expectations_for_another_record_than_the_one_given() {
    let (f, req, a) = one();
    let other = Record::legacy(wallet_key("w_other")).unwrap();
    let exp = expected(&other, &req);
    let e = verify_approvals(&f.record, &exp, &[a], NOW).unwrap_err();
    assert_eq!((e.refusal, e.approval), (R::WrongRecord, None));
}

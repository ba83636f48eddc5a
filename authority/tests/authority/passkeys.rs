//! Passkey approvals (WebAuthn assertions) through verify_approvals: each
//! refusal its own test. The assertions are made by `SoftPasskey` and then
//! altered, each alteration signed again so that only the checked property
//! is wrong.

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use signet_authority::keys::SoftPasskey;
use signet_authority::{
    verify_approvals, Approval, ApprovalRefusal as R, Authorization, Proof, Request,
};

use crate::common::*;

const UP: u8 = 0x01;
const UV: u8 = 0x04;

fn client(challenge: &[u8]) -> Vec<u8> {
    SoftPasskey::client_data(challenge, ORIGIN)
}

fn data(flags: u8) -> Vec<u8> {
    SoftPasskey::authenticator_data(RP_ID, flags, 7)
}

/// `ann`'s approval of `a` from these parts, signed.
fn assertion(f: &Fixture, a: &Authorization, client: &[u8], data: &[u8]) -> Approval {
    let sig = f.ann.sign_assertion(data, client);
    Approval {
        owner_id: "ann".into(),
        text: a.text().into(),
        proof: Proof::WebAuthn(f.ann.proof(data, client, &sig)),
    }
}

fn verify(f: &Fixture, req: &Request, a: Approval) -> Result<signet_authority::Verified, R> {
    verify_approvals(&f.record, &expected(&f.record, req), &[a], NOW).map_err(|e| e.refusal)
}

fn sign() -> (Fixture, Request, Authorization) {
    let f = fixture(1);
    let req = sign_request();
    let a = authz(&f.record, req);
    (f, req, a)
}

fn with_client_json(json: &str) -> R {
    let (f, req, a) = sign();
    verify(&f, &req, assertion(&f, &a, json.as_bytes(), &data(UP))).unwrap_err()
}

fn challenge_of(a: &Authorization) -> String {
    URL_SAFE_NO_PAD.encode(a.sha256())
}

#[test]
fn accepts_a_passkey_assertion_and_returns_its_sign_count() {
    let (f, req, a) = sign();
    let v = verify(&f, &req, assertion(&f, &a, &client(&a.sha256()), &data(UP))).unwrap();
    assert_eq!(v.sign_counts, vec![("ann".to_owned(), 7)]);
}

#[test]
fn accepts_a_sign_count_of_zero_and_one_that_does_not_grow() {
    let (f, req, a) = sign();
    for count in [0, 7, 3] {
        let d = SoftPasskey::authenticator_data(RP_ID, UP, count);
        let v = verify(&f, &req, assertion(&f, &a, &client(&a.sha256()), &d)).unwrap();
        assert_eq!(v.sign_counts[0].1, count);
    }
}

#[test]
fn refuses_webauthn_type() {
    let (_, _, a) = sign();
    let json = format!(
        r#"{{"type":"webauthn.create","challenge":"{}","origin":"{ORIGIN}"}}"#,
        challenge_of(&a)
    );
    assert_eq!(with_client_json(&json), R::WebauthnType);
}

#[test]
fn refuses_webauthn_challenge() {
    let (f, req, a) = sign();
    let other = client(&[0u8; 32]);
    assert_eq!(
        verify(&f, &req, assertion(&f, &a, &other, &data(UP))).unwrap_err(),
        R::WebauthnChallenge
    );
}

#[test]
fn refuses_webauthn_challenge_with_padding() {
    let (_, _, a) = sign();
    let json = format!(
        r#"{{"type":"webauthn.get","challenge":"{}","origin":"{ORIGIN}"}}"#,
        URL_SAFE.encode(a.sha256())
    );
    assert_eq!(with_client_json(&json), R::WebauthnChallenge);
}

#[test]
fn refuses_webauthn_origin() {
    let (f, req, a) = sign();
    let other = SoftPasskey::client_data(&a.sha256(), "https://evil.example");
    assert_eq!(
        verify(&f, &req, assertion(&f, &a, &other, &data(UP))).unwrap_err(),
        R::WebauthnOrigin
    );
}

#[test]
fn refuses_webauthn_origin_that_differs_only_by_a_trailing_slash() {
    let (_, _, a) = sign();
    let json = format!(
        r#"{{"type":"webauthn.get","challenge":"{}","origin":"{ORIGIN}/"}}"#,
        challenge_of(&a)
    );
    assert_eq!(with_client_json(&json), R::WebauthnOrigin);
}

#[test]
fn refuses_webauthn_cross_origin_true() {
    let (_, _, a) = sign();
    let json = format!(
        r#"{{"type":"webauthn.get","challenge":"{}","origin":"{ORIGIN}","crossOrigin":true}}"#,
        challenge_of(&a)
    );
    assert_eq!(with_client_json(&json), R::WebauthnCrossOrigin);
}

#[test]
fn refuses_webauthn_cross_origin_not_a_boolean() {
    let (_, _, a) = sign();
    for value in [r#""false""#, "0", "null"] {
        let json = format!(
            r#"{{"type":"webauthn.get","challenge":"{}","origin":"{ORIGIN}","crossOrigin":{value}}}"#,
            challenge_of(&a)
        );
        assert_eq!(with_client_json(&json), R::WebauthnCrossOrigin, "{value}");
    }
}

#[test]
fn refuses_webauthn_top_origin() {
    let (_, _, a) = sign();
    let json = format!(
        r#"{{"type":"webauthn.get","challenge":"{}","origin":"{ORIGIN}","topOrigin":"https://other.example"}}"#,
        challenge_of(&a)
    );
    assert_eq!(with_client_json(&json), R::WebauthnCrossOrigin);
}

#[test]
fn accepts_cross_origin_absent_and_unknown_members() {
    let (f, req, a) = sign();
    let json = format!(
        r#"{{"type":"webauthn.get","challenge":"{}","origin":"{ORIGIN}","other_keys_can_be_added_here":"do not compare clientDataJSON against a template","tokenBinding":{{"status":"supported"}}}}"#,
        challenge_of(&a)
    );
    assert!(verify(&f, &req, assertion(&f, &a, json.as_bytes(), &data(UP))).is_ok());
}

#[test]
fn refuses_webauthn_rp_id() {
    let (f, req, a) = sign();
    let other = SoftPasskey::authenticator_data("evil.example", UP, 7);
    assert_eq!(
        verify(&f, &req, assertion(&f, &a, &client(&a.sha256()), &other)).unwrap_err(),
        R::WebauthnRpId
    );
}

#[test]
fn refuses_webauthn_user_present() {
    let (f, req, a) = sign();
    assert_eq!(
        verify(&f, &req, assertion(&f, &a, &client(&a.sha256()), &data(UV))).unwrap_err(),
        R::WebauthnUserPresent
    );
}

#[test]
fn refuses_webauthn_user_verified_for_update_record() {
    let f = fixture(1);
    let next = f
        .record
        .next(
            f.record.owners().to_vec(),
            1,
            signet_authority::Policy::permissive(),
        )
        .unwrap();
    let req = Request::UpdateRecord {
        new_record: next.record_hash(),
    };
    let a = authz(&f.record, req);
    assert_eq!(
        verify(&f, &req, assertion(&f, &a, &client(&a.sha256()), &data(UP))).unwrap_err(),
        R::WebauthnUserVerified
    );
    assert!(verify(
        &f,
        &req,
        assertion(&f, &a, &client(&a.sha256()), &data(UP | UV))
    )
    .is_ok());
}

#[test]
fn refuses_webauthn_user_verified_for_resume() {
    let f = fixture(1);
    let req = Request::Resume;
    let a = authz(&f.record, req);
    assert_eq!(
        verify(&f, &req, assertion(&f, &a, &client(&a.sha256()), &data(UP))).unwrap_err(),
        R::WebauthnUserVerified
    );
}

#[test]
fn accepts_user_presence_alone_for_sign() {
    let (f, req, a) = sign();
    assert!(verify(&f, &req, assertion(&f, &a, &client(&a.sha256()), &data(UP))).is_ok());
}

#[test]
fn refuses_webauthn_credential() {
    let (f, req, a) = sign();
    let mut approval = assertion(&f, &a, &client(&a.sha256()), &data(UP));
    let Proof::WebAuthn(w) = &mut approval.proof else {
        panic!()
    };
    w.credential_id = URL_SAFE_NO_PAD.encode(b"another-credential");
    assert_eq!(
        verify(&f, &req, approval).unwrap_err(),
        R::WebauthnCredential
    );
}

#[test]
fn accepts_any_credential_id_when_the_record_pins_none() {
    let ann = passkey();
    let record = signet_authority::Record::new_initial(
        wallet_key("w_unpinned"),
        vec![ann.owner("ann", false).unwrap()],
        None,
        None,
    )
    .unwrap();
    let req = sign_request();
    let a = authz(&record, req);
    let c = client(&a.sha256());
    let d = data(UP);
    let mut proof = ann.proof(&d, &c, &ann.sign_assertion(&d, &c));
    proof.credential_id = URL_SAFE_NO_PAD.encode(b"whatever");
    let approval = Approval {
        owner_id: "ann".into(),
        text: a.text().into(),
        proof: Proof::WebAuthn(proof),
    };
    assert!(verify_approvals(&record, &expected(&record, &req), &[approval], NOW).is_ok());
}

#[test]
fn refuses_webauthn_bad_signature() {
    let (f, req, a) = sign();
    let c = client(&a.sha256());
    let mut approval = assertion(&f, &a, &c, &data(UP));
    // A valid signature by the same key over other authenticator data.
    let Proof::WebAuthn(w) = &mut approval.proof else {
        panic!()
    };
    w.signature = URL_SAFE_NO_PAD.encode(f.ann.sign_assertion(&data(UP | UV), &c));
    assert_eq!(verify(&f, &req, approval).unwrap_err(), R::BadSignature);
}

#[test]
fn refuses_webauthn_signature_by_another_key() {
    let (f, req, a) = sign();
    let mallory = SoftPasskey::from_secret(&[6u8; 32], b"ann-credential", RP_ID, ORIGIN).unwrap();
    let c = client(&a.sha256());
    let d = data(UP);
    let approval = Approval {
        owner_id: "ann".into(),
        text: a.text().into(),
        proof: Proof::WebAuthn(mallory.proof(&d, &c, &mallory.sign_assertion(&d, &c))),
    };
    assert_eq!(verify(&f, &req, approval).unwrap_err(), R::BadSignature);
}

#[test]
fn accepts_high_s_webauthn_signatures() {
    let (f, req, a) = sign();
    let c = client(&a.sha256());
    let d = data(UP);
    let der = f.ann.sign_assertion(&d, &c);
    let sig = p256::ecdsa::Signature::from_der(&der).unwrap();
    let (r, s) = sig.split_scalars();
    let flipped = p256::ecdsa::Signature::from_scalars(r, -*s).unwrap();
    for variant in [sig, flipped] {
        let approval = Approval {
            owner_id: "ann".into(),
            text: a.text().into(),
            proof: Proof::WebAuthn(f.ann.proof(&d, &c, variant.to_der().as_bytes())),
        };
        assert!(verify(&f, &req, approval).is_ok());
    }
}

#[test]
fn accepts_padded_base64url() {
    let (f, req, a) = sign();
    let c = client(&a.sha256());
    let d = data(UP);
    let sig = f.ann.sign_assertion(&d, &c);
    let mut proof = f.ann.proof(&d, &c, &sig);
    proof.authenticator_data = URL_SAFE.encode(&d);
    proof.client_data_json = URL_SAFE.encode(&c);
    proof.signature = URL_SAFE.encode(&sig);
    let approval = Approval {
        owner_id: "ann".into(),
        text: a.text().into(),
        proof: Proof::WebAuthn(proof),
    };
    assert!(verify(&f, &req, approval).is_ok());
}

#[test]
fn refuses_webauthn_malformed_base64() {
    let (f, req, a) = sign();
    let mut approval = assertion(&f, &a, &client(&a.sha256()), &data(UP));
    let Proof::WebAuthn(w) = &mut approval.proof else {
        panic!()
    };
    w.client_data_json = "not+base64url/".into();
    assert_eq!(
        verify(&f, &req, approval).unwrap_err(),
        R::WebauthnMalformed
    );
}

#[test]
fn refuses_webauthn_malformed_client_data_not_json() {
    assert_eq!(with_client_json("webauthn.get"), R::WebauthnMalformed);
}

#[test]
fn refuses_webauthn_malformed_client_data_not_an_object() {
    assert_eq!(
        with_client_json(r#"["webauthn.get"]"#),
        R::WebauthnMalformed
    );
}

#[test]
fn refuses_webauthn_malformed_client_data_with_a_key_twice() {
    let (_, _, a) = sign();
    let json = format!(
        r#"{{"type":"webauthn.get","challenge":"{}","origin":"{ORIGIN}","origin":"https://evil.example"}}"#,
        challenge_of(&a)
    );
    assert_eq!(with_client_json(&json), R::WebauthnMalformed);
}

#[test]
fn refuses_webauthn_malformed_client_data_missing_origin() {
    let (_, _, a) = sign();
    let json = format!(
        r#"{{"type":"webauthn.get","challenge":"{}"}}"#,
        challenge_of(&a)
    );
    assert_eq!(with_client_json(&json), R::WebauthnMalformed);
}

#[test]
fn refuses_webauthn_malformed_client_data_over_4_kib() {
    let (_, _, a) = sign();
    let json = format!(
        r#"{{"type":"webauthn.get","challenge":"{}","origin":"{ORIGIN}","pad":"{}"}}"#,
        challenge_of(&a),
        "x".repeat(4096)
    );
    assert_eq!(with_client_json(&json), R::WebauthnMalformed);
}

#[test]
fn refuses_webauthn_malformed_attested_credential_data() {
    let (f, req, a) = sign();
    let mut d = data(UP | 0x40);
    d.extend_from_slice(&[0u8; 18]);
    assert_eq!(
        verify(&f, &req, assertion(&f, &a, &client(&a.sha256()), &d)).unwrap_err(),
        R::WebauthnMalformed
    );
}

#[test]
fn refuses_webauthn_malformed_trailing_bytes() {
    let (f, req, a) = sign();
    let mut d = data(UP);
    d.push(0);
    assert_eq!(
        verify(&f, &req, assertion(&f, &a, &client(&a.sha256()), &d)).unwrap_err(),
        R::WebauthnMalformed
    );
}

#[test]
fn refuses_webauthn_malformed_backed_up_without_backup_eligible() {
    let (f, req, a) = sign();
    assert_eq!(
        verify(
            &f,
            &req,
            assertion(&f, &a, &client(&a.sha256()), &data(UP | 0x10))
        )
        .unwrap_err(),
        R::WebauthnMalformed
    );
    assert!(verify(
        &f,
        &req,
        assertion(&f, &a, &client(&a.sha256()), &data(UP | 0x18))
    )
    .is_ok());
}

#[test]
fn accepts_extension_outputs() {
    let (f, req, a) = sign();
    let mut d = data(UP | 0x80);
    // {"credProtect": 1}
    d.extend_from_slice(&[0xa1, 0x6b]);
    d.extend_from_slice(b"credProtect");
    d.push(0x01);
    assert!(verify(&f, &req, assertion(&f, &a, &client(&a.sha256()), &d)).is_ok());
}

#[test]
fn refuses_webauthn_malformed_signature_encoding() {
    let (f, req, a) = sign();
    let mut approval = assertion(&f, &a, &client(&a.sha256()), &data(UP));
    let Proof::WebAuthn(w) = &mut approval.proof else {
        panic!()
    };
    // Raw r‖s (what WebCrypto gives for non-WebAuthn signing), not DER.
    let der = URL_SAFE_NO_PAD.decode(&w.signature).unwrap();
    let raw = p256::ecdsa::Signature::from_der(&der).unwrap().to_bytes();
    w.signature = URL_SAFE_NO_PAD.encode(raw);
    assert_eq!(
        verify(&f, &req, approval).unwrap_err(),
        R::WebauthnMalformed
    );
}

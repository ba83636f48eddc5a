//! Authorization v1 texts and request payloads.

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use signet_authority::authz::MAX_AUTHORIZATION_LEN;
use signet_authority::{
    payload_sha256, Action, Authorization, FieldError, FieldErrorKind as K, RecordHash, Request,
};

use crate::common::*;

fn value(a: &Authorization) -> Value {
    serde_json::from_str(a.text()).unwrap()
}

fn parse(v: &Value) -> Result<Authorization, FieldError> {
    Authorization::parse(&serde_json_canonicalizer::to_string(v).unwrap())
}

fn sign_authz() -> Authorization {
    authz(&fixture(1).record, sign_request())
}

#[test]
fn an_authorization_is_the_documented_text() {
    let f = fixture(1);
    let a = authz(&f.record, sign_request());
    let Request::Sign { payload_sha256, .. } = sign_request() else {
        panic!()
    };
    assert_eq!(
        a.text(),
        format!(
            r#"{{"action":"sign","deployment":"test-eu","digest":"{}","expires_at":{},"payload_sha256":"{}","purpose":"signet.authz","record_hash":"{}","request_id":"{}","v":1,"wallet_id":"w_fixture"}}"#,
            "d1".repeat(32),
            NOW + 300,
            hex::encode(payload_sha256),
            f.record.record_hash(),
            "11".repeat(16),
        )
    );
    assert_eq!(Authorization::parse(a.text()).unwrap(), a);
    assert_eq!(
        a.sha256(),
        <[u8; 32]>::from(Sha256::digest(a.text().as_bytes()))
    );
}

#[test]
fn record_changes_and_resumes_bind_record_hashes_and_have_no_digest() {
    let f = fixture(1);
    let next = f
        .record
        .next(f.record.owners().to_vec(), 2, f.record.policy().clone())
        .unwrap();
    let update = authz(
        &f.record,
        Request::UpdateRecord {
            new_record: next.record_hash(),
        },
    );
    assert_eq!(update.action(), Action::UpdateRecord);
    assert_eq!(update.payload_sha256(), &next.record_hash().0);
    assert!(update.digest().is_none() && !update.text().contains("digest"));
    let resume = authz(&f.record, Request::Resume);
    assert_eq!(resume.payload_sha256(), &f.record.record_hash().0);
    assert_eq!(Authorization::parse(resume.text()).unwrap(), resume);
}

#[test]
fn fresh_authorizations_live_at_most_600_seconds() {
    let r = fixture(1).record;
    let a = Authorization::fresh(&r, sign_request(), NOW, 600, [7; 16]).unwrap();
    assert_eq!(a.expires_at(), NOW + 600);
    assert_eq!(a.request_id(), &[7; 16]);
    for bad in [0, 601] {
        let e = Authorization::fresh(&r, sign_request(), NOW, bad, [7; 16]).unwrap_err();
        assert_eq!((e.kind, e.field.as_str()), (K::OutOfRange, "expires_at"));
    }
}

#[test]
fn refuses_authorization_over_1_kib() {
    let text = format!("{{\"x\":\"{}\"}}", "a".repeat(MAX_AUTHORIZATION_LEN));
    assert_eq!(Authorization::parse(&text).unwrap_err().kind, K::TooLarge);
}

#[test]
fn refuses_authorization_that_is_not_json() {
    assert_eq!(
        Authorization::parse("sign w_1").unwrap_err().kind,
        K::NotJson
    );
}

#[test]
fn refuses_authorization_of_another_purpose() {
    let mut v = value(&sign_authz());
    v["purpose"] = json!("signet.login");
    let e = parse(&v).unwrap_err();
    assert_eq!((e.kind, e.field.as_str()), (K::WrongPurpose, "purpose"));
}

#[test]
fn refuses_text_without_a_purpose_before_anything_else() {
    let e = Authorization::parse(r#"{"hello":"world"}"#).unwrap_err();
    assert_eq!((e.kind, e.field.as_str()), (K::Missing, "purpose"));
}

#[test]
fn refuses_authorization_of_another_version() {
    let mut v = value(&sign_authz());
    v["v"] = json!(2);
    let e = parse(&v).unwrap_err();
    assert_eq!((e.kind, e.field.as_str()), (K::UnsupportedVersion, "v"));
}

#[test]
fn refuses_authorization_with_an_unknown_field() {
    let mut v = value(&sign_authz());
    v["note"] = json!("pay rent");
    let e = parse(&v).unwrap_err();
    assert_eq!((e.kind, e.field.as_str()), (K::UnknownField, "note"));
}

#[test]
fn refuses_authorization_with_a_missing_field() {
    for key in [
        "action",
        "deployment",
        "expires_at",
        "payload_sha256",
        "record_hash",
        "request_id",
        "wallet_id",
    ] {
        let mut v = value(&sign_authz());
        v.as_object_mut().unwrap().remove(key);
        let e = parse(&v).unwrap_err();
        assert_eq!((e.kind, e.field.as_str()), (K::Missing, key));
    }
}

#[test]
fn refuses_sign_without_digest() {
    let mut v = value(&sign_authz());
    v.as_object_mut().unwrap().remove("digest");
    let e = parse(&v).unwrap_err();
    assert_eq!((e.kind, e.field.as_str()), (K::Missing, "digest"));
}

#[test]
fn refuses_a_digest_on_update_record_and_resume() {
    for action in ["update_record", "resume"] {
        let mut v = value(&sign_authz());
        v["action"] = json!(action);
        let e = parse(&v).unwrap_err();
        assert_eq!(
            (e.kind, e.field.as_str()),
            (K::UnknownField, "digest"),
            "{action}"
        );
    }
}

#[test]
fn refuses_a_null_digest() {
    let mut v = value(&authz(&fixture(1).record, Request::Resume));
    v["digest"] = Value::Null;
    assert_eq!(parse(&v).unwrap_err().kind, K::WrongType);
}

#[test]
fn refuses_an_unknown_action() {
    let mut v = value(&sign_authz());
    v["action"] = json!("transfer");
    let e = parse(&v).unwrap_err();
    assert_eq!((e.kind, e.field.as_str()), (K::InvalidValue, "action"));
}

#[test]
fn refuses_a_request_id_of_the_wrong_length() {
    let mut v = value(&sign_authz());
    v["request_id"] = json!("11".repeat(15));
    let e = parse(&v).unwrap_err();
    assert_eq!((e.kind, e.field.as_str()), (K::InvalidHex, "request_id"));
}

#[test]
fn refuses_upper_case_hex_in_an_authorization() {
    let mut v = value(&sign_authz());
    v["digest"] = json!("D1".repeat(32));
    let e = parse(&v).unwrap_err();
    assert_eq!((e.kind, e.field.as_str()), (K::NotCanonical, "digest"));
}

#[test]
fn refuses_an_authorization_with_whitespace() {
    let a = sign_authz();
    let spaced = a.text().replacen(",", ", ", 1);
    let e = Authorization::parse(&spaced).unwrap_err();
    assert_eq!((e.kind, e.field.as_str()), (K::NotCanonical, ""));
}

#[test]
fn refuses_expires_at_beyond_2_pow_53() {
    let mut v = value(&sign_authz());
    v["expires_at"] = json!(1u64 << 53);
    let e = parse(&v).unwrap_err();
    assert_eq!((e.kind, e.field.as_str()), (K::OutOfRange, "expires_at"));
}

#[test]
fn refuses_a_negative_expiry() {
    let mut v = value(&sign_authz());
    v["expires_at"] = json!(-1);
    assert_eq!(parse(&v).unwrap_err().kind, K::WrongType);
}

#[test]
fn payload_is_sha256_of_the_canonical_content() {
    let content = json!({"transaction": {"to": "0x00000000000000000000000000000000000000aa", "value": "0x1", "chainId": 1}});
    let canonical = r#"{"transaction":{"chainId":1,"to":"0x00000000000000000000000000000000000000aa","value":"0x1"}}"#;
    assert_eq!(
        payload_sha256(&content).unwrap(),
        <[u8; 32]>::from(Sha256::digest(canonical.as_bytes()))
    );
    // Key order in the request does not matter; values do.
    let reordered: Value = serde_json::from_str(
        r#"{"transaction":{"value":"0x1","chainId":1,"to":"0x00000000000000000000000000000000000000aa"}}"#,
    )
    .unwrap();
    assert_eq!(
        payload_sha256(&reordered).unwrap(),
        payload_sha256(&content).unwrap()
    );
    assert_ne!(
        payload_sha256(&json!({"transaction": {"value": "0x2"}})).unwrap(),
        payload_sha256(&json!({"transaction": {"value": "0x1"}})).unwrap()
    );
}

#[test]
fn payload_accepts_the_four_content_shapes() {
    for c in [
        json!({"transaction": {}}),
        json!({"typed_data": {"types": {}}}),
        json!({"message": "hi", "encoding": "utf8"}),
        json!({"digest": "00"}),
    ] {
        assert!(payload_sha256(&c).is_ok(), "{c}");
    }
}

#[test]
fn refuses_payload_of_another_shape() {
    for c in [
        json!({}),
        json!({"message": "hi"}),
        json!({"transaction": {}, "digest": "00"}),
        json!({"transaction": {}, "note": 1}),
        json!(["transaction"]),
    ] {
        assert!(payload_sha256(&c).is_err(), "{c}");
    }
}

#[test]
fn refuses_payload_numbers_canonical_json_would_round() {
    for n in [
        json!(1u64 << 53),
        json!(-(1i64 << 53)),
        json!(1.5),
        json!(u64::MAX),
    ] {
        let e = payload_sha256(&json!({"transaction": {"value": n}})).unwrap_err();
        assert_eq!(
            (e.kind, e.field.as_str()),
            (K::OutOfRange, "transaction.value"),
            "{n}"
        );
    }
    assert!(payload_sha256(&json!({"transaction": {"value": (1u64 << 53) - 1}})).is_ok());
}

#[test]
fn record_hash_reads_and_writes_hex() {
    let h = RecordHash([0xab; 32]);
    assert_eq!(RecordHash::from_hex(&h.to_hex()), Some(h));
    assert_eq!(RecordHash::from_hex("ab"), None);
}

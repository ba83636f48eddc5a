//! Records, owners and policies: what is accepted, the canonical form, and
//! every refusal naming its field.

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use signet_authority::owner::{MAX_ORIGINS, MAX_OWNERS};
use signet_authority::record::MAX_RECORD_LEN;
use signet_authority::{
    loosens, FieldError, FieldErrorKind as K, Kind, Owner, OwnerKeyType, Policy, Record,
};

use crate::common::*;

/// The fixture record's JSON, to be edited and re-serialized canonically.
fn value() -> Value {
    serde_json::from_str(fixture(1).record.text()).unwrap()
}

/// Parses `v` written canonically (so only the edit is wrong).
fn parse(v: &Value) -> Result<Record, FieldError> {
    Record::parse(&serde_json_canonicalizer::to_string(v).unwrap())
}

fn refused(v: &Value) -> FieldError {
    parse(v).expect_err("must be refused")
}

fn owner(v: &Value) -> Result<Owner, FieldError> {
    Owner::from_value(v, "owners[0]")
}

const P256_HEX: &str = "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5";

#[test]
fn a_record_round_trips_and_hashes_its_bytes() {
    let f = fixture(2);
    let again = Record::parse(f.record.text()).unwrap();
    assert_eq!(again, f.record);
    assert_eq!(
        again.record_hash().0,
        <[u8; 32]>::from(Sha256::digest(f.record.text().as_bytes()))
    );
    assert_eq!(again.threshold(), 2);
    assert_eq!(again.owners().len(), 4);
    assert!(again.text().starts_with(r#"{"deployment":"test-eu","key_type":"secp256k1","owners":[{"credential_id":"YW5uLWNyZWRlbnRpYWw","id":"ann","origins":["https://signet.example"],"public_key":"04"#));
}

#[test]
fn a_wallet_without_owners_gets_the_permissive_policy() {
    let r = Record::legacy(wallet_key("w_legacy")).unwrap();
    let pk = hex::encode(&wallet_key("w").public_key);
    assert_eq!(
        r.text(),
        format!(
            r#"{{"deployment":"test-eu","key_type":"secp256k1","owners":[],"policy":{{"allow":["digest","message","transaction","typed_data"]}},"prev":null,"public_key":"{pk}","threshold":0,"v":1,"version":1,"wallet_id":"w_legacy"}}"#
        )
    );
    for k in Kind::ALL {
        assert!(r.policy().allows(k));
    }
}

#[test]
fn a_wallet_with_owners_and_no_policy_needs_them_for_everything() {
    let eth = secret(OwnerKeyType::Secp256k1, 1);
    let r = Record::new_initial(
        wallet_key("w_1"),
        vec![eth.owner("ops").unwrap()],
        None,
        None,
    )
    .unwrap();
    assert_eq!(r.policy(), &Policy::owners_only());
    assert!(r.text().contains(r#""policy":{"allow":[]}"#));
    assert_eq!(r.threshold(), 1, "without a threshold, any one owner");
}

#[test]
fn next_records_chain_and_check_next_refuses_a_broken_chain() {
    let f = fixture(1);
    let next = f
        .record
        .next(f.record.owners().to_vec(), 2, Policy::owners_only())
        .unwrap();
    assert_eq!(next.version(), 2);
    assert_eq!(next.prev(), Some(f.record.record_hash()));
    f.record.check_next(&next).unwrap();
    assert_eq!(Record::parse(next.text()).unwrap(), next);
    // Skipping a version, or a record of another wallet, does not follow.
    let after = next
        .next(f.record.owners().to_vec(), 1, Policy::owners_only())
        .unwrap();
    assert_eq!(f.record.check_next(&after).unwrap_err().field, "version");
    let other = Record::legacy(wallet_key("w_other")).unwrap();
    let other_next = other.next(vec![], 0, Policy::permissive()).unwrap();
    assert_eq!(
        f.record.check_next(&other_next).unwrap_err().field,
        "wallet_id"
    );
    assert_eq!(
        f.record.check_next(&f.record).unwrap_err().kind,
        K::BrokenChain
    );
}

#[test]
fn refuses_record_over_16_kib() {
    let text = format!("{{\"x\":\"{}\"}}", "a".repeat(MAX_RECORD_LEN));
    assert_eq!(Record::parse(&text).unwrap_err().kind, K::TooLarge);
}

#[test]
fn refuses_record_that_is_not_json() {
    assert_eq!(Record::parse("{\"v\":1,").unwrap_err().kind, K::NotJson);
}

#[test]
fn refuses_record_with_whitespace() {
    let f = fixture(1);
    let pretty = serde_json::to_string_pretty(&value()).unwrap();
    assert_ne!(pretty, f.record.text());
    let e = Record::parse(&pretty).unwrap_err();
    assert_eq!((e.kind, e.field.as_str()), (K::NotCanonical, ""));
}

#[test]
fn refuses_record_with_keys_out_of_order() {
    let text = fixture(1).record.text().replacen(
        r#"{"deployment":"test-eu","key_type":"secp256k1","#,
        r#"{"key_type":"secp256k1","deployment":"test-eu","#,
        1,
    );
    assert_eq!(Record::parse(&text).unwrap_err().kind, K::NotCanonical);
}

#[test]
fn refuses_record_with_a_key_twice() {
    let text = fixture(1).record.text().replacen(
        r#""threshold":1,"#,
        r#""threshold":1,"threshold":1,"#,
        1,
    );
    assert_eq!(Record::parse(&text).unwrap_err().kind, K::NotCanonical);
}

#[test]
fn refuses_record_with_an_unknown_field() {
    let mut v = value();
    v["label"] = json!("x");
    let e = refused(&v);
    assert_eq!((e.kind, e.field.as_str()), (K::UnknownField, "label"));
}

#[test]
fn refuses_record_with_a_missing_field() {
    for key in [
        "deployment",
        "owners",
        "policy",
        "prev",
        "threshold",
        "version",
        "wallet_id",
    ] {
        let mut v = value();
        v.as_object_mut().unwrap().remove(key);
        let e = refused(&v);
        assert_eq!((e.kind, e.field.as_str()), (K::Missing, key));
    }
}

#[test]
fn refuses_record_of_another_format_version() {
    let mut v = value();
    v["v"] = json!(2);
    let e = refused(&v);
    assert_eq!((e.kind, e.field.as_str()), (K::UnsupportedVersion, "v"));
}

#[test]
fn refuses_record_with_a_fractional_number() {
    let text = fixture(1)
        .record
        .text()
        .replacen(r#""threshold":1,"#, r#""threshold":1.0,"#, 1);
    let e = Record::parse(&text).unwrap_err();
    assert_eq!((e.kind, e.field.as_str()), (K::WrongType, "threshold"));
}

#[test]
fn refuses_record_with_upper_case_hex() {
    let mut v = value();
    let pk = v["public_key"].as_str().unwrap().to_uppercase();
    v["public_key"] = json!(pk);
    let e = refused(&v);
    assert_eq!((e.kind, e.field.as_str()), (K::NotCanonical, "public_key"));
}

#[test]
fn refuses_record_with_a_compressed_wallet_key() {
    let mut v = value();
    let k = k256::ecdsa::SigningKey::from_slice(&[9u8; 32]).unwrap();
    v["public_key"] = json!(hex::encode(
        k.verifying_key().to_encoded_point(true).as_bytes()
    ));
    let e = refused(&v);
    assert_eq!(
        (e.kind, e.field.as_str()),
        (K::InvalidPublicKey, "public_key")
    );
}

#[test]
fn refuses_record_whose_key_is_not_on_its_curve() {
    // A P-256 point is not a secp256k1 point.
    let mut v = value();
    v["public_key"] = json!(P256_HEX);
    let e = refused(&v);
    assert_eq!(
        (e.kind, e.field.as_str()),
        (K::InvalidPublicKey, "public_key")
    );
}

#[test]
fn refuses_record_with_an_unknown_key_type() {
    let mut v = value();
    v["key_type"] = json!("rsa");
    let e = refused(&v);
    assert_eq!((e.kind, e.field.as_str()), (K::InvalidValue, "key_type"));
}

#[test]
fn refuses_record_with_an_invalid_wallet_id() {
    for id in ["", "w/1", "w 1", &"w".repeat(129)] {
        let mut v = value();
        v["wallet_id"] = json!(id);
        let e = refused(&v);
        assert_eq!(
            (e.kind, e.field.as_str()),
            (K::InvalidName, "wallet_id"),
            "{id}"
        );
    }
}

#[test]
fn refuses_record_with_an_invalid_deployment() {
    let mut v = value();
    v["deployment"] = json!("prod eu");
    let e = refused(&v);
    assert_eq!((e.kind, e.field.as_str()), (K::InvalidName, "deployment"));
}

#[test]
fn refuses_threshold_zero_with_owners() {
    let mut v = value();
    v["threshold"] = json!(0);
    let e = refused(&v);
    assert_eq!(
        (e.kind, e.field.as_str()),
        (K::InvalidThreshold, "threshold")
    );
}

#[test]
fn refuses_threshold_above_the_owner_count() {
    let mut v = value();
    v["threshold"] = json!(5);
    let e = refused(&v);
    assert_eq!(
        (e.kind, e.field.as_str()),
        (K::InvalidThreshold, "threshold")
    );
    assert!(e.message.contains("1 to 4"), "{e}");
}

#[test]
fn refuses_a_threshold_without_owners() {
    let mut v = value();
    v["owners"] = json!([]);
    v["threshold"] = json!(1);
    let e = refused(&v);
    assert_eq!(
        (e.kind, e.field.as_str()),
        (K::InvalidThreshold, "threshold")
    );
}

#[test]
fn accepts_threshold_equal_to_the_owner_count() {
    let mut v = value();
    v["threshold"] = json!(4);
    assert_eq!(parse(&v).unwrap().threshold(), 4);
}

#[test]
fn refuses_prev_on_the_first_version() {
    let mut v = value();
    v["prev"] = json!(hex::encode([1u8; 32]));
    let e = refused(&v);
    assert_eq!((e.kind, e.field.as_str()), (K::BrokenChain, "prev"));
}

#[test]
fn refuses_a_later_version_without_prev() {
    let mut v = value();
    v["version"] = json!(2);
    let e = refused(&v);
    assert_eq!((e.kind, e.field.as_str()), (K::BrokenChain, "prev"));
}

#[test]
fn refuses_version_zero() {
    let mut v = value();
    v["version"] = json!(0);
    assert_eq!(refused(&v).kind, K::OutOfRange);
}

#[test]
fn refuses_owners_not_a_list() {
    let mut v = value();
    v["owners"] = json!({});
    let e = refused(&v);
    assert_eq!((e.kind, e.field.as_str()), (K::WrongType, "owners"));
}

#[test]
fn refuses_more_than_16_owners() {
    let owners: Vec<Value> = (1..=MAX_OWNERS as u8 + 1)
        .map(|n| {
            secret(OwnerKeyType::Ed25519, n)
                .owner(&format!("o{n}"))
                .unwrap()
                .to_value()
        })
        .collect();
    let e = Owner::list_from_value(&json!(owners), "owners").unwrap_err();
    assert_eq!((e.kind, e.field.as_str()), (K::TooMany, "owners"));
    assert!(Owner::list_from_value(&json!(owners[..MAX_OWNERS]), "owners").is_ok());
}

#[test]
fn refuses_two_owners_with_one_id() {
    let mut v = value();
    v["owners"][2]["id"] = json!("ann");
    let e = refused(&v);
    assert_eq!((e.kind, e.field.as_str()), (K::DuplicateId, "owners[2].id"));
}

#[test]
fn refuses_one_key_under_two_owner_ids() {
    let k = secret(OwnerKeyType::P256, 3);
    let owners = json!([
        k.owner("a").unwrap().to_value(),
        k.owner("b").unwrap().to_value()
    ]);
    let e = Owner::list_from_value(&owners, "owners").unwrap_err();
    assert_eq!((e.kind, e.field.as_str()), (K::DuplicateKey, "owners[1]"));
}

#[test]
fn refuses_a_passkey_and_a_p256_owner_with_one_key() {
    let pk = passkey();
    let owners = json!([
        pk.owner("a", false).unwrap().to_value(),
        {"type": "p256", "id": "b", "public_key": hex::encode(pk.public_key())},
    ]);
    let e = Owner::list_from_value(&owners, "owners").unwrap_err();
    assert_eq!(e.kind, K::DuplicateKey);
}

#[test]
fn refuses_owner_ids_outside_the_alphabet() {
    for id in ["", "Ann", "ann.b", "ann b", &"a".repeat(33)] {
        let e =
            owner(&json!({"type": "ed25519", "id": id, "public_key": hex::encode([0x11u8; 32])}))
                .unwrap_err();
        assert_eq!(
            (e.kind, e.field.as_str()),
            (K::InvalidName, "owners[0].id"),
            "{id:?}"
        );
    }
    assert!(signet_authority::owner::is_owner_id("a_b-9"));
}

#[test]
fn refuses_an_unknown_owner_type() {
    let e = owner(&json!({"type": "rsa", "id": "a"})).unwrap_err();
    assert_eq!(
        (e.kind, e.field.as_str()),
        (K::InvalidValue, "owners[0].type")
    );
}

#[test]
fn refuses_an_unknown_owner_field() {
    let e = owner(&json!({"type": "secp256k1", "id": "a", "address": "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "label": "x"}))
        .unwrap_err();
    assert_eq!(
        (e.kind, e.field.as_str()),
        (K::UnknownField, "owners[0].label")
    );
}

#[test]
fn accepts_a_lower_case_address_and_stores_eip55() {
    let o = owner(&json!({"type": "secp256k1", "id": "a", "address": "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"}))
        .unwrap();
    assert_eq!(
        o.to_value()["address"],
        json!("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")
    );
}

#[test]
fn refuses_an_address_with_a_wrong_checksum() {
    let e = owner(&json!({"type": "secp256k1", "id": "a", "address": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"}))
        .unwrap_err();
    assert_eq!(
        (e.kind, e.field.as_str()),
        (K::BadChecksum, "owners[0].address")
    );
}

#[test]
fn refuses_a_malformed_address() {
    let e = owner(&json!({"type": "secp256k1", "id": "a", "address": "0x1234"})).unwrap_err();
    assert_eq!(
        (e.kind, e.field.as_str()),
        (K::InvalidAddress, "owners[0].address")
    );
}

#[test]
fn refuses_the_zero_address() {
    let e =
        owner(&json!({"type": "secp256k1", "id": "a", "address": format!("0x{}", "0".repeat(40))}))
            .unwrap_err();
    assert_eq!(e.kind, K::InvalidAddress);
}

#[test]
fn refuses_a_lower_case_address_in_record_text() {
    let mut v = value();
    let a = v["owners"][1]["address"].as_str().unwrap().to_lowercase();
    v["owners"][1]["address"] = json!(a);
    let e = refused(&v);
    assert_eq!(
        (e.kind, e.field.as_str()),
        (K::NotCanonical, "owners[1].address")
    );
}

#[test]
fn accepts_a_compressed_p256_key_and_stores_it_uncompressed() {
    let k = secret(OwnerKeyType::P256, 3);
    let Owner::P256(full) = k.owner("a").unwrap() else {
        panic!()
    };
    let compressed = full.public_key().to_encoded_point(true);
    let o = owner(
        &json!({"type": "p256", "id": "a", "public_key": hex::encode(compressed.as_bytes())}),
    )
    .unwrap();
    assert_eq!(o, Owner::P256(full));
    assert_eq!(o.to_value()["public_key"].as_str().unwrap().len(), 130);
}

#[test]
fn refuses_a_p256_key_off_the_curve() {
    let mut bad = hex::decode(P256_HEX).unwrap();
    bad[64] ^= 1;
    let e = owner(&json!({"type": "p256", "id": "a", "public_key": hex::encode(bad)})).unwrap_err();
    assert_eq!(
        (e.kind, e.field.as_str()),
        (K::InvalidPublicKey, "owners[0].public_key")
    );
}

#[test]
fn refuses_the_p256_identity_and_other_encodings() {
    for pk in ["00", "", "05", &format!("06{}", &P256_HEX[2..])] {
        let e = owner(&json!({"type": "p256", "id": "a", "public_key": pk})).unwrap_err();
        assert_eq!(e.kind, K::InvalidPublicKey, "{pk}");
    }
}

#[test]
fn refuses_a_passkey_key_off_the_curve() {
    let mut v = value();
    let mut pk = hex::decode(v["owners"][0]["public_key"].as_str().unwrap()).unwrap();
    pk[64] ^= 1;
    v["owners"][0]["public_key"] = json!(hex::encode(pk));
    let e = refused(&v);
    assert_eq!(
        (e.kind, e.field.as_str()),
        (K::InvalidPublicKey, "owners[0].public_key")
    );
}

#[test]
fn refuses_ed25519_keys_of_small_order() {
    // The identity (0, 1) and the point of order 2 (0, -1).
    let identity = {
        let mut b = [0u8; 32];
        b[0] = 1;
        b
    };
    let order_two =
        hex::decode("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f").unwrap();
    for pk in [identity.to_vec(), order_two] {
        let e = owner(&json!({"type": "ed25519", "id": "a", "public_key": hex::encode(pk)}))
            .unwrap_err();
        assert_eq!(
            (e.kind, e.field.as_str()),
            (K::WeakKey, "owners[0].public_key")
        );
    }
}

#[test]
fn refuses_an_ed25519_key_that_is_no_point() {
    // y = 2 has no x on the curve.
    let mut b = [0u8; 32];
    b[0] = 2;
    let e =
        owner(&json!({"type": "ed25519", "id": "a", "public_key": hex::encode(b)})).unwrap_err();
    assert_eq!(e.kind, K::InvalidPublicKey);
}

#[test]
fn refuses_an_ed25519_key_in_non_canonical_encoding() {
    // y = 3 is a point (and not of small order); p + 3 encodes the same y
    // non-canonically.
    let mut canonical = [0u8; 32];
    canonical[0] = 3;
    assert!(
        owner(&json!({"type": "ed25519", "id": "a", "public_key": hex::encode(canonical)})).is_ok()
    );
    let e = owner(&json!({"type": "ed25519", "id": "a", "public_key": "f0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"}))
        .unwrap_err();
    assert_eq!(
        (e.kind, e.field.as_str()),
        (K::InvalidPublicKey, "owners[0].public_key")
    );
}

#[test]
fn refuses_an_ed25519_key_of_the_wrong_length() {
    let e = owner(&json!({"type": "ed25519", "id": "a", "public_key": "00"})).unwrap_err();
    assert_eq!(e.kind, K::InvalidPublicKey);
}

#[test]
fn refuses_a_passkey_without_origins() {
    let mut v = value();
    v["owners"][0]["origins"] = json!([]);
    let e = refused(&v);
    assert_eq!(
        (e.kind, e.field.as_str()),
        (K::Missing, "owners[0].origins")
    );
}

#[test]
fn refuses_a_passkey_with_more_than_8_origins() {
    let mut v = value();
    let origins: Vec<String> = (0..=MAX_ORIGINS)
        .map(|i| format!("https://o{i}.signet.example"))
        .collect();
    v["owners"][0]["origins"] = json!(origins);
    let e = refused(&v);
    assert_eq!(
        (e.kind, e.field.as_str()),
        (K::TooMany, "owners[0].origins")
    );
}

#[test]
fn refuses_an_origin_with_a_path() {
    let mut v = value();
    v["owners"][0]["origins"] = json!(["https://signet.example/"]);
    let e = refused(&v);
    assert_eq!(
        (e.kind, e.field.as_str()),
        (K::InvalidOrigin, "owners[0].origins[0]")
    );
}

#[test]
fn refuses_plain_http_origins_except_localhost() {
    let mut v = value();
    v["owners"][0]["origins"] = json!(["http://signet.example"]);
    assert_eq!(refused(&v).kind, K::InvalidOrigin);
    let dev = owner(
        &json!({"type": "passkey", "id": "a", "public_key": P256_HEX, "rp_id": "localhost", "origins": ["http://localhost:8080"]}),
    );
    assert!(dev.is_ok(), "{dev:?}");
}

#[test]
fn refuses_an_origin_outside_the_rp_id() {
    let mut v = value();
    v["owners"][0]["origins"] = json!(["https://signet.example", "https://evil-signet.example"]);
    let e = refused(&v);
    assert_eq!(
        (e.kind, e.field.as_str()),
        (K::RpIdMismatch, "owners[0].origins[1]")
    );
}

#[test]
fn accepts_origins_on_subdomains_of_the_rp_id() {
    let mut v = value();
    v["owners"][0]["origins"] = json!([
        "https://signet.example",
        "https://console.signet.example:8443"
    ]);
    assert!(parse(&v).is_ok());
}

#[test]
fn refuses_an_origin_listed_twice() {
    let mut v = value();
    v["owners"][0]["origins"] = json!(["https://signet.example", "https://signet.example"]);
    let e = refused(&v);
    assert_eq!(
        (e.kind, e.field.as_str()),
        (K::Duplicate, "owners[0].origins[1]")
    );
}

#[test]
fn refuses_an_invalid_rp_id() {
    for rp in [
        "Signet.example",
        "",
        "signet.example.",
        "https://signet.example",
    ] {
        let mut v = value();
        v["owners"][0]["rp_id"] = json!(rp);
        let e = refused(&v);
        assert_eq!(
            (e.kind, e.field.as_str()),
            (K::InvalidRpId, "owners[0].rp_id"),
            "{rp}"
        );
    }
}

#[test]
fn refuses_a_credential_id_that_is_not_base64url() {
    let mut v = value();
    v["owners"][0]["credential_id"] = json!("a+b/");
    let e = refused(&v);
    assert_eq!(
        (e.kind, e.field.as_str()),
        (K::InvalidBase64, "owners[0].credential_id")
    );
}

#[test]
fn accepts_a_padded_credential_id_and_stores_it_unpadded() {
    let mut v = value();
    v["owners"][0]["credential_id"] = json!("YW5uLWNyZWRlbnRpYWw=");
    let o = owner(&v["owners"][0]).unwrap();
    assert_eq!(o.to_value()["credential_id"], json!("YW5uLWNyZWRlbnRpYWw"));
    // …but in a record's text only the canonical form is accepted.
    assert_eq!(refused(&v).kind, K::NotCanonical);
}

#[test]
fn refuses_an_unknown_policy_rule() {
    let mut v = value();
    v["policy"]["foo"] = json!(1);
    let e = refused(&v);
    assert_eq!((e.kind, e.field.as_str()), (K::UnknownField, "policy.foo"));
}

#[test]
fn refuses_a_policy_without_allow() {
    let e = Policy::from_value(&json!({}), "policy").unwrap_err();
    assert_eq!((e.kind, e.field.as_str()), (K::Missing, "policy.allow"));
}

#[test]
fn refuses_an_unknown_kind_in_allow() {
    let e =
        Policy::from_value(&json!({"allow": ["digest", "message", "blob"]}), "policy").unwrap_err();
    assert_eq!(
        (e.kind, e.field.as_str()),
        (K::UnknownKind, "policy.allow[2]")
    );
}

#[test]
fn refuses_a_kind_listed_twice() {
    let e = Policy::from_value(
        &json!({"allow": ["message", "digest", "message"]}),
        "policy",
    )
    .unwrap_err();
    assert_eq!(
        (e.kind, e.field.as_str()),
        (K::Duplicate, "policy.allow[2]")
    );
    assert_eq!(
        Policy::with_allow(&[Kind::Digest, Kind::Digest])
            .unwrap_err()
            .kind,
        K::Duplicate
    );
}

#[test]
fn accepts_allow_in_any_order_and_stores_it_sorted() {
    let p = Policy::from_value(&json!({"allow": ["typed_data", "digest"]}), "policy").unwrap();
    assert_eq!(p.to_value(), json!({"allow": ["digest", "typed_data"]}));
    let mut v = value();
    v["policy"] = json!({"allow": ["typed_data", "digest"]});
    let e = refused(&v);
    assert_eq!(
        (e.kind, e.field.as_str()),
        (K::NotCanonical, "policy.allow[0]")
    );
}

#[test]
fn refuses_a_record_growing_past_16_kib() {
    // 16 passkey owners with 8 long origins each do not fit.
    let owners: Vec<Owner> = (1..=16u8)
        .map(|n| {
            let pk = signet_authority::keys::SoftPasskey::from_secret(
                &[n; 32],
                b"c",
                "a.example",
                "https://a.example",
            )
            .unwrap();
            let label = "x".repeat(60);
            let origins = (0..8)
                .map(|i| format!("https://{label}{i}.{label}.{label}.a.example"))
                .collect();
            Owner::Passkey(
                signet_authority::owner::PasskeyOwner::new(
                    &format!("o{n}"),
                    &pk.public_key(),
                    "a.example",
                    origins,
                    None,
                )
                .unwrap(),
            )
        })
        .collect();
    match Record::new_initial(wallet_key("w"), owners, None, None) {
        Err(e) => assert_eq!(e.kind, K::TooLarge, "{e}"),
        Ok(r) => panic!("a record of {} bytes was made", r.text().len()),
    }
}

#[test]
fn owners_read_their_public_description() {
    let k = secret(OwnerKeyType::Secp256k1, 1);
    let text = k.public_description().unwrap();
    assert!(
        text.starts_with(r#"{"address":"0x"#) && text.ends_with("\"type\":\"secp256k1\"}\n"),
        "{text}"
    );
    let o = Owner::from_public_description("ops", &text).unwrap();
    assert_eq!(o, k.owner("ops").unwrap());
    let with_id =
        r#"{"address":"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed","id":"x","type":"secp256k1"}"#;
    assert_eq!(
        Owner::from_public_description("ops", with_id)
            .unwrap_err()
            .kind,
        K::UnknownField
    );
}

fn changed(base: &Record, owners: Vec<Owner>, threshold: u32, allow: &[Kind]) -> Record {
    base.next(owners, threshold, Policy::with_allow(allow).unwrap())
        .unwrap()
}

#[test]
fn adding_a_kind_to_allow_loosens() {
    let f = fixture(2);
    let o = f.record.owners().to_vec();
    assert!(loosens(
        &f.record,
        &changed(&f.record, o.clone(), 2, &[Kind::Message])
    ));
    assert!(!loosens(&f.record, &changed(&f.record, o, 2, &[])));
}

#[test]
fn lowering_the_threshold_loosens_and_raising_it_does_not() {
    let f = fixture(2);
    let o = f.record.owners().to_vec();
    assert!(loosens(&f.record, &changed(&f.record, o.clone(), 1, &[])));
    assert!(!loosens(&f.record, &changed(&f.record, o, 3, &[])));
}

#[test]
fn removing_adding_or_changing_an_owner_loosens() {
    let f = fixture(2);
    let o = f.record.owners().to_vec();
    assert!(loosens(
        &f.record,
        &changed(&f.record, o[..3].to_vec(), 2, &[])
    ));
    let mut more = o.clone();
    more.push(secret(OwnerKeyType::Ed25519, 7).owner("new").unwrap());
    assert!(loosens(&f.record, &changed(&f.record, more, 2, &[])));
    let mut swapped = o.clone();
    swapped[2] = secret(OwnerKeyType::Ed25519, 7).owner("ed").unwrap();
    assert!(loosens(&f.record, &changed(&f.record, swapped, 2, &[])));
    // The same owners in another order change nothing.
    let mut reordered = o.clone();
    reordered.reverse();
    assert!(!loosens(&f.record, &changed(&f.record, reordered, 2, &[])));
}

#[test]
fn giving_a_legacy_wallet_owners_loosens() {
    // Owners can approve kinds (digest here) that nothing could sign before.
    let legacy = Record::new_initial(
        wallet_key("w_l"),
        vec![],
        None,
        Some(Policy::with_allow(&[Kind::Message]).unwrap()),
    )
    .unwrap();
    let owned = changed(
        &legacy,
        vec![secret(OwnerKeyType::P256, 3).owner("me").unwrap()],
        1,
        &[],
    );
    assert!(loosens(&legacy, &owned));
}

#[test]
fn settings_read_from_an_api_request_and_leave_its_other_keys_alone() {
    let k = secret(OwnerKeyType::Secp256k1, 1);
    let req = json!({
        "key_type": "secp256k1", "label": "treasury",
        "owners": [k.owner("ops").unwrap().to_value()], "threshold": 1,
        "policy": {"allow": ["message"]},
    });
    let s = signet_authority::RecordSettings::from_request(&req).unwrap();
    let r = s.initial(wallet_key("w_s")).unwrap();
    assert_eq!(r.owners().len(), 1);
    assert_eq!(r.policy().allow(), &[Kind::Message]);
    // Nothing given: the defaults of a wallet without owners.
    let none = signet_authority::RecordSettings::from_request(
        &json!({"key_type": "p256", "owners": null}),
    )
    .unwrap()
    .initial(wallet_key("w_n"))
    .unwrap();
    assert_eq!(none.policy(), &Policy::permissive());
}

#[test]
fn refuses_settings_naming_the_field() {
    let e = signet_authority::RecordSettings::from_request(
        &json!({"owners": [{"type": "p256", "id": "a", "public_key": "04"}]}),
    )
    .unwrap_err();
    assert_eq!(
        (e.kind, e.field.as_str()),
        (K::InvalidPublicKey, "owners[0].public_key")
    );
    let e = signet_authority::RecordSettings::from_request(&json!({"threshold": 99})).unwrap_err();
    assert_eq!(
        (e.kind, e.field.as_str()),
        (K::InvalidThreshold, "threshold")
    );
    let e = signet_authority::RecordSettings::from_request(
        &json!({"policy": {"allow": [], "windows": [{"seconds": 0, "max_count": 1}]}}),
    )
    .unwrap_err();
    assert_eq!(
        (e.kind, e.field.as_str()),
        (K::OutOfRange, "policy.windows[0].seconds")
    );
}

#[test]
fn settings_change_only_what_they_name() {
    let f = fixture(2);
    let s = signet_authority::RecordSettings::from_request(&json!({"threshold": 3})).unwrap();
    let next = s.next(&f.record).unwrap();
    assert_eq!(next.threshold(), 3);
    assert_eq!(next.owners(), f.record.owners());
    assert_eq!(next.policy(), f.record.policy());
    f.record.check_next(&next).unwrap();
}

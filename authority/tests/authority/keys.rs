//! Owner key files and `.pub` descriptions.

use signet_authority::{KeyFileError, Owner, OwnerKeyType, OwnerSecretKey};

use crate::common::*;

#[test]
fn key_files_round_trip_for_every_type() {
    let mut rng = rand_core::OsRng;
    for t in OwnerKeyType::ALL {
        let k = OwnerSecretKey::generate(t, &mut rng);
        let file = k.to_key_file();
        assert!(
            file.starts_with("{\"secret_key\":\"")
                && file.ends_with(&format!("\",\"type\":\"{}\"}}\n", t.as_str())),
            "{}",
            t.as_str()
        );
        let again = OwnerSecretKey::from_key_file(&file).unwrap();
        assert_eq!(again.key_type(), t);
        assert_eq!(again.owner("o").unwrap(), k.owner("o").unwrap());
        assert_eq!(
            again.sign("text"),
            k.sign("text"),
            "deterministic signatures"
        );
        let pubf = k.public_description().unwrap();
        assert_eq!(
            Owner::from_public_description("o", &pubf).unwrap(),
            k.owner("o").unwrap()
        );
    }
}

#[test]
fn the_secret_never_shows_in_debug_or_errors() {
    let k = secret(OwnerKeyType::P256, 3);
    let file = k.to_key_file();
    let secret_hex = &file[15..79];
    assert_eq!(secret_hex, "03".repeat(32));
    assert!(!format!("{k:?}").contains(secret_hex));
    assert!(format!("{k:?}").contains("[redacted]"));
    // A file with a bad type: the error names no secret.
    let bad = file.replace("\"p256\"", "\"p384\"");
    let e = OwnerSecretKey::from_key_file(&bad).unwrap_err();
    assert_eq!(e, KeyFileError::UnknownType);
    assert!(!e.to_string().contains(secret_hex));
    let e =
        OwnerSecretKey::from_key_file(&file.replace("\"secret_key\"", "\"secret\"")).unwrap_err();
    assert!(!e.to_string().contains(secret_hex), "{e}");
}

#[test]
fn refuses_malformed_key_files() {
    let good = secret(OwnerKeyType::Secp256k1, 1).to_key_file();
    for (text, what) in [
        ("", "empty"),
        ("secp256k1 0101", "not JSON"),
        (r#"{"type":"secp256k1"}"#, "no secret"),
        (
            r#"{"secret_key":"0101","type":"secp256k1"}"#,
            "short secret",
        ),
        (&*good.replace("\"}", "\",\"note\":1}"), "unknown field"),
    ] {
        assert!(OwnerSecretKey::from_key_file(text).is_err(), "{what}");
    }
    let zero = format!(
        "{{\"secret_key\":\"{}\",\"type\":\"secp256k1\"}}",
        "00".repeat(32)
    );
    assert_eq!(
        OwnerSecretKey::from_key_file(&zero).unwrap_err(),
        KeyFileError::InvalidSecret("secp256k1")
    );
    let big = format!(
        "{{\"secret_key\":\"{}\",\"type\":\"p256\"}}",
        "ff".repeat(32)
    );
    assert!(
        OwnerSecretKey::from_key_file(&big).is_err(),
        "not below the order"
    );
    assert_eq!(
        OwnerSecretKey::from_key_file(&" ".repeat(2000)).unwrap_err(),
        KeyFileError::TooLarge
    );
}

#[test]
fn secp256k1_approvals_are_eip191_with_v_27_or_28() {
    let k = secret(OwnerKeyType::Secp256k1, 1);
    let sig = hex::decode(k.sign("hello")).unwrap();
    assert_eq!(sig.len(), 65);
    assert!(sig[64] == 27 || sig[64] == 28);
    // Recovers the owner's address from the EIP-191 digest.
    let recid = k256::ecdsa::RecoveryId::from_byte(sig[64] - 27).unwrap();
    let s = k256::ecdsa::Signature::from_slice(&sig[..64]).unwrap();
    let key = k256::ecdsa::VerifyingKey::recover_from_prehash(
        &signet_authority::eth::eip191_digest(b"hello"),
        &s,
        recid,
    )
    .unwrap();
    let Owner::Secp256k1(o) = k.owner("o").unwrap() else {
        panic!()
    };
    assert_eq!(&signet_authority::eth::address_of(&key), o.address());
}

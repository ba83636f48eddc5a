//! Arbitrary bytes as owners' texts and approvals: the record and
//! authorization parsers, the WebAuthn clientDataJSON and authenticatorData
//! parsers, the assertion verifier and `verify_approvals`. No input may
//! panic; a parsed record or authorization is exactly its canonical text; no
//! assertion or approval verifies (the fuzzer holds no owner key).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use signet_authority::owner::PasskeyOwner;
use signet_authority::webauthn::{self, AssertionCheck, AuthenticatorData, ClientData};
use signet_authority::{
    verify_approvals, Approval, Authorization, Expected, KeyType, Owner, OwnerKeyType,
    OwnerSecretKey, Policy, Record, Request, WalletKey,
};

const ORIGIN: &str = "https://signet.example";
const RP_ID: &str = "signet.example";

/// The P-256 key of the passkey owner `ann` (uncompressed SEC1).
fn passkey_key() -> &'static Vec<u8> {
    static KEY: OnceLock<Vec<u8>> = OnceLock::new();
    KEY.get_or_init(|| {
        let k = OwnerSecretKey::from_secret_bytes(OwnerKeyType::P256, &[5; 32]).expect("scalar");
        match k.owner("ann").expect("owner") {
            Owner::P256(o) => o.public_key().to_encoded_point(false).as_bytes().to_vec(),
            _ => unreachable!(),
        }
    })
}

/// A wallet with one owner of each type, threshold 1.
fn record() -> &'static Record {
    static RECORD: OnceLock<Record> = OnceLock::new();
    RECORD.get_or_init(|| {
        let key = |t, n| OwnerSecretKey::from_secret_bytes(t, &[n; 32]).expect("key");
        let owners = vec![
            Owner::Passkey(
                PasskeyOwner::new("ann", passkey_key(), RP_ID, vec![ORIGIN.into()], None)
                    .expect("passkey"),
            ),
            key(OwnerKeyType::Secp256k1, 1).owner("eth").expect("eth"),
            key(OwnerKeyType::Ed25519, 2).owner("ed").expect("ed"),
            key(OwnerKeyType::P256, 3).owner("pk").expect("pk"),
        ];
        Record::new_initial(
            WalletKey {
                deployment: "fuzz".into(),
                wallet_id: "w_fuzz".into(),
                key_type: KeyType::Secp256k1,
                public_key: k256_point(),
            },
            owners,
            Some(1),
            Some(Policy::owners_only()),
        )
        .expect("record")
    })
}

/// The secp256k1 generator, uncompressed.
fn k256_point() -> Vec<u8> {
    let mut p = vec![4u8];
    p.extend_from_slice(&hex_bytes(
        "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
    ));
    p.extend_from_slice(&hex_bytes(
        "483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8",
    ));
    p
}

fn hex_bytes(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(r) = Record::parse(&text) {
        assert_eq!(r.text(), text);
    }
    if let Ok(a) = Authorization::parse(&text) {
        assert_eq!(a.text(), text);
    }
    let _ = ClientData::parse(data);
    let _ = AuthenticatorData::parse(data);

    // The input cut in three: authenticatorData, clientDataJSON, signature.
    let cut = |b: Option<&u8>| b.map_or(0, |b| usize::from(*b));
    let a_len = cut(data.first()).min(data.len().saturating_sub(2));
    let c_len = cut(data.get(1)).min(data.len().saturating_sub(2 + a_len));
    let rest = data.get(2..).unwrap_or_default();
    let (auth, rest) = rest.split_at(a_len.min(rest.len()));
    let (client, sig) = rest.split_at(c_len.min(rest.len()));
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(passkey_key()).expect("key");
    let origins = [ORIGIN.to_owned()];
    let check = AssertionCheck {
        public_key: &key,
        rp_id: RP_ID,
        origins: &origins,
        challenge: &[7; 32],
        require_user_verification: false,
    };
    assert!(webauthn::verify_assertion(&check, auth, client, sig).is_err());

    if let Ok(approvals) = serde_json::from_slice::<Vec<Approval>>(data) {
        let record = record();
        let request = Request::Resume;
        let expected = Expected::for_request("fuzz", record, &request);
        assert!(verify_approvals(record, &expected, &approvals, 1_765_000_000).is_err());
    }
});

//! Fixtures shared by the tests: a wallet with one owner of each type, the
//! keys behind them, and requests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::json;
use signet_authority::keys::SoftPasskey;
use signet_authority::{
    payload_sha256, Authorization, Expected, KeyType, Owner, OwnerKeyType, OwnerSecretKey, Policy,
    Record, Request, WalletKey,
};

/// The signer's deployment in these tests.
pub const DEPLOYMENT: &str = "test-eu";
/// The signer's clock in these tests (Unix seconds).
pub const NOW: u64 = 1_765_000_000;
/// The console's relying-party id and origin.
pub const RP_ID: &str = "signet.example";
pub const ORIGIN: &str = "https://signet.example";

/// A fixed secret key of `t` (`n` ≥ 1 repeated: a valid scalar and seed).
pub fn secret(t: OwnerKeyType, n: u8) -> OwnerSecretKey {
    OwnerSecretKey::from_secret_bytes(t, &[n; 32]).unwrap()
}

/// A secp256k1 wallet key.
pub fn wallet_key(wallet_id: &str) -> WalletKey {
    let k = k256::ecdsa::SigningKey::from_slice(&[9u8; 32]).unwrap();
    WalletKey {
        deployment: DEPLOYMENT.into(),
        wallet_id: wallet_id.into(),
        key_type: KeyType::Secp256k1,
        public_key: k
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec(),
    }
}

/// The passkey of owner `ann`.
pub fn passkey() -> SoftPasskey {
    SoftPasskey::from_secret(&[5u8; 32], b"ann-credential", RP_ID, ORIGIN).unwrap()
}

/// A wallet with four owners, one of each type.
pub struct Fixture {
    pub record: Record,
    /// Owner `eth` (secp256k1).
    pub eth: OwnerSecretKey,
    /// Owner `ed` (ed25519).
    pub ed: OwnerSecretKey,
    /// Owner `pk` (p256).
    pub p256: OwnerSecretKey,
    /// Owner `ann` (passkey, credential id pinned).
    pub ann: SoftPasskey,
}

/// The fixture wallet with `threshold` and the owners-only policy.
pub fn fixture(threshold: u32) -> Fixture {
    let eth = secret(OwnerKeyType::Secp256k1, 1);
    let ed = secret(OwnerKeyType::Ed25519, 2);
    let p256 = secret(OwnerKeyType::P256, 3);
    let ann = passkey();
    let owners: Vec<Owner> = vec![
        ann.owner("ann", true).unwrap(),
        eth.owner("eth").unwrap(),
        ed.owner("ed").unwrap(),
        p256.owner("pk").unwrap(),
    ];
    let record = Record::new_initial(
        wallet_key("w_fixture"),
        owners,
        Some(threshold),
        Some(Policy::owners_only()),
    )
    .unwrap();
    Fixture {
        record,
        eth,
        ed,
        p256,
        ann,
    }
}

/// A signing request: a UTF-8 message and some digest.
pub fn sign_request() -> Request {
    Request::Sign {
        payload_sha256: payload_sha256(&json!({"message": "hello", "encoding": "utf8"})).unwrap(),
        digest: [0xd1; 32],
    }
}

/// The authorization of `request` on `record`, expiring 300 s after [`NOW`],
/// request id 0x11….
pub fn authz(record: &Record, request: Request) -> Authorization {
    Authorization::new(record, request, NOW + 300, [0x11; 16]).unwrap()
}

/// What the signer expects for `request` on `record`.
pub fn expected(record: &Record, request: &Request) -> Expected {
    Expected::for_request(DEPLOYMENT, record, request)
}

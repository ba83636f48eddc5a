//! Arbitrary bytes as a KMS `CiphertextForRecipient`: no input may panic, and
//! none may decrypt under a key generated here (its `rid` is unknowable to
//! the fuzzer, so every input must be refused).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use signet_enclave::kms::cms;
use signet_enclave::kms::recipient::RecipientKey;

fn key() -> &'static RecipientKey {
    static KEY: OnceLock<RecipientKey> = OnceLock::new();
    KEY.get_or_init(|| RecipientKey::generate().expect("RSA-2048 key generation"))
}

fuzz_target!(|data: &[u8]| {
    let _ = cms::parse(data);
    assert!(key().decrypt(data).is_err());
});

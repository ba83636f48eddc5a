//! Feeds arbitrary bytes to the attestation parser and verifier: no input may
//! panic, loop or allocate without bound. Seed the corpus with the real
//! documents in `attestation/testdata/vectors/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signet_attestation::{inspect_unverified, PcrPolicy, TrustAnchor, Verifier, VerifyAt};

fuzz_target!(|data: &[u8]| {
    let _ = inspect_unverified(data);
    let verifier = Verifier::new(
        TrustAnchor::aws_nitro_root_g1(),
        PcrPolicy::accept_any_measurement_insecure(),
    )
    .allow_debug(true)
    .at(VerifyAt::DocumentTimestamp);
    let _ = verifier.verify(data);
});

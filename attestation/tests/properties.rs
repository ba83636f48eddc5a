//! Property tests of the decoder of outside bytes: no input panics, no damage
//! to a real document goes unnoticed, and dev documents round-trip.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use proptest::prelude::*;
use signet_attestation::dev::{DevDocument, DevIssuer};
use signet_attestation::{inspect_unverified, PcrPolicy, PcrSet, Verifier};

fn vectors() -> &'static [common::Vector] {
    static V: OnceLock<Vec<common::Vector>> = OnceLock::new();
    V.get_or_init(|| common::manifest().documents)
}

fn issuer() -> &'static DevIssuer {
    static I: OnceLock<DevIssuer> = OnceLock::new();
    I.get_or_init(|| DevIssuer::ephemeral().unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_and_never_verify(bytes in proptest::collection::vec(any::<u8>(), 0..6000)) {
        let _ = inspect_unverified(&bytes);
        let v = &vectors()[0];
        prop_assert!(v.verifier().verify(&bytes).is_err());
    }

    #[test]
    fn cbor_shaped_garbage_never_panics(
        head in prop::sample::select(vec![0x84u8, 0xd2, 0x9f, 0xbf, 0xa9, 0x5f, 0x7f]),
        bytes in proptest::collection::vec(any::<u8>(), 0..2000),
    ) {
        let mut input = vec![head];
        input.extend(bytes);
        let _ = inspect_unverified(&input);
        prop_assert!(vectors()[1].verifier().verify(&input).is_err());
    }

    #[test]
    fn any_single_bit_flip_of_a_real_document_is_refused(which in 0usize..12, at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let v = &vectors()[which];
        let mut bytes = v.bytes.clone();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        prop_assert!(v.verifier().verify(&bytes).is_err(), "flip at {} bit {} of {} verified", i, bit, v.file);
    }

    #[test]
    fn any_truncation_is_refused(which in 0usize..12, at in any::<prop::sample::Index>()) {
        let v = &vectors()[which];
        let cut = at.index(v.bytes.len());
        prop_assert!(v.verifier().verify(&v.bytes[..cut]).is_err());
        prop_assert!(inspect_unverified(&v.bytes[..cut]).is_err());
    }

    #[test]
    fn dev_documents_round_trip(
        module in "dev-[a-z0-9-]{1,40}",
        pcrs in proptest::collection::btree_map(0u8..32, proptest::collection::vec(any::<u8>(), 48), 1..8),
        public_key in proptest::option::of(proptest::collection::vec(any::<u8>(), 1..1024)),
        user_data in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..512)),
        nonce in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..512)),
    ) {
        let request = DevDocument { module_id: module, pcrs: pcrs.clone(), public_key, user_data, nonce };
        let bytes = issuer().issue(&request).unwrap();
        let policy = PcrPolicy::exactly(PcrSet::new(pcrs).unwrap());
        let verified = Verifier::new(issuer().trust_anchor().unwrap(), policy)
            .allow_debug(true)
            .verify(&bytes)
            .unwrap();
        prop_assert_eq!(verified.doc.module_id, request.module_id);
        prop_assert_eq!(verified.doc.pcrs, request.pcrs);
        prop_assert_eq!(verified.doc.public_key, request.public_key);
        prop_assert_eq!(verified.doc.user_data, request.user_data);
        prop_assert_eq!(verified.doc.nonce, request.nonce);
    }

    #[test]
    fn oversized_fields_are_refused_even_when_signed(extra in 1usize..64) {
        let request = DevDocument {
            module_id: "dev-big".into(),
            pcrs: BTreeMap::from([(0u8, vec![1; 48])]),
            user_data: Some(vec![0; 512 + extra]),
            ..Default::default()
        };
        let bytes = issuer().issue(&request).unwrap();
        let policy = PcrPolicy::exactly(PcrSet::new(request.pcrs).unwrap());
        let err = Verifier::new(issuer().trust_anchor().unwrap(), policy).verify(&bytes).unwrap_err();
        let is_user_data = matches!(err, signet_attestation::VerifyError::Payload { field: "user_data", .. });
        prop_assert!(is_user_data, "{}", err);
    }
}

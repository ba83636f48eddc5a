//! Every real AWS Nitro document in `testdata/vectors` verifies exactly as the
//! manifest says, and is refused at the wrong time, PCRs, nonce or root.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::manifest;
use sha2::{Digest, Sha256};
use signet_attestation::dev::DevIssuer;
use signet_attestation::{
    PcrPolicy, PcrSet, TrustAnchor, Verifier, VerifyAt, VerifyError, AWS_NITRO_ROOT_G1_SHA256,
};

#[test]
fn manifest_files_are_the_published_bytes() {
    let m = manifest();
    assert_eq!(m.root_der_sha256, AWS_NITRO_ROOT_G1_SHA256);
    for v in &m.documents {
        assert_eq!(
            hex::encode(Sha256::digest(&v.bytes)),
            v.sha256,
            "{}",
            v.file
        );
    }
}

#[test]
fn every_vector_verifies_at_its_own_timestamp() {
    for v in manifest().documents {
        let verified = v
            .verifier()
            .verify(&v.bytes)
            .unwrap_or_else(|e| panic!("{}: {e}", v.file));
        let doc = &verified.doc;
        assert_eq!(doc.module_id, v.module_id, "{}", v.file);
        assert_eq!(doc.timestamp_ms, v.timestamp_ms, "{}", v.file);
        assert_eq!(verified.checked_at_ms, v.timestamp_ms);
        assert_eq!(verified.debug_mode, v.debug_mode, "{}", v.file);
        assert_eq!(hex::encode(verified.root_sha256), AWS_NITRO_ROOT_G1_SHA256);
        for (index, value) in &v.pcrs {
            let index: u8 = index.parse().unwrap();
            assert_eq!(
                hex::encode(&doc.pcrs[&index]),
                *value,
                "{} PCR{index}",
                v.file
            );
        }
        let len = |f: &Option<Vec<u8>>| f.as_ref().map_or(0, Vec::len);
        assert_eq!(len(&doc.public_key), v.public_key_len, "{}", v.file);
        assert_eq!(len(&doc.user_data), v.user_data_len, "{}", v.file);
        assert_eq!(len(&doc.nonce), v.nonce_len, "{}", v.file);
    }
}

#[test]
fn every_vector_verifies_at_the_manifest_valid_times() {
    for v in manifest().documents {
        for at in &v.expect.valid_at_ms {
            v.verifier()
                .at(VerifyAt::UnixMs(*at))
                .verify(&v.bytes)
                .unwrap_or_else(|e| panic!("{} at {at}: {e}", v.file));
        }
    }
}

#[test]
fn every_vector_is_refused_at_the_manifest_invalid_times() {
    for v in manifest().documents {
        assert_eq!(v.expect.invalid_at_ms.len(), 2);
        for at in &v.expect.invalid_at_ms {
            let err = v
                .verifier()
                .at(VerifyAt::UnixMs(*at))
                .verify(&v.bytes)
                .unwrap_err();
            assert!(
                matches!(err, VerifyError::CertificateNotValidAt { at_ms, .. } if at_ms == *at),
                "{} at {at}: {err}",
                v.file
            );
        }
    }
}

#[test]
fn vectors_are_refused_now_because_their_leaves_expired() {
    for v in manifest().documents {
        let err = v.verifier().at(VerifyAt::Now).verify(&v.bytes).unwrap_err();
        assert!(
            matches!(err, VerifyError::CertificateNotValidAt { ref which, .. } if which == "leaf"),
            "{}: {err}",
            v.file
        );
    }
}

#[test]
fn debug_vectors_need_allow_debug() {
    let m = manifest();
    let debug: Vec<_> = m.documents.iter().filter(|v| v.debug_mode).collect();
    assert_eq!(debug.len(), 4);
    for v in debug {
        let err = v
            .verifier()
            .allow_debug(false)
            .verify(&v.bytes)
            .unwrap_err();
        assert_eq!(err, VerifyError::DebugMode, "{}", v.file);
    }
}

#[test]
fn high_s_and_indefinite_vectors_are_covered() {
    let m = manifest();
    assert_eq!(m.documents.iter().filter(|v| v.high_s_signature).count(), 3);
    assert_eq!(
        m.documents
            .iter()
            .filter(|v| v.payload_map == "indefinite")
            .count(),
        1
    );
}

#[test]
fn a_wrong_pcr_is_refused_for_each_checked_register() {
    for v in manifest().documents {
        for index in ["0", "1", "2", "3", "4", "8"] {
            let mut pcrs = v.pcrs.clone();
            let mut value = hex::decode(&pcrs[index]).unwrap();
            value[47] ^= 1;
            pcrs.insert(index.to_owned(), hex::encode(value));
            let set = PcrSet::from_hex(pcrs.iter().map(|(i, h)| (i.parse().unwrap(), h.as_str())))
                .unwrap();
            let err = Verifier::new(TrustAnchor::aws_nitro_root_g1(), PcrPolicy::exactly(set))
                .allow_debug(true)
                .at(VerifyAt::DocumentTimestamp)
                .verify(&v.bytes)
                .unwrap_err();
            assert!(
                matches!(err, VerifyError::PcrMismatch { index: i, .. } if i.to_string() == index),
                "{} PCR{index}: {err}",
                v.file
            );
        }
    }
}

#[test]
fn rolling_upgrade_accepts_any_listed_set() {
    let m = manifest();
    let (a, b) = (&m.documents[1], &m.documents[5]);
    let policy = PcrPolicy::any_of(vec![a.pcr_set(), b.pcr_set()]).unwrap();
    for v in [a, b] {
        Verifier::new(TrustAnchor::aws_nitro_root_g1(), policy.clone())
            .at(VerifyAt::DocumentTimestamp)
            .verify(&v.bytes)
            .unwrap();
    }
    let c = &m.documents[8];
    let err = Verifier::new(TrustAnchor::aws_nitro_root_g1(), policy)
        .at(VerifyAt::DocumentTimestamp)
        .verify(&c.bytes)
        .unwrap_err();
    assert_eq!(err, VerifyError::NoPcrSetMatches { sets: 2 });
}

#[test]
fn nonce_is_checked() {
    let m = manifest();
    let with_nonce = m.documents.iter().find(|v| v.nonce_len > 0).unwrap();
    let nonce = with_nonce
        .verifier()
        .verify(&with_nonce.bytes)
        .unwrap()
        .doc
        .nonce
        .unwrap();
    with_nonce
        .verifier()
        .expect_nonce(nonce.clone())
        .verify(&with_nonce.bytes)
        .unwrap();
    let mut wrong = nonce;
    wrong[0] ^= 1;
    let err = with_nonce
        .verifier()
        .expect_nonce(wrong)
        .verify(&with_nonce.bytes)
        .unwrap_err();
    assert!(matches!(err, VerifyError::NonceMismatch { .. }));

    let without = m.documents.iter().find(|v| v.nonce_len == 0).unwrap();
    let err = without
        .verifier()
        .expect_nonce(vec![1])
        .verify(&without.bytes)
        .unwrap_err();
    assert!(matches!(err, VerifyError::NonceMismatch { ref actual, .. } if actual == "absent"));
}

#[test]
fn max_age_is_checked_against_the_verification_time() {
    let v = &manifest().documents[0];
    let t = v.timestamp_ms;
    v.verifier()
        .max_age(std::time::Duration::from_secs(60))
        .at(VerifyAt::UnixMs(t + 59_000))
        .verify(&v.bytes)
        .unwrap();
    let err = v
        .verifier()
        .max_age(std::time::Duration::from_secs(60))
        .at(VerifyAt::UnixMs(t + 61_000))
        .verify(&v.bytes)
        .unwrap_err();
    assert_eq!(
        err,
        VerifyError::TooOld {
            age_ms: 61_000,
            max_age_ms: 60_000
        }
    );
}

#[test]
fn a_foreign_root_is_refused() {
    let dev = DevIssuer::ephemeral().unwrap();
    for v in manifest().documents {
        let err = Verifier::new(dev.trust_anchor().unwrap(), PcrPolicy::exactly(v.pcr_set()))
            .allow_debug(true)
            .at(VerifyAt::DocumentTimestamp)
            .verify(&v.bytes)
            .unwrap_err();
        assert!(
            matches!(err, VerifyError::IssuerMismatch { ref parent, .. } if parent == "root"),
            "{}: {err}",
            v.file
        );
    }
}

#[test]
fn the_document_copy_of_the_root_is_never_the_anchor() {
    // Trusting cabundle[0] explicitly works (it *is* the AWS root) ...
    let v = &manifest().documents[1];
    let doc = signet_attestation::inspect_unverified(&v.bytes).unwrap();
    assert_eq!(
        hex::encode(Sha256::digest(&doc.cabundle[0])),
        AWS_NITRO_ROOT_G1_SHA256
    );
    // ... and a dev document that carries the AWS root as cabundle[0] still
    // chains to its own root, so it is refused under the AWS anchor.
    let dev = DevIssuer::ephemeral().unwrap();
    let mut forged = signet_attestation::inspect_unverified(
        &dev.issue(&signet_attestation::dev::DevDocument {
            module_id: "dev-x".into(),
            pcrs: doc.pcrs.clone(),
            ..Default::default()
        })
        .unwrap(),
    )
    .unwrap();
    forged.cabundle[0] = doc.cabundle[0].clone();
    let bytes = dev.sign_payload(&forged.to_payload()).unwrap();
    let err = Verifier::new(
        TrustAnchor::aws_nitro_root_g1(),
        PcrPolicy::exactly(v.pcr_set()),
    )
    .verify(&bytes)
    .unwrap_err();
    assert!(matches!(err, VerifyError::IssuerMismatch { .. }), "{err}");
}

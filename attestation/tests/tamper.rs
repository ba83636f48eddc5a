//! Tampered documents are refused, each for the right reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use ciborium::value::Value;
use common::{encode, field, manifest, rebuild, set_field, Vector};
use signet_attestation::dev::{DevDocument, DevIssuer};
use signet_attestation::{
    inspect_unverified, PcrPolicy, PcrSet, TrustAnchor, Verifier, VerifyAt, VerifyError,
};

fn nondebug() -> Vector {
    manifest()
        .documents
        .into_iter()
        .find(|v| v.file.starts_with("evervault_beta_nondebug"))
        .unwrap()
}

fn refused(v: &Vector, bytes: &[u8]) -> VerifyError {
    v.verifier().verify(bytes).unwrap_err()
}

#[test]
fn flipped_signature_bit() {
    for v in manifest().documents {
        let mut cose = v.cose();
        let mut sig = cose[3].as_bytes().unwrap().clone();
        sig[10] ^= 0x01;
        cose[3] = Value::Bytes(sig);
        assert_eq!(
            refused(&v, &rebuild(cose)),
            VerifyError::BadSignature,
            "{}",
            v.file
        );
    }
}

#[test]
fn flipped_payload_bit() {
    for v in manifest().documents {
        let mut payload = v.payload_bytes();
        // Inside the module_id text: still well-formed CBOR, different content.
        let at = payload
            .windows(v.module_id.len())
            .position(|w| w == v.module_id.as_bytes())
            .unwrap();
        payload[at + 3] ^= 0x01;
        let mut cose = v.cose();
        cose[2] = Value::Bytes(payload);
        assert_eq!(
            refused(&v, &rebuild(cose)),
            VerifyError::BadSignature,
            "{}",
            v.file
        );
    }
}

#[test]
fn re_encoded_payload_map() {
    for v in manifest().documents {
        // Decoding and re-encoding turns the indefinite map into a definite one
        // and, for every document, reordering the keys changes the bytes.
        let mut map = v.payload_map();
        if v.payload_map == "definite" {
            map.reverse();
        }
        let reencoded = encode(&Value::Map(map));
        assert_ne!(reencoded, v.payload_bytes());
        let mut cose = v.cose();
        cose[2] = Value::Bytes(reencoded);
        assert_eq!(
            refused(&v, &rebuild(cose)),
            VerifyError::BadSignature,
            "{}",
            v.file
        );
    }
}

#[test]
fn removed_or_reordered_cabundle_entry_in_a_real_document() {
    let v = nondebug();
    let bundle = field(&v.payload_map(), "cabundle")
        .as_array()
        .unwrap()
        .clone();
    assert!(bundle.len() >= 3);
    let mut removed = bundle.clone();
    removed.remove(1);
    let mut reordered = bundle.clone();
    reordered.swap(1, 2);
    for changed in [removed, reordered] {
        let mut map = v.payload_map();
        set_field(&mut map, "cabundle", Value::Array(changed));
        let mut cose = v.cose();
        cose[2] = Value::Bytes(encode(&Value::Map(map)));
        // The bundle is signed: any change breaks the COSE signature first.
        assert_eq!(refused(&v, &rebuild(cose)), VerifyError::BadSignature);
    }
}

#[test]
fn another_documents_leaf() {
    let m = manifest();
    let (a, b) = (&m.documents[1], &m.documents[5]);
    let mut map = a.payload_map();
    set_field(
        &mut map,
        "certificate",
        field(&b.payload_map(), "certificate").clone(),
    );
    let mut cose = a.cose();
    cose[2] = Value::Bytes(encode(&Value::Map(map)));
    assert_eq!(refused(a, &rebuild(cose)), VerifyError::BadSignature);
}

#[test]
fn another_cose_tag_is_refused_and_tag_18_accepted() {
    let v = nondebug();
    let tagged = |tag: u64| encode(&Value::Tag(tag, Box::new(Value::Array(v.cose()))));
    v.verifier().verify(&tagged(18)).unwrap();
    assert_eq!(refused(&v, &tagged(17)), VerifyError::UnexpectedTag(17));
    assert_eq!(refused(&v, &tagged(98)), VerifyError::UnexpectedTag(98));
    // Tag 18 inside tag 18 is not a COSE_Sign1 array.
    let nested = encode(&Value::Tag(
        18,
        Box::new(Value::Tag(18, Box::new(Value::Array(v.cose())))),
    ));
    assert!(matches!(
        refused(&v, &nested),
        VerifyError::CoseStructure(_)
    ));
}

#[test]
fn truncated_and_extended_inputs() {
    let v = nondebug();
    for cut in [1, 2, 100, v.bytes.len() / 2, v.bytes.len() - 1] {
        let err = refused(&v, &v.bytes[..cut]);
        assert!(
            matches!(err, VerifyError::MalformedCbor(_)),
            "cut {cut}: {err}"
        );
    }
    assert!(matches!(refused(&v, &[]), VerifyError::MalformedCbor(_)));
    let mut extended = v.bytes.clone();
    extended.push(0x00);
    assert_eq!(refused(&v, &extended), VerifyError::TrailingBytes(1));
    extended.extend_from_slice(&v.bytes);
    assert_eq!(
        refused(&v, &extended),
        VerifyError::TrailingBytes(1 + v.bytes.len())
    );
}

#[test]
fn non_es384_protected_header() {
    let v = nondebug();
    // ES256, ES512, and ES384 plus an extra header.
    for header in [
        vec![0xa1, 0x01, 0x26],
        vec![0xa1, 0x01, 0x38, 0x23],
        vec![0xa2, 0x01, 0x38, 0x22, 0x03, 0x00],
    ] {
        let mut cose = v.cose();
        cose[0] = Value::Bytes(header);
        assert_eq!(
            refused(&v, &rebuild(cose)),
            VerifyError::UnsupportedAlgorithm
        );
    }
}

#[test]
fn wrong_cose_shapes() {
    let v = nondebug();
    let mut five = v.cose();
    five.push(Value::Null);
    assert!(matches!(
        refused(&v, &rebuild(five)),
        VerifyError::CoseStructure(_)
    ));
    let mut three = v.cose();
    three.pop();
    assert!(matches!(
        refused(&v, &rebuild(three)),
        VerifyError::CoseStructure(_)
    ));
    let mut detached = v.cose();
    detached[2] = Value::Null;
    assert!(matches!(
        refused(&v, &rebuild(detached)),
        VerifyError::CoseStructure(_)
    ));
    let mut short_sig = v.cose();
    short_sig[3] = Value::Bytes(vec![1; 95]);
    assert!(matches!(
        refused(&v, &rebuild(short_sig)),
        VerifyError::CoseStructure(_)
    ));
    let mut bad_unprotected = v.cose();
    bad_unprotected[1] = Value::Array(vec![]);
    assert!(matches!(
        refused(&v, &rebuild(bad_unprotected)),
        VerifyError::CoseStructure(_)
    ));
    assert!(matches!(
        refused(&v, &encode(&Value::Map(vec![]))),
        VerifyError::CoseStructure(_)
    ));
}

// Chain faults need a signature that still verifies, so they are built with
// the dev issuer, whose leaf signs whatever payload the test chooses.
mod chain {
    use super::*;

    fn issuer_and_doc() -> (DevIssuer, signet_attestation::AttestationDoc, Verifier) {
        let issuer = DevIssuer::ephemeral().unwrap();
        let request = DevDocument {
            module_id: "dev-tamper".into(),
            pcrs: (0u8..3).map(|i| (i, vec![0x10 + i; 48])).collect(),
            ..Default::default()
        };
        let doc = inspect_unverified(&issuer.issue(&request).unwrap()).unwrap();
        let verifier = Verifier::new(
            issuer.trust_anchor().unwrap(),
            PcrPolicy::exactly(PcrSet::new(request.pcrs).unwrap()),
        );
        (issuer, doc, verifier)
    }

    #[test]
    fn untampered_dev_document_verifies() {
        let (issuer, doc, verifier) = issuer_and_doc();
        verifier
            .verify(&issuer.sign_payload(&doc.to_payload()).unwrap())
            .unwrap();
    }

    #[test]
    fn removed_intermediate() {
        let (issuer, mut doc, verifier) = issuer_and_doc();
        doc.cabundle.truncate(1);
        let err = verifier
            .verify(&issuer.sign_payload(&doc.to_payload()).unwrap())
            .unwrap_err();
        assert!(
            matches!(err, VerifyError::IssuerMismatch { ref child, ref parent } if child == "leaf" && parent == "root"),
            "{err}"
        );
    }

    #[test]
    fn reordered_bundle() {
        let (issuer, mut doc, verifier) = issuer_and_doc();
        doc.cabundle.reverse();
        let err = verifier
            .verify(&issuer.sign_payload(&doc.to_payload()).unwrap())
            .unwrap_err();
        assert!(matches!(err, VerifyError::IssuerMismatch { .. }), "{err}");
    }

    #[test]
    fn intermediate_from_another_ca_with_the_same_name() {
        let (issuer, mut doc, verifier) = issuer_and_doc();
        let other = DevIssuer::ephemeral().unwrap();
        doc.cabundle[1] = other.intermediate_der().to_vec();
        let err = verifier
            .verify(&issuer.sign_payload(&doc.to_payload()).unwrap())
            .unwrap_err();
        assert!(
            matches!(err, VerifyError::ChainSignature { ref child, .. } if child == "leaf"),
            "{err}"
        );
    }

    #[test]
    fn leaf_of_another_issuer() {
        let (issuer, mut doc, verifier) = issuer_and_doc();
        let other = DevIssuer::ephemeral().unwrap();
        doc.certificate = other.leaf_der().unwrap();
        // Signed by the other issuer's leaf, so the COSE signature is fine but
        // the leaf does not chain to the trusted root.
        let err = verifier
            .verify(&other.sign_payload(&doc.to_payload()).unwrap())
            .unwrap_err();
        assert!(
            matches!(err, VerifyError::ChainSignature { ref child, .. } if child == "leaf"),
            "{err}"
        );
        // And a leaf swapped in without its key breaks the signature.
        let err = verifier
            .verify(&issuer.sign_payload(&doc.to_payload()).unwrap())
            .unwrap_err();
        assert_eq!(err, VerifyError::BadSignature);
    }

    #[test]
    fn aws_chain_with_a_dev_leaf() {
        let (issuer, mut doc, _) = issuer_and_doc();
        let v = nondebug();
        doc.cabundle = inspect_unverified(&v.bytes).unwrap().cabundle;
        let bytes = issuer.sign_payload(&doc.to_payload()).unwrap();
        let err = Verifier::new(
            TrustAnchor::aws_nitro_root_g1(),
            PcrPolicy::accept_any_measurement_insecure(),
        )
        .at(VerifyAt::UnixMs(v.timestamp_ms))
        .verify(&bytes)
        .unwrap_err();
        assert!(
            matches!(err, VerifyError::IssuerMismatch { ref child, .. } if child == "leaf"),
            "{err}"
        );
    }

    #[test]
    fn non_certificate_in_the_bundle() {
        let (issuer, mut doc, verifier) = issuer_and_doc();
        doc.cabundle[1] = vec![0x30, 0x03, 0x02, 0x01, 0x01];
        let err = verifier
            .verify(&issuer.sign_payload(&doc.to_payload()).unwrap())
            .unwrap_err();
        assert!(
            matches!(err, VerifyError::Certificate { ref which, .. } if which == "cabundle[1]"),
            "{err}"
        );
    }

    #[test]
    fn leaf_placed_as_the_intermediate() {
        let (issuer, mut doc, verifier) = issuer_and_doc();
        doc.cabundle[1] = doc.certificate.clone();
        let err = verifier
            .verify(&issuer.sign_payload(&doc.to_payload()).unwrap())
            .unwrap_err();
        assert!(matches!(err, VerifyError::IssuerMismatch { .. }), "{err}");
    }

    #[test]
    fn expired_and_not_yet_valid() {
        let (issuer, doc, verifier) = issuer_and_doc();
        let bytes = issuer.sign_payload(&doc.to_payload()).unwrap();
        let err = verifier
            .clone()
            .at(VerifyAt::UnixMs(doc.timestamp_ms + 2 * 24 * 3600 * 1000))
            .verify(&bytes)
            .unwrap_err();
        assert!(
            matches!(err, VerifyError::CertificateNotValidAt { ref which, .. } if which == "leaf"),
            "{err}"
        );
        let err = verifier
            .at(VerifyAt::UnixMs(doc.timestamp_ms - 3600 * 1000))
            .verify(&bytes)
            .unwrap_err();
        assert!(
            matches!(err, VerifyError::CertificateNotValidAt { .. }),
            "{err}"
        );
    }

    #[test]
    fn payload_field_errors_surface_after_a_valid_signature() {
        let (issuer, doc, verifier) = issuer_and_doc();
        let mut map =
            match ciborium::de::from_reader::<Value, _>(doc.to_payload().as_slice()).unwrap() {
                Value::Map(m) => m,
                _ => unreachable!(),
            };
        map.push((Value::Text("nonce".into()), Value::Null));
        let err = verifier
            .verify(&issuer.sign_payload(&encode(&Value::Map(map))).unwrap())
            .unwrap_err();
        assert_eq!(err, VerifyError::DuplicateKey("nonce".into()));
    }
}

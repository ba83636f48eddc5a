//! Verifications per second of a real AWS Nitro document, beside the cost of
//! one raw P-384 ECDSA verification measured in the same run (a document
//! verification is one COSE signature plus one per certificate in the path,
//! so the ratio should sit near the path length plus one).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use p384::ecdsa::signature::{Signer as _, Verifier as _};
use p384::ecdsa::{Signature, SigningKey};
use signet_attestation::{inspect_unverified, PcrPolicy, PcrSet, TrustAnchor, Verifier, VerifyAt};

const VECTOR: &str = "evervault_beta_nondebug_2022-10-13.bin";

fn setup() -> (Vec<u8>, Verifier) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/vectors");
    let bytes = std::fs::read(dir.join(VECTOR)).unwrap();
    let doc = inspect_unverified(&bytes).unwrap();
    let set = PcrSet::new(
        doc.pcrs
            .iter()
            .filter(|(i, _)| **i <= 2)
            .map(|(i, v)| (*i, v.clone()))
            .collect(),
    )
    .unwrap();
    let verifier = Verifier::new(TrustAnchor::aws_nitro_root_g1(), PcrPolicy::exactly(set))
        .at(VerifyAt::DocumentTimestamp);
    verifier.verify(&bytes).unwrap();
    (bytes, verifier)
}

fn raw_p384() -> impl FnMut() {
    let key = SigningKey::from_slice(&[7u8; 48]).unwrap();
    let msg = [42u8; 4400];
    let sig: Signature = key.sign(&msg);
    let vk = *key.verifying_key();
    move || vk.verify(black_box(&msg), black_box(&sig)).unwrap()
}

fn benches(c: &mut Criterion) {
    let (bytes, verifier) = setup();
    let mut group = c.benchmark_group("attestation");
    group.throughput(Throughput::Elements(1));
    group.bench_function("verify_real_document", |b| {
        b.iter(|| verifier.verify(black_box(&bytes)).unwrap());
    });
    group.bench_function("inspect_unverified", |b| {
        b.iter(|| inspect_unverified(black_box(&bytes)).unwrap());
    });
    let mut raw = raw_p384();
    group.bench_function("raw_p384_verify_baseline", |b| b.iter(&mut raw));
    group.finish();
}

/// Interleaved rounds of both workloads so machine noise hits them alike.
fn ratio() {
    let (bytes, verifier) = setup();
    let mut raw = raw_p384();
    let (mut doc_time, mut raw_time, mut n) = (Duration::ZERO, Duration::ZERO, 0u32);
    let deadline = Instant::now() + Duration::from_secs(4);
    while Instant::now() < deadline {
        let t = Instant::now();
        verifier.verify(black_box(&bytes)).unwrap();
        doc_time += t.elapsed();
        let t = Instant::now();
        raw();
        raw_time += t.elapsed();
        n += 1;
    }
    let per_s = |d: Duration| f64::from(n) / d.as_secs_f64();
    println!(
        "\nsame-run comparison over {n} rounds: document verify {:.0}/s, raw P-384 verify {:.0}/s; \
         one document costs {:.2} raw verifications (path of {} certificates + 1 COSE signature)",
        per_s(doc_time),
        per_s(raw_time),
        doc_time.as_secs_f64() / raw_time.as_secs_f64(),
        inspect_unverified(&bytes).unwrap().cabundle.len(),
    );
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
    ratio();
}

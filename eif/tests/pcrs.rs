//! `signet-eif` on small EIFs built from synthetic inputs with AWS's crate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn eif(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_signet-eif"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

struct Inputs {
    dir: tempfile::TempDir,
}

impl Inputs {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // Deterministic pseudo-random content.
        let bytes = |seed: u8, n: usize| {
            (0..n)
                .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
                .collect::<Vec<u8>>()
        };
        std::fs::write(dir.path().join("kernel"), bytes(1, 8192)).unwrap();
        std::fs::write(dir.path().join("init.cpio"), bytes(2, 4096)).unwrap();
        std::fs::write(dir.path().join("app.cpio"), bytes(3, 16384)).unwrap();
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn build(&self, output: &str) -> Value {
        let p = |n: &str| self.path(n).display().to_string();
        eif(&[
            "build",
            "--kernel",
            &p("kernel"),
            "--cmdline",
            "console=ttyS0",
            "--ramdisk",
            &p("init.cpio"),
            "--ramdisk",
            &p("app.cpio"),
            "--output",
            &p(output),
        ])
    }

    fn flip(&self, name: &str, at: usize) {
        let mut b = std::fs::read(self.path(name)).unwrap();
        b[at] ^= 1;
        std::fs::write(self.path(name), b).unwrap();
    }
}

#[test]
fn same_inputs_same_pcrs_and_bytes() {
    let inputs = Inputs::new();
    let a = inputs.build("a.eif");
    let b = inputs.build("b.eif");
    for k in ["PCR0", "PCR1", "PCR2"] {
        assert_eq!(a[k], b[k], "{k}");
        assert_eq!(a[k].as_str().unwrap().len(), 96);
    }
    assert_eq!(
        std::fs::read(inputs.path("a.eif")).unwrap(),
        std::fs::read(inputs.path("b.eif")).unwrap(),
        "byte-identical images"
    );
    let read = eif(&["pcrs", inputs.path("a.eif").to_str().unwrap()]);
    assert_eq!(read["PCR0"], a["PCR0"]);
    assert_eq!(read["PCR8"], Value::Null, "unsigned image");
}

#[test]
fn any_changed_byte_changes_pcr0() {
    let inputs = Inputs::new();
    let base = inputs.build("base.eif");
    inputs.flip("kernel", 100);
    let kernel = inputs.build("kernel.eif");
    assert_ne!(kernel["PCR0"], base["PCR0"]);
    assert_ne!(kernel["PCR1"], base["PCR1"], "the kernel is in PCR1");
    assert_eq!(kernel["PCR2"], base["PCR2"]);
    inputs.flip("kernel", 100);
    inputs.flip("app.cpio", 5000);
    let app = inputs.build("app.eif");
    assert_ne!(app["PCR0"], base["PCR0"]);
    assert_ne!(
        app["PCR2"], base["PCR2"],
        "the application ramdisk is in PCR2"
    );
    assert_eq!(app["PCR1"], base["PCR1"]);
}

#[test]
fn policy_and_tfvars_feed_the_verifier_and_terraform() {
    let inputs = Inputs::new();
    let built = inputs.build("img.eif");
    let img = inputs.path("img.eif");
    let tfvars = eif(&["tfvars", img.to_str().unwrap()]);
    for i in 0..3 {
        let v = tfvars[format!("enclave_pcr{i}")].as_str().unwrap();
        assert!(
            v.len() == 96
                && v.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{v}"
        );
    }
    assert_eq!(tfvars["enclave_pcr8"], Value::Null);

    // A document from an enclave with these PCRs verifies with the policy as written.
    let policy = eif(&["policy", img.to_str().unwrap()]);
    let policy_file = inputs.path("policy.json");
    std::fs::write(&policy_file, policy.to_string()).unwrap();
    let issuer = signet_attestation::dev::DevIssuer::load_or_create(&inputs.path("ca")).unwrap();
    let pcrs = (0u8..3)
        .map(|i| {
            (
                i,
                hex::decode(built[format!("PCR{i}")].as_str().unwrap()).unwrap(),
            )
        })
        .collect();
    let doc = issuer
        .issue(&signet_attestation::dev::DevDocument {
            module_id: "dev-eif".into(),
            pcrs,
            ..Default::default()
        })
        .unwrap();
    let doc_file = inputs.path("doc.cbor");
    std::fs::write(&doc_file, doc).unwrap();
    let root = inputs
        .path("ca")
        .join(signet_attestation::dev::ROOT_CERT_FILE);
    let signet = Path::new(env!("CARGO_BIN_EXE_signet-eif")).with_file_name("signet");
    if !signet.exists() {
        panic!("{} is not built: run scripts/test.sh", signet.display());
    }
    let out = Command::new(&signet)
        .args(["attest", "verify"])
        .arg(&doc_file)
        .arg("--root")
        .arg(&root)
        .arg("--policy")
        .arg(&policy_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Another image's policy refuses it.
    inputs.flip("app.cpio", 1);
    inputs.build("other.eif");
    std::fs::write(
        &policy_file,
        eif(&["policy", inputs.path("other.eif").to_str().unwrap()]).to_string(),
    )
    .unwrap();
    let out = Command::new(&signet)
        .args(["attest", "verify"])
        .arg(&doc_file)
        .arg("--root")
        .arg(&root)
        .arg("--policy")
        .arg(&policy_file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn corrupt_or_missing_images_are_refused() {
    let inputs = Inputs::new();
    inputs.build("x.eif");
    let mut bytes = std::fs::read(inputs.path("x.eif")).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 0xff;
    std::fs::write(inputs.path("bad.eif"), &bytes).unwrap();
    for path in [
        inputs.path("bad.eif"),
        inputs.path("missing.eif"),
        inputs.path("kernel"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_signet-eif"))
            .args(["pcrs"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{} accepted", path.display());
        assert!(String::from_utf8_lossy(&out.stderr).contains("signet-eif:"));
    }
}

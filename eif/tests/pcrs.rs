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
    let sets = tfvars["enclave_pcr_sets"].as_array().unwrap();
    assert_eq!(sets.len(), 1);
    for i in 0..3 {
        let v = sets[0][format!("pcr{i}")].as_str().unwrap();
        assert_eq!(v, built[format!("PCR{i}")].as_str().unwrap());
    }
    assert_eq!(sets[0].as_object().unwrap().len(), 3, "no pcr8: unsigned");

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

/// `python3 eif/tests/eif_pcrs.py ARGS…`: the independent reader.
fn python(args: &[&Path]) -> std::process::Output {
    Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/eif_pcrs.py"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_independent_reader_agrees_on_synthetic_images() {
    let inputs = Inputs::new();
    std::fs::write(inputs.path("third.cpio"), vec![7u8; 3000]).unwrap();
    for (name, ramdisks) in [
        ("two.eif", vec!["init.cpio", "app.cpio"]),
        ("three.eif", vec!["init.cpio", "app.cpio", "third.cpio"]),
        ("one.eif", vec!["init.cpio"]),
    ] {
        let mut args = vec![
            "build".to_owned(),
            "--kernel".into(),
            inputs.path("kernel").display().to_string(),
            "--cmdline".into(),
            "reboot=k panic=30 console=ttyS0".into(),
            "--output".into(),
            inputs.path(name).display().to_string(),
        ];
        for r in ramdisks {
            args.extend(["--ramdisk".into(), inputs.path(r).display().to_string()]);
        }
        let ours = eif(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let out = python(&[&inputs.path(name)]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let theirs: Value = serde_json::from_slice(&out.stdout).unwrap();
        for k in ["PCR0", "PCR1", "PCR2"] {
            assert_eq!(ours[k], theirs[k], "{name} {k}");
        }
    }
    // The reader extracts what the hypervisor would load.
    let extracted = inputs.path("parts");
    let out = python(&[&inputs.path("two.eif"), Path::new("--extract"), &extracted]);
    assert!(out.status.success());
    assert_eq!(
        std::fs::read(extracted.join("kernel")).unwrap(),
        std::fs::read(inputs.path("kernel")).unwrap()
    );
    assert_eq!(
        std::fs::read(extracted.join("ramdisk-2")).unwrap(),
        std::fs::read(inputs.path("app.cpio")).unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(extracted.join("cmdline")).unwrap(),
        "reboot=k panic=30 console=ttyS0"
    );
}

#[test]
fn the_independent_reader_refuses_corrupt_images() {
    let inputs = Inputs::new();
    inputs.build("x.eif");
    let good = std::fs::read(inputs.path("x.eif")).unwrap();
    type Damage = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: [(&str, Damage); 4] = [
        ("crc32 mismatch", Box::new(|b: &mut Vec<u8>| b[2000] ^= 1)),
        ("magic", Box::new(|b: &mut Vec<u8>| b[0] = b'x')),
        ("shorter than", Box::new(|b: &mut Vec<u8>| b.truncate(100))),
        ("crc32 mismatch", Box::new(|b: &mut Vec<u8>| b.push(0))),
    ];
    for (why, damage) in cases {
        let mut bytes = good.clone();
        damage(&mut bytes);
        std::fs::write(inputs.path("bad.eif"), &bytes).unwrap();
        let out = python(&[&inputs.path("bad.eif")]);
        assert_eq!(out.status.code(), Some(1), "{why}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(why),
            "{why}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn tfvars_and_policy_list_every_image_given_new_first() {
    let inputs = Inputs::new();
    let old = inputs.build("old.eif");
    inputs.flip("app.cpio", 9);
    let new = inputs.build("new.eif");
    let describe = inputs.path("new.pcrs.json");
    // A signet.pcrs.json stands for its image.
    let p = |n: &str| inputs.path(n).display().to_string();
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
        &p("again.eif"),
        "--describe",
        &p("new.pcrs.json"),
    ]);
    let tfvars = eif(&["tfvars", describe.to_str().unwrap(), &p("old.eif")]);
    let sets = tfvars["enclave_pcr_sets"].as_array().unwrap();
    assert_eq!(sets.len(), 2);
    for (set, image) in sets.iter().zip([&new, &old]) {
        for i in 0..3 {
            assert_eq!(set[format!("pcr{i}")], image[format!("PCR{i}")]);
        }
    }
    let policy = eif(&["policy", &p("new.eif"), &p("old.eif"), "--max-age", "60"]);
    assert_eq!(policy["max_age_seconds"], 60);
    assert_eq!(policy["allow_debug"], false);
    assert_eq!(policy["pcr_sets"][1]["0"], old["PCR0"]);
    assert_eq!(policy["pcr_sets"][0]["2"], new["PCR2"]);
}

#[test]
fn describe_records_the_pcrs_and_every_input() {
    use sha2::{Digest as _, Sha256};
    let inputs = Inputs::new();
    std::fs::write(inputs.path("signer"), b"a signer").unwrap();
    let p = |n: &str| inputs.path(n).display().to_string();
    let built = eif(&[
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
        &p("img.eif"),
        "--describe",
        &p("img.pcrs.json"),
        "--input",
        &format!("signer={}", p("signer")),
        "--fact",
        "rustc=rustc 1.95.0",
    ]);
    let doc: Value =
        serde_json::from_slice(&std::fs::read(inputs.path("img.pcrs.json")).unwrap()).unwrap();
    let sha = |n: &str| hex::encode(Sha256::digest(std::fs::read(inputs.path(n)).unwrap()));
    for k in ["PCR0", "PCR1", "PCR2"] {
        assert_eq!(doc[k], built[k]);
    }
    assert_eq!(doc["eif"]["sha256"], sha("img.eif"));
    assert_eq!(
        doc["eif"]["size"],
        std::fs::metadata(inputs.path("img.eif")).unwrap().len()
    );
    assert_eq!(doc["inputs"]["kernel"], sha("kernel"));
    assert_eq!(doc["inputs"]["ramdisk1"], sha("init.cpio"));
    assert_eq!(doc["inputs"]["ramdisk2"], sha("app.cpio"));
    assert_eq!(doc["inputs"]["signer"], sha("signer"));
    assert_eq!(doc["cmdline"], "console=ttyS0");
    assert_eq!(doc["build"]["rustc"], "rustc 1.95.0");
}

#[test]
fn compare_accepts_equal_and_refuses_different_pcrs() {
    let inputs = Inputs::new();
    let p = |n: &str| inputs.path(n).display().to_string();
    let build = |out: &str, describe: &str| {
        eif(&[
            "build",
            "--kernel",
            &p("kernel"),
            "--ramdisk",
            &p("init.cpio"),
            "--ramdisk",
            &p("app.cpio"),
            "--output",
            &p(out),
            "--describe",
            &p(describe),
        ])
    };
    build("a.eif", "a.json");
    build("b.eif", "b.json");
    let same = eif(&["compare", &p("a.json"), &p("b.eif")]);
    assert_eq!(same["equal"], true);
    inputs.flip("app.cpio", 3);
    build("c.eif", "c.json");
    let out = Command::new(env!("CARGO_BIN_EXE_signet-eif"))
        .args(["compare", &p("a.json"), &p("c.json")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("PCR2 DIFFERS") && stderr.contains("PCR1 equal"),
        "{stderr}"
    );
    assert!(stderr.contains("input ramdisk2 differs"), "{stderr}");
}

#[test]
fn refuses_a_pcrs_json_without_sha384_pcrs() {
    let inputs = Inputs::new();
    let pcr = "ab".repeat(48);
    for (name, text) in [
        (
            "short.json",
            format!(r#"{{"PCR0":"{pcr}","PCR1":"{pcr}","PCR2":"abc"}}"#),
        ),
        (
            "missing.json",
            format!(r#"{{"PCR0":"{pcr}","PCR1":"{pcr}"}}"#),
        ),
        ("array.json", "[1,2]".to_owned()),
        ("broken.json", "{\"PCR0\":".to_owned()),
    ] {
        std::fs::write(inputs.path(name), text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_signet-eif"))
            .args(["tfvars"])
            .arg(inputs.path(name))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("not a signet.pcrs.json"),
            "{name}"
        );
    }
}

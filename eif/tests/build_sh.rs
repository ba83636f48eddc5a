//! `eif/build.sh`'s options: what it refuses before building anything.
//! (The build itself runs in `scripts/test-eif.sh`: two cold builds, compared.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

const ARN: &str = "arn:aws:kms:eu-west-1:123456789012:key/0a1b2c3d-4e5f-6789-abcd-ef0123456789";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("build.sh")
}

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new("bash")
        .arg(script())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_names_every_option() {
    let (code, stdout, _) = run(&["--help"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains(
        "usage: eif/build.sh --kms-key-arn ARN --region REGION --deployment NAME [--out DIR] [--verify PCRS.json] [--kernel-deb FILE]"
    ));
}

#[test]
fn refuses_missing_values() {
    let (code, _, stderr) = run(&[]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--kms-key-arn, --region and --deployment are required"));
    assert!(stderr.contains("usage:"));
    let (code, _, stderr) = run(&[
        "--kms-key-arn",
        ARN,
        "--region",
        "eu-west-1",
        "--deployment",
    ]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--deployment needs a value"));
}

#[test]
fn refuses_an_unknown_option() {
    let (code, _, stderr) = run(&[
        "--kms-key-arn",
        ARN,
        "--region",
        "eu-west-1",
        "--deployment",
        "signet",
        "--debug-mode",
    ]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("unknown option --debug-mode"));
}

#[test]
fn refuses_malformed_values() {
    for (args, why) in [
        (
            ["alias/signet-sealing", "eu-west-1", "signet"],
            "is not a KMS key ARN",
        ),
        ([ARN, "us-east-1", "signet"], "is not in --region us-east-1"),
        ([ARN, "eu-west", "signet"], "is not a region name"),
        (
            [ARN, "eu-west-1", "Signet Prod"],
            "is not a Terraform module name",
        ),
    ] {
        let (code, _, stderr) = run(&[
            "--kms-key-arn",
            args[0],
            "--region",
            args[1],
            "--deployment",
            args[2],
        ]);
        assert_eq!(code, Some(2), "{args:?}");
        assert!(stderr.contains(why), "{args:?}: {stderr}");
    }
    // The `--name=value` forms are the same options.
    let (code, _, stderr) = run(&[
        &format!("--kms-key-arn={ARN}"),
        "--region=us-east-1",
        "--deployment=signet",
    ]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("is not in --region us-east-1"));
}

#[test]
fn refuses_a_missing_verify_file() {
    let (code, _, stderr) = run(&[
        "--kms-key-arn",
        ARN,
        "--region",
        "eu-west-1",
        "--deployment",
        "signet",
        "--verify",
        "/nonexistent/signet.pcrs.json",
    ]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--verify /nonexistent/signet.pcrs.json: no such file"));
}

#[test]
fn refuses_a_kernel_package_that_is_not_the_pinned_one() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("linux-image.deb");
    std::fs::write(&fake, b"not the kernel").unwrap();
    let (code, _, stderr) = run(&[
        "--kms-key-arn",
        ARN,
        "--region",
        "eu-west-1",
        "--deployment",
        "signet",
        "--out",
        dir.path().join("out").to_str().unwrap(),
        "--kernel-deb",
        fake.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1));
    assert!(
        stderr
            .contains("is not linux-image-6.12.117+deb12-cloud-amd64-unsigned 6.12.117-1~deb12u1")
            && stderr.contains("not the pinned 670b2688"),
        "{stderr}"
    );
    let (code, _, stderr) = run(&[
        "--kms-key-arn",
        ARN,
        "--region",
        "eu-west-1",
        "--deployment",
        "signet",
        "--kernel-deb",
        dir.path().join("absent.deb").to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("absent.deb: no such file"), "{stderr}");
}
